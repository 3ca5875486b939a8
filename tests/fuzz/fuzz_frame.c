/*
 * libFuzzer target for the backend wire format (frame.c) and the codecs
 * a frame's content goes through (b64.c, utf8.c).
 *
 * Input: byte 0 picks the framing (bit 0) and the decoder's limit (bits
 * 1-3: 64 to 4096 bytes, or 1); byte 1 seeds how the rest, the byte
 * stream from the backend, is cut into reads. The stream is decoded as
 * backend.c does, each frame going to json_loadb with the daemon's flags,
 * and the sequence of results must not depend on the cut: it is compared
 * with the stream fed in one piece and with a simple reference decoder
 * written here from wsgate-protocol(7). Frames that hold JSON are
 * re-encoded with frame_encode and must decode to the same value.
 *
 * The whole input also goes through b64_decode (a success must encode
 * back to the same text), b64_encode (must decode back), and utf8_valid
 * (must agree with the reference check below).
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wsgated.h"

#define FUZZ_MAX_EVENTS		4096

struct fuzz_event {
	enum frame_result	 ev_type;	/* FRAME_OK, _SKIPPED, _TOO_BIG */
	size_t			 ev_len;
	uint64_t		 ev_hash;
};

struct fuzz_events {
	struct fuzz_event	 e_list[FUZZ_MAX_EVENTS];
	size_t			 e_n;
	int			 e_full;
};

static struct fuzz_events	 fuzz_ref, fuzz_chunked, fuzz_whole;

int	LLVMFuzzerInitialize(int *, char ***);
static void	fuzz_json_string(const uint8_t *, size_t);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static uint64_t
fuzz_hash(const void *data, size_t len)
{
	const unsigned char	*p = data;
	uint64_t		 h = 14695981039346656037ULL;
	size_t			 i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 1099511628211ULL;
	}
	return (h);
}

static void
fuzz_event(struct fuzz_events *e, enum frame_result type, const void *frame,
    size_t len)
{
	struct fuzz_event	*ev;

	if (e->e_n == FUZZ_MAX_EVENTS) {
		e->e_full = 1;
		return;
	}
	ev = &e->e_list[e->e_n++];
	ev->ev_type = type;
	ev->ev_len = len;
	ev->ev_hash = type == FRAME_OK ? fuzz_hash(frame, len) : 0;
}

/* The framing as wsgate-protocol(7) describes it, on the whole stream. */
static void
fuzz_reference(enum framing framing, size_t max, const unsigned char *p,
    size_t len, struct fuzz_events *e)
{
	const unsigned char	*nl;
	size_t			 n, line;

	if (framing == FRAMING_LENGTH_PREFIXED) {
		while (len >= 4) {
			n = (size_t)p[0] << 24 | (size_t)p[1] << 16 |
			    (size_t)p[2] << 8 | p[3];
			if (n > max) {
				fuzz_event(e, FRAME_TOO_BIG, NULL, 0);
				return;
			}
			if (len - 4 < n)
				return;
			fuzz_event(e, FRAME_OK, p + 4, n);
			p += 4 + n;
			len -= 4 + n;
		}
		return;
	}
	/*
	 * ndjson: a line loses its \n and one \r before it; empty lines are
	 * ignored, longer ones skipped. An unfinished line is skipped as
	 * soon as it cannot fit any more, even with a final \r.
	 */
	while ((nl = memchr(p, '\n', len)) != NULL) {
		line = (size_t)(nl - p);
		n = line;
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n > max)
			fuzz_event(e, FRAME_SKIPPED, NULL, 0);
		else if (n > 0)
			fuzz_event(e, FRAME_OK, p, n);
		p += line + 1;
		len -= line + 1;
	}
	if (len > max + 1)
		fuzz_event(e, FRAME_SKIPPED, NULL, 0);
}

