/*
 * libFuzzer target for the token verifier (jwt.c) with a fixed HS256
 * secret. Two kinds of input:
 *
 *   - anything else: the input is a token, verified by jwt_verify under
 *     two configurations, and, when it fits in a header, found by
 *     jwt_check in "Authorization: Bearer <input>";
 *   - "J:" header-JSON "\n" claims-JSON: the target encodes both parts and
 *     signs them itself, so that the fuzzer reaches the header and claims
 *     checks past the signature.
 *
 * It must never crash, and a token that is accepted must carry a valid
 * MAC: the target computes HMAC-SHA256 over the first two parts again and
 * encodes it with its own base64url encoder, and the third part must be
 * exactly that. Accepted claims must meet exp, nbf, iss and aud.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "wsgated.h"

#define FUZZ_SECRET	"fuzz-secret-0123456789abcdef-0123456789"
#define FUZZ_NOW	((int64_t)1700000000)
#define FUZZ_MAX_HEADERS 8

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct jwt_conf	 fuzz_confs[2];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct jwt_keys	*ks;
	char		*cause = NULL;

	log_init(1, LOG_LEVEL_ERROR);
	ks = jwt_keys_parse(JWT_KEYS_SECRET, FUZZ_SECRET, strlen(FUZZ_SECRET),
	    &cause);
	if (ks == NULL) {
		fprintf(stderr, "fuzz_jwt: %s\n", cause);
		abort();
	}
	/* The defaults of wsgate.conf, HS256 only. */
	fuzz_confs[0].j_enabled = 1;
	fuzz_confs[0].j_source = CTX_SOURCE_HEADER;
	fuzz_confs[0].j_key = (char *)"Authorization";
	fuzz_confs[0].j_algs = 1U << JWT_HS256;
	fuzz_confs[0].j_leeway = 30;
	fuzz_confs[0].j_required = 1;
	fuzz_confs[0].j_max_token_bytes = 8192;
	fuzz_confs[0].j_keys = ks;
	/*
	 * Issuer and audience, no leeway, a short limit, and RS256 listed
	 * beside HS256 so that the check against the key's kind is reached.
	 */
	fuzz_confs[1] = fuzz_confs[0];
	fuzz_confs[1].j_algs = 1U << JWT_HS256 | 1U << JWT_RS256;
	fuzz_confs[1].j_issuer = (char *)"iss";
	fuzz_confs[1].j_audience = (char *)"aud";
	fuzz_confs[1].j_leeway = 0;
	fuzz_confs[1].j_max_token_bytes = 512;
	return (0);
}

/* base64url without padding, the target's own; out has room. */
static size_t
fuzz_b64u(const unsigned char *p, size_t len, char *out)
{
	static const char	 a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t			 i, o = 0;
	uint32_t		 v;

	for (i = 0; i < len; i += 3) {
		v = (uint32_t)p[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		out[o++] = a[v >> 18 & 63];
		out[o++] = a[v >> 12 & 63];
		if (i + 1 < len)
			out[o++] = a[v >> 6 & 63];
		if (i + 2 < len)
			out[o++] = a[v & 63];
	}
	return (o);
}

/* The base64url HMAC-SHA256 of in with the secret, into out (44 bytes). */
static size_t
fuzz_mac(const char *in, size_t len, char *out)
{
	unsigned char	 mac[EVP_MAX_MD_SIZE];
	unsigned int	 maclen;

	if (HMAC(EVP_sha256(), FUZZ_SECRET, (int)strlen(FUZZ_SECRET),
	    (const unsigned char *)in, len, mac, &maclen) == NULL ||
	    maclen != 32)
		abort();
	return (fuzz_b64u(mac, maclen, out));
}

/* What an accepted token must be, under jc. */
static void
fuzz_accepted(const struct jwt_conf *jc, const char *tok, size_t len,
    json_t *claims)
{
	const char	*d1, *d2;
	const json_t	*v;
	char		 mac[48];
	size_t		 n;

	if (!json_is_object(claims) || len > jc->j_max_token_bytes)
		abort();
	if ((d1 = memchr(tok, '.', len)) == NULL ||
	    (d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok))) == NULL ||
	    memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - tok)) != NULL)
		abort();
	n = fuzz_mac(tok, (size_t)(d2 - tok), mac);
	if (len - (size_t)(d2 + 1 - tok) != n || memcmp(d2 + 1, mac, n) != 0) {
		fprintf(stderr, "fuzz_jwt: accepted a token without a valid "
		    "MAC\n");
		abort();
	}
	if ((v = json_object_get(claims, "exp")) != NULL &&
	    !(json_number_value(v) > (double)(FUZZ_NOW - jc->j_leeway)))
		abort();
	if ((v = json_object_get(claims, "nbf")) != NULL &&
	    json_number_value(v) > (double)(FUZZ_NOW + jc->j_leeway))
		abort();
	if (jc->j_issuer != NULL && (!json_is_string(v = json_object_get(claims,
	    "iss")) || strcmp(json_string_value(v), jc->j_issuer) != 0))
		abort();
	if (jc->j_audience != NULL && json_object_get(claims, "aud") == NULL)
		abort();
}

