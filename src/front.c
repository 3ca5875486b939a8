/*
 * The front door, on the main thread's libevent loop: it accepts
 * connections, reads each request head under a byte, header and time
 * limit, answers everything that is not a valid WebSocket upgrade, builds
 * the context of those that are, and hands the socket to a worker.
 *
 * The head is peeked before it is read, so that exactly the head is
 * consumed: bytes a client sends after it (its first WebSocket frames)
 * stay in the socket for libwebsockets to read.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>
#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "wsgated.h"

#define FRONT_BACKLOG		1024
#define FRONT_LINGER_SECS	1	/* after an error answer */
#define FRONT_LINGER_BYTES	65536
#define FRONT_MAX_LISTENERS	16
#define FRONT_ACCEPT_PAUSE_SECS	1	/* after EMFILE */
#define FRONT_DEFER_SECS	1	/* TCP_DEFER_ACCEPT: a silent client waits */
/*
 * Sets of four addresses whose new connections are timed: 1.75 MiB, in
 * pages the kernel only provides as addresses come.
 */
#define FRONT_RATE_SETS		8192

enum front_state {
	FRONT_READING,		/* reading the request head */
	FRONT_AUTH,		/* waiting for the auth hook's answer */
	FRONT_LINGERING		/* answered; draining before close */
};

struct front_conn {
	TAILQ_ENTRY(front_conn)	 fc_entry;
	int			 fc_fd;
	enum front_state	 fc_state;
	struct event		*fc_read;
	struct event		*fc_timer;	/* handshake or linger deadline */
	char			 fc_peer[INET6_ADDRSTRLEN];
	int64_t			 fc_accepted;	/* metrics_now_us() */
	int			 fc_counted;	/* in iplimit */
	char			*fc_buf;
	size_t			 fc_len;
	size_t			 fc_max;	/* fc_buf's size */
	size_t			 fc_drained;	/* while lingering */

	/* FRONT_AUTH: the upgrade, ready to hand over once allowed. */
	uint64_t		 fc_auth_id;
	json_t			*fc_ctx;
	char			*fc_head;
	size_t			 fc_headlen;
	struct worker		*fc_worker;
	char			 fc_id[WSG_ID_LEN + 1];
	int			 fc_deflate;
};
TAILQ_HEAD(front_conns, front_conn);

static struct cfg		*front_cfg;	/* a reference */
static struct event_base	*front_base;
static int			 front_fds[FRONT_MAX_LISTENERS];
static int			 front_nfds;
static struct evconnlistener	*front_listeners[FRONT_MAX_LISTENERS];
static struct event		*front_resume;
static int			 front_paused;	/* after EMFILE */
static struct front_conns	 front_conns = TAILQ_HEAD_INITIALIZER(front_conns);
static size_t			 front_nreading;
static struct http_header	*front_headers;
static struct ratelog		 front_emfile_rl;
/* New connections by address, for limits.connection_rate_per_ip. */
static struct ratemap		 front_rates;
static struct ratelog		 front_jwt_rl[JWT_NRESULTS];

static void	front_handoff(struct front_conn *, struct worker *,
		    const char *, json_t *, char *, size_t, int);
static void	front_auth(struct front_conn *, const struct http_request *,
		    struct worker *, const char *, json_t *, char *, size_t,
		    int);

static void
front_conn_free(struct front_conn *c, int close_fd)
{
	TAILQ_REMOVE(&front_conns, c, fc_entry);
	if (c->fc_state == FRONT_AUTH)
		auth_cancel(c->fc_auth_id);
	if (c->fc_state == FRONT_READING || c->fc_state == FRONT_AUTH)
		front_nreading--;
	json_decref(c->fc_ctx);
	free(c->fc_head);
	if (c->fc_counted)
		iplimit_release(c->fc_peer);
	event_free(c->fc_read);
	event_free(c->fc_timer);
	if (close_fd)
		close(c->fc_fd);
	free(c->fc_buf);
	free(c);
}

