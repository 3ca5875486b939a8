#!/usr/bin/env python3
"""The WebSocket client that tests/systemd/real-systemd.py runs inside the
container, against wsgated on 127.0.0.1:8080. Each mode prints one line of
JSON with what it saw, and exits 0 unless it could not run at all.

  echo N              N messages, each echoed
  restarts N K        one connection throughout: the backend restarted N
                      times and SIGKILLed K times, a message sent after
                      each (once a killed one is gone); the seconds until
                      each echo came back
  big SIZE [QUERY]    a new connection sends SIZE bytes: the close code,
                      or "echo"
  loop SECONDS        connect and close again and again: how many worked,
                      how many were refused
  hold SECONDS        connect and wait for the server to close: its code
  token QUERY         connect with QUERY: "open" or the HTTP status
"""

import asyncio
import json
import subprocess
import sys
import time

import websockets

URL = "ws://127.0.0.1:8080/ws"
BACKEND = "wsgated-echo-backend"


def status_of(exc):
    for name in ("status_code", "status"):
        v = getattr(exc, name, None)
        if isinstance(v, int):
            return v
    resp = getattr(exc, "response", None)
    return getattr(resp, "status_code", None)


async def echo(n):
    async with websockets.connect(URL) as ws:
        for i in range(n):
            await ws.send("hello %d" % i)
            if await asyncio.wait_for(ws.recv(), 5) != "hello %d" % i:
                return {"ok": False, "at": i}
    return {"ok": True}


async def restarts(n, k):
    took = []
    async with websockets.connect(URL, ping_interval=None) as ws:
        for i in range(n + k):
            how = "restart" if i < n else "kill"
            if how == "restart":
                subprocess.run(["systemctl", "restart", BACKEND], check=True, timeout=30)
            else:
                # The message goes once the backend is gone: one written
                # whole to a backend that dies before reading it is lost,
                # as wsgate-protocol(7) says, until backends acknowledge.
                subprocess.run(["systemctl", "kill", "-s", "KILL", BACKEND], check=True,
                               timeout=30)
                end = time.monotonic() + 5
                while time.monotonic() < end and subprocess.run(
                        ["systemctl", "is-active", "-q", BACKEND], timeout=30).returncode == 0:
                    await asyncio.sleep(0.05)
                await asyncio.sleep(0.3)
            start = time.monotonic()
            await ws.send("after %s %d" % (how, i))
            try:
                got = await asyncio.wait_for(ws.recv(), 10)
            except asyncio.TimeoutError:
                got = None
            took.append({"how": how, "seconds": round(time.monotonic() - start, 3),
                         "ok": got == "after %s %d" % (how, i)})
    return {"took": took}


async def big(size, query):
    async with websockets.connect(URL + query, max_size=None) as ws:
        await ws.send("x" * size)
        try:
            await asyncio.wait_for(ws.recv(), 5)
            return {"result": "echo"}
        except websockets.exceptions.ConnectionClosed:
            return {"result": ws.close_code}


async def loop(seconds):
    ok = refused = other = 0
    end = time.monotonic() + seconds
    errors = []
    while time.monotonic() < end:
        try:
            async with websockets.connect(URL, open_timeout=5):
                ok += 1
        except ConnectionRefusedError:
            refused += 1
        except Exception as e:
            other += 1
            if len(errors) < 5:
                errors.append(repr(e))
    return {"ok": ok, "refused": refused, "other": other, "errors": errors}


async def hold(seconds):
    ws = await websockets.connect(URL, ping_interval=None)
    try:
        await asyncio.wait_for(ws.wait_closed(), seconds)
    except asyncio.TimeoutError:
        return {"code": None}
    return {"code": ws.close_code}


async def token(query):
    try:
        async with websockets.connect(URL + query):
            return {"result": "open"}
    except Exception as e:
        return {"result": status_of(e)}


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "echo":
        out = echo(int(args[0]))
    elif mode == "restarts":
        out = restarts(int(args[0]), int(args[1]))
    elif mode == "big":
        out = big(int(args[0]), args[1] if len(args) > 1 else "")
    elif mode == "loop":
        out = loop(float(args[0]))
    elif mode == "hold":
        out = hold(float(args[0]))
    elif mode == "token":
        out = token(args[0])
    else:
        sys.exit("unknown mode %s" % mode)
    try:
        print(json.dumps(asyncio.run(out)), flush=True)
    except Exception as e:
        print(json.dumps({"error": repr(e)}), flush=True)


if __name__ == "__main__":
    main()
