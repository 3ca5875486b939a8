/*
 * Addressing: a socket, several, a user, a topic, everyone; on this node,
 * and through the cluster link for what is on others.
 *
 * A command for one socket goes to the worker its id names (ws_owner),
 * at once if that is the caller's, else through that worker's inbox;
 * what no worker here holds goes to the cluster, if there is one.
 *
 * Each worker indexes its own open sessions by userId (w_users) and by
 * topic (w_topics), without a lock. A command for a user, a topic or
 * everyone goes to every worker, through its inbox, and each fans it out
 * over its own index; the message is one shared frame, referenced once
 * per recipient. Only the node's count of subscribers per topic, for
 * topics.max_subscribers, is shared, under route_lock: subscribing is
 * rare next to sending.
 */
#include "config.h"

#include <sys/queue.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "wsgated.h"
#include "ws.h"

/* A user with sessions on this worker: the value of its w_users entry. */
struct user {
	LIST_HEAD(, session)	 u_sessions;
};

/* A topic with subscribers on this worker: the value in w_topics. */
struct topic {
	LIST_HEAD(, sub)	 t_subs;
};

/* One session's subscription to one topic, in both of their lists. */
struct sub {
	LIST_ENTRY(sub)		 b_tlink;	/* the topic's */
	LIST_ENTRY(sub)		 b_slink;	/* the session's */
	struct strmap_ent	*b_topic;	/* its w_topics entry */
	struct session		*b_session;
};

static pthread_mutex_t	 route_lock = PTHREAD_MUTEX_INITIALIZER;
static struct strmap	 route_counts;	/* route_lock: topic -> count */
static struct ratelog	 route_rl;	/* route_lock */

const char *const route_result_names[] = {
	"subscribed", "already subscribed", "topics.max_per_socket reached",
	"topics.max_subscribers reached", "topic name too long or empty",
	"not subscribed"
};

void
route_init(struct worker *w)
{
	strmap_init(&w->w_users);
	strmap_init(&w->w_topics);
}

void
route_free(struct worker *w)
{
	strmap_free(&w->w_users);
	strmap_free(&w->w_topics);
}

/* Count one more (1) or one fewer (-1) subscriber of topic on this node. */
static int
route_count(const struct cfg *cfg, const char *topic, size_t len, int delta)
{
	struct strmap_ent	*e;
	uintptr_t		 n;
	int			 rc = 0;

	pthread_mutex_lock(&route_lock);
	if ((e = strmap_find(&route_counts, topic, len)) == NULL)
		e = strmap_add(&route_counts, topic, len);
	n = (uintptr_t)e->e_val;
	if (delta > 0 && n >= cfg->c_topic_subscribers)
		rc = -1;
	else
		n = delta > 0 ? n + 1 : n - 1;
	e->e_val = (void *)n;
	if (n == 0)
		strmap_del(&route_counts, e);
	pthread_mutex_unlock(&route_lock);
	return (rc);
}

static struct sub *
route_find_sub(struct session *s, const char *topic, size_t len)
{
	struct sub	*b;

	LIST_FOREACH(b, &s->s_subs, b_slink) {
		if (b->b_topic->e_len == len &&
		    memcmp(b->b_topic->e_key, topic, len) == 0)
			return (b);
	}
	return (NULL);
}

