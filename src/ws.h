/*
 * The worker side of wsgated: sessions, workers and backend links, shared
 * by ws.c, backend.c and sessmap.c. Everything here belongs to one worker
 * thread unless a comment names a lock.
 */
#ifndef WS_H
#define WS_H

#include <netinet/in.h>
#include <pthread.h>

#include <libwebsockets.h>

#include "wsgated.h"

/* Not a token, so no client can ask for it as a subprotocol. */
#define WS_BACKEND_PROTOCOL	"wsgate backend"

/*
 * A message for clients, framed once and shared by every session it goes
 * to, on any worker; o_refs counts the holders (atomic). The frame's
 * header sits just before the payload, at the end of lws's headroom, so
 * that header and payload are one run of bytes: o_hlen + o_len of them
 * from ws_outmsg_frame().
 */
struct outmsg {
	unsigned int		 o_refs;
	int			 o_binary;
	size_t			 o_len;
	size_t			 o_hlen;
	unsigned char		 o_data[];	/* LWS_PRE + o_len + 1 bytes */
};
_Static_assert(LWS_PRE >= 10, "lws's headroom holds a frame header");

static inline const unsigned char *
ws_outmsg_frame(const struct outmsg *o)
{
	return (o->o_data + LWS_PRE - o->o_hlen);
}

/*
 * A send or a close for many sessions: those of a user, of a topic (but
 * f_exclude), or all. Each worker carries it out over its own sessions.
 */
struct fanout {
	enum wscmd_op		 f_op;		/* WSCMD_SEND or WSCMD_CLOSE */
	enum wscmd_to		 f_to;		/* USER, TOPIC or ALL */
	const char		*f_key;		/* the user or the topic */
	size_t			 f_keylen;
	char			 f_exclude[WSG_ID_LEN + 1];	/* "": none */
	struct outmsg		*f_msg;		/* WSCMD_SEND */
	int			 f_code;	/* WSCMD_CLOSE */
	char			 f_reason[WSG_CLOSE_REASON_MAX + 1];
};

enum sess_state {
	SESS_ADOPTING,		/* queued for, or inside, the adoption */
	SESS_OPEN,		/* WebSocket established */
	SESS_CLOSING,		/* wsgated asked lws to close it */
	SESS_CLOSED		/* lws reported it closed */
};

struct session {
	char			 s_id[WSG_ID_LEN + 1];
	char			 s_peer[INET6_ADDRSTRLEN];
	struct cfg		*s_cfg;		/* its limits; a reference */
	/*
	 * The context: a json_t until the open event is out, then only
	 * its text, a seventh of the memory, read again for the few events
	 * that carry it (ws_ctx).
	 */
	json_t			*s_ctx;
	char			*s_ctxtext;
	char			*s_evhead;	/* message event up to "data": */
	size_t			 s_evheadlen;
	struct worker		*s_worker;
	struct lws		*s_wsi;
	enum sess_state		 s_state;
	struct session		*s_hnext;	/* sessmap chain */

	/* The hand-off: the socket and the head to give libwebsockets. */
	int			 s_fd;
	/*
	 * When the front door accepted it, in microseconds, for the
	 * handshake histogram: only the low 32 bits, which fill a hole in
	 * the struct. They wrap every 71 minutes, and a handshake lasts at
	 * most limits.handshake_timeout, an hour, so the difference holds.
	 */
	uint32_t		 s_accepted_us;
	char			*s_head;
	size_t			 s_headlen;

	/*
	 * A client message being reassembled from its fragments; a text is
	 * checked as it comes (utf8_check's state).
	 */
	struct buf		 s_rx;
	uint32_t		 s_rx_utf8;
	uint8_t			 s_rx_binary;
	uint8_t			 s_rx_in_frame;	/* more of this frame to come */
	uint8_t			 s_rate_paused;	/* over a rate: not read */

	/* limits.message_rate and byte_rate: rate_take()'s arrival times. */
	int64_t			 s_rate_messages;
	int64_t			 s_rate_bytes;

	/*
	 * Messages for the client, oldest first: a ring of s_qcap shared
	 * frames, s_qn of them from s_qhead; s_qoff bytes of the first are
	 * written. s_outq_bytes counts their frames, for the limit.
	 */
	uint16_t		 s_deflate;
	struct outmsg		**s_q;
	uint32_t		 s_qhead;
	uint32_t		 s_qn;
	uint32_t		 s_qcap;
	size_t			 s_qoff;
	size_t			 s_outq_bytes;

	/* Who it is and what it listens to, on this worker (route.c). */
	struct strmap_ent	*s_user;	/* in w_users; NULL: no userId */
	LIST_ENTRY(session)	 s_ulink;
	LIST_HEAD(, sub)	 s_subs;
	uint32_t		 s_nsubs;

