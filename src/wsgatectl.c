/*
 * wsgatectl: talk to a running wsgated through its admin listener: show
 * its status and its connections, close a connection or send it a
 * message, print its metrics. One HTTP/1.1 request per run, over a plain
 * socket with a deadline; answers are read with jansson.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>

#include <ctype.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "wsgated.h"

#define CTL_TIMEOUT_MS		10000		/* the whole exchange */
#define CTL_MAX_ANSWER		(64 * 1024 * 1024)
#define CTL_COLUMNS		8		/* of a table, at most */

struct ctl_answer {
	int		 a_status;
	char		*a_data;	/* the whole answer, NUL-terminated */
	const char	*a_body;
	size_t		 a_bodylen;
};

struct ctl_table {
	size_t		 t_ncols;
	char		**t_cells;	/* row by row */
	size_t		 t_ncells;
};

static const char	*ctl_host;
static const char	*ctl_port;
static int64_t		 ctl_deadline;

static void __attribute__((noreturn))
usage(FILE *f, int status)
{
	fprintf(f,
	    "usage: wsgatectl [-hjV] [-a host:port] [-c file] command "
	    "[arg ...]\n"
	    "commands:\n"
	    "    status\n"
	    "    connections [-n count]\n"
	    "    close id [code [reason]]\n"
	    "    send [-b] id message\n"
	    "    publish [-b] topic message\n"
	    "    broadcast [-b] message\n"
	    "    metrics\n");
	exit(status);
}

static int64_t
ctl_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* Wait for fd to be ready for events, up to the deadline. */
static void
ctl_poll(int fd, short events, const char *what)
{
	struct pollfd	 pfd = { .fd = fd, .events = events };
	int64_t		 left;
	int		 n;

	for (;;) {
		if ((left = ctl_deadline - ctl_now_ms()) <= 0)
			errx(1, "%s:%s: no answer within %d s while %s",
			    ctl_host, ctl_port, CTL_TIMEOUT_MS / 1000, what);
		if ((n = poll(&pfd, 1, (int)left)) > 0)
			return;
		if (n == -1 && errno != EINTR)
			err(1, "poll");
	}
}

/* Connect to the admin listener, trying each of its addresses. */
static int
ctl_connect(void)
{
	struct addrinfo	 hints, *res, *ai;
	socklen_t	 len;
	int		 fd = -1, error, soerr = 0;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((error = getaddrinfo(ctl_host, ctl_port, &hints, &res)) != 0)
		errx(1, "admin listener %s:%s: %s", ctl_host, ctl_port,
		    gai_strerror(error));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd == -1) {
			soerr = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
			if (errno != EINPROGRESS) {
				soerr = errno;
				close(fd);
				fd = -1;
				continue;
			}
			ctl_poll(fd, POLLOUT, "connecting");
			len = sizeof soerr;
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr,
			    &len) == -1)
				soerr = errno;
			if (soerr != 0) {
				close(fd);
				fd = -1;
				continue;
			}
		}
		break;
	}
	freeaddrinfo(res);
	if (fd == -1)
		errx(1, "cannot connect to the admin listener at %s:%s: %s "
		    "(is wsgated running, with admin.port set?)", ctl_host,
		    ctl_port, strerror(soerr));
	return (fd);
}

static void
ctl_write(int fd, const char *p, size_t len)
{
	ssize_t	 n;

	while (len > 0) {
		ctl_poll(fd, POLLOUT, "sending");
		if ((n = send(fd, p, len, MSG_NOSIGNAL)) == -1) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			err(1, "%s:%s: send", ctl_host, ctl_port);
		}
		p += n;
		len -= (size_t)n;
	}
}

/* Parse what the listener sent: a status line, headers and a body. */
static void
ctl_parse(struct ctl_answer *a, size_t len)
{
	char		*end, *cl;
	unsigned long	 n;

	end = strstr(a->a_data, "\r\n\r\n");
	if (strncmp(a->a_data, "HTTP/1.", 7) != 0 || end == NULL ||
	    sscanf(a->a_data + 8, " %3d", &a->a_status) != 1)
		errx(1, "%s:%s: not an HTTP answer", ctl_host, ctl_port);
	*end = '\0';
	a->a_body = end + 4;
	a->a_bodylen = len - (size_t)(a->a_body - a->a_data);
	if ((cl = strcasestr(a->a_data, "\r\nContent-Length:")) != NULL) {
		n = strtoul(cl + 17, NULL, 10);
		if (n > a->a_bodylen)
			errx(1, "%s:%s: the answer was cut short", ctl_host,
			    ctl_port);
		a->a_bodylen = n;
	}
}

