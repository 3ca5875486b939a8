/*
 * wsg-loadgen: the WebSocket load generator of the wsgated benchmark.
 *
 * It speaks just enough RFC 6455 to drive a server hard and check what
 * comes back: its own HTTP/1.1 upgrade (with the Cookie: X-Token and
 * X-User-Id headers that wsgated's default context reads), masked client
 * frames, and a parser for unmasked server frames (7, 16 and 64-bit
 * lengths, fragmentation, ping, pong and close).  Each thread runs its own
 * edge-triggered epoll loop over its share of the connections; nothing is
 * shared between threads but a few atomics and the read-only options.
 *
 * Modes:
 *   echo     C connections each keep W messages of S bytes in flight and
 *            check every echo (content and order); reports throughput and
 *            round-trip latency after a warm-up.
 *   connect  C slots repeatedly connect, upgrade, close; reports
 *            handshakes per second and handshake latency.
 *   hold     open N idle connections, report, hold them, close them.
 *   fanout   open N idle connections, report, then time every message
 *            the server sends to all of them ("!<sent ns> <seq> ..."
 *            from the benchmark backend's broadcasts): per broadcast,
 *            how many connections got it and when the first and the last
 *            did, on the same monotonic clock as the sender's stamp.
 *
 * Results are one JSON object on stdout; diagnostics go to stderr.  The
 * exit status is 0 if no error was counted and 1 otherwise.
 */

#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define LG_NAME			"wsg-loadgen"

#define LG_MAX_THREADS		64
#define LG_MAX_SRC		64	/* --src addresses. */
#define LG_MAX_PATH		256	/* --path, --token, --host lengths. */
#define LG_HEAD_BUF		1024	/* First guess for the response head, */
#define LG_MAX_HEAD		8192	/* and its limit. */
#define LG_MAX_REQ		1024	/* Our upgrade request. */
#define LG_MAX_SIZE		(16 * 1024 * 1024)	/* --size */
#define LG_MAX_WINDOW		100000	/* --window */
#define LG_MAX_CONNS		1000000	/* --conns */
#define LG_FD_RESERVE		32	/* Descriptors kept for everything else. */

#define LG_HDR_LEN		32	/* Payload header: seq, time, connection. */
#define LG_MIN_SIZE		LG_HDR_LEN
#define LG_PATTERN_SPAN		251	/* Payload filler offsets (prime). */
#define LG_FRAME_HDR		14	/* Largest client frame header. */
#define LG_CTL_MAX		125	/* Largest control frame payload. */
#define LG_CTL_ROOM		512	/* Output space kept for pong and close. */
#define LG_IN_MIN		16384	/* Input buffer of an echo connection. */
#define LG_OUT_MIN		4096	/* Output buffer of an echo connection. */
#define LG_IDLE_BUF		256	/* Buffers of an idle (hold, connect) one. */

#define LG_MAX_PENDING		256	/* Handshakes in progress per thread. */
#define LG_MAX_EVENTS		512
#define LG_HANDSHAKE_TIMEOUT	10	/* Seconds to connect and upgrade. */
#define LG_CLOSE_TIMEOUT	3	/* Seconds for the close handshake, */
#define LG_CLOSE_RATE		2000	/* plus 1 s per this many at once. */
#define LG_EOF_GRACE_MS		200	/* Wait for EOF after the server's close. */
#define LG_RETRY_MS		10	/* connect mode: pause after a failure. */
#define LG_TICK_MS		100	/* Deadline scans. */
#define LG_FAST_TICK_MS		10	/* Deadline scans while closing. */
#define LG_MAX_ERRLINES		20	/* Error messages printed in full. */
#define LG_MAX_EXPECT		64	/* fanout --expect: one bit each. */
#define LG_FANOUT_BUF		1024	/* Input buffer of a fanout one. */

#define LG_HIST_SUB_BITS	7	/* 128 linear steps per power of two. */
#define LG_HIST_MAX_BITS	40	/* Latencies up to 2^40 us. */
#define LG_HIST_BUCKETS \
	((LG_HIST_MAX_BITS - LG_HIST_SUB_BITS + 1) << LG_HIST_SUB_BITS)

#define LG_WS_GUID		"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define LG_KEY_LEN		24	/* base64 of 16 bytes */
#define LG_ACCEPT_LEN		28	/* base64 of a SHA-1 */

#define NS_PER_S		1000000000ULL
#define NS_PER_MS		1000000ULL

#define WS_OP_CONT		0x0
#define WS_OP_TEXT		0x1
#define WS_OP_BINARY		0x2
#define WS_OP_CLOSE		0x8
#define WS_OP_PING		0x9
#define WS_OP_PONG		0xa

enum lg_mode {
	MODE_ECHO,
	MODE_CONNECT,
	MODE_HOLD,
	MODE_FANOUT
};

/* Error counters, each with the name shown in the summary. */
#define LG_ERRORS					\
	LG_ERR(CONNECT, "connect")			\
	LG_ERR(REFUSED, "upgrade_refused")		\
	LG_ERR(HANDSHAKE, "bad_handshake")		\
	LG_ERR(TIMEOUT, "handshake_timeout")		\
	LG_ERR(IO, "io")				\
	LG_ERR(PROTOCOL, "protocol")			\
	LG_ERR(DROPPED, "dropped_by_server")		\
	LG_ERR(VERIFY, "verify")			\
	LG_ERR(CLOSE, "close_timeout")

enum lg_err {
#define LG_ERR(id, name) ERR_##id,
	LG_ERRORS
#undef LG_ERR
	ERR__COUNT
};

static const char *lg_err_names[] = {
#define LG_ERR(id, name) name,
	LG_ERRORS
#undef LG_ERR
};

enum conn_state {
	CONN_IDLE,		/* No socket; a connect slot waiting to start. */
	CONN_CONNECTING,	/* TCP connect in progress. */
	CONN_HANDSHAKE,		/* Upgrade request sent, reading the answer. */
	CONN_OPEN,
	CONN_CLOSING,		/* Our close frame sent; waiting for theirs. */
	CONN_DEAD		/* Finished or failed for good. */
};

struct hist {
	uint64_t	 h_count;
	uint64_t	 h_max;
	uint64_t	 h_bucket[LG_HIST_BUCKETS];
};

struct worker;

/*
 * One WebSocket connection (or, in connect mode, a slot reused for one
 * connection after another).  Buffers are bounded: c_in holds at most one
 * response head or a few whole frames, c_out a few frames; messages are
 * only generated while c_out has room for them plus LG_CTL_ROOM, so a
 * pong or a close always fits.
 */
struct conn {
	struct worker	*c_w;
	uint32_t	 c_id;		/* Global number, carried in payloads. */
	int		 c_fd;
	enum conn_state	 c_state;
	int		 c_closerecv;	/* The server's close frame was seen. */
	uint64_t	 c_t0;		/* When connect() was called. */
	uint64_t	 c_deadline;	/* Of the current state; 0 for none. */
	uint64_t	 c_retry;	/* connect mode: do not restart before. */
	char		 c_accept[LG_ACCEPT_LEN + 1];

	unsigned char	*c_in;
	size_t		 c_inlen;
	size_t		 c_incap;

	unsigned char	*c_out;
	size_t		 c_outoff;
	size_t		 c_outlen;
	size_t		 c_outcap;

	unsigned char	*c_msg;		/* Fragments of a message so far. */
	size_t		 c_msglen;
	int		 c_msgop;	/* Its opcode, 0 when none. */

	uint64_t	 c_sendseq;
	uint64_t	 c_recvseq;
	uint32_t	 c_inflight;

	uint64_t	 c_fanseen;	/* fanout: bit k, broadcast k came. */
	uint32_t	 c_fancount;
};

/* fanout: one broadcast as this thread saw it. */
struct fanstat {
	uint64_t	 f_count;	/* Connections that got it. */
	uint64_t	 f_sent;	/* The sender's stamp, ns. */
	uint64_t	 f_first;	/* First and last receipt, ns. */
	uint64_t	 f_last;
};

/*
 * A thread and its connections.  Everything here is owned by the thread;
 * the main thread reads w_stats, w_hist and the totals only after joining.
 */
struct worker {
	int		 w_idx;
	pthread_t	 w_thread;
	int		 w_ep;
	int		 w_tfd;		/* Pacing timer for --rate, or -1. */
	uint64_t	 w_rng;

	struct conn	*w_conns;
	size_t		 w_nconns;
	double		 w_rate;	/* Share of --rate, msgs/s. */
	double		 w_ramp;	/* Share of --ramp, conns/s. */

	size_t		 w_started;	/* Open phase: connections started. */
	size_t		 w_pending;	/* In CONNECTING or HANDSHAKE. */
	size_t		 w_open;
	size_t		 w_live;	/* Holding a socket. */
	size_t		 w_idle;	/* connect mode: slots in CONN_IDLE. */
	int		 w_ready;
	int		 w_sending;
	int		 w_closing;
	uint64_t	 w_close_end;
	uint64_t	 w_last_scan;
	size_t		 w_open_at_stop;

	uint64_t	 w_issued;	/* --rate: messages due so far. */
	size_t		 w_rr;

	uint64_t	 w_errors[ERR__COUNT];
	uint64_t	 w_messages;	/* Verified echoes in the window. */
	uint64_t	 w_handshakes;	/* Upgrades completed in the window. */
	struct hist	 w_hist;

	uint64_t	 w_fanframes;	/* fanout: broadcasts received, */
	uint64_t	 w_skipped;	/* echo: --skip messages ignored. */
	struct fanstat	 w_fan[LG_MAX_EXPECT];
};

struct lg_opts {
	enum lg_mode	 o_mode;
	const char	*o_host;
	int		 o_port;
	const char	*o_path;
	const char	*o_token;
	double		 o_duration;
	double		 o_warmup;
	size_t		 o_conns;
	uint32_t	 o_window;
	size_t		 o_size;
	int		 o_binary;
	double		 o_rate;
	double		 o_ramp;
	double		 o_hold;
	int		 o_threads;
	uint32_t	 o_expect;	/* fanout: broadcasts to wait for. */
	const char	*o_skip;	/* echo: prefix of messages to ignore. */
};

