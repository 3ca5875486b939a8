/*
 * JSON Web Tokens (RFC 7519) signed with JWS compact serialisation
 * (RFC 7515): verification keys from wsgate.conf's jwt group, and the
 * verification of the token a client brings to its upgrade.
 *
 * Only what the configuration names is accepted: the algorithms of
 * jwt.algorithms ("none" is never one), each with a key of its own kind,
 * so that an HMAC algorithm is never run with a public key as its secret.
 * The three parts are strict base64url, the header and the claims JSON
 * objects without duplicate names; the signature is checked before the
 * claims are parsed at all.
 *
 * Cost, on the accepting thread: base64url decoding into one buffer, two
 * small jansson parses, and the signature. An HMAC is a few
 * microseconds; RS256 (2048 bits) some 30 us and ES256 some 80 us on one
 * core of a recent x86-64, which bounds the upgrades per second a
 * front door can verify to the tens of thousands for RSA and ECDSA.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "wsgated.h"

#define JWT_MAX_KEY_FILE	(1024 * 1024)	/* bytes of a key file */
#define JWT_MAX_KEYS		64		/* keys of a JWKS */
#define JWT_RSA_MIN_BITS	2048		/* RFC 7518 3.3 */
#define JWT_ES256_PART		32		/* bytes of R and of S */
#define JWT_ECDSA_DER_MAX	80		/* DER of a P-256 ECDSA_SIG */

#define JWT_HS_ALGS	(1U << JWT_HS256 | 1U << JWT_HS384 | 1U << JWT_HS512)

static const char *const jwt_alg_names[] = {
	"HS256", "HS384", "HS512", "RS256", "ES256", NULL
};

static const char *const jwt_result_names[] = {
	"ok", "missing", "too_large", "malformed", "algorithm", "key",
	"signature", "expired", "not_yet_valid", "issuer", "audience"
};

/* One public key of a PEM file or a JWKS. */
struct jwt_key {
	char		*k_kid;		/* NULL without "kid" */
	unsigned int	 k_algs;	/* 1 << enum jwt_alg it may verify */
	EVP_PKEY	*k_pkey;
};

struct jwt_keys {
	enum jwt_keysrc	 ks_src;
	unsigned char	*ks_secret;	/* JWT_KEYS_SECRET */
	size_t		 ks_secretlen;
	struct jwt_key	*ks_keys;	/* JWT_KEYS_PEM (one) and _JWKS */
	size_t		 ks_nkeys;
};

/* The algorithm named s, or -1. */
int
jwt_alg_parse(const char *s)
{
	size_t	 i;

	for (i = 0; jwt_alg_names[i] != NULL; i++) {
		if (strcmp(jwt_alg_names[i], s) == 0)
			return ((int)i);
	}
	return (-1);
}

const char *
jwt_alg_name(enum jwt_alg alg)
{
	return (jwt_alg_names[alg]);
}

const char *
jwt_result_name(enum jwt_result r)
{
	return (jwt_result_names[r]);
}

/* The digest of an algorithm, and for HS the shortest secret it takes. */
static const EVP_MD *
jwt_alg_md(enum jwt_alg alg, size_t *minlen)
{
	switch (alg) {
	case JWT_HS384:
		*minlen = 48;
		return (EVP_sha384());
	case JWT_HS512:
		*minlen = 64;
		return (EVP_sha512());
	default:
		*minlen = 32;
		return (EVP_sha256());
	}
}

/*
 * Decode len characters of base64url without padding (RFC 7515 2) into
 * out, which has room for len * 3 / 4 bytes. Return the decoded length,
 * or -1 for any character outside the alphabet ('=', '+', '/', blanks
 * included), an impossible length, or bits left over that are not zero:
 * each byte string has exactly one encoding.
 */
