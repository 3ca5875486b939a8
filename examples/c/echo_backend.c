/*
 * echo_backend.c: a minimal wsgated backend in C, written to be copied.
 *
 * wsgated accepts WebSocket clients and forwards their events to a backend
 * over a Unix stream socket on which the backend listens. Each gateway
 * worker thread opens its own connection, so expect several at once; all
 * events of one WebSocket arrive on one connection, in order. A command
 * for any WebSocket may be written on any connection.
 *
 * Every frame is one JSON object, framed either
 *
 *   length-prefixed  4-byte unsigned big-endian length N, then N bytes of JSON
 *   ndjson           one JSON object per line, terminated by "\n"
 *
 * (the backend.framing setting in wsgate.conf; both ends must agree).
 *
 * Gateway -> backend:
 *   {"type":"hello",   "instance":I, "epoch":E, "worker":k, "workers":N, "sockets":n,
 *                      "maxEventBytes":B}
 *   {"type":"open",    "socketId":S, "context":{...}}
 *   {"type":"message", "socketId":S, "context":{...}, "data":"text"}
 *   {"type":"message", "socketId":S, "context":{...}, "data":"BASE64", "binary":true}
 *   {"type":"close",   "socketId":S, "code":1000, "reason":"bye", "context":{...}}
 *
 * Backend -> gateway:
 *   {"type":"send",  "socketId":S, "data":"text"}     (add "binary":true for base64)
 *   {"type":"close", "socketId":S, "code":4000, "reason":"kicked"}
 *
 * This backend echoes every message to the socket that sent it (binary
 * stays binary) and logs one line for each hello, open (with the context)
 * and close. It is one thread around poll(2): every gateway connection has
 * an input buffer, cut into frames as they complete, and an output buffer
 * written as the socket takes it. See wsgate-protocol(7) for the details.
 *
 * Usage: echo_backend [--socket PATH] [--framing length-prefixed|ndjson]
 * Build: cc -std=c11 -o echo_backend echo_backend.c \
 *            $(pkg-config --cflags --libs jansson)
 */
#define _POSIX_C_SOURCE 200809L

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_SOCKET	"/run/wsgate/backend.sock"
#define MAX_LINKS	64			/* gateway connections at once */
#define MAX_FRAME	(16 * 1024 * 1024)	/* refuse longer frames */
#define READ_SIZE	(64 * 1024)		/* room offered to each read */
#define OUT_HIGH	(4 * 1024 * 1024)	/* stop reading above this */

/* A growable byte buffer: data[off, off + len) is not consumed yet. */
struct buf {
	char	*data;
	size_t	 off;
	size_t	 len;
	size_t	 size;
};

/* One gateway connection. */
struct link {
	int		 fd;
	struct buf	 in;
	struct buf	 out;
};

static int		 ndjson;		/* else length-prefixed */
static struct link	 links[MAX_LINKS];
static int		 nlinks;
static int		 stop_pipe[2];		/* the signal handler writes here */

