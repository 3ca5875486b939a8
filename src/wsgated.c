/*
 * wsgated: main, options, daemonising, signals and the order of startup
 * and shutdown.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <grp.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "wsgated.h"

static struct event_base	*main_base;
static struct cfg		*main_cfg;
static int			 main_verbose;	/* -v: the level is fixed */

static void __attribute__((noreturn))
usage(FILE *f, int status)
{
	fprintf(f, "usage: wsgated [-ftVhv] [-c file]\n"
	    "  -c file  the configuration file (default %s)\n"
	    "  -f       stay in the foreground, logging to standard error\n"
	    "  -t       check the configuration, print warnings, and exit\n"
	    "  -v       log more: info, then with -vv debug\n"
	    "  -V       print the version and the optional features, and "
	    "exit\n"
	    "  -h       print this help and exit\n", WSG_CONF_FILE);
	exit(status);
}

/* Log each line of cfg_warnings(), prefixed. */
static void
main_log_warnings(const struct cfg *cfg, const char *prefix)
{
	char	*text, *line, *next;

	if ((text = cfg_warnings(cfg)) == NULL)
		return;
	for (line = text; *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		log_warnx("%s%s: %s", prefix, cfg->c_file, line);
		if (next == NULL)
			break;
	}
	free(text);
}

/*
 * May a user that is not the file's owner, in the group wsgate (if there
 * is one), read path (need 4) or search it (need 1), and search every
 * directory above it?
 */
static int
main_service_can(const char *path, gid_t group, mode_t need)
{
	struct stat	 st;
	char		*copy, *dir;
	int		 ok;

	if (stat(path, &st) == -1)
		return (0);
	ok = (st.st_mode & need) != 0 || (st.st_gid == group &&
	    (st.st_mode & (need << 3)) != 0);
	if (ok && strcmp(path, "/") != 0) {
		copy = xstrdup(path);
		dir = dirname(copy);
		ok = main_service_can(dir, group, 1);
		free(copy);
	}
	return (ok);
}

/*
 * wsgated -t as root reads what the service may not: under systemd it
 * runs as a user of its own in the group wsgate (wsgated(8), SYSTEMD),
 * with a /tmp of its own. Warn of what it would not reach.
 */
static void
main_warn_reach(const struct cfg *cfg)
{
	const char	*sock = cfg->c_backend_socket;
	struct group	*gr;
	gid_t		 group = (gid_t)-1;
	char		*copy, *dir, *key;

	if (geteuid() != 0)
		return;
	if ((gr = getgrnam("wsgate")) != NULL)
		group = gr->gr_gid;
	if (strncmp(sock, "/tmp/", 5) == 0 || strncmp(sock, "/var/tmp/", 9) == 0)
		log_warnx("%s: backend.socket %s is under a /tmp that the unit's "
		    "PrivateTmp= hides from the service", cfg->c_file, sock);
	copy = xstrdup(sock);
	dir = dirname(copy);
	if (access(dir, F_OK) == -1)
		log_warnx("%s: backend.socket: the directory %s does not exist "
		    "yet: the backend must make it, or systemd-tmpfiles",
		    cfg->c_file, dir);
	else if (!main_service_can(dir, group, 1))
		log_warnx("%s: backend.socket: the service's user could not "
		    "reach %s: it needs the group wsgate, or others, to search "
		    "it and every directory above", cfg->c_file, dir);
	free(copy);
	if ((key = cfg_key_file(cfg)) != NULL) {
		if (access(key, R_OK) == 0 && !main_service_can(key, group, 4))
			log_warnx("%s: %s may be read only by its owner, which "
			    "the service is not: pass it with LoadCredential= "
			    "and name it credential:NAME", cfg->c_file, key);
		free(key);
	}
}

/*
 * SIGHUP: read the configuration again and, if it is valid, use it for
 * new connections; connections already open keep their limits. A file
 * with errors changes nothing.
 */
static void
main_reload(void)
{
	struct cfg	*cfg;
	char		*errs, *line, *next, *keys;

	log_info("SIGHUP: reloading %s", main_cfg->c_file);
	notify_reloading();
	if ((cfg = cfg_load(main_cfg->c_file, &errs)) == NULL) {
		for (line = errs; line != NULL && *line != '\0'; line = next) {
			if ((next = strchr(line, '\n')) != NULL)
				*next++ = '\0';
			log_warnx("reload refused: %s", line);
		}
		free(errs);
		log_warnx("reload refused: the configuration in force is "
		    "unchanged");
		notify_reloaded(0);
		return;
	}
	if ((keys = cfg_restart_keys(main_cfg, cfg)) != NULL) {
		log_warnx("reload: %s changed; those take effect at a restart",
		    keys);
		free(keys);
	}
	main_log_warnings(cfg, "reload: ");
	if (!main_verbose)
		log_setlevel(cfg->c_log_level);
	front_set_cfg(cfg);
	auth_set_cfg(cfg);
	cluster_set_cfg(cfg);
	ws_set_cfg(cfg);
	admin_set_cfg(cfg);
	cfg_free(main_cfg);
	main_cfg = cfg;
	log_info("reloaded %s", main_cfg->c_file);
	notify_reloaded(1);
}

