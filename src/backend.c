/*
 * A worker's link to the backend: a Unix stream socket adopted into the
 * worker's lws context as a raw socket, so its reads and writes happen
 * on the worker's thread. Events are encoded into bl_out as whole frames
 * and written in as few send() calls as the socket allows; while the
 * backend is away they wait there, up to backend.queue_bytes.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wsgated.h"
#include "ws.h"

static const char *const backend_err_names[BACKEND_ERR_MAX] = {
	"invalid JSON", "not a JSON object", "bad field", "unknown type",
	"unknown socket", "frame too big", "limit"
};

static void	backend_retry_cb(lws_sorted_usec_list_t *);
static int	backend_admit(struct worker *, enum backend_ev);
static void	backend_queued(struct worker *);

void
backend_init(struct worker *w)
{
	struct backend_link	*bl = &w->w_backend;

	memset(bl, 0, sizeof *bl);
	bl->bl_worker = w;
	bl->bl_state = BACKEND_DOWN;
	bl->bl_delay = w->w_cfg->c_reconnect_min;
	/* A reload does not change these: they need a restart. */
	bl->bl_framing = w->w_cfg->c_backend_framing;
	bl->bl_path = xstrdup(w->w_cfg->c_backend_socket);
	buf_init(&bl->bl_out);
	buf_init(&bl->bl_recs);
	bl->bl_down_since = ctx_now_ms();
	frame_dec_init(&bl->bl_dec, bl->bl_framing,
	    w->w_cfg->c_max_frame_bytes);
}

void
backend_free(struct worker *w)
{
	struct backend_link	*bl = &w->w_backend;

	buf_free(&bl->bl_out);
	buf_free(&bl->bl_recs);
	frame_dec_free(&bl->bl_dec);
	free(bl->bl_path);
}

/* Try to connect now. */
void
backend_start(struct worker *w)
{
	lws_sul_schedule(w->w_lws, 0, &w->w_backend.bl_retry,
	    backend_retry_cb, 1);
}

/* Count a backend error, and log it unless that kind was logged lately. */
void
backend_error(struct worker *w, enum backend_err kind, const char *fmt, ...)
{
	static const size_t	 offsets[BACKEND_ERR_MAX] = {
		offsetof(struct metrics, backend_err_invalid_json),
		offsetof(struct metrics, backend_err_not_object),
		offsetof(struct metrics, backend_err_bad_field),
		offsetof(struct metrics, backend_err_unknown_type),
		offsetof(struct metrics, backend_err_unknown_socket),
		offsetof(struct metrics, backend_err_too_big),
		offsetof(struct metrics, backend_err_limit),
	};
	uint64_t		*counter, suppressed;
	char			 msg[256];
	va_list			 ap;

	counter = (uint64_t *)((char *)&w->w_metrics + offsets[kind]);
	__atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
	if (!ratelog_allow(&w->w_backend.bl_rl[kind], &suppressed)) {
		if (!log_debug_enabled())
			return;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof msg, fmt, ap);
		va_end(ap);
		log_debug("backend error (%s): %s", backend_err_names[kind],
		    msg);
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (suppressed > 0)
		log_warnx("backend error (%s): %s (%llu more since the last "
		    "report)", backend_err_names[kind], msg,
		    (unsigned long long)suppressed);
	else
		log_warnx("backend error (%s): %s", backend_err_names[kind],
		    msg);
}

static void
backend_schedule_retry(struct worker *w)
{
	struct backend_link	*bl = &w->w_backend;
	double			 max = w->w_cfg->c_reconnect_max;

	if (w->w_destroying)
		return;
	lws_sul_schedule(w->w_lws, 0, &bl->bl_retry, backend_retry_cb,
	    (lws_usec_t)(bl->bl_delay * LWS_US_PER_SEC));
	bl->bl_delay = bl->bl_delay * 2 > max ? max : bl->bl_delay * 2;
}

/*
 * A connect failed with errno. Logged at the start of an outage and
 * whenever the error changes (ENOENT while the backend is away, then
 * EACCES if it comes back with a socket wsgated may not use), at most
 * once a second; the retries' backoff spaces them further.
 */
