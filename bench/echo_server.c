/*
 * wsg-echo-server: the ceiling of wsgated's benchmark, a WebSocket echo
 * server in one thread with no backend hop.
 *
 * It answers the upgrade (RFC 6455 section 4.2), reads masked client frames
 * and sends every message back unmasked with its opcode: a fragmented
 * message is reassembled and echoed whole. Ping gets a pong; close gets a
 * close, then the server shuts the connection down. Text is checked to be
 * UTF-8 and close codes to be valid, as the RFC asks, so that the figures
 * compare with a server that does the work a correct one must do.
 *
 * Each readable event reads one large chunk, usually into a buffer shared
 * by all connections, and its echoes go out in one write. A connection
 * keeps buffers of its own only for a partial frame, a fragmented message
 * or unsent output, so an idle one costs little besides its socket.
 * Buffers are bounded: a message longer than --max-message is refused with
 * 1009, and a client that does not read its echoes is not read either.
 */
#include <sys/epoll.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define ES_NAME		"wsg-echo-server"
#define ES_READ_SIZE	(256 * 1024)	/* the shared read buffer */
#define ES_MAX_HEAD	8192		/* longest upgrade request */
#define ES_MAX_MESSAGE	(16 * 1024 * 1024) /* default --max-message */
#define ES_OUT_HIGH	(1024 * 1024)	/* stop reading above this unsent */
#define ES_OUT_LOW	(ES_OUT_HIGH / 4) /* and resume below this */
#define ES_TIMEOUT	10		/* seconds for upgrade and close */
#define ES_MAX_EVENTS	256
#define ES_GUID		"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

#define ES_OP_CONT	0x0
#define ES_OP_TEXT	0x1
#define ES_OP_BINARY	0x2
#define ES_OP_CLOSE	0x8
#define ES_OP_PING	0x9
#define ES_OP_PONG	0xa

enum es_state {
	ES_HTTP,		/* reading the upgrade request */
	ES_OPEN,		/* echoing */
	ES_CLOSING,		/* close or error answer queued; flushing */
	ES_DRAIN		/* write side shut; awaiting EOF */
};

struct es_buf {
	unsigned char	*b_data;
	size_t		 b_off;
	size_t		 b_len;
	size_t		 b_size;
};

struct es_conn {
	int			 c_fd;
	enum es_state		 c_state;
	uint32_t		 c_events;	/* epoll interest now */
	struct es_buf		 c_in;		/* head or partial frame */
	struct es_buf		 c_out;		/* unsent output */
	struct es_buf		 c_msg;		/* fragmented message so far */
	int			 c_msg_op;	/* its opcode, 0 if none */
	size_t			 c_need;	/* length of that frame */
	time_t			 c_deadline;
	int			 c_timed;	/* on es_timed */

	TAILQ_ENTRY(es_conn)	 c_timed_entry;
};
TAILQ_HEAD(es_conns, es_conn);

static size_t		 es_max_message = ES_MAX_MESSAGE;
static int		 es_epfd = -1;
static int		 es_lfd = -1;
static int		 es_accept_paused;
static time_t		 es_accept_resume;
static time_t		 es_now;
static unsigned long long es_nconns;	/* open */

/*
 * Connections in ES_HTTP or ES_DRAIN, oldest first. Every deadline is
 * ES_TIMEOUT after entering the list, so the list is in deadline order.
 */
static struct es_conns	 es_timed = TAILQ_HEAD_INITIALIZER(es_timed);

static unsigned char	 es_rbuf[ES_READ_SIZE];
static struct es_buf	 es_scratch;	/* output of the current event */

static int		 es_listen_tag, es_signal_tag;

static void __attribute__((format(printf, 1, 2)))
es_log(const char *fmt, ...)
{
	va_list	ap;
	int	saved = errno;

	va_start(ap, fmt);
	fprintf(stderr, "%s: ", ES_NAME);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	errno = saved;
}

