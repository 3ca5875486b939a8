#!/bin/sh
# Install what is missing, build wsgated, and run it in front of an example
# backend. Run as root (the configs put the backend socket in /run/wsgate).
# Ctrl-C stops everything it started.
#
#   sh examples/demo.sh         conf/wsgate.conf and the echo backend
#   sh examples/demo.sh chat    examples/chat/: a chat page to open in a browser
set -e
demo=${1:-echo}
case $demo in
echo|chat) ;;
*)	echo "usage: sh examples/demo.sh [echo|chat]" >&2
	exit 2 ;;
esac
cd "$(dirname "$0")/.."
sh tests/deps.sh
[ -x configure ] || ./autogen.sh
mkdir -p _build
(cd _build && { [ -f Makefile ] || ../configure; } && make -j"$(nproc)")
wsgated=_build/src/wsgated
python=$(command -v /usr/bin/python3 || command -v python3)

if [ "$demo" = chat ]; then
	conf=examples/chat/wsgate.conf
	$wsgated -t -c $conf
	"$python" examples/chat/chat_backend.py --socket /run/wsgate/chat.sock &
	backend=$!
	# The page: index.html and chat.js, from a static server on loopback.
	"$python" -m http.server --bind 127.0.0.1 --directory examples/chat 8000 &
	web=$!
	trap 'kill $backend $web 2>/dev/null' EXIT INT TERM
	cat <<'MSG'

wsgated is starting on ws://127.0.0.1:8080/ws with the chat backend.
Open the chat page in two browser windows that do not share cookies
(a normal and a private one, or two browsers):

    http://127.0.0.1:8000/

Pick a name in each: the page keeps it in the "user" cookie, which the
browser sends to wsgated and wsgated puts in the context as userId; the
backend names each message's sender from it. Ctrl-C stops the gateway,
the backend and the page server.

MSG
	$wsgated -f -c $conf
	exit
fi

$wsgated -t -c conf/wsgate.conf
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
