/*
 * The admin listener: a small HTTP/1.1 server for operators, run by
 * libevent's evhttp on the main thread's loop and off unless admin.port
 * is set. It answers health checks, Prometheus scrapes and the operator
 * endpoints wsgatectl(8) uses; every answer is short.
 *
 * Nothing here blocks the loop. What only a worker knows (its sessions,
 * whether it has a socket) is asked through the workers' inboxes with a
 * ws_query; the last worker to answer makes the request's event active,
 * from its own thread (hence evthread_use_pthreads() in main), and the
 * answer is written from that event on the main thread.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "wsgated.h"

#define ADMIN_BACKLOG		64
#define ADMIN_MAX_LISTENERS	4
#define ADMIN_MAX_HEAD_BYTES	8192	/* request line and headers */
#define ADMIN_TIMEOUT_SECS	10	/* to read a request or write an answer */
#define ADMIN_ACCEPT_PAUSE_SECS	1	/* after EMFILE */
#define ADMIN_QUERY_SECS	5	/* for the workers to answer */
#define ADMIN_LIST_DEFAULT	100	/* GET /connections?limit= */
#define ADMIN_LIST_MAX		10000

/*
 * An endpoint: its path, where "*" stands for one path segment (a socket
 * id), the methods it takes and what answers it.
 */
struct admin_route {
	const char	*r_path;
	int		 r_post;	/* POST; else GET and HEAD */
	void		(*r_cb)(struct evhttp_request *, const char *);
};

/* A request waiting for the workers. */
struct admin_wait {
	TAILQ_ENTRY(admin_wait)	 aw_entry;
	struct evhttp_request	*aw_req;
	struct ws_query		*aw_query;
	struct event		*aw_ev;		/* made active when answered */
	void			(*aw_answer)(struct admin_wait *);
	size_t			 aw_limit;
	char			 aw_id[WSG_ID_LEN + 1];
	/* A send or close, to forward to the cluster if no worker has it. */
	int			 aw_send;
	const void		*aw_data;	/* the request's body */
	size_t			 aw_len;
	int			 aw_binary;
	int			 aw_code;
	char			 aw_reason[WSG_CLOSE_REASON_MAX + 1];
};
TAILQ_HEAD(admin_waits, admin_wait);

static struct evhttp		*admin_http;
static struct event		*admin_resume;
static int			 admin_fds[ADMIN_MAX_LISTENERS];
static int			 admin_nfds;
static struct evconnlistener	*admin_listeners[ADMIN_MAX_LISTENERS];
static struct ratelog		 admin_emfile_rl;
static struct event_base	*admin_base;
static struct cfg		*admin_cfg;	/* a reference */
static struct admin_waits	 admin_waits =
				    TAILQ_HEAD_INITIALIZER(admin_waits);
static int64_t			 admin_started;	/* metrics_now_us() */

static void	admin_healthz(struct evhttp_request *, const char *);
static void	admin_readyz(struct evhttp_request *, const char *);
static void	admin_metrics(struct evhttp_request *, const char *);
static void	admin_status(struct evhttp_request *, const char *);
static void	admin_connections(struct evhttp_request *, const char *);
static void	admin_close(struct evhttp_request *, const char *);
static void	admin_send(struct evhttp_request *, const char *);
static void	admin_publish(struct evhttp_request *, const char *);
static void	admin_broadcast(struct evhttp_request *, const char *);

static const struct admin_route admin_routes[] = {
	{ "/healthz", 0, admin_healthz },
	{ "/readyz", 0, admin_readyz },
	{ "/metrics", 0, admin_metrics },
	{ "/status", 0, admin_status },
	{ "/connections", 0, admin_connections },
	{ "/connections/*/close", 1, admin_close },
	{ "/connections/*/send", 1, admin_send },
	{ "/publish", 1, admin_publish },
	{ "/broadcast", 1, admin_broadcast },
};
#define ADMIN_NROUTES (sizeof admin_routes / sizeof admin_routes[0])

