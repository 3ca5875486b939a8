/*
 * Unit tests of frame.c (the backend wire framing), and of b64.c and
 * utf8.c that the message path uses.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "unit.h"

/* Feed a string literal. */
#define FEED(d, lit) frame_dec_feed((d), (lit), sizeof(lit) - 1)

/* Append a 4-byte big-endian length and payload to b. */
static void
put_prefixed(struct buf *b, const char *payload, size_t len)
{
	unsigned char	 pre[4];

	pre[0] = (unsigned char)(len >> 24);
	pre[1] = (unsigned char)(len >> 16);
	pre[2] = (unsigned char)(len >> 8);
	pre[3] = (unsigned char)len;
	buf_add(b, pre, 4);
	buf_add(b, payload, len);
}

/* The next frame must be FRAME_OK and equal to s. */
static void
expect_frame(struct frame_dec *d, const char *s)
{
	const char		*f = NULL;
	size_t			 len = 0;
	enum frame_result	 r;

	r = frame_dec_next(d, &f, &len);
	ck_assert_msg(r == FRAME_OK, "frame_dec_next: %d, expected \"%s\"",
	    (int)r, s);
	ck_assert_uint_eq(len, strlen(s));
	ck_assert_mem_eq(f, s, len);
}

static enum frame_result
next(struct frame_dec *d)
{
	const char	*f;
	size_t		 len;

	return (frame_dec_next(d, &f, &len));
}

/* frame_encode */

/* What jansson writes for text as a JSON string. */
static char *
jansson_string(const char *text, size_t len)
{
	json_t	*j = json_stringn(text, len);
	char	*out;

	ck_assert_ptr_nonnull(j);
	out = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(j);
	return (out);
}

static void
check_json_string(const char *text, size_t len)
{
	struct buf	 b;
	char		*want = jansson_string(text, len);

	buf_init(&b);
	frame_json_string(&b, text, len);
	ck_assert_uint_eq(buf_used(&b), strlen(want));
	ck_assert_mem_eq(buf_data(&b), want, strlen(want));
	free(want);
	buf_free(&b);
}

START_TEST(json_string_same_as_jansson)
{
	static const char *const samples[] = {
		"", "plain ascii", "quote\" back\\slash", "tab\tnl\ncr\r",
		"\xc3\xa9t\xc3\xa9", "\xe2\x80\xa8 line sep", "\xf0\x9f\x98\x80",
		"</script>", "del\x7f", "\x01\x1f ctrl"
	};
	char	 one;
	size_t	 i;

	for (i = 0; i < sizeof samples / sizeof *samples; i++)
		check_json_string(samples[i], strlen(samples[i]));
	for (i = 0; i < 0x80; i++) {
		one = (char)i;
		check_json_string(&one, 1);
	}
}
END_TEST

START_TEST(message_frame_parses_to_the_event)
{
	static const char	 head[] = "{\"type\":\"message\",\"socketId\":"
	    "\"abc\",\"context\":{\"k\":1},\"data\":";
	struct buf		 b;
	json_t			*ev;
	const char		*f;
	size_t			 flen;
	struct frame_dec	 d;
	int			 framing;

	for (framing = 0; framing < 2; framing++) {
		buf_init(&b);
		frame_message((enum framing)framing, &b, head, sizeof head - 1,
		    "hi \"x\"\n", 7, 0);
		frame_message((enum framing)framing, &b, head, sizeof head - 1,
		    "\x00\xff", 2, 1);
		frame_dec_init(&d, (enum framing)framing, 4096);
		frame_dec_feed(&d, buf_data(&b), buf_used(&b));
		ck_assert_int_eq(frame_dec_next(&d, &f, &flen), FRAME_OK);
		ev = json_loadb(f, flen, 0, NULL);
		ck_assert_ptr_nonnull(ev);
		ck_assert_str_eq(json_string_value(json_object_get(ev, "data")),
		    "hi \"x\"\n");
		ck_assert_ptr_null(json_object_get(ev, "binary"));
		ck_assert_int_eq(json_integer_value(json_object_get(
		    json_object_get(ev, "context"), "k")), 1);
		json_decref(ev);
		ck_assert_int_eq(frame_dec_next(&d, &f, &flen), FRAME_OK);
		ev = json_loadb(f, flen, 0, NULL);
		ck_assert_ptr_nonnull(ev);
		ck_assert_str_eq(json_string_value(json_object_get(ev, "data")),
		    "AP8=");
		ck_assert(json_is_true(json_object_get(ev, "binary")));
		json_decref(ev);
		ck_assert_int_eq(frame_dec_next(&d, &f, &flen), FRAME_MORE);
		frame_dec_free(&d);
		buf_free(&b);
	}
}
END_TEST

