/*
 * Unit tests of cmd.c (the fast reader of send commands) and jstr.c (the
 * JSON string helpers it and frame.c use). Whatever cmd_scan_send accepts
 * is held to jansson's reading of the same bytes, as fuzz_cmd does.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "unit.h"

/* backend_handle's jansson flags. */
#define JFLAGS	(JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL)

/* Room for the longest frame a test scans. */
#define SCAN_MAX	512

/* A frame read by cmd_scan_send, and its data decoded. */
struct scan {
	struct cmd_send	 cs;
	char		 data[SCAN_MAX];
	ssize_t		 datalen;	/* -1: the escapes do not decode */
};

/*
 * Scan len bytes of frame. If cmd_scan_send accepts them, check what
 * backend_handle relies on: jansson, with the daemon's flags, reads an
 * object whose type is "send", with the same socketId, binary true only
 * if cs_binary, and data equal to cs_data, unescaped if cs_escaped; or,
 * if jstr_unescape refuses the escapes, jansson refuses the frame too.
 * Return what cmd_scan_send returned.
 */
static int
scan(const char *frame, size_t len, struct scan *sc)
{
	const struct cmd_send	*cs = &sc->cs;
	json_error_t		 err;
	json_t			*j, *type, *id, *data, *bin;
	int			 r;

	ck_assert_uint_le(len, SCAN_MAX);
	r = cmd_scan_send(frame, len, &sc->cs);
	ck_assert(r == 0 || r == 1);
	if (r == 0)
		return (0);
	ck_assert_ptr_nonnull(cs->cs_id);
	ck_assert_ptr_nonnull(cs->cs_data);
	ck_assert(cs->cs_id >= frame &&
	    cs->cs_id + cs->cs_idlen <= frame + len);
	ck_assert(cs->cs_data >= frame &&
	    cs->cs_data + cs->cs_datalen <= frame + len);
	if (cs->cs_escaped)
		sc->datalen = jstr_unescape(cs->cs_data, cs->cs_datalen,
		    sc->data);
	else {
		memcpy(sc->data, cs->cs_data, cs->cs_datalen);
		sc->datalen = (ssize_t)cs->cs_datalen;
	}

	j = json_loadb(frame, len, JFLAGS, &err);
	if (sc->datalen == -1) {
		ck_assert_msg(j == NULL, "jansson reads escapes that "
		    "jstr_unescape refuses: \"%.*s\"", (int)len, frame);
		return (1);
	}
	ck_assert_msg(j != NULL, "jansson refuses what cmd_scan_send "
	    "accepts: %s: \"%.*s\"", err.text, (int)len, frame);
	ck_assert(json_is_object(j));
	type = json_object_get(j, "type");
	ck_assert(json_is_string(type));
	ck_assert_uint_eq(json_string_length(type), 4);
	ck_assert_mem_eq(json_string_value(type), "send", 4);
	id = json_object_get(j, "socketId");
	ck_assert(json_is_string(id));
	ck_assert_uint_eq(json_string_length(id), cs->cs_idlen);
	ck_assert_mem_eq(json_string_value(id), cs->cs_id, cs->cs_idlen);
	bin = json_object_get(j, "binary");
	ck_assert(bin == NULL || json_is_boolean(bin));
	ck_assert_int_eq(json_is_true(bin), cs->cs_binary);
	data = json_object_get(j, "data");
	ck_assert(json_is_string(data));
	ck_assert_uint_eq(json_string_length(data), (size_t)sc->datalen);
	ck_assert_mem_eq(json_string_value(data), sc->data,
	    (size_t)sc->datalen);
	json_decref(j);
	return (1);
}

/* A string literal with its length, NUL bytes included. */
#define LIT(s)	(s), sizeof(s) - 1

/* jstr_plain_len and jstr_ascii_len */

/* Backgrounds: plain bytes, and high bytes next to the special ones. */
static const unsigned char backgrounds[] = {
	'a', ' ', '!', '#', '[', ']', 0x7f, 0x80, 0xa2, 0xdc, 0xa0, 0xff
};

static int
is_special(unsigned char c)
{
	return (c < 0x20 || c == '"' || c == '\\');
}

/*
 * Every byte value at every offset from 0 to 16 of a 32-byte buffer, so
 * at each place in and across the 8-byte words: the length must be the
 * offset of the first special byte.
 */
