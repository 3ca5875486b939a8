/*
 * wsg-echo-backend: the echo backend of wsgated's benchmark.
 *
 * It listens on a Unix stream socket, accepts any number of gateway
 * connections and speaks the backend protocol of wsgate-protocol(7): every
 * "message" event is answered, on the connection it came from, by a "send"
 * command with the same socketId and data ("binary" kept, so base64 passes
 * through unchanged). Other events (hello, open, close) are counted and
 * ignored. JSON is parsed with json_loadb() and built with json_pack() and
 * json_dumpb(), as a backend written with any JSON library would do.
 *
 * A text message "!broadcast REST" is not echoed: it is answered by a
 * "broadcast" command to every client whose data is "!NS REST", NS being
 * CLOCK_MONOTONIC in nanoseconds when the command is built, so that a
 * client on this machine can tell how long the fan-out took (wsg-loadgen
 * --mode fanout). The benchmark's peer gateways get the same command.
 *
 * Each readable event reads one large chunk; the answers to all the whole
 * frames in it are appended to the connection's output buffer, and each
 * connection with output gets one write at the end of the loop iteration.
 *
 * With --cross, for the cluster benchmark: the gateway connections are
 * grouped by the "instance" of their hello event, and each message is
 * answered on a connection of another instance, so that the "send" goes
 * through that gateway and the cluster link to the gateway that holds the
 * socket. Each connection keeps the one it answers on, so that a socket's
 * answers stay in order.
 * With --self-test N the same parse-and-answer path runs on N synthetic
 * frames in memory and the rate is printed as JSON: the backend's ceiling.
 */
#include <sys/epoll.h>
#include <sys/queue.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define EB_NAME		"wsg-echo-backend"
#define EB_READ_SIZE	(256 * 1024)	/* room offered to each read */
#define EB_MAX_FRAME	(64 * 1024 * 1024) /* longest frame we wait for */
#define EB_OUT_HIGH	(32 * 1024 * 1024) /* stop reading above this */
#define EB_OUT_LOW	(EB_OUT_HIGH / 2)  /* and resume below this */
#define EB_MAX_EVENTS	64
#define EB_PREFIX	4
#define EB_SELFTEST_BATCH 1024		/* frames per in-memory "read" */
#define EB_TRIGGER	"!broadcast "	/* a message that asks for one */
#define EB_MAX_TRIGGER	4096		/* longest REST of a trigger */

enum eb_framing {
	EB_LENGTH_PREFIXED,
	EB_NDJSON
};

struct eb_buf {
	char		*b_data;
	size_t		 b_off;		/* start of the unconsumed bytes */
	size_t		 b_len;		/* unconsumed bytes */
	size_t		 b_size;
};

struct eb_conn {
	int			 c_fd;
	unsigned int		 c_id;
	uint32_t		 c_events;	/* epoll interest now */
	int			 c_dirty;	/* on eb_dirty */
	struct eb_buf		 c_in;
	struct eb_buf		 c_out;
	size_t			 c_scan;	/* ndjson: searched */
	char			*c_instance;	/* --cross: from the hello */
	struct eb_conn		*c_peer;	/* --cross: answers go there */

	TAILQ_ENTRY(eb_conn)	 c_entry;
	TAILQ_ENTRY(eb_conn)	 c_dirty_entry;
};
TAILQ_HEAD(eb_conns, eb_conn);

struct eb_stats {
	unsigned long long	 s_messages;	/* answered */
	unsigned long long	 s_broadcasts;	/* sent on a trigger */
	unsigned long long	 s_other;	/* hello, open, close, others */
	unsigned long long	 s_errors;	/* frames we could not use */
	unsigned long long	 s_conns;	/* gateway connections */
	unsigned long long	 s_crossed;	/* --cross: on another node */
	unsigned long long	 s_uncrossed;	/* --cross: on their own */
};

static enum eb_framing	 eb_framing = EB_LENGTH_PREFIXED;
static int		 eb_verbose;
static int		 eb_cross;
static struct eb_conn	*eb_rotor;	/* --cross: the last peer chosen */
static struct eb_stats	 eb_stats;
static struct eb_conns	 eb_conns = TAILQ_HEAD_INITIALIZER(eb_conns);
static struct eb_conns	 eb_dirty = TAILQ_HEAD_INITIALIZER(eb_dirty);
static int		 eb_epfd = -1;

