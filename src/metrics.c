/*
 * Counters. Each worker keeps its own struct metrics, the front door
 * another; readers sum them. Fields are added to atomically and read
 * without locks, so a sum is a snapshot that may be a moment stale. They
 * are logged on SIGUSR1 and served to Prometheus by the admin listener.
 */
#include "config.h"

#include <sys/resource.h>

#include <dirent.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "wsgated.h"

struct metrics	 metrics_front;

/* Upper bounds of the handshake buckets, in microseconds. */
static const uint32_t metrics_handshake_le[METRICS_HANDSHAKE_BUCKETS] = {
	500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000
};

/* The close codes counted apart (RFC 6455 7.4.1); others are "other". */
static const int metrics_codes[METRICS_CLOSE_CODES - 1] = {
	1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1013
};

static const char *const metrics_reject_names[REJECT_MAX] = {
	"bad_request", "context", "origin", "not_found", "method", "timeout",
	"upgrade_required", "too_large", "too_many", "too_many_per_ip",
	"rate_per_ip", "backend_down", "http_version", "token", "auth"
};

/* Add the counters of from, read atomically, to to. */
void
metrics_add(struct metrics *to, const struct metrics *from)
{
	size_t	 i;

#define METRICS_SUM(name) \
	to->name += __atomic_load_n(&from->name, __ATOMIC_RELAXED);
	METRICS_FIELDS(METRICS_SUM)
	METRICS_SUM(handshake_us)
#undef METRICS_SUM
	for (i = 0; i < REJECT_MAX; i++)
		to->rejected[i] += __atomic_load_n(&from->rejected[i],
		    __ATOMIC_RELAXED);
	for (i = 0; i < METRICS_CLOSE_CODES; i++)
		to->close_codes[i] += __atomic_load_n(&from->close_codes[i],
		    __ATOMIC_RELAXED);
	for (i = 0; i <= METRICS_HANDSHAKE_BUCKETS; i++)
		to->handshakes[i] += __atomic_load_n(&from->handshakes[i],
		    __ATOMIC_RELAXED);
}

/* Sum every thread's counters into m. */
void
metrics_sum(struct metrics *m)
{
	memset(m, 0, sizeof *m);
	metrics_add(m, &metrics_front);
	ws_sum_metrics(m);
}

/* A monotonic clock in microseconds, for durations. */
int64_t
metrics_now_us(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
}

/* Count a handshake of us microseconds, from accept to established. */
void
metrics_handshake(struct metrics *m, uint32_t us)
{
	size_t	 i;

	for (i = 0; i < METRICS_HANDSHAKE_BUCKETS; i++) {
		if (us <= metrics_handshake_le[i])
			break;
	}
	METRICS_INC(m, handshakes[i]);
	METRICS_ADD(m, handshake_us, us);
}

/* Count a WebSocket connection that ended with code. */
void
metrics_close_code(struct metrics *m, int code)
{
	size_t	 i;

	for (i = 0; i < METRICS_CLOSE_CODES - 1; i++) {
		if (metrics_codes[i] == code)
			break;
	}
	METRICS_INC(m, close_codes[i]);
}

