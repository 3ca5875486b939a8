/*
 * Unit tests of cfg.c: defaults, every key, and the FILE:LINE: errors.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "unit.h"

/* The errors of text, which must not load; the caller frees them. */
static char *
errors_of(const char *text)
{
	struct cfg	*c;
	char		*errs = NULL;

	c = cfg_parse(text, "t.conf", &errs);
	ck_assert_msg(c == NULL, "cfg_parse accepted:\n%s", text);
	ck_assert_ptr_nonnull(errs);
	return (errs);
}

/*
 * text must fail with exactly the error lines expected. The errors are
 * copied and freed before the comparison so that a failure leaks nothing
 * under CK_FORK=no.
 */
#define ERRORS(text, expected) do {					\
	char	*errs_ = errors_of(text);				\
	char	 got_[4096];						\
									\
	snprintf(got_, sizeof got_, "%s", errs_);			\
	free(errs_);							\
	ck_assert_str_eq(got_, (expected));				\
} while (0)

static void
check_defaults(const struct cfg *c)
{
	ck_assert_int_eq(c->c_workers, 0);
	ck_assert_double_eq(c->c_shutdown_timeout, 5);

	ck_assert_str_eq(c->c_listen_address, "127.0.0.1");
	ck_assert_int_eq(c->c_listen_port, 8080);
	ck_assert_str_eq(c->c_listen_path, "/ws");
	ck_assert_uint_eq(c->c_nsubprotocols, 0);

	ck_assert_str_eq(c->c_backend_socket, "/run/wsgate/backend.sock");
	ck_assert_int_eq(c->c_backend_framing, FRAMING_LENGTH_PREFIXED);
	ck_assert_double_eq(c->c_reconnect_min, 0.1);
	ck_assert_double_eq(c->c_reconnect_max, 5);
	ck_assert_uint_eq(c->c_max_frame_bytes, 16777216);
	ck_assert_uint_eq(c->c_queue_bytes, 16777216);

	ck_assert_uint_eq(c->c_nfields, 2);
	ck_assert_str_eq(c->c_fields[0].f_name, "token");
	ck_assert_int_eq(c->c_fields[0].f_source, CTX_SOURCE_COOKIE);
	ck_assert_str_eq(c->c_fields[0].f_key, "X-Token");
	ck_assert_int_eq(c->c_fields[0].f_required, 0);
	ck_assert_uint_eq(c->c_fields[0].f_max_length, 4096);
	ck_assert_str_eq(c->c_fields[1].f_name, "userId");
	ck_assert_int_eq(c->c_fields[1].f_source, CTX_SOURCE_HEADER);
	ck_assert_str_eq(c->c_fields[1].f_key, "X-User-Id");
	ck_assert_int_eq(c->c_fields[1].f_required, 0);
	ck_assert_uint_eq(c->c_fields[1].f_max_length, 4096);

	ck_assert_uint_eq(c->c_max_head_bytes, 8192);
	ck_assert_uint_eq(c->c_max_headers, 100);
	ck_assert_double_eq(c->c_handshake_timeout, 10);
	ck_assert_uint_eq(c->c_max_message_bytes, 1048576);
	ck_assert_uint_eq(c->c_max_connections, 10000);

	ck_assert_int_eq(c->c_log_level, LOG_LEVEL_INFO);

	ck_assert_str_eq(c->c_admin_address, "127.0.0.1");
	ck_assert_int_eq(c->c_admin_port, 0);
}

START_TEST(defaults_from_empty_config)
{
	struct cfg	*c = unit_cfg("");

	ck_assert_str_eq(c->c_file, "t.conf");
	check_defaults(c);
	cfg_free(c);

	/* Empty groups change nothing either. */
	c = unit_cfg("listen = { };\nbackend = { };\ncontext = { };\n"
	    "limits = { };\nlog = { };\n");
	check_defaults(c);
	cfg_free(c);
}
END_TEST

START_TEST(full_valid_config)
{
	struct cfg	*c = unit_cfg(
	    "workers = 4;\n"
	    "shutdown_timeout = 2.5;\n"
	    "listen = {\n"
	    "  address = \"::1\";\n"
	    "  port = 9000;\n"
	    "  path = \"/socket/v1\";\n"
	    "  subprotocols = [ \"chat\", \"v2.json\" ];\n"
	    "};\n"
	    "backend = {\n"
	    "  socket = \"/tmp/b.sock\";\n"
	    "  framing = \"ndjson\";\n"
	    "  reconnect_min = 0.5;\n"
	    "  reconnect_max = 30;\n"
	    "  max_frame_bytes = 2048;\n"
	    "  queue_bytes = 0;\n"
	    "};\n"
	    "context = {\n"
	    "  fields = (\n"
	    "    { name = \"tok\"; source = \"cookie\"; key = \"sid\";"
	    " required = true; max_length = 64; },\n"
	    "    { name = \"tenant_1\"; source = \"header\"; key = \"X-Tenant\"; },\n"
	    "    { name = \"room\"; source = \"query\"; key = \"r\";"
	    " max_length = 65536; },\n"
	    "    { name = \"ip\"; source = \"peer\"; required = false; }\n"
	    "  );\n"
	    "};\n"
	    "limits = {\n"
	    "  max_head_bytes = 256;\n"
	    "  max_headers = 1000;\n"
	    "  handshake_timeout = 0.1;\n"
	    "  max_message_bytes = 268435456;\n"
	    "  max_connections = 1;\n"
	    "};\n"
	    "log = { level = \"debug\"; };\n");

	ck_assert_int_eq(c->c_workers, 4);
	ck_assert_double_eq(c->c_shutdown_timeout, 2.5);
	ck_assert_str_eq(c->c_listen_address, "::1");
	ck_assert_int_eq(c->c_listen_port, 9000);
	ck_assert_str_eq(c->c_listen_path, "/socket/v1");
	ck_assert_uint_eq(c->c_nsubprotocols, 2);
	ck_assert_str_eq(c->c_subprotocols[0], "chat");
	ck_assert_str_eq(c->c_subprotocols[1], "v2.json");
	ck_assert_str_eq(c->c_backend_socket, "/tmp/b.sock");
	ck_assert_int_eq(c->c_backend_framing, FRAMING_NDJSON);
	ck_assert_double_eq(c->c_reconnect_min, 0.5);
	ck_assert_double_eq(c->c_reconnect_max, 30);
	ck_assert_uint_eq(c->c_max_frame_bytes, 2048);
	ck_assert_uint_eq(c->c_queue_bytes, 0);

	ck_assert_uint_eq(c->c_nfields, 4);
	ck_assert_str_eq(c->c_fields[0].f_name, "tok");
	ck_assert_int_eq(c->c_fields[0].f_source, CTX_SOURCE_COOKIE);
	ck_assert_str_eq(c->c_fields[0].f_key, "sid");
	ck_assert_int_eq(c->c_fields[0].f_required, 1);
	ck_assert_uint_eq(c->c_fields[0].f_max_length, 64);
	ck_assert_str_eq(c->c_fields[1].f_name, "tenant_1");
	ck_assert_int_eq(c->c_fields[1].f_source, CTX_SOURCE_HEADER);
	ck_assert_str_eq(c->c_fields[1].f_key, "X-Tenant");
	ck_assert_int_eq(c->c_fields[1].f_required, 0);
	ck_assert_uint_eq(c->c_fields[1].f_max_length, 4096);
	ck_assert_str_eq(c->c_fields[2].f_name, "room");
	ck_assert_int_eq(c->c_fields[2].f_source, CTX_SOURCE_QUERY);
	ck_assert_str_eq(c->c_fields[2].f_key, "r");
	ck_assert_uint_eq(c->c_fields[2].f_max_length, 65536);
	ck_assert_str_eq(c->c_fields[3].f_name, "ip");
	ck_assert_int_eq(c->c_fields[3].f_source, CTX_SOURCE_PEER);
	ck_assert_ptr_null(c->c_fields[3].f_key);
	ck_assert_int_eq(c->c_fields[3].f_required, 0);

	ck_assert_uint_eq(c->c_max_head_bytes, 256);
	ck_assert_uint_eq(c->c_max_headers, 1000);
	ck_assert_double_eq(c->c_handshake_timeout, 0.1);
	ck_assert_uint_eq(c->c_max_message_bytes, 268435456);
	ck_assert_uint_eq(c->c_max_connections, 1);
	ck_assert_int_eq(c->c_log_level, LOG_LEVEL_DEBUG);
	cfg_free(c);
}
END_TEST