/* Encode a decoded value again, and decode that. */
static void
fuzz_reencode(enum framing framing, json_t *v)
{
	struct frame_dec	 d;
	struct buf		 out;
	json_error_t		 err;
	json_t			*again;
	const char		*frame;
	size_t			 len;

	buf_init(&out);
	if (frame_encode(framing, v, &out) == -1) {
		/* Only scalars cannot be encoded without JSON_ENCODE_ANY. */
		if (json_is_object(v) || json_is_array(v))
			abort();
		buf_free(&out);
		return;
	}
	frame_dec_init(&d, framing, buf_used(&out));
	frame_dec_feed(&d, buf_data(&out), buf_used(&out));
	if (frame_dec_next(&d, &frame, &len) != FRAME_OK)
		abort();
	if ((again = json_loadb(frame, len, JSON_REJECT_DUPLICATES, &err)) ==
	    NULL) {
		fprintf(stderr, "fuzz_frame: re-encoded frame \"%.*s\": %s\n",
		    (int)len, frame, err.text);
		abort();
	}
	if (!json_equal(v, again))
		abort();
	json_decref(again);
	if (frame_dec_next(&d, &frame, &len) != FRAME_MORE)
		abort();
	frame_dec_free(&d);
	buf_free(&out);
}

/* What backend_handle does with a frame, less the commands. */
static void
fuzz_frame(enum framing framing, const char *frame, size_t len, int deep)
{
	json_error_t	 err;
	json_t		*cmd;
	char		*esc;

	cmd = json_loadb(frame, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
	    &err);
	if (cmd == NULL) {
		esc = log_escape(frame, len, 48);
		free(esc);
		return;
	}
	if (deep)
		fuzz_reencode(framing, cmd);
	json_decref(cmd);
}

/* Drain every result; return -1 after FRAME_TOO_BIG. */
static int
fuzz_drain(struct frame_dec *d, struct fuzz_events *e, int deep)
{
	const char	*frame;
	size_t		 len;

	for (;;) {
		frame = NULL;
		len = (size_t)-1;
		switch (frame_dec_next(d, &frame, &len)) {
		case FRAME_MORE:
			return (0);
		case FRAME_OK:
			if (frame == NULL || len > d->fd_max ||
			    (d->fd_framing == FRAMING_NDJSON && (len == 0 ||
			    memchr(frame, '\n', len) != NULL)))
				abort();
			fuzz_event(e, FRAME_OK, frame, len);
			fuzz_frame(d->fd_framing, frame, len, deep);
			break;
		case FRAME_SKIPPED:
			if (d->fd_framing != FRAMING_NDJSON)
				abort();
			fuzz_event(e, FRAME_SKIPPED, NULL, 0);
			break;
		case FRAME_TOO_BIG:
			if (d->fd_framing != FRAMING_LENGTH_PREFIXED)
				abort();
			fuzz_event(e, FRAME_TOO_BIG, NULL, 0);
			return (-1);
		default:
			abort();
		}
	}
}

static void
fuzz_compare(const char *what, const struct fuzz_events *a,
    const struct fuzz_events *b)
{
	size_t	 i;

	if (a->e_full || b->e_full)
		return;
	for (i = 0; i < a->e_n && i < b->e_n; i++) {
		if (a->e_list[i].ev_type != b->e_list[i].ev_type ||
		    a->e_list[i].ev_len != b->e_list[i].ev_len ||
		    a->e_list[i].ev_hash != b->e_list[i].ev_hash)
			break;
	}
	if (i < a->e_n || i < b->e_n) {
		fprintf(stderr, "fuzz_frame: %s: results differ at #%zu "
		    "(%zu and %zu results)\n", what, i, a->e_n, b->e_n);
		abort();
	}
}

static void
fuzz_frames(const uint8_t *data, size_t size)
{
	static const size_t	 maxes[] = { 64, 128, 256, 512, 1024, 2048,
				     4096, 1 };
	struct frame_dec	 d;
	enum framing		 framing;
	const uint8_t		*p;
	size_t			 max, len, off, n;
	uint32_t		 seed;

	if (size < 2)
		return;
	framing = (data[0] & 1) ? FRAMING_NDJSON : FRAMING_LENGTH_PREFIXED;
	max = maxes[(data[0] >> 1) & 7];
	seed = data[1] * 2654435761U + 1;
	p = data + 2;
	len = size - 2;

	fuzz_ref.e_n = fuzz_chunked.e_n = fuzz_whole.e_n = 0;
	fuzz_ref.e_full = fuzz_chunked.e_full = fuzz_whole.e_full = 0;
	fuzz_reference(framing, max, p, len, &fuzz_ref);

	/* In reads whose sizes come from the seed byte. */
	frame_dec_init(&d, framing, max);
	for (off = 0; off < len; off += n) {
		seed ^= seed << 13;
		seed ^= seed >> 17;
		seed ^= seed << 5;
		switch (seed & 3) {
		case 0:
			n = 1;
			break;
		case 1:
			n = 1 + (seed >> 8) % 8;
			break;
		case 2:
			n = 1 + (seed >> 8) % (max + 8);
			break;
		default:
			n = 1 + (seed >> 8) % 4096;
			break;
		}
		if (n > len - off)
			n = len - off;
		frame_dec_feed(&d, p + off, n);
		if (fuzz_drain(&d, &fuzz_chunked, 1) == -1)
			break;
	}
	frame_dec_free(&d);

	/* In one read, as a reconnected link may get it. */
	frame_dec_init(&d, framing, max);
	frame_dec_feed(&d, p, len);
	fuzz_drain(&d, &fuzz_whole, 0);
	frame_dec_free(&d);

	fuzz_compare("reference and one read", &fuzz_ref, &fuzz_whole);
	fuzz_compare("reference and several reads", &fuzz_ref, &fuzz_chunked);
}

