/*
 * A map from strings to pointers: a chained hash table that doubles when
 * it fills and halves when it empties. It indexes what other code owns
 * (a worker's users and topics), so it frees its entries but never their
 * values. One thread per map, or a lock around it.
 *
 * The keys are user ids and topic names, which clients and backends
 * choose: they are hashed with SipHash-2-4 under a key drawn at start, so
 * that nobody can make them collide on purpose.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "wsgated.h"

#define STRMAP_INITIAL	16

static uint64_t	strmap_k0, strmap_k1;

/* The hash key, once, before any map is used. */
void
strmap_seed(const unsigned char key[16])
{
	memcpy(&strmap_k0, key, 8);
	memcpy(&strmap_k1, key + 8, 8);
}

#define ROTL(x, b)	(uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND do {							\
	v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);	\
	v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;				\
	v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;				\
	v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);	\
} while (0)

/* SipHash-2-4 of p under the map key; little-endian words. */
uint64_t
strmap_hash(const void *p, size_t len)
{
	const unsigned char	*in = p;
	uint64_t		 v0 = 0x736f6d6570736575ULL ^ strmap_k0;
	uint64_t		 v1 = 0x646f72616e646f6dULL ^ strmap_k1;
	uint64_t		 v2 = 0x6c7967656e657261ULL ^ strmap_k0;
	uint64_t		 v3 = 0x7465646279746573ULL ^ strmap_k1;
	uint64_t		 m, b = (uint64_t)len << 56;
	size_t			 i, j, tail = len & 7;

	for (i = 0; i + 8 <= len; i += 8) {
		for (m = 0, j = 0; j < 8; j++)
			m |= (uint64_t)in[i + j] << (8 * j);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	for (j = 0; j < tail; j++)
		b |= (uint64_t)in[i + j] << (8 * j);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return (v0 ^ v1 ^ v2 ^ v3);
}

void
strmap_init(struct strmap *m)
{
	m->m_buckets = NULL;
	m->m_mask = 0;
	m->m_count = 0;
}

void
strmap_free(struct strmap *m)
{
	struct strmap_ent	*e, *next;
	size_t			 i;

	for (i = 0; m->m_buckets != NULL && i <= m->m_mask; i++) {
		for (e = m->m_buckets[i]; e != NULL; e = next) {
			next = e->e_next;
			free(e);
		}
	}
	free(m->m_buckets);
	strmap_init(m);
}

static void
strmap_resize(struct strmap *m, size_t nsize)
{
	struct strmap_ent	**nb, *e, *next;
	size_t			  i;

	nb = xcalloc(nsize, sizeof *nb);
	for (i = 0; m->m_buckets != NULL && i <= m->m_mask; i++) {
		for (e = m->m_buckets[i]; e != NULL; e = next) {
			next = e->e_next;
			e->e_next = nb[e->e_hash & (nsize - 1)];
			nb[e->e_hash & (nsize - 1)] = e;
		}
	}
	free(m->m_buckets);
	m->m_buckets = nb;
	m->m_mask = nsize - 1;
}

struct strmap_ent *
strmap_find(const struct strmap *m, const char *key, size_t len)
{
	struct strmap_ent	*e;
	uint64_t		 h;

	if (m->m_count == 0)
		return (NULL);
	h = strmap_hash(key, len);
	for (e = m->m_buckets[h & m->m_mask]; e != NULL; e = e->e_next) {
		if (e->e_hash == h && e->e_len == len &&
		    memcmp(e->e_key, key, len) == 0)
			return (e);
	}
	return (NULL);
}

/* Add key, which must not be in m yet, with a NULL value. */
struct strmap_ent *
strmap_add(struct strmap *m, const char *key, size_t len)
{
	struct strmap_ent	*e;
	size_t			 b;

	if (m->m_buckets == NULL)
		strmap_resize(m, STRMAP_INITIAL);
	else if (m->m_count > m->m_mask)
		strmap_resize(m, (m->m_mask + 1) * 2);
	e = xmalloc(sizeof *e + len + 1);
	e->e_hash = strmap_hash(key, len);
	e->e_len = len;
	e->e_val = NULL;
	memcpy(e->e_key, key, len);
	e->e_key[len] = '\0';
	b = e->e_hash & m->m_mask;
	e->e_next = m->m_buckets[b];
	m->m_buckets[b] = e;
	m->m_count++;
	return (e);
}

/* Remove and free e, an entry of m. */
void
strmap_del(struct strmap *m, struct strmap_ent *e)
{
	struct strmap_ent	**pp;

	for (pp = &m->m_buckets[e->e_hash & m->m_mask]; *pp != e;
	    pp = &(*pp)->e_next)
		;
	*pp = e->e_next;
	free(e);
	if (--m->m_count == 0) {
		free(m->m_buckets);
		strmap_init(m);
	} else if (m->m_mask + 1 > STRMAP_INITIAL &&
	    m->m_count < (m->m_mask + 1) / 4)
		strmap_resize(m, (m->m_mask + 1) / 2);
}