/* Subscribe an open session to a topic, within the limits. */
enum route_result
route_subscribe(struct session *s, const char *topic, size_t len)
{
	struct worker		*w = s->s_worker;
	const struct cfg	*cfg = w->w_cfg;
	struct strmap_ent	*e;
	struct topic		*t;
	struct sub		*b;

	if (len == 0 || len > cfg->c_topic_name_bytes ||
	    memchr(topic, '\0', len) != NULL)
		return (ROUTE_BAD_NAME);
	if (route_find_sub(s, topic, len) != NULL)
		return (ROUTE_ALREADY);
	if (s->s_nsubs >= cfg->c_topics_per_socket) {
		METRICS_INC(&w->w_metrics, topic_refused_per_socket);
		return (ROUTE_SOCKET_LIMIT);
	}
	if (route_count(cfg, topic, len, 1) == -1) {
		METRICS_INC(&w->w_metrics, topic_refused_subscribers);
		return (ROUTE_TOPIC_LIMIT);
	}
	if ((e = strmap_find(&w->w_topics, topic, len)) == NULL) {
		e = strmap_add(&w->w_topics, topic, len);
		t = xmalloc(sizeof *t);
		LIST_INIT(&t->t_subs);
		e->e_val = t;
	}
	t = e->e_val;
	b = xmalloc(sizeof *b);
	b->b_topic = e;
	b->b_session = s;
	LIST_INSERT_HEAD(&t->t_subs, b, b_tlink);
	LIST_INSERT_HEAD(&s->s_subs, b, b_slink);
	s->s_nsubs++;
	METRICS_INC(&w->w_metrics, topic_subscribes);
	return (ROUTE_OK);
}

static void
route_drop_sub(struct worker *w, struct sub *b)
{
	struct strmap_ent	*e = b->b_topic;
	struct topic		*t = e->e_val;

	route_count(w->w_cfg, e->e_key, e->e_len, -1);
	LIST_REMOVE(b, b_tlink);
	LIST_REMOVE(b, b_slink);
	b->b_session->s_nsubs--;
	free(b);
	if (LIST_EMPTY(&t->t_subs)) {
		free(t);
		strmap_del(&w->w_topics, e);
	}
}

enum route_result
route_unsubscribe(struct session *s, const char *topic, size_t len)
{
	struct sub	*b;

	if ((b = route_find_sub(s, topic, len)) == NULL)
		return (ROUTE_NOT_SUBSCRIBED);
	route_drop_sub(s->s_worker, b);
	METRICS_INC(&s->s_worker->w_metrics, topic_unsubscribes);
	return (ROUTE_OK);
}

/* Log a refused subscription at open, at most once a minute. */
static void
route_log_refused(const struct session *s, const char *topic,
    enum route_result r)
{
	uint64_t	 suppressed;
	int		 allow;

	pthread_mutex_lock(&route_lock);
	allow = ratelog_allow(&route_rl, &suppressed);
	pthread_mutex_unlock(&route_lock);
	if (allow)
		log_warnx("session %s: not subscribed to \"%.64s\" at open: "
		    "%s", s->s_id, topic, route_result_names[r]);
}

/* topics.from_context: a field's string, or each string of its array. */
static void
route_subscribe_field(struct session *s, const json_t *v)
{
	enum route_result	 r;
	const json_t		*el;
	size_t			 i;

	if (json_is_array(v)) {
		json_array_foreach(v, i, el)
			route_subscribe_field(s, json_is_string(el) ? el :
			    NULL);
		return;
	}
	if (!json_is_string(v))
		return;
	r = route_subscribe(s, json_string_value(v), json_string_length(v));
	if (r != ROUTE_OK && r != ROUTE_ALREADY)
		route_log_refused(s, json_string_value(v), r);
}

/*
 * Index a session that just opened, while its context is still a json_t:
 * by its userId, and in the topics its context names.
 */
void
route_open(struct session *s, const json_t *ctx)
{
	struct worker		*w = s->s_worker;
	const json_t		*user = json_object_get(ctx, "userId");
	struct strmap_ent	*e;
	struct user		*u;
	size_t			 i;

	if (json_is_string(user)) {
		e = strmap_find(&w->w_users, json_string_value(user),
		    json_string_length(user));
		if (e == NULL) {
			e = strmap_add(&w->w_users, json_string_value(user),
			    json_string_length(user));
			u = xmalloc(sizeof *u);
			LIST_INIT(&u->u_sessions);
			e->e_val = u;
		}
		u = e->e_val;
		LIST_INSERT_HEAD(&u->u_sessions, s, s_ulink);
		s->s_user = e;
	}
	for (i = 0; i < w->w_cfg->c_ntopic_fields; i++)
		route_subscribe_field(s, json_object_get(ctx,
		    w->w_cfg->c_topic_fields[i]));
}

