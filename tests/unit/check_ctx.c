/*
 * Unit tests of ctx.c: socket ids and the JSON context built from the
 * upgrade request.
 */
#include "config.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unit.h"

#define ID	"AAAAAAAAAAAAAAAAAAAAAA"
#define MS	((int64_t)1700000000123)

/* Every source kind, in this order. */
static const char all_sources_conf[] =
    "context = {\n"
    "  fields = (\n"
    "    { name = \"c\"; source = \"cookie\"; key = \"sid\"; },\n"
    "    { name = \"h\"; source = \"header\"; key = \"X-Tenant\"; },\n"
    "    { name = \"q\"; source = \"query\"; key = \"room\"; },\n"
    "    { name = \"p\"; source = \"peer\"; }\n"
    "  );\n"
    "};\n";

/* Build the context of head under cfg; return it, or NULL with status. */
static json_t *
build(const struct cfg *cfg, const char *head, size_t len, const char *peer,
    int *status, char **cause)
{
	struct unit_req	 u;
	int		 st;

	st = unit_parse_len(&u, head, len);
	ck_assert_msg(st == 0, "http_parse: %d %s", st,
	    u.cause ? u.cause : "");
	*status = -1;
	return (ctx_build(cfg, &u.r, NULL, peer, ID, MS, status, cause));
}
#define BUILD(cfg, lit, peer, st, cause) \
	build((cfg), (lit), sizeof(lit) - 1, (peer), (st), (cause))

/* Build a context that must fail with status; return the cause. */
static char *
build_fails(const struct cfg *cfg, const char *head, size_t len,
    int status)
{
	json_t	*ctx;
	char	*cause = NULL;
	int	 st;

	ctx = build(cfg, head, len, "192.0.2.1", &st, &cause);
	ck_assert_ptr_null(ctx);
	ck_assert_int_eq(st, status);
	ck_assert_ptr_nonnull(cause);
	return (cause);
}
#define BUILD_FAILS(cfg, lit, status) \
	build_fails((cfg), (lit), sizeof(lit) - 1, (status))

static int
cmp_id(const void *a, const void *b)
{
	return (strcmp(a, b));
}

/* The string value of key in ctx, which must be a string. */
static const char *
str_of(json_t *ctx, const char *key)
{
	json_t	*v = json_object_get(ctx, key);

	ck_assert_msg(json_is_string(v), "%s is not a string", key);
	return (json_string_value(v));
}

START_TEST(new_id_is_22_urlsafe_chars)
{
	char	 id[WSG_ID_LEN + 1];
	size_t	 i;
	int	 k;

	for (k = 0; k < 100; k++) {
		memset(id, 'x', sizeof id);
		ctx_new_id(id);
		ck_assert_uint_eq(strlen(id), 22);
		for (i = 0; i < WSG_ID_LEN; i++) {
			ck_assert_msg(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "abcdefghijklmnopqrstuvwxyz0123456789-_", id[i]) !=
			    NULL, "bad char %c in %s", id[i], id);
		}
	}
}
END_TEST

START_TEST(new_id_1000_distinct)
{
	char	(*ids)[WSG_ID_LEN + 1];
	size_t	 i, n = 1000;

	ids = xcalloc(n, sizeof *ids);
	for (i = 0; i < n; i++)
		ctx_new_id(ids[i]);
	qsort(ids, n, sizeof *ids, cmp_id);
	for (i = 1; i < n; i++)
		ck_assert_str_ne(ids[i - 1], ids[i]);
	free(ids);
}
END_TEST

