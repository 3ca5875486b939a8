/*
 * Connections per client address, for limits.max_connections_per_ip. The
 * front door counts a connection in when it accepts it; whichever thread
 * ends it (the front door, or the worker that served it) counts it out.
 * One lock guards the table: it is taken twice per connection.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "wsgated.h"

#define IPLIMIT_BUCKETS	4096

struct iplimit_entry {
	struct iplimit_entry	*e_next;
	size_t			 e_count;
	char			 e_addr[];
};

static pthread_mutex_t		 iplimit_lock = PTHREAD_MUTEX_INITIALIZER;
static struct iplimit_entry	*iplimit_table[IPLIMIT_BUCKETS];

static struct iplimit_entry **
iplimit_slot(const char *addr)
{
	struct iplimit_entry	**pp;

	pp = &iplimit_table[sessmap_hash(addr, strlen(addr)) %
	    IPLIMIT_BUCKETS];
	while (*pp != NULL && strcmp((*pp)->e_addr, addr) != 0)
		pp = &(*pp)->e_next;
	return (pp);
}

/* Count a connection from addr in, unless it already has max. */
int
iplimit_acquire(const char *addr, size_t max)
{
	struct iplimit_entry	**pp, *e;
	size_t			  len = strlen(addr);
	int			  ok = 1;

	pthread_mutex_lock(&iplimit_lock);
	pp = iplimit_slot(addr);
	if ((e = *pp) == NULL) {
		e = xcalloc(1, sizeof *e + len + 1);
		memcpy(e->e_addr, addr, len + 1);
		*pp = e;
	}
	if (e->e_count >= max)
		ok = 0;
	else
		e->e_count++;
	if (e->e_count == 0) {
		*pp = e->e_next;
		free(e);
	}
	pthread_mutex_unlock(&iplimit_lock);
	return (ok);
}

/* Count a connection from addr out. */
void
iplimit_release(const char *addr)
{
	struct iplimit_entry	**pp, *e;

	pthread_mutex_lock(&iplimit_lock);
	pp = iplimit_slot(addr);
	if ((e = *pp) != NULL && --e->e_count == 0) {
		*pp = e->e_next;
		free(e);
	}
	pthread_mutex_unlock(&iplimit_lock);
}
