/*
 * wsgated: a WebSocket gateway that forwards every client event, with a
 * per-connection JSON context, to a backend over a Unix socket.
 *
 * Shared structures, named limits and the prototypes of every module,
 * grouped by the file that defines them.
 */
#ifndef WSGATED_H
#define WSGATED_H

#include <sys/types.h>
#include <sys/queue.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define WSG_CONF_FILE		SYSCONFDIR "/wsgate/wsgate.conf"

/* A socket id is 128 random bits in URL-safe base64 without padding. */
#define WSG_ID_BYTES		16
#define WSG_ID_LEN		22

#define WSG_MAX_WORKERS		64	/* workers */
#define WSG_MAX_FIELDS		64	/* context.fields */
#define WSG_FIELD_NAME_MAX	64	/* context.fields[].name */
#define WSG_MAX_SUBPROTOCOLS	16	/* listen.subprotocols */
#define WSG_MAX_ORIGINS		64	/* listen.allowed_origins */
#define WSG_CLOSE_REASON_MAX	123	/* RFC 6455 5.5: 125 - 2 code bytes */

/* Close codes wsgated itself uses (RFC 6455 section 7.4.1). */
#define WSG_CLOSE_NORMAL	1000
#define WSG_CLOSE_GOING_AWAY	1001
#define WSG_CLOSE_PROTOCOL	1002
#define WSG_CLOSE_NO_STATUS	1005
#define WSG_CLOSE_ABNORMAL	1006
#define WSG_CLOSE_BAD_DATA	1007
#define WSG_CLOSE_POLICY	1008
#define WSG_CLOSE_TOO_BIG	1009
#define WSG_CLOSE_INTERNAL	1011
#define WSG_CLOSE_TRY_AGAIN	1013

/*
 * May an endpoint send this close code (RFC 6455 7.4.1, 7.4.2 and IANA's
 * registry)? Not 1004-1006 or 1015, which are never sent, nor undefined
 * ones.
 */
static inline int
wsg_close_code_valid(unsigned int code)
{
	return ((code >= 1000 && code <= 1003) || (code >= 1007 &&
	    code <= 1014) || (code >= 3000 && code <= 4999));
}

/* buf.c */
struct buf {
	unsigned char	*b_data;
	size_t		 b_off;		/* start of unread bytes */
	size_t		 b_len;		/* end of unread bytes */
	size_t		 b_cap;
};
void		 buf_init(struct buf *);
void		 buf_free(struct buf *);
void		*buf_reserve(struct buf *, size_t);
void		 buf_add(struct buf *, const void *, size_t);
void		 buf_commit(struct buf *, size_t);
void		 buf_drain(struct buf *, size_t);
void		 buf_reset(struct buf *);
static inline const unsigned char *
buf_data(const struct buf *b)
{
	/* Never NULL, even before the first byte: memchr() and memcpy()
	 * must not be handed a null pointer, whatever the length. */
	return (b->b_data != NULL ? b->b_data + b->b_off :
	    (const unsigned char *)"");
}
static inline size_t
buf_used(const struct buf *b)
{
	return (b->b_len - b->b_off);
}

/* xmalloc.c */
void		*xmalloc(size_t);
void		*xcalloc(size_t, size_t);
void		*xreallocarray(void *, size_t, size_t);
char		*xstrdup(const char *);
char		*xstrndup(const char *, size_t);
int		 xasprintf(char **, const char *, ...)
		     __attribute__((format(printf, 2, 3)));
int		 xvasprintf(char **, const char *, va_list)
		     __attribute__((format(printf, 2, 0)));

/* log.c */
enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARNING,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG
};
extern const char *const log_level_names[];
void		 log_init(int, enum log_level);
void		 log_setlevel(enum log_level);
enum log_level	 log_getlevel(void);
const char	*log_level_name(enum log_level);
int		 log_level_parse(const char *, enum log_level *);
void		 log_warn(const char *, ...)
		     __attribute__((format(printf, 1, 2)));
void		 log_warnx(const char *, ...)
		     __attribute__((format(printf, 1, 2)));
void		 log_info(const char *, ...)
		     __attribute__((format(printf, 1, 2)));
void		 log_debug(const char *, ...)
		     __attribute__((format(printf, 1, 2)));
