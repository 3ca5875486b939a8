/*
 * The messages wsgated nodes exchange over Redis pub/sub. Each is a
 * header, one line of compact JSON (jansson's), then "\n", then a body
 * taken as raw bytes: a send's data, or, for a lost node, a JSON object
 * of its sockets (id: context text). Redis is binary-safe, so the data
 * crosses as it is, never in base64.
 *
 * Anyone who can reach the Redis server can publish, so every message is
 * hostile until cmsg_decode has checked it. Pure: the unit tests and
 * fuzz_cluster call it.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "wsgated.h"

static const char *const cmsg_ops[] = {
	"send", "close", "subscribe", "unsubscribe", NULL
};
static const char *const cmsg_tos[] = {
	"socket", "sockets", "user", "topic", "all", NULL
};

static int
cmsg_index(const char *const *names, const char *s)
{
	int	 i;

	for (i = 0; names[i] != NULL; i++) {
		if (strcmp(names[i], s) == 0)
			return (i);
	}
	return (-1);
}

/* A socket id as ctx_new_id makes them: WSG_ID_LEN URL-safe symbols. */
static int
cmsg_is_idstr(const char *s, size_t len)
{
	size_t	 i;

	if (len != WSG_ID_LEN)
		return (0);
	for (i = 0; i < WSG_ID_LEN; i++) {
		if (b64_value((unsigned char)s[i], 1) == -1)
			return (0);
	}
	return (1);
}

static int
cmsg_is_id(const json_t *v)
{
	return (json_is_string(v) &&
	    cmsg_is_idstr(json_string_value(v), json_string_length(v)));
}

/* A string of 1 to max bytes with no NUL in it. */
static int
cmsg_is_text(const json_t *v, size_t max)
{
	size_t	 len;

	if (!json_is_string(v))
		return (0);
	len = json_string_length(v);
	return (len > 0 && len <= max &&
	    memchr(json_string_value(v), '\0', len) == NULL);
}

/* Append the header h as a line, then body. */
static void
cmsg_put(struct buf *out, const json_t *h, const void *body, size_t len)
{
	if (frame_dump(out, h) == -1)
		fatalx("%s: cannot encode a header", __func__);
	/* Compact JSON never holds a raw newline. */
	buf_add(out, "\n", 1);
	if (len > 0)
		buf_add(out, body, len);
}

/*
 * Append the message that carries c, from node from, to out. The caller
 * has checked c (ws.c does, as for a command of its own backend).
 */
void
cmsg_encode(const struct wscmd *c, const char *from, struct buf *out)
{
	json_t	*h, *ids;
	size_t	 i;

	h = json_pack("{s:i, s:s, s:s, s:s}", "v", CMSG_VERSION, "from", from,
	    "op", cmsg_ops[c->c_op], "to", cmsg_tos[c->c_to]);
	if (h == NULL)
		fatalx("%s: json_pack", __func__);
	switch (c->c_to) {
	case WSCMD_TO_SOCKET:
	case WSCMD_TO_USER:
	case WSCMD_TO_TOPIC:
		json_object_set_new(h, "key", json_stringn(c->c_key,
		    c->c_keylen));
		break;
	case WSCMD_TO_SOCKETS:
		ids = json_array();
		for (i = 0; i < c->c_nids; i++)
			json_array_append_new(ids, json_string(c->c_ids[i]));
		json_object_set_new(h, "ids", ids);
		break;
	case WSCMD_TO_ALL:
		break;
	}
	if (c->c_exclude != NULL)
		json_object_set_new(h, "exclude", json_string(c->c_exclude));
	switch (c->c_op) {
	case WSCMD_SEND:
		if (c->c_binary)
			json_object_set_new(h, "binary", json_true());
		break;
	case WSCMD_CLOSE:
		json_object_set_new(h, "code", json_integer(c->c_code));
		if (c->c_reason != NULL && c->c_reason[0] != '\0')
			json_object_set_new(h, "reason",
			    json_string(c->c_reason));
		break;
	case WSCMD_SUBSCRIBE:
	case WSCMD_UNSUBSCRIBE:
		json_object_set_new(h, "topic", json_stringn(c->c_topic,
		    c->c_topiclen));
		break;
	}
	cmsg_put(out, h, c->c_op == WSCMD_SEND ? c->c_data : NULL,
	    c->c_op == WSCMD_SEND ? c->c_len : 0);
	json_decref(h);
}

/* Each lost socket must be an id and a context: a JSON object's text. */
static int
cmsg_check_lost(json_t *lost)
{
	const char	*k;
	json_t		*v, *ctx;
	int		 ok;

	json_object_foreach(lost, k, v) {
		if (!cmsg_is_idstr(k, strlen(k)) || !json_is_string(v))
			return (-1);
		ctx = json_loadb(json_string_value(v), json_string_length(v),
		    JSON_REJECT_DUPLICATES, NULL);
		ok = json_is_object(ctx);
		json_decref(ctx);
		if (!ok)
			return (-1);
	}
	return (0);
}

/*
 * Check a message and fill m, whose pointers then point into the message
 * and into m's own objects until cmsg_free(m). Return 0, or -1 with
 * *cause.
 */