static void
backend_connect_failed(struct worker *w)
{
	struct backend_link	*bl = &w->w_backend;
	int			 err = errno;
	int64_t			 now = ctx_now_ms();

	if (err == bl->bl_down_errno || (bl->bl_down_errno != 0 &&
	    now - bl->bl_down_logged < 1000))
		return;
	errno = err;
	log_warn("worker %d: backend %s: cannot connect, retrying", w->w_index,
	    bl->bl_path);
	bl->bl_down_errno = err;
	bl->bl_down_logged = now;
}

static void
backend_retry_cb(lws_sorted_usec_list_t *sul)
{
	struct backend_link	*bl = lws_container_of(sul, struct backend_link,
				    bl_retry);
	struct worker		*w = bl->bl_worker;
	const char		*path = bl->bl_path;
	struct sockaddr_un	 sun;
	lws_sock_file_fd_type	 fd;

	/* A stopping worker still reconnects: its queue must drain. */
	if (bl->bl_state == BACKEND_UP)
		return;
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);

	fd.sockfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd.sockfd == -1) {
		log_warn("worker %d: backend socket", w->w_index);
		backend_schedule_retry(w);
		return;
	}
	log_debug("worker %d: connecting to backend %s", w->w_index, path);
	if (connect(fd.sockfd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		backend_connect_failed(w);
		close(fd.sockfd);
		backend_schedule_retry(w);
		return;
	}
	/* lws owns the fd from here, and closes it if adoption fails. */
	if (lws_adopt_descriptor_vhost(w->w_vhost, LWS_ADOPT_SOCKET, fd,
	    WS_BACKEND_PROTOCOL, NULL) == NULL) {
		log_warnx("worker %d: backend: libwebsockets refused the "
		    "socket", w->w_index);
		backend_schedule_retry(w);
	}
}

/* Append an encoded event and its record to the queue. */
static void
backend_queue(struct backend_link *bl, enum backend_ev kind, json_t *ev,
    enum framing framing)
{
	struct backend_rec	 rec;
	size_t			 before = buf_used(&bl->bl_out);
	json_t			*id;

	memset(&rec, 0, sizeof rec);
	if (json_is_string(id = json_object_get(ev, "socketId")) &&
	    json_string_length(id) == WSG_ID_LEN)
		memcpy(rec.r_id, json_string_value(id), WSG_ID_LEN);
	rec.r_seq = ++bl->bl_seq;

	if (frame_encode(framing, ev, &bl->bl_out) == -1)
		fatalx("%s: cannot encode an event", __func__);
	rec.r_len = buf_used(&bl->bl_out) - before;
	rec.r_kind = kind;
	buf_add(&bl->bl_recs, &rec, sizeof rec);
	if (kind == BACKEND_EV_MESSAGE)
		bl->bl_queued_msgs++;
}

/*
 * Queue an event for the backend; it takes no reference to ev. Past
 * backend.queue_bytes the worker stops reading from its clients, so the
 * queue only overshoots by what lws had read already; past twice that,
 * events are dropped. Return 0, or -1 if the event was dropped.
 */
int
backend_emit(struct worker *w, enum backend_ev kind, json_t *ev)
{
	struct backend_link	*bl = &w->w_backend;

	if (!backend_admit(w, kind))
		return (-1);
	backend_queue(bl, kind, ev, bl->bl_framing);
	backend_queued(w);
	return (0);
}

/*
 * Queue a message event of socket id, built from the socket's event head
 * (jansson's own text for everything but the data) and the message: the
 * hot path encodes no JSON object per message.
 */
