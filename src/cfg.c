/*
 * wsgate.conf: every key is described once in cfg_keys[], which drives
 * the defaults, the type and range checks and the error messages. Loading
 * reports every error of a file in one pass, each as FILE:LINE: message.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libconfig.h>

#include "wsgated.h"

enum cfg_type {
	CFG_INT,		/* int member */
	CFG_SIZE,		/* size_t member */
	CFG_DURATION,		/* double member, seconds: int or float */
	CFG_BOOL,		/* int member, true or false */
	CFG_STRING,		/* char * member */
	CFG_ENUM,		/* an enum member, named by k_names */
	CFG_STRINGS,		/* char ** member, its count follows it */
	CFG_FIELDS		/* the context field list */
};

struct cfg_key {
	const char	*k_group;	/* NULL at the top level */
	const char	*k_name;
	enum cfg_type	 k_type;
	double		 k_min;
	double		 k_max;
	double		 k_default;	/* numbers */
	const char	*k_sdefault;	/* strings and names */
	size_t		 k_offset;
	const char *const *k_names;	/* CFG_ENUM: NULL-terminated */
	/* CFG_STRINGS: where the count goes, and what an entry must be. */
	size_t		 k_count_offset;
	int		(*k_valid)(const char *);
	const char	*k_what;
};

static int	cfg_is_token(const char *);
static int	cfg_is_set(const char *);
static int	cfg_is_origin(const char *);
static int	cfg_is_jwt_alg(const char *);

static const char *const cfg_framing_names[] = {
	"length-prefixed", "ndjson", NULL
};
static const char *const cfg_down_action_names[] = {
	"keep", "close", NULL
};
static const char *const cfg_send_queue_policy_names[] = {
	"close", "drop", NULL
};
static const char *const cfg_rate_action_names[] = {
	"pause", "close", NULL
};
static const char *const cfg_source_names[] = {
	"cookie", "header", "query", "peer", "jwt", NULL
};
/* In the order of enum ctx_source. */
static const char *const cfg_jwt_source_names[] = {
	"cookie", "header", "query", NULL
};

#define K(g, n, t, lo, hi, d, sd, m) \
	{ g, n, t, lo, hi, d, sd, offsetof(struct cfg, m), NULL, 0, NULL, NULL }
#define KE(g, n, names, sd, m) \
	{ g, n, CFG_ENUM, 0, 0, 0, sd, offsetof(struct cfg, m), names, 0, \
	    NULL, NULL }
#define KL(g, n, max, m, count, valid, what) \
	{ g, n, CFG_STRINGS, 0, max, 0, NULL, offsetof(struct cfg, m), NULL, \
	    offsetof(struct cfg, count), valid, what }

