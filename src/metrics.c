/*
 * Counters. Each worker keeps its own struct metrics, the front door
 * another; readers sum them. Fields are added to atomically and read
 * without locks, so a sum is a snapshot that may be a moment stale.
 */
#include "config.h"

#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "wsgated.h"

struct metrics	 metrics_front;

/* Sum every thread's counters into m. */
void
metrics_sum(struct metrics *m)
{
	memset(m, 0, sizeof *m);
#define METRICS_SUM(name) \
	m->name += __atomic_load_n(&metrics_front.name, __ATOMIC_RELAXED);
	METRICS_FIELDS(METRICS_SUM)
#undef METRICS_SUM
	ws_sum_metrics(m);
}

/* Log every counter on one line, as key=value pairs. */
void
metrics_log(void)
{
	struct metrics	 m;
	char		 line[2048];
	size_t		 off = 0;

	metrics_sum(&m);
#define METRICS_FMT(name)						\
	if (off < sizeof line)						\
		off += (size_t)snprintf(line + off, sizeof line - off,	\
		    "%s%s=%" PRIu64, off ? " " : "", #name, m.name);
	METRICS_FIELDS(METRICS_FMT)
#undef METRICS_FMT
	log_info("counters: %s sessions=%zu msgs_queued=%" PRIu64, line,
	    ws_sessions(), ws_queued_msgs());
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
