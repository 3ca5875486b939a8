/*
 * Unit tests of jwt.c. Every token is made here, at test time: HMACs
 * with HMAC(), RSA and EC P-256 keys with EVP_PKEY_Q_keygen() and their
 * signatures with EVP_DigestSign(), the base64url with an encoder of the
 * test's own; nothing is copied from elsewhere.
 */
#include "config.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "unit.h"

#define NOW		((int64_t)1700000000)
#define SECRET		"0123456789abcdef0123456789abcdef0123456789abcdef" \
			"0123456789abcdef"	/* 64 bytes: every HS alg */
#define ALL_ALGS	(1U << JWT_HS256 | 1U << JWT_HS384 | \
			 1U << JWT_HS512 | 1U << JWT_RS256 | 1U << JWT_ES256)

/* Made once, before the tests fork. */
static EVP_PKEY	*rsa1, *rsa2, *ec1;

static void
keys_setup(void)
{
	rsa1 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	rsa2 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	ec1 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (rsa1 == NULL || rsa2 == NULL || ec1 == NULL)
		abort();
}

static void
keys_teardown(void)
{
	EVP_PKEY_free(rsa1);
	EVP_PKEY_free(rsa2);
	EVP_PKEY_free(ec1);
}

/* base64url without padding, written for the tests; the caller frees. */
static char *
b64u(const void *data, size_t len)
{
	static const char	 a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-_";
	const unsigned char	*p = data;
	char			*out = xmalloc(len / 3 * 4 + 5), *o = out;
	size_t			 i;

	for (i = 0; i + 2 < len; i += 3) {
		*o++ = a[p[i] >> 2];
		*o++ = a[(p[i] & 3) << 4 | p[i + 1] >> 4];
		*o++ = a[(p[i + 1] & 15) << 2 | p[i + 2] >> 6];
		*o++ = a[p[i + 2] & 63];
	}
	if (len - i == 1) {
		*o++ = a[p[i] >> 2];
		*o++ = a[(p[i] & 3) << 4];
	} else if (len - i == 2) {
		*o++ = a[p[i] >> 2];
		*o++ = a[(p[i] & 3) << 4 | p[i + 1] >> 4];
		*o++ = a[(p[i + 1] & 15) << 2];
	}
	*o = '\0';
	return (out);
}

static char *
b64u_str(const char *s)
{
	return (b64u(s, strlen(s)));
}

/* The raw JWS signature of in by alg with secret or pkey; *len set. */
static unsigned char *
sign_raw(const char *alg, const void *secret, size_t secretlen,
    EVP_PKEY *pkey, const char *in, size_t *len)
{
	unsigned char	*sig, *der;
	const unsigned char *dp;
	unsigned int	 maclen;
	const EVP_MD	*md = EVP_sha256();
	EVP_MD_CTX	*mctx;
	ECDSA_SIG	*es;
	size_t		 dlen;

	if (strcmp(alg, "HS384") == 0)
		md = EVP_sha384();
	else if (strcmp(alg, "HS512") == 0)
		md = EVP_sha512();
	if (alg[0] == 'H') {
		sig = xmalloc(EVP_MAX_MD_SIZE);
		ck_assert_ptr_nonnull(HMAC(md, secret, (int)secretlen,
		    (const unsigned char *)in, strlen(in), sig, &maclen));
		*len = maclen;
		return (sig);
	}
	mctx = EVP_MD_CTX_new();
	ck_assert_int_eq(EVP_DigestSignInit(mctx, NULL, EVP_sha256(), NULL,
	    pkey), 1);
	ck_assert_int_eq(EVP_DigestSign(mctx, NULL, &dlen,
	    (const unsigned char *)in, strlen(in)), 1);
	der = xmalloc(dlen);
	ck_assert_int_eq(EVP_DigestSign(mctx, der, &dlen,
	    (const unsigned char *)in, strlen(in)), 1);
	EVP_MD_CTX_free(mctx);
	if (alg[0] == 'R') {
		*len = dlen;
		return (der);
	}
	/* ES256: DER to R || S, each left-padded to 32 bytes. */
	dp = der;
	es = d2i_ECDSA_SIG(NULL, &dp, (long)dlen);
	ck_assert_ptr_nonnull(es);
	sig = xmalloc(64);
	ck_assert_int_eq(BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32), 32);
	ck_assert_int_eq(BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32), 32);
	ECDSA_SIG_free(es);
	free(der);
	*len = 64;
	return (sig);
}

/*
 * A token of header and payload texts, signed by alg (taken from the
 * header's use, not parsed from it) with secret or pkey; flip, if not
 * negative, is a bit of the signature to invert.
 */
static char *
token_flip(const char *header, const char *payload, const char *alg,
    const void *secret, size_t secretlen, EVP_PKEY *pkey, int flip)
{
	char		*h = b64u_str(header), *p = b64u_str(payload);
	char		*in, *s, *tok;
	unsigned char	*sig;
	size_t		 siglen;

	xasprintf(&in, "%s.%s", h, p);
	sig = sign_raw(alg, secret, secretlen, pkey, in, &siglen);
	if (flip >= 0)
		sig[(size_t)flip / 8 % siglen] ^= (unsigned char)(1 << flip % 8);
	s = b64u(sig, siglen);
	xasprintf(&tok, "%s.%s", in, s);
	free(h);
	free(p);
	free(in);
	free(s);
	free(sig);
	return (tok);
}

static char *
token(const char *header, const char *payload, const char *alg,
    const void *secret, size_t secretlen, EVP_PKEY *pkey)
{
	return (token_flip(header, payload, alg, secret, secretlen, pkey, -1));
}

/* An HS token of payload with SECRET, its header {"alg":alg}. */
static char *
hs(const char *alg, const char *payload)
{
	char	*hdr, *t;

	xasprintf(&hdr, "{\"alg\":\"%s\",\"typ\":\"JWT\"}", alg);
	/* Names that are not ours are signed HS256 all the same. */
	t = token(hdr, payload, strcmp(alg, "HS384") == 0 ||
	    strcmp(alg, "HS512") == 0 ? alg : "HS256", SECRET, strlen(SECRET),
	    NULL);
	free(hdr);
	return (t);
}

