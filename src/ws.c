/*
 * The WebSocket workers. Each worker is a thread that owns one
 * libwebsockets context running on its own libev loop, the sessions the
 * front door handed to it, and its own backend link, so that a message
 * from a client to the backend and back never leaves the thread.
 *
 * Other threads talk to a worker only through its inbox (w_lock) and
 * lws_cancel_service(), the one lws call that is safe from another
 * thread; the worker drains the inbox in LWS_CALLBACK_EVENT_WAIT_CANCELLED.
 */
#include "config.h"

#include <sys/random.h>
#include <sys/socket.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "wsgated.h"
#include "ws.h"

#define WS_PROTOCOL		"wsgate"
/* The head libwebsockets parses is one wsgated wrote; this is plenty. */
#define WS_LWS_HEADER_DATA	1024
#define WS_STOP_POLL_US		(20 * LWS_US_PER_MS)
#define WS_TICK_US		(50 * LWS_US_PER_MS)
/* Sessions of a fan-out that ask lws for a writable callback at once. */
#define WS_FANOUT_SLICE		256
/* Bytes of ready-made frames handed to lws in one write. */
#define WS_WRITE_BATCH		65536
/* How long a close waits for the client to take what is queued. */
#define WS_CLOSE_GRACE_SECS	10
/*
 * lws's per-thread buffer: what one read from the backend link can take.
 * Client connections have their own, websocket.rx_buffer_bytes each.
 */
#define WS_THREAD_BUFFER	65536

static struct worker	*ws_workers;
static int		 ws_n;
static unsigned int	 ws_next;	/* front thread only */
static size_t		 ws_live;	/* atomic: sessions in all workers */
static struct metrics	 ws_retired;	/* counters of stopped workers */
static int64_t		 ws_started_ms;	/* the epoch in hello frames */
static struct cfg	*ws_start_cfg;	/* names the lws protocols */

static pthread_mutex_t	 ws_start_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	 ws_start_cond = PTHREAD_COND_INITIALIZER;
static int		 ws_started, ws_start_failed;

static void	ws_writer_remove(struct session *);
static int	ws_client_cb(struct lws *, enum lws_callback_reasons, void *,
		    void *, size_t);

/* permessage-deflate (RFC 7692), when websocket.compression is on. */
static const struct lws_extension ws_extensions[] = {
	{ "permessage-deflate", lws_extension_callback_pm_deflate,
	    "permessage-deflate" },
	{ NULL, NULL, NULL }
};

struct worker *
ws_worker(int i)
{
	return (&ws_workers[i]);
}

int
ws_nworkers(void)
{
	return (ws_n);
}

/* When this process started serving: it changes with every restart. */
int64_t
ws_epoch(void)
{
	return (ws_started_ms);
}

/* Client messages waiting in every worker's backend queue. */
uint64_t
ws_queued_msgs(void)
{
	uint64_t	 n = 0;
	int		 i;

	for (i = 0; i < ws_n; i++)
		n += backend_queued_msgs(&ws_workers[i]);
	return (n);
}

static int
ws_backend_lost(struct worker *w, int64_t now)
{
	int64_t	 since = __atomic_load_n(&w->w_backend.bl_down_since,
		    __ATOMIC_RELAXED);
	double	 t = w->w_cfg->c_down_timeout;

	return (t > 0 && since != 0 && now - since >= (int64_t)(t * 1000));
}

/*
 * Is any worker's backend link up, or down for less than
 * backend.down_timeout? Front thread.
 */
int
ws_backend_available(void)
{
	int64_t	 now = ctx_now_ms();
	int	 i;

	for (i = 0; i < ws_n; i++) {
		if (!ws_backend_lost(&ws_workers[i], now))
			return (1);
	}
	return (0);
}

/* Is worker i's backend link connected? Any thread. */
int
ws_backend_up(int i)
{
	return (i >= 0 && i < ws_n && backend_up(&ws_workers[i]));
}

/* How many workers' backend links are connected now. Front thread. */
int
ws_backends_up(void)
{
	int	 i, n = 0;

	for (i = 0; i < ws_n; i++) {
		if (backend_up(&ws_workers[i]))
			n++;
	}
	return (n);
}

/*
 * Has every worker's loop run its tick since the last call? seen holds
 * each worker's count of ticks as last read, and is brought up to date.
 * Return the index of the first worker that has not ticked, or -1.
 * Front thread.
 */
int
ws_stalled(uint64_t seen[WSG_MAX_WORKERS])
{
	uint64_t	 beats;
	int		 i, stalled = -1;

	for (i = 0; i < ws_n; i++) {
		beats = __atomic_load_n(&ws_workers[i].w_beats,
		    __ATOMIC_RELAXED);
		if (beats == seen[i] && stalled == -1)
			stalled = i;
		seen[i] = beats;
	}
	return (stalled);
}

/* Do the workers offer permessage-deflate? Fixed at start. */
int
ws_compression(void)
{
	return (ws_start_cfg != NULL && ws_start_cfg->c_compression);
}

/* Stop (or start again) reading from every client of w. */
void
ws_pause(struct worker *w, int pause)
{
	struct session	*s;
	size_t		 i;

	w->w_paused = pause;
	log_debug("worker %d: %s reading from clients", w->w_index,
	    pause ? "backend queue full, stop" : "backend queue drained, resume");
	SESSMAP_FOREACH(s, &w->w_sessions, i) {
		if (!s->s_rate_paused)
			lws_rx_flow_control(s->s_wsi, !pause);
	}
}

size_t
ws_sessions(void)
{
	return (__atomic_load_n(&ws_live, __ATOMIC_RELAXED));
}

void
ws_sum_metrics(struct metrics *m)
{
	int	 i;

	metrics_add(m, &ws_retired);
	for (i = 0; i < ws_n; i++)
		metrics_add(m, &ws_workers[i].w_metrics);
}

/* Worker i's gauges, for the admin listener. Any thread. */
void
ws_worker_info(int i, struct ws_worker_info *wi)
{
	struct worker	*w = &ws_workers[i];

	wi->wi_connections = __atomic_load_n(&w->w_nsessions,
	    __ATOMIC_RELAXED);
	wi->wi_backend_up = backend_up(w);
	wi->wi_queued_msgs = backend_queued_msgs(w);
	wi->wi_queued_bytes = backend_queued_bytes(w);
}

/*
 * The worker that owns a socket id, from its first character: any thread
 * can route a backend command without a shared table.
 */
struct worker *
ws_owner(const char *id, size_t len)
{
	static const char	 b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-_";
	const char		*p;

	if (len != WSG_ID_LEN || ws_n == 0 || id[0] == '\0' ||
	    (p = strchr(b64, id[0])) == NULL)
		return (NULL);
	return (&ws_workers[(p - b64) % ws_n]);
}

/* Pick the worker with the fewest sessions. Front thread only. */
struct worker *
ws_pick(void)
{
	struct worker	*best = NULL;
	size_t		 n, least = SIZE_MAX;
	int		 i, k;

	for (i = 0; i < ws_n; i++) {
		k = (int)((ws_next + (unsigned int)i) % (unsigned int)ws_n);
		n = __atomic_load_n(&ws_workers[k].w_nsessions,
		    __ATOMIC_RELAXED);
		if (n < least) {
			least = n;
			best = &ws_workers[k];
		}
	}
	ws_next++;
	return (best);
}

/* A fresh socket id that routes to w. */
void
ws_new_id(struct worker *w, char id[WSG_ID_LEN + 1])
{
	do
		ctx_new_id(id);
	while (ws_owner(id, WSG_ID_LEN) != w);
}