/* A plain UTF-8 check (RFC 3629 section 4), by decoding code points. */
static int
fuzz_utf8_ref(const uint8_t *p, size_t len)
{
	size_t		 i = 0, n, k;
	uint32_t	 cp, min;

	while (i < len) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if ((p[i] & 0xe0) == 0xc0) {
			n = 2;
			cp = p[i] & 0x1f;
			min = 0x80;
		} else if ((p[i] & 0xf0) == 0xe0) {
			n = 3;
			cp = p[i] & 0x0f;
			min = 0x800;
		} else if ((p[i] & 0xf8) == 0xf0) {
			n = 4;
			cp = p[i] & 0x07;
			min = 0x10000;
		} else
			return (0);
		if (len - i < n)
			return (0);
		for (k = 1; k < n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return (0);
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return (0);
		i += n;
	}
	return (1);
}

static void
fuzz_codecs(const uint8_t *data, size_t size)
{
	char		*text;
	uint8_t		*bin;
	ssize_t		 n;
	size_t		 tlen;
	int		 a, b;

	/* Text to bytes and back: only canonical base64 decodes. */
	bin = malloc(size / 4 * 3 + 1);
	n = b64_decode((const char *)data, size, bin);
	if (n != -1) {
		if (n < 0 || (size_t)n > size / 4 * 3)
			abort();
		tlen = b64_encoded_len((size_t)n);
		text = malloc(tlen + 1);
		b64_encode(bin, (size_t)n, text);
		if (tlen != size || memcmp(text, data, size) != 0) {
			fprintf(stderr, "fuzz_frame: base64 \"%.*s\" decodes "
			    "but encodes as \"%.*s\"\n", (int)size, data,
			    (int)tlen, text);
			abort();
		}
		free(text);
	}
	free(bin);

	/* Bytes to text and back. */
	tlen = b64_encoded_len(size);
	text = malloc(tlen + 1);
	b64_encode(data, size, text);
	bin = malloc(tlen / 4 * 3 + 1);
	n = b64_decode(text, tlen, bin);
	if (n < 0 || (size_t)n != size || memcmp(bin, data, size) != 0) {
		fprintf(stderr, "fuzz_frame: b64_encode does not decode back\n");
		abort();
	}
	free(bin);
	free(text);

	a = utf8_valid(data, size);
	b = fuzz_utf8_ref(data, size);
	if (a != b) {
		fprintf(stderr, "fuzz_frame: utf8_valid says %d, reference %d\n",
		    a, b);
		abort();
	}
	if (a)
		fuzz_json_string(data, size);
}

/*
 * frame_json_string, which copies text that needs no escape, must write
 * exactly what jansson writes for the same text.
 */
static void
fuzz_json_string(const uint8_t *data, size_t size)
{
	struct buf	 b;
	json_t		*j;
	char		*want;

	if ((j = json_stringn((const char *)data, size)) == NULL)
		return;
	want = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(j);
	buf_init(&b);
	frame_json_string(&b, (const char *)data, size);
	if (want == NULL || buf_used(&b) != strlen(want) ||
	    memcmp(buf_data(&b), want, buf_used(&b)) != 0) {
		fprintf(stderr, "fuzz_frame: frame_json_string differs from "
		    "jansson\n");
		abort();
	}
	free(want);
	buf_free(&b);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_init(1, LOG_LEVEL_ERROR);
	return (0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_frames(data, size);
	fuzz_codecs(data, size);
	return (0);
}