START_TEST(default_cfg_four_keys_in_order)
{
	static const char *const keys[] = {
		"socketId", "createdAt", "token", "userId"
	};
	struct cfg	*cfg = unit_cfg("");
	json_t		*ctx;
	void		*it;
	char		*cause = (char *)"unset";
	int		 st, i = 0;

	ctx = BUILD(cfg, "GET /ws HTTP/1.1\r\nX-User-Id: 42\r\nHost: a\r\n"
	    "Cookie: other=1; X-Token=abc\r\n\r\n", "192.0.2.1", &st, &cause);
	ck_assert_ptr_nonnull(ctx);
	ck_assert_int_eq(st, 0);
	ck_assert_ptr_null(cause);
	ck_assert_uint_eq(json_object_size(ctx), 4);
	for (it = json_object_iter(ctx); it != NULL;
	    it = json_object_iter_next(ctx, it)) {
		ck_assert_int_lt(i, 4);
		ck_assert_str_eq(json_object_iter_key(it), keys[i]);
		i++;
	}
	ck_assert_int_eq(i, 4);

	ck_assert_str_eq(str_of(ctx, "socketId"), ID);
	ck_assert(json_is_integer(json_object_get(ctx, "createdAt")));
	ck_assert(json_integer_value(json_object_get(ctx, "createdAt")) == MS);
	ck_assert_str_eq(str_of(ctx, "token"), "abc");
	ck_assert_str_eq(str_of(ctx, "userId"), "42");
	json_decref(ctx);
	cfg_free(cfg);
}
END_TEST

START_TEST(default_cfg_missing_optional_is_null)
{
	struct cfg	*cfg = unit_cfg("");
	json_t		*ctx;
	char		*cause;
	int		 st;

	ctx = BUILD(cfg, "GET /ws HTTP/1.1\r\nHost: a\r\nCookie: a=1\r\n\r\n",
	    NULL, &st, &cause);
	ck_assert_ptr_nonnull(ctx);
	ck_assert_int_eq(st, 0);
	ck_assert_uint_eq(json_object_size(ctx), 4);
	ck_assert(json_is_null(json_object_get(ctx, "token")));
	ck_assert(json_is_null(json_object_get(ctx, "userId")));
	json_decref(ctx);
	cfg_free(cfg);
}
END_TEST

START_TEST(every_source_kind)
{
	struct cfg	*cfg = unit_cfg(all_sources_conf);
	json_t		*ctx;
	void		*it;
	char		*cause;
	int		 st;

	ctx = BUILD(cfg, "GET /ws?x=1&room=a+b%21 HTTP/1.1\r\nHost: a\r\n"
	    "Cookie: sid=s1\r\nx-tenant:  acme \r\n\r\n", "203.0.113.7", &st,
	    &cause);
	ck_assert_ptr_nonnull(ctx);
	ck_assert_int_eq(st, 0);
	ck_assert_uint_eq(json_object_size(ctx), 6);
	ck_assert_str_eq(str_of(ctx, "c"), "s1");
	ck_assert_str_eq(str_of(ctx, "h"), "acme");
	ck_assert_str_eq(str_of(ctx, "q"), "a b!");
	ck_assert_str_eq(str_of(ctx, "p"), "203.0.113.7");
	/* The fields come in configuration order. */
	it = json_object_iter_at(ctx, "createdAt");
	it = json_object_iter_next(ctx, it);
	ck_assert_str_eq(json_object_iter_key(it), "c");
	it = json_object_iter_next(ctx, it);
	ck_assert_str_eq(json_object_iter_key(it), "h");
	it = json_object_iter_next(ctx, it);
	ck_assert_str_eq(json_object_iter_key(it), "q");
	it = json_object_iter_next(ctx, it);
	ck_assert_str_eq(json_object_iter_key(it), "p");
	json_decref(ctx);

	/* IPv6 peer, and nothing else present. */
	ctx = BUILD(cfg, "GET /ws HTTP/1.1\r\nHost: a\r\n\r\n", "2001:db8::1",
	    &st, &cause);
	ck_assert_ptr_nonnull(ctx);
	ck_assert(json_is_null(json_object_get(ctx, "c")));
	ck_assert(json_is_null(json_object_get(ctx, "h")));
	ck_assert(json_is_null(json_object_get(ctx, "q")));
	ck_assert_str_eq(str_of(ctx, "p"), "2001:db8::1");
	json_decref(ctx);

	/* No peer known: null. */
	ctx = BUILD(cfg, "GET /ws HTTP/1.1\r\nHost: a\r\n\r\n", NULL, &st,
	    &cause);
	ck_assert_ptr_nonnull(ctx);
	ck_assert(json_is_null(json_object_get(ctx, "p")));
	json_decref(ctx);
	cfg_free(cfg);
}
END_TEST

