/*
 * The backend wire format. Length-prefixed: a 4-byte unsigned big-endian
 * length, then that many bytes of JSON. ndjson: one JSON object per line.
 * The decoder is fed whatever the socket delivered and returns frames one
 * by one; a returned frame stays valid until the next call.
 */
#include "config.h"

#include <string.h>

#include "wsgated.h"

#define FRAME_PREFIX	4
/* Bytes frame_dump offers jansson first: most events and headers fit. */
#define FRAME_DUMP_GUESS	512


/*
 * Append obj as compact JSON: 0, or -1 if it cannot be encoded. jansson
 * writes into the buffer's free space, a guess of the size first and the
 * exact size if the guess was short: most objects take one pass, and no
 * call per token, which is what a callback costs.
 */
int
frame_dump(struct buf *out, const json_t *obj)
{
	size_t	 room = FRAME_DUMP_GUESS, n;

	for (;;) {
		n = json_dumpb(obj, buf_reserve(out, room), room,
		    JSON_COMPACT);
		if (n == 0)
			return (-1);
		if (n <= room) {
			buf_commit(out, n);
			return (0);
		}
		room = n;
	}
}

/* Append obj, compact JSON, as one frame. Return 0, or -1 if unencodable. */
int
frame_encode(enum framing framing, const json_t *obj, struct buf *out)
{
	unsigned char	*p;
	size_t		 start = buf_used(out), n;

	if (framing == FRAMING_LENGTH_PREFIXED)
		buf_add(out, "\0\0\0\0", FRAME_PREFIX);
	if (frame_dump(out, obj) == -1) {
		out->b_len = out->b_off + start;
		return (-1);
	}
	if (framing == FRAMING_NDJSON) {
		/* Compact JSON never holds a raw newline. */
		buf_add(out, "\n", 1);
		return (0);
	}
	n = buf_used(out) - start - FRAME_PREFIX;
	if (n > UINT32_MAX) {
		out->b_len = out->b_off + start;
		return (-1);
	}
	p = (unsigned char *)buf_data(out) + start;
	p[0] = (unsigned char)(n >> 24);
	p[1] = (unsigned char)(n >> 16);
	p[2] = (unsigned char)(n >> 8);
	p[3] = (unsigned char)n;
	return (0);
}

/*
 * Append text (valid UTF-8) as a JSON string, quotes included, exactly as
 * jansson writes it with JSON_COMPACT: quote, backslash and control
 * characters escaped, \u00XX in upper case where there is no short form,
 * everything else as it is. fuzz_frame holds it to jansson's output.
 */
void
frame_json_string(struct buf *out, const char *text, size_t len)
{
	static const char	 hex[] = "0123456789ABCDEF";
	const char		*p = text, *end = text + len;
	char			 esc[6];
	size_t			 n;
	unsigned char		 c;

	buf_add(out, "\"", 1);
	while (p < end) {
		n = jstr_plain_len(p, (size_t)(end - p));
		buf_add(out, p, n);
		if ((p += n) == end)
			break;
		c = (unsigned char)*p++;
		esc[0] = '\\';
		n = 2;
		switch (c) {
		case '"':  esc[1] = '"';  break;
		case '\\': esc[1] = '\\'; break;
		case '\b': esc[1] = 'b';  break;
		case '\f': esc[1] = 'f';  break;
		case '\n': esc[1] = 'n';  break;
		case '\r': esc[1] = 'r';  break;
		case '\t': esc[1] = 't';  break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 0xf];
			n = 6;
			break;
		}
		buf_add(out, esc, n);
	}
	buf_add(out, "\"", 1);
}

/*
 * Append a message event as one frame: head is the event as jansson wrote
 * it up to and including "data": (see ws.c), data the client's message,
 * base64-encoded when binary.
 */
/*
 * Bytes of a message event around its context and data: the framing, the
 * event's names and punctuation, a socket id, and "binary":true.
 */
#define FRAME_EVENT_ENVELOPE	128
/* {"socketId":"...","createdAt":...}: 22 characters and 20 digits. */
#define FRAME_CONTEXT_FIXED	80

/*
 * The largest event frame the gateway can send with configuration c
 * (wsgate-protocol(7), Frame sizes): a message event of
 * limits.max_message_bytes of control characters, each written \u00XX
 * (six bytes; a binary message's base64 takes four for three), with the
 * largest context its fields allow. A string field takes at most six
 * bytes for each of its max_length; a claim of any other type at most
 * the token; an auth hook's answer at most backend.max_frame_bytes.
 */
size_t
frame_max_event(const struct cfg *c)
{
	const struct ctx_field	*f;
	size_t			 ctx = FRAME_CONTEXT_FIXED, v, i;

	for (i = 0; i < c->c_nfields; i++) {
		f = &c->c_fields[i];
		v = 2 + 6 * f->f_max_length;
		if (f->f_source == CTX_SOURCE_JWT &&
		    v < c->c_jwt.j_max_token_bytes)
			v = c->c_jwt.j_max_token_bytes;
		ctx += strlen(f->f_name) + 4 + v;
	}
	if (c->c_auth.a_socket != NULL)
		ctx += c->c_max_frame_bytes;
	return (FRAME_EVENT_ENVELOPE + ctx + 6 * c->c_max_message_bytes);
}

