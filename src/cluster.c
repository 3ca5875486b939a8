/*
 * The cluster link: with cluster.redis set, several wsgated act as one. A
 * command that a backend gives for sockets on other nodes reaches them
 * through a Redis server, and each node learns of the sockets of a node
 * that died.
 *
 * Two hiredis async connections of the main thread's, on its libevent
 * base: one for commands (EVALSHA, PUBLISH), one subscribed to this
 * node's channel and to the channel of all nodes. Nothing waits for
 * Redis: a command is written and its answer comes to a callback.
 *
 * The registry in Redis, under cluster.prefix P:
 *	P alive:NODE	"1", expires after cluster.node_ttl unless the
 *			node's heartbeat sets it again
 *	P nodes		set of the nodes registered
 *	P sockets:NODE	hash: socket id -> context text, the node's sockets
 *	P users:NODE	set of the userIds of the node's sockets
 *	P socket	hash: socket id -> node
 *	P user:UID	set of the nodes with a socket of user UID
 *	P lost:NODE	"1" for an hour once NODE was declared lost
 * and the channels P node:NODE and P all. Each heartbeat runs one Lua
 * script, atomic, that sets the node's alive key and reaps every node of
 * the set whose key has expired: removes its entries and publishes its
 * sockets on P all. One node reaps each lost node, and every node, the
 * reaper too, tells its backend that those sockets closed.
 *
 * Workers call cluster_forward, cluster_socket_open and _close from their
 * threads: each serialises what it was given and queues it under
 * cluster_lock, and event_active() wakes the main thread, which keeps a
 * mirror of this node's sockets (so that a new connection to Redis, a
 * restarted Redis, gets them all again) and talks to Redis.
 */
#include "config.h"

#include <sys/queue.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libevent.h>
#include <openssl/evp.h>

#include "wsgated.h"

#define CLUSTER_REGISTER_BATCH	256	/* sockets per EVALSHA at connect */
#define CLUSTER_LEAVE_WAIT	1	/* seconds a stop waits for Redis */
#define CLUSTER_LOST_KEEP_MS	"3600000"	/* P lost:NODE */

enum cluster_state {
	CLUSTER_OFF,		/* no cluster.redis, or stopped */
	CLUSTER_DOWN,		/* waiting to retry */
	CLUSTER_CONNECTING,
	CLUSTER_UP,
	CLUSTER_STOPPING	/* leaving the registry */
};

/*
 * The Lua scripts. drop(n) removes node n from the registry and returns
 * its sockets as a table id -> context text.
 */
#define CLUSTER_LUA_DROP						\
	"local p = ARGV[1]\n"						\
	"local function drop(n)\n"					\
	"  local socks = redis.call('HGETALL', p..'sockets:'..n)\n"	\
	"  local lost = {}\n"						\
	"  for i = 1, #socks, 2 do\n"					\
	"    lost[socks[i]] = socks[i + 1]\n"				\
	"    if redis.call('HGET', p..'socket', socks[i]) == n then\n"	\
	"      redis.call('HDEL', p..'socket', socks[i])\n"		\
	"    end\n"							\
	"  end\n"							\
	"  for _, u in ipairs(redis.call('SMEMBERS', p..'users:'..n)) do\n" \
	"    redis.call('SREM', p..'user:'..u, n)\n"			\
	"  end\n"							\
	"  redis.call('DEL', p..'sockets:'..n, p..'users:'..n, "	\
	"p..'alive:'..n)\n"						\
	"  redis.call('SREM', p..'nodes', n)\n"				\
	"  return lost\n"						\
	"end\n"

enum cluster_script {
	SCRIPT_HEARTBEAT,	/* p node ttl_ms: {was_lost, nodes, reaped} */
	SCRIPT_OPEN,		/* p node {id ctx uid}...: sockets opened */
	SCRIPT_CLOSE,		/* p node id uid: uid "" unless its last */
	SCRIPT_LEAVE,		/* p node: a graceful stop */
	SCRIPT_TO_IDS,		/* p from msg id...: to each owner's node */
	SCRIPT_TO_USER,		/* p from msg uid */
	SCRIPT_MAX
};