void		 fatal(const char *, ...)
		     __attribute__((format(printf, 1, 2), noreturn));
void		 fatalx(const char *, ...)
		     __attribute__((format(printf, 1, 2), noreturn));
void		 log_lws_cb(int, const char *);
void		 log_event_cb(int, const char *);
#define log_debug_enabled() (log_getlevel() >= LOG_LEVEL_DEBUG)
char		*log_escape(const void *, size_t, size_t);

/* cfg.c */
enum framing {
	FRAMING_LENGTH_PREFIXED,
	FRAMING_NDJSON
};

enum down_action {
	DOWN_KEEP,		/* backend.down_action "keep" */
	DOWN_CLOSE		/* "close": 1013 to every client */
};

enum send_queue_policy {
	SENDQ_CLOSE,		/* limits.send_queue_policy "close": 1008 */
	SENDQ_DROP		/* "drop": drop the new message */
};

enum rate_action {
	RATE_PAUSE,		/* limits.rate_action "pause": stop reading */
	RATE_CLOSE		/* "close": 1008 */
};

/* A rate limit (rate.c); read-only once made. */
struct rate {
	int64_t		 r_interval;	/* ns per unit; 0: no limit */
	int64_t		 r_tolerance;	/* ns: the burst's worth */
};

enum ctx_source {
	CTX_SOURCE_COOKIE,
	CTX_SOURCE_HEADER,
	CTX_SOURCE_QUERY,
	CTX_SOURCE_PEER,
	CTX_SOURCE_JWT		/* a claim of the verified token */
};

struct ctx_field {
	char		*f_name;
	enum ctx_source	 f_source;
	char		*f_key;		/* NULL for CTX_SOURCE_PEER; the
					   claim's name for CTX_SOURCE_JWT */
	int		 f_required;
	size_t		 f_max_length;
};

/* The jwt group: where a token is, and what makes it valid. */
#define WSG_MAX_JWT_ALGS	8	/* jwt.algorithms */
struct jwt_keys;
struct jwt_conf {
	int		 j_enabled;	/* the group is present */
	enum ctx_source	 j_source;	/* cookie, header or query */
	char		*j_key;
	char		*j_secret_file;
	char		*j_public_key_file;
	char		*j_jwks_file;
	char		**j_algorithms;
	size_t		 j_nalgorithms;
	unsigned int	 j_algs;	/* 1 << enum jwt_alg, from the above */
	char		*j_issuer;	/* NULL: not checked */
	char		*j_audience;	/* NULL: not checked */
	int		 j_leeway;	/* seconds, for exp and nbf */
	int		 j_required;
	size_t		 j_max_token_bytes;
	struct jwt_keys	*j_keys;	/* loaded with the file */
};

/* The auth group: the service asked before each upgrade. */
#define WSG_MAX_AUTH_HEADERS	32	/* auth.headers */
struct auth_conf {
	char		*a_socket;	/* NULL: no auth hook */
	int		 a_framing;	/* enum framing */
	char		**a_headers;
	size_t		 a_nheaders;
	double		 a_timeout;
	int		 a_timeout_status;	/* 401, 403 or 503 */
	size_t		 a_max_pending;
	double		 a_cache_ttl;	/* 0: no cache */
	size_t		 a_cache_size;
};

/* The cluster group: the Redis link that makes several wsgated one. */
struct cluster_conf {
	char		*cc_redis;	/* NULL: no cluster */
	char		*cc_node;	/* NULL: instance ":" random */
	char		*cc_prefix;
	double		 cc_heartbeat;
	double		 cc_node_ttl;
	size_t		 cc_queue_bytes;
	double		 cc_reconnect_min;
	double		 cc_reconnect_max;
};

struct cfg {
	char		*c_file;
	int		 c_refs;	/* atomic; cfg_free drops one */

	int		 c_workers;
	double		 c_shutdown_timeout;
	char		*c_instance;

	char		*c_listen_address;
	int		 c_listen_port;
	char		*c_listen_path;
	char		**c_subprotocols;
	size_t		 c_nsubprotocols;
	char		**c_allowed_origins;
	size_t		 c_nallowed_origins;