int
backend_emit_message(struct worker *w, const char *id, const char *head,
    size_t headlen, const void *data, size_t len, int binary)
{
	struct backend_link	*bl = &w->w_backend;
	struct backend_rec	 rec;
	size_t			 before = buf_used(&bl->bl_out);

	if (!backend_admit(w, BACKEND_EV_MESSAGE))
		return (-1);
	frame_message(bl->bl_framing, &bl->bl_out, head, headlen, data, len,
	    binary);
	memset(&rec, 0, sizeof rec);
	rec.r_len = buf_used(&bl->bl_out) - before;
	rec.r_seq = ++bl->bl_seq;
	rec.r_kind = BACKEND_EV_MESSAGE;
	memcpy(rec.r_id, id, WSG_ID_LEN);
	buf_add(&bl->bl_recs, &rec, sizeof rec);
	bl->bl_queued_msgs++;
	backend_queued(w);
	return (0);
}

/* May an event be queued? Past twice queue_bytes, client messages drop. */
static int
backend_admit(struct worker *w, enum backend_ev kind)
{
	if (buf_used(&w->w_backend.bl_out) <= 2 * w->w_cfg->c_queue_bytes)
		return (1);
	if (kind == BACKEND_EV_MESSAGE)
		METRICS_INC(&w->w_metrics, msgs_dropped_queue_full);
	return (0);
}

/* The queue's size changed: publish it for the admin listener. */
static void
backend_account(struct backend_link *bl)
{
	__atomic_store_n(&bl->bl_queued_bytes, buf_used(&bl->bl_out),
	    __ATOMIC_RELAXED);
}

/* An event was queued: stop reading clients past queue_bytes; write. */
static void
backend_queued(struct worker *w)
{
	struct backend_link	*bl = &w->w_backend;

	backend_account(bl);
	if (buf_used(&bl->bl_out) > w->w_cfg->c_queue_bytes && !bl->bl_paused) {
		bl->bl_paused = 1;
		ws_pause(w, 1);
	}
	if (bl->bl_state == BACKEND_UP)
		lws_callback_on_writable(bl->bl_wsi);
}

/*
 * A new connection starts with a hello and an open for every socket the
 * worker serves, ahead of whatever was queued: a backend that restarted
 * learns who is connected without trusting any earlier event. Sockets
 * whose open is still queued get theirs there, in its place.
 */
static void
backend_hello(struct worker *w)
{
	struct backend_link	*bl = &w->w_backend;
	struct backend_link	 pre;
	struct session		*s;
	size_t			 i, n = 0;
	json_t			*ev;

	struct backend_rec	 rec;
	size_t			 off;

	memset(&pre, 0, sizeof pre);
	buf_init(&pre.bl_out);
	buf_init(&pre.bl_recs);
	SESSMAP_FOREACH(s, &w->w_sessions, i) {
		s->s_open_queued = 0;
		n++;
	}
	for (off = 0; off < buf_used(&bl->bl_recs); off += sizeof rec) {
		memcpy(&rec, buf_data(&bl->bl_recs) + off, sizeof rec);
		if (rec.r_kind == BACKEND_EV_OPEN &&
		    (s = sessmap_find(&w->w_sessions, rec.r_id, WSG_ID_LEN)))
			s->s_open_queued = 1;
	}
	ev = json_pack("{s:s, s:s, s:I, s:i, s:i, s:I, s:I}", "type", "hello",
	    "instance", w->w_cfg->c_instance, "epoch", (json_int_t)ws_epoch(),
	    "worker", w->w_index, "workers", ws_nworkers(), "sockets",
	    (json_int_t)n, "maxEventBytes",
	    (json_int_t)frame_max_event(w->w_cfg));
	backend_queue(&pre, BACKEND_EV_HELLO, ev, bl->bl_framing);
	json_decref(ev);
	SESSMAP_FOREACH(s, &w->w_sessions, i) {
		if (s->s_open_queued)
			continue;
		ev = ws_open_event(s);
		backend_queue(&pre, BACKEND_EV_OPEN, ev, bl->bl_framing);
		json_decref(ev);
	}
	buf_add(&pre.bl_out, buf_data(&bl->bl_out), buf_used(&bl->bl_out));
	buf_add(&pre.bl_recs, buf_data(&bl->bl_recs), buf_used(&bl->bl_recs));
	buf_free(&bl->bl_out);
	buf_free(&bl->bl_recs);
	bl->bl_out = pre.bl_out;
	bl->bl_recs = pre.bl_recs;
	bl->bl_sent = 0;
	backend_account(bl);
}

