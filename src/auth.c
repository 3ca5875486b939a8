/*
 * The auth hook: before an upgrade is answered, the front door asks the
 * service at auth.socket, over one connection of the main thread's own
 * (a libevent bufferevent), and the answer decides. Nothing waits for it:
 * the request is written, the front door keeps the connection aside, and
 * the answer, in whatever order it comes, is matched by its requestId.
 *
 * Requests in flight are in a hash table by id. The front door owns the
 * client side (its timer, its socket); auth_cancel() forgets a request
 * whose client left or whose time ran out, and an answer that comes for
 * it later is counted and dropped. When the link goes down, every request
 * in flight is told AUTH_LOST at once rather than left to time out.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "wsgated.h"

#define AUTH_BUCKETS		4096	/* a power of 2 */

enum auth_state {
	AUTH_LINK_DOWN,		/* waiting to retry */
	AUTH_LINK_CONNECTING,
	AUTH_LINK_UP
};

struct auth_req {
	uint64_t		 r_id;
	auth_cb			*r_cb;
	void			*r_arg;
	json_t			*r_ctx;		/* the front door's */
	int			 r_cacheable;
	unsigned char		 r_key[AUTHCACHE_KEY_LEN];
	LIST_ENTRY(auth_req)	 r_entry;
};
LIST_HEAD(auth_reqs, auth_req);

static struct cfg		*auth_cfg;	/* a reference */
/* From the first configuration: auth.socket and auth.framing take a restart. */
static char			*auth_path;	/* NULL: no auth hook */
static enum framing		 auth_framing;
static struct event_base	*auth_base;
static struct bufferevent	*auth_bev;
static struct event		*auth_retry;
static enum auth_state		 auth_state;
static double			 auth_delay;
static int			 auth_logged_down;
static struct frame_dec		 auth_dec;
static struct auth_reqs		 auth_reqs[AUTH_BUCKETS];
static size_t			 auth_npending;
static uint64_t			 auth_next_id = 1;
static struct authcache		 auth_cache;
static struct ratelog		 auth_bad_rl;

static void	auth_connect(void);
static void	auth_down(void);

/*
 * Check an answer frame. Return it parsed (the caller frees it), with
 * *an's pointers into it, or NULL with *cause. Pure: the unit tests call
 * it.
 */
json_t *
auth_parse_answer(const char *frame, size_t len, struct auth_answer *an,
    const char **cause)
{
	json_t		*o, *v;
	json_int_t	 status;

	memset(an, 0, sizeof *an);
	if ((o = json_loadb(frame, len, JSON_REJECT_DUPLICATES, NULL)) ==
	    NULL) {
		*cause = "not a JSON object";
		return (NULL);
	}
	if (!json_is_object(o)) {
		*cause = "not a JSON object";
		goto bad;
	}
	v = json_object_get(o, "type");
	if (!json_is_string(v) || strcmp(json_string_value(v), "auth") != 0) {
		*cause = "type is not \"auth\"";
		goto bad;
	}
	v = json_object_get(o, "requestId");
	if (!json_is_string(v)) {
		*cause = "requestId is not a string";
		goto bad;
	}
	an->an_id = json_string_value(v);
	v = json_object_get(o, "allow");
	if (!json_is_boolean(v)) {
		*cause = "allow is not true or false";
		goto bad;
	}
	an->an_allow = json_is_true(v);
	if (!an->an_allow) {
		/* Only 401 and 403 reach the client: anything else is 403. */
		v = json_object_get(o, "status");
		status = v == NULL ? 401 : json_is_integer(v) ?
		    json_integer_value(v) : 0;
		an->an_status = status == 401 ? 401 : 403;
		v = json_object_get(o, "reason");
		if (json_is_string(v))
			an->an_reason = json_string_value(v);
		return (o);
	}
	v = json_object_get(o, "context");
	if (v != NULL && !json_is_object(v)) {
		*cause = "context is not an object";
		goto bad;
	}
	if (v != NULL && (json_object_get(v, "socketId") != NULL ||
	    json_object_get(v, "createdAt") != NULL)) {
		*cause = "context overrides socketId or createdAt";
		goto bad;
	}
	an->an_context = v;
	return (o);
bad:
	json_decref(o);
	memset(an, 0, sizeof *an);
	return (NULL);
}

static struct auth_reqs *
auth_bucket(uint64_t id)
{
	return (&auth_reqs[id & (AUTH_BUCKETS - 1)]);
}