/* One request, answered whole; exits on any failure to get an answer. */
static void
ctl_request(const char *method, const char *target, const void *body,
    size_t bodylen, struct ctl_answer *a)
{
	char	*head;
	size_t	 len = 0, cap = 65536;
	ssize_t	 n;
	int	 fd, hn;

	ctl_deadline = ctl_now_ms() + CTL_TIMEOUT_MS;
	fd = ctl_connect();
	hn = xasprintf(&head, "%s %s HTTP/1.1\r\nHost: %s%s%s:%s\r\n"
	    "Connection: close\r\nContent-Length: %zu\r\n\r\n", method, target,
	    strchr(ctl_host, ':') ? "[" : "", ctl_host,
	    strchr(ctl_host, ':') ? "]" : "", ctl_port, bodylen);
	ctl_write(fd, head, (size_t)hn);
	free(head);
	if (bodylen > 0)
		ctl_write(fd, body, bodylen);

	a->a_data = xmalloc(cap + 1);
	for (;;) {
		ctl_poll(fd, POLLIN, "reading the answer");
		if ((n = recv(fd, a->a_data + len, cap - len, 0)) == -1) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			err(1, "%s:%s: recv", ctl_host, ctl_port);
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == cap) {
			if (cap >= CTL_MAX_ANSWER)
				errx(1, "%s:%s: an answer over %d bytes",
				    ctl_host, ctl_port, CTL_MAX_ANSWER);
			cap *= 2;
			a->a_data = xreallocarray(a->a_data, 1, cap + 1);
		}
	}
	close(fd);
	a->a_data[len] = '\0';
	ctl_parse(a, len);
}

/* Exit 1 with what the listener said about a refused request. */
static void __attribute__((noreturn))
ctl_refused(const char *what, const struct ctl_answer *a)
{
	size_t	 n = strcspn(a->a_body, "\r\n");

	if (n > a->a_bodylen)
		n = a->a_bodylen;
	errx(1, "%s: %.*s (HTTP %d)", what, (int)n, a->a_body, a->a_status);
}

/* Percent-encode s for a URL: all but the unreserved characters. */
static char *
ctl_encode(const char *s)
{
	static const char	 hex[] = "0123456789ABCDEF";
	char			*out, *p;

	p = out = xcalloc(strlen(s) * 3 + 1, 1);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || strchr("-._~", c) != NULL) {
			*p++ = (char)c;
			continue;
		}
		*p++ = '%';
		*p++ = hex[c >> 4];
		*p++ = hex[c & 0xf];
	}
	return (out);
}

/* A socket id is 22 characters of URL-safe base64. */
static void
ctl_check_id(const char *id)
{
	size_t	 len = strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "abcdefghijklmnopqrstuvwxyz0123456789-_");

	if (len != WSG_ID_LEN || id[len] != '\0')
		errx(1, "\"%s\" is not a socket id (%d characters of A-Z, a-z, "
		    "0-9, - and _)", id, WSG_ID_LEN);
}

static json_t *
ctl_json(const struct ctl_answer *a)
{
	json_error_t	 e;
	json_t		*doc;

	if ((doc = json_loadb(a->a_body, a->a_bodylen, 0, &e)) == NULL)
		errx(1, "%s:%s: the answer is not JSON: %s", ctl_host, ctl_port,
		    e.text);
	return (doc);
}

/* Text for a terminal: control characters become '?'. */
static char *
ctl_printable(const char *s)
{
	char	*out = xstrdup(s), *p;

	for (p = out; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c == 0x7f)
			*p = '?';
		/* U+0080 to U+009F, the C1 controls, are 0xc2 0x80-0x9f. */
		else if (c == 0xc2 && ((unsigned char)p[1] & 0xe0) == 0x80) {
			p[0] = '?';
			p[1] = '?';
			p++;
		}
	}
	return (out);
}

/* Columns a string takes: its UTF-8 characters. */
static size_t
ctl_width(const char *s)
{
	size_t	 n = 0;

	for (; *s != '\0'; s++) {
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	}
	return (n);
}