ssize_t
jwt_b64url_decode(const char *s, size_t len, unsigned char *out)
{
	uint32_t	 acc = 0;
	size_t		 i, o = 0;
	int		 v, bits = 0;

	if (len % 4 == 1)
		return (-1);
	for (i = 0; i < len; i++) {
		if ((v = b64_value((unsigned char)s[i], 1)) == -1)
			return (-1);
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1U << bits) - 1;
		}
	}
	if (acc != 0)
		return (-1);
	return ((ssize_t)o);
}

static void
jwt_key_free(struct jwt_key *k)
{
	free(k->k_kid);
	EVP_PKEY_free(k->k_pkey);
}

void
jwt_keys_free(struct jwt_keys *ks)
{
	size_t	 i;

	if (ks == NULL)
		return;
	if (ks->ks_secret != NULL) {
		OPENSSL_cleanse(ks->ks_secret, ks->ks_secretlen);
		free(ks->ks_secret);
	}
	for (i = 0; i < ks->ks_nkeys; i++)
		jwt_key_free(&ks->ks_keys[i]);
	free(ks->ks_keys);
	free(ks);
}

/* Is pkey a sound public key? A point off its curve must not be used. */
static int
jwt_pkey_sound(EVP_PKEY *pkey)
{
	EVP_PKEY_CTX	*pctx;
	int		 ok;

	if ((pctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL)) == NULL)
		fatalx("EVP_PKEY_CTX_new_from_pkey");
	ok = EVP_PKEY_public_check(pctx) == 1;
	EVP_PKEY_CTX_free(pctx);
	return (ok);
}

/*
 * The algorithms a key of pkey's kind may verify, or 0 with *cause: an
 * RSA key of 2048 bits or more, or an EC key on P-256, that is sound.
 */
static unsigned int
jwt_pkey_algs(EVP_PKEY *pkey, char **cause)
{
	unsigned int	 algs;
	char		 group[64];
	size_t		 len;

	if (EVP_PKEY_is_a(pkey, "RSA")) {
		if (EVP_PKEY_get_bits(pkey) < JWT_RSA_MIN_BITS) {
			xasprintf(cause, "an RSA key of %d bits; RS256 needs "
			    "%d or more", EVP_PKEY_get_bits(pkey),
			    JWT_RSA_MIN_BITS);
			return (0);
		}
		algs = 1U << JWT_RS256;
	} else if (EVP_PKEY_is_a(pkey, "EC")) {
		if (EVP_PKEY_get_utf8_string_param(pkey,
		    OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
		    &len) != 1 || strcmp(group, "prime256v1") != 0) {
			xasprintf(cause, "an EC key not on curve P-256");
			return (0);
		}
		algs = 1U << JWT_ES256;
	} else {
		xasprintf(cause, "neither an RSA nor an EC P-256 key");
		return (0);
	}
	if (!jwt_pkey_sound(pkey)) {
		xasprintf(cause, "not a valid %s public key",
		    algs == 1U << JWT_RS256 ? "RSA" : "EC P-256");
		return (0);
	}
	return (algs);
}

static struct jwt_keys *
jwt_keys_secret(const unsigned char *data, size_t len, char **cause)
{
	struct jwt_keys	*ks;

	/* The file's bytes, as echo or an editor leaves them. */
	if (len > 0 && data[len - 1] == '\n')
		len--;
	if (len == 0) {
		xasprintf(cause, "the secret is empty");
		return (NULL);
	}
	ks = xcalloc(1, sizeof *ks);
	ks->ks_src = JWT_KEYS_SECRET;
	ks->ks_secret = xmalloc(len);
	memcpy(ks->ks_secret, data, len);
	ks->ks_secretlen = len;
	return (ks);
}

