/*
 * Logging in the OpenBSD style: to stderr in the foreground (the journal
 * under systemd), else to syslog. Safe from any thread; every call keeps
 * errno as it found it.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <libwebsockets.h>
#include <event2/event.h>

#include "wsgated.h"

/* The counters line of SIGUSR1 is the longest, some 2.5 KiB. */
#define LOG_LINE_MAX	8192

static int		 log_foreground = 1;
static int		 log_journal;	/* stderr is the journal: <N> */
static enum log_level	 log_level = LOG_LEVEL_INFO;

const char *const log_level_names[] = {
	"error", "warning", "info", "debug", NULL
};

/*
 * Is stderr the journal? systemd says which stream it connected in
 * JOURNAL_STREAM (device:inode); a stderr redirected elsewhere is not.
 */
static int
log_stderr_is_journal(void)
{
	const char		*js = getenv("JOURNAL_STREAM");
	unsigned long long	 dev, ino;
	struct stat		 st;

	if (js == NULL || sscanf(js, "%llu:%llu", &dev, &ino) != 2 ||
	    fstat(STDERR_FILENO, &st) == -1)
		return (0);
	return ((unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino);
}

void
log_init(int foreground, enum log_level level)
{
	log_foreground = foreground;
	log_journal = foreground && log_stderr_is_journal();
	log_setlevel(level);
	if (!foreground)
		openlog("wsgated", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	tzset();
}

void
log_setlevel(enum log_level level)
{
	__atomic_store_n(&log_level, level, __ATOMIC_RELAXED);
}

enum log_level
log_getlevel(void)
{
	return (__atomic_load_n(&log_level, __ATOMIC_RELAXED));
}

const char *
log_level_name(enum log_level level)
{
	return (log_level_names[level]);
}

int
log_level_parse(const char *name, enum log_level *level)
{
	size_t	 i;

	for (i = 0; log_level_names[i] != NULL; i++) {
		if (strcmp(name, log_level_names[i]) == 0) {
			*level = (enum log_level)i;
			return (0);
		}
	}
	return (-1);
}

static void
log_vwrite(enum log_level level, const char *fmt, va_list ap)
{
	static const int	 prio[] = {
		LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG
	};
	char			 msg[LOG_LINE_MAX], pre[8] = "";
	int			 saved_errno = errno;

	if (level > log_getlevel()) {
		errno = saved_errno;
		return;
	}
	vsnprintf(msg, sizeof msg, fmt, ap);
	if (log_foreground) {
		/*
		 * The journal takes the priority from an sd-daemon(3)
		 * prefix. One fprintf a line: threads' lines do not mix.
		 */
		if (log_journal)
			snprintf(pre, sizeof pre, "<%d>", prio[level]);
		if (level == LOG_LEVEL_INFO)
			fprintf(stderr, "%s%s\n", pre, msg);
		else
			fprintf(stderr, "%s%s: %s\n", pre,
			    log_level_names[level], msg);
	} else
		syslog(prio[level], "%s", msg);
	errno = saved_errno;
}

/* Log with the text of the current errno appended. */
static void
log_vwarn_errno(enum log_level level, const char *fmt, va_list ap)
{
	char	*nfmt;
	int	 saved_errno = errno;

	if (xasprintf(&nfmt, "%s: %s", fmt, strerror(saved_errno)) == -1)
		nfmt = NULL;
	log_vwrite(level, nfmt, ap);
	free(nfmt);
	errno = saved_errno;
}

void
log_warn(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwarn_errno(LOG_LEVEL_WARNING, fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_WARNING, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_INFO, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_DEBUG, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwarn_errno(LOG_LEVEL_ERROR, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_ERROR, fmt, ap);
	va_end(ap);
	exit(1);
}

/*
 * libwebsockets logs through here. Its lines end in a newline, and it
 * reports every adoption of a socket with bytes already read at error
 * level: that one is routine here, so it is demoted.
 */
void
log_lws_cb(int level, const char *line)
{
	enum log_level	 l;
	size_t		 len = strlen(line);

	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (level & LLL_ERR)
		l = LOG_LEVEL_WARNING;
	else if (level & (LLL_WARN | LLL_NOTICE))
		l = LOG_LEVEL_INFO;
	else
		l = LOG_LEVEL_DEBUG;
	if (strstr(line, "readbuf") != NULL || strstr(line, "adopt") != NULL)
		l = LOG_LEVEL_DEBUG;
	if (l > log_getlevel())
		return;
	if (l == LOG_LEVEL_WARNING)
		log_warnx("lws: %.*s", (int)len, line);
	else if (l == LOG_LEVEL_INFO)
		log_info("lws: %.*s", (int)len, line);
	else
		log_debug("lws: %.*s", (int)len, line);
}

void
log_event_cb(int severity, const char *msg)
{
	switch (severity) {
	case EVENT_LOG_DEBUG:
		log_debug("libevent: %s", msg);
		break;
	case EVENT_LOG_MSG:
		log_info("libevent: %s", msg);
		break;
	default:
		log_warnx("libevent: %s", msg);
		break;
	}
}

/*
 * Make bytes from the network safe to log: printable ASCII stays, the rest
 * becomes \xNN, and at most max input bytes are shown. The caller frees.
 */
char *
log_escape(const void *data, size_t len, size_t max)
{
	static const char	 hex[] = "0123456789abcdef";
	const unsigned char	*p = data;
	char			*out, *o;
	size_t			 i, n = len < max ? len : max;

	o = out = xmalloc(n * 4 + 4);
	for (i = 0; i < n; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\') {
			*o++ = (char)p[i];
			continue;
		}
		*o++ = '\\';
		*o++ = 'x';
		*o++ = hex[p[i] >> 4];
		*o++ = hex[p[i] & 0xf];
	}
	if (n < len) {
		memcpy(o, "...", 3);
		o += 3;
	}
	*o = '\0';
	return (out);
}