/* Is everything written? A stopping worker waits for that. */
int
backend_idle(struct worker *w)
{
	return (buf_used(&w->w_backend.bl_out) == 0);
}

/* How many client messages wait in the queue. */
uint64_t
backend_queued_msgs(struct worker *w)
{
	return (__atomic_load_n(&w->w_backend.bl_queued_msgs,
	    __ATOMIC_RELAXED));
}

/* Bytes of events in the queue. Any thread. */
size_t
backend_queued_bytes(struct worker *w)
{
	return (__atomic_load_n(&w->w_backend.bl_queued_bytes,
	    __ATOMIC_RELAXED));
}

/*
 * Is the link connected? Any thread may ask: bl_down_since is 0 exactly
 * while it is, and is read and written atomically.
 */
int
backend_up(struct worker *w)
{
	return (__atomic_load_n(&w->w_backend.bl_down_since,
	    __ATOMIC_RELAXED) == 0);
}

/*
 * Count n more bytes as written. Only whole frames leave the queue: a
 * frame cut by a lost connection is sent again, whole, on the next one.
 */
static void
backend_consume(struct worker *w, size_t n)
{
	struct backend_link	*bl = &w->w_backend;
	struct backend_rec	 rec;
	size_t			 done = 0;

	bl->bl_sent += n;
	while (buf_used(&bl->bl_recs) > 0) {
		memcpy(&rec, buf_data(&bl->bl_recs), sizeof rec);
		if (bl->bl_sent - done < rec.r_len)
			break;
		done += rec.r_len;
		buf_drain(&bl->bl_recs, sizeof rec);
		if (rec.r_kind == BACKEND_EV_MESSAGE) {
			bl->bl_queued_msgs--;
			METRICS_INC(&w->w_metrics, msgs_delivered);
		}
	}
	buf_drain(&bl->bl_out, done);
	bl->bl_sent -= done;
	backend_account(bl);
	if (bl->bl_paused && buf_used(&bl->bl_out) <= w->w_cfg->c_queue_bytes /
	    2) {
		bl->bl_paused = 0;
		ws_pause(w, 0);
	}
}

static int
backend_flush(struct worker *w, struct lws *wsi)
{
	struct backend_link	*bl = &w->w_backend;
	ssize_t			 n;

	if (buf_used(&bl->bl_out) == bl->bl_sent)
		return (0);
	n = send(lws_get_socket_fd(wsi), buf_data(&bl->bl_out) + bl->bl_sent,
	    buf_used(&bl->bl_out) - bl->bl_sent, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n == -1) {
		if (errno == EAGAIN || errno == EINTR) {
			lws_callback_on_writable(wsi);
			return (0);
		}
		log_warn("worker %d: backend write", w->w_index);
		return (-1);
	}
	backend_consume(w, (size_t)n);
	if (buf_used(&bl->bl_out) > bl->bl_sent)
		lws_callback_on_writable(wsi);
	return (0);
}

/*
 * The link went down in the middle of the first event of the queue. A
 * backend that cannot take an event (over its own frame limit, or a bug
 * that crashes it on that input) drops the link each time it is sent:
 * after backend.frame_attempts times in a row the event is dropped, and
 * the socket it belongs to closed with backend.refused_close_code, so
 * that the rest of the queue flows again.
 */
