/*
 * A worker's sessions by socket id: a chained hash table that doubles when
 * it fills. Owned and used by one worker thread only.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "wsgated.h"
#include "ws.h"

#define SESSMAP_INITIAL	64

/* FNV-1a: the ids are random already; this only spreads them. */
uint32_t
sessmap_hash(const char *id, size_t len)
{
	uint32_t	 h = 2166136261u;
	size_t		 i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)id[i];
		h *= 16777619u;
	}
	return (h);
}

void
sessmap_init(struct sessmap *sm)
{
	sm->sm_buckets = xcalloc(SESSMAP_INITIAL, sizeof *sm->sm_buckets);
	sm->sm_mask = SESSMAP_INITIAL - 1;
	sm->sm_count = 0;
}

void
sessmap_free(struct sessmap *sm)
{
	free(sm->sm_buckets);
	sm->sm_buckets = NULL;
}

static void
sessmap_grow(struct sessmap *sm)
{
	struct session	**nb, *s, *next;
	size_t		  i, nsize = (sm->sm_mask + 1) * 2;
	uint32_t	  h;

	nb = xcalloc(nsize, sizeof *nb);
	for (i = 0; i <= sm->sm_mask; i++) {
		for (s = sm->sm_buckets[i]; s != NULL; s = next) {
			next = s->s_hnext;
			h = sessmap_hash(s->s_id, WSG_ID_LEN) & (nsize - 1);
			s->s_hnext = nb[h];
			nb[h] = s;
		}
	}
	free(sm->sm_buckets);
	sm->sm_buckets = nb;
	sm->sm_mask = nsize - 1;
}

void
sessmap_insert(struct sessmap *sm, struct session *s)
{
	uint32_t	 h;

	if (sm->sm_count >= sm->sm_mask + 1)
		sessmap_grow(sm);
	h = sessmap_hash(s->s_id, WSG_ID_LEN) & sm->sm_mask;
	s->s_hnext = sm->sm_buckets[h];
	sm->sm_buckets[h] = s;
	sm->sm_count++;
}

void
sessmap_remove(struct sessmap *sm, struct session *s)
{
	struct session	**pp;
	uint32_t	  h;

	h = sessmap_hash(s->s_id, WSG_ID_LEN) & sm->sm_mask;
	for (pp = &sm->sm_buckets[h]; *pp != NULL; pp = &(*pp)->s_hnext) {
		if (*pp == s) {
			*pp = s->s_hnext;
			s->s_hnext = NULL;
			sm->sm_count--;
			return;
		}
	}
}

struct session *
sessmap_find(const struct sessmap *sm, const char *id, size_t len)
{
	struct session	*s;
	uint32_t	 h;

	if (len != WSG_ID_LEN)
		return (NULL);
	h = sessmap_hash(id, len) & sm->sm_mask;
	for (s = sm->sm_buckets[h]; s != NULL; s = s->s_hnext) {
		if (memcmp(s->s_id, id, WSG_ID_LEN) == 0)
			return (s);
	}
	return (NULL);
}