/* Answer with a body of a type; evhttp adds Content-Length. */
static void
admin_reply(struct evhttp_request *req, int status, const char *type,
    const void *body, size_t len)
{
	struct evkeyvalq	*h = evhttp_request_get_output_headers(req);
	struct evbuffer		*buf;

	if ((buf = evbuffer_new()) == NULL)
		fatalx("%s: evbuffer_new", __func__);
	evhttp_add_header(h, "Content-Type", type);
	evhttp_add_header(h, "Cache-Control", "no-store");
	if (len > 0 && evbuffer_add(buf, body, len) == -1)
		fatalx("%s: evbuffer_add", __func__);
	evhttp_send_reply(req, status, http_status_text(status), buf);
	evbuffer_free(buf);
}

/* Answer with one line of text. */
static void
admin_text(struct evhttp_request *req, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void
admin_text(struct evhttp_request *req, int status, const char *fmt, ...)
{
	va_list	 ap;
	char	*line;
	int	 n;

	va_start(ap, fmt);
	n = xvasprintf(&line, fmt, ap);
	va_end(ap);
	line = xreallocarray(line, 1, (size_t)n + 2);
	line[n++] = '\n';
	admin_reply(req, status, "text/plain; charset=utf-8", line, (size_t)n);
	free(line);
}

/* Answer with a JSON document; takes the reference to doc. */
static void
admin_json(struct evhttp_request *req, int status, json_t *doc)
{
	char	*text;

	if (doc == NULL || (text = json_dumps(doc, JSON_COMPACT)) == NULL)
		fatalx("%s: cannot encode an answer", __func__);
	json_decref(doc);
	text = xreallocarray(text, 1, strlen(text) + 2);
	strcat(text, "\n");
	admin_reply(req, status, "application/json", text, strlen(text));
	free(text);
}

/* Who asked, for the log. */
static const char *
admin_peer(struct evhttp_request *req)
{
	struct evhttp_connection	*evcon;
	const char			*addr = NULL;
	ev_uint16_t			 port;

	if ((evcon = evhttp_request_get_connection(req)) != NULL)
		evhttp_connection_get_peer(evcon, (char **)&addr, &port);
	return (addr != NULL ? addr : "unknown");
}

/*
 * Check the query string: every parameter must be one of names (NULL
 * terminated). Otherwise answer 400 and return -1.
 */
static int
admin_params(struct evhttp_request *req, const char *const *names)
{
	const char	*q = evhttp_uri_get_query(
			    evhttp_request_get_evhttp_uri(req));
	size_t		 len, klen, i;

	for (; q != NULL && *q != '\0'; q += len + (q[len] == '&')) {
		len = strcspn(q, "&");
		if (len == 0)
			continue;
		klen = strcspn(q, "=&");
		for (i = 0; names[i] != NULL; i++) {
			if (klen == strlen(names[i]) &&
			    strncmp(q, names[i], klen) == 0)
				break;
		}
		if (names[i] == NULL) {
			admin_text(req, 400, "unknown parameter \"%.*s\"",
			    (int)(klen > 64 ? 64 : klen), q);
			return (-1);
		}
	}
	return (0);
}

/*
 * The decoded value of query parameter name: 1 with *value (to free)
 * and *len, 0 if it is absent, -1 (answered 400) if it does not decode.
 */
static int
admin_param(struct evhttp_request *req, const char *name, char **value,
    size_t *len)
{
	const char		*q = evhttp_uri_get_query(
				    evhttp_request_get_evhttp_uri(req));
	struct http_request	 hr;
	char			*target;
	int			 r;

	if (q == NULL)
		return (0);
	memset(&hr, 0, sizeof hr);
	xasprintf(&target, "?%s", q);
	hr.r_target = target;
	hr.r_targetlen = strlen(target);
	r = http_query_get(&hr, name, value, len);
	free(target);
	if (r == -1)
		admin_text(req, 400, "%s: bad percent escape", name);
	return (r);
}

/*
 * An integer parameter from min to max, or def if absent: 0, or -1 when
 * it was answered 400.
 */
static int
admin_param_int(struct evhttp_request *req, const char *name, long min,
    long max, long def, long *v)
{
	char	*s, *end;
	size_t	 len;
	int	 r;

	if ((r = admin_param(req, name, &s, &len)) <= 0) {
		*v = def;
		return (r);
	}
	*v = strtol(s, &end, 10);
	if (len == 0 || len > 10 || *end != '\0' ||
	    !isdigit((unsigned char)*s) || *v < min || *v > max) {
		admin_text(req, 400, "%s must be an integer from %ld to %ld",
		    name, min, max);
		free(s);
		return (-1);
	}
	free(s);
	return (0);
}

/* A request waits for its query: answer(aw) runs when the workers have. */
static void
admin_wait_cb(evutil_socket_t fd, short what, void *arg)
{
	struct admin_wait	*aw = arg;

	TAILQ_REMOVE(&admin_waits, aw, aw_entry);
	if (what & EV_TIMEOUT) {
		log_warnx("admin: the workers did not answer within %d s",
		    ADMIN_QUERY_SECS);
		admin_text(aw->aw_req, 503, "the workers did not answer in "
		    "time");
	} else
		aw->aw_answer(aw);
	/* ws_query_free first: after it, no worker touches aw_ev. */
	ws_query_free(aw->aw_query);
	event_free(aw->aw_ev);
	free(aw);
}

/* Worker thread: the last worker has answered. */
static void
admin_wake(void *arg)
{
	struct admin_wait	*aw = arg;

	event_active(aw->aw_ev, EV_READ, 0);
}

static struct admin_wait *
admin_wait_new(struct evhttp_request *req, void (*answer)(struct admin_wait *))
{
	struct timeval		 tv = { ADMIN_QUERY_SECS, 0 };
	struct admin_wait	*aw;

	aw = xcalloc(1, sizeof *aw);
	aw->aw_req = req;
	aw->aw_answer = answer;
	if ((aw->aw_ev = event_new(admin_base, -1, 0, admin_wait_cb,
	    aw)) == NULL)
		fatalx("%s: event_new", __func__);
	event_add(aw->aw_ev, &tv);
	TAILQ_INSERT_TAIL(&admin_waits, aw, aw_entry);
	return (aw);
}

static void
admin_healthz(struct evhttp_request *req, const char *id)
{
	admin_text(req, 200, "ok");
}

/*
 * Ready: the front door takes connections and every worker's backend
 * link is up. A load balancer sends traffic elsewhere until then.
 */
static void
admin_readyz(struct evhttp_request *req, const char *id)
{
	int	 i;

	if (!front_accepting()) {
		admin_text(req, 503, "not accepting connections");
		return;
	}
	for (i = 0; i < ws_nworkers(); i++) {
		if (!ws_backend_up(i)) {
			admin_text(req, 503, "worker %d: backend link down", i);
			return;
		}
	}
	admin_text(req, 200, "ready");
}

/* The counters and gauges, for Prometheus. */
static void
admin_metrics(struct evhttp_request *req, const char *id)
{
	struct buf	 b;

	buf_init(&b);
	metrics_prometheus(&b);
	admin_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8",
	    buf_data(&b), buf_used(&b));
	buf_free(&b);
}