static void
backend_cut(struct worker *w)
{
	struct backend_link	*bl = &w->w_backend;
	struct backend_rec	 rec;
	struct session		*s;
	static const char *const kinds[] = { "hello", "open", "message",
				    "close" };

	memcpy(&rec, buf_data(&bl->bl_recs), sizeof rec);
	if (rec.r_seq != bl->bl_cut_seq) {
		bl->bl_cut_seq = rec.r_seq;
		bl->bl_cut_count = 0;
	}
	if (++bl->bl_cut_count < w->w_cfg->c_frame_attempts ||
	    rec.r_kind == BACKEND_EV_HELLO)
		return;

	buf_drain(&bl->bl_recs, sizeof rec);
	buf_drain(&bl->bl_out, rec.r_len);
	backend_account(bl);
	METRICS_INC(&w->w_metrics, backend_events_refused);
	if (rec.r_kind == BACKEND_EV_MESSAGE) {
		bl->bl_queued_msgs--;
		METRICS_INC(&w->w_metrics, msgs_dropped_refused);
	}
	log_warnx("worker %d: the backend dropped the connection %d times "
	    "while reading a %s event of %zu bytes for socket %.*s: event "
	    "dropped", w->w_index, bl->bl_cut_count, kinds[rec.r_kind],
	    rec.r_len, WSG_ID_LEN, rec.r_id);
	bl->bl_cut_count = 0;
	if (rec.r_kind != BACKEND_EV_CLOSE &&
	    (s = sessmap_find(&w->w_sessions, rec.r_id, WSG_ID_LEN)) != NULL)
		ws_close_session(s, w->w_cfg->c_refused_close_code,
		    rec.r_kind == BACKEND_EV_MESSAGE ?
		    "backend refused a message" :
		    "backend refused the connection");
}

/*
 * The link went down. What was not written whole waits for the next
 * connection, starting with the frame that was cut.
 */
static void
backend_down(struct worker *w)
{
	struct backend_link	*bl = &w->w_backend;

	if (bl->bl_sent > 0 && buf_used(&bl->bl_recs) > 0 &&
	    !w->w_destroying)
		backend_cut(w);
	bl->bl_sent = 0;
	__atomic_store_n(&bl->bl_down_since, ctx_now_ms(), __ATOMIC_RELAXED);
	frame_dec_free(&bl->bl_dec);
	frame_dec_init(&bl->bl_dec, bl->bl_framing,
	    w->w_cfg->c_max_frame_bytes);
	bl->bl_state = BACKEND_DOWN;
	bl->bl_wsi = NULL;
	if (w->w_destroying)
		return;		/* wsgated closed it: stopping */
	METRICS_INC(&w->w_metrics, backend_disconnects);
	log_warnx("worker %d: backend connection lost, %zu bytes queued",
	    w->w_index, buf_used(&bl->bl_out));
	bl->bl_delay = w->w_cfg->c_reconnect_min;
	bl->bl_down_errno = 0;
	backend_schedule_retry(w);
}

/* Deliver a send: text as it is, or base64 to be decoded. */
static void
backend_send(struct worker *w, const char *id, size_t idlen, const char *s,
    size_t len, int binary)
{
	struct outmsg	*o;
	ssize_t		 n;

	if (binary) {
		o = ws_outmsg_new(NULL, len / 4 * 3, 1);
		if ((n = b64_decode(s, len, o->o_data + LWS_PRE)) == -1) {
			ws_outmsg_unref(o);
			backend_error(w, BACKEND_ERR_BAD_FIELD, "send with "
			    "binary data that is not base64");
			return;
		}
		ws_outmsg_setlen(o, (size_t)n);
	} else
		o = ws_outmsg_new(s, len, 0);
	route_send(w, id, idlen, o, 0);
}

/*
 * The fast path for a send read by cmd_scan_send. Return 0, with nothing
 * done, if an escape leaves it to jansson after all.
 */
static int
backend_send_fast(struct worker *w, const struct cmd_send *cs)
{
	struct outmsg	*o;
	ssize_t		 n;

	if (!cs->cs_escaped) {
		backend_send(w, cs->cs_id, cs->cs_idlen, cs->cs_data,
		    cs->cs_datalen, cs->cs_binary);
		return (1);
	}
	if (cs->cs_binary)
		return (0);
	o = ws_outmsg_new(NULL, cs->cs_datalen, 0);
	if ((n = jstr_unescape(cs->cs_data, cs->cs_datalen,
	    (char *)o->o_data + LWS_PRE)) == -1) {
		ws_outmsg_unref(o);
		return (0);
	}
	ws_outmsg_setlen(o, (size_t)n);
	route_send(w, cs->cs_id, cs->cs_idlen, o, 0);
	return (1);
}

