#!/usr/bin/env python3
"""cluster.py - the cluster part of `make bench`: what a send to a socket
of another wsgated node costs, against the same send on the node itself,
measured in one run on this machine over loopback.

The stack: a redis-server on a free loopback port (no persistence), two
wsgated nodes A and B in cluster mode (cluster.redis set, one worker each
by default, log level warning, connection limits raised), and ONE
wsg-echo-backend whose socket both nodes use, so that it sees the
connections of both (each hello event names its instance).  The clients
(wsg-loadgen, echo mode) connect to node B only.  Two modes, with the same
loadgen settings:

  local  the backend answers each message on the connection it came from:
         client -> B -> backend -> B -> client
  cross  the backend is started with --cross and answers on a connection
         of node A: client -> B -> backend -> A -> Redis (EVALSHA, the
         script's PUBLISH) -> B's subscriber connection -> B's worker ->
         client

Each round starts a fresh stack for each mode (the order alternates from
round to round) and runs the same tests as bench/run.py's wsgated rows:
echo msgs/s at 100 conns x 8 in flight (64 B text), and round-trip p50/p99
at a fixed 10,000 msgs/s over 100 conns and unloaded (1 conn x 1).  In
cross mode it checks from B's /metrics that the messages did cross
(cluster_received per second against the loadgen's rate) and that A
dropped none.  The summary gives the median of the rounds for each mode,
the cross/local throughput ratio and the latency a cross-node send adds
(cross - local, p50 and p99), and the CPU time per message of each
process.  Raw results go to BUILDDIR/cluster-results.json (--output), logs
to BUILDDIR/logs/cluster-*.log.

Without redis-server it prints why and exits 0: the rest of `make bench`
does not depend on it.  Python 3 standard library only; every wait is
bounded and every process this script starts is stopped by its PID.
"""

import argparse
import datetime
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import time

# The helpers of bench/run.py: processes stopped by PID, CPU time from
# /proc, the WebSocket probe, free ports.
from run import (LAT_RATE, bench_conf, run_sampled, SRC_ADDRS, WS_PATH, Procs, cpu_seconds, free_port,
                 last_json, log, run_capture, ws_probe)

MODES = ("local", "cross")
NODES = ("a", "b")
PROCS = Procs()


def tests():
    return [
        # name, wsg-loadgen echo options (as bench/run.py's)
        ("echo_100x8_64", dict(conns=100, window=8, size=64)),
        ("lat_rate", dict(conns=100, window=8, size=64, rate=LAT_RATE)),
        ("lat_idle", dict(conns=1, window=1, size=64)),
    ]


# ---------------------------------------------------------------------------
# Redis

def redis_ping(port, timeout=1.0):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(b"*1\r\n$4\r\nPING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class Redis:
    def __init__(self, binary, workdir, port, logpath):
        self.binary = binary
        self.workdir = workdir
        self.port = port
        self.logpath = logpath
        self.proc = None

    def start(self):
        self.proc = PROCS.start(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", self.workdir],
            logpath=self.logpath)
        deadline = time.monotonic() + 10
        while not redis_ping(self.port):
            if self.proc.poll() is not None:
                raise RuntimeError("redis-server exited with %s (see %s)"
                                   % (self.proc.returncode, self.logpath))
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server does not answer PING on port %d"
                                   % self.port)
            time.sleep(0.05)

    def stop(self):
        PROCS.stop(self.proc, timeout=5)
        self.proc = None


# ---------------------------------------------------------------------------
# Two nodes and one backend

