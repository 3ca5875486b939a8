# libFuzzer targets for the parsers (see tests/fuzz/README.md).
#
# Include from the top-level Makefile.am:
#	include $(top_srcdir)/tests/fuzz/fuzz.mk
# then: make fuzz-build | fuzz | fuzz-short | fuzz-regress | fuzz-clean.
# They need clang and libFuzzer (Debian: clang, libclang-rt-14-dev); the
# targets are built apart from the rest, with their own flags, and are not
# part of all, check or dist.
#
# Overridable: FUZZ_CC, FUZZ_SECONDS (per target), FUZZ_SANITIZE,
# FUZZ_OPTIONS (more libFuzzer flags, e.g. -jobs=4 -workers=4).

FUZZ_CC = clang
FUZZ_SECONDS = 60
FUZZ_OPTIONS =
FUZZ_SANITIZE = -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined
FUZZ_COMPILE = -g -O1 -fno-omit-frame-pointer $(FUZZ_SANITIZE) \
	-I$(top_builddir) -I$(top_srcdir)/src -D_GNU_SOURCE \
	-DSYSCONFDIR='"$(sysconfdir)"' \
	$(LWS_CFLAGS) $(LIBEVENT_CFLAGS) $(JANSSON_CFLAGS) $(LIBCONFIG_CFLAGS) \
	$(LIBCRYPTO_CFLAGS)
# log.c only includes the lws and libevent headers: no need to link them.
FUZZ_LINK = $(JANSSON_LIBS) $(LIBCONFIG_LIBS) $(LIBCRYPTO_LIBS)

FUZZ_SRCDIR = $(top_srcdir)/tests/fuzz
FUZZ_OUTDIR = $(top_builddir)/tests/fuzz
FUZZ_TARGETS = fuzz_http fuzz_ctx fuzz_frame fuzz_cmd fuzz_cfg fuzz_jwt \
	fuzz_cluster
FUZZ_BINS = $(FUZZ_OUTDIR)/fuzz_http $(FUZZ_OUTDIR)/fuzz_ctx \
	$(FUZZ_OUTDIR)/fuzz_frame $(FUZZ_OUTDIR)/fuzz_cmd \
	$(FUZZ_OUTDIR)/fuzz_cfg $(FUZZ_OUTDIR)/fuzz_jwt \
	$(FUZZ_OUTDIR)/fuzz_cluster
# target:max_len:dictionary, for the fuzz rule.
FUZZ_RUNS = fuzz_http:8192:http fuzz_ctx:8192:http fuzz_frame:12288:frame \
	fuzz_cmd:12288:cmd fuzz_cfg:4096:cfg fuzz_jwt:9000:jwt \
	fuzz_cluster:8192:cluster
FUZZ_ENV = LSAN_OPTIONS="suppressions=$(FUZZ_SRCDIR)/lsan.supp:$${LSAN_OPTIONS-}" \
	UBSAN_OPTIONS="print_stacktrace=1:$${UBSAN_OPTIONS-}"

FUZZ_SRC_BASE = $(top_srcdir)/src/xmalloc.c $(top_srcdir)/src/log.c \
	$(top_srcdir)/src/b64.c
# cfg.c and what it calls: frame_max_event() for its warnings, rate_init().
FUZZ_SRC_CFGLIB = $(top_srcdir)/src/cfg.c $(top_srcdir)/src/jwt.c \
	$(top_srcdir)/src/frame.c $(top_srcdir)/src/buf.c \
	$(top_srcdir)/src/rate.c $(top_srcdir)/src/strmap.c \
	$(top_srcdir)/src/utf8.c $(top_srcdir)/src/jstr.c
FUZZ_SRC_HTTP = $(FUZZ_SRCDIR)/fuzz_http.c $(top_srcdir)/src/http.c \
	$(FUZZ_SRC_BASE)
FUZZ_SRC_CTX = $(FUZZ_SRCDIR)/fuzz_ctx.c $(top_srcdir)/src/ctx.c \
	$(top_srcdir)/src/http.c $(FUZZ_SRC_CFGLIB) $(FUZZ_SRC_BASE)