static void __attribute__((noreturn, format(printf, 1, 2)))
es_fatal(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	fprintf(stderr, "%s: ", ES_NAME);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

/* SHA-1 (FIPS 180-4), only for Sec-WebSocket-Accept. */
struct es_sha1 {
	uint32_t	h[5];
	uint64_t	len;
	unsigned char	block[64];
	size_t		used;
};

#define ES_ROL(x, n)	(((x) << (n)) | ((x) >> (32 - (n))))

static void
es_sha1_block(struct es_sha1 *s, const unsigned char *p)
{
	uint32_t	w[80], a, b, c, d, e, f, k, t;
	int		i;

	for (i = 0; i < 16; i++) {
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		    (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	}
	for (; i < 80; i++)
		w[i] = ES_ROL(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	a = s->h[0];
	b = s->h[1];
	c = s->h[2];
	d = s->h[3];
	e = s->h[4];
	for (i = 0; i < 80; i++) {
		if (i < 20) {
			f = (b & c) | (~b & d);
			k = 0x5a827999;
		} else if (i < 40) {
			f = b ^ c ^ d;
			k = 0x6ed9eba1;
		} else if (i < 60) {
			f = (b & c) | (b & d) | (c & d);
			k = 0x8f1bbcdc;
		} else {
			f = b ^ c ^ d;
			k = 0xca62c1d6;
		}
		t = ES_ROL(a, 5) + f + e + k + w[i];
		e = d;
		d = c;
		c = ES_ROL(b, 30);
		b = a;
		a = t;
	}
	s->h[0] += a;
	s->h[1] += b;
	s->h[2] += c;
	s->h[3] += d;
	s->h[4] += e;
}

static void
es_sha1_init(struct es_sha1 *s)
{
	memset(s, 0, sizeof *s);
	s->h[0] = 0x67452301;
	s->h[1] = 0xefcdab89;
	s->h[2] = 0x98badcfe;
	s->h[3] = 0x10325476;
	s->h[4] = 0xc3d2e1f0;
}

static void
es_sha1_update(struct es_sha1 *s, const void *data, size_t len)
{
	const unsigned char	*p = data;

	s->len += len;
	while (len != 0) {
		s->block[s->used++] = *p++;
		len--;
		if (s->used == 64) {
			es_sha1_block(s, s->block);
			s->used = 0;
		}
	}
}

static void
es_sha1_final(struct es_sha1 *s, unsigned char digest[20])
{
	uint64_t	bits = s->len * 8;
	unsigned char	pad = 0x80, len[8];
	int		i;

	es_sha1_update(s, &pad, 1);
	pad = 0;
	while (s->used != 56)
		es_sha1_update(s, &pad, 1);
	for (i = 0; i < 8; i++)
		len[i] = (unsigned char)(bits >> (56 - 8 * i));
	es_sha1_update(s, len, 8);
	for (i = 0; i < 20; i++)
		digest[i] = (unsigned char)(s->h[i / 4] >> (24 - 8 * (i % 4)));
}

/* Write the accept value for key (RFC 6455 section 4.2.2) into out[29]. */
static void
es_accept_key(const char *key, size_t keylen, char out[29])
{
	static const char	 b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	struct es_sha1		 s;
	unsigned char		 d[21];
	uint32_t		 v;
	int			 i, j;

	es_sha1_init(&s);
	es_sha1_update(&s, key, keylen);
	es_sha1_update(&s, ES_GUID, strlen(ES_GUID));
	es_sha1_final(&s, d);
	d[20] = 0;
	for (i = 0, j = 0; i < 21; i += 3) {
		v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8 | d[i + 2];
		out[j++] = b64[v >> 18 & 63];
		out[j++] = b64[v >> 12 & 63];
		out[j++] = b64[v >> 6 & 63];
		out[j++] = b64[v & 63];
	}
	out[27] = '=';		/* 20 bytes are 27 characters and one pad */
	out[28] = '\0';
}

static unsigned char *
es_buf_reserve(struct es_buf *b, size_t n)
{
	size_t	size;

	if (b->b_size - b->b_off - b->b_len >= n)
		return (b->b_data + b->b_off + b->b_len);
	if (b->b_off != 0) {
		memmove(b->b_data, b->b_data + b->b_off, b->b_len);
		b->b_off = 0;
	}
	if (b->b_size - b->b_len < n) {
		size = b->b_size != 0 ? b->b_size : 1024;
		while (size - b->b_len < n)
			size *= 2;
		if ((b->b_data = realloc(b->b_data, size)) == NULL)
			es_fatal("out of memory (%zu bytes)", size);
		b->b_size = size;
	}
	return (b->b_data + b->b_len);
}

static void
es_buf_add(struct es_buf *b, const void *data, size_t len)
{
	memcpy(es_buf_reserve(b, len), data, len);
	b->b_len += len;
}

static void
es_buf_drain(struct es_buf *b, size_t n)
{
	b->b_off += n;
	b->b_len -= n;
	if (b->b_len == 0)
		b->b_off = 0;
}

static void
es_buf_free(struct es_buf *b)
{
	free(b->b_data);
	memset(b, 0, sizeof *b);
}

/* Copy n bytes from src to dst, which may be the same, removing the mask. */
static void
es_unmask(unsigned char *dst, const unsigned char *src, size_t n,
    const unsigned char mask[4])
{
	uint64_t	m8, w;
	uint32_t	m4;
	size_t		i = 0;

	/* The four mask bytes twice in a row, in memory order. */
	memcpy(&m4, mask, 4);
	m8 = (uint64_t)m4 << 32 | m4;
	for (; i + 8 <= n; i += 8) {
		memcpy(&w, src + i, 8);
		w ^= m8;
		memcpy(dst + i, &w, 8);
	}
	for (; i < n; i++)
		dst[i] = src[i] ^ mask[i & 3];
}

/* Return 1 if s is well-formed UTF-8 (RFC 3629), else 0. */
static int
es_utf8(const unsigned char *s, size_t n)
{
	uint64_t	w;
	size_t		i = 0, more;
	unsigned char	c, lo, hi;

	while (i < n) {
		if (n - i >= 8) {
			memcpy(&w, s + i, 8);
			if ((w & 0x8080808080808080ULL) == 0) {
				i += 8;
				continue;
			}
		}
		c = s[i++];
		if (c < 0x80)
			continue;
		/* The second byte's bounds rule out overlongs, surrogates. */
		lo = 0x80;
		hi = 0xbf;
		if (c >= 0xc2 && c <= 0xdf)
			more = 1;
		else if (c >= 0xe0 && c <= 0xef) {
			more = 2;
			if (c == 0xe0)
				lo = 0xa0;
			else if (c == 0xed)
				hi = 0x9f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			more = 3;
			if (c == 0xf0)
				lo = 0x90;
			else if (c == 0xf4)
				hi = 0x8f;
		} else
			return (0);
		if (n - i < more || s[i] < lo || s[i] > hi)
			return (0);
		i++;
		while (--more != 0) {
			if ((s[i] & 0xc0) != 0x80)
				return (0);
			i++;
		}
	}
	return (1);
}

/* Start a server frame of n payload bytes; return where they go. */
static unsigned char *
es_frame_begin(struct es_buf *out, int op, size_t n)
{
	unsigned char	*p;
	size_t		 h;
	int		 i;

	p = es_buf_reserve(out, n + 10);
	p[0] = (unsigned char)(0x80 | op);
	if (n < 126) {
		p[1] = (unsigned char)n;
		h = 2;
	} else if (n <= 0xffff) {
		p[1] = 126;
		p[2] = (unsigned char)(n >> 8);
		p[3] = (unsigned char)n;
		h = 4;
	} else {
		p[1] = 127;
		for (i = 0; i < 8; i++)
			p[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
		h = 10;
	}
	out->b_len += h;
	return (p + h);
}

static void
es_frame_add(struct es_buf *out, int op, const void *data, size_t n)
{
	memcpy(es_frame_begin(out, op, n), data, n);
	out->b_len += n;
}

static void
es_timed_add(struct es_conn *c)
{
	if (c->c_timed)
		TAILQ_REMOVE(&es_timed, c, c_timed_entry);
	c->c_deadline = es_now + ES_TIMEOUT;
	TAILQ_INSERT_TAIL(&es_timed, c, c_timed_entry);
	c->c_timed = 1;
}

static void
es_timed_remove(struct es_conn *c)
{
	if (c->c_timed) {
		TAILQ_REMOVE(&es_timed, c, c_timed_entry);
		c->c_timed = 0;
	}
}

static void
es_set_events(struct es_conn *c, uint32_t events)
{
	struct epoll_event	ev;

	if (events == c->c_events)
		return;
	memset(&ev, 0, sizeof ev);
	ev.events = events;
	ev.data.ptr = c;
	if (epoll_ctl(es_epfd, EPOLL_CTL_MOD, c->c_fd, &ev) == -1)
		es_fatal("epoll_ctl: %s", strerror(errno));
	c->c_events = events;
}

static void
es_listen_enable(int on)
{
	struct epoll_event	ev;

	memset(&ev, 0, sizeof ev);
	ev.events = on ? EPOLLIN : 0;
	ev.data.ptr = &es_listen_tag;
	if (epoll_ctl(es_epfd, EPOLL_CTL_MOD, es_lfd, &ev) == -1)
		es_fatal("epoll_ctl: %s", strerror(errno));
	es_accept_paused = !on;
}

/* The one exit of a connection. */
static void
es_close(struct es_conn *c)
{
	es_timed_remove(c);
	close(c->c_fd);
	es_buf_free(&c->c_in);
	es_buf_free(&c->c_out);
	es_buf_free(&c->c_msg);
	free(c);
	es_nconns--;
	if (es_accept_paused)
		es_listen_enable(1);	/* a descriptor is free again */
}

/* Queue a close frame with code and stop reading frames. */
static void
es_fail(struct es_conn *c, int code, struct es_buf *out)
{
	unsigned char	p[2];

	p[0] = (unsigned char)(code >> 8);
	p[1] = (unsigned char)code;
	es_frame_add(out, ES_OP_CLOSE, p, sizeof p);
	c->c_state = ES_CLOSING;
	es_buf_free(&c->c_msg);
	c->c_msg_op = 0;
}

static int
es_close_code_ok(int code)
{
	if (code >= 3000 && code <= 4999)
		return (1);
	if (code < 1000 || code > 1014)
		return (0);
	return (code != 1004 && code != 1005 && code != 1006);
}

/* Send a whole message back: data is unmasked already. */
static void
es_echo(struct es_conn *c, int op, const unsigned char *data, size_t n,
    struct es_buf *out)
{
	if (op == ES_OP_TEXT && !es_utf8(data, n)) {
		es_fail(c, 1007, out);
		return;
	}
	es_frame_add(out, op, data, n);
}

/* Act on one whole client frame; payload is masked with mask. */
static void
es_frame(struct es_conn *c, int fin, int op, const unsigned char *mask,
    unsigned char *payload, size_t n, struct es_buf *out)
{
	unsigned char	 ctl[125], *p;
	size_t		 before;
	int		 code;

	switch (op) {
	case ES_OP_TEXT:
	case ES_OP_BINARY:
		if (c->c_msg_op != 0) {
			es_fail(c, 1002, out);	/* a new message inside one */
			return;
		}
		if (!fin) {
			c->c_msg_op = op;
			p = es_buf_reserve(&c->c_msg, n);
			es_unmask(p, payload, n, mask);
			c->c_msg.b_len += n;
			return;
		}

		/* The common case: unmask straight into the output. */
		before = out->b_len;
		p = es_frame_begin(out, op, n);
		es_unmask(p, payload, n, mask);
		if (op == ES_OP_TEXT && !es_utf8(p, n)) {
			out->b_len = before;
			es_fail(c, 1007, out);
			return;
		}
		out->b_len += n;
		return;
	case ES_OP_CONT:
		if (c->c_msg_op == 0) {
			es_fail(c, 1002, out);
			return;
		}
		if (n > es_max_message - c->c_msg.b_len) {
			es_fail(c, 1009, out);
			return;
		}
		es_unmask(es_buf_reserve(&c->c_msg, n), payload, n, mask);
		c->c_msg.b_len += n;
		if (fin) {
			es_echo(c, c->c_msg_op,
			    c->c_msg.b_data + c->c_msg.b_off, c->c_msg.b_len,
			    out);
			es_buf_free(&c->c_msg);
			c->c_msg_op = 0;
		}
		return;
	case ES_OP_PING:
		es_unmask(ctl, payload, n, mask);
		es_frame_add(out, ES_OP_PONG, ctl, n);
		return;
	case ES_OP_PONG:
		return;
	case ES_OP_CLOSE:
		es_unmask(ctl, payload, n, mask);
		if (n == 0) {
			es_frame_add(out, ES_OP_CLOSE, NULL, 0);
			c->c_state = ES_CLOSING;
			return;
		}
		code = ctl[0] << 8 | ctl[1];
		if (n == 1 || !es_close_code_ok(code))
			es_fail(c, 1002, out);
		else if (!es_utf8(ctl + 2, n - 2))
			es_fail(c, 1007, out);
		else
			es_fail(c, code, out);	/* echo the client's code */
		return;
	default:
		es_fail(c, 1002, out);	/* reserved opcode */
		return;
	}
}

/*
 * Act on the whole frames at the start of p and return how many bytes they
 * took; a partial frame is left, with its full length in c_need when known.
 */
static size_t
es_frames(struct es_conn *c, unsigned char *p, size_t len,
    struct es_buf *out)
{
	unsigned char	*f;
	uint64_t	 n;
	size_t		 off = 0, left, h;
	int		 i, op, fin;

	c->c_need = 0;
	while (c->c_state == ES_OPEN && (left = len - off) >= 2) {
		f = p + off;
		fin = f[0] & 0x80;
		op = f[0] & 0x0f;
		if ((f[0] & 0x70) != 0 || (f[1] & 0x80) == 0) {
			/* No extension was agreed, and clients must mask. */
			es_fail(c, 1002, out);
			break;
		}
		n = f[1] & 0x7f;
		h = 2;
		if (n == 126) {
			if (left < 4)
				break;
			n = (uint64_t)f[2] << 8 | f[3];
			h = 4;
		} else if (n == 127) {
			if (left < 10)
				break;
			for (n = 0, i = 2; i < 10; i++)
				n = n << 8 | f[i];
			h = 10;
		}
		if (op >= ES_OP_CLOSE && (!fin || n > 125)) {
			es_fail(c, 1002, out);
			break;
		}
		if (n > es_max_message) {
			es_fail(c, 1009, out);
			break;
		}
		h += 4;
		if (left < h || left - h < n) {
			c->c_need = h + (size_t)n;
			break;
		}
		es_frame(c, fin, op, f + h - 4, f + h, (size_t)n, out);
		off += h + (size_t)n;
	}
	return (off);
}

static int
es_token(const char *v, size_t len, const char *token)
{
	size_t	tlen = strlen(token), i = 0, j;

	while (i < len) {
		while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		j = i;
		while (j < len && v[j] != ',')
			j++;
		while (j > i && (v[j - 1] == ' ' || v[j - 1] == '\t'))
			j--;
		if (j - i == tlen && strncasecmp(v + i, token, tlen) == 0)
			return (1);
		while (i < len && v[i] != ',')
			i++;
	}
	return (0);
}

static void
es_http_error(struct es_conn *c, const char *status, const char *extra,
    struct es_buf *out)
{
	char	r[256];
	int	n;

	n = snprintf(r, sizeof r, "HTTP/1.1 %s\r\nConnection: close\r\n%s"
	    "Content-Length: 0\r\n\r\n", status, extra);
	es_buf_add(out, r, (size_t)n);
	c->c_state = ES_CLOSING;
}

/* Answer the request head of hlen bytes at h: 101, or an error. */
static void
es_handshake(struct es_conn *c, const char *h, size_t hlen,
    struct es_buf *out)
{
	const char	*line, *end, *eol, *colon, *v, *key = NULL;
	const char	*version = NULL;
	size_t		 vlen, nlen, keylen = 0, versionlen = 0;
	int		 upgrade = 0, connection = 0, nkeys = 0;
	char		 accept[29], r[160];
	int		 n;

	end = h + hlen;
	eol = memchr(h, '\n', hlen);
	if (eol == NULL || hlen < 14 || memcmp(h, "GET ", 4) != 0) {
		es_http_error(c, "405 Method Not Allowed", "Allow: GET\r\n",
		    out);
		return;
	}
	if (eol - h < 10 || memcmp(eol - 10, " HTTP/1.1\r", 10) != 0) {
		es_http_error(c, "400 Bad Request", "", out);
		return;
	}
	for (line = eol + 1; line < end; line = eol + 1) {
		eol = memchr(line, '\n', (size_t)(end - line));
		if (eol == NULL || eol - line < 2)
			break;		/* the empty line that ends the head */
		if ((colon = memchr(line, ':', (size_t)(eol - line))) == NULL) {
			es_http_error(c, "400 Bad Request", "", out);
			return;
		}
		nlen = (size_t)(colon - line);
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		vlen = (size_t)(eol - v);
		while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == ' ' ||
		    v[vlen - 1] == '\t'))
			vlen--;
		if (nlen == 7 && strncasecmp(line, "Upgrade", 7) == 0)
			upgrade |= es_token(v, vlen, "websocket");
		else if (nlen == 10 && strncasecmp(line, "Connection", 10) == 0)
			connection |= es_token(v, vlen, "upgrade");
		else if (nlen == 17 &&
		    strncasecmp(line, "Sec-WebSocket-Key", 17) == 0) {
			key = v;
			keylen = vlen;
			nkeys++;
		} else if (nlen == 21 &&
		    strncasecmp(line, "Sec-WebSocket-Version", 21) == 0) {
			version = v;
			versionlen = vlen;
		}
	}

	/* A key is 16 bytes in base64: 22 characters and "==". */
	if (!upgrade || !connection || nkeys != 1 || keylen != 24 ||
	    key[22] != '=' || key[23] != '=') {
		es_http_error(c, "400 Bad Request", "", out);
		return;
	}
	if (version == NULL || versionlen != 2 ||
	    memcmp(version, "13", 2) != 0) {
		es_http_error(c, "426 Upgrade Required",
		    "Sec-WebSocket-Version: 13\r\n", out);
		return;
	}
	es_accept_key(key, keylen, accept);
	n = snprintf(r, sizeof r, "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: %s\r\n\r\n", accept);
	es_buf_add(out, r, (size_t)n);
	c->c_state = ES_OPEN;
	es_timed_remove(c);
}

/*
 * The one write of an event: send out, keep what did not fit, and set what
 * to wait for. Return -1 if the connection was closed.
 */
static int
es_flush(struct es_conn *c, struct es_buf *out)
{
	uint32_t	events;
	ssize_t		n;

	if (out->b_len != 0) {
		n = send(c->c_fd, out->b_data + out->b_off, out->b_len,
		    MSG_NOSIGNAL);
		if (n == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR) {
				out->b_off = out->b_len = 0;
				es_close(c);
				return (-1);
			}
			n = 0;
		}
		es_buf_drain(out, (size_t)n);
		if (out == &es_scratch && out->b_len != 0) {
			es_buf_add(&c->c_out, out->b_data + out->b_off,
			    out->b_len);
			out->b_off = out->b_len = 0;
		}
	}
	if (c->c_out.b_len == 0 && c->c_out.b_data != NULL)
		es_buf_free(&c->c_out);

	if (c->c_state == ES_CLOSING && c->c_out.b_len == 0) {
		/* All said: half-close, and let the client close first. */
		shutdown(c->c_fd, SHUT_WR);
		c->c_state = ES_DRAIN;
		es_buf_free(&c->c_in);
		es_timed_add(c);
	}

	events = c->c_events & EPOLLIN;
	if (c->c_out.b_len != 0)
		events |= EPOLLOUT;
	if (c->c_out.b_len > ES_OUT_HIGH)
		events &= ~EPOLLIN;
	else if (c->c_out.b_len < ES_OUT_LOW)
		events |= EPOLLIN;
	es_set_events(c, events);
	return (0);
}

/* Read the upgrade request; answer it when whole, then read frames. */
static int
es_read_head(struct es_conn *c, struct es_buf *out)
{
	unsigned char	*p, *eoh;
	size_t		 hlen, used;
	ssize_t		 n;

	p = es_buf_reserve(&c->c_in, ES_MAX_HEAD + 1 - c->c_in.b_len);
	n = read(c->c_fd, p, ES_MAX_HEAD + 1 - c->c_in.b_len);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return (0);
	if (n <= 0) {
		es_close(c);
		return (-1);
	}
	c->c_in.b_len += (size_t)n;
	p = c->c_in.b_data + c->c_in.b_off;
	eoh = memmem(p, c->c_in.b_len, "\r\n\r\n", 4);
	if (eoh == NULL) {
		if (c->c_in.b_len > ES_MAX_HEAD)
			es_http_error(c, "431 Request Header Fields Too Large",
			    "", out);
		return (0);
	}
	hlen = (size_t)(eoh - p) + 4;
	es_handshake(c, (const char *)p, hlen, out);
	es_buf_drain(&c->c_in, hlen);

	/* Frames sent right behind the request. */
	if (c->c_state == ES_OPEN && c->c_in.b_len != 0) {
		used = es_frames(c, c->c_in.b_data + c->c_in.b_off,
		    c->c_in.b_len, out);
		es_buf_drain(&c->c_in, used);
	}
	if (c->c_in.b_len == 0)
		es_buf_free(&c->c_in);
	return (0);
}

/* Read frames: one read, the echoes of every whole frame, one write. */
static void
es_read(struct es_conn *c)
{
	struct es_buf	*out;
	unsigned char	*p;
	size_t		 used, room;
	ssize_t		 n;

	out = c->c_out.b_len != 0 ? &c->c_out : &es_scratch;

	switch (c->c_state) {
	case ES_HTTP:
		if (es_read_head(c, out) == -1)
			return;
		break;
	case ES_OPEN:
		if (c->c_in.b_len == 0) {
			n = read(c->c_fd, es_rbuf, sizeof es_rbuf);
			if (n == -1 && (errno == EAGAIN || errno == EINTR))
				return;
			if (n <= 0) {
				es_close(c);
				return;
			}
			used = es_frames(c, es_rbuf, (size_t)n, out);
			if (c->c_state == ES_OPEN && used < (size_t)n) {
				es_buf_add(&c->c_in, es_rbuf + used,
				    (size_t)n - used);
			}
			break;
		}

		/* Behind a partial frame: room for all of it at once. */
		room = ES_READ_SIZE;
		if (c->c_need > c->c_in.b_len + room)
			room = c->c_need - c->c_in.b_len;
		p = es_buf_reserve(&c->c_in, room);
		n = read(c->c_fd, p, room);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			es_close(c);
			return;
		}
		c->c_in.b_len += (size_t)n;
		used = es_frames(c, c->c_in.b_data + c->c_in.b_off,
		    c->c_in.b_len, out);
		es_buf_drain(&c->c_in, used);
		if (c->c_in.b_len == 0 || c->c_state != ES_OPEN)
			es_buf_free(&c->c_in);
		break;
	case ES_CLOSING:
	case ES_DRAIN:
		/* Past the close: read only to see the end of the stream. */
		n = read(c->c_fd, es_rbuf, sizeof es_rbuf);
		if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR)) {
			es_close(c);
			return;
		}
		break;
	}
	es_flush(c, out);
}

