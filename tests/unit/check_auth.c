/*
 * Unit tests of the auth hook's pure parts: the check of an answer
 * (auth_parse_answer), the cache of allow answers (authcache.c) and the
 * auth group of wsgate.conf.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "unit.h"

/* Parse a literal answer; return the object (or NULL) and fill *an. */
static json_t *
answer(const char *text, struct auth_answer *an, const char **cause)
{
	*cause = NULL;
	return (auth_parse_answer(text, strlen(text), an, cause));
}

START_TEST(answer_allow_with_context)
{
	struct auth_answer	 an;
	const char		*cause;
	json_t			*o;

	o = answer("{\"type\":\"auth\",\"requestId\":\"7\",\"allow\":true,"
	    "\"context\":{\"userId\":\"u-42\",\"plan\":\"pro\"}}", &an, &cause);
	ck_assert_ptr_nonnull(o);
	ck_assert_str_eq(an.an_id, "7");
	ck_assert_int_eq(an.an_allow, 1);
	ck_assert_ptr_nonnull(an.an_context);
	ck_assert_str_eq(json_string_value(json_object_get(an.an_context,
	    "plan")), "pro");
	json_decref(o);

	o = answer("{\"type\":\"auth\",\"requestId\":\"8\",\"allow\":true}",
	    &an, &cause);
	ck_assert_ptr_nonnull(o);
	ck_assert_ptr_null(an.an_context);
	json_decref(o);
}
END_TEST

START_TEST(answer_deny_status)
{
	static const struct {
		const char	*status;	/* JSON, or NULL for none */
		int		 want;
	} cases[] = {
		{ NULL, 401 }, { "401", 401 }, { "403", 403 }, { "500", 403 },
		{ "200", 403 }, { "\"401\"", 403 }, { "null", 403 },
	};
	struct auth_answer	 an;
	const char		*cause;
	char			*text;
	json_t			*o;
	size_t			 i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		xasprintf(&text, "{\"type\":\"auth\",\"requestId\":\"1\","
		    "\"allow\":false%s%s,\"reason\":\"banned\"}",
		    cases[i].status ? ",\"status\":" : "",
		    cases[i].status ? cases[i].status : "");
		o = answer(text, &an, &cause);
		ck_assert_msg(o != NULL, "%s: %s", text, cause);
		ck_assert_int_eq(an.an_allow, 0);
		ck_assert_msg(an.an_status == cases[i].want, "%s: %d", text,
		    an.an_status);
		ck_assert_str_eq(an.an_reason, "banned");
		json_decref(o);
		free(text);
	}
}
END_TEST

START_TEST(answer_invalid)
{
	static const char *const bad[] = {
		"",
		"not json",
		"[1]",
		"\"auth\"",
		"{\"requestId\":\"1\",\"allow\":true}",
		"{\"type\":\"open\",\"requestId\":\"1\",\"allow\":true}",
		"{\"type\":\"auth\",\"allow\":true}",
		"{\"type\":\"auth\",\"requestId\":1,\"allow\":true}",
		"{\"type\":\"auth\",\"requestId\":\"1\"}",
		"{\"type\":\"auth\",\"requestId\":\"1\",\"allow\":1}",
		"{\"type\":\"auth\",\"requestId\":\"1\",\"allow\":true,"
		    "\"context\":[]}",
		"{\"type\":\"auth\",\"requestId\":\"1\",\"allow\":true,"
		    "\"context\":{\"socketId\":\"x\"}}",
		"{\"type\":\"auth\",\"requestId\":\"1\",\"allow\":true,"
		    "\"context\":{\"createdAt\":1}}",
		"{\"type\":\"auth\",\"requestId\":\"1\",\"requestId\":\"2\","
		    "\"allow\":true}",
	};
	struct auth_answer	 an;
	const char		*cause;
	size_t			 i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ck_assert_msg(answer(bad[i], &an, &cause) == NULL, "accepted "
		    "%s", bad[i]);
		ck_assert_ptr_nonnull(cause);
	}
}
END_TEST

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
	unsigned char		 k[AUTHCACHE_KEY_LEN];
	unsigned char		 other[AUTHCACHE_KEY_LEN];
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