static char *
pem_of(EVP_PKEY *pkey, size_t *len)
{
	BIO	*bio = BIO_new(BIO_s_mem());
	char	*data, *out;
	long	 n;

	ck_assert_int_eq(PEM_write_bio_PUBKEY(bio, pkey), 1);
	n = BIO_get_mem_data(bio, &data);
	out = xmalloc((size_t)n + 1);
	memcpy(out, data, (size_t)n);
	out[n] = '\0';
	*len = (size_t)n;
	BIO_free(bio);
	return (out);
}

/* The base64url of a big-number parameter, len bytes if len > 0. */
static char *
bn_b64u(EVP_PKEY *pkey, const char *param, int len)
{
	BIGNUM		*bn = NULL;
	unsigned char	 buf[1024];
	int		 n;

	ck_assert_int_eq(EVP_PKEY_get_bn_param(pkey, param, &bn), 1);
	n = len > 0 ? BN_bn2binpad(bn, buf, len) : BN_bn2bin(bn, buf);
	ck_assert_int_gt(n, 0);
	BN_free(bn);
	return (b64u(buf, (size_t)n));
}

/* A JWK of pkey (RSA or EC P-256) with kid, and extra members. */
static json_t *
jwk_of(EVP_PKEY *pkey, const char *kid)
{
	json_t	*k = json_object();
	char	*a, *b;

	if (EVP_PKEY_is_a(pkey, "RSA")) {
		a = bn_b64u(pkey, OSSL_PKEY_PARAM_RSA_N, 0);
		b = bn_b64u(pkey, OSSL_PKEY_PARAM_RSA_E, 0);
		json_object_set_new(k, "kty", json_string("RSA"));
		json_object_set_new(k, "n", json_string(a));
		json_object_set_new(k, "e", json_string(b));
	} else {
		a = bn_b64u(pkey, OSSL_PKEY_PARAM_EC_PUB_X, 32);
		b = bn_b64u(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
		json_object_set_new(k, "kty", json_string("EC"));
		json_object_set_new(k, "crv", json_string("P-256"));
		json_object_set_new(k, "x", json_string(a));
		json_object_set_new(k, "y", json_string(b));
	}
	if (kid != NULL)
		json_object_set_new(k, "kid", json_string(kid));
	free(a);
	free(b);
	return (k);
}

/* Keys from a JWK set of the given keys (references stolen). */
static struct jwt_keys *
jwks_of(json_t *k1, json_t *k2, json_t *k3)
{
	struct jwt_keys	*ks;
	json_t		*set = json_object(), *arr = json_array();
	char		*text, *cause = NULL;

	if (k1 != NULL)
		json_array_append_new(arr, k1);
	if (k2 != NULL)
		json_array_append_new(arr, k2);
	if (k3 != NULL)
		json_array_append_new(arr, k3);
	json_object_set_new(set, "keys", arr);
	text = json_dumps(set, JSON_COMPACT);
	ks = jwt_keys_parse(JWT_KEYS_JWKS, text, strlen(text), &cause);
	ck_assert_msg(ks != NULL, "jwks: %s", cause ? cause : "");
	free(text);
	json_decref(set);
	return (ks);
}

static struct jwt_keys *
secret_keys(void)
{
	char		*cause = NULL;
	struct jwt_keys	*ks;

	ks = jwt_keys_parse(JWT_KEYS_SECRET, SECRET, strlen(SECRET), &cause);
	ck_assert_ptr_nonnull(ks);
	return (ks);
}

static struct jwt_keys *
pem_keys(EVP_PKEY *pkey)
{
	struct jwt_keys	*ks;
	char		*pem, *cause = NULL;
	size_t		 len;

	pem = pem_of(pkey, &len);
	ks = jwt_keys_parse(JWT_KEYS_PEM, pem, len, &cause);
	ck_assert_msg(ks != NULL, "pem: %s", cause ? cause : "");
	free(pem);
	return (ks);
}

/* The jwt group of a configuration, with the defaults of wsgate.conf. */
static struct jwt_conf
conf(struct jwt_keys *ks, unsigned int algs)
{
	struct jwt_conf	 jc;

	memset(&jc, 0, sizeof jc);
	jc.j_enabled = 1;
	jc.j_source = CTX_SOURCE_HEADER;
	jc.j_key = (char *)"Authorization";
	jc.j_algs = algs;
	jc.j_leeway = 30;
	jc.j_required = 1;
	jc.j_max_token_bytes = 8192;
	jc.j_keys = ks;
	return (jc);
}

/* Verify tok under jc at NOW; check the result, free tok; return claims. */
static json_t *
verify_is(const struct jwt_conf *jc, char *tok, enum jwt_result want)
{
	json_t		*claims = (json_t *)1;
	enum jwt_result	 r;

	r = jwt_verify(jc, tok, strlen(tok), NOW, &claims);
	ck_assert_msg(r == want, "%s: got %s, want %s", tok,
	    jwt_result_name(r), jwt_result_name(want));
	if (want != JWT_OK)
		ck_assert_ptr_null(claims);
	else
		ck_assert(json_is_object(claims));
	free(tok);
	return (claims);
}

static void
verify_ok_sub(const struct jwt_conf *jc, char *tok, const char *sub)
{
	json_t	*claims = verify_is(jc, tok, JWT_OK);

	ck_assert_str_eq(json_string_value(json_object_get(claims, "sub")),
	    sub);
	json_decref(claims);
}

#define PAYLOAD	"{\"sub\":\"user-1\",\"exp\":1700000600}"

START_TEST(hs256_hs384_hs512_valid)
{
	struct jwt_keys	*ks = secret_keys();
	struct jwt_conf	 jc = conf(ks, ALL_ALGS);

	verify_ok_sub(&jc, hs("HS256", PAYLOAD), "user-1");
	verify_ok_sub(&jc, hs("HS384", PAYLOAD), "user-1");
	verify_ok_sub(&jc, hs("HS512", PAYLOAD), "user-1");
	jwt_keys_free(ks);
}
END_TEST

START_TEST(rs256_and_es256_valid_pem)
{
	struct jwt_keys	*rk = pem_keys(rsa1), *ek = pem_keys(ec1);
	struct jwt_conf	 rc = conf(rk, 1U << JWT_RS256);
	struct jwt_conf	 ec = conf(ek, 1U << JWT_ES256);

	verify_ok_sub(&rc, token("{\"alg\":\"RS256\"}", PAYLOAD, "RS256",
	    NULL, 0, rsa1), "user-1");
	verify_ok_sub(&ec, token("{\"alg\":\"ES256\",\"typ\":\"jwt\"}",
	    PAYLOAD, "ES256", NULL, 0, ec1), "user-1");
	jwt_keys_free(rk);
	jwt_keys_free(ek);
}
END_TEST

START_TEST(claims_keep_their_json_types)
{
	struct jwt_keys	*ks = secret_keys();
	struct jwt_conf	 jc = conf(ks, 1U << JWT_HS256);
	json_t		*claims;

	claims = verify_is(&jc, hs("HS256", "{\"sub\":42,\"roles\":[\"a\","
	    "\"b\"],\"o\":{\"k\":true},\"n\":null}"), JWT_OK);
	ck_assert(json_integer_value(json_object_get(claims, "sub")) == 42);
	ck_assert_uint_eq(json_array_size(json_object_get(claims, "roles")),
	    2);
	ck_assert(json_is_true(json_object_get(json_object_get(claims, "o"),
	    "k")));
	ck_assert(json_is_null(json_object_get(claims, "n")));
	json_decref(claims);
	jwt_keys_free(ks);
}
END_TEST

START_TEST(exp_expired_and_within_leeway)
{
	struct jwt_keys	*ks = secret_keys();
	struct jwt_conf	 jc = conf(ks, 1U << JWT_HS256);
	json_t		*c;

	/* Valid while exp > now - leeway (30 s). */
	verify_is(&jc, hs("HS256", "{\"exp\":1699999969}"), JWT_EXPIRED);
	verify_is(&jc, hs("HS256", "{\"exp\":1699999970}"), JWT_EXPIRED);
	c = verify_is(&jc, hs("HS256", "{\"exp\":1699999971}"), JWT_OK);
	json_decref(c);
	c = verify_is(&jc, hs("HS256", "{\"exp\":1699999970.5}"), JWT_OK);
	json_decref(c);
	jc.j_leeway = 0;
	verify_is(&jc, hs("HS256", "{\"exp\":1699999999}"), JWT_EXPIRED);
	verify_is(&jc, hs("HS256", "{\"exp\":1700000000}"), JWT_EXPIRED);
	c = verify_is(&jc, hs("HS256", "{\"exp\":1700000001}"), JWT_OK);
	json_decref(c);
	/* No exp at all is allowed; one that is not a number is not. */
	c = verify_is(&jc, hs("HS256", "{\"sub\":\"x\"}"), JWT_OK);
	json_decref(c);
	verify_is(&jc, hs("HS256", "{\"exp\":\"1800000000\"}"),
	    JWT_MALFORMED);
	jwt_keys_free(ks);
}
END_TEST

START_TEST(nbf_in_future_and_within_leeway)
{
	struct jwt_keys	*ks = secret_keys();
	struct jwt_conf	 jc = conf(ks, 1U << JWT_HS256);
	json_t		*c;

	verify_is(&jc, hs("HS256", "{\"nbf\":1700000031}"),
	    JWT_NOT_YET_VALID);
	c = verify_is(&jc, hs("HS256", "{\"nbf\":1700000030}"), JWT_OK);
	json_decref(c);
	c = verify_is(&jc, hs("HS256", "{\"nbf\":1600000000,"
	    "\"iat\":1900000000}"), JWT_OK);
	json_decref(c);
	verify_is(&jc, hs("HS256", "{\"nbf\":null}"), JWT_MALFORMED);
	jwt_keys_free(ks);
}
END_TEST

START_TEST(issuer)
{
	struct jwt_keys	*ks = secret_keys();
	struct jwt_conf	 jc = conf(ks, 1U << JWT_HS256);
	json_t		*c;

	jc.j_issuer = (char *)"https://auth.example.com";
	c = verify_is(&jc, hs("HS256", "{\"iss\":\"https://auth.example.com\""
	    "}"), JWT_OK);
	json_decref(c);
	verify_is(&jc, hs("HS256", "{\"iss\":\"https://evil.example.com\"}"),
	    JWT_ISSUER);
	verify_is(&jc, hs("HS256", "{\"iss\":\"https://auth.example.co\"}"),
	    JWT_ISSUER);
	verify_is(&jc, hs("HS256", "{\"iss\":[\"https://auth.example.com\"]}"),
	    JWT_ISSUER);
	verify_is(&jc, hs("HS256", "{\"sub\":\"x\"}"), JWT_ISSUER);
	jwt_keys_free(ks);
}
END_TEST

START_TEST(audience_string_and_array)
{
	struct jwt_keys	*ks = secret_keys();
	struct jwt_conf	 jc = conf(ks, 1U << JWT_HS256);
	json_t		*c;

	jc.j_audience = (char *)"wsgate";
	c = verify_is(&jc, hs("HS256", "{\"aud\":\"wsgate\"}"), JWT_OK);
	json_decref(c);
	c = verify_is(&jc, hs("HS256", "{\"aud\":[\"api\",\"wsgate\"]}"),
	    JWT_OK);
	json_decref(c);
	verify_is(&jc, hs("HS256", "{\"aud\":\"wsgatex\"}"), JWT_AUDIENCE);
	verify_is(&jc, hs("HS256", "{\"aud\":[\"api\",\"web\"]}"),
	    JWT_AUDIENCE);
	verify_is(&jc, hs("HS256", "{\"aud\":[]}"), JWT_AUDIENCE);
	verify_is(&jc, hs("HS256", "{\"aud\":{\"wsgate\":1}}"), JWT_AUDIENCE);
	verify_is(&jc, hs("HS256", "{\"sub\":\"x\"}"), JWT_AUDIENCE);
	/* Not configured: any audience, or none, will do. */
	jc.j_audience = NULL;
	c = verify_is(&jc, hs("HS256", "{\"aud\":\"other\"}"), JWT_OK);
	json_decref(c);
	jwt_keys_free(ks);
}
END_TEST

START_TEST(one_bit_flipped_in_signature)
{
	struct jwt_keys	*sk = secret_keys(), *rk = pem_keys(rsa1);
	struct jwt_keys	*ek = pem_keys(ec1);
	struct jwt_conf	 sc = conf(sk, ALL_ALGS), rc = conf(rk, ALL_ALGS);
	struct jwt_conf	 ec = conf(ek, ALL_ALGS);
	int		 bit;

	for (bit = 0; bit < 256; bit += 37) {
		verify_is(&sc, token_flip("{\"alg\":\"HS256\"}", PAYLOAD,
		    "HS256", SECRET, strlen(SECRET), NULL, bit),
		    JWT_SIGNATURE);
		verify_is(&sc, token_flip("{\"alg\":\"HS512\"}", PAYLOAD,
		    "HS512", SECRET, strlen(SECRET), NULL, bit),
		    JWT_SIGNATURE);
		verify_is(&rc, token_flip("{\"alg\":\"RS256\"}", PAYLOAD,
		    "RS256", NULL, 0, rsa1, bit), JWT_SIGNATURE);
		verify_is(&ec, token_flip("{\"alg\":\"ES256\"}", PAYLOAD,
		    "ES256", NULL, 0, ec1, bit), JWT_SIGNATURE);
	}
	jwt_keys_free(sk);
	jwt_keys_free(rk);
	jwt_keys_free(ek);
}
END_TEST

START_TEST(changed_payload_or_other_key)
{
	struct jwt_keys	*sk = secret_keys(), *rk = pem_keys(rsa1);
	struct jwt_conf	 sc = conf(sk, ALL_ALGS), rc = conf(rk, ALL_ALGS);
	char		*t, *dot, *p, *forged;

	/* The claims of a valid token swapped for others. */
	t = hs("HS256", PAYLOAD);
	dot = strchr(t, '.');
	p = b64u_str("{\"sub\":\"admin\",\"exp\":1700000600}");
	xasprintf(&forged, "%.*s.%s%s", (int)(dot - t), t, p,
	    strchr(dot + 1, '.'));
	verify_is(&sc, forged, JWT_SIGNATURE);
	free(p);
	free(t);
	/* Signed by another secret, and by another RSA key. */
	verify_is(&sc, token("{\"alg\":\"HS256\"}", PAYLOAD, "HS256",
	    SECRET "x", strlen(SECRET) + 1, NULL), JWT_SIGNATURE);
	verify_is(&rc, token("{\"alg\":\"RS256\"}", PAYLOAD, "RS256", NULL, 0,
	    rsa2), JWT_SIGNATURE);
	jwt_keys_free(sk);
	jwt_keys_free(rk);
}
END_TEST

START_TEST(alg_none_refused)
{
	struct jwt_keys	*ks = secret_keys();
	struct jwt_conf	 jc = conf(ks, ALL_ALGS);
	char		*h, *p, *t;

	h = b64u_str("{\"alg\":\"none\"}");
	p = b64u_str(PAYLOAD);
	xasprintf(&t, "%s.%s.", h, p);
	verify_is(&jc, t, JWT_ALGORITHM);
	free(h);
	h = b64u_str("{\"alg\":\"None\",\"typ\":\"JWT\"}");
	xasprintf(&t, "%s.%s.", h, p);
	verify_is(&jc, t, JWT_ALGORITHM);
	/* With a signature that is a valid MAC, still none. */
	verify_is(&jc, token("{\"alg\":\"none\"}", PAYLOAD, "HS256", SECRET,
	    strlen(SECRET), NULL), JWT_ALGORITHM);
	free(h);
	free(p);
	jwt_keys_free(ks);
}
END_TEST

START_TEST(algorithm_confusion_refused)
{
	struct jwt_keys	*sk = secret_keys(), *rk = pem_keys(rsa1);
	struct jwt_keys	*ek = pem_keys(ec1);
	struct jwt_conf	 sc = conf(sk, ALL_ALGS), rc = conf(rk, ALL_ALGS);
	struct jwt_conf	 ec = conf(ek, ALL_ALGS);
	char		*pem;
	size_t		 len;

	/* An HMAC keyed with the public key's PEM, as an attacker would. */
	pem = pem_of(rsa1, &len);
	verify_is(&rc, token("{\"alg\":\"HS256\"}", PAYLOAD, "HS256", pem,
	    len, NULL), JWT_ALGORITHM);
	free(pem);
	pem = pem_of(ec1, &len);
	verify_is(&ec, token("{\"alg\":\"HS256\"}", PAYLOAD, "HS256", pem,
	    len, NULL), JWT_ALGORITHM);
	free(pem);
	/* RS and ES tokens against a secret. */
	verify_is(&sc, token("{\"alg\":\"RS256\"}", PAYLOAD, "RS256", NULL, 0,
	    rsa1), JWT_ALGORITHM);
	verify_is(&sc, token("{\"alg\":\"ES256\"}", PAYLOAD, "ES256", NULL, 0,
	    ec1), JWT_ALGORITHM);
	/* An ES token for an RSA key, and the other way round. */
	verify_is(&rc, token("{\"alg\":\"ES256\"}", PAYLOAD, "ES256", NULL, 0,
	    ec1), JWT_KEY);
	verify_is(&ec, token("{\"alg\":\"RS256\"}", PAYLOAD, "RS256", NULL, 0,
	    rsa1), JWT_KEY);
	jwt_keys_free(sk);
	jwt_keys_free(rk);
	jwt_keys_free(ek);
}
END_TEST

START_TEST(alg_not_in_list)
{
	struct jwt_keys	*ks = secret_keys();
	struct jwt_conf	 jc = conf(ks, 1U << JWT_HS256);

	verify_is(&jc, hs("HS384", PAYLOAD), JWT_ALGORITHM);
	verify_is(&jc, hs("HS512", PAYLOAD), JWT_ALGORITHM);
	verify_is(&jc, hs("hs256", PAYLOAD), JWT_ALGORITHM);
	verify_is(&jc, hs("PS256", PAYLOAD), JWT_ALGORITHM);
	verify_is(&jc, token("{\"alg\":256}", PAYLOAD, "HS256", SECRET,
	    strlen(SECRET), NULL), JWT_MALFORMED);
	verify_is(&jc, token("{\"typ\":\"JWT\"}", PAYLOAD, "HS256", SECRET,
	    strlen(SECRET), NULL), JWT_MALFORMED);
	jwt_keys_free(ks);
}
END_TEST

START_TEST(jwks_kid_selects_key)
{
	struct jwt_keys	*ks;
	struct jwt_conf	 jc;

	ks = jwks_of(jwk_of(rsa1, "r1"), jwk_of(ec1, "e1"), NULL);
	jc = conf(ks, 1U << JWT_RS256 | 1U << JWT_ES256);
	verify_ok_sub(&jc, token("{\"alg\":\"RS256\",\"kid\":\"r1\"}", PAYLOAD,
	    "RS256", NULL, 0, rsa1), "user-1");
	verify_ok_sub(&jc, token("{\"alg\":\"ES256\",\"kid\":\"e1\"}", PAYLOAD,
	    "ES256", NULL, 0, ec1), "user-1");
	/* A kid of a key of the other type, an unknown kid, no kid. */
	verify_is(&jc, token("{\"alg\":\"RS256\",\"kid\":\"e1\"}", PAYLOAD,
	    "RS256", NULL, 0, rsa1), JWT_KEY);
	verify_is(&jc, token("{\"alg\":\"RS256\",\"kid\":\"r2\"}", PAYLOAD,
	    "RS256", NULL, 0, rsa1), JWT_KEY);
	verify_is(&jc, token("{\"alg\":\"RS256\"}", PAYLOAD, "RS256", NULL, 0,
	    rsa1), JWT_KEY);
	verify_is(&jc, token("{\"alg\":\"RS256\",\"kid\":7}", PAYLOAD,
	    "RS256", NULL, 0, rsa1), JWT_MALFORMED);
	jwt_keys_free(ks);

	/* Two RSA keys: the kid decides which one checks the signature. */
	ks = jwks_of(jwk_of(rsa1, "a"), jwk_of(rsa2, "b"), NULL);
	jc = conf(ks, 1U << JWT_RS256);
	verify_ok_sub(&jc, token("{\"alg\":\"RS256\",\"kid\":\"b\"}", PAYLOAD,
	    "RS256", NULL, 0, rsa2), "user-1");
	verify_is(&jc, token("{\"alg\":\"RS256\",\"kid\":\"a\"}", PAYLOAD,
	    "RS256", NULL, 0, rsa2), JWT_SIGNATURE);
	jwt_keys_free(ks);
}
END_TEST

START_TEST(jwks_one_key_without_kid_and_skipped_keys)
{
	struct jwt_keys	*ks;
	struct jwt_conf	 jc;
	json_t		*enc, *other_alg;

	/* A key for encryption and one for RS512 are skipped. */
	enc = jwk_of(rsa2, NULL);
	json_object_set_new(enc, "use", json_string("enc"));
	other_alg = jwk_of(rsa2, NULL);
	json_object_set_new(other_alg, "alg", json_string("RS512"));
	ks = jwks_of(enc, jwk_of(rsa1, "only"), other_alg);
	jc = conf(ks, 1U << JWT_RS256);
	ck_assert_uint_eq(jwt_keys_algs(ks), 1U << JWT_RS256);
	verify_ok_sub(&jc, token("{\"alg\":\"RS256\"}", PAYLOAD, "RS256",
	    NULL, 0, rsa1), "user-1");
	verify_ok_sub(&jc, token("{\"alg\":\"RS256\",\"kid\":\"only\"}",
	    PAYLOAD, "RS256", NULL, 0, rsa1), "user-1");
	verify_is(&jc, token("{\"alg\":\"RS256\"}", PAYLOAD, "RS256", NULL, 0,
	    rsa2), JWT_SIGNATURE);
	jwt_keys_free(ks);

	/* A key whose "alg" is RS256 serves only RS256. */
	other_alg = jwk_of(ec1, "e");
	json_object_set_new(other_alg, "alg", json_string("ES256"));
	ks = jwks_of(other_alg, NULL, NULL);
	jc = conf(ks, 1U << JWT_RS256 | 1U << JWT_ES256);
	verify_ok_sub(&jc, token("{\"alg\":\"ES256\"}", PAYLOAD, "ES256",
	    NULL, 0, ec1), "user-1");
	jwt_keys_free(ks);
}
END_TEST

/* A token's three parts replaced by texts of our own. */
static char *
parts(const char *a, const char *b, const char *c)
{
	char	*t;

	xasprintf(&t, "%s%s%s", a, b, c);
	return (t);
}

START_TEST(malformed_shapes)
{
	struct jwt_keys	*ks = secret_keys();
	struct jwt_conf	 jc = conf(ks, ALL_ALGS);
	char		*good = hs("HS256", PAYLOAD), *t;
	size_t		 len = strlen(good), i;
	json_t		*claims;

	/* Every prefix is refused, none crashes. */
	for (i = 0; i < len; i++) {
		t = xstrndup(good, i);
		ck_assert_int_ne(jwt_verify(&jc, t, i, NOW, &claims), JWT_OK);
		ck_assert_ptr_null(claims);
		free(t);
	}
	verify_is(&jc, xstrdup(""), JWT_MALFORMED);
	verify_is(&jc, xstrdup("abc"), JWT_MALFORMED);
	verify_is(&jc, xstrdup(".."), JWT_MALFORMED);
	verify_is(&jc, xstrndup(good, (size_t)(strrchr(good, '.') - good)),
	    JWT_MALFORMED);
	verify_is(&jc, parts(good, ".", "e30"), JWT_MALFORMED);
	verify_is(&jc, parts(good, ".", ""), JWT_MALFORMED);
	/* Padding, the other alphabet, blanks. */
	verify_is(&jc, parts(good, "=", ""), JWT_MALFORMED);
	verify_is(&jc, parts(good, "==", ""), JWT_MALFORMED);
	t = xstrdup(good);
	*strchr(t, '.') = '=';
	verify_is(&jc, parts(t, "", ""), JWT_MALFORMED);
	free(t);
	for (i = 0; i < 4; i++) {
		t = xstrdup(good);
		t[len - 3] = "+/ ~"[i];
		verify_is(&jc, t, JWT_MALFORMED);
	}
	t = xstrdup(good);
	t[1] = '\0';
	ck_assert_int_eq(jwt_verify(&jc, t, len, NOW, &claims), JWT_MALFORMED);
	free(t);
	free(good);
	jwt_keys_free(ks);
}
END_TEST

START_TEST(strict_base64url)
{
	unsigned char	 out[8];

	ck_assert_int_eq(jwt_b64url_decode("QQ", 2, out), 1);
	ck_assert_int_eq(out[0], 'A');
	/* The same byte with leftover bits set is not its encoding. */
	ck_assert_int_eq(jwt_b64url_decode("QR", 2, out), -1);
	ck_assert_int_eq(jwt_b64url_decode("QUI", 3, out), 2);
	ck_assert_int_eq(jwt_b64url_decode("QUJ", 3, out), -1);
	ck_assert_int_eq(jwt_b64url_decode("QUJD", 4, out), 3);
	ck_assert_int_eq(jwt_b64url_decode("QUJDR", 5, out), -1);
	ck_assert_int_eq(jwt_b64url_decode("QQ==", 4, out), -1);
	ck_assert_int_eq(jwt_b64url_decode("-_-_", 4, out), 3);
	ck_assert_int_eq(out[0], 0xfb);
	ck_assert_int_eq(jwt_b64url_decode("+/+/", 4, out), -1);
	ck_assert_int_eq(jwt_b64url_decode("QU I", 4, out), -1);
	ck_assert_int_eq(jwt_b64url_decode("", 0, out), 0);
}
END_TEST

START_TEST(header_or_payload_not_an_object)
{
	struct jwt_keys	*ks = secret_keys();
	struct jwt_conf	 jc = conf(ks, ALL_ALGS);

	verify_is(&jc, token("[\"alg\",\"HS256\"]", PAYLOAD, "HS256", SECRET,
	    strlen(SECRET), NULL), JWT_MALFORMED);
	verify_is(&jc, token("\"HS256\"", PAYLOAD, "HS256", SECRET,
	    strlen(SECRET), NULL), JWT_MALFORMED);
	verify_is(&jc, token("{\"alg\":\"HS256\"", PAYLOAD, "HS256", SECRET,
	    strlen(SECRET), NULL), JWT_MALFORMED);
	/* Validly signed, but the claims are not an object. */
	verify_is(&jc, hs("HS256", "[1,2]"), JWT_MALFORMED);
	verify_is(&jc, hs("HS256", "\"user-1\""), JWT_MALFORMED);
	verify_is(&jc, hs("HS256", "{\"sub\":\"a\"} x"), JWT_MALFORMED);
	verify_is(&jc, hs("HS256", "{\"sub\":\"a\\u0000b\"}"), JWT_MALFORMED);
	jwt_keys_free(ks);
}
END_TEST

START_TEST(duplicate_names)
{
	struct jwt_keys	*ks = secret_keys();
	struct jwt_conf	 jc = conf(ks, ALL_ALGS);

	verify_is(&jc, token("{\"alg\":\"HS256\",\"alg\":\"HS256\"}", PAYLOAD,
	    "HS256", SECRET, strlen(SECRET), NULL), JWT_MALFORMED);
	verify_is(&jc, hs("HS256", "{\"sub\":\"user-1\",\"sub\":\"admin\"}"),
	    JWT_MALFORMED);
	jwt_keys_free(ks);
}
END_TEST

START_TEST(too_large)
{
	struct jwt_keys	*ks = secret_keys();
	struct jwt_conf	 jc = conf(ks, ALL_ALGS);
	char		*pad, *payload, *t;
	json_t		*c;

	pad = xmalloc(9000);
	memset(pad, 'x', 8999);
	pad[8999] = '\0';
	xasprintf(&payload, "{\"pad\":\"%s\"}", pad);
	verify_is(&jc, hs("HS256", payload), JWT_TOO_LARGE);
	/* Exactly the limit is accepted. */
	t = hs("HS256", "{\"sub\":\"x\"}");
	jc.j_max_token_bytes = strlen(t);
	c = verify_is(&jc, t, JWT_OK);
	json_decref(c);
	t = hs("HS256", "{\"sub\":\"xy\"}");
	verify_is(&jc, t, JWT_TOO_LARGE);
	free(payload);
	free(pad);
	jwt_keys_free(ks);
}
END_TEST

START_TEST(crit_and_typ)
{
	struct jwt_keys	*ks = secret_keys();
	struct jwt_conf	 jc = conf(ks, ALL_ALGS);
	json_t		*c;

	verify_is(&jc, token("{\"alg\":\"HS256\",\"crit\":[\"exp\"]}",
	    PAYLOAD, "HS256", SECRET, strlen(SECRET), NULL), JWT_MALFORMED);
	verify_is(&jc, token("{\"alg\":\"HS256\",\"crit\":[]}", PAYLOAD,
	    "HS256", SECRET, strlen(SECRET), NULL), JWT_MALFORMED);
	verify_is(&jc, token("{\"alg\":\"HS256\",\"typ\":\"JOSE\"}", PAYLOAD,
	    "HS256", SECRET, strlen(SECRET), NULL), JWT_MALFORMED);
	verify_is(&jc, token("{\"alg\":\"HS256\",\"typ\":1}", PAYLOAD,
	    "HS256", SECRET, strlen(SECRET), NULL), JWT_MALFORMED);
	c = verify_is(&jc, token("{\"alg\":\"HS256\",\"typ\":\"jWt\"}",
	    PAYLOAD, "HS256", SECRET, strlen(SECRET), NULL), JWT_OK);
	json_decref(c);
	jwt_keys_free(ks);
}
END_TEST

/* jwt_check: where the token is found. */
static enum jwt_result
check_head(struct jwt_conf *jc, const char *head, json_t **claims)
{
	struct unit_req	 u;

	unit_parse_ok(&u, head);
	return (jwt_check(jc, &u.r, NOW, claims));
}

START_TEST(check_sources)
{
	struct jwt_keys	*ks = secret_keys();
	struct jwt_conf	 jc = conf(ks, ALL_ALGS);
	char		*t = hs("HS256", PAYLOAD), *head;
	json_t		*claims;

	xasprintf(&head, "GET /ws HTTP/1.1\r\nAuthorization: Bearer %s\r\n"
	    "\r\n", t);
	ck_assert_int_eq(check_head(&jc, head, &claims), JWT_OK);
	ck_assert_str_eq(json_string_value(json_object_get(claims, "sub")),
	    "user-1");
	json_decref(claims);
	free(head);
	xasprintf(&head, "GET /ws HTTP/1.1\r\nauthorization: bEARER  %s\r\n"
	    "\r\n", t);
	ck_assert_int_eq(check_head(&jc, head, &claims), JWT_OK);
	json_decref(claims);
	free(head);
	xasprintf(&head, "GET /ws HTTP/1.1\r\nAuthorization: %s\r\n\r\n", t);
	ck_assert_int_eq(check_head(&jc, head, &claims), JWT_MALFORMED);
	free(head);
	ck_assert_int_eq(check_head(&jc, "GET /ws HTTP/1.1\r\nAuthorization: "
	    "Basic dTpw\r\n\r\n", &claims), JWT_MALFORMED);
	ck_assert_int_eq(check_head(&jc, "GET /ws HTTP/1.1\r\nAuthorization: "
	    "Bearer\r\n\r\n", &claims), JWT_MALFORMED);
	ck_assert_int_eq(check_head(&jc, "GET /ws HTTP/1.1\r\nHost: a\r\n\r\n",
	    &claims), JWT_MISSING);
	ck_assert_ptr_null(claims);
	xasprintf(&head, "GET /ws HTTP/1.1\r\nAuthorization: Bearer %s\r\n"
	    "Authorization: Bearer %s\r\n\r\n", t, t);
	ck_assert_int_eq(check_head(&jc, head, &claims), JWT_MALFORMED);
	free(head);

	/* Another header: the whole value, no scheme. */
	jc.j_key = (char *)"X-Token";
	xasprintf(&head, "GET /ws HTTP/1.1\r\nX-Token: %s\r\n\r\n", t);
	ck_assert_int_eq(check_head(&jc, head, &claims), JWT_OK);
	json_decref(claims);
	free(head);

	jc.j_source = CTX_SOURCE_COOKIE;
	xasprintf(&head, "GET /ws HTTP/1.1\r\nCookie: a=1; X-Token=%s\r\n"
	    "\r\n", t);
	ck_assert_int_eq(check_head(&jc, head, &claims), JWT_OK);
	json_decref(claims);
	free(head);
	ck_assert_int_eq(check_head(&jc, "GET /ws HTTP/1.1\r\nCookie: "
	    "X-Token=\r\n\r\n", &claims), JWT_MISSING);
	ck_assert_int_eq(check_head(&jc, "GET /ws HTTP/1.1\r\nCookie: "
	    "X-Token=a.b.c\r\n\r\n", &claims), JWT_MALFORMED);

	jc.j_source = CTX_SOURCE_QUERY;
	jc.j_key = (char *)"access_token";
	xasprintf(&head, "GET /ws?x=1&access_token=%s HTTP/1.1\r\n\r\n", t);
	ck_assert_int_eq(check_head(&jc, head, &claims), JWT_OK);
	json_decref(claims);
	free(head);
	ck_assert_int_eq(check_head(&jc, "GET /ws?access_token=%zz HTTP/1.1"
	    "\r\n\r\n", &claims), JWT_MALFORMED);
	ck_assert_int_eq(check_head(&jc, "GET /ws?token=x HTTP/1.1\r\n\r\n",
	    &claims), JWT_MISSING);
	free(t);
	jwt_keys_free(ks);
}
END_TEST

/* Keys */

START_TEST(secret_trailing_newline_dropped)
{
	struct jwt_keys	*ks;
	struct jwt_conf	 jc;
	char		*cause = NULL;
	json_t		*c;

	ks = jwt_keys_parse(JWT_KEYS_SECRET, SECRET "\n", strlen(SECRET) + 1,
	    &cause);
	ck_assert_ptr_nonnull(ks);
	jc = conf(ks, 1U << JWT_HS256);
	c = verify_is(&jc, hs("HS256", PAYLOAD), JWT_OK);
	json_decref(c);
	jwt_keys_free(ks);
	/* Only one newline goes. */
	ks = jwt_keys_parse(JWT_KEYS_SECRET, SECRET "\n\n", strlen(SECRET) + 2,
	    &cause);
	jc = conf(ks, 1U << JWT_HS256);
	verify_is(&jc, hs("HS256", PAYLOAD), JWT_SIGNATURE);
	jwt_keys_free(ks);

	ck_assert_ptr_null(jwt_keys_parse(JWT_KEYS_SECRET, "\n", 1, &cause));
	ck_assert_str_eq(cause, "the secret is empty");
	free(cause);
}
END_TEST

START_TEST(secret_length_decides_hs_algs)
{
	struct jwt_keys	*ks;
	char		*cause = NULL;

	ks = jwt_keys_parse(JWT_KEYS_SECRET, SECRET, 31, &cause);
	ck_assert_uint_eq(jwt_keys_algs(ks), 0);
	jwt_keys_free(ks);
	ks = jwt_keys_parse(JWT_KEYS_SECRET, SECRET, 32, &cause);
	ck_assert_uint_eq(jwt_keys_algs(ks), 1U << JWT_HS256);
	jwt_keys_free(ks);
	ks = jwt_keys_parse(JWT_KEYS_SECRET, SECRET, 48, &cause);
	ck_assert_uint_eq(jwt_keys_algs(ks), 1U << JWT_HS256 |
	    1U << JWT_HS384);
	jwt_keys_free(ks);
	ks = jwt_keys_parse(JWT_KEYS_SECRET, SECRET, 64, &cause);
	ck_assert_uint_eq(jwt_keys_algs(ks), 1U << JWT_HS256 |
	    1U << JWT_HS384 | 1U << JWT_HS512);
	jwt_keys_free(ks);
}
END_TEST

/* jwt_keys_parse must fail with a cause holding want. */
static void
keys_fail(enum jwt_keysrc src, const char *text, const char *want)
{
	char	*cause = NULL;

	ck_assert_ptr_null(jwt_keys_parse(src, text, strlen(text), &cause));
	ck_assert_msg(cause != NULL && strstr(cause, want) != NULL,
	    "cause \"%s\" lacks \"%s\"", cause ? cause : "", want);
	free(cause);
}

START_TEST(bad_pem_and_weak_keys)
{
	EVP_PKEY	*small, *p384;
	char		*pem;
	size_t		 len;

	keys_fail(JWT_KEYS_PEM, "", "no PEM public key");
	keys_fail(JWT_KEYS_PEM, "-----BEGIN PUBLIC KEY-----\nAAAA\n"
	    "-----END PUBLIC KEY-----\n", "no PEM public key");
	keys_fail(JWT_KEYS_PEM, SECRET, "no PEM public key");
	small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	pem = pem_of(small, &len);
	keys_fail(JWT_KEYS_PEM, pem, "RSA key of 1024 bits");
	free(pem);
	EVP_PKEY_free(small);
	p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	pem = pem_of(p384, &len);
	keys_fail(JWT_KEYS_PEM, pem, "not on curve P-256");
	free(pem);
	EVP_PKEY_free(p384);
}
END_TEST

START_TEST(bad_jwks)
{
	json_t	*k;
	char	*text, *bad, *jwk;

	keys_fail(JWT_KEYS_JWKS, "", "not JSON");
	keys_fail(JWT_KEYS_JWKS, "[]", "not a JWK set");
	keys_fail(JWT_KEYS_JWKS, "{\"keys\":{}}", "not a JWK set");
	keys_fail(JWT_KEYS_JWKS, "{\"keys\":[]}", "no usable key");
	keys_fail(JWT_KEYS_JWKS, "{\"keys\":[{\"kty\":\"oct\",\"k\":\"AAAA\"}]}",
	    "no usable key");
	keys_fail(JWT_KEYS_JWKS, "{\"keys\":[1]}", "key 0 is not an object");
	keys_fail(JWT_KEYS_JWKS, "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\"}]}",
	    "key 0: \"e\" is missing");
	keys_fail(JWT_KEYS_JWKS, "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"A+AB\","
	    "\"e\":\"AQAB\"}]}", "key 0: \"n\" is not base64url");
	keys_fail(JWT_KEYS_JWKS, "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\","
	    "\"e\":\"AQAB\"}]}", "RSA key of");
	keys_fail(JWT_KEYS_JWKS, "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\","
	    "\"x\":\"AQAB\",\"y\":\"AQAB\"}]}", "x and y must be 32 bytes");
	keys_fail(JWT_KEYS_JWKS, "{\"keys\":[],\"keys\":[]}", "not JSON");

	/* A point that is not on the curve. */
	k = jwk_of(ec1, "e");
	xasprintf(&bad, "%s", json_string_value(json_object_get(k, "x")));
	bad[0] = bad[0] == 'A' ? 'B' : 'A';
	json_object_set_new(k, "x", json_string(bad));
	jwk = json_dumps(k, JSON_COMPACT);
	xasprintf(&text, "{\"keys\":[%s]}", jwk);
	keys_fail(JWT_KEYS_JWKS, text, "not a valid EC P-256 public key");
	free(jwk);
	free(text);
	free(bad);
	json_decref(k);
}
END_TEST

START_TEST(load_names_the_file)
{
	char		 path[] = "/tmp/check_jwt.XXXXXX";
	struct jwt_keys	*ks;
	char		*cause = NULL;
	int		 fd;

	ks = jwt_keys_load(JWT_KEYS_SECRET, "/nonexistent/jwt.secret", &cause);
	ck_assert_ptr_null(ks);
	ck_assert_str_eq(cause, "/nonexistent/jwt.secret: No such file or "
	    "directory");
	free(cause);

	fd = mkstemp(path);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write(fd, "{}", 2), 2);
	close(fd);
	ck_assert_ptr_null(jwt_keys_load(JWT_KEYS_JWKS, path, &cause));
	ck_assert_ptr_nonnull(strstr(cause, path));
	ck_assert_ptr_nonnull(strstr(cause, "not a JWK set"));
	free(cause);
	ks = jwt_keys_load(JWT_KEYS_SECRET, path, &cause);
	ck_assert_ptr_nonnull(ks);
	ck_assert_uint_eq(jwt_keys_algs(ks), 0);
	jwt_keys_free(ks);
	unlink(path);
}
END_TEST

