#!/usr/bin/env python3
"""chat_backend.py - a chat room behind wsgated, in the standard library.

Every text message a browser sends is published to every socket in the
chat's topic, "lobby", as a JSON text message:

  {"type":"message", "from":USER, "text":TEXT}

USER is the userId in the sender's context: wsgated took it from the
"user" cookie at the upgrade (examples/chat/wsgate.conf), so a client
cannot claim to be someone else by what it sends. Sockets come and go
with the open and close events, announced to the others as

  {"type":"join", "user":USER}   and   {"type":"leave", "user":USER}

and each newcomer first gets {"type":"welcome", "user":USER,
"online":[USER, ...]}. The JSON the browser gets is this backend's own
choice; the gateway passes it on as it is.

The backend keeps no list of whom to send to: it subscribes each socket
to the topic when it opens, and a publish reaches every subscriber, on
every worker, framed once. The gateway drops a socket from its topics
when it closes.

The backend protocol (framing, events, commands) is described in
examples/echo_backend.py and wsgate-protocol(7). wsgated opens one
connection per worker thread; this backend writes each command on the
connection that carried the target socket's events.

Usage: chat_backend.py [--socket PATH] [--framing length-prefixed|ndjson]
"""

import argparse
import asyncio
import json
import os
import signal
import stat
import struct
import sys

DEFAULT_SOCKET = "/run/wsgate/chat.sock"
LOBBY = "lobby"
MAX_FRAME = 16 * 1024 * 1024


def log(*args):
    print(*args, flush=True)


class Chat:
    def __init__(self, framing):
        self.framing = framing
        self.links = set()          # StreamWriters, one per gateway connection
        self.members = {}           # socketId -> (StreamWriter, userId)

    async def read_frame(self, reader):
        """The next frame's payload, or None at end of stream."""
        try:
            if self.framing == "ndjson":
                return (await reader.readuntil(b"\n"))[:-1]
            (n,) = struct.unpack(">I", await reader.readexactly(4))
            if n > MAX_FRAME:
                raise ValueError("frame of %d bytes is too long" % n)
            return await reader.readexactly(n)
        except asyncio.IncompleteReadError:
            return None

    def command(self, writer, cmd):
        """Write one command to the gateway."""
        if writer.is_closing():
            return
        payload = json.dumps(cmd, separators=(",", ":")).encode()
        if self.framing == "ndjson":
            writer.write(payload + b"\n")
        else:
            writer.write(struct.pack(">I", len(payload)) + payload)

    def send(self, writer, sid, obj):
        """Send obj as a JSON text message to one socket."""
        self.command(writer, {"type": "send", "socketId": sid,
                              "data": json.dumps(obj, separators=(",", ":"))})

    def publish(self, writer, obj):
        """Send obj to every socket in the lobby, on any connection."""
        self.command(writer, {"type": "publish", "topic": LOBBY,
                              "data": json.dumps(obj, separators=(",", ":"))})

    def join(self, writer, sid, user):
        """Announce a newcomer to the others, then let it in."""
        self.publish(writer, {"type": "join", "user": user})
        self.command(writer, {"type": "subscribe", "socketId": sid, "topic": LOBBY})
        self.members[sid] = (writer, user)

    def handle(self, writer, ev):
        kind, sid = ev.get("type"), ev.get("socketId")
        ctx = ev.get("context")
        user = (ctx.get("userId") if isinstance(ctx, dict) else None) or "anonymous"
        if kind == "hello":
            # The opens that follow list every socket of this connection.
            for known, (w, _) in list(self.members.items()):
                if w is writer:
                    del self.members[known]
            log("hello from worker %s" % ev.get("worker"))
        elif kind == "open" and isinstance(sid, str):
            log("open %s user=%s" % (sid, user))
            self.join(writer, sid, user)
            online = sorted({u for _, u in self.members.values()})
            self.send(writer, sid, {"type": "welcome", "user": user, "online": online})
        elif kind == "close" and isinstance(sid, str):
            log("close %s user=%s code=%s" % (sid, user, ev.get("code")))
            if self.members.pop(sid, None) is not None:
                self.publish(writer, {"type": "leave", "user": user})
        elif kind == "message" and isinstance(sid, str):
            if ev.get("binary") or not isinstance(ev.get("data"), str):
                log("ignoring a binary message from %s" % user)
                return
            log("message from %s: %r" % (user, ev["data"][:80]))
            if sid not in self.members:
                # Its open came before this backend started: learn it now.
                self.join(writer, sid, user)
            self.publish(writer, {"type": "message", "from": user, "text": ev["data"]})

    async def serve_link(self, reader, writer):
        log("gateway connected")
        self.links.add(writer)
        try:
            while True:
                payload = await self.read_frame(reader)
                if payload is None:
                    break
                try:
                    ev = json.loads(payload.decode("utf-8"))
                except ValueError as e:
                    log("skipping bad frame: %s" % e)
                    continue
                if isinstance(ev, dict):
                    self.handle(writer, ev)
                await writer.drain()
        except (ConnectionError, ValueError, asyncio.LimitOverrunError) as e:
            log("link error: %s" % e)
        finally:
            self.links.discard(writer)
            for sid, (w, _) in list(self.members.items()):
                if w is writer:
                    del self.members[sid]
            writer.close()
            log("gateway disconnected")


async def serve(path, framing):
    chat = Chat(framing)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    try:
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            sys.exit("%s exists and is not a socket; refusing to remove it" % path)
        os.unlink(path)             # left by an earlier run
    except FileNotFoundError:
        pass
    server = await asyncio.start_unix_server(chat.serve_link, path=path, limit=MAX_FRAME)
    log("listening on %s (%s)" % (path, framing))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with server:
            await stop.wait()
            for w in list(chat.links):
                w.close()
    finally:
        os.unlink(path)


def main():
    ap = argparse.ArgumentParser(description="Chat backend for wsgated.")
    ap.add_argument("--socket", default=DEFAULT_SOCKET,
                    help="Unix socket to listen on (default %(default)s)")
    ap.add_argument("--framing", choices=("length-prefixed", "ndjson"),
                    default="length-prefixed", help="frame format (default %(default)s)")
    args = ap.parse_args()
    try:
        asyncio.run(serve(args.socket, args.framing))
    except OSError as e:
        sys.exit("chat_backend.py: %s" % e)


if __name__ == "__main__":
    main()
