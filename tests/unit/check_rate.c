/*
 * rate.c: the generic cell rate algorithm, and the bounded table of
 * addresses the front door times new connections in.
 */
#include "config.h"

#include "unit.h"

#define SEC	1000000000LL

START_TEST(test_off_never_limits)
{
	struct rate	 r;
	int64_t		 tat = 0;
	int		 i;

	rate_init(&r, 0, 10);
	for (i = 0; i < 1000; i++)
		ck_assert_int_eq(rate_take(&r, &tat, 5 * SEC, 1000), 0);
}
END_TEST

/* 10 a second with a burst of 5: 5 at once, then one each 100 ms. */
START_TEST(test_burst_then_rate)
{
	struct rate	 r;
	int64_t		 tat = 0, now = 100 * SEC;
	int		 i;

	rate_init(&r, 10, 5);
	for (i = 0; i < 5; i++)
		ck_assert_int_eq(rate_take(&r, &tat, now, 1), 0);
	/* The sixth is 100 ms early. */
	ck_assert_int_eq(rate_take(&r, &tat, now, 1), SEC / 10);
	/* After that debt and one more interval, one more conforms. */
	ck_assert_int_eq(rate_take(&r, &tat, now + 2 * SEC / 10, 1), 0);
	ck_assert_int_gt(rate_take(&r, &tat, now + 2 * SEC / 10, 1), 0);
	/* Idle for a while: the whole burst again, not more. */
	now += 60 * SEC;
	for (i = 0; i < 5; i++)
		ck_assert_int_eq(rate_take(&r, &tat, now, 1), 0);
	ck_assert_int_gt(rate_take(&r, &tat, now, 1), 0);
}
END_TEST

/* Bytes: a cost of many units, and one larger than the burst. */
START_TEST(test_costs)
{
	struct rate	 r;
	int64_t		 tat = 0, now = SEC;

	rate_init(&r, 1000, 1000);
	ck_assert_int_eq(rate_take(&r, &tat, now, 600), 0);
	ck_assert_int_eq(rate_take(&r, &tat, now, 400), 0);
	/* 500 over: half a second of debt. */
	ck_assert_int_eq(rate_take(&r, &tat, now, 500), SEC / 2);
	tat = 0;
	ck_assert_int_eq(rate_take(&r, &tat, now, 3000), 2 * SEC);
	/* A cost too large for the clock still gives a positive wait. */
	tat = 0;
	ck_assert_int_gt(rate_take(&r, &tat, now, UINT64_MAX), 0);
}
END_TEST

START_TEST(test_map_per_address)
{
	struct ratemap	 m;
	struct rate	 r;
	int64_t		 now = 10 * SEC;

	strmap_seed((const unsigned char *)"0123456789abcdef");
	ratemap_init(&m, 16);
	rate_init(&r, 1, 2);
	ck_assert_int_eq(ratemap_take(&m, &r, "192.0.2.1", now), 0);
	ck_assert_int_eq(ratemap_take(&m, &r, "192.0.2.1", now), 0);
	ck_assert_int_eq(ratemap_take(&m, &r, "192.0.2.1", now), SEC);
	/* Refused, it took nothing: still one second to wait, not two. */
	ck_assert_int_eq(ratemap_take(&m, &r, "192.0.2.1", now), SEC);
	ck_assert_int_eq(ratemap_take(&m, &r, "192.0.2.1", now + SEC), 0);
	ck_assert_int_eq(ratemap_take(&m, &r, "192.0.2.1", now + SEC), SEC);
	/* Another address has its own bucket. */
	ck_assert_int_eq(ratemap_take(&m, &r, "2001:db8::1", now), 0);
	/* A prefix of an address is another address. */
	ck_assert_int_eq(ratemap_take(&m, &r, "192.0.2.", now), 0);
	ck_assert_int_eq(ratemap_take(&m, &r, "192.0.2.1", now + 4 * SEC), 0);
	ratemap_free(&m);
}
END_TEST

/* Many more addresses than entries: bounded, and the idlest give way. */
START_TEST(test_map_bounded)
{
	struct ratemap	 m;
	struct rate	 r;
	char		 addr[32];
	int64_t		 now = 10 * SEC;
	int		 i;

	strmap_seed((const unsigned char *)"0123456789abcdef");
	ratemap_init(&m, 4);
	rate_init(&r, 1, 1);
	ck_assert_int_eq(ratemap_take(&m, &r, "198.51.100.7", now), 0);
	for (i = 0; i < 100000; i++) {
		snprintf(addr, sizeof addr, "10.%d.%d.%d", i >> 16 & 255,
		    i >> 8 & 255, i & 255);
		ck_assert_int_eq(ratemap_take(&m, &r, addr, now + SEC + i), 0);
	}
	/*
	 * Evicted, so it starts afresh: had it stayed, its bucket would
	 * still be half a second from empty.
	 */
	ck_assert_int_eq(ratemap_take(&m, &r, "198.51.100.7", now + SEC / 2),
	    0);
	ratemap_free(&m);
}
END_TEST

static Suite *
rate_suite(void)
{
	Suite	*s = suite_create("rate");
	TCase	*tc = tcase_create("rate");

	tcase_add_test(tc, test_off_never_limits);
	tcase_add_test(tc, test_burst_then_rate);
	tcase_add_test(tc, test_costs);
	tcase_add_test(tc, test_map_per_address);
	tcase_add_test(tc, test_map_bounded);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	return (unit_run(rate_suite()));
}