static void
front_linger_cb(evutil_socket_t fd, short what, void *arg)
{
	struct front_conn	*c = arg;
	char			 junk[4096];
	ssize_t			 n;

	if (what & EV_TIMEOUT) {
		front_conn_free(c, 1);
		return;
	}
	n = recv(fd, junk, sizeof junk, 0);
	if (n > 0 && (c->fc_drained += (size_t)n) < FRONT_LINGER_BYTES)
		return;
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	front_conn_free(c, 1);
}

/*
 * Answer with an HTTP status and a short reason, then close. The write
 * side is shut and the rest of the request drained for a moment, so that
 * the client reads the answer rather than a reset.
 */
static void
front_respond(struct front_conn *c, int status, const char *reason,
    const char *headers)
{
	struct timeval	 tv = { FRONT_LINGER_SECS, 0 };
	char		*resp;
	int		 n;

	n = xasprintf(&resp, "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n%s\r\n%s\n", status,
	    http_status_text(status), strlen(reason) + 1, headers ? headers : "",
	    reason);
	/* A short answer fits the socket buffer; if not, the client is gone. */
	(void)send(c->fc_fd, resp, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	free(resp);
	shutdown(c->fc_fd, SHUT_WR);

	/* Counted as reading until answered, auth included. */
	front_nreading--;
	c->fc_state = FRONT_LINGERING;
	json_decref(c->fc_ctx);
	c->fc_ctx = NULL;
	free(c->fc_head);
	c->fc_head = NULL;
	event_free(c->fc_read);
	event_free(c->fc_timer);
	c->fc_read = event_new(front_base, c->fc_fd, EV_READ | EV_PERSIST,
	    front_linger_cb, c);
	c->fc_timer = evtimer_new(front_base, front_linger_cb, c);
	if (c->fc_read == NULL || c->fc_timer == NULL)
		fatalx("%s: event_new", __func__);
	event_add(c->fc_read, NULL);
	evtimer_add(c->fc_timer, &tv);
}

/* Refuse a request: counted by why, then answered. */
static void
front_reject(struct front_conn *c, enum reject_reason why, int status,
    const char *reason, const char *headers)
{
	METRICS_INC(&metrics_front, conns_rejected);
	METRICS_INC(&metrics_front, rejected[why]);
	log_debug("front: %s: %d %s", c->fc_peer, status, reason);
	front_respond(c, status, reason, headers);
}

/* Why a status from the head or upgrade checks was given. */
static enum reject_reason
front_reject_reason(int status)
{
	switch (status) {
	case 403:
		return (REJECT_ORIGIN);
	case 405:
		return (REJECT_METHOD);
	case 426:
		return (REJECT_NOT_UPGRADE);
	case 431:
		return (REJECT_TOO_LARGE);
	case 505:
		return (REJECT_VERSION);
	default:
		return (REJECT_BAD_REQUEST);
	}
}

/*
 * The head libwebsockets gets: rebuilt from checked parts only. With
 * deflate, the offer taken (http_choose_deflate) with the parameters
 * libwebsockets applies. libwebsockets (4.1.6 and 4.3.5) reads the two
 * no_context_takeover parameters the wrong way round: on
 * server_no_context_takeover it resets its inflater, on
 * client_no_context_takeover its deflater. So the first is only handed
 * on with the second, which makes it reset both; the answer then names
 * both, as RFC 7692 7.1.1.1 lets a server do, and the client resets its
 * own deflater to match.
 */
static char *
front_lws_head(const struct http_upgrade *up, int deflate, size_t *len)
{
	char	*head;
	int	 n;

	n = xasprintf(&head, "GET %s HTTP/1.1\r\nHost: wsgated\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Key: %.24s\r\nSec-WebSocket-Version: 13\r\n"
	    "%s%.*s%s%s%s%s%s\r\n", front_cfg->c_listen_path, up->u_key,
	    up->u_protocol ? "Sec-WebSocket-Protocol: " : "",
	    (int)up->u_protocollen, up->u_protocol ? up->u_protocol : "",
	    up->u_protocol ? "\r\n" : "",
	    deflate ? "Sec-WebSocket-Extensions: permessage-deflate" : "",
	    deflate && (up->u_deflate_opts & HTTP_PMD_SERVER_NO_TAKEOVER) ?
	    "; server_no_context_takeover" : "",
	    deflate && up->u_deflate_opts != 0 ?
	    "; client_no_context_takeover" : "",
	    deflate ? "\r\n" : "");
	*len = (size_t)n;
	return (head);
}

/*
 * With listen.allowed_origins set, a request that carries an Origin must
 * carry one of them, byte for byte. One without is not from a browser, and
 * cross-site hijacking needs a browser.
 */
static int
front_check_origin(const struct http_request *req, const char **cause)
{
	const struct http_header	*h;
	size_t				 i, n;

	if (front_cfg->c_nallowed_origins == 0 ||
	    (h = http_header_find(req, "Origin", &n)) == NULL)
		return (0);
	if (n > 1) {
		*cause = "duplicated Origin";
		return (400);
	}
	for (i = 0; i < front_cfg->c_nallowed_origins; i++) {
		if (strlen(front_cfg->c_allowed_origins[i]) == h->h_valuelen &&
		    memcmp(front_cfg->c_allowed_origins[i], h->h_value,
		    h->h_valuelen) == 0)
			return (0);
	}
	*cause = "origin not allowed";
	return (403);
}

/*
 * Count a refused token, and log why unless that reason was logged in the
 * last minute. Neither the token nor its claims are logged: only the
 * reason and the client's address.
 */
static void
front_jwt_refused(struct front_conn *c, enum jwt_result r)
{
	static const size_t	 offsets[JWT_NRESULTS] = {
		[JWT_MISSING] = offsetof(struct metrics, jwt_refused_missing),
		[JWT_TOO_LARGE] = offsetof(struct metrics,
		    jwt_refused_too_large),
		[JWT_MALFORMED] = offsetof(struct metrics,
		    jwt_refused_malformed),
		[JWT_ALGORITHM] = offsetof(struct metrics,
		    jwt_refused_algorithm),
		[JWT_KEY] = offsetof(struct metrics, jwt_refused_key),
		[JWT_SIGNATURE] = offsetof(struct metrics,
		    jwt_refused_signature),
		[JWT_EXPIRED] = offsetof(struct metrics, jwt_refused_expired),
		[JWT_NOT_YET_VALID] = offsetof(struct metrics,
		    jwt_refused_not_yet_valid),
		[JWT_ISSUER] = offsetof(struct metrics, jwt_refused_issuer),
		[JWT_AUDIENCE] = offsetof(struct metrics,
		    jwt_refused_audience),
	};
	uint64_t		*counter, suppressed;

	counter = (uint64_t *)((char *)&metrics_front + offsets[r]);
	__atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
	if (!ratelog_allow(&front_jwt_rl[r], &suppressed))
		log_debug("front: %s: token refused (%s)", c->fc_peer,
		    jwt_result_name(r));
	else if (suppressed > 0)
		log_info("front: %s: token refused (%s); %llu more since the "
		    "last report", c->fc_peer, jwt_result_name(r),
		    (unsigned long long)suppressed);
	else
		log_info("front: %s: token refused (%s)", c->fc_peer,
		    jwt_result_name(r));
}

/* A whole head has arrived: answer it, or hand the socket over. */
static void
front_head(struct front_conn *c)
{
	const struct cfg	*cfg = front_cfg;
	struct http_request	 req;
	struct http_upgrade	 up;
	struct worker		*w;
	const char		*cause;
	char			*why, *head, id[WSG_ID_LEN + 1];
	json_t			*ctx, *claims = NULL;
	enum jwt_result		 jr;
	size_t			 headlen;
	int			 status, deflate;

	status = http_parse(c->fc_buf, c->fc_len, front_headers,
	    cfg->c_max_headers, &req, &cause);
	if (status != 0) {
		front_reject(c, front_reject_reason(status), status, cause,
		    NULL);
		return;
	}
	if (http_path_is(&req, "/healthz") && req.r_methodlen == 3 &&
	    memcmp(req.r_method, "GET", 3) == 0) {
		front_respond(c, 200, "ok", NULL);
		return;
	}
	if (!http_path_is(&req, cfg->c_listen_path)) {
		front_reject(c, REJECT_NOT_FOUND, 404, "no such path", NULL);
		return;
	}
	status = http_upgrade_check(&req, cfg->c_subprotocols,
	    cfg->c_nsubprotocols, &up, &cause);
	if (status == 426) {
		front_reject(c, REJECT_NOT_UPGRADE, status, cause,
		    "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n");
		return;
	}
	if (status == 405) {
		front_reject(c, REJECT_METHOD, status, cause, "Allow: GET\r\n");
		return;
	}
	if (status != 0) {
		front_reject(c, front_reject_reason(status), status, cause,
		    NULL);
		return;
	}
	if ((status = front_check_origin(&req, &cause)) != 0) {
		front_reject(c, front_reject_reason(status), status, cause,
		    NULL);
		return;
	}
	if (!ws_backend_available()) {
		front_reject(c, REJECT_BACKEND_DOWN, 503, "backend unavailable",
		    NULL);
		return;
	}

	/*
	 * The token, verified here on the accepting thread (an HMAC takes
	 * microseconds, a signature tens of them). A token that is there
	 * but wrong is refused even when none is required, and the client
	 * is told nothing of why.
	 */
	if (cfg->c_jwt.j_enabled) {
		jr = jwt_check(&cfg->c_jwt, &req, ctx_now_ms() / 1000, &claims);
		if (jr == JWT_OK)
			METRICS_INC(&metrics_front, jwt_ok);
		else if (jr != JWT_MISSING || cfg->c_jwt.j_required) {
			front_jwt_refused(c, jr);
			front_reject(c, REJECT_TOKEN, 401, "unauthorized", NULL);
			return;
		}
	}

	w = ws_pick();
	ws_new_id(w, id);
	ctx = ctx_build(cfg, &req, claims, c->fc_peer, id, ctx_now_ms(),
	    &status, &why);
	json_decref(claims);
	if (ctx == NULL) {
		front_reject(c, REJECT_CONTEXT, status, why, NULL);
		free(why);
		return;
	}

	deflate = up.u_deflate > 0 && ws_compression();
	head = front_lws_head(&up, deflate, &headlen);
	if (auth_enabled()) {
		front_auth(c, &req, w, id, ctx, head, headlen, deflate);
		return;
	}
	front_handoff(c, w, id, ctx, head, headlen, deflate);
}

/* Hand the socket, the head and the context (taken) to worker w. */
static void
front_handoff(struct front_conn *c, struct worker *w, const char *id,
    json_t *ctx, char *head, size_t headlen, int deflate)
{
	int	 on = 1;

	log_debug("front: %s: upgrade, session %s", c->fc_peer, id);
	METRICS_INC(&metrics_front, conns_upgraded);
	/*
	 * Workers write whole batches of frames at once, so Nagle's
	 * algorithm has nothing to gather; it would only hold a message
	 * written while an earlier one waits for its ACK, which a client
	 * may delay by 40 ms. libwebsockets sets this only on sockets it
	 * accepts itself.
	 */
	setsockopt(c->fc_fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
	/* The session takes over the socket and the count of its address. */
	ws_handoff(w, c->fc_fd, head, headlen, ctx, id, c->fc_peer,
	    deflate, c->fc_accepted);
	c->fc_counted = 0;
	front_conn_free(c, 0);
}

/* The auth hook answered, or its link went down. */
static void
front_auth_cb(void *arg, enum auth_outcome o, int status)
{
	struct front_conn	*c = arg;
	json_t			*ctx = c->fc_ctx;
	char			*head = c->fc_head;

	switch (o) {
	case AUTH_ALLOW:
		c->fc_ctx = NULL;
		c->fc_head = NULL;
		/* Answered: front_conn_free must not cancel it. */
		c->fc_state = FRONT_READING;
		front_handoff(c, c->fc_worker, c->fc_id, ctx, head,
		    c->fc_headlen, c->fc_deflate);
		break;
	case AUTH_DENY:
		c->fc_state = FRONT_READING;
		front_reject(c, REJECT_AUTH, status, status == 401 ?
		    "unauthorized" : "forbidden", NULL);
		break;
	case AUTH_LOST:
		c->fc_state = FRONT_READING;
		front_reject(c, REJECT_AUTH, front_cfg->c_auth.a_timeout_status,
		    "authorization unavailable", NULL);
		break;
	}
}

/*
 * While the answer is awaited, the client's socket is watched for its
 * going away. The client may also have sent its first frames already:
 * they are libwebsockets', so the watch stops rather than spin on them.
 */
static void
front_auth_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct front_conn	*c = arg;
	char			 byte;
	ssize_t			 n;

	if (what & EV_TIMEOUT) {
		auth_cancel(c->fc_auth_id);
		METRICS_INC(&metrics_front, auth_timeouts);
		c->fc_state = FRONT_READING;
		front_reject(c, REJECT_AUTH, front_cfg->c_auth.a_timeout_status,
		    "authorization unavailable", NULL);
		return;
	}
	n = recv(fd, &byte, 1, MSG_PEEK);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0) {
		event_del(c->fc_read);
		return;
	}
	log_debug("front: %s: left while waiting for auth", c->fc_peer);
	METRICS_INC(&metrics_front, auth_cancelled);
	front_conn_free(c, 1);
}