START_TEST(empty_values_are_empty_strings)
{
	struct cfg	*cfg = unit_cfg(all_sources_conf);
	json_t		*ctx;
	char		*cause;
	int		 st;

	ctx = BUILD(cfg, "GET /ws?room= HTTP/1.1\r\nHost: a\r\nCookie: sid=\r\n"
	    "X-Tenant:\r\n\r\n", "", &st, &cause);
	ck_assert_ptr_nonnull(ctx);
	ck_assert_str_eq(str_of(ctx, "c"), "");
	ck_assert_str_eq(str_of(ctx, "h"), "");
	ck_assert_str_eq(str_of(ctx, "q"), "");
	ck_assert_str_eq(str_of(ctx, "p"), "");
	json_decref(ctx);
	cfg_free(cfg);
}
END_TEST

START_TEST(required_missing_is_401)
{
	struct cfg	*cfg = unit_cfg("context = { fields = (\n"
	    "  { name = \"userId\"; source = \"header\"; key = \"X-User-Id\"; },\n"
	    "  { name = \"token\"; source = \"cookie\"; key = \"X-Token\";"
	    " required = true; }\n"
	    "); };\n");
	json_t		*ctx;
	char		*cause;
	int		 st;

	cause = BUILD_FAILS(cfg, "GET /ws HTTP/1.1\r\nHost: a\r\n"
	    "Cookie: X-Tok=1\r\nX-User-Id: 7\r\n\r\n", 401);
	ck_assert_msg(strstr(cause, "token") != NULL, "cause: %s", cause);
	free(cause);

	/* Present, even empty: fine. */
	ctx = BUILD(cfg, "GET /ws HTTP/1.1\r\nHost: a\r\nCookie: X-Token=\r\n"
	    "\r\n", NULL, &st, &cause);
	ck_assert_ptr_nonnull(ctx);
	ck_assert_str_eq(str_of(ctx, "token"), "");
	json_decref(ctx);
	cfg_free(cfg);
}
END_TEST

START_TEST(required_peer_missing_is_401)
{
	struct cfg	*cfg = unit_cfg("context = { fields = (\n"
	    "  { name = \"addr\"; source = \"peer\"; required = true; }\n"
	    "); };\n");
	struct unit_req	 u;
	json_t		*ctx;
	char		*cause;
	int		 st;

	UNIT_PARSE(&u, "GET /ws HTTP/1.1\r\nHost: a\r\n\r\n");
	ctx = ctx_build(cfg, &u.r, NULL, NULL, ID, MS, &st, &cause);
	ck_assert_ptr_null(ctx);
	ck_assert_int_eq(st, 401);
	ck_assert_msg(strstr(cause, "addr") != NULL, "cause: %s", cause);
	free(cause);
	cfg_free(cfg);
}
END_TEST

START_TEST(over_max_length_is_400)
{
	struct cfg	*cfg = unit_cfg("context = { fields = (\n"
	    "  { name = \"h\"; source = \"header\"; key = \"X-H\";"
	    " max_length = 4; },\n"
	    "  { name = \"q\"; source = \"query\"; key = \"q\";"
	    " max_length = 4; }\n"
	    "); };\n");
	json_t		*ctx;
	char		*cause;
	int		 st;

	/* Exactly max_length, and for a query after decoding: fine. */
	ctx = BUILD(cfg, "GET /ws?q=%41%42%43%44 HTTP/1.1\r\nX-H: abcd\r\n\r\n",
	    NULL, &st, &cause);
	ck_assert_ptr_nonnull(ctx);
	ck_assert_str_eq(str_of(ctx, "h"), "abcd");
	ck_assert_str_eq(str_of(ctx, "q"), "ABCD");
	json_decref(ctx);

	cause = BUILD_FAILS(cfg, "GET /ws HTTP/1.1\r\nX-H: abcde\r\n\r\n", 400);
	ck_assert_msg(strstr(cause, " h ") != NULL, "cause: %s", cause);
	free(cause);
	cause = BUILD_FAILS(cfg, "GET /ws?q=a+b+c HTTP/1.1\r\n\r\n", 400);
	ck_assert_msg(strstr(cause, " q ") != NULL, "cause: %s", cause);
	free(cause);
	cfg_free(cfg);
}
END_TEST