/* Take a session that ends out of every index. */
void
route_close(struct session *s)
{
	struct worker	*w = s->s_worker;
	struct user	*u;
	struct sub	*b;

	if (s->s_user != NULL) {
		u = s->s_user->e_val;
		LIST_REMOVE(s, s_ulink);
		if (LIST_EMPTY(&u->u_sessions)) {
			free(u);
			strmap_del(&w->w_users, s->s_user);
		}
		s->s_user = NULL;
	}
	while ((b = LIST_FIRST(&s->s_subs)) != NULL)
		route_drop_sub(w, b);
}

/* Carry out a send or a close on one session of a fan-out. */
static size_t
route_act(struct session *s, const struct fanout *f)
{
	if (s->s_state != SESS_OPEN)
		return (0);
	if (f->f_op == WSCMD_CLOSE) {
		ws_close_session(s, f->f_code, f->f_reason);
		return (1);
	}
	ws_enqueue(s, ws_outmsg_ref(f->f_msg), 1);
	return (1);
}

/*
 * Carry out f on this worker's sessions: those of a user, of a topic but
 * the one excluded, or all. Nothing here adds to or takes from an index,
 * so the walks are safe: a session closed on the way leaves its indexes
 * only when lws reports it closed, later.
 */
void
route_fanout(struct worker *w, const struct fanout *f)
{
	struct strmap_ent	*e;
	struct session		*s;
	struct sub		*b;
	size_t			 i, n = 0;

	switch (f->f_to) {
	case WSCMD_TO_ALL:
		SESSMAP_FOREACH(s, &w->w_sessions, i)
			n += route_act(s, f);
		break;
	case WSCMD_TO_USER:
		if ((e = strmap_find(&w->w_users, f->f_key, f->f_keylen)) ==
		    NULL)
			break;
		LIST_FOREACH(s, &((struct user *)e->e_val)->u_sessions,
		    s_ulink)
			n += route_act(s, f);
		break;
	case WSCMD_TO_TOPIC:
		if ((e = strmap_find(&w->w_topics, f->f_key, f->f_keylen)) ==
		    NULL)
			break;
		LIST_FOREACH(b, &((struct topic *)e->e_val)->t_subs, b_tlink) {
			if (f->f_exclude[0] != '\0' && memcmp(f->f_exclude,
			    b->b_session->s_id, WSG_ID_LEN) == 0)
				continue;
			n += route_act(b->b_session, f);
		}
		break;
	default:
		fatalx("%s: not a fan-out", __func__);
	}
	METRICS_ADD(&w->w_metrics, fanout_deliveries, n);
	ws_writers_release(w);
}

static int
route_idcmp(const void *a, const void *b)
{
	return (strcmp(*(const char *const *)a, *(const char *const *)b));
}

/*
 * Carry out a command on this node. On worker w's thread for a command of
 * its backend; with w NULL and remote set, on the main thread for one from
 * another node, which is never forwarded again. What this node cannot
 * reach goes to the cluster, if there is one: a socket it does not have
 * (found out by the socket's worker), and users, topics and everyone,
 * whose other sessions may be anywhere.
 */