static struct jwt_keys *
jwt_keys_pem(const unsigned char *data, size_t len, char **cause)
{
	struct jwt_keys	*ks;
	EVP_PKEY	*pkey;
	BIO		*bio;
	unsigned int	 algs;

	if (len > JWT_MAX_KEY_FILE ||
	    (bio = BIO_new_mem_buf(data, (int)len)) == NULL) {
		xasprintf(cause, "cannot read the PEM data");
		return (NULL);
	}
	pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (pkey == NULL) {
		xasprintf(cause, "no PEM public key (-----BEGIN PUBLIC "
		    "KEY-----) in it");
		return (NULL);
	}
	if ((algs = jwt_pkey_algs(pkey, cause)) == 0) {
		EVP_PKEY_free(pkey);
		return (NULL);
	}
	ks = xcalloc(1, sizeof *ks);
	ks->ks_src = JWT_KEYS_PEM;
	ks->ks_keys = xcalloc(1, sizeof *ks->ks_keys);
	ks->ks_keys[0].k_algs = algs;
	ks->ks_keys[0].k_pkey = pkey;
	ks->ks_nkeys = 1;
	return (ks);
}

/* Decode the base64url member name of a JWK into a fresh buffer. */
static unsigned char *
jwt_jwk_bytes(json_t *jwk, const char *name, size_t *len, size_t idx,
    char **cause)
{
	const char	*s;
	unsigned char	*out;
	size_t		 slen;
	ssize_t		 n;

	if (!json_is_string(json_object_get(jwk, name))) {
		xasprintf(cause, "key %zu: \"%s\" is missing or not a string",
		    idx, name);
		return (NULL);
	}
	s = json_string_value(json_object_get(jwk, name));
	slen = json_string_length(json_object_get(jwk, name));
	out = xmalloc(slen / 4 * 3 + 3);
	if ((n = jwt_b64url_decode(s, slen, out)) <= 0) {
		xasprintf(cause, "key %zu: \"%s\" is not base64url", idx, name);
		free(out);
		return (NULL);
	}
	*len = (size_t)n;
	return (out);
}

/* Build an EVP_PKEY from the parameters of an RSA or EC P-256 JWK. */
static EVP_PKEY *
jwt_jwk_pkey(json_t *jwk, int ec, size_t idx, char **cause)
{
	OSSL_PARAM_BLD	*bld;
	OSSL_PARAM	*params = NULL;
	EVP_PKEY_CTX	*pctx = NULL;
	EVP_PKEY	*pkey = NULL;
	BIGNUM		*n = NULL, *e = NULL;
	unsigned char	*a = NULL, *b = NULL, pub[1 + 2 * JWT_ES256_PART];
	size_t		 alen = 0, blen = 0;

	if ((a = jwt_jwk_bytes(jwk, ec ? "x" : "n", &alen, idx, cause)) ==
	    NULL || (b = jwt_jwk_bytes(jwk, ec ? "y" : "e", &blen, idx,
	    cause)) == NULL)
		goto out;
	if ((bld = OSSL_PARAM_BLD_new()) == NULL)
		fatalx("OSSL_PARAM_BLD_new");
	if (ec) {
		if (alen != JWT_ES256_PART || blen != JWT_ES256_PART) {
			xasprintf(cause, "key %zu: x and y must be %d bytes",
			    idx, JWT_ES256_PART);
			OSSL_PARAM_BLD_free(bld);
			goto out;
		}
		/* An uncompressed point: 0x04, X, Y. */
		pub[0] = 0x04;
		memcpy(pub + 1, a, JWT_ES256_PART);
		memcpy(pub + 1 + JWT_ES256_PART, b, JWT_ES256_PART);
		OSSL_PARAM_BLD_push_utf8_string(bld,
		    OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
		OSSL_PARAM_BLD_push_octet_string(bld,
		    OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof pub);
	} else {
		n = BN_bin2bn(a, (int)alen, NULL);
		e = BN_bin2bn(b, (int)blen, NULL);
		if (n == NULL || e == NULL)
			fatalx("BN_bin2bn");
		OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n);
		OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e);
	}
	params = OSSL_PARAM_BLD_to_param(bld);
	OSSL_PARAM_BLD_free(bld);
	pctx = EVP_PKEY_CTX_new_from_name(NULL, ec ? "EC" : "RSA", NULL);
	if (params == NULL || pctx == NULL ||
	    EVP_PKEY_fromdata_init(pctx) != 1 ||
	    EVP_PKEY_fromdata(pctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
		xasprintf(cause, "key %zu: not a valid %s public key", idx,
		    ec ? "EC P-256" : "RSA");
		goto out;
	}
out:
	EVP_PKEY_CTX_free(pctx);
	OSSL_PARAM_free(params);
	BN_free(n);
	BN_free(e);
	free(a);
	free(b);
	return (pkey);
}