/*
 * Post work to a worker. Only a post to an empty inbox wakes it: the
 * worker drains the whole inbox when it wakes, so a post that finds items
 * waiting is covered by the wake-up the first of them asked for.
 */
void
ws_post(struct worker *w, struct inbox_item *it)
{
	int	 wake;

	pthread_mutex_lock(&w->w_lock);
	wake = TAILQ_EMPTY(&w->w_inbox);
	TAILQ_INSERT_TAIL(&w->w_inbox, it, i_entry);
	pthread_mutex_unlock(&w->w_lock);
	if (wake)
		lws_cancel_service(w->w_lws);
}

/*
 * Give a connection to worker w: the socket, the head libwebsockets must
 * parse, the context, and when it was accepted (metrics_now_us()). Takes
 * ownership of fd, head and ctx.
 */
void
ws_handoff(struct worker *w, int fd, char *head, size_t headlen, json_t *ctx,
    const char *id, const char *peer, int deflate, int64_t accepted_us)
{
	struct session		*s;
	struct inbox_item	*it;

	s = xcalloc(1, sizeof *s);
	memcpy(s->s_id, id, WSG_ID_LEN + 1);
	snprintf(s->s_peer, sizeof s->s_peer, "%s", peer);
	s->s_ctx = ctx;
	s->s_deflate = (uint16_t)(deflate != 0);
	s->s_worker = w;
	s->s_state = SESS_ADOPTING;
	s->s_fd = fd;
	s->s_accepted_us = (uint32_t)accepted_us;
	s->s_head = head;
	s->s_headlen = headlen;
	buf_init(&s->s_rx);
	LIST_INIT(&s->s_subs);
	__atomic_fetch_add(&w->w_nsessions, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&ws_live, 1, __ATOMIC_RELAXED);

	it = xcalloc(1, sizeof *it);
	it->i_kind = INBOX_ADOPT;
	it->i_session = s;
	ws_post(w, it);
}

/*
 * A message of len bytes for clients, with one reference. With data NULL
 * the caller writes the payload and calls ws_outmsg_setlen(); either way
 * the frame is complete before the message is shared.
 */
struct outmsg *
ws_outmsg_new(const void *data, size_t len, int binary)
{
	struct outmsg	*o;

	o = xmalloc(sizeof *o + LWS_PRE + len + 1);
	o->o_refs = 1;
	o->o_binary = binary;
	if (data != NULL && len > 0)
		memcpy(o->o_data + LWS_PRE, data, len);
	ws_outmsg_setlen(o, len);
	return (o);
}

/* Set the payload's length and write the frame header before it. */
void
ws_outmsg_setlen(struct outmsg *o, size_t len)
{
	unsigned char	*p;
	size_t		 h;

	o->o_len = len;
	o->o_hlen = len < 126 ? 2 : len < 65536 ? 4 : 10;
	p = o->o_data + LWS_PRE - o->o_hlen;
	p[0] = 0x80 | (o->o_binary ? 0x2 : 0x1);
	if (len < 126)
		p[1] = (unsigned char)len;
	else if (len < 65536) {
		p[1] = 126;
		p[2] = (unsigned char)(len >> 8);
		p[3] = (unsigned char)len;
	} else {
		p[1] = 127;
		for (h = 2; h < 10; h++)
			p[h] = (unsigned char)((uint64_t)len >> (8 * (9 - h)));
	}
}

struct outmsg *
ws_outmsg_ref(struct outmsg *o)
{
	__atomic_fetch_add(&o->o_refs, 1, __ATOMIC_RELAXED);
	return (o);
}

void
ws_outmsg_unref(struct outmsg *o)
{
	if (o != NULL && __atomic_sub_fetch(&o->o_refs, 1,
	    __ATOMIC_ACQ_REL) == 0)
		free(o);
}

/* The ring of messages queued for a client. */
static void
ws_q_push(struct session *s, struct outmsg *o)
{
	struct outmsg	**nq;
	uint32_t	  i, ncap;

	if (s->s_qn == s->s_qcap) {
		ncap = s->s_qcap == 0 ? 4 : s->s_qcap * 2;
		nq = xreallocarray(NULL, ncap, sizeof *nq);
		for (i = 0; i < s->s_qn; i++)
			nq[i] = s->s_q[(s->s_qhead + i) % s->s_qcap];
		free(s->s_q);
		s->s_q = nq;
		s->s_qcap = ncap;
		s->s_qhead = 0;
	}
	s->s_q[(s->s_qhead + s->s_qn) % s->s_qcap] = o;
	s->s_qn++;
	s->s_outq_bytes += o->o_hlen + o->o_len;
}

/* Drop the first message, written or not. */
static void
ws_q_pop(struct session *s)
{
	struct outmsg	*o = s->s_q[s->s_qhead];

	s->s_outq_bytes -= o->o_hlen + o->o_len - s->s_qoff;
	s->s_qoff = 0;
	s->s_qhead = (s->s_qhead + 1) % s->s_qcap;
	if (--s->s_qn == 0) {
		/* An idle session keeps no ring. */
		free(s->s_q);
		s->s_q = NULL;
		s->s_qcap = 0;
		s->s_qhead = 0;
	}
	ws_outmsg_unref(o);
}

static void
ws_session_free(struct session *s)
{
	struct worker	*w = s->s_worker;

	ws_writer_remove(s);
	while (s->s_qn > 0)
		ws_q_pop(s);
	buf_free(&s->s_rx);
	free(s->s_evhead);
	json_decref(s->s_ctx);
	free(s->s_ctxtext);
	free(s->s_close_reason);
	cfg_free(s->s_cfg);
	free(s->s_head);
	iplimit_release(s->s_peer);
	free(s);
	__atomic_fetch_sub(&w->w_nsessions, 1, __ATOMIC_RELAXED);
	__atomic_fetch_sub(&ws_live, 1, __ATOMIC_RELAXED);
}

/*
 * Close a session from this side with code and reason. With flush, the
 * messages already queued for the client go first.
 */
/*
 * The close reason, kept only by sessions that have one: most never do,
 * and a fixed array would cost each of them 124 bytes.
 */
static void
ws_set_reason(struct session *s, const char *reason, size_t len)
{
	free(s->s_close_reason);
	s->s_close_reason = NULL;
	if (len > WSG_CLOSE_REASON_MAX)
		len = WSG_CLOSE_REASON_MAX;
	if (len > 0) {
		s->s_close_reason = xmalloc(len + 1);
		memcpy(s->s_close_reason, reason, len);
		s->s_close_reason[len] = '\0';
	}
}

static const char *
ws_reason(const struct session *s)
{
	return (s->s_close_reason != NULL ? s->s_close_reason : "");
}

static void
ws_session_close(struct session *s, int code, const char *reason, int flush)
{
	if (s->s_state != SESS_OPEN)
		return;
	s->s_state = SESS_CLOSING;
	ws_writer_remove(s);
	s->s_close_code = code;
	s->s_close_flush = (uint8_t)(flush != 0);
	ws_set_reason(s, reason, strlen(reason));
	buf_reset(&s->s_rx);
	lws_callback_on_writable(s->s_wsi);
	/*
	 * A client that does not read never makes its socket writable: give
	 * the close frame (and, with flush, what is queued) a while, then
	 * drop the connection. A slow consumer gets no while at all.
	 */
	lws_set_timeout(s->s_wsi, PENDING_TIMEOUT_CLOSE_SEND,
	    code == WSG_CLOSE_POLICY ? 1 : WS_CLOSE_GRACE_SECS);
}

/* A backend's close: what is queued for the client goes first. */
void
ws_close_session(struct session *s, int code, const char *reason)
{
	ws_session_close(s, code, reason, 1);
}