	char		*c_backend_socket;
	enum framing	 c_backend_framing;
	double		 c_reconnect_min;
	double		 c_reconnect_max;
	size_t		 c_max_frame_bytes;
	size_t		 c_queue_bytes;
	int		 c_frame_attempts;
	int		 c_refused_close_code;
	double		 c_down_timeout;
	enum down_action c_down_action;

	struct ctx_field *c_fields;
	size_t		 c_nfields;

	struct jwt_conf	 c_jwt;
	struct auth_conf c_auth;
	struct cluster_conf c_cluster;

	size_t		 c_max_head_bytes;
	size_t		 c_max_headers;
	double		 c_handshake_timeout;
	size_t		 c_max_message_bytes;
	size_t		 c_max_connections;
	size_t		 c_max_connections_per_ip;
	size_t		 c_max_send_queue_bytes;
	enum send_queue_policy c_send_queue_policy;
	double		 c_idle_timeout;
	size_t		 c_message_rate;	/* per connection, a second */
	size_t		 c_message_burst;
	size_t		 c_byte_rate;
	size_t		 c_byte_burst;
	enum rate_action c_rate_action;
	size_t		 c_connection_rate;	/* per address, a second */
	size_t		 c_connection_burst;
	struct rate	 c_rate_messages;	/* from the keys above */
	struct rate	 c_rate_bytes;
	struct rate	 c_rate_connections;

	double		 c_ping_interval;
	int		 c_compression;
	size_t		 c_rx_buffer_bytes;

	enum log_level	 c_log_level;

	char		*c_admin_address;
	int		 c_admin_port;	/* 0: no admin listener */

	size_t		 c_topics_per_socket;
	size_t		 c_topic_subscribers;	/* per topic, this node */
	size_t		 c_topic_name_bytes;
	char		**c_topic_fields;	/* subscribed to at open */
	size_t		 c_ntopic_fields;
};
struct cfg	*cfg_load(const char *, char **);
char		*cfg_warnings(const struct cfg *);
char		*cfg_key_file(const struct cfg *);
struct cfg	*cfg_parse(const char *, const char *, char **);
struct cfg	*cfg_ref(struct cfg *);
void		 cfg_free(struct cfg *);
char		*cfg_restart_keys(const struct cfg *, const struct cfg *);
struct timeval;
void		 cfg_timeval(double, struct timeval *);
const char	*cfg_framing_name(enum framing);
const char	*cfg_source_name(enum ctx_source);
int		 cfg_redis_address(const char *, char *, size_t, int *);

/* http.c */
struct http_header {
	const char	*h_name;
	size_t		 h_namelen;
	const char	*h_value;	/* without surrounding whitespace */
	size_t		 h_valuelen;
};

struct http_request {
	const char	*r_method;
	size_t		 r_methodlen;
	const char	*r_target;
	size_t		 r_targetlen;
	int		 r_minor;	/* HTTP/1.r_minor */
	struct http_header *r_headers;
	size_t		 r_nheaders;
};

/* What the front door forwards to libwebsockets for a valid upgrade. */
#define HTTP_PMD_SERVER_NO_TAKEOVER	0x1
#define HTTP_PMD_CLIENT_NO_TAKEOVER	0x2
struct http_upgrade {
	const char	*u_key;		/* Sec-WebSocket-Key, 24 characters */
	int		 u_deflate;	/* a permessage-deflate offer taken */
	int		 u_deflate_opts; /* its HTTP_PMD_* parameters */
	const char	*u_protocol;	/* chosen subprotocol or NULL */
	size_t		 u_protocollen;
};

ssize_t		 http_head_end(const char *, size_t, size_t);
int		 http_parse(const char *, size_t, struct http_header *, size_t,
		     struct http_request *, const char **);
const struct http_header *http_header_find(const struct http_request *,
		     const char *, size_t *);
int		 http_path_is(const struct http_request *, const char *);
int		 http_upgrade_check(const struct http_request *,
		     char *const *, size_t, struct http_upgrade *,
		     const char **);
int		 http_cookie_get(const struct http_request *, const char *,
		     const char **, size_t *);
int		 http_query_get(const struct http_request *, const char *,
		     char **, size_t *);
int		 http_token_list_has(const char *, size_t, const char *);
const char	*http_status_text(int);

/* b64.c */
size_t		 b64_encoded_len(size_t);
void		 b64_encode(const void *, size_t, char *);
ssize_t		 b64_decode(const char *, size_t, void *);
int		 b64_value(unsigned char, int);