START_TEST(invalid_utf8_is_400)
{
	struct cfg	*cfg = unit_cfg(all_sources_conf);
	char		*cause;

	cause = BUILD_FAILS(cfg, "GET /ws HTTP/1.1\r\nX-Tenant: a\xff\r\n\r\n",
	    400);
	ck_assert_msg(strstr(cause, "UTF-8") != NULL, "cause: %s", cause);
	free(cause);
	cause = BUILD_FAILS(cfg, "GET /ws HTTP/1.1\r\nX-Tenant: \xc0\x80\r\n"
	    "\r\n", 400);
	free(cause);
	cause = BUILD_FAILS(cfg, "GET /ws HTTP/1.1\r\nCookie: sid=\xed\xa0\x80"
	    "\r\n\r\n", 400);
	free(cause);
	cause = BUILD_FAILS(cfg, "GET /ws?room=%E2%82 HTTP/1.1\r\n\r\n", 400);
	free(cause);
	cfg_free(cfg);
}
END_TEST

START_TEST(valid_utf8_kept)
{
	struct cfg	*cfg = unit_cfg(all_sources_conf);
	json_t		*ctx;
	char		*cause;
	int		 st;

	ctx = BUILD(cfg, "GET /ws?room=%E2%82%AC HTTP/1.1\r\n"
	    "X-Tenant: caf\xc3\xa9\r\n\r\n", NULL, &st, &cause);
	ck_assert_ptr_nonnull(ctx);
	ck_assert_str_eq(str_of(ctx, "h"), "caf\xc3\xa9");
	ck_assert_str_eq(str_of(ctx, "q"), "\xe2\x82\xac");
	json_decref(ctx);
	cfg_free(cfg);
}
END_TEST

START_TEST(duplicated_configured_header_is_400)
{
	struct cfg	*cfg = unit_cfg("");
	char		*cause;
	json_t		*ctx;
	int		 st;

	cause = BUILD_FAILS(cfg, "GET /ws HTTP/1.1\r\nX-User-Id: 1\r\n"
	    "x-user-id: 1\r\n\r\n", 400);
	ck_assert_msg(strstr(cause, "X-User-Id") != NULL, "cause: %s", cause);
	free(cause);

	/* Duplicates of headers not configured do not matter. */
	ctx = BUILD(cfg, "GET /ws HTTP/1.1\r\nX-Other: 1\r\nX-Other: 2\r\n"
	    "\r\n", NULL, &st, &cause);
	ck_assert_ptr_nonnull(ctx);
	json_decref(ctx);
	cfg_free(cfg);
}
END_TEST

START_TEST(bad_percent_escape_is_400)
{
	struct cfg	*cfg = unit_cfg(all_sources_conf);
	char		*cause;

	cause = BUILD_FAILS(cfg, "GET /ws?room=%zz HTTP/1.1\r\n\r\n", 400);
	free(cause);
	cause = BUILD_FAILS(cfg, "GET /ws?room=ab%4 HTTP/1.1\r\n\r\n", 400);
	free(cause);
	cfg_free(cfg);
}
END_TEST

START_TEST(query_nul_refused)
{
	struct cfg	*cfg = unit_cfg(all_sources_conf);
	json_t		*ctx;
	char		*cause;
	int		 st;

	/* \u0000 is valid JSON, but many a backend's strings end at a NUL. */
	ctx = BUILD(cfg, "GET /ws?room=a%00b HTTP/1.1\r\n\r\n", NULL, &st,
	    &cause);
	ck_assert_ptr_null(ctx);
	ck_assert_int_eq(st, 400);
	ck_assert_msg(strstr(cause, "NUL") != NULL, "cause: %s", cause);
	free(cause);
	cfg_free(cfg);
}
END_TEST