	/*
	 * How it ends: the close code and reason reported to the backend;
	 * the code of the close frame the client started the closing
	 * handshake with (0: none; 1005: it had no code), and whether the
	 * gateway refused that frame; whether the gateway sent a close frame
	 * (with s_close_code).
	 */
	int			 s_close_code;
	char			*s_close_reason;	/* NULL: none */
	uint16_t		 s_rcvd_code;
	uint8_t			 s_rcvd_bad;
	uint8_t			 s_sent;
	uint8_t			 s_close_flush;	/* write s_outq first */
	uint8_t			 s_ended;	/* the backend was told */
	uint8_t			 s_open_queued;	/* backend_hello only */

	/* In w_writers: a fan-out queued it a frame, not yet asked lws. */
	uint8_t			 s_writer;
	TAILQ_ENTRY(session)	 s_wlink;
};

/* Work for a worker from another thread (w_lock). */
enum inbox_kind {
	INBOX_ADOPT,		/* a new connection from the front door */
	INBOX_SEND,		/* a send from another worker's backend link */
	INBOX_CLOSE,		/* a close from another worker's backend link */
	INBOX_SUBSCRIBE,	/* i_key: a topic */
	INBOX_UNSUBSCRIBE,
	INBOX_FANOUT,		/* i_fanout, its key in i_key */
	INBOX_NODE_LOST,	/* a socket of a lost node: i_id, i_key */
	INBOX_LIST,		/* the admin listener lists the sessions */
	INBOX_CFG,		/* a reloaded configuration */
	INBOX_STOP		/* graceful stop */
};

struct inbox_item {
	TAILQ_ENTRY(inbox_item)	 i_entry;
	enum inbox_kind		 i_kind;
	struct session		*i_session;	/* INBOX_ADOPT */
	char			 i_id[WSG_ID_LEN + 1];
	struct outmsg		*i_msg;		/* INBOX_SEND */
	struct cfg		*i_cfg;		/* INBOX_CFG, a reference */
	int			 i_code;	/* INBOX_CLOSE */
	char			 i_reason[WSG_CLOSE_REASON_MAX + 1];
	int			 i_remote;	/* from another node */
	char			*i_key;		/* i_keylen bytes and a NUL */
	size_t			 i_keylen;
	struct fanout		 i_fanout;
	/* The admin listener's, to be answered: INBOX_LIST, or a send or
	 * close that says whether the socket was found. */
	struct ws_query		*i_query;
};
TAILQ_HEAD(inbox, inbox_item);

enum backend_state {
	BACKEND_DOWN,		/* waiting to retry */
	BACKEND_UP		/* connected */
};

/* What a backend can get wrong; each kind is counted and rate-logged. */
enum backend_err {
	BACKEND_ERR_INVALID_JSON,
	BACKEND_ERR_NOT_OBJECT,
	BACKEND_ERR_BAD_FIELD,
	BACKEND_ERR_UNKNOWN_TYPE,
	BACKEND_ERR_UNKNOWN_SOCKET,
	BACKEND_ERR_TOO_BIG,
	BACKEND_ERR_LIMIT,
	BACKEND_ERR_MAX
};

/* Kinds of events, so that the queue knows what it holds. */
enum backend_ev {
	BACKEND_EV_HELLO,
	BACKEND_EV_OPEN,
	BACKEND_EV_MESSAGE,
	BACKEND_EV_CLOSE
};

struct backend_rec {
	size_t			 r_len;
	uint64_t		 r_seq;		/* numbers the link's events */
	enum backend_ev		 r_kind;
	char			 r_id[WSG_ID_LEN];	/* its socket; hello: 0 */
};

/* A worker's connection to the backend. */
struct backend_link {
	struct worker		*bl_worker;
	enum framing		 bl_framing;
	char			*bl_path;
	enum backend_state	 bl_state;
	struct lws		*bl_wsi;
	lws_sorted_usec_list_t	 bl_retry;
	double			 bl_delay;	/* next retry, seconds */
	/* The connect error last logged in this outage (0: none), and when. */
	int			 bl_down_errno;
	int64_t			 bl_down_logged;

	/* Encoded frames not yet written whole, and a record of each. */
	struct buf		 bl_out;
	struct buf		 bl_recs;	/* struct backend_rec */
	size_t			 bl_sent;	/* bytes of bl_out written */
	uint64_t		 bl_seq;	/* the last event queued */
	/*
	 * The event the link last went down in the middle of, and how many
	 * times in a row it did (backend.frame_attempts).
	 */
	uint64_t		 bl_cut_seq;
	int			 bl_cut_count;
	uint64_t		 bl_queued_msgs;	/* atomic reads */
	size_t			 bl_queued_bytes;	/* bl_out's; atomic */
	int			 bl_paused;	/* clients not read */
	int64_t			 bl_down_since;	/* atomic; 0 when up */
	int			 bl_closed_all;	/* down_action done */

	struct frame_dec	 bl_dec;
	struct ratelog		 bl_rl[BACKEND_ERR_MAX];
};