/*
 * Read one JWK into k. Return 1 if it is a key to use, 0 if it is to be
 * skipped (another use, type, curve or algorithm), -1 with *cause.
 */
static int
jwt_jwk(json_t *jwk, size_t idx, struct jwt_key *k, char **cause)
{
	const char	*kty, *s;
	json_t		*v;
	int		 ec, alg = -1;

	if (!json_is_object(jwk)) {
		xasprintf(cause, "key %zu is not an object", idx);
		return (-1);
	}
	if (!json_is_string(v = json_object_get(jwk, "kty"))) {
		xasprintf(cause, "key %zu: \"kty\" is missing or not a string",
		    idx);
		return (-1);
	}
	kty = json_string_value(v);
	if ((v = json_object_get(jwk, "use")) != NULL &&
	    (!json_is_string(v) || strcmp(json_string_value(v), "sig") != 0))
		return (0);
	if ((v = json_object_get(jwk, "alg")) != NULL) {
		if (!json_is_string(v))
			return (0);
		s = json_string_value(v);
		if ((alg = jwt_alg_parse(s)) == -1 ||
		    (1U << alg & JWT_HS_ALGS) != 0)
			return (0);
	}
	if (strcmp(kty, "RSA") == 0)
		ec = 0;
	else if (strcmp(kty, "EC") == 0) {
		if (!json_is_string(v = json_object_get(jwk, "crv")) ||
		    strcmp(json_string_value(v), "P-256") != 0)
			return (0);
		ec = 1;
	} else
		return (0);
	if (alg != -1 && alg != (ec ? JWT_ES256 : JWT_RS256))
		return (0);
	if ((v = json_object_get(jwk, "kid")) != NULL && !json_is_string(v)) {
		xasprintf(cause, "key %zu: \"kid\" is not a string", idx);
		return (-1);
	}
	if ((k->k_pkey = jwt_jwk_pkey(jwk, ec, idx, cause)) == NULL)
		return (-1);
	if ((k->k_algs = jwt_pkey_algs(k->k_pkey, cause)) == 0) {
		char *why = *cause;

		xasprintf(cause, "key %zu: %s", idx, why);
		free(why);
		EVP_PKEY_free(k->k_pkey);
		k->k_pkey = NULL;
		return (-1);
	}
	if (v != NULL)
		k->k_kid = xstrdup(json_string_value(v));
	return (1);
}

static struct jwt_keys *
jwt_keys_jwks(const unsigned char *data, size_t len, char **cause)
{
	struct jwt_keys	*ks;
	json_error_t	 err;
	json_t		*root, *keys;
	size_t		 i, n;
	int		 r;

	root = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES,
	    &err);
	if (root == NULL) {
		xasprintf(cause, "not JSON: line %d: %s", err.line, err.text);
		return (NULL);
	}
	if (!json_is_object(root) ||
	    !json_is_array(keys = json_object_get(root, "keys"))) {
		xasprintf(cause, "not a JWK set {\"keys\": [ ... ]}");
		json_decref(root);
		return (NULL);
	}
	if ((n = json_array_size(keys)) > JWT_MAX_KEYS) {
		xasprintf(cause, "%zu keys, more than %d", n, JWT_MAX_KEYS);
		json_decref(root);
		return (NULL);
	}
	ks = xcalloc(1, sizeof *ks);
	ks->ks_src = JWT_KEYS_JWKS;
	if (n > 0)
		ks->ks_keys = xcalloc(n, sizeof *ks->ks_keys);
	for (i = 0; i < n; i++) {
		r = jwt_jwk(json_array_get(keys, i), i, &ks->ks_keys[ks->ks_nkeys],
		    cause);
		if (r == -1) {
			jwt_keys_free(ks);
			json_decref(root);
			return (NULL);
		}
		if (r == 1)
			ks->ks_nkeys++;
	}
	json_decref(root);
	if (ks->ks_nkeys == 0) {
		xasprintf(cause, "no usable key: RSA or EC P-256, for \"sig\"");
		jwt_keys_free(ks);
		return (NULL);
	}
	return (ks);
}