static void
es_accept(void)
{
	struct epoll_event	 ev;
	struct es_conn		*c;
	int			 fd, one = 1, i;

	/* A bounded batch, so a flood of connects cannot starve the rest. */
	for (i = 0; i < 256; i++) {
		fd = accept4(es_lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE) {
				/* Try again in a second or when one closes. */
				es_log("accept: %s; pausing", strerror(errno));
				es_listen_enable(0);
				es_accept_resume = es_now + 1;
			} else if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				es_log("accept: %s", strerror(errno));
			return;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		if ((c = calloc(1, sizeof *c)) == NULL)
			es_fatal("out of memory");
		c->c_fd = fd;
		c->c_state = ES_HTTP;
		c->c_events = EPOLLIN;
		memset(&ev, 0, sizeof ev);
		ev.events = c->c_events;
		ev.data.ptr = c;
		if (epoll_ctl(es_epfd, EPOLL_CTL_ADD, fd, &ev) == -1)
			es_fatal("epoll_ctl: %s", strerror(errno));
		es_timed_add(c);
		es_nconns++;
	}
}

static int
es_listen(const char *address, const char *port)
{
	struct addrinfo	 hints, *res, *ai;
	int		 fd = -1, one = 1, error;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((error = getaddrinfo(address, port, &hints, &res)) != 0)
		es_fatal("%s port %s: %s", address, port, gai_strerror(error));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd == -1)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, SOMAXCONN) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1)
		es_fatal("cannot listen on %s port %s: %s", address, port,
		    strerror(errno));
	return (fd);
}

