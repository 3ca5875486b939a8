/*
 * A fast reader for the backend's most frequent frame, the send command,
 * written the way backends write it: one flat object of "type",
 * "socketId", "data" and an optional "binary". Anything else, and
 * anything it is not sure of (an unknown or repeated key, another type,
 * an escape in a key, type or socketId, a number, nesting), it declines,
 * and the frame goes to jansson, which remains the authority on the
 * protocol and writes the error messages. fuzz_cmd checks that whatever
 * this accepts, jansson reads the same way.
 */
#include "config.h"

#include <string.h>

#include "wsgated.h"

enum {
	CMD_KEY_TYPE = 1 << 0,
	CMD_KEY_ID = 1 << 1,
	CMD_KEY_DATA = 1 << 2,
	CMD_KEY_BINARY = 1 << 3
};

static const char *
cmd_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' ||
	    *p == '\r'))
		p++;
	return (p);
}

/*
 * Read a string whose opening quote is at p. Return the byte after the
 * closing quote, or NULL to decline; *escaped says whether it holds any
 * escape.
 */
static const char *
cmd_string(const char *p, const char *end, const char **s, size_t *len,
    int *escaped)
{
	const char	*q;

	if (p == end || *p != '"')
		return (NULL);
	q = ++p;
	*escaped = 0;
	for (;;) {
		q += jstr_plain_len(q, (size_t)(end - q));
		if (q == end)
			return (NULL);
		if (*q == '"')
			break;
		if (*q != '\\' || end - q < 2)
			return (NULL);		/* a control character */
		*escaped = 1;
		q += 2;				/* no escape hides a quote */
	}
	*s = p;
	*len = (size_t)(q - p);
	if (!utf8_valid(p, *len))
		return (NULL);
	return (q + 1);
}

static int
cmd_is(const char *s, size_t len, const char *word)
{
	return (len == strlen(word) && memcmp(s, word, len) == 0);
}

/*
 * Read frame as a send command. Return 1 and fill *cs, or 0 to leave the
 * frame to jansson.
 */
int
cmd_scan_send(const char *frame, size_t len, struct cmd_send *cs)
{
	const char	*p = frame, *end = frame + len, *k, *v;
	size_t		 klen, vlen;
	int		 seen = 0, key, esc;

	memset(cs, 0, sizeof *cs);
	p = cmd_ws(p, end);
	if (p == end || *p++ != '{')
		return (0);
	for (;;) {
		p = cmd_ws(p, end);
		if ((p = cmd_string(p, end, &k, &klen, &esc)) == NULL || esc)
			return (0);
		if (cmd_is(k, klen, "type"))
			key = CMD_KEY_TYPE;
		else if (cmd_is(k, klen, "socketId"))
			key = CMD_KEY_ID;
		else if (cmd_is(k, klen, "data"))
			key = CMD_KEY_DATA;
		else if (cmd_is(k, klen, "binary"))
			key = CMD_KEY_BINARY;
		else
			return (0);
		if (seen & key)
			return (0);
		seen |= key;
		p = cmd_ws(p, end);
		if (p == end || *p++ != ':')
			return (0);
		p = cmd_ws(p, end);
		if (key == CMD_KEY_BINARY) {
			if ((size_t)(end - p) >= 4 && memcmp(p, "true", 4) == 0) {
				cs->cs_binary = 1;
				p += 4;
			} else if ((size_t)(end - p) >= 5 &&
			    memcmp(p, "false", 5) == 0)
				p += 5;
			else
				return (0);
		} else {
			if ((p = cmd_string(p, end, &v, &vlen, &esc)) == NULL)
				return (0);
			if (key == CMD_KEY_DATA) {
				cs->cs_data = v;
				cs->cs_datalen = vlen;
				cs->cs_escaped = esc;
			} else if (esc)
				return (0);
			else if (key == CMD_KEY_ID) {
				cs->cs_id = v;
				cs->cs_idlen = vlen;
			} else if (!cmd_is(v, vlen, "send"))
				return (0);
		}
		p = cmd_ws(p, end);
		if (p == end)
			return (0);
		if (*p == '}')
			break;
		if (*p++ != ',')
			return (0);
	}
	if (cmd_ws(p + 1, end) != end)
		return (0);
	return ((seen & (CMD_KEY_TYPE | CMD_KEY_ID | CMD_KEY_DATA)) ==
	    (CMD_KEY_TYPE | CMD_KEY_ID | CMD_KEY_DATA));
}