FUZZ_SRC_FRAME = $(FUZZ_SRCDIR)/fuzz_frame.c $(top_srcdir)/src/frame.c \
	$(top_srcdir)/src/buf.c \
	$(top_srcdir)/src/utf8.c $(top_srcdir)/src/jstr.c $(FUZZ_SRC_BASE)
FUZZ_SRC_CMD = $(FUZZ_SRCDIR)/fuzz_cmd.c $(top_srcdir)/src/cmd.c \
	$(top_srcdir)/src/jstr.c $(top_srcdir)/src/utf8.c $(FUZZ_SRC_BASE)
FUZZ_SRC_CFG = $(FUZZ_SRCDIR)/fuzz_cfg.c $(top_srcdir)/src/http.c \
	$(FUZZ_SRC_CFGLIB) $(FUZZ_SRC_BASE)
FUZZ_SRC_JWT = $(FUZZ_SRCDIR)/fuzz_jwt.c $(top_srcdir)/src/jwt.c \
	$(top_srcdir)/src/http.c $(FUZZ_SRC_BASE)
FUZZ_SRC_CLUSTER = $(FUZZ_SRCDIR)/fuzz_cluster.c $(top_srcdir)/src/cmsg.c \
	$(top_srcdir)/src/frame.c $(top_srcdir)/src/buf.c \
	$(top_srcdir)/src/utf8.c $(top_srcdir)/src/jstr.c $(FUZZ_SRC_BASE)
FUZZ_DEPS = $(top_srcdir)/src/wsgated.h $(top_builddir)/config.h \
	$(FUZZ_SRCDIR)/fuzz.mk

$(FUZZ_OUTDIR)/fuzz_http: $(FUZZ_SRC_HTTP) $(FUZZ_DEPS)
	@$(MKDIR_P) $(FUZZ_OUTDIR)
	$(FUZZ_CC) $(FUZZ_COMPILE) -o $@ $(FUZZ_SRC_HTTP) $(FUZZ_LINK)

$(FUZZ_OUTDIR)/fuzz_ctx: $(FUZZ_SRC_CTX) $(FUZZ_DEPS)
	@$(MKDIR_P) $(FUZZ_OUTDIR)
	$(FUZZ_CC) $(FUZZ_COMPILE) -o $@ $(FUZZ_SRC_CTX) $(FUZZ_LINK)

$(FUZZ_OUTDIR)/fuzz_frame: $(FUZZ_SRC_FRAME) $(FUZZ_DEPS)
	@$(MKDIR_P) $(FUZZ_OUTDIR)
	$(FUZZ_CC) $(FUZZ_COMPILE) -o $@ $(FUZZ_SRC_FRAME) $(FUZZ_LINK)

$(FUZZ_OUTDIR)/fuzz_cmd: $(FUZZ_SRC_CMD) $(FUZZ_DEPS)
	@$(MKDIR_P) $(FUZZ_OUTDIR)
	$(FUZZ_CC) $(FUZZ_COMPILE) -o $@ $(FUZZ_SRC_CMD) $(FUZZ_LINK)

$(FUZZ_OUTDIR)/fuzz_cfg: $(FUZZ_SRC_CFG) $(FUZZ_DEPS)
	@$(MKDIR_P) $(FUZZ_OUTDIR)
	$(FUZZ_CC) $(FUZZ_COMPILE) -o $@ $(FUZZ_SRC_CFG) $(FUZZ_LINK)

$(FUZZ_OUTDIR)/fuzz_jwt: $(FUZZ_SRC_JWT) $(FUZZ_DEPS)
	@$(MKDIR_P) $(FUZZ_OUTDIR)
	$(FUZZ_CC) $(FUZZ_COMPILE) -o $@ $(FUZZ_SRC_JWT) $(FUZZ_LINK)

$(FUZZ_OUTDIR)/fuzz_cluster: $(FUZZ_SRC_CLUSTER) $(FUZZ_DEPS)
	@$(MKDIR_P) $(FUZZ_OUTDIR)
	$(FUZZ_CC) $(FUZZ_COMPILE) -o $@ $(FUZZ_SRC_CLUSTER) $(FUZZ_LINK)