static time_t
es_clock(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (ts.tv_sec);
}

static void __attribute__((noreturn))
es_usage(int status)
{
	fprintf(status == 0 ? stdout : stderr,
	    "usage: %s [--address ADDR] [--port PORT] [--max-message BYTES]\n",
	    ES_NAME);
	exit(status);
}

int
main(int argc, char **argv)
{
	static const struct option	 opts[] = {
		{ "address",	 required_argument, NULL, 'a' },
		{ "port",	 required_argument, NULL, 'p' },
		{ "max-message", required_argument, NULL, 'm' },
		{ "help",	 no_argument,	    NULL, 'h' },
		{ NULL,		 0,		    NULL, 0 }
	};
	const char			*address = "127.0.0.1", *port = "9001";
	struct epoll_event		 ev, evs[ES_MAX_EVENTS];
	struct signalfd_siginfo		 si;
	struct es_conn			*c;
	struct rlimit			 rl;
	sigset_t			 set;
	unsigned long long		 v;
	char				*end;
	int				 ch, sfd, n, i, quit = 0;

	while ((ch = getopt_long(argc, argv, "a:p:m:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'a':
			address = optarg;
			break;
		case 'p':
			errno = 0;
			v = strtoull(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || v > 65535)
				es_fatal("bad port: %s", optarg);
			port = optarg;
			break;
		case 'm':
			errno = 0;
			v = strtoull(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || v == 0 ||
			    v > 1024ULL * 1024 * 1024)
				es_fatal("bad --max-message: %s", optarg);
			es_max_message = (size_t)v;
			break;
		case 'h':
			es_usage(0);
		default:
			es_usage(1);
		}
	}
	if (optind != argc)
		es_usage(1);

	/* Hold as many connections as the hard limit allows. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1)
		es_fatal("sigprocmask: %s", strerror(errno));
	if ((sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) == -1)
		es_fatal("signalfd: %s", strerror(errno));

	es_lfd = es_listen(address, port);
	if ((es_epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		es_fatal("epoll_create1: %s", strerror(errno));
	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN;
	ev.data.ptr = &es_listen_tag;
	if (epoll_ctl(es_epfd, EPOLL_CTL_ADD, es_lfd, &ev) == -1)
		es_fatal("epoll_ctl: %s", strerror(errno));
	ev.data.ptr = &es_signal_tag;
	if (epoll_ctl(es_epfd, EPOLL_CTL_ADD, sfd, &ev) == -1)
		es_fatal("epoll_ctl: %s", strerror(errno));

	es_now = es_clock();
	while (!quit) {
		n = epoll_wait(es_epfd, evs, ES_MAX_EVENTS,
		    TAILQ_EMPTY(&es_timed) && !es_accept_paused ? -1 : 1000);
		if (n == -1 && errno != EINTR)
			es_fatal("epoll_wait: %s", strerror(errno));
		es_now = es_clock();
		for (i = 0; i < n; i++) {
			if (evs[i].data.ptr == &es_listen_tag) {
				es_accept();
				continue;
			}
			if (evs[i].data.ptr == &es_signal_tag) {
				if (read(sfd, &si, sizeof si) == sizeof si)
					quit = 1;
				continue;
			}
			c = evs[i].data.ptr;
			if (evs[i].events & (EPOLLERR | EPOLLHUP))
				es_close(c);
			else if (evs[i].events & EPOLLIN)
				es_read(c);
			else if (evs[i].events & EPOLLOUT)
				es_flush(c, &c->c_out);
		}
		while ((c = TAILQ_FIRST(&es_timed)) != NULL &&
		    c->c_deadline <= es_now)
			es_close(c);
		if (es_accept_paused && es_now >= es_accept_resume)
			es_listen_enable(1);
	}
	es_log("stopping with %llu connections open", es_nconns);
	return (0);
}