START_TEST(encode_length_prefixed_prefix_exact)
{
	struct buf	 b;
	json_t		*o = json_pack("{s:i}", "a", 1);
	json_t		*big;
	char		*s;
	const unsigned char *p;

	buf_init(&b);
	ck_assert_int_eq(frame_encode(FRAMING_LENGTH_PREFIXED, o, &b), 0);
	ck_assert_uint_eq(buf_used(&b), 4 + 7);
	ck_assert_mem_eq(buf_data(&b), "\0\0\0\x07{\"a\":1}", 11);

	/* A second frame is appended after the first. */
	ck_assert_int_eq(frame_encode(FRAMING_LENGTH_PREFIXED, o, &b), 0);
	ck_assert_uint_eq(buf_used(&b), 22);
	ck_assert_mem_eq(buf_data(&b) + 11, "\0\0\0\x07{\"a\":1}", 11);
	buf_free(&b);

	/* Larger than the first guess of 256 bytes, over 65535. */
	s = xmalloc(65537);
	memset(s, 'x', 65536);
	s[65536] = '\0';
	big = json_pack("{s:s}", "s", s);
	buf_init(&b);
	ck_assert_int_eq(frame_encode(FRAMING_LENGTH_PREFIXED, big, &b), 0);
	ck_assert_uint_eq(buf_used(&b), 4 + 65536 + 8);
	p = buf_data(&b);
	ck_assert_mem_eq(p, "\x00\x01\x00\x08{\"s\":\"xxx", 13);
	ck_assert_mem_eq(p + buf_used(&b) - 3, "x\"}", 3);
	buf_free(&b);
	json_decref(big);
	free(s);
	json_decref(o);
}
END_TEST

START_TEST(encode_ndjson_one_line)
{
	struct buf	 b;
	json_t		*o;
	const char	*p;
	size_t		 n;

	o = json_pack("{s:s, s:s, s:[i,i]}", "type", "send", "data",
	    "line1\nline2\r\n\n", "x", 1, 2);
	buf_init(&b);
	buf_add(&b, "previous\n", 9);
	ck_assert_int_eq(frame_encode(FRAMING_NDJSON, o, &b), 0);
	p = (const char *)buf_data(&b) + 9;
	n = buf_used(&b) - 9;
	ck_assert_uint_gt(n, 1);
	ck_assert_int_eq(p[n - 1], '\n');
	ck_assert_ptr_null(memchr(p, '\n', n - 1));
	ck_assert_ptr_null(memchr(p, '\r', n));
	ck_assert_mem_eq(p, "{\"type\":\"send\",\"data\":\"line1\\nline2\\r\\n"
	    "\\n\",\"x\":[1,2]}\n", n);
	buf_free(&b);
	json_decref(o);
}
END_TEST

START_TEST(encode_ndjson_large)
{
	struct buf	 b;
	json_t		*o;
	char		*s;
	const char	*p;
	size_t		 n;

	s = xmalloc(1001);
	memset(s, '\n', 1000);
	s[1000] = '\0';
	o = json_pack("{s:s}", "d", s);
	buf_init(&b);
	ck_assert_int_eq(frame_encode(FRAMING_NDJSON, o, &b), 0);
	p = (const char *)buf_data(&b);
	n = buf_used(&b);
	ck_assert_uint_eq(n, 2000 + 8 + 1);
	ck_assert_int_eq(p[n - 1], '\n');
	ck_assert_ptr_null(memchr(p, '\n', n - 1));
	buf_free(&b);
	json_decref(o);
	free(s);
}
END_TEST

/* Length-prefixed decoder */