START_TEST(empty_field_list_and_list_subprotocols)
{
	struct cfg	*c = unit_cfg("context = { fields = ( ); };\n"
	    "listen = { subprotocols = ( \"a\" ); };\n");

	ck_assert_uint_eq(c->c_nfields, 0);
	ck_assert_uint_eq(c->c_nsubprotocols, 1);
	ck_assert_str_eq(c->c_subprotocols[0], "a");
	cfg_free(c);
}
END_TEST

START_TEST(durations_int_and_float)
{
	struct cfg	*c;

	c = unit_cfg("shutdown_timeout = 7;\nlimits = { handshake_timeout = 1; };"
	    "\nbackend = { reconnect_min = 1; reconnect_max = 2; };\n");
	ck_assert_double_eq(c->c_shutdown_timeout, 7);
	ck_assert_double_eq(c->c_handshake_timeout, 1);
	ck_assert_double_eq(c->c_reconnect_min, 1);
	ck_assert_double_eq(c->c_reconnect_max, 2);
	cfg_free(c);

	c = unit_cfg("shutdown_timeout = 0.25;\n"
	    "limits = { handshake_timeout = 1.5; };\n"
	    "backend = { reconnect_min = 0.01; reconnect_max = 600.0; };\n");
	ck_assert_double_eq(c->c_shutdown_timeout, 0.25);
	ck_assert_double_eq(c->c_handshake_timeout, 1.5);
	ck_assert_double_eq(c->c_reconnect_min, 0.01);
	ck_assert_double_eq(c->c_reconnect_max, 600);
	cfg_free(c);

	c = unit_cfg("shutdown_timeout = 0;\n");
	ck_assert_double_eq(c->c_shutdown_timeout, 0);
	cfg_free(c);

	ERRORS("shutdown_timeout = \"5\";\n",
	    "t.conf:1: shutdown_timeout: must be a number of seconds\n");
	ERRORS("\nshutdown_timeout = 3600.5;\n",
	    "t.conf:2: shutdown_timeout: 3600.5 is out of range 0..3600\n");
	ERRORS("limits = {\n  handshake_timeout = 0.05;\n};\n",
	    "t.conf:2: limits.handshake_timeout: 0.05 is out of range "
	    "0.1..3600\n");
}
END_TEST

START_TEST(names_of_enums)
{
	ck_assert_str_eq(cfg_framing_name(FRAMING_LENGTH_PREFIXED),
	    "length-prefixed");
	ck_assert_str_eq(cfg_framing_name(FRAMING_NDJSON), "ndjson");
	ck_assert_str_eq(cfg_source_name(CTX_SOURCE_COOKIE), "cookie");
	ck_assert_str_eq(cfg_source_name(CTX_SOURCE_HEADER), "header");
	ck_assert_str_eq(cfg_source_name(CTX_SOURCE_QUERY), "query");
	ck_assert_str_eq(cfg_source_name(CTX_SOURCE_PEER), "peer");
}
END_TEST

/* Errors, each with its line. */

START_TEST(err_syntax)
{
	ERRORS("workers = 1;\nlisten = {\n  port = ;\n};\n",
	    "t.conf:3: syntax error\n");
	ERRORS("workers = 1;\n\n[ 1 ];\n", "t.conf:3: syntax error\n");
	ERRORS("workers = 1;\nlisten = {\n  port = 80 80;\n};\n",
	    "t.conf:3: syntax error\n");
}
END_TEST

START_TEST(err_unknown_top_level_key)
{
	ERRORS("workers = 1;\n\nworker = 2;\n", "t.conf:3: unknown key worker\n");
	/* A key of a group, at the top level. */
	ERRORS("port = 80;\n", "t.conf:1: unknown key port\n");
	ERRORS("# comment\nmetrics = { };\n", "t.conf:2: unknown key metrics\n");
}
END_TEST

START_TEST(err_unknown_key_in_group)
{
	ERRORS("listen = {\n  port = 80;\n  bogus = 1;\n};\n",
	    "t.conf:3: unknown key listen.bogus\n");
	ERRORS("backend = {\n  workers = 1;\n};\n",
	    "t.conf:2: unknown key backend.workers\n");
	ERRORS("log = {\n  level = \"info\";\n  file = \"x\";\n};\n",
	    "t.conf:3: unknown key log.file\n");
}
END_TEST

START_TEST(err_group_used_as_scalar)
{
	ERRORS("workers = 1;\nlisten = 5;\n",
	    "t.conf:2: listen: must be a group { ... }\n");
	ERRORS("\n\nlog = \"debug\";\n",
	    "t.conf:3: log: must be a group { ... }\n");
}
END_TEST

START_TEST(err_wrong_type)
{
	ERRORS("listen = {\n  port = \"80\";\n};\n",
	    "t.conf:2: listen.port: must be an integer\n");
	ERRORS("listen = {\n  port = 80.0;\n};\n",
	    "t.conf:2: listen.port: must be an integer\n");
	ERRORS("workers = true;\n", "t.conf:1: workers: must be an integer\n");
	ERRORS("backend = {\n\n  socket = 5;\n};\n",
	    "t.conf:3: backend.socket: must be a string\n");
	ERRORS("listen = { subprotocols = \"chat\"; };\n",
	    "t.conf:1: listen.subprotocols: must be a list of strings "
	    "[ \"a\", \"b\" ]\n");
	ERRORS("listen = { subprotocols = [ 1 ]; };\n",
	    "t.conf:1: listen.subprotocols: entries must be strings\n");
	ERRORS("context = {\n  fields = 1;\n};\n",
	    "t.conf:2: context.fields: must be a list ( { ... }, ... )\n");
	ERRORS("context = {\n  fields = ( \"token\" );\n};\n",
	    "t.conf:2: context.fields: each field must be a group "
	    "{ name = ...; source = ...; }\n");
}
END_TEST

START_TEST(err_out_of_range)
{
	ERRORS("listen = {\n  port = 0;\n};\n",
	    "t.conf:2: listen.port: 0 is out of range 1..65535\n");
	ERRORS("listen = {\n  port = 65536;\n};\n",
	    "t.conf:2: listen.port: 65536 is out of range 1..65535\n");
	ERRORS("limits = {\n  max_head_bytes = 100;\n};\n",
	    "t.conf:2: limits.max_head_bytes: 100 is out of range "
	    "256..65536\n");
	ERRORS("limits = {\n  max_head_bytes = 65537;\n};\n",
	    "t.conf:2: limits.max_head_bytes: 65537 is out of range "
	    "256..65536\n");
	ERRORS("workers = 65;\n", "t.conf:1: workers: 65 is out of range 0..64\n");
	ERRORS("workers = -1;\n", "t.conf:1: workers: -1 is out of range 0..64\n");
	ERRORS("limits = { max_headers = 0; };\n",
	    "t.conf:1: limits.max_headers: 0 is out of range 1..1000\n");
	ERRORS("backend = { reconnect_min = 0.001; };\n",
	    "t.conf:1: backend.reconnect_min: 0.001 is out of range 0.01..60\n");
}
END_TEST

