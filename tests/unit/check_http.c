/*
 * Unit tests of http.c: the request-head parser, the WebSocket upgrade
 * checks and the cookie and query lookups.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "unit.h"

/* The pieces of a valid upgrade (RFC 6455 1.3 sample key). */
#define RL	"GET /ws HTTP/1.1\r\n"
#define HOST	"Host: example.com\r\n"
#define UPG	"Upgrade: websocket\r\n"
#define CONN	"Connection: Upgrade\r\n"
#define KEY	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
#define VER	"Sec-WebSocket-Version: 13\r\n"
#define END	"\r\n"
#define SAMPLE_KEY "dGhlIHNhbXBsZSBub25jZQ=="

/* Parse a literal head that must fail; check the status and cause. */
#define PARSE_FAILS(lit, status, why) do {				\
	struct unit_req	 u_;						\
	int		 st_;						\
									\
	st_ = unit_parse_len(&u_, (lit), sizeof(lit) - 1);		\
	ck_assert_int_eq(st_, (status));				\
	ck_assert_ptr_nonnull(u_.cause);				\
	ck_assert_str_eq(u_.cause, (why));				\
} while (0)

/* Parse a valid head and run the upgrade check on it. */
static int
upgrade(const char *head, char *const *protos, size_t nprotos,
    struct http_upgrade *up, const char **cause)
{
	struct unit_req	 u;

	unit_parse_ok(&u, head);
	*cause = NULL;
	return (http_upgrade_check(&u.r, protos, nprotos, up, cause));
}

/* Upgrade check with no subprotocols that must fail with status. */
#define UPGRADE_FAILS(head, status) do {				\
	struct http_upgrade	 up_;					\
	const char		*cause_;				\
									\
	ck_assert_int_eq(upgrade((head), NULL, 0, &up_, &cause_),	\
	    (status));							\
	ck_assert_ptr_nonnull(cause_);					\
} while (0)

/* Look a cookie up in a head that must parse. */
static int
cookie(const char *head, const char *name, const char **v, size_t *len)
{
	struct unit_req	 u;

	unit_parse_ok(&u, head);
	*v = NULL;
	*len = 0;
	return (http_cookie_get(&u.r, name, v, len));
}

/* Look a query parameter up in the target of "GET target HTTP/1.1". */
static int
query(const char *target, const char *name, char **v, size_t *len)
{
	struct unit_req	 u;
	char		*head;
	int		 r;

	xasprintf(&head, "GET %s HTTP/1.1\r\nHost: a\r\n\r\n", target);
	unit_parse_ok(&u, head);
	*v = NULL;
	*len = 0;
	r = http_query_get(&u.r, name, v, len);
	free(head);
	return (r);
}

/* http_head_end */

