#!/usr/bin/env python3
"""Soak test for wsgated (make soak; not part of make check).

Runs the real daemon for --duration seconds under mixed load: client
processes keep sockets that send and receive echoes, join and leave,
while the backend is restarted every --restart-every seconds. Checks at
the end that the gateway's RSS after warm-up grew by at most --rss-growth
(a fraction), and that its counters account for every client message:
msgs_in = msgs_delivered + msgs_dropped_queue_full + msgs_queued, with
nothing dropped. Prints the figures; exits 1 if a check fails.

Environment: WSGATED (the daemon), as for the integration tests.
"""

import argparse
import asyncio
import multiprocessing
import os
import random
import re
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "integration"))
import harness  # noqa: E402
import websockets  # noqa: E402


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def one_client(url, stop_at, stats, rng):
    """A socket that lives a random while, sending and reading echoes."""
    life = rng.uniform(2, 30)
    end = min(stop_at, time.monotonic() + life)
    try:
        async with websockets.connect(url, max_size=None, ping_interval=None,
                                      close_timeout=2, open_timeout=10) as ws:
            stats["opened"] += 1
            n = 0
            while time.monotonic() < end:
                await ws.send("m%d %s" % (n, "x" * rng.randrange(1, 512)))
                stats["sent"] += 1
                n += 1
                try:
                    await asyncio.wait_for(ws.recv(), 5)
                    stats["echoed"] += 1
                except asyncio.TimeoutError:
                    stats["late"] += 1
                await asyncio.sleep(rng.uniform(0, 0.05))
    except (OSError, websockets.WebSocketException, asyncio.TimeoutError):
        stats["failed"] += 1


async def client_loop(url, clients, stop_at, seed, out):
    rng = random.Random(seed)
    stats = {k: 0 for k in ("opened", "sent", "echoed", "late", "failed")}

    async def slot():
        while time.monotonic() < stop_at:
            await one_client(url, stop_at, stats, rng)

    await asyncio.gather(*(slot() for _ in range(clients)))
    out.put(stats)


def client_process(url, clients, stop_at_wall, seed, out):
    stop_at = time.monotonic() + (stop_at_wall - time.time())
    asyncio.run(client_loop(url, clients, stop_at, seed, out))


def counters(gw):
    since = gw.log_size()
    gw.signal(signal.SIGUSR1)
    gw.wait_log(r"counters: ", since=since)
    line = re.findall(r"counters: .*", gw.log_text()[since:])[-1]
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=float, default=600)
    ap.add_argument("--warmup", type=float, default=60)
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--restart-every", type=float, default=30)
    ap.add_argument("--rss-growth", type=float, default=0.10)
    args = ap.parse_args()

    gw = harness.Gateway({"log": {"level": "info"},
                          "limits": {"max_connections_per_ip": 100000,
                                     "connection_rate_per_ip": 0}})
    be = harness.Backend(gw.backend_path, gw.framing, echo=True)
    ok = True
    try:
        stop_at = time.time() + args.duration
        out = multiprocessing.Queue()
        procs = [multiprocessing.Process(
            target=client_process,
            args=(gw.url, args.clients // args.procs, stop_at, i, out))
            for i in range(args.procs)]
        for p in procs:
            p.start()

        start = time.monotonic()
        next_restart = start + args.restart_every
        warm_rss = None
        samples = []
        restarts = 0
        while time.time() < stop_at:
            time.sleep(1)
            now = time.monotonic()
            rss = rss_kib(gw.proc.pid)
            samples.append(rss)
            if warm_rss is None and now - start >= args.warmup:
                warm_rss = rss
            if now >= next_restart:
                be.stop()
                time.sleep(0.5)
                be.start()
                restarts += 1
                next_restart = now + args.restart_every
            if not gw.running():
                print("wsgated died; log tail:\n" + gw.log_tail())
                return 1

        stats = {}
        for _ in procs:
            for k, v in out.get(timeout=60).items():
                stats[k] = stats.get(k, 0) + v
        for p in procs:
            p.join(timeout=30)

        # Let the queues drain, then check the accounting.
        deadline = time.monotonic() + 30
        while True:
            c = counters(gw)
            if c["msgs_queued"] == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        end_rss = rss_kib(gw.proc.pid)
        warm_rss = warm_rss or samples[0]
        growth = (end_rss - warm_rss) / warm_rss
        balance = c["msgs_in"] == (c["msgs_delivered"] + c["msgs_dropped_queue_full"] +
                                   c["msgs_queued"])
        print("soak: %.0f s, %d client slots in %d processes, %d backend restarts"
              % (args.duration, args.clients, args.procs, restarts))
        print("clients: %s" % stats)
        print("gateway: msgs_in=%d msgs_delivered=%d msgs_dropped_queue_full=%d "
              "msgs_queued=%d msgs_out=%d sockets_opened=%d backend_connects=%d"
              % (c["msgs_in"], c["msgs_delivered"], c["msgs_dropped_queue_full"],
                 c["msgs_queued"], c["msgs_out"], c["sockets_opened"],
                 c["backend_connects"]))
        print("rss: after warm-up %d KiB, end %d KiB, max %d KiB, growth %+.1f%%"
              % (warm_rss, end_rss, max(samples), 100 * growth))
        if not balance:
            print("FAIL: the counters do not balance")
            ok = False
        if c["msgs_dropped_queue_full"] != 0:
            print("FAIL: messages dropped")
            ok = False
        if growth > args.rss_growth:
            print("FAIL: RSS grew by more than %.0f%%" % (100 * args.rss_growth))
            ok = False
        print("soak: %s" % ("PASS" if ok else "FAIL"))
    finally:
        be.stop()
        rc = gw.stop()
        if rc != 0:
            print("wsgated exited with %r" % rc)
            ok = False
        gw.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