/*
 * The range of a large key must be shown exactly: "1.07374e+09 is out
 * of range 0..1.07374e+09" reads as if the value were in range.
 */
START_TEST(err_out_of_range_large_numbers_exact)
{
	ERRORS("backend = { queue_bytes = 1073741825; };\n",
	    "t.conf:1: backend.queue_bytes: 1073741825 is out of range "
	    "0..1073741824\n");
	ERRORS("backend = { max_frame_bytes = 1023; };\n",
	    "t.conf:1: backend.max_frame_bytes: 1023 is out of range "
	    "1024..1073741824\n");
	ERRORS("limits = { max_connections = 1000001; };\n",
	    "t.conf:1: limits.max_connections: 1000001 is out of range "
	    "1..1000000\n");
}
END_TEST

START_TEST(err_bad_framing)
{
	ERRORS("backend = {\n  framing = \"json\";\n};\n",
	    "t.conf:2: backend.framing: \"json\" must be length-prefixed or "
	    "ndjson\n");
	ERRORS("backend = {\n  framing = \"NDJSON\";\n};\n",
	    "t.conf:2: backend.framing: \"NDJSON\" must be length-prefixed or "
	    "ndjson\n");
}
END_TEST

START_TEST(err_bad_log_level)
{
	ERRORS("log = {\n  level = \"verbose\";\n};\n",
	    "t.conf:2: log.level: \"verbose\" must be error, warning, info or "
	    "debug\n");
	ERRORS("log = { level = 3; };\n", "t.conf:1: log.level: must be a "
	    "string\n");
}
END_TEST

START_TEST(err_field_without_name_source_key)
{
	ERRORS("context = {\n fields = (\n  { source = \"cookie\"; key = \"a\"; }"
	    "\n );\n};\n",
	    "t.conf:3: context field: name is missing\n");
	ERRORS("context = {\n fields = (\n  { name = \"a\"; key = \"a\"; }"
	    "\n );\n};\n",
	    "t.conf:3: context field: source is missing (one of cookie, header, "
	    "query, peer, jwt)\n");
	ERRORS("context = {\n fields = (\n  { name = \"a\"; source = \"query\"; }"
	    "\n );\n};\n",
	    "t.conf:3: context field: source query needs a key\n");
	ERRORS("context = {\n fields = (\n  { name = \"a\"; source = \"cookie\";"
	    " key = \"\"; }\n );\n};\n",
	    "t.conf:3: context field key \"\" is not valid\n");
	ERRORS("context = {\n fields = (\n  { name = \"a\"; source = \"header\";"
	    " key = \"X User\"; }\n );\n};\n",
	    "t.conf:3: context field key \"X User\" is not valid\n");
	ERRORS("context = {\n fields = (\n  { name = 1; source = \"header\";"
	    " key = \"X\"; }\n );\n};\n",
	    "t.conf:3: context field name: must be a string\n"
	    "t.conf:3: context field: name is missing\n");
}
END_TEST

START_TEST(err_field_multiline_group_line)
{
	/* A field spread over lines is reported where it starts. */
	ERRORS("context = {\n  fields = (\n    { name = \"a\"; source = \"peer\"; "
	    "},\n    {\n      source = \"cookie\";\n      key = \"a\";\n    }\n"
	    "  );\n};\n",
	    "t.conf:4: context field: name is missing\n");
}
END_TEST

START_TEST(err_peer_with_key)
{
	ERRORS("context = {\n fields = (\n  { name = \"ip\"; source = \"peer\";"
	    " key = \"x\"; }\n );\n};\n",
	    "t.conf:3: context field: source peer takes no key\n");
}
END_TEST

START_TEST(err_unknown_source)
{
	ERRORS("context = {\n fields = (\n  { name = \"a\"; source = \"body\";"
	    " key = \"x\"; }\n );\n};\n",
	    "t.conf:3: context field source \"body\": must be one of cookie, "
	    "header, query, peer, jwt\n");
	ERRORS("context = {\n fields = (\n  { name = \"a\"; source = \"Cookie\";"
	    " key = \"x\"; }\n );\n};\n",
	    "t.conf:3: context field source \"Cookie\": must be one of cookie, "
	    "header, query, peer, jwt\n");
}
END_TEST

START_TEST(err_unknown_field_key_and_bad_types)
{
	ERRORS("context = {\n fields = (\n  { name = \"a\"; source = \"peer\";"
	    " requred = true; }\n );\n};\n",
	    "t.conf:3: context field: unknown key requred\n");
	ERRORS("context = {\n fields = (\n  { name = \"a\"; source = \"peer\";"
	    " required = 1; }\n );\n};\n",
	    "t.conf:3: context field required: must be true or false\n");
	ERRORS("context = {\n fields = (\n  { name = \"a\"; source = \"peer\";"
	    " max_length = \"5\"; }\n );\n};\n",
	    "t.conf:3: context field max_length: must be an integer\n");
}
END_TEST

START_TEST(err_duplicate_field_names)
{
	ERRORS("context = {\n fields = (\n"
	    "  { name = \"a\"; source = \"peer\"; },\n"
	    "  { name = \"a\"; source = \"query\"; key = \"a\"; }\n"
	    " );\n};\n",
	    "t.conf:4: context field \"a\" is defined twice\n");
}
END_TEST

START_TEST(err_reserved_field_names)
{
	ERRORS("context = {\n fields = (\n"
	    "  { name = \"socketId\"; source = \"peer\"; },\n"
	    "  { name = \"createdAt\"; source = \"peer\"; }\n"
	    " );\n};\n",
	    "t.conf:3: context field name \"socketId\" is reserved\n"
	    "t.conf:4: context field name \"createdAt\" is reserved\n");
}
END_TEST

START_TEST(err_bad_field_name_chars)
{
	ERRORS("context = {\n fields = (\n"
	    "  { name = \"user-id\"; source = \"peer\"; }\n );\n};\n",
	    "t.conf:3: context field name \"user-id\": use 1 to 64 letters, "
	    "digits or _\n");
	ERRORS("context = {\n fields = (\n"
	    "  { name = \"\"; source = \"peer\"; }\n );\n};\n",
	    "t.conf:3: context field name \"\": use 1 to 64 letters, "
	    "digits or _\n");
	ERRORS("context = {\n fields = (\n"
	    "  { name = \"a b\"; source = \"peer\"; }\n );\n};\n",
	    "t.conf:3: context field name \"a b\": use 1 to 64 letters, "
	    "digits or _\n");
	/* 64 characters are fine, 65 are not. */
	ERRORS("context = {\n fields = (\n  { name = \""
	    "0123456789012345678901234567890123456789012345678901234567890123X"
	    "\"; source = \"peer\"; }\n );\n};\n",
	    "t.conf:3: context field name \""
	    "0123456789012345678901234567890123456789012345678901234567890123X"
	    "\": use 1 to 64 letters, digits or _\n");
}
END_TEST

START_TEST(field_name_64_chars_ok)
{
	struct cfg	*c = unit_cfg("context = { fields = ( { name = \""
	    "0123456789012345678901234567890123456789012345678901234567890123"
	    "\"; source = \"peer\"; } ); };\n");

	ck_assert_uint_eq(strlen(c->c_fields[0].f_name), 64);
	cfg_free(c);
}
END_TEST