/* Close every session of w with code and reason. */
static void
ws_close_all(struct worker *w, int code, const char *reason)
{
	struct session	*s;
	size_t		 i;

	SESSMAP_FOREACH(s, &w->w_sessions, i)
		ws_session_close(s, code, reason, 0);
}

/* A new reference to the session's context. */
static json_t *
ws_ctx(struct session *s)
{
	json_t		*ctx;
	json_error_t	 err;

	if (s->s_ctx != NULL)
		return (json_incref(s->s_ctx));
	if ((ctx = json_loads(s->s_ctxtext, 0, &err)) == NULL)
		fatalx("%s: %s", __func__, err.text);
	return (ctx);
}

json_t *
ws_open_event(struct session *s)
{
	return (json_pack("{s:s, s:s, s:o}", "type", "open", "socketId",
	    s->s_id, "context", ws_ctx(s)));
}

/* Send the open event, then keep the context as text only. */
static void
ws_emit_open(struct session *s)
{
	json_t	*ev = ws_open_event(s);

	backend_emit(s->s_worker, BACKEND_EV_OPEN, ev);
	json_decref(ev);
	if ((s->s_ctxtext = json_dumps(s->s_ctx, JSON_COMPACT)) == NULL)
		fatalx("%s: cannot encode a context", __func__);
	if (cluster_enabled())
		cluster_socket_open(s->s_id, s->s_ctxtext);
	json_decref(s->s_ctx);
	s->s_ctx = NULL;
}

/*
 * The close event: the connection's code and reason, the close frame the
 * client started the closing handshake with ("received", its reason only
 * if the frame was valid) and the one the gateway sent ("sent").
 */
static void
ws_emit_close(struct session *s)
{
	json_t	*ev, *rcvd;

	ev = json_pack("{s:s, s:s, s:i, s:s, s:o}", "type", "close",
	    "socketId", s->s_id, "code", s->s_close_code, "reason",
	    ws_reason(s), "context", ws_ctx(s));
	if (s->s_rcvd_code != 0) {
		rcvd = json_pack("{s:i, s:b}", "code", s->s_rcvd_code,
		    "valid", !s->s_rcvd_bad);
		if (!s->s_rcvd_bad)
			json_object_set_new(rcvd, "reason",
			    json_string(ws_reason(s)));
		json_object_set_new(ev, "received", rcvd);
	}
	if (s->s_sent)
		json_object_set_new(ev, "sent", json_pack("{s:i, s:s}",
		    "code", s->s_close_code, "reason", ws_reason(s)));
	backend_emit(s->s_worker, BACKEND_EV_CLOSE, ev);
	json_decref(ev);
	if (cluster_enabled())
		cluster_socket_close(s->s_id);
}

/*
 * The socket is finished for the backend: unlink it, count it and send
 * the close event, once. This comes as soon as wsgated knows, which for a
 * failed connection is before TCP has closed.
 */
static void
ws_session_end(struct session *s)
{
	struct worker	*w = s->s_worker;

	if (s->s_ended)
		return;
	s->s_ended = 1;
	ws_writer_remove(s);
	sessmap_remove(&w->w_sessions, s);
	route_close(s);
	METRICS_INC(&w->w_metrics, sockets_closed);
	metrics_close_code(&w->w_metrics, s->s_close_code);
	log_debug("session %s: closed code=%d", s->s_id, s->s_close_code);
	if (!w->w_destroying)
		ws_emit_close(s);
}

/*
 * The text every message event of a session starts with, as jansson writes
 * the event: {"type":"message","socketId":...,"context":{...},"data":
 * Made once, at the first message, and reused for each.
 */
static void
ws_make_evhead(struct session *s)
{
	static const char	 tail[] = "\"\"}";
	json_t			*ev;
	char			*text;
	size_t			 len;

	ev = json_pack("{s:s, s:s, s:o, s:s}", "type", "message", "socketId",
	    s->s_id, "context", ws_ctx(s), "data", "");
	if (ev == NULL || (text = json_dumps(ev, JSON_COMPACT)) == NULL)
		fatalx("%s: cannot encode an event", __func__);
	json_decref(ev);
	len = strlen(text);
	if (len < sizeof tail || strcmp(text + len - (sizeof tail - 1), tail))
		fatalx("%s: unexpected event text", __func__);
	text[len - (sizeof tail - 1)] = '\0';
	s->s_evhead = text;
	s->s_evheadlen = len - (sizeof tail - 1);
}

/* Forward the message reassembled in s_rx to the backend. */
static void
ws_emit_message(struct session *s)
{
	struct worker	*w = s->s_worker;
	size_t		 len = buf_used(&s->s_rx);

	METRICS_INC(&w->w_metrics, msgs_in);
	METRICS_ADD(&w->w_metrics, msgs_in_bytes, len);
	if (s->s_evhead == NULL)
		ws_make_evhead(s);
	backend_emit_message(w, s->s_id, s->s_evhead, s->s_evheadlen,
	    buf_data(&s->s_rx), len, s->s_rx_binary);
}

/*
 * Close a session from inside its receive callback, with code and reason.
 * Reading stops at once, so that lws does not go on inflating the rest of
 * a compressed frame; the close is sent when the socket is writable, and
 * TCP closed right after it. The backend hears at once.
 * (Returning -1 here would be quicker, but lws 4.1.6 neither sends the
 * close nor drops the connection when that happens inside an inflated
 * frame.)
 */
static int
ws_fail(struct session *s, struct lws *wsi, int code, const char *reason)
{
	ws_session_close(s, code, reason, 0);
	s->s_sent = 1;
	lws_rx_flow_control(wsi, 0);
	ws_session_end(s);
	return (0);
}

/*
 * limits.message_rate and byte_rate: take what arrived (len bytes, and
 * a message if it starts one) from the connection's buckets. Past either,
 * stop reading until it is back within its burst, so that the client
 * waits in its own TCP window and nothing is lost; or, with
 * limits.rate_action "close", close with 1008 naming the limit.
 */
static void
ws_rate(struct session *s, struct lws *wsi, size_t len, int message)
{
	const struct cfg	*c = s->s_cfg;
	struct worker		*w = s->s_worker;
	int64_t			 now, wait = 0, bytes;
	int			 by_bytes = 0;

	if (c->c_rate_bytes.r_interval == 0 &&
	    (c->c_rate_messages.r_interval == 0 || !message))
		return;
	now = rate_now();
	if (message && (wait = rate_take(&c->c_rate_messages,
	    &s->s_rate_messages, now, 1)) > 0)
		METRICS_INC(&w->w_metrics, rate_limited_messages);
	if ((bytes = rate_take(&c->c_rate_bytes, &s->s_rate_bytes, now,
	    len)) > 0) {
		METRICS_INC(&w->w_metrics, rate_limited_bytes);
		if (bytes > wait) {
			wait = bytes;
			by_bytes = 1;
		}
	}
	if (wait == 0)
		return;
	if (c->c_rate_action == RATE_CLOSE) {
		log_info("session %s: over limits.%s, closing", s->s_id,
		    by_bytes ? "byte_rate" : "message_rate");
		ws_fail(s, wsi, WSG_CLOSE_POLICY, by_bytes ?
		    "byte rate limit" : "message rate limit");
		return;
	}
	log_debug("session %s: over limits.%s, not read for %lld ms",
	    s->s_id, by_bytes ? "byte_rate" : "message_rate",
	    (long long)(wait / 1000000));
	s->s_rate_paused = 1;
	lws_rx_flow_control(wsi, 0);
	lws_set_timer_usecs(wsi, wait / 1000 + 1);
}