/* utf8.c */
int		 utf8_check(uint32_t *, const void *, size_t);
int		 utf8_valid(const void *, size_t);

/* jstr.c */
size_t		 jstr_plain_len(const void *, size_t);
size_t		 jstr_ascii_len(const void *, size_t);
ssize_t		 jstr_unescape(const char *, size_t, char *);

/*
 * A command for sockets, whoever gave it: a backend, the admin listener,
 * or another node of a cluster. ws_apply carries it out on this node;
 * cluster_forward carries the part this node cannot to the others.
 */
enum wscmd_op {
	WSCMD_SEND,		/* c_data, c_len, c_binary */
	WSCMD_CLOSE,		/* c_code, c_reason */
	WSCMD_SUBSCRIBE,	/* c_topic: to WSCMD_TO_SOCKET only */
	WSCMD_UNSUBSCRIBE
};
enum wscmd_to {
	WSCMD_TO_SOCKET,	/* c_key: a socket id */
	WSCMD_TO_SOCKETS,	/* c_ids: c_nids socket ids */
	WSCMD_TO_USER,		/* c_key: a userId */
	WSCMD_TO_TOPIC,		/* c_key: a topic; c_exclude: NULL or an id */
	WSCMD_TO_ALL
};
struct wscmd {
	enum wscmd_op	 c_op;
	enum wscmd_to	 c_to;
	const char	*c_key;
	size_t		 c_keylen;
	const char *const *c_ids;	/* each NUL-terminated */
	size_t		 c_nids;
	const char	*c_exclude;
	const char	*c_topic;
	size_t		 c_topiclen;
	const void	*c_data;	/* decoded: the bytes to send */
	size_t		 c_len;
	int		 c_binary;
	int		 c_code;
	const char	*c_reason;	/* NUL-terminated, "" if none */
};
/* cmd.c */
struct cmd_send {
	const char	*cs_id;		/* socketId, inside the frame */
	size_t		 cs_idlen;
	const char	*cs_data;	/* data as written, quotes excluded */
	size_t		 cs_datalen;
	int		 cs_escaped;	/* data holds escapes: jstr_unescape */
	int		 cs_binary;
};
int		 cmd_scan_send(const char *, size_t, struct cmd_send *);
/* A backend's command, read: the address and data point into the object. */
struct cmd {
	struct wscmd	 cm_cmd;
	const char	**cm_ids;	/* socketIds */
	unsigned char	*cm_dec;	/* binary data, decoded */
};
enum cmd_error {
	CMD_OK,
	CMD_BAD_FIELD,
	CMD_UNKNOWN_TYPE
};
enum cmd_error	 cmd_parse(json_t *, size_t, struct cmd *, char *, size_t);
void		 cmd_free(struct cmd *);

/* iplimit.c */
int		 iplimit_acquire(const char *, size_t);
void		 iplimit_release(const char *);

/* jwt.c */
enum jwt_alg {
	JWT_HS256,
	JWT_HS384,
	JWT_HS512,
	JWT_RS256,
	JWT_ES256
};

/* Why a token was refused; each has a counter jwt_refused_<name>. */
enum jwt_result {
	JWT_OK,
	JWT_MISSING,
	JWT_TOO_LARGE,
	JWT_MALFORMED,
	JWT_ALGORITHM,		/* alg not accepted, or not the key's kind */
	JWT_KEY,		/* no key for its kid */
	JWT_SIGNATURE,
	JWT_EXPIRED,
	JWT_NOT_YET_VALID,
	JWT_ISSUER,
	JWT_AUDIENCE,
	JWT_NRESULTS
};

enum jwt_keysrc {
	JWT_KEYS_SECRET,	/* jwt.secret_file */
	JWT_KEYS_PEM,		/* jwt.public_key_file */
	JWT_KEYS_JWKS		/* jwt.jwks_file */
};

int		 jwt_alg_parse(const char *);
const char	*jwt_alg_name(enum jwt_alg);
const char	*jwt_result_name(enum jwt_result);
ssize_t		 jwt_b64url_decode(const char *, size_t, unsigned char *);
struct jwt_keys	*jwt_keys_parse(enum jwt_keysrc, const void *, size_t,
		     char **);