static struct lg_opts		 opt = {
	.o_mode = MODE_ECHO,
	.o_host = "127.0.0.1",
	.o_port = 8080,
	.o_path = "/ws",
	.o_token = "loadgen",
	.o_duration = 10,
	.o_warmup = 1,
	.o_conns = 1,
	.o_window = 1,
	.o_size = 64,
	.o_threads = 1,
	.o_expect = 1,
};

/* Set up before the threads start, read-only afterwards. */
static struct sockaddr_storage	 lg_dst;
static socklen_t		 lg_dstlen;
static struct sockaddr_storage	 lg_src[LG_MAX_SRC];
static socklen_t		 lg_srclen;
static size_t			 lg_nsrc;
static char			 lg_hostport[LG_MAX_PATH + 16];
static unsigned char		*lg_pattern;	/* Payload filler. */
static size_t			 lg_in_open;	/* Buffer sizes once open. */
static size_t			 lg_out_open;
static struct timespec		 lg_epoch;
static uint64_t			 lg_epoch_ns;	/* lg_epoch in ns. */

/* Shared between threads. */
static volatile sig_atomic_t	 lg_signalled;
static atomic_int		 lg_stop;	/* Nothing left to do. */
static atomic_int		 lg_nready;
static atomic_uint_least64_t	 lg_start;	/* Run phase start, ns; 0 before. */
static atomic_uint_least64_t	 lg_tstop;	/* When a stop was noticed. */
static atomic_uint_least64_t	 lg_open_sum;
static atomic_uint_least64_t	 lg_err_sum;
static atomic_int		 lg_printed;
static atomic_int		 lg_errlines;
static atomic_uint_least64_t	 lg_fan_done;	/* fanout: conns complete. */

static uint64_t	lg_now(void);
static void	lg_errorf(struct conn *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	conn_fail(struct conn *, enum lg_err, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static void	conn_close(struct conn *);
static int	conn_flush(struct conn *);

static __attribute__((noreturn, format(printf, 1, 2))) void
lg_fatalx(const char *fmt, ...)
{
	va_list	ap;

	fprintf(stderr, "%s: ", LG_NAME);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static void *
lg_xmalloc(size_t n)
{
	void	*p;

	if ((p = malloc(n)) == NULL)
		lg_fatalx("out of memory (%zu bytes)", n);
	return (p);
}

static void *
lg_xcalloc(size_t n, size_t size)
{
	void	*p;

	if ((p = calloc(n, size)) == NULL)
		lg_fatalx("out of memory (%zu x %zu bytes)", n, size);
	return (p);
}

/* Nanoseconds since the program started, on the monotonic clock. */
static uint64_t
lg_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)(ts.tv_sec - lg_epoch.tv_sec) * NS_PER_S +
	    (uint64_t)ts.tv_nsec - (uint64_t)lg_epoch.tv_nsec);
}

/* The xorshift64* generator: masks, keys and filler need speed, not secrecy. */
static uint64_t
lg_random(uint64_t *state)
{
	uint64_t	x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return (x * 0x2545F4914F6CDD1DULL);
}

/*
 * Print one error message, prefixed with the connection number.  Only the
 * first LG_MAX_ERRLINES are printed, so a dead server cannot flood stderr;
 * the counters in the final summary still count them all.
 */
static void
lg_errorf(struct conn *c, const char *fmt, ...)
{
	char	line[640];
	va_list	ap;
	int	n;
	size_t	len;

	n = atomic_fetch_add(&lg_errlines, 1);
	if (n > LG_MAX_ERRLINES)
		return;
	if (n == LG_MAX_ERRLINES) {
		fprintf(stderr, "%s: further errors are only counted\n",
		    LG_NAME);
		return;
	}
	/* One fputs per line, so that threads do not interleave. */
	if (c != NULL)
		snprintf(line, sizeof line, "%s: conn %" PRIu32 ": ", LG_NAME,
		    c->c_id);
	else
		snprintf(line, sizeof line, "%s: ", LG_NAME);
	len = strlen(line);
	va_start(ap, fmt);
	vsnprintf(line + len, sizeof line - len - 1, fmt, ap);
	va_end(ap);
	len = strlen(line);
	line[len] = '\n';
	line[len + 1] = '\0';
	fputs(line, stderr);
}

/* Latency histogram: log-linear buckets, exact below 2^LG_HIST_SUB_BITS. */
static size_t
hist_index(uint64_t v)
{
	unsigned int	msb, shift;

	if (v >= (1ULL << LG_HIST_MAX_BITS))
		v = (1ULL << LG_HIST_MAX_BITS) - 1;
	if (v < (1ULL << LG_HIST_SUB_BITS))
		return ((size_t)v);
	msb = 63 - (unsigned int)__builtin_clzll(v);
	shift = msb - LG_HIST_SUB_BITS;
	return (((size_t)(shift + 1) << LG_HIST_SUB_BITS) +
	    (size_t)((v >> shift) - (1ULL << LG_HIST_SUB_BITS)));
}

/* The highest value that falls in bucket i. */
static uint64_t
hist_value(size_t i)
{
	uint64_t	sub, shift;

	if (i < (1U << LG_HIST_SUB_BITS))
		return (i);
	shift = (i >> LG_HIST_SUB_BITS) - 1;
	sub = (i & ((1U << LG_HIST_SUB_BITS) - 1)) + (1U << LG_HIST_SUB_BITS);
	return (((sub + 1) << shift) - 1);
}

static void
hist_add(struct hist *h, uint64_t us)
{
	h->h_bucket[hist_index(us)]++;
	h->h_count++;
	if (us > h->h_max)
		h->h_max = us;
}

static void
hist_merge(struct hist *to, const struct hist *from)
{
	size_t	i;

	for (i = 0; i < LG_HIST_BUCKETS; i++)
		to->h_bucket[i] += from->h_bucket[i];
	to->h_count += from->h_count;
	if (from->h_max > to->h_max)
		to->h_max = from->h_max;
}

/* The p-th percentile, never above the exact maximum; 0 if empty. */
static uint64_t
hist_percentile(const struct hist *h, double p)
{
	uint64_t	rank, seen = 0, v;
	size_t		i;

	if (h->h_count == 0)
		return (0);
	rank = (uint64_t)ceil(p / 100.0 * (double)h->h_count);
	if (rank < 1)
		rank = 1;
	for (i = 0; i < LG_HIST_BUCKETS; i++) {
		seen += h->h_bucket[i];
		if (seen >= rank) {
			v = hist_value(i);
			return (v < h->h_max ? v : h->h_max);
		}
	}
	return (h->h_max);
}

/* SHA-1 (FIPS 180-4), one shot: only Sec-WebSocket-Accept needs it. */
#define SHA1_ROL(x, n)	(((x) << (n)) | ((x) >> (32 - (n))))

