/*
 * Unit tests of strmap.c: SipHash-2-4 against the reference vector, and
 * the map through growth, lookups of absent keys, and shrinking back.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

static void
seed_reference(void)
{
	unsigned char	 key[16];
	int		 i;

	for (i = 0; i < 16; i++)
		key[i] = (unsigned char)i;
	strmap_seed(key);
}

START_TEST(test_siphash_vector)
{
	unsigned char	 msg[15];
	int		 i;

	/* The example of the SipHash paper, appendix A. */
	seed_reference();
	for (i = 0; i < 15; i++)
		msg[i] = (unsigned char)i;
	ck_assert_uint_eq(strmap_hash(msg, sizeof msg), 0xa129ca6149be45e5ULL);
	ck_assert_uint_ne(strmap_hash(msg, 14), strmap_hash(msg, 15));
}
END_TEST

START_TEST(test_seed_changes_hash)
{
	unsigned char	 key[16] = { 1 };
	uint64_t	 h;

	seed_reference();
	h = strmap_hash("room", 4);
	strmap_seed(key);
	ck_assert_uint_ne(h, strmap_hash("room", 4));
}
END_TEST

START_TEST(test_map_grow_find_shrink)
{
	struct strmap		 m;
	struct strmap_ent	*e;
	char			 key[32];
	int			 i, n = 1000;

	seed_reference();
	strmap_init(&m);
	ck_assert_ptr_null(strmap_find(&m, "x", 1));
	for (i = 0; i < n; i++) {
		snprintf(key, sizeof key, "user-%d", i);
		e = strmap_add(&m, key, strlen(key));
		e->e_val = (void *)(intptr_t)(i + 1);
	}
	ck_assert_uint_eq(m.m_count, (size_t)n);
	ck_assert_uint_ge(m.m_mask + 1, (size_t)n);
	for (i = 0; i < n; i++) {
		snprintf(key, sizeof key, "user-%d", i);
		e = strmap_find(&m, key, strlen(key));
		ck_assert_ptr_nonnull(e);
		ck_assert_int_eq((int)(intptr_t)e->e_val, i + 1);
		ck_assert_str_eq(e->e_key, key);
	}
	/* A prefix, a longer key, and an embedded NUL are other keys. */
	ck_assert_ptr_null(strmap_find(&m, "user-1", 5));
	ck_assert_ptr_null(strmap_find(&m, "user-10000", 10));
	ck_assert_ptr_null(strmap_find(&m, "user-1\0", 7));
	for (i = 0; i < n - 1; i++) {
		snprintf(key, sizeof key, "user-%d", i);
		strmap_del(&m, strmap_find(&m, key, strlen(key)));
	}
	ck_assert_uint_eq(m.m_count, 1);
	ck_assert_uint_le(m.m_mask + 1, 16);
	snprintf(key, sizeof key, "user-%d", n - 1);
	ck_assert_ptr_nonnull(strmap_find(&m, key, strlen(key)));
	strmap_del(&m, strmap_find(&m, key, strlen(key)));
	ck_assert_ptr_null(m.m_buckets);
	strmap_add(&m, "again", 5);
	strmap_free(&m);
	ck_assert_uint_eq(m.m_count, 0);
}
END_TEST

static Suite *
strmap_suite(void)
{
	Suite	*s = suite_create("strmap");
	TCase	*tc = tcase_create("strmap");

	tcase_add_test(tc, test_siphash_vector);
	tcase_add_test(tc, test_seed_changes_hash);
	tcase_add_test(tc, test_map_grow_find_shrink);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	return (unit_run(strmap_suite()));
}