static const struct cfg_key cfg_keys[] = {
	K(NULL, "workers", CFG_INT, 0, WSG_MAX_WORKERS, 0, NULL, c_workers),
	K(NULL, "shutdown_timeout", CFG_DURATION, 0, 3600, 5, NULL,
	    c_shutdown_timeout),
	K(NULL, "instance", CFG_STRING, 0, 0, 0, NULL, c_instance),

	K("listen", "address", CFG_STRING, 0, 0, 0, "127.0.0.1",
	    c_listen_address),
	K("listen", "port", CFG_INT, 1, 65535, 8080, NULL, c_listen_port),
	K("listen", "path", CFG_STRING, 0, 0, 0, "/ws", c_listen_path),
	KL("listen", "subprotocols", WSG_MAX_SUBPROTOCOLS, c_subprotocols,
	    c_nsubprotocols, cfg_is_token, "subprotocol name"),
	KL("listen", "allowed_origins", WSG_MAX_ORIGINS, c_allowed_origins,
	    c_nallowed_origins, cfg_is_origin, "origin"),

	K("backend", "socket", CFG_STRING, 0, 0, 0,
	    "/run/wsgate/backend.sock", c_backend_socket),
	KE("backend", "framing", cfg_framing_names, "length-prefixed",
	    c_backend_framing),
	K("backend", "reconnect_min", CFG_DURATION, 0.01, 60, 0.1, NULL,
	    c_reconnect_min),
	K("backend", "reconnect_max", CFG_DURATION, 0.01, 600, 5, NULL,
	    c_reconnect_max),
	K("backend", "max_frame_bytes", CFG_SIZE, 1024, 1073741824, 16777216,
	    NULL, c_max_frame_bytes),
	K("backend", "queue_bytes", CFG_SIZE, 0, 1073741824, 16777216, NULL,
	    c_queue_bytes),
	K("backend", "frame_attempts", CFG_INT, 1, 100, 3, NULL,
	    c_frame_attempts),
	K("backend", "refused_close_code", CFG_INT, 1000, 4999, 1011, NULL,
	    c_refused_close_code),
	K("backend", "down_timeout", CFG_DURATION, 0, 86400, 30, NULL,
	    c_down_timeout),
	KE("backend", "down_action", cfg_down_action_names, "keep",
	    c_down_action),

	K("context", "fields", CFG_FIELDS, 0, WSG_MAX_FIELDS, 0, NULL,
	    c_fields),

	K("limits", "max_head_bytes", CFG_SIZE, 256, 65536, 8192, NULL,
	    c_max_head_bytes),
	K("limits", "max_headers", CFG_SIZE, 1, 1000, 100, NULL,
	    c_max_headers),
	K("limits", "handshake_timeout", CFG_DURATION, 0.1, 3600, 10, NULL,
	    c_handshake_timeout),
	K("limits", "max_message_bytes", CFG_SIZE, 1, 268435456, 1048576,
	    NULL, c_max_message_bytes),
	K("limits", "max_connections", CFG_SIZE, 1, 1000000, 10000, NULL,
	    c_max_connections),
	K("limits", "max_connections_per_ip", CFG_SIZE, 1, 1000000, 1000, NULL,
	    c_max_connections_per_ip),
	K("limits", "max_send_queue_bytes", CFG_SIZE, 1024, 1073741824, 1048576,
	    NULL, c_max_send_queue_bytes),
	KE("limits", "send_queue_policy", cfg_send_queue_policy_names, "close",
	    c_send_queue_policy),
	K("limits", "idle_timeout", CFG_DURATION, 0, 65535, 60, NULL,
	    c_idle_timeout),
	K("limits", "message_rate", CFG_SIZE, 0, 10000000, 1000, NULL,
	    c_message_rate),
	K("limits", "message_burst", CFG_SIZE, 1, 10000000, 1000, NULL,
	    c_message_burst),
	K("limits", "byte_rate", CFG_SIZE, 0, 1073741824, 8388608, NULL,
	    c_byte_rate),
	K("limits", "byte_burst", CFG_SIZE, 1, 1073741824, 8388608, NULL,
	    c_byte_burst),
	KE("limits", "rate_action", cfg_rate_action_names, "pause",
	    c_rate_action),
	K("limits", "connection_rate_per_ip", CFG_SIZE, 0, 1000000, 100, NULL,
	    c_connection_rate),
	K("limits", "connection_burst_per_ip", CFG_SIZE, 1, 1000000, 200,
	    NULL, c_connection_burst),

	K("websocket", "ping_interval", CFG_DURATION, 0, 65535, 30, NULL,
	    c_ping_interval),
	K("websocket", "compression", CFG_BOOL, 0, 1, 0, NULL, c_compression),
	K("websocket", "rx_buffer_bytes", CFG_SIZE, 128, 65536, 1024, NULL,
	    c_rx_buffer_bytes),

	KE("log", "level", log_level_names, "info", c_log_level),

	K("admin", "address", CFG_STRING, 0, 0, 0, "127.0.0.1",
	    c_admin_address),
	K("admin", "port", CFG_INT, 0, 65535, 0, NULL, c_admin_port),

	/* Defaults apply only when the group is present. */
	KE("jwt", "source", cfg_jwt_source_names, "header", c_jwt.j_source),
	K("jwt", "key", CFG_STRING, 0, 0, 0, "Authorization", c_jwt.j_key),
	K("jwt", "secret_file", CFG_STRING, 0, 0, 0, NULL,
	    c_jwt.j_secret_file),
	K("jwt", "public_key_file", CFG_STRING, 0, 0, 0, NULL,
	    c_jwt.j_public_key_file),
	K("jwt", "jwks_file", CFG_STRING, 0, 0, 0, NULL, c_jwt.j_jwks_file),
	KL("jwt", "algorithms", WSG_MAX_JWT_ALGS, c_jwt.j_algorithms,
	    c_jwt.j_nalgorithms, cfg_is_jwt_alg,
	    "algorithm (HS256, HS384, HS512, RS256 or ES256)"),
	K("jwt", "issuer", CFG_STRING, 0, 0, 0, NULL, c_jwt.j_issuer),
	K("jwt", "audience", CFG_STRING, 0, 0, 0, NULL, c_jwt.j_audience),
	K("jwt", "leeway", CFG_INT, 0, 3600, 30, NULL, c_jwt.j_leeway),
	K("jwt", "required", CFG_BOOL, 0, 1, 1, NULL, c_jwt.j_required),
	K("jwt", "max_token_bytes", CFG_SIZE, 64, 65536, 8192, NULL,
	    c_jwt.j_max_token_bytes),

	K("auth", "socket", CFG_STRING, 0, 0, 0, NULL, c_auth.a_socket),
	/* "" names no framing: -1 until backend.framing is known. */
	KE("auth", "framing", cfg_framing_names, "", c_auth.a_framing),
	KL("auth", "headers", WSG_MAX_AUTH_HEADERS, c_auth.a_headers,
	    c_auth.a_nheaders, cfg_is_token, "header name"),
	K("auth", "timeout", CFG_DURATION, 0.01, 60, 2, NULL,
	    c_auth.a_timeout),
	K("auth", "timeout_status", CFG_INT, 401, 503, 503, NULL,
	    c_auth.a_timeout_status),
	K("auth", "max_pending", CFG_SIZE, 1, 100000, 1024, NULL,
	    c_auth.a_max_pending),
	K("auth", "cache_ttl", CFG_DURATION, 0, 86400, 0, NULL,
	    c_auth.a_cache_ttl),
	K("auth", "cache_size", CFG_SIZE, 1, 1000000, 10000, NULL,
	    c_auth.a_cache_size),

	K("topics", "max_per_socket", CFG_SIZE, 1, 65535, 64, NULL,
	    c_topics_per_socket),
	K("topics", "max_subscribers", CFG_SIZE, 1, 10000000, 1000000, NULL,
	    c_topic_subscribers),
	K("topics", "max_name_bytes", CFG_SIZE, 1, 1024, 128, NULL,
	    c_topic_name_bytes),
	KL("topics", "from_context", WSG_MAX_FIELDS, c_topic_fields,
	    c_ntopic_fields, cfg_is_set, "context field name"),

	K("cluster", "redis", CFG_STRING, 0, 0, 0, NULL, c_cluster.cc_redis),
	K("cluster", "node", CFG_STRING, 0, 0, 0, NULL, c_cluster.cc_node),
	K("cluster", "prefix", CFG_STRING, 0, 0, 0, "wsgate:",
	    c_cluster.cc_prefix),
	K("cluster", "heartbeat", CFG_DURATION, 0.05, 60, 1, NULL,
	    c_cluster.cc_heartbeat),
	K("cluster", "node_ttl", CFG_DURATION, 0.1, 3600, 5, NULL,
	    c_cluster.cc_node_ttl),
	K("cluster", "queue_bytes", CFG_SIZE, 0, 1073741824, 16777216, NULL,
	    c_cluster.cc_queue_bytes),
	K("cluster", "reconnect_min", CFG_DURATION, 0.01, 60, 0.1, NULL,
	    c_cluster.cc_reconnect_min),
	K("cluster", "reconnect_max", CFG_DURATION, 0.01, 600, 5, NULL,
	    c_cluster.cc_reconnect_max),
};
#undef K
#undef KE
#undef KL
#define CFG_NKEYS (sizeof cfg_keys / sizeof cfg_keys[0])

static const char *const cfg_groups[] = {
	"listen", "backend", "context", "limits", "websocket", "log", "admin",
	"jwt", "auth", "topics", "cluster",
	NULL
};

/* Field limits not worth a key of their own. */
#define CFG_FIELD_MAX_LENGTH_DEFAULT	4096
#define CFG_FIELD_MAX_LENGTH_MAX	65536

struct cfg_errors {
	const char	*e_file;
	char		*e_text;
	size_t		 e_len;
	int		 e_count;
};

static void
cfg_error(struct cfg_errors *e, const config_setting_t *s, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));

const char *
cfg_framing_name(enum framing f)
{
	return (cfg_framing_names[f]);
}

const char *
cfg_source_name(enum ctx_source s)
{
	return (cfg_source_names[s]);
}