static void __attribute__((format(printf, 1, 2), noreturn))
die(const char *fmt, ...)
{
	va_list	 ap;

	fprintf(stderr, "echo_backend: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

/* Make room for n more bytes at the end of b. */
static void
buf_reserve(struct buf *b, size_t n)
{
	if (b->off > 0 && b->off + b->len + n > b->size) {
		/* Move the unconsumed bytes to the front first. */
		memmove(b->data, b->data + b->off, b->len);
		b->off = 0;
	}
	if (b->len + n > b->size) {
		size_t	 size = b->size ? b->size : READ_SIZE;

		while (size < b->len + n)
			size *= 2;
		if ((b->data = realloc(b->data, size)) == NULL)
			die("out of memory");
		b->size = size;
	}
}

static void
buf_append(struct buf *b, const void *p, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->data + b->off + b->len, p, n);
	b->len += n;
}

static void
buf_consume(struct buf *b, size_t n)
{
	b->off += n;
	b->len -= n;
	if (b->len == 0)
		b->off = 0;
}

/* Frame one JSON object and queue it on the link. */
static void
link_send(struct link *l, json_t *obj)
{
	char		*text;
	size_t		 n;
	unsigned char	 prefix[4];

	/* Compact output escapes control characters: no "\n" inside. */
	if ((text = json_dumps(obj, JSON_COMPACT)) == NULL)
		die("out of memory");
	n = strlen(text);
	if (ndjson) {
		buf_append(&l->out, text, n);
		buf_append(&l->out, "\n", 1);
	} else {
		prefix[0] = n >> 24;
		prefix[1] = n >> 16;
		prefix[2] = n >> 8;
		prefix[3] = n;
		buf_append(&l->out, prefix, 4);
		buf_append(&l->out, text, n);
	}
	free(text);
}

/* A JSON string's text, or dflt for anything else, for log lines. */
static const char *
str_or(json_t *v, const char *dflt)
{
	return (json_is_string(v) ? json_string_value(v) : dflt);
}

/* Handle one event; answers go back on the link it came from. */
static void
handle_frame(struct link *l, const char *payload, size_t n)
{
	json_t		*ev, *reply, *data;
	json_error_t	 error;
	const char	*type, *sid;
	char		*ctx;

	/* A text message may hold U+0000: "\u0000" is valid JSON. */
	ev = json_loadb(payload, n, JSON_ALLOW_NUL, &error);
	if (ev == NULL || !json_is_object(ev)) {
		printf("skipping bad frame (%s)\n",
		    ev == NULL ? error.text : "not a JSON object");
		json_decref(ev);
		return;
	}
	type = json_string_value(json_object_get(ev, "type"));
	sid = json_string_value(json_object_get(ev, "socketId"));
	if (type == NULL)
		printf("skipping frame without a type\n");
	else if (strcmp(type, "hello") == 0) {
		printf("hello from %s worker %lld of %lld, %lld socket(s)\n",
		    str_or(json_object_get(ev, "instance"), "?"),
		    (long long)json_integer_value(json_object_get(ev, "worker")),
		    (long long)json_integer_value(json_object_get(ev, "workers")),
		    (long long)json_integer_value(json_object_get(ev, "sockets")));
		if (json_integer_value(json_object_get(ev, "maxEventBytes")) >
		    MAX_FRAME)
			printf("error: the gateway may send events of up to %lld "
			    "bytes, more than this backend's limit of %d: raise "
			    "MAX_FRAME or lower limits.max_message_bytes\n",
			    (long long)json_integer_value(json_object_get(ev,
			    "maxEventBytes")), MAX_FRAME);
	} else if (strcmp(type, "open") == 0) {
		ctx = json_dumps(json_object_get(ev, "context"),
		    JSON_COMPACT | JSON_ENCODE_ANY);
		printf("open %s context=%s\n", sid ? sid : "?",
		    ctx ? ctx : "null");
		free(ctx);
	} else if (strcmp(type, "close") == 0) {
		printf("close %s code=%lld reason=\"%s\"\n", sid ? sid : "?",
		    (long long)json_integer_value(json_object_get(ev, "code")),
		    str_or(json_object_get(ev, "reason"), ""));
	} else if (strcmp(type, "message") == 0) {
		data = json_object_get(ev, "data");
		if (sid == NULL || !json_is_string(data))
			printf("skipping message without socketId or data\n");
		else {
			/* The data goes back as it came: base64 stays base64. */
			reply = json_pack("{s:s, s:s, s:O}", "type", "send",
			    "socketId", sid, "data", data);
			if (reply == NULL)
				die("out of memory");
			if (json_is_true(json_object_get(ev, "binary")))
				json_object_set_new(reply, "binary", json_true());
			link_send(l, reply);
			json_decref(reply);
		}
	} else
		printf("skipping frame of unknown type \"%s\"\n", type);
	json_decref(ev);
}

/*
 * Cut the whole frames out of the link's input; a frame cut anywhere by
 * the reads, even inside its length prefix, waits for the rest. Returns -1
 * when the stream cannot be resynchronised.
 */
static int
link_frames(struct link *l)
{
	struct buf		*b = &l->in;
	const unsigned char	*p;
	const char		*nl;
	size_t			 n;

	for (;;) {
		p = (const unsigned char *)b->data + b->off;
		if (ndjson) {
			if ((nl = memchr(p, '\n', b->len)) == NULL) {
				if (b->len > MAX_FRAME) {
					printf("link error: line longer than "
					    "%d bytes\n", MAX_FRAME);
					return (-1);
				}
				return (0);
			}
			n = nl - (const char *)p;
			handle_frame(l, (const char *)p, n);
			buf_consume(b, n + 1);
		} else {
			if (b->len < 4)
				return (0);
			n = (size_t)p[0] << 24 | (size_t)p[1] << 16 |
			    (size_t)p[2] << 8 | p[3];
			if (n > MAX_FRAME) {
				printf("link error: frame of %zu bytes is too "
				    "long\n", n);
				return (-1);
			}
			if (b->len < 4 + n)
				return (0);
			handle_frame(l, (const char *)p + 4, n);
			buf_consume(b, 4 + n);
		}
	}
}

static void
link_close(int i)
{
	close(links[i].fd);
	free(links[i].in.data);
	free(links[i].out.data);
	links[i] = links[--nlinks];
	printf("gateway disconnected (%d link(s))\n", nlinks);
}

/* Read what is there; returns -1 when the link is finished. */
static int
link_read(struct link *l)
{
	ssize_t	 n;

	buf_reserve(&l->in, READ_SIZE);
	n = read(l->fd, l->in.data + l->in.off + l->in.len, READ_SIZE);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return (0);
	if (n <= 0)
		return (-1);
	l->in.len += n;
	return (link_frames(l));
}

/* Write what the socket takes; returns -1 when the link is finished. */
static int
link_write(struct link *l)
{
	ssize_t	 n;

	n = write(l->fd, l->out.data + l->out.off, l->out.len);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return (0);
	if (n == -1)
		return (-1);
	buf_consume(&l->out, n);
	return (0);
}

static void
accept_link(int lfd)
{
	int	 fd;

	if ((fd = accept(lfd, NULL, NULL)) == -1)
		return;
	if (nlinks == MAX_LINKS) {
		printf("too many gateway connections; refusing one\n");
		close(fd);
		return;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	memset(&links[nlinks], 0, sizeof links[nlinks]);
	links[nlinks++].fd = fd;
	printf("gateway connected (%d link(s))\n", nlinks);
}

/* Create the directories above path, as mkdir -p would. */
static void
make_parents(const char *path)
{
	char	 dir[sizeof ((struct sockaddr_un *)0)->sun_path];
	char	*slash;

	snprintf(dir, sizeof dir, "%s", path);
	for (slash = strchr(dir + 1, '/'); slash != NULL;
	    slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		if (mkdir(dir, 0755) == -1 && errno != EEXIST)
			die("cannot create %s: %s", dir, strerror(errno));
		*slash = '/';
	}
}

/* Listen on path, replacing a stale socket but nothing else. */
static int
listen_on(const char *path)
{
	struct sockaddr_un	 sun;
	struct stat		 st;
	int			 fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path)
		die("socket path too long: %s", path);
	strcpy(sun.sun_path, path);
	make_parents(path);

	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			die("%s exists and is not a socket; refusing to "
			    "remove it", path);
		if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1)
			die("socket: %s", strerror(errno));
		if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0)
			die("%s: another backend is listening there", path);
		close(fd);
		unlink(path);		/* nobody listens: stale */
	}

	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1)
		die("socket: %s", strerror(errno));
	if (bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1 ||
	    listen(fd, 64) == -1)
		die("%s: %s", path, strerror(errno));
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return (fd);
}