/* A text message is not UTF-8: 1007 (RFC 6455 7.4.1). */
static int
ws_bad_utf8(struct session *s, struct lws *wsi)
{
	METRICS_INC(&s->s_worker->w_metrics, msgs_dropped_bad_utf8);
	log_info("session %s: invalid UTF-8 in a text message, closing",
	    s->s_id);
	return (ws_fail(s, wsi, WSG_CLOSE_BAD_DATA, "invalid UTF-8"));
}

/*
 * The first piece of a frame (len bytes, rest to come) tells its declared
 * length: one that cannot fit what is left of limits.max_message_bytes is
 * refused then, after at most websocket.rx_buffer_bytes of it are read,
 * not once the limit's worth has arrived (RFC 6455 10.4). A compressed
 * frame declares what it takes on the wire, which zlib bounds by a little
 * more than what it inflates to (deflateBound); what it inflates to is
 * bounded piece by piece.
 */
static int
ws_frame_too_big(const struct session *s, size_t len, size_t rest)
{
	size_t	 max = s->s_cfg->c_max_message_bytes;

	if (s->s_deflate)
		return (rest > max + max / 2048 + 64);
	return (rest > max - buf_used(&s->s_rx) - len);
}

/*
 * A fragment of a client message arrived, inflated if it was compressed:
 * limits.max_message_bytes bounds what a compressed message inflates to.
 * A text is checked as it arrives, so that it fails at the piece where it
 * becomes invalid UTF-8, not once it is whole (RFC 6455 8.1). wsgated
 * checks it rather than lws: it must know the close code to tell the
 * backend, and lws keeps the code of a close it starts to itself.
 */
static int
ws_receive(struct session *s, struct lws *wsi, const void *in, size_t len)
{
	struct worker	*w = s->s_worker;
	size_t		 max = s->s_cfg->c_max_message_bytes, rest;
	int		 first;

	if (s->s_state != SESS_OPEN)
		return (0);
	first = buf_used(&s->s_rx) == 0 && lws_is_first_fragment(wsi);
	if (first) {
		s->s_rx_binary = (uint8_t)lws_frame_is_binary(wsi);
		s->s_rx_utf8 = 0;
	}
	rest = lws_remaining_packet_payload(wsi);
	if (len > max - buf_used(&s->s_rx) || (!s->s_rx_in_frame &&
	    ws_frame_too_big(s, len, rest))) {
		METRICS_INC(&w->w_metrics, msgs_dropped_too_big);
		log_info("session %s: message over %zu bytes, closing", s->s_id,
		    max);
		return (ws_fail(s, wsi, WSG_CLOSE_TOO_BIG, "message too big"));
	}
	s->s_rx_in_frame = rest != 0;
	ws_rate(s, wsi, len, first);
	if (s->s_state != SESS_OPEN)	/* closed for a rate */
		return (0);
	if (!s->s_rx_binary && utf8_check(&s->s_rx_utf8, in, len) == -1)
		return (ws_bad_utf8(s, wsi));
	buf_add(&s->s_rx, in, len);
	if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
		return (0);
	if (!s->s_rx_binary && s->s_rx_utf8 != 0)
		return (ws_bad_utf8(s, wsi));
	ws_emit_message(s);
	buf_reset(&s->s_rx);
	return (0);
}

/*
 * Write the frames queued for a client, as many as fit a batch, in one
 * lws_write(): lws 4.1.6 passes LWS_WRITE_HTTP bytes on a WebSocket
 * connection through as they are, and one send() for many messages costs
 * a fraction of one each. lws wants LWS_PRE bytes of room before what it
 * writes, and a shared frame is not the session's to lend, so the batch
 * is copied behind them in the worker's buffer. A frame longer than the
 * batch goes in pieces.
 */
static int
ws_write_frames(struct session *s, struct lws *wsi)
{
	struct worker		*w = s->s_worker;
	const struct outmsg	*o;
	size_t			 n = 0, k, rest;

	while (s->s_qn > 0 && n < WS_WRITE_BATCH) {
		o = s->s_q[s->s_qhead];
		rest = o->o_hlen + o->o_len - s->s_qoff;
		k = rest < WS_WRITE_BATCH - n ? rest : WS_WRITE_BATCH - n;
		memcpy(w->w_wbuf + LWS_PRE + n, ws_outmsg_frame(o) + s->s_qoff,
		    k);
		n += k;
		if (k < rest) {
			s->s_qoff += k;
			s->s_outq_bytes -= k;
			break;
		}
		ws_q_pop(s);
	}
	if (lws_write(wsi, w->w_wbuf + LWS_PRE, n, LWS_WRITE_HTTP) < (int)n)
		return (-1);
	if (s->s_qn > 0 || s->s_state == SESS_CLOSING)
		lws_callback_on_writable(wsi);
	return (0);
}

/*
 * Write one message for lws to compress (permessage-deflate), from a copy:
 * lws writes its header into the headroom, which a shared frame has not
 * to spare.
 */
static int
ws_write_message(struct session *s, struct lws *wsi)
{
	struct worker	*w = s->s_worker;
	struct outmsg	*o = s->s_q[s->s_qhead];
	unsigned char	*p = w->w_wbuf, *big = NULL;
	int		 n;

	if (o->o_len > WS_WRITE_BATCH)
		p = big = xmalloc(LWS_PRE + o->o_len);
	memcpy(p + LWS_PRE, o->o_data + LWS_PRE, o->o_len);
	n = lws_write(wsi, p + LWS_PRE, o->o_len, o->o_binary ?
	    LWS_WRITE_BINARY : LWS_WRITE_TEXT);
	free(big);
	ws_q_pop(s);
	if (n < 0)
		return (-1);
	if (s->s_qn > 0 || s->s_state == SESS_CLOSING)
		lws_callback_on_writable(wsi);
	return (0);
}

/*
 * Write what is queued for a client, or the close when it is due. The
 * close is lws's to send once this returns -1; the writable callback it
 * gives after sending it comes here again and, the session still
 * closing, drops the connection: the server closes TCP first (RFC 6455
 * 7.1.1) without waiting for the client's close.
 */
static int
ws_writeable(struct session *s, struct lws *wsi)
{
	if (s->s_state == SESS_CLOSING && (!s->s_close_flush ||
	    s->s_qn == 0)) {
		lws_close_reason(wsi, (enum lws_close_status)s->s_close_code,
		    (unsigned char *)ws_reason(s), strlen(ws_reason(s)));
		s->s_sent = 1;
		return (-1);
	}
	if (s->s_qn == 0)
		return (0);
	return (s->s_deflate ? ws_write_message(s, wsi) :
	    ws_write_frames(s, wsi));
}

/*
 * The client sent a close frame. A valid one is remembered and lws echoes
 * it. An invalid one (RFC 6455 5.5.1, 7.4) fails the connection: 1002, or
 * 1007 for a reason that is not UTF-8; return -1 for lws to send that and
 * close. lws 4.1.6 and 4.3.5 have already replaced some invalid codes
 * with 1002 in place, which is then what is seen and echoed.
 */