/* Add "FILE:LINE: message" to the list of errors. */
static void
cfg_error(struct cfg_errors *e, const config_setting_t *s, const char *fmt,
    ...)
{
	const char	*file = NULL;
	char		*msg, *line;
	va_list		 ap;
	int		 n;

	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	if (s != NULL)
		file = config_setting_source_file(s);
	if (file == NULL)
		file = e->e_file;
	if (s != NULL && config_setting_source_line(s) > 0)
		n = xasprintf(&line, "%s:%u: %s\n", file,
		    config_setting_source_line(s), msg);
	else
		n = xasprintf(&line, "%s: %s\n", file, msg);
	e->e_text = xreallocarray(e->e_text, 1, e->e_len + (size_t)n + 1);
	memcpy(e->e_text + e->e_len, line, (size_t)n + 1);
	e->e_len += (size_t)n;
	e->e_count++;
	free(line);
	free(msg);
}

static const struct cfg_key *
cfg_key_find(const char *group, const char *name)
{
	size_t	 i;

	for (i = 0; i < CFG_NKEYS; i++) {
		if (strcmp(cfg_keys[i].k_name, name) != 0)
			continue;
		if ((group == NULL) != (cfg_keys[i].k_group == NULL))
			continue;
		if (group == NULL || strcmp(group, cfg_keys[i].k_group) == 0)
			return (&cfg_keys[i]);
	}
	return (NULL);
}

static int
cfg_name_index(const char *const *names, const char *s)
{
	size_t	 i;

	for (i = 0; names[i] != NULL; i++) {
		if (strcmp(names[i], s) == 0)
			return ((int)i);
	}
	return (-1);
}

/* "a, b or c", for error messages. */
static char *
cfg_name_list(const char *const *names)
{
	char	*out = xstrdup(""), *next;
	size_t	 i;

	for (i = 0; names[i] != NULL; i++) {
		xasprintf(&next, "%s%s%s", out, i == 0 ? "" :
		    names[i + 1] == NULL ? " or " : ", ", names[i]);
		free(out);
		out = next;
	}
	return (out);
}

static int
cfg_is_number(const config_setting_t *s)
{
	int	 t = config_setting_type(s);

	return (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64 ||
	    t == CONFIG_TYPE_FLOAT);
}

static int
cfg_is_integer(const config_setting_t *s)
{
	int	 t = config_setting_type(s);

	return (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64);
}

/* Token characters (RFC 9110 5.6.2), as a subprotocol name must be. */
static int
cfg_is_set(const char *s)
{
	return (s[0] != '\0');
}

static int
cfg_is_token(const char *s)
{
	if (*s == '\0')
		return (0);
	for (; *s != '\0'; s++) {
		if (!isalnum((unsigned char)*s) &&
		    strchr("!#$%&'*+-.^_`|~", *s) == NULL)
			return (0);
	}
	return (1);
}

/* An algorithm jwt.c verifies; "none" is not one. */
static int
cfg_is_jwt_alg(const char *s)
{
	return (jwt_alg_parse(s) != -1);
}

/*
 * An origin as browsers send it (RFC 6454): scheme "://" host [":" port],
 * lower case, with no path.
 */
static int
cfg_is_origin(const char *s)
{
	const char	*p = strstr(s, "://");

	if (p == NULL || p == s || p[3] == '\0')
		return (0);
	for (; *s != '\0'; s++) {
		if (isupper((unsigned char)*s) || *s <= ' ' || *s >= 0x7f ||
		    (s > p + 2 && *s == '/'))
			return (0);
	}
	return (1);
}

static void
cfg_set_defaults(struct cfg *c)
{
	const struct cfg_key	*k;
	char			*p, host[256];
	size_t			 i;

	for (i = 0; i < CFG_NKEYS; i++) {
		k = &cfg_keys[i];
		p = (char *)c + k->k_offset;
		switch (k->k_type) {
		case CFG_INT:
			*(int *)p = (int)k->k_default;
			break;
		case CFG_SIZE:
			*(size_t *)p = (size_t)k->k_default;
			break;
		case CFG_DURATION:
			*(double *)p = k->k_default;
			break;
		case CFG_BOOL:
			*(int *)p = k->k_default != 0;
			break;
		case CFG_STRING:
			if (k->k_sdefault != NULL)
				*(char **)p = xstrdup(k->k_sdefault);
			break;
		case CFG_ENUM:
			*(int *)p = cfg_name_index(k->k_names, k->k_sdefault);
			break;
		case CFG_STRINGS:
		case CFG_FIELDS:
			break;
		}
	}

	/* The instance is named after the host unless configured. */
	if (gethostname(host, sizeof host) == -1 || host[0] == '\0')
		snprintf(host, sizeof host, "wsgated");
	host[sizeof host - 1] = '\0';
	c->c_instance = xstrdup(host);

	/* The default context is token from a cookie, userId from a header. */
	c->c_nfields = 2;
	c->c_fields = xcalloc(2, sizeof *c->c_fields);
	c->c_fields[0].f_name = xstrdup("token");
	c->c_fields[0].f_source = CTX_SOURCE_COOKIE;
	c->c_fields[0].f_key = xstrdup("X-Token");
	c->c_fields[0].f_max_length = CFG_FIELD_MAX_LENGTH_DEFAULT;
	c->c_fields[1].f_name = xstrdup("userId");
	c->c_fields[1].f_source = CTX_SOURCE_HEADER;
	c->c_fields[1].f_key = xstrdup("X-User-Id");
	c->c_fields[1].f_max_length = CFG_FIELD_MAX_LENGTH_DEFAULT;
}

static void
cfg_free_fields(struct cfg *c)
{
	size_t	 i;

	for (i = 0; i < c->c_nfields; i++) {
		free(c->c_fields[i].f_name);
		free(c->c_fields[i].f_key);
	}
	free(c->c_fields);
	c->c_fields = NULL;
	c->c_nfields = 0;
}

static int
cfg_field_name_ok(const char *name)
{
	size_t	 len = strlen(name), i;

	if (len == 0 || len > WSG_FIELD_NAME_MAX)
		return (0);
	for (i = 0; i < len; i++) {
		if (!isalnum((unsigned char)name[i]) && name[i] != '_')
			return (0);
	}
	return (1);
}

/* Read one { name; source; key; required; max_length; } group. */
static void
cfg_read_field(struct cfg_errors *e, config_setting_t *g, struct cfg *c,
    struct ctx_field *f)
{
	config_setting_t	*s;
	const char		*name = NULL, *src = NULL, *key = NULL;
	unsigned int		 i;
	int			 idx, before = e->e_count;
	long long		 v;