static const char *const cluster_lua[SCRIPT_MAX] = {
	/* SCRIPT_HEARTBEAT */
	CLUSTER_LUA_DROP
	"local node, ttl = ARGV[2], ARGV[3]\n"
	"local was_lost = redis.call('EXISTS', p..'lost:'..node)\n"
	"if was_lost == 1 then redis.call('DEL', p..'lost:'..node) end\n"
	"redis.call('SET', p..'alive:'..node, '1', 'PX', ttl)\n"
	"redis.call('SADD', p..'nodes', node)\n"
	"local nodes, reaped = 0, 0\n"
	"for _, n in ipairs(redis.call('SMEMBERS', p..'nodes')) do\n"
	"  if n == node or redis.call('EXISTS', p..'alive:'..n) == 1 then\n"
	"    nodes = nodes + 1\n"
	"  else\n"
	"    local lost = drop(n)\n"
	"    redis.call('SET', p..'lost:'..n, '1', 'PX', "
	CLUSTER_LOST_KEEP_MS ")\n"
	"    redis.call('PUBLISH', p..'all', cjson.encode({v = 1, "
	"from = node, op = 'lost', node = n})..'\\n'..cjson.encode(lost))\n"
	"    reaped = reaped + 1\n"
	"  end\n"
	"end\n"
	"return {was_lost, nodes, reaped}\n",

	/* SCRIPT_OPEN */
	"local p, node = ARGV[1], ARGV[2]\n"
	"for i = 3, #ARGV - 2, 3 do\n"
	"  local id, ctx, uid = ARGV[i], ARGV[i + 1], ARGV[i + 2]\n"
	"  redis.call('HSET', p..'sockets:'..node, id, ctx)\n"
	"  redis.call('HSET', p..'socket', id, node)\n"
	"  if uid ~= '' then\n"
	"    redis.call('SADD', p..'user:'..uid, node)\n"
	"    redis.call('SADD', p..'users:'..node, uid)\n"
	"  end\n"
	"end\n"
	"return 0\n",

	/* SCRIPT_CLOSE */
	"local p, node, id, uid = ARGV[1], ARGV[2], ARGV[3], ARGV[4]\n"
	"redis.call('HDEL', p..'sockets:'..node, id)\n"
	"if redis.call('HGET', p..'socket', id) == node then\n"
	"  redis.call('HDEL', p..'socket', id)\n"
	"end\n"
	"if uid ~= '' then\n"
	"  redis.call('SREM', p..'user:'..uid, node)\n"
	"  redis.call('SREM', p..'users:'..node, uid)\n"
	"end\n"
	"return 0\n",

	/* SCRIPT_LEAVE */
	CLUSTER_LUA_DROP
	"drop(ARGV[2])\n"
	"return 0\n",

	/* SCRIPT_TO_IDS */
	"local p, from, msg = ARGV[1], ARGV[2], ARGV[3]\n"
	"local sent, n = {}, 0\n"
	"for i = 4, #ARGV do\n"
	"  local node = redis.call('HGET', p..'socket', ARGV[i])\n"
	"  if node and node ~= from and not sent[node] then\n"
	"    sent[node] = true\n"
	"    redis.call('PUBLISH', p..'node:'..node, msg)\n"
	"    n = n + 1\n"
	"  end\n"
	"end\n"
	"return n\n",

	/* SCRIPT_TO_USER */
	"local p, from, msg = ARGV[1], ARGV[2], ARGV[3]\n"
	"local n = 0\n"
	"for _, node in ipairs(redis.call('SMEMBERS', p..'user:'..ARGV[4])) "
	"do\n"
	"  if node ~= from then\n"
	"    redis.call('PUBLISH', p..'node:'..node, msg)\n"
	"    n = n + 1\n"
	"  end\n"
	"end\n"
	"return n\n",
};

enum cluster_item_kind {
	ITEM_OPEN,
	ITEM_CLOSE,
	ITEM_FORWARD
};

/* What a worker hands the main thread; everything is a copy. */
struct cluster_item {
	enum cluster_item_kind	 i_kind;
	char			*i_id;		/* open, close */
	char			*i_ctx;		/* open */
	enum wscmd_to		 i_to;		/* forward */
	struct buf		 i_msg;		/* forward: the message */
	char			**i_args;	/* forward: ids, or a userId */
	size_t			*i_arglens;
	size_t			 i_nargs;
	size_t			 i_cost;	/* of cluster_qbytes */
	TAILQ_ENTRY(cluster_item) i_entry;
};
TAILQ_HEAD(cluster_items, cluster_item);

/* Set once at start, before the workers; read by any thread. */
static int			 cluster_on;
static char			*cluster_node;

/* Shared with the workers: under cluster_lock, or atomic. */
static pthread_mutex_t		 cluster_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cluster_items	 cluster_inbox =
    TAILQ_HEAD_INITIALIZER(cluster_inbox);
static size_t			 cluster_qbytes;	/* atomic; added to
							   under cluster_lock */
static size_t			 cluster_qmax;		/* atomic */
static int			 cluster_up;		/* atomic */
static uint64_t			 cluster_drops;		/* atomic */
static struct event		*cluster_wake;

/* The main thread's. */
static struct cfg		*cluster_cfg;
static struct event_base	*cluster_base;
static enum cluster_state	 cluster_state;
static char			*cluster_host;	/* or a Unix socket path */
static int			 cluster_port;	/* 0: a Unix socket */
static char			*cluster_prefix;
static char			*cluster_chan_node;
static char			*cluster_chan_all;
static redisAsyncContext	*cluster_cmd;
static redisAsyncContext	*cluster_sub;
static int			 cluster_cmd_ok;	/* connected */
static int			 cluster_nsubscribed;	/* of 2 channels */
static struct event		*cluster_retry;
static struct event		*cluster_tick;
static struct event		*cluster_leave_timer;
static double			 cluster_delay;
static int64_t			 cluster_since;	/* connecting, in us */
static int64_t			 cluster_hb_sent; /* 0: no heartbeat out */
static int			 cluster_logged_down;
static size_t			 cluster_nnodes;
static char			 cluster_sha[SCRIPT_MAX][41];
static json_t			*cluster_socks;	/* id -> [ctx, uid|null] */
static json_t			*cluster_users;	/* uid -> its sockets here */
static struct ratelog		 cluster_drop_rl;
static struct ratelog		 cluster_bad_rl;
static struct ratelog		 cluster_err_rl;

static void	cluster_down(const char *);
static void	cluster_schedule_tick(void);

int
cluster_enabled(void)
{
	return (cluster_on);
}

/* Whether both connections to Redis are up, for /metrics. */
int
cluster_link_up(void)
{
	return (__atomic_load_n(&cluster_up, __ATOMIC_RELAXED));
}

/* The live nodes the last heartbeat counted, this one included. */
size_t
cluster_nodes(void)
{
	return (cluster_link_up() ? cluster_nnodes : 0);
}