START_TEST(dec_prefixed_whole_frame)
{
	struct frame_dec d;
	struct buf	 b;

	frame_dec_init(&d, FRAMING_LENGTH_PREFIXED, 1024);
	ck_assert_int_eq(next(&d), FRAME_MORE);
	buf_init(&b);
	put_prefixed(&b, "{\"a\":1}", 7);
	frame_dec_feed(&d, buf_data(&b), buf_used(&b));
	expect_frame(&d, "{\"a\":1}");
	ck_assert_int_eq(next(&d), FRAME_MORE);
	ck_assert_int_eq(next(&d), FRAME_MORE);

	/* A zero-length frame is a frame. */
	buf_reset(&b);
	put_prefixed(&b, "", 0);
	frame_dec_feed(&d, buf_data(&b), buf_used(&b));
	expect_frame(&d, "");
	ck_assert_int_eq(next(&d), FRAME_MORE);
	buf_free(&b);
	frame_dec_free(&d);
}
END_TEST

START_TEST(dec_prefixed_byte_by_byte)
{
	struct frame_dec d;
	struct buf	 b;
	size_t		 i, n;
	const unsigned char *p;

	buf_init(&b);
	put_prefixed(&b, "{\"one\":1}", 9);
	put_prefixed(&b, "{\"two\":2}", 9);
	p = buf_data(&b);
	n = buf_used(&b);
	frame_dec_init(&d, FRAMING_LENGTH_PREFIXED, 1024);
	for (i = 0; i < n; i++) {
		frame_dec_feed(&d, p + i, 1);
		if (i == 12)
			expect_frame(&d, "{\"one\":1}");
		else if (i == n - 1)
			expect_frame(&d, "{\"two\":2}");
		else
			ck_assert_int_eq(next(&d), FRAME_MORE);
	}
	ck_assert_int_eq(next(&d), FRAME_MORE);
	frame_dec_free(&d);
	buf_free(&b);
}
END_TEST

START_TEST(dec_prefixed_several_frames_in_one_feed)
{
	struct frame_dec d;
	struct buf	 b;

	buf_init(&b);
	put_prefixed(&b, "{\"a\":1}", 7);
	put_prefixed(&b, "[]", 2);
	put_prefixed(&b, "{\"c\":\"\\n\"}", 10);
	put_prefixed(&b, "{\"d\"", 4);	/* half of the fourth */
	frame_dec_init(&d, FRAMING_LENGTH_PREFIXED, 1024);
	frame_dec_feed(&d, buf_data(&b), buf_used(&b) - 2);
	expect_frame(&d, "{\"a\":1}");
	expect_frame(&d, "[]");
	expect_frame(&d, "{\"c\":\"\\n\"}");
	ck_assert_int_eq(next(&d), FRAME_MORE);
	frame_dec_feed(&d, buf_data(&b) + buf_used(&b) - 2, 2);
	expect_frame(&d, "{\"d\"");
	ck_assert_int_eq(next(&d), FRAME_MORE);
	frame_dec_free(&d);
	buf_free(&b);
}
END_TEST

START_TEST(dec_prefixed_max_ok_max_plus_one_too_big)
{
	struct frame_dec d;
	struct buf	 b;
	char		*payload;
	const char	*f;
	size_t		 len;

	payload = xmalloc(1025);
	memset(payload, 'p', 1025);
	buf_init(&b);
	put_prefixed(&b, payload, 1024);
	frame_dec_init(&d, FRAMING_LENGTH_PREFIXED, 1024);
	frame_dec_feed(&d, buf_data(&b), buf_used(&b));
	ck_assert_int_eq(frame_dec_next(&d, &f, &len), FRAME_OK);
	ck_assert_uint_eq(len, 1024);
	ck_assert_mem_eq(f, payload, 1024);
	ck_assert_int_eq(next(&d), FRAME_MORE);
	frame_dec_free(&d);

	/* max + 1 is refused from the prefix alone, and stays refused. */
	buf_reset(&b);
	put_prefixed(&b, payload, 1025);
	frame_dec_init(&d, FRAMING_LENGTH_PREFIXED, 1024);
	frame_dec_feed(&d, buf_data(&b), 4);
	ck_assert_int_eq(next(&d), FRAME_TOO_BIG);
	frame_dec_feed(&d, buf_data(&b) + 4, buf_used(&b) - 4);
	ck_assert_int_eq(next(&d), FRAME_TOO_BIG);
	frame_dec_free(&d);

	/* The largest prefix. */
	frame_dec_init(&d, FRAMING_LENGTH_PREFIXED, 1024);
	FEED(&d, "\xff\xff\xff\xff");
	ck_assert_int_eq(next(&d), FRAME_TOO_BIG);
	frame_dec_free(&d);

	buf_free(&b);
	free(payload);
}
END_TEST