START_TEST(plain_len_every_byte_every_offset)
{
	unsigned char	 buf[32];
	size_t		 b, off, want;
	int		 c;

	for (b = 0; b < sizeof backgrounds; b++) {
		memset(buf, backgrounds[b], sizeof buf);
		ck_assert_uint_eq(jstr_plain_len(buf, sizeof buf), sizeof buf);
		for (off = 0; off <= 16; off++) {
			for (c = 0; c < 256; c++) {
				buf[off] = (unsigned char)c;
				want = is_special((unsigned char)c) ? off : 32;
				ck_assert_msg(jstr_plain_len(buf, 32) == want,
				    "byte 0x%02x at %zu on 0x%02x", c, off,
				    backgrounds[b]);
				/* The limit stops it first. */
				ck_assert_uint_eq(jstr_plain_len(buf, off),
				    off);
			}
			buf[off] = backgrounds[b];
		}
	}
}
END_TEST

START_TEST(plain_len_first_special_wins)
{
	char	 buf[32];
	size_t	 start;

	memset(buf, 'x', sizeof buf);
	buf[9] = '\\';
	buf[12] = '"';
	buf[20] = '\n';
	ck_assert_uint_eq(jstr_plain_len(buf, sizeof buf), 9);
	ck_assert_uint_eq(jstr_plain_len(buf + 10, 22), 2);
	ck_assert_uint_eq(jstr_plain_len(buf + 13, 19), 7);
	/* Any alignment of the start. */
	for (start = 0; start < 9; start++)
		ck_assert_uint_eq(jstr_plain_len(buf + start, 32 - start),
		    9 - start);
	ck_assert_uint_eq(jstr_plain_len(buf, 0), 0);
	ck_assert_uint_eq(jstr_plain_len("\"", 1), 0);
	ck_assert_uint_eq(jstr_plain_len("\xc3\xa9\xf0\x9f\x98\x80", 6), 6);
}
END_TEST

START_TEST(ascii_len_every_byte_every_offset)
{
	unsigned char	 buf[32];
	size_t		 off, want, start;
	int		 c;

	/* ASCII that is special to JSON is still ASCII. */
	memset(buf, 'a', sizeof buf);
	buf[20] = 0;
	buf[21] = '"';
	buf[22] = '\\';
	buf[23] = 0x7f;
	buf[31] = 0x1f;
	ck_assert_uint_eq(jstr_ascii_len(buf, sizeof buf), sizeof buf);
	for (off = 0; off <= 16; off++) {
		for (c = 0; c < 256; c++) {
			buf[off] = (unsigned char)c;
			want = c >= 0x80 ? off : 32;
			ck_assert_msg(jstr_ascii_len(buf, 32) == want,
			    "byte 0x%02x at %zu", c, off);
			ck_assert_uint_eq(jstr_ascii_len(buf, off), off);
		}
		buf[off] = 'a';
	}
	buf[11] = 0x80;
	for (start = 0; start <= 11; start++)
		ck_assert_uint_eq(jstr_ascii_len(buf + start, 32 - start),
		    11 - start);
	ck_assert_uint_eq(jstr_ascii_len(buf, 0), 0);
}
END_TEST

/* jstr_unescape */

/*
 * Unescape len bytes of in into a buffer of exactly len bytes; want is
 * the result, or NULL for -1. jansson must read the same string.
 */
static void
check_unescape(const char *in, size_t len, const char *want, size_t wantlen)
{
	char		*out, *quoted;
	ssize_t		 n;
	json_t		*j;

	out = xmalloc(len + 1);
	n = jstr_unescape(in, len, out);
	quoted = xmalloc(len + 2);
	quoted[0] = '"';
	memcpy(quoted + 1, in, len);
	quoted[len + 1] = '"';
	j = json_loadb(quoted, len + 2, JFLAGS, NULL);
	if (want == NULL) {
		ck_assert_msg(n == -1, "\"%.*s\": %zd, expected -1", (int)len,
		    in, n);
		ck_assert_msg(j == NULL, "jansson reads \"%.*s\"", (int)len,
		    in);
	} else {
		ck_assert_msg(n == (ssize_t)wantlen, "\"%.*s\": %zd, expected "
		    "%zu", (int)len, in, n, wantlen);
		ck_assert_mem_eq(out, want, wantlen);
		ck_assert_msg(j != NULL, "jansson refuses \"%.*s\"", (int)len,
		    in);
		ck_assert_uint_eq(json_string_length(j), wantlen);
		ck_assert_mem_eq(json_string_value(j), want, wantlen);
	}
	json_decref(j);
	free(quoted);
	free(out);
}