	f->f_max_length = CFG_FIELD_MAX_LENGTH_DEFAULT;
	if (!config_setting_is_group(g)) {
		cfg_error(e, g, "context.fields: each field must be a group "
		    "{ name = ...; source = ...; }");
		return;
	}
	for (i = 0; (s = config_setting_get_elem(g, i)) != NULL; i++) {
		const char *n = config_setting_name(s);

		if (strcmp(n, "name") == 0 || strcmp(n, "source") == 0 ||
		    strcmp(n, "key") == 0) {
			if (config_setting_type(s) != CONFIG_TYPE_STRING) {
				cfg_error(e, s, "context field %s: must be a "
				    "string", n);
				continue;
			}
			if (n[0] == 'n')
				name = config_setting_get_string(s);
			else if (n[0] == 's')
				src = config_setting_get_string(s);
			else
				key = config_setting_get_string(s);
		} else if (strcmp(n, "required") == 0) {
			if (config_setting_type(s) != CONFIG_TYPE_BOOL)
				cfg_error(e, s, "context field required: must "
				    "be true or false");
			else
				f->f_required = config_setting_get_bool(s);
		} else if (strcmp(n, "max_length") == 0) {
			if (!cfg_is_integer(s)) {
				cfg_error(e, s, "context field max_length: "
				    "must be an integer");
				continue;
			}
			v = config_setting_get_int64(s);
			if (v < 1 || v > CFG_FIELD_MAX_LENGTH_MAX)
				cfg_error(e, s, "context field max_length: %lld "
				    "is out of range 1..%d", v,
				    CFG_FIELD_MAX_LENGTH_MAX);
			else
				f->f_max_length = (size_t)v;
		} else
			cfg_error(e, s, "context field: unknown key %s", n);
	}

	if (name == NULL)
		cfg_error(e, g, "context field: name is missing");
	else if (!cfg_field_name_ok(name))
		cfg_error(e, g, "context field name \"%s\": use 1 to %d "
		    "letters, digits or _", name, WSG_FIELD_NAME_MAX);
	else if (strcmp(name, "socketId") == 0 ||
	    strcmp(name, "createdAt") == 0)
		cfg_error(e, g, "context field name \"%s\" is reserved", name);
	else {
		for (i = 0; i < c->c_nfields; i++) {
			if (c->c_fields[i].f_name != NULL &&
			    strcmp(c->c_fields[i].f_name, name) == 0)
				cfg_error(e, g, "context field \"%s\" is "
				    "defined twice", name);
		}
	}

	if (src == NULL)
		cfg_error(e, g, "context field: source is missing (one of "
		    "cookie, header, query, peer, jwt)");
	else if ((idx = cfg_name_index(cfg_source_names, src)) == -1)
		cfg_error(e, g, "context field source \"%s\": must be one of "
		    "cookie, header, query, peer, jwt", src);
	else {
		f->f_source = (enum ctx_source)idx;
		if (f->f_source == CTX_SOURCE_PEER && key != NULL)
			cfg_error(e, g, "context field: source peer takes no "
			    "key");
		else if (f->f_source != CTX_SOURCE_PEER && key == NULL)
			cfg_error(e, g, "context field: source %s needs a key",
			    src);
		else if (key != NULL && (*key == '\0' || (f->f_source ==
		    CTX_SOURCE_HEADER && !cfg_is_token(key))))
			cfg_error(e, g, "context field key \"%s\" is not "
			    "valid", key);
	}

	if (e->e_count == before) {
		f->f_name = xstrdup(name);
		if (key != NULL)
			f->f_key = xstrdup(key);
	}
}

static void
cfg_read_fields(struct cfg_errors *e, config_setting_t *s, struct cfg *c)
{
	config_setting_t	*g;
	unsigned int		 i, n;

	if (!config_setting_is_list(s) && !(config_setting_is_array(s) &&
	    config_setting_length(s) == 0)) {
		cfg_error(e, s, "context.fields: must be a list ( { ... }, "
		    "... )");
		return;
	}
	cfg_free_fields(c);
	n = (unsigned int)config_setting_length(s);
	if (n > WSG_MAX_FIELDS) {
		cfg_error(e, s, "context.fields: at most %d fields",
		    WSG_MAX_FIELDS);
		return;
	}
	if (n == 0)
		return;
	c->c_fields = xcalloc(n, sizeof *c->c_fields);
	for (i = 0; i < n; i++) {
		g = config_setting_get_elem(s, i);
		cfg_read_field(e, g, c, &c->c_fields[c->c_nfields]);
		c->c_nfields++;
	}
}

static void
cfg_read_strings(struct cfg_errors *e, const struct cfg_key *k,
    config_setting_t *s, struct cfg *c)
{
	config_setting_t	*el;
	const char		*v;
	char			***list = (char ***)((char *)c + k->k_offset);
	size_t			*count = (size_t *)((char *)c +
				    k->k_count_offset);
	unsigned int		 i, n;

	if (!config_setting_is_array(s) && !config_setting_is_list(s)) {
		cfg_error(e, s, "%s.%s: must be a list of strings "
		    "[ \"a\", \"b\" ]", k->k_group, k->k_name);
		return;
	}
	n = (unsigned int)config_setting_length(s);
	if (n > k->k_max) {
		cfg_error(e, s, "%s.%s: at most %.0f entries", k->k_group,
		    k->k_name, k->k_max);
		return;
	}
	if (n == 0)
		return;
	*list = xcalloc(n, sizeof **list);
	for (i = 0; i < n; i++) {
		el = config_setting_get_elem(s, i);
		if (config_setting_type(el) != CONFIG_TYPE_STRING) {
			cfg_error(e, el, "%s.%s: entries must be strings",
			    k->k_group, k->k_name);
			continue;
		}
		v = config_setting_get_string(el);
		if (!k->k_valid(v)) {
			cfg_error(e, el, "%s.%s: \"%s\" is not a valid %s",
			    k->k_group, k->k_name, v, k->k_what);
			continue;
		}
		(*list)[(*count)++] = xstrdup(v);
	}
}