/* Tags that tell the listener and the signalfd from connections. */
static int		 eb_listen_tag, eb_signal_tag;

static void	eb_conn_dirty(struct eb_conn *);

static void __attribute__((format(printf, 1, 2)))
eb_log(const char *fmt, ...)
{
	va_list	ap;
	int	saved = errno;

	va_start(ap, fmt);
	fprintf(stderr, "%s: ", EB_NAME);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	errno = saved;
}

static void __attribute__((noreturn, format(printf, 1, 2)))
eb_fatal(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	fprintf(stderr, "%s: ", EB_NAME);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static void *
eb_realloc(void *p, size_t size)
{
	if ((p = realloc(p, size)) == NULL)
		eb_fatal("out of memory (%zu bytes)", size);
	return (p);
}

/*
 * Return room for at least n more bytes after the unconsumed ones: move
 * them to the front when that is enough, else grow.
 */
static char *
eb_buf_reserve(struct eb_buf *b, size_t n)
{
	size_t	size;

	if (b->b_size - b->b_off - b->b_len >= n)
		return (b->b_data + b->b_off + b->b_len);
	if (b->b_off != 0) {
		memmove(b->b_data, b->b_data + b->b_off, b->b_len);
		b->b_off = 0;
	}
	if (b->b_size - b->b_len < n) {
		size = b->b_size != 0 ? b->b_size : 4096;
		while (size - b->b_len < n)
			size *= 2;
		b->b_data = eb_realloc(b->b_data, size);
		b->b_size = size;
	}
	return (b->b_data + b->b_len);
}

static void
eb_buf_drain(struct eb_buf *b, size_t n)
{
	b->b_off += n;
	b->b_len -= n;
	if (b->b_len == 0)
		b->b_off = 0;
}

static void
eb_buf_free(struct eb_buf *b)
{
	free(b->b_data);
	memset(b, 0, sizeof *b);
}

/* Append obj as one frame of the configured framing. */
static int
eb_encode(const json_t *obj, size_t hint, struct eb_buf *out)
{
	char	*p;
	size_t	 pre, room = hint, n;

	pre = eb_framing == EB_LENGTH_PREFIXED ? EB_PREFIX : 0;
	for (;;) {
		p = eb_buf_reserve(out, pre + room + 1);
		n = json_dumpb(obj, p + pre, room, JSON_COMPACT);
		if (n == 0)
			return (-1);
		if (n <= room)
			break;
		room = n;
	}
	if (pre != 0) {
		p[0] = (char)(n >> 24);
		p[1] = (char)(n >> 16);
		p[2] = (char)(n >> 8);
		p[3] = (char)n;
	} else
		p[n] = '\n';	/* compact JSON holds no raw newline */
	out->b_len += pre + n + (pre == 0);
	return (0);
}

static void
eb_error(const char *what, const char *frame, size_t len)
{
	char	esc[81];
	size_t	i;

	/* The first few are worth seeing; a flood of them is not. */
	if (++eb_stats.s_errors > 5 && !eb_verbose)
		return;
	for (i = 0; i < len && i < sizeof esc - 1; i++)
		esc[i] = frame[i] >= 0x20 && frame[i] < 0x7f ? frame[i] : '?';
	esc[i] = '\0';
	eb_log("bad frame (%s): %s%s", what, esc, len > i ? "..." : "");
}

/*
 * The broadcast asked for by a trigger; rest is what follows EB_TRIGGER.
 * Return the command, or NULL if rest is too long.
 */
static json_t *
eb_broadcast(const char *rest, size_t len)
{
	struct timespec	ts;
	char		buf[32 + EB_MAX_TRIGGER];
	int		n;

	if (len > EB_MAX_TRIGGER)
		return (NULL);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	n = snprintf(buf, sizeof buf, "!%llu ",
	    (unsigned long long)ts.tv_sec * 1000000000ULL +
	    (unsigned long long)ts.tv_nsec);
	memcpy(buf + n, rest, len);
	return (json_pack("{s:s, s:s%}", "type", "broadcast", "data", buf,
	    (size_t)n + len));
}

/*
 * --cross: the connection of another instance that c's messages are
 * answered on, chosen in turn among them the first time; NULL while c's
 * hello has not come or no other instance is connected.
 */
static struct eb_conn *
eb_peer(struct eb_conn *c)
{
	struct eb_conn	*p, *start;

	if (c->c_peer != NULL || c->c_instance == NULL)
		return (c->c_peer);
	start = eb_rotor != NULL ? TAILQ_NEXT(eb_rotor, c_entry) : NULL;
	if (start == NULL)
		start = TAILQ_FIRST(&eb_conns);
	p = start;
	do {
		if (p->c_instance != NULL &&
		    strcmp(p->c_instance, c->c_instance) != 0) {
			c->c_peer = eb_rotor = p;
			return (p);
		}
		if ((p = TAILQ_NEXT(p, c_entry)) == NULL)
			p = TAILQ_FIRST(&eb_conns);
	} while (p != start);
	return (NULL);
}

/*
 * Answer one frame: a "message" event becomes a "send" command, or a
 * "broadcast" one if it is a trigger, appended to out; with --cross, a
 * "send" goes to the output of c's peer if it has one (c is NULL in the
 * self-test).
 */
static void
eb_frame(struct eb_conn *c, const char *frame, size_t len,
    struct eb_buf *out)
{
	json_error_t	 err;
	json_t		*ev, *type, *id, *data, *bin, *cmd, *inst;
	struct eb_conn	*peer = NULL;

	/* Text may hold U+0000, which the gateway writes as \u0000. */
	if ((ev = json_loadb(frame, len, JSON_ALLOW_NUL, &err)) == NULL) {
		eb_error(err.text, frame, len);
		return;
	}
	type = json_object_get(ev, "type");
	if (!json_is_string(type) ||
	    strcmp(json_string_value(type), "message") != 0) {
		if (json_is_object(ev) && json_is_string(type))
			eb_stats.s_other++;
		else
			eb_error("not an object with a string type", frame,
			    len);
		if (eb_cross && c != NULL && json_is_string(type) &&
		    strcmp(json_string_value(type), "hello") == 0 &&
		    json_is_string(inst = json_object_get(ev, "instance"))) {
			free(c->c_instance);
			if ((c->c_instance = strdup(json_string_value(inst))) ==
			    NULL)
				eb_fatal("out of memory");
			c->c_peer = NULL;
		}
		json_decref(ev);
		return;
	}
	id = json_object_get(ev, "socketId");
	data = json_object_get(ev, "data");
	bin = json_object_get(ev, "binary");
	if (!json_is_string(id) || !json_is_string(data)) {
		eb_error("message without a string socketId and data", frame,
		    len);
		json_decref(ev);
		return;
	}

	/* "O" takes a new reference: data is shared, not copied. */
	if (!json_is_true(bin) && json_string_length(data) >=
	    sizeof EB_TRIGGER - 1 && memcmp(json_string_value(data),
	    EB_TRIGGER, sizeof EB_TRIGGER - 1) == 0) {
		cmd = eb_broadcast(json_string_value(data) +
		    sizeof EB_TRIGGER - 1, json_string_length(data) -
		    (sizeof EB_TRIGGER - 1));
		json_decref(ev);
		if (cmd == NULL) {
			eb_error("trigger too long", frame, len);
			return;
		}
		if (eb_encode(cmd, 128 + len, out) == 0)
			eb_stats.s_broadcasts++;
		else
			eb_error("broadcast not encodable", frame, len);
		json_decref(cmd);
		return;
	}
	if (json_is_true(bin)) {
		cmd = json_pack("{s:s, s:O, s:O, s:b}", "type", "send",
		    "socketId", id, "data", data, "binary", 1);
	} else {
		cmd = json_pack("{s:s, s:O, s:O}", "type", "send",
		    "socketId", id, "data", data);
	}
	json_decref(ev);
	if (cmd == NULL)
		eb_fatal("json_pack failed");

	if (eb_cross && c != NULL) {
		if ((peer = eb_peer(c)) != NULL) {
			out = &peer->c_out;
			eb_stats.s_crossed++;
		} else
			eb_stats.s_uncrossed++;
	}

	/* The command is shorter than the event, which carries the context. */
	if (eb_encode(cmd, len + 64, out) == 0) {
		eb_stats.s_messages++;
		if (peer != NULL)
			eb_conn_dirty(peer);
	} else
		eb_error("answer not encodable", frame, len);
	json_decref(cmd);
}

/*
 * Answer every whole frame in in and leave a partial one there. *scan is
 * how much of in an earlier call searched for a newline (ndjson), *need how
 * many bytes the partial frame still lacks, when known. Return -1 if a
 * frame is longer than EB_MAX_FRAME: the connection cannot go on.
 */
static int
eb_input(struct eb_conn *c, struct eb_buf *in, size_t *scan, size_t *need,
    struct eb_buf *out)
{
	const unsigned char	*p;
	const char		*nl;
	size_t			 n;

	*need = 0;
	while (in->b_len != 0) {
		p = (const unsigned char *)in->b_data + in->b_off;
		if (eb_framing == EB_LENGTH_PREFIXED) {
			if (in->b_len < EB_PREFIX) {
				*need = EB_PREFIX - in->b_len;
				break;
			}
			n = (size_t)p[0] << 24 | (size_t)p[1] << 16 |
			    (size_t)p[2] << 8 | p[3];
			if (n > EB_MAX_FRAME)
				return (-1);
			if (in->b_len - EB_PREFIX < n) {
				*need = n - (in->b_len - EB_PREFIX);
				break;
			}
			eb_frame(c, (const char *)p + EB_PREFIX, n, out);
			eb_buf_drain(in, EB_PREFIX + n);
		} else {
			nl = memchr(p + *scan, '\n', in->b_len - *scan);
			if (nl == NULL) {
				*scan = in->b_len;
				if (in->b_len > EB_MAX_FRAME)
					return (-1);
				break;
			}
			n = (size_t)(nl - (const char *)p);
			if (n != 0)
				eb_frame(c, (const char *)p, n, out);
			eb_buf_drain(in, n + 1);
			*scan = 0;
		}
	}
	return (0);
}

static void
eb_conn_events(struct eb_conn *c, uint32_t events)
{
	struct epoll_event	ev;

	if (events == c->c_events)
		return;
	memset(&ev, 0, sizeof ev);
	ev.events = events;
	ev.data.ptr = c;
	if (epoll_ctl(eb_epfd, EPOLL_CTL_MOD, c->c_fd, &ev) == -1)
		eb_fatal("epoll_ctl: %s", strerror(errno));
	c->c_events = events;
}

static void
eb_conn_dirty(struct eb_conn *c)
{
	if (!c->c_dirty) {
		TAILQ_INSERT_TAIL(&eb_dirty, c, c_dirty_entry);
		c->c_dirty = 1;
	}
}

/* The one exit of a gateway connection; error says whether to log it. */
static void
eb_conn_close(struct eb_conn *c, const char *reason, int error)
{
	struct eb_conn	*o;

	if (eb_verbose || error || c->c_out.b_len != 0) {
		eb_log("gateway connection %u closed: %s (%zu bytes unsent)",
		    c->c_id, reason, c->c_out.b_len);
	}
	if (c->c_dirty)
		TAILQ_REMOVE(&eb_dirty, c, c_dirty_entry);
	TAILQ_REMOVE(&eb_conns, c, c_entry);
	TAILQ_FOREACH(o, &eb_conns, c_entry) {
		if (o->c_peer == c)
			o->c_peer = NULL;
	}
	if (eb_rotor == c)
		eb_rotor = NULL;
	close(c->c_fd);		/* also leaves the epoll set */
	eb_buf_free(&c->c_in);
	eb_buf_free(&c->c_out);
	free(c->c_instance);
	free(c);
}

static void
eb_accept(int lfd)
{
	struct epoll_event	 ev;
	struct eb_conn		*c;
	int			 fd;

	for (;;) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED)
				eb_log("accept: %s", strerror(errno));
			return;
		}
		if ((c = calloc(1, sizeof *c)) == NULL)
			eb_fatal("out of memory");
		c->c_fd = fd;
		c->c_id = (unsigned int)++eb_stats.s_conns;
		c->c_events = EPOLLIN;
		memset(&ev, 0, sizeof ev);
		ev.events = c->c_events;
		ev.data.ptr = c;
		if (epoll_ctl(eb_epfd, EPOLL_CTL_ADD, fd, &ev) == -1)
			eb_fatal("epoll_ctl: %s", strerror(errno));
		TAILQ_INSERT_TAIL(&eb_conns, c, c_entry);
		if (eb_verbose)
			eb_log("gateway connection %u accepted", c->c_id);
	}
}