static int
ws_peer_close(struct session *s, struct lws *wsi, const unsigned char *in,
    size_t len)
{
	const char	*why = NULL;
	int		 code = WSG_CLOSE_PROTOCOL;

	s->s_rcvd_code = len >= 2 ? (uint16_t)(in[0] << 8 | in[1]) :
	    WSG_CLOSE_NO_STATUS;
	if (len == 1)
		why = "close frame of one byte";
	else if (len >= 2 && !wsg_close_code_valid(s->s_rcvd_code))
		why = "invalid close code";
	else if (len > 2 && !utf8_valid(in + 2, len - 2)) {
		code = WSG_CLOSE_BAD_DATA;
		why = "invalid UTF-8 in close reason";
	}
	if (why == NULL) {
		s->s_close_code = s->s_rcvd_code;
		ws_set_reason(s, len > 2 ? (const char *)in + 2 : "",
		    len > 2 ? len - 2 : 0);
		s->s_sent = 1;
		return (0);
	}
	log_info("session %s: %s, closing", s->s_id, why);
	s->s_rcvd_bad = 1;
	ws_session_close(s, code, why, 0);
	lws_close_reason(wsi, (enum lws_close_status)code,
	    (unsigned char *)why, strlen(why));
	s->s_sent = 1;
	ws_session_end(s);
	return (-1);
}

/*
 * lws is closing the connection. If it does so for a protocol error of
 * its own, it has a close frame ready: report its code and reason now,
 * not once TCP has closed, and mark the session closing, so that the
 * writable callback lws gives once that frame is out drops the
 * connection (ws_writeable) instead of waiting up to 5 s for a close
 * the client may never send or lws may not parse (after a reserved bit,
 * lws 4.1.6 goes on reading the frame's header). RFC 6455 7.1.7.
 */
static void
ws_dropping(struct session *s, struct lws *wsi)
{
	unsigned char	*p;
	size_t		 n;

	if (s->s_state == SESS_OPEN && s->s_rcvd_code == 0 &&
	    (n = lws_get_close_length(wsi)) >= 2) {
		p = lws_get_close_payload(wsi);
		s->s_state = SESS_CLOSING;
		s->s_close_code = p[0] << 8 | p[1];
		ws_set_reason(s, (const char *)p + 2, n - 2);
		if (!utf8_valid(p + 2, n - 2))
			ws_set_reason(s, "", 0);
		s->s_sent = 1;
		log_info("session %s: protocol error, closing with %d",
		    s->s_id, s->s_close_code);
		ws_session_end(s);
	}
}

static void
ws_writer_remove(struct session *s)
{
	if (s->s_writer) {
		TAILQ_REMOVE(&s->s_worker->w_writers, s, s_wlink);
		s->s_writer = 0;
	}
}

/*
 * Ask lws for the writable callbacks of the next WS_FANOUT_SLICE sessions
 * a fan-out gave frames, and wake this worker again for the rest. A
 * broadcast to thousands thus writes a slice per turn of the loop, and
 * other sockets' messages are served between slices instead of after
 * the last write of the broadcast.
 */
void
ws_writers_release(struct worker *w)
{
	struct session	*s;
	int		 n;

	for (n = 0; n < WS_FANOUT_SLICE; n++) {
		if ((s = TAILQ_FIRST(&w->w_writers)) == NULL)
			return;
		ws_writer_remove(s);
		lws_callback_on_writable(s->s_wsi);
	}
	if (!TAILQ_EMPTY(&w->w_writers))
		lws_cancel_service(w->w_lws);
}

/*
 * Queue a message for an open session; takes the reference passed. A
 * client that does not read is a slow consumer: past its queue limit the
 * message is dropped, and the session closed if the policy says so. A
 * fan-out's session waits its turn in w_writers; any other message asks
 * for the writable callback at once, and takes its session out of the
 * line, so a socket that is talking does not wait behind a broadcast.
 */
void
ws_enqueue(struct session *s, struct outmsg *o, int fanout)
{
	struct worker	*w = s->s_worker;
	size_t		 len = o->o_hlen + o->o_len;
	size_t		 max = s->s_cfg->c_max_send_queue_bytes;

	/*
	 * A message larger than the whole limit still goes to a client
	 * that has nothing waiting: else one as large as
	 * limits.max_message_bytes could never be echoed.
	 */
	if (s->s_qn > 0 && (s->s_outq_bytes >= max ||
	    len > max - s->s_outq_bytes)) {
		METRICS_INC(&w->w_metrics, msgs_dropped_slow_client);
		ws_outmsg_unref(o);
		if (s->s_cfg->c_send_queue_policy == SENDQ_CLOSE) {
			log_info("session %s: send queue over %zu bytes, "
			    "closing", s->s_id, s->s_cfg->c_max_send_queue_bytes);
			ws_session_close(s, WSG_CLOSE_POLICY, "send queue full",
			    0);
		}
		return;
	}
	METRICS_INC(&w->w_metrics, msgs_out);
	METRICS_ADD(&w->w_metrics, msgs_out_bytes, o->o_len);
	ws_q_push(s, o);
	if (fanout) {
		if (s->s_qn == 1) {
			TAILQ_INSERT_TAIL(&w->w_writers, s, s_wlink);
			s->s_writer = 1;
		}
	} else if (s->s_qn == 1 || s->s_writer) {
		ws_writer_remove(s);
		lws_callback_on_writable(s->s_wsi);
	}
}

/*
 * A question from the admin listener on the main thread. The asker and
 * every worker asked hold a reference; each worker adds its answer, and
 * the last to answer calls q_done, which wakes the asker's loop. The
 * asker may give up first (ws_query_free): q_done is then cleared, under
 * the lock that calls it, so it is never called after.
 */
struct ws_query {
	pthread_mutex_t	 q_lock;
	int		 q_refs;		/* q_lock */
	int		 q_pending;		/* q_lock: workers to answer */
	void		(*q_done)(void *);	/* q_lock */
	void		*q_arg;
	size_t		 q_limit;		/* INBOX_LIST */
	json_t		*q_sessions;		/* q_lock */
	int		 q_found;		/* q_lock */
};

static struct ws_query *
ws_query_new(int nworkers, void (*done)(void *), void *arg)
{
	struct ws_query	*q;

	q = xcalloc(1, sizeof *q);
	pthread_mutex_init(&q->q_lock, NULL);
	q->q_refs = nworkers + 1;
	q->q_pending = nworkers;
	q->q_done = done;
	q->q_arg = arg;
	if ((q->q_sessions = json_array()) == NULL)
		fatalx("%s: json_array", __func__);
	return (q);
}

/* Drop a reference; the last one frees the query. */
static void
ws_query_unref(struct ws_query *q)
{
	int	 last;

	pthread_mutex_lock(&q->q_lock);
	last = --q->q_refs == 0;
	pthread_mutex_unlock(&q->q_lock);
	if (!last)
		return;
	pthread_mutex_destroy(&q->q_lock);
	json_decref(q->q_sessions);
	free(q);
}

/*
 * A worker's answer: sessions to add (the reference is taken; may be
 * NULL) and whether it had the socket asked for. Worker thread.
 */
static void
ws_query_answer(struct ws_query *q, json_t *sessions, int found)
{
	pthread_mutex_lock(&q->q_lock);
	if (sessions != NULL && json_array_extend(q->q_sessions,
	    sessions) == -1)
		fatalx("%s: json_array_extend", __func__);
	/* Its entries are shared now: let go of them before the asker
	 * may touch them. */
	json_decref(sessions);
	q->q_found |= found;
	if (--q->q_pending == 0 && q->q_done != NULL)
		q->q_done(q->q_arg);
	pthread_mutex_unlock(&q->q_lock);
	ws_query_unref(q);
}