/* Check and store one setting according to its table entry. */
static void
cfg_read_key(struct cfg_errors *e, const struct cfg_key *k,
    config_setting_t *s, struct cfg *c)
{
	char		*p = (char *)c + k->k_offset;
	const char	*name = k->k_name, *group = k->k_group ? k->k_group : "";
	const char	*dot = k->k_group ? "." : "";
	double		 d;
	int		 idx;

	switch (k->k_type) {
	case CFG_INT:
	case CFG_SIZE:
	case CFG_DURATION:
		if (k->k_type == CFG_DURATION ? !cfg_is_number(s) :
		    !cfg_is_integer(s)) {
			cfg_error(e, s, "%s%s%s: must be %s", group, dot, name,
			    k->k_type == CFG_DURATION ? "a number of seconds" :
			    "an integer");
			return;
		}
		d = config_setting_type(s) == CONFIG_TYPE_FLOAT ?
		    config_setting_get_float(s) :
		    (double)config_setting_get_int64(s);
		if (d < k->k_min || d > k->k_max) {
			cfg_error(e, s, k->k_type == CFG_DURATION ?
			    "%s%s%s: %g is out of range %g..%g" :
			    "%s%s%s: %.0f is out of range %.0f..%.0f",
			    group, dot, name, d, k->k_min, k->k_max);
			return;
		}
		if (k->k_type == CFG_INT)
			*(int *)p = (int)d;
		else if (k->k_type == CFG_SIZE)
			*(size_t *)p = (size_t)d;
		else
			*(double *)p = d;
		break;
	case CFG_BOOL:
		if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
			cfg_error(e, s, "%s%s%s: must be true or false", group,
			    dot, name);
			return;
		}
		*(int *)p = config_setting_get_bool(s);
		break;
	case CFG_STRING:
	case CFG_ENUM:
		if (config_setting_type(s) != CONFIG_TYPE_STRING) {
			cfg_error(e, s, "%s%s%s: must be a string", group, dot,
			    name);
			return;
		}
		if (k->k_type == CFG_STRING) {
			free(*(char **)p);
			*(char **)p = xstrdup(config_setting_get_string(s));
			break;
		}
		idx = cfg_name_index(k->k_names, config_setting_get_string(s));
		if (idx == -1) {
			char *list = cfg_name_list(k->k_names);

			cfg_error(e, s, "%s%s%s: \"%s\" must be %s", group, dot,
			    name, config_setting_get_string(s), list);
			free(list);
		} else
			*(int *)p = idx;
		break;
	case CFG_STRINGS:
		cfg_read_strings(e, k, s, c);
		break;
	case CFG_FIELDS:
		cfg_read_fields(e, s, c);
		break;
	}
}

#define CFG_CREDENTIAL		"credential:"

/*
 * A key file's path. "credential:NAME" is the credential systemd passed
 * the service (LoadCredential=NAME:..., read from $CREDENTIALS_DIRECTORY),
 * which only the service may read; a relative path is taken from the
 * config's directory. NULL with *cause if it cannot be.
 */
static char *
cfg_path(const struct cfg *c, const char *path, char **cause)
{
	const char	*slash = strrchr(c->c_file, '/'), *dir, *name;
	char		*out;

	if (strncmp(path, CFG_CREDENTIAL, strlen(CFG_CREDENTIAL)) == 0) {
		name = path + strlen(CFG_CREDENTIAL);
		if (name[0] == '\0' || strchr(name, '/') != NULL ||
		    strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
			xasprintf(cause, "\"%s\" does not name a credential",
			    path);
			return (NULL);
		}
		if ((dir = getenv("CREDENTIALS_DIRECTORY")) == NULL ||
		    dir[0] != '/') {
			xasprintf(cause, "%s: no credentials: systemd passes "
			    "them to a unit with LoadCredential=%s:FILE "
			    "($CREDENTIALS_DIRECTORY)", path, name);
			return (NULL);
		}
		xasprintf(&out, "%s/%s", dir, name);
		return (out);
	}
	if (path[0] == '/' || slash == NULL)
		return (xstrdup(path));
	xasprintf(&out, "%.*s/%s", (int)(slash - c->c_file), c->c_file, path);
	return (out);
}

/*
 * The file the jwt group's key is read from, to free; NULL if there is
 * none or it is a credential.
 */
char *
cfg_key_file(const struct cfg *c)
{
	const struct jwt_conf	*j = &c->c_jwt;
	const char		*p = j->j_secret_file != NULL ? j->j_secret_file :
				    j->j_public_key_file != NULL ?
				    j->j_public_key_file : j->j_jwks_file;
	char			*cause, *path;

	if (!j->j_enabled || p == NULL || p[0] == '\0' ||
	    strncmp(p, CFG_CREDENTIAL, strlen(CFG_CREDENTIAL)) == 0)
		return (NULL);
	if ((path = cfg_path(c, p, &cause)) == NULL)
		free(cause);
	return (path);
}

/* topics.from_context names fields of the context. */
static void
cfg_check_topics(struct cfg_errors *e, config_t *lc, struct cfg *c)
{
	config_setting_t	*fs = config_lookup(lc, "topics.from_context");
	size_t			 i, j;

	for (i = 0; i < c->c_ntopic_fields; i++) {
		for (j = 0; j < c->c_nfields; j++)
			if (strcmp(c->c_fields[j].f_name,
			    c->c_topic_fields[i]) == 0)
				break;
		if (j == c->c_nfields)
			cfg_error(e, fs ? config_setting_get_elem(fs,
			    (unsigned int)i) : NULL, "topics.from_context: "
			    "\"%s\" is not a field of the context",
			    c->c_topic_fields[i]);
	}
}

/*
 * The jwt group: one key file, loaded now so that a bad one is an error
 * of the file (and a reload reads it again), and algorithms that fit it.
 */