/* Keys from the contents of a key file; NULL with *cause on error. */
struct jwt_keys *
jwt_keys_parse(enum jwt_keysrc src, const void *data, size_t len,
    char **cause)
{
	switch (src) {
	case JWT_KEYS_SECRET:
		return (jwt_keys_secret(data, len, cause));
	case JWT_KEYS_PEM:
		return (jwt_keys_pem(data, len, cause));
	case JWT_KEYS_JWKS:
		return (jwt_keys_jwks(data, len, cause));
	}
	return (NULL);
}

/* Keys from a file; NULL with *cause (naming the file) on error. */
struct jwt_keys *
jwt_keys_load(enum jwt_keysrc src, const char *path, char **cause)
{
	struct jwt_keys	*ks;
	unsigned char	*data;
	char		*why = NULL;
	size_t		 len;
	FILE		*f;

	if ((f = fopen(path, "rb")) == NULL) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		return (NULL);
	}
	data = xmalloc(JWT_MAX_KEY_FILE + 1);
	len = fread(data, 1, JWT_MAX_KEY_FILE + 1, f);
	if (ferror(f)) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		ks = NULL;
	} else if (len > JWT_MAX_KEY_FILE) {
		xasprintf(cause, "%s: larger than %d bytes", path,
		    JWT_MAX_KEY_FILE);
		ks = NULL;
	} else if ((ks = jwt_keys_parse(src, data, len, &why)) == NULL) {
		xasprintf(cause, "%s: %s", path, why);
		free(why);
	}
	fclose(f);
	OPENSSL_cleanse(data, len);
	free(data);
	ERR_clear_error();
	return (ks);
}

/* The algorithms some key of ks may verify. */
unsigned int
jwt_keys_algs(const struct jwt_keys *ks)
{
	unsigned int	 algs = 0;
	size_t		 i, minlen;
	int		 a;

	if (ks->ks_src == JWT_KEYS_SECRET) {
		for (a = JWT_HS256; a <= JWT_HS512; a++) {
			(void)jwt_alg_md(a, &minlen);
			if (ks->ks_secretlen >= minlen)
				algs |= 1U << a;
		}
		return (algs);
	}
	for (i = 0; i < ks->ks_nkeys; i++)
		algs |= ks->ks_keys[i].k_algs;
	return (algs);
}

/* Say what ks holds, for an error message (the caller frees). */
char *
jwt_keys_describe(const struct jwt_keys *ks)
{
	char	*s;

	if (ks->ks_src == JWT_KEYS_SECRET)
		xasprintf(&s, "a secret of %zu bytes; HS256 needs 32 or more, "
		    "HS384 48, HS512 64", ks->ks_secretlen);
	else if (ks->ks_src == JWT_KEYS_PEM)
		xasprintf(&s, "%s key", ks->ks_keys[0].k_algs ==
		    1U << JWT_RS256 ? "an RSA" : "an EC P-256");
	else
		xasprintf(&s, "a JWK set with no key for it");
	return (s);
}

/*
 * The key for a token signed with alg and naming kid (NULL if none), or
 * NULL: in a JWK set the kid chooses among the keys fit for alg, and
 * only a set of one key may go without.
 */