/* Up to limit of w's sessions, for GET /connections. No secret is in. */
static json_t *
ws_list(struct worker *w, size_t limit)
{
	struct session	*s;
	json_t		*list, *ctx, *user, *entry;
	int64_t		 now = ctx_now_ms(), age;
	size_t		 i, n = 0;

	if ((list = json_array()) == NULL)
		fatalx("%s: json_array", __func__);
	SESSMAP_FOREACH(s, &w->w_sessions, i) {
		if (n == limit)
			goto done;
		ctx = ws_ctx(s);
		user = json_object_get(ctx, "userId");
		age = (now - json_integer_value(json_object_get(ctx,
		    "createdAt"))) / 1000;
		entry = json_pack("{s:s, s:O?, s:s, s:i, s:I, s:I}",
		    "socketId", s->s_id, "userId", json_is_string(user) ?
		    user : NULL, "peer", s->s_peer, "worker", w->w_index,
		    "age_seconds", (json_int_t)(age > 0 ? age : 0),
		    "queued_bytes", (json_int_t)s->s_outq_bytes);
		if (entry == NULL || json_array_append_new(list, entry) == -1)
			fatalx("%s: cannot build a session entry", __func__);
		json_decref(ctx);
		n++;
	}
done:
	return (list);
}

/*
 * Ask every worker for up to limit of its sessions; done(arg) is called
 * on a worker thread once all have answered. Main thread.
 */
struct ws_query *
ws_query_list(size_t limit, void (*done)(void *), void *arg)
{
	struct ws_query		*q;
	struct inbox_item	*it;
	int			 i;

	q = ws_query_new(ws_n, done, arg);
	q->q_limit = limit;
	if (ws_n == 0)
		done(arg);
	for (i = 0; i < ws_n; i++) {
		it = xcalloc(1, sizeof *it);
		it->i_kind = INBOX_LIST;
		it->i_query = q;
		ws_post(&ws_workers[i], it);
	}
	return (q);
}

/*
 * Close socket id as a backend's close would; NULL if no worker could
 * own such an id. done(arg) is called once its worker has answered.
 */
struct ws_query *
ws_query_close(const char *id, int code, const char *reason,
    void (*done)(void *), void *arg)
{
	struct worker		*owner = ws_owner(id, strlen(id));
	struct ws_query		*q;
	struct inbox_item	*it;

	if (owner == NULL)
		return (NULL);
	q = ws_query_new(1, done, arg);
	it = xcalloc(1, sizeof *it);
	it->i_kind = INBOX_CLOSE;
	memcpy(it->i_id, id, WSG_ID_LEN);
	it->i_code = code;
	snprintf(it->i_reason, sizeof it->i_reason, "%s", reason);
	it->i_query = q;
	ws_post(owner, it);
	return (q);
}

/* Send a message to socket id as a backend's send would; as above. */
struct ws_query *
ws_query_send(const char *id, const void *data, size_t len, int binary,
    void (*done)(void *), void *arg)
{
	struct worker		*owner = ws_owner(id, strlen(id));
	struct ws_query		*q;
	struct inbox_item	*it;

	if (owner == NULL)
		return (NULL);
	q = ws_query_new(1, done, arg);
	it = xcalloc(1, sizeof *it);
	it->i_kind = INBOX_SEND;
	memcpy(it->i_id, id, WSG_ID_LEN);
	it->i_msg = ws_outmsg_new(data, len, binary);
	it->i_query = q;
	ws_post(owner, it);
	return (q);
}

/* The sessions the workers listed: a new reference. After done. */
json_t *
ws_query_sessions(struct ws_query *q)
{
	json_t	*list;

	pthread_mutex_lock(&q->q_lock);
	list = json_incref(q->q_sessions);
	pthread_mutex_unlock(&q->q_lock);
	return (list);
}

/* Did a worker have the socket? After done. */
int
ws_query_found(struct ws_query *q)
{
	int	 found;

	pthread_mutex_lock(&q->q_lock);
	found = q->q_found;
	pthread_mutex_unlock(&q->q_lock);
	return (found);
}

/* The asker is done with q, answered or not: done is not called again. */
void
ws_query_free(struct ws_query *q)
{
	pthread_mutex_lock(&q->q_lock);
	q->q_done = NULL;
	pthread_mutex_unlock(&q->q_lock);
	ws_query_unref(q);
}

/* Adopt a socket from the front door into this worker's lws context. */
static void
ws_adopt(struct worker *w, struct session *s)
{
	struct lws	*wsi;
	char		*head = s->s_head;

	s->s_head = NULL;
	if (w->w_stopping) {
		close(s->s_fd);
		free(head);
		ws_session_free(s);
		return;
	}
	/*
	 * The session is attached to its wsi in NEW_CLIENT_INSTANTIATED,
	 * inside this call and before lws parses the head; from then on
	 * WSI_DESTROY frees it. lws owns the fd whatever happens.
	 */
	s->s_cfg = cfg_ref(w->w_cfg);
	w->w_adopting = s;
	wsi = lws_adopt_socket_vhost_readbuf(w->w_vhost, s->s_fd, head,
	    s->s_headlen);
	free(head);
	if (w->w_adopting == s) {
		w->w_adopting = NULL;
		log_warnx("session %s: libwebsockets refused the socket",
		    s->s_id);
		if (wsi != NULL)
			lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK,
			    LWS_TO_KILL_ASYNC);
		ws_session_free(s);
	}
}

static void
ws_stop_check_cb(lws_sorted_usec_list_t *sul)
{
	struct worker	*w = lws_container_of(sul, struct worker,
			    w_stop_timer);

	if (__atomic_load_n(&w->w_nsessions, __ATOMIC_RELAXED) == 0 &&
	    backend_idle(w)) {
		ev_break((struct ev_loop *)w->w_loop, EVBREAK_ALL);
		return;
	}
	if (ctx_now_ms() >= w->w_stop_deadline) {
		log_warnx("worker %d: shutdown_timeout reached with %zu sessions "
		    "and %zu bytes for the backend (%llu messages) left",
		    w->w_index, __atomic_load_n(&w->w_nsessions,
		    __ATOMIC_RELAXED), buf_used(&w->w_backend.bl_out),
		    (unsigned long long)backend_queued_msgs(w));
		ev_break((struct ev_loop *)w->w_loop, EVBREAK_ALL);
		return;
	}
	lws_sul_schedule(w->w_lws, 0, &w->w_stop_timer, ws_stop_check_cb,
	    WS_STOP_POLL_US);
}

/* Start a graceful stop: close every client with 1001, then drain. */
static void
ws_begin_stop(struct worker *w, int timeout_ms)
{
	w->w_stopping = 1;
	w->w_stop_deadline = ctx_now_ms() + timeout_ms;
	ws_close_all(w, WSG_CLOSE_GOING_AWAY, "going away");
	lws_sul_schedule(w->w_lws, 0, &w->w_stop_timer, ws_stop_check_cb, 1);
}

/*
 * lws pings a client ping_interval seconds after its last pong (or the
 * upgrade) and drops it idle_timeout seconds after, in whole seconds.
 * Without pings there is nothing to time out on. A change reaches each
 * connection when its next ping is scheduled.
 */
static void
ws_set_idle_policy(struct worker *w)
{
	const struct cfg	*cfg = w->w_cfg;

	memset(&w->w_retry, 0, sizeof w->w_retry);
	if (cfg->c_ping_interval > 0) {
		w->w_retry.secs_since_valid_ping =
		    (uint16_t)ceil(cfg->c_ping_interval);
		w->w_retry.secs_since_valid_hangup = cfg->c_idle_timeout > 0 ?
		    (uint16_t)ceil(cfg->c_idle_timeout) : UINT16_MAX;
	}
}

/* A reloaded configuration: new sessions take its limits. */
static void
ws_apply_cfg(struct worker *w, struct cfg *cfg)
{
	cfg_free(w->w_cfg);
	w->w_cfg = cfg;
	ws_set_idle_policy(w);
	w->w_backend.bl_dec.fd_max = cfg->c_max_frame_bytes;
}