static void	metrics_printf(struct buf *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

/* Log every counter on one line, as key=value pairs. */
void
metrics_log(void)
{
	struct metrics	 m;
	struct buf	 line;

	metrics_sum(&m);
	buf_init(&line);
#define METRICS_FMT(name)						\
	metrics_printf(&line, "%s=%" PRIu64 " ", #name, m.name);
	METRICS_FIELDS(METRICS_FMT)
#undef METRICS_FMT
	metrics_printf(&line, "sessions=%zu msgs_queued=%" PRIu64,
	    ws_sessions(), ws_queued_msgs());
	log_info("counters: %.*s", (int)buf_used(&line),
	    (const char *)buf_data(&line));
	buf_free(&line);
}

/*
 * May an event of a rate-limited kind be logged now? The first one is;
 * after that, one a minute, with the number held back in *suppressed.
 */
int
ratelog_allow(struct ratelog *rl, uint64_t *suppressed)
{
	struct timespec	 ts;
	int64_t		 now;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (int64_t)ts.tv_sec + 1;
	if (rl->rl_last != 0 && now - rl->rl_last < 60) {
		rl->rl_suppressed++;
		return (0);
	}
	*suppressed = rl->rl_suppressed;
	rl->rl_suppressed = 0;
	rl->rl_last = now;
	return (1);
}

static void
metrics_printf(struct buf *b, const char *fmt, ...)
{
	va_list	 ap;
	char	*line;
	int	 n;

	va_start(ap, fmt);
	n = xvasprintf(&line, fmt, ap);
	va_end(ap);
	buf_add(b, line, (size_t)n);
	free(line);
}

/* The HELP and TYPE lines of a metric family. */
static void
metrics_family(struct buf *b, const char *name, const char *type,
    const char *help)
{
	metrics_printf(b, "# HELP wsgated_%s %s\n# TYPE wsgated_%s %s\n", name,
	    help, name, type);
}

static void
metrics_one(struct buf *b, const char *name, const char *type,
    const char *help, uint64_t v)
{
	metrics_family(b, name, type, help);
	metrics_printf(b, "wsgated_%s %" PRIu64 "\n", name, v);
}

/*
 * When the process started, in seconds since the epoch: its start in
 * clock ticks after boot (/proc/self/stat), moved to the wall clock by
 * the time since boot now. (/proc/stat, with the boot time, is hidden by
 * the unit's ProcSubset=pid.) -1 if unknown.
 */
static double
metrics_start_time(void)
{
	char		 line[1024], *p;
	unsigned long long ticks = 0;
	struct timespec	 boot, wall;
	FILE		*f;
	int		 i, ok = 0;

	if ((f = fopen("/proc/self/stat", "r")) != NULL) {
		/* The name in parentheses may hold spaces: skip past it. */
		if (fgets(line, sizeof line, f) != NULL &&
		    (p = strrchr(line, ')')) != NULL) {
			for (i = 0; i < 20 && p != NULL; i++)
				p = strchr(p + 1, ' ');
			ok = p != NULL && sscanf(p, " %llu", &ticks) == 1;
		}
		fclose(f);
	}
	if (!ok || clock_gettime(CLOCK_BOOTTIME, &boot) == -1 ||
	    clock_gettime(CLOCK_REALTIME, &wall) == -1)
		return (-1);
	return ((double)wall.tv_sec + wall.tv_nsec / 1e9 - (boot.tv_sec +
	    boot.tv_nsec / 1e9) + (double)ticks / (double)sysconf(_SC_CLK_TCK));
}

/*
 * The process metrics every Prometheus client exports, under their
 * standard names.
 */
static void
metrics_process(struct buf *b)
{
	struct rusage	 ru;
	struct rlimit	 rl;
	struct dirent	*de;
	DIR		*d;
	FILE		*f;
	unsigned long	 vsz = 0, rss = 0;
	long		 page = sysconf(_SC_PAGESIZE);
	uint64_t	 fds = 0;
	double		 start;

	if (getrusage(RUSAGE_SELF, &ru) == 0) {
		metrics_printf(b, "# HELP process_cpu_seconds_total Total user "
		    "and system CPU time spent in seconds.\n"
		    "# TYPE process_cpu_seconds_total counter\n"
		    "process_cpu_seconds_total %.6f\n",
		    (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
		    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
	}
	if ((d = opendir("/proc/self/fd")) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] != '.')
				fds++;
		}
		closedir(d);
		/* Less the descriptor that read the directory. */
		metrics_printf(b, "# HELP process_open_fds Number of open file "
		    "descriptors.\n# TYPE process_open_fds gauge\n"
		    "process_open_fds %" PRIu64 "\n", fds > 0 ? fds - 1 : 0);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		metrics_printf(b, "# HELP process_max_fds Maximum number of open "
		    "file descriptors.\n# TYPE process_max_fds gauge\n"
		    "process_max_fds %llu\n", (unsigned long long)rl.rlim_cur);
	}
	if ((f = fopen("/proc/self/statm", "r")) != NULL) {
		if (fscanf(f, "%lu %lu", &vsz, &rss) == 2) {
			metrics_printf(b, "# HELP process_virtual_memory_bytes "
			    "Virtual memory size in bytes.\n"
			    "# TYPE process_virtual_memory_bytes gauge\n"
			    "process_virtual_memory_bytes %llu\n"
			    "# HELP process_resident_memory_bytes Resident memory "
			    "size in bytes.\n"
			    "# TYPE process_resident_memory_bytes gauge\n"
			    "process_resident_memory_bytes %llu\n",
			    (unsigned long long)vsz * (unsigned long long)page,
			    (unsigned long long)rss * (unsigned long long)page);
		}
		fclose(f);
	}
	if ((start = metrics_start_time()) >= 0) {
		metrics_printf(b, "# HELP process_start_time_seconds Start time "
		    "of the process since unix epoch in seconds.\n"
		    "# TYPE process_start_time_seconds gauge\n"
		    "process_start_time_seconds %.2f\n", start);
	}
}

/* A counter with one label whose values name fields of struct metrics. */
struct metrics_label {
	const char	*ml_value;
	size_t		 ml_offset;
};

static void
metrics_labelled(struct buf *b, const struct metrics *m, const char *name,
    const char *help, const char *label, const struct metrics_label *ml,
    size_t n)
{
	size_t	 i;

	metrics_family(b, name, "counter", help);
	for (i = 0; i < n; i++)
		metrics_printf(b, "wsgated_%s{%s=\"%s\"} %" PRIu64 "\n", name,
		    label, ml[i].ml_value,
		    *(const uint64_t *)((const char *)m + ml[i].ml_offset));
}

#define ML(value, field) { value, offsetof(struct metrics, field) }

static const struct metrics_label metrics_dropped[] = {
	ML("queue_full", msgs_dropped_queue_full),
	ML("too_big", msgs_dropped_too_big),
	ML("bad_utf8", msgs_dropped_bad_utf8),
	ML("slow_client", msgs_dropped_slow_client),
	ML("backend_refused", msgs_dropped_refused),
};

static const struct metrics_label metrics_backend_errors[] = {
	ML("invalid_json", backend_err_invalid_json),
	ML("not_object", backend_err_not_object),
	ML("bad_field", backend_err_bad_field),
	ML("unknown_type", backend_err_unknown_type),
	ML("unknown_socket", backend_err_unknown_socket),
	ML("too_big", backend_err_too_big),
	ML("limit", backend_err_limit),
};

static const struct metrics_label metrics_commands[] = {
	ML("send_user", cmd_send_user),
	ML("send_sockets", cmd_send_sockets),
	ML("publish", cmd_publish),
	ML("broadcast", cmd_broadcast),
	ML("close_user", cmd_close_user),
};

static const struct metrics_label metrics_topic_refused[] = {
	ML("max_per_socket", topic_refused_per_socket),
	ML("max_subscribers", topic_refused_subscribers),
};

static const struct metrics_label metrics_jwt_refused[] = {
	ML("missing", jwt_refused_missing),
	ML("too_large", jwt_refused_too_large),
	ML("malformed", jwt_refused_malformed),
	ML("algorithm", jwt_refused_algorithm),
	ML("key", jwt_refused_key),
	ML("signature", jwt_refused_signature),
	ML("expired", jwt_refused_expired),
	ML("not_yet_valid", jwt_refused_not_yet_valid),
	ML("issuer", jwt_refused_issuer),
	ML("audience", jwt_refused_audience),
};

static const struct metrics_label metrics_auth_refused[] = {
	ML("denied", auth_denied),
	ML("timeout", auth_timeouts),
	ML("unavailable", auth_unavailable),
	ML("overflow", auth_overflow),
	ML("cancelled", auth_cancelled),
};

#undef ML

/* A gauge with a value per worker, at offset in struct ws_worker_info. */
static void
metrics_per_worker(struct buf *b, const char *name, const char *help,
    const struct ws_worker_info *wi, int n, size_t offset)
{
	int	 i;

	metrics_family(b, name, "gauge", help);
	for (i = 0; i < n; i++)
		metrics_printf(b, "wsgated_%s{worker=\"%d\"} %" PRIu64 "\n",
		    name, i,
		    *(const uint64_t *)((const char *)&wi[i] + offset));
}

/*
 * Every counter and gauge in the Prometheus text format, version 0.0.4:
 * counters are summed over the threads, gauges read as they are now.
 */
void
metrics_prometheus(struct buf *b)
{
	struct metrics		 m;
	struct ws_worker_info	*wi;
	uint64_t		 n;
	size_t			 i;
	int			 nw = ws_nworkers(), k;

	metrics_sum(&m);
	wi = xcalloc((size_t)(nw > 0 ? nw : 1), sizeof *wi);
	for (k = 0; k < nw; k++)
		ws_worker_info(k, &wi[k]);

	metrics_family(b, "info", "gauge",
	    "The version of wsgated, as a label.");
	metrics_printf(b, "wsgated_info{version=\"%s\"} 1\n", PACKAGE_VERSION);
	metrics_family(b, "start_time_seconds", "gauge",
	    "When wsgated started, in seconds since the epoch.");
	metrics_printf(b, "wsgated_start_time_seconds %.3f\n",
	    (double)ws_epoch() / 1000);
	metrics_one(b, "workers", "gauge", "WebSocket worker threads.",
	    (uint64_t)nw);

	metrics_one(b, "connections_open", "gauge",
	    "WebSocket connections open or being opened.", ws_sessions());
	metrics_one(b, "handshakes_in_progress", "gauge",
	    "Connections still sending their request head.", front_pending());
	metrics_one(b, "connections_accepted_total", "counter",
	    "TCP connections accepted by the front door.", m.conns_accepted);
	metrics_one(b, "connections_upgraded_total", "counter",
	    "Upgrades handed to a worker.", m.conns_upgraded);
	metrics_family(b, "connections_rejected_total", "counter",
	    "Requests refused, by reason.");
	for (i = 0; i < REJECT_MAX; i++)
		metrics_printf(b, "wsgated_connections_rejected_total"
		    "{reason=\"%s\"} %" PRIu64 "\n", metrics_reject_names[i],
		    m.rejected[i]);

	metrics_family(b, "handshake_duration_seconds", "histogram",
	    "Accept to WebSocket established.");
	for (i = 0, n = 0; i < METRICS_HANDSHAKE_BUCKETS; i++) {
		n += m.handshakes[i];
		metrics_printf(b, "wsgated_handshake_duration_seconds_bucket"
		    "{le=\"%g\"} %" PRIu64 "\n",
		    (double)metrics_handshake_le[i] / 1e6, n);
	}
	n += m.handshakes[i];
	metrics_printf(b, "wsgated_handshake_duration_seconds_bucket"
	    "{le=\"+Inf\"} %" PRIu64 "\n", n);
	metrics_printf(b, "wsgated_handshake_duration_seconds_sum %.6f\n",
	    (double)m.handshake_us / 1e6);
	metrics_printf(b, "wsgated_handshake_duration_seconds_count %" PRIu64
	    "\n", n);

	metrics_one(b, "sockets_opened_total", "counter",
	    "WebSocket connections established.", m.sockets_opened);
	metrics_one(b, "sockets_closed_total", "counter",
	    "WebSocket connections ended.", m.sockets_closed);
	metrics_family(b, "close_codes_total", "counter",
	    "WebSocket connections ended, by the close code told the backend.");
	for (i = 0; i < METRICS_CLOSE_CODES - 1; i++)
		metrics_printf(b, "wsgated_close_codes_total{code=\"%d\"} %"
		    PRIu64 "\n", metrics_codes[i], m.close_codes[i]);
	metrics_printf(b, "wsgated_close_codes_total{code=\"other\"} %" PRIu64
	    "\n", m.close_codes[i]);

	metrics_one(b, "messages_in_total", "counter",
	    "Complete messages received from clients.", m.msgs_in);
	metrics_one(b, "messages_in_bytes_total", "counter",
	    "Bytes of the messages received from clients.", m.msgs_in_bytes);
	metrics_one(b, "messages_delivered_total", "counter",
	    "Client messages written whole to the backend.", m.msgs_delivered);
	metrics_one(b, "messages_out_total", "counter",
	    "Messages queued for clients.", m.msgs_out);
	metrics_one(b, "messages_out_bytes_total", "counter",
	    "Bytes of the messages queued for clients.", m.msgs_out_bytes);
	metrics_labelled(b, &m, "messages_dropped_total",
	    "Messages dropped, by reason.", "reason", metrics_dropped,
	    sizeof metrics_dropped / sizeof metrics_dropped[0]);

	metrics_per_worker(b, "backend_up", "Whether the worker's backend "
	    "connection is up.", wi, nw,
	    offsetof(struct ws_worker_info, wi_backend_up));
	metrics_one(b, "backend_connects_total", "counter",
	    "Backend connections made.", m.backend_connects);
	metrics_one(b, "backend_disconnects_total", "counter",
	    "Backend connections lost.", m.backend_disconnects);
	metrics_one(b, "backend_events_refused_total", "counter",
	    "Events dropped after the backend dropped its connection "
	    "while reading each of them backend.frame_attempts times.",
	    m.backend_events_refused);
	metrics_per_worker(b, "backend_queue_messages", "Client messages "
	    "waiting in the worker's backend queue.", wi, nw,
	    offsetof(struct ws_worker_info, wi_queued_msgs));
	metrics_per_worker(b, "backend_queue_bytes", "Bytes of events waiting "
	    "in the worker's backend queue.", wi, nw,
	    offsetof(struct ws_worker_info, wi_queued_bytes));
	metrics_per_worker(b, "worker_connections", "WebSocket connections "
	    "of the worker.", wi, nw,
	    offsetof(struct ws_worker_info, wi_connections));
	metrics_one(b, "backend_frames_in_total", "counter",
	    "Frames received from the backend.", m.backend_frames_in);
	metrics_labelled(b, &m, "backend_errors_total",
	    "Backend frames skipped, by kind of error.", "kind",
	    metrics_backend_errors,
	    sizeof metrics_backend_errors / sizeof metrics_backend_errors[0]);
	metrics_one(b, "backend_closes_total", "counter",
	    "Close commands from the backend carried out.", m.backend_closes);
	metrics_labelled(b, &m, "commands_total", "Commands for many sockets, "
	    "by kind.", "kind", metrics_commands,
	    sizeof metrics_commands / sizeof metrics_commands[0]);
	metrics_one(b, "fanout_deliveries_total", "counter",
	    "Messages those commands queued for clients, one per client.",
	    m.fanout_deliveries);
	metrics_one(b, "topic_subscribes_total", "counter",
	    "Subscriptions to topics made.", m.topic_subscribes);
	metrics_one(b, "topic_unsubscribes_total", "counter",
	    "Subscriptions to topics removed by an unsubscribe command.",
	    m.topic_unsubscribes);
	metrics_labelled(b, &m, "topic_refused_total", "Subscriptions "
	    "refused, by the topics limit reached.", "limit",
	    metrics_topic_refused,
	    sizeof metrics_topic_refused / sizeof metrics_topic_refused[0]);

	metrics_one(b, "jwt_verified_total", "counter",
	    "Tokens verified at the upgrade (the jwt group).", m.jwt_ok);
	metrics_labelled(b, &m, "jwt_refused_total",
	    "Tokens refused at the upgrade, by reason.", "reason",
	    metrics_jwt_refused,
	    sizeof metrics_jwt_refused / sizeof metrics_jwt_refused[0]);

	metrics_one(b, "auth_allowed_total", "counter",
	    "Upgrades the auth hook allowed, cached answers included.",
	    m.auth_allowed);
	metrics_labelled(b, &m, "auth_refused_total",
	    "Upgrades the auth hook did not allow, by reason.", "reason",
	    metrics_auth_refused,
	    sizeof metrics_auth_refused / sizeof metrics_auth_refused[0]);
	metrics_one(b, "auth_cache_hits_total", "counter",
	    "Upgrades allowed by a cached answer of the auth hook.",
	    m.auth_cache_hits);
	metrics_one(b, "auth_bad_frames_total", "counter",
	    "Frames from the auth service that were invalid or answered no "
	    "request in flight.", m.auth_bad_frames);

	metrics_one(b, "cluster_up", "gauge", "Whether the cluster link to "
	    "Redis is up (0 without a cluster group).",
	    (uint64_t)cluster_link_up());
	metrics_one(b, "cluster_nodes", "gauge", "Live nodes of the cluster, "
	    "this one included, at the last heartbeat.", cluster_nodes());
	metrics_one(b, "cluster_forwarded_total", "counter",
	    "Commands for sockets of other nodes published to Redis.",
	    m.cluster_forwarded);
	metrics_one(b, "cluster_dropped_total", "counter",
	    "Commands for other nodes dropped: Redis away, or "
	    "cluster.queue_bytes reached.", m.cluster_dropped);
	metrics_one(b, "cluster_received_total", "counter",
	    "Commands from other nodes carried out here.", m.cluster_received);
	metrics_one(b, "cluster_bad_messages_total", "counter",
	    "Messages from Redis refused as malformed.",
	    m.cluster_bad_messages);
	metrics_one(b, "cluster_nodes_lost_total", "counter",
	    "Lost nodes this node reaped.", m.cluster_nodes_lost);
	metrics_one(b, "cluster_sockets_lost_total", "counter",
	    "Close events told the backend for sockets of lost nodes.",
	    m.cluster_sockets_lost);
	metrics_one(b, "cluster_connects_total", "counter",
	    "Cluster links to Redis made.", m.cluster_connects);
	metrics_one(b, "cluster_disconnects_total", "counter",
	    "Cluster links to Redis lost.", m.cluster_disconnects);
	free(wi);
	metrics_process(b);
}