static void
cluster_item_free(struct cluster_item *it)
{
	size_t	 i;

	free(it->i_id);
	free(it->i_ctx);
	buf_free(&it->i_msg);
	for (i = 0; i < it->i_nargs; i++)
		free(it->i_args[i]);
	free(it->i_args);
	free(it->i_arglens);
	free(it);
}

/*
 * Queue an item for the main thread; wake it if the queue was empty. An
 * item with a cost is refused (-1) past cluster.queue_bytes.
 */
static int
cluster_push(struct cluster_item *it)
{
	int	 wake;

	pthread_mutex_lock(&cluster_lock);
	if (it->i_cost > 0) {
		if (__atomic_load_n(&cluster_qbytes, __ATOMIC_RELAXED) +
		    it->i_cost > __atomic_load_n(&cluster_qmax,
		    __ATOMIC_RELAXED)) {
			pthread_mutex_unlock(&cluster_lock);
			return (-1);
		}
		__atomic_fetch_add(&cluster_qbytes, it->i_cost,
		    __ATOMIC_RELAXED);
	}
	wake = TAILQ_EMPTY(&cluster_inbox);
	TAILQ_INSERT_TAIL(&cluster_inbox, it, i_entry);
	pthread_mutex_unlock(&cluster_lock);
	if (wake)
		event_active(cluster_wake, EV_READ, 0);
	return (0);
}

static void
cluster_drop(void)
{
	METRICS_INC(&metrics_front, cluster_dropped);
	__atomic_fetch_add(&cluster_drops, 1, __ATOMIC_RELAXED);
}

/* Give back what an item took of cluster.queue_bytes. */
static void
cluster_unqueue(size_t cost)
{
	__atomic_fetch_sub(&cluster_qbytes, cost, __ATOMIC_RELAXED);
}

static void
cluster_add_arg(struct cluster_item *it, const char *s, size_t len)
{
	it->i_args[it->i_nargs] = xstrndup(s, len);
	it->i_arglens[it->i_nargs] = len;
	it->i_nargs++;
	it->i_cost += len;
}

/*
 * Any thread: the part of a command this node could not carry out. The
 * message is built here, since c is the caller's; with the link down, or
 * cluster.queue_bytes already waiting, it is counted as dropped.
 */
void
cluster_forward(const struct wscmd *c)
{
	struct cluster_item	*it;
	size_t			 i, n;

	if (!cluster_on)
		return;
	if (!cluster_link_up()) {
		cluster_drop();
		return;
	}
	it = xcalloc(1, sizeof *it);
	it->i_kind = ITEM_FORWARD;
	it->i_to = c->c_to;
	buf_init(&it->i_msg);
	cmsg_encode(c, cluster_node, &it->i_msg);
	n = c->c_to == WSCMD_TO_SOCKETS ? c->c_nids : 1;
	it->i_args = xcalloc(n, sizeof *it->i_args);
	it->i_arglens = xcalloc(n, sizeof *it->i_arglens);
	switch (c->c_to) {
	case WSCMD_TO_SOCKET:
	case WSCMD_TO_USER:
		cluster_add_arg(it, c->c_key, c->c_keylen);
		break;
	case WSCMD_TO_SOCKETS:
		for (i = 0; i < c->c_nids; i++)
			cluster_add_arg(it, c->c_ids[i], strlen(c->c_ids[i]));
		break;
	case WSCMD_TO_TOPIC:
	case WSCMD_TO_ALL:
		break;
	}
	it->i_cost += buf_used(&it->i_msg);
	if (cluster_push(it) == -1) {
		cluster_item_free(it);
		cluster_drop();
	}
}

/* Any thread: socket id opened here, with ctx, its context's JSON text. */
void
cluster_socket_open(const char *id, const char *ctx)
{
	struct cluster_item	*it;

	if (!cluster_on)
		return;
	it = xcalloc(1, sizeof *it);
	it->i_kind = ITEM_OPEN;
	it->i_id = xstrdup(id);
	it->i_ctx = xstrdup(ctx);
	buf_init(&it->i_msg);
	cluster_push(it);
}

/* Any thread: socket id has ended. */
void
cluster_socket_close(const char *id)
{
	struct cluster_item	*it;

	if (!cluster_on)
		return;
	it = xcalloc(1, sizeof *it);
	it->i_kind = ITEM_CLOSE;
	it->i_id = xstrdup(id);
	buf_init(&it->i_msg);
	cluster_push(it);
}

/* Log what a reply says went wrong, once a minute at most. */
static void
cluster_reply_error(const char *what, const redisReply *r)
{
	uint64_t	 suppressed;

	if (!ratelog_allow(&cluster_err_rl, &suppressed))
		return;
	log_warnx("cluster: %s: %.*s%s", what,
	    r != NULL && r->type == REDIS_REPLY_ERROR ? (int)r->len : 11,
	    r != NULL && r->type == REDIS_REPLY_ERROR ? r->str : "bad answer",
	    suppressed > 0 ? " (and more since the last report)" : "");
}

/* A script the server lost (SCRIPT FLUSH): load them all again. */
static void
cluster_check_noscript(const redisReply *r)
{
	size_t	 i;

	if (r == NULL || r->type != REDIS_REPLY_ERROR ||
	    strncmp(r->str, "NOSCRIPT", 8) != 0 || cluster_cmd == NULL)
		return;
	for (i = 0; i < SCRIPT_MAX; i++)
		redisAsyncCommand(cluster_cmd, NULL, NULL, "SCRIPT LOAD %s",
		    cluster_lua[i]);
}