START_TEST(dec_frame_valid_until_next_call)
{
	struct frame_dec d;
	struct buf	 b;
	const char	*f1, *f2;
	size_t		 l1, l2;
	char		 big[600];

	/* Length-prefixed: two frames, the first checked again later. */
	buf_init(&b);
	put_prefixed(&b, "{\"first\":1}", 11);
	put_prefixed(&b, "{\"second\":2}", 12);
	frame_dec_init(&d, FRAMING_LENGTH_PREFIXED, 1024);
	frame_dec_feed(&d, buf_data(&b), buf_used(&b));
	ck_assert_int_eq(frame_dec_next(&d, &f1, &l1), FRAME_OK);
	ck_assert_uint_eq(l1, 11);
	ck_assert_mem_eq(f1, "{\"first\":1}", 11);
	ck_assert_int_eq(frame_dec_next(&d, &f2, &l2), FRAME_OK);
	ck_assert_mem_eq(f2, "{\"second\":2}", 12);
	ck_assert_uint_eq(l2, 12);

	/* A feed after a returned frame drops that frame, even if it grows. */
	memset(big, 'z', sizeof big);
	buf_reset(&b);
	put_prefixed(&b, big, sizeof big);
	frame_dec_feed(&d, buf_data(&b), buf_used(&b));
	ck_assert_int_eq(frame_dec_next(&d, &f1, &l1), FRAME_OK);
	ck_assert_uint_eq(l1, sizeof big);
	ck_assert_mem_eq(f1, big, sizeof big);
	ck_assert_int_eq(next(&d), FRAME_MORE);
	frame_dec_free(&d);

	/* ndjson: the same. */
	frame_dec_init(&d, FRAMING_NDJSON, 1024);
	FEED(&d, "{\"first\":1}\n{\"sec");
	ck_assert_int_eq(frame_dec_next(&d, &f1, &l1), FRAME_OK);
	ck_assert_uint_eq(l1, 11);
	ck_assert_mem_eq(f1, "{\"first\":1}", 11);
	ck_assert_int_eq(next(&d), FRAME_MORE);
	FEED(&d, "ond\":2}\n");
	expect_frame(&d, "{\"second\":2}");
	ck_assert_int_eq(next(&d), FRAME_MORE);
	frame_dec_free(&d);
	buf_free(&b);
}
END_TEST

/* ndjson decoder */

START_TEST(dec_ndjson_whole_and_several)
{
	struct frame_dec d;

	frame_dec_init(&d, FRAMING_NDJSON, 1024);
	FEED(&d, "{\"a\":1}\n");
	expect_frame(&d, "{\"a\":1}");
	ck_assert_int_eq(next(&d), FRAME_MORE);
	FEED(&d, "{\"b\":2}\n{\"c\":3}\n{\"d\"");
	expect_frame(&d, "{\"b\":2}");
	expect_frame(&d, "{\"c\":3}");
	ck_assert_int_eq(next(&d), FRAME_MORE);
	FEED(&d, ":4}\n");
	expect_frame(&d, "{\"d\":4}");
	ck_assert_int_eq(next(&d), FRAME_MORE);
	frame_dec_free(&d);
}
END_TEST

START_TEST(dec_ndjson_byte_by_byte)
{
	static const char in[] = "{\"a\":1}\r\n\n{\"b\":2}\n";
	struct frame_dec d;
	size_t		 i;

	frame_dec_init(&d, FRAMING_NDJSON, 1024);
	for (i = 0; i < sizeof in - 1; i++) {
		frame_dec_feed(&d, in + i, 1);
		if (i == 8)
			expect_frame(&d, "{\"a\":1}");
		else if (i == sizeof in - 2)
			expect_frame(&d, "{\"b\":2}");
		else
			ck_assert_int_eq(next(&d), FRAME_MORE);
	}
	ck_assert_int_eq(next(&d), FRAME_MORE);
	frame_dec_free(&d);
}
END_TEST