static void
cfg_check_jwt(struct cfg_errors *e, config_t *lc, struct cfg *c)
{
	static const char *const files[] = {
		"secret_file", "public_key_file", "jwks_file"
	};
	struct jwt_conf		*j = &c->c_jwt;
	config_setting_t	*fs, *s = NULL;
	char			*const paths[] = {
		j->j_secret_file, j->j_public_key_file, j->j_jwks_file
	};
	char			*path, *cause, *what, name[32];
	unsigned int		 fit;
	size_t			 i, n = 0, which = 0;

	fs = config_lookup(lc, "context.fields");
	for (i = 0; i < c->c_nfields; i++) {
		if (c->c_fields[i].f_source == CTX_SOURCE_JWT && !j->j_enabled)
			cfg_error(e, fs ? config_setting_get_elem(fs,
			    (unsigned int)i) : NULL, "context field %s: "
			    "source jwt needs the jwt group",
			    c->c_fields[i].f_name);
	}
	if (!j->j_enabled)
		return;

	if (j->j_key[0] == '\0' || (j->j_source == CTX_SOURCE_HEADER &&
	    !cfg_is_token(j->j_key)))
		cfg_error(e, config_lookup(lc, "jwt.key"), "jwt.key: \"%s\" is "
		    "not valid", j->j_key);
	for (i = 0; i < 3; i++) {
		if (paths[i] == NULL)
			continue;
		n++;
		which = i;
		snprintf(name, sizeof name, "jwt.%s", files[i]);
		s = config_lookup(lc, name);
		if (paths[i][0] == '\0')
			cfg_error(e, s, "jwt.%s: must not be empty", files[i]);
	}
	if (n != 1) {
		cfg_error(e, n == 0 ? config_lookup(lc, "jwt") : s,
		    "jwt: exactly one of secret_file, public_key_file and "
		    "jwks_file is needed");
		return;
	}
	if (j->j_nalgorithms == 0) {
		cfg_error(e, (s = config_lookup(lc, "jwt.algorithms")) ? s :
		    config_lookup(lc, "jwt"), "jwt.algorithms: the algorithms "
		    "to accept are required, e.g. [ \"HS256\" ]");
		return;
	}
	for (i = 0; i < j->j_nalgorithms; i++)
		j->j_algs |= 1U << jwt_alg_parse(j->j_algorithms[i]);
	if (paths[which][0] == '\0')
		return;

	snprintf(name, sizeof name, "jwt.%s", files[which]);
	s = config_lookup(lc, name);
	if ((path = cfg_path(c, paths[which], &cause)) != NULL) {
		j->j_keys = jwt_keys_load((enum jwt_keysrc)which, path,
		    &cause);
		free(path);
	}
	if (j->j_keys == NULL) {
		cfg_error(e, s, "%s: %s", name, cause);
		free(cause);
		return;
	}
	/* An algorithm the key cannot verify is a mistake, never a fallback. */
	fit = jwt_keys_algs(j->j_keys);
	for (i = 0; i <= JWT_ES256; i++) {
		if ((j->j_algs & 1U << i) == 0 || (fit & 1U << i) != 0)
			continue;
		what = jwt_keys_describe(j->j_keys);
		cfg_error(e, config_lookup(lc, "jwt.algorithms"),
		    "jwt.algorithms: %s cannot be verified with %s (%s)",
		    jwt_alg_name((enum jwt_alg)i), name, what);
		free(what);
	}
}

/*
 * cluster.redis: "/path" of a Unix socket, or an IP address and a port,
 * "127.0.0.1:6379" or "[::1]:6379". A name would need a lookup, which
 * must not block the main thread: use an address.
 */
int
cfg_redis_address(const char *s, char *host, size_t hostlen, int *port)
{
	const char	*colon, *h = s;
	char		*end, tmp[INET6_ADDRSTRLEN];
	unsigned char	 addr[sizeof(struct in6_addr)];
	size_t		 n;
	long		 p;

	if (s[0] == '/') {
		if (strlen(s) >= 108 || strlen(s) >= hostlen)
			return (-1);
		snprintf(host, hostlen, "%s", s);
		*port = 0;
		return (0);
	}
	if ((colon = strrchr(s, ':')) == NULL || colon == s)
		return (-1);
	n = (size_t)(colon - s);
	if (s[0] == '[') {
		if (n < 3 || s[n - 1] != ']')
			return (-1);
		h = s + 1;
		n -= 2;
	}
	if (n >= sizeof tmp || n >= hostlen)
		return (-1);
	memcpy(tmp, h, n);
	tmp[n] = '\0';
	if (inet_pton(s[0] == '[' ? AF_INET6 : AF_INET, tmp, addr) != 1)
		return (-1);
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || end == colon + 1 || p < 1 ||
	    p > 65535)
		return (-1);
	snprintf(host, hostlen, "%s", tmp);
	*port = (int)p;
	return (0);
}

/* A node name or a prefix: printable ASCII, no blank. */
static int
cfg_is_name(const char *s, size_t max)
{
	size_t	 len = strlen(s), i;

	if (len == 0 || len > max)
		return (0);
	for (i = 0; i < len; i++) {
		if (s[i] <= ' ' || s[i] >= 0x7f)
			return (0);
	}
	return (1);
}

/* The cluster group: its keys mean nothing without cluster.redis. */
static void
cfg_check_cluster(struct cfg_errors *e, config_t *lc, struct cfg *c)
{
	struct cluster_conf	*cc = &c->c_cluster;
	config_setting_t	*s;
	char			 host[108];
	int			 port;

	if (config_lookup(lc, "cluster") == NULL)
		return;
	if (cc->cc_redis == NULL) {
		cfg_error(e, config_lookup(lc, "cluster"), "cluster.redis: "
		    "required in the cluster group, e.g. \"127.0.0.1:6379\"");
		return;
	}
	if (cfg_redis_address(cc->cc_redis, host, sizeof host, &port) == -1)
		cfg_error(e, config_lookup(lc, "cluster.redis"),
		    "cluster.redis: \"%s\" is neither ADDRESS:PORT with an IP "
		    "address nor the /path of a Unix socket", cc->cc_redis);
	if (cc->cc_node != NULL && !cfg_is_name(cc->cc_node, CMSG_NODE_MAX))
		cfg_error(e, config_lookup(lc, "cluster.node"),
		    "cluster.node: must be 1 to %d printable characters, no "
		    "blank", CMSG_NODE_MAX);
	if (!cfg_is_name(cc->cc_prefix, 64))
		cfg_error(e, config_lookup(lc, "cluster.prefix"),
		    "cluster.prefix: must be 1 to 64 printable characters, no "
		    "blank");
	if (cc->cc_node_ttl < 2 * cc->cc_heartbeat)
		cfg_error(e, (s = config_lookup(lc, "cluster.node_ttl")) ?
		    s : config_lookup(lc, "cluster.heartbeat"),
		    "cluster.node_ttl: %g must be at least twice "
		    "cluster.heartbeat %g", cc->cc_node_ttl, cc->cc_heartbeat);
	if (cc->cc_reconnect_min > cc->cc_reconnect_max)
		cfg_error(e, (s = config_lookup(lc, "cluster.reconnect_min")) ?
		    s : config_lookup(lc, "cluster.reconnect_max"),
		    "cluster.reconnect_min: %g is greater than "
		    "cluster.reconnect_max %g", cc->cc_reconnect_min,
		    cc->cc_reconnect_max);
}