static struct auth_req *
auth_find(uint64_t id)
{
	struct auth_req	*r;

	LIST_FOREACH(r, auth_bucket(id), r_entry) {
		if (r->r_id == id)
			return (r);
	}
	return (NULL);
}

static void
auth_forget(struct auth_req *r)
{
	LIST_REMOVE(r, r_entry);
	auth_npending--;
	free(r);
}

/* Count a frame that could not be used; log one a minute at most. */
static void
auth_bad_frame(const char *what, const char *more)
{
	uint64_t	 suppressed;

	METRICS_INC(&metrics_front, auth_bad_frames);
	if (!ratelog_allow(&auth_bad_rl, &suppressed))
		return;
	if (suppressed > 0)
		log_warnx("auth: bad answer: %s%s (%llu more since the last "
		    "report)", what, more, (unsigned long long)suppressed);
	else
		log_warnx("auth: bad answer: %s%s", what, more);
}

/* One frame from the service. */
static void
auth_handle(const char *frame, size_t len)
{
	struct auth_answer	 an;
	struct auth_req		*r;
	const struct auth_conf	*ac = &auth_cfg->c_auth;
	const char		*cause;
	char			*end;
	json_t			*o;
	uint64_t		 id;
	int64_t			 now;

	if ((o = auth_parse_answer(frame, len, &an, &cause)) == NULL) {
		auth_bad_frame(cause, "");
		return;
	}
	errno = 0;
	id = strtoull(an.an_id, &end, 10);
	if (errno != 0 || *end != '\0' || end == an.an_id ||
	    (r = auth_find(id)) == NULL) {
		/* Timed out or cancelled already, or never ours. */
		auth_bad_frame("unknown requestId", "");
		json_decref(o);
		return;
	}
	if (!an.an_allow) {
		if (an.an_reason != NULL && log_debug_enabled()) {
			char *esc = log_escape(an.an_reason,
			    strlen(an.an_reason), 128);

			log_debug("auth: request %" PRIu64 " denied: %s", id,
			    esc);
			free(esc);
		}
		METRICS_INC(&metrics_front, auth_denied);
		r->r_cb(r->r_arg, AUTH_DENY, an.an_status);
		auth_forget(r);
		json_decref(o);
		return;
	}
	if (an.an_context != NULL) {
		if (json_object_update(r->r_ctx, an.an_context) == -1)
			fatalx("%s: json_object_update", __func__);
		if (r->r_cacheable && ac->a_cache_ttl > 0) {
			now = ctx_now_ms();
			authcache_put(&auth_cache, r->r_key, an.an_context, now,
			    now + (int64_t)(ac->a_cache_ttl * 1000),
			    ac->a_cache_size);
		}
	} else if (r->r_cacheable && ac->a_cache_ttl > 0) {
		json_t *empty = json_object();

		now = ctx_now_ms();
		authcache_put(&auth_cache, r->r_key, empty, now,
		    now + (int64_t)(ac->a_cache_ttl * 1000), ac->a_cache_size);
		json_decref(empty);
	}
	METRICS_INC(&metrics_front, auth_allowed);
	r->r_cb(r->r_arg, AUTH_ALLOW, 0);
	auth_forget(r);
	json_decref(o);
}

static void
auth_read_cb(struct bufferevent *bev, void *arg)
{
	struct evbuffer	*in = bufferevent_get_input(bev);
	const char	*frame;
	size_t		 len;
	unsigned char	 chunk[16384];
	int		 n;

	while ((n = evbuffer_remove(in, chunk, sizeof chunk)) > 0) {
		frame_dec_feed(&auth_dec, chunk, (size_t)n);
		for (;;) {
			switch (frame_dec_next(&auth_dec, &frame, &len)) {
			case FRAME_MORE:
				goto next;
			case FRAME_OK:
				auth_handle(frame, len);
				break;
			case FRAME_SKIPPED:
				auth_bad_frame("a line over backend."
				    "max_frame_bytes was skipped", "");
				break;
			case FRAME_TOO_BIG:
				/* No way to find the next frame: start over. */
				auth_bad_frame("a length prefix over backend."
				    "max_frame_bytes", ": reconnecting");
				auth_down();
				return;
			}
		}
next:
		;
	}
}

static void
auth_schedule_retry(void)
{
	struct timeval	 tv;
	double		 max = auth_cfg->c_reconnect_max;

	auth_state = AUTH_LINK_DOWN;
	cfg_timeval(auth_delay, &tv);
	evtimer_add(auth_retry, &tv);
	auth_delay = auth_delay * 2 > max ? max : auth_delay * 2;
}