/*
 * Run a script with argv after the script's SHA1; argv[0] and [1] are
 * always the prefix and this node.
 */
static void
cluster_eval(enum cluster_script s, redisCallbackFn *cb, void *arg,
    int argc, const char **argv, size_t *lens)
{
	argv[0] = "EVALSHA";
	lens[0] = 7;
	argv[1] = cluster_sha[s];
	lens[1] = 40;
	argv[2] = "0";
	lens[2] = 1;
	argv[3] = cluster_prefix;
	lens[3] = strlen(cluster_prefix);
	argv[4] = cluster_node;
	lens[4] = strlen(cluster_node);
	if (redisAsyncCommandArgv(cluster_cmd, cb, arg, argc, argv, lens) !=
	    REDIS_OK)
		log_debug("cluster: a command could not be queued");
}

/* The answer to a registry update: only errors matter. */
static void
cluster_update_cb(redisAsyncContext *ac, void *reply, void *arg)
{
	redisReply	*r = reply;

	if (r == NULL || ac != cluster_cmd)
		return;
	if (r->type == REDIS_REPLY_ERROR) {
		cluster_reply_error("registry update", r);
		cluster_check_noscript(r);
	}
}

/* A socket's userId, from its context text; NULL if it has none. */
static json_t *
cluster_user_of(const char *ctx)
{
	json_t	*o, *u;

	if ((o = json_loads(ctx, 0, NULL)) == NULL)
		return (NULL);
	u = json_object_get(o, "userId");
	if (json_is_string(u) && json_string_length(u) > 0)
		json_incref(u);
	else
		u = NULL;
	json_decref(o);
	return (u);
}

/* Register sockets in Redis: argv holds up to CLUSTER_REGISTER_BATCH. */
static void
cluster_register(const char **ids, const char **ctxs, json_t **uids,
    size_t n)
{
	const char	**argv;
	size_t		 *lens, i;
	int		  argc = 5 + 3 * (int)n;

	argv = xcalloc((size_t)argc, sizeof *argv);
	lens = xcalloc((size_t)argc, sizeof *lens);
	for (i = 0; i < n; i++) {
		argv[5 + 3 * i] = ids[i];
		lens[5 + 3 * i] = strlen(ids[i]);
		argv[6 + 3 * i] = ctxs[i];
		lens[6 + 3 * i] = strlen(ctxs[i]);
		argv[7 + 3 * i] = uids[i] != NULL ?
		    json_string_value(uids[i]) : "";
		lens[7 + 3 * i] = uids[i] != NULL ?
		    json_string_length(uids[i]) : 0;
	}
	cluster_eval(SCRIPT_OPEN, cluster_update_cb, NULL, argc, argv, lens);
	free(argv);
	free(lens);
}

/* Every socket of the mirror, for a new connection to Redis. */
static void
cluster_register_all(void)
{
	const char	*ids[CLUSTER_REGISTER_BATCH];
	const char	*ctxs[CLUSTER_REGISTER_BATCH];
	json_t		*uids[CLUSTER_REGISTER_BATCH], *v, *u;
	const char	*id;
	size_t		 n = 0;

	json_object_foreach(cluster_socks, id, v) {
		ids[n] = id;
		ctxs[n] = json_string_value(json_array_get(v, 0));
		u = json_array_get(v, 1);
		uids[n] = json_is_string(u) ? u : NULL;
		if (++n == CLUSTER_REGISTER_BATCH) {
			cluster_register(ids, ctxs, uids, n);
			n = 0;
		}
	}
	if (n > 0)
		cluster_register(ids, ctxs, uids, n);
}

/* A socket opened on this node: the mirror, then Redis. */
static void
cluster_open_item(struct cluster_item *it)
{
	json_t		*u = cluster_user_of(it->i_ctx), *count;
	const char	*ctx;

	json_object_set_new(cluster_socks, it->i_id, json_pack("[s, O?]",
	    it->i_ctx, u));
	if (u != NULL) {
		count = json_object_get(cluster_users, json_string_value(u));
		json_object_set_new(cluster_users, json_string_value(u),
		    json_integer(count != NULL ?
		    json_integer_value(count) + 1 : 1));
	}
	if (cluster_state == CLUSTER_UP) {
		ctx = it->i_ctx;
		cluster_register((const char **)&it->i_id, &ctx, &u, 1);
	}
	json_decref(u);
}

/* A socket of this node ended. */
static void
cluster_close_item(struct cluster_item *it)
{
	const char	*argv[7];
	size_t		 lens[7];
	json_t		*v, *u, *count;
	char		*last = NULL;

	if ((v = json_object_get(cluster_socks, it->i_id)) == NULL)
		return;
	u = json_array_get(v, 1);
	if (json_is_string(u)) {
		count = json_object_get(cluster_users, json_string_value(u));
		if (count == NULL || json_integer_value(count) <= 1) {
			last = xstrdup(json_string_value(u));
			json_object_del(cluster_users, last);
		} else
			json_integer_set(count, json_integer_value(count) - 1);
	}
	json_object_del(cluster_socks, it->i_id);
	if (cluster_state == CLUSTER_UP) {
		argv[5] = it->i_id;
		lens[5] = strlen(it->i_id);
		argv[6] = last != NULL ? last : "";
		lens[6] = last != NULL ? strlen(last) : 0;
		cluster_eval(SCRIPT_CLOSE, cluster_update_cb, NULL, 7, argv,
		    lens);
	}
	free(last);
}