START_TEST(hostile_values_round_trip)
{
	struct cfg	*cfg = unit_cfg(all_sources_conf);
	json_t		*ctx, *back;
	json_error_t	 jerr;
	char		*cause, *dump;
	int		 st;

	ctx = BUILD(cfg, "GET /ws?room=%22%7D%0D%0A%7B%5C%5Cx%0A HTTP/1.1\r\n"
	    "Cookie: sid=\"a\\\"b\"\r\n"
	    "X-Tenant: \"},\"socketId\":\"evil\\\r\n\r\n", "\"peer\"\\", &st,
	    &cause);
	ck_assert_ptr_nonnull(ctx);
	ck_assert_str_eq(str_of(ctx, "q"), "\"}\r\n{\\\\x\n");
	ck_assert_str_eq(str_of(ctx, "c"), "a\\\"b");
	ck_assert_str_eq(str_of(ctx, "h"), "\"},\"socketId\":\"evil\\");
	ck_assert_str_eq(str_of(ctx, "p"), "\"peer\"\\");

	dump = json_dumps(ctx, JSON_COMPACT);
	ck_assert_ptr_nonnull(dump);
	ck_assert_ptr_null(strchr(dump, '\n'));
	ck_assert_ptr_null(strchr(dump, '\r'));
	back = json_loads(dump, 0, &jerr);
	ck_assert_msg(back != NULL, "json_loads: %s", jerr.text);
	ck_assert(json_equal(ctx, back));
	ck_assert_uint_eq(json_object_size(back), 6);
	ck_assert_str_eq(str_of(back, "socketId"), ID);
	json_decref(back);
	free(dump);
	json_decref(ctx);
	cfg_free(cfg);
}
END_TEST

/* Fields of source jwt, with claims as jwt_check returns them. */

/* A configuration of a jwt group (its secret in a temp file) and fields. */
static struct cfg *
jwt_cfg(const char *fields)
{
	char		 dir[] = "/tmp/check_ctx.XXXXXX", *path, *text;
	struct cfg	*cfg;
	int		 fd;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	xasprintf(&path, "%s/jwt.secret", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write(fd, "0123456789abcdef0123456789abcdef", 32), 32);
	close(fd);
	xasprintf(&text, "jwt = { secret_file = \"%s\"; algorithms = "
	    "[ \"HS256\" ]; };\ncontext = { fields = (\n%s\n); };\n", path,
	    fields);
	cfg = unit_cfg(text);
	unlink(path);
	rmdir(dir);
	free(path);
	free(text);
	return (cfg);
}

static json_t *
build_claims(const struct cfg *cfg, const char *claims_text, int *status,
    char **cause)
{
	struct unit_req	 u;
	json_t		*claims = NULL, *ctx;

	if (claims_text != NULL)
		claims = json_loads(claims_text, 0, NULL);
	UNIT_PARSE(&u, "GET /ws HTTP/1.1\r\nX-User-Id: forged\r\n\r\n");
	*status = -1;
	ctx = ctx_build(cfg, &u.r, claims, "192.0.2.1", ID, MS, status,
	    cause);
	/* The context owns copies: the claims go away now. */
	json_decref(claims);
	return (ctx);
}

START_TEST(jwt_claims_keep_their_types_in_order)
{
	struct cfg	*cfg = jwt_cfg(
	    "{ name = \"userId\"; source = \"jwt\"; key = \"sub\"; },\n"
	    "{ name = \"ip\"; source = \"peer\"; },\n"
	    "{ name = \"roles\"; source = \"jwt\"; key = \"roles\"; },\n"
	    "{ name = \"n\"; source = \"jwt\"; key = \"n\"; },\n"
	    "{ name = \"o\"; source = \"jwt\"; key = \"o\"; },\n"
	    "{ name = \"z\"; source = \"jwt\"; key = \"z\"; },\n"
	    "{ name = \"gone\"; source = \"jwt\"; key = \"nope\"; }");
	static const char *const keys[] = {
		"socketId", "createdAt", "userId", "ip", "roles", "n", "o",
		"z", "gone"
	};
	json_t		*ctx, *want;
	char		*cause = NULL;
	void		*it;
	int		 st, i = 0;

	ctx = build_claims(cfg, "{\"sub\":\"user-1\",\"roles\":[\"a\",{\"b\":1}],"
	    "\"n\":42.5,\"o\":{\"k\":[true,null]},\"z\":null,\"exp\":1}", &st,
	    &cause);
	ck_assert_ptr_nonnull(ctx);
	ck_assert_int_eq(st, 0);
	for (it = json_object_iter(ctx); it != NULL;
	    it = json_object_iter_next(ctx, it))
		ck_assert_str_eq(json_object_iter_key(it), keys[i++]);
	ck_assert_int_eq(i, 9);
	want = json_loads("{\"userId\":\"user-1\",\"ip\":\"192.0.2.1\","
	    "\"roles\":[\"a\",{\"b\":1}],\"n\":42.5,\"o\":{\"k\":[true,null]},"
	    "\"z\":null,\"gone\":null}", 0, NULL);
	json_object_set_new(want, "socketId", json_string(ID));
	json_object_set_new(want, "createdAt", json_integer(MS));
	ck_assert(json_equal(ctx, want));
	json_decref(want);
	json_decref(ctx);
	cfg_free(cfg);
}
END_TEST

