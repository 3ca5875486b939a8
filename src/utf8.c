/*
 * Strict UTF-8 validation (RFC 3629): no overlong forms, no surrogates,
 * nothing above U+10FFFF. A text that arrives in pieces is checked a piece
 * at a time, so that it fails at the first byte that cannot be valid
 * (RFC 6455 8.1), wherever the pieces split its characters.
 */
#include "config.h"

#include "wsgated.h"

/*
 * The state between pieces: the bytes a character still needs (low byte)
 * and the range its next byte must fall in (the next two bytes). The
 * range of a second byte is what rules out overlongs and surrogates.
 */
#define UTF8_STATE(need, lo, hi)	((need) | (lo) << 8 | (hi) << 16)

/*
 * Check the next len bytes of a text. *state is 0 before the first piece;
 * return 0 while the text may still be valid, -1 once it cannot be. A
 * text is valid if every piece returned 0 and *state is 0 after the last.
 */
int
utf8_check(uint32_t *state, const void *data, size_t len)
{
	const unsigned char	*p = data, *end = p + len;
	unsigned int		 need = *state & 0xff;
	unsigned int		 lo = (*state >> 8) & 0xff, hi = *state >> 16;
	unsigned char		 c;

	while (p < end) {
		if (need == 0) {
			p += jstr_ascii_len(p, (size_t)(end - p));
			if (p == end)
				break;
			c = *p++;
			lo = 0x80;
			hi = 0xbf;
			if (c >= 0xc2 && c <= 0xdf)
				need = 1;
			else if (c >= 0xe0 && c <= 0xef) {
				need = 2;
				if (c == 0xe0)
					lo = 0xa0;
				else if (c == 0xed)
					hi = 0x9f;
			} else if (c >= 0xf0 && c <= 0xf4) {
				need = 3;
				if (c == 0xf0)
					lo = 0x90;
				else if (c == 0xf4)
					hi = 0x8f;
			} else
				return (-1);
			continue;
		}
		c = *p++;
		if (c < lo || c > hi)
			return (-1);
		lo = 0x80;
		hi = 0xbf;
		need--;
	}
	*state = need == 0 ? 0 : UTF8_STATE(need, lo, hi);
	return (0);
}

int
utf8_valid(const void *data, size_t len)
{
	uint32_t	 state = 0;

	return (utf8_check(&state, data, len) == 0 && state == 0);
}
