#!/bin/sh
# Install the Debian 12 packages wsgated needs to build, run and be tested.
# Run as root. Packages already present are left alone.
set -e
# prometheus is there for promtool, which checks the /metrics page; its
# service is not needed.
pkgs="build-essential autoconf automake pkg-config
      libevent-dev libwebsockets-dev libwebsockets-evlib-ev libev-dev
      libjansson-dev libconfig-dev libsystemd-dev systemd libssl-dev openssl
      check python3 python3-websockets mandoc
      clang libclang-rt-14-dev nodejs chromium fonts-dejavu-core prometheus"
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