START_TEST(dec_ndjson_crlf_accepted)
{
	struct frame_dec d;

	frame_dec_init(&d, FRAMING_NDJSON, 1024);
	FEED(&d, "{\"a\":1}\r\n{\"b\":2}\n");
	expect_frame(&d, "{\"a\":1}");
	expect_frame(&d, "{\"b\":2}");
	ck_assert_int_eq(next(&d), FRAME_MORE);
	frame_dec_free(&d);
}
END_TEST

START_TEST(dec_ndjson_empty_lines_skipped)
{
	struct frame_dec d;

	frame_dec_init(&d, FRAMING_NDJSON, 1024);
	FEED(&d, "\n\r\n\n{\"a\":1}\n\r\n\n");
	expect_frame(&d, "{\"a\":1}");
	ck_assert_int_eq(next(&d), FRAME_MORE);
	FEED(&d, "\n");
	ck_assert_int_eq(next(&d), FRAME_MORE);
	FEED(&d, "{}\n");
	expect_frame(&d, "{}");
	frame_dec_free(&d);
}
END_TEST

START_TEST(dec_ndjson_line_at_max_ok)
{
	struct frame_dec d;

	frame_dec_init(&d, FRAMING_NDJSON, 10);
	FEED(&d, "0123456789\n");
	expect_frame(&d, "0123456789");
	/* The CR of a CRLF does not count. */
	FEED(&d, "0123456789\r\n");
	expect_frame(&d, "0123456789");
	/* Nor does it when the line arrives without its newline yet. */
	FEED(&d, "abcdefghij");
	ck_assert_int_eq(next(&d), FRAME_MORE);
	FEED(&d, "\n");
	expect_frame(&d, "abcdefghij");
	ck_assert_int_eq(next(&d), FRAME_MORE);
	frame_dec_free(&d);
}
END_TEST

/*
 * A CRLF line of exactly max bytes is accepted when it arrives whole
 * (dec_ndjson_line_at_max_ok); it must be too when the LF comes in a
 * later read, after the CR.
 */
START_TEST(dec_ndjson_crlf_line_at_max_split_before_lf)
{
	struct frame_dec d;
	enum frame_result r1, r2, r3, r4;
	const char	*f;
	size_t		 len = 0;
	char		 got[16] = "";

	/* Decode first and check after freeing: a failure leaks nothing. */
	frame_dec_init(&d, FRAMING_NDJSON, 10);
	FEED(&d, "0123456789\r");
	r1 = next(&d);
	FEED(&d, "\n{\"a\":1}\n");
	r2 = frame_dec_next(&d, &f, &len);
	if (r2 == FRAME_OK && len < sizeof got)
		memcpy(got, f, len);
	r3 = next(&d);
	r4 = next(&d);
	frame_dec_free(&d);

	ck_assert_int_eq(r1, FRAME_MORE);
	ck_assert_int_eq(r2, FRAME_OK);
	ck_assert_str_eq(got, "0123456789");
	ck_assert_int_eq(r3, FRAME_OK);
	ck_assert_int_eq(r4, FRAME_MORE);
}
END_TEST

/* Asking an ndjson decoder that has no buffer yet is fine. */
START_TEST(dec_ndjson_next_before_any_feed)
{
	struct frame_dec d;

	frame_dec_init(&d, FRAMING_NDJSON, 10);
	ck_assert_int_eq(next(&d), FRAME_MORE);
	ck_assert_int_eq(next(&d), FRAME_MORE);
	FEED(&d, "{}\n");
	expect_frame(&d, "{}");
	frame_dec_free(&d);

	frame_dec_init(&d, FRAMING_LENGTH_PREFIXED, 10);
	ck_assert_int_eq(next(&d), FRAME_MORE);
	frame_dec_free(&d);
}
END_TEST

START_TEST(dec_ndjson_long_line_skipped_once)
{
	struct frame_dec d;

	frame_dec_init(&d, FRAMING_NDJSON, 10);
	FEED(&d, "0123456789X\n{\"a\":1}\n");
	ck_assert_int_eq(next(&d), FRAME_SKIPPED);
	expect_frame(&d, "{\"a\":1}");
	ck_assert_int_eq(next(&d), FRAME_MORE);

	/* With a CRLF, and twice in a row. */
	FEED(&d, "0123456789X\r\n0123456789XY\n{}\n");
	ck_assert_int_eq(next(&d), FRAME_SKIPPED);
	ck_assert_int_eq(next(&d), FRAME_SKIPPED);
	expect_frame(&d, "{}");
	ck_assert_int_eq(next(&d), FRAME_MORE);
	frame_dec_free(&d);
}
END_TEST