static void
sha1_block(uint32_t h[5], const unsigned char *p)
{
	uint32_t	w[80], a, b, c, d, e, f, k, t;
	int		i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		    (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
	for (i = 16; i < 80; i++)
		w[i] = SHA1_ROL(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	a = h[0]; b = h[1]; c = h[2]; d = h[3]; e = h[4];
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
		t = SHA1_ROL(a, 5) + f + e + k + w[i];
		e = d;
		d = c;
		c = SHA1_ROL(b, 30);
		b = a;
		a = t;
	}
	h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e;
}

static void
sha1(const void *data, size_t len, unsigned char out[20])
{
	uint32_t		 h[5] = { 0x67452301, 0xefcdab89, 0x98badcfe,
				     0x10325476, 0xc3d2e1f0 };
	const unsigned char	*p = data;
	unsigned char		 tail[128];
	size_t			 n, i;
	uint64_t		 bits = (uint64_t)len * 8;

	for (; len >= 64; p += 64, len -= 64)
		sha1_block(h, p);
	memset(tail, 0, sizeof tail);
	memcpy(tail, p, len);
	tail[len] = 0x80;
	n = len + 1 + 8 <= 64 ? 64 : 128;
	for (i = 0; i < 8; i++)
		tail[n - 1 - i] = (unsigned char)(bits >> (8 * i));
	sha1_block(h, tail);
	if (n == 128)
		sha1_block(h, tail + 64);
	for (i = 0; i < 20; i++)
		out[i] = (unsigned char)(h[i / 4] >> (24 - 8 * (i % 4)));
}

/* Standard base64 with padding; out needs 4 * ceil(len / 3) + 1 bytes. */
static void
b64_encode(const unsigned char *in, size_t len, char *out)
{
	static const char	 tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				     "abcdefghijklmnopqrstuvwxyz0123456789+/";
	uint32_t		 v;
	size_t			 i;

	for (i = 0; i + 2 < len; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		*out++ = tab[v >> 18];
		*out++ = tab[(v >> 12) & 63];
		*out++ = tab[(v >> 6) & 63];
		*out++ = tab[v & 63];
	}
	if (i < len) {
		v = (uint32_t)in[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)in[i + 1] << 8;
		*out++ = tab[v >> 18];
		*out++ = tab[(v >> 12) & 63];
		*out++ = i + 1 < len ? tab[(v >> 6) & 63] : '=';
		*out++ = '=';
	}
	*out = '\0';
}

static const char *
conn_state_name(enum conn_state st)
{
	switch (st) {
	case CONN_IDLE:
		return ("idle");
	case CONN_CONNECTING:
		return ("connecting");
	case CONN_HANDSHAKE:
		return ("handshake");
	case CONN_OPEN:
		return ("open");
	case CONN_CLOSING:
		return ("closing");
	case CONN_DEAD:
		return ("dead");
	}
	return ("?");
}

/* Change state, keeping the worker's per-state counts right. */
static void
conn_set_state(struct conn *c, enum conn_state st)
{
	struct worker	*w = c->c_w;

	switch (c->c_state) {
	case CONN_CONNECTING:
	case CONN_HANDSHAKE:
		w->w_pending--;
		w->w_live--;
		break;
	case CONN_OPEN:
		w->w_open--;
		w->w_live--;
		break;
	case CONN_CLOSING:
		w->w_live--;
		break;
	case CONN_IDLE:
		w->w_idle--;
		break;
	case CONN_DEAD:
		break;
	}
	c->c_state = st;
	switch (st) {
	case CONN_CONNECTING:
	case CONN_HANDSHAKE:
		w->w_pending++;
		w->w_live++;
		break;
	case CONN_OPEN:
		w->w_open++;
		w->w_live++;
		break;
	case CONN_CLOSING:
		w->w_live++;
		break;
	case CONN_IDLE:
		w->w_idle++;
		break;
	case CONN_DEAD:
		break;
	}
}

/*
 * The one exit of a connection: close the socket (which also takes it out
 * of epoll), free the buffers, and leave the slot idle (connect mode) or
 * dead.  Safe to call twice.
 */
static void
conn_close(struct conn *c)
{
	if (c->c_fd != -1) {
		close(c->c_fd);
		c->c_fd = -1;
	}
	free(c->c_in);
	free(c->c_out);
	free(c->c_msg);
	c->c_in = c->c_out = c->c_msg = NULL;
	c->c_inlen = c->c_incap = 0;
	c->c_outoff = c->c_outlen = c->c_outcap = 0;
	c->c_msglen = 0;
	c->c_msgop = 0;
	c->c_deadline = 0;
	if (opt.o_mode == MODE_CONNECT)
		conn_set_state(c, CONN_IDLE);
	else
		conn_set_state(c, CONN_DEAD);
}

/* Count an error against the connection, say why, and close it. */
static void
conn_fail(struct conn *c, enum lg_err err, const char *fmt, ...)
{
	char	msg[512];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	c->c_w->w_errors[err]++;
	lg_errorf(c, "%s (%s)", msg, conn_state_name(c->c_state));
	c->c_retry = lg_now() + LG_RETRY_MS * NS_PER_MS;
	conn_close(c);
}

/*
 * Make room for n more bytes at the end of the output buffer, moving what
 * is unsent to the front if that helps.  Returns NULL if it does not fit.
 */
static unsigned char *
conn_reserve(struct conn *c, size_t n)
{
	if (c->c_outcap - c->c_outlen >= n)
		return (c->c_out + c->c_outlen);
	if (c->c_outoff > 0) {
		memmove(c->c_out, c->c_out + c->c_outoff,
		    c->c_outlen - c->c_outoff);
		c->c_outlen -= c->c_outoff;
		c->c_outoff = 0;
	}
	if (c->c_outcap - c->c_outlen >= n)
		return (c->c_out + c->c_outlen);
	return (NULL);
}

/* XOR len bytes at p with the 4-byte mask, eight bytes at a time. */
static void
ws_mask(unsigned char *p, size_t len, const unsigned char key[4])
{
	uint64_t	m, v;
	size_t		i = 0;

	memcpy(&m, key, 4);
	memcpy((unsigned char *)&m + 4, key, 4);
	for (; i + 8 <= len; i += 8) {
		memcpy(&v, p + i, 8);
		v ^= m;
		memcpy(p + i, &v, 8);
	}
	for (; i < len; i++)
		p[i] ^= key[i & 3];
}

/*
 * Append one masked frame whose payload is already in place: the caller
 * reserved LG_FRAME_HDR + len bytes and wrote the payload LG_FRAME_HDR
 * bytes in; the header is built just before it and the payload moved down
 * when the header is shorter.
 */
static void
ws_frame_finish(struct conn *c, int op, size_t len)
{
	unsigned char	*base = c->c_out + c->c_outlen, *hdr, key[4];
	size_t		 hl;
	uint64_t	 r;

	hl = len < 126 ? 6 : len <= 0xffff ? 8 : 14;
	hdr = base;
	hdr[0] = 0x80 | (unsigned char)op;
	if (len < 126)
		hdr[1] = 0x80 | (unsigned char)len;
	else if (len <= 0xffff) {
		hdr[1] = 0x80 | 126;
		hdr[2] = (unsigned char)(len >> 8);
		hdr[3] = (unsigned char)len;
	} else {
		hdr[1] = 0x80 | 127;
		for (int i = 0; i < 8; i++)
			hdr[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
	}
	r = lg_random(&c->c_w->w_rng);
	memcpy(key, &r, 4);
	memcpy(hdr + hl - 4, key, 4);
	if (hl != LG_FRAME_HDR)
		memmove(base + hl, base + LG_FRAME_HDR, len);
	ws_mask(base + hl, len, key);
	c->c_outlen += hl + len;
}

/* Queue a control frame; silently dropped if there is no room (a pong). */
static int
ws_send_control(struct conn *c, int op, const void *p, size_t len)
{
	unsigned char	*dst;

	if (len > LG_CTL_MAX)
		len = LG_CTL_MAX;
	if ((dst = conn_reserve(c, LG_FRAME_HDR + len)) == NULL)
		return (-1);
	memcpy(dst + LG_FRAME_HDR, p, len);
	ws_frame_finish(c, op, len);
	return (0);
}

/* Send our close frame and wait for the server's (and its EOF). */
static void
conn_start_close(struct conn *c, unsigned int code)
{
	unsigned char	b[2];

	b[0] = (unsigned char)(code >> 8);
	b[1] = (unsigned char)code;
	ws_send_control(c, WS_OP_CLOSE, b, sizeof b);
	conn_set_state(c, CONN_CLOSING);
	c->c_deadline = lg_now() + LG_CLOSE_TIMEOUT * NS_PER_S;
	if (c->c_closerecv)
		c->c_deadline = lg_now() + LG_EOF_GRACE_MS * NS_PER_MS;
	conn_flush(c);
}

static void
lg_hex(char *dst, uint64_t v, int digits)
{
	static const char	hex[] = "0123456789abcdef";

	while (digits-- > 0) {
		dst[digits] = hex[v & 15];
		v >>= 4;
	}
}

static int
lg_unhex(const unsigned char *src, int digits, uint64_t *v)
{
	uint64_t	r = 0;
	int		i, d;

	for (i = 0; i < digits; i++) {
		if (src[i] >= '0' && src[i] <= '9')
			d = src[i] - '0';
		else if (src[i] >= 'a' && src[i] <= 'f')
			d = src[i] - 'a' + 10;
		else
			return (-1);
		r = r << 4 | (uint64_t)d;
	}
	*v = r;
	return (0);
}

/*
 * Queue the next echo message, stamped with ts.  The payload is a 32-byte
 * ASCII header (12 hex digits of sequence number, 12 of send time in ns,
 * 8 of connection number) then filler from lg_pattern at an offset that
 * depends on the sequence number, so a swapped or corrupted echo shows.
 * Returns -1 if there is no room.
 */
static int
conn_send_message(struct conn *c, uint64_t ts)
{
	unsigned char	*dst, *p;
	size_t		 len = opt.o_size;

	if (c->c_outcap - c->c_outlen < LG_FRAME_HDR + len + LG_CTL_ROOM &&
	    (conn_reserve(c, LG_FRAME_HDR + len + LG_CTL_ROOM) == NULL))
		return (-1);
	dst = c->c_out + c->c_outlen;
	p = dst + LG_FRAME_HDR;
	lg_hex((char *)p, c->c_sendseq, 12);
	lg_hex((char *)p + 12, ts, 12);
	lg_hex((char *)p + 24, c->c_id, 8);
	memcpy(p + LG_HDR_LEN, lg_pattern + c->c_sendseq % LG_PATTERN_SPAN +
	    LG_HDR_LEN, len - LG_HDR_LEN);
	ws_frame_finish(c, opt.o_binary ? WS_OP_BINARY : WS_OP_TEXT, len);
	c->c_sendseq++;
	c->c_inflight++;
	return (0);
}

/* Closed loop: top the window up to --window messages in flight. */
static void
conn_fill(struct conn *c)
{
	uint64_t	now;

	if (c->c_state != CONN_OPEN || c->c_inflight >= opt.o_window)
		return;
	now = lg_now();
	while (c->c_inflight < opt.o_window)
		if (conn_send_message(c, now) == -1)
			break;
}

/* Check one echo against what this connection sent. */
static void
conn_echo(struct conn *c, int op, const unsigned char *p, size_t len)
{
	struct worker	*w = c->c_w;
	uint64_t	 seq, ts, id, now, start, warm, end;

	if (c->c_inflight == 0) {
		w->w_errors[ERR_VERIFY]++;
		lg_errorf(c, "unexpected message of %zu bytes", len);
		return;
	}
	c->c_inflight--;
	if (op != (opt.o_binary ? WS_OP_BINARY : WS_OP_TEXT)) {
		w->w_errors[ERR_VERIFY]++;
		lg_errorf(c, "echo is %s, sent %s",
		    op == WS_OP_TEXT ? "text" : "binary",
		    opt.o_binary ? "binary" : "text");
		return;
	}
	if (len != opt.o_size) {
		w->w_errors[ERR_VERIFY]++;
		lg_errorf(c, "echo of %zu bytes, sent %zu", len, opt.o_size);
		c->c_recvseq++;
		return;
	}
	if (lg_unhex(p, 12, &seq) == -1 || lg_unhex(p + 12, 12, &ts) == -1 ||
	    lg_unhex(p + 24, 8, &id) == -1) {
		w->w_errors[ERR_VERIFY]++;
		lg_errorf(c, "echo has a garbled header");
		c->c_recvseq++;
		return;
	}
	if (id != c->c_id) {
		w->w_errors[ERR_VERIFY]++;
		lg_errorf(c, "got the echo of conn %" PRIu64, id);
		c->c_recvseq++;
		return;
	}
	if (seq != c->c_recvseq) {
		w->w_errors[ERR_VERIFY]++;
		lg_errorf(c, "echo out of order: expected %" PRIu64
		    ", got %" PRIu64, c->c_recvseq, seq);
		c->c_recvseq = seq + 1;
		return;
	}
	c->c_recvseq++;
	if (memcmp(p + LG_HDR_LEN, lg_pattern + seq % LG_PATTERN_SPAN +
	    LG_HDR_LEN, len - LG_HDR_LEN) != 0) {
		w->w_errors[ERR_VERIFY]++;
		lg_errorf(c, "echo %" PRIu64 " differs from what was sent",
		    seq);
		return;
	}

	now = lg_now();
	start = atomic_load(&lg_start);
	warm = start + (uint64_t)(opt.o_warmup * NS_PER_S);
	end = warm + (uint64_t)(opt.o_duration * NS_PER_S);
	if (now >= warm && now < end && ts <= now) {
		w->w_messages++;
		hist_add(&w->w_hist, (now - ts) / 1000);
	}
}

/* Read decimal digits up to a blank or the end; -1 if there are none. */
static int
lg_decimal(const unsigned char **pp, const unsigned char *end, uint64_t *v)
{
	const unsigned char	*p = *pp;
	uint64_t		 r = 0;

	if (p == end || *p < '0' || *p > '9')
		return (-1);
	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		if (r > (UINT64_MAX - 9) / 10)
			return (-1);
		r = r * 10 + (uint64_t)(*p - '0');
	}
	if (p < end && *p != ' ')
		return (-1);
	*pp = p < end ? p + 1 : p;
	*v = r;
	return (0);
}

/*
 * fanout: one broadcast, "!<sent ns> <seq>" then anything.  The receipt
 * time is taken here, as the frame is parsed, on CLOCK_MONOTONIC like the
 * sender's stamp.  Each connection must see each seq below --expect once.
 */
static void
conn_fanout(struct conn *c, int op, const unsigned char *p, size_t len)
{
	struct worker		*w = c->c_w;
	struct fanstat		*f;
	const unsigned char	*q = p + 1, *end = p + len;
	uint64_t		 now, sent, seq, done;

	now = lg_epoch_ns + lg_now();
	if (op != WS_OP_TEXT || len < 1 || p[0] != '!' ||
	    lg_decimal(&q, end, &sent) == -1 ||
	    lg_decimal(&q, end, &seq) == -1) {
		w->w_errors[ERR_VERIFY]++;
		lg_errorf(c, "not a broadcast: %zu bytes \"%.*s\"", len,
		    len > 40 ? 40 : (int)len, len > 0 ? (const char *)p : "");
		return;
	}
	if (seq >= opt.o_expect) {
		w->w_errors[ERR_VERIFY]++;
		lg_errorf(c, "broadcast %" PRIu64 " but --expect is %" PRIu32,
		    seq, opt.o_expect);
		return;
	}
	if (c->c_fanseen & (1ULL << seq)) {
		w->w_errors[ERR_VERIFY]++;
		lg_errorf(c, "broadcast %" PRIu64 " received twice", seq);
		return;
	}
	c->c_fanseen |= 1ULL << seq;
	w->w_fanframes++;
	f = &w->w_fan[seq];
	if (f->f_count++ == 0) {
		f->f_sent = sent;
		f->f_first = now;
	}
	f->f_last = now;
	if (++c->c_fancount != opt.o_expect)
		return;
	done = (uint64_t)atomic_fetch_add(&lg_fan_done, 1) + 1;
	if (done == atomic_load(&lg_open_sum)) {
		fprintf(stderr, "DONE\n");
		fflush(stderr);
	}
}

/* A whole data message arrived. */
static void
conn_message(struct conn *c, int op, const unsigned char *p, size_t len)
{
	size_t	n;

	if (c->c_state != CONN_OPEN)
		return;		/* Nothing to check; late echoes are dropped. */
	if (opt.o_mode == MODE_FANOUT) {
		conn_fanout(c, op, p, len);
		return;
	}
	if (opt.o_mode != MODE_ECHO)
		return;
	/* Messages that all sockets get, such as broadcasts, are no echo. */
	if (opt.o_skip != NULL && (n = strlen(opt.o_skip)) <= len &&
	    memcmp(p, opt.o_skip, n) == 0) {
		c->c_w->w_skipped++;
		return;
	}
	conn_echo(c, op, p, len);
}

/*
 * Handle one complete frame.  Data frames are handed over in place when
 * unfragmented, and gathered into c_msg (echo mode only, bounded by
 * --size) when fragmented.
 */
static void
conn_frame(struct conn *c, int fin, int op, const unsigned char *p,
    size_t len)
{
	unsigned int	code;

	switch (op) {
	case WS_OP_CONT:
		if (c->c_msgop == 0) {
			conn_fail(c, ERR_PROTOCOL,
			    "continuation frame outside a message");
			return;
		}
		if (opt.o_mode == MODE_ECHO) {
			if (c->c_msglen + len > opt.o_size) {
				conn_fail(c, ERR_VERIFY, "fragmented echo is "
				    "longer than the %zu bytes sent",
				    opt.o_size);
				return;
			}
			memcpy(c->c_msg + c->c_msglen, p, len);
			c->c_msglen += len;
		}
		if (fin) {
			conn_message(c, c->c_msgop, c->c_msg, c->c_msglen);
			c->c_msgop = 0;
			c->c_msglen = 0;
		}
		break;
	case WS_OP_TEXT:
	case WS_OP_BINARY:
		if (c->c_msgop != 0) {
			conn_fail(c, ERR_PROTOCOL,
			    "new message inside a fragmented one");
			return;
		}
		if (fin) {
			conn_message(c, op, p, len);
			break;
		}
		c->c_msgop = op;
		c->c_msglen = 0;
		if (opt.o_mode == MODE_ECHO) {
			if (len > opt.o_size) {
				conn_fail(c, ERR_VERIFY, "fragmented echo is "
				    "longer than the %zu bytes sent",
				    opt.o_size);
				return;
			}
			if (c->c_msg == NULL)
				c->c_msg = lg_xmalloc(opt.o_size);
			memcpy(c->c_msg, p, len);
			c->c_msglen = len;
		}
		break;
	case WS_OP_CLOSE:
		if (len == 1) {
			conn_fail(c, ERR_PROTOCOL, "close frame of 1 byte");
			return;
		}
		code = len >= 2 ? (unsigned int)p[0] << 8 | p[1] : 1005;
		if (c->c_state == CONN_CLOSING) {
			c->c_closerecv = 1;
			c->c_deadline = lg_now() +
			    LG_EOF_GRACE_MS * NS_PER_MS;
			break;
		}
		c->c_w->w_errors[ERR_DROPPED]++;
		lg_errorf(c, "closed by the server with code %u \"%.*s\"",
		    code, len > 2 ? (int)(len - 2) : 0,
		    len > 2 ? (const char *)p + 2 : "");
		c->c_closerecv = 1;
		conn_start_close(c, code == 1005 ? 1000 : code);
		break;
	case WS_OP_PING:
		if (c->c_state == CONN_OPEN)
			ws_send_control(c, WS_OP_PONG, p, len);
		break;
	case WS_OP_PONG:
		break;
	default:
		conn_fail(c, ERR_PROTOCOL, "frame with reserved opcode %d", op);
		break;
	}
}

/*
 * Parse and handle every complete frame in c_in, then move the rest to
 * the front.  Returns -1 if the connection was closed.
 */
static int
conn_frames(struct conn *c)
{
	const unsigned char	*p;
	size_t			 pos = 0, avail, hl;
	uint64_t		 len;
	int			 fin, op;

	while (c->c_fd != -1) {
		p = c->c_in + pos;
		avail = c->c_inlen - pos;
		if (avail < 2)
			break;
		fin = p[0] & 0x80;
		op = p[0] & 0x0f;
		len = p[1] & 0x7f;
		hl = 2;
		if (p[0] & 0x70) {
			conn_fail(c, ERR_PROTOCOL, "frame with RSV bits 0x%x "
			    "but no extension was agreed", p[0] & 0x70);
			return (-1);
		}
		if (p[1] & 0x80) {
			conn_fail(c, ERR_PROTOCOL, "masked frame from server");
			return (-1);
		}
		if (len == 126) {
			if (avail < 4)
				break;
			len = (uint64_t)p[2] << 8 | p[3];
			hl = 4;
			if (len < 126) {
				conn_fail(c, ERR_PROTOCOL, "length %" PRIu64
				    " not in its minimal form (16 bits)", len);
				return (-1);
			}
		} else if (len == 127) {
			if (avail < 10)
				break;
			len = 0;
			for (int i = 0; i < 8; i++)
				len = len << 8 | p[2 + i];
			hl = 10;
			if (len >> 63) {
				conn_fail(c, ERR_PROTOCOL, "64-bit length "
				    "with the top bit set");
				return (-1);
			}
			if (len <= 0xffff) {
				conn_fail(c, ERR_PROTOCOL, "length %" PRIu64
				    " not in its minimal form (64 bits)", len);
				return (-1);
			}
		}
		if (op >= 8 && (!fin || len > LG_CTL_MAX)) {
			conn_fail(c, ERR_PROTOCOL, "control frame (opcode %d) "
			    "%s", op, fin ? "too long" : "fragmented");
			return (-1);
		}
		if (len > c->c_incap - hl) {
			conn_fail(c, ERR_PROTOCOL, "frame of %" PRIu64 " bytes "
			    "is larger than expected", len);
			return (-1);
		}
		if (avail < hl + len)
			break;
		conn_frame(c, fin, op, p + hl, (size_t)len);
		pos += hl + (size_t)len;
	}
	if (c->c_fd == -1)
		return (-1);
	if (pos > 0) {
		memmove(c->c_in, c->c_in + pos, c->c_inlen - pos);
		c->c_inlen -= pos;
	}
	return (0);
}

/* Write what is queued; on EAGAIN the edge-triggered EPOLLOUT resumes. */
static int
conn_flush(struct conn *c)
{
	ssize_t	n;

	while (c->c_outoff < c->c_outlen) {
		n = write(c->c_fd, c->c_out + c->c_outoff,
		    c->c_outlen - c->c_outoff);
		if (n > 0) {
			c->c_outoff += (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return (0);
		if (c->c_state == CONN_CLOSING) {
			conn_close(c);	/* The server went first: fine. */
			return (-1);
		}
		conn_fail(c, ERR_IO, "write: %s", strerror(errno));
		return (-1);
	}
	c->c_outoff = c->c_outlen = 0;
	return (0);
}

/* Find name in a comma-separated header value, ignoring case and blanks. */
static int
lg_has_token(const char *value, const char *name)
{
	size_t		 n = strlen(name), len;
	const char	*p = value, *e;

	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		e = p;
		while (*e != '\0' && *e != ',')
			e++;
		len = (size_t)(e - p);
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len == n && strncasecmp(p, name, n) == 0)
			return (1);
		p = e;
	}
	return (0);
}

/*
 * The upgrade succeeded: shrink the buffers to what the mode needs (a
 * thousand idle connections should not keep 8 KiB each) and start.
 */
static void
conn_opened(struct conn *c, size_t rest)
{
	struct worker	*w = c->c_w;
	uint64_t	 now = lg_now(), start, warm, end;
	size_t		 cap;

	memmove(c->c_in, c->c_in + (c->c_inlen - rest), rest);
	c->c_inlen = rest;
	cap = rest > lg_in_open ? rest : lg_in_open;
	c->c_in = realloc(c->c_in, cap);
	c->c_incap = cap;
	cap = c->c_outlen > lg_out_open ? c->c_outlen : lg_out_open;
	c->c_out = realloc(c->c_out, cap);
	c->c_outcap = cap;
	if (c->c_in == NULL || c->c_out == NULL)
		lg_fatalx("out of memory");
	conn_set_state(c, CONN_OPEN);
	c->c_deadline = 0;

	if (opt.o_mode == MODE_CONNECT) {
		start = atomic_load(&lg_start);
		warm = start + (uint64_t)(opt.o_warmup * NS_PER_S);
		end = warm + (uint64_t)(opt.o_duration * NS_PER_S);
		if (now >= warm && now < end) {
			w->w_handshakes++;
			hist_add(&w->w_hist, (now - c->c_t0) / 1000);
		}
		conn_start_close(c, 1000);
		return;
	}
	if (opt.o_mode == MODE_ECHO && w->w_sending && w->w_rate == 0)
		conn_fill(c);
}

/*
 * Parse the response head once it is all in: the status must be 101, and
 * Upgrade, Connection and Sec-WebSocket-Accept must be right.  Bytes after
 * the head are the first frames.
 */
static void
conn_handshake(struct conn *c)
{
	char		*head, *line, *next, *colon, *v, status[128];
	unsigned char	*end;
	size_t		 hlen, n;
	int		 upgrade = 0, connection = 0, accept = 0;

	end = memmem(c->c_in, c->c_inlen, "\r\n\r\n", 4);
	if (end == NULL) {
		if (c->c_inlen >= LG_MAX_HEAD)
			conn_fail(c, ERR_HANDSHAKE, "response head longer "
			    "than %d bytes", LG_MAX_HEAD);
		return;
	}
	hlen = (size_t)(end - c->c_in) + 4;
	if (memchr(c->c_in, '\0', hlen) != NULL) {
		conn_fail(c, ERR_HANDSHAKE, "NUL byte in the response head");
		return;
	}
	head = lg_xmalloc(hlen + 1);
	memcpy(head, c->c_in, hlen);
	head[hlen] = '\0';

	line = head;
	next = strstr(line, "\r\n");
	*next = '\0';
	n = strlen(line);
	if (n >= sizeof status)
		n = sizeof status - 1;
	for (size_t i = 0; i < n; i++)	/* For printing. */
		status[i] = line[i] >= 0x20 && line[i] < 0x7f ? line[i] : '?';
	status[n] = '\0';
	if (strncmp(line, "HTTP/1.1 ", 9) != 0) {
		free(head);
		conn_fail(c, ERR_HANDSHAKE, "not an HTTP/1.1 response: %s",
		    status);
		return;
	}
	if (strncmp(line + 9, "101", 3) != 0 || (line[12] != ' ' &&
	    line[12] != '\0')) {
		free(head);
		conn_fail(c, ERR_REFUSED, "upgrade refused: %s", status);
		return;
	}
	for (line = next + 2; *line != '\0' && *line != '\r'; line = next + 2) {
		next = strstr(line, "\r\n");
		*next = '\0';
		if ((colon = strchr(line, ':')) == NULL)
			continue;
		*colon = '\0';
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		n = strlen(v);
		while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
			v[--n] = '\0';
		if (strcasecmp(line, "Upgrade") == 0)
			upgrade = strcasecmp(v, "websocket") == 0 ? 1 : -1;
		else if (strcasecmp(line, "Connection") == 0)
			connection = lg_has_token(v, "upgrade") ? 1 : -1;
		else if (strcasecmp(line, "Sec-WebSocket-Accept") == 0)
			accept = strcmp(v, c->c_accept) == 0 ? 1 : -1;
		else if (strcasecmp(line, "Sec-WebSocket-Extensions") == 0 ||
		    strcasecmp(line, "Sec-WebSocket-Protocol") == 0) {
			free(head);
			conn_fail(c, ERR_HANDSHAKE, "server chose %s that "
			    "was not offered", line);
			return;
		}
	}
	free(head);
	if (upgrade != 1 || connection != 1 || accept != 1) {
		conn_fail(c, ERR_HANDSHAKE, "101 with %s Upgrade, %s "
		    "Connection, %s Sec-WebSocket-Accept",
		    upgrade == 1 ? "good" : upgrade ? "bad" : "no",
		    connection == 1 ? "good" : connection ? "bad" : "no",
		    accept == 1 ? "good" : accept ? "bad" : "no");
		return;
	}
	conn_opened(c, c->c_inlen - hlen);
	if (c->c_fd != -1 && c->c_inlen > 0)
		conn_frames(c);
}

/* Read until EAGAIN (edge-triggered), handling what arrives as it comes. */
static void
conn_read(struct conn *c)
{
	ssize_t	n;

	for (;;) {
		if (c->c_inlen == c->c_incap && c->c_state == CONN_HANDSHAKE &&
		    c->c_incap < LG_MAX_HEAD) {
			c->c_incap *= 2;
			if ((c->c_in = realloc(c->c_in, c->c_incap)) == NULL)
				lg_fatalx("out of memory");
		}
		if (c->c_inlen == c->c_incap) {
			/* conn_handshake() and conn_frames() check sizes. */
			conn_fail(c, ERR_PROTOCOL, "input buffer full");
			return;
		}
		n = read(c->c_fd, c->c_in + c->c_inlen,
		    c->c_incap - c->c_inlen);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (c->c_state == CONN_CLOSING && c->c_closerecv) {
				conn_close(c);
				return;
			}
			conn_fail(c, c->c_state == CONN_HANDSHAKE ?
			    ERR_HANDSHAKE : c->c_state == CONN_CLOSING ?
			    ERR_CLOSE : ERR_DROPPED, "read: %s",
			    strerror(errno));
			return;
		}
		if (n == 0) {
			if (c->c_state == CONN_CLOSING)
				conn_close(c);	/* Even without its close. */
			else if (c->c_state == CONN_HANDSHAKE)
				conn_fail(c, ERR_HANDSHAKE, "EOF before the "
				    "response head");
			else
				conn_fail(c, ERR_DROPPED, "EOF from server");
			return;
		}
		c->c_inlen += (size_t)n;
		if (c->c_state == CONN_HANDSHAKE)
			conn_handshake(c);
		else if (c->c_state == CONN_OPEN ||
		    c->c_state == CONN_CLOSING)
			conn_frames(c);
		if (c->c_fd == -1)
			return;
	}
}