/* Read one large chunk and answer the whole frames. Return -1 if closed. */
static int
eb_read(struct eb_conn *c)
{
	char	*p;
	size_t	 room, need;
	ssize_t	 n;

	/* Make room for the rest of a long frame at once, to copy it once. */
	need = EB_READ_SIZE;
	if (eb_framing == EB_LENGTH_PREFIXED && c->c_in.b_len >= EB_PREFIX) {
		p = c->c_in.b_data + c->c_in.b_off;
		room = (size_t)(unsigned char)p[0] << 24 |
		    (size_t)(unsigned char)p[1] << 16 |
		    (size_t)(unsigned char)p[2] << 8 | (unsigned char)p[3];
		if (room <= EB_MAX_FRAME &&
		    room + EB_PREFIX - c->c_in.b_len > need)
			need = room + EB_PREFIX - c->c_in.b_len;
	}
	p = eb_buf_reserve(&c->c_in, need);
	room = c->c_in.b_size - c->c_in.b_off - c->c_in.b_len;

	n = read(c->c_fd, p, room);
	if (n == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return (0);
		eb_conn_close(c, strerror(errno), 1);
		return (-1);
	}
	if (n == 0) {
		/* Hand over what was answered already, once, then go. */
		if (c->c_out.b_len != 0)
			(void)send(c->c_fd, c->c_out.b_data + c->c_out.b_off,
			    c->c_out.b_len, MSG_NOSIGNAL);
		c->c_out.b_len = 0;
		eb_conn_close(c, "end of file", 0);
		return (-1);
	}
	c->c_in.b_len += (size_t)n;

	if (eb_input(c, &c->c_in, &c->c_scan, &need, &c->c_out) == -1) {
		eb_conn_close(c, "frame too long", 1);
		return (-1);
	}
	if (c->c_in.b_len == 0 && c->c_in.b_size > 4 * EB_READ_SIZE)
		eb_buf_free(&c->c_in);	/* a huge frame has gone */
	if (c->c_out.b_len != 0)
		eb_conn_dirty(c);
	return (0);
}