struct worker {
	int			 w_index;
	pthread_t		 w_thread;
	struct cfg		*w_cfg;		/* a reference */
	struct lws_context	*w_lws;
	struct lws_vhost	*w_vhost;
	struct lws_protocols	*w_protocols;
	lws_retry_bo_t		 w_retry;	/* pings and idle timeout */
	void			*w_loop;	/* struct ev_loop * */

	pthread_mutex_t		 w_lock;
	struct inbox		 w_inbox;	/* w_lock */

	struct session		*w_adopting;
	struct sessmap		 w_sessions;	/* open sessions by id */
	struct strmap		 w_users;	/* route.c */
	struct strmap		 w_topics;	/* route.c */
	size_t			 w_nsessions;	/* atomic: all, any state */
	struct backend_link	 w_backend;
	struct metrics		 w_metrics;	/* atomic adds, read by others */

	int			 w_paused;	/* backend queue full */
	unsigned char		*w_wbuf;	/* LWS_PRE + WS_WRITE_BATCH */
	int			 w_stopping;
	int			 w_destroying;
	int64_t			 w_stop_deadline;
	lws_sorted_usec_list_t	 w_stop_timer;
	lws_sorted_usec_list_t	 w_tick;
	uint64_t		 w_beats;	/* atomic: ticks, for the watchdog */
	TAILQ_HEAD(, session)	 w_writers;	/* oldest first */
};

/*
 * Every session in a sessmap; s must not leave the map inside the loop.
 * break only leaves the bucket: use it not.
 */
#define SESSMAP_FOREACH(s, sm, i)					\
	for ((i) = 0; (i) <= (sm)->sm_mask; (i)++)			\
		for ((s) = (sm)->sm_buckets[i]; (s) != NULL; (s) = (s)->s_hnext)

/* ws.c */
struct worker	*ws_owner(const char *, size_t);
void		 ws_post(struct worker *, struct inbox_item *);
struct worker	*ws_worker(int);
void		 ws_close_session(struct session *, int, const char *);
struct outmsg	*ws_outmsg_new(const void *, size_t, int);
void		 ws_outmsg_setlen(struct outmsg *, size_t);
struct outmsg	*ws_outmsg_ref(struct outmsg *);
void		 ws_outmsg_unref(struct outmsg *);
void		 ws_enqueue(struct session *, struct outmsg *, int);
void		 ws_writers_release(struct worker *);
json_t		*ws_open_event(struct session *);
void		 ws_pause(struct worker *, int);

/* route.c */
enum route_result {
	ROUTE_OK,
	ROUTE_ALREADY,
	ROUTE_SOCKET_LIMIT,	/* topics.max_per_socket */
	ROUTE_TOPIC_LIMIT,	/* topics.max_subscribers */
	ROUTE_BAD_NAME,		/* empty, or over topics.max_name_bytes */
	ROUTE_NOT_SUBSCRIBED
};
extern const char *const route_result_names[];
void		 route_init(struct worker *);
void		 route_free(struct worker *);
void		 route_open(struct session *, const json_t *);
void		 route_close(struct session *);
enum route_result route_subscribe(struct session *, const char *, size_t);
enum route_result route_unsubscribe(struct session *, const char *, size_t);
void		 route_fanout(struct worker *, const struct fanout *);
void		 route_apply(struct worker *, const struct wscmd *, int);
void		 route_send(struct worker *, const char *, size_t,
		     struct outmsg *, int);
void		 route_close_id(struct worker *, const char *, size_t, int,
		     const char *, int);
void		 route_subscribe_id(struct worker *, const char *, size_t,
		     const char *, size_t, int, int);
void		 route_fanout_all(struct worker *, const struct fanout *);
/* For the inbox of the socket's worker, in ws.c. */
int		 route_deliver_local(struct worker *, const char *,
		     struct outmsg *);
int		 route_close_local(struct worker *, const char *, int,
		     const char *);
void		 route_socket_send(struct worker *, const char *,
		     struct outmsg *, int);
void		 route_socket_close(struct worker *, const char *, int,
		     const char *, int);
void		 route_socket_subscribe(struct worker *, const char *,
		     const char *, size_t, int, int);
void		 route_emit_node_lost(struct worker *,
		     const struct inbox_item *);

/* backend.c */
void		 backend_init(struct worker *);
void		 backend_free(struct worker *);
void		 backend_start(struct worker *);
int		 backend_emit(struct worker *, enum backend_ev, json_t *);
int		 backend_emit_message(struct worker *, const char *,
		     const char *, size_t, const void *, size_t, int);
uint64_t	 backend_queued_msgs(struct worker *);
size_t		 backend_queued_bytes(struct worker *);
int		 backend_up(struct worker *);
int		 backend_idle(struct worker *);
void		 backend_error(struct worker *, enum backend_err, const char *,
		     ...) __attribute__((format(printf, 3, 4)));
int		 backend_cb(struct lws *, enum lws_callback_reasons, void *,
		     void *, size_t);

#endif /* WS_H */