def scrape(port, timeout=2.0):
    """wsgated's /metrics as {name: value}, without labelled series."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/metrics")
        body = conn.getresponse().read().decode()
    finally:
        conn.close()
    out = {}
    for line in body.splitlines():
        if line and not line.startswith("#") and "{" not in line:
            name, _, value = line.rpartition(" ")
            try:
                out[name] = float(value)
            except ValueError:
                pass
    return out


class Stack:
    def __init__(self, mode, progs, workdir, redis, ports, workers, tag):
        self.mode = mode
        self.progs = progs
        self.workdir = workdir
        self.redis = redis
        self.ports = ports          # {"a": (ws, admin), "b": (ws, admin)}
        self.workers = workers
        self.tag = tag
        self.sock = os.path.join(workdir, "cluster-backend.sock")
        self.logdir = os.path.join(progs.builddir, "logs")
        self.backend = None
        self.nodes = {}

    def logpath(self, what):
        return os.path.join(self.logdir, "cluster-%s.log" % what)

    def write_conf(self, node):
        port, admin = self.ports[node]
        path = os.path.join(self.workdir, "wsgated-%s.conf" % node)
        with open(path, "w") as f:
            f.write(bench_conf(
                "wsgated node %s of the cluster benchmark (written by bench/cluster.py)"
                % node, self.workers, "bench-%s" % node, port, self.sock,
                'admin = {\n  port = %d;\n};\ncluster = {\n  redis = "127.0.0.1:%d";\n'
                '  node = "bench-%s";\n};\n' % (admin, self.redis.port, node)))
        return path

    def start(self):
        os.makedirs(self.logdir, exist_ok=True)
        for what in ("backend",) + tuple("node-" + n for n in NODES):
            with open(self.logpath(what), "a") as f:
                f.write("--- %s %s %s\n" % (self.tag, self.mode, time.strftime("%H:%M:%S")))
        try:
            os.unlink(self.sock)
        except FileNotFoundError:
            pass
        argv = [self.progs.backend, "--socket", self.sock, "--framing", "length-prefixed"]
        if self.mode == "cross":
            argv.append("--cross")
        self.backend = PROCS.start(argv, logpath=self.logpath("backend"))
        deadline = time.monotonic() + 10
        while not os.path.exists(self.sock):
            if self.backend.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("wsg-echo-backend did not create %s (see %s)"
                                   % (self.sock, self.logpath("backend")))
            time.sleep(0.02)
        for n in NODES:
            conf = self.write_conf(n)
            rc, out, err = run_capture([self.progs.wsgated, "-t", "-c", conf], 30)
            if rc != 0:
                raise RuntimeError("wsgated -t refused the cluster bench config: %s"
                                   % (err or out))
            self.nodes[n] = PROCS.start([self.progs.wsgated, "-f", "-c", conf],
                                        logpath=self.logpath("node-" + n))
        self.wait_ready()

    def metrics(self, node):
        return scrape(self.ports[node][1])

    def wait_ready(self):
        """Both nodes linked and counting 2 live nodes, and a probe on B
        echoed (in cross mode: through the cluster)."""
        deadline = time.monotonic() + 20
        why = "?"
        while True:
            if not self.alive():
                raise RuntimeError("a process of the stack exited (see %s)"
                                   % self.logpath("*"))
            if time.monotonic() > deadline:
                raise RuntimeError("the cluster stack is not ready after 20 s: %s" % why)
            try:
                m = {n: self.metrics(n) for n in NODES}
            except OSError as e:
                why = "admin: %s" % e
                time.sleep(0.1)
                continue
            if not all(m[n].get("wsgated_cluster_up") == 1 and
                       m[n].get("wsgated_cluster_nodes") == 2 for n in NODES):
                why = "cluster link not up on both nodes with 2 nodes"
                time.sleep(0.1)
                continue
            before = m["b"].get("wsgated_cluster_received_total", 0)
            if not ws_probe(self.ports["b"][0], timeout=1.0):
                why = "node B does not echo"
                time.sleep(0.1)
                continue
            if self.mode == "cross":
                after = self.metrics("b").get("wsgated_cluster_received_total", 0)
                if after <= before:
                    why = "the probe's echo did not come through the cluster"
                    time.sleep(0.1)
                    continue
            return

    def pids(self):
        out = {"node_a": self.nodes["a"].pid, "node_b": self.nodes["b"].pid,
               "backend": self.backend.pid}
        if self.redis.proc is not None:
            out["redis"] = self.redis.proc.pid
        return out

    def alive(self):
        return all(p is not None and p.poll() is None
                   for p in [self.backend] + list(self.nodes.values()))

    def stop(self):
        for n in reversed(NODES):
            PROCS.stop(self.nodes.get(n), timeout=6)
        PROCS.stop(self.backend, timeout=3)
        self.nodes = {}
        self.backend = None


# ---------------------------------------------------------------------------
# One measurement

def sample(stack):
    cpu = {k: cpu_seconds(pid) for k, pid in stack.pids().items()}
    try:
        m = stack.metrics("b")
        ma = stack.metrics("a")
        cl = {"b_received": m.get("wsgated_cluster_received_total"),
              "a_forwarded": ma.get("wsgated_cluster_forwarded_total"),
              "a_dropped": ma.get("wsgated_cluster_dropped_total")}
    except OSError:
        cl = {}
    return time.monotonic(), cpu, cl


def measure(stack, args, name, o):
    argv = [stack.progs.loadgen, "--host", "127.0.0.1", "--port", str(stack.ports["b"][0]),
            "--path", WS_PATH, "--mode", "echo", "--conns", str(o["conns"]),
            "--window", str(o["window"]), "--size", str(o["size"]),
            "--duration", str(args.duration), "--warmup", str(args.warmup),
            "--src", SRC_ADDRS]
    if o.get("rate"):
        argv += ["--rate", str(o["rate"])]
    margin = min(0.25, args.duration / 8)
    expect = args.warmup + args.duration
    rc, samples, out_text, err_text = run_sampled(
        PROCS, argv, name, os.path.join(stack.logdir, "cluster-loadgen"),
        (args.warmup + margin, expect - margin), lambda: sample(stack), expect)
    res = last_json(out_text)
    rec = {"rc": rc, "result": res, "argv": argv[1:]}
    if res is None:
        rec["stderr"] = err_text[-2000:]
    if len(samples) == 2:
        (w0, c0, m0), (w1, c1, m1) = samples
        wall = w1 - w0
        rate = (res or {}).get("rate")
        rec["window_s"] = wall
        cpu = {}
        for k in c0:
            if c0[k] is not None and c1.get(k) is not None and rate:
                cpu[k] = (c1[k] - c0[k]) / wall / rate * 1e6
        if len(cpu) == 4:
            cpu["all"] = sum(cpu.values())
        rec["cpu_us_per_msg"] = cpu
        if None not in (m0.get("b_received"), m1.get("b_received")) and rate:
            rec["b_received_per_s"] = (m1["b_received"] - m0["b_received"]) / wall
            rec["crossed_share"] = rec["b_received_per_s"] / rate
        if None not in (m0.get("a_dropped"), m1.get("a_dropped")):
            rec["a_dropped"] = m1["a_dropped"] - m0["a_dropped"]
    return rec


def describe(rnd, mode, name, rec):
    res = rec.get("result") or {}
    bits = []
    for k in ("rate", "p50_us", "p99_us", "errors"):
        if k in res:
            v = res[k]
            bits.append("%s=%s" % (k, ("%.0f" % v) if isinstance(v, float) else v))
    if "crossed_share" in rec and mode == "cross":
        bits.append("crossed=%.2f" % rec["crossed_share"])
    if rec.get("a_dropped"):
        bits.append("A dropped %d" % rec["a_dropped"])
    cpu = rec.get("cpu_us_per_msg") or {}
    if cpu:
        bits.append("cpu us/msg " + " ".join("%s=%.2f" % (k, v) for k, v in sorted(cpu.items())))
    if rec.get("error"):
        bits.append("ERROR: " + rec["error"])
    elif "result" in rec and rec["result"] is None:
        bits.append("ERROR: no result (rc %s): %s" % (
            rec.get("rc"), (rec.get("stderr") or "").strip()[-300:]))
    log("  [%d] %-5s %-14s %s" % (rnd, mode, name, " ".join(bits)))


def problem(mode, rec):
    """Why a record cannot be trusted, or None."""
    if rec.get("error"):
        return rec["error"]
    if rec.get("result") is None:
        return "no result from wsg-loadgen"
    if rec["result"].get("errors"):
        return "%d loadgen errors" % rec["result"]["errors"]
    if rec.get("a_dropped"):
        return "node A dropped %d cross-node commands" % rec["a_dropped"]
    if mode == "cross":
        if rec.get("crossed_share") is None:
            return "node B's /metrics could not tell whether the messages crossed"
        if not 0.9 <= rec["crossed_share"] <= 1.1:
            return "%.0f%% of the messages crossed" % (100 * rec["crossed_share"])
    elif (rec.get("crossed_share") or 0) > 0.1:
        return "%.0f%% of the local messages crossed" % (100 * rec["crossed_share"])
    return None


# ---------------------------------------------------------------------------
# Summary

ROWS = [
    ("echo_100x8_64", "rate", "echo msgs/s, 100 conns × 8 in flight, 64 B text", "hi"),
    ("lat_rate", "p50_us", "round trip p50 µs at %d msgs/s, 100 conns" % LAT_RATE, "lo"),
    ("lat_rate", "p99_us", "round trip p99 µs at %d msgs/s, 100 conns" % LAT_RATE, "lo"),
    ("lat_rate", "rate", "  (rate achieved, msgs/s)", "hi"),
    ("lat_idle", "p50_us", "round trip p50 µs unloaded, 1 conn × 1", "lo"),
    ("lat_idle", "p99_us", "round trip p99 µs unloaded, 1 conn × 1", "lo"),
]
CPU_ROWS = [("node_a", "node A"), ("node_b", "node B"), ("redis", "redis-server"),
            ("backend", "backend"), ("all", "all four")]
CPU_IDLE_US = 0.5       # below this a process is idle: no ratio shown


def value(rec, test, key):
    if key.startswith("cpu."):
        return (rec.get("cpu_us_per_msg") or {}).get(key[4:])
    return (rec.get("result") or {}).get(key)


def summarise(results):
    keys = [(t, k) for t, k, _, _ in ROWS]
    keys += [("echo_100x8_64", "cpu." + p) for p, _ in CPU_ROWS]
    keys += [("lat_rate", "cpu." + p) for p, _ in CPU_ROWS]
    out = {}
    for test, key in keys:
        cell = out.setdefault("%s.%s" % (test, key), {})
        for mode in MODES:
            vals = [value(r, test, key) for r in results
                    if r["mode"] == mode and r["test"] == test and not r.get("problem")]
            vals = [v for v in vals if isinstance(v, (int, float))]
            cell[mode] = statistics.median(vals) if vals else None
            cell[mode + "_values"] = vals
        lo, cr = cell["local"], cell["cross"]
        idle = key.startswith("cpu.") and lo is not None and lo < CPU_IDLE_US
        cell["cross_over_local"] = cr / lo if lo and cr is not None and not idle else None
        cell["cross_minus_local"] = cr - lo if lo is not None and cr is not None else None
    return out


def fmt(v, key):
    if v is None:
        return "–"
    if key in ("rate", "p50_us", "p99_us"):
        return "{:,.0f}".format(v)
    if abs(v) >= 100:
        return "%.0f" % v
    if abs(v) >= 10:
        return "%.1f" % v
    return "%.2f" % v


def table(summary, rounds):
    lines = ["| metric (median of %d round%s) | local | cross-node | cross / local | "
             "cross − local |" % (rounds, "s" if rounds > 1 else ""),
             "|---|---:|---:|---:|---:|"]

    def row(label, cell, key):
        r, d = cell["cross_over_local"], cell["cross_minus_local"]
        lines.append("| %s | %s | %s | %s | %s |" % (
            label, fmt(cell["local"], key), fmt(cell["cross"], key),
            "–" if r is None else "%.2f×" % r,
            "–" if d is None else ("+" if d >= 0 else "") + fmt(d, key)))

    for test, key, label, better in ROWS:
        row(label + ("" if label.startswith(" ") else " ↑" if better == "hi" else " ↓"),
            summary["%s.%s" % (test, key)], key)
    for test, what in (("echo_100x8_64", "100 × 8"), ("lat_rate", "at %d msgs/s" % LAT_RATE)):
        for proc, label in CPU_ROWS:
            row("CPU µs per msg, %s, %s ↓" % (what, label),
                summary["%s.cpu.%s" % (test, proc)], "cpu")
    return "\n".join(lines)


# ---------------------------------------------------------------------------

class Programs:
    def __init__(self, a):
        self.builddir = os.path.abspath(a.builddir)
        self.wsgated = os.path.abspath(a.wsgated or
                                       os.path.join(self.builddir, "..", "src", "wsgated"))
        self.loadgen = os.path.abspath(a.loadgen or os.path.join(self.builddir, "wsg-loadgen"))
        self.backend = os.path.abspath(a.backend or
                                       os.path.join(self.builddir, "wsg-echo-backend"))
        self.redis = a.redis_server or shutil.which("redis-server")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(
        description="Cross-node sends of a wsgated cluster against local ones.")
    ap.add_argument("--builddir", default=os.path.normpath(os.path.join(here, "..", "_build",
                                                                        "bench")),
                    help="where wsg-loadgen and wsg-echo-backend are, and where "
                         "cluster-results.json and logs/ go (default %(default)s)")
    ap.add_argument("--wsgated", help="wsgated binary (default BUILDDIR/../src/wsgated)")
    ap.add_argument("--loadgen", help="load generator (default BUILDDIR/wsg-loadgen)")
    ap.add_argument("--backend", help="echo backend (default BUILDDIR/wsg-echo-backend)")
    ap.add_argument("--redis-server", help="redis-server binary (default: on PATH)")
    ap.add_argument("--rounds", type=int, help="rounds (default 2; 1 with --quick)")
    ap.add_argument("--quick", action="store_true", help="smoke test: 1.5 s runs, one round")
    ap.add_argument("--duration", type=float, help="seconds per measurement (default 5)")
    ap.add_argument("--warmup", type=float, help="warm-up seconds (default 1)")
    ap.add_argument("--workers", type=int, default=1,
                    help="worker threads of each node (default %(default)s)")
    ap.add_argument("--port", type=int, default=27280, help="first port to try (default 27280)")
    ap.add_argument("--output", help="results file (default BUILDDIR/cluster-results.json)")
    a = ap.parse_args()
    a.rounds = a.rounds or (1 if a.quick else 2)
    a.duration = a.duration or (1.5 if a.quick else 5.0)
    a.warmup = a.warmup if a.warmup is not None else (0.5 if a.quick else 1.0)
    if a.rounds < 1 or a.duration < 1 or a.workers < 1:
        ap.error("--rounds, --duration and --workers must be >= 1")

    progs = Programs(a)
    if progs.redis is None or not os.access(progs.redis, os.X_OK):
        print("cluster.py: skipped: redis-server not found "
              "(apt-get install redis-server, or --redis-server PATH)")
        return 0
    missing = [p for p in (progs.wsgated, progs.loadgen, progs.backend)
               if not os.access(p, os.X_OK)]
    if missing:
        sys.exit("cluster.py: missing: %s (make bench builds them)" % ", ".join(missing))
    logdir = os.path.join(progs.builddir, "logs")
    os.makedirs(logdir, exist_ok=True)

    def on_signal(signum, frame):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, on_signal)

    facts = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "kernel": platform.release(),
        "wsgated": (run_capture([progs.wsgated, "-V"])[1] or "").splitlines()[:1],
        "redis": (run_capture([progs.redis, "--version"])[1] or "").splitlines()[:1],
        "workers_per_node": a.workers,
        "duration_s": a.duration, "warmup_s": a.warmup, "rounds": a.rounds,
    }
    print("## Cluster: cross-node sends against local ones\n")
    print("- two wsgated nodes (%d worker%s each), one redis-server, one echo backend "
          "for both; clients on node B; %s s runs after %s s warm-up; %s"
          % (a.workers, "s" if a.workers > 1 else "", a.duration, a.warmup,
             ", ".join("%s" % (v[0] if isinstance(v, list) and v else v)
                       for k, v in facts.items() if k in ("wsgated", "redis"))))
    print(flush=True)
    per = len(tests()) * (a.warmup + a.duration + 0.7) + 3
    log("cluster: %d round(s) of local and cross: about %.0f minutes"
        % (a.rounds, a.rounds * len(MODES) * per / 60))

    workdir = tempfile.mkdtemp(prefix="wsg-cluster-")
    p = a.port
    redis_port = free_port(p)
    ports = {}
    p = redis_port + 1
    for n in NODES:
        ws = free_port(p)
        admin = free_port(ws + 1)
        ports[n] = (ws, admin)
        p = admin + 1
    redis = Redis(progs.redis, workdir, redis_port, os.path.join(logdir, "cluster-redis.log"))
    results, notes = [], []
    started = time.time()
    try:
        redis.start()
        for rnd in range(1, a.rounds + 1):
            order = MODES if rnd % 2 else tuple(reversed(MODES))
            log("cluster round %d of %d: %s" % (rnd, a.rounds, ", ".join(order)))
            for mode in order:
                stack = Stack(mode, progs, workdir, redis, ports, a.workers,
                              "round %d" % rnd)
                try:
                    stack.start()
                    for name, o in tests():
                        if not stack.alive():
                            rec = {"error": "a process of the stack died"}
                        else:
                            rec = measure(stack, a, name, o)
                        rec.update({"round": rnd, "mode": mode, "test": name})
                        rec["problem"] = problem(mode, rec)
                        results.append(rec)
                        describe(rnd, mode, name, rec)
                except (RuntimeError, OSError) as e:
                    rec = {"round": rnd, "mode": mode, "test": "start",
                           "error": "start: %s" % e}
                    rec["problem"] = rec["error"]
                    results.append(rec)
                    describe(rnd, mode, "start", rec)
                finally:
                    stack.stop()
    except (RuntimeError, OSError) as e:
        notes.append(str(e))
        log("cluster: %s" % e)
    except KeyboardInterrupt:
        notes.append("interrupted")
        log("interrupted; stopping everything")
    finally:
        redis.stop()
        PROCS.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)

    summary = summarise(results)
    out = {"machine": facts, "tests": {n: o for n, o in tests()},
           "elapsed_s": round(time.time() - started, 1), "notes": notes,
           "summary": summary, "runs": results}
    output = a.output or os.path.join(progs.builddir, "cluster-results.json")
    with open(output, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")

    print(table(summary, a.rounds))
    print()
    bad = [r for r in results if r.get("problem")]
    for r in bad:
        print("- round %d, %s, %s: %s" % (r["round"], r["mode"], r["test"], r["problem"]))
    for n in notes:
        print("note: " + n)
    print("raw results: %s" % output)
    return 1 if bad or notes else 0


if __name__ == "__main__":
    sys.exit(main())
