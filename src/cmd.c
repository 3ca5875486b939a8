/*
 * A fast reader for the backend's most frequent frame, the send command,
 * written the way backends write it: one flat object of "type",
 * "socketId", "data" and an optional "binary". Anything else, and
 * anything it is not sure of (an unknown or repeated key, another type,
 * an escape in a key, type or socketId, a number, nesting), it declines,
 * and the frame goes to jansson, which remains the authority on the
 * protocol and writes the error messages. fuzz_cmd checks that whatever
 * this accepts, jansson reads the same way.
 *
 * Below it, cmd_parse reads any command from jansson's object.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
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

/*
 * Every command, read from the object jansson made of a frame into a
 * struct wscmd for route_apply(), or refused with why. Nothing here
 * trusts the frame: each member is checked for its type, and exactly one
 * address is allowed.
 */

static enum cmd_error
cmd_refuse(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum cmd_error
cmd_refuse(char *why, size_t whylen, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return (CMD_BAD_FIELD);
}

/* A string member, or NULL; *bad is set if present but not a string. */
static const char *
cmd_member(json_t *obj, const char *name, size_t *len, int *bad)
{
	json_t	*v = json_object_get(obj, name);

	if (v == NULL)
		return (NULL);
	if (!json_is_string(v)) {
		*bad = 1;
		return (NULL);
	}
	*len = json_string_length(v);
	return (json_string_value(v));
}

/* data and binary: text as it is, or base64 decoded into cm_dec. */
static enum cmd_error
cmd_data(json_t *obj, const char *type, struct cmd *cm, char *why,
    size_t whylen)
{
	struct wscmd	*c = &cm->cm_cmd;
	json_t		*data = json_object_get(obj, "data");
	json_t		*bin = json_object_get(obj, "binary");
	ssize_t		 n;

	if (!json_is_string(data) || (bin != NULL && !json_is_boolean(bin)))
		return (cmd_refuse(why, whylen, "%s needs a string data and "
		    "an optional boolean binary", type));
	c->c_op = WSCMD_SEND;
	c->c_binary = json_is_true(bin);
	c->c_data = json_string_value(data);
	c->c_len = json_string_length(data);
	if (!c->c_binary)
		return (CMD_OK);
	cm->cm_dec = xmalloc(c->c_len / 4 * 3 + 3);
	if ((n = b64_decode(c->c_data, c->c_len, cm->cm_dec)) == -1)
		return (cmd_refuse(why, whylen, "binary data that is not "
		    "base64"));
	c->c_data = cm->cm_dec;
	c->c_len = (size_t)n;
	return (CMD_OK);
}

/*
 * Whom a send or close is for: exactly one of socketId, userId and, for a
 * send (many), socketIds.
 */
static enum cmd_error
cmd_target(json_t *obj, int many, struct cmd *cm, char *why, size_t whylen)
{
	struct wscmd	*c = &cm->cm_cmd;
	json_t		*list = json_object_get(obj, "socketIds"), *v;
	const char	*id, *user;
	size_t		 i, len = 0;
	int		 bad = 0, n;

	if ((id = cmd_member(obj, "socketId", &len, &bad)) != NULL) {
		c->c_to = WSCMD_TO_SOCKET;
		c->c_key = id;
		c->c_keylen = len;
	}
	if ((user = cmd_member(obj, "userId", &len, &bad)) != NULL) {
		c->c_to = WSCMD_TO_USER;
		c->c_key = user;
		c->c_keylen = len;
	}
	n = (id != NULL) + (user != NULL) + (list != NULL);
	if (bad || n != 1 || (!many && list != NULL))
		return (cmd_refuse(why, whylen, "%s needs exactly one of a "
		    "string socketId, %sa string userId", many ? "send" :
		    "close", many ? "an array socketIds, " : ""));
	if (list == NULL)
		return (CMD_OK);
	if (!json_is_array(list) || json_array_size(list) == 0)
		return (cmd_refuse(why, whylen, "socketIds must be a "
		    "non-empty array of strings"));
	cm->cm_ids = xreallocarray(NULL, json_array_size(list),
	    sizeof *cm->cm_ids);
	json_array_foreach(list, i, v) {
		if (!json_is_string(v))
			return (cmd_refuse(why, whylen, "socketIds must be a "
			    "non-empty array of strings"));
		cm->cm_ids[i] = json_string_value(v);
	}
	c->c_to = WSCMD_TO_SOCKETS;
	c->c_ids = cm->cm_ids;
	c->c_nids = json_array_size(list);
	return (CMD_OK);
}

static enum cmd_error
cmd_close(json_t *obj, struct cmd *cm, char *why, size_t whylen)
{
	struct wscmd	*c = &cm->cm_cmd;
	json_t		*code = json_object_get(obj, "code");
	json_t		*reason = json_object_get(obj, "reason");
	json_int_t	 cv = WSG_CLOSE_NORMAL;
	enum cmd_error	 r;

	if ((r = cmd_target(obj, 0, cm, why, whylen)) != CMD_OK)
		return (r);
	if (code != NULL && (!json_is_integer(code) ||
	    ((cv = json_integer_value(code)) != WSG_CLOSE_NORMAL &&
	    (cv < 3000 || cv > 4999))))
		return (cmd_refuse(why, whylen, "close code must be 1000 or "
		    "3000 to 4999"));
	if (reason != NULL && (!json_is_string(reason) ||
	    json_string_length(reason) > WSG_CLOSE_REASON_MAX ||
	    strlen(json_string_value(reason)) != json_string_length(reason)))
		return (cmd_refuse(why, whylen, "close reason must be a string "
		    "of at most %d bytes", WSG_CLOSE_REASON_MAX));
	c->c_op = WSCMD_CLOSE;
	c->c_code = (int)cv;
	c->c_reason = reason != NULL ? json_string_value(reason) : "";
	return (CMD_OK);
}

static enum cmd_error
cmd_subscribe(json_t *obj, int sub, size_t maxtopic, struct cmd *cm,
    char *why, size_t whylen)
{
	struct wscmd	*c = &cm->cm_cmd;
	int		 bad = 0;

	c->c_op = sub ? WSCMD_SUBSCRIBE : WSCMD_UNSUBSCRIBE;
	c->c_to = WSCMD_TO_SOCKET;
	c->c_key = cmd_member(obj, "socketId", &c->c_keylen, &bad);
	c->c_topic = cmd_member(obj, "topic", &c->c_topiclen, &bad);
	if (c->c_key == NULL || c->c_topic == NULL || bad)
		return (cmd_refuse(why, whylen, "%s needs a string socketId "
		    "and a string topic", sub ? "subscribe" : "unsubscribe"));
	if (c->c_topiclen == 0 || c->c_topiclen > maxtopic ||
	    strlen(c->c_topic) != c->c_topiclen)
		return (cmd_refuse(why, whylen, "a topic is 1 to %zu bytes "
		    "without U+0000", maxtopic));
	return (CMD_OK);
}

/* publish (to a topic) and broadcast (to everyone). */
static enum cmd_error
cmd_publish(json_t *obj, int broadcast, struct cmd *cm, char *why,
    size_t whylen)
{
	struct wscmd	*c = &cm->cm_cmd;
	size_t		 len;
	int		 bad = 0;

	c->c_to = broadcast ? WSCMD_TO_ALL : WSCMD_TO_TOPIC;
	if (!broadcast) {
		c->c_key = cmd_member(obj, "topic", &c->c_keylen, &bad);
		c->c_exclude = cmd_member(obj, "exclude", &len, &bad);
		if (c->c_key == NULL || bad)
			return (cmd_refuse(why, whylen, "publish needs a "
			    "string topic and an optional string exclude"));
	}
	return (cmd_data(obj, broadcast ? "broadcast" : "publish", cm, why,
	    whylen));
}

/*
 * Read the command obj, a JSON object, into cm; maxtopic is
 * topics.max_name_bytes. CMD_OK, or why it was refused; either way
 * cmd_free(cm) after. cm points into obj: obj must outlive it.
 */
enum cmd_error
cmd_parse(json_t *obj, size_t maxtopic, struct cmd *cm, char *why,
    size_t whylen)
{
	json_t		*type = json_object_get(obj, "type");
	const char	*t = json_is_string(type) ? json_string_value(type) :
			    "";
	enum cmd_error	 r;
	char		*esc;

	memset(cm, 0, sizeof *cm);
	why[0] = '\0';
	if (strcmp(t, "send") == 0) {
		if ((r = cmd_target(obj, 1, cm, why, whylen)) != CMD_OK)
			return (r);
		return (cmd_data(obj, "send", cm, why, whylen));
	}
	if (strcmp(t, "close") == 0)
		return (cmd_close(obj, cm, why, whylen));
	if (strcmp(t, "publish") == 0)
		return (cmd_publish(obj, 0, cm, why, whylen));
	if (strcmp(t, "broadcast") == 0)
		return (cmd_publish(obj, 1, cm, why, whylen));
	if (strcmp(t, "subscribe") == 0)
		return (cmd_subscribe(obj, 1, maxtopic, cm, why, whylen));
	if (strcmp(t, "unsubscribe") == 0)
		return (cmd_subscribe(obj, 0, maxtopic, cm, why, whylen));
	esc = log_escape(t, strlen(t), 32);
	snprintf(why, whylen, "type \"%s\"", esc);
	free(esc);
	return (CMD_UNKNOWN_TYPE);
}

void
cmd_free(struct cmd *cm)
{
	free(cm->cm_ids);
	free(cm->cm_dec);
	cm->cm_ids = NULL;
	cm->cm_dec = NULL;
}
