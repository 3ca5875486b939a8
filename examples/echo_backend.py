#!/usr/bin/env python3
"""echo_backend.py - a minimal wsgated backend, written to be copied.

wsgated accepts WebSocket clients and forwards their events to a backend
over a Unix stream socket on which the backend listens.  Each gateway
worker thread opens its own connection, so expect several; all events of
one WebSocket arrive on one connection, in order.  A command for any
WebSocket may be written on any connection.

Every frame is one JSON object, framed either

  length-prefixed  4-byte unsigned big-endian length N, then N bytes of JSON
  ndjson           one JSON object per line, terminated by "\\n"

(the backend.framing setting in wsgate.conf; both ends must agree).

Gateway -> backend:
  {"type":"hello",   "instance":I, "epoch":E, "worker":k, "workers":N, "sockets":n,
                     "maxEventBytes":B}
                     (first on every connection, then an open per live socket)
  {"type":"open",    "socketId":S, "context":{...}}
  {"type":"message", "socketId":S, "context":{...}, "data":"text"}
  {"type":"message", "socketId":S, "context":{...}, "data":"BASE64", "binary":true}
  {"type":"close",   "socketId":S, "code":1000, "reason":"bye", "context":{...}}

Backend -> gateway:
  {"type":"send",  "socketId":S, "data":"text"}         (add "binary":true for base64)
  {"type":"close", "socketId":S, "code":4000, "reason":"kicked"}

The context holds socketId, createdAt (ms since the epoch) and the fields
configured in wsgate.conf (by default token and userId).  See
wsgate-protocol(7) for the details.

This backend echoes every message to the socket that sent it (binary stays
binary) and, as a demo, sends the rest of a text message that starts with
"/broadcast " to every socket it has seen open and not yet closed (sockets
opened before this backend started are not known to it).

With --auth it also answers the auth requests of wsgated's auth hook
(auth.socket in wsgate.conf, pointed at this backend's socket):

  {"type":"auth", "requestId":R, "context":{...}, "headers":{...}}
  -> {"type":"auth", "requestId":R, "allow":true, "context":{"userId":NAME}}
  -> {"type":"auth", "requestId":R, "allow":false, "status":401, "reason":...}

A token "user:NAME", from the context's token (the X-Token cookie by
default) or an "Authorization: Bearer user:NAME" header, is allowed with
userId NAME; anything else is denied.

Usage: echo_backend.py [--socket PATH] [--framing length-prefixed|ndjson] [--auth]
"""

import argparse
import asyncio
import json
import os
import signal
import socket
import stat
import struct
import sys

DEFAULT_SOCKET = "/run/wsgate/backend.sock"
MAX_FRAME = 16 * 1024 * 1024        # refuse absurd frames instead of buffering them
BROADCAST = "/broadcast "


def log(*args):
    print(*args, flush=True)


class Framing:
    """Read and write frames of one kind on asyncio streams."""

    def __init__(self, kind):
        self.kind = kind

    async def read(self, reader):
        """Return the next frame's payload (bytes), or None at end of stream.

        StreamReader.readexactly/readuntil wait for the whole frame, so a
        frame split over several reads is handled for us.
        """
        try:
            if self.kind == "ndjson":
                line = await reader.readuntil(b"\n")
                return line[:-1]
            (n,) = struct.unpack(">I", await reader.readexactly(4))
            if n > MAX_FRAME:
                raise ValueError("frame of %d bytes is too long" % n)
            return await reader.readexactly(n)
        except asyncio.IncompleteReadError:
            return None                     # the gateway went away

    def encode(self, obj):
        # json.dumps escapes control characters, so a line never contains "\n".
        payload = json.dumps(obj, separators=(",", ":")).encode()
        if self.kind == "ndjson":
            return payload + b"\n"
        return struct.pack(">I", len(payload)) + payload


def auth_answer(req):
    """The answer to an auth request: allow "user:NAME" tokens only."""
    ctx = req.get("context") if isinstance(req.get("context"), dict) else {}
    headers = req.get("headers") if isinstance(req.get("headers"), dict) else {}
    token = ctx.get("token")
    authz = headers.get("authorization")
    if not (isinstance(token, str) and token) and isinstance(authz, str) \
            and authz[:7].lower() == "bearer ":
        token = authz[7:].strip()
    ans = {"type": "auth", "requestId": req.get("requestId")}
    if isinstance(token, str) and token.startswith("user:") and len(token) > 5:
        ans.update(allow=True, context={"userId": token[5:]})
    else:
        ans.update(allow=False, status=401, reason="no user: token")
    return ans