struct jwt_keys	*jwt_keys_load(enum jwt_keysrc, const char *, char **);
void		 jwt_keys_free(struct jwt_keys *);
unsigned int	 jwt_keys_algs(const struct jwt_keys *);
char		*jwt_keys_describe(const struct jwt_keys *);
enum jwt_result	 jwt_verify(const struct jwt_conf *, const char *, size_t,
		     int64_t, json_t **);
enum jwt_result	 jwt_check(const struct jwt_conf *,
		     const struct http_request *, int64_t, json_t **);

/* ctx.c */
void		 ctx_new_id(char [WSG_ID_LEN + 1]);
int64_t		 ctx_now_ms(void);
json_t		*ctx_build(const struct cfg *, const struct http_request *,
		     const json_t *, const char *, const char *, int64_t, int *,
		     char **);

/* frame.c */
size_t		 frame_max_event(const struct cfg *);
enum frame_result {
	FRAME_MORE,		/* need more bytes */
	FRAME_OK,		/* a frame is ready */
	FRAME_SKIPPED,		/* an oversized ndjson line was dropped */
	FRAME_TOO_BIG		/* oversized length prefix: cannot resync */
};

struct frame_dec {
	enum framing	 fd_framing;
	size_t		 fd_max;
	struct buf	 fd_in;
	size_t		 fd_scan;	/* ndjson: bytes known to hold no \n */
	int		 fd_skipping;	/* ndjson: inside an oversized line */
	size_t		 fd_pending;	/* bytes of the frame just returned */
};
int		 frame_dump(struct buf *, const json_t *);
int		 frame_encode(enum framing, const json_t *, struct buf *);
void		 frame_json_string(struct buf *, const char *, size_t);
void		 frame_message(enum framing, struct buf *, const char *, size_t,
		     const void *, size_t, int);
void		 frame_dec_init(struct frame_dec *, enum framing, size_t);
void		 frame_dec_free(struct frame_dec *);
void		 frame_dec_feed(struct frame_dec *, const void *, size_t);
enum frame_result frame_dec_next(struct frame_dec *, const char **, size_t *);

/* metrics.c */
#define METRICS_FIELDS(X)						\
	X(conns_accepted)		/* TCP connections accepted */	\
	X(conns_rejected)		/* answered with an HTTP error */ \
	X(conns_upgraded)		/* handed to a worker */	\
	X(sockets_opened)		/* WebSocket established */	\
	X(sockets_closed)						\
	X(msgs_in)			/* client messages received */	\
	X(msgs_in_bytes)						\
	X(msgs_delivered)		/* written whole to the backend */ \
	X(msgs_dropped_queue_full)					\
	X(msgs_dropped_too_big)						\
	X(msgs_dropped_bad_utf8)					\
	X(msgs_dropped_slow_client)	/* backend sends not delivered */ \
	X(msgs_dropped_refused)		/* the backend kept refusing */	\
	X(rate_limited_messages)	/* over limits.message_rate */	\
	X(rate_limited_bytes)		/* over limits.byte_rate */	\
	X(msgs_out)			/* backend sends delivered */	\
	X(msgs_out_bytes)						\
	X(backend_connects)						\
	X(backend_disconnects)						\
	X(backend_events_refused)	/* backend.frame_attempts */	\
	X(backend_frames_in)						\
	X(backend_err_invalid_json)					\
	X(backend_err_not_object)					\
	X(backend_err_bad_field)					\
	X(backend_err_unknown_type)					\
	X(backend_err_unknown_socket)					\
	X(backend_err_too_big)						\
	X(backend_closes)		/* close commands */		\
	X(backend_err_limit)		/* a topics limit refused */	\
	X(cmd_send_user)		/* commands, by address */	\
	X(cmd_send_sockets)						\
	X(cmd_publish)							\
	X(cmd_broadcast)						\
	X(cmd_close_user)						\
	X(fanout_deliveries)		/* messages queued by those */	\
	X(topic_subscribes)						\
	X(topic_unsubscribes)						\
	X(topic_refused_per_socket)	/* topics.max_per_socket */	\
	X(topic_refused_subscribers)	/* topics.max_subscribers */	\
	X(jwt_ok)			/* tokens verified */		\
	X(jwt_refused_missing)		/* upgrades refused, by reason */ \
	X(jwt_refused_too_large)					\
	X(jwt_refused_malformed)					\
	X(jwt_refused_algorithm)					\
	X(jwt_refused_key)						\
	X(jwt_refused_signature)					\
	X(jwt_refused_expired)						\
	X(jwt_refused_not_yet_valid)					\
	X(jwt_refused_issuer)						\
	X(jwt_refused_audience)					\
	X(auth_allowed)			/* the auth hook's answers */	\
	X(auth_denied)							\
	X(auth_timeouts)						\
	X(auth_unavailable)		/* its link was down */		\
	X(auth_overflow)		/* auth.max_pending reached */	\
	X(auth_cancelled)		/* the client left first */	\
	X(auth_cache_hits)						\
	X(auth_bad_frames)		/* invalid or unknown answers */	\
	X(cluster_forwarded)		/* commands published to Redis */ \
	X(cluster_received)		/* commands from other nodes */	\
	X(cluster_dropped)		/* not published: link or queue */ \
	X(cluster_bad_messages)		/* received and refused */	\
	X(cluster_nodes_lost)		/* lost nodes reaped by this one */ \
	X(cluster_sockets_lost)		/* close events for their sockets */ \
	X(cluster_connects)						\
	X(cluster_disconnects)

