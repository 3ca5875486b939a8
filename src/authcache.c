/*
 * The auth hook's cache of allow answers, keyed by a SHA-256 of what was
 * sent to identify the client (the token and the configured headers).
 * Every entry lives for the same time, so the oldest is always the first
 * to expire: one list in age order serves both expiry and eviction, and a
 * hash table finds a key. Pure: no sockets, no clock of its own.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "wsgated.h"

#define AUTHCACHE_BUCKETS	16384	/* a power of 2 */

struct authcache_entry {
	unsigned char			 e_key[AUTHCACHE_KEY_LEN];
	int64_t				 e_expires;	/* ms */
	json_t				*e_fields;
	TAILQ_ENTRY(authcache_entry)	 e_age;
	LIST_ENTRY(authcache_entry)	 e_hash;
};

void
authcache_init(struct authcache *ac)
{
	memset(ac, 0, sizeof *ac);
	TAILQ_INIT(&ac->ac_age);
}

static void
authcache_remove(struct authcache *ac, struct authcache_entry *e)
{
	TAILQ_REMOVE(&ac->ac_age, e, e_age);
	LIST_REMOVE(e, e_hash);
	json_decref(e->e_fields);
	free(e);
	ac->ac_count--;
}

void
authcache_free(struct authcache *ac)
{
	struct authcache_entry	*e;

	while ((e = TAILQ_FIRST(&ac->ac_age)) != NULL)
		authcache_remove(ac, e);
	free(ac->ac_buckets);
	ac->ac_buckets = NULL;
}

static struct authcache_head *
authcache_bucket(struct authcache *ac, const unsigned char *key)
{
	uint32_t	 h;

	/* The key is a SHA-256 already: any four of its bytes will do. */
	memcpy(&h, key, sizeof h);
	return (&ac->ac_buckets[h & (AUTHCACHE_BUCKETS - 1)]);
}

/* Drop the entries that expired by now. */
static void
authcache_expire(struct authcache *ac, int64_t now)
{
	struct authcache_entry	*e;

	while ((e = TAILQ_FIRST(&ac->ac_age)) != NULL && e->e_expires <= now)
		authcache_remove(ac, e);
}

/* The fields of a live answer for key (borrowed), or NULL. */
const json_t *
authcache_get(struct authcache *ac, const unsigned char *key, int64_t now)
{
	struct authcache_entry	*e;

	authcache_expire(ac, now);
	if (ac->ac_buckets == NULL)
		return (NULL);
	LIST_FOREACH(e, authcache_bucket(ac, key), e_hash) {
		if (memcmp(e->e_key, key, AUTHCACHE_KEY_LEN) == 0)
			return (e->e_fields);
	}
	return (NULL);
}

/*
 * Remember fields (a copy is kept) for key until expires, keeping at most
 * max entries: the oldest go first.
 */
void
authcache_put(struct authcache *ac, const unsigned char *key,
    const json_t *fields, int64_t now, int64_t expires, size_t max)
{
	struct authcache_entry	*e;

	if (max == 0)
		return;
	authcache_expire(ac, now);
	if (ac->ac_buckets == NULL)
		ac->ac_buckets = xcalloc(AUTHCACHE_BUCKETS,
		    sizeof *ac->ac_buckets);
	LIST_FOREACH(e, authcache_bucket(ac, key), e_hash) {
		if (memcmp(e->e_key, key, AUTHCACHE_KEY_LEN) == 0) {
			authcache_remove(ac, e);
			break;
		}
	}
	while (ac->ac_count >= max)
		authcache_remove(ac, TAILQ_FIRST(&ac->ac_age));

	e = xcalloc(1, sizeof *e);
	memcpy(e->e_key, key, AUTHCACHE_KEY_LEN);
	e->e_expires = expires;
	/* Deep: the context it is merged into goes to another thread. */
	e->e_fields = json_deep_copy(fields);
	if (e->e_fields == NULL)
		fatalx("%s: json_deep_copy", __func__);
	TAILQ_INSERT_TAIL(&ac->ac_age, e, e_age);
	LIST_INSERT_HEAD(authcache_bucket(ac, key), e, e_hash);
	ac->ac_count++;
}

size_t
authcache_count(const struct authcache *ac)
{
	return (ac->ac_count);
}

/*
 * The key of n values, each NULL when absent: every value is hashed with
 * a presence byte and its length, so that no two different lists (an
 * absent value and an empty one, "ab"+"c" and "a"+"bc") hash the same.
 */
void
authcache_key(const char *const *values, const size_t *lens, size_t n,
    unsigned char *out)
{
	EVP_MD_CTX	*md;
	unsigned char	 hdr[9];
	unsigned int	 outlen;
	uint64_t	 len;
	size_t		 i;
	int		 k;

	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		fatalx("%s: EVP_DigestInit_ex", __func__);
	for (i = 0; i < n; i++) {
		len = values[i] != NULL ? lens[i] : 0;
		hdr[0] = values[i] != NULL;
		for (k = 0; k < 8; k++)
			hdr[1 + k] = (unsigned char)(len >> (56 - 8 * k));
		if (EVP_DigestUpdate(md, hdr, sizeof hdr) != 1 ||
		    (len > 0 && EVP_DigestUpdate(md, values[i], len) != 1))
			fatalx("%s: EVP_DigestUpdate", __func__);
	}
	if (EVP_DigestFinal_ex(md, out, &outlen) != 1 ||
	    outlen != AUTHCACHE_KEY_LEN)
		fatalx("%s: EVP_DigestFinal_ex", __func__);
	EVP_MD_CTX_free(md);
}