/* The process and each worker, read at once. */
static void
admin_status(struct evhttp_request *req, const char *id)
{
	struct ws_worker_info	 wi;
	json_t			*workers, *w;
	int			 i;

	if ((workers = json_array()) == NULL)
		fatalx("%s: json_array", __func__);
	for (i = 0; i < ws_nworkers(); i++) {
		ws_worker_info(i, &wi);
		w = json_pack("{s:i, s:I, s:s, s:I, s:I}", "worker", i,
		    "connections", (json_int_t)wi.wi_connections, "backend",
		    wi.wi_backend_up ? "up" : "down", "queued_messages",
		    (json_int_t)wi.wi_queued_msgs, "queued_bytes",
		    (json_int_t)wi.wi_queued_bytes);
		if (w == NULL || json_array_append_new(workers, w) == -1)
			fatalx("%s: cannot build a worker entry", __func__);
	}
	admin_json(req, 200, json_pack("{s:s, s:I, s:I, s:I, s:o}", "version",
	    PACKAGE_VERSION, "pid", (json_int_t)getpid(), "uptime_seconds",
	    (json_int_t)((metrics_now_us() - admin_started) / 1000000),
	    "connections", (json_int_t)ws_sessions(), "workers", workers));
}

static void
admin_connections_answer(struct admin_wait *aw)
{
	json_t	*list = ws_query_sessions(aw->aw_query);

	/* Each worker gave up to the limit: keep the limit. */
	while (json_array_size(list) > aw->aw_limit)
		json_array_remove(list, json_array_size(list) - 1);
	admin_json(aw->aw_req, 200, list);
}