static void
stop_cb(int sig)
{
	int	 saved = errno;
	ssize_t	 n;

	/* Wake poll(); a full pipe is already a wake-up. */
	n = write(stop_pipe[1], "", 1);
	(void)n;
	errno = saved;
}

static void
usage(int status)
{
	fprintf(status ? stderr : stdout, "usage: echo_backend "
	    "[--socket PATH] [--framing length-prefixed|ndjson]\n");
	exit(status);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket",	required_argument,	NULL, 's' },
		{ "framing",	required_argument,	NULL, 'f' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL,		0,			NULL, 0 }
	};
	struct pollfd		 pfd[MAX_LINKS + 2];
	struct sigaction	 sa;
	const char		*path = DEFAULT_SOCKET;
	int			 ch, i, lfd, running = 1;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 's':
			path = optarg;
			break;
		case 'f':
			if (strcmp(optarg, "ndjson") == 0)
				ndjson = 1;
			else if (strcmp(optarg, "length-prefixed") == 0)
				ndjson = 0;
			else {
				fprintf(stderr, "echo_backend: --framing must "
				    "be length-prefixed or ndjson\n");
				usage(2);
			}
			break;
		case 'h':
			usage(0);
			break;
		default:
			usage(2);
		}
	}
	if (optind != argc)
		usage(2);

	/* Log lines reach a file or pipe as they are written. */
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (pipe(stop_pipe) == -1)
		die("pipe: %s", strerror(errno));
	fcntl(stop_pipe[1], F_SETFL, O_NONBLOCK);
	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = stop_cb;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* A gateway that goes away must not kill us in write(2). */
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);

	lfd = listen_on(path);
	printf("listening on %s (%s)\n", path,
	    ndjson ? "ndjson" : "length-prefixed");

	while (running) {
		pfd[0].fd = stop_pipe[0];
		pfd[0].events = POLLIN;
		pfd[1].fd = lfd;
		pfd[1].events = POLLIN;
		for (i = 0; i < nlinks; i++) {
			pfd[i + 2].fd = links[i].fd;
			/* Stop reading from a gateway that does not read. */
			pfd[i + 2].events = links[i].out.len < OUT_HIGH ?
			    POLLIN : 0;
			if (links[i].out.len > 0)
				pfd[i + 2].events |= POLLOUT;
		}
		if (poll(pfd, nlinks + 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			die("poll: %s", strerror(errno));
		}
		if (pfd[0].revents)
			running = 0;
		/* Backwards, since link_close() moves the last link to i. */
		for (i = nlinks - 1; i >= 0; i--) {
			if ((pfd[i + 2].revents & (POLLIN | POLLHUP | POLLERR) &&
			    link_read(&links[i]) == -1) ||
			    (pfd[i + 2].revents & POLLOUT &&
			    link_write(&links[i]) == -1))
				link_close(i);
		}
		if (pfd[1].revents & POLLIN)
			accept_link(lfd);
	}

	while (nlinks > 0)
		link_close(nlinks - 1);
	close(lfd);
	unlink(path);
	return (0);
}
