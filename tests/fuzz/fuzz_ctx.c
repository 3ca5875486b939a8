/*
 * libFuzzer target for the connection context (ctx.c): the input is a
 * request head (CRLF CRLF is appended if it has none), and every head
 * that parses is turned into a context by two configurations, one with
 * required fields and one without, each with a field of every source and
 * small max_length limits. A context must survive a trip through JSON
 * text unchanged, since that is how it reaches the backend.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wsgated.h"

#define FUZZ_MAX_HEADERS	100
#define FUZZ_ID			"AAAAAAAAAAAAAAAAAAAAAA"
#define FUZZ_CREATED		1700000000123LL

static const char fuzz_conf_required[] =
    "listen = { subprotocols = [ \"chat\", \"v2.json\" ]; };\n"
    "context = {\n"
    "  fields = (\n"
    "    { name = \"token\"; source = \"cookie\"; key = \"X-Token\";\n"
    "      required = true; max_length = 32; },\n"
    "    { name = \"userId\"; source = \"header\"; key = \"X-User-Id\";\n"
    "      max_length = 16; },\n"
    "    { name = \"room\"; source = \"query\"; key = \"room\";\n"
    "      required = true; max_length = 8; },\n"
    "    { name = \"peer\"; source = \"peer\"; max_length = 15; }\n"
    "  );\n"
    "};\n";

static const char fuzz_conf_optional[] =
    "context = {\n"
    "  fields = (\n"
    "    { name = \"peer\"; source = \"peer\"; required = true; },\n"
    "    { name = \"sid\"; source = \"cookie\"; key = \"sid\";\n"
    "      max_length = 4; },\n"
    "    { name = \"agent\"; source = \"header\"; key = \"User-Agent\";\n"
    "      max_length = 64; },\n"
    "    { name = \"q\"; source = \"query\"; key = \"q\"; max_length = 1; }\n"
    "  );\n"
    "};\n";

static struct cfg	*fuzz_cfgs[2];

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct cfg *
fuzz_cfg(const char *text)
{
	struct cfg	*c;
	char		*errs = NULL;

	if ((c = cfg_parse(text, "fuzz.conf", &errs)) == NULL) {
		fprintf(stderr, "fuzz_ctx: bad built-in config:\n%s", errs);
		abort();
	}
	return (c);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_init(1, LOG_LEVEL_ERROR);
	fuzz_cfgs[0] = fuzz_cfg(fuzz_conf_required);
	fuzz_cfgs[1] = fuzz_cfg(fuzz_conf_optional);
	return (0);
}

/* Check a built context against its configuration. */
static void
fuzz_check_ctx(const struct cfg *cfg, json_t *ctx)
{
	const struct ctx_field	*f;
	json_error_t		 err;
	json_t			*v, *again;
	char			*text;
	size_t			 i;

	if (!json_is_object(ctx) ||
	    json_object_size(ctx) != cfg->c_nfields + 2 ||
	    strcmp(json_string_value(json_object_get(ctx, "socketId")),
	    FUZZ_ID) != 0 ||
	    json_integer_value(json_object_get(ctx, "createdAt")) !=
	    FUZZ_CREATED)
		abort();
	for (i = 0; i < cfg->c_nfields; i++) {
		f = &cfg->c_fields[i];
		v = json_object_get(ctx, f->f_name);
		if (json_is_null(v) && !f->f_required)
			continue;
		if (!json_is_string(v) ||
		    json_string_length(v) > f->f_max_length ||
		    !utf8_valid(json_string_value(v), json_string_length(v)))
			abort();
	}

	if ((text = json_dumps(ctx, JSON_COMPACT)) == NULL) {
		fprintf(stderr, "fuzz_ctx: json_dumps failed\n");
		abort();
	}
	/*
	 * A query value may hold %00, which is valid UTF-8 and becomes
	 * \u0000 in JSON: allow it here, as any JSON parser does.
	 */
	again = json_loads(text, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
	    &err);
	if (again == NULL) {
		fprintf(stderr, "fuzz_ctx: %s does not re-parse: %s\n", text,
		    err.text);
		abort();
	}
	if (!json_equal(ctx, again)) {
		fprintf(stderr, "fuzz_ctx: %s re-parses differently\n", text);
		abort();
	}
	json_decref(again);
	free(text);
}

static void
fuzz_ctx(const char *head, size_t len, const char *peer)
{
	struct http_header	 hdrs[FUZZ_MAX_HEADERS];
	struct http_request	 req;
	const char		*cause;
	char			*why;
	json_t			*ctx;
	size_t			 i;
	int			 status;

	if (http_parse(head, len, hdrs, FUZZ_MAX_HEADERS, &req, &cause) != 0)
		return;
	for (i = 0; i < sizeof fuzz_cfgs / sizeof *fuzz_cfgs; i++) {
		status = -1;
		why = NULL;
		ctx = ctx_build(fuzz_cfgs[i], &req, NULL, peer, FUZZ_ID,
		    FUZZ_CREATED, &status, &why);
		if (ctx == NULL) {
			if ((status != 400 && status != 401) || why == NULL)
				abort();
			free(why);
			continue;
		}
		if (status != 0 || why != NULL)
			abort();
		fuzz_check_ctx(fuzz_cfgs[i], ctx);
		json_decref(ctx);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const peers[] = {
		"203.0.113.7", "2001:db8::1", "2001:db8:85a3::8a2e:370:7334",
		NULL
	};
	const char	*peer = peers[size % 4];
	char		*head;
	size_t		 len = size;

	/* Exactly sized, so that ASan sees any read past the head. */
	if (size >= 4 && memcmp(data + size - 4, "\r\n\r\n", 4) == 0) {
		head = malloc(size);
		memcpy(head, data, size);
	} else {
		head = malloc(size + 4);
		memcpy(head, data, size);
		memcpy(head + size, "\r\n\r\n", 4);
		len += 4;
	}
	fuzz_ctx(head, len, peer);
	free(head);
	return (0);
}