/* The open connections, up to ?limit=, from every worker. */
static void
admin_connections(struct evhttp_request *req, const char *id)
{
	static const char *const names[] = { "limit", NULL };
	struct admin_wait	*aw;
	long			 limit;

	if (admin_params(req, names) == -1 || admin_param_int(req, "limit",
	    1, ADMIN_LIST_MAX, ADMIN_LIST_DEFAULT, &limit) == -1)
		return;
	aw = admin_wait_new(req, admin_connections_answer);
	aw->aw_limit = (size_t)limit;
	aw->aw_query = ws_query_list(aw->aw_limit, admin_wake, aw);
}

/* The worker's answer to a close or a send: did it have the socket? */
static void
admin_found_answer(struct admin_wait *aw)
{
	struct wscmd	 c;

	if (ws_query_found(aw->aw_query)) {
		admin_text(aw->aw_req, 202, "accepted");
		return;
	}
	if (!cluster_enabled()) {
		admin_text(aw->aw_req, 404, "no such connection");
		return;
	}
	/* Another node may have it: whether one does is not known here. */
	memset(&c, 0, sizeof c);
	c.c_op = aw->aw_send ? WSCMD_SEND : WSCMD_CLOSE;
	c.c_to = WSCMD_TO_SOCKET;
	c.c_key = aw->aw_id;
	c.c_keylen = strlen(aw->aw_id);
	c.c_data = aw->aw_data;
	c.c_len = aw->aw_len;
	c.c_binary = aw->aw_binary;
	c.c_code = aw->aw_code;
	c.c_reason = aw->aw_reason;
	route_apply_admin(&c);
	admin_text(aw->aw_req, 202, "forwarded to the cluster");
}

/*
 * Hand a close or send for socket id to its worker, or answer 404 when
 * no worker could have it.
 */
static void
admin_ask(struct evhttp_request *req, const char *id, int code,
    const char *reason, const void *data, size_t len, int binary)
{
	struct admin_wait	*aw;
	struct ws_query		*q;

	aw = admin_wait_new(req, admin_found_answer);
	snprintf(aw->aw_id, sizeof aw->aw_id, "%s", id);
	aw->aw_send = data != NULL;
	aw->aw_data = data;
	aw->aw_len = len;
	aw->aw_binary = binary;
	aw->aw_code = code;
	snprintf(aw->aw_reason, sizeof aw->aw_reason, "%s",
	    reason != NULL ? reason : "");
	if (data == NULL)
		q = ws_query_close(aw->aw_id, code, reason, admin_wake, aw);
	else
		q = ws_query_send(aw->aw_id, data, len, binary, admin_wake, aw);
	if (q == NULL) {
		TAILQ_REMOVE(&admin_waits, aw, aw_entry);
		event_free(aw->aw_ev);
		free(aw);
		admin_text(req, 404, "no such connection");
		return;
	}
	aw->aw_query = q;
}

/* Close a connection, as the backend's close command does. */
static void
admin_close(struct evhttp_request *req, const char *id)
{
	static const char *const names[] = { "code", "reason", NULL };
	char			*reason = NULL;
	size_t			 len = 0;
	long			 code;

	if (strlen(id) != WSG_ID_LEN) {
		admin_text(req, 404, "no such connection");
		return;
	}
	if (admin_params(req, names) == -1 || admin_param_int(req, "code",
	    WSG_CLOSE_NORMAL, 4999, WSG_CLOSE_NORMAL, &code) == -1)
		return;
	if (code != WSG_CLOSE_NORMAL && code < 3000) {
		admin_text(req, 400, "code must be 1000 or from 3000 to 4999");
		return;
	}
	if (admin_param(req, "reason", &reason, &len) == -1)
		return;
	if (reason != NULL && (len > WSG_CLOSE_REASON_MAX ||
	    memchr(reason, '\0', len) != NULL || !utf8_valid(reason, len))) {
		admin_text(req, 400, "reason must be UTF-8 text of at most %d "
		    "bytes", WSG_CLOSE_REASON_MAX);
		free(reason);
		return;
	}
	log_info("admin: %s closes socket %s with %ld", admin_peer(req), id,
	    code);
	admin_ask(req, id, (int)code, reason != NULL ? reason : "", NULL, 0, 0);
	free(reason);
}

