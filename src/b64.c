/*
 * Standard base64 (RFC 4648 section 4) for binary messages in JSON, and
 * the symbol values of both alphabets for the parsers that need them.
 * Decoding is strict: padding is required and nothing else is skipped.
 */
#include "config.h"

#include "wsgated.h"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t
b64_encoded_len(size_t len)
{
	return ((len + 2) / 3 * 4);
}

/* Encode len bytes into out, which has room for b64_encoded_len(len). */
void
b64_encode(const void *data, size_t len, char *out)
{
	const unsigned char	*p = data;
	uint32_t		 v;
	size_t			 i;

	for (i = 0; i + 2 < len; i += 3) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		*out++ = b64_alphabet[v >> 18];
		*out++ = b64_alphabet[v >> 12 & 63];
		*out++ = b64_alphabet[v >> 6 & 63];
		*out++ = b64_alphabet[v & 63];
	}
	if (i < len) {
		v = (uint32_t)p[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)p[i + 1] << 8;
		*out++ = b64_alphabet[v >> 18];
		*out++ = b64_alphabet[v >> 12 & 63];
		*out++ = i + 1 < len ? b64_alphabet[v >> 6 & 63] : '=';
		*out++ = '=';
	}
}

/*
 * The value of one base64 symbol, from the standard alphabet (RFC 4648 4)
 * or, with url, the URL-safe one (section 5); -1 for anything else.
 */
int
b64_value(unsigned char c, int url)
{
	if (c >= 'A' && c <= 'Z')
		return (c - 'A');
	if (c >= 'a' && c <= 'z')
		return (c - 'a' + 26);
	if (c >= '0' && c <= '9')
		return (c - '0' + 52);
	if (c == (url ? '-' : '+'))
		return (62);
	if (c == (url ? '_' : '/'))
		return (63);
	return (-1);
}

/*
 * Decode len characters into out, which has room for len / 4 * 3 bytes.
 * Return the decoded length, or -1 if the input is not canonical base64.
 */
ssize_t
b64_decode(const char *s, size_t len, void *out)
{
	unsigned char	*o = out;
	int		 v[4];
	size_t		 i, j, pad = 0;

	if (len % 4 != 0)
		return (-1);
	if (len > 0 && s[len - 1] == '=')
		pad = (len > 1 && s[len - 2] == '=') ? 2 : 1;
	for (i = 0; i < len; i += 4) {
		for (j = 0; j < 4; j++) {
			if (i + j >= len - pad) {
				v[j] = 0;
				continue;
			}
			if ((v[j] = b64_value((unsigned char)s[i + j], 0)) == -1)
				return (-1);
		}
		*o++ = (unsigned char)(v[0] << 2 | v[1] >> 4);
		if (i + 4 < len || pad < 2)
			*o++ = (unsigned char)(v[1] << 4 | v[2] >> 2);
		if (i + 4 < len || pad < 1)
			*o++ = (unsigned char)(v[2] << 6 | v[3]);
	}
	/* Bits that padding hides must be zero, so each input has one form. */
	if ((pad == 1 && (v[2] & 3)) || (pad == 2 && (v[1] & 15)))
		return (-1);
	return ((ssize_t)(o - (unsigned char *)out));
}