static void
ctl_cell(struct ctl_table *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
ctl_cell(struct ctl_table *t, const char *fmt, ...)
{
	va_list	 ap;
	char	*s;

	va_start(ap, fmt);
	xvasprintf(&s, fmt, ap);
	va_end(ap);
	t->t_cells = xreallocarray(t->t_cells, t->t_ncells + 1,
	    sizeof *t->t_cells);
	t->t_cells[t->t_ncells++] = ctl_printable(s);
	free(s);
}

/* Print a table with aligned columns, two spaces apart, and free it. */
static void
ctl_print_table(struct ctl_table *t)
{
	size_t	 width[CTL_COLUMNS] = { 0 }, i, w, c;

	for (i = 0; i < t->t_ncells; i++) {
		c = i % t->t_ncols;
		if ((w = ctl_width(t->t_cells[i])) > width[c])
			width[c] = w;
	}
	for (i = 0; i < t->t_ncells; i++) {
		c = i % t->t_ncols;
		if (c == t->t_ncols - 1)
			printf("%s\n", t->t_cells[i]);
		else
			printf("%s%*s", t->t_cells[i],
			    (int)(width[c] - ctl_width(t->t_cells[i]) + 2), "");
		free(t->t_cells[i]);
	}
	free(t->t_cells);
}

/* A duration for people: 42s, 3m07s, 5h02m, 2d03h. */
static void
ctl_duration(char *out, size_t len, json_int_t s)
{
	if (s < 60)
		snprintf(out, len, "%llds", (long long)s);
	else if (s < 3600)
		snprintf(out, len, "%lldm%02llds", (long long)s / 60,
		    (long long)s % 60);
	else if (s < 86400)
		snprintf(out, len, "%lldh%02lldm", (long long)s / 3600,
		    (long long)s % 3600 / 60);
	else
		snprintf(out, len, "%lldd%02lldh", (long long)s / 86400,
		    (long long)s % 86400 / 3600);
}

static json_int_t
ctl_int(json_t *o, const char *key)
{
	return (json_integer_value(json_object_get(o, key)));
}

static const char *
ctl_str(json_t *o, const char *key, const char *none)
{
	json_t	*v = json_object_get(o, key);

	return (json_is_string(v) ? json_string_value(v) : none);
}

static int
ctl_status(int raw)
{
	struct ctl_answer	 a;
	struct ctl_table	 t = { .t_ncols = 5 };
	json_t			*doc, *w;
	size_t			 i;
	char			 up[32];

	ctl_request("GET", "/status", NULL, 0, &a);
	if (a.a_status != 200)
		ctl_refused("status", &a);
	if (raw) {
		fwrite(a.a_body, 1, a.a_bodylen, stdout);
		free(a.a_data);
		return (0);
	}
	doc = ctl_json(&a);
	ctl_duration(up, sizeof up, ctl_int(doc, "uptime_seconds"));
	printf("wsgated %s, pid %lld, up %s, %lld connections\n",
	    ctl_str(doc, "version", "?"), (long long)ctl_int(doc, "pid"), up,
	    (long long)ctl_int(doc, "connections"));
	ctl_cell(&t, "WORKER");
	ctl_cell(&t, "CONNECTIONS");
	ctl_cell(&t, "BACKEND");
	ctl_cell(&t, "QUEUED_MESSAGES");
	ctl_cell(&t, "QUEUED_BYTES");
	json_array_foreach(json_object_get(doc, "workers"), i, w) {
		ctl_cell(&t, "%lld", (long long)ctl_int(w, "worker"));
		ctl_cell(&t, "%lld", (long long)ctl_int(w, "connections"));
		ctl_cell(&t, "%s", ctl_str(w, "backend", "?"));
		ctl_cell(&t, "%lld", (long long)ctl_int(w, "queued_messages"));
		ctl_cell(&t, "%lld", (long long)ctl_int(w, "queued_bytes"));
	}
	ctl_print_table(&t);
	json_decref(doc);
	free(a.a_data);
	return (0);
}

static int
ctl_connections(int argc, char **argv, int raw)
{
	struct ctl_answer	 a;
	struct ctl_table	 t = { .t_ncols = 6 };
	json_t			*doc, *c;
	const char		*count = NULL;
	char			*target, age[32];
	size_t			 i;

	if (argc == 3 && strcmp(argv[1], "-n") == 0)
		count = argv[2];
	else if (argc != 1)
		usage(stderr, 1);
	if (count != NULL && (*count == '\0' || strspn(count, "0123456789") !=
	    strlen(count)))
		errx(1, "-n %s: not a number", count);
	if (count != NULL)
		xasprintf(&target, "/connections?limit=%s", count);
	else
		target = xstrdup("/connections");
	ctl_request("GET", target, NULL, 0, &a);
	free(target);
	if (a.a_status != 200)
		ctl_refused("connections", &a);
	if (raw) {
		fwrite(a.a_body, 1, a.a_bodylen, stdout);
		free(a.a_data);
		return (0);
	}
	doc = ctl_json(&a);
	ctl_cell(&t, "SOCKET_ID");
	ctl_cell(&t, "USER_ID");
	ctl_cell(&t, "PEER");
	ctl_cell(&t, "WORKER");
	ctl_cell(&t, "AGE");
	ctl_cell(&t, "QUEUED_BYTES");
	json_array_foreach(doc, i, c) {
		ctl_cell(&t, "%s", ctl_str(c, "socketId", "?"));
		ctl_cell(&t, "%s", ctl_str(c, "userId", "-"));
		ctl_cell(&t, "%s", ctl_str(c, "peer", "?"));
		ctl_cell(&t, "%lld", (long long)ctl_int(c, "worker"));
		ctl_duration(age, sizeof age, ctl_int(c, "age_seconds"));
		ctl_cell(&t, "%s", age);
		ctl_cell(&t, "%lld", (long long)ctl_int(c, "queued_bytes"));
	}
	ctl_print_table(&t);
	json_decref(doc);
	free(a.a_data);
	return (0);
}

static int
ctl_close(int argc, char **argv)
{
	struct ctl_answer	 a;
	char			*target, *code, *reason;

	if (argc < 2 || argc > 4)
		usage(stderr, 1);
	ctl_check_id(argv[1]);
	code = ctl_encode(argc > 2 ? argv[2] : "1000");
	reason = ctl_encode(argc > 3 ? argv[3] : "");
	xasprintf(&target, "/connections/%s/close?code=%s&reason=%s", argv[1],
	    code, reason);
	free(code);
	free(reason);
	ctl_request("POST", target, NULL, 0, &a);
	free(target);
	if (a.a_status != 202)
		ctl_refused("close", &a);
	free(a.a_data);
	return (0);
}

/* A query value, percent-encoded but for RFC 3986's unreserved bytes. */
static char *
ctl_escape(const char *v)
{
	static const char	 hex[] = "0123456789ABCDEF";
	char			*out, *p;

	p = out = xmalloc(strlen(v) * 3 + 1);
	for (; *v != '\0'; v++) {
		if (isalnum((unsigned char)*v) || strchr("-._~", *v) != NULL)
			*p++ = *v;
		else {
			*p++ = '%';
			*p++ = hex[(unsigned char)*v >> 4];
			*p++ = hex[(unsigned char)*v & 15];
		}
	}
	*p = '\0';
	return (out);
}

/*
 * send [-b] id message, publish [-b] topic message, broadcast [-b]
 * message: the message to one connection, a topic's subscribers, or all.
 */
static int
ctl_message(int argc, char **argv)
{
	struct ctl_answer	 a;
	const char		*cmd = argv[0];
	char			*target, *topic;
	int			 binary = 0, nargs;

	nargs = strcmp(cmd, "broadcast") == 0 ? 2 : 3;
	if (argc > 1 && strcmp(argv[1], "-b") == 0) {
		binary = 1;
		argc--;
		argv++;
	}
	if (argc != nargs)
		usage(stderr, 1);
	if (strcmp(cmd, "send") == 0) {
		ctl_check_id(argv[1]);
		xasprintf(&target, "/connections/%s/send%s", argv[1],
		    binary ? "?binary=1" : "");
	} else if (strcmp(cmd, "publish") == 0) {
		topic = ctl_escape(argv[1]);
		xasprintf(&target, "/publish?topic=%s%s", topic,
		    binary ? "&binary=1" : "");
		free(topic);
	} else
		xasprintf(&target, "/broadcast%s", binary ? "?binary=1" : "");
	ctl_request("POST", target, argv[nargs - 1], strlen(argv[nargs - 1]),
	    &a);
	free(target);
	if (a.a_status != 202)
		ctl_refused(cmd, &a);
	free(a.a_data);
	return (0);
}

static int
ctl_metrics(void)
{
	struct ctl_answer	 a;

	ctl_request("GET", "/metrics", NULL, 0, &a);
	if (a.a_status != 200)
		ctl_refused("metrics", &a);
	fwrite(a.a_body, 1, a.a_bodylen, stdout);
	free(a.a_data);
	return (0);
}

static int
ctl_is_command(const char *name)
{
	static const char *const commands[] = {
		"status", "connections", "close", "send", "publish",
		"broadcast", "metrics", NULL
	};
	size_t	 i;

	for (i = 0; commands[i] != NULL; i++) {
		if (strcmp(commands[i], name) == 0)
			return (1);
	}
	return (0);
}

/* -a host:port, or [v6]:port. */
static void
ctl_set_address(char *arg)
{
	char	*colon;

	if (arg[0] == '[') {
		if ((colon = strstr(arg, "]:")) == NULL)
			errx(1, "-a %s: use host:port or [address]:port", arg);
		*colon = '\0';
		ctl_host = arg + 1;
		ctl_port = colon + 2;
	} else {
		if ((colon = strrchr(arg, ':')) == NULL ||
		    strchr(arg, ':') != colon)
			errx(1, "-a %s: use host:port or [address]:port", arg);
		*colon = '\0';
		ctl_host = arg;
		ctl_port = colon + 1;
	}
	if (*ctl_host == '\0' || *ctl_port == '\0')
		errx(1, "-a: use host:port or [address]:port");
}

/* Find the admin listener in the configuration file. */
static void
ctl_read_config(const char *file)
{
	static char	 port[16];
	struct cfg	*cfg;
	char		*errs;

	if ((cfg = cfg_load(file, &errs)) == NULL) {
		fputs(errs, stderr);
		free(errs);
		errx(1, "cannot read %s (-a host:port names the admin "
		    "listener without it)", file);
	}
	if (cfg->c_admin_port == 0)
		errx(1, "the admin listener is off: admin.port is 0 in %s "
		    "(set it and restart wsgated, or use -a host:port)", file);
	/* A listener on every address is reached on loopback. */
	if (strcmp(cfg->c_admin_address, "0.0.0.0") == 0)
		ctl_host = "127.0.0.1";
	else if (strcmp(cfg->c_admin_address, "::") == 0)
		ctl_host = "::1";
	else
		ctl_host = xstrdup(cfg->c_admin_address);
	snprintf(port, sizeof port, "%d", cfg->c_admin_port);
	ctl_port = port;
	cfg_free(cfg);
}

int
main(int argc, char **argv)
{
	const char	*file = WSG_CONF_FILE;
	char		*address = NULL;
	int		 ch, raw = 0;

	/* "+": options end at the command, which has its own. */
	while ((ch = getopt(argc, argv, "+a:c:hjV")) != -1) {
		switch (ch) {
		case 'a':
			address = optarg;
			break;
		case 'c':
			file = optarg;
			break;
		case 'h':
			usage(stdout, 0);
		case 'j':
			raw = 1;
			break;
		case 'V':
			printf("wsgatectl %s\n", PACKAGE_VERSION);
			return (0);
		default:
			usage(stderr, 1);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0 || !ctl_is_command(argv[0]))
		usage(stderr, 1);

	if (address != NULL)
		ctl_set_address(address);
	else
		ctl_read_config(file);

	if (strcmp(argv[0], "status") == 0 && argc == 1)
		return (ctl_status(raw));
	if (strcmp(argv[0], "connections") == 0)
		return (ctl_connections(argc, argv, raw));
	if (strcmp(argv[0], "close") == 0)
		return (ctl_close(argc, argv));
	if (strcmp(argv[0], "send") == 0 || strcmp(argv[0], "publish") == 0 ||
	    strcmp(argv[0], "broadcast") == 0)
		return (ctl_message(argc, argv));
	if (strcmp(argv[0], "metrics") == 0 && argc == 1)
		return (ctl_metrics());
	usage(stderr, 1);
}