/* The TCP connect finished: send the upgrade request. */
static void
conn_connected(struct conn *c)
{
	int		 err = 0;
	socklen_t	 len = sizeof err;

	if (getsockopt(c->c_fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err != 0) {
		conn_fail(c, ERR_CONNECT, "connect to %s: %s", lg_hostport,
		    strerror(err));
		return;
	}
	conn_set_state(c, CONN_HANDSHAKE);
	conn_flush(c);
}

static void
conn_event(struct conn *c, uint32_t ev)
{
	if (c->c_fd == -1)
		return;
	if (c->c_state == CONN_CONNECTING) {
		if ((ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == 0)
			return;
		conn_connected(c);
		if (c->c_fd == -1)
			return;
	}
	if ((ev & EPOLLOUT) && c->c_outoff < c->c_outlen) {
		if (conn_flush(c) == -1)
			return;
	}
	if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		conn_read(c);
		if (c->c_fd == -1)
			return;
	}
	if (c->c_state == CONN_OPEN && c->c_w->w_sending &&
	    opt.o_mode == MODE_ECHO && c->c_w->w_rate == 0)
		conn_fill(c);
	if (c->c_outoff < c->c_outlen)
		conn_flush(c);
}

/*
 * Start a connection: socket, optional bind to the next --src address,
 * nonblocking connect, and the upgrade request queued in c_out.
 */
static void
conn_start(struct conn *c, uint64_t nth)
{
	struct worker		*w = c->c_w;
	struct epoll_event	 ev;
	unsigned char		 rnd[16], digest[20];
	char			 key[LG_KEY_LEN + 1], buf[LG_KEY_LEN + 40];
	uint64_t		 r;
	int			 fd, one = 1, n;

	c->c_closerecv = 0;
	c->c_sendseq = c->c_recvseq = 0;
	c->c_inflight = 0;
	c->c_msgop = 0;
	c->c_msglen = 0;

	fd = socket(lg_dst.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1) {
		w->w_errors[ERR_CONNECT]++;
		lg_errorf(c, "socket: %s", strerror(errno));
		c->c_retry = lg_now() + LG_RETRY_MS * NS_PER_MS;
		if (opt.o_mode != MODE_CONNECT)
			conn_set_state(c, CONN_DEAD);
		return;
	}
	c->c_fd = fd;
	c->c_t0 = lg_now();
	c->c_deadline = c->c_t0 + LG_HANDSHAKE_TIMEOUT * NS_PER_S;
	conn_set_state(c, CONN_CONNECTING);
	c->c_in = lg_xmalloc(LG_HEAD_BUF);
	c->c_incap = LG_HEAD_BUF;
	c->c_out = lg_xmalloc(LG_MAX_REQ);
	c->c_outcap = LG_MAX_REQ;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (lg_nsrc > 0) {
#ifdef IP_BIND_ADDRESS_NO_PORT
		/* Choose the port at connect() time, per destination. */
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
		    sizeof one);
#endif
		if (bind(fd, (struct sockaddr *)&lg_src[nth % lg_nsrc],
		    lg_srclen) == -1) {
			conn_fail(c, ERR_CONNECT, "bind to source %zu: %s",
			    (size_t)(nth % lg_nsrc), strerror(errno));
			return;
		}
	}

	r = lg_random(&w->w_rng);
	memcpy(rnd, &r, 8);
	r = lg_random(&w->w_rng);
	memcpy(rnd + 8, &r, 8);
	b64_encode(rnd, sizeof rnd, key);
	snprintf(buf, sizeof buf, "%s%s", key, LG_WS_GUID);
	sha1(buf, strlen(buf), digest);
	b64_encode(digest, sizeof digest, c->c_accept);

	n = snprintf((char *)c->c_out, c->c_outcap,
	    "GET %s HTTP/1.1\r\n"
	    "Host: %s\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Key: %s\r\n"
	    "Sec-WebSocket-Version: 13\r\n"
	    "Cookie: X-Token=%s\r\n"
	    "X-User-Id: %" PRIu32 "\r\n"
	    "\r\n", opt.o_path, lg_hostport, key, opt.o_token, c->c_id);
	if (n < 0 || (size_t)n >= c->c_outcap)
		lg_fatalx("upgrade request longer than %d bytes", LG_MAX_REQ);
	c->c_outoff = 0;
	c->c_outlen = (size_t)n;

	ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
	ev.data.ptr = c;
	if (epoll_ctl(w->w_ep, EPOLL_CTL_ADD, fd, &ev) == -1)
		lg_fatalx("epoll_ctl: %s", strerror(errno));

	if (connect(fd, (struct sockaddr *)&lg_dst, lg_dstlen) == 0) {
		conn_connected(c);
		return;
	}
	if (errno == EINPROGRESS)
		return;
	conn_fail(c, ERR_CONNECT, "connect to %s: %s%s", lg_hostport,
	    strerror(errno), errno == EADDRNOTAVAIL ?
	    " (out of local ports? add --src addresses)" : "");
}