START_TEST(cfg_auth_defaults_and_keys)
{
	struct cfg	*c;

	c = unit_cfg("");
	ck_assert_ptr_null(c->c_auth.a_socket);
	cfg_free(c);

	c = unit_cfg("backend = { framing = \"ndjson\"; };\n"
	    "auth = { socket = \"/run/a.sock\"; headers = [ \"Authorization\","
	    " \"X-Api-Key\" ]; timeout = 0.5; timeout_status = 403;\n"
	    "max_pending = 10; cache_ttl = 30; cache_size = 5; };\n");
	ck_assert_str_eq(c->c_auth.a_socket, "/run/a.sock");
	ck_assert_int_eq(c->c_auth.a_framing, FRAMING_NDJSON);
	ck_assert_uint_eq(c->c_auth.a_nheaders, 2);
	ck_assert_str_eq(c->c_auth.a_headers[1], "X-Api-Key");
	ck_assert(c->c_auth.a_timeout == 0.5);
	ck_assert_int_eq(c->c_auth.a_timeout_status, 403);
	ck_assert_uint_eq(c->c_auth.a_max_pending, 10);
	ck_assert(c->c_auth.a_cache_ttl == 30);
	ck_assert_uint_eq(c->c_auth.a_cache_size, 5);
	cfg_free(c);

	c = unit_cfg("auth = { socket = \"/a\"; };\n");
	ck_assert_int_eq(c->c_auth.a_framing, FRAMING_LENGTH_PREFIXED);
	ck_assert(c->c_auth.a_timeout == 2);
	ck_assert_int_eq(c->c_auth.a_timeout_status, 503);
	ck_assert_uint_eq(c->c_auth.a_max_pending, 1024);
	ck_assert(c->c_auth.a_cache_ttl == 0);
	ck_assert_uint_eq(c->c_auth.a_cache_size, 10000);
	cfg_free(c);
}
END_TEST

START_TEST(cfg_auth_errors)
{
	static const struct {
		const char	*text;
		const char	*want;
	} cases[] = {
		{ "auth = { socket = \"\"; };",
		    "auth.socket: the path must be 1 to 107 bytes long" },
		{ "auth = { timeout_status = 404; };",
		    "auth.timeout_status: 404 must be 401, 403 or 503" },
		{ "auth = { timeout_status = 500; };",
		    "auth.timeout_status: 500 must be 401, 403 or 503" },
		{ "auth = { timeout = 0.001; };",
		    "auth.timeout: 0.001 is out of range 0.01..60" },
		{ "auth = { max_pending = 0; };",
		    "auth.max_pending: 0 is out of range 1..100000" },
		{ "auth = { cache_size = 0; };",
		    "auth.cache_size: 0 is out of range 1..1000000" },
		{ "auth = { framing = \"json\"; };",
		    "auth.framing: \"json\" must be length-prefixed or "
		    "ndjson" },
		{ "auth = { headers = [ \"Bad Name\" ]; };",
		    "auth.headers: \"Bad Name\" is not a valid header name" },
		{ "auth = { colour = 1; };", "unknown key auth.colour" },
	};
	char	*errs;
	size_t	 i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		errs = NULL;
		ck_assert_ptr_null(cfg_parse(cases[i].text, "t.conf", &errs));
		ck_assert_msg(errs != NULL && strstr(errs, cases[i].want) !=
		    NULL, "%s: got %s", cases[i].text, errs ? errs : "(null)");
		free(errs);
	}
}
END_TEST

START_TEST(cfg_auth_restart_keys)
{
	struct cfg	*a, *b;
	char		*keys;

	a = unit_cfg("auth = { socket = \"/a\"; timeout = 1; };");
	b = unit_cfg("auth = { socket = \"/a\"; timeout = 3; };");
	ck_assert_ptr_null(cfg_restart_keys(a, b));
	cfg_free(b);
	b = unit_cfg("auth = { socket = \"/b\"; framing = \"ndjson\"; };");
	keys = cfg_restart_keys(a, b);
	ck_assert_str_eq(keys, "auth.socket, auth.framing");
	free(keys);
	cfg_free(b);
	b = unit_cfg("");
	keys = cfg_restart_keys(a, b);
	ck_assert_str_eq(keys, "auth.socket");
	free(keys);
	cfg_free(b);
	cfg_free(a);

	/* Without the hook, auth.framing follows backend.framing unnamed. */
	a = unit_cfg("");
	b = unit_cfg("backend = { framing = \"ndjson\"; };");
	keys = cfg_restart_keys(a, b);
	ck_assert_str_eq(keys, "backend.framing");
	free(keys);
	cfg_free(b);
	cfg_free(a);
}
END_TEST

static Suite *
auth_suite(void)
{
	Suite	*s = suite_create("auth");
	TCase	*tc;

	tc = tcase_create("answer");
	tcase_add_test(tc, answer_allow_with_context);
	tcase_add_test(tc, answer_deny_status);
	tcase_add_test(tc, answer_invalid);
	suite_add_tcase(s, tc);

	tc = tcase_create("cache");
	tcase_add_test(tc, key_distinguishes_parts);
	tcase_add_test(tc, cache_hit_and_expiry);
	tcase_add_test(tc, cache_evicts_oldest);
	suite_add_tcase(s, tc);

	tc = tcase_create("cfg");
	tcase_add_test(tc, cfg_auth_defaults_and_keys);
	tcase_add_test(tc, cfg_auth_errors);
	tcase_add_test(tc, cfg_auth_restart_keys);
	suite_add_tcase(s, tc);

	return (s);
}

int
main(void)
{
	return (unit_run(auth_suite()));
}