/* Give every worker a reloaded configuration. */
void
ws_set_cfg(struct cfg *cfg)
{
	struct inbox_item	*it;
	int			 i;

	for (i = 0; i < ws_n; i++) {
		it = xcalloc(1, sizeof *it);
		it->i_kind = INBOX_CFG;
		it->i_cfg = cfg_ref(cfg);
		ws_post(&ws_workers[i], it);
	}
}

/* Drop what other threads posted too late to be served. */
static void
ws_discard_inbox(struct worker *w)
{
	struct inbox_item	*it;

	pthread_mutex_lock(&w->w_lock);
	while ((it = TAILQ_FIRST(&w->w_inbox)) != NULL) {
		TAILQ_REMOVE(&w->w_inbox, it, i_entry);
		if (it->i_kind == INBOX_ADOPT) {
			close(it->i_session->s_fd);
			ws_session_free(it->i_session);
		}
		if (it->i_query != NULL)
			ws_query_answer(it->i_query, NULL, 0);
		ws_outmsg_unref(it->i_msg);
		ws_outmsg_unref(it->i_fanout.f_msg);
		cfg_free(it->i_cfg);
		free(it->i_key);
		free(it);
	}
	pthread_mutex_unlock(&w->w_lock);
}

static void
ws_drain_inbox(struct worker *w)
{
	struct inbox		 items;
	struct inbox_item	*it;

	TAILQ_INIT(&items);
	pthread_mutex_lock(&w->w_lock);
	TAILQ_CONCAT(&items, &w->w_inbox, i_entry);
	pthread_mutex_unlock(&w->w_lock);

	while ((it = TAILQ_FIRST(&items)) != NULL) {
		TAILQ_REMOVE(&items, it, i_entry);
		switch (it->i_kind) {
		case INBOX_ADOPT:
			ws_adopt(w, it->i_session);
			break;
		case INBOX_SEND:
			if (it->i_query == NULL)
				route_socket_send(w, it->i_id, it->i_msg,
				    it->i_remote);
			else if (route_deliver_local(w, it->i_id,
			    it->i_msg) == 0)
				ws_query_answer(it->i_query, NULL, 1);
			else {
				ws_outmsg_unref(it->i_msg);
				ws_query_answer(it->i_query, NULL, 0);
			}
			break;
		case INBOX_CLOSE:
			if (it->i_query != NULL)
				ws_query_answer(it->i_query, NULL,
				    route_close_local(w, it->i_id, it->i_code,
				    it->i_reason) == 0);
			else
				route_socket_close(w, it->i_id, it->i_code,
				    it->i_reason, it->i_remote);
			break;
		case INBOX_SUBSCRIBE:
		case INBOX_UNSUBSCRIBE:
			route_socket_subscribe(w, it->i_id, it->i_key,
			    it->i_keylen, it->i_kind == INBOX_SUBSCRIBE,
			    it->i_remote);
			break;
		case INBOX_FANOUT:
			route_fanout(w, &it->i_fanout);
			ws_outmsg_unref(it->i_fanout.f_msg);
			break;
		case INBOX_NODE_LOST:
			route_emit_node_lost(w, it);
			break;
		case INBOX_LIST:
			ws_query_answer(it->i_query, ws_list(w,
			    it->i_query->q_limit), 0);
			break;
		case INBOX_CFG:
			ws_apply_cfg(w, it->i_cfg);
			break;
		case INBOX_STOP:
			ws_begin_stop(w, it->i_code);
			break;
		}
		free(it->i_key);
		free(it);
	}
}

/* The lws callback for client sockets, before and after the upgrade. */
static int
ws_client_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct worker	*w = lws_context_user(lws_get_context(wsi));
	struct session	*s = lws_get_opaque_user_data(wsi);

	switch (reason) {
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		/* Sent to every protocol; the second drain finds nothing. */
		ws_drain_inbox(w);
		ws_writers_release(w);
		return (0);
	case LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED:
		if ((s = w->w_adopting) != NULL) {
			w->w_adopting = NULL;
			s->s_wsi = wsi;
			lws_set_opaque_user_data(wsi, s);
			/*
			 * Not lws's to free; with a user pointer lws tells
			 * when it starts to close (WS_SERVER_DROP_PROTOCOL).
			 */
			lws_set_wsi_user(wsi, s);
		}
		return (0);
	case LWS_CALLBACK_ESTABLISHED:
		if (s == NULL)
			return (-1);
		s->s_state = SESS_OPEN;
		sessmap_insert(&w->w_sessions, s);
		if (w->w_paused)
			lws_rx_flow_control(wsi, 0);
		METRICS_INC(&w->w_metrics, sockets_opened);
		metrics_handshake(&w->w_metrics, (uint32_t)metrics_now_us() -
		    s->s_accepted_us);
		log_debug("session %s: open", s->s_id);
		route_open(s, s->s_ctx);
		ws_emit_open(s);
		return (0);
	case LWS_CALLBACK_RECEIVE:
		return (s != NULL ? ws_receive(s, wsi, in, len) : 0);
	case LWS_CALLBACK_TIMER:
		/* The end of a pause for limits.message_rate or byte_rate. */
		if (s != NULL && s->s_rate_paused) {
			s->s_rate_paused = 0;
			if (s->s_state == SESS_OPEN && !w->w_paused)
				lws_rx_flow_control(wsi, 1);
		}
		return (0);
	case LWS_CALLBACK_SERVER_WRITEABLE:
		if (s == NULL)
			return (0);
		return (ws_writeable(s, wsi));
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (s != NULL && s->s_state == SESS_OPEN)
			return (ws_peer_close(s, wsi, in, len));
		return (0);
	case LWS_CALLBACK_WS_SERVER_DROP_PROTOCOL:
		if (s != NULL)
			ws_dropping(s, wsi);
		return (0);
	case LWS_CALLBACK_CLOSED:
		if (s == NULL || (s->s_state != SESS_OPEN &&
		    s->s_state != SESS_CLOSING))
			return (0);
		if (s->s_state == SESS_OPEN && s->s_rcvd_code == 0) {
			s->s_close_code = WSG_CLOSE_ABNORMAL;
			ws_set_reason(s, "", 0);
		}
		s->s_state = SESS_CLOSED;
		ws_session_end(s);
		return (0);
	case LWS_CALLBACK_WSI_DESTROY:
		if (s != NULL) {
			lws_set_opaque_user_data(wsi, NULL);
			if (s->s_state == SESS_OPEN || s->s_state ==
			    SESS_CLOSING)
				ws_session_end(s);
			ws_session_free(s);
		}
		return (0);
	default:
		return (0);
	}
}

static struct lws_protocols *
ws_protocols(const struct cfg *cfg)
{
	struct lws_protocols	*p;
	size_t			 i, n = 0;

	p = xcalloc(cfg->c_nsubprotocols + 3, sizeof *p);
	/* First: lws binds it when the client asks for no subprotocol. */
	for (i = 0; i <= cfg->c_nsubprotocols; i++) {
		p[n].name = i == 0 ? WS_PROTOCOL : cfg->c_subprotocols[i - 1];
		p[n].callback = ws_client_cb;
		p[n].rx_buffer_size = cfg->c_rx_buffer_bytes;
		/* Else lws cuts each send() to rx_buffer_size. */
		p[n++].tx_packet_size = WS_WRITE_BATCH;
	}
	p[n].name = WS_BACKEND_PROTOCOL;
	p[n++].callback = backend_cb;
	return (p);
}