START_TEST(err_max_length_0)
{
	ERRORS("context = {\n fields = (\n"
	    "  { name = \"a\"; source = \"peer\"; max_length = 0; }\n );\n};\n",
	    "t.conf:3: context field max_length: 0 is out of range 1..65536\n");
	ERRORS("context = {\n fields = (\n"
	    "  { name = \"a\"; source = \"peer\"; max_length = 65537; }\n"
	    " );\n};\n",
	    "t.conf:3: context field max_length: 65537 is out of range "
	    "1..65536\n");
}
END_TEST

START_TEST(err_subprotocol_not_a_token)
{
	ERRORS("listen = {\n  subprotocols = [ \"chat\", \"bad proto\" ];\n};\n",
	    "t.conf:2: listen.subprotocols: \"bad proto\" is not a valid "
	    "subprotocol name\n");
	ERRORS("listen = {\n  subprotocols = [ \"\" ];\n};\n",
	    "t.conf:2: listen.subprotocols: \"\" is not a valid "
	    "subprotocol name\n");
	ERRORS("listen = {\n  subprotocols = [ \"a,b\" ];\n};\n",
	    "t.conf:2: listen.subprotocols: \"a,b\" is not a valid "
	    "subprotocol name\n");
}
END_TEST

START_TEST(robustness_keys_defaults_and_values)
{
	struct cfg	*c = unit_cfg("");

	ck_assert_uint_eq(c->c_nallowed_origins, 0);
	ck_assert(c->c_down_timeout == 30);
	ck_assert_int_eq(c->c_down_action, DOWN_KEEP);
	ck_assert_uint_eq(c->c_max_connections_per_ip, 1000);
	ck_assert_uint_eq(c->c_max_send_queue_bytes, 1048576);
	ck_assert_int_eq(c->c_send_queue_policy, SENDQ_CLOSE);
	ck_assert(c->c_idle_timeout == 60);
	ck_assert(c->c_ping_interval == 30);
	ck_assert(c->c_instance != NULL && c->c_instance[0] != '\0');
	ck_assert_int_eq(c->c_frame_attempts, 3);
	ck_assert_int_eq(c->c_refused_close_code, 1011);
	cfg_free(c);

	c = unit_cfg("backend = { frame_attempts = 1; "
	    "refused_close_code = 4000; };\n");
	ck_assert_int_eq(c->c_frame_attempts, 1);
	ck_assert_int_eq(c->c_refused_close_code, 4000);
	cfg_free(c);

	c = unit_cfg("instance = \"gw-7\";\n"
	    "listen = { allowed_origins = [ \"https://a.example\", "
	    "\"http://localhost:8080\" ]; };\n"
	    "backend = { down_timeout = 0.5; down_action = \"close\"; };\n"
	    "limits = { max_connections_per_ip = 2; max_send_queue_bytes = 4096;"
	    " send_queue_policy = \"drop\"; idle_timeout = 2; };\n"
	    "websocket = { ping_interval = 1; };\n");
	ck_assert_str_eq(c->c_instance, "gw-7");
	ck_assert_uint_eq(c->c_nallowed_origins, 2);
	ck_assert_str_eq(c->c_allowed_origins[1], "http://localhost:8080");
	ck_assert(c->c_down_timeout == 0.5);
	ck_assert_int_eq(c->c_down_action, DOWN_CLOSE);
	ck_assert_uint_eq(c->c_max_connections_per_ip, 2);
	ck_assert_uint_eq(c->c_max_send_queue_bytes, 4096);
	ck_assert_int_eq(c->c_send_queue_policy, SENDQ_DROP);
	cfg_free(c);
}
END_TEST

START_TEST(err_robustness_keys)
{
	ERRORS("listen = {\n  allowed_origins = [ \"https://A.example\" ];\n};\n",
	    "t.conf:2: listen.allowed_origins: \"https://A.example\" is not a "
	    "valid origin\n");
	ERRORS("listen = {\n  allowed_origins = [ \"https://a.example/app\" ];\n"
	    "};\n", "t.conf:2: listen.allowed_origins: "
	    "\"https://a.example/app\" is not a valid origin\n");
	ERRORS("listen = {\n  allowed_origins = [ \"a.example\" ];\n};\n",
	    "t.conf:2: listen.allowed_origins: \"a.example\" is not a valid "
	    "origin\n");
	ERRORS("backend = {\n  down_action = \"retry\";\n};\n",
	    "t.conf:2: backend.down_action: \"retry\" must be keep or close\n");
	ERRORS("limits = {\n  send_queue_policy = \"block\";\n};\n",
	    "t.conf:2: limits.send_queue_policy: \"block\" must be close or "
	    "drop\n");
	ERRORS("limits = {\n  idle_timeout = 10;\n};\n"
	    "websocket = {\n  ping_interval = 10;\n};\n",
	    "t.conf:2: limits.idle_timeout: 10 must be greater than "
	    "websocket.ping_interval 10\n");
	ERRORS("limits = {\n  max_send_queue_bytes = 100;\n};\n",
	    "t.conf:2: limits.max_send_queue_bytes: 100 is out of range "
	    "1024..1073741824\n");
	ERRORS("instance = \"\";\n", "t.conf:1: instance: must be 1 to 255 "
	    "bytes long\n");
	ERRORS("backend = {\n  frame_attempts = 0;\n};\n",
	    "t.conf:2: backend.frame_attempts: 0 is out of range 1..100\n");
	ERRORS("backend = {\n  refused_close_code = 1005;\n};\n",
	    "t.conf:2: backend.refused_close_code: 1005 is not a code a close "
	    "frame may carry\n");
	ERRORS("backend = {\n  refused_close_code = 2999;\n};\n",
	    "t.conf:2: backend.refused_close_code: 2999 is not a code a close "
	    "frame may carry\n");
}
END_TEST

START_TEST(topics_keys)
{
	struct cfg	*c = unit_cfg("");

	ck_assert_uint_eq(c->c_topics_per_socket, 64);
	ck_assert_uint_eq(c->c_topic_subscribers, 1000000);
	ck_assert_uint_eq(c->c_topic_name_bytes, 128);
	ck_assert_uint_eq(c->c_ntopic_fields, 0);
	cfg_free(c);

	c = unit_cfg("context = { fields = ( { name = \"room\"; source = "
	    "\"query\"; key = \"r\"; } ); };\n"
	    "topics = { max_per_socket = 2; max_subscribers = 3; "
	    "max_name_bytes = 8; from_context = [ \"room\" ]; };\n");
	ck_assert_uint_eq(c->c_topics_per_socket, 2);
	ck_assert_uint_eq(c->c_topic_subscribers, 3);
	ck_assert_uint_eq(c->c_topic_name_bytes, 8);
	ck_assert_uint_eq(c->c_ntopic_fields, 1);
	ck_assert_str_eq(c->c_topic_fields[0], "room");
	cfg_free(c);
}
END_TEST

START_TEST(err_topics_keys)
{
	ERRORS("topics = {\n  from_context = [ \"room\" ];\n};\n",
	    "t.conf:2: topics.from_context: \"room\" is not a field of the "
	    "context\n");
	ERRORS("topics = {\n  from_context = [ \"\" ];\n};\n",
	    "t.conf:2: topics.from_context: \"\" is not a valid context "
	    "field name\n");
	ERRORS("topics = {\n  max_per_socket = 0;\n};\n",
	    "t.conf:2: topics.max_per_socket: 0 is out of range 1..65535\n");
	ERRORS("topics = {\n  max_name_bytes = 2000;\n};\n",
	    "t.conf:2: topics.max_name_bytes: 2000 is out of range 1..1024\n");
}
END_TEST

