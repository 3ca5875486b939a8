/*
 * libFuzzer target for the request-head parser (http.c): finding the end
 * of a head, parsing it, and every question front.c asks of a parsed
 * request (path, upgrade checks, cookies, query parameters).
 *
 * The input is treated twice: as bytes arriving on a socket (the head is
 * whatever http_head_end finds), and as a whole head with CRLF CRLF
 * appended, so that inputs without a blank line still reach the parser.
 * Each head is copied into a buffer of exactly its size so that ASan
 * catches any read past its end.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wsgated.h"

#define FUZZ_MAX_HEADERS	100

static char *fuzz_protos[] = { "chat", "superchat.v2", "x" };

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Is [p, p + len) inside [base, base + size)? */
static int
fuzz_within(const char *base, size_t size, const char *p, size_t len)
{
	return (p >= base && len <= size && (size_t)(p - base) <= size - len);
}

static void
fuzz_check_request(const char *head, size_t len,
    const struct http_request *req, size_t maxhdrs)
{
	const struct http_header	*h;
	size_t				 i;

	if (req->r_nheaders > maxhdrs ||
	    !fuzz_within(head, len, req->r_method, req->r_methodlen) ||
	    !fuzz_within(head, len, req->r_target, req->r_targetlen) ||
	    req->r_methodlen == 0 || req->r_targetlen == 0 ||
	    req->r_target[0] != '/' || (req->r_minor != 0 && req->r_minor != 1))
		abort();
	for (i = 0; i < req->r_nheaders; i++) {
		h = &req->r_headers[i];
		if (h->h_namelen == 0 ||
		    !fuzz_within(head, len, h->h_name, h->h_namelen) ||
		    !fuzz_within(head, len, h->h_value, h->h_valuelen) ||
		    memchr(h->h_value, '\r', h->h_valuelen) != NULL ||
		    memchr(h->h_value, '\n', h->h_valuelen) != NULL ||
		    memchr(h->h_value, '\0', h->h_valuelen) != NULL)
			abort();
		if (h->h_valuelen > 0 && (h->h_value[0] == ' ' ||
		    h->h_value[0] == '\t' || h->h_value[h->h_valuelen - 1] ==
		    ' ' || h->h_value[h->h_valuelen - 1] == '\t'))
			abort();
	}
}

static void
fuzz_upgrade(const struct http_request *req, char *const *protos,
    size_t nprotos)
{
	struct http_upgrade	 up;
	const char		*cause = NULL;
	size_t			 i;
	int			 status;

	status = http_upgrade_check(req, protos, nprotos, &up, &cause);
	if (status == 0) {
		if (up.u_key == NULL || strncmp(up.u_key + 22, "==", 2) != 0)
			abort();
		if (up.u_protocol != NULL) {
			for (i = 0; i < nprotos; i++) {
				if (up.u_protocol == protos[i])
					break;
			}
			if (i == nprotos ||
			    up.u_protocollen != strlen(up.u_protocol))
				abort();
		}
	} else if ((status != 400 && status != 405 && status != 426) ||
	    cause == NULL)
		abort();
}

static void
fuzz_head(const char *head, size_t len)
{
	static const char *const cookies[] = { "X-Token", "session", "" };
	static const char *const params[] = { "token", "a b", "x", "" };
	struct http_header	 hdrs[FUZZ_MAX_HEADERS];
	struct http_request	 req;
	const char		*cause = NULL, *v;
	char			*qv;
	size_t			 i, vlen;
	int			 status, r;

	/* A low header limit, as limits.max_headers can set. */
	status = http_parse(head, len, hdrs, 2, &req, &cause);
	if (status != 0 && status != 400 && status != 431 && status != 505)
		abort();

	cause = NULL;
	status = http_parse(head, len, hdrs, FUZZ_MAX_HEADERS, &req, &cause);
	if (status != 0) {
		if ((status != 400 && status != 431 && status != 505) ||
		    cause == NULL)
			abort();
		return;
	}
	fuzz_check_request(head, len, &req, FUZZ_MAX_HEADERS);

	http_path_is(&req, "/ws");
	http_path_is(&req, "/healthz");
	http_header_find(&req, "Host", &vlen);
	for (i = 0; i < req.r_nheaders; i++)
		http_token_list_has(req.r_headers[i].h_value,
		    req.r_headers[i].h_valuelen, "upgrade");

	fuzz_upgrade(&req, fuzz_protos,
	    sizeof fuzz_protos / sizeof *fuzz_protos);
	fuzz_upgrade(&req, NULL, 0);

	for (i = 0; i < sizeof cookies / sizeof *cookies; i++) {
		if (http_cookie_get(&req, cookies[i], &v, &vlen) &&
		    !fuzz_within(head, len, v, vlen))
			abort();
	}
	for (i = 0; i < sizeof params / sizeof *params; i++) {
		qv = NULL;
		r = http_query_get(&req, params[i], &qv, &vlen);
		if (r == 1) {
			if (qv == NULL || vlen > req.r_targetlen ||
			    qv[vlen] != '\0')
				abort();
			free(qv);
		} else if (r != 0 && r != -1)
			abort();
	}
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
	const char	*p = (const char *)data;
	char		*head;
	ssize_t		 end, e = -1;
	size_t		 from, l;

	end = http_head_end(p, size, 0);
	if (end != -1 && (end < 4 || (size_t)end > size ||
	    memcmp(p + end - 4, "\r\n\r\n", 4) != 0))
		abort();

	/* As front.c calls it: on growing prefixes, from the last length. */
	for (from = 0, l = 0; l < size; from = l) {
		l += 1 + (l * 7 + size) % 13;
		if (l > size)
			l = size;
		e = http_head_end(p, l, from);
		if (e != -1) {
			if (e != end)
				abort();
			break;
		}
	}
	if (l == size && e == -1 && end != -1)
		abort();

	if (end != -1) {
		head = malloc((size_t)end);
		memcpy(head, p, (size_t)end);
		fuzz_head(head, (size_t)end);
		free(head);
	}

	head = malloc(size + 4);
	memcpy(head, p, size);
	memcpy(head + size, "\r\n\r\n", 4);
	fuzz_head(head, size + 4);
	free(head);
	return (0);
}