/* The answer to a forwarded command; arg is its cost. */
static void
cluster_forward_cb(redisAsyncContext *ac, void *reply, void *arg)
{
	redisReply	*r = reply;

	cluster_unqueue((size_t)(uintptr_t)arg);
	if (r == NULL || r->type == REDIS_REPLY_ERROR) {
		/* Lost with the link, or refused: either way, not sent. */
		cluster_drop();
		if (r != NULL) {
			cluster_reply_error("forward", r);
			if (ac == cluster_cmd)
				cluster_check_noscript(r);
		}
		return;
	}
	METRICS_INC(&metrics_front, cluster_forwarded);
}

/* Publish a forwarded command: one round trip, whatever its addressing. */
static void
cluster_forward_item(struct cluster_item *it)
{
	const char	**argv;
	size_t		 *lens, i;
	void		 *cost = (void *)(uintptr_t)it->i_cost;
	int		  argc;

	if (cluster_state != CLUSTER_UP) {
		cluster_unqueue(it->i_cost);
		cluster_drop();
		return;
	}
	if (it->i_to == WSCMD_TO_TOPIC || it->i_to == WSCMD_TO_ALL) {
		/* Every node may have a recipient. */
		if (redisAsyncCommand(cluster_cmd, cluster_forward_cb, cost,
		    "PUBLISH %s %b", cluster_chan_all, buf_data(&it->i_msg),
		    buf_used(&it->i_msg)) != REDIS_OK) {
			cluster_unqueue(it->i_cost);
			cluster_drop();
		}
		return;
	}
	argc = 6 + (int)it->i_nargs;
	argv = xcalloc((size_t)argc, sizeof *argv);
	lens = xcalloc((size_t)argc, sizeof *lens);
	argv[5] = (const char *)buf_data(&it->i_msg);
	lens[5] = buf_used(&it->i_msg);
	for (i = 0; i < it->i_nargs; i++) {
		argv[6 + i] = it->i_args[i];
		lens[6 + i] = it->i_arglens[i];
	}
	cluster_eval(it->i_to == WSCMD_TO_USER ? SCRIPT_TO_USER :
	    SCRIPT_TO_IDS, cluster_forward_cb, cost, argc, argv, lens);
	free(argv);
	free(lens);
}

/* The workers' items, in the order they were queued. */
static void
cluster_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct cluster_items	 items = TAILQ_HEAD_INITIALIZER(items);
	struct cluster_item	*it;

	pthread_mutex_lock(&cluster_lock);
	TAILQ_CONCAT(&items, &cluster_inbox, i_entry);
	pthread_mutex_unlock(&cluster_lock);
	while ((it = TAILQ_FIRST(&items)) != NULL) {
		TAILQ_REMOVE(&items, it, i_entry);
		if (cluster_state != CLUSTER_OFF &&
		    cluster_state != CLUSTER_STOPPING) {
			switch (it->i_kind) {
			case ITEM_OPEN:
				cluster_open_item(it);
				break;
			case ITEM_CLOSE:
				cluster_close_item(it);
				break;
			case ITEM_FORWARD:
				cluster_forward_item(it);
				break;
			}
		} else if (it->i_kind == ITEM_FORWARD) {
			cluster_unqueue(it->i_cost);
			cluster_drop();
		}
		cluster_item_free(it);
	}
}

/*
 * This node was declared lost while it lived (Redis stalled, or this
 * node could not reach it for cluster.node_ttl): every backend has been
 * told its sockets closed, so close them, and let the clients reconnect.
 */
static void
cluster_self_lost(void)
{
	struct wscmd	 c;
	const char	**ids;
	const char	*id;
	json_t		*v;
	size_t		 n = 0;

	log_warnx("cluster: this node was declared lost; closing its %zu "
	    "sockets", json_object_size(cluster_socks));
	if (json_object_size(cluster_socks) == 0)
		return;
	ids = xcalloc(json_object_size(cluster_socks), sizeof *ids);
	json_object_foreach(cluster_socks, id, v)
		ids[n++] = id;
	memset(&c, 0, sizeof c);
	c.c_op = WSCMD_CLOSE;
	c.c_to = WSCMD_TO_SOCKETS;
	c.c_ids = ids;
	c.c_nids = n;
	c.c_code = WSG_CLOSE_GOING_AWAY;
	c.c_reason = WSG_NODE_LOST_REASON;
	route_apply_remote(&c);
	free(ids);
}

/* One message on a channel. */
static void
cluster_receive(const char *msg, size_t len)
{
	struct cmsg	 m;
	const char	*cause, *id;
	json_t		*v;
	uint64_t	 suppressed;

	if (cmsg_decode(msg, len, &m, &cause) == -1) {
		METRICS_INC(&metrics_front, cluster_bad_messages);
		if (ratelog_allow(&cluster_bad_rl, &suppressed))
			log_warnx("cluster: a message was refused: %s%s", cause,
			    suppressed > 0 ?
			    " (and more since the last report)" : "");
		return;
	}
	if (m.m_kind == CMSG_LOST) {
		/* The reaper's own message too: its backend is told alike. */
		if (strcmp(m.m_node, cluster_node) == 0)
			cluster_self_lost();
		else {
			log_info("cluster: node %s lost, %zu sockets", m.m_node,
			    json_object_size(m.m_lost));
			json_object_foreach(m.m_lost, id, v) {
				route_node_lost(id, json_string_value(v));
				METRICS_INC(&metrics_front,
				    cluster_sockets_lost);
			}
		}
	} else if (strcmp(m.m_from, cluster_node) != 0) {
		/* A broadcast comes back to its publisher: not for it. */
		METRICS_INC(&metrics_front, cluster_received);
		route_apply_remote(&m.m_cmd);
	}
	cmsg_free(&m);
}

