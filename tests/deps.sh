#!/bin/sh
# Install the Debian 12 packages wsgated needs to build, run and be tested.
# Run as root. Packages already present are left alone.
set -e
pkgs="build-essential autoconf automake pkg-config
      libevent-dev libwebsockets-dev libwebsockets-evlib-ev libev-dev
      libjansson-dev libconfig-dev libsystemd-dev systemd systemd-container
      libssl-dev openssl
      libhiredis-dev redis-server
      check python3 python3-websockets mandoc
      clang libclang-rt-14-dev nodejs chromium fonts-dejavu-core"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
	    missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $missing
fi

# promtool checks the /metrics page. Debian ships it only inside the
# prometheus package, whose installation would also start a Prometheus
# server: take the one program from the package instead.
if ! command -v promtool >/dev/null 2>&1; then
	echo "installing: promtool (from the prometheus package)"
	tmp=$(mktemp -d)
	(cd "$tmp" && apt-get download -q prometheus >/dev/null 2>&1 ||
	    { apt-get update -q && apt-get download -q prometheus; })
	dpkg-deb --fsys-tarfile "$tmp"/prometheus_*.deb |
	    tar -x -C "$tmp" ./usr/bin/promtool
	install -m 755 "$tmp/usr/bin/promtool" /usr/local/bin/promtool
	rm -rf "$tmp"
fi