/* Why the front door refused a request: a label of wsgated_rejected. */
enum reject_reason {
	REJECT_BAD_REQUEST,	/* 400: a malformed head or upgrade */
	REJECT_CONTEXT,		/* 400, 401: the context could not be built */
	REJECT_ORIGIN,		/* 403 */
	REJECT_NOT_FOUND,	/* 404 */
	REJECT_METHOD,		/* 405 */
	REJECT_TIMEOUT,		/* 408 */
	REJECT_NOT_UPGRADE,	/* 426 */
	REJECT_TOO_LARGE,	/* 431 */
	REJECT_TOO_MANY,	/* 503: limits.max_connections */
	REJECT_TOO_MANY_PER_IP,	/* 503: limits.max_connections_per_ip */
	REJECT_RATE_PER_IP,	/* 429: limits.connection_rate_per_ip */
	REJECT_BACKEND_DOWN,	/* 503: backend.down_timeout */
	REJECT_VERSION,		/* 505 */
	REJECT_TOKEN,		/* 401: the jwt group refused the token */
	REJECT_AUTH,		/* 401, 403, 503: the auth hook */
	REJECT_MAX
};

#define METRICS_HANDSHAKE_BUCKETS 14	/* and one more past the last */
#define METRICS_CLOSE_CODES	13	/* counted apart, the last "other" */

struct metrics {
#define METRICS_DECLARE(name) uint64_t name;
	METRICS_FIELDS(METRICS_DECLARE)
#undef METRICS_DECLARE
	uint64_t	 rejected[REJECT_MAX];
	uint64_t	 close_codes[METRICS_CLOSE_CODES];
	/* Handshakes by duration, each in the first bucket it fits. */
	uint64_t	 handshakes[METRICS_HANDSHAKE_BUCKETS + 1];
	uint64_t	 handshake_us;	/* their sum */
};
#define METRICS_ADD(m, name, v) \
	__atomic_fetch_add(&(m)->name, (v), __ATOMIC_RELAXED)
#define METRICS_INC(m, name) METRICS_ADD(m, name, 1)
void		 metrics_add(struct metrics *, const struct metrics *);
void		 metrics_sum(struct metrics *);
void		 metrics_log(void);
int64_t		 metrics_now_us(void);
void		 metrics_handshake(struct metrics *, uint32_t);
void		 metrics_close_code(struct metrics *, int);
void		 metrics_prometheus(struct buf *);
extern struct metrics metrics_front;

/* ratelimit: log the first event of a kind, then once a minute. */
struct ratelog {
	int64_t		 rl_last;
	uint64_t	 rl_suppressed;
};
int		 ratelog_allow(struct ratelog *, uint64_t *);

/* sessmap.c */
struct session;
struct sessmap {
	struct session	**sm_buckets;
	size_t		 sm_mask;
	size_t		 sm_count;
};
void		 sessmap_init(struct sessmap *);
void		 sessmap_free(struct sessmap *);
void		 sessmap_insert(struct sessmap *, struct session *);
void		 sessmap_remove(struct sessmap *, struct session *);
struct session	*sessmap_find(const struct sessmap *, const char *, size_t);
uint32_t	 sessmap_hash(const char *, size_t);