START_TEST(names)
{
	ck_assert_int_eq(jwt_alg_parse("HS256"), JWT_HS256);
	ck_assert_int_eq(jwt_alg_parse("ES256"), JWT_ES256);
	ck_assert_int_eq(jwt_alg_parse("none"), -1);
	ck_assert_int_eq(jwt_alg_parse("hs256"), -1);
	ck_assert_str_eq(jwt_alg_name(JWT_RS256), "RS256");
	ck_assert_str_eq(jwt_result_name(JWT_NOT_YET_VALID), "not_yet_valid");
	ck_assert_str_eq(jwt_result_name(JWT_AUDIENCE), "audience");
}
END_TEST

static Suite *
jwt_suite(void)
{
	Suite	*s = suite_create("jwt");
	TCase	*tc;

	tc = tcase_create("verify");
	tcase_add_unchecked_fixture(tc, keys_setup, keys_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, hs256_hs384_hs512_valid);
	tcase_add_test(tc, rs256_and_es256_valid_pem);
	tcase_add_test(tc, claims_keep_their_json_types);
	tcase_add_test(tc, exp_expired_and_within_leeway);
	tcase_add_test(tc, nbf_in_future_and_within_leeway);
	tcase_add_test(tc, issuer);
	tcase_add_test(tc, audience_string_and_array);
	tcase_add_test(tc, one_bit_flipped_in_signature);
	tcase_add_test(tc, changed_payload_or_other_key);
	tcase_add_test(tc, alg_none_refused);
	tcase_add_test(tc, algorithm_confusion_refused);
	tcase_add_test(tc, alg_not_in_list);
	tcase_add_test(tc, jwks_kid_selects_key);
	tcase_add_test(tc, jwks_one_key_without_kid_and_skipped_keys);
	tcase_add_test(tc, malformed_shapes);
	tcase_add_test(tc, strict_base64url);
	tcase_add_test(tc, header_or_payload_not_an_object);
	tcase_add_test(tc, duplicate_names);
	tcase_add_test(tc, too_large);
	tcase_add_test(tc, crit_and_typ);
	tcase_add_test(tc, check_sources);
	suite_add_tcase(s, tc);

	tc = tcase_create("keys");
	tcase_add_unchecked_fixture(tc, keys_setup, keys_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, secret_trailing_newline_dropped);
	tcase_add_test(tc, secret_length_decides_hs_algs);
	tcase_add_test(tc, bad_pem_and_weak_keys);
	tcase_add_test(tc, bad_jwks);
	tcase_add_test(tc, load_names_the_file);
	tcase_add_test(tc, names);
	suite_add_tcase(s, tc);

	return (s);
}

int
main(void)
{
	return (unit_run(jwt_suite()));
}
