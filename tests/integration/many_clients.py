#!/usr/bin/env python3
"""Hold many WebSocket clients (python3-websockets) in one process.

    many_clients.py URL N EXPECT TIMEOUT

Opens N connections to URL, prints "ready" once all are open, then gives
each connection until TIMEOUT seconds to receive EXPECT messages, waits half
a second more for any extra one, and prints one JSON line:
{"counts": {"<messages received>": <connections>, ...}, "texts": [...]}
where texts are the distinct messages seen. Exits 0; the test judges.
"""

import asyncio
import json
import sys

import websockets


async def main():
    url, n, expect, timeout = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    conns = []
    sem = asyncio.Semaphore(200)

    async def one():
        async with sem:
            return await websockets.connect(url, open_timeout=timeout, max_size=None,
                                            ping_interval=None)

    conns = await asyncio.gather(*(one() for _ in range(n)))
    print("ready", flush=True)
    texts = set()

    async def drain(ws):
        got = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while got < expect:
                m = await asyncio.wait_for(ws.recv(), max(0.01, deadline - loop.time()))
                texts.add(m if isinstance(m, str) else m.hex())
                got += 1
            while True:
                m = await asyncio.wait_for(ws.recv(), 0.5)
                texts.add(m if isinstance(m, str) else m.hex())
                got += 1
        except (asyncio.TimeoutError, websockets.ConnectionClosed):
            pass
        return got

    got = await asyncio.gather(*(drain(ws) for ws in conns))
    counts = {}
    for g in got:
        counts[str(g)] = counts.get(str(g), 0) + 1
    print(json.dumps({"counts": counts, "texts": sorted(texts)[:10]}), flush=True)
    await asyncio.gather(*(ws.close() for ws in conns), return_exceptions=True)


asyncio.run(main())