/* The one write of this loop iteration. Return -1 if closed. */
static int
eb_write(struct eb_conn *c)
{
	uint32_t	events;
	ssize_t		n;

	if (c->c_out.b_len != 0) {
		n = send(c->c_fd, c->c_out.b_data + c->c_out.b_off,
		    c->c_out.b_len, MSG_NOSIGNAL);
		if (n == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR) {
				eb_conn_close(c, strerror(errno), 1);
				return (-1);
			}
		} else
			eb_buf_drain(&c->c_out, (size_t)n);
	}

	/*
	 * Wait for room while output is left, and stop reading a gateway
	 * that sends faster than it reads our answers.
	 */
	events = c->c_events & EPOLLIN;
	if (c->c_out.b_len != 0)
		events |= EPOLLOUT;
	if (c->c_out.b_len > EB_OUT_HIGH)
		events &= ~EPOLLIN;
	else if (c->c_out.b_len < EB_OUT_LOW)
		events |= EPOLLIN;
	eb_conn_events(c, events);
	if (c->c_out.b_len == 0 && c->c_out.b_size > 4 * EB_READ_SIZE)
		eb_buf_free(&c->c_out);
	return (0);
}

/* Remove a stale socket left by an earlier run, then bind and listen. */
static int
eb_listen(const char *path)
{
	struct sockaddr_un	sun;
	struct stat		sb;
	int			fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path)
		eb_fatal("%s: socket path too long", path);
	strcpy(sun.sun_path, path);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		eb_fatal("socket: %s", strerror(errno));
	if (lstat(path, &sb) == 0) {
		if (!S_ISSOCK(sb.st_mode))
			eb_fatal("%s: exists and is not a socket", path);

		/* Stale only if nobody listens: never steal a live path. */
		if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0 ||
		    errno == EAGAIN)
			eb_fatal("%s: another backend is listening", path);
		close(fd);
		if (unlink(path) == -1)
			eb_fatal("unlink %s: %s", path, strerror(errno));
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (fd == -1)
			eb_fatal("socket: %s", strerror(errno));
	}
	if (bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1)
		eb_fatal("bind %s: %s", path, strerror(errno));
	if (listen(fd, SOMAXCONN) == -1)
		eb_fatal("listen: %s", strerror(errno));
	return (fd);
}

