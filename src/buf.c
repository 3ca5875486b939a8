/*
 * A growable byte buffer with a read offset: bytes are appended at the end
 * and consumed from the front, and the space is reused once it drains.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wsgated.h"

void
buf_init(struct buf *b)
{
	memset(b, 0, sizeof *b);
}

void
buf_free(struct buf *b)
{
	free(b->b_data);
	buf_init(b);
}

/* Make room for len more bytes and return where they go. */
void *
buf_reserve(struct buf *b, size_t len)
{
	size_t	 used = buf_used(b), cap;

	if (b->b_off > 0 && b->b_cap - b->b_len < len) {
		/* Move the unread bytes down before growing. */
		memmove(b->b_data, b->b_data + b->b_off, used);
		b->b_off = 0;
		b->b_len = used;
	}
	if (b->b_cap - b->b_len < len) {
		if (len > SIZE_MAX / 2 - b->b_len)
			fatalx("buf_reserve: %zu bytes is too large", len);
		cap = b->b_cap ? b->b_cap : 256;
		while (cap - b->b_len < len)
			cap *= 2;
		b->b_data = xreallocarray(b->b_data, 1, cap);
		b->b_cap = cap;
	}
	return (b->b_data + b->b_len);
}

/* Count len bytes written after buf_reserve as used. */
void
buf_commit(struct buf *b, size_t len)
{
	b->b_len += len;
}

void
buf_add(struct buf *b, const void *data, size_t len)
{
	if (len == 0)
		return;
	memcpy(buf_reserve(b, len), data, len);
	buf_commit(b, len);
}

void
buf_drain(struct buf *b, size_t len)
{
	if (len >= buf_used(b)) {
		b->b_off = b->b_len = 0;
		return;
	}
	b->b_off += len;
}

/* Forget the contents, and give back memory a large message left behind. */
void
buf_reset(struct buf *b)
{
	b->b_off = b->b_len = 0;
	if (b->b_cap > 65536)
		buf_free(b);
}