/* Checks that involve more than one key. */
static void
cfg_check(struct cfg_errors *e, config_t *lc, struct cfg *c)
{
	config_setting_t	*s;

	if (c->c_listen_path[0] != '/' ||
	    strpbrk(c->c_listen_path, "?# \t") != NULL) {
		s = config_lookup(lc, "listen.path");
		cfg_error(e, s, "listen.path: \"%s\" must start with / and "
		    "hold no ?, # or blanks", c->c_listen_path);
	}
	if (strcmp(c->c_listen_path, "/healthz") == 0)
		cfg_error(e, config_lookup(lc, "listen.path"),
		    "listen.path: /healthz is the health check");
	if (c->c_listen_address[0] == '\0')
		cfg_error(e, config_lookup(lc, "listen.address"),
		    "listen.address: must not be empty");
	if (c->c_admin_address[0] == '\0')
		cfg_error(e, config_lookup(lc, "admin.address"),
		    "admin.address: must not be empty");
	if (c->c_admin_port != 0 && c->c_admin_port == c->c_listen_port &&
	    strcmp(c->c_admin_address, c->c_listen_address) == 0)
		cfg_error(e, config_lookup(lc, "admin.port"),
		    "admin.port: %d is listen.port", c->c_admin_port);
	if (c->c_backend_socket[0] == '\0' ||
	    strlen(c->c_backend_socket) >= 108)
		cfg_error(e, config_lookup(lc, "backend.socket"),
		    "backend.socket: the path must be 1 to 107 bytes long");
	if (c->c_instance[0] == '\0' || strlen(c->c_instance) > 255)
		cfg_error(e, config_lookup(lc, "instance"),
		    "instance: must be 1 to 255 bytes long");
	if (c->c_ping_interval > 0 && c->c_idle_timeout > 0 &&
	    ceil(c->c_idle_timeout) <= ceil(c->c_ping_interval))
		cfg_error(e, (s = config_lookup(lc, "limits.idle_timeout")) ?
		    s : config_lookup(lc, "websocket.ping_interval"),
		    "limits.idle_timeout: %g must be greater than "
		    "websocket.ping_interval %g", c->c_idle_timeout,
		    c->c_ping_interval);
	if (c->c_reconnect_min > c->c_reconnect_max)
		cfg_error(e, (s = config_lookup(lc, "backend.reconnect_min")) ?
		    s : config_lookup(lc, "backend.reconnect_max"),
		    "backend.reconnect_min: %g is greater than "
		    "backend.reconnect_max %g", c->c_reconnect_min,
		    c->c_reconnect_max);
	if (!wsg_close_code_valid((unsigned int)c->c_refused_close_code))
		cfg_error(e, config_lookup(lc, "backend.refused_close_code"),
		    "backend.refused_close_code: %d is not a code a close "
		    "frame may carry", c->c_refused_close_code);
	rate_init(&c->c_rate_messages, (double)c->c_message_rate,
	    (double)c->c_message_burst);
	rate_init(&c->c_rate_bytes, (double)c->c_byte_rate,
	    (double)c->c_byte_burst);
	rate_init(&c->c_rate_connections, (double)c->c_connection_rate,
	    (double)c->c_connection_burst);
	cfg_check_jwt(e, lc, c);
	cfg_check_topics(e, lc, c);
	cfg_check_cluster(e, lc, c);

	if (c->c_auth.a_framing == -1)
		c->c_auth.a_framing = (int)c->c_backend_framing;
	if (c->c_auth.a_socket != NULL && (c->c_auth.a_socket[0] == '\0' ||
	    strlen(c->c_auth.a_socket) >= 108))
		cfg_error(e, config_lookup(lc, "auth.socket"),
		    "auth.socket: the path must be 1 to 107 bytes long");
	if (c->c_auth.a_timeout_status != 401 &&
	    c->c_auth.a_timeout_status != 403 &&
	    c->c_auth.a_timeout_status != 503)
		cfg_error(e, config_lookup(lc, "auth.timeout_status"),
		    "auth.timeout_status: %d must be 401, 403 or 503",
		    c->c_auth.a_timeout_status);
}

static struct cfg *
cfg_read(config_t *lc, const char *file, int ok, char **errs)
{
	struct cfg_errors	 e = { .e_file = file };
	struct cfg		*c;
	config_setting_t	*root, *s, *g;
	const struct cfg_key	*k;
	unsigned int		 i, j;

	if (!ok) {
		xasprintf(&e.e_text, "%s:%d: %s\n",
		    config_error_file(lc) ? config_error_file(lc) : file,
		    config_error_line(lc), config_error_text(lc));
		*errs = e.e_text;
		return (NULL);
	}

	c = xcalloc(1, sizeof *c);
	c->c_refs = 1;
	c->c_file = xstrdup(file);
	cfg_set_defaults(c);

	root = config_root_setting(lc);
	for (i = 0; (s = config_setting_get_elem(root, i)) != NULL; i++) {
		const char *name = config_setting_name(s);

		if (config_setting_is_group(s) && cfg_name_index(cfg_groups, name) != -1) {
			if (strcmp(name, "jwt") == 0)
				c->c_jwt.j_enabled = 1;
			for (j = 0; (g = config_setting_get_elem(s, j)) !=
			    NULL; j++) {
				k = cfg_key_find(name, config_setting_name(g));
				if (k == NULL)
					cfg_error(&e, g, "unknown key %s.%s",
					    name, config_setting_name(g));
				else
					cfg_read_key(&e, k, g, c);
			}
			continue;
		}
		if ((k = cfg_key_find(NULL, name)) != NULL)
			cfg_read_key(&e, k, s, c);
		else if (cfg_name_index(cfg_groups, name) != -1)
			cfg_error(&e, s, "%s: must be a group { ... }", name);
		else
			cfg_error(&e, s, "unknown key %s", name);
	}
	if (e.e_count == 0)
		cfg_check(&e, lc, c);

	if (e.e_count != 0) {
		cfg_free(c);
		*errs = e.e_text;
		return (NULL);
	}
	*errs = NULL;
	return (c);
}

/*
 * Load a configuration file. On failure return NULL with *errs set to
 * the error lines, to be freed by the caller.
 */
struct cfg *
cfg_load(const char *file, char **errs)
{
	config_t	 lc;
	struct cfg	*c;
	FILE		*f;

	if ((f = fopen(file, "r")) == NULL) {
		xasprintf(errs, "%s: %s\n", file, strerror(errno));
		return (NULL);
	}
	fclose(f);
	config_init(&lc);
	c = cfg_read(&lc, file, config_read_file(&lc, file) == CONFIG_TRUE,
	    errs);
	config_destroy(&lc);
	return (c);
}

/*
 * Settings that work but that an operator likely did not mean: one line
 * each, to free, or NULL. wsgated -t prints them, and the daemon logs
 * them at start and at each reload.
 */