START_TEST(dec_ndjson_long_line_in_pieces_resyncs)
{
	struct frame_dec d;
	int		 skipped = 0, i;
	enum frame_result r;

	frame_dec_init(&d, FRAMING_NDJSON, 10);
	FEED(&d, "01234");
	ck_assert_int_eq(next(&d), FRAME_MORE);
	FEED(&d, "56789");
	ck_assert_int_eq(next(&d), FRAME_MORE);
	FEED(&d, "abc");
	ck_assert_int_eq(next(&d), FRAME_SKIPPED);
	ck_assert_int_eq(next(&d), FRAME_MORE);
	/* Much more of the same line: no second FRAME_SKIPPED. */
	for (i = 0; i < 100; i++) {
		FEED(&d, "xxxxxxxxxxxxxxxxxxxx");
		while ((r = next(&d)) != FRAME_MORE) {
			ck_assert_int_eq(r, FRAME_SKIPPED);
			skipped++;
		}
	}
	ck_assert_int_eq(skipped, 0);
	/* The line ends; the next one is decoded, even if in pieces. */
	FEED(&d, "yyy\n{\"a\"");
	ck_assert_int_eq(next(&d), FRAME_MORE);
	FEED(&d, ":1}\n");
	expect_frame(&d, "{\"a\":1}");
	ck_assert_int_eq(next(&d), FRAME_MORE);
	frame_dec_free(&d);
}
END_TEST

START_TEST(dec_ndjson_long_line_byte_by_byte)
{
	static const char in[] = "0123456789abcdef\n{\"a\":1}\n";
	struct frame_dec d;
	enum frame_result r;
	size_t		 i;
	int		 skipped = 0, ok = 0;
	const char	*f;
	size_t		 len;

	frame_dec_init(&d, FRAMING_NDJSON, 10);
	for (i = 0; i < sizeof in - 1; i++) {
		frame_dec_feed(&d, in + i, 1);
		while ((r = frame_dec_next(&d, &f, &len)) != FRAME_MORE) {
			if (r == FRAME_SKIPPED)
				skipped++;
			else {
				ck_assert_int_eq(r, FRAME_OK);
				ck_assert_uint_eq(len, 7);
				ck_assert_mem_eq(f, "{\"a\":1}", 7);
				ok++;
			}
		}
	}
	ck_assert_int_eq(skipped, 1);
	ck_assert_int_eq(ok, 1);
	frame_dec_free(&d);
}
END_TEST

START_TEST(dec_ndjson_encoded_round_trip)
{
	struct frame_dec d;
	struct buf	 b;
	json_t		*o, *back;
	const char	*f;
	size_t		 len;

	o = json_pack("{s:s,s:s}", "type", "send", "data", "a\nb\r\n");
	buf_init(&b);
	ck_assert_int_eq(frame_encode(FRAMING_NDJSON, o, &b), 0);
	ck_assert_int_eq(frame_encode(FRAMING_NDJSON, o, &b), 0);
	frame_dec_init(&d, FRAMING_NDJSON, 1024);
	frame_dec_feed(&d, buf_data(&b), buf_used(&b));
	ck_assert_int_eq(frame_dec_next(&d, &f, &len), FRAME_OK);
	back = json_loadb(f, len, 0, NULL);
	ck_assert_ptr_nonnull(back);
	ck_assert(json_equal(o, back));
	json_decref(back);
	ck_assert_int_eq(frame_dec_next(&d, &f, &len), FRAME_OK);
	ck_assert_int_eq(next(&d), FRAME_MORE);
	frame_dec_free(&d);

	buf_reset(&b);
	ck_assert_int_eq(frame_encode(FRAMING_LENGTH_PREFIXED, o, &b), 0);
	frame_dec_init(&d, FRAMING_LENGTH_PREFIXED, 1024);
	frame_dec_feed(&d, buf_data(&b), buf_used(&b));
	ck_assert_int_eq(frame_dec_next(&d, &f, &len), FRAME_OK);
	back = json_loadb(f, len, 0, NULL);
	ck_assert_ptr_nonnull(back);
	ck_assert(json_equal(o, back));
	json_decref(back);
	frame_dec_free(&d);
	buf_free(&b);
	json_decref(o);
}
END_TEST