static const struct jwt_key *
jwt_key_pick(const struct jwt_keys *ks, enum jwt_alg alg, const char *kid)
{
	const struct jwt_key	*k;
	size_t			 i;

	if (ks->ks_src == JWT_KEYS_PEM || (ks->ks_nkeys == 1 && kid == NULL)) {
		k = &ks->ks_keys[0];
		return ((k->k_algs & 1U << alg) ? k : NULL);
	}
	if (kid == NULL)
		return (NULL);
	for (i = 0; i < ks->ks_nkeys; i++) {
		k = &ks->ks_keys[i];
		if (k->k_kid != NULL && strcmp(k->k_kid, kid) == 0 &&
		    (k->k_algs & 1U << alg))
			return (k);
	}
	return (NULL);
}

/* Check an RS256 or ES256 signature of in with pkey. */
static int
jwt_verify_pkey(EVP_PKEY *pkey, enum jwt_alg alg, const char *in,
    size_t inlen, const unsigned char *sig, size_t siglen)
{
	unsigned char	 der[JWT_ECDSA_DER_MAX], *p = der;
	EVP_MD_CTX	*mctx;
	EVP_PKEY_CTX	*pctx;
	ECDSA_SIG	*es;
	BIGNUM		*r, *s;
	int		 ok = 0, n;

	if (alg == JWT_ES256) {
		/* JWS writes R || S (RFC 7518 3.4); libcrypto wants DER. */
		if (siglen != 2 * JWT_ES256_PART)
			return (0);
		if ((es = ECDSA_SIG_new()) == NULL)
			fatalx("ECDSA_SIG_new");
		r = BN_bin2bn(sig, JWT_ES256_PART, NULL);
		s = BN_bin2bn(sig + JWT_ES256_PART, JWT_ES256_PART, NULL);
		if (r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1)
			fatalx("ECDSA_SIG_set0");
		n = i2d_ECDSA_SIG(es, NULL);
		if (n <= 0 || n > (int)sizeof der) {
			ECDSA_SIG_free(es);
			return (0);
		}
		n = i2d_ECDSA_SIG(es, &p);
		ECDSA_SIG_free(es);
		sig = der;
		siglen = (size_t)n;
	}
	if ((mctx = EVP_MD_CTX_new()) == NULL)
		fatalx("EVP_MD_CTX_new");
	if (EVP_DigestVerifyInit(mctx, &pctx, EVP_sha256(), NULL, pkey) == 1 &&
	    (alg != JWT_RS256 ||
	    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1))
		ok = EVP_DigestVerify(mctx, sig, siglen,
		    (const unsigned char *)in, inlen) == 1;
	EVP_MD_CTX_free(mctx);
	/* Why it failed is of no use, and must not pile up. */
	ERR_clear_error();
	return (ok);
}

/* Check the signature of in by the algorithm and key of a token. */
static int
jwt_verify_sig(const struct jwt_keys *ks, const struct jwt_key *k,
    enum jwt_alg alg, const char *in, size_t inlen,
    const unsigned char *sig, size_t siglen)
{
	unsigned char	 mac[EVP_MAX_MD_SIZE];
	unsigned int	 maclen = 0;
	const EVP_MD	*md;
	size_t		 minlen;

	if (k != NULL)
		return (jwt_verify_pkey(k->k_pkey, alg, in, inlen, sig,
		    siglen));
	md = jwt_alg_md(alg, &minlen);
	if (HMAC(md, ks->ks_secret, (int)ks->ks_secretlen,
	    (const unsigned char *)in, inlen, mac, &maclen) == NULL)
		return (0);
	/* In constant time: the MAC must not leak a byte at a time. */
	return (siglen == maclen && CRYPTO_memcmp(mac, sig, maclen) == 0);
}

/* Is the audience claim aud, a string or an array of them, for us? */
static int
jwt_audience_ok(const json_t *aud, const char *want)
{
	const json_t	*v;
	size_t		 i, len = strlen(want);

	if (json_is_string(aud))
		return (json_string_length(aud) == len &&
		    memcmp(json_string_value(aud), want, len) == 0);
	if (!json_is_array(aud))
		return (0);
	json_array_foreach(aud, i, v) {
		if (json_is_string(v) && json_string_length(v) == len &&
		    memcmp(json_string_value(v), want, len) == 0)
			return (1);
	}
	return (0);
}

