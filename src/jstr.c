/*
 * JSON string contents, read and written exactly as jansson does, for the
 * hot paths where a per-byte jansson lexer costs more than everything
 * else a message does (about 8 ns a byte). jansson stays the authority:
 * these helpers only take the plain, common cases and say when they
 * cannot, and the fuzz target fuzz_cmd checks them against jansson.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "wsgated.h"

#define JSTR_ONES	0x0101010101010101ULL
#define JSTR_HIGHS	0x8080808080808080ULL

/* Non-zero if some byte of v is below n (n <= 128). */
#define JSTR_HAS_LESS(v, n)	(((v) - JSTR_ONES * (n)) & ~(v) & JSTR_HIGHS)
/* Non-zero if some byte of v equals c. */
#define JSTR_HAS_BYTE(v, c)	JSTR_HAS_LESS((v) ^ (JSTR_ONES * (c)), 1)

/*
 * Length of the longest prefix of p that a JSON string holds as it is: no
 * control character, quote or backslash. Bytes from 0x80 are plain (the
 * caller validates UTF-8). Eight bytes a step while none is special.
 */
size_t
jstr_plain_len(const void *data, size_t len)
{
	const unsigned char	*p = data;
	uint64_t		 v;
	size_t			 i = 0;

	for (; i + 8 <= len; i += 8) {
		memcpy(&v, p + i, 8);
		if (JSTR_HAS_LESS(v, 0x20) | JSTR_HAS_BYTE(v, '"') |
		    JSTR_HAS_BYTE(v, '\\'))
			break;
	}
	for (; i < len; i++) {
		if (p[i] < 0x20 || p[i] == '"' || p[i] == '\\')
			break;
	}
	return (i);
}

/*
 * Length of the longest prefix of ASCII bytes, eight at a time: what a
 * UTF-8 validator may skip.
 */
size_t
jstr_ascii_len(const void *data, size_t len)
{
	const unsigned char	*p = data;
	uint64_t		 v;
	size_t			 i = 0;

	for (; i + 8 <= len; i += 8) {
		memcpy(&v, p + i, 8);
		if (v & JSTR_HIGHS)
			break;
	}
	while (i < len && p[i] < 0x80)
		i++;
	return (i);
}

static int
jstr_hex4(const char *p, unsigned int *out)
{
	unsigned int	v = 0;
	int		i;
	char		c;

	for (i = 0; i < 4; i++) {
		c = p[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned int)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned int)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned int)(c - 'A' + 10);
		else
			return (-1);
	}
	*out = v;
	return (0);
}

static size_t
jstr_put_utf8(unsigned int cp, char *o)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return (1);
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return (2);
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return (3);
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return (4);
}

/*
 * Undo the escapes of a JSON string's contents (len bytes, quotes
 * excluded, already known to hold no raw quote or control character and
 * to be valid UTF-8) into out, which has room for len bytes: an escape
 * never decodes to more bytes than it takes. \u0000 gives a NUL, as
 * jansson's JSON_ALLOW_NUL does. Return the decoded length, or -1 for
 * anything jansson would refuse (an unknown escape, bad hex, a lone
 * surrogate).
 */
ssize_t
jstr_unescape(const char *in, size_t len, char *out)
{
	const char	*p = in, *end = in + len;
	char		*o = out;
	unsigned int	 cp, lo;
	size_t		 n;

	while (p < end) {
		n = jstr_plain_len(p, (size_t)(end - p));
		memmove(o, p, n);
		o += n;
		p += n;
		if (p == end)
			break;
		if (*p != '\\' || end - p < 2)
			return (-1);
		switch (p[1]) {
		case '"':  *o++ = '"';  break;
		case '\\': *o++ = '\\'; break;
		case '/':  *o++ = '/';  break;
		case 'b':  *o++ = '\b'; break;
		case 'f':  *o++ = '\f'; break;
		case 'n':  *o++ = '\n'; break;
		case 'r':  *o++ = '\r'; break;
		case 't':  *o++ = '\t'; break;
		case 'u':
			if (end - p < 6 || jstr_hex4(p + 2, &cp) == -1)
				return (-1);
			if (cp >= 0xdc00 && cp <= 0xdfff)
				return (-1);
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (end - p < 12 || p[6] != '\\' ||
				    p[7] != 'u' || jstr_hex4(p + 8, &lo) == -1 ||
				    lo < 0xdc00 || lo > 0xdfff)
					return (-1);
				cp = 0x10000 + ((cp - 0xd800) << 10) +
				    (lo - 0xdc00);
				p += 6;
			}
			o += jstr_put_utf8(cp, o);
			p += 6;
			continue;
		default:
			return (-1);
		}
		p += 2;
	}
	return (o - out);
}