int
cmsg_decode(const void *msg, size_t len, struct cmsg *m, const char **cause)
{
	struct wscmd	*c = &m->m_cmd;
	const char	*p = msg, *nl;
	json_t		*v, *ids;
	json_int_t	 code;
	size_t		 i, hlen;
	int		 op, to;

	memset(m, 0, sizeof *m);
	if ((nl = memchr(p, '\n', len)) == NULL) {
		*cause = "no header line";
		return (-1);
	}
	hlen = (size_t)(nl - p);
	m->m_body = nl + 1;
	m->m_bodylen = len - hlen - 1;
	m->m_head = json_loadb(p, hlen, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(m->m_head)) {
		*cause = "the header is not a JSON object";
		goto bad;
	}
	v = json_object_get(m->m_head, "v");
	if (!json_is_integer(v) || json_integer_value(v) != CMSG_VERSION) {
		*cause = "unknown version";
		goto bad;
	}
	v = json_object_get(m->m_head, "from");
	if (!cmsg_is_text(v, CMSG_NODE_MAX)) {
		*cause = "from is not a node name";
		goto bad;
	}
	m->m_from = json_string_value(v);
	v = json_object_get(m->m_head, "op");
	if (!json_is_string(v)) {
		*cause = "op is not a string";
		goto bad;
	}

	if (strcmp(json_string_value(v), "lost") == 0) {
		m->m_kind = CMSG_LOST;
		v = json_object_get(m->m_head, "node");
		if (!cmsg_is_text(v, CMSG_NODE_MAX)) {
			*cause = "node is not a node name";
			goto bad;
		}
		m->m_node = json_string_value(v);
		m->m_lost = json_loadb(m->m_body, m->m_bodylen,
		    JSON_REJECT_DUPLICATES, NULL);
		if (!json_is_object(m->m_lost)) {
			*cause = "the lost sockets are not a JSON object";
			goto bad;
		}
		if (cmsg_check_lost(m->m_lost) == -1) {
			*cause = "a lost socket is not an id and a context";
			goto bad;
		}
		return (0);
	}

	m->m_kind = CMSG_CMD;
	if ((op = cmsg_index(cmsg_ops, json_string_value(v))) == -1) {
		*cause = "unknown op";
		goto bad;
	}
	c->c_op = (enum wscmd_op)op;
	v = json_object_get(m->m_head, "to");
	if (!json_is_string(v) ||
	    (to = cmsg_index(cmsg_tos, json_string_value(v))) == -1) {
		*cause = "unknown to";
		goto bad;
	}
	c->c_to = (enum wscmd_to)to;
	c->c_reason = "";

	switch (c->c_to) {
	case WSCMD_TO_SOCKET:
	case WSCMD_TO_USER:
	case WSCMD_TO_TOPIC:
		v = json_object_get(m->m_head, "key");
		if (c->c_to == WSCMD_TO_SOCKET ? !cmsg_is_id(v) :
		    !cmsg_is_text(v, CMSG_KEY_MAX)) {
			*cause = "bad key";
			goto bad;
		}
		c->c_key = json_string_value(v);
		c->c_keylen = json_string_length(v);
		break;
	case WSCMD_TO_SOCKETS:
		ids = json_object_get(m->m_head, "ids");
		if (!json_is_array(ids) || json_array_size(ids) == 0 ||
		    json_array_size(ids) > CMSG_MAX_IDS) {
			*cause = "ids is not a list of 1 to 100000 ids";
			goto bad;
		}
		m->m_ids = xcalloc(json_array_size(ids), sizeof *m->m_ids);
		json_array_foreach(ids, i, v) {
			if (!cmsg_is_id(v)) {
				*cause = "ids holds something not an id";
				goto bad;
			}
			m->m_ids[i] = json_string_value(v);
		}
		c->c_ids = m->m_ids;
		c->c_nids = json_array_size(ids);
		break;
	case WSCMD_TO_ALL:
		break;
	}
	v = json_object_get(m->m_head, "exclude");
	if (v != NULL) {
		if (!cmsg_is_id(v)) {
			*cause = "exclude is not an id";
			goto bad;
		}
		c->c_exclude = json_string_value(v);
	}

	switch (c->c_op) {
	case WSCMD_SEND:
		v = json_object_get(m->m_head, "binary");
		if (v != NULL && !json_is_boolean(v)) {
			*cause = "binary is not true or false";
			goto bad;
		}
		c->c_binary = json_is_true(v);
		if (!c->c_binary && !utf8_valid(m->m_body, m->m_bodylen)) {
			*cause = "text data is not UTF-8";
			goto bad;
		}
		c->c_data = m->m_body;
		c->c_len = m->m_bodylen;
		break;
	case WSCMD_CLOSE:
		v = json_object_get(m->m_head, "code");
		code = json_is_integer(v) ? json_integer_value(v) : 0;
		if (code != WSG_CLOSE_NORMAL && (code < 3000 || code > 4999)) {
			*cause = "code is not 1000 or 3000 to 4999";
			goto bad;
		}
		c->c_code = (int)code;
		v = json_object_get(m->m_head, "reason");
		if (v != NULL) {
			if (!json_is_string(v) ||
			    json_string_length(v) > WSG_CLOSE_REASON_MAX ||
			    strlen(json_string_value(v)) !=
			    json_string_length(v)) {
				*cause = "bad reason";
				goto bad;
			}
			c->c_reason = json_string_value(v);
		}
		break;
	case WSCMD_SUBSCRIBE:
	case WSCMD_UNSUBSCRIBE:
		if (c->c_to != WSCMD_TO_SOCKET) {
			*cause = "a subscription is for one socket";
			goto bad;
		}
		v = json_object_get(m->m_head, "topic");
		if (!cmsg_is_text(v, CMSG_KEY_MAX)) {
			*cause = "bad topic";
			goto bad;
		}
		c->c_topic = json_string_value(v);
		c->c_topiclen = json_string_length(v);
		break;
	}
	if (c->c_op != WSCMD_SEND && m->m_bodylen != 0) {
		*cause = "a body where none belongs";
		goto bad;
	}
	return (0);
bad:
	cmsg_free(m);
	return (-1);
}

void
cmsg_free(struct cmsg *m)
{
	json_decref(m->m_head);
	json_decref(m->m_lost);
	free(m->m_ids);
	memset(m, 0, sizeof *m);
}