/* Check the registered claims of a verified token, at now (seconds). */
static enum jwt_result
jwt_check_claims(const struct jwt_conf *jc, const json_t *claims,
    int64_t now)
{
	const json_t	*v;
	size_t		 len;

	if ((v = json_object_get(claims, "exp")) != NULL) {
		if (!json_is_number(v))
			return (JWT_MALFORMED);
		if (!(json_number_value(v) > (double)(now - jc->j_leeway)))
			return (JWT_EXPIRED);
	}
	if ((v = json_object_get(claims, "nbf")) != NULL) {
		if (!json_is_number(v))
			return (JWT_MALFORMED);
		if (json_number_value(v) > (double)(now + jc->j_leeway))
			return (JWT_NOT_YET_VALID);
	}
	if (jc->j_issuer != NULL) {
		v = json_object_get(claims, "iss");
		len = strlen(jc->j_issuer);
		if (!json_is_string(v) || json_string_length(v) != len ||
		    memcmp(json_string_value(v), jc->j_issuer, len) != 0)
			return (JWT_ISSUER);
	}
	if (jc->j_audience != NULL &&
	    !jwt_audience_ok(json_object_get(claims, "aud"), jc->j_audience))
		return (JWT_AUDIENCE);
	return (JWT_OK);
}

/* Check the JOSE header: the algorithm, and nothing we do not know. */
static enum jwt_result
jwt_check_header(const struct jwt_conf *jc, const json_t *hdr,
    enum jwt_alg *alg, const char **kid)
{
	const json_t	*v;
	int		 a;

	if (!json_is_object(hdr))
		return (JWT_MALFORMED);
	/* Extensions that must be understood are not. */
	if (json_object_get(hdr, "crit") != NULL)
		return (JWT_MALFORMED);
	if ((v = json_object_get(hdr, "typ")) != NULL &&
	    (!json_is_string(v) || strcasecmp(json_string_value(v),
	    "JWT") != 0))
		return (JWT_MALFORMED);
	*kid = NULL;
	if ((v = json_object_get(hdr, "kid")) != NULL) {
		if (!json_is_string(v))
			return (JWT_MALFORMED);
		*kid = json_string_value(v);
	}
	if (!json_is_string(v = json_object_get(hdr, "alg")))
		return (JWT_MALFORMED);
	/* "none" is not in the table, so it is never accepted. */
	if ((a = jwt_alg_parse(json_string_value(v))) == -1 ||
	    (jc->j_algs & 1U << a) == 0)
		return (JWT_ALGORITHM);
	/*
	 * An algorithm of the other family than the key is refused, even
	 * if the configuration lists it: an HMAC keyed with the bytes of a
	 * public key would let anyone sign.
	 */
	if (((1U << a & JWT_HS_ALGS) != 0) !=
	    (jc->j_keys->ks_src == JWT_KEYS_SECRET))
		return (JWT_ALGORITHM);
	*alg = (enum jwt_alg)a;
	return (JWT_OK);
}

/*
 * Verify the compact JWS tok of len bytes under jc at now (seconds since
 * the epoch). Return JWT_OK with *claims the claims object (the caller
 * drops it with json_decref), or why the token is refused.
 */
