#!/bin/sh
# Build wsgated as a Debian package would (prefix /usr, configuration in
# /etc), install it with DESTDIR into a scratch tree and check that every
# file lands where the package would ship it, with the paths inside the
# unit pointing at the installed binary. TAP on stdout.
# Usage: tests/install-layout.sh BUILDDIR (created, configured, built).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
build=$1
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT

mkdir -p "$build"
if ! (cd "$build" && { [ -f Makefile ] ||
    "$top/configure" --prefix=/usr --sysconfdir=/etc; } &&
    make -j"$(nproc)" && make install DESTDIR="$dest") >"$build/install.log" 2>&1
then
	echo "1..1"
	echo "not ok 1 - make install DESTDIR (log in $build/install.log)"
	tail -n 30 "$build/install.log" | sed 's/^/# /'
	exit 1
fi

unitdir=$(sed -n 's/^systemdsystemunitdir = //p' "$build/Makefile")
set -- \
	/usr/sbin/wsgated \
	/usr/sbin/wsgatectl \
	/etc/wsgate/wsgate.conf \
	/etc/wsgate/wsgate.conf.dist \
	"$unitdir/wsgated.service" \
	"$unitdir/wsgated.socket" \
	/usr/lib/sysusers.d/wsgated.conf \
	/usr/lib/tmpfiles.d/wsgated.conf \
	/usr/share/doc/wsgated/examples/wsgated-echo-backend.service \
	/usr/share/man/man8/wsgated.8 \
	/usr/share/man/man8/wsgatectl.8 \
	/usr/share/man/man5/wsgate.conf.5 \
	/usr/share/man/man7/wsgate-protocol.7 \
	/usr/share/doc/wsgated/README.md \
	/usr/share/doc/wsgated/LICENSE \
	/usr/share/doc/wsgated/ARCHITECTURE.md \
	/usr/share/doc/wsgated/examples/echo_backend.py \
	/usr/share/doc/wsgated/examples/echo_backend.c \
	/usr/share/doc/wsgated/examples/echo_backend.js \
	/usr/share/doc/wsgated/examples/chat/chat_backend.py
n=0
fail=0
echo "1..$(($# + 4))"
for f in "$@"; do
	n=$((n + 1))
	if [ -f "$dest$f" ]; then
		echo "ok $n - installed $f"
	else
		echo "not ok $n - installed $f"
		fail=1
	fi
done

n=$((n + 1))
if [ -x "$dest/usr/sbin/wsgated" ] &&
    "$dest/usr/sbin/wsgated" -t -c "$dest/etc/wsgate/wsgate.conf" >/dev/null
then
	echo "ok $n - the installed daemon accepts the installed configuration"
else
	echo "not ok $n - the installed daemon accepts the installed configuration"
	fail=1
fi

n=$((n + 1))
unit="$dest$unitdir/wsgated.service"
if grep -q '^ExecStart=/usr/sbin/wsgated .*-c /etc/wsgate/wsgate.conf' "$unit"
then
	echo "ok $n - the unit runs /usr/sbin/wsgated with /etc/wsgate/wsgate.conf"
else
	echo "not ok $n - the unit runs /usr/sbin/wsgated with /etc/wsgate/wsgate.conf"
	fail=1
fi

# Installing again keeps an edited configuration, and brings the shipped
# one beside it.
n=$((n + 1))
conf="$dest/etc/wsgate/wsgate.conf"
echo "# edited by the operator" >>"$conf"
if (cd "$build" && make install DESTDIR="$dest") >>"$build/install.log" 2>&1 &&
    tail -n 1 "$conf" | grep -q '^# edited by the operator$' &&
    cmp -s "$dest/etc/wsgate/wsgate.conf.dist" "$top/conf/wsgate.conf"
then
	echo "ok $n - make install keeps an edited wsgate.conf, ships wsgate.conf.dist"
else
	echo "not ok $n - make install keeps an edited wsgate.conf, ships wsgate.conf.dist"
	fail=1
fi

# Nothing outside the places a package may use.
n=$((n + 1))
stray=$(cd "$dest" && find . -type f | sed 's/^\.//' |
    grep -v -e '^/usr/' -e '^/etc/wsgate/' -e "^$unitdir/" || true)
if [ -z "$stray" ]; then
	echo "ok $n - nothing installed outside /usr, /etc/wsgate and $unitdir"
else
	echo "not ok $n - files installed elsewhere:"
	echo "$stray" | sed 's/^/# /'
	fail=1
fi
exit $fail
