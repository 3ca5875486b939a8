/*
 * A small, strict HTTP/1.1 request-head parser (RFC 9112) and the checks
 * of a WebSocket upgrade (RFC 6455 4.2.1). It works in place on the head
 * bytes and allocates nothing but decoded query values. Everything it
 * accepts, the head handed to libwebsockets is rebuilt from, so it is
 * deliberately stricter than libwebsockets' own parser.
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "wsgated.h"

/* tchar (RFC 9110 5.6.2). */
static int
http_is_tchar(unsigned char c)
{
	return (isalnum(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c)));
}

/*
 * Return the length of the head (through the blank line) if the first len
 * bytes hold one, else -1. from says where the previous call stopped.
 */
ssize_t
http_head_end(const char *p, size_t len, size_t from)
{
	size_t	 i = from > 3 ? from - 3 : 0;

	for (; i + 3 < len; i++) {
		if (p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' &&
		    p[i + 3] == '\n')
			return ((ssize_t)(i + 4));
	}
	return (-1);
}

/* Find the end of the line starting at p; NULL if a bare CR or LF is met. */
static const char *
http_line_end(const char *p, const char *end)
{
	for (; p + 1 < end; p++) {
		if (*p == '\r')
			return (p[1] == '\n' ? p : NULL);
		if (*p == '\n')
			return (NULL);
	}
	return (NULL);
}

static int
http_parse_request_line(const char *p, const char *eol,
    struct http_request *req, const char **cause)
{
	const char	*s = p;

	while (p < eol && http_is_tchar((unsigned char)*p))
		p++;
	if (p == s || p == eol || *p != ' ') {
		*cause = "bad request method";
		return (400);
	}
	req->r_method = s;
	req->r_methodlen = (size_t)(p - s);