/*
 * The body of a send, publish or broadcast, as a message: within
 * limits.max_message_bytes, and UTF-8 unless binary. 0, or -1 when the
 * request was answered.
 */
static int
admin_body(struct evhttp_request *req, long binary, const void **data,
    size_t *len)
{
	struct evbuffer	*body = evhttp_request_get_input_buffer(req);

	*len = evbuffer_get_length(body);
	if (*len > admin_cfg->c_max_message_bytes) {
		admin_text(req, 413, "the message is over limits."
		    "max_message_bytes, %zu", admin_cfg->c_max_message_bytes);
		return (-1);
	}
	/* Never NULL, even when empty. */
	if ((*data = evbuffer_pullup(body, -1)) == NULL)
		*data = "";
	if (!binary && !utf8_valid(*data, *len)) {
		admin_text(req, 400, "a text message must be valid UTF-8 "
		    "(binary=1 sends bytes)");
		return (-1);
	}
	return (0);
}

/* Send the body to a connection, as the backend's send command does. */
static void
admin_send(struct evhttp_request *req, const char *id)
{
	static const char *const names[] = { "binary", NULL };
	const void		*data;
	size_t			 len;
	long			 binary;

	if (strlen(id) != WSG_ID_LEN) {
		admin_text(req, 404, "no such connection");
		return;
	}
	if (admin_params(req, names) == -1 || admin_param_int(req, "binary",
	    0, 1, 0, &binary) == -1 || admin_body(req, binary, &data, &len) ==
	    -1)
		return;
	log_info("admin: %s sends %zu bytes to socket %s", admin_peer(req), len,
	    id);
	admin_ask(req, id, 0, NULL, data, len, (int)binary);
}

/*
 * Send the body to a topic's subscribers or to everyone, as the
 * backend's publish and broadcast do (on every node of a cluster). The
 * answer, 202, does not wait for the workers: a fan-out has no "not
 * found".
 */
static void
admin_fanout(struct evhttp_request *req, const char *topic, size_t topiclen,
    long binary)
{
	struct wscmd	 c;
	const void	*data;
	size_t		 len;

	if (admin_body(req, binary, &data, &len) == -1)
		return;
	memset(&c, 0, sizeof c);
	c.c_op = WSCMD_SEND;
	c.c_to = topic != NULL ? WSCMD_TO_TOPIC : WSCMD_TO_ALL;
	c.c_key = topic;
	c.c_keylen = topiclen;
	c.c_data = data;
	c.c_len = len;
	c.c_binary = (int)binary;
	log_info("admin: %s %s %zu bytes%s%.64s%s", admin_peer(req),
	    topic != NULL ? "publishes" : "broadcasts", len,
	    topic != NULL ? " to topic \"" : "", topic != NULL ? topic : "",
	    topic != NULL ? "\"" : "");
	route_apply_admin(&c);
	admin_text(req, 202, "accepted");
}

static void
admin_publish(struct evhttp_request *req, const char *id)
{
	static const char *const names[] = { "topic", "binary", NULL };
	char			*topic;
	size_t			 len;
	long			 binary;
	int			 r;

	(void)id;
	if (admin_params(req, names) == -1 || admin_param_int(req, "binary",
	    0, 1, 0, &binary) == -1 || (r = admin_param(req, "topic", &topic,
	    &len)) == -1)
		return;
	if (r == 0 || len == 0 || len > admin_cfg->c_topic_name_bytes ||
	    strlen(topic) != len) {
		admin_text(req, 400, "topic must be 1 to %zu bytes without "
		    "U+0000", admin_cfg->c_topic_name_bytes);
		if (r == 1)
			free(topic);
		return;
	}
	admin_fanout(req, topic, len, binary);
	free(topic);
}

