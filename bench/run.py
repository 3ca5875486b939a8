#!/usr/bin/env python3
"""run.py - the runner behind `make bench`: wsgated against Bun, Node.js and
a C echo server, on this machine, over loopback.

Targets (--targets, comma-separated, default all four):
  wsgated  the gateway, built in BUILDDIR/../src/wsgated, with a bench config
           (workers = 2, log level warning, connection limits raised)
  bun      bench/peers/bun-gateway.js run by the Bun of bench/peers/package.json
  node     bench/peers/node-gateway.js (Node.js + npm "ws")
  ceiling  wsg-echo-server: a WebSocket echo server in C, no backend hop
wsgated, bun and node each get their own wsg-echo-backend (length-prefixed).

Every round runs each target in turn (the order rotates from round to round)
through the same tests with wsg-loadgen; the table shows the median over
the rounds (--rounds, default 3):
  - echo msgs/s at 100 conns x 8 in flight and 1000 conns x 1, for 64 B text,
    4 KiB text and 64 B binary;
  - round-trip p50/p99 at a fixed rate (10,000 msgs/s over 100 conns) and
    unloaded (1 conn, 1 in flight);
  - handshakes/s, and for wsgated also with an HS256 JSON Web Token in the
    X-Token cookie, verified at each upgrade (connect_jwt);
  - KiB of RSS per idle connection at 10,000 connections and at the most one
    process can hold (19,000), from several hold processes bound to several
    127.0.0.x addresses, each on a freshly started target;
  - the target's own CPU time per operation (utime + stime from
    /proc/PID/stat over the measured window, divided by the operations);
  - fan-out (wsgated and bun only): with 10,000 idle connections held by
    wsg-loadgen --mode fanout, the backend broadcasts 10 messages of 64 B,
    300 ms apart, on a trigger; per broadcast, the time from the backend's
    send to the first and to the last of the 10,000 sockets receiving it,
    that every socket got every broadcast once, the round trip p50/p99 of
    an echo at 1,000 msgs/s over 10 other connections meanwhile (and
    without broadcasts), and the target's CPU time per broadcast;
  - each wsgated figure as a ratio to Bun's.
Raw results go to BUILDDIR/results.json (--output), logs to BUILDDIR/logs/.

Python 3 standard library only.  Every wait is bounded, and every process
this script starts is stopped by its PID at the end.
"""

import argparse
import base64
import datetime
import hashlib
import hmac
import json
import math
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS_SRC = os.path.join(HERE, "peers")
PEER_FILES = ("package.json", "package-lock.json", "bun-gateway.js", "node-gateway.js")
ALL_TARGETS = ("wsgated", "bun", "node", "ceiling")
WITH_BACKEND = ("wsgated", "bun", "node")
WS_PATH = "/ws"
CLK_TCK = os.sysconf("SC_CLK_TCK")
# Source addresses: the echo and connect tests spread their connections over
# SRC_ADDRS; hold process i binds to 127.0.0.(HOLD_SRC_BASE + i).
SRC_ADDRS = ",".join("127.0.0.%d" % i for i in range(2, 10))
HOLD_SRC_BASE = 20
HOLD_PER_PROCESS = 5000         # connections per hold process
HOLD_RAMP = 5000                # connections/s per hold process
# fanout: its idle connections come from 127.0.0.(FANOUT_SRC_BASE + i).
FANOUT_TARGETS = ("wsgated", "bun")
FANOUT_SRC_BASE = 40
FANOUT_ECHO_CONNS = 10          # the other sockets, whose latency is measured
FANOUT_ECHO_RATE = 1000         # their msgs/s
FANOUT_TRIGGER = "!broadcast "  # bench/echo_backend.c: broadcast on this


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# Processes

