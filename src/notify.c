/*
 * Telling systemd what wsgated is doing (sd_notify(3)): ready, reloading,
 * stopping, a one-line status, and watchdog pings. Main thread only.
 *
 * Every function does nothing when wsgated is built without libsystemd
 * or when no service manager asked (NOTIFY_SOCKET is unset).
 */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "wsgated.h"

#define NOTIFY_STATUS_SECS	5	/* STATUS= refreshed this often */

/* What -V prints after the version. */
#ifdef HAVE_SYSTEMD
const char notify_features[] = "+systemd";
#else
const char notify_features[] = "-systemd";
#endif

#ifdef HAVE_SYSTEMD

static int		 notify_on;
static int		 notify_refused;	/* the last reload was */
static struct event	*notify_status_ev;
static struct event	*notify_watchdog_ev;
static uint64_t		 notify_watchdog_usec;
static uint64_t		 notify_beats[WSG_MAX_WORKERS];
static struct ratelog	 notify_stall_rl;
static struct ratelog	 notify_error_rl;

/* Send one message: newline-separated VARIABLE=value assignments. */
static void
notify_send(const char *msg)
{
	uint64_t	 suppressed;
	char		*line, *p;
	int		 r;

	if ((r = sd_notify(0, msg)) < 0) {
		if (ratelog_allow(&notify_error_rl, &suppressed))
			log_warnx("notify: cannot reach systemd: %s",
			    strerror(-r));
		return;
	}
	if (log_debug_enabled() && strcmp(msg, "WATCHDOG=1") != 0) {
		line = xstrdup(msg);
		for (p = line; (p = strchr(p, '\n')) != NULL; p++)
			*p = ' ';
		log_debug("notify: %s", line);
		free(line);
	}
}

/* The STATUS= line: what systemctl status shows. */
static char *
notify_status(const char *prefix)
{
	char	*s;
	size_t	 n = ws_sessions();

	xasprintf(&s, "STATUS=%s%s%zu connection%s, backend up on %d/%d "
	    "workers%s", prefix != NULL ? prefix : "", prefix != NULL ? "; " :
	    "", n, n == 1 ? "" : "s", ws_backends_up(), ws_nworkers(),
	    notify_refused ? "; last reload refused, see the log" : "");
	return (s);
}

static void
notify_status_cb(evutil_socket_t fd, short what, void *arg)
{
	char	*status = notify_status(NULL);

	notify_send(status);
	free(status);
}

/*
 * A ping says that the main loop runs and that every worker's loop ran
 * its tick since the last ping: a worker stuck in a call or a lock keeps
 * systemd from being pinged, and it restarts the service.
 */
static void
notify_watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	uint64_t	 suppressed;
	int		 i;

	if ((i = ws_stalled(notify_beats)) != -1) {
		if (ratelog_allow(&notify_stall_rl, &suppressed))
			log_warnx("watchdog: worker %d has not run for %.1f s; "
			    "not telling systemd that all is well", i,
			    (double)notify_watchdog_usec / 2e6);
		return;
	}
	notify_send("WATCHDOG=1");
}

static struct event *
notify_timer(struct event_base *base, uint64_t usec, event_callback_fn cb)
{
	struct timeval	 tv;
	struct event	*ev;

	tv.tv_sec = (time_t)(usec / 1000000);
	tv.tv_usec = (suseconds_t)(usec % 1000000);
	if ((ev = event_new(base, -1, EV_PERSIST, cb, NULL)) == NULL ||
	    event_add(ev, &tv) == -1)
		fatalx("%s: event_new", __func__);
	return (ev);
}

/*
 * Listening, the workers started and configured: tell systemd, and start
 * the status and watchdog timers on base.
 */
void
notify_ready(struct event_base *base)
{
	char		*status, *msg;
	uint64_t	 usec;
	int		 r;

	if (getenv("NOTIFY_SOCKET") == NULL)
		return;
	notify_on = 1;
	notify_status_ev = notify_timer(base, NOTIFY_STATUS_SECS * 1000000ULL,
	    notify_status_cb);
	if ((r = sd_watchdog_enabled(0, &usec)) < 0)
		log_warnx("watchdog: WATCHDOG_USEC or WATCHDOG_PID: %s",
		    strerror(-r));
	else if (r > 0) {
		notify_watchdog_usec = usec;
		(void)ws_stalled(notify_beats);
		notify_watchdog_ev = notify_timer(base, usec / 2 > 0 ?
		    usec / 2 : 1, notify_watchdog_cb);
		log_info("watchdog: %.3f s; pinging systemd every %.3f s "
		    "while every worker runs", (double)usec / 1e6,
		    (double)usec / 2e6);
	}
	status = notify_status(NULL);
	xasprintf(&msg, "READY=1\n%s", status);
	notify_send(msg);
	free(msg);
	free(status);
}

/* SIGHUP: a reload starts. */
void
notify_reloading(void)
{
	struct timespec	 ts;
	char		*msg;

	if (!notify_on)
		return;
	/* MONOTONIC_USEC= is what Type=notify-reload (systemd 253) wants. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	xasprintf(&msg, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64 "\n"
	    "STATUS=reloading the configuration", (uint64_t)ts.tv_sec *
	    1000000 + (uint64_t)ts.tv_nsec / 1000);
	notify_send(msg);
	free(msg);
}

/* The reload is over: ok if the new configuration is in force. */
void
notify_reloaded(int ok)
{
	char	*status, *msg;

	if (!notify_on)
		return;
	notify_refused = !ok;
	status = notify_status(ok ? "configuration reloaded" :
	    "reload refused, configuration unchanged");
	xasprintf(&msg, "READY=1\n%s", status);
	notify_send(msg);
	free(msg);
	free(status);
}

/* SIGTERM or SIGINT: the drain starts; no more pings or status. */
void
notify_stopping(void)
{
	char	*msg;
	size_t	 n = ws_sessions();

	if (!notify_on)
		return;
	if (notify_status_ev != NULL)
		event_free(notify_status_ev);
	if (notify_watchdog_ev != NULL)
		event_free(notify_watchdog_ev);
	notify_status_ev = notify_watchdog_ev = NULL;
	xasprintf(&msg, "STOPPING=1\nSTATUS=stopping, closing %zu "
	    "connection%s", n, n == 1 ? "" : "s");
	notify_send(msg);
	free(msg);
	notify_on = 0;
}

#else /* !HAVE_SYSTEMD */

void
notify_ready(struct event_base *base)
{
	/* A Type=notify unit would wait for READY=1 until it times out. */
	if (getenv("NOTIFY_SOCKET") != NULL)
		log_warnx("NOTIFY_SOCKET is set, but wsgated was built without "
		    "systemd support: systemd is not told that it is ready");
}

void
notify_reloading(void)
{
}

void
notify_reloaded(int ok)
{
}

void
notify_stopping(void)
{
}

#endif /* HAVE_SYSTEMD */