/* Both connections are ready: register, and be a node again. */
static void
cluster_ready(void)
{
	cluster_state = CLUSTER_UP;
	cluster_delay = cluster_cfg->c_cluster.cc_reconnect_min;
	cluster_logged_down = 0;
	cluster_hb_sent = 0;
	METRICS_INC(&metrics_front, cluster_connects);
	log_info("cluster: connected to Redis at %s as node %s, %zu sockets",
	    cluster_cfg->c_cluster.cc_redis, cluster_node,
	    json_object_size(cluster_socks));
	/* The heartbeat that makes the node alive follows its sockets. */
	cluster_register_all();
	__atomic_store_n(&cluster_up, 1, __ATOMIC_RELAXED);
	event_active(cluster_tick, EV_TIMEOUT, 0);
}

/* Messages and subscription answers of the subscribed connection. */
static void
cluster_sub_cb(redisAsyncContext *ac, void *reply, void *arg)
{
	redisReply	*r = reply, *kind;

	if (r == NULL || ac != cluster_sub)
		return;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
	    (kind = r->element[0])->type != REDIS_REPLY_STRING)
		return;
	if (strcmp(kind->str, "message") == 0 &&
	    r->element[2]->type == REDIS_REPLY_STRING) {
		if (cluster_state == CLUSTER_UP)
			cluster_receive(r->element[2]->str,
			    r->element[2]->len);
	} else if (strcmp(kind->str, "subscribe") == 0) {
		if (++cluster_nsubscribed == 2 && cluster_cmd_ok)
			cluster_ready();
	}
}

/* The heartbeat's answer: {was_lost, live nodes, nodes reaped}. */
static void
cluster_heartbeat_cb(redisAsyncContext *ac, void *reply, void *arg)
{
	redisReply	*r = reply;
	long long	 reaped;

	if (r == NULL || ac != cluster_cmd)
		return;
	cluster_hb_sent = 0;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
	    r->element[0]->type != REDIS_REPLY_INTEGER ||
	    r->element[1]->type != REDIS_REPLY_INTEGER ||
	    r->element[2]->type != REDIS_REPLY_INTEGER) {
		cluster_reply_error("heartbeat", r);
		cluster_check_noscript(r);
		return;
	}
	cluster_nnodes = (size_t)r->element[1]->integer;
	reaped = r->element[2]->integer;
	if (reaped > 0) {
		METRICS_ADD(&metrics_front, cluster_nodes_lost,
		    (uint64_t)reaped);
		log_info("cluster: %lld lost nodes reaped", reaped);
	}
	if (r->element[0]->integer == 1)
		cluster_self_lost();
}

static void
cluster_heartbeat(void)
{
	const char	*argv[6];
	size_t		 lens[6];
	char		 ttl[32];

	snprintf(ttl, sizeof ttl, "%lld", (long long)
	    (cluster_cfg->c_cluster.cc_node_ttl * 1000));
	argv[5] = ttl;
	lens[5] = strlen(ttl);
	cluster_hb_sent = metrics_now_us();
	cluster_eval(SCRIPT_HEARTBEAT, cluster_heartbeat_cb, NULL, 6, argv,
	    lens);
}

static void
cluster_connect_cb(const redisAsyncContext *ac, int status)
{
	size_t	 i;

	if (ac != cluster_cmd && ac != cluster_sub)
		return;
	if (status != REDIS_OK) {
		/* hiredis frees the context after this callback. */
		if (ac == cluster_cmd)
			cluster_cmd = NULL;
		else
			cluster_sub = NULL;
		if (!cluster_logged_down)
			log_warnx("cluster: cannot connect to Redis at %s: %s; "
			    "retrying", cluster_cfg->c_cluster.cc_redis,
			    ac->errstr);
		cluster_logged_down = 1;
		cluster_down(NULL);
		return;
	}
	redisEnableKeepAlive((redisContext *)&ac->c);
	if (ac == cluster_sub) {
		redisAsyncCommand(cluster_sub, cluster_sub_cb, NULL,
		    "SUBSCRIBE %s %s", cluster_chan_node, cluster_chan_all);
		return;
	}
	/* Commands run in order: the scripts are there before their use. */
	for (i = 0; i < SCRIPT_MAX; i++)
		redisAsyncCommand(cluster_cmd, cluster_update_cb, NULL,
		    "SCRIPT LOAD %s", cluster_lua[i]);
	cluster_cmd_ok = 1;
	if (cluster_nsubscribed == 2)
		cluster_ready();
}

static void
cluster_disconnect_cb(const redisAsyncContext *ac, int status)
{
	if (ac == cluster_cmd)
		cluster_cmd = NULL;
	else if (ac == cluster_sub)
		cluster_sub = NULL;
	else
		return;
	cluster_down(ac->errstr[0] != '\0' ? ac->errstr :
	    "connection closed");
}