/* Ask the auth hook about the upgrade; c keeps what the handoff needs. */
static void
front_auth(struct front_conn *c, const struct http_request *req,
    struct worker *w, const char *id, json_t *ctx, char *head,
    size_t headlen, int deflate)
{
	const struct auth_conf	*ac = &front_cfg->c_auth;
	struct timeval		 tv;

	switch (auth_begin(ctx, req, front_auth_cb, c, &c->fc_auth_id)) {
	case AUTH_CACHED:
		front_handoff(c, w, id, ctx, head, headlen, deflate);
		return;
	case AUTH_DOWN:
		json_decref(ctx);
		free(head);
		front_reject(c, REJECT_AUTH, ac->a_timeout_status,
		    "authorization unavailable", NULL);
		return;
	case AUTH_FULL:
		json_decref(ctx);
		free(head);
		front_reject(c, REJECT_AUTH, 503, "too many upgrades waiting "
		    "for authorization", NULL);
		return;
	case AUTH_BAD:
		json_decref(ctx);
		free(head);
		front_reject(c, REJECT_BAD_REQUEST, 400, "header is not UTF-8",
		    NULL);
		return;
	case AUTH_SENT:
		break;
	}
	c->fc_state = FRONT_AUTH;
	c->fc_ctx = ctx;
	c->fc_head = head;
	c->fc_headlen = headlen;
	c->fc_worker = w;
	memcpy(c->fc_id, id, sizeof c->fc_id);
	c->fc_deflate = deflate;
	event_free(c->fc_read);
	event_free(c->fc_timer);
	c->fc_read = event_new(front_base, c->fc_fd, EV_READ | EV_PERSIST,
	    front_auth_event_cb, c);
	c->fc_timer = evtimer_new(front_base, front_auth_event_cb, c);
	if (c->fc_read == NULL || c->fc_timer == NULL)
		fatalx("%s: event_new", __func__);
	cfg_timeval(ac->a_timeout, &tv);
	event_add(c->fc_read, NULL);
	evtimer_add(c->fc_timer, &tv);
}