char *
cfg_warnings(const struct cfg *c)
{
	struct buf	 b;
	size_t		 send = 6 * c->c_max_message_bytes + 128;
	char		*line, *text;

	buf_init(&b);
	if (c->c_max_frame_bytes < send) {
		xasprintf(&line, "backend.max_frame_bytes %zu is less than a "
		    "send carrying the largest message limits.max_message_bytes "
		    "allows, up to %zu bytes\n", c->c_max_frame_bytes, send);
		buf_add(&b, line, strlen(line));
		free(line);
	}
	if (c->c_byte_rate > 0 && c->c_byte_burst < c->c_max_message_bytes) {
		xasprintf(&line, "limits.byte_burst %zu is less than "
		    "limits.max_message_bytes %zu: a message that large, sent "
		    "at once, is over limits.byte_rate\n", c->c_byte_burst,
		    c->c_max_message_bytes);
		buf_add(&b, line, strlen(line));
		free(line);
	}
	/*
	 * The message, not the whole event: an auth hook's answer could
	 * make every context up to max_frame_bytes, but none does.
	 */
	if (c->c_queue_bytes < send) {
		xasprintf(&line, "backend.queue_bytes %zu is less than an "
		    "event carrying the largest message, up to %zu bytes and "
		    "more with the context: each such event stops reading from "
		    "the worker's clients\n", c->c_queue_bytes, send);
		buf_add(&b, line, strlen(line));
		free(line);
	}
	if (buf_used(&b) == 0) {
		buf_free(&b);
		return (NULL);
	}
	text = xmalloc(buf_used(&b) + 1);
	memcpy(text, buf_data(&b), buf_used(&b));
	text[buf_used(&b)] = '\0';
	buf_free(&b);
	return (text);
}

/* Load a configuration from a string; file names it in errors. */
struct cfg *
cfg_parse(const char *text, const char *file, char **errs)
{
	config_t	 lc;
	struct cfg	*c;

	config_init(&lc);
	c = cfg_read(&lc, file, config_read_string(&lc, text) == CONFIG_TRUE,
	    errs);
	config_destroy(&lc);
	return (c);
}

/*
 * A configuration is shared, read-only, by the threads that use it: each
 * holds a reference, and the last cfg_free() frees it.
 */
struct cfg *
cfg_ref(struct cfg *c)
{
	__atomic_fetch_add(&c->c_refs, 1, __ATOMIC_RELAXED);
	return (c);
}

/* Two strings, either of which may be NULL, are the same. */
static int
cfg_same(const char *a, const char *b)
{
	return (a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0);
}

/*
 * The keys that differ between two configurations but only take effect
 * at a restart, as "a, b" (the caller frees), or NULL if there are none.
 */
char *
cfg_restart_keys(const struct cfg *old, const struct cfg *new)
{
	char	*out = NULL, *next;
	size_t	 i;
	int	 subs = old->c_nsubprotocols != new->c_nsubprotocols;

	for (i = 0; !subs && i < old->c_nsubprotocols; i++)
		subs = strcmp(old->c_subprotocols[i], new->c_subprotocols[i]);
#define CFG_CHANGED(cond, name) do {					\
	if (cond) {							\
		xasprintf(&next, "%s%s%s", out ? out : "", out ? ", " : "", \
		    name);						\
		free(out);						\
		out = next;						\
	}								\
} while (0)
	CFG_CHANGED(old->c_workers != new->c_workers, "workers");
	CFG_CHANGED(strcmp(old->c_listen_address, new->c_listen_address),
	    "listen.address");
	CFG_CHANGED(old->c_listen_port != new->c_listen_port, "listen.port");
	CFG_CHANGED(subs, "listen.subprotocols");
	CFG_CHANGED(strcmp(old->c_backend_socket, new->c_backend_socket),
	    "backend.socket");
	CFG_CHANGED(old->c_backend_framing != new->c_backend_framing,
	    "backend.framing");
	CFG_CHANGED(old->c_compression != new->c_compression,
	    "websocket.compression");
	CFG_CHANGED(old->c_rx_buffer_bytes != new->c_rx_buffer_bytes,
	    "websocket.rx_buffer_bytes");
	CFG_CHANGED((old->c_auth.a_socket == NULL) !=
	    (new->c_auth.a_socket == NULL) || (old->c_auth.a_socket != NULL &&
	    strcmp(old->c_auth.a_socket, new->c_auth.a_socket) != 0),
	    "auth.socket");
	/* Unset, it follows backend.framing: only named when in use. */
	CFG_CHANGED((old->c_auth.a_socket != NULL ||
	    new->c_auth.a_socket != NULL) &&
	    old->c_auth.a_framing != new->c_auth.a_framing, "auth.framing");
	CFG_CHANGED(strcmp(old->c_admin_address, new->c_admin_address),
	    "admin.address");
	CFG_CHANGED(old->c_admin_port != new->c_admin_port, "admin.port");
	CFG_CHANGED(!cfg_same(old->c_cluster.cc_redis,
	    new->c_cluster.cc_redis), "cluster.redis");
	CFG_CHANGED(!cfg_same(old->c_cluster.cc_node, new->c_cluster.cc_node),
	    "cluster.node");
	/* Meaningless without a cluster, as the default is. */
	CFG_CHANGED((old->c_cluster.cc_redis != NULL ||
	    new->c_cluster.cc_redis != NULL) &&
	    strcmp(old->c_cluster.cc_prefix, new->c_cluster.cc_prefix) != 0,
	    "cluster.prefix");
#undef CFG_CHANGED
	return (out);
}

void
cfg_free(struct cfg *c)
{
	const struct cfg_key	*k;
	char			*p, **list;
	size_t			 i, n;

	if (c == NULL || __atomic_sub_fetch(&c->c_refs, 1,
	    __ATOMIC_ACQ_REL) > 0)
		return;
	/* Every string and list of strings is a key of the table. */
	for (k = cfg_keys; k < cfg_keys + CFG_NKEYS; k++) {
		p = (char *)c + k->k_offset;
		if (k->k_type == CFG_STRING)
			free(*(char **)p);
		else if (k->k_type == CFG_STRINGS) {
			list = *(char ***)p;
			n = *(size_t *)((char *)c + k->k_count_offset);
			for (i = 0; i < n; i++)
				free(list[i]);
			free(list);
		}
	}
	free(c->c_file);
	cfg_free_fields(c);
	jwt_keys_free(c->c_jwt.j_keys);
	free(c);
}

/* A duration key's seconds as a struct timeval, for a timer. */
void
cfg_timeval(double secs, struct timeval *tv)
{
	tv->tv_sec = (time_t)secs;
	tv->tv_usec = (suseconds_t)((secs - (double)tv->tv_sec) * 1e6);
}
