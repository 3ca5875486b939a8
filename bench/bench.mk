# bench/bench.mk: rules for the benchmark programs, included by the top-level
# Makefile.am.  Plain make syntax; every variable is prefixed BENCH_ and every
# output goes under $(top_builddir)/bench/.  Nothing here is part of `all` or
# `check`: `make bench` builds what it needs.

# --- wsg-loadgen: the WebSocket load generator (bench/loadgen.c) ---
# One C11 file that needs only libc, libpthread and libm (its SHA-1 for
# Sec-WebSocket-Accept is built in).  -O2 on purpose, whatever CFLAGS says:
# the load generator must not be the bottleneck.
BENCH_LOADGEN = $(top_builddir)/bench/wsg-loadgen
BENCH_LOADGEN_SRC = $(top_srcdir)/bench/loadgen.c
BENCH_LOADGEN_CFLAGS = -std=c11 -O2 -Wall -Wextra -D_GNU_SOURCE
BENCH_LOADGEN_LIBS = -lpthread -lm

$(BENCH_LOADGEN): $(BENCH_LOADGEN_SRC)
	@$(MKDIR_P) $(top_builddir)/bench
	$(AM_V_CC)$(CC) $(BENCH_LOADGEN_CFLAGS) -o $@ $(BENCH_LOADGEN_SRC) \
	    $(BENCH_LOADGEN_LIBS)
# --- end of wsg-loadgen ---

# --- wsg-echo-backend and wsg-echo-server ---
# The backend speaks wsgated's protocol with jansson, as a backend in any
# language would use a JSON library; the echo server is the ceiling, a
# WebSocket echo with no backend hop.
BENCH_BACKEND = $(top_builddir)/bench/wsg-echo-backend
BENCH_SERVER = $(top_builddir)/bench/wsg-echo-server
BENCH_CFLAGS = -std=c11 -O2 -Wall -Wextra -D_GNU_SOURCE

$(BENCH_BACKEND): $(top_srcdir)/bench/echo_backend.c
	@$(MKDIR_P) $(top_builddir)/bench
	$(AM_V_CC)$(CC) $(BENCH_CFLAGS) $(JANSSON_CFLAGS) -o $@ \
	    $(top_srcdir)/bench/echo_backend.c $(JANSSON_LIBS)

$(BENCH_SERVER): $(top_srcdir)/bench/echo_server.c
	@$(MKDIR_P) $(top_builddir)/bench
	$(AM_V_CC)$(CC) $(BENCH_CFLAGS) -o $@ $(top_srcdir)/bench/echo_server.c


# make bench: every target under the same load, alternating, in one run
# (bench/run.py --help; options in BENCH_ARGS, e.g. BENCH_ARGS=--quick).
# It installs the Bun and Node.js peers with npm into bench/peers here.
# Then the cluster: two wsgated nodes and a redis-server, cross-node sends
# against local ones (bench/cluster.py --help; options in
# BENCH_CLUSTER_ARGS); skipped without redis-server. `make bench-cluster`
# runs that part alone.
bench: all $(BENCH_LOADGEN) $(BENCH_BACKEND) $(BENCH_SERVER)
	$(PYTHON_WS) $(top_srcdir)/bench/run.py \
	    --builddir $(abs_top_builddir)/bench \
	    --wsgated $(abs_top_builddir)/src/wsgated $(BENCH_ARGS)
	$(PYTHON_WS) $(top_srcdir)/bench/cluster.py \
	    --builddir $(abs_top_builddir)/bench \
	    --wsgated $(abs_top_builddir)/src/wsgated $(BENCH_CLUSTER_ARGS)

bench-cluster: all $(BENCH_LOADGEN) $(BENCH_BACKEND)
	$(PYTHON_WS) $(top_srcdir)/bench/cluster.py \
	    --builddir $(abs_top_builddir)/bench \
	    --wsgated $(abs_top_builddir)/src/wsgated $(BENCH_CLUSTER_ARGS)

bench-clean:
	rm -rf $(BENCH_LOADGEN) $(BENCH_BACKEND) $(BENCH_SERVER) \
	    $(top_builddir)/bench/peers $(top_builddir)/bench/logs \
	    $(top_builddir)/bench/results.json \
	    $(top_builddir)/bench/cluster-results.json
.PHONY: bench bench-cluster bench-clean
# --- end of wsg-echo-backend, wsg-echo-server and bench ---

EXTRA_DIST += bench/bench.mk bench/loadgen.c bench/echo_backend.c \
	bench/echo_server.c bench/run.py bench/cluster.py \
	bench/peers/bun-gateway.js \
	bench/peers/node-gateway.js bench/peers/package.json \
	bench/peers/package-lock.json