/*
 * Read what has arrived of the head, up to its end and not a byte more
 * (the rest is libwebsockets'). Return 1 while more is needed; 0 once c
 * is dealt with: handed off, answered or gone.
 */
static int
front_read(struct front_conn *c)
{
	size_t		 max = c->fc_max;
	ssize_t		 n, end;

	n = recv(c->fc_fd, c->fc_buf + c->fc_len, max - c->fc_len, MSG_PEEK);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return (1);
	if (n <= 0) {
		/* Gone before finishing its head. */
		front_conn_free(c, 1);
		return (0);
	}
	end = http_head_end(c->fc_buf, c->fc_len + (size_t)n, c->fc_len);
	if (end != -1)
		n = end - (ssize_t)c->fc_len;
	if (recv(c->fc_fd, c->fc_buf + c->fc_len, (size_t)n, 0) != n) {
		front_conn_free(c, 1);
		return (0);
	}
	c->fc_len += (size_t)n;
	if (end != -1)
		front_head(c);
	else if (c->fc_len == max)
		front_reject(c, REJECT_TOO_LARGE, 431, "request head too large",
		    NULL);
	else
		return (1);
	return (0);
}

static void
front_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct front_conn	*c = arg;

	if (what & EV_TIMEOUT) {
		front_reject(c, REJECT_TIMEOUT, 408, "request head not received "
		    "in time", NULL);
		return;
	}
	(void)front_read(c);
}