def _raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Procs:
    """Every process this script starts, to stop each by its PID."""

    def __init__(self):
        self.live = []

    def start(self, argv, logpath=None, env=None, stdout=None, stderr=None, cwd=None):
        out = err = None
        logf = None
        if logpath is not None:
            logf = open(logpath, "ab")
            out = stdout if stdout is not None else logf
            err = stderr if stderr is not None else logf
        else:
            out, err = stdout, stderr
        try:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                 env=env, cwd=cwd, preexec_fn=_raise_nofile)
        finally:
            if logf is not None:
                logf.close()
        self.live.append(p)
        return p

    def stop(self, p, timeout=5.0, sig=signal.SIGTERM):
        """Signal p, wait at most timeout seconds, then SIGKILL it."""
        if p is None:
            return None
        if p.poll() is None:
            try:
                os.kill(p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.kill(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    log("warning: pid %d did not die" % p.pid)
        if p in self.live:
            self.live.remove(p)
        return p.returncode

    def stop_all(self):
        for p in list(reversed(self.live)):
            self.stop(p, timeout=3)


PROCS = Procs()


def cpu_seconds(pid):
    """utime + stime of a process (all its threads), in seconds, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def cpu_ns(pid):
    """Time on CPU of all the threads of a process, in ns (schedstat, finer
    than the clock ticks of /proc/PID/stat), or None."""
    total, seen = 0, False
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return None
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
                seen = True
        except (OSError, ValueError, IndexError):
            pass
    return total if seen else None


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def free_port(start):
    """A TCP port on 127.0.0.1 that nothing listens on, from start upwards
    (below the ephemeral range, so that client sockets never take it)."""
    for port in range(start, start + 2000):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError("no free port from %d" % start)


def run_capture(argv, timeout=30):
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=timeout, text=True)
        return r.returncode, r.stdout.strip(), r.stderr.strip()
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, "", str(e)


def last_json(text):
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    return None


# ---------------------------------------------------------------------------
# A minimal WebSocket client, to check that a target echoes before measuring.

def ws_open(port, timeout=2.0, token="probe"):
    """Connect and upgrade; return (socket, bytes after the head) or None."""
    key = base64.b64encode(os.urandom(16)).decode()
    want = base64.b64encode(hashlib.sha1(
        (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.settimeout(timeout)
        s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                   "Sec-WebSocket-Version: 13\r\nCookie: X-Token=%s\r\n"
                   "X-User-Id: probe\r\n\r\n" % (WS_PATH, port, key, token)).encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                s.close()
                return None
            buf += chunk
        head, _, buf = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        if " 101 " not in lines[0] + " " or not any(
                l.lower().startswith("sec-websocket-accept:") and
                l.split(":", 1)[1].strip() == want for l in lines[1:]):
            s.close()
            return None
        return s, buf
    except OSError:
        s.close()
        raise


def ws_send(s, payload, op=0x1):
    """Send one masked frame (payload of at most 65535 bytes)."""
    mask = os.urandom(4)
    n = len(payload)
    hdr = bytes([0x80 | op, 0x80 | n]) if n < 126 else \
        bytes([0x80 | op, 0x80 | 126]) + struct.pack(">H", n)
    s.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))


def ws_probe(port, timeout=2.0, token="probe"):
    """Upgrade, send one masked text message, expect it back. True if so."""
    payload = b"bench-probe-" + os.urandom(4).hex().encode()
    try:
        opened = ws_open(port, timeout, token)
        if opened is None:
            return False
        s, buf = opened
        with s:
            ws_send(s, payload)
            while True:
                while len(buf) < 2:
                    chunk = s.recv(4096)
                    if not chunk:
                        return False
                    buf += chunk
                op, n = buf[0] & 0x0F, buf[1] & 0x7F
                hdr = 2
                if n == 126:
                    hdr = 4
                elif n == 127:
                    hdr = 10
                while len(buf) < hdr:
                    buf += s.recv(4096)
                if n == 126:
                    n = struct.unpack(">H", buf[2:4])[0]
                elif n == 127:
                    n = struct.unpack(">Q", buf[2:10])[0]
                while len(buf) < hdr + n:
                    chunk = s.recv(65536)
                    if not chunk:
                        return False
                    buf += chunk
                data, buf = buf[hdr:hdr + n], buf[hdr + n:]
                if op == 0x1:
                    ok = data == payload
                    ws_send(s, b"\x03\xe8", 0x8)
                    return ok
                if op == 0x8:
                    return False
    except OSError:
        return False


# ---------------------------------------------------------------------------
# Programs and peers

class Programs:
    def __init__(self, args):
        self.builddir = os.path.abspath(args.builddir)
        self.wsgated = os.path.abspath(args.wsgated or
                                       os.path.join(self.builddir, "..", "src", "wsgated"))
        self.loadgen = os.path.abspath(args.loadgen or os.path.join(self.builddir, "wsg-loadgen"))
        self.backend = os.path.abspath(args.backend or
                                       os.path.join(self.builddir, "wsg-echo-backend"))
        self.echo_server = os.path.abspath(args.echo_server or
                                           os.path.join(self.builddir, "wsg-echo-server"))
        self.node = args.node or shutil.which("node")
        self.bun = args.bun
        self.peers = os.path.join(self.builddir, "peers")
        self.npm = shutil.which("npm")

    def check(self, targets):
        missing = []
        for path, need in ((self.loadgen, True), (self.backend, bool(set(targets) & set(WITH_BACKEND))),
                           (self.wsgated, "wsgated" in targets),
                           (self.echo_server, "ceiling" in targets)):
            if need and not os.access(path, os.X_OK):
                missing.append(path)
        return missing

    def install_peers(self, no_npm):
        """Copy the peers into BUILDDIR/peers and npm install there (once)."""
        os.makedirs(self.peers, exist_ok=True)
        for name in PEER_FILES:
            src, dst = os.path.join(PEERS_SRC, name), os.path.join(self.peers, name)
            if not os.path.exists(src):
                continue
            if os.path.exists(dst) and os.path.samefile(src, dst):
                continue
            shutil.copyfile(src, dst)
        h = hashlib.sha256()
        for name in ("package.json", "package-lock.json"):
            p = os.path.join(self.peers, name)
            if os.path.exists(p):
                with open(p, "rb") as f:
                    h.update(f.read())
        stamp = os.path.join(self.peers, "node_modules", ".wsg-bench-stamp")
        try:
            with open(stamp) as f:
                fresh = f.read().strip() == h.hexdigest()
        except OSError:
            fresh = False
        if not fresh and not no_npm:
            if self.npm is None:
                return "npm not found"
            log("npm install in %s" % self.peers)
            try:
                r = subprocess.run([self.npm, "install", "--no-audit", "--no-fund"],
                                   cwd=self.peers, stdin=subprocess.DEVNULL,
                                   capture_output=True, text=True, timeout=600)
            except subprocess.TimeoutExpired:
                return "npm install timed out"
            if r.returncode != 0:
                return "npm install failed: " + (r.stderr.strip().splitlines() or ["?"])[-1]
            with open(stamp, "w") as f:
                f.write(h.hexdigest() + "\n")
        if self.bun is None:
            nm = os.path.join(self.peers, "node_modules")
            cands = [os.path.join(nm, "bun", "bin", "bun.exe"), os.path.join(nm, ".bin", "bun")]
            oven = os.path.join(nm, "@oven")
            if os.path.isdir(oven):
                cands += [os.path.join(oven, d, "bin", "bun") for d in sorted(os.listdir(oven))]
            for c in cands:
                if os.access(c, os.X_OK) and run_capture([c, "--version"], 30)[0] == 0:
                    self.bun = c
                    break
        return None


def version_of(argv):
    rc, out, err = run_capture(argv, 30)
    return (out or err).splitlines()[0] if rc == 0 and (out or err) else None


def machine_facts(progs, targets):
    model = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem = int(line.split()[1]) // 1024
    except OSError:
        pass
    facts = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "kernel": platform.release(),
        "mem_mib": mem,
        "nofile_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[1],
        "shared_cores": "load generator, gateways and backends all run on the same CPUs "
                        "(loopback only, no pinning)",
        "python": platform.python_version(),
    }
    if "wsgated" in targets:
        facts["wsgated"] = version_of([progs.wsgated, "-V"])
    if "node" in targets and progs.node:
        facts["node"] = version_of([progs.node, "--version"])
        try:
            with open(os.path.join(progs.peers, "node_modules", "ws", "package.json")) as f:
                facts["ws"] = json.load(f).get("version")
        except (OSError, ValueError):
            pass
    if "bun" in targets and progs.bun:
        facts["bun"] = version_of([progs.bun, "--version"])
    if os.access(progs.backend, os.X_OK):
        rc, out, err = run_capture([progs.backend, "--self-test", "200000"], 60)
        j = last_json(out)
        if j and "backend_ceiling_msgs_per_s" in j:
            facts["backend_ceiling_msgs_per_s"] = j["backend_ceiling_msgs_per_s"]
    return facts


# ---------------------------------------------------------------------------
# JSON Web Tokens for connect_jwt

def run_sampled(procs, argv, name, logbase, times, sample, expect_s):
    """Run one loadgen to its end under procs, calling sample() at each of
    times (seconds after its start) while it runs. Return its exit status,
    the samples, and its stdout and stderr (kept in logbase.out and .err)."""
    out_path, err_path = logbase + ".out", logbase + ".err"
    samples = []
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        t0 = time.monotonic()
        p = procs.start(argv, stdout=out, stderr=err)
        for at in times:
            delay = t0 + at - time.monotonic()
            if delay > 0:
                try:
                    p.wait(delay)
                except subprocess.TimeoutExpired:
                    pass
            if p.poll() is not None:
                break
            samples.append(sample())
        try:
            p.wait(max(1.0, t0 + expect_s + 30 - time.monotonic()))
        except subprocess.TimeoutExpired:
            log("  %s: loadgen still running after %.0f s, stopping it"
                % (name, expect_s + 30))
        rc = procs.stop(p, timeout=3)
    with open(out_path) as f:
        out_text = f.read()
    with open(err_path, errors="replace") as f:
        err_text = f.read()
    return rc, samples, out_text, err_text


def bench_conf(title, workers, instance, port, sock, extra=""):
    """A wsgated configuration for a benchmark: limits raised, warnings only."""
    return """# %s
workers = %d;
shutdown_timeout = 2;
instance = "%s";
listen = {
  address = "127.0.0.1";
  port = %d;
  path = "%s";
};
backend = {
  socket = "%s";
  framing = "length-prefixed";
};
limits = {
  max_connections = 200000;
  max_connections_per_ip = 200000;
  max_send_queue_bytes = 16777216;
  # The load comes from one address and one client does the work of
  # many: no rate limits, as the peers have none.
  message_rate = 0;
  byte_rate = 0;
  connection_rate_per_ip = 0;
};
log = {
  level = "warning";
};
%s""" % (title, workers, instance, port, WS_PATH, sock, extra)


JWT_SECRET = b"wsgated-bench-secret-" + b"0123456789abcdef" * 2


def jwt_hs256(claims, secret=JWT_SECRET):
    """A compact HS256 JWS of claims, made with hmac."""
    def b64u(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    head = b64u(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = b64u(json.dumps(claims, separators=(",", ":")).encode())
    sig = hmac.new(secret, ("%s.%s" % (head, body)).encode(), hashlib.sha256).digest()
    return "%s.%s.%s" % (head, body, b64u(sig))


# ---------------------------------------------------------------------------
# A target: the gateway (or echo server) and its backend

class Stack:
    def __init__(self, target, progs, workdir, port, tag, jwt=None):
        self.target = target
        # wsgated only: a token that the jwt group of its config verifies.
        self.jwt = jwt
        self.progs = progs
        self.workdir = workdir
        self.port = port
        self.tag = tag
        self.sock = os.path.join(workdir, "%s.sock" % target)
        self.logdir = os.path.join(progs.builddir, "logs")
        self.proc = None
        self.backend = None

    def logpath(self, what):
        return os.path.join(self.logdir, "%s-%s.log" % (self.target, what))

    def write_conf(self):
        path = os.path.join(self.workdir, "wsgated-bench.conf")
        jwt = ""
        if self.jwt:
            secret = os.path.join(self.workdir, "jwt.secret")
            with open(secret, "wb") as f:
                f.write(JWT_SECRET)
            jwt = """jwt = {
  source = "cookie";
  key = "X-Token";
  secret_file = "%s";
  algorithms = [ "HS256" ];
};
context = {
  fields = (
    { name = "userId"; source = "jwt"; key = "sub"; required = true; }
  );
};
""" % secret
        with open(path, "w") as f:
            f.write(bench_conf("wsgated configuration of the benchmark (written "
                               "by bench/run.py)", 2, "bench", self.port, self.sock, jwt))
        return path

    def start(self):
        """Start the backend and the target; raise RuntimeError if it does not echo."""
        os.makedirs(self.logdir, exist_ok=True)
        t = self.target
        for what in ("server", "backend") if t in WITH_BACKEND else ("server",):
            with open(self.logpath(what), "a") as f:
                f.write("--- %s %s\n" % (self.tag, time.strftime("%H:%M:%S")))
        if t in WITH_BACKEND:
            try:
                os.unlink(self.sock)
            except FileNotFoundError:
                pass
            self.backend = PROCS.start([self.progs.backend, "--socket", self.sock,
                                        "--framing", "length-prefixed"],
                                       logpath=self.logpath("backend"))
            deadline = time.monotonic() + 10
            while not os.path.exists(self.sock):
                if self.backend.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("wsg-echo-backend did not create %s (see %s)"
                                       % (self.sock, self.logpath("backend")))
                time.sleep(0.02)
        env = dict(os.environ, PORT=str(self.port), SOCK=self.sock)
        if t == "wsgated":
            conf = self.write_conf()
            rc, out, err = run_capture([self.progs.wsgated, "-t", "-c", conf], 30)
            if rc != 0:
                raise RuntimeError("wsgated -t refused the bench config: %s" % (err or out))
            argv = [self.progs.wsgated, "-f", "-c", conf]
        elif t == "bun":
            if not self.progs.bun:
                raise RuntimeError("no bun binary (npm install in %s failed?)" % self.progs.peers)
            argv = [self.progs.bun, os.path.join(self.progs.peers, "bun-gateway.js"),
                    "--port", str(self.port), "--socket", self.sock]
        elif t == "node":
            if not self.progs.node:
                raise RuntimeError("node not found")
            argv = [self.progs.node, os.path.join(self.progs.peers, "node-gateway.js"),
                    "--port", str(self.port), "--socket", self.sock]
        elif t == "ceiling":
            argv = [self.progs.echo_server, "--port", str(self.port)]
        else:
            raise RuntimeError("unknown target %s" % t)
        self.proc = PROCS.start(argv, logpath=self.logpath("server"), env=env,
                                cwd=self.progs.peers if t in ("bun", "node") else None)
        deadline = time.monotonic() + 15
        while not ws_probe(self.port, timeout=1.0, token=self.jwt or "probe"):
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited with %s (see %s)"
                                   % (t, self.proc.returncode, self.logpath("server")))
            if time.monotonic() > deadline:
                raise RuntimeError("%s does not echo on port %d after 15 s" % (t, self.port))
            time.sleep(0.05)

    def alive(self):
        return (self.proc is not None and self.proc.poll() is None and
                (self.backend is None or self.backend.poll() is None))

    def stop(self):
        PROCS.stop(self.proc, timeout=6)
        PROCS.stop(self.backend, timeout=3)
        self.proc = self.backend = None


# ---------------------------------------------------------------------------
# Tests

LAT_RATE = 10000        # msgs/s of the fixed-rate latency test


def echo_tests():
    rate = LAT_RATE
    return [
        # name, wsg-loadgen echo options
        ("echo_100x8_64", dict(conns=100, window=8, size=64)),
        ("echo_1000x1_64", dict(conns=1000, window=1, size=64)),
        ("echo_100x8_4k", dict(conns=100, window=8, size=4096)),
        ("echo_1000x1_4k", dict(conns=1000, window=1, size=4096)),
        ("echo_100x8_64bin", dict(conns=100, window=8, size=64, binary=True)),
        ("echo_1000x1_64bin", dict(conns=1000, window=1, size=64, binary=True)),
        ("lat_rate", dict(conns=100, window=8, size=64, rate=rate)),
        ("lat_idle", dict(conns=1, window=1, size=64)),
    ]


CONNECT_CONCURRENCY = 50
TEST_GROUPS = ("echo", "latency", "connect", "hold", "fanout")


def test_group(name):
    return "latency" if name.startswith("lat_") else "echo"


class Runner:
    def __init__(self, args, progs):
        self.args = args
        self.progs = progs
        self.results = []        # one record per (round, target, test)

    def loadgen_base(self, port):
        a = [self.progs.loadgen, "--host", "127.0.0.1", "--port", str(port), "--path", WS_PATH]
        if self.args.loadgen_threads > 1:
            a += ["--threads", str(self.args.loadgen_threads)]
        return a

    def measure(self, stack, argv, name, window_start, window_end, expect_s):
        """Run one loadgen, sampling the target's and backend's CPU time over
        [window_start, window_end] seconds after its start."""
        sample = lambda: (time.monotonic(), cpu_seconds(stack.proc.pid),
                          cpu_seconds(stack.backend.pid) if stack.backend else None)
        rc, samples, out_text, err_text = run_sampled(
            PROCS, argv, name, os.path.join(stack.logdir, "loadgen"),
            (window_start, window_end), sample, expect_s)
        res = last_json(out_text)
        rec = {"rc": rc, "result": res, "argv": argv[1:]}
        if res is None:
            rec["stderr"] = err_text[-2000:]
        if len(samples) == 2 and None not in samples[0][:2] and None not in samples[1][:2]:
            wall = samples[1][0] - samples[0][0]
            rec["cpu_window_s"] = wall
            rec["cpu_target_s"] = samples[1][1] - samples[0][1]
            if samples[0][2] is not None and samples[1][2] is not None:
                rec["cpu_backend_s"] = samples[1][2] - samples[0][2]
            rate = res.get("rate") if res else None
            if rate:
                # CPU seconds per second of the window, per operation per second
                rec["cpu_us_per_op"] = rec["cpu_target_s"] / wall / rate * 1e6
                if "cpu_backend_s" in rec:
                    rec["backend_cpu_us_per_op"] = rec["cpu_backend_s"] / wall / rate * 1e6
        return rec

    def run_echo(self, stack, name, o):
        a = self.args
        argv = self.loadgen_base(stack.port) + [
            "--mode", "echo", "--conns", str(o["conns"]), "--window", str(o["window"]),
            "--size", str(o["size"]), "--duration", str(a.duration),
            "--warmup", str(a.warmup), "--src", SRC_ADDRS]
        if o.get("binary"):
            argv.append("--binary")
        if o.get("rate"):
            argv += ["--rate", str(o["rate"])]
        margin = min(0.25, a.duration / 8)
        return self.measure(stack, argv, name, a.warmup + margin,
                            a.warmup + a.duration - margin, a.warmup + a.duration)

    def run_connect(self, stack):
        a = self.args
        argv = self.loadgen_base(stack.port) + [
            "--mode", "connect", "--conns", str(CONNECT_CONCURRENCY),
            "--duration", str(a.duration), "--warmup", str(a.warmup), "--src", SRC_ADDRS]
        if stack.jwt:
            argv += ["--token", stack.jwt]
        margin = min(0.25, a.duration / 8)
        return self.measure(stack, argv, "connect", a.warmup + margin,
                            a.warmup + a.duration - margin, a.warmup + a.duration)

    def run_hold(self, stack, n):
        """Hold n idle connections from several processes; RSS before/after."""
        nproc = max(2, math.ceil(n / HOLD_PER_PROCESS))
        counts = [n // nproc + (1 if i < n % nproc else 0) for i in range(nproc)]
        time.sleep(0.5)
        before = rss_kib(stack.proc.pid)
        before_b = rss_kib(stack.backend.pid) if stack.backend else None
        procs = []
        logdir = stack.logdir
        hold_s = 600
        for i, c in enumerate(counts):
            out = open(os.path.join(logdir, "hold-%d.out" % i), "wb")
            err = open(os.path.join(logdir, "hold-%d.err" % i), "wb")
            argv = self.loadgen_base(stack.port) + [
                "--mode", "hold", "--conns", str(c), "--ramp", str(HOLD_RAMP),
                "--hold", str(hold_s), "--src", "127.0.0.%d" % (HOLD_SRC_BASE + i)]
            procs.append((PROCS.start(argv, stdout=out, stderr=err), out.name, err.name))
            out.close()
            err.close()
        deadline = time.monotonic() + 30 + max(counts) / HOLD_RAMP * 3
        ready = set()
        while len(ready) < len(procs) and time.monotonic() < deadline:
            for i, (p, outp, errp) in enumerate(procs):
                if i in ready:
                    continue
                with open(errp, "rb") as f:
                    if b"READY" in f.read():
                        ready.add(i)
                        continue
                if p.poll() is not None:
                    ready.add(i)         # gave up; its JSON (if any) says why
            time.sleep(0.1)
        rec = {"conns": n, "processes": nproc}
        if len(ready) < len(procs):
            rec["error"] = "%d of %d hold processes not ready in time" % (
                len(procs) - len(ready), len(procs))
        time.sleep(self.args.settle)
        after = rss_kib(stack.proc.pid)
        after_b = rss_kib(stack.backend.pid) if stack.backend else None
        opened = errors = 0
        results = []
        for p, outp, errp in procs:
            with open(outp) as f:
                j = last_json(f.read())
            results.append(j)
            if j:
                opened += j.get("open", 0)
                errors += j.get("errors", 0)
            else:
                errors += counts[len(results) - 1]
        for p, outp, errp in procs:
            PROCS.stop(p, timeout=20)
        rec.update({"open": opened, "errors": errors, "results": results,
                    "rss_before_kib": before, "rss_after_kib": after,
                    "backend_rss_before_kib": before_b, "backend_rss_after_kib": after_b})
        if opened and before is not None and after is not None:
            rec["kib_per_conn"] = (after - before) / opened
        if opened and before_b is not None and after_b is not None:
            rec["backend_kib_per_conn"] = (after_b - before_b) / opened
        return rec

    def start_marked(self, argv, logdir, tag):
        """Start argv with stdout and stderr in files; (proc, out, err)."""
        outp = os.path.join(logdir, "%s.out" % tag)
        errp = os.path.join(logdir, "%s.err" % tag)
        with open(outp, "wb") as out, open(errp, "wb") as err:
            p = PROCS.start(argv, stdout=out, stderr=err)
        return p, outp, errp

    @staticmethod
    def wait_marks(procs, mark, deadline):
        """Wait until each of procs printed mark on stderr, exited, or the
        deadline passed; return the indices of those that printed it."""
        marked, gone = set(), set()
        while len(marked) + len(gone) < len(procs) and time.monotonic() < deadline:
            for i, (p, outp, errp) in enumerate(procs):
                if i in marked or i in gone:
                    continue
                with open(errp, "rb") as f:
                    if mark in f.read():
                        marked.add(i)
                        continue
                if p.poll() is not None:
                    gone.add(i)
            time.sleep(0.02)
        return marked

    def fanout_echo_argv(self, port, seconds, warmup):
        return self.loadgen_base(port) + [
            "--mode", "echo", "--conns", str(FANOUT_ECHO_CONNS), "--window", "1",
            "--size", "64", "--rate", str(FANOUT_ECHO_RATE), "--duration", "%.2f" % seconds,
            "--warmup", "%.2f" % warmup, "--skip", "!", "--src", SRC_ADDRS]

    def run_fanout(self, stack):
        """Hold fanout_conns idle connections; ask the backend for
        fanout_count broadcasts, fanout_interval apart, while an echo at a
        fixed rate runs over a few other connections; the same echo before,
        without broadcasts, is the baseline."""
        a = self.args
        n, k = a.fanout_conns, a.fanout_count
        nproc = max(1, math.ceil(n / HOLD_PER_PROCESS))
        counts = [n // nproc + (1 if i < n % nproc else 0) for i in range(nproc)]
        logdir = stack.logdir
        rec = {"conns": n, "broadcasts": k, "interval_s": a.fanout_interval,
               "size": a.fanout_size, "processes": nproc}
        errors = 0
        procs = []
        trigger = None
        try:
            for i, c in enumerate(counts):
                argv = self.loadgen_base(stack.port) + [
                    "--mode", "fanout", "--conns", str(c), "--ramp", str(HOLD_RAMP),
                    "--expect", str(k), "--hold", "600",
                    "--src", "127.0.0.%d" % (FANOUT_SRC_BASE + i)]
                procs.append(self.start_marked(argv, logdir, "fanout-%d" % i))
            ready = self.wait_marks(procs, b"READY", time.monotonic() + 30 +
                                    max(counts) / HOLD_RAMP * 3)
            if len(ready) < len(procs):
                rec["error"] = "%d of %d fanout processes not ready in time" % (
                    len(procs) - len(ready), len(procs))
                return rec
            opened = ws_open(stack.port, timeout=5.0)
            if opened is None:
                rec["error"] = "trigger connection refused"
                return rec
            trigger = opened[0]
            trigger.setblocking(False)
            time.sleep(a.settle)

            # The baseline: the same echo, no broadcast.
            span = k * a.fanout_interval + 0.5
            warm = 0.5
            argv = self.fanout_echo_argv(stack.port, span, warm)
            base = self.start_marked(argv, logdir, "fanout-echo-base")
            time.sleep(warm + 0.1)
            c0, t0 = cpu_ns(stack.proc.pid), time.monotonic()
            try:
                base[0].wait(span + 30)
            except subprocess.TimeoutExpired:
                log("  fanout: baseline echo still running, stopping it")
            c1, t1 = cpu_ns(stack.proc.pid), time.monotonic()
            PROCS.stop(base[0], timeout=3)
            with open(base[1]) as f:
                rec["echo_base"] = last_json(f.read())
            idle_ns_per_s = (c1 - c0) / (t1 - t0) if None not in (c0, c1) else None

            # The broadcasts, while the same echo runs.
            fan = self.start_marked(argv, logdir, "fanout-echo")
            time.sleep(warm + 0.1)
            ns_len = len(str(time.monotonic_ns()))
            c0, t0 = cpu_ns(stack.proc.pid), time.monotonic()
            for seq in range(k):
                delay = t0 + seq * a.fanout_interval - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                # The broadcast is "!<ns> <seq> " and filler: fanout_size bytes.
                rest = "%d " % seq
                rest += "x" * max(0, a.fanout_size - (2 + ns_len + len(rest)))
                try:
                    while trigger.recv(65536):
                        pass        # the broadcasts reach this socket too
                except (BlockingIOError, InterruptedError):
                    pass
                trigger.setblocking(True)
                ws_send(trigger, (FANOUT_TRIGGER + rest).encode())
                trigger.setblocking(False)
            done = self.wait_marks(procs, b"DONE", time.monotonic() + 30)
            c1, t1 = cpu_ns(stack.proc.pid), time.monotonic()
            rec["all_delivered"] = len(done) == len(procs)
            if None not in (c0, c1, idle_ns_per_s):
                rec["cpu_window_s"] = t1 - t0
                # What the echo alone costs over the window is taken off.
                rec["cpu_ms_per_bcast"] = max(0.0, (c1 - c0) - idle_ns_per_s *
                                              (t1 - t0)) / k / 1e6
            try:
                fan[0].wait(max(1.0, t0 + span + 30 - time.monotonic()))
            except subprocess.TimeoutExpired:
                log("  fanout: echo still running, stopping it")
            PROCS.stop(fan[0], timeout=3)
            with open(fan[1]) as f:
                rec["echo_fan"] = last_json(f.read())
        finally:
            if trigger is not None:
                trigger.close()
            for p, outp, errp in procs:
                PROCS.stop(p, timeout=20)
        # Merge what each fanout process saw of each broadcast.
        results = []
        for i, (p, outp, errp) in enumerate(procs):
            with open(outp) as f:
                j = last_json(f.read())
            if not j or "broadcasts" not in j:
                errors += counts[i]
                j = None
            results.append(j)
        rec["fanout_results"] = results
        got = [j for j in results if j]
        rec["complete"] = sum(j["complete"] for j in got)
        rec["deliveries"] = sum(j["frames"] for j in got)
        errors += sum(j["errors"] for j in got)
        last, first = [], []
        for seq in range(k):
            bs = [b for j in got for b in j["broadcasts"] if b["seq"] == seq and b["received"]]
            if not bs:
                continue
            sent = bs[0]["sent_ns"]
            last.append((max(b["last_ns"] for b in bs) - sent) / 1e6)
            first.append((min(b["first_ns"] for b in bs) - sent) / 1e6)
        rec["last_ms_each"] = last
        if last:
            rec["last_ms"] = statistics.median(last)
            rec["last_ms_max"] = max(last)
            rec["first_ms"] = statistics.median(first)
        for key, res in (("base", rec.get("echo_base")), ("fan", rec.get("echo_fan"))):
            if not res:
                errors += 1
                continue
            errors += res.get("errors", 0)
            for q in ("p50_us", "p99_us", "max_us", "rate"):
                rec["lat_%s_%s" % (key, q)] = res.get(q)
        # Every socket must get every broadcast exactly once.
        missing = n * k - rec["deliveries"]
        if missing:
            rec["missing"] = missing
        rec["errors"] = errors + max(0, missing) + (n - rec["complete"])
        return rec

    def record(self, rnd, target, test, rec):
        rec.update({"round": rnd, "target": target, "test": test})
        self.results.append(rec)
        res = rec.get("result") or {}
        bits = []
        for k in ("rate", "handshakes", "p50_us", "p99_us", "errors"):
            if k in res:
                v = res[k]
                bits.append("%s=%s" % (k, ("%.0f" % v) if isinstance(v, float) else v))
        if "cpu_us_per_op" in rec:
            bits.append("cpu=%.2fus/op" % rec["cpu_us_per_op"])
        if "last_ms" in rec:
            bits.append("last=%.1fms (max %.1f) first=%.1fms complete=%d/%d" % (
                rec["last_ms"], rec["last_ms_max"], rec["first_ms"], rec["complete"],
                rec["conns"]))
            bits.append("echo p99 %s -> %s us" % (rec.get("lat_base_p99_us"),
                                                 rec.get("lat_fan_p99_us")))
            if "cpu_ms_per_bcast" in rec:
                bits.append("cpu=%.2fms/bcast" % rec["cpu_ms_per_bcast"])
            if rec.get("errors"):
                bits.append("errors=%d" % rec["errors"])
        if "kib_per_conn" in rec:
            bits.append("open=%d rss %s->%s KiB = %.2f KiB/conn" % (
                rec["open"], rec["rss_before_kib"], rec["rss_after_kib"], rec["kib_per_conn"]))
            if "backend_kib_per_conn" in rec:
                bits.append("backend %.2f KiB/conn" % rec["backend_kib_per_conn"])
        if rec.get("error"):
            bits.append("ERROR: " + rec["error"])
        elif "result" in rec and rec["result"] is None:
            bits.append("ERROR: no result (rc %s): %s" % (
                rec.get("rc"), (rec.get("stderr") or "").strip()[-300:]))
        log("  [%d] %-8s %-18s %s" % (rnd, target, test, " ".join(bits)))

    def run_connect_jwt(self, rnd, target, workdir, port):
        """connect again, on a wsgated that verifies a JWT at each upgrade."""
        tok = jwt_hs256({"sub": "bench-user", "iat": int(time.time()),
                         "exp": int(time.time()) + 86400})
        stack = Stack(target, self.progs, workdir, port, "round %d jwt" % rnd, jwt=tok)
        try:
            stack.start()
            self.record(rnd, target, "connect_jwt", self.run_connect(stack))
        except (RuntimeError, OSError) as e:
            self.record(rnd, target, "connect_jwt", {"error": "start: %s" % e})
        finally:
            stack.stop()

    def run_target_round(self, rnd, target, workdir, port):
        a = self.args
        tests = [(n, o) for n, o in echo_tests() if test_group(n) in a.tests]
        if "connect" in a.tests:
            tests.append(("connect", None))
        if tests:
            stack = Stack(target, self.progs, workdir, port, "round %d" % rnd)
            try:
                stack.start()
            except (RuntimeError, OSError) as e:
                for name, o in tests:
                    self.record(rnd, target, name, {"error": "start: %s" % e})
                tests = []
            try:
                for name, o in tests:
                    if not stack.alive():
                        self.record(rnd, target, name, {"error": "target died"})
                    elif o is None:
                        self.record(rnd, target, name, self.run_connect(stack))
                    else:
                        self.record(rnd, target, name, self.run_echo(stack, name, o))
            finally:
                stack.stop()
        if "connect" in a.tests and target == "wsgated":
            self.run_connect_jwt(rnd, target, workdir, port)
        if "fanout" in a.tests and target in FANOUT_TARGETS:
            stack = Stack(target, self.progs, workdir, port, "round %d fanout" % rnd)
            try:
                stack.start()
                self.record(rnd, target, "fanout", self.run_fanout(stack))
            except (RuntimeError, OSError) as e:
                self.record(rnd, target, "fanout", {"error": str(e)})
            finally:
                stack.stop()
        if "hold" not in a.tests:
            return
        # Each RSS point on a freshly started target.
        for key, n in (("hold_10k", a.hold_conns), ("hold_max", a.hold_max)):
            if n <= 0:
                continue
            stack = Stack(target, self.progs, workdir, port, "round %d %s" % (rnd, key))
            try:
                stack.start()
                self.record(rnd, target, key, self.run_hold(stack, n))
            except (RuntimeError, OSError) as e:
                self.record(rnd, target, key, {"error": str(e)})
            finally:
                stack.stop()


# ---------------------------------------------------------------------------
# Summary

def metric_rows(args):
    rows = [
        ("echo_100x8_64", "rate", "echo msgs/s, 100 conns × 8 in flight, 64 B text", "hi"),
        ("echo_1000x1_64", "rate", "echo msgs/s, 1000 conns × 1, 64 B text", "hi"),
        ("echo_100x8_4k", "rate", "echo msgs/s, 100 × 8, 4 KiB text", "hi"),
        ("echo_1000x1_4k", "rate", "echo msgs/s, 1000 × 1, 4 KiB text", "hi"),
        ("echo_100x8_64bin", "rate", "echo msgs/s, 100 × 8, 64 B binary", "hi"),
        ("echo_1000x1_64bin", "rate", "echo msgs/s, 1000 × 1, 64 B binary", "hi"),
        ("lat_rate", "p50_us", "round trip p50 µs at 10k msgs/s, 100 conns", "lo"),
        ("lat_rate", "p99_us", "round trip p99 µs at 10k msgs/s, 100 conns", "lo"),
        ("lat_rate", "rate", "  (rate achieved, msgs/s)", "hi"),
        ("lat_idle", "p50_us", "round trip p50 µs unloaded, 1 conn × 1", "lo"),
        ("lat_idle", "p99_us", "round trip p99 µs unloaded, 1 conn × 1", "lo"),
        ("connect", "rate", "handshakes/s (%d in parallel)" % CONNECT_CONCURRENCY, "hi"),
        ("connect_jwt", "rate", "  with an HS256 JWT verified (wsgated only)", "hi"),
        ("hold_10k", "kib_per_conn", "KiB RSS per idle conn at %d conns" % args.hold_conns, "lo"),
        ("hold_10k", "backend_kib_per_conn", "  its backend's KiB per conn", "lo"),
        ("hold_max", "kib_per_conn", "KiB RSS per idle conn at %d conns" % args.hold_max, "lo"),
        ("hold_max", "backend_kib_per_conn", "  its backend's KiB per conn", "lo"),
        ("hold_max", "rss_after_kib", "  RSS with %d conns, KiB" % args.hold_max, "lo"),
    ]
    for test, label in (("echo_100x8_64", "100 × 8, 64 B text"),
                        ("echo_1000x1_64", "1000 × 1, 64 B text"),
                        ("echo_100x8_4k", "100 × 8, 4 KiB text"),
                        ("echo_1000x1_4k", "1000 × 1, 4 KiB text"),
                        ("echo_100x8_64bin", "100 × 8, 64 B binary"),
                        ("echo_1000x1_64bin", "1000 × 1, 64 B binary"),
                        ("lat_rate", "at 10k msgs/s")):
        rows.append((test, "cpu_us_per_op", "target CPU µs per msg, " + label, "lo"))
    rows.append(("connect", "cpu_us_per_op", "target CPU µs per handshake", "lo"))
    rows.append(("connect_jwt", "cpu_us_per_op", "  with an HS256 JWT verified (wsgated only)",
                 "lo"))
    rows.append(("echo_100x8_64", "backend_cpu_us_per_op",
                 "backend CPU µs per msg, 100 × 8, 64 B text", "lo"))
    n, k = args.fanout_conns, args.fanout_count
    rows += [
        ("fanout", "last_ms", "broadcast of %d B to %d conns: ms from the backend's send "
         "to the last conn, median of %d" % (args.fanout_size, n, k), "lo"),
        ("fanout", "last_ms_max", "  the slowest of the %d broadcasts, ms" % k, "lo"),
        ("fanout", "first_ms", "  ms to the first conn, median", "lo"),
        ("fanout", "complete", "  conns that got every broadcast exactly once", "hi"),
        ("fanout", "lat_base_p50_us", "round trip p50 µs, %d msgs/s over %d other conns, "
         "no broadcast" % (FANOUT_ECHO_RATE, FANOUT_ECHO_CONNS), "lo"),
        ("fanout", "lat_base_p99_us", "round trip p99 µs, the same, no broadcast", "lo"),
        ("fanout", "lat_fan_p50_us", "round trip p50 µs, the same, during the broadcasts",
         "lo"),
        ("fanout", "lat_fan_p99_us", "round trip p99 µs, the same, during the broadcasts",
         "lo"),
        ("fanout", "lat_fan_max_us", "  max µs during the broadcasts", "lo"),
        ("fanout", "cpu_ms_per_bcast", "target CPU ms per broadcast to %d conns" % n, "lo"),
    ]
    return rows


def value_of(rec, key):
    if key in rec:
        return rec[key]
    res = rec.get("result") or {}
    return res.get(key)


def summarise(results, targets, args):
    """Median over rounds of each metric; and the error count per cell."""
    summary = {}
    for test, key, label, better in metric_rows(args):
        cell = summary.setdefault("%s.%s" % (test, key), {})
        for t in targets:
            vals, errs = [], 0
            for rec in results:
                if rec["target"] != t or rec["test"] != test:
                    continue
                v = value_of(rec, key)
                res = rec.get("result") or {}
                e = res.get("errors", 0) if rec.get("result") else rec.get("errors", 0)
                if rec.get("error") or ("result" in rec and rec["result"] is None):
                    e = (e or 0) + 1
                errs += e or 0
                if isinstance(v, (int, float)):
                    vals.append(v)
            cell[t] = {"median": statistics.median(vals) if vals else None,
                       "values": vals, "errors": errs}
        b, w = cell.get("bun", {}).get("median"), cell.get("wsgated", {}).get("median")
        cell["wsgated_over_bun"] = (w / b) if (w is not None and b) else None
    return summary


def fmt(v, key):
    if v is None:
        return "–"
    if key in ("rate",):
        return "{:,.0f}".format(v)
    if key.endswith("_us") and "cpu" not in key:
        return "{:,.0f}".format(v)
    if key in ("rss_after_kib", "complete"):
        return "{:,.0f}".format(v)
    if v >= 100:
        return "%.0f" % v
    if v >= 10:
        return "%.1f" % v
    return "%.2f" % v


def table(summary, targets, args):
    head = ["metric (median of %d round%s)" % (args.rounds, "s" if args.rounds > 1 else "")]
    head += targets
    if "wsgated" in targets and "bun" in targets:
        head.append("wsgated / bun")
    lines = ["| " + " | ".join(head) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for test, key, label, better in metric_rows(args):
        cell = summary["%s.%s" % (test, key)]
        if all(cell[t]["median"] is None and not cell[t]["errors"] for t in targets):
            continue
        row = [label + (" ↑" if better == "hi" and not label.startswith(" ") else
                        " ↓" if not label.startswith(" ") else "")]
        for t in targets:
            s = fmt(cell[t]["median"], key)
            if cell[t]["errors"]:
                s += " (%d err)" % cell[t]["errors"]
            row.append(s)
        if len(head) > len(targets) + 1:
            r = cell["wsgated_over_bun"]
            row.append("–" if r is None else "%.2f×" % r)
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------

def main():
    default_builddir = os.path.normpath(os.path.join(HERE, "..", "_build", "bench"))
    ap = argparse.ArgumentParser(
        description="Benchmark wsgated against Bun, Node.js (ws) and a C echo server.")
    ap.add_argument("--builddir", default=default_builddir,
                    help="where wsg-loadgen, wsg-echo-backend and wsg-echo-server are, "
                         "and where results.json, logs/ and peers/ go (default %(default)s)")
    ap.add_argument("--wsgated", help="wsgated binary (default BUILDDIR/../src/wsgated)")
    ap.add_argument("--loadgen", help="load generator (default BUILDDIR/wsg-loadgen)")
    ap.add_argument("--backend", help="echo backend (default BUILDDIR/wsg-echo-backend)")
    ap.add_argument("--echo-server", help="echo server (default BUILDDIR/wsg-echo-server)")
    ap.add_argument("--node", help="node binary (default: node on PATH)")
    ap.add_argument("--bun", help="bun binary (default: the one npm installs in BUILDDIR/peers)")
    ap.add_argument("--no-npm", action="store_true",
                    help="do not run npm install; use what is in BUILDDIR/peers/node_modules")
    ap.add_argument("--targets", default=",".join(ALL_TARGETS),
                    help="comma-separated subset of %s" % ",".join(ALL_TARGETS))
    ap.add_argument("--tests", default=",".join(TEST_GROUPS),
                    help="comma-separated subset of %s" % ",".join(TEST_GROUPS))
    ap.add_argument("--rounds", type=int, help="rounds (default 3; 1 with --quick)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: short runs (1.5 s), one round")
    ap.add_argument("--duration", type=float, help="seconds per measurement (default 5; 1.5 quick)")
    ap.add_argument("--warmup", type=float, help="warm-up seconds of echo runs (default 1; 0.5 quick)")
    ap.add_argument("--hold-conns", type=int, help="idle connections, first RSS point (default 10000)")
    ap.add_argument("--hold-max", type=int,
                    help="idle connections, second RSS point: the most one process "
                         "allows (default 19000)")
    ap.add_argument("--fanout-conns", type=int, default=10000,
                    help="fanout: idle connections that get each broadcast (default 10000)")
    ap.add_argument("--fanout-count", type=int, default=10,
                    help="fanout: broadcasts per run, at most 64 (default 10)")
    ap.add_argument("--fanout-interval", type=float, default=0.3,
                    help="fanout: seconds between broadcasts (default 0.3)")
    ap.add_argument("--fanout-size", type=int, default=64,
                    help="fanout: bytes of each broadcast, at least 32 (default 64)")
    ap.add_argument("--settle", type=float, default=2.0,
                    help="seconds to wait after all idle connections are open (default 2)")
    ap.add_argument("--loadgen-threads", type=int, default=1, help="wsg-loadgen --threads (default 1)")
    ap.add_argument("--port", type=int, default=27180, help="first port to try (default 27180)")
    ap.add_argument("--output", help="results file (default BUILDDIR/results.json)")
    a = ap.parse_args()

    a.rounds = a.rounds or (1 if a.quick else 3)
    a.duration = a.duration or (1.5 if a.quick else 5.0)
    a.warmup = a.warmup if a.warmup is not None else (0.5 if a.quick else 1.0)
    a.hold_conns = a.hold_conns if a.hold_conns is not None else 10000
    a.hold_max = a.hold_max if a.hold_max is not None else 19000
    if a.quick:
        a.settle = min(a.settle, 1.0)
    targets = [t.strip() for t in a.targets.split(",") if t.strip()]
    bad = [t for t in targets if t not in ALL_TARGETS]
    if bad or not targets:
        ap.error("unknown target(s): %s" % ",".join(bad))
    a.tests = [t.strip() for t in a.tests.split(",") if t.strip()]
    bad = [t for t in a.tests if t not in TEST_GROUPS]
    if bad or not a.tests:
        ap.error("unknown test group(s): %s" % ",".join(bad))
    if a.rounds < 1 or a.duration < 1:
        ap.error("--rounds must be >= 1 and --duration >= 1")
    if not (1 <= a.fanout_count <= 64 and a.fanout_conns >= 1 and
            0.01 <= a.fanout_interval <= 10 and 32 <= a.fanout_size <= 4096):
        ap.error("--fanout-count must be from 1 to 64, --fanout-conns >= 1, "
                 "--fanout-interval from 0.01 to 10 and --fanout-size from 32 to 4096")

    progs = Programs(a)
    os.makedirs(progs.builddir, exist_ok=True)
    missing = progs.check(targets)
    if missing:
        sys.exit("run.py: missing: %s (make bench builds them)" % ", ".join(missing))
    notes = []
    if "bun" in targets or "node" in targets:
        err = progs.install_peers(a.no_npm)
        if err:
            notes.append(err)
            log("warning: " + err)
    logdir = os.path.join(progs.builddir, "logs")
    os.makedirs(logdir, exist_ok=True)

    def on_signal(signum, frame):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, on_signal)

    facts = machine_facts(progs, targets)
    print("## Machine\n")
    for k, v in facts.items():
        if v is not None:
            print("- %s: %s" % (k, v))
    print("- load generator: %s, %d thread(s); %s s runs after %s s warm-up; "
          "idle connections from %d-connection processes on 127.0.0.%d+"
          % (os.path.basename(progs.loadgen), a.loadgen_threads, a.duration, a.warmup,
             HOLD_PER_PROCESS, HOLD_SRC_BASE))
    print(flush=True)
    n_echo = sum(1 for n, o in echo_tests() if test_group(n) in a.tests)
    per_round = len(targets) * (
        (n_echo + ("connect" in a.tests)) * (a.duration + a.warmup + 0.7) +
        ("connect" in a.tests and "wsgated" in targets) / len(targets) *
        (a.duration + a.warmup + 1.5) +
        ("hold" in a.tests) * (2 * (3 + a.settle) + (a.hold_conns + a.hold_max) / 4000) +
        ("fanout" in a.tests) * len(set(targets) & set(FANOUT_TARGETS)) / len(targets) *
        (12 + a.settle + 2 * a.fanout_count * a.fanout_interval + a.fanout_conns / 4000))
    log("%d round(s) of %s: about %.0f minutes" % (a.rounds, ",".join(targets),
                                                    a.rounds * per_round / 60))

    runner = Runner(a, progs)
    workdir = tempfile.mkdtemp(prefix="wsg-bench-")
    ports = {}
    p = a.port
    for t in targets:
        ports[t] = free_port(p)
        p = ports[t] + 1
    started = time.time()
    try:
        for rnd in range(1, a.rounds + 1):
            k = (rnd - 1) % len(targets)
            order = targets[k:] + targets[:k]
            log("round %d of %d: %s" % (rnd, a.rounds, ", ".join(order)))
            for t in order:
                runner.run_target_round(rnd, t, workdir, ports[t])
    except KeyboardInterrupt:
        notes.append("interrupted")
        log("interrupted; stopping everything")
    finally:
        PROCS.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)

    summary = summarise(runner.results, targets, a)
    for t in targets:
        got = summary["lat_rate.rate"][t]["median"]
        if got is not None and got < 0.95 * LAT_RATE:
            notes.append("%s sustained only %.0f of the %d msgs/s of the fixed-rate latency test"
                         % (t, got, LAT_RATE))
    out = {
        "machine": facts,
        "config": {"targets": targets, "rounds": a.rounds, "quick": a.quick,
                   "duration_s": a.duration, "warmup_s": a.warmup,
                   "hold_conns": a.hold_conns, "hold_max": a.hold_max,
                   "connect_concurrency": CONNECT_CONCURRENCY,
                   "fanout": {"conns": a.fanout_conns, "broadcasts": a.fanout_count,
                              "interval_s": a.fanout_interval, "size": a.fanout_size,
                              "echo_conns": FANOUT_ECHO_CONNS,
                              "echo_rate": FANOUT_ECHO_RATE},
                   "loadgen_threads": a.loadgen_threads,
                   "tests": {n: o for n, o in echo_tests()},
                   "programs": {"wsgated": progs.wsgated, "loadgen": progs.loadgen,
                                "backend": progs.backend, "echo_server": progs.echo_server,
                                "bun": progs.bun, "node": progs.node},
                   "elapsed_s": round(time.time() - started, 1)},
        "notes": notes,
        "summary": summary,
        "runs": runner.results,
    }
    output = a.output or os.path.join(progs.builddir, "results.json")
    with open(output, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")

    print("## Results\n")
    print(table(summary, targets, a))
    print()
    errs = [r for r in runner.results if r.get("error") or
            ("result" in r and r["result"] is None) or
            (r.get("result") or {}).get("errors") or r.get("errors")]
    if errs:
        print("%d run(s) had errors; see %s and %s" % (len(errs), output, logdir))
        shown = set()
        for r in errs:
            msg = r.get("error") or ("no result from wsg-loadgen" if "result" in r and
                                     r["result"] is None else "%s errors" % (
                                         (r.get("result") or {}).get("errors") or r.get("errors")))
            if (r["target"], msg) not in shown:
                shown.add((r["target"], msg))
                print("- %s, round %d, %s: %s" % (r["target"], r["round"], r["test"], msg))
    for n in notes:
        print("note: " + n)
    print("raw results: %s" % output)
    return 1 if errs or "interrupted" in notes else 0


if __name__ == "__main__":
    sys.exit(main())