START_TEST(jwt_no_token_fields_null_or_401)
{
	struct cfg	*cfg = jwt_cfg(
	    "{ name = \"userId\"; source = \"jwt\"; key = \"sub\"; }");
	json_t		*ctx;
	char		*cause = NULL;
	int		 st;

	/* No claims at all (no token, jwt.required = false). */
	ctx = build_claims(cfg, NULL, &st, &cause);
	ck_assert_ptr_nonnull(ctx);
	ck_assert(json_is_null(json_object_get(ctx, "userId")));
	json_decref(ctx);
	cfg_free(cfg);

	cfg = jwt_cfg("{ name = \"userId\"; source = \"jwt\"; key = \"sub\"; "
	    "required = true; }");
	ck_assert_ptr_null(build_claims(cfg, NULL, &st, &cause));
	ck_assert_int_eq(st, 401);
	ck_assert_str_eq(cause, "required field userId is missing");
	free(cause);
	cause = NULL;
	ck_assert_ptr_null(build_claims(cfg, "{\"name\":\"x\"}", &st, &cause));
	ck_assert_int_eq(st, 401);
	free(cause);
	cause = NULL;
	ctx = build_claims(cfg, "{\"sub\":7}", &st, &cause);
	ck_assert(json_integer_value(json_object_get(ctx, "userId")) == 7);
	json_decref(ctx);
	cfg_free(cfg);
}
END_TEST

START_TEST(jwt_string_claim_max_length)
{
	struct cfg	*cfg = jwt_cfg(
	    "{ name = \"userId\"; source = \"jwt\"; key = \"sub\"; "
	    "max_length = 4; }");
	json_t		*ctx;
	char		*cause = NULL;
	int		 st;

	ctx = build_claims(cfg, "{\"sub\":\"abcd\"}", &st, &cause);
	ck_assert_str_eq(str_of(ctx, "userId"), "abcd");
	json_decref(ctx);
	ck_assert_ptr_null(build_claims(cfg, "{\"sub\":\"abcde\"}", &st,
	    &cause));
	ck_assert_int_eq(st, 400);
	ck_assert_str_eq(cause, "field userId is 5 bytes, more than 4");
	free(cause);
	cause = NULL;
	/* Only strings are measured. */
	ctx = build_claims(cfg, "{\"sub\":[\"abcdef\"]}", &st, &cause);
	ck_assert_ptr_nonnull(ctx);
	json_decref(ctx);
	cfg_free(cfg);
}
END_TEST

static Suite *
ctx_suite(void)
{
	Suite	*s = suite_create("ctx");
	TCase	*tc;

	tc = tcase_create("id");
	tcase_add_test(tc, new_id_is_22_urlsafe_chars);
	tcase_add_test(tc, new_id_1000_distinct);
	suite_add_tcase(s, tc);

	tc = tcase_create("jwt");
	tcase_add_test(tc, jwt_claims_keep_their_types_in_order);
	tcase_add_test(tc, jwt_no_token_fields_null_or_401);
	tcase_add_test(tc, jwt_string_claim_max_length);
	suite_add_tcase(s, tc);

	tc = tcase_create("build");
	tcase_add_test(tc, default_cfg_four_keys_in_order);
	tcase_add_test(tc, default_cfg_missing_optional_is_null);
	tcase_add_test(tc, every_source_kind);
	tcase_add_test(tc, empty_values_are_empty_strings);
	tcase_add_test(tc, required_missing_is_401);
	tcase_add_test(tc, required_peer_missing_is_401);
	tcase_add_test(tc, over_max_length_is_400);
	tcase_add_test(tc, invalid_utf8_is_400);
	tcase_add_test(tc, valid_utf8_kept);
	tcase_add_test(tc, duplicated_configured_header_is_400);
	tcase_add_test(tc, bad_percent_escape_is_400);
	tcase_add_test(tc, query_nul_refused);
	tcase_add_test(tc, hostile_values_round_trip);
	suite_add_tcase(s, tc);

	return (s);
}

int
main(void)
{
	return (unit_run(ctx_suite()));
}