static int
ws_create_context(struct worker *w)
{
	struct lws_context_creation_info	 info;
	void					*loops[1];

	w->w_loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
	if (w->w_loop == NULL) {
		log_warnx("worker %d: cannot create an event loop", w->w_index);
		return (-1);
	}
	loops[0] = w->w_loop;
	w->w_protocols = ws_protocols(w->w_cfg);

	memset(&info, 0, sizeof info);
	info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
	    LWS_SERVER_OPTION_LIBEV | LWS_SERVER_OPTION_DISABLE_OS_CA_CERTS;
	info.foreign_loops = loops;
	info.user = w;
	info.max_http_header_data = WS_LWS_HEADER_DATA;
	info.pt_serv_buf_size = WS_THREAD_BUFFER;
	info.protocols = w->w_protocols;
	info.vhost_name = "wsgated";
	ws_set_idle_policy(w);
	info.retry_and_idle_policy = &w->w_retry;
	if (w->w_cfg->c_compression)
		info.extensions = ws_extensions;
	if ((w->w_lws = lws_create_context(&info)) == NULL) {
		log_warnx("worker %d: cannot create a libwebsockets context "
		    "(is the package libwebsockets-evlib-ev installed?)",
		    w->w_index);
		return (-1);
	}
	if ((w->w_vhost = lws_create_vhost(w->w_lws, &info)) == NULL) {
		log_warnx("worker %d: cannot create a libwebsockets vhost",
		    w->w_index);
		return (-1);
	}
	return (0);
}

/*
 * lws 4.1.6's libev plugin re-arms its timer with ev_timer_set() while the
 * watcher may still be active, which libev ignores: a timer scheduled
 * earlier than the one pending (a backend retry, an lws close timeout)
 * would wait for the later one. A short periodic timer bounds that delay.
 */
static void
ws_tick_cb(lws_sorted_usec_list_t *sul)
{
	struct worker	*w = lws_container_of(sul, struct worker, w_tick);

	/* The watchdog's proof that this loop still runs (ws_stalled). */
	__atomic_fetch_add(&w->w_beats, 1, __ATOMIC_RELAXED);

	/* backend.down_action "close": the backend is gone for too long. */
	if (w->w_cfg->c_down_action == DOWN_CLOSE &&
	    !w->w_backend.bl_closed_all && ws_backend_lost(w, ctx_now_ms())) {
		w->w_backend.bl_closed_all = 1;
		log_warnx("worker %d: backend down for %g s, closing %zu "
		    "sockets with 1013", w->w_index, w->w_cfg->c_down_timeout,
		    w->w_sessions.sm_count);
		ws_close_all(w, WSG_CLOSE_TRY_AGAIN, "backend unavailable");
	}
	lws_sul_schedule(w->w_lws, 0, &w->w_tick, ws_tick_cb, WS_TICK_US);
}

static void *
ws_thread(void *arg)
{
	struct worker	*w = arg;
	int		 failed;

	failed = ws_create_context(w) == -1;
	pthread_mutex_lock(&ws_start_lock);
	ws_started++;
	ws_start_failed |= failed;
	pthread_cond_signal(&ws_start_cond);
	pthread_mutex_unlock(&ws_start_lock);
	if (failed)
		return (NULL);

	ws_tick_cb(&w->w_tick);
	backend_start(w);
	ev_run((struct ev_loop *)w->w_loop, 0);

	/* Stopped: let lws close what is left, then its loop handles. */
	w->w_destroying = 1;
	ws_discard_inbox(w);
	lws_sul_cancel(&w->w_tick);
	lws_sul_cancel(&w->w_stop_timer);
	lws_sul_cancel(&w->w_backend.bl_retry);
	lws_context_destroy(w->w_lws);
	w->w_lws = NULL;
	backend_free(w);
	ev_run((struct ev_loop *)w->w_loop, 0);
	ev_loop_destroy((struct ev_loop *)w->w_loop);
	w->w_loop = NULL;
	return (NULL);
}

/* Start the workers; return -1 with *cause if any cannot run. */
int
ws_start(struct cfg *cfg, char **cause)
{
	struct worker	*w;
	unsigned char	 key[16];
	long		 ncpu;
	int		 i, n = cfg->c_workers;

	if (n == 0) {
		ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		n = ncpu < 1 ? 1 : ncpu > WSG_MAX_WORKERS ? WSG_MAX_WORKERS :
		    (int)ncpu;
	}
	/*
	 * lws formats its log lines in one buffer for the whole process
	 * (LWS_MAX_SMP is 1), so two workers logging at once can mix their
	 * lines; and it logs every adoption as an error. Its lines are only
	 * wanted when debugging.
	 */
	lws_set_log_level(log_debug_enabled() ? LLL_ERR | LLL_WARN : 0,
	    log_lws_cb);

	/* The users' and topics' maps hash under a key of this process. */
	if (getrandom(key, sizeof key, 0) != (ssize_t)sizeof key)
		fatal("getrandom");
	strmap_seed(key);

	ws_start_cfg = cfg_ref(cfg);
	ws_workers = xcalloc((size_t)n, sizeof *ws_workers);
	for (i = 0; i < n; i++) {
		w = &ws_workers[i];
		w->w_index = i;
		w->w_cfg = cfg_ref(cfg);
		pthread_mutex_init(&w->w_lock, NULL);
		TAILQ_INIT(&w->w_inbox);
		sessmap_init(&w->w_sessions);
		TAILQ_INIT(&w->w_writers);
		route_init(w);
		w->w_wbuf = xmalloc(LWS_PRE + WS_WRITE_BATCH);
		backend_init(w);
	}
	ws_n = n;
	ws_started_ms = ctx_now_ms();
	for (i = 0; i < n; i++) {
		if (pthread_create(&ws_workers[i].w_thread, NULL, ws_thread,
		    &ws_workers[i]) != 0)
			fatal("pthread_create");
	}
	pthread_mutex_lock(&ws_start_lock);
	while (ws_started < n)
		pthread_cond_wait(&ws_start_cond, &ws_start_lock);
	pthread_mutex_unlock(&ws_start_lock);
	if (ws_start_failed) {
		xasprintf(cause, "cannot start the WebSocket workers");
		return (-1);
	}
	log_info("%d workers, backend %s (%s)", n, cfg->c_backend_socket,
	    cfg_framing_name(cfg->c_backend_framing));
	return (0);
}

/*
 * Stop every worker: clients get 1001, the backend queues drain, and each
 * worker gives up after timeout seconds. Returns when all have ended.
 */
void
ws_stop(double timeout)
{
	struct inbox_item	*it;
	struct metrics		 total;
	int			 i;

	for (i = 0; i < ws_n; i++) {
		it = xcalloc(1, sizeof *it);
		it->i_kind = INBOX_STOP;
		it->i_code = (int)(timeout * 1000);
		ws_post(&ws_workers[i], it);
	}
	for (i = 0; i < ws_n; i++)
		pthread_join(ws_workers[i].w_thread, NULL);
	memset(&total, 0, sizeof total);
	ws_sum_metrics(&total);
	ws_retired = total;
	for (i = 0; i < ws_n; i++) {
		sessmap_free(&ws_workers[i].w_sessions);
		route_free(&ws_workers[i]);
		free(ws_workers[i].w_protocols);
		free(ws_workers[i].w_wbuf);
		cfg_free(ws_workers[i].w_cfg);
		pthread_mutex_destroy(&ws_workers[i].w_lock);
	}
	free(ws_workers);
	ws_workers = NULL;
	ws_n = 0;
	cfg_free(ws_start_cfg);
	ws_start_cfg = NULL;
}