fuzz-build: $(FUZZ_BINS)

# Fuzz each target for FUZZ_SECONDS on a copy of its seeds in the build
# tree (kept between runs, so the corpus grows); fail if any crashed.
fuzz: fuzz-build
	@fail=; \
	for spec in $(FUZZ_RUNS); do \
	  t=`echo $$spec | cut -d: -f1`; \
	  maxlen=`echo $$spec | cut -d: -f2`; \
	  dict=`echo $$spec | cut -d: -f3`; \
	  work=$(FUZZ_OUTDIR)/work/$$t; art=$(FUZZ_OUTDIR)/artifacts/$$t; \
	  log=$(FUZZ_OUTDIR)/$$t.log; \
	  $(MKDIR_P) $$work $$art || exit 1; \
	  cp -f $(FUZZ_SRCDIR)/corpus/$$t/* $$work/ || exit 1; \
	  chmod u+w $$work/*; \
	  echo "  FUZZ     $$t ($(FUZZ_SECONDS) s, log in $$log)"; \
	  if $(FUZZ_ENV) $(FUZZ_OUTDIR)/$$t -max_total_time=$(FUZZ_SECONDS) \
	      -max_len=$$maxlen -timeout=10 -print_final_stats=1 \
	      -dict=$(FUZZ_SRCDIR)/$$dict.dict -artifact_prefix=$$art/ \
	      $(FUZZ_OPTIONS) $$work >$$log 2>&1; then \
	    grep '	DONE ' $$log | tail -n 1; \
	  else \
	    tail -n 60 $$log; \
	    echo "$$t: FAILED: reproducer in $$art/"; \
	    fail="$$fail $$t"; \
	  fi; \
	done; \
	if test -n "$$fail"; then echo "fuzz: failed:$$fail"; exit 1; fi

# What CI runs.
fuzz-short:
	$(MAKE) $(AM_MAKEFLAGS) fuzz FUZZ_SECONDS=10

# Run every kept reproducer and every seed once, without fuzzing.
fuzz-regress: fuzz-build
	@fail=; \
	for t in $(FUZZ_TARGETS); do \
	  files=`find $(FUZZ_SRCDIR)/regress/$$t $(FUZZ_SRCDIR)/corpus/$$t \
	    -type f ! -name 'README*' | sort`; \
	  n=`echo "$$files" | wc -l`; \
	  log=$(FUZZ_OUTDIR)/$$t-regress.log; \
	  if $(FUZZ_ENV) $(FUZZ_OUTDIR)/$$t $$files >$$log 2>&1; then \
	    echo "  REGRESS  $$t: $$n inputs ok"; \
	  else \
	    tail -n 40 $$log; \
	    echo "  REGRESS  $$t: FAILED (log in $$log)"; \
	    fail="$$fail $$t"; \
	  fi; \
	done; \
	if test -n "$$fail"; then echo "fuzz-regress: failed:$$fail"; exit 1; fi

fuzz-clean:
	rm -f $(FUZZ_BINS)
	rm -rf $(FUZZ_OUTDIR)/work $(FUZZ_OUTDIR)/artifacts
	rm -f $(FUZZ_OUTDIR)/*.log

.PHONY: fuzz-build fuzz fuzz-short fuzz-regress fuzz-clean

# So that a release tarball can run them too (fuzz.mk itself is
# distributed by automake as an included file).
EXTRA_DIST += tests/fuzz/README.md tests/fuzz/lsan.supp \
	tests/fuzz/fuzz_http.c tests/fuzz/fuzz_ctx.c tests/fuzz/fuzz_frame.c \
	tests/fuzz/fuzz_cmd.c tests/fuzz/fuzz_cfg.c tests/fuzz/fuzz_jwt.c \
	tests/fuzz/fuzz_cluster.c \
	tests/fuzz/http.dict tests/fuzz/frame.dict tests/fuzz/cmd.dict \
	tests/fuzz/cfg.dict tests/fuzz/jwt.dict tests/fuzz/cluster.dict \
	tests/fuzz/corpus tests/fuzz/regress