static void
front_peer_name(const struct sockaddr *sa, char *out, size_t len)
{
	const struct sockaddr_in6	*sin6 = (const void *)sa;
	const struct sockaddr_in	*sin = (const void *)sa;

	if (sa->sa_family == AF_INET6 &&
	    IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
		inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12], out,
		    (socklen_t)len);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &sin6->sin6_addr, out, (socklen_t)len);
	else if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &sin->sin_addr, out, (socklen_t)len);
	else
		snprintf(out, len, "unknown");
}

static void
front_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	const struct cfg	*cfg = front_cfg;
	struct front_conn	*c;
	struct timeval		 tv;
	char			 retry[40];
	int64_t			 wait;

	METRICS_INC(&metrics_front, conns_accepted);
	c = xcalloc(1, sizeof *c);
	c->fc_fd = fd;
	c->fc_accepted = metrics_now_us();
	c->fc_state = FRONT_READING;
	front_peer_name(sa, c->fc_peer, sizeof c->fc_peer);
	c->fc_max = cfg->c_max_head_bytes;
	c->fc_buf = xmalloc(c->fc_max);
	c->fc_read = event_new(front_base, fd, EV_READ | EV_PERSIST,
	    front_read_cb, c);
	c->fc_timer = evtimer_new(front_base, front_read_cb, c);
	if (c->fc_read == NULL || c->fc_timer == NULL)
		fatalx("%s: event_new", __func__);
	TAILQ_INSERT_TAIL(&front_conns, c, fc_entry);
	front_nreading++;

	if (ws_sessions() + front_nreading > cfg->c_max_connections) {
		front_reject(c, REJECT_TOO_MANY, 503, "too many connections",
		    NULL);
		return;
	}
	if ((wait = ratemap_take(&front_rates, &cfg->c_rate_connections,
	    c->fc_peer, rate_now())) > 0) {
		snprintf(retry, sizeof retry, "Retry-After: %lld\r\n",
		    (long long)(wait / 1000000000 + 1));
		front_reject(c, REJECT_RATE_PER_IP, 429, "too many new "
		    "connections from your address", retry);
		return;
	}
	if (!iplimit_acquire(c->fc_peer, cfg->c_max_connections_per_ip)) {
		front_reject(c, REJECT_TOO_MANY_PER_IP, 503, "too many "
		    "connections from your address", NULL);
		return;
	}
	c->fc_counted = 1;
	/* The listener defers accepts until data came: try the head now. */
	if (!front_read(c))
		return;
	cfg_timeval(cfg->c_handshake_timeout, &tv);
	event_add(c->fc_read, NULL);
	evtimer_add(c->fc_timer, &tv);
}