	s = ++p;
	while (p < eol && (unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f)
		p++;
	if (p == s || p == eol || *p != ' ' || *s != '/') {
		*cause = "bad request target";
		return (400);
	}
	req->r_target = s;
	req->r_targetlen = (size_t)(p - s);

	p++;
	if (eol - p != 8 || memcmp(p, "HTTP/", 5) != 0 ||
	    !isdigit((unsigned char)p[5]) || p[6] != '.' ||
	    !isdigit((unsigned char)p[7])) {
		*cause = "bad HTTP version";
		return (400);
	}
	if (p[5] != '1' || (p[7] != '0' && p[7] != '1')) {
		*cause = "HTTP version not supported";
		return (505);
	}
	req->r_minor = p[7] - '0';
	return (0);
}

/*
 * Parse a complete head of len bytes, ending in CRLF CRLF. Headers are
 * stored in hdrs, at most maxhdrs of them. Return 0, or the HTTP status to
 * answer with *cause saying why.
 */
int
http_parse(const char *head, size_t len, struct http_header *hdrs,
    size_t maxhdrs, struct http_request *req, const char **cause)
{
	const char		*p = head, *end = head + len, *eol, *s, *v;
	struct http_header	*h;
	int			 status;

	memset(req, 0, sizeof *req);
	req->r_headers = hdrs;

	if ((eol = http_line_end(p, end)) == NULL) {
		*cause = "bad request line";
		return (400);
	}
	if ((status = http_parse_request_line(p, eol, req, cause)) != 0)
		return (status);
	p = eol + 2;

	for (;;) {
		if ((eol = http_line_end(p, end)) == NULL) {
			*cause = "bare CR or LF in a header";
			return (400);
		}
		if (eol == p)
			break;
		if (*p == ' ' || *p == '\t') {
			*cause = "folded header line";
			return (400);
		}
		s = p;
		while (p < eol && http_is_tchar((unsigned char)*p))
			p++;
		if (p == s || p == eol || *p != ':') {
			*cause = "bad header name";
			return (400);
		}
		if (req->r_nheaders == maxhdrs) {
			*cause = "too many headers";
			return (431);
		}
		h = &hdrs[req->r_nheaders++];
		h->h_name = s;
		h->h_namelen = (size_t)(p - s);

		for (p++; p < eol && (*p == ' ' || *p == '\t'); p++)
			;
		for (v = p; p < eol; p++) {
			unsigned char c = (unsigned char)*p;

			if ((c < 0x20 && c != '\t') || c == 0x7f) {
				*cause = "control character in a header";
				return (400);
			}
		}
		while (p > v && (p[-1] == ' ' || p[-1] == '\t'))
			p--;
		h->h_value = v;
		h->h_valuelen = (size_t)(p - v);
		p = eol + 2;
	}
	if (eol + 2 != end) {
		*cause = "bytes after the head";
		return (400);
	}
	return (0);
}

/* Return the first header called name, and how many there are. */
const struct http_header *
http_header_find(const struct http_request *req, const char *name,
    size_t *count)
{
	const struct http_header	*h, *first = NULL;
	size_t				 i, n = 0, len = strlen(name);

	for (i = 0; i < req->r_nheaders; i++) {
		h = &req->r_headers[i];
		if (h->h_namelen == len &&
		    strncasecmp(h->h_name, name, len) == 0) {
			if (first == NULL)
				first = h;
			n++;
		}
	}
	if (count != NULL)
		*count = n;
	return (first);
}

/* Is the request's path, without its query, exactly path? */
int
http_path_is(const struct http_request *req, const char *path)
{
	const char	*q;
	size_t		 len;

	q = memchr(req->r_target, '?', req->r_targetlen);
	len = q ? (size_t)(q - req->r_target) : req->r_targetlen;
	return (len == strlen(path) && memcmp(req->r_target, path, len) == 0);
}

/* Does the comma-separated list hold token, case-insensitively? */
int
http_token_list_has(const char *v, size_t len, const char *token)
{
	const char	*end = v + len, *s;
	size_t		 tlen = strlen(token);

	while (v < end) {
		while (v < end && (*v == ' ' || *v == '\t' || *v == ','))
			v++;
		for (s = v; v < end && *v != ','; v++)
			;
		while (v > s && (v[-1] == ' ' || v[-1] == '\t'))
			v--;
		if ((size_t)(v - s) == tlen && strncasecmp(s, token, tlen) == 0)
			return (1);
		while (v < end && *v != ',')
			v++;
	}
	return (0);
}

/* A Sec-WebSocket-Key is the base64 of 16 bytes: 22 symbols and "==". */
static int
http_key_valid(const char *k, size_t len)
{
	size_t	 i;

	if (len != 24 || k[22] != '=' || k[23] != '=')
		return (0);
	for (i = 0; i < 22; i++) {
		if (b64_value((unsigned char)k[i], 0) == -1)
			return (0);
	}
	/* The last symbol carries 2 bits; the 4 unused bits must be zero. */
	return ((b64_value((unsigned char)k[21], 0) & 0xf) == 0);
}

/*
 * Choose the subprotocol: the first one the client offers that is
 * configured. Return -1 if an offer is not a token.
 */
static int
http_choose_protocol(const struct http_request *req, char *const *protos,
    size_t nprotos, struct http_upgrade *up)
{
	const struct http_header	*h;
	const char			*v, *end, *s;
	size_t				 i, j, n;

	for (i = 0; i < req->r_nheaders; i++) {
		h = &req->r_headers[i];
		if (h->h_namelen != 22 || strncasecmp(h->h_name,
		    "Sec-WebSocket-Protocol", 22) != 0)
			continue;
		v = h->h_value;
		end = v + h->h_valuelen;
		while (v < end) {
			while (v < end && (*v == ' ' || *v == '\t'))
				v++;
			for (s = v; v < end && http_is_tchar((unsigned char)*v);
			    v++)
				;
			n = (size_t)(v - s);
			while (v < end && (*v == ' ' || *v == '\t'))
				v++;
			if (n == 0 || (v < end && *v != ','))
				return (-1);
			if (v < end)
				v++;
			for (j = 0; up->u_protocol == NULL && j < nprotos;
			    j++) {
				if (strlen(protos[j]) == n &&
				    memcmp(protos[j], s, n) == 0) {
					up->u_protocol = protos[j];
					up->u_protocollen = n;
				}
			}
		}
	}
	return (0);
}

/*
 * permessage-deflate offers (RFC 7692 5 and 7.1). The first offer whose
 * parameters are all known, each given once with a valid value, and that
 * libwebsockets can honour is taken; others are declined, never accepted
 * bare. libwebsockets applies no parameter that has a value, and a server
 * that accepts server_max_window_bits must answer with it (7.1.2.1), so
 * an offer that asks for it is declined. client_max_window_bits is a
 * client's promise that it can be told a window; not telling it is
 * allowed, so the offer is taken and the parameter left out.
 */
#define HTTP_PMD_VALUE_MAX	8	/* longer is no window size */

static void
http_skip_ows(const char **p, const char *end)
{
	while (*p < end && (**p == ' ' || **p == '\t'))
		(*p)++;
}

static size_t
http_skip_token(const char **p, const char *end)
{
	const char	*s = *p;

	while (*p < end && http_is_tchar((unsigned char)**p))
		(*p)++;
	return ((size_t)(*p - s));
}

/*
 * Read a parameter's value, a token or a quoted string, into val (at most
 * HTTP_PMD_VALUE_MAX bytes are kept; *vlen counts them all). -1 on bad
 * syntax.
 */
static int
http_ext_value(const char **p, const char *end, char *val, size_t *vlen)
{
	const char	*s = *p;
	size_t		 n = 0;

	if (*p < end && **p == '"') {
		for ((*p)++; *p < end && **p != '"'; (*p)++) {
			if (**p == '\\' && ++(*p) == end)
				return (-1);
			if (n < HTTP_PMD_VALUE_MAX)
				val[n] = **p;
			n++;
		}
		if (*p == end)
			return (-1);
		(*p)++;
	} else {
		if (http_skip_token(p, end) == 0)
			return (-1);
		for (; s < *p; s++, n++) {
			if (n < HTTP_PMD_VALUE_MAX)
				val[n] = *s;
		}
	}
	*vlen = n;
	return (0);
}

/* A window size: 8 to 15 in decimal, without leading zeros (7.1.2). */
static int
http_pmd_window_valid(const char *val, size_t vlen)
{
	if (vlen == 1)
		return (val[0] >= '8' && val[0] <= '9');
	return (vlen == 2 && val[0] == '1' && val[1] >= '0' && val[1] <= '5');
}

/*
 * One parameter of a permessage-deflate offer. *seen holds the ones
 * already given. Return 1 if the offer may still be taken, 0 if it must
 * be declined.
 */
static int
http_pmd_param(const char *name, size_t namelen, int hasval,
    const char *val, size_t vlen, int *seen, int *opts)
{
	static const char *const	 known[] = {
		"server_no_context_takeover", "client_no_context_takeover",
		"server_max_window_bits", "client_max_window_bits"
	};
	size_t				 i;

	for (i = 0; i < sizeof known / sizeof known[0]; i++) {
		if (strlen(known[i]) == namelen &&
		    memcmp(known[i], name, namelen) == 0)
			break;
	}
	if (i == sizeof known / sizeof known[0] || (*seen & (1 << i)))
		return (0);
	*seen |= 1 << i;
	switch (i) {
	case 0:
		*opts |= HTTP_PMD_SERVER_NO_TAKEOVER;
		return (!hasval);
	case 1:
		*opts |= HTTP_PMD_CLIENT_NO_TAKEOVER;
		return (!hasval);
	case 2:
		return (0);
	default:
		return (!hasval || http_pmd_window_valid(val, vlen));
	}
}

/*
 * Read every Sec-WebSocket-Extensions header. Set up->u_deflate (and
 * u_deflate_opts) if a permessage-deflate offer is taken. -1 if a header
 * is not an extension list.
 */
static int
http_choose_deflate(const struct http_request *req, struct http_upgrade *up)
{
	const struct http_header	*h;
	const char			*p, *end, *name, *pname;
	char				 val[HTTP_PMD_VALUE_MAX];
	size_t				 i, namelen, pnamelen, vlen;
	int				 pmd, ok, seen, opts, hasval;

	for (i = 0; i < req->r_nheaders; i++) {
		h = &req->r_headers[i];
		if (h->h_namelen != 24 || strncasecmp(h->h_name,
		    "Sec-WebSocket-Extensions", 24) != 0)
			continue;
		p = h->h_value;
		end = p + h->h_valuelen;
		for (;;) {
			while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
				p++;
			if (p == end)
				break;
			name = p;
			if ((namelen = http_skip_token(&p, end)) == 0)
				return (-1);
			pmd = namelen == 18 &&
			    memcmp(name, "permessage-deflate", 18) == 0;
			ok = 1;
			seen = opts = 0;
			for (;;) {
				http_skip_ows(&p, end);
				if (p == end || *p == ',')
					break;
				if (*p++ != ';')
					return (-1);
				http_skip_ows(&p, end);
				pname = p;
				if ((pnamelen = http_skip_token(&p, end)) == 0)
					return (-1);
				http_skip_ows(&p, end);
				vlen = 0;
				if ((hasval = p < end && *p == '=')) {
					p++;
					http_skip_ows(&p, end);
					if (http_ext_value(&p, end, val,
					    &vlen) == -1)
						return (-1);
				}
				if (pmd && ok)
					ok = http_pmd_param(pname, pnamelen,
					    hasval, val, vlen, &seen, &opts);
			}
			if (pmd && ok && !up->u_deflate) {
				up->u_deflate = 1;
				up->u_deflate_opts = opts;
			}
		}
	}
	return (0);
}

/*
 * Check that req is a WebSocket upgrade wsgated will pass on. Return 0
 * with up filled in, or the status to answer with *cause saying why.
 */
int
http_upgrade_check(const struct http_request *req, char *const *protos,
    size_t nprotos, struct http_upgrade *up, const char **cause)
{
	const struct http_header	*h;
	size_t				 n, i;
	int				 found;

	memset(up, 0, sizeof *up);

	if ((h = http_header_find(req, "Upgrade", &n)) == NULL) {
		*cause = "not a WebSocket upgrade";
		return (426);
	}
	if (n != 1) {
		*cause = "duplicated Upgrade header";
		return (400);
	}
	if (h->h_valuelen != 9 ||
	    strncasecmp(h->h_value, "websocket", 9) != 0) {
		*cause = "Upgrade must be exactly websocket";
		return (400);
	}
	if (req->r_methodlen != 3 || memcmp(req->r_method, "GET", 3) != 0) {
		*cause = "method not allowed";
		return (405);
	}
	if (req->r_minor != 1) {
		*cause = "an upgrade needs HTTP/1.1";
		return (400);
	}
	if (http_header_find(req, "Host", &n) == NULL || n != 1) {
		*cause = "Host missing or duplicated";
		return (400);
	}

	found = 0;
	for (i = 0; i < req->r_nheaders; i++) {
		h = &req->r_headers[i];
		if (h->h_namelen == 10 &&
		    strncasecmp(h->h_name, "Connection", 10) == 0 &&
		    http_token_list_has(h->h_value, h->h_valuelen, "upgrade"))
			found = 1;
	}
	if (!found) {
		*cause = "Connection has no upgrade token";
		return (400);
	}

	h = http_header_find(req, "Sec-WebSocket-Version", &n);
	if (n > 1) {
		*cause = "duplicated Sec-WebSocket-Version";
		return (400);
	}
	if (h == NULL || h->h_valuelen != 2 ||
	    memcmp(h->h_value, "13", 2) != 0) {
		*cause = "unsupported WebSocket version";
		return (426);
	}

	h = http_header_find(req, "Sec-WebSocket-Key", &n);
	if (h == NULL || n != 1) {
		*cause = "Sec-WebSocket-Key missing or duplicated";
		return (400);
	}
	if (!http_key_valid(h->h_value, h->h_valuelen)) {
		*cause = "bad Sec-WebSocket-Key";
		return (400);
	}
	up->u_key = h->h_value;

	if (http_choose_protocol(req, protos, nprotos, up) == -1) {
		*cause = "bad Sec-WebSocket-Protocol";
		return (400);
	}
	if (http_choose_deflate(req, up) == -1) {
		*cause = "bad Sec-WebSocket-Extensions";
		return (400);
	}
	return (0);
}

/*
 * Find the first cookie called name in every Cookie header (RFC 6265 5.4;
 * a value in double quotes loses them). Return 1 with *v and *len set,
 * or 0 if there is none.
 */
int
http_cookie_get(const struct http_request *req, const char *name,
    const char **value, size_t *len)
{
	const struct http_header	*h;
	const char			*p, *end, *s, *eq, *ve, *ne;
	size_t				 i, nlen = strlen(name);

	for (i = 0; i < req->r_nheaders; i++) {
		h = &req->r_headers[i];
		if (h->h_namelen != 6 ||
		    strncasecmp(h->h_name, "Cookie", 6) != 0)
			continue;
		p = h->h_value;
		end = p + h->h_valuelen;
		while (p < end) {
			while (p < end && (*p == ' ' || *p == '\t'))
				p++;
			for (s = p; p < end && *p != ';'; p++)
				;
			ve = p;
			if (p < end)
				p++;
			while (ve > s && (ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			if ((eq = memchr(s, '=', (size_t)(ve - s))) == NULL)
				continue;
			for (ne = eq; ne > s && (ne[-1] == ' ' || ne[-1] == '\t');
			    ne--)
				;
			if ((size_t)(ne - s) != nlen ||
			    memcmp(s, name, nlen) != 0)
				continue;
			for (s = eq + 1; s < ve && (*s == ' ' || *s == '\t'); s++)
				;
			if (ve - s >= 2 && *s == '"' && ve[-1] == '"') {
				s++;
				ve--;
			}
			*value = s;
			*len = (size_t)(ve - s);
			return (1);
		}
	}
	return (0);
}

static int
http_hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	c = (unsigned char)tolower(c);
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	return (-1);
}

/* Percent-decode (and '+' to space) into out; -1 on a bad escape. */
static ssize_t
http_url_decode(const char *s, size_t len, char *out)
{
	size_t	 i, o = 0;
	int	 hi, lo;

	for (i = 0; i < len; i++) {
		if (s[i] == '+')
			out[o++] = ' ';
		else if (s[i] == '%') {
			if (len - i < 3)
				return (-1);
			hi = http_hex_value((unsigned char)s[i + 1]);
			lo = http_hex_value((unsigned char)s[i + 2]);
			if (hi == -1 || lo == -1)
				return (-1);
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else
			out[o++] = s[i];
	}
	return ((ssize_t)o);
}

/*
 * Find query parameter name (decoded names compared). Return 1 with a
 * decoded copy in *value (the caller frees), 0 if absent, -1 if its value
 * holds a bad percent escape.
 */
int
http_query_get(const struct http_request *req, const char *name,
    char **value, size_t *len)
{
	const char	*q, *end, *s, *eq;
	char		*key, *val;
	size_t		 nlen = strlen(name);
	ssize_t		 klen, vlen;

	if ((q = memchr(req->r_target, '?', req->r_targetlen)) == NULL)
		return (0);
	end = req->r_target + req->r_targetlen;
	for (q++; q < end; q++) {
		for (s = q; q < end && *q != '&'; q++)
			;
		if (q == s)
			continue;
		if ((eq = memchr(s, '=', (size_t)(q - s))) == NULL)
			eq = q;
		/* A name that does not decode is not the one asked for. */
		key = xmalloc((size_t)(eq - s) + 1);
		klen = http_url_decode(s, (size_t)(eq - s), key);
		if (klen == -1 || (size_t)klen != nlen ||
		    memcmp(key, name, nlen) != 0) {
			free(key);
			continue;
		}
		free(key);
		s = eq < q ? eq + 1 : q;
		val = xmalloc((size_t)(q - s) + 1);
		if ((vlen = http_url_decode(s, (size_t)(q - s), val)) == -1) {
			free(val);
			return (-1);
		}
		val[vlen] = '\0';
		*value = val;
		*len = (size_t)vlen;
		return (1);
	}
	return (0);
}

const char *
http_status_text(int status)
{
	switch (status) {
	case 101: return ("Switching Protocols");
	case 200: return ("OK");
	case 202: return ("Accepted");
	case 400: return ("Bad Request");
	case 401: return ("Unauthorized");
	case 403: return ("Forbidden");
	case 404: return ("Not Found");
	case 405: return ("Method Not Allowed");
	case 408: return ("Request Timeout");
	case 413: return ("Content Too Large");
	case 426: return ("Upgrade Required");
	case 429: return ("Too Many Requests");
	case 431: return ("Request Header Fields Too Large");
	case 500: return ("Internal Server Error");
	case 503: return ("Service Unavailable");
	case 505: return ("HTTP Version Not Supported");
	default: return ("Error");
	}
}