/* The link is gone: tell every request in flight, then try again later. */
static void
auth_down(void)
{
	struct auth_req	*r;
	size_t		 i;

	if (auth_bev != NULL)
		bufferevent_free(auth_bev);
	auth_bev = NULL;
	for (i = 0; i < AUTH_BUCKETS; i++) {
		while ((r = LIST_FIRST(&auth_reqs[i])) != NULL) {
			METRICS_INC(&metrics_front, auth_unavailable);
			r->r_cb(r->r_arg, AUTH_LOST, 0);
			auth_forget(r);
		}
	}
	auth_schedule_retry();
}

static void
auth_event_cb(struct bufferevent *bev, short what, void *arg)
{
	if (what & BEV_EVENT_CONNECTED) {
		auth_state = AUTH_LINK_UP;
		auth_delay = auth_cfg->c_reconnect_min;
		auth_logged_down = 0;
		frame_dec_free(&auth_dec);
		frame_dec_init(&auth_dec, auth_framing,
		    auth_cfg->c_max_frame_bytes);
		log_info("auth: connected to %s", auth_path);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		if (auth_state == AUTH_LINK_UP)
			log_warnx("auth: %s: connection lost%s%s",
			    auth_path, what & BEV_EVENT_ERROR ?
			    ": " : "", what & BEV_EVENT_ERROR ?
			    strerror(EVUTIL_SOCKET_ERROR()) : "");
		else if (!auth_logged_down)
			log_warnx("auth: %s: cannot connect, retrying",
			    auth_path);
		auth_logged_down = 1;
		auth_down();
	}
}

static void
auth_connect(void)
{
	struct sockaddr_un	 sun;
	const char		*path = auth_path;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
	auth_state = AUTH_LINK_CONNECTING;
	auth_bev = bufferevent_socket_new(auth_base, -1,
	    BEV_OPT_CLOSE_ON_FREE);
	if (auth_bev == NULL)
		fatalx("%s: bufferevent_socket_new", __func__);
	bufferevent_setcb(auth_bev, auth_read_cb, NULL, auth_event_cb, NULL);
	bufferevent_enable(auth_bev, EV_READ | EV_WRITE);
	log_debug("auth: connecting to %s", path);
	if (bufferevent_socket_connect(auth_bev, (struct sockaddr *)&sun,
	    sizeof sun) == -1) {
		if (!auth_logged_down)
			log_warnx("auth: %s: cannot connect, retrying", path);
		auth_logged_down = 1;
		auth_down();
	}
}

static void
auth_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	if (auth_state == AUTH_LINK_DOWN)
		auth_connect();
}

/* Start the link, if auth.socket is set; cfg is kept. */
void
auth_start(struct event_base *base, struct cfg *cfg)
{
	size_t	 i;

	auth_base = base;
	auth_cfg = cfg_ref(cfg);
	for (i = 0; i < AUTH_BUCKETS; i++)
		LIST_INIT(&auth_reqs[i]);
	authcache_init(&auth_cache);
	frame_dec_init(&auth_dec, FRAMING_NDJSON, cfg->c_max_frame_bytes);
	if (cfg->c_auth.a_socket == NULL)
		return;
	auth_path = xstrdup(cfg->c_auth.a_socket);
	auth_framing = (enum framing)cfg->c_auth.a_framing;
	auth_retry = evtimer_new(base, auth_retry_cb, NULL);
	if (auth_retry == NULL)
		fatalx("%s: evtimer_new", __func__);
	auth_delay = cfg->c_reconnect_min;
	auth_connect();
}

/*
 * A reloaded configuration: it applies to the upgrades from now on, but
 * the link keeps its socket and framing (they take a restart).
 */
void
auth_set_cfg(struct cfg *cfg)
{
	if (auth_cfg == NULL)
		return;
	cfg_ref(cfg);
	cfg_free(auth_cfg);
	auth_cfg = cfg;
}

/* Close the link; the front door has cancelled every request. */
void
auth_stop(void)
{
	if (auth_bev != NULL)
		bufferevent_free(auth_bev);
	auth_bev = NULL;
	if (auth_retry != NULL)
		event_free(auth_retry);
	auth_retry = NULL;
	frame_dec_free(&auth_dec);
	authcache_free(&auth_cache);
	cfg_free(auth_cfg);
	auth_cfg = NULL;
	free(auth_path);
	auth_path = NULL;
}

int
auth_enabled(void)
{
	return (auth_path != NULL);
}

