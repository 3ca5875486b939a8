#!/bin/sh
# Install what is missing, build wsgated in _build/ and run the whole test
# suite there. With WSG_SANITIZERS=1, build it again in _build-san/ with
# AddressSanitizer and UndefinedBehaviorSanitizer and run the suite again.
# With WSG_FUZZ=1, also replay the fuzzers' kept inputs and fuzz each
# parser for 10 s (each counts as a test). With WSG_DIST=1, also check the
# tree "make install" lays out, run it under a real systemd in a container
# (tests/systemd/real-systemd.py) and run "make distcheck".
# Ends with one line: "N passed, M failed", summed over every run.
set -e
cd "$(dirname "$0")/.."
top=$(pwd)
sh tests/deps.sh
[ -x configure ] || ./autogen.sh
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0

suite() {
	dir=$1
	shift
	mkdir -p "$dir"
	(
		cd "$dir"
		[ -f Makefile ] || "$top/configure" "$@"
		make -j"$(nproc)"
		make -j2 check
	) >"$log.run" 2>&1 || status=1
	cat "$log.run"
	cat "$log.run" >>"$log"
	rm -f "$log.run"
	[ $status -eq 0 ] || sed -n '/^\(not ok\|# \)/p' "$dir"/tests/*/*.log | head -100
}

suite _build
if [ "${WSG_SANITIZERS:-0}" = 1 ]; then
	suite _build-san --enable-sanitizers
fi

fuzz_pass=0
fuzz_fail=0
if [ "${WSG_FUZZ:-0}" = 1 ]; then
	make -C _build fuzz-regress fuzz-short >"$log.fuzz" 2>&1 || status=1
	cat "$log.fuzz"
	fuzz_pass=$(grep -c -E 'REGRESS .* inputs ok|	DONE ' "$log.fuzz" || true)
	fuzz_fail=$(grep -c -E 'FAILED' "$log.fuzz" || true)
	rm -f "$log.fuzz"
fi

# WSG_DIST=1: install as a package would and check the tree, run that
# tree under a real systemd in a container, then make distcheck (a
# tarball that builds and passes the suite on its own).
dist_pass=0
dist_fail=0
if [ "${WSG_DIST:-0}" = 1 ]; then
	sh tests/install-layout.sh "$top/_build-dist" >"$log.dist" 2>&1 || status=1
	# The same tree under a real systemd, in a container.
	/usr/bin/python3 tests/systemd/real-systemd.py "$top/_build-dist" \
	    >"$log.systemd" 2>&1 || status=1
	cat "$log.systemd"
	cat "$log.systemd" >>"$log.dist"
	rm -f "$log.systemd"
	if make -C _build distcheck >"$log.distcheck" 2>&1; then
		echo "ok - make distcheck" >>"$log.dist"
	else
		tail -n 60 "$log.distcheck"
		echo "not ok - make distcheck" >>"$log.dist"
		status=1
	fi
	rm -f "$log.distcheck"
	cat "$log.dist"
	dist_pass=$(grep -c '^ok' "$log.dist" || true)
	dist_fail=$(grep -c '^not ok' "$log.dist" || true)
	rm -f "$log.dist"
fi

count() {
	sed -n "s/^# $1: *\([0-9]*\)$/\1/p" "$log" | awk '{ n += $1 } END { print n + 0 }'
}
pass=$(( $(count PASS) + fuzz_pass + dist_pass ))
fail=$(( $(count FAIL) + $(count ERROR) + $(count XPASS) + fuzz_fail + dist_fail ))
if [ $status -ne 0 ] && [ "$fail" -eq 0 ]; then
	fail=1
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
