/*
 * Rate limits, as the generic cell rate algorithm (GCRA): a limit of R
 * units a second with a burst of B keeps one time per client, the
 * "theoretical arrival time" at which its bucket would be empty again. A
 * unit conforms while that time is at most B units' worth ahead of now.
 * A connection's messages and bytes are limited so on its worker, and an
 * address's new connections on the front door, in a bounded table.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wsgated.h"

#define RATE_NS_PER_SEC		1000000000LL
/* Entries of a set of the address table: the idlest gives way. */
#define RATEMAP_WAYS		4

/* Monotonic nanoseconds, the clock of every rate limit. */
int64_t
rate_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * RATE_NS_PER_SEC + ts.tv_nsec);
}

/* per_second units a second, burst at once; per_second 0: no limit. */
void
rate_init(struct rate *r, double per_second, double burst)
{
	r->r_interval = per_second > 0 ? (int64_t)(RATE_NS_PER_SEC /
	    per_second) : 0;
	if (per_second > 0 && r->r_interval == 0)
		r->r_interval = 1;
	r->r_tolerance = (int64_t)(burst * (double)r->r_interval);
}

/*
 * Take cost units at now from the bucket whose arrival time is *tat (0
 * for a new client). They are always taken: return 0 if they conform,
 * else the nanoseconds until the bucket is back within its burst.
 */
int64_t
rate_take(const struct rate *r, int64_t *tat, int64_t now, uint64_t cost)
{
	int64_t	 base, over;

	if (r->r_interval == 0)
		return (0);
	base = *tat > now ? *tat : now;
	/* A cost this large is refused anyway; keep the sum in range. */
	if (cost > (uint64_t)(INT64_MAX / 4 / r->r_interval))
		cost = (uint64_t)(INT64_MAX / 4 / r->r_interval);
	*tat = base + (int64_t)cost * r->r_interval;
	over = *tat - now - r->r_tolerance;
	return (over > 0 ? over : 0);
}

/*
 * Take cost units only if they conform: a refused connection costs
 * nothing, so a client that waits as long as it is told gets in. Return
 * as rate_take().
 */
int64_t
rate_try(const struct rate *r, int64_t *tat, int64_t now, uint64_t cost)
{
	int64_t	 before = *tat, wait;

	if ((wait = rate_take(r, tat, now, cost)) > 0)
		*tat = before;
	return (wait);
}

/* A table of nsets sets of RATEMAP_WAYS addresses. */
void
ratemap_init(struct ratemap *m, size_t nsets)
{
	m->rm_nsets = nsets;
	m->rm_ents = xcalloc(nsets * RATEMAP_WAYS, sizeof *m->rm_ents);
}

void
ratemap_free(struct ratemap *m)
{
	free(m->rm_ents);
	m->rm_ents = NULL;
	m->rm_nsets = 0;
}

/*
 * Take one unit for address addr at now. An address not in the table
 * takes the place of the idlest of its set (the earliest arrival time):
 * one whose bucket is empty loses nothing, and the table stays bounded
 * however many addresses come. Return as rate_try().
 */
int64_t
ratemap_take(struct ratemap *m, const struct rate *r, const char *addr,
    int64_t now)
{
	struct ratemap_ent	*set, *e, *idlest;
	size_t			 len = strlen(addr), i;

	if (r->r_interval == 0 || m->rm_nsets == 0)
		return (0);
	if (len >= sizeof set->re_addr)
		len = sizeof set->re_addr - 1;
	set = &m->rm_ents[strmap_hash(addr, len) % m->rm_nsets * RATEMAP_WAYS];
	idlest = set;
	for (i = 0; i < RATEMAP_WAYS; i++) {
		e = &set[i];
		if (e->re_tat != 0 && strncmp(e->re_addr, addr, len) == 0 &&
		    e->re_addr[len] == '\0')
			return (rate_try(r, &e->re_tat, now, 1));
		if (e->re_tat < idlest->re_tat)
			idlest = e;
	}
	memcpy(idlest->re_addr, addr, len);
	idlest->re_addr[len] = '\0';
	idlest->re_tat = 0;
	return (rate_try(r, &idlest->re_tat, now, 1));
}