static void
admin_broadcast(struct evhttp_request *req, const char *id)
{
	static const char *const names[] = { "binary", NULL };
	long			 binary;

	(void)id;
	if (admin_params(req, names) == -1 || admin_param_int(req, "binary",
	    0, 1, 0, &binary) == -1)
		return;
	admin_fanout(req, NULL, 0, binary);
}

/*
 * Does path match pattern, where "*" stands for one non-empty path
 * segment? If so, that segment (at most WSG_ID_LEN bytes: a longer one
 * is no socket id) is copied to seg.
 */
static int
admin_match(const char *pattern, const char *path, char *seg, size_t segsz)
{
	const char	*star = strchr(pattern, '*');
	size_t		 n;

	if (star == NULL)
		return (strcmp(pattern, path) == 0);
	n = (size_t)(star - pattern);
	if (strncmp(pattern, path, n) != 0)
		return (0);
	path += n;
	if ((n = strcspn(path, "/")) == 0 || strcmp(path + n, star + 1) != 0)
		return (0);
	snprintf(seg, segsz, "%.*s", (int)(n < segsz ? n : segsz - 1), path);
	if (n >= segsz)
		seg[0] = '\0';
	return (1);
}

/* Every request: find its endpoint and check the method. */
static void
admin_request_cb(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri		*uri;
	const struct admin_route	*r = NULL;
	const char			*path;
	enum evhttp_cmd_type		 m = evhttp_request_get_command(req);
	char				 id[WSG_ID_LEN + 1] = "";
	size_t				 i;

	uri = evhttp_request_get_evhttp_uri(req);
	path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	for (i = 0; path != NULL && i < ADMIN_NROUTES; i++) {
		if (admin_match(admin_routes[i].r_path, path, id, sizeof id)) {
			r = &admin_routes[i];
			break;
		}
	}
	if (r == NULL) {
		admin_text(req, 404, "no such endpoint");
		return;
	}
	if (r->r_post ? m != EVHTTP_REQ_POST :
	    m != EVHTTP_REQ_GET && m != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Allow", r->r_post ? "POST" : "GET, HEAD");
		admin_text(req, 405, "method not allowed");
		return;
	}
	r->r_cb(req, id);
}

static void
admin_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	int	 i;

	for (i = 0; i < admin_nfds; i++)
		evconnlistener_enable(admin_listeners[i]);
}

/* Out of file descriptors: stop accepting for a second, not spin. */
static void
admin_accept_error_cb(struct evconnlistener *l, void *arg)
{
	struct timeval	 tv = { ADMIN_ACCEPT_PAUSE_SECS, 0 };
	uint64_t	 suppressed;
	int		 i, error = EVUTIL_SOCKET_ERROR();

	if (ratelog_allow(&admin_emfile_rl, &suppressed))
		log_warnx("admin: accept: %s; pausing for %d s",
		    strerror(error), ADMIN_ACCEPT_PAUSE_SECS);
	for (i = 0; i < admin_nfds; i++)
		evconnlistener_disable(admin_listeners[i]);
	evtimer_add(admin_resume, &tv);
}

/*
 * Bind the admin listener if admin.port is set: at startup, with the
 * client listener, so that a port in use is reported on the terminal.
 * Return -1 with *cause on failure.
 */
