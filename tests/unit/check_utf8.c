/*
 * utf8.c: strict validation, whole and a piece at a time. A text split at
 * any point must give the same verdict as the whole, and an invalid one
 * must fail in the piece that holds its first bad byte.
 */
#include "config.h"

#include "unit.h"

struct sample {
	const char	*s_bytes;
	size_t		 s_len;
	size_t		 s_bad;		/* first bad byte; s_len: valid;
					   s_len + 1: cut short */
};

#define OK(lit)		{ lit, sizeof(lit) - 1, sizeof(lit) - 1 }
#define BAD(lit, at)	{ lit, sizeof(lit) - 1, at }
#define CUT(lit)	{ lit, sizeof(lit) - 1, sizeof(lit) }

static const struct sample samples[] = {
	OK(""),
	OK("plain ascii, long enough for the word-at-a-time scan"),
	OK("\xc2\x80"),				/* U+0080 */
	OK("\xdf\xbf"),				/* U+07FF */
	OK("\xe0\xa0\x80"),			/* U+0800 */
	OK("\xed\x9f\xbf"),			/* U+D7FF */
	OK("\xee\x80\x80"),			/* U+E000 */
	OK("\xef\xbf\xbf"),			/* U+FFFF */
	OK("\xf0\x90\x80\x80"),			/* U+10000 */
	OK("\xf4\x8f\xbf\xbf"),			/* U+10FFFF */
	OK("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"),	/* kosme */
	OK("a\xf0\x9f\x98\x80" "b\xe2\x82\xac" "c\xc3\xa9"),
	BAD("\x80", 0),
	BAD("\xbf", 0),
	BAD("\xc0\x80", 0),			/* overlong NUL */
	BAD("\xc1\xbf", 0),
	BAD("\xe0\x9f\xbf", 1),			/* overlong U+07FF */
	BAD("\xed\xa0\x80", 1),			/* surrogate U+D800 */
	BAD("\xed\xbf\xbf", 1),			/* surrogate U+DFFF */
	BAD("\xf0\x8f\xbf\xbf", 1),		/* overlong U+FFFF */
	BAD("\xf4\x90\x80\x80", 1),		/* U+110000 */
	BAD("\xf5\x80\x80\x80", 0),
	BAD("\xff", 0),
	BAD("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"
	    "edited", 12),			/* Autobahn 6.4.1's shape */
	BAD("abc\xe2\x82" "d", 5),		/* a character cut by ASCII */
	BAD("\xf0\x90\x80" "\xc2\x80", 3),
	CUT("\xc2"),
	CUT("\xe2\x82"),
	CUT("\xf0\x9f\x98"),
	CUT("ok then \xf4\x8f\xbf"),
};

/* Feed s in pieces cut at the given points; return the verdict. */
static int
feed(const struct sample *s, const size_t *cuts, size_t ncuts,
    size_t *failed_piece_end)
{
	uint32_t	 state = 0;
	size_t		 from = 0, to, i;

	for (i = 0; i <= ncuts; i++) {
		to = i < ncuts ? cuts[i] : s->s_len;
		if (utf8_check(&state, s->s_bytes + from, to - from) == -1) {
			*failed_piece_end = to;
			return (-1);
		}
		from = to;
	}
	return (state == 0 ? 0 : 1);
}

START_TEST(test_whole)
{
	const struct sample	*s = &samples[_i];

	ck_assert_int_eq(utf8_valid(s->s_bytes, s->s_len),
	    s->s_bad == s->s_len);
}
END_TEST

/* Every way of cutting a sample in two, then in three. */
START_TEST(test_every_split_point)
{
	const struct sample	*s = &samples[_i];
	size_t			 cuts[2], end, a, b;
	int			 r;

	for (a = 0; a <= s->s_len; a++) {
		for (b = a; b <= s->s_len; b++) {
			cuts[0] = a;
			cuts[1] = b;
			r = feed(s, cuts, 2, &end);
			if (s->s_bad == s->s_len)
				ck_assert_msg(r == 0, "valid text refused, "
				    "cut at %zu and %zu", a, b);
			else if (s->s_bad == s->s_len + 1)
				ck_assert_msg(r == 1, "cut text not left "
				    "pending, cut at %zu and %zu", a, b);
			else {
				ck_assert_msg(r == -1, "invalid text passed, "
				    "cut at %zu and %zu", a, b);
				/* Failed in the piece holding the bad byte. */
				ck_assert_msg(end == (s->s_bad < a ? a :
				    s->s_bad < b ? b : s->s_len),
				    "failed late, cut at %zu and %zu", a, b);
			}
		}
	}
}
END_TEST

/* One byte at a time: each failure is seen at its own byte. */
START_TEST(test_byte_at_a_time)
{
	const struct sample	*s = &samples[_i];
	uint32_t		 state = 0;
	size_t			 i;

	for (i = 0; i < s->s_len; i++) {
		if (utf8_check(&state, s->s_bytes + i, 1) == -1)
			break;
	}
	if (s->s_bad <= s->s_len)
		ck_assert_uint_eq(i, s->s_bad);
	else
		ck_assert_uint_ne(state, 0);
}
END_TEST

static Suite *
utf8_suite(void)
{
	Suite	*s = suite_create("utf8");
	TCase	*tc = tcase_create("utf8");
	int	 n = (int)(sizeof samples / sizeof samples[0]);

	tcase_add_loop_test(tc, test_whole, 0, n);
	tcase_add_loop_test(tc, test_every_split_point, 0, n);
	tcase_add_loop_test(tc, test_byte_at_a_time, 0, n);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	return (unit_run(utf8_suite()));
}