/* Carry out one frame from the backend. */
static void
backend_handle(struct worker *w, const char *frame, size_t len)
{
	struct cmd_send	 cs;
	struct cmd	 cm;
	json_error_t	 err;
	json_t		*cmd;
	char		 why[160];

	METRICS_INC(&w->w_metrics, backend_frames_in);
	if (cmd_scan_send(frame, len, &cs) && backend_send_fast(w, &cs))
		return;
	/* A text message may hold U+0000: a send must be able to as well. */
	cmd = json_loadb(frame, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY |
	    JSON_ALLOW_NUL, &err);
	if (cmd == NULL) {
		char *esc = log_escape(frame, len, 48);

		backend_error(w, BACKEND_ERR_INVALID_JSON, "%s at byte %d of "
		    "\"%s\"", err.text, err.position, esc);
		free(esc);
		return;
	}
	if (!json_is_object(cmd)) {
		backend_error(w, BACKEND_ERR_NOT_OBJECT, "a frame holds a "
		    "JSON %s", json_is_array(cmd) ? "array" : "scalar");
		json_decref(cmd);
		return;
	}
	switch (cmd_parse(cmd, w->w_cfg->c_topic_name_bytes, &cm, why,
	    sizeof why)) {
	case CMD_OK:
		route_apply(w, &cm.cm_cmd, 0);
		break;
	case CMD_BAD_FIELD:
		backend_error(w, BACKEND_ERR_BAD_FIELD, "%s", why);
		break;
	case CMD_UNKNOWN_TYPE:
		backend_error(w, BACKEND_ERR_UNKNOWN_TYPE, "%s", why);
		break;
	}
	cmd_free(&cm);
	json_decref(cmd);
}

/* Decode what arrived; -1 means the link cannot be trusted any more. */
static int
backend_read(struct worker *w, const void *in, size_t len)
{
	struct backend_link	*bl = &w->w_backend;
	const char		*frame;
	size_t			 flen;

	frame_dec_feed(&bl->bl_dec, in, len);
	for (;;) {
		switch (frame_dec_next(&bl->bl_dec, &frame, &flen)) {
		case FRAME_MORE:
			return (0);
		case FRAME_OK:
			backend_handle(w, frame, flen);
			break;
		case FRAME_SKIPPED:
			backend_error(w, BACKEND_ERR_TOO_BIG, "a line over %zu "
			    "bytes was skipped", w->w_cfg->c_max_frame_bytes);
			break;
		case FRAME_TOO_BIG:
			backend_error(w, BACKEND_ERR_TOO_BIG, "a length prefix "
			    "over %zu bytes: reconnecting",
			    w->w_cfg->c_max_frame_bytes);
			return (-1);
		}
	}
}

/* The lws callback for the raw backend socket. */
int
backend_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct worker		*w = lws_context_user(lws_get_context(wsi));
	struct backend_link	*bl = &w->w_backend;

	switch (reason) {
	case LWS_CALLBACK_RAW_ADOPT:
		bl->bl_state = BACKEND_UP;
		bl->bl_wsi = wsi;
		bl->bl_delay = w->w_cfg->c_reconnect_min;
		bl->bl_down_errno = 0;
		__atomic_store_n(&bl->bl_down_since, 0, __ATOMIC_RELAXED);
		bl->bl_closed_all = 0;
		METRICS_INC(&w->w_metrics, backend_connects);
		log_info("worker %d: backend connected, %zu bytes queued",
		    w->w_index, buf_used(&bl->bl_out));
		backend_hello(w);
		lws_callback_on_writable(wsi);
		return (0);
	case LWS_CALLBACK_RAW_RX:
		return (backend_read(w, in, len));
	case LWS_CALLBACK_RAW_WRITEABLE:
		return (backend_flush(w, wsi));
	case LWS_CALLBACK_RAW_CLOSE:
		if (bl->bl_wsi == wsi)
			backend_down(w);
		return (0);
	default:
		return (0);
	}
}