static void
front_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	int	 i;

	front_paused = 0;
	for (i = 0; i < front_nfds; i++)
		evconnlistener_enable(front_listeners[i]);
}

/* Out of file descriptors: stop accepting for a second, not spin. */
static void
front_accept_error_cb(struct evconnlistener *l, void *arg)
{
	struct timeval	 tv = { FRONT_ACCEPT_PAUSE_SECS, 0 };
	uint64_t	 suppressed;
	int		 i, error = EVUTIL_SOCKET_ERROR();

	if (error != EMFILE && error != ENFILE && error != ENOBUFS &&
	    error != ENOMEM) {
		log_warnx("front: accept: %s", strerror(error));
		return;
	}
	if (ratelog_allow(&front_emfile_rl, &suppressed))
		log_warnx("front: accept: %s; pausing for %d s",
		    strerror(error), FRONT_ACCEPT_PAUSE_SECS);
	front_paused = 1;
	for (i = 0; i < front_nfds; i++)
		evconnlistener_disable(front_listeners[i]);
	evtimer_add(front_resume, &tv);
}

static int
front_bind_one(const struct addrinfo *ai, char **cause)
{
	char	 host[NI_MAXHOST], serv[NI_MAXSERV];
	int	 fd, on = 1, defer = FRONT_DEFER_SECS;

	if (front_nfds == FRONT_MAX_LISTENERS) {
		xasprintf(cause, "more than %d listening addresses",
		    FRONT_MAX_LISTENERS);
		return (-1);
	}
	getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof host, serv,
	    sizeof serv, NI_NUMERICHOST | NI_NUMERICSERV);
	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, ai->ai_protocol);
	if (fd == -1) {
		xasprintf(cause, "socket for %s: %s", host, strerror(errno));
		return (-1);
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
	/* "*" binds :: and 0.0.0.0 side by side. */
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
	/*
	 * Wake up for a connection only once its request has started to
	 * arrive: accept and read the head in one go.
	 */
	setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer, sizeof defer);
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 ||
	    listen(fd, FRONT_BACKLOG) == -1) {
		xasprintf(cause, "cannot listen on [%s]:%s: %s", host, serv,
		    strerror(errno));
		close(fd);
		return (-1);
	}
	log_info("listening on [%s]:%s", host, serv);
	front_fds[front_nfds++] = fd;
	return (0);
}