class EchoBackend:
    def __init__(self, framing, auth=False):
        self.framing = framing
        self.auth = auth
        self.links = set()          # StreamWriters, one per gateway connection
        self.tasks = set()          # the serve_link task of each connection
        self.sockets = {}           # socketId -> StreamWriter that carried its events

    def write(self, writer, obj):
        if not writer.is_closing():
            writer.write(self.framing.encode(obj))

    def any_link(self, preferred):
        """Where to write a command: the socket's own link, else any live one."""
        if preferred is not None and not preferred.is_closing():
            return preferred
        for w in self.links:
            if not w.is_closing():
                return w
        return None

    async def serve_link(self, reader, writer):
        """Handle one gateway connection until it closes."""
        self.links.add(writer)
        self.tasks.add(asyncio.current_task())
        log("gateway connected (%d link(s))" % len(self.links))
        try:
            while True:
                try:
                    payload = await self.framing.read(reader)
                except (ValueError, asyncio.LimitOverrunError) as e:
                    # The stream cannot be resynchronised: drop this link;
                    # the gateway reconnects.
                    log("link error: %s; closing the link" % e)
                    break
                if payload is None:
                    break
                self.handle_frame(writer, payload)
                await writer.drain()
        except ConnectionError as e:
            log("link error: %s" % e)
        finally:
            self.links.discard(writer)
            self.tasks.discard(asyncio.current_task())
            writer.close()
            log("gateway disconnected (%d link(s))" % len(self.links))

    async def shutdown(self):
        """Close every link and let its handler finish (bounded)."""
        tasks = list(self.tasks)
        for w in list(self.links):
            w.close()
        if tasks:
            await asyncio.wait(tasks, timeout=2)

    def handle_frame(self, writer, payload):
        try:
            ev = json.loads(payload.decode("utf-8"))
            if not isinstance(ev, dict):
                raise ValueError("not a JSON object")
            kind, sid = ev.get("type"), ev.get("socketId")
            if kind == "hello":
                # A (re)connection: the opens that follow list every socket
                # this link serves, so forget what we knew of it.
                for known, w in list(self.sockets.items()):
                    if w is writer:
                        del self.sockets[known]
                log("hello from %s worker %s of %s, %s socket(s)" % (
                    ev.get("instance"), ev.get("worker"), ev.get("workers"),
                    ev.get("sockets")))
                if ev.get("maxEventBytes", 0) > MAX_FRAME:
                    log("error: the gateway may send events of up to %d bytes, "
                        "more than this backend's limit of %d: raise MAX_FRAME "
                        "or lower limits.max_message_bytes" % (ev["maxEventBytes"], MAX_FRAME))
                return
            if kind == "auth" and self.auth:
                ans = auth_answer(ev)
                # The token is a secret: log the decision only.
                log("auth %s: %s" % (ev.get("requestId"),
                                     "allow" if ans["allow"] else "deny"))
                self.write(writer, ans)
                return
            if not isinstance(sid, str):
                raise ValueError("no socketId")
        except ValueError as e:             # includes UnicodeDecodeError
            log("skipping bad frame (%s): %r" % (e, payload[:80]))
            return

        if kind == "open":
            self.sockets[sid] = writer
            log("open %s context=%s" % (sid, json.dumps(ev.get("context"))))
        elif kind == "close":
            self.sockets.pop(sid, None)
            log("close %s code=%s reason=%r" % (sid, ev.get("code"), ev.get("reason")))
        elif kind == "message":
            data = ev.get("data")
            if not isinstance(data, str):
                log("skipping message without data for %s" % sid)
                return
            binary = bool(ev.get("binary"))
            reply = {"type": "send", "socketId": sid, "data": data}
            if binary:
                reply["binary"] = True      # data stays base64 as we got it
            self.write(writer, reply)
            if not binary and data.startswith(BROADCAST):
                self.broadcast(data[len(BROADCAST):])
        else:
            log("skipping frame of unknown type %r" % (kind,))

    def broadcast(self, text):
        for sid, w in list(self.sockets.items()):
            link = self.any_link(w)
            if link is not None:
                self.write(link, {"type": "send", "socketId": sid, "data": text})


def prepare_path(path):
    """Create the parent directory and remove a stale socket file."""
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        sys.exit("%s exists and is not a socket; refusing to remove it" % path)
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        os.unlink(path)             # nobody listens: stale
    else:
        sys.exit("%s: another backend is listening there" % path)
    finally:
        probe.close()


async def serve(path, framing, auth=False):
    backend = EchoBackend(Framing(framing), auth)
    prepare_path(path)
    # The ndjson limit bounds one line; a longer one ends the link.
    server = await asyncio.start_unix_server(backend.serve_link, path=path, limit=MAX_FRAME)
    log("listening on %s (%s)" % (path, framing))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with server:
            await stop.wait()
            await backend.shutdown()
    finally:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def main():
    ap = argparse.ArgumentParser(description="Echo backend for wsgated.")
    ap.add_argument("--socket", default=DEFAULT_SOCKET,
                    help="Unix socket to listen on (default %(default)s)")
    ap.add_argument("--framing", choices=("length-prefixed", "ndjson"),
                    default="length-prefixed", help="frame format (default %(default)s)")
    ap.add_argument("--auth", action="store_true",
                    help='also answer auth requests: allow tokens "user:NAME"')
    args = ap.parse_args()
    asyncio.run(serve(args.socket, args.framing, args.auth))


if __name__ == "__main__":
    main()