/*
 * Ask about an upgrade whose context so far is ctx, built from req. On
 * AUTH_SENT, cb(arg, ...) is called once, from the loop, unless
 * auth_cancel(*idp) comes first; an allow merges the service's fields
 * into ctx, which must live until then. On AUTH_CACHED, the fields of a
 * cached answer are merged already.
 */
enum auth_begin
auth_begin(json_t *ctx, const struct http_request *req, auth_cb *cb,
    void *arg, uint64_t *idp)
{
	const struct auth_conf	*ac = &auth_cfg->c_auth;
	const struct http_header *h;
	const json_t		*cached, *tok;
	const char		*values[1 + WSG_MAX_AUTH_HEADERS];
	size_t			 lens[1 + WSG_MAX_AUTH_HEADERS], i, n;
	struct auth_req		*r;
	struct buf		 out;
	json_t			*msg, *headers, *s;
	char			 id[24], *lower;
	unsigned char		 key[AUTHCACHE_KEY_LEN] = { 0 };
	int			 cacheable = 0;

	/* What identifies the client: the token and the headers sent. */
	tok = json_object_get(ctx, "token");
	values[0] = json_is_string(tok) ? json_string_value(tok) : NULL;
	lens[0] = json_is_string(tok) ? json_string_length(tok) : 0;
	headers = json_object();
	for (i = 0; i < ac->a_nheaders; i++) {
		h = http_header_find(req, ac->a_headers[i], &n);
		values[1 + i] = h != NULL ? h->h_value : NULL;
		lens[1 + i] = h != NULL ? h->h_valuelen : 0;
		if (h == NULL)
			continue;
		if ((s = json_stringn(h->h_value, h->h_valuelen)) == NULL) {
			json_decref(headers);
			return (AUTH_BAD);
		}
		lower = xstrdup(ac->a_headers[i]);
		for (n = 0; lower[n] != '\0'; n++)
			if (lower[n] >= 'A' && lower[n] <= 'Z')
				lower[n] += 'a' - 'A';
		json_object_set_new(headers, lower, s);
		free(lower);
	}
	for (i = 0; i <= ac->a_nheaders; i++)
		cacheable |= values[i] != NULL;

	/* Nothing identifies the client: no answer may be reused. */
	if (ac->a_cache_ttl > 0 && cacheable) {
		authcache_key(values, lens, 1 + ac->a_nheaders, key);
		cached = authcache_get(&auth_cache, key, ctx_now_ms());
		if (cached != NULL) {
			json_decref(headers);
			s = json_deep_copy(cached);
			if (s == NULL || json_object_update(ctx, s) == -1)
				fatalx("%s: json_object_update", __func__);
			json_decref(s);
			METRICS_INC(&metrics_front, auth_cache_hits);
			METRICS_INC(&metrics_front, auth_allowed);
			return (AUTH_CACHED);
		}
	}
	if (auth_state != AUTH_LINK_UP) {
		json_decref(headers);
		METRICS_INC(&metrics_front, auth_unavailable);
		return (AUTH_DOWN);
	}
	if (auth_npending >= ac->a_max_pending) {
		json_decref(headers);
		METRICS_INC(&metrics_front, auth_overflow);
		return (AUTH_FULL);
	}

	r = xcalloc(1, sizeof *r);
	r->r_id = auth_next_id++;
	r->r_cb = cb;
	r->r_arg = arg;
	r->r_ctx = ctx;
	r->r_cacheable = ac->a_cache_ttl > 0 && cacheable;
	memcpy(r->r_key, key, sizeof key);
	snprintf(id, sizeof id, "%" PRIu64, r->r_id);
	msg = json_pack("{s:s, s:s, s:O, s:o}", "type", "auth", "requestId",
	    id, "context", ctx, "headers", headers);
	if (msg == NULL)
		fatalx("%s: json_pack", __func__);
	buf_init(&out);
	if (frame_encode(auth_framing, msg, &out) == -1)
		fatalx("%s: frame_encode", __func__);
	json_decref(msg);
	bufferevent_write(auth_bev, buf_data(&out), buf_used(&out));
	buf_free(&out);
	LIST_INSERT_HEAD(auth_bucket(r->r_id), r, r_entry);
	auth_npending++;
	*idp = r->r_id;
	return (AUTH_SENT);
}

/* Forget a request: its callback will not be called. */
void
auth_cancel(uint64_t id)
{
	struct auth_req	*r;

	if ((r = auth_find(id)) != NULL)
		auth_forget(r);
}