#ifdef HAVE_SYSTEMD
/* A listening socket systemd passed: check it and make it ours. */
static int
front_take_one(int fd, char **cause)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sslen = sizeof ss;
	char			 host[NI_MAXHOST], serv[NI_MAXSERV];
	int			 r, flags, defer = FRONT_DEFER_SECS;

	if ((r = sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1)) <= 0) {
		xasprintf(cause, "file descriptor %d from systemd is not a "
		    "listening stream socket%s%s", fd, r < 0 ? ": " : "",
		    r < 0 ? strerror(-r) : "");
		return (-1);
	}
	/* The context's peer address and the per-address limit need IP. */
	if (sd_is_socket_inet(fd, AF_UNSPEC, SOCK_STREAM, 1, 0) <= 0) {
		xasprintf(cause, "file descriptor %d from systemd is not a TCP "
		    "socket: ListenStream= must be a port or an address and "
		    "port", fd);
		return (-1);
	}
	if ((flags = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1) {
		xasprintf(cause, "file descriptor %d from systemd: %s", fd,
		    strerror(errno));
		return (-1);
	}
	/* As front_bind_one: accept once the request has started. */
	setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer, sizeof defer);
	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == -1 ||
	    getnameinfo((struct sockaddr *)&ss, sslen, host, sizeof host, serv,
	    sizeof serv, NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		snprintf(host, sizeof host, "?");
	log_info("listening on [%s]:%s, file descriptor %d from systemd",
	    host, serv, fd);
	front_fds[front_nfds++] = fd;
	return (0);
}
#endif

/*
 * Take the listening sockets systemd passed (socket activation), if it
 * passed any to this process. Return how many, or -1 with *cause if one
 * is not a listening TCP socket: better not to start than to serve on
 * fewer sockets than the unit names.
 */