/* rate.c */
#define WSG_ADDR_MAX		46	/* INET6_ADDRSTRLEN */

struct ratemap_ent {
	int64_t		 re_tat;	/* 0: a free entry */
	char		 re_addr[WSG_ADDR_MAX];
};
struct ratemap {
	struct ratemap_ent *rm_ents;
	size_t		 rm_nsets;
};
int64_t		 rate_now(void);
void		 rate_init(struct rate *, double, double);
int64_t		 rate_take(const struct rate *, int64_t *, int64_t, uint64_t);
int64_t		 rate_try(const struct rate *, int64_t *, int64_t, uint64_t);
void		 ratemap_init(struct ratemap *, size_t);
void		 ratemap_free(struct ratemap *);
int64_t		 ratemap_take(struct ratemap *, const struct rate *,
		     const char *, int64_t);

/* strmap.c */
struct strmap_ent {
	struct strmap_ent	*e_next;
	uint64_t		 e_hash;
	void			*e_val;
	size_t			 e_len;
	char			 e_key[];	/* e_len bytes and a NUL */
};
struct strmap {
	struct strmap_ent	**m_buckets;	/* NULL while empty */
	size_t			 m_mask;
	size_t			 m_count;
};
void		 strmap_seed(const unsigned char [16]);
uint64_t	 strmap_hash(const void *, size_t);
void		 strmap_init(struct strmap *);
void		 strmap_free(struct strmap *);
struct strmap_ent *strmap_find(const struct strmap *, const char *, size_t);
struct strmap_ent *strmap_add(struct strmap *, const char *, size_t);
void		 strmap_del(struct strmap *, struct strmap_ent *);

/* ws.c */
struct worker;
int		 ws_start(struct cfg *, char **);
void		 ws_stop(double);
int		 ws_nworkers(void);
struct worker	*ws_pick(void);
void		 ws_new_id(struct worker *, char [WSG_ID_LEN + 1]);
void		 ws_handoff(struct worker *, int, char *, size_t, json_t *,
		     const char *, const char *, int, int64_t);
void		 ws_set_cfg(struct cfg *);
void		 ws_sum_metrics(struct metrics *);
/* What a worker shows the admin listener; read without locks. */
struct ws_worker_info {
	uint64_t	 wi_connections;
	uint64_t	 wi_backend_up;		/* 0 or 1 */
	uint64_t	 wi_queued_msgs;
	uint64_t	 wi_queued_bytes;
};
void		 ws_worker_info(int, struct ws_worker_info *);
struct ws_query;
struct ws_query	*ws_query_list(size_t, void (*)(void *), void *);
struct ws_query	*ws_query_close(const char *, int, const char *,
		     void (*)(void *), void *);
struct ws_query	*ws_query_send(const char *, const void *, size_t, int,
		     void (*)(void *), void *);
json_t		*ws_query_sessions(struct ws_query *);
int		 ws_query_found(struct ws_query *);
void		 ws_query_free(struct ws_query *);
size_t		 ws_sessions(void);
uint64_t	 ws_queued_msgs(void);
int		 ws_backend_available(void);
int		 ws_backend_up(int);
int		 ws_backends_up(void);
int		 ws_stalled(uint64_t [WSG_MAX_WORKERS]);
int		 ws_compression(void);
int64_t		 ws_epoch(void);

#define WSG_NODE_LOST_REASON	"node-lost"
/* route.c, on the main thread */
/* From another node: carry it out here, forward nothing, report nothing. */
void		 route_apply_remote(const struct wscmd *);
/* From the admin listener, main thread: as a backend's, to every node. */
void		 route_apply_admin(const struct wscmd *);
/* A socket of a lost node: a close event (1006, "node-lost") to the
 * backend, on one worker's link; ctx is the context's JSON text. */
void		 route_node_lost(const char *, const char *);

