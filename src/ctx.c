/*
 * The per-connection context: socketId, createdAt and the fields that
 * wsgate.conf takes from the upgrade request. Values are bytes from the
 * network, so each one is checked for length and UTF-8 and reaches JSON
 * only through jansson.
 */
#include "config.h"

#include <sys/random.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wsgated.h"

/* A fresh socket id: 128 bits from the kernel, URL-safe base64. */
void
ctx_new_id(char id[WSG_ID_LEN + 1])
{
	static const char	 b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char		 r[WSG_ID_BYTES + 2];
	size_t			 i, o = 0;
	ssize_t			 n;

	do {
		n = getrandom(r, WSG_ID_BYTES, 0);
	} while (n == -1 && errno == EINTR);
	if (n != WSG_ID_BYTES)
		fatal("getrandom");
	r[WSG_ID_BYTES] = r[WSG_ID_BYTES + 1] = 0;
	for (i = 0; i < WSG_ID_BYTES; i += 3) {
		uint32_t v = (uint32_t)r[i] << 16 | (uint32_t)r[i + 1] << 8 |
		    r[i + 2];

		id[o++] = b64[v >> 18 & 63];
		id[o++] = b64[v >> 12 & 63];
		if (o < WSG_ID_LEN)
			id[o++] = b64[v >> 6 & 63];
		if (o < WSG_ID_LEN)
			id[o++] = b64[v & 63];
	}
	id[WSG_ID_LEN] = '\0';
}

/*
 * Find the raw value of field f. Return 1 with *v, *len (and *owned if
 * *v must be freed), 0 if missing, or an HTTP status.
 */
static int
ctx_field_value(const struct ctx_field *f, const struct http_request *req,
    const char *peer, const char **v, size_t *len, char **owned,
    char **cause)
{
	const struct http_header	*h;
	size_t				 n;
	int				 r;

	*owned = NULL;
	switch (f->f_source) {
	case CTX_SOURCE_COOKIE:
		return (http_cookie_get(req, f->f_key, v, len));
	case CTX_SOURCE_HEADER:
		if ((h = http_header_find(req, f->f_key, &n)) == NULL)
			return (0);
		if (n > 1) {
			xasprintf(cause, "header %s sent %zu times", f->f_key,
			    n);
			return (400);
		}
		*v = h->h_value;
		*len = h->h_valuelen;
		return (1);
	case CTX_SOURCE_QUERY:
		r = http_query_get(req, f->f_key, owned, len);
		if (r == -1) {
			xasprintf(cause, "bad percent escape in the query");
			return (400);
		}
		*v = *owned;
		return (r);
	case CTX_SOURCE_PEER:
		if (peer == NULL)
			return (0);
		*v = peer;
		*len = strlen(peer);
		return (1);
	case CTX_SOURCE_JWT:
		break;		/* not text: ctx_build copies the claim */
	}
	return (0);
}

/*
 * The value of a field of source jwt: a copy of its claim, whatever its
 * JSON type, or NULL if absent. Return 0, or an HTTP status with *cause.
 */
static int
ctx_claim(const struct ctx_field *f, const json_t *claims, json_t **jv,
    char **cause)
{
	json_t	*v;

	*jv = NULL;
	if (claims == NULL ||
	    (v = json_object_get(claims, f->f_key)) == NULL)
		return (0);
	if (json_is_string(v) && json_string_length(v) > f->f_max_length) {
		xasprintf(cause, "field %s is %zu bytes, more than %zu",
		    f->f_name, json_string_length(v), f->f_max_length);
		return (400);
	}
	/*
	 * A deep copy: the context goes to a worker thread, and must share
	 * nothing with the claims, which are dropped here.
	 */
	*jv = json_deep_copy(v);
	return (0);
}

/*
 * Build the context of a connection from its request and the claims of
 * its verified token (NULL if none). Return it, or NULL with *status the
 * HTTP status to answer and *cause (to free) saying why.
 */
json_t *
ctx_build(const struct cfg *cfg, const struct http_request *req,
    const json_t *claims, const char *peer, const char *id,
    int64_t created_ms, int *status, char **cause)
{
	const struct ctx_field	*f;
	json_t			*ctx, *jv;
	const char		*v = NULL;
	char			*owned;
	size_t			 i, len = 0;
	int			 r;

	*cause = NULL;
	ctx = json_object();
	json_object_set_new(ctx, "socketId", json_string(id));
	json_object_set_new(ctx, "createdAt", json_integer(created_ms));

	for (i = 0; i < cfg->c_nfields; i++) {
		f = &cfg->c_fields[i];
		if (f->f_source == CTX_SOURCE_JWT) {
			if ((r = ctx_claim(f, claims, &jv, cause)) != 0) {
				*status = r;
				goto fail;
			}
			if (jv != NULL) {
				json_object_set_new(ctx, f->f_name, jv);
				continue;
			}
			r = 0;
		} else
			r = ctx_field_value(f, req, peer, &v, &len, &owned,
			    cause);
		if (r > 1) {
			*status = r;
			goto fail;
		}
		if (r == 0) {
			if (f->f_required) {
				xasprintf(cause, "required field %s is missing",
				    f->f_name);
				*status = 401;
				goto fail;
			}
			json_object_set_new(ctx, f->f_name, json_null());
			continue;
		}
		if (len > f->f_max_length) {
			xasprintf(cause, "field %s is %zu bytes, more than %zu",
			    f->f_name, len, f->f_max_length);
			*status = 400;
			free(owned);
			goto fail;
		}
		/* A NUL is valid JSON (\u0000) but ends C strings in
		 * many a backend: refused like invalid UTF-8. */
		if (memchr(v, '\0', len) != NULL) {
			xasprintf(cause, "field %s holds a NUL byte",
			    f->f_name);
			*status = 400;
			free(owned);
			goto fail;
		}
		if (!utf8_valid(v, len) ||
		    (jv = json_stringn_nocheck(v, len)) == NULL) {
			xasprintf(cause, "field %s is not valid UTF-8",
			    f->f_name);
			*status = 400;
			free(owned);
			goto fail;
		}
		json_object_set_new(ctx, f->f_name, jv);
		free(owned);
	}
	*status = 0;
	return (ctx);

fail:
	json_decref(ctx);
	return (NULL);
}

/* Milliseconds since the epoch, as createdAt and deadlines use. */
int64_t
ctx_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}
