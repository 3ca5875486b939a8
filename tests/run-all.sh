#!/bin/sh
# Install what is missing, build wsgated and run the whole test suite.
# Ends with one line: "N passed, M failed".
set -e
cd "$(dirname "$0")/.."
sh tests/deps.sh
[ -x configure ] || ./autogen.sh
[ -f Makefile ] || ./configure
make -j"$(nproc)"
log=$(mktemp)
set +e
make -j2 check 2>&1 | tee "$log"
status=$?
set -e
count() {
	sed -n "s/^# $1: *\([0-9]*\)$/\1/p" "$log" | awk '{ n += $1 } END { print n + 0 }'
}
pass=$(count PASS)
fail=$(( $(count FAIL) + $(count ERROR) + $(count XPASS) ))
if [ "$status" -ne 0 ] && [ "$fail" -eq 0 ]; then
	fail=1
fi
[ "$fail" -eq 0 ] || cat tests/*/*.log 2>/dev/null | grep -E "^(not ok|#)" | head -100
rm -f "$log"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