static void
eb_serve(const char *path)
{
	struct epoll_event	 ev, evs[EB_MAX_EVENTS];
	struct signalfd_siginfo	 si;
	struct eb_conn		*c;
	sigset_t		 set;
	int			 lfd, sfd, n, i, quit = 0;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1)
		eb_fatal("sigprocmask: %s", strerror(errno));
	if ((sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) == -1)
		eb_fatal("signalfd: %s", strerror(errno));

	lfd = eb_listen(path);
	if ((eb_epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		eb_fatal("epoll_create1: %s", strerror(errno));
	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN;
	ev.data.ptr = &eb_listen_tag;
	if (epoll_ctl(eb_epfd, EPOLL_CTL_ADD, lfd, &ev) == -1)
		eb_fatal("epoll_ctl: %s", strerror(errno));
	ev.data.ptr = &eb_signal_tag;
	if (epoll_ctl(eb_epfd, EPOLL_CTL_ADD, sfd, &ev) == -1)
		eb_fatal("epoll_ctl: %s", strerror(errno));
	if (eb_verbose)
		eb_log("listening on %s (%s)", path,
		    eb_framing == EB_NDJSON ? "ndjson" : "length-prefixed");

	while (!quit) {
		n = epoll_wait(eb_epfd, evs, EB_MAX_EVENTS, -1);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			eb_fatal("epoll_wait: %s", strerror(errno));
		}
		for (i = 0; i < n; i++) {
			if (evs[i].data.ptr == &eb_listen_tag) {
				eb_accept(lfd);
				continue;
			}
			if (evs[i].data.ptr == &eb_signal_tag) {
				if (read(sfd, &si, sizeof si) == sizeof si)
					quit = 1;
				continue;
			}
			c = evs[i].data.ptr;
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
				if (eb_read(c) == -1)
					continue;
			}
			if (evs[i].events & EPOLLOUT)
				eb_conn_dirty(c);
		}
		while ((c = TAILQ_FIRST(&eb_dirty)) != NULL) {
			TAILQ_REMOVE(&eb_dirty, c, c_dirty_entry);
			c->c_dirty = 0;
			eb_write(c);
		}
	}

	while ((c = TAILQ_FIRST(&eb_conns)) != NULL)
		eb_conn_close(c, "stopping", 0);
	close(lfd);
	close(sfd);
	close(eb_epfd);
	unlink(path);
	eb_log("stopped: %llu messages answered, %llu broadcasts, "
	    "%llu other events, %llu bad frames, %llu gateway connections",
	    eb_stats.s_messages, eb_stats.s_broadcasts, eb_stats.s_other,
	    eb_stats.s_errors, eb_stats.s_conns);
	if (eb_cross)
		eb_log("cross: %llu answered on another instance's connection, "
		    "%llu on their own for want of one", eb_stats.s_crossed,
		    eb_stats.s_uncrossed);
}