/* A context for cluster.redis, connecting; NULL if it failed at once. */
static redisAsyncContext *
cluster_open(void)
{
	redisAsyncContext	*ac;

	if (cluster_port == 0)
		ac = redisAsyncConnectUnix(cluster_host);
	else
		ac = redisAsyncConnect(cluster_host, cluster_port);
	if (ac == NULL)
		fatalx("%s: out of memory", __func__);
	if (ac->err) {
		if (!cluster_logged_down)
			log_warnx("cluster: cannot connect to Redis at %s: %s; "
			    "retrying", cluster_cfg->c_cluster.cc_redis,
			    ac->errstr);
		cluster_logged_down = 1;
		redisAsyncFree(ac);
		return (NULL);
	}
	if (redisLibeventAttach(ac, cluster_base) != REDIS_OK)
		fatalx("%s: redisLibeventAttach", __func__);
	redisAsyncSetConnectCallback(ac, cluster_connect_cb);
	redisAsyncSetDisconnectCallback(ac, cluster_disconnect_cb);
	return (ac);
}

static void
cluster_connect(void)
{
	log_debug("cluster: connecting to Redis at %s",
	    cluster_cfg->c_cluster.cc_redis);
	cluster_state = CLUSTER_CONNECTING;
	cluster_since = metrics_now_us();
	cluster_cmd_ok = 0;
	cluster_nsubscribed = 0;
	if ((cluster_cmd = cluster_open()) == NULL ||
	    (cluster_sub = cluster_open()) == NULL)
		cluster_down(NULL);
}

/*
 * Tear both connections down (a reply callback in flight on one is told
 * NULL) and try again after the backoff. why: logged if the link was up.
 */
static void
cluster_down(const char *why)
{
	redisAsyncContext	*ac;
	struct timeval		 tv;
	double			 max = cluster_cfg->c_cluster.cc_reconnect_max;
	int			 was_up = cluster_state == CLUSTER_UP;

	if (cluster_state == CLUSTER_DOWN || cluster_state == CLUSTER_OFF)
		return;
	__atomic_store_n(&cluster_up, 0, __ATOMIC_RELAXED);
	if (cluster_state != CLUSTER_STOPPING)
		cluster_state = CLUSTER_DOWN;
	cluster_hb_sent = 0;
	cluster_cmd_ok = 0;
	cluster_nsubscribed = 0;
	/* Freeing one calls cluster_disconnect_cb: it is no longer ours. */
	if ((ac = cluster_cmd) != NULL) {
		cluster_cmd = NULL;
		redisAsyncFree(ac);
	}
	if ((ac = cluster_sub) != NULL) {
		cluster_sub = NULL;
		redisAsyncFree(ac);
	}
	if (was_up) {
		METRICS_INC(&metrics_front, cluster_disconnects);
		log_warnx("cluster: lost Redis at %s: %s; cross-node commands "
		    "are dropped until it is back",
		    cluster_cfg->c_cluster.cc_redis, why != NULL ? why : "");
	}
	if (cluster_state == CLUSTER_STOPPING)
		return;
	cfg_timeval(cluster_delay, &tv);
	evtimer_add(cluster_retry, &tv);
	cluster_delay = cluster_delay * 2 > max ? max : cluster_delay * 2;
}

static void
cluster_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	if (cluster_state == CLUSTER_DOWN)
		cluster_connect();
}

/*
 * Every cluster.heartbeat: the heartbeat when up; a link that does not
 * answer, or does not connect, within cluster.node_ttl is torn down; and
 * the drops since the last report are logged, once a minute at most.
 */
static void
cluster_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	int64_t		 now = metrics_now_us();
	int64_t		 ttl = (int64_t)(cluster_cfg->c_cluster.cc_node_ttl *
			    1e6);
	uint64_t	 drops, suppressed;

	drops = __atomic_exchange_n(&cluster_drops, 0, __ATOMIC_RELAXED);
	if (drops > 0 && ratelog_allow(&cluster_drop_rl, &suppressed))
		log_warnx("cluster: %" PRIu64 " cross-node commands dropped "
		    "(Redis %s)", drops, cluster_state == CLUSTER_UP ?
		    "slow: cluster.queue_bytes reached" : "unavailable");

	switch (cluster_state) {
	case CLUSTER_UP:
		if (cluster_hb_sent == 0)
			cluster_heartbeat();
		else if (now - cluster_hb_sent > ttl)
			cluster_down("no answer within cluster.node_ttl");
		break;
	case CLUSTER_CONNECTING:
		if (now - cluster_since > ttl) {
			if (!cluster_logged_down)
				log_warnx("cluster: Redis at %s did not answer "
				    "within cluster.node_ttl; retrying",
				    cluster_cfg->c_cluster.cc_redis);
			cluster_logged_down = 1;
			cluster_down(NULL);
		}
		break;
	default:
		break;
	}
}

static void
cluster_schedule_tick(void)
{
	struct timeval	 tv;

	cfg_timeval(cluster_cfg->c_cluster.cc_heartbeat, &tv);
	event_del(cluster_tick);
	event_add(cluster_tick, &tv);
}

/* The SHA1 of each script, in hex, as EVALSHA wants it. */
static void
cluster_hash_scripts(void)
{
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen, j;
	size_t		 i;

	for (i = 0; i < SCRIPT_MAX; i++) {
		if (EVP_Digest(cluster_lua[i], strlen(cluster_lua[i]), md,
		    &mdlen, EVP_sha1(), NULL) != 1 || mdlen != 20)
			fatalx("%s: EVP_Digest", __func__);
		for (j = 0; j < 20; j++)
			snprintf(&cluster_sha[i][2 * j], 3, "%02x", md[j]);
	}
}

/*
 * Start the link, if cluster.redis is set; cfg is kept. Called before the
 * workers start, so that cluster_enabled() never changes under them.
 */