/* b64 */

START_TEST(b64_rfc4648_vectors)
{
	static const char *const v[][2] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" },
		{ "foo", "Zm9v" }, { "foob", "Zm9vYg==" },
		{ "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" }
	};
	char		 enc[16], dec[16];
	size_t		 i, n;

	for (i = 0; i < sizeof v / sizeof v[0]; i++) {
		n = strlen(v[i][0]);
		ck_assert_uint_eq(b64_encoded_len(n), strlen(v[i][1]));
		memset(enc, 0, sizeof enc);
		b64_encode(v[i][0], n, enc);
		ck_assert_str_eq(enc, v[i][1]);
		ck_assert_int_eq(b64_decode(v[i][1], strlen(v[i][1]), dec),
		    (ssize_t)n);
		ck_assert_mem_eq(dec, v[i][0], n);
	}
	b64_encode("\xfb\xff", 2, enc);
	ck_assert_mem_eq(enc, "+/8=", 4);
}
END_TEST

START_TEST(b64_round_trip_0_to_20)
{
	unsigned char	 in[20], out[21];
	char		 enc[32];
	size_t		 len, i, elen;

	for (len = 0; len <= 20; len++) {
		for (i = 0; i < len; i++)
			in[i] = (unsigned char)(i * 97 + len * 31 + 0xf0);
		elen = b64_encoded_len(len);
		ck_assert_uint_eq(elen, (len + 2) / 3 * 4);
		ck_assert_uint_le(elen, sizeof enc);
		memset(enc, '#', sizeof enc);
		b64_encode(in, len, enc);
		ck_assert_int_eq(enc[elen], '#');	/* no overrun */
		for (i = 0; i < elen; i++)
			ck_assert_ptr_nonnull(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "abcdefghijklmnopqrstuvwxyz0123456789+/=", enc[i]));
		memset(out, 0, sizeof out);
		ck_assert_int_eq(b64_decode(enc, elen, out), (ssize_t)len);
		ck_assert_mem_eq(out, in, len);
	}
}
END_TEST

START_TEST(b64_decode_rejects)
{
	unsigned char	 out[32];

#define REJECT(s) ck_assert_int_eq(b64_decode((s), sizeof(s) - 1, out), -1)
	REJECT("abc");		/* not a multiple of 4 */
	REJECT("Zg=");
	REJECT("Zm9vY");
	REJECT("ab=c");		/* padding in the middle */
	REJECT("Zg==Zg==");
	REJECT("====");
	REJECT("Z===");
	REJECT("=Zg=");
	REJECT("Zm9v!A==");	/* not in the alphabet */
	REJECT("Zm-v");		/* URL-safe alphabet */
	REJECT("Zm_v");
	REJECT("Zm9v\n");
	REJECT("Zm 9v");
	REJECT("Zm\0v");
	REJECT("QR==");		/* non-zero pad bits */
	REJECT("Zh==");
	REJECT("Zm9=");
#undef REJECT
	ck_assert_int_eq(b64_decode("QQ==", 4, out), 1);
	ck_assert_int_eq(out[0], 'A');
}
END_TEST

/* utf8 */

START_TEST(utf8_valid_accepts)
{
#define OK(s) ck_assert_msg(utf8_valid((s), sizeof(s) - 1), "rejected %s", #s)
	OK("");
	OK("plain ASCII ~\x7f");
	OK("\0nul\0");
	OK("\xc2\x80");			/* U+0080 */
	OK("caf\xc3\xa9");		/* 2 bytes */
	OK("\xdf\xbf");			/* U+07FF */
	OK("\xe0\xa0\x80");		/* U+0800 */
	OK("\xe2\x82\xac");		/* 3 bytes, euro */
	OK("\xed\x9f\xbf");		/* U+D7FF */
	OK("\xee\x80\x80");		/* U+E000 */
	OK("\xef\xbf\xbf");		/* U+FFFF */
	OK("\xf0\x90\x80\x80");		/* U+10000 */
	OK("\xf0\x9f\x98\x80");		/* 4 bytes */
	OK("\xf4\x8f\xbf\xbf");		/* U+10FFFF */
	OK("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z");
#undef OK
}
END_TEST