static void
fuzz_verify(const char *tok, size_t len)
{
	enum jwt_result	 r;
	json_t		*claims;
	size_t		 i;

	for (i = 0; i < sizeof fuzz_confs / sizeof *fuzz_confs; i++) {
		claims = (json_t *)&claims;
		r = jwt_verify(&fuzz_confs[i], tok, len, FUZZ_NOW, &claims);
		if (r >= JWT_NRESULTS || r == JWT_MISSING ||
		    (r == JWT_TOO_LARGE) !=
		    (len > fuzz_confs[i].j_max_token_bytes))
			abort();
		if (r != JWT_OK) {
			if (claims != NULL)
				abort();
			continue;
		}
		fuzz_accepted(&fuzz_confs[i], tok, len, claims);
		json_decref(claims);
	}
}

/*
 * The token as a client sends it: what jwt_check accepts, after "Bearer"
 * and its blanks, must be a token with a valid MAC.
 */
static void
fuzz_check(const char *tok, size_t len)
{
	struct http_header	 hdrs[FUZZ_MAX_HEADERS];
	struct http_request	 req;
	const char		*cause, *v;
	json_t			*claims;
	char			*head;
	size_t			 vlen;
	int			 n;

	if (len > 4096 || memchr(tok, '\r', len) != NULL ||
	    memchr(tok, '\n', len) != NULL || memchr(tok, '\0', len) != NULL)
		return;
	n = xasprintf(&head, "GET /ws HTTP/1.1\r\nAuthorization: Bearer "
	    "%.*s\r\n\r\n", (int)len, tok);
	if (http_parse(head, (size_t)n, hdrs, FUZZ_MAX_HEADERS, &req,
	    &cause) == 0) {
		if (jwt_check(&fuzz_confs[0], &req, FUZZ_NOW, &claims) ==
		    JWT_OK) {
			v = req.r_headers[0].h_value + 7;
			vlen = req.r_headers[0].h_valuelen - 7;
			for (; vlen > 0 && *v == ' '; v++, vlen--)
				;
			fuzz_accepted(&fuzz_confs[0], v, vlen, claims);
			json_decref(claims);
		} else if (claims != NULL)
			abort();
	}
	free(head);
}

/* "J:" header "\n" claims: encode and sign them here, then verify. */
static void
fuzz_signed(const char *data, size_t size)
{
	const char	*nl;
	char		*tok, mac[48];
	size_t		 hlen, plen, o, n;

	if ((nl = memchr(data, '\n', size)) == NULL)
		return;
	hlen = (size_t)(nl - data);
	plen = size - hlen - 1;
	tok = malloc((hlen + plen) / 3 * 4 + 8 + 48);
	o = fuzz_b64u((const unsigned char *)data, hlen, tok);
	tok[o++] = '.';
	o += fuzz_b64u((const unsigned char *)nl + 1, plen, tok + o);
	n = fuzz_mac(tok, o, mac);
	tok[o] = '.';
	memcpy(tok + o + 1, mac, n);
	fuzz_verify(tok, o + 1 + n);
	free(tok);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*tok;

	if (size >= 2 && data[0] == 'J' && data[1] == ':') {
		fuzz_signed((const char *)data + 2, size - 2);
		return (0);
	}
	/* Exactly sized, so that ASan sees any read past the token. */
	tok = malloc(size > 0 ? size : 1);
	memcpy(tok, data, size);
	fuzz_verify(tok, size);
	fuzz_check(tok, size);
	free(tok);
	return (0);
}