/* Time out handshakes and close handshakes that took too long. */
static void
worker_scan(struct worker *w, uint64_t now)
{
	struct conn	*c;
	size_t		 i;

	for (i = 0; i < w->w_nconns; i++) {
		c = &w->w_conns[i];
		if (c->c_fd == -1 || c->c_deadline == 0 || now < c->c_deadline)
			continue;
		switch (c->c_state) {
		case CONN_CONNECTING:
		case CONN_HANDSHAKE:
			conn_fail(c, ERR_TIMEOUT, "no upgrade after %d s",
			    LG_HANDSHAKE_TIMEOUT);
			break;
		case CONN_CLOSING:
			if (c->c_closerecv)
				conn_close(c);	/* No EOF: close anyway. */
			else
				conn_fail(c, ERR_CLOSE, "no close frame from "
				    "the server in time");
			break;
		default:
			break;
		}
	}
}

/*
 * Open phase (echo, hold): start connections as --ramp allows, with at
 * most LG_MAX_PENDING handshakes at a time.  Once all have opened or
 * failed, report in; the last thread to do so starts the run.
 */
static void
worker_open(struct worker *w, uint64_t now)
{
	uint64_t	allowed, nready, open;
	struct conn	*c;

	allowed = w->w_nconns;
	if (w->w_ramp > 0) {
		allowed = (uint64_t)((double)now * w->w_ramp / NS_PER_S) + 1;
		if (allowed > w->w_nconns)
			allowed = w->w_nconns;
	}
	while (w->w_started < allowed && w->w_pending < LG_MAX_PENDING) {
		c = &w->w_conns[w->w_started++];
		conn_start(c, c->c_id);
	}
	if (w->w_ready || w->w_started < w->w_nconns || w->w_pending > 0)
		return;

	w->w_ready = 1;
	atomic_fetch_add(&lg_open_sum, w->w_open);
	for (int i = 0; i < ERR__COUNT; i++)
		atomic_fetch_add(&lg_err_sum, w->w_errors[i]);
	nready = (uint64_t)atomic_fetch_add(&lg_nready, 1) + 1;
	if (nready != (uint64_t)opt.o_threads)
		return;

	open = atomic_load(&lg_open_sum);
	if (opt.o_mode == MODE_HOLD && !atomic_exchange(&lg_printed, 1)) {
		printf("{\"mode\":\"hold\",\"open\":%" PRIu64 ",\"errors\":%"
		    PRIu64 "}\n", open, (uint64_t)atomic_load(&lg_err_sum));
		fflush(stdout);
		fprintf(stderr, "READY\n");
		fflush(stderr);
	}
	if (opt.o_mode == MODE_FANOUT) {
		/* The full result comes at the end. */
		printf("{\"mode\":\"fanout\",\"ready\":true,\"open\":%"
		    PRIu64 ",\"errors\":%" PRIu64 "}\n", open,
		    (uint64_t)atomic_load(&lg_err_sum));
		fflush(stdout);
		fprintf(stderr, "READY\n");
		fflush(stderr);
	}
	if (open == 0) {
		lg_errorf(NULL, "no connection could be opened");
		atomic_store(&lg_stop, 1);
	}
	atomic_store(&lg_start, lg_now());
}