START_TEST(unescape_decodes)
{
	static const struct {
		const char	*in;
		size_t		 inlen;
		const char	*out;
		size_t		 outlen;
	} t[] = {
#define OK(in, out)	{ LIT(in), LIT(out) }
		OK("", ""),
		OK("plain", "plain"),
		OK("\\\"", "\""),
		OK("\\\\", "\\"),
		OK("\\/", "/"),
		OK("\\b", "\b"),
		OK("\\f", "\f"),
		OK("\\n", "\n"),
		OK("\\r", "\r"),
		OK("\\t", "\t"),
		OK("a\\\"b\\\\c\\/d\\be\\ff\\ng\\rh\\ti",
		    "a\"b\\c/d\be\ff\ng\rh\ti"),
		OK("\\u0041", "A"),
		OK("\\u007f", "\x7f"),
		OK("\\u0000", "\0"),
		OK("a\\u0000b", "a\0b"),
		OK("\\u00e9", "\xc3\xa9"),		/* 2 bytes */
		OK("\\u00E9", "\xc3\xa9"),
		OK("\\u0080", "\xc2\x80"),
		OK("\\u07ff", "\xdf\xbf"),
		OK("\\u0800", "\xe0\xa0\x80"),		/* 3 bytes */
		OK("\\u20AC", "\xe2\x82\xac"),
		OK("\\u20ac", "\xe2\x82\xac"),
		OK("\\ud7ff", "\xed\x9f\xbf"),
		OK("\\ue000", "\xee\x80\x80"),
		OK("\\uFFFF", "\xef\xbf\xbf"),
		OK("\\ud83d\\ude00", "\xf0\x9f\x98\x80"),	/* a pair */
		OK("\\uD83D\\uDE00", "\xf0\x9f\x98\x80"),
		OK("\\ud800\\udc00", "\xf0\x90\x80\x80"),
		OK("\\udbff\\udfff", "\xf4\x8f\xbf\xbf"),
		OK("caf\xc3\xa9 \\u00e9\xf0\x9f\x98\x80", "caf\xc3\xa9 \xc3\xa9"
		    "\xf0\x9f\x98\x80"),
		OK("0123456789abcdef\\n0123456789abcdef\\u0041",
		    "0123456789abcdef\n0123456789abcdefA"),
		OK("\\n\\n\\n\\n\\n\\n\\n\\n\\n", "\n\n\n\n\n\n\n\n\n"),
#undef OK
	};
	size_t	 i;

	for (i = 0; i < sizeof t / sizeof *t; i++)
		check_unescape(t[i].in, t[i].inlen, t[i].out, t[i].outlen);
}
END_TEST

START_TEST(unescape_refuses)
{
	static const char *const t[] = {
		"\\ud800",		/* lone high surrogate */
		"\\uDBFFx",
		"\\ud83d ",
		"a\\udbff",
		"\\udc00",		/* lone low surrogate */
		"\\uDFFF",
		"\\ude00\\ud83d",
		"\\ud800\\u0041",	/* high, then not a low */
		"\\ud800\\ud800",
		"\\ud83d\\n",
		"\\ud83d\\\\ude00",
		"\\ud83dx\\ude00",
		"\\ud800\\ue000",
		"\\u12g4",		/* bad hex */
		"\\u 123",
		"\\u-123",
		"\\u+123",
		"\\uabcG",
		"\\ud83d\\ude0g",
		"\\",			/* truncated */
		"abc\\",
		"\\u",
		"\\u1",
		"\\u12",
		"\\u123",
		"\\ud83d\\",
		"\\ud83d\\u",
		"\\ud83d\\ude0",
		"\\x41",		/* unknown escapes */
		"\\a",
		"\\'",
		"\\0",
		"\\U0041",
		"\\N",
		"\\ ",
		"\\\xc3\xa9",
	};
	size_t	 i;

	for (i = 0; i < sizeof t / sizeof *t; i++)
		check_unescape(t[i], strlen(t[i]), NULL, 0);
}
END_TEST

/* cmd_scan_send: accepted */