void
cluster_start(struct event_base *base, struct cfg *cfg)
{
	const struct cluster_conf	*cc = &cfg->c_cluster;
	char				 host[108], id[WSG_ID_LEN + 1];
	int				 port;

	if (cc->cc_redis == NULL)
		return;
	if (cfg_redis_address(cc->cc_redis, host, sizeof host, &port) == -1)
		fatalx("cluster.redis: %s: not an address", cc->cc_redis);
	cluster_base = base;
	cluster_cfg = cfg_ref(cfg);
	cluster_host = xstrdup(host);
	cluster_port = port;
	cluster_prefix = xstrdup(cc->cc_prefix);
	if (cc->cc_node != NULL)
		cluster_node = xstrdup(cc->cc_node);
	else {
		/* Unique, and new at each start: a restart is a new node. */
		ctx_new_id(id);
		xasprintf(&cluster_node, "%s:%.8s", cfg->c_instance, id);
	}
	xasprintf(&cluster_chan_node, "%snode:%s", cluster_prefix,
	    cluster_node);
	xasprintf(&cluster_chan_all, "%sall", cluster_prefix);
	cluster_hash_scripts();
	cluster_socks = json_object();
	cluster_users = json_object();
	__atomic_store_n(&cluster_qmax, cc->cc_queue_bytes, __ATOMIC_RELAXED);
	if ((cluster_wake = event_new(base, -1, 0, cluster_wake_cb,
	    NULL)) == NULL ||
	    (cluster_retry = evtimer_new(base, cluster_retry_cb, NULL)) ==
	    NULL ||
	    (cluster_tick = event_new(base, -1, EV_PERSIST, cluster_tick_cb,
	    NULL)) == NULL)
		fatalx("%s: event_new", __func__);
	cluster_delay = cc->cc_reconnect_min;
	cluster_on = 1;
	cluster_state = CLUSTER_DOWN;
	cluster_schedule_tick();
	log_info("cluster: node %s, Redis at %s", cluster_node, cc->cc_redis);
	cluster_connect();
}

/* A reloaded configuration: timings and the queue bound; not the rest. */
void
cluster_set_cfg(struct cfg *cfg)
{
	if (!cluster_on)
		return;
	cfg_ref(cfg);
	cfg_free(cluster_cfg);
	cluster_cfg = cfg;
	__atomic_store_n(&cluster_qmax, cfg->c_cluster.cc_queue_bytes,
	    __ATOMIC_RELAXED);
	cluster_schedule_tick();
}

static void
cluster_leave_done(void)
{
	if (cluster_leave_timer != NULL)
		event_free(cluster_leave_timer);
	cluster_leave_timer = NULL;
	event_base_loopbreak(cluster_base);
}

static void
cluster_leave_cb(redisAsyncContext *ac, void *reply, void *arg)
{
	if (cluster_state == CLUSTER_STOPPING && cluster_leave_timer != NULL) {
		if (reply != NULL)
			log_info("cluster: node %s left the registry",
			    cluster_node);
		cluster_leave_done();
	}
}

static void
cluster_leave_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	log_warnx("cluster: Redis did not answer the stop: this node's "
	    "entries will be reaped after cluster.node_ttl");
	cluster_leave_done();
}

/*
 * A graceful stop: leave the registry (this node's sockets close anyway,
 * and its own backend is told), then break the loop, within
 * CLUSTER_LEAVE_WAIT seconds whatever Redis does. Return 1 if it will
 * break the loop so, 0 if the caller must (no cluster, or no link).
 */
int
cluster_stop(void)
{
	const char	*argv[5];
	size_t		 lens[5];
	struct timeval	 tv = { CLUSTER_LEAVE_WAIT, 0 };
	int		 up = cluster_state == CLUSTER_UP;

	if (!cluster_on || cluster_state == CLUSTER_STOPPING)
		return (0);
	__atomic_store_n(&cluster_up, 0, __ATOMIC_RELAXED);
	event_del(cluster_retry);
	event_del(cluster_tick);
	cluster_state = CLUSTER_STOPPING;
	if (!up) {
		cluster_down(NULL);
		return (0);
	}
	cluster_eval(SCRIPT_LEAVE, cluster_leave_cb, NULL, 5, argv, lens);
	cluster_leave_timer = evtimer_new(cluster_base,
	    cluster_leave_timeout_cb, NULL);
	if (cluster_leave_timer == NULL)
		fatalx("%s: evtimer_new", __func__);
	evtimer_add(cluster_leave_timer, &tv);
	return (1);
}

/* After the workers have stopped: free everything. */
void
cluster_free(void)
{
	struct cluster_item	*it;

	if (!cluster_on)
		return;
	cluster_state = CLUSTER_STOPPING;
	cluster_down(NULL);
	cluster_state = CLUSTER_OFF;
	while ((it = TAILQ_FIRST(&cluster_inbox)) != NULL) {
		TAILQ_REMOVE(&cluster_inbox, it, i_entry);
		cluster_item_free(it);
	}
	if (cluster_leave_timer != NULL)
		event_free(cluster_leave_timer);
	event_free(cluster_wake);
	event_free(cluster_retry);
	event_free(cluster_tick);
	json_decref(cluster_socks);
	json_decref(cluster_users);
	cfg_free(cluster_cfg);
	free(cluster_host);
	free(cluster_prefix);
	free(cluster_chan_node);
	free(cluster_chan_all);
	free(cluster_node);
	cluster_on = 0;
}