/*
 * Open loop for --rate: issue the messages due by now, stamped with the
 * time they were due (so a stall shows in the latency instead of being
 * hidden), each on the next connection with room in its window.  Messages
 * no connection can take stay due.
 */
static void
worker_pace(struct worker *w, uint64_t now, uint64_t start)
{
	uint64_t	 due, ts;
	struct conn	*c = NULL;
	size_t		 tried;

	if (now < start)
		return;
	/* Message k is due at start + k / rate, the first one at once. */
	due = (uint64_t)((double)(now - start) * w->w_rate / NS_PER_S) + 1;
	while (w->w_issued < due) {
		for (tried = 0; tried < w->w_nconns; tried++) {
			c = &w->w_conns[w->w_rr];
			w->w_rr = (w->w_rr + 1) % w->w_nconns;
			if (c->c_state == CONN_OPEN &&
			    c->c_inflight < opt.o_window)
				break;
		}
		if (tried == w->w_nconns)
			break;
		ts = start + (uint64_t)((double)w->w_issued * NS_PER_S /
		    w->w_rate);
		if (conn_send_message(c, ts) == -1)
			break;
		w->w_issued++;
		conn_flush(c);
	}
}

/*
 * Stop everything: close frames to open connections, abandon the rest.
 * Closing thousands at once takes the server a while, so the time allowed
 * grows with their number.
 */
static void
worker_begin_close(struct worker *w, uint64_t now)
{
	struct conn	*c;
	size_t		 i;
	uint64_t	 zero = 0, deadline;

	atomic_compare_exchange_strong(&lg_tstop, &zero, now);
	w->w_closing = 1;
	w->w_sending = 0;
	w->w_open_at_stop = w->w_open;
	deadline = now + LG_CLOSE_TIMEOUT * NS_PER_S +
	    (uint64_t)w->w_live * NS_PER_S / LG_CLOSE_RATE;
	w->w_close_end = deadline + 2 * LG_FAST_TICK_MS * NS_PER_MS;
	for (i = 0; i < w->w_nconns; i++) {
		c = &w->w_conns[i];
		switch (c->c_state) {
		case CONN_CONNECTING:
		case CONN_HANDSHAKE:
			conn_close(c);
			break;
		case CONN_OPEN:
			conn_start_close(c, 1000);
			if (c->c_fd != -1 && !c->c_closerecv)
				c->c_deadline = deadline;
			break;
		case CONN_CLOSING:
			if (!c->c_closerecv)
				c->c_deadline = deadline;
			break;
		default:
			break;
		}
	}
}

static int
worker_should_stop(uint64_t now, uint64_t start)
{
	uint64_t	end;

	if (lg_signalled || atomic_load(&lg_stop))
		return (1);
	if (start == 0)
		return (0);
	switch (opt.o_mode) {
	case MODE_ECHO:
	case MODE_CONNECT:
		end = start + (uint64_t)((opt.o_warmup + opt.o_duration) *
		    NS_PER_S);
		return (now >= end);
	case MODE_HOLD:
	case MODE_FANOUT:
		return (opt.o_hold > 0 &&
		    now >= start + (uint64_t)(opt.o_hold * NS_PER_S));
	}
	return (0);
}

/* Milliseconds until t, rounded up, at least 0. */
static int
lg_ms_until(uint64_t now, uint64_t t)
{
	if (t <= now)
		return (0);
	return ((int)((t - now + NS_PER_MS - 1) / NS_PER_MS));
}