static double
eb_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

/*
 * Measure the ceiling: answer count frames like those wsgated sends (with
 * the default context), in batches as one large read would deliver them,
 * without the sockets. The answer to the first is checked.
 */
static void
eb_self_test(unsigned long long count, size_t size, int binary)
{
	struct eb_buf		 tmpl, in, out;
	json_t			*ev, *ctx, *ans;
	char			*data;
	const char		*sid = "q48qTJHgXTt_EMai1OibBw";
	unsigned long long	 done = 0;
	size_t			 i, pre, scan = 0, need, dlen;
	double			 t0, t;

	/* Binary data travels as base64: size bytes are 4 * size / 3 chars. */
	dlen = binary ? (size + 2) / 3 * 4 : size;
	data = eb_realloc(NULL, dlen + 1);
	for (i = 0; i < dlen; i++)
		data[i] = (char)('A' + i % 26);
	data[dlen] = '\0';

	ctx = json_pack("{s:s, s:I, s:s, s:s}", "socketId", sid,
	    "createdAt", (json_int_t)1795858200250LL, "token", "bench-token",
	    "userId", "1042");
	if (binary) {
		ev = json_pack("{s:s, s:s, s:o, s:s, s:b}", "type", "message",
		    "socketId", sid, "context", ctx, "data", data, "binary", 1);
	} else {
		ev = json_pack("{s:s, s:s, s:o, s:s}", "type", "message",
		    "socketId", sid, "context", ctx, "data", data);
	}
	if (ev == NULL)
		eb_fatal("json_pack failed");

	memset(&tmpl, 0, sizeof tmpl);
	memset(&out, 0, sizeof out);
	for (i = 0; i < EB_SELFTEST_BATCH; i++)
		eb_encode(ev, 256, &tmpl);
	json_decref(ev);

	/* Check one answer before timing many. */
	in = tmpl;
	in.b_len = tmpl.b_len / EB_SELFTEST_BATCH;
	if (eb_input(NULL, &in, &scan, &need, &out) == -1 || in.b_len != 0)
		eb_fatal("self-test: frame not consumed");
	pre = eb_framing == EB_LENGTH_PREFIXED ? EB_PREFIX : 0;
	ans = json_loadb(out.b_data + pre, out.b_len - pre - (pre == 0), 0,
	    NULL);
	if (ans == NULL || strcmp(json_string_value(json_object_get(ans,
	    "data")), data) != 0 || json_is_true(json_object_get(ans,
	    "binary")) != binary)
		eb_fatal("self-test: wrong answer");
	json_decref(ans);

	eb_stats.s_messages = 0;
	t0 = eb_now();
	while (done < count) {
		in = tmpl;	/* a view: draining moves only in.b_off */
		out.b_off = out.b_len = 0;
		if (eb_input(NULL, &in, &scan, &need, &out) == -1)
			eb_fatal("self-test: frame too long");
		done += EB_SELFTEST_BATCH;
	}
	t = eb_now() - t0;
	if (eb_stats.s_messages != done || eb_stats.s_errors != 0)
		eb_fatal("self-test: %llu answers to %llu frames",
		    eb_stats.s_messages, done);

	printf("{\"backend_ceiling_msgs_per_s\":%.0f,\"messages\":%llu,"
	    "\"seconds\":%.3f,\"framing\":\"%s\",\"size\":%zu,"
	    "\"binary\":%s}\n", (double)done / t, done, t,
	    eb_framing == EB_NDJSON ? "ndjson" : "length-prefixed", size,
	    binary ? "true" : "false");
	fflush(stdout);
	eb_buf_free(&tmpl);
	eb_buf_free(&out);
	free(data);
}