void
frame_message(enum framing framing, struct buf *out, const char *head,
    size_t headlen, const void *data, size_t len, int binary)
{
	static const char	 bin_tail[] = ",\"binary\":true}";
	size_t			 start = buf_used(out), n, b64len;
	unsigned char		*p;

	if (framing == FRAMING_LENGTH_PREFIXED)
		buf_add(out, "\0\0\0\0", FRAME_PREFIX);
	buf_add(out, head, headlen);
	if (binary) {
		b64len = b64_encoded_len(len);
		p = buf_reserve(out, b64len + 2);
		p[0] = '"';
		b64_encode(data, len, (char *)p + 1);
		p[b64len + 1] = '"';
		buf_commit(out, b64len + 2);
		buf_add(out, bin_tail, sizeof bin_tail - 1);
	} else {
		frame_json_string(out, data, len);
		buf_add(out, "}", 1);
	}
	if (framing == FRAMING_NDJSON) {
		buf_add(out, "\n", 1);
		return;
	}
	n = buf_used(out) - start - FRAME_PREFIX;
	p = (unsigned char *)buf_data(out) + start;
	p[0] = (unsigned char)(n >> 24);
	p[1] = (unsigned char)(n >> 16);
	p[2] = (unsigned char)(n >> 8);
	p[3] = (unsigned char)n;
}

void
frame_dec_init(struct frame_dec *d, enum framing framing, size_t max)
{
	memset(d, 0, sizeof *d);
	d->fd_framing = framing;
	d->fd_max = max;
	buf_init(&d->fd_in);
}

void
frame_dec_free(struct frame_dec *d)
{
	buf_free(&d->fd_in);
}

void
frame_dec_feed(struct frame_dec *d, const void *data, size_t len)
{
	if (d->fd_pending != 0) {
		buf_drain(&d->fd_in, d->fd_pending);
		d->fd_pending = 0;
	}
	buf_add(&d->fd_in, data, len);
}

static enum frame_result
frame_next_prefixed(struct frame_dec *d, const char **frame, size_t *len)
{
	const unsigned char	*p = buf_data(&d->fd_in);
	size_t			 used = buf_used(&d->fd_in), n;

	if (used < FRAME_PREFIX)
		return (FRAME_MORE);
	n = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
	if (n > d->fd_max)
		return (FRAME_TOO_BIG);
	if (used - FRAME_PREFIX < n)
		return (FRAME_MORE);
	*frame = (const char *)p + FRAME_PREFIX;
	*len = n;
	d->fd_pending = FRAME_PREFIX + n;
	return (FRAME_OK);
}

static enum frame_result
frame_next_ndjson(struct frame_dec *d, const char **frame, size_t *len)
{
	const unsigned char	*p, *nl;
	size_t			 used, n;

	for (;;) {
		p = buf_data(&d->fd_in);
		used = buf_used(&d->fd_in);
		nl = used > d->fd_scan ?
		    memchr(p + d->fd_scan, '\n', used - d->fd_scan) : NULL;
		if (nl == NULL) {
			if (d->fd_skipping) {
				buf_drain(&d->fd_in, used);
				d->fd_scan = 0;
				return (FRAME_MORE);
			}
			if (used > d->fd_max + 1) {
				/*
				 * Too long already, even if its last byte is
				 * the \r of a CRLF: drop up to its newline.
				 */
				buf_drain(&d->fd_in, used);
				d->fd_scan = 0;
				d->fd_skipping = 1;
				return (FRAME_SKIPPED);
			}
			d->fd_scan = used;
			return (FRAME_MORE);
		}
		n = (size_t)(nl - p);
		d->fd_scan = 0;
		if (d->fd_skipping) {
			d->fd_skipping = 0;
			buf_drain(&d->fd_in, n + 1);
			continue;
		}
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n > d->fd_max) {
			buf_drain(&d->fd_in, (size_t)(nl - p) + 1);
			return (FRAME_SKIPPED);
		}
		if (n == 0) {
			buf_drain(&d->fd_in, (size_t)(nl - p) + 1);
			continue;
		}
		*frame = (const char *)p;
		*len = n;
		d->fd_pending = (size_t)(nl - p) + 1;
		return (FRAME_OK);
	}
}

/*
 * Return the next complete frame in *frame and *len (FRAME_OK), or say
 * why there is none.
 */
enum frame_result
frame_dec_next(struct frame_dec *d, const char **frame, size_t *len)
{
	if (d->fd_pending != 0) {
		buf_drain(&d->fd_in, d->fd_pending);
		d->fd_pending = 0;
	}
	if (d->fd_framing == FRAMING_LENGTH_PREFIXED)
		return (frame_next_prefixed(d, frame, len));
	return (frame_next_ndjson(d, frame, len));
}