static void *
worker_main(void *arg)
{
	struct worker		*w = arg;
	struct epoll_event	 evs[LG_MAX_EVENTS];
	struct itimerspec	 its;
	uint64_t		 now, start, end, expirations, tick;
	struct conn		*c;
	int			 n, i, timeout;
	size_t			 k;

	if ((w->w_ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		lg_fatalx("epoll_create1: %s", strerror(errno));
	if (opt.o_mode == MODE_CONNECT)
		atomic_store(&lg_start, 1);	/* No open phase. */

	for (;;) {
		now = lg_now();
		start = atomic_load(&lg_start);
		if (!w->w_closing && worker_should_stop(now, start))
			worker_begin_close(w, now);
		if (w->w_closing && (w->w_live == 0 || now >= w->w_close_end))
			break;

		tick = w->w_closing || opt.o_mode == MODE_CONNECT ?
		    LG_FAST_TICK_MS : LG_TICK_MS;
		if (now - w->w_last_scan >= tick * NS_PER_MS) {
			worker_scan(w, now);
			w->w_last_scan = now;
		}
		timeout = (int)tick;

		if (!w->w_closing && opt.o_mode != MODE_CONNECT && start == 0) {
			worker_open(w, now);
			if (w->w_ramp > 0 || w->w_ready)
				timeout = 1;
		} else if (!w->w_closing && opt.o_mode == MODE_ECHO &&
		    !w->w_sending) {
			/* The run starts: fill every window or start pacing. */
			w->w_sending = 1;
			if (w->w_rate > 0) {
				w->w_tfd = timerfd_create(CLOCK_MONOTONIC,
				    TFD_NONBLOCK | TFD_CLOEXEC);
				if (w->w_tfd == -1)
					lg_fatalx("timerfd_create: %s",
					    strerror(errno));
				memset(&its, 0, sizeof its);
				its.it_interval.tv_nsec = (long)(NS_PER_S /
				    w->w_rate);
				if (its.it_interval.tv_nsec < 100000)
					its.it_interval.tv_nsec = 100000;
				if (its.it_interval.tv_nsec > 1000000)
					its.it_interval.tv_nsec = 1000000;
				its.it_value = its.it_interval;
				if (timerfd_settime(w->w_tfd, 0, &its,
				    NULL) == -1)
					lg_fatalx("timerfd_settime: %s",
					    strerror(errno));
				evs[0].events = EPOLLIN;
				evs[0].data.ptr = NULL;
				if (epoll_ctl(w->w_ep, EPOLL_CTL_ADD, w->w_tfd,
				    &evs[0]) == -1)
					lg_fatalx("epoll_ctl: %s",
					    strerror(errno));
			} else {
				for (k = 0; k < w->w_nconns; k++) {
					c = &w->w_conns[k];
					if (c->c_state != CONN_OPEN)
						continue;
					conn_fill(c);
					conn_flush(c);
				}
			}
		} else if (!w->w_closing && opt.o_mode == MODE_CONNECT) {
			for (k = 0; k < w->w_nconns && w->w_idle > 0; k++) {
				c = &w->w_conns[k];
				if (c->c_state != CONN_IDLE)
					continue;
				if (now < c->c_retry) {
					timeout = lg_ms_until(now, c->c_retry);
					continue;
				}
				/* w_started counts starts, for --src. */
				conn_start(c, (uint64_t)w->w_started++ *
				    (uint64_t)opt.o_threads + (uint64_t)w->w_idx);
			}
		}
		if (!w->w_closing && start != 0 && (opt.o_mode == MODE_ECHO ||
		    opt.o_mode == MODE_CONNECT)) {
			end = start + (uint64_t)((opt.o_warmup +
			    opt.o_duration) * NS_PER_S);
			if (lg_ms_until(now, end) < timeout)
				timeout = lg_ms_until(now, end);
		}

		n = epoll_wait(w->w_ep, evs, LG_MAX_EVENTS, timeout);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			lg_fatalx("epoll_wait: %s", strerror(errno));
		}
		for (i = 0; i < n; i++) {
			if (evs[i].data.ptr == NULL) {
				if (read(w->w_tfd, &expirations,
				    sizeof expirations) == -1 &&
				    errno != EAGAIN)
					lg_fatalx("timerfd: %s",
					    strerror(errno));
				continue;
			}
			conn_event(evs[i].data.ptr, evs[i].events);
		}
		if (w->w_sending && w->w_rate > 0)
			worker_pace(w, lg_now(), atomic_load(&lg_start));
	}

	for (k = 0; k < w->w_nconns; k++) {
		c = &w->w_conns[k];
		if (c->c_state == CONN_CLOSING && !c->c_closerecv) {
			w->w_errors[ERR_CLOSE]++;
			lg_errorf(c, "no close frame from the server in "
			    "time");
		}
		if (c->c_fd != -1)
			conn_close(c);
	}
	if (w->w_tfd != -1)
		close(w->w_tfd);
	close(w->w_ep);
	return (NULL);
}

static void
lg_signal_cb(int sig)
{
	(void)sig;
	lg_signalled = 1;
}

static __attribute__((noreturn)) void
lg_usage(int status)
{
	fprintf(status ? stderr : stdout,
"usage: %s --mode echo|connect|hold|fanout [options]\n"
"  --host ADDR          server address (127.0.0.1)\n"
"  --port PORT          server port (8080)\n"
"  --path PATH          upgrade path (/ws)\n"
"  --token TOKEN        Cookie: X-Token value (loadgen)\n"
"  --src A[,A...]       bind client sockets to these addresses, round-robin\n"
"  --conns N            connections (echo, hold, fanout) or parallel slots (connect)\n"
"  --duration SECONDS   measured time (10), after --warmup SECONDS (1)\n"
"  --threads N          event loops, connections shared among them (1)\n"
"  --ramp R             open at most R connections per second\n"
" echo:   --window W (1) --size BYTES (64, at least %d) [--binary]\n"
"         [--rate MSGS_PER_S]   paced sends instead of a closed loop\n"
"         [--skip PREFIX]       ignore messages that start with PREFIX\n"
" hold:   --hold SECONDS        hold time; default until SIGTERM or SIGINT\n"
" fanout: --expect K (1..%d)    broadcasts \"!<ns> <seq> ...\", seq < K, to time;\n"
"         DONE on stderr once every connection got all K; --hold as hold\n",
	    LG_NAME, LG_MIN_SIZE, LG_MAX_EXPECT);
	exit(status);
}

static double
lg_number(const char *name, const char *s, double min, double max)
{
	char	*end;
	double	 v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= min) ||
	    !(v <= max))
		lg_fatalx("--%s: \"%s\" is not a number from %g to %g", name,
		    s, min, max);
	return (v);
}

/* Resolve --host and --port, and parse --src into lg_src. */
static void
lg_addresses(const char *src)
{
	struct addrinfo	 hints, *res;
	char		 port[16], *list, *p, *tok;
	int		 e;

	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof port, "%d", opt.o_port);
	if ((e = getaddrinfo(opt.o_host, port, &hints, &res)) != 0)
		lg_fatalx("%s: %s", opt.o_host, gai_strerror(e));
	memcpy(&lg_dst, res->ai_addr, res->ai_addrlen);
	lg_dstlen = res->ai_addrlen;
	freeaddrinfo(res);
	if (lg_dst.ss_family == AF_INET6)
		snprintf(lg_hostport, sizeof lg_hostport, "[%s]:%d",
		    opt.o_host, opt.o_port);
	else
		snprintf(lg_hostport, sizeof lg_hostport, "%s:%d", opt.o_host,
		    opt.o_port);

	if (src == NULL)
		return;
	list = strdup(src);
	if (list == NULL)
		lg_fatalx("out of memory");
	for (p = list; (tok = strsep(&p, ",")) != NULL;) {
		struct sockaddr_in	*sin;
		struct sockaddr_in6	*sin6;

		if (*tok == '\0')
			continue;
		if (lg_nsrc == LG_MAX_SRC)
			lg_fatalx("--src: more than %d addresses", LG_MAX_SRC);
		memset(&lg_src[lg_nsrc], 0, sizeof lg_src[lg_nsrc]);
		if (lg_dst.ss_family == AF_INET) {
			sin = (struct sockaddr_in *)&lg_src[lg_nsrc];
			sin->sin_family = AF_INET;
			if (inet_pton(AF_INET, tok, &sin->sin_addr) != 1)
				lg_fatalx("--src: %s is not an IPv4 address",
				    tok);
			lg_srclen = sizeof *sin;
		} else {
			sin6 = (struct sockaddr_in6 *)&lg_src[lg_nsrc];
			sin6->sin6_family = AF_INET6;
			if (inet_pton(AF_INET6, tok, &sin6->sin6_addr) != 1)
				lg_fatalx("--src: %s is not an IPv6 address",
				    tok);
			lg_srclen = sizeof *sin6;
		}
		lg_nsrc++;
	}
	free(list);
	if (lg_nsrc == 0)
		lg_fatalx("--src: no address");
}

/*
 * Raise the descriptor limit to the hard limit and check that the
 * connections fit, leaving LG_FD_RESERVE for everything else.
 */
static void
lg_fdlimit(void)
{
	struct rlimit	rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		lg_fatalx("getrlimit: %s", strerror(errno));
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			lg_fatalx("setrlimit: %s", strerror(errno));
	}
	if (rl.rlim_cur != RLIM_INFINITY &&
	    opt.o_conns + LG_FD_RESERVE + 2 * (size_t)opt.o_threads >
	    rl.rlim_cur)
		lg_fatalx("--conns %zu needs more descriptors than the limit "
		    "of %llu allows (at most %llu); run several processes",
		    opt.o_conns, (unsigned long long)rl.rlim_cur,
		    (unsigned long long)(rl.rlim_cur - LG_FD_RESERVE -
		    2 * (uint64_t)opt.o_threads));
}

/* Filler for payloads: printable ASCII for text, any byte for binary. */
static void
lg_make_pattern(void)
{
	uint64_t	rng = 0x9e3779b97f4a7c15ULL;
	size_t		i, n = opt.o_size + LG_PATTERN_SPAN;

	lg_pattern = lg_xmalloc(n);
	for (i = 0; i < n; i++) {
		if (opt.o_binary)
			lg_pattern[i] = (unsigned char)lg_random(&rng);
		else
			lg_pattern[i] = (unsigned char)(0x20 +
			    lg_random(&rng) % 95);
	}
}

/*
 * fanout: the connections open at the stop, the broadcasts received, the
 * connections that got all --expect of them, and per broadcast the
 * sender's stamp and the first and last receipt (0 when none came).
 */
static void
lg_print_fanout(struct worker *ws, uint64_t open, uint64_t errors)
{
	struct fanstat	 f;
	uint64_t	 frames = 0;
	uint32_t	 k;
	int		 t;

	for (t = 0; t < opt.o_threads; t++)
		frames += ws[t].w_fanframes;
	printf("{\"mode\":\"fanout\",\"conns\":%zu,\"open\":%" PRIu64
	    ",\"expect\":%" PRIu32 ",\"frames\":%" PRIu64 ",\"complete\":%"
	    PRIu64 ",\"errors\":%" PRIu64 ",\"broadcasts\":[", opt.o_conns,
	    open, opt.o_expect, frames, (uint64_t)atomic_load(&lg_fan_done),
	    errors);
	for (k = 0; k < opt.o_expect; k++) {
		memset(&f, 0, sizeof f);
		for (t = 0; t < opt.o_threads; t++) {
			const struct fanstat	*g = &ws[t].w_fan[k];

			if (g->f_count == 0)
				continue;
			if (f.f_count == 0 || g->f_first < f.f_first)
				f.f_first = g->f_first;
			if (g->f_last > f.f_last)
				f.f_last = g->f_last;
			f.f_sent = g->f_sent;
			f.f_count += g->f_count;
		}
		printf("%s{\"seq\":%" PRIu32 ",\"received\":%" PRIu64
		    ",\"sent_ns\":%" PRIu64 ",\"first_ns\":%" PRIu64
		    ",\"last_ns\":%" PRIu64 "}", k == 0 ? "" : ",", k,
		    f.f_count, f.f_sent, f.f_first, f.f_last);
	}
	printf("]}\n");
}