enum jwt_result
jwt_verify(const struct jwt_conf *jc, const char *tok, size_t len,
    int64_t now, json_t **claims)
{
	const struct jwt_key	*k = NULL;
	const char		*d1, *d2, *kid;
	unsigned char		*buf, *hdr, *pay, *sig;
	enum jwt_result		 r;
	enum jwt_alg		 alg;
	json_t			*jh = NULL, *jp = NULL;
	ssize_t			 hlen, plen, slen;

	*claims = NULL;
	if (len > jc->j_max_token_bytes)
		return (JWT_TOO_LARGE);
	if (len == 0 || jc->j_keys == NULL ||
	    (d1 = memchr(tok, '.', len)) == NULL ||
	    (d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok))) == NULL ||
	    memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - tok)) != NULL)
		return (JWT_MALFORMED);

	/* One buffer for the three decoded parts, each shorter than its text. */
	buf = xmalloc(len);
	hdr = buf;
	hlen = jwt_b64url_decode(tok, (size_t)(d1 - tok), hdr);
	pay = hdr + (hlen > 0 ? hlen : 0);
	plen = jwt_b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), pay);
	sig = pay + (plen > 0 ? plen : 0);
	slen = jwt_b64url_decode(d2 + 1, len - (size_t)(d2 + 1 - tok), sig);
	if (hlen <= 0 || plen <= 0 || slen < 0) {
		r = JWT_MALFORMED;
		goto out;
	}

	jh = json_loadb((const char *)hdr, (size_t)hlen,
	    JSON_REJECT_DUPLICATES, NULL);
	if (jh == NULL) {
		r = JWT_MALFORMED;
		goto out;
	}
	if ((r = jwt_check_header(jc, jh, &alg, &kid)) != JWT_OK)
		goto out;
	if (jc->j_keys->ks_src != JWT_KEYS_SECRET &&
	    (k = jwt_key_pick(jc->j_keys, alg, kid)) == NULL) {
		r = JWT_KEY;
		goto out;
	}
	/* The signing input is the text of the first two parts. */
	if (!jwt_verify_sig(jc->j_keys, k, alg, tok, (size_t)(d2 - tok), sig,
	    (size_t)slen)) {
		r = JWT_SIGNATURE;
		goto out;
	}

	jp = json_loadb((const char *)pay, (size_t)plen,
	    JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(jp)) {
		r = JWT_MALFORMED;
		goto out;
	}
	if ((r = jwt_check_claims(jc, jp, now)) == JWT_OK) {
		*claims = jp;
		jp = NULL;
	}
out:
	json_decref(jh);
	json_decref(jp);
	free(buf);
	return (r);
}

/*
 * Find the token of a request where jc says, and verify it. Return as
 * jwt_verify, or JWT_MISSING if the request has none (an empty value is
 * none); an Authorization header must use the Bearer scheme.
 */
enum jwt_result
jwt_check(const struct jwt_conf *jc, const struct http_request *req,
    int64_t now, json_t **claims)
{
	const struct http_header	*h;
	const char			*v = NULL;
	char				*owned = NULL;
	enum jwt_result			 r;
	size_t				 len = 0, n;
	int				 found;

	*claims = NULL;
	switch (jc->j_source) {
	case CTX_SOURCE_COOKIE:
		found = http_cookie_get(req, jc->j_key, &v, &len);
		break;
	case CTX_SOURCE_HEADER:
		if ((h = http_header_find(req, jc->j_key, &n)) == NULL) {
			found = 0;
			break;
		}
		if (n > 1)
			return (JWT_MALFORMED);
		v = h->h_value;
		len = h->h_valuelen;
		found = 1;
		if (len == 0 || strcasecmp(jc->j_key, "Authorization") != 0)
			break;
		/* RFC 6750 2.1: "Bearer" 1*SP token, the scheme in any case. */
		if (len < 7 || strncasecmp(v, "Bearer ", 7) != 0)
			return (JWT_MALFORMED);
		for (v += 7, len -= 7; len > 0 && *v == ' '; v++, len--)
			;
		if (len == 0)
			return (JWT_MALFORMED);
		break;
	case CTX_SOURCE_QUERY:
		if ((found = http_query_get(req, jc->j_key, &owned, &len)) ==
		    -1)
			return (JWT_MALFORMED);
		v = owned;
		break;
	default:
		return (JWT_MISSING);
	}
	if (found == 0 || len == 0) {
		free(owned);
		return (JWT_MISSING);
	}
	r = jwt_verify(jc, v, len, now, claims);
	free(owned);
	return (r);
}