void
route_apply(struct worker *w, const struct wscmd *c, int remote)
{
	struct metrics	*m = w != NULL ? &w->w_metrics : NULL;
	struct outmsg	*o = NULL;
	struct fanout	 f;
	const char	**ids;
	size_t		 i;

	if (c->c_op == WSCMD_SEND)
		o = ws_outmsg_new(c->c_data, c->c_len, c->c_binary);
	switch (c->c_to) {
	case WSCMD_TO_SOCKET:
		if (c->c_op == WSCMD_SEND)
			route_send(w, c->c_key, c->c_keylen, o, remote);
		else if (c->c_op == WSCMD_CLOSE)
			route_close_id(w, c->c_key, c->c_keylen, c->c_code,
			    c->c_reason, remote);
		else
			route_subscribe_id(w, c->c_key, c->c_keylen,
			    c->c_topic, c->c_topiclen,
			    c->c_op == WSCMD_SUBSCRIBE, remote);
		return;
	case WSCMD_TO_SOCKETS:
		/* A socket named twice gets the message once. */
		ids = xreallocarray(NULL, c->c_nids, sizeof *ids);
		memcpy(ids, c->c_ids, c->c_nids * sizeof *ids);
		qsort(ids, c->c_nids, sizeof *ids, route_idcmp);
		for (i = 0; i < c->c_nids; i++) {
			if (i > 0 && strcmp(ids[i], ids[i - 1]) == 0)
				continue;
			route_send(w, ids[i], strlen(ids[i]), ws_outmsg_ref(o),
			    remote);
		}
		free(ids);
		ws_outmsg_unref(o);
		if (m != NULL && !remote)
			METRICS_INC(m, cmd_send_sockets);
		return;
	default:
		break;
	}

	memset(&f, 0, sizeof f);
	f.f_op = c->c_op;
	f.f_to = c->c_to;
	f.f_key = c->c_key;
	f.f_keylen = c->c_keylen;
	if (c->c_exclude != NULL && strlen(c->c_exclude) == WSG_ID_LEN)
		memcpy(f.f_exclude, c->c_exclude, WSG_ID_LEN + 1);
	f.f_msg = o;
	f.f_code = c->c_code;
	if (c->c_reason != NULL)
		snprintf(f.f_reason, sizeof f.f_reason, "%s", c->c_reason);
	route_fanout_all(w, &f);
	ws_outmsg_unref(o);
	if (remote)
		return;
	if (m != NULL) {
		if (c->c_to == WSCMD_TO_ALL)
			METRICS_INC(m, cmd_broadcast);
		else if (c->c_to == WSCMD_TO_TOPIC)
			METRICS_INC(m, cmd_publish);
		else if (c->c_op == WSCMD_CLOSE)
			METRICS_INC(m, cmd_close_user);
		else
			METRICS_INC(m, cmd_send_user);
	}
	if (cluster_enabled())
		cluster_forward(c);
}

/*
 * Deliver a message to a socket of this worker, which takes the reference.
 * Return -1, the reference still the caller's, if the worker has no such
 * open socket.
 */
int
route_deliver_local(struct worker *w, const char *id, struct outmsg *o)
{
	struct session	*s;

	s = sessmap_find(&w->w_sessions, id, WSG_ID_LEN);
	if (s == NULL || s->s_state != SESS_OPEN)
		return (-1);
	ws_enqueue(s, o, 0);
	return (0);
}

/*
 * A command for a socket that is not on this node: another node may have
 * it. From another node already, it is dropped: that node asked because
 * the registry named this one, and the socket has just gone.
 */
static void
route_miss(struct worker *w, const struct wscmd *c, int remote)
{
	if (remote)
		return;
	if (cluster_enabled()) {
		cluster_forward(c);
		return;
	}
	backend_error(w, BACKEND_ERR_UNKNOWN_SOCKET, "%s to unknown socket "
	    "%.*s", c->c_op == WSCMD_SEND ? "send" : c->c_op == WSCMD_CLOSE ?
	    "close" : "subscription", WSG_ID_LEN, c->c_key);
}

/* A send for a socket of this worker; takes the reference. */
void
route_socket_send(struct worker *w, const char *id, struct outmsg *o,
    int remote)
{
	struct wscmd	 c;

	if (route_deliver_local(w, id, o) == 0)
		return;
	memset(&c, 0, sizeof c);
	c.c_op = WSCMD_SEND;
	c.c_to = WSCMD_TO_SOCKET;
	c.c_key = id;
	c.c_keylen = WSG_ID_LEN;
	c.c_data = o->o_data + LWS_PRE;
	c.c_len = o->o_len;
	c.c_binary = o->o_binary;
	route_miss(w, &c, remote);
	ws_outmsg_unref(o);
}