START_TEST(send_accepted)
{
	static const struct {
		const char	*frame;
		size_t		 len;
		const char	*id;
		size_t		 idlen;
		const char	*data;
		size_t		 datalen;
		int		 binary;
		int		 escaped;
	} t[] = {
#define ACC(f, id, data, bin, esc) { LIT(f), LIT(id), LIT(data), bin, esc }
		/* Minimal. */
		ACC("{\"type\":\"send\",\"socketId\":\"abc\",\"data\":\"hi\"}",
		    "abc", "hi", 0, 0),
		ACC("{\"type\":\"send\",\"socketId\":\"\",\"data\":\"\"}",
		    "", "", 0, 0),
		/* Keys in any order. */
		ACC("{\"data\":\"hi\",\"socketId\":\"abc\",\"type\":\"send\"}",
		    "abc", "hi", 0, 0),
		ACC("{\"socketId\":\"abc\",\"type\":\"send\",\"data\":\"hi\"}",
		    "abc", "hi", 0, 0),
		ACC("{\"binary\":true,\"data\":\"AAE=\",\"type\":\"send\","
		    "\"socketId\":\"abc\"}", "abc", "AAE=", 1, 0),
		ACC("{\"socketId\":\"abc\",\"binary\":false,\"data\":\"hi\","
		    "\"type\":\"send\"}", "abc", "hi", 0, 0),
		/* Whitespace everywhere JSON allows it. */
		ACC(" \t\r\n{ \"type\" :\t\"send\" ,\n\"socketId\"\r:\"abc\""
		    "\n,\"data\"  :  \"hi\" , \"binary\"\t:\ttrue\r\n} \n\t\r",
		    "abc", "hi", 1, 0),
		ACC("{\n\"type\":\"send\",\"socketId\":\"a\",\"data\":\"b\"\n}",
		    "a", "b", 0, 0),
		/* binary, true and false. */
		ACC("{\"type\":\"send\",\"socketId\":\"abc\",\"data\":\"AP8=\","
		    "\"binary\":true}", "abc", "AP8=", 1, 0),
		ACC("{\"type\":\"send\",\"socketId\":\"abc\",\"data\":\"hi\","
		    "\"binary\":false}", "abc", "hi", 0, 0),
		/* Escapes in data. */
		ACC("{\"type\":\"send\",\"socketId\":\"abc\",\"data\":"
		    "\"a\\nb\"}", "abc", "a\nb", 0, 1),
		ACC("{\"type\":\"send\",\"socketId\":\"abc\",\"data\":"
		    "\"say \\\"hi\\\" \\\\ \\/\"}", "abc", "say \"hi\" \\ /", 0,
		    1),
		ACC("{\"type\":\"send\",\"socketId\":\"abc\",\"data\":"
		    "\"\\u00e9\\u20AC\\ud83d\\ude00\"}", "abc",
		    "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 0, 1),
		ACC("{\"type\":\"send\",\"socketId\":\"abc\",\"data\":"
		    "\"nul\\u0000nul\"}", "abc", "nul\0nul", 0, 1),
		ACC("{\"type\":\"send\",\"socketId\":\"abc\",\"data\":"
		    "\"\\\"\"}", "abc", "\"", 0, 1),
		ACC("{\"type\":\"send\",\"socketId\":\"abc\",\"binary\":true,"
		    "\"data\":\"AAE\\u003d\"}", "abc", "AAE=", 1, 1),
		/* Non-ASCII UTF-8, and JSON's punctuation, in strings. */
		ACC("{\"type\":\"send\",\"socketId\":\"\xc3\xa9t\xc3\xa9\","
		    "\"data\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}",
		    "\xc3\xa9t\xc3\xa9", "caf\xc3\xa9 \xe2\x82\xac "
		    "\xf0\x9f\x98\x80", 0, 0),
		ACC("{\"type\":\"send\",\"socketId\":\"abc\",\"data\":"
		    "\"{\\\"type\\\":\\\"close\\\"},:[]\x7f\"}", "abc",
		    "{\"type\":\"close\"},:[]\x7f", 0, 1),
		ACC("{\"type\":\"send\",\"socketId\":\"abc\",\"data\":"
		    "\"0123456789abcdef0123456789abcdef0123456789\"}", "abc",
		    "0123456789abcdef0123456789abcdef0123456789", 0, 0),
#undef ACC
	};
	struct scan	 sc;
	size_t		 i;

	for (i = 0; i < sizeof t / sizeof *t; i++) {
		ck_assert_msg(scan(t[i].frame, t[i].len, &sc) == 1,
		    "declined #%zu: %s", i, t[i].frame);
		ck_assert_uint_eq(sc.cs.cs_idlen, t[i].idlen);
		ck_assert_mem_eq(sc.cs.cs_id, t[i].id, t[i].idlen);
		ck_assert_int_eq(sc.cs.cs_binary, t[i].binary);
		ck_assert_int_eq(sc.cs.cs_escaped, t[i].escaped);
		ck_assert_int_eq(sc.datalen, (ssize_t)t[i].datalen);
		ck_assert_mem_eq(sc.data, t[i].data, t[i].datalen);
	}
}
END_TEST

/*
 * Data whose escapes jstr_unescape refuses is still accepted (the escape
 * is found later, by backend_send_fast): jansson must refuse the frame.
 */
START_TEST(send_accepted_bad_escape_left_to_jansson)
{
	static const char *const data[] = {
		"\\x", "\\u12", "\\u12g4", "\\ud800", "\\udc00",
		"a\\ud800\\u0041", "\\ud83d\\ude0", "\\U0041",
		"\\u\\\"",		/* no escape hides a quote */
		"\\\xc3\xa9"
	};
	struct scan	 sc;
	char		 frame[SCAN_MAX];
	size_t		 i;
	int		 len;

	for (i = 0; i < sizeof data / sizeof *data; i++) {
		len = snprintf(frame, sizeof frame, "{\"type\":\"send\","
		    "\"socketId\":\"abc\",\"data\":\"%s\"}", data[i]);
		ck_assert_msg(scan(frame, (size_t)len, &sc) == 1,
		    "declined %s", frame);
		ck_assert_int_eq(sc.cs.cs_escaped, 1);
		ck_assert_int_eq(sc.datalen, -1);
	}
}
END_TEST

/* cmd_scan_send: declined */

START_TEST(send_declined)
{
	static const struct {
		const char	*frame;
		size_t		 len;
	} t[] = {
#define DEC(f)	{ LIT(f) }
#define ID	"\"socketId\":\"abc\""
#define DATA	"\"data\":\"hi\""
#define TYPE	"\"type\":\"send\""
		/* Another type. */
		DEC("{\"type\":\"close\"," ID "}"),
		DEC("{\"type\":\"close\"," ID "," DATA "}"),
		DEC("{\"type\":\"Send\"," ID "," DATA "}"),
		DEC("{\"type\":\"sendx\"," ID "," DATA "}"),
		DEC("{\"type\":\"sen\"," ID "," DATA "}"),
		DEC("{\"type\":\"\"," ID "," DATA "}"),
		/* An escape in a key, the type or the socketId. */
		DEC("{\"typ\\u0065\":\"send\"," ID "," DATA "}"),
		DEC("{" TYPE ",\"socket\\u0049d\":\"abc\"," DATA "}"),
		DEC("{" TYPE "," ID ",\"\\u0064ata\":\"hi\"}"),
		DEC("{" TYPE "," ID "," DATA ",\"binar\\u0079\":true}"),
		DEC("{\"type\":\"\\u0073end\"," ID "," DATA "}"),
		DEC("{\"type\":\"send\\/\"," ID "," DATA "}"),
		DEC("{" TYPE ",\"socketId\":\"a\\u0062c\"," DATA "}"),
		DEC("{" TYPE ",\"socketId\":\"a\\nb\"," DATA "}"),
		/* An unknown key. */
		DEC("{" TYPE "," ID "," DATA ",\"code\":1000}"),
		DEC("{" TYPE "," ID "," DATA ",\"x\":\"y\"}"),
		DEC("{\"Type\":\"send\"," ID "," DATA "}"),
		DEC("{" TYPE ",\"socketid\":\"abc\"," DATA "}"),
		DEC("{" TYPE "," ID ",\"data \":\"hi\"}"),
		DEC("{" TYPE "," ID "," DATA ",\"\":true}"),
		/* A key twice. */
		DEC("{" TYPE "," ID "," DATA "," DATA "}"),
		DEC("{" TYPE "," TYPE "," ID "," DATA "}"),
		DEC("{" TYPE "," ID "," ID "," DATA "}"),
		DEC("{" TYPE "," ID "," DATA ",\"binary\":true,"
		    "\"binary\":false}"),
		/* A key missing. */
		DEC("{" TYPE "," DATA "}"),
		DEC("{" TYPE "," ID "}"),
		DEC("{" ID "," DATA "}"),
		DEC("{" ID "," DATA ",\"binary\":true}"),
		DEC("{" TYPE "}"),
		/* Numbers, null, nesting. */
		DEC("{" TYPE ",\"socketId\":1," DATA "}"),
		DEC("{" TYPE "," ID ",\"data\":1}"),
		DEC("{" TYPE "," ID ",\"data\":-0.5e3}"),
		DEC("{" TYPE "," ID "," DATA ",\"binary\":1}"),
		DEC("{" TYPE "," ID "," DATA ",\"binary\":0}"),
		DEC("{\"type\":1," ID "," DATA "}"),
		DEC("{" TYPE "," ID ",\"data\":null}"),
		DEC("{" TYPE ",\"socketId\":null," DATA "}"),
		DEC("{" TYPE "," ID "," DATA ",\"binary\":null}"),
		DEC("{" TYPE "," ID ",\"data\":{}}"),
		DEC("{" TYPE "," ID ",\"data\":[\"hi\"]}"),
		DEC("{" TYPE ",\"socketId\":{\"a\":1}," DATA "}"),
		DEC("{" TYPE "," ID "," DATA ",\"binary\":[true]}"),
		DEC("{\"type\":[\"send\"]," ID "," DATA "}"),
		/* binary that is not a JSON boolean. */
		DEC("{" TYPE "," ID "," DATA ",\"binary\":\"true\"}"),
		DEC("{" TYPE "," ID "," DATA ",\"binary\":True}"),
		DEC("{" TYPE "," ID "," DATA ",\"binary\":truex}"),
		DEC("{" TYPE "," ID "," DATA ",\"binary\":true1}"),
		DEC("{" TYPE "," ID "," DATA ",\"binary\":falsey}"),
		DEC("{" TYPE "," ID "," DATA ",\"binary\":tru}"),
		DEC("{" TYPE "," ID "," DATA ",\"binary\":}"),
		/* Trailing garbage. */
		DEC("{" TYPE "," ID "," DATA "}x"),
		DEC("{" TYPE "," ID "," DATA "} }"),
		DEC("{" TYPE "," ID "," DATA "}{}"),
		DEC("{" TYPE "," ID "," DATA "},"),
		DEC("{" TYPE "," ID "," DATA "}\0"),
		DEC("{" TYPE "," ID "," DATA "}\f"),
		DEC("{" TYPE "," ID "," DATA "}\xc3\xa9"),
		/* Invalid UTF-8 inside a string. */
		DEC("{" TYPE "," ID ",\"data\":\"\xff\"}"),
		DEC("{" TYPE "," ID ",\"data\":\"a\xc3\"}"),
		DEC("{" TYPE "," ID ",\"data\":\"\xc0\x80\"}"),
		DEC("{" TYPE "," ID ",\"data\":\"\xed\xa0\x80\"}"),
		DEC("{" TYPE "," ID ",\"data\":\"\xf4\x90\x80\x80\"}"),
		DEC("{" TYPE "," ID ",\"data\":\"\\n\x80\"}"),
		DEC("{" TYPE ",\"socketId\":\"\xe2\x82\"," DATA "}"),
		/* A raw control character in a string. */
		DEC("{" TYPE "," ID ",\"data\":\"a\nb\"}"),
		DEC("{" TYPE "," ID ",\"data\":\"\t\"}"),
		DEC("{" TYPE "," ID ",\"data\":\"\0\"}"),
		DEC("{" TYPE "," ID ",\"data\":\"\x1f\"}"),
		DEC("{" TYPE "," ID ",\"data\":\"\\n\x01\"}"),
		DEC("{" TYPE ",\"socketId\":\"a\rb\"," DATA "}"),
		/* Not JSON, or not an object. */
		DEC(""),
		DEC(" \n"),
		DEC("{}"),
		DEC(" { } "),
		DEC("[]"),
		DEC("[{" TYPE "," ID "," DATA "}]"),
		DEC("\"send\""),
		DEC("null"),
		DEC("{" TYPE "," ID "," DATA ",}"),
		DEC("{," TYPE "," ID "," DATA "}"),
		DEC("{" TYPE "," ID "," DATA ""),
		DEC("{" TYPE " " ID "," DATA "}"),
		DEC("{\"type\" \"send\"," ID "," DATA "}"),
		DEC("{\"type\"::\"send\"," ID "," DATA "}"),
		DEC("{'type':'send'," ID "," DATA "}"),
		DEC("{type:\"send\"," ID "," DATA "}"),
		DEC("\xef\xbb\xbf{" TYPE "," ID "," DATA "}"),
		DEC("\f{" TYPE "," ID "," DATA "}"),
		DEC("{" TYPE "," ID "," DATA "\f}"),
		DEC("{" TYPE "," ID ",\"data\":\"hi}"),
#undef TYPE
#undef DATA
#undef ID
#undef DEC
	};
	struct scan	 sc;
	size_t		 i;

	for (i = 0; i < sizeof t / sizeof *t; i++)
		ck_assert_msg(scan(t[i].frame, t[i].len, &sc) == 0,
		    "accepted #%zu: %.*s", i, (int)t[i].len, t[i].frame);
}
END_TEST

/* No proper prefix of a send is one. */
START_TEST(send_truncated_declined)
{
	static const char *const t[] = {
		"{\"type\":\"send\",\"socketId\":\"abc\",\"data\":\"hi\"}",
		" { \"binary\" : true , \"type\" : \"send\" , \"socketId\" : "
		    "\"abc\" , \"data\" : \"AAE=\" } ",
		"{\"type\":\"send\",\"socketId\":\"abc\",\"data\":"
		    "\"\\u00e9\\ud83d\\ude00\\\"\xc3\xa9\",\"binary\":false}",
	};
	struct scan	 sc;
	size_t		 i, n, len;

	for (i = 0; i < sizeof t / sizeof *t; i++) {
		len = strlen(t[i]);
		ck_assert_int_eq(scan(t[i], len, &sc), 1);
		for (n = 0; n < len; n++) {
			/* Only trailing whitespace may go. */
			if (n >= len - 1 && t[i][len - 1] == ' ')
				continue;
			ck_assert_msg(scan(t[i], n, &sc) == 0,
			    "accepted %zu bytes of %s", n, t[i]);
		}
	}
}
END_TEST

/* Read text with cmd_parse; the object is kept in *obj for cm's pointers. */
static enum cmd_error
parse(const char *text, struct cmd *cm, json_t **obj, char *why)
{
	json_error_t	 err;

	*obj = json_loads(text, JFLAGS, &err);
	ck_assert_msg(*obj != NULL, "%s: %s", text, err.text);
	return (cmd_parse(*obj, 8, cm, why, 160));
}

START_TEST(parse_accepts_every_command)
{
	struct cmd	 cm;
	json_t		*o;
	char		 why[160];
	const struct wscmd *c = &cm.cm_cmd;

	ck_assert_int_eq(parse("{\"type\":\"send\",\"socketId\":\"S\","
	    "\"data\":\"hi\"}", &cm, &o, why), CMD_OK);
	ck_assert_int_eq(c->c_op, WSCMD_SEND);
	ck_assert_int_eq(c->c_to, WSCMD_TO_SOCKET);
	ck_assert_uint_eq(c->c_keylen, 1);
	ck_assert_uint_eq(c->c_len, 2);
	ck_assert_int_eq(memcmp(c->c_data, "hi", 2), 0);
	cmd_free(&cm);
	json_decref(o);

	ck_assert_int_eq(parse("{\"type\":\"send\",\"userId\":\"u\\u0000v\","
	    "\"data\":\"AAEC\",\"binary\":true}", &cm, &o, why), CMD_OK);
	ck_assert_int_eq(c->c_to, WSCMD_TO_USER);
	ck_assert_uint_eq(c->c_keylen, 3);	/* U+0000 is a user's right */
	ck_assert(c->c_binary);
	ck_assert_uint_eq(c->c_len, 3);
	ck_assert_int_eq(memcmp(c->c_data, "\0\1\2", 3), 0);
	cmd_free(&cm);
	json_decref(o);

	ck_assert_int_eq(parse("{\"type\":\"send\",\"socketIds\":[\"a\",\"b\","
	    "\"a\"],\"data\":\"x\"}", &cm, &o, why), CMD_OK);
	ck_assert_int_eq(c->c_to, WSCMD_TO_SOCKETS);
	ck_assert_uint_eq(c->c_nids, 3);
	ck_assert_str_eq(c->c_ids[1], "b");
	cmd_free(&cm);
	json_decref(o);

	ck_assert_int_eq(parse("{\"type\":\"close\",\"socketId\":\"S\"}", &cm,
	    &o, why), CMD_OK);
	ck_assert_int_eq(c->c_op, WSCMD_CLOSE);
	ck_assert_int_eq(c->c_code, 1000);
	ck_assert_str_eq(c->c_reason, "");
	cmd_free(&cm);
	json_decref(o);

	ck_assert_int_eq(parse("{\"type\":\"close\",\"userId\":\"u\","
	    "\"code\":4001,\"reason\":\"revoked\"}", &cm, &o, why), CMD_OK);
	ck_assert_int_eq(c->c_to, WSCMD_TO_USER);
	ck_assert_int_eq(c->c_code, 4001);
	ck_assert_str_eq(c->c_reason, "revoked");
	cmd_free(&cm);
	json_decref(o);

	ck_assert_int_eq(parse("{\"type\":\"unsubscribe\",\"socketId\":\"S\","
	    "\"topic\":\"room:42\"}", &cm, &o, why), CMD_OK);
	ck_assert_int_eq(c->c_op, WSCMD_UNSUBSCRIBE);
	ck_assert_uint_eq(c->c_topiclen, 7);
	cmd_free(&cm);
	json_decref(o);

	ck_assert_int_eq(parse("{\"type\":\"publish\",\"topic\":\"t\","
	    "\"data\":\"x\",\"exclude\":\"S\"}", &cm, &o, why), CMD_OK);
	ck_assert_int_eq(c->c_to, WSCMD_TO_TOPIC);
	ck_assert_str_eq(c->c_exclude, "S");
	cmd_free(&cm);
	json_decref(o);

	ck_assert_int_eq(parse("{\"type\":\"broadcast\",\"data\":\"\"}", &cm,
	    &o, why), CMD_OK);
	ck_assert_int_eq(c->c_to, WSCMD_TO_ALL);
	ck_assert_uint_eq(c->c_len, 0);
	cmd_free(&cm);
	json_decref(o);
}
END_TEST

START_TEST(parse_refuses)
{
	static const struct {
		const char	*text;
		enum cmd_error	 r;
		const char	*why;
	} t[] = {
		{ "{}", CMD_UNKNOWN_TYPE, "type \"\"" },
		{ "{\"type\":\"sned\"}", CMD_UNKNOWN_TYPE, "type \"sned\"" },
		{ "{\"type\":\"send\",\"data\":\"x\"}", CMD_BAD_FIELD,
		    "exactly one" },
		{ "{\"type\":\"send\",\"socketId\":\"S\",\"userId\":\"u\","
		    "\"data\":\"x\"}", CMD_BAD_FIELD, "exactly one" },
		{ "{\"type\":\"send\",\"socketId\":1,\"data\":\"x\"}",
		    CMD_BAD_FIELD, "exactly one" },
		{ "{\"type\":\"send\",\"socketIds\":[],\"data\":\"x\"}",
		    CMD_BAD_FIELD, "non-empty array" },
		{ "{\"type\":\"send\",\"socketIds\":\"S\",\"data\":\"x\"}",
		    CMD_BAD_FIELD, "non-empty array" },
		{ "{\"type\":\"send\",\"socketIds\":[\"S\",null],"
		    "\"data\":\"x\"}", CMD_BAD_FIELD, "non-empty array" },
		{ "{\"type\":\"send\",\"socketId\":\"S\"}", CMD_BAD_FIELD,
		    "string data" },
		{ "{\"type\":\"send\",\"socketId\":\"S\",\"data\":\"x\","
		    "\"binary\":1}", CMD_BAD_FIELD, "boolean binary" },
		{ "{\"type\":\"send\",\"socketId\":\"S\",\"data\":\"!!\","
		    "\"binary\":true}", CMD_BAD_FIELD, "not base64" },
		{ "{\"type\":\"close\",\"socketIds\":[\"S\"]}", CMD_BAD_FIELD,
		    "exactly one" },
		{ "{\"type\":\"close\",\"socketId\":\"S\",\"code\":2000}",
		    CMD_BAD_FIELD, "close code" },
		{ "{\"type\":\"close\",\"socketId\":\"S\",\"code\":\"4000\"}",
		    CMD_BAD_FIELD, "close code" },
		{ "{\"type\":\"close\",\"socketId\":\"S\",\"reason\":\"a\\u0000\"}",
		    CMD_BAD_FIELD, "close reason" },
		{ "{\"type\":\"subscribe\",\"socketId\":\"S\"}", CMD_BAD_FIELD,
		    "string topic" },
		{ "{\"type\":\"subscribe\",\"topic\":\"t\"}", CMD_BAD_FIELD,
		    "string socketId" },
		{ "{\"type\":\"subscribe\",\"socketId\":\"S\",\"topic\":\"\"}",
		    CMD_BAD_FIELD, "1 to 8 bytes" },
		{ "{\"type\":\"subscribe\",\"socketId\":\"S\","
		    "\"topic\":\"123456789\"}", CMD_BAD_FIELD, "1 to 8 bytes" },
		{ "{\"type\":\"unsubscribe\",\"socketId\":\"S\","
		    "\"topic\":\"a\\u0000b\"}", CMD_BAD_FIELD, "1 to 8 bytes" },
		{ "{\"type\":\"publish\",\"data\":\"x\"}", CMD_BAD_FIELD,
		    "string topic" },
		{ "{\"type\":\"publish\",\"topic\":\"t\",\"exclude\":[],"
		    "\"data\":\"x\"}", CMD_BAD_FIELD, "optional string exclude" },
		{ "{\"type\":\"publish\",\"topic\":\"t\"}", CMD_BAD_FIELD,
		    "publish needs a string data" },
		{ "{\"type\":\"broadcast\",\"data\":5}", CMD_BAD_FIELD,
		    "broadcast needs a string data" },
	};
	struct cmd	 cm;
	json_t		*o;
	char		 why[160];
	size_t		 i;

	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		ck_assert_msg(parse(t[i].text, &cm, &o, why) == t[i].r,
		    "%s: %s", t[i].text, why);
		ck_assert_msg(strstr(why, t[i].why) != NULL, "%s: \"%s\"",
		    t[i].text, why);
		cmd_free(&cm);
		json_decref(o);
	}
}
END_TEST

static Suite *
cmd_suite(void)
{
	Suite	*s = suite_create("cmd");
	TCase	*tc;

	tc = tcase_create("jstr_len");
	tcase_add_test(tc, plain_len_every_byte_every_offset);
	tcase_add_test(tc, plain_len_first_special_wins);
	tcase_add_test(tc, ascii_len_every_byte_every_offset);
	suite_add_tcase(s, tc);

	tc = tcase_create("jstr_unescape");
	tcase_add_test(tc, unescape_decodes);
	tcase_add_test(tc, unescape_refuses);
	suite_add_tcase(s, tc);

	tc = tcase_create("parse");
	tcase_add_test(tc, parse_accepts_every_command);
	tcase_add_test(tc, parse_refuses);
	suite_add_tcase(s, tc);

	tc = tcase_create("scan_send");
	tcase_add_test(tc, send_accepted);
	tcase_add_test(tc, send_accepted_bad_escape_left_to_jansson);
	tcase_add_test(tc, send_declined);
	tcase_add_test(tc, send_truncated_declined);
	suite_add_tcase(s, tc);

	return (s);
}

int
main(void)
{
	return (unit_run(cmd_suite()));
}