START_TEST(err_path_without_leading_slash)
{
	ERRORS("listen = {\n  port = 80;\n  path = \"ws\";\n};\n",
	    "t.conf:3: listen.path: \"ws\" must start with / and hold no ?, # "
	    "or blanks\n");
	ERRORS("listen = {\n  path = \"/ws?x\";\n};\n",
	    "t.conf:2: listen.path: \"/ws?x\" must start with / and hold no ?, # "
	    "or blanks\n");
	ERRORS("listen = {\n  path = \"\";\n};\n",
	    "t.conf:2: listen.path: \"\" must start with / and hold no ?, # "
	    "or blanks\n");
	ERRORS("listen = {\n  path = \"/healthz\";\n};\n",
	    "t.conf:2: listen.path: /healthz is the health check\n");
}
END_TEST

START_TEST(err_empty_address_and_long_socket)
{
	ERRORS("listen = {\n  address = \"\";\n};\n",
	    "t.conf:2: listen.address: must not be empty\n");
	ERRORS("backend = {\n  socket = \"/"
	    "0123456789012345678901234567890123456789012345678901234567890123"
	    "4567890123456789012345678901234567890123456\";\n};\n",
	    "t.conf:2: backend.socket: the path must be 1 to 107 bytes long\n");
}
END_TEST

START_TEST(socket_path_107_bytes_ok)
{
	struct cfg	*c = unit_cfg("backend = { socket = \"/"
	    "0123456789012345678901234567890123456789012345678901234567890123"
	    "456789012345678901234567890123456789012345\"; };\n");

	ck_assert_uint_eq(strlen(c->c_backend_socket), 107);
	cfg_free(c);
}
END_TEST

START_TEST(err_reconnect_min_greater_than_max)
{
	ERRORS("backend = {\n  reconnect_min = 10;\n  reconnect_max = 2;\n};\n",
	    "t.conf:2: backend.reconnect_min: 10 is greater than "
	    "backend.reconnect_max 2\n");
	/* Equal is fine. */
	cfg_free(unit_cfg("backend = { reconnect_min = 2; reconnect_max = 2; };"));
}
END_TEST

/*
 * Every error is "FILE:LINE: message": when only reconnect_max is set,
 * below the default reconnect_min, the error must still name a line.
 */
START_TEST(err_reconnect_max_below_default_min_has_line)
{
	ERRORS("workers = 1;\nbackend = {\n  reconnect_max = 0.05;\n};\n",
	    "t.conf:3: backend.reconnect_min: 0.1 is greater than "
	    "backend.reconnect_max 0.05\n");
}
END_TEST

START_TEST(err_several_all_reported)
{
	char	*errs;

	errs = errors_of(
	    "workers = 100;\n"				/* 1 */
	    "listen = {\n"
	    "  port = 0;\n"				/* 3 */
	    "  bogus = 1;\n"				/* 4 */
	    "};\n"
	    "log = { level = \"loud\"; };\n"		/* 6 */
	    "foo = 1;\n"				/* 7 */
	    "context = {\n"
	    "  fields = (\n"
	    "    { name = \"socketId\"; source = \"x\"; }\n"	/* 10 */
	    "  );\n"
	    "};\n");
	ck_assert_int_eq(unit_count_lines(errs), 7);
	ck_assert_ptr_nonnull(strstr(errs, "t.conf:1: workers: 100 is out"));
	ck_assert_ptr_nonnull(strstr(errs, "t.conf:3: listen.port: 0 is out"));
	ck_assert_ptr_nonnull(strstr(errs, "t.conf:4: unknown key listen.bogus"));
	ck_assert_ptr_nonnull(strstr(errs, "t.conf:6: log.level: \"loud\""));
	ck_assert_ptr_nonnull(strstr(errs, "t.conf:7: unknown key foo\n"));
	ck_assert_ptr_nonnull(strstr(errs,
	    "t.conf:10: context field name \"socketId\" is reserved\n"));
	ck_assert_ptr_nonnull(strstr(errs,
	    "t.conf:10: context field source \"x\""));
	/* In file order. */
	ck_assert(strstr(errs, "t.conf:1:") < strstr(errs, "t.conf:3:"));
	ck_assert(strstr(errs, "t.conf:7:") < strstr(errs, "t.conf:10:"));
	free(errs);
}
END_TEST

/* jwt */

#define JWT_SECRET	"0123456789abcdef0123456789abcdef"	/* 32 bytes */