/* cmsg.c: the messages between nodes */
#define CMSG_VERSION	1
#define CMSG_NODE_MAX	255	/* cluster.node */
#define CMSG_KEY_MAX	65536	/* a userId or a topic */
#define CMSG_MAX_IDS	100000	/* socket ids of one message */
enum cmsg_kind {
	CMSG_CMD,		/* m_cmd, for this node's sockets */
	CMSG_LOST		/* m_node is lost; m_lost its sockets */
};
struct cmsg {
	enum cmsg_kind	 m_kind;
	const char	*m_from;	/* the node that published it */
	const char	*m_node;
	json_t		*m_lost;	/* socket id: context text */
	struct wscmd	 m_cmd;
	const char	*m_body;	/* after the header line */
	size_t		 m_bodylen;
	json_t		*m_head;
	const char	**m_ids;
};
void		 cmsg_encode(const struct wscmd *, const char *, struct buf *);
int		 cmsg_decode(const void *, size_t, struct cmsg *,
		     const char **);
void		 cmsg_free(struct cmsg *);

/* cluster.c: any thread may call these four */
int		 cluster_enabled(void);
void		 cluster_forward(const struct wscmd *);
void		 cluster_socket_open(const char *, const char *);
void		 cluster_socket_close(const char *);
/* and the main thread these */
struct event_base;
void		 cluster_start(struct event_base *, struct cfg *);
void		 cluster_set_cfg(struct cfg *);
int		 cluster_stop(void);
void		 cluster_free(void);
int		 cluster_link_up(void);
size_t		 cluster_nodes(void);

/* notify.c */
struct event_base;
extern const char notify_features[];
void		 notify_ready(struct event_base *);
void		 notify_reloading(void);
void		 notify_reloaded(int);
void		 notify_stopping(void);

/* authcache.c */
#define AUTHCACHE_KEY_LEN	32	/* SHA-256 */
struct authcache_entry;
LIST_HEAD(authcache_head, authcache_entry);
struct authcache {
	struct authcache_head	*ac_buckets;
	TAILQ_HEAD(, authcache_entry) ac_age;	/* oldest first */
	size_t			 ac_count;
};
void		 authcache_init(struct authcache *);
void		 authcache_free(struct authcache *);
const json_t	*authcache_get(struct authcache *, const unsigned char *,
		     int64_t);
void		 authcache_put(struct authcache *, const unsigned char *,
		     const json_t *, int64_t, int64_t, size_t);
size_t		 authcache_count(const struct authcache *);
void		 authcache_key(const char *const *, const size_t *, size_t,
		     unsigned char *);

/* auth.c */
enum auth_begin {
	AUTH_SENT,		/* asked; the callback will tell */
	AUTH_CACHED,		/* allowed from the cache: fields merged */
	AUTH_DOWN,		/* the link is down */
	AUTH_FULL,		/* auth.max_pending requests already */
	AUTH_BAD		/* a header to send is not UTF-8 */
};
/* How an answer came out, for the callback of auth_begin. */
enum auth_outcome {
	AUTH_ALLOW,		/* fields merged into the context */
	AUTH_DENY,		/* with a status, 401 or 403 */
	AUTH_LOST		/* the link went down first */
};
struct auth_answer {
	const char	*an_id;		/* borrowed from the frame */
	int		 an_allow;
	int		 an_status;	/* deny: 401 or 403 */
	const char	*an_reason;	/* deny: NULL if none */
	json_t		*an_context;	/* allow: borrowed, or NULL */
};
typedef void	 auth_cb(void *, enum auth_outcome, int);
json_t		*auth_parse_answer(const char *, size_t, struct auth_answer *,
		     const char **);
void		 auth_start(struct event_base *, struct cfg *);
void		 auth_set_cfg(struct cfg *);
void		 auth_stop(void);
int		 auth_enabled(void);
enum auth_begin	 auth_begin(json_t *, const struct http_request *, auth_cb *,
		     void *, uint64_t *);
void		 auth_cancel(uint64_t);

/* front.c */
int		 front_listen(struct cfg *, char **);
void		 front_set_cfg(struct cfg *);
void		 front_start(struct event_base *);
void		 front_stop(void);
int		 front_accepting(void);
size_t		 front_pending(void);

/* admin.c */
int		 admin_listen(struct cfg *, char **);
void		 admin_start(struct event_base *);
void		 admin_set_cfg(struct cfg *);
void		 admin_stop(void);

#endif /* WSGATED_H */