static void __attribute__((noreturn))
eb_usage(int status)
{
	fprintf(status == 0 ? stdout : stderr,
	    "usage: %s --socket PATH [--framing length-prefixed|ndjson] "
	    "[--cross] [-v]\n"
	    "       %s --self-test N [--framing F] [--size BYTES] [--binary]\n",
	    EB_NAME, EB_NAME);
	exit(status);
}

int
main(int argc, char **argv)
{
	static const struct option	 opts[] = {
		{ "socket",	required_argument, NULL, 's' },
		{ "framing",	required_argument, NULL, 'F' },
		{ "self-test",	required_argument, NULL, 'T' },
		{ "size",	required_argument, NULL, 'S' },
		{ "binary",	no_argument,	   NULL, 'b' },
		{ "cross",	no_argument,	   NULL, 'x' },
		{ "verbose",	no_argument,	   NULL, 'v' },
		{ "help",	no_argument,	   NULL, 'h' },
		{ NULL,		0,		   NULL, 0 }
	};
	const char			*path = NULL;
	unsigned long long		 count = 0;
	unsigned long			 size = 64;
	char				*end;
	int				 ch, binary = 0, selftest = 0;

	while ((ch = getopt_long(argc, argv, "s:F:T:S:bxvh", opts,
	    NULL)) != -1) {
		switch (ch) {
		case 's':
			path = optarg;
			break;
		case 'F':
			if (strcmp(optarg, "length-prefixed") == 0)
				eb_framing = EB_LENGTH_PREFIXED;
			else if (strcmp(optarg, "ndjson") == 0)
				eb_framing = EB_NDJSON;
			else
				eb_fatal("unknown framing: %s", optarg);
			break;
		case 'T':
			errno = 0;
			count = strtoull(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || count == 0)
				eb_fatal("bad --self-test count: %s", optarg);
			selftest = 1;
			break;
		case 'S':
			errno = 0;
			size = strtoul(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || size > 1048576)
				eb_fatal("bad --size: %s", optarg);
			break;
		case 'b':
			binary = 1;
			break;
		case 'x':
			eb_cross = 1;
			break;
		case 'v':
			eb_verbose = 1;
			break;
		case 'h':
			eb_usage(0);
		default:
			eb_usage(1);
		}
	}
	if (optind != argc)
		eb_usage(1);

	if (selftest)
		eb_self_test(count, size, binary);
	else if (path != NULL)
		eb_serve(path);
	else
		eb_usage(1);
	return (0);
}