START_TEST(head_end_found)
{
	const char	 h[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
	const char	 more[] = "GET / HTTP/1.1\r\n\r\nXYZ";

	ck_assert_int_eq(http_head_end(h, sizeof h - 1, 0),
	    (ssize_t)(sizeof h - 1));
	/* Bytes after the blank line are not part of the head. */
	ck_assert_int_eq(http_head_end(more, sizeof more - 1, 0),
	    (ssize_t)(sizeof more - 4));
}
END_TEST

START_TEST(head_end_not_found)
{
	const char	 h[] = "GET / HTTP/1.1\r\nHost: a\r\n\r";

	ck_assert_int_eq(http_head_end(h, sizeof h - 1, 0), -1);
	ck_assert_int_eq(http_head_end("GET / HTTP/1.1\n\n", 16, 0), -1);
	ck_assert_int_eq(http_head_end("\r\n\r", 3, 0), -1);
	ck_assert_int_eq(http_head_end("", 0, 0), -1);
}
END_TEST

START_TEST(head_end_split_across_calls)
{
	const char	 h[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
	size_t		 len = sizeof h - 1, n, prev;
	ssize_t		 r;

	/* Grow the buffer one byte at a time, then by uneven steps. */
	for (prev = 0, n = 1; n <= len; prev = n, n++) {
		r = http_head_end(h, n, prev);
		ck_assert_int_eq(r, n == len ? (ssize_t)len : -1);
	}
	ck_assert_int_eq(http_head_end(h, len - 2, 0), -1);
	ck_assert_int_eq(http_head_end(h, len, len - 2), (ssize_t)len);
	ck_assert_int_eq(http_head_end(h, len, len - 1), (ssize_t)len);
	ck_assert_int_eq(http_head_end(h, len, len - 3), (ssize_t)len);
}
END_TEST

/* http_parse */

START_TEST(parse_valid_request)
{
	struct unit_req	 u;

	UNIT_PARSE(&u, "GET /ws?a=1 HTTP/1.1\r\nHost: example.com\r\n"
	    "X-Empty:\r\nUser-Agent: t/1.0\r\n\r\n");
	ck_assert_uint_eq(u.r.r_methodlen, 3);
	ck_assert_mem_eq(u.r.r_method, "GET", 3);
	ck_assert_uint_eq(u.r.r_targetlen, 7);
	ck_assert_mem_eq(u.r.r_target, "/ws?a=1", 7);
	ck_assert_int_eq(u.r.r_minor, 1);
	ck_assert_uint_eq(u.r.r_nheaders, 3);
	ck_assert_ptr_eq(u.r.r_headers, u.h);
	ck_assert_uint_eq(u.h[0].h_namelen, 4);
	ck_assert_mem_eq(u.h[0].h_name, "Host", 4);
	ck_assert_uint_eq(u.h[0].h_valuelen, 11);
	ck_assert_mem_eq(u.h[0].h_value, "example.com", 11);
	ck_assert_uint_eq(u.h[2].h_valuelen, 5);
	ck_assert_mem_eq(u.h[2].h_value, "t/1.0", 5);

	UNIT_PARSE(&u, "OPTIONS / HTTP/1.0\r\n\r\n");
	ck_assert_int_eq(u.r.r_minor, 0);
	ck_assert_uint_eq(u.r.r_nheaders, 0);
}
END_TEST

START_TEST(parse_bad_method)
{
	PARSE_FAILS("G@T / HTTP/1.1\r\n\r\n", 400, "bad request method");
	PARSE_FAILS(" / HTTP/1.1\r\n\r\n", 400, "bad request method");
	PARSE_FAILS("GET\t/ HTTP/1.1\r\n\r\n", 400, "bad request method");
	PARSE_FAILS("GET\r\n\r\n", 400, "bad request method");
}
END_TEST

START_TEST(parse_target_not_starting_with_slash)
{
	PARSE_FAILS("GET ws HTTP/1.1\r\n\r\n", 400, "bad request target");
	PARSE_FAILS("GET * HTTP/1.1\r\n\r\n", 400, "bad request target");
	PARSE_FAILS("GET http://a/ws HTTP/1.1\r\n\r\n", 400,
	    "bad request target");
	PARSE_FAILS("GET  /ws HTTP/1.1\r\n\r\n", 400, "bad request target");
	PARSE_FAILS("GET /w\x7fs HTTP/1.1\r\n\r\n", 400, "bad request target");
}
END_TEST

START_TEST(parse_bad_version_text)
{
	PARSE_FAILS("GET / http/1.1\r\n\r\n", 400, "bad HTTP version");
	PARSE_FAILS("GET / HTTP/1\r\n\r\n", 400, "bad HTTP version");
	PARSE_FAILS("GET / HTTP/1.10\r\n\r\n", 400, "bad HTTP version");
	PARSE_FAILS("GET / HTTP/1.x\r\n\r\n", 400, "bad HTTP version");
	PARSE_FAILS("GET / HTTP/1.1 \r\n\r\n", 400, "bad HTTP version");
	PARSE_FAILS("GET / HTTP/1,1\r\n\r\n", 400, "bad HTTP version");
	PARSE_FAILS("GET /\r\n\r\n", 400, "bad request target");
}
END_TEST

START_TEST(parse_http2_is_505)
{
	PARSE_FAILS("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505,
	    "HTTP version not supported");
	PARSE_FAILS("GET / HTTP/1.2\r\n\r\n", 505,
	    "HTTP version not supported");
	PARSE_FAILS("GET / HTTP/0.9\r\n\r\n", 505,
	    "HTTP version not supported");
}
END_TEST

START_TEST(parse_bare_lf)
{
	PARSE_FAILS("GET / HTTP/1.1\nHost: a\r\n\r\n", 400, "bad request line");
	PARSE_FAILS("GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", 400,
	    "bare CR or LF in a header");
	PARSE_FAILS("GET / HTTP/1.1\r\nHost: a\r\n\n", 400,
	    "bare CR or LF in a header");
}
END_TEST

START_TEST(parse_bare_cr)
{
	PARSE_FAILS("GET / HTTP/1.1\rX\r\n\r\n", 400, "bad request line");
	PARSE_FAILS("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 400,
	    "bare CR or LF in a header");
	PARSE_FAILS("GET / HTTP/1.1\r\nHost: a\r\n\r\r\n", 400,
	    "bare CR or LF in a header");
}
END_TEST

START_TEST(parse_folded_header)
{
	PARSE_FAILS("GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", 400,
	    "folded header line");
	PARSE_FAILS("GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n", 400,
	    "folded header line");
	PARSE_FAILS("GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400,
	    "folded header line");
}
END_TEST

START_TEST(parse_space_before_colon)
{
	PARSE_FAILS("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400,
	    "bad header name");
	PARSE_FAILS("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400,
	    "bad header name");
	PARSE_FAILS("GET / HTTP/1.1\r\n: a\r\n\r\n", 400, "bad header name");
	PARSE_FAILS("GET / HTTP/1.1\r\nHost a\r\n\r\n", 400, "bad header name");
	PARSE_FAILS("GET / HTTP/1.1\r\nHo(st: a\r\n\r\n", 400,
	    "bad header name");
}
END_TEST

START_TEST(parse_control_bytes_in_value)
{
	PARSE_FAILS("GET / HTTP/1.1\r\nX: a\0b\r\n\r\n", 400,
	    "control character in a header");
	PARSE_FAILS("GET / HTTP/1.1\r\nX: \x01\r\n\r\n", 400,
	    "control character in a header");
	PARSE_FAILS("GET / HTTP/1.1\r\nX: a\x1b[0m\r\n\r\n", 400,
	    "control character in a header");
	PARSE_FAILS("GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n", 400,
	    "control character in a header");
	PARSE_FAILS("GET / HTTP/1.1\r\nX: a\x1f\r\n\r\n", 400,
	    "control character in a header");
}
END_TEST

START_TEST(parse_tab_and_high_bytes_allowed_in_value)
{
	struct unit_req	 u;

	UNIT_PARSE(&u, "GET / HTTP/1.1\r\nX: a\tb\xc3\xa9\xff\r\n\r\n");
	ck_assert_uint_eq(u.h[0].h_valuelen, 6);
	ck_assert_mem_eq(u.h[0].h_value, "a\tb\xc3\xa9\xff", 6);
}
END_TEST

START_TEST(parse_bytes_after_head)
{
	PARSE_FAILS("GET / HTTP/1.1\r\nHost: a\r\n\r\nXYZ", 400,
	    "bytes after the head");
	PARSE_FAILS("GET / HTTP/1.1\r\n\r\n\r\n", 400, "bytes after the head");
}
END_TEST

START_TEST(parse_too_many_headers_is_431)
{
	const char	 h[] = "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
	struct http_header hdrs[3];
	struct http_request req;
	const char	*cause = NULL;

	ck_assert_int_eq(http_parse(h, sizeof h - 1, hdrs, 2, &req, &cause),
	    431);
	ck_assert_str_eq(cause, "too many headers");
	cause = NULL;
	ck_assert_int_eq(http_parse(h, sizeof h - 1, hdrs, 3, &req, &cause),
	    0);
	ck_assert_uint_eq(req.r_nheaders, 3);
	ck_assert_int_eq(http_parse(h, sizeof h - 1, hdrs, 0, &req, &cause),
	    431);
}
END_TEST

START_TEST(parse_trims_value_whitespace)
{
	struct unit_req	 u;

	UNIT_PARSE(&u, "GET / HTTP/1.1\r\nX: \t a  b \t \r\nY:z\r\n\r\n");
	ck_assert_uint_eq(u.h[0].h_valuelen, 4);
	ck_assert_mem_eq(u.h[0].h_value, "a  b", 4);
	ck_assert_uint_eq(u.h[1].h_valuelen, 1);
	ck_assert_mem_eq(u.h[1].h_value, "z", 1);
}
END_TEST

START_TEST(parse_empty_header_value)
{
	struct unit_req	 u;

	UNIT_PARSE(&u, "GET / HTTP/1.1\r\nX:\r\nY:  \t \r\n\r\n");
	ck_assert_uint_eq(u.r.r_nheaders, 2);
	ck_assert_uint_eq(u.h[0].h_namelen, 1);
	ck_assert_uint_eq(u.h[0].h_valuelen, 0);
	ck_assert_uint_eq(u.h[1].h_valuelen, 0);
}
END_TEST

/* Small lookups */

START_TEST(header_find_case_insensitive_with_count)
{
	struct unit_req			 u;
	const struct http_header	*h;
	size_t				 n = 99;

	UNIT_PARSE(&u, "GET / HTTP/1.1\r\nhost: a\r\nX-Dup: 1\r\n"
	    "x-dup: 2\r\nX-DUP: 3\r\n\r\n");
	h = http_header_find(&u.r, "Host", &n);
	ck_assert_ptr_eq(h, &u.h[0]);
	ck_assert_uint_eq(n, 1);
	h = http_header_find(&u.r, "x-Dup", &n);
	ck_assert_ptr_eq(h, &u.h[1]);
	ck_assert_uint_eq(n, 3);
	ck_assert_ptr_null(http_header_find(&u.r, "X-Du", &n));
	ck_assert_uint_eq(n, 0);
	ck_assert_ptr_null(http_header_find(&u.r, "X-Dupe", NULL));
	ck_assert_ptr_eq(http_header_find(&u.r, "HOST", NULL), &u.h[0]);
}
END_TEST

START_TEST(path_is_with_and_without_query)
{
	struct unit_req	 u;

	UNIT_PARSE(&u, "GET /ws HTTP/1.1\r\n\r\n");
	ck_assert(http_path_is(&u.r, "/ws"));
	ck_assert(!http_path_is(&u.r, "/w"));
	ck_assert(!http_path_is(&u.r, "/ws/"));
	ck_assert(!http_path_is(&u.r, "/"));
	UNIT_PARSE(&u, "GET /ws?token=a/b HTTP/1.1\r\n\r\n");
	ck_assert(http_path_is(&u.r, "/ws"));
	ck_assert(!http_path_is(&u.r, "/ws?token=a/b"));
	UNIT_PARSE(&u, "GET /wsx HTTP/1.1\r\n\r\n");
	ck_assert(!http_path_is(&u.r, "/ws"));
	UNIT_PARSE(&u, "GET /WS HTTP/1.1\r\n\r\n");
	ck_assert(!http_path_is(&u.r, "/ws"));
	UNIT_PARSE(&u, "GET /? HTTP/1.1\r\n\r\n");
	ck_assert(http_path_is(&u.r, "/"));
}
END_TEST

START_TEST(token_list_has)
{
#define HAS(s, t) http_token_list_has((s), sizeof(s) - 1, (t))
	ck_assert(HAS("upgrade", "upgrade"));
	ck_assert(HAS("Upgrade", "upgrade"));
	ck_assert(HAS("keep-alive, Upgrade", "upgrade"));
	ck_assert(HAS("  keep-alive ,\tUPGRADE\t ", "upgrade"));
	ck_assert(HAS(",,upgrade,,", "upgrade"));
	ck_assert(HAS("keep-alive, Upgrade", "keep-alive"));
	ck_assert(!HAS("", "upgrade"));
	ck_assert(!HAS("keep-alive", "upgrade"));
	ck_assert(!HAS("upgraded", "upgrade"));
	ck_assert(!HAS("x-upgrade", "upgrade"));
	ck_assert(!HAS("upgrade x", "upgrade"));
	ck_assert(!HAS("upgrad", "upgrade"));
	/* Only len bytes count. */
	ck_assert(!http_token_list_has("upgrade", 6, "upgrade"));
#undef HAS
}
END_TEST

/* http_upgrade_check */

START_TEST(upgrade_valid)
{
	struct http_upgrade	 up;
	const char		*cause;

	ck_assert_int_eq(upgrade(RL HOST UPG CONN KEY VER END, NULL, 0, &up,
	    &cause), 0);
	ck_assert_ptr_nonnull(up.u_key);
	ck_assert_mem_eq(up.u_key, SAMPLE_KEY, 24);
	ck_assert_ptr_null(up.u_protocol);
	ck_assert_uint_eq(up.u_protocollen, 0);

	/* Header names and the Upgrade value are case-insensitive. */
	ck_assert_int_eq(upgrade(RL "host: a\r\nupgrade: WebSocket\r\n"
	    "connection: upgrade\r\nsec-websocket-key: " SAMPLE_KEY "\r\n"
	    "sec-websocket-version: 13\r\n" END, NULL, 0, &up, &cause), 0);
}
END_TEST

START_TEST(upgrade_deflate_offer_found)
{
	struct http_upgrade	 up;
	const char		*cause;

	ck_assert_int_eq(upgrade(RL HOST UPG CONN KEY VER END, NULL, 0, &up,
	    &cause), 0);
	ck_assert_int_eq(up.u_deflate, 0);
	ck_assert_int_eq(upgrade(RL HOST UPG CONN KEY VER
	    "Sec-WebSocket-Extensions: permessage-deflate; "
	    "client_max_window_bits\r\n" END, NULL, 0, &up, &cause), 0);
	ck_assert_int_eq(up.u_deflate, 1);
	/* Any offer in any header; quoted parameters are skipped whole. */
	ck_assert_int_eq(upgrade(RL HOST UPG CONN KEY VER
	    "Sec-WebSocket-Extensions: x-foo; a=\"p,q\"\r\n"
	    "Sec-WebSocket-Extensions: x-bar, permessage-deflate\r\n" END,
	    NULL, 0, &up, &cause), 0);
	ck_assert_int_eq(up.u_deflate, 1);
	ck_assert_int_eq(upgrade(RL HOST UPG CONN KEY VER
	    "Sec-WebSocket-Extensions: permessage-deflatex\r\n" END, NULL, 0,
	    &up, &cause), 0);
	ck_assert_int_eq(up.u_deflate, 0);
	UPGRADE_FAILS(RL HOST UPG CONN KEY VER
	    "Sec-WebSocket-Extensions: ;x\r\n" END, 400);
}
END_TEST

/* One Sec-WebSocket-Extensions value: 1 if an offer is taken, with opts. */
static int
deflate_taken(const char *value, int *opts)
{
	static char		 head[1024];
	struct http_upgrade	 up;
	const char		*cause;

	snprintf(head, sizeof head, RL HOST UPG CONN KEY VER
	    "Sec-WebSocket-Extensions: %s\r\n" END, value);
	ck_assert_int_eq(upgrade(head, NULL, 0, &up, &cause), 0);
	*opts = up.u_deflate_opts;
	return (up.u_deflate);
}

/* RFC 7692 5 and 7.1: an offer with a bad parameter is declined. */
START_TEST(upgrade_deflate_bad_offers_declined)
{
	static const char *const bad[] = {
		"permessage-deflate; server_max_window_bits=7",
		"permessage-deflate; server_max_window_bits=16",
		"permessage-deflate; server_max_window_bits",
		"permessage-deflate; client_max_window_bits=7",
		"permessage-deflate; client_max_window_bits=16",
		"permessage-deflate; client_max_window_bits=010",
		"permessage-deflate; client_max_window_bits=\"\"",
		"permessage-deflate; client_max_window_bits=9x",
		"permessage-deflate; client_max_window_bits=123456789012",
		"permessage-deflate; foo",
		"permessage-deflate; foo=1",
		"permessage-deflate; server_no_context_takeover; "
		    "server_no_context_takeover",
		"permessage-deflate; client_max_window_bits; "
		    "client_max_window_bits=10",
		"permessage-deflate; server_no_context_takeover=1",
		"permessage-deflate; client_no_context_takeover=\"x\"",
		/* Valid, but libwebsockets cannot answer it (7.1.2.1). */
		"permessage-deflate; server_max_window_bits=10",
		"permessage-deflate; server_max_window_bits=15",
	};
	size_t	 i;
	int	 opts;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (deflate_taken(bad[i], &opts) != 0)
			ck_abort_msg("offer taken: %s", bad[i]);
	}
}
END_TEST

START_TEST(upgrade_deflate_next_valid_offer_taken)
{
	int	 opts;

	ck_assert_int_eq(deflate_taken("permessage-deflate; "
	    "server_max_window_bits=16, permessage-deflate; "
	    "client_no_context_takeover", &opts), 1);
	ck_assert_int_eq(opts, HTTP_PMD_CLIENT_NO_TAKEOVER);
	ck_assert_int_eq(deflate_taken("permessage-deflate; foo, "
	    "permessage-deflate; server_no_context_takeover; "
	    "client_max_window_bits=\"12\"", &opts), 1);
	ck_assert_int_eq(opts, HTTP_PMD_SERVER_NO_TAKEOVER);
	ck_assert_int_eq(deflate_taken("permessage-deflate;client_max_window_bits"
	    " ; client_no_context_takeover ;server_no_context_takeover",
	    &opts), 1);
	ck_assert_int_eq(opts, HTTP_PMD_SERVER_NO_TAKEOVER |
	    HTTP_PMD_CLIENT_NO_TAKEOVER);
	ck_assert_int_eq(deflate_taken("permessage-deflate; "
	    "client_max_window_bits=8", &opts), 1);
	ck_assert_int_eq(deflate_taken("permessage-deflate; "
	    "client_max_window_bits=15", &opts), 1);
	ck_assert_int_eq(opts, 0);
	/* The first taken offer wins; another extension is no offer. */
	ck_assert_int_eq(deflate_taken("x-webkit; a=1, permessage-deflate, "
	    "permessage-deflate; server_no_context_takeover", &opts), 1);
	ck_assert_int_eq(opts, 0);
	ck_assert_int_eq(deflate_taken("x-webkit; server_no_context_takeover",
	    &opts), 0);
}
END_TEST

START_TEST(upgrade_deflate_bad_syntax_is_400)
{
	UPGRADE_FAILS(RL HOST UPG CONN KEY VER
	    "Sec-WebSocket-Extensions: permessage-deflate; =1\r\n" END, 400);
	UPGRADE_FAILS(RL HOST UPG CONN KEY VER
	    "Sec-WebSocket-Extensions: permessage-deflate; a=\"1\r\n" END,
	    400);
	UPGRADE_FAILS(RL HOST UPG CONN KEY VER
	    "Sec-WebSocket-Extensions: permessage-deflate; a=\r\n" END, 400);
	UPGRADE_FAILS(RL HOST UPG CONN KEY VER
	    "Sec-WebSocket-Extensions: permessage-deflate x\r\n" END, 400);
	UPGRADE_FAILS(RL HOST UPG CONN KEY VER
	    "Sec-WebSocket-Extensions: permessage-deflate; a=\"\\\r\n" END,
	    400);
}
END_TEST

START_TEST(upgrade_missing_upgrade_is_426)
{
	UPGRADE_FAILS(RL HOST CONN KEY VER END, 426);
}
END_TEST

START_TEST(upgrade_not_exactly_websocket_is_400)
{
	UPGRADE_FAILS(RL HOST "Upgrade: websocket, h2c\r\n" CONN KEY VER END,
	    400);
	UPGRADE_FAILS(RL HOST "Upgrade: h2c\r\n" CONN KEY VER END, 400);
	UPGRADE_FAILS(RL HOST "Upgrade:\r\n" CONN KEY VER END, 400);
}
END_TEST

START_TEST(upgrade_duplicated_upgrade_is_400)
{
	UPGRADE_FAILS(RL HOST UPG UPG CONN KEY VER END, 400);
}
END_TEST

START_TEST(upgrade_post_is_405)
{
	UPGRADE_FAILS("POST /ws HTTP/1.1\r\n" HOST UPG CONN KEY VER END, 405);
	UPGRADE_FAILS("get /ws HTTP/1.1\r\n" HOST UPG CONN KEY VER END, 405);
}
END_TEST

START_TEST(upgrade_http10_is_400)
{
	UPGRADE_FAILS("GET /ws HTTP/1.0\r\n" HOST UPG CONN KEY VER END, 400);
}
END_TEST

START_TEST(upgrade_missing_host_is_400)
{
	UPGRADE_FAILS(RL UPG CONN KEY VER END, 400);
	UPGRADE_FAILS(RL HOST "Host: b\r\n" UPG CONN KEY VER END, 400);
}
END_TEST

START_TEST(upgrade_connection_without_upgrade_is_400)
{
	UPGRADE_FAILS(RL HOST UPG "Connection: keep-alive\r\n" KEY VER END,
	    400);
	UPGRADE_FAILS(RL HOST UPG KEY VER END, 400);
	UPGRADE_FAILS(RL HOST UPG "Connection: upgraded\r\n" KEY VER END,
	    400);
}
END_TEST

START_TEST(upgrade_connection_keep_alive_upgrade_ok)
{
	struct http_upgrade	 up;
	const char		*cause;

	ck_assert_int_eq(upgrade(RL HOST UPG "Connection: keep-alive, Upgrade"
	    "\r\n" KEY VER END, NULL, 0, &up, &cause), 0);
	/* The token may also come in a second Connection header. */
	ck_assert_int_eq(upgrade(RL HOST UPG "Connection: keep-alive\r\n"
	    "Connection: Upgrade\r\n" KEY VER END, NULL, 0, &up, &cause), 0);
}
END_TEST

START_TEST(upgrade_version_8_is_426)
{
	UPGRADE_FAILS(RL HOST UPG CONN KEY "Sec-WebSocket-Version: 8\r\n" END,
	    426);
	UPGRADE_FAILS(RL HOST UPG CONN KEY END, 426);
	UPGRADE_FAILS(RL HOST UPG CONN KEY "Sec-WebSocket-Version: 13, 8\r\n"
	    END, 426);
}
END_TEST

START_TEST(upgrade_duplicated_version_is_400)
{
	UPGRADE_FAILS(RL HOST UPG CONN KEY VER VER END, 400);
}
END_TEST

START_TEST(upgrade_bad_key_is_400)
{
	/* Wrong length. */
	UPGRADE_FAILS(RL HOST UPG CONN "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j"
	    "\r\n" VER END, 400);
	UPGRADE_FAILS(RL HOST UPG CONN "Sec-WebSocket-Key: " SAMPLE_KEY "AAAA"
	    "\r\n" VER END, 400);
	UPGRADE_FAILS(RL HOST UPG CONN "Sec-WebSocket-Key:\r\n" VER END, 400);
	/* Characters outside the alphabet, or missing padding. */
	UPGRADE_FAILS(RL HOST UPG CONN "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub2"
	    "-jZQ==\r\n" VER END, 400);
	UPGRADE_FAILS(RL HOST UPG CONN "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub2"
	    "5jZQA=\r\n" VER END, 400);
	UPGRADE_FAILS(RL HOST UPG CONN "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub2"
	    "5jZQAA\r\n" VER END, 400);
	/* Non-zero bits after the 128th. */
	UPGRADE_FAILS(RL HOST UPG CONN "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub2"
	    "5jZR==\r\n" VER END, 400);
	UPGRADE_FAILS(RL HOST UPG CONN "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub2"
	    "5jZf==\r\n" VER END, 400);
	/* Missing. */
	UPGRADE_FAILS(RL HOST UPG CONN VER END, 400);
}
END_TEST

START_TEST(upgrade_duplicated_key_is_400)
{
	UPGRADE_FAILS(RL HOST UPG CONN KEY KEY VER END, 400);
}
END_TEST

START_TEST(upgrade_subprotocol_first_offered_configured)
{
	char			*protos[] = { "chat", "superchat" };
	struct http_upgrade	 up;
	const char		*cause;

	ck_assert_int_eq(upgrade(RL HOST UPG CONN KEY VER
	    "Sec-WebSocket-Protocol: superchat, chat\r\n" END, protos, 2, &up,
	    &cause), 0);
	ck_assert_ptr_eq(up.u_protocol, protos[1]);
	ck_assert_uint_eq(up.u_protocollen, 9);

	ck_assert_int_eq(upgrade(RL HOST UPG CONN KEY VER
	    "Sec-WebSocket-Protocol: v1.other ,\tchat , superchat\r\n" END,
	    protos, 2, &up, &cause), 0);
	ck_assert_ptr_eq(up.u_protocol, protos[0]);
	ck_assert_uint_eq(up.u_protocollen, 4);

	/* Subprotocol names are case-sensitive. */
	ck_assert_int_eq(upgrade(RL HOST UPG CONN KEY VER
	    "Sec-WebSocket-Protocol: Chat\r\n" END, protos, 2, &up, &cause), 0);
	ck_assert_ptr_null(up.u_protocol);

	/* Only unknown ones offered: no subprotocol. */
	ck_assert_int_eq(upgrade(RL HOST UPG CONN KEY VER
	    "Sec-WebSocket-Protocol: mqtt, wamp\r\n" END, protos, 2, &up,
	    &cause), 0);
	ck_assert_ptr_null(up.u_protocol);
	ck_assert_uint_eq(up.u_protocollen, 0);
}
END_TEST

START_TEST(upgrade_subprotocol_several_headers)
{
	char			*protos[] = { "chat", "superchat" };
	struct http_upgrade	 up;
	const char		*cause;

	ck_assert_int_eq(upgrade(RL HOST UPG CONN KEY VER
	    "Sec-WebSocket-Protocol: mqtt\r\n"
	    "sec-websocket-protocol: superchat\r\n"
	    "Sec-WebSocket-Protocol: chat\r\n" END, protos, 2, &up, &cause), 0);
	ck_assert_ptr_eq(up.u_protocol, protos[1]);
	ck_assert_uint_eq(up.u_protocollen, 9);
}
END_TEST

START_TEST(upgrade_subprotocol_none_configured)
{
	struct http_upgrade	 up;
	const char		*cause;

	ck_assert_int_eq(upgrade(RL HOST UPG CONN KEY VER
	    "Sec-WebSocket-Protocol: chat\r\n" END, NULL, 0, &up, &cause), 0);
	ck_assert_ptr_null(up.u_protocol);
	ck_assert_uint_eq(up.u_protocollen, 0);
}
END_TEST

START_TEST(upgrade_subprotocol_malformed_is_400)
{
	char			*protos[] = { "chat" };
	struct http_upgrade	 up;
	const char		*cause;

	ck_assert_int_eq(upgrade(RL HOST UPG CONN KEY VER
	    "Sec-WebSocket-Protocol: chat,,superchat\r\n" END, protos, 1, &up,
	    &cause), 400);
	ck_assert_int_eq(upgrade(RL HOST UPG CONN KEY VER
	    "Sec-WebSocket-Protocol: chat superchat\r\n" END, protos, 1, &up,
	    &cause), 400);
	ck_assert_int_eq(upgrade(RL HOST UPG CONN KEY VER
	    "Sec-WebSocket-Protocol: ch@t\r\n" END, protos, 1, &up, &cause),
	    400);
	ck_assert_int_eq(upgrade(RL HOST UPG CONN KEY VER
	    "Sec-WebSocket-Protocol: , chat\r\n" END, protos, 1, &up, &cause),
	    400);
	/* Malformed even when nothing is configured. */
	ck_assert_int_eq(upgrade(RL HOST UPG CONN KEY VER
	    "Sec-WebSocket-Protocol: \"chat\"\r\n" END, NULL, 0, &up, &cause),
	    400);
	ck_assert_str_eq(cause, "bad Sec-WebSocket-Protocol");
}
END_TEST

/* http_cookie_get */

#define CK_HEAD(cookies) RL HOST cookies END

START_TEST(cookie_single)
{
	const char	*v;
	size_t		 len;

	ck_assert_int_eq(cookie(CK_HEAD("Cookie: X-Token=abc\r\n"), "X-Token",
	    &v, &len), 1);
	ck_assert_uint_eq(len, 3);
	ck_assert_mem_eq(v, "abc", 3);
	/* The header name is case-insensitive. */
	ck_assert_int_eq(cookie(CK_HEAD("cOOKIE: X-Token=abc\r\n"), "X-Token",
	    &v, &len), 1);
	ck_assert_int_eq(cookie(CK_HEAD(""), "X-Token", &v, &len), 0);
	ck_assert_int_eq(cookie(CK_HEAD("Cookie:\r\n"), "X-Token", &v, &len),
	    0);
	ck_assert_int_eq(cookie(CK_HEAD("X-Token: abc\r\n"), "X-Token", &v,
	    &len), 0);
}
END_TEST

START_TEST(cookie_several_pairs)
{
	const char	*v;
	size_t		 len;

	ck_assert_int_eq(cookie(CK_HEAD("Cookie: a=1; X-Token=abc; b=2\r\n"),
	    "X-Token", &v, &len), 1);
	ck_assert_uint_eq(len, 3);
	ck_assert_mem_eq(v, "abc", 3);
	ck_assert_int_eq(cookie(CK_HEAD("Cookie: a=1; X-Token=abc; b=2\r\n"),
	    "b", &v, &len), 1);
	ck_assert_uint_eq(len, 1);
	ck_assert_mem_eq(v, "2", 1);
	ck_assert_int_eq(cookie(CK_HEAD("Cookie: a=1;b=x=y\r\n"), "b", &v,
	    &len), 1);
	ck_assert_uint_eq(len, 3);
	ck_assert_mem_eq(v, "x=y", 3);
}
END_TEST

START_TEST(cookie_several_headers)
{
	const char	*v;
	size_t		 len;

	ck_assert_int_eq(cookie(CK_HEAD("Cookie: a=1\r\nX-Other: z\r\n"
	    "Cookie: b=2; X-Token=second\r\n"), "X-Token", &v, &len), 1);
	ck_assert_uint_eq(len, 6);
	ck_assert_mem_eq(v, "second", 6);
}
END_TEST

START_TEST(cookie_first_wins)
{
	const char	*v;
	size_t		 len;

	ck_assert_int_eq(cookie(CK_HEAD("Cookie: X-Token=one; X-Token=two\r\n"),
	    "X-Token", &v, &len), 1);
	ck_assert_uint_eq(len, 3);
	ck_assert_mem_eq(v, "one", 3);
	ck_assert_int_eq(cookie(CK_HEAD("Cookie: X-Token=one\r\n"
	    "Cookie: X-Token=two\r\n"), "X-Token", &v, &len), 1);
	ck_assert_uint_eq(len, 3);
	ck_assert_mem_eq(v, "one", 3);
	/* An empty first value still wins. */
	ck_assert_int_eq(cookie(CK_HEAD("Cookie: X-Token=; X-Token=two\r\n"),
	    "X-Token", &v, &len), 1);
	ck_assert_uint_eq(len, 0);
}
END_TEST

START_TEST(cookie_quoted_value_unquoted)
{
	const char	*v;
	size_t		 len;

	ck_assert_int_eq(cookie(CK_HEAD("Cookie: X-Token=\"abc\"; b=2\r\n"),
	    "X-Token", &v, &len), 1);
	ck_assert_uint_eq(len, 3);
	ck_assert_mem_eq(v, "abc", 3);
	ck_assert_int_eq(cookie(CK_HEAD("Cookie: X-Token=\"\"\r\n"), "X-Token",
	    &v, &len), 1);
	ck_assert_uint_eq(len, 0);
	/* A lone quote is not a quoted value. */
	ck_assert_int_eq(cookie(CK_HEAD("Cookie: X-Token=\"\r\n"), "X-Token",
	    &v, &len), 1);
	ck_assert_uint_eq(len, 1);
	ck_assert_mem_eq(v, "\"", 1);
}
END_TEST

START_TEST(cookie_whitespace)
{
	const char	*v;
	size_t		 len;

	ck_assert_int_eq(cookie(CK_HEAD("Cookie:   a=1 ;\t X-Token=abc \t;b=2"
	    "  \r\n"), "X-Token", &v, &len), 1);
	ck_assert_uint_eq(len, 3);
	ck_assert_mem_eq(v, "abc", 3);
	ck_assert_int_eq(cookie(CK_HEAD("Cookie:   a=1 ;\t X-Token=abc \t;b=2"
	    "  \r\n"), "b", &v, &len), 1);
	ck_assert_uint_eq(len, 1);
	ck_assert_mem_eq(v, "2", 1);
	ck_assert_int_eq(cookie(CK_HEAD("Cookie: X-Token=a b\r\n"), "X-Token",
	    &v, &len), 1);
	ck_assert_uint_eq(len, 3);
	ck_assert_mem_eq(v, "a b", 3);
	/* RFC 6265 5.2: blanks around the '=' are not part of the pair. */
	ck_assert_int_eq(cookie(CK_HEAD("Cookie: X-Token = abc\r\n"),
	    "X-Token", &v, &len), 1);
	ck_assert_uint_eq(len, 3);
	ck_assert_mem_eq(v, "abc", 3);
}
END_TEST

START_TEST(cookie_pair_without_equals_skipped)
{
	const char	*v;
	size_t		 len;

	ck_assert_int_eq(cookie(CK_HEAD("Cookie: X-Token; junk; X-Token=abc"
	    "\r\n"), "X-Token", &v, &len), 1);
	ck_assert_uint_eq(len, 3);
	ck_assert_mem_eq(v, "abc", 3);
	ck_assert_int_eq(cookie(CK_HEAD("Cookie: X-Token; ;;\r\n"), "X-Token",
	    &v, &len), 0);
}
END_TEST

START_TEST(cookie_empty_value)
{
	const char	*v;
	size_t		 len = 99;

	ck_assert_int_eq(cookie(CK_HEAD("Cookie: X-Token=; b=2\r\n"), "X-Token",
	    &v, &len), 1);
	ck_assert_uint_eq(len, 0);
	ck_assert_int_eq(cookie(CK_HEAD("Cookie: a=1; X-Token=\r\n"), "X-Token",
	    &v, &len), 1);
	ck_assert_uint_eq(len, 0);
}
END_TEST

START_TEST(cookie_name_prefix_not_matching)
{
	const char	*v;
	size_t		 len;

	ck_assert_int_eq(cookie(CK_HEAD("Cookie: X-Tok=abc\r\n"), "X-Token",
	    &v, &len), 0);
	ck_assert_int_eq(cookie(CK_HEAD("Cookie: X-Token=abc\r\n"), "X-Tok",
	    &v, &len), 0);
	ck_assert_int_eq(cookie(CK_HEAD("Cookie: X-Tokens=1; X-Token=2\r\n"),
	    "X-Token", &v, &len), 1);
	ck_assert_uint_eq(len, 1);
	ck_assert_mem_eq(v, "2", 1);
	/* Cookie names are case-sensitive (RFC 6265). */
	ck_assert_int_eq(cookie(CK_HEAD("Cookie: x-token=abc\r\n"), "X-Token",
	    &v, &len), 0);
}
END_TEST

START_TEST(cookie_huge_value)
{
	const size_t	 big = 65536;
	const char	*pre = RL HOST "Cookie: a=1; X-Token=";
	const char	*post = "; b=2\r\n\r\n";
	char		*head, *p;
	const char	*v;
	size_t		 len, i;
	struct unit_req	 u;

	head = xmalloc(strlen(pre) + big + strlen(post) + 1);
	p = stpcpy(head, pre);
	for (i = 0; i < big; i++)
		*p++ = (char)('a' + i % 26);
	strcpy(p, post);
	unit_parse_ok(&u, head);
	ck_assert_int_eq(http_cookie_get(&u.r, "X-Token", &v, &len), 1);
	ck_assert_uint_eq(len, big);
	ck_assert_ptr_eq(v, head + strlen(pre));
	ck_assert_int_eq(v[big - 1], 'a' + (big - 1) % 26);
	free(head);
}
END_TEST

START_TEST(cookie_non_utf8_returned_as_is)
{
	const char	*v;
	size_t		 len;

	ck_assert_int_eq(cookie(CK_HEAD("Cookie: X-Token=\xff\xfe\x80\xc0\xaf"
	    "\r\n"), "X-Token", &v, &len), 1);
	ck_assert_uint_eq(len, 5);
	ck_assert_mem_eq(v, "\xff\xfe\x80\xc0\xaf", 5);
}
END_TEST

/* http_query_get */

START_TEST(query_present)
{
	char	*v;
	size_t	 len;

	ck_assert_int_eq(query("/ws?a=1&token=abc&b=2", "token", &v, &len), 1);
	ck_assert_uint_eq(len, 3);
	ck_assert_str_eq(v, "abc");
	free(v);
	ck_assert_int_eq(query("/ws?token=abc", "token", &v, &len), 1);
	ck_assert_str_eq(v, "abc");
	free(v);
	ck_assert_int_eq(query("/ws?&&token=x&", "token", &v, &len), 1);
	ck_assert_str_eq(v, "x");
	free(v);
	/* The first occurrence wins; the value may hold '='. */
	ck_assert_int_eq(query("/ws?token=a=b&token=c", "token", &v, &len), 1);
	ck_assert_str_eq(v, "a=b");
	free(v);
}
END_TEST

START_TEST(query_absent)
{
	char	*v;
	size_t	 len;

	ck_assert_int_eq(query("/ws", "token", &v, &len), 0);
	ck_assert_int_eq(query("/ws?", "token", &v, &len), 0);
	ck_assert_int_eq(query("/ws?tok=1&tokens=2&Token=3", "token", &v,
	    &len), 0);
	ck_assert_ptr_null(v);
}
END_TEST

START_TEST(query_percent_decoding)
{
	char	*v;
	size_t	 len;

	ck_assert_int_eq(query("/ws?t=a%20b%2Fc%2fd%C3%A9", "t", &v, &len), 1);
	ck_assert_uint_eq(len, 9);
	ck_assert_str_eq(v, "a b/c/d\xc3\xa9");
	free(v);
	ck_assert_int_eq(query("/ws?t=%26%3D%25%2B", "t", &v, &len), 1);
	ck_assert_str_eq(v, "&=%+");
	free(v);
}
END_TEST

START_TEST(query_plus_is_space)
{
	char	*v;
	size_t	 len;

	ck_assert_int_eq(query("/ws?t=a+b++c", "t", &v, &len), 1);
	ck_assert_uint_eq(len, 6);
	ck_assert_str_eq(v, "a b  c");
	free(v);
}
END_TEST

START_TEST(query_nul_decoded_and_counted)
{
	char	*v;
	size_t	 len;

	ck_assert_int_eq(query("/ws?t=a%00b", "t", &v, &len), 1);
	ck_assert_uint_eq(len, 3);
	ck_assert_mem_eq(v, "a\0b", 4);
	free(v);
}
END_TEST

START_TEST(query_bad_escape_is_error)
{
	char	*v;
	size_t	 len;

	ck_assert_int_eq(query("/ws?t=%zz", "t", &v, &len), -1);
	ck_assert_int_eq(query("/ws?t=%4", "t", &v, &len), -1);
	ck_assert_int_eq(query("/ws?t=ab%4&u=1", "t", &v, &len), -1);
	ck_assert_int_eq(query("/ws?t=%", "t", &v, &len), -1);
	ck_assert_int_eq(query("/ws?t=%g0", "t", &v, &len), -1);
	ck_assert_int_eq(query("/ws?t=%0g", "t", &v, &len), -1);
}
END_TEST

START_TEST(query_bad_escape_elsewhere_is_ignored)
{
	char	*v = NULL;
	size_t	 len;

	/* Only the wanted parameter must decode. */
	ck_assert_int_eq(query("/ws?a%z=1&t=2", "t", &v, &len), 1);
	ck_assert_str_eq(v, "2");
	free(v);
	ck_assert_int_eq(query("/ws?a=%zz&t=3", "t", &v, &len), 1);
	ck_assert_str_eq(v, "3");
	free(v);
}
END_TEST

START_TEST(query_key_without_equals_is_empty)
{
	char	*v;
	size_t	 len = 99;

	ck_assert_int_eq(query("/ws?a=1&t&b=2", "t", &v, &len), 1);
	ck_assert_uint_eq(len, 0);
	ck_assert_str_eq(v, "");
	free(v);
	ck_assert_int_eq(query("/ws?t=", "t", &v, &len), 1);
	ck_assert_uint_eq(len, 0);
	ck_assert_str_eq(v, "");
	free(v);
}
END_TEST

START_TEST(query_encoded_key_names)
{
	char	*v;
	size_t	 len;

	ck_assert_int_eq(query("/ws?%74oken=abc", "token", &v, &len), 1);
	ck_assert_str_eq(v, "abc");
	free(v);
	ck_assert_int_eq(query("/ws?user+id=7", "user id", &v, &len), 1);
	ck_assert_str_eq(v, "7");
	free(v);
	ck_assert_int_eq(query("/ws?a%3Db=7", "a=b", &v, &len), 1);
	ck_assert_str_eq(v, "7");
	free(v);
	ck_assert_int_eq(query("/ws?x%26y=8", "x&y", &v, &len), 1);
	ck_assert_str_eq(v, "8");
	free(v);
}
END_TEST

static Suite *
http_suite(void)
{
	Suite	*s = suite_create("http");
	TCase	*tc;

	tc = tcase_create("head_end");
	tcase_add_test(tc, head_end_found);
	tcase_add_test(tc, head_end_not_found);
	tcase_add_test(tc, head_end_split_across_calls);
	suite_add_tcase(s, tc);

	tc = tcase_create("parse");
	tcase_add_test(tc, parse_valid_request);
	tcase_add_test(tc, parse_bad_method);
	tcase_add_test(tc, parse_target_not_starting_with_slash);
	tcase_add_test(tc, parse_bad_version_text);
	tcase_add_test(tc, parse_http2_is_505);
	tcase_add_test(tc, parse_bare_lf);
	tcase_add_test(tc, parse_bare_cr);
	tcase_add_test(tc, parse_folded_header);
	tcase_add_test(tc, parse_space_before_colon);
	tcase_add_test(tc, parse_control_bytes_in_value);
	tcase_add_test(tc, parse_tab_and_high_bytes_allowed_in_value);
	tcase_add_test(tc, parse_bytes_after_head);
	tcase_add_test(tc, parse_too_many_headers_is_431);
	tcase_add_test(tc, parse_trims_value_whitespace);
	tcase_add_test(tc, parse_empty_header_value);
	suite_add_tcase(s, tc);

	tc = tcase_create("lookup");
	tcase_add_test(tc, header_find_case_insensitive_with_count);
	tcase_add_test(tc, path_is_with_and_without_query);
	tcase_add_test(tc, token_list_has);
	suite_add_tcase(s, tc);

	tc = tcase_create("upgrade");
	tcase_add_test(tc, upgrade_valid);
	tcase_add_test(tc, upgrade_deflate_offer_found);
	tcase_add_test(tc, upgrade_deflate_bad_offers_declined);
	tcase_add_test(tc, upgrade_deflate_next_valid_offer_taken);
	tcase_add_test(tc, upgrade_deflate_bad_syntax_is_400);
	tcase_add_test(tc, upgrade_missing_upgrade_is_426);
	tcase_add_test(tc, upgrade_not_exactly_websocket_is_400);
	tcase_add_test(tc, upgrade_duplicated_upgrade_is_400);
	tcase_add_test(tc, upgrade_post_is_405);
	tcase_add_test(tc, upgrade_http10_is_400);
	tcase_add_test(tc, upgrade_missing_host_is_400);
	tcase_add_test(tc, upgrade_connection_without_upgrade_is_400);
	tcase_add_test(tc, upgrade_connection_keep_alive_upgrade_ok);
	tcase_add_test(tc, upgrade_version_8_is_426);
	tcase_add_test(tc, upgrade_duplicated_version_is_400);
	tcase_add_test(tc, upgrade_bad_key_is_400);
	tcase_add_test(tc, upgrade_duplicated_key_is_400);
	tcase_add_test(tc, upgrade_subprotocol_first_offered_configured);
	tcase_add_test(tc, upgrade_subprotocol_several_headers);
	tcase_add_test(tc, upgrade_subprotocol_none_configured);
	tcase_add_test(tc, upgrade_subprotocol_malformed_is_400);
	suite_add_tcase(s, tc);

	tc = tcase_create("cookie");
	tcase_add_test(tc, cookie_single);
	tcase_add_test(tc, cookie_several_pairs);
	tcase_add_test(tc, cookie_several_headers);
	tcase_add_test(tc, cookie_first_wins);
	tcase_add_test(tc, cookie_quoted_value_unquoted);
	tcase_add_test(tc, cookie_whitespace);
	tcase_add_test(tc, cookie_pair_without_equals_skipped);
	tcase_add_test(tc, cookie_empty_value);
	tcase_add_test(tc, cookie_name_prefix_not_matching);
	tcase_add_test(tc, cookie_huge_value);
	tcase_add_test(tc, cookie_non_utf8_returned_as_is);
	suite_add_tcase(s, tc);

	tc = tcase_create("query");
	tcase_add_test(tc, query_present);
	tcase_add_test(tc, query_absent);
	tcase_add_test(tc, query_percent_decoding);
	tcase_add_test(tc, query_plus_is_space);
	tcase_add_test(tc, query_nul_decoded_and_counted);
	tcase_add_test(tc, query_bad_escape_is_error);
	tcase_add_test(tc, query_bad_escape_elsewhere_is_ignored);
	tcase_add_test(tc, query_key_without_equals_is_empty);
	tcase_add_test(tc, query_encoded_key_names);
	suite_add_tcase(s, tc);

	return (s);
}

int
main(void)
{
	return (unit_run(http_suite()));
}