static int
front_take_fds(char **cause)
{
#ifdef HAVE_SYSTEMD
	int	 i, n;

	/* 1: LISTEN_* leave the environment, so no child sees them. */
	if ((n = sd_listen_fds(1)) < 0) {
		xasprintf(cause, "sockets from systemd (LISTEN_FDS): %s",
		    strerror(-n));
		return (-1);
	}
	if (n > FRONT_MAX_LISTENERS) {
		xasprintf(cause, "%d sockets from systemd; at most %d", n,
		    FRONT_MAX_LISTENERS);
		return (-1);
	}
	for (i = 0; i < n; i++) {
		if (front_take_one(SD_LISTEN_FDS_START + i, cause) == -1)
			return (-1);
	}
	return (n);
#else
	const char	*pid = getenv("LISTEN_PID");

	if (getenv("LISTEN_FDS") != NULL && pid != NULL &&
	    strtol(pid, NULL, 10) == (long)getpid()) {
		xasprintf(cause, "systemd passed sockets (LISTEN_FDS), but "
		    "wsgated was built without systemd support");
		return (-1);
	}
	return (0);
#endif
}

/*
 * Bind every listening socket, or take those systemd passed. Return -1
 * with *cause on failure.
 */
int
front_listen(struct cfg *cfg, char **cause)
{
	struct addrinfo	 hints, *res, *ai;
	const char	*host = cfg->c_listen_address;
	char		 port[16];
	int		 error, n;

	front_cfg = cfg_ref(cfg);
	front_headers = xcalloc(cfg->c_max_headers, sizeof *front_headers);
	if ((n = front_take_fds(cause)) == -1)
		return (-1);
	if (n > 0) {
		log_info("listen.address and listen.port are not used: %d "
		    "socket%s from systemd", n, n == 1 ? "" : "s");
		return (0);
	}
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	snprintf(port, sizeof port, "%d", cfg->c_listen_port);
	if (strcmp(host, "*") == 0)
		host = NULL;
	if ((error = getaddrinfo(host, port, &hints, &res)) != 0) {
		xasprintf(cause, "listen.address %s: %s", cfg->c_listen_address,
		    gai_strerror(error));
		return (-1);
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (front_bind_one(ai, cause) == -1) {
			freeaddrinfo(res);
			return (-1);
		}
	}
	freeaddrinfo(res);
	return (0);
}

/* Start accepting on base. */
void
front_start(struct event_base *base)
{
	int	 i;

	front_base = base;
	front_resume = evtimer_new(base, front_resume_cb, NULL);
	ratemap_init(&front_rates, FRONT_RATE_SETS);
	for (i = 0; i < front_nfds; i++) {
		front_listeners[i] = evconnlistener_new(base, front_accept_cb,
		    NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1,
		    front_fds[i]);
		if (front_listeners[i] == NULL)
			fatalx("evconnlistener_new");
		evconnlistener_set_error_cb(front_listeners[i],
		    front_accept_error_cb);
	}
}

/* Stop accepting and drop every connection not yet handed over. */
void
front_stop(void)
{
	struct front_conn	*c;
	int			 i;

	for (i = 0; i < front_nfds; i++) {
		if (front_listeners[i] != NULL)
			evconnlistener_free(front_listeners[i]);
		else
			close(front_fds[i]);
		front_listeners[i] = NULL;
	}
	front_nfds = 0;
	while ((c = TAILQ_FIRST(&front_conns)) != NULL)
		front_conn_free(c, 1);
	if (front_resume != NULL)
		event_free(front_resume);
	front_resume = NULL;
	free(front_headers);
	front_headers = NULL;
	ratemap_free(&front_rates);
	cfg_free(front_cfg);
	front_cfg = NULL;
}

/* Is the front door taking new connections? */
int
front_accepting(void)
{
	return (front_nfds > 0 && front_listeners[0] != NULL && !front_paused);
}

/* Connections still sending their request head. */
size_t
front_pending(void)
{
	return (front_nreading);
}

/*
 * Use cfg for the connections accepted from now on; those reading their
 * head keep the size of buffer they were given.
 */
void
front_set_cfg(struct cfg *cfg)
{
	cfg_ref(cfg);
	cfg_free(front_cfg);
	front_cfg = cfg;
	free(front_headers);
	front_headers = xcalloc(cfg->c_max_headers, sizeof *front_headers);
}