/* A file in a fresh directory holding text; *dir to remove after. */
static char *
tmp_file(const char *name, const void *data, size_t len, char **dir)
{
	char	 tmpl[] = "/tmp/check_cfg.XXXXXX", *path;
	int	 fd;

	ck_assert_ptr_nonnull(mkdtemp(tmpl));
	*dir = xstrdup(tmpl);
	xasprintf(&path, "%s/%s", tmpl, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
	return (path);
}

static void
tmp_remove(char *path, char *dir)
{
	unlink(path);
	rmdir(dir);
	free(path);
	free(dir);
}

/* A PEM public key file of a fresh key of type ("RSA" or "EC"). */
static char *
tmp_pem(const char *type, char **dir)
{
	EVP_PKEY	*pkey;
	BIO		*bio = BIO_new(BIO_s_mem());
	char		*data, *path;
	long		 n;

	if (strcmp(type, "RSA") == 0)
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	else
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	ck_assert_ptr_nonnull(pkey);
	ck_assert_int_eq(PEM_write_bio_PUBKEY(bio, pkey), 1);
	n = BIO_get_mem_data(bio, &data);
	path = tmp_file("jwt.pem", data, (size_t)n, dir);
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	return (path);
}

START_TEST(jwt_group_all_keys)
{
	struct cfg	*c;
	char		*dir, *path, *text;

	path = tmp_file("jwt.secret", JWT_SECRET "\n", 33, &dir);
	xasprintf(&text,
	    "jwt = {\n"
	    "  source = \"cookie\";\n"
	    "  key = \"X-Token\";\n"
	    "  secret_file = \"%s\";\n"
	    "  algorithms = [ \"HS256\" ];\n"
	    "  issuer = \"https://auth.example.com\";\n"
	    "  audience = \"wsgate\";\n"
	    "  leeway = 0;\n"
	    "  required = false;\n"
	    "  max_token_bytes = 1024;\n"
	    "};\n"
	    "context = { fields = (\n"
	    "  { name = \"userId\"; source = \"jwt\"; key = \"sub\"; "
	    "required = true; },\n"
	    "  { name = \"roles\"; source = \"jwt\"; key = \"roles\"; }\n"
	    "); };\n", path);
	c = unit_cfg(text);
	ck_assert_int_eq(c->c_jwt.j_enabled, 1);
	ck_assert_int_eq(c->c_jwt.j_source, CTX_SOURCE_COOKIE);
	ck_assert_str_eq(c->c_jwt.j_key, "X-Token");
	ck_assert_str_eq(c->c_jwt.j_secret_file, path);
	ck_assert_uint_eq(c->c_jwt.j_algs, 1U << JWT_HS256);
	ck_assert_str_eq(c->c_jwt.j_issuer, "https://auth.example.com");
	ck_assert_str_eq(c->c_jwt.j_audience, "wsgate");
	ck_assert_int_eq(c->c_jwt.j_leeway, 0);
	ck_assert_int_eq(c->c_jwt.j_required, 0);
	ck_assert_uint_eq(c->c_jwt.j_max_token_bytes, 1024);
	ck_assert_ptr_nonnull(c->c_jwt.j_keys);
	ck_assert_uint_eq(jwt_keys_algs(c->c_jwt.j_keys), 1U << JWT_HS256);
	ck_assert_uint_eq(c->c_nfields, 2);
	ck_assert_int_eq(c->c_fields[0].f_source, CTX_SOURCE_JWT);
	ck_assert_str_eq(c->c_fields[0].f_key, "sub");
	ck_assert_int_eq(c->c_fields[0].f_required, 1);
	cfg_free(c);
	free(text);
	tmp_remove(path, dir);
}
END_TEST

START_TEST(jwt_defaults_and_absent_group)
{
	struct cfg	*c;
	char		*dir, *path, *text;

	c = unit_cfg("");
	ck_assert_int_eq(c->c_jwt.j_enabled, 0);
	ck_assert_ptr_null(c->c_jwt.j_keys);
	cfg_free(c);

	/* The group without a jwt field only gates the upgrade. */
	path = tmp_file("k", JWT_SECRET, 32, &dir);
	xasprintf(&text, "jwt = { secret_file = \"%s\"; algorithms = "
	    "( \"HS256\" ); };\n", path);
	c = unit_cfg(text);
	ck_assert_int_eq(c->c_jwt.j_enabled, 1);
	ck_assert_int_eq(c->c_jwt.j_source, CTX_SOURCE_HEADER);
	ck_assert_str_eq(c->c_jwt.j_key, "Authorization");
	ck_assert_ptr_null(c->c_jwt.j_issuer);
	ck_assert_ptr_null(c->c_jwt.j_audience);
	ck_assert_int_eq(c->c_jwt.j_leeway, 30);
	ck_assert_int_eq(c->c_jwt.j_required, 1);
	ck_assert_uint_eq(c->c_jwt.j_max_token_bytes, 8192);
	ck_assert_uint_eq(c->c_nfields, 2);
	cfg_free(c);
	free(text);
	tmp_remove(path, dir);
}
END_TEST

START_TEST(jwt_public_key_files)
{
	struct cfg	*c;
	char		*dir, *path, *text;

	path = tmp_pem("RSA", &dir);
	xasprintf(&text, "jwt = { public_key_file = \"%s\"; algorithms = "
	    "[ \"RS256\" ]; };\n", path);
	c = unit_cfg(text);
	ck_assert_uint_eq(c->c_jwt.j_algs, 1U << JWT_RS256);
	cfg_free(c);
	free(text);
	tmp_remove(path, dir);

	path = tmp_pem("EC", &dir);
	xasprintf(&text, "jwt = { public_key_file = \"%s\"; algorithms = "
	    "[ \"ES256\" ]; };\n", path);
	c = unit_cfg(text);
	ck_assert_uint_eq(c->c_jwt.j_algs, 1U << JWT_ES256);
	cfg_free(c);
	free(text);
	/* An RSA algorithm with an EC key. */
	xasprintf(&text, "jwt = {\n public_key_file = \"%s\";\n algorithms = "
	    "[ \"ES256\", \"RS256\" ];\n};\n", path);
	ERRORS(text, "t.conf:3: jwt.algorithms: RS256 cannot be verified with "
	    "jwt.public_key_file (an EC P-256 key)\n");
	free(text);
	tmp_remove(path, dir);
}
END_TEST

START_TEST(jwt_relative_key_path_from_config_dir)
{
	struct cfg	*c;
	char		*dir, *sdir, *conf, *secret, *text, *errs = NULL;
	int		 fd;

	secret = tmp_file("jwt.secret", JWT_SECRET, 32, &sdir);
	xasprintf(&text, "jwt = { secret_file = \"jwt.secret\"; algorithms = "
	    "[ \"HS256\" ]; };\n");
	xasprintf(&conf, "%s/wsgate.conf", sdir);
	fd = open(conf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	c = cfg_load(conf, &errs);
	ck_assert_msg(c != NULL, "%s", errs ? errs : "");
	ck_assert_ptr_nonnull(c->c_jwt.j_keys);
	cfg_free(c);
	unlink(conf);
	free(conf);
	free(text);
	dir = sdir;
	tmp_remove(secret, dir);
}
END_TEST

START_TEST(err_jwt_field_without_group)
{
	ERRORS("context = {\n fields = (\n  { name = \"a\"; source = \"peer\"; "
	    "},\n  { name = \"u\"; source = \"jwt\"; key = \"sub\"; }\n );\n};\n",
	    "t.conf:4: context field u: source jwt needs the jwt group\n");
	ERRORS("context = {\n fields = (\n  { name = \"u\"; source = \"jwt\"; }"
	    "\n );\n};\n",
	    "t.conf:3: context field: source jwt needs a key\n");
}
END_TEST

START_TEST(err_jwt_key_files)
{
	char	*dir, *path, *text, *want;

	ERRORS("jwt = {\n algorithms = [ \"HS256\" ];\n};\n",
	    "t.conf:1: jwt: exactly one of secret_file, public_key_file and "
	    "jwks_file is needed\n");
	ERRORS("jwt = {\n secret_file = \"/a\";\n jwks_file = \"/b\";\n"
	    " algorithms = [ \"HS256\" ];\n};\n",
	    "t.conf:3: jwt: exactly one of secret_file, public_key_file and "
	    "jwks_file is needed\n");
	ERRORS("jwt = {\n secret_file = \"/nonexistent/jwt.secret\";\n"
	    " algorithms = [ \"HS256\" ];\n};\n",
	    "t.conf:2: jwt.secret_file: /nonexistent/jwt.secret: No such file "
	    "or directory\n");
	ERRORS("jwt = {\n secret_file = \"\";\n algorithms = [ \"HS256\" ];\n"
	    "};\n", "t.conf:2: jwt.secret_file: must not be empty\n");

	path = tmp_file("jwt.pem", "not a key\n", 10, &dir);
	xasprintf(&text, "jwt = {\n public_key_file = \"%s\";\n algorithms = "
	    "[ \"RS256\" ];\n};\n", path);
	xasprintf(&want, "t.conf:2: jwt.public_key_file: %s: no PEM public key "
	    "(-----BEGIN PUBLIC KEY-----) in it\n", path);
	ERRORS(text, want);
	free(text);
	free(want);
	xasprintf(&text, "jwt = {\n jwks_file = \"%s\";\n algorithms = "
	    "[ \"RS256\" ];\n};\n", path);
	xasprintf(&want, "t.conf:2: jwt.jwks_file: %s: not JSON: line 1: "
	    "'[' or '{' expected near 'not'\n", path);
	ERRORS(text, want);
	free(text);
	free(want);
	tmp_remove(path, dir);
}
END_TEST

START_TEST(err_jwt_algorithms)
{
	char	*dir, *path, *text;

	path = tmp_file("jwt.secret", JWT_SECRET, 32, &dir);
	xasprintf(&text, "jwt = {\n secret_file = \"%s\";\n};\n", path);
	ERRORS(text, "t.conf:1: jwt.algorithms: the algorithms to accept are "
	    "required, e.g. [ \"HS256\" ]\n");
	free(text);
	xasprintf(&text, "jwt = {\n secret_file = \"%s\";\n algorithms = "
	    "[ ];\n};\n", path);
	ERRORS(text, "t.conf:3: jwt.algorithms: the algorithms to accept are "
	    "required, e.g. [ \"HS256\" ]\n");
	free(text);
	xasprintf(&text, "jwt = {\n secret_file = \"%s\";\n algorithms = "
	    "[ \"HS256\", \"none\" ];\n};\n", path);
	ERRORS(text, "t.conf:3: jwt.algorithms: \"none\" is not a valid "
	    "algorithm (HS256, HS384, HS512, RS256 or ES256)\n");
	free(text);
	/* RS256 with a secret; HS512 with a 32-byte secret. */
	xasprintf(&text, "jwt = {\n secret_file = \"%s\";\n algorithms = "
	    "[ \"HS256\", \"RS256\", \"HS512\" ];\n};\n", path);
	ERRORS(text, "t.conf:3: jwt.algorithms: HS512 cannot be verified with "
	    "jwt.secret_file (a secret of 32 bytes; HS256 needs 32 or more, "
	    "HS384 48, HS512 64)\n"
	    "t.conf:3: jwt.algorithms: RS256 cannot be verified with "
	    "jwt.secret_file (a secret of 32 bytes; HS256 needs 32 or more, "
	    "HS384 48, HS512 64)\n");
	free(text);
	tmp_remove(path, dir);

	/* HS256 with a public key. */
	path = tmp_pem("RSA", &dir);
	xasprintf(&text, "jwt = {\n public_key_file = \"%s\";\n algorithms = "
	    "[ \"RS256\", \"HS256\" ];\n};\n", path);
	ERRORS(text, "t.conf:3: jwt.algorithms: HS256 cannot be verified with "
	    "jwt.public_key_file (an RSA key)\n");
	free(text);
	tmp_remove(path, dir);
}
END_TEST

START_TEST(err_jwt_ranges_and_source)
{
	ERRORS("jwt = {\n source = \"peer\";\n leeway = 3601;\n"
	    " max_token_bytes = 10;\n required = 1;\n key = \"\";\n};\n",
	    "t.conf:2: jwt.source: \"peer\" must be cookie, header or query\n"
	    "t.conf:3: jwt.leeway: 3601 is out of range 0..3600\n"
	    "t.conf:4: jwt.max_token_bytes: 10 is out of range 64..65536\n"
	    "t.conf:5: jwt.required: must be true or false\n");
	ERRORS("jwt = {\n key = \"Bad Header\";\n secret_file = \"/x\";\n"
	    " algorithms = [ \"HS256\" ];\n};\n",
	    "t.conf:2: jwt.key: \"Bad Header\" is not valid\n"
	    "t.conf:3: jwt.secret_file: /x: No such file or directory\n");
	ERRORS("jwt = 1;\n", "t.conf:1: jwt: must be a group { ... }\n");
	ERRORS("jwt = { secret = \"x\"; };\n", "t.conf:1: unknown key "
	    "jwt.secret\n");
}
END_TEST

/* cfg_load */

START_TEST(admin_keys)
{
	struct cfg	*a, *b;
	char		*keys;

	a = unit_cfg("admin = { address = \"::1\"; port = 9090; };\n");
	ck_assert_str_eq(a->c_admin_address, "::1");
	ck_assert_int_eq(a->c_admin_port, 9090);
	/* The same port on another address is not a clash. */
	b = unit_cfg("listen = { address = \"::1\"; port = 9090; };\n"
	    "admin = { port = 9090; };\n");
	keys = cfg_restart_keys(a, b);
	ck_assert_str_eq(keys, "listen.address, listen.port, admin.address");
	free(keys);
	cfg_free(b);
	b = unit_cfg("admin = { address = \"::1\"; port = 9091; };\n");
	keys = cfg_restart_keys(a, b);
	ck_assert_str_eq(keys, "admin.port");
	free(keys);
	cfg_free(b);
	cfg_free(a);
}
END_TEST

START_TEST(err_admin_keys)
{
	ERRORS("admin = {\n  port = 65536;\n};\n",
	    "t.conf:2: admin.port: 65536 is out of range 0..65535\n");
	ERRORS("admin = {\n  port = -1;\n};\n",
	    "t.conf:2: admin.port: -1 is out of range 0..65535\n");
	ERRORS("admin = {\n  address = \"\";\n};\n",
	    "t.conf:2: admin.address: must not be empty\n");
	ERRORS("admin = {\n  address = 1;\n};\n",
	    "t.conf:2: admin.address: must be a string\n");
	ERRORS("admin = {\n  enabled = true;\n};\n",
	    "t.conf:2: unknown key admin.enabled\n");
	ERRORS("listen = {\n  port = 9000;\n};\nadmin = {\n  port = 9000;\n};\n",
	    "t.conf:5: admin.port: 9000 is listen.port\n");
}
END_TEST

START_TEST(cluster_keys)
{
	struct cfg	*a, *b;
	char		*keys, host[108];
	int		 port;

	a = unit_cfg("");
	ck_assert_ptr_null(a->c_cluster.cc_redis);
	ck_assert_ptr_null(a->c_cluster.cc_node);
	ck_assert_str_eq(a->c_cluster.cc_prefix, "wsgate:");
	ck_assert_double_eq(a->c_cluster.cc_heartbeat, 1);
	ck_assert_double_eq(a->c_cluster.cc_node_ttl, 5);
	ck_assert_uint_eq(a->c_cluster.cc_queue_bytes, 16777216);
	ck_assert_double_eq(a->c_cluster.cc_reconnect_min, 0.1);
	ck_assert_double_eq(a->c_cluster.cc_reconnect_max, 5);
	b = unit_cfg("cluster = {\n  redis = \"[::1]:6380\";\n"
	    "  node = \"gw-1\";\n  prefix = \"chat:\";\n"
	    "  heartbeat = 0.2;\n  node_ttl = 1;\n  queue_bytes = 0;\n"
	    "  reconnect_min = 0.05;\n  reconnect_max = 2;\n};\n");
	ck_assert_str_eq(b->c_cluster.cc_redis, "[::1]:6380");
	ck_assert_str_eq(b->c_cluster.cc_node, "gw-1");
	ck_assert_str_eq(b->c_cluster.cc_prefix, "chat:");
	ck_assert_double_eq(b->c_cluster.cc_heartbeat, 0.2);
	ck_assert_double_eq(b->c_cluster.cc_node_ttl, 1);
	ck_assert_uint_eq(b->c_cluster.cc_queue_bytes, 0);
	ck_assert_double_eq(b->c_cluster.cc_reconnect_min, 0.05);
	ck_assert_double_eq(b->c_cluster.cc_reconnect_max, 2);
	/* Where Redis is, who this node is and the names take a restart. */
	keys = cfg_restart_keys(a, b);
	ck_assert_str_eq(keys, "cluster.redis, cluster.node, cluster.prefix");
	free(keys);
	cfg_free(a);
	a = unit_cfg("cluster = { redis = \"[::1]:6380\"; node = \"gw-1\"; "
	    "prefix = \"chat:\"; };\n");
	ck_assert_ptr_null(cfg_restart_keys(a, b));
	cfg_free(a);
	cfg_free(b);

	ck_assert_int_eq(cfg_redis_address("127.0.0.1:6379", host,
	    sizeof host, &port), 0);
	ck_assert_str_eq(host, "127.0.0.1");
	ck_assert_int_eq(port, 6379);
	ck_assert_int_eq(cfg_redis_address("[::1]:1", host, sizeof host,
	    &port), 0);
	ck_assert_str_eq(host, "::1");
	ck_assert_int_eq(port, 1);
	ck_assert_int_eq(cfg_redis_address("/run/redis/redis.sock", host,
	    sizeof host, &port), 0);
	ck_assert_str_eq(host, "/run/redis/redis.sock");
	ck_assert_int_eq(port, 0);
}
END_TEST

START_TEST(err_cluster_keys)
{
	static const char *const bad[] = {
		"localhost:6379", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0",
		"127.0.0.1:65536", "127.0.0.1:63x", "::1:6379", "[::1]6379",
		"[127.0.0.1]:6379", ":6379", "", "redis://127.0.0.1:6379",
	};
	char		 text[256], want[512];
	size_t		 i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(text, sizeof text, "cluster = {\n  redis = \"%s\";\n"
		    "};\n", bad[i]);
		snprintf(want, sizeof want, "t.conf:2: cluster.redis: \"%s\" "
		    "is neither ADDRESS:PORT with an IP address nor the /path "
		    "of a Unix socket\n", bad[i]);
		ERRORS(text, want);
	}
	ERRORS("cluster = {\n  heartbeat = 1;\n};\n",
	    "t.conf:1: cluster.redis: required in the cluster group, e.g. "
	    "\"127.0.0.1:6379\"\n");
	ERRORS("cluster = {\n  redis = \"127.0.0.1:6379\";\n"
	    "  node = \"a b\";\n  prefix = \"\";\n};\n",
	    "t.conf:3: cluster.node: must be 1 to 255 printable characters, "
	    "no blank\n"
	    "t.conf:4: cluster.prefix: must be 1 to 64 printable characters, "
	    "no blank\n");
	ERRORS("cluster = {\n  redis = \"127.0.0.1:6379\";\n"
	    "  heartbeat = 1;\n  node_ttl = 1.5;\n};\n",
	    "t.conf:4: cluster.node_ttl: 1.5 must be at least twice "
	    "cluster.heartbeat 1\n");
	ERRORS("cluster = {\n  redis = \"127.0.0.1:6379\";\n"
	    "  heartbeat = 0.01;\n  node_ttl = 0;\n  queue_bytes = -1;\n"
	    "  reconnect_min = 3;\n  reconnect_max = 2;\n  colour = 1;\n};\n",
	    "t.conf:3: cluster.heartbeat: 0.01 is out of range 0.05..60\n"
	    "t.conf:4: cluster.node_ttl: 0 is out of range 0.1..3600\n"
	    "t.conf:5: cluster.queue_bytes: -1 is out of range "
	    "0..1073741824\n"
	    "t.conf:8: unknown key cluster.colour\n");
	ERRORS("cluster = {\n  redis = \"127.0.0.1:6379\";\n"
	    "  reconnect_min = 3;\n  reconnect_max = 2;\n};\n",
	    "t.conf:3: cluster.reconnect_min: 3 is greater than "
	    "cluster.reconnect_max 2\n");
	ERRORS("cluster = \"127.0.0.1:6379\";\n",
	    "t.conf:1: cluster: must be a group { ... }\n");
}
END_TEST

START_TEST(load_missing_file)
{
	struct cfg	*c;
	char		*errs = NULL;

	c = cfg_load("/nonexistent/wsgate/wsgate.conf", &errs);
	ck_assert_ptr_null(c);
	ck_assert_ptr_nonnull(errs);
	ck_assert_str_eq(errs, "/nonexistent/wsgate/wsgate.conf: No such file "
	    "or directory\n");
	free(errs);
}
END_TEST

START_TEST(load_errors_name_the_file)
{
	char		 path[] = "/tmp/check_cfg.XXXXXX";
	static const char text[] = "workers = 1;\nlisten = { port = 0; };\n";
	struct cfg	*c;
	char		*errs = NULL, *want;
	int		 fd;

	fd = mkstemp(path);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write(fd, text, sizeof text - 1),
	    (ssize_t)(sizeof text - 1));
	close(fd);
	c = cfg_load(path, &errs);
	ck_assert_ptr_null(c);
	xasprintf(&want, "%s:2: listen.port: 0 is out of range 1..65535\n",
	    path);
	ck_assert_str_eq(errs, want);
	free(want);
	free(errs);

	/* A syntax error names the file too. */
	fd = open(path, O_WRONLY | O_TRUNC);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write(fd, "\nworkers = ;\n", 13), 13);
	close(fd);
	c = cfg_load(path, &errs);
	ck_assert_ptr_null(c);
	xasprintf(&want, "%s:2: syntax error\n", path);
	ck_assert_str_eq(errs, want);
	free(want);
	free(errs);
	unlink(path);
}
END_TEST