static void
lg_print_result(struct worker *ws)
{
	struct hist	*h;
	uint64_t	 errors[ERR__COUNT], total = 0, messages = 0;
	uint64_t	 handshakes = 0, start, tstop, warm, end, open = 0;
	uint64_t	 skipped = 0;
	double		 seconds;
	int		 i, t, first = 1;

	h = lg_xcalloc(1, sizeof *h);
	memset(errors, 0, sizeof errors);
	for (t = 0; t < opt.o_threads; t++) {
		for (i = 0; i < ERR__COUNT; i++)
			errors[i] += ws[t].w_errors[i];
		messages += ws[t].w_messages;
		handshakes += ws[t].w_handshakes;
		open += ws[t].w_open_at_stop;
		hist_merge(h, &ws[t].w_hist);
	}
	for (i = 0; i < ERR__COUNT; i++)
		total += errors[i];

	start = atomic_load(&lg_start);
	tstop = atomic_load(&lg_tstop);
	warm = start + (uint64_t)(opt.o_warmup * NS_PER_S);
	end = warm + (uint64_t)(opt.o_duration * NS_PER_S);
	if (tstop != 0 && tstop < end)
		end = tstop;
	seconds = start != 0 && end > warm ? (double)(end - warm) / NS_PER_S :
	    0;

	switch (opt.o_mode) {
	case MODE_ECHO:
		printf("{\"mode\":\"echo\",\"conns\":%zu,\"window\":%" PRIu32
		    ",\"size\":%zu,\"binary\":%s,\"seconds\":%.3f,"
		    "\"messages\":%" PRIu64 ",\"rate\":%.1f,",
		    opt.o_conns, opt.o_window, opt.o_size,
		    opt.o_binary ? "true" : "false", seconds, messages,
		    seconds > 0 ? (double)messages / seconds : 0.0);
		if (opt.o_rate > 0)
			printf("\"target_rate\":%.1f,", opt.o_rate);
		if (opt.o_skip != NULL) {
			for (t = 0; t < opt.o_threads; t++)
				skipped += ws[t].w_skipped;
			printf("\"skipped\":%" PRIu64 ",", skipped);
		}
		printf("\"p50_us\":%" PRIu64 ",\"p99_us\":%" PRIu64
		    ",\"max_us\":%" PRIu64 ",\"errors\":%" PRIu64 "}\n",
		    hist_percentile(h, 50), hist_percentile(h, 99), h->h_max,
		    total);
		break;
	case MODE_CONNECT:
		printf("{\"mode\":\"connect\",\"conns\":%zu,\"seconds\":%.3f,"
		    "\"handshakes\":%" PRIu64 ",\"rate\":%.1f,\"p50_us\":%"
		    PRIu64 ",\"p99_us\":%" PRIu64 ",\"max_us\":%" PRIu64
		    ",\"errors\":%" PRIu64 "}\n", opt.o_conns, seconds,
		    handshakes, seconds > 0 ? (double)handshakes / seconds :
		    0.0, hist_percentile(h, 50), hist_percentile(h, 99),
		    h->h_max, total);
		break;
	case MODE_HOLD:
		if (!atomic_exchange(&lg_printed, 1))
			printf("{\"mode\":\"hold\",\"open\":%" PRIu64
			    ",\"errors\":%" PRIu64 "}\n", open, total);
		break;
	case MODE_FANOUT:
		lg_print_fanout(ws, open, total);
		break;
	}
	fflush(stdout);
	if (total > 0) {
		fprintf(stderr, "%s: %" PRIu64 " errors:", LG_NAME, total);
		for (i = 0; i < ERR__COUNT; i++) {
			if (errors[i] == 0)
				continue;
			fprintf(stderr, "%s %s %" PRIu64, first ? "" : ",",
			    lg_err_names[i], errors[i]);
			first = 0;
		}
		fputc('\n', stderr);
	}
	free(h);
	exit(total == 0 ? 0 : 1);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'p' },
		{ "path", required_argument, NULL, 'P' },
		{ "token", required_argument, NULL, 'k' },
		{ "src", required_argument, NULL, 's' },
		{ "conns", required_argument, NULL, 'c' },
		{ "window", required_argument, NULL, 'w' },
		{ "size", required_argument, NULL, 'S' },
		{ "binary", no_argument, NULL, 'b' },
		{ "rate", required_argument, NULL, 'r' },
		{ "ramp", required_argument, NULL, 'R' },
		{ "hold", required_argument, NULL, 'o' },
		{ "duration", required_argument, NULL, 'd' },
		{ "warmup", required_argument, NULL, 'W' },
		{ "threads", required_argument, NULL, 't' },
		{ "expect", required_argument, NULL, 'e' },
		{ "skip", required_argument, NULL, 'K' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct sigaction	 sa;
	struct worker		*ws, *w;
	const char		*src = NULL;
	size_t			 i, n;
	int			 ch, t;

	clock_gettime(CLOCK_MONOTONIC, &lg_epoch);
	lg_epoch_ns = (uint64_t)lg_epoch.tv_sec * NS_PER_S +
	    (uint64_t)lg_epoch.tv_nsec;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'm':
			if (strcmp(optarg, "echo") == 0)
				opt.o_mode = MODE_ECHO;
			else if (strcmp(optarg, "connect") == 0)
				opt.o_mode = MODE_CONNECT;
			else if (strcmp(optarg, "hold") == 0)
				opt.o_mode = MODE_HOLD;
			else if (strcmp(optarg, "fanout") == 0)
				opt.o_mode = MODE_FANOUT;
			else
				lg_fatalx("--mode: unknown mode \"%s\"", optarg);
			break;
		case 'H':
			opt.o_host = optarg;
			break;
		case 'p':
			opt.o_port = (int)lg_number("port", optarg, 1, 65535);
			break;
		case 'P':
			opt.o_path = optarg;
			break;
		case 'k':
			opt.o_token = optarg;
			break;
		case 's':
			src = optarg;
			break;
		case 'c':
			opt.o_conns = (size_t)lg_number("conns", optarg, 1,
			    LG_MAX_CONNS);
			break;
		case 'w':
			opt.o_window = (uint32_t)lg_number("window", optarg, 1,
			    LG_MAX_WINDOW);
			break;
		case 'S':
			opt.o_size = (size_t)lg_number("size", optarg,
			    LG_MIN_SIZE, LG_MAX_SIZE);
			break;
		case 'b':
			opt.o_binary = 1;
			break;
		case 'r':
			opt.o_rate = lg_number("rate", optarg, 1, 1e9);
			break;
		case 'R':
			opt.o_ramp = lg_number("ramp", optarg, 1, 1e9);
			break;
		case 'o':
			opt.o_hold = lg_number("hold", optarg, 0, 1e9);
			break;
		case 'd':
			opt.o_duration = lg_number("duration", optarg, 0.001,
			    1e7);
			break;
		case 'W':
			opt.o_warmup = lg_number("warmup", optarg, 0, 1e7);
			break;
		case 't':
			opt.o_threads = (int)lg_number("threads", optarg, 1,
			    LG_MAX_THREADS);
			break;
		case 'e':
			opt.o_expect = (uint32_t)lg_number("expect", optarg, 1,
			    LG_MAX_EXPECT);
			break;
		case 'K':
			if (*optarg == '\0')
				lg_fatalx("--skip: empty prefix");
			opt.o_skip = optarg;
			break;
		case 'h':
			lg_usage(0);
		default:
			lg_usage(1);
		}
	}
	if (optind != argc)
		lg_usage(1);
	if (opt.o_path[0] != '/' || strlen(opt.o_path) > LG_MAX_PATH ||
	    strpbrk(opt.o_path, " \t\r\n") != NULL)
		lg_fatalx("--path: must start with / and hold no blanks");
	if (strlen(opt.o_token) > LG_MAX_PATH ||
	    strpbrk(opt.o_token, " \t\r\n;") != NULL)
		lg_fatalx("--token: too long or holds blanks or ';'");
	if (strlen(opt.o_host) > LG_MAX_PATH)
		lg_fatalx("--host: too long");
	if ((size_t)opt.o_threads > opt.o_conns)
		opt.o_threads = (int)opt.o_conns;
	if (opt.o_mode != MODE_ECHO)
		opt.o_size = LG_MIN_SIZE;
	if (opt.o_mode == MODE_CONNECT)
		opt.o_warmup = opt.o_warmup > 0 ? opt.o_warmup : 0;

	lg_addresses(src);
	lg_fdlimit();
	lg_make_pattern();
	if (opt.o_mode == MODE_ECHO) {
		n = opt.o_window < 64 ? opt.o_window : 64;
		lg_in_open = 2 * (opt.o_size + LG_FRAME_HDR);
		if (lg_in_open < LG_IN_MIN)
			lg_in_open = LG_IN_MIN;
		lg_out_open = n * (opt.o_size + LG_FRAME_HDR);
		if (lg_out_open < LG_OUT_MIN)
			lg_out_open = LG_OUT_MIN;
		lg_out_open += LG_FRAME_HDR + opt.o_size + LG_CTL_ROOM;
	} else {
		lg_in_open = opt.o_mode == MODE_FANOUT ? LG_FANOUT_BUF :
		    LG_IDLE_BUF;
		lg_out_open = LG_CTL_ROOM;
	}

	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = lg_signal_cb;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	/* Connection i belongs to thread i % threads. */
	ws = lg_xcalloc((size_t)opt.o_threads, sizeof *ws);
	for (t = 0; t < opt.o_threads; t++) {
		w = &ws[t];
		w->w_idx = t;
		w->w_tfd = -1;
		w->w_rng = ((uint64_t)getpid() << 32 ^ (uint64_t)time(NULL) ^
		    (uint64_t)(t + 1) * 0x9e3779b97f4a7c15ULL) | 1;
		w->w_nconns = (opt.o_conns - (size_t)t +
		    (size_t)opt.o_threads - 1) / (size_t)opt.o_threads;
		w->w_conns = lg_xcalloc(w->w_nconns, sizeof *w->w_conns);
		for (i = 0; i < w->w_nconns; i++) {
			w->w_conns[i].c_w = w;
			w->w_conns[i].c_fd = -1;
			w->w_conns[i].c_id = (uint32_t)(i *
			    (size_t)opt.o_threads + (size_t)t);
			w->w_conns[i].c_state = CONN_DEAD;
			if (opt.o_mode == MODE_CONNECT)
				conn_set_state(&w->w_conns[i], CONN_IDLE);
		}
		w->w_rate = opt.o_rate * (double)w->w_nconns /
		    (double)opt.o_conns;
		w->w_ramp = opt.o_ramp * (double)w->w_nconns /
		    (double)opt.o_conns;
	}
	for (t = 1; t < opt.o_threads; t++) {
		if ((errno = pthread_create(&ws[t].w_thread, NULL,
		    worker_main, &ws[t])) != 0)
			lg_fatalx("pthread_create: %s", strerror(errno));
	}
	worker_main(&ws[0]);
	for (t = 1; t < opt.o_threads; t++)
		pthread_join(ws[t].w_thread, NULL);
	lg_print_result(ws);
}