static void
main_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	static int	 stopping;

	switch (sig) {
	case SIGTERM:
	case SIGINT:
		/* A second signal while the cluster link says goodbye. */
		if (stopping)
			break;
		stopping = 1;
		log_info("%s: stopping", strsignal(sig));
		notify_stopping();
		front_stop();
		auth_stop();
		admin_stop();
		/* Else the loop ends once this node has left the cluster. */
		if (!cluster_stop())
			event_base_loopbreak(main_base);
		break;
	case SIGHUP:
		main_reload();
		break;
	case SIGUSR1:
		metrics_log();
		break;
	}
}

static void
main_ignore_sigpipe(void)
{
	struct sigaction	 sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGPIPE, &sa, NULL) == -1)
		fatal("sigaction");
}

int
main(int argc, char **argv)
{
	const char	*file = WSG_CONF_FILE;
	struct event	*sigs[4];
	const int	 signos[4] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1 };
	char		*errs, *cause;
	int		 ch, foreground = 0, check = 0, verbose = 0, i;
	enum log_level	 level;

	while ((ch = getopt(argc, argv, "c:fhtVv")) != -1) {
		switch (ch) {
		case 'c':
			file = optarg;
			break;
		case 'f':
			foreground = 1;
			break;
		case 'h':
			usage(stdout, 0);
		case 't':
			check = 1;
			break;
		case 'V':
			printf("wsgated %s (%s)\n", PACKAGE_VERSION,
			    notify_features);
			return (0);
		case 'v':
			verbose++;
			break;
		default:
			usage(stderr, 1);
		}
	}
	if (optind != argc)
		usage(stderr, 1);

	/* Errors go to stderr until the configuration says otherwise. */
	log_init(1, LOG_LEVEL_INFO);
	if ((main_cfg = cfg_load(file, &errs)) == NULL) {
		fputs(errs, stderr);
		free(errs);
		return (1);
	}
	if (check) {
		main_log_warnings(main_cfg, "");
		main_warn_reach(main_cfg);
		printf("configuration OK\n");
		cfg_free(main_cfg);
		return (0);
	}

	main_verbose = verbose;
	level = main_cfg->c_log_level;
	if (verbose == 1 && level < LOG_LEVEL_INFO)
		level = LOG_LEVEL_INFO;
	else if (verbose > 1)
		level = LOG_LEVEL_DEBUG;
	log_init(1, level);
	main_log_warnings(main_cfg, "");
	event_set_log_callback(log_event_cb);
	main_ignore_sigpipe();

	/* Bind first, so that a port in use is reported on the terminal. */
	if (front_listen(main_cfg, &cause) == -1 ||
	    admin_listen(main_cfg, &cause) == -1)
		fatalx("%s", cause);
	if (!foreground) {
		if (daemon(0, 0) == -1)
			fatal("daemon");
		log_init(0, level);
	}

	/* Workers wake the admin listener's requests from their threads. */
	if (evthread_use_pthreads() == -1)
		fatalx("evthread_use_pthreads");
	if ((main_base = event_base_new()) == NULL)
		fatalx("event_base_new");
	/* Before the workers, which ask cluster_enabled(). */
	cluster_start(main_base, main_cfg);
	if (ws_start(main_cfg, &cause) == -1)
		fatalx("%s", cause);
	auth_start(main_base, main_cfg);
	front_start(main_base);
	admin_start(main_base);
	for (i = 0; i < 4; i++) {
		sigs[i] = evsignal_new(main_base, signos[i], main_signal_cb,
		    NULL);
		if (sigs[i] == NULL || evsignal_add(sigs[i], NULL) == -1)
			fatalx("cannot handle signal %d", signos[i]);
	}
	log_info("wsgated %s started, path %s", PACKAGE_VERSION,
	    main_cfg->c_listen_path);
	notify_ready(main_base);

	event_base_dispatch(main_base);

	ws_stop(main_cfg->c_shutdown_timeout);
	cluster_free();
	metrics_log();
	for (i = 0; i < 4; i++)
		event_free(sigs[i]);
	event_base_free(main_base);
	cfg_free(main_cfg);
	log_info("stopped");
	return (0);
}