/*
 * Close a socket of this worker, once what is queued for it is written.
 * Return -1 if the worker has no such open socket.
 */
int
route_close_local(struct worker *w, const char *id, int code,
    const char *reason)
{
	struct session	*s;

	s = sessmap_find(&w->w_sessions, id, WSG_ID_LEN);
	if (s == NULL || s->s_state != SESS_OPEN)
		return (-1);
	ws_close_session(s, code, reason);
	return (0);
}

/* A close for a socket of this worker. */
void
route_socket_close(struct worker *w, const char *id, int code,
    const char *reason, int remote)
{
	struct wscmd	 c;

	if (route_close_local(w, id, code, reason) == 0) {
		METRICS_INC(&w->w_metrics, backend_closes);
		return;
	}
	memset(&c, 0, sizeof c);
	c.c_op = WSCMD_CLOSE;
	c.c_to = WSCMD_TO_SOCKET;
	c.c_key = id;
	c.c_keylen = WSG_ID_LEN;
	c.c_code = code;
	c.c_reason = reason;
	route_miss(w, &c, remote);
}

/* A subscribe or unsubscribe for a socket of this worker. */
void
route_socket_subscribe(struct worker *w, const char *id, const char *topic,
    size_t len, int sub, int remote)
{
	struct session		*s;
	struct wscmd		 c;
	enum route_result	 r;

	s = sessmap_find(&w->w_sessions, id, WSG_ID_LEN);
	if (s == NULL || s->s_state != SESS_OPEN) {
		memset(&c, 0, sizeof c);
		c.c_op = sub ? WSCMD_SUBSCRIBE : WSCMD_UNSUBSCRIBE;
		c.c_to = WSCMD_TO_SOCKET;
		c.c_key = id;
		c.c_keylen = WSG_ID_LEN;
		c.c_topic = topic;
		c.c_topiclen = len;
		route_miss(w, &c, remote);
		return;
	}
	r = sub ? route_subscribe(s, topic, len) : route_unsubscribe(s, topic,
	    len);
	if (r == ROUTE_SOCKET_LIMIT || r == ROUTE_TOPIC_LIMIT)
		backend_error(w, BACKEND_ERR_LIMIT, "socket %s not subscribed "
		    "to \"%.64s\": %s", s->s_id, topic, route_result_names[r]);
	else if (r == ROUTE_BAD_NAME)
		backend_error(w, BACKEND_ERR_BAD_FIELD, "socket %s not "
		    "subscribed: %s", s->s_id, route_result_names[r]);
}

/* An inbox item for id's owner, of kind k. */
static struct inbox_item *
route_item(enum inbox_kind k, const char *id, int remote)
{
	struct inbox_item	*it;

	it = xcalloc(1, sizeof *it);
	it->i_kind = k;
	memcpy(it->i_id, id, WSG_ID_LEN);
	it->i_remote = remote;
	return (it);
}

/*
 * Route a send to the socket's worker; takes the reference. Called on
 * worker w's thread, or, with w NULL, on the main thread for a send from
 * another node.
 */
void
route_send(struct worker *w, const char *id, size_t idlen, struct outmsg *o,
    int remote)
{
	struct worker		*owner = ws_owner(id, idlen);
	struct inbox_item	*it;

	if (owner == NULL) {
		if (w != NULL && !remote)
			backend_error(w, BACKEND_ERR_UNKNOWN_SOCKET,
			    "send to a malformed socket id");
		ws_outmsg_unref(o);
		return;
	}
	if (owner == w) {
		route_socket_send(w, id, o, remote);
		return;
	}
	it = route_item(INBOX_SEND, id, remote);
	it->i_msg = o;
	ws_post(owner, it);
}

