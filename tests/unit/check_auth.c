/*
 * Unit tests of the auth hook's pure parts: the cache of allow answers
 * (authcache.c).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "unit.h"

static void
key_of(const char *token, const char *header, unsigned char *key)
{
	const char	*v[2] = { token, header };
	size_t		 l[2] = { token ? strlen(token) : 0,
			    header ? strlen(header) : 0 };

	authcache_key(v, l, 2, key);
}

START_TEST(key_distinguishes_parts)
{
	unsigned char	 a[AUTHCACHE_KEY_LEN], b[AUTHCACHE_KEY_LEN];

	key_of("ab", "c", a);
	key_of("a", "bc", b);
	ck_assert(memcmp(a, b, sizeof a) != 0);
	key_of(NULL, "x", a);
	key_of("", "x", b);
	ck_assert(memcmp(a, b, sizeof a) != 0);
	key_of("t", NULL, a);
	key_of("t", NULL, b);
	ck_assert(memcmp(a, b, sizeof a) == 0);
}
END_TEST

START_TEST(cache_hit_and_expiry)
{
	struct authcache	 ac;
	unsigned char		 k[AUTHCACHE_KEY_LEN], other[AUTHCACHE_KEY_LEN];
	json_t			*f = json_pack("{s:s}", "userId", "u-42");
	const json_t		*got;

	authcache_init(&ac);
	key_of("tok", NULL, k);
	key_of("tok2", NULL, other);
	ck_assert_ptr_null(authcache_get(&ac, k, 0));
	authcache_put(&ac, k, f, 1000, 2000, 10);
	json_decref(f);
	got = authcache_get(&ac, k, 1999);
	ck_assert_ptr_nonnull(got);
	ck_assert_str_eq(json_string_value(json_object_get(got, "userId")),
	    "u-42");
	ck_assert_ptr_null(authcache_get(&ac, other, 1999));
	ck_assert_ptr_null(authcache_get(&ac, k, 2000));
	ck_assert_uint_eq(authcache_count(&ac), 0);
	authcache_free(&ac);
}
END_TEST

START_TEST(cache_evicts_oldest)
{
	struct authcache	 ac;
	unsigned char		 k[5][AUTHCACHE_KEY_LEN];
	char			 tok[8];
	json_t			*f = json_object();
	int			 i;

	authcache_init(&ac);
	for (i = 0; i < 5; i++) {
		snprintf(tok, sizeof tok, "t%d", i);
		key_of(tok, NULL, k[i]);
		authcache_put(&ac, k[i], f, i, 1000 + i, 3);
	}
	ck_assert_uint_eq(authcache_count(&ac), 3);
	ck_assert_ptr_null(authcache_get(&ac, k[0], 10));
	ck_assert_ptr_null(authcache_get(&ac, k[1], 10));
	for (i = 2; i < 5; i++)
		ck_assert_ptr_nonnull(authcache_get(&ac, k[i], 10));
	/* The same key again replaces its entry, not adds one. */
	authcache_put(&ac, k[4], f, 10, 2000, 3);
	ck_assert_uint_eq(authcache_count(&ac), 3);
	ck_assert_ptr_nonnull(authcache_get(&ac, k[2], 10));
	json_decref(f);
	authcache_free(&ac);
}
END_TEST

static Suite *
auth_suite(void)
{
	Suite	*s = suite_create("auth");
	TCase	*tc;

	tc = tcase_create("cache");
	tcase_add_test(tc, key_distinguishes_parts);
	tcase_add_test(tc, cache_hit_and_expiry);
	tcase_add_test(tc, cache_evicts_oldest);
	suite_add_tcase(s, tc);

	return (s);
}

int
main(void)
{
	return (unit_run(auth_suite()));
}