START_TEST(utf8_valid_rejects)
{
#define BAD(s) ck_assert_msg(!utf8_valid((s), sizeof(s) - 1), "accepted %s", #s)
	BAD("\xc0\x80");		/* overlong NUL */
	BAD("\xc1\xbf");		/* overlong */
	BAD("\xe0\x80\x80");		/* overlong 3 bytes */
	BAD("\xe0\x9f\xbf");
	BAD("\xf0\x80\x80\x80");	/* overlong 4 bytes */
	BAD("\xf0\x8f\xbf\xbf");
	BAD("\xed\xa0\x80");		/* surrogate U+D800 */
	BAD("\xed\xbf\xbf");		/* surrogate U+DFFF */
	BAD("\xf4\x90\x80\x80");	/* U+110000 */
	BAD("\xf5\x80\x80\x80");
	BAD("\xf8\x88\x80\x80\x80");
	BAD("\xff");
	BAD("\xfe");
	BAD("\x80");			/* lone continuation */
	BAD("a\xbf");
	BAD("\xc3");			/* truncated */
	BAD("a\xc3");
	BAD("\xe2\x82");
	BAD("\xe2");
	BAD("\xf0\x9f\x98");
	BAD("\xf0\x9f");
	BAD("\xc3\x28");		/* bad continuation */
	BAD("\xe2\x28\xa1");
	BAD("\xe2\x82\x28");
	BAD("\xf0\x9f\x98\x28");
	BAD("\xc3\xa9\xc3");
#undef BAD
	/* Only len bytes count: a sequence cut by len is truncated. */
	ck_assert(!utf8_valid("\xe2\x82\xac", 2));
	ck_assert(utf8_valid("\xe2\x82\xac", 3));
}
END_TEST

static Suite *
frame_suite(void)
{
	Suite	*s = suite_create("frame");
	TCase	*tc;

	tc = tcase_create("encode");
	tcase_add_test(tc, json_string_same_as_jansson);
	tcase_add_test(tc, message_frame_parses_to_the_event);
	tcase_add_test(tc, encode_length_prefixed_prefix_exact);
	tcase_add_test(tc, encode_ndjson_one_line);
	tcase_add_test(tc, encode_ndjson_large);
	suite_add_tcase(s, tc);

	tc = tcase_create("decode_prefixed");
	tcase_add_test(tc, dec_prefixed_whole_frame);
	tcase_add_test(tc, dec_prefixed_byte_by_byte);
	tcase_add_test(tc, dec_prefixed_several_frames_in_one_feed);
	tcase_add_test(tc, dec_prefixed_max_ok_max_plus_one_too_big);
	tcase_add_test(tc, dec_frame_valid_until_next_call);
	suite_add_tcase(s, tc);

	tc = tcase_create("decode_ndjson");
	tcase_add_test(tc, dec_ndjson_whole_and_several);
	tcase_add_test(tc, dec_ndjson_byte_by_byte);
	tcase_add_test(tc, dec_ndjson_crlf_accepted);
	tcase_add_test(tc, dec_ndjson_empty_lines_skipped);
	tcase_add_test(tc, dec_ndjson_line_at_max_ok);
	tcase_add_test(tc, dec_ndjson_crlf_line_at_max_split_before_lf);
	tcase_add_test(tc, dec_ndjson_next_before_any_feed);
	tcase_add_test(tc, dec_ndjson_long_line_skipped_once);
	tcase_add_test(tc, dec_ndjson_long_line_in_pieces_resyncs);
	tcase_add_test(tc, dec_ndjson_long_line_byte_by_byte);
	tcase_add_test(tc, dec_ndjson_encoded_round_trip);
	suite_add_tcase(s, tc);

	tc = tcase_create("b64");
	tcase_add_test(tc, b64_rfc4648_vectors);
	tcase_add_test(tc, b64_round_trip_0_to_20);
	tcase_add_test(tc, b64_decode_rejects);
	suite_add_tcase(s, tc);

	tc = tcase_create("utf8");
	tcase_add_test(tc, utf8_valid_accepts);
	tcase_add_test(tc, utf8_valid_rejects);
	suite_add_tcase(s, tc);

	return (s);
}

int
main(void)
{
	return (unit_run(frame_suite()));
}
