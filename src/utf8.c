/*
 * Strict UTF-8 validation (RFC 3629): no overlong forms, no surrogates,
 * nothing above U+10FFFF.
 */
#include "config.h"

#include "wsgated.h"

int
utf8_valid(const void *data, size_t len)
{
	const unsigned char	*p = data, *end = p + len;
	unsigned char		 c;
	size_t			 n, i;

	while (p < end) {
		p += jstr_ascii_len(p, (size_t)(end - p));
		if (p == end)
			break;
		c = *p;
		if (c < 0x80) {
			p++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			n = 1;
		else if (c >= 0xe0 && c <= 0xef)
			n = 2;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 3;
		else
			return (0);
		if ((size_t)(end - p) <= n)
			return (0);
		for (i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return (0);
		}
		/* The second byte's range rules out overlongs and surrogates. */
		if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] > 0x9f) ||
		    (c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] > 0x8f))
			return (0);
		p += n + 1;
	}
	return (1);
}
