/*
 * The admin listener: a small HTTP/1.1 server for operators, run by
 * libevent's evhttp on the main thread's loop and off unless admin.port
 * is set. It answers health checks and Prometheus scrapes; every answer is
 * short and no request waits on anything but the loop.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>

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
#define ADMIN_TIMEOUT_SECS	10	/* to read a request, or write an answer */
#define ADMIN_ACCEPT_PAUSE_SECS	1	/* after EMFILE */

/* An endpoint: its path, the methods it takes and what answers it. */
struct admin_route {
	const char	*r_path;
	int		 r_post;	/* POST; else GET and HEAD */
	void		(*r_cb)(struct evhttp_request *);
};

static struct evhttp		*admin_http;
static struct event		*admin_resume;
static int			 admin_fds[ADMIN_MAX_LISTENERS];
static int			 admin_nfds;
static struct evconnlistener	*admin_listeners[ADMIN_MAX_LISTENERS];
static struct ratelog		 admin_emfile_rl;

static void	admin_healthz(struct evhttp_request *);
static void	admin_readyz(struct evhttp_request *);
static void	admin_metrics(struct evhttp_request *);

static const struct admin_route admin_routes[] = {
	{ "/healthz", 0, admin_healthz },
	{ "/readyz", 0, admin_readyz },
	{ "/metrics", 0, admin_metrics },
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

static void
admin_healthz(struct evhttp_request *req)
{
	admin_text(req, 200, "ok");
}

/*
 * Ready: the front door takes connections and every worker's backend
 * link is up. A load balancer sends traffic elsewhere until then.
 */
static void
admin_readyz(struct evhttp_request *req)
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
admin_metrics(struct evhttp_request *req)
{
	struct buf	 b;

	buf_init(&b);
	metrics_prometheus(&b);
	admin_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8",
	    buf_data(&b), buf_used(&b));
	buf_free(&b);
}

/* Every request: find its endpoint and check the method. */
static void
admin_request_cb(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri		*uri = evhttp_request_get_evhttp_uri(req);
	const struct admin_route	*r = NULL;
	const char			*path;
	enum evhttp_cmd_type		 m = evhttp_request_get_command(req);
	size_t				 i;

	path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	for (i = 0; path != NULL && i < ADMIN_NROUTES; i++) {
		if (strcmp(path, admin_routes[i].r_path) == 0) {
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
	r->r_cb(req);
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
	evhttp_set_max_body_size(admin_http, 0);
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

/* Stop serving: close the listener and every admin connection. */
void
admin_stop(void)
{
	int	 i;

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
}
