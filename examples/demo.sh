#!/bin/sh
# Install what is missing, build wsgated, and run it with the shipped
# conf/wsgate.conf in front of the example echo backend. Run as root
# (the shipped config puts the backend socket in /run/wsgate). Ctrl-C stops
# both.
set -e
cd "$(dirname "$0")/.."
sh tests/deps.sh
[ -x configure ] || ./autogen.sh
mkdir -p _build
(cd _build && { [ -f Makefile ] || ../configure; } && make -j"$(nproc)")
wsgated=_build/src/wsgated
$wsgated -t -c conf/wsgate.conf

python=$(command -v /usr/bin/python3 || command -v python3)
"$python" examples/echo_backend.py --socket /run/wsgate/backend.sock &
backend=$!
trap 'kill $backend 2>/dev/null' EXIT INT TERM

cat <<'MSG'

wsgated is starting on ws://127.0.0.1:8080/ws with the echo backend.
Connect from another terminal, for example:

    /usr/bin/python3 -m websockets ws://127.0.0.1:8080/ws

Type a line: the backend echoes it; "/broadcast hi" goes to every client.
Each event the backend receives, with its context, is printed here.
Ctrl-C stops the gateway and the backend.

MSG
$wsgated -f -c conf/wsgate.conf