START_TEST(load_shipped_config)
{
	const char	*srcdir = getenv("srcdir");
	struct cfg	*c;
	char		*path, *errs = NULL;

	if (srcdir == NULL || *srcdir == '\0')
		srcdir = ".";
	xasprintf(&path, "%s/conf/wsgate.conf", srcdir);
	c = cfg_load(path, &errs);
	ck_assert_msg(c != NULL, "cfg_load %s: %s", path, errs ? errs : "");
	ck_assert_ptr_null(errs);
	ck_assert_str_eq(c->c_file, path);
	/* The shipped file shows every default. */
	check_defaults(c);
	cfg_free(c);
	free(path);
}
END_TEST

static Suite *
cfg_suite(void)
{
	Suite	*s = suite_create("cfg");
	TCase	*tc;

	tc = tcase_create("valid");
	tcase_add_test(tc, defaults_from_empty_config);
	tcase_add_test(tc, full_valid_config);
	tcase_add_test(tc, empty_field_list_and_list_subprotocols);
	tcase_add_test(tc, durations_int_and_float);
	tcase_add_test(tc, field_name_64_chars_ok);
	tcase_add_test(tc, socket_path_107_bytes_ok);
	tcase_add_test(tc, names_of_enums);
	tcase_add_test(tc, admin_keys);
	tcase_add_test(tc, cluster_keys);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_test(tc, err_syntax);
	tcase_add_test(tc, err_unknown_top_level_key);
	tcase_add_test(tc, err_unknown_key_in_group);
	tcase_add_test(tc, err_group_used_as_scalar);
	tcase_add_test(tc, err_wrong_type);
	tcase_add_test(tc, err_out_of_range);
	tcase_add_test(tc, err_out_of_range_large_numbers_exact);
	tcase_add_test(tc, err_bad_framing);
	tcase_add_test(tc, err_bad_log_level);
	tcase_add_test(tc, err_field_without_name_source_key);
	tcase_add_test(tc, err_field_multiline_group_line);
	tcase_add_test(tc, err_peer_with_key);
	tcase_add_test(tc, err_unknown_source);
	tcase_add_test(tc, err_unknown_field_key_and_bad_types);
	tcase_add_test(tc, err_duplicate_field_names);
	tcase_add_test(tc, err_reserved_field_names);
	tcase_add_test(tc, err_bad_field_name_chars);
	tcase_add_test(tc, err_max_length_0);
	tcase_add_test(tc, err_subprotocol_not_a_token);
	tcase_add_test(tc, err_path_without_leading_slash);
	tcase_add_test(tc, robustness_keys_defaults_and_values);
	tcase_add_test(tc, err_robustness_keys);
	tcase_add_test(tc, topics_keys);
	tcase_add_test(tc, err_topics_keys);
	tcase_add_test(tc, err_empty_address_and_long_socket);
	tcase_add_test(tc, err_reconnect_min_greater_than_max);
	tcase_add_test(tc, err_reconnect_max_below_default_min_has_line);
	tcase_add_test(tc, err_several_all_reported);
	tcase_add_test(tc, err_admin_keys);
	tcase_add_test(tc, err_cluster_keys);
	suite_add_tcase(s, tc);

	tc = tcase_create("jwt");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, jwt_group_all_keys);
	tcase_add_test(tc, jwt_defaults_and_absent_group);
	tcase_add_test(tc, jwt_public_key_files);
	tcase_add_test(tc, jwt_relative_key_path_from_config_dir);
	tcase_add_test(tc, err_jwt_field_without_group);
	tcase_add_test(tc, err_jwt_key_files);
	tcase_add_test(tc, err_jwt_algorithms);
	tcase_add_test(tc, err_jwt_ranges_and_source);
	suite_add_tcase(s, tc);

	tc = tcase_create("load");
	tcase_add_test(tc, load_missing_file);
	tcase_add_test(tc, load_errors_name_the_file);
	tcase_add_test(tc, load_shipped_config);
	suite_add_tcase(s, tc);

	return (s);
}

int
main(void)
{
	return (unit_run(cfg_suite()));
}