void
route_close_id(struct worker *w, const char *id, size_t idlen, int code,
    const char *reason, int remote)
{
	struct worker		*owner = ws_owner(id, idlen);
	struct inbox_item	*it;

	if (owner == NULL) {
		if (w != NULL && !remote)
			backend_error(w, BACKEND_ERR_UNKNOWN_SOCKET,
			    "close of a malformed socket id");
		return;
	}
	if (owner == w) {
		route_socket_close(w, id, code, reason, remote);
		return;
	}
	it = route_item(INBOX_CLOSE, id, remote);
	it->i_code = code;
	snprintf(it->i_reason, sizeof it->i_reason, "%s", reason);
	ws_post(owner, it);
}

void
route_subscribe_id(struct worker *w, const char *id, size_t idlen,
    const char *topic, size_t len, int sub, int remote)
{
	struct worker		*owner = ws_owner(id, idlen);
	struct inbox_item	*it;

	if (owner == NULL) {
		if (w != NULL && !remote)
			backend_error(w, BACKEND_ERR_UNKNOWN_SOCKET,
			    "subscription of a malformed socket id");
		return;
	}
	if (owner == w) {
		route_socket_subscribe(w, id, topic, len, sub, remote);
		return;
	}
	it = route_item(sub ? INBOX_SUBSCRIBE : INBOX_UNSUBSCRIBE, id, remote);
	it->i_key = xstrndup(topic, len);
	it->i_keylen = len;
	ws_post(owner, it);
}

/*
 * Carry out a fan-out on every worker: at once on w, the caller's own
 * (NULL on the main thread), and through the inbox of each other, which
 * gets its own copy of the key and its own reference to the message.
 */
void
route_fanout_all(struct worker *w, const struct fanout *f)
{
	struct inbox_item	*it;
	int			 i;

	for (i = 0; i < ws_nworkers(); i++) {
		if (ws_worker(i) == w) {
			route_fanout(w, f);
			continue;
		}
		it = xcalloc(1, sizeof *it);
		it->i_kind = INBOX_FANOUT;
		it->i_fanout = *f;
		if (f->f_keylen > 0 || f->f_key != NULL) {
			it->i_key = xstrndup(f->f_key, f->f_keylen);
			it->i_keylen = f->f_keylen;
			it->i_fanout.f_key = it->i_key;
		}
		if (f->f_msg != NULL)
			ws_outmsg_ref(f->f_msg);
		ws_post(ws_worker(i), it);
	}
}

/*
 * From the admin listener: carry it out as a backend's command would,
 * and forward it to the other nodes of a cluster. Main thread.
 */
void
route_apply_admin(const struct wscmd *c)
{
	route_apply(NULL, c, 0);
}

/* From another node: carry it out here only. Main thread. */
void
route_apply_remote(const struct wscmd *c)
{
	route_apply(NULL, c, 1);
}

/*
 * A socket of a node that was lost: its close event goes to the backend
 * once, on the first worker's link. Main thread.
 */
void
route_node_lost(const char *id, const char *ctxtext)
{
	struct inbox_item	*it;

	if (ws_nworkers() == 0 || strlen(id) != WSG_ID_LEN)
		return;
	it = route_item(INBOX_NODE_LOST, id, 1);
	it->i_key = xstrdup(ctxtext);
	ws_post(ws_worker(0), it);
}

void
route_emit_node_lost(struct worker *w, const struct inbox_item *it)
{
	json_t		*ctx, *ev;
	json_error_t	 err;

	if ((ctx = json_loads(it->i_key, 0, &err)) == NULL ||
	    !json_is_object(ctx)) {
		json_decref(ctx);
		ctx = json_object();
	}
	ev = json_pack("{s:s, s:s#, s:i, s:s, s:o}", "type", "close",
	    "socketId", it->i_id, (int)WSG_ID_LEN, "code", WSG_CLOSE_ABNORMAL,
	    "reason", WSG_NODE_LOST_REASON, "context", ctx);
	if (ev == NULL)
		fatalx("%s: cannot build a close event", __func__);
	backend_emit(w, BACKEND_EV_CLOSE, ev);
	json_decref(ev);
}
