/*
 * The cluster link: not configurable yet, so a node is a cluster of one.
 */
#include "config.h"

#include "wsgated.h"

int
cluster_enabled(void)
{
	return (0);
}

void
cluster_forward(const struct wscmd *c)
{
	(void)c;
}

void
cluster_socket_open(const char *id, const char *ctx)
{
	(void)id;
	(void)ctx;
}

void
cluster_socket_close(const char *id)
{
	(void)id;
}