int
admin_listen(struct cfg *cfg, char **cause)
{
	struct addrinfo	 hints, *res, *ai;
	char		 host[NI_MAXHOST], serv[NI_MAXSERV], port[16];
	int		 error, fd, on = 1;

	if (cfg->c_admin_port == 0)
		return (0);
	admin_cfg = cfg_ref(cfg);
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	snprintf(port, sizeof port, "%d", cfg->c_admin_port);
	if ((error = getaddrinfo(cfg->c_admin_address, port, &hints,
	    &res)) != 0) {
		xasprintf(cause, "admin.address %s: %s", cfg->c_admin_address,
		    gai_strerror(error));
		return (-1);
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof host,
		    serv, sizeof serv, NI_NUMERICHOST | NI_NUMERICSERV);
		if (admin_nfds == ADMIN_MAX_LISTENERS) {
			xasprintf(cause, "admin.address %s: more than %d "
			    "addresses", cfg->c_admin_address,
			    ADMIN_MAX_LISTENERS);
			goto fail;
		}
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd == -1) {
			xasprintf(cause, "admin: socket for %s: %s", host,
			    strerror(errno));
			goto fail;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
		if (ai->ai_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on,
			    sizeof on);
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 ||
		    listen(fd, ADMIN_BACKLOG) == -1) {
			xasprintf(cause, "admin: cannot listen on [%s]:%s: %s",
			    host, serv, strerror(errno));
			close(fd);
			goto fail;
		}
		log_info("admin listener on [%s]:%s", host, serv);
		admin_fds[admin_nfds++] = fd;
	}
	freeaddrinfo(res);
	return (0);

fail:
	freeaddrinfo(res);
	return (-1);
}

/* Serve the admin listener, if there is one, on base. */
void
admin_start(struct event_base *base)
{
	struct evhttp_bound_socket	*bs;
	int				 i;

	if (admin_nfds == 0)
		return;
	admin_base = base;
	admin_started = metrics_now_us();
	if ((admin_http = evhttp_new(base)) == NULL)
		fatalx("evhttp_new");
	admin_resume = evtimer_new(base, admin_resume_cb, NULL);
	if (admin_resume == NULL)
		fatalx("%s: evtimer_new", __func__);
	evhttp_set_gencb(admin_http, admin_request_cb, NULL);
	/* Every method reaches admin_request_cb, which answers 405 itself. */
	evhttp_set_allowed_methods(admin_http, EVHTTP_REQ_GET |
	    EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
	    EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
	    EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	evhttp_set_max_headers_size(admin_http, ADMIN_MAX_HEAD_BYTES);
	evhttp_set_max_body_size(admin_http,
	    (ev_ssize_t)admin_cfg->c_max_message_bytes);
	evhttp_set_timeout(admin_http, ADMIN_TIMEOUT_SECS);
	evhttp_set_default_content_type(admin_http,
	    "text/plain; charset=utf-8");
	for (i = 0; i < admin_nfds; i++) {
		/* evhttp owns the socket from here, and closes it. */
		if ((bs = evhttp_accept_socket_with_handle(admin_http,
		    admin_fds[i])) == NULL)
			fatalx("admin: evhttp_accept_socket");
		admin_listeners[i] = evhttp_bound_socket_get_listener(bs);
		evconnlistener_set_error_cb(admin_listeners[i],
		    admin_accept_error_cb);
	}
}

/*
 * A reloaded configuration: POST /connections/ID/send takes its
 * limits.max_message_bytes. admin.* itself needs a restart.
 */
void
admin_set_cfg(struct cfg *cfg)
{
	if (admin_cfg == NULL)
		return;
	cfg_ref(cfg);
	cfg_free(admin_cfg);
	admin_cfg = cfg;
	if (admin_http != NULL)
		evhttp_set_max_body_size(admin_http,
		    (ev_ssize_t)cfg->c_max_message_bytes);
}

/*
 * Stop serving: close the listener and every admin connection. Requests
 * still waiting for the workers are dropped with their connections.
 */
void
admin_stop(void)
{
	struct admin_wait	*aw;
	int			 i;

	while ((aw = TAILQ_FIRST(&admin_waits)) != NULL) {
		TAILQ_REMOVE(&admin_waits, aw, aw_entry);
		if (aw->aw_query != NULL)
			ws_query_free(aw->aw_query);
		event_free(aw->aw_ev);
		free(aw);
	}

	if (admin_http != NULL)
		evhttp_free(admin_http);
	else {
		for (i = 0; i < admin_nfds; i++)
			close(admin_fds[i]);
	}
	admin_http = NULL;
	admin_nfds = 0;
	if (admin_resume != NULL)
		event_free(admin_resume);
	admin_resume = NULL;
	cfg_free(admin_cfg);
	admin_cfg = NULL;
}
