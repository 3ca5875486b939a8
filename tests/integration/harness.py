"""Shared helpers for the wsgated integration tests.

Each test file is a unittest module that ends with ``harness.main()``.  The
module runs the real daemon on a loopback ephemeral port (``Gateway``), a real
Unix-socket backend in a thread (``Backend``) and WebSocket clients built on
the ``websockets`` library (``ws_connect``), or raw sockets when the test
needs bytes that a well-behaved client would never send (``http_raw``,
``RawWebSocket``).

Results are printed as TAP version 13 on stdout so that automake's TAP
driver counts every case.  Environment:

  WSGATED   path of the daemon binary (required; without it every file
            reports "1..0 # SKIP").
  srcdir    top source directory (for conf/ and examples/).
  TMPDIR    where the per-test directories are made.
  WSGATE_TEST_TIMEOUT  seconds for the default bound on waits (10).
  WSGATE_TEST_KEEP     if set, keep each test's directory (config, log).

Every wait is bounded.  Only processes started here are signalled, by PID.
"""

import asyncio
import base64
import hashlib
import json
import os
import re
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import websockets
import websockets.exceptions

WSGATED = os.environ.get("WSGATED", "")
SRCDIR = os.environ.get(
    "srcdir",
    os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")))

# Default bound for waits that should succeed almost at once; raise it for
# slow builds (e.g. --enable-sanitizers) with WSGATE_TEST_TIMEOUT=30.
TIMEOUT = float(os.environ.get("WSGATE_TEST_TIMEOUT") or 10)

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC11B85"


# ---------------------------------------------------------------------------
# TAP runner
# ---------------------------------------------------------------------------

class TAPResult(unittest.TestResult):
    """Print one TAP line per test as soon as it finishes."""

    def __init__(self, stream):
        super().__init__()
        self.stream = stream
        self.count = 0
        self._problems = []
        self._skip = None

    def _out(self, line):
        self.stream.write(line + "\n")
        self.stream.flush()

    @staticmethod
    def _name(test):
        if isinstance(test, unittest.TestCase):
            return "%s.%s" % (type(test).__name__, test._testMethodName)
        return str(test)          # setUpClass errors and the like

    def _diagnostics(self, test):
        """Extra text from the test (e.g. the daemon's log tail)."""
        fn = getattr(test, "failure_diagnostics", None)
        if fn is None:
            return ""
        try:
            return fn()
        except Exception as e:                    # never hide the real failure
            return "(diagnostics failed: %r)" % (e,)

    def startTest(self, test):
        super().startTest(test)
        self._problems = []
        self._skip = None

    def _problem(self, test, err, what):
        text = "%s: %s" % (what, self._exc_info_to_string(err, test))
        extra = self._diagnostics(test)
        if extra:
            text += "\n" + extra
        self._problems.append(text)

    def addError(self, test, err):
        super().addError(test, err)
        if not isinstance(test, unittest.TestCase):
            # A class or module fixture failed: no startTest/stopTest pair.
            self._problems = []
            self._problem(test, err, "error")
            self._emit(test)
            return
        self._problem(test, err, "error")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._problem(test, err, "failure")

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            self._problem(subtest, err,
                          "failure" if issubclass(err[0], test.failureException) else "error")

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        if not isinstance(test, unittest.TestCase):
            self.count += 1
            self._out("ok %d - %s # SKIP %s" % (self.count, self._name(test), reason))
            return
        self._skip = reason

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self._skip = "TODO expected failure"

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._problems.append("unexpected success")

    def _emit(self, test):
        self.count += 1
        name = self._name(test)
        if self._problems:
            self._out("not ok %d - %s" % (self.count, name))
            for text in self._problems:
                for line in text.rstrip("\n").split("\n"):
                    self._out("# " + line)
        elif self._skip is not None and self._skip.startswith("TODO"):
            self._out("not ok %d - %s # %s" % (self.count, name, self._skip))
        elif self._skip is not None:
            self._out("ok %d - %s # SKIP %s" % (self.count, name, self._skip))
        else:
            self._out("ok %d - %s" % (self.count, name))
        self._problems = []
        self._skip = None

    def stopTest(self, test):
        super().stopTest(test)
        self._emit(test)


def main():
    """Run the calling module's tests and print TAP; exit 0 iff all passed."""
    out = sys.stdout
    out.write("TAP version 13\n")
    if not WSGATED:
        out.write("1..0 # SKIP WSGATED is not set\n")
        sys.exit(0)
    if not os.access(WSGATED, os.X_OK):
        out.write("1..0 # SKIP WSGATED=%s is not an executable file\n" % WSGATED)
        sys.exit(0)
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules["__main__"])
    result = TAPResult(out)
    try:
        suite.run(result)
    finally:
        _loop_stop()
    # The plan goes last: a fixture error may change the number of lines.
    out.write("1..%d\n" % result.count)
    out.flush()
    sys.exit(0 if result.wasSuccessful() else 1)


# ---------------------------------------------------------------------------
# Small utilities
# ---------------------------------------------------------------------------

def wait_until(predicate, timeout=TIMEOUT, interval=0.01, what="condition"):
    """Poll predicate() until it returns a true value; return that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1f s waiting for %s" % (timeout, what))
        time.sleep(interval)


_ports_given = set()


def free_port(host="127.0.0.1"):
    """A loopback TCP port that was free a moment ago, and that this process
    has not handed out before: two calls in a row (a gateway's port and its
    admin port) must not get the same one back from the kernel."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(100):
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port not in _ports_given:
            _ports_given.add(port)
            return port
    raise RuntimeError("no fresh loopback port after 100 tries")


def have_ipv6_loopback():
    try:
        free_port("::1")
        return True
    except OSError:
        return False


def make_tempdir():
    """A fresh directory under TMPDIR, short enough for a Unix socket path."""
    d = tempfile.mkdtemp(prefix="wsgated-test-")
    # sun_path holds 108 bytes; a long TMPDIR would make bind() fail with a
    # misleading error, so fall back to /tmp in that (rare) case.
    if len(os.path.join(d, "backend.sock").encode()) > 100:
        shutil.rmtree(d, ignore_errors=True)
        d = tempfile.mkdtemp(prefix="wsgated-test-", dir="/tmp")
    return d


def now_ms():
    return int(time.time() * 1000)


# ---------------------------------------------------------------------------
# Configuration rendering (libconfig syntax)
# ---------------------------------------------------------------------------

def libconfig_value(value, indent=""):
    """Render a Python value as libconfig text.

    bool -> true/false, int, float, str (escaped), a list of scalars ->
    array [ ... ], a list of dicts -> list ( { ... }, ... ), dict -> group.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        s = (value.replace("\\", "\\\\").replace('"', '\\"')
             .replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t"))
        return '"%s"' % s
    if isinstance(value, dict):
        inner = indent + "  "
        body = "".join("%s%s = %s;\n" % (inner, k, libconfig_value(v, inner))
                       for k, v in value.items())
        return "{\n%s%s}" % (body, indent)
    if isinstance(value, (list, tuple)):
        if any(isinstance(v, dict) for v in value):
            items = ",\n".join(indent + "  " + libconfig_value(v, indent + "  ") for v in value)
            return "(\n%s\n%s)" % (items, indent) if value else "( )"
        return "[ %s ]" % ", ".join(libconfig_value(v) for v in value)
    raise TypeError("cannot render %r in libconfig syntax" % (value,))


def render_config(settings):
    """Render a dict of top-level settings as a libconfig file."""
    return "".join("%s = %s;\n" % (k, libconfig_value(v)) for k, v in settings.items())


def merge(base, overrides):
    """Deep-merge overrides into a copy of base; a value of None deletes."""
    out = dict(base)
    for k, v in (overrides or {}).items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


# ---------------------------------------------------------------------------
# The daemon
# ---------------------------------------------------------------------------

class Gateway:
    """One wsgated process on a free loopback port, in its own temp dir.

    config is either a dict of overrides merged into the test defaults below,
    or raw libconfig text in which @PORT@ and @SOCKET@ are replaced.  env:
    variables added to the daemon's environment (None: removed).
    """

    def __init__(self, config=None, framing="length-prefixed", workers=2, start=True,
                 dir=None, backend_path=None, env=None):
        self.env = env
        self.dir = dir or make_tempdir()
        self._own_dir = dir is None
        # The address the tests connect to: listen.address when it is a
        # loopback literal (e.g. "::1"), else 127.0.0.1.
        self.host = "127.0.0.1"
        if isinstance(config, dict):
            addr = config.get("listen", {}).get("address")
            if addr in ("::1", "127.0.0.1"):
                self.host = addr
        self.port = free_port(self.host)
        # A relative backend_path is taken inside the temp dir.
        self.backend_path = os.path.join(self.dir, backend_path or "backend.sock")
        self.conf_path = os.path.join(self.dir, "wsgate.conf")
        self.log_path = os.path.join(self.dir, "wsgated.log")
        self.proc = None
        self.returncode = None
        self.workers = None if isinstance(config, str) else workers
        self.framing = framing
        self.write_config(config)
        if start:
            self.start()

    def write_config(self, config=None):
        """(Re)write the config file: the test defaults merged with config."""
        if isinstance(config, str):
            text = config.replace("@PORT@", str(self.port)).replace("@SOCKET@", self.backend_path)
        else:
            defaults = {
                "workers": self.workers,
                "shutdown_timeout": 2,
                "listen": {"address": "127.0.0.1", "port": self.port},
                "backend": {"socket": self.backend_path, "framing": self.framing,
                            "reconnect_min": 0.05, "reconnect_max": 0.2},
                "log": {"level": "debug"},
            }
            text = render_config(merge(defaults, config))
        with open(self.conf_path, "w") as f:
            f.write(text)

    @property
    def url(self):
        host = "[%s]" % self.host if ":" in self.host else self.host
        return "ws://%s:%d/ws" % (host, self.port)

    # Run in the child before exec (e.g. to lower its file limit).
    preexec_fn = None
    # Descriptors the daemon inherits, as subprocess.Popen's pass_fds.
    pass_fds = ()

    def command(self):
        """The command line that runs the daemon (a subclass may wrap it)."""
        return [WSGATED, "-f", "-vv", "-c", self.conf_path]

    def start(self, timeout=TIMEOUT, wait=True):
        """Start the daemon and, with wait, wait until its port answers."""
        log = open(self.log_path, "ab")
        env = None
        if self.env:
            env = dict(os.environ)
            env.update(self.env)
            env = {k: v for k, v in env.items() if v is not None}
        try:
            self.proc = subprocess.Popen(
                self.command(), env=env, pass_fds=self.pass_fds,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=self.preexec_fn)
        finally:
            log.close()
        self.returncode = None
        if not wait:
            return
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                self.returncode = self.proc.returncode
                raise RuntimeError("wsgated exited with %d during startup:\n%s"
                                   % (self.returncode, self.log_tail()))
            if self._probe():
                return
            if time.monotonic() >= deadline:
                raise RuntimeError("wsgated did not listen on port %d within %.0f s:\n%s"
                                   % (self.port, timeout, self.log_tail()))
            time.sleep(0.02)

    def _probe(self):
        """True once the daemon answers a request and closes the connection.

        A whole exchange rather than a bare connect, so that the probe's
        connection no longer counts against limits.max_connections when
        the test starts.
        """
        try:
            with socket.create_connection((self.host, self.port), timeout=2) as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                while s.recv(4096):
                    pass
                return True
        except OSError:
            return False

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, signum):
        if self.running():
            os.kill(self.proc.pid, signum)

    def wait(self, timeout=TIMEOUT):
        """Wait for the process to exit; return its status (raise on timeout)."""
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("wsgated (pid %d) still running after %.1f s"
                                 % (self.proc.pid, timeout))
        return self.returncode

    def stop(self, timeout=TIMEOUT):
        """SIGTERM, wait (bounded) and return the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
        try:
            return self.wait(timeout)
        except AssertionError:
            self.kill()
            raise

    def kill(self):
        """SIGKILL the daemon (by its PID) and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            try:
                self.proc.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
        if self.proc is not None:
            self.returncode = self.proc.returncode

    def close(self):
        """Kill if still running and remove the temp dir."""
        self.kill()
        if self._own_dir and not os.environ.get("WSGATE_TEST_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_size(self):
        """Current length of the log text, to search only what follows."""
        return len(self.log_text())

    def log_tail(self, lines=60):
        return "\n".join(self.log_text().splitlines()[-lines:])

    def wait_log(self, regex, timeout=TIMEOUT, since=0):
        """Wait until regex matches the log text after offset since."""
        rx = re.compile(regex)

        def found():
            return rx.search(self.log_text()[since:])
        try:
            return wait_until(found, timeout, interval=0.02, what="log /%s/" % regex)
        except AssertionError as e:
            raise AssertionError("%s; log tail:\n%s" % (e, self.log_tail(30)))


# ---------------------------------------------------------------------------
# A backend
# ---------------------------------------------------------------------------

def encode_frame(obj, framing):
    """One frame in the given framing from a JSON object or raw bytes."""
    if isinstance(obj, (bytes, bytearray)):
        payload = bytes(obj)
    else:
        payload = json.dumps(obj, separators=(",", ":")).encode()
    if framing == "ndjson":
        return payload if payload.endswith(b"\n") else payload + b"\n"
    return struct.pack(">I", len(payload)) + payload


class BackendConn:
    """One gateway connection accepted by a Backend."""

    def __init__(self, index, sock):
        self.index = index
        self.sock = sock
        self.buf = b""
        self.closed = False
        self.wlock = threading.Lock()

    def __repr__(self):
        return "<BackendConn %d%s>" % (self.index, " closed" if self.closed else "")


class Backend:
    """A Unix-socket backend served by a background thread.

    Every frame received is parsed and recorded in order in ``frames`` as a
    dict with an extra key ``_conn`` (the index of the connection that
    carried it).  Frames that are not valid JSON are recorded in ``errors``.
    With echo on, every text or binary ``message`` is answered with a
    ``send`` of the same data to the same socketId.  With refuse_over set,
    a length prefix over it makes the backend drop the connection, as a
    backend with a frame limit of its own does (at most refuse_times
    times, if given).
    """

    def __init__(self, path, framing="length-prefixed", echo=False, start=True,
                 refuse_over=None, refuse_times=None):
        self.path = path
        self.framing = framing
        self.echo = echo
        self.refuse_over = refuse_over
        self.refuse_times = refuse_times
        self.refused = 0                # connections dropped for a frame
        self.cond = threading.Condition()
        self.frames = []
        self.errors = []
        self.hellos = []                # hello frames, one per connection
        self.conns = []            # every connection ever accepted
        self.by_socket = {}        # socketId -> BackendConn that carried it
        self._thread = None
        self._listener = None
        self._wake_r = self._wake_w = None
        self._stopping = False
        if start:
            self.start()

    # -- lifecycle ---------------------------------------------------------

    def start(self):
        if os.path.exists(self.path):
            os.unlink(self.path)
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        lst = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        lst.bind(self.path)
        lst.listen(64)
        lst.setblocking(False)
        self._listener = lst
        self._wake_r, self._wake_w = socket.socketpair()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="backend", daemon=True)
        self._thread.start()

    def stop(self):
        """Close the listener and every connection and unlink the path."""
        if self._thread is None:
            return
        self._stopping = True
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        self._thread.join(TIMEOUT)
        self._thread = None
        for s in (self._wake_r, self._wake_w):
            s.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def restart(self):
        self.stop()
        self.start()

    def _run(self):
        sel = selectors.DefaultSelector()
        sel.register(self._listener, selectors.EVENT_READ, None)
        sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        live = []
        try:
            while not self._stopping:
                for key, _ in sel.select(timeout=0.5):
                    if key.data == "wake":
                        continue
                    if key.data is None:
                        self._accept(sel, live)
                    else:
                        self._readable(sel, live, key.data)
        finally:
            sel.close()
            self._listener.close()
            for c in live:
                self._drop(c)
            with self.cond:
                self.cond.notify_all()

    def _accept(self, sel, live):
        try:
            sock, _ = self._listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        sock.setblocking(True)
        sock.settimeout(TIMEOUT)   # bounds sendall() when the gateway stalls
        with self.cond:
            conn = BackendConn(len(self.conns), sock)
            self.conns.append(conn)
            self.cond.notify_all()
        live.append(conn)
        sel.register(sock, selectors.EVENT_READ, conn)

    def _drop(self, conn):
        with self.cond:
            conn.closed = True
            self.cond.notify_all()
        try:
            conn.sock.close()
        except OSError:
            pass

    def _readable(self, sel, live, conn):
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError, socket.timeout):
            return
        except OSError:
            data = b""
        if not data:
            sel.unregister(conn.sock)
            live.remove(conn)
            self._drop(conn)
            return
        conn.buf += data
        for payload in self._split(conn):
            self._record(conn, payload)
        if (self.refuse_over is not None and self.framing != "ndjson" and
                (self.refuse_times is None or self.refused < self.refuse_times) and
                len(conn.buf) >= 4 and struct.unpack(">I", conn.buf[:4])[0] > self.refuse_over):
            with self.cond:
                self.refused += 1
            sel.unregister(conn.sock)
            live.remove(conn)
            self._drop(conn)

    def _split(self, conn):
        """Yield complete frame payloads from conn.buf (partial reads kept)."""
        while True:
            if self.framing == "ndjson":
                nl = conn.buf.find(b"\n")
                if nl < 0:
                    return
                payload, conn.buf = conn.buf[:nl], conn.buf[nl + 1:]
            else:
                if len(conn.buf) < 4:
                    return
                (n,) = struct.unpack(">I", conn.buf[:4])
                if len(conn.buf) < 4 + n:
                    return
                payload, conn.buf = conn.buf[4:4 + n], conn.buf[4 + n:]
            yield payload

    def _record(self, conn, payload):
        try:
            obj = json.loads(payload.decode("utf-8"))
            if not isinstance(obj, dict):
                raise ValueError("not an object")
        except ValueError as e:
            with self.cond:
                self.errors.append((conn.index, payload, str(e)))
                self.cond.notify_all()
            return
        obj["_conn"] = conn.index
        with self.cond:
            if obj.get("type") == "hello":
                # Kept apart: every (re)connection starts with one.
                self.hellos.append(obj)
                self.cond.notify_all()
                return
            self.frames.append(obj)
            sid = obj.get("socketId")
            if isinstance(sid, str):
                self.by_socket[sid] = conn
            self.cond.notify_all()
        if self.echo and obj.get("type") == "message":
            reply = {"type": "send", "socketId": obj["socketId"], "data": obj.get("data")}
            if obj.get("binary"):
                reply["binary"] = True
            try:
                self.send(reply, conn=conn)
            except OSError:
                pass

    # -- sending -----------------------------------------------------------

    def _pick(self, conn, socket_id):
        with self.cond:
            if conn is None and socket_id is not None:
                conn = self.by_socket.get(socket_id)
                if conn is None:
                    raise AssertionError("no connection carried socketId %s" % socket_id)
            if conn is None:
                live = [c for c in self.conns if not c.closed]
                if not live:
                    raise AssertionError("backend has no live gateway connection")
                conn = live[0]
            if isinstance(conn, int):
                conn = self.conns[conn]
            return conn

    def send(self, obj, conn=None, socket_id=None):
        """Send a JSON object (or raw frame payload bytes, framed) to the gateway.

        conn: a BackendConn or index; socket_id: use the connection that
        carried that socket's events; neither: the first live connection.
        """
        self.send_raw(encode_frame(obj, self.framing), conn, socket_id)

    def send_raw(self, data, conn=None, socket_id=None):
        """Write bytes as they are, no framing added."""
        c = self._pick(conn, socket_id)
        with c.wlock:
            c.sock.sendall(data)

    def send_text(self, socket_id, text, **kw):
        self.send({"type": "send", "socketId": socket_id, "data": text}, socket_id=socket_id, **kw)

    def send_binary(self, socket_id, data, **kw):
        self.send({"type": "send", "socketId": socket_id, "binary": True,
                   "data": base64.b64encode(data).decode()}, socket_id=socket_id, **kw)

    def close_socket(self, socket_id, code=None, reason=None):
        cmd = {"type": "close", "socketId": socket_id}
        if code is not None:
            cmd["code"] = code
        if reason is not None:
            cmd["reason"] = reason
        self.send(cmd, socket_id=socket_id)

    # -- inspection --------------------------------------------------------

    def snapshot(self):
        with self.cond:
            return list(self.frames)

    def clear(self):
        with self.cond:
            self.frames.clear()
            self.errors.clear()

    def wait_for(self, predicate, timeout=TIMEOUT, what="backend condition"):
        """Wait until predicate(frames) is true; return its value."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                value = predicate(self.frames)
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        "timed out after %.1f s waiting for %s; backend got %d frames: %s"
                        % (timeout, what, len(self.frames), _short(self.frames[-5:])))
                self.cond.wait(min(left, 0.5))

    def events(self, type=None, socket_id=None):
        return [f for f in self.snapshot() if _match(f, type, socket_id)]

    def wait_event(self, type, socket_id=None, timeout=TIMEOUT, after=0):
        """The first frame of that type (and socketId) at index >= after."""
        def first(frames):
            for f in frames[after:]:
                if _match(f, type, socket_id):
                    return f
            return None
        return self.wait_for(first, timeout, what="%s event%s" % (
            type, "" if socket_id is None else " for " + socket_id))

    def wait_open(self, timeout=TIMEOUT, after=0):
        return self.wait_event("open", timeout=timeout, after=after)

    def wait_opens(self, n, timeout=TIMEOUT):
        """Wait for n open events in total; return them."""
        return self.wait_for(
            lambda fr: (lambda o: o if len(o) >= n else None)(
                [f for f in fr if f.get("type") == "open"]),
            timeout, what="%d open events" % n)

    def wait_messages(self, socket_id, n, timeout=TIMEOUT):
        """Wait until n message events for socket_id arrived; return them."""
        def enough(frames):
            m = [f for f in frames if _match(f, "message", socket_id)]
            return m if len(m) >= n else None
        return self.wait_for(enough, timeout, what="%d messages for %s" % (n, socket_id))

    def live_conns(self):
        with self.cond:
            return [c for c in self.conns if not c.closed]

    def wait_conns(self, n, timeout=TIMEOUT):
        """Wait until exactly n gateway connections are live."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                live = [c for c in self.conns if not c.closed]
                if len(live) == n:
                    return live
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("timed out waiting for %d live gateway connections "
                                         "(have %d)" % (n, len(live)))
                self.cond.wait(min(left, 0.5))


def _match(frame, type, socket_id):
    return ((type is None or frame.get("type") == type)
            and (socket_id is None or frame.get("socketId") == socket_id))


def _short(frames, width=300):
    s = json.dumps(frames)
    return s if len(s) <= width else s[:width] + "..."


# ---------------------------------------------------------------------------
# WebSocket clients (websockets 10.4, driven from a background event loop)
# ---------------------------------------------------------------------------

_loop = None
_loop_thread = None
_loop_lock = threading.Lock()


def _get_loop():
    global _loop, _loop_thread
    with _loop_lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            _loop_thread = threading.Thread(target=_loop.run_forever, name="ws-loop",
                                            daemon=True)
            _loop_thread.start()
        return _loop


def _loop_stop():
    global _loop
    if _loop is not None:
        _loop.call_soon_threadsafe(_loop.stop)
        _loop_thread.join(TIMEOUT)
        _loop = None


def run(coro, timeout=TIMEOUT):
    """Run a coroutine on the client loop and wait (bounded) for its result."""
    fut = asyncio.run_coroutine_threadsafe(coro, _get_loop())
    try:
        return fut.result(timeout)
    except TimeoutError:
        fut.cancel()
        raise AssertionError("timed out after %.1f s" % timeout) from None


class WSClient:
    """A synchronous face on a websockets client connection."""

    def __init__(self, ws):
        self.ws = ws

    @property
    def subprotocol(self):
        return self.ws.subprotocol

    @property
    def close_code(self):
        return self.ws.close_code

    @property
    def close_reason(self):
        return self.ws.close_reason

    def send(self, data, timeout=TIMEOUT):
        run(self.ws.send(data), timeout)

    def send_many(self, items, timeout=60):
        async def go():
            for item in items:
                await self.ws.send(item)
        run(go(), timeout)

    def recv(self, timeout=TIMEOUT):
        """The next message; AssertionError if none within timeout."""
        return run(self.ws.recv(), timeout)

    def recv_many(self, n, timeout=60):
        async def go():
            return [await self.ws.recv() for _ in range(n)]
        return run(go(), timeout)

    def assert_no_message(self, within=0.3):
        """Fail if a message arrives within the given time."""
        async def go():
            try:
                return await asyncio.wait_for(self.ws.recv(), within)
            except asyncio.TimeoutError:
                return None
        msg = run(go(), within + TIMEOUT)
        if msg is not None:
            raise AssertionError("unexpected message %r" % (msg,))

    def close(self, code=1000, reason="", timeout=TIMEOUT):
        run(self.ws.close(code, reason), timeout)

    def wait_closed(self, timeout=TIMEOUT):
        """Wait until the connection is closed; return (code, reason)."""
        run(self.ws.wait_closed(), timeout)
        return self.ws.close_code, self.ws.close_reason

    def recv_until_closed(self, timeout=TIMEOUT):
        """Drain messages until closed; return (messages, code, reason)."""
        async def go():
            msgs = []
            try:
                while True:
                    msgs.append(await self.ws.recv())
            except websockets.exceptions.ConnectionClosed:
                pass
            return msgs
        msgs = run(go(), timeout)
        return msgs, self.ws.close_code, self.ws.close_reason

    def abort(self):
        """Drop the TCP connection without a close frame."""
        def go():
            if self.ws.transport is not None:
                self.ws.transport.abort()
        _get_loop().call_soon_threadsafe(go)


def ws_connect(url, extra_headers=None, subprotocols=None, timeout=TIMEOUT, **kw):
    """Open a WebSocket; raises websockets.exceptions.InvalidStatusCode on non-101."""
    kw.setdefault("compression", None)

    async def go():
        return await websockets.connect(url, extra_headers=extra_headers,
                                        subprotocols=subprotocols, open_timeout=timeout,
                                        close_timeout=5, max_size=None, ping_interval=None,
                                        **kw)
    return WSClient(run(go(), timeout + 1))


def ws_status(url, **kw):
    """The HTTP status a failed upgrade got, or 101 if it succeeded."""
    try:
        c = ws_connect(url, **kw)
    except websockets.exceptions.InvalidStatusCode as e:
        return e.status_code
    c.close()
    return 101


# ---------------------------------------------------------------------------
# Raw HTTP and raw WebSocket
# ---------------------------------------------------------------------------

class HTTPResponse:
    def __init__(self, status, reason, headers, body, raw):
        self.status = status
        self.reason = reason
        self.headers = headers          # list of (lower-case name, value)
        self.body = body
        self.raw = raw

    def header(self, name):
        """The value of the first header with that name, or None."""
        for k, v in self.headers:
            if k == name.lower():
                return v
        return None

    def __repr__(self):
        return "<HTTPResponse %s %r %r>" % (self.status, self.headers, self.body[:80])


def parse_head(data):
    """Parse a status line and headers; return (status, reason, headers)."""
    lines = data.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3}) ?(.*)$", lines[0])
    if not m:
        raise AssertionError("bad status line %r" % lines[0])
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        headers.append((name.strip().lower(), value.strip()))
    return int(m.group(1)), m.group(2), headers


def http_raw(port, data, timeout=5.0, keep=False):
    """Send bytes to the daemon and read the answer.

    Returns an HTTPResponse (body read until EOF, bounded by timeout), or
    None if the connection closed without an answer.  With keep=True and a
    101 answer, returns (response, socket) leaving the socket open.
    """
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    deadline = time.monotonic() + timeout
    try:
        sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass                 # the server may answer and close before reading it all
    buf = b""
    try:
        while b"\r\n\r\n" not in buf:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                break
            buf += chunk
        if not buf:
            sock.close()
            return None
        if b"\r\n\r\n" not in buf:
            raise AssertionError("incomplete answer head: %r" % buf)
        head, _, body = buf.partition(b"\r\n\r\n")
        status, reason, headers = parse_head(head)
        if status == 101 and keep:
            return HTTPResponse(status, reason, headers, body, buf), sock
        while status != 101:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                break
            body += chunk
            buf += chunk
        sock.close()
        return HTTPResponse(status, reason, headers, body, buf)
    except socket.timeout:
        sock.close()
        raise AssertionError("no complete answer within %.1f s (got %r)" % (timeout, buf))


def http_upgrade(port, data, timeout=5.0):
    """Send a head that may be upgraded; return the answer and close the socket."""
    r = http_raw(port, data, timeout, keep=True)
    if isinstance(r, tuple):
        r, sock = r
        sock.close()
    return r


SAMPLE_KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def upgrade_head(port, path="/ws", method="GET", version="HTTP/1.1", key=SAMPLE_KEY,
                 extra=(), omit=(), ws_version="13"):
    """A valid WebSocket upgrade request head as bytes, with changes.

    extra: (name, value) pairs (value str or bytes) appended; omit: names
    (lower case) of the standard headers above to leave out.
    """
    headers = [("Host", "127.0.0.1:%d" % port), ("Upgrade", "websocket"),
               ("Connection", "Upgrade"), ("Sec-WebSocket-Key", key),
               ("Sec-WebSocket-Version", ws_version)]
    out = ("%s %s %s\r\n" % (method, path, version)).encode()
    headers = [(n, v) for n, v in headers if n.lower() not in omit]
    for name, value in headers + list(extra):
        if isinstance(value, str):
            value = value.encode("latin-1")
        out += name.encode() + b": " + value + b"\r\n"
    return out + b"\r\n"


def accept_for(key):
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


def frame_header(opcode, length, fin=True, mask=b"\0\0\0\0"):
    """A masked client frame's header declaring length bytes of payload
    (the zero mask leaves the payload as it is)."""
    b0 = (0x80 if fin else 0) | opcode
    if length < 126:
        head = struct.pack("!BB", b0, 0x80 | length)
    elif length < 65536:
        head = struct.pack("!BBH", b0, 0x80 | 126, length)
    else:
        head = struct.pack("!BBQ", b0, 0x80 | 127, length)
    return head + mask


class RawWebSocket:
    """A hand-made WebSocket client for frames websockets would refuse to send."""

    def __init__(self, port, path="/ws", extra=(), timeout=5.0):
        resp = http_raw(port, upgrade_head(port, path=path, extra=extra), timeout, keep=True)
        if resp is None or not isinstance(resp, tuple):
            raise AssertionError("upgrade failed: %r" % (resp,))
        self.response, self.sock = resp
        self.buf = self.response.body
        self.sock.settimeout(timeout)

    def send_frame(self, opcode, payload, fin=True):
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(frame_header(opcode, len(payload), fin, mask) + masked)

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv_frame(self):
        """Return (opcode, payload) of the next frame (server frames are unmasked)."""
        b0, payload = self.recv_frame_raw()
        return b0 & 0x0F, payload

    def recv_frame_raw(self):
        """Return (first byte: FIN, RSV bits and opcode, payload) of the next frame."""
        b0, b1 = self._need(2)
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", self._need(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", self._need(8))
        mask = self._need(4) if b1 & 0x80 else None
        payload = self._need(n)
        if mask:
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return b0, payload

    def recv_close(self, reply=True):
        """Skip data frames until a close frame; return (code, reason).

        With reply, answer the close frame as a client should (same code).
        """
        while True:
            op, payload = self.recv_frame()
            if op == OP_CLOSE:
                if reply:
                    try:
                        self.send_frame(OP_CLOSE, payload[:2])
                    except OSError:
                        pass
                if len(payload) >= 2:
                    return struct.unpack("!H", payload[:2])[0], payload[2:].decode("utf-8",
                                                                                   "replace")
                return None, ""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ---------------------------------------------------------------------------
# Test base class
# ---------------------------------------------------------------------------

SANITIZER_REPORT = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error: ")


class GatewayTest(unittest.TestCase):
    """Base class: start gateways, backends and clients that are cleaned up."""

    framing = "length-prefixed"

    def setUp(self):
        self._gateways = []

    def gateway(self, config=None, **kw):
        kw.setdefault("framing", self.framing)
        gw = Gateway(config, start=False, **kw)
        self.addCleanup(gw.close)
        self.addCleanup(self._check_clean_exit, gw)
        self._gateways.append(gw)
        gw.start()
        return gw

    def _check_clean_exit(self, gw):
        """Every test ends with a graceful stop: exit 0, no sanitizer report.

        Runs after the test's clients and backends are gone (cleanups run
        in reverse order), so the stop has nothing to wait for.
        """
        if gw.proc is None:
            return
        if gw.running():
            rc = gw.stop()
        else:
            rc = gw.returncode if gw.returncode is not None else gw.proc.returncode
        report = SANITIZER_REPORT.search(gw.log_text())
        if report:
            raise AssertionError("sanitizer report in the wsgated log:\n%s"
                                 % gw.log_text()[report.start():][:3000])
        if rc != 0:
            raise AssertionError("wsgated exited with %r after SIGTERM; log tail:\n%s"
                                 % (rc, gw.log_tail(30)))

    def open_raw(self, gw=None, be=None):
        """A RawWebSocket to gw (self.gw) and the socketId of its open
        event at be (self.be)."""
        gw = gw or self.gw
        be = be or self.be
        n = len(be.events("open"))
        r = RawWebSocket(gw.port)
        self.addCleanup(r.close)
        sid = be.wait_for(
            lambda fr: (lambda o: o[n]["socketId"] if len(o) > n else None)(
                [f for f in fr if f.get("type") == "open"]), what="open event")
        return r, sid

    def backend(self, gw, echo=False, start=True, framing=None):
        be = Backend(gw.backend_path, framing or self.framing, echo=echo, start=start)
        self.addCleanup(be.stop)
        return be

    def connect(self, gw, path="/ws", **kw):
        c = ws_connect(gw.url[:-len("/ws")] + path, **kw)
        self.addCleanup(lambda: _quiet(c.abort))
        return c

    def failure_diagnostics(self):
        """The log tail of every gateway of this test, for the TAP output."""
        parts = []
        for gw in getattr(self, "_gateways", []):
            parts.append("--- wsgated log tail (%s) ---\n%s" % (gw.log_path, gw.log_tail(40)))
        return "\n".join(parts)


def _quiet(fn):
    try:
        fn()
    except Exception:
        pass


# ---------------------------------------------------------------------------
# Generic helpers for the robustness tests (test_limits.py, test_faults.py).
# Added at the end; nothing above depends on them.
# ---------------------------------------------------------------------------

def parse_counters(line):
    """The key=value pairs of a "counters: ..." log line as a dict of ints."""
    out = {}
    for k, v in re.findall(r"(\w+)=(\d+)", line):
        out[k] = int(v)
    return out


def read_counters(gw, timeout=TIMEOUT):
    """Send SIGUSR1 and return the counters line it logs, parsed."""
    since = gw.log_size()
    gw.signal(signal.SIGUSR1)
    m = gw.wait_log(r"counters: ([^\n]*)\n", timeout=timeout, since=since)
    return parse_counters(m.group(1))


def wait_counters(gw, predicate, timeout=TIMEOUT, what="counters"):
    """Poll the counters (SIGUSR1) until predicate(counters) is true; return them."""
    last = {}

    def ok():
        last.clear()
        last.update(read_counters(gw))
        return predicate(last)
    try:
        wait_until(ok, timeout, interval=0.2, what=what)
    except AssertionError as e:
        raise AssertionError("%s; last counters: %r" % (e, last))
    return dict(last)


def proc_cpu_seconds(pid):
    """User + system CPU time of a process (all its threads), in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # After the command name: state is field 3, utime 14 and stime 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss_bytes(pid):
    """Resident set size of a process (VmRSS), in bytes."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS for pid %d" % pid)


class HookedGateway(Gateway):
    """A Gateway whose process is started with a preexec_fn (e.g. setrlimit).

    Same as Gateway otherwise; register it with GatewayTest.adopt_gateway().
    """

    def __init__(self, config=None, preexec_fn=None, **kw):
        self.preexec_fn = preexec_fn
        super().__init__(config, **kw)


def adopt_gateway(test, gw):
    """Give a Gateway made by hand the cleanups GatewayTest.gateway() gives."""
    test.addCleanup(gw.close)
    test.addCleanup(test._check_clean_exit, gw)
    test._gateways.append(gw)
    return gw


class PausableBackend(Backend):
    """A Backend that can stop reading from the gateway for a while.

    pause(): the backend thread stops reading (and accepting) until
    resume(); the gateway's writes then back up in the socket buffers.
    sequence: every parsed frame, hello frames included, in arrival order.
    """

    def __init__(self, *a, **kw):
        self._reading = threading.Event()
        self._reading.set()
        self.sequence = []
        super().__init__(*a, **kw)

    def pause(self):
        self._reading.clear()

    def resume(self):
        self._reading.set()

    def _readable(self, sel, live, conn):
        while not self._reading.wait(0.05):
            if self._stopping:
                return
        if self._stopping:
            return
        super()._readable(sel, live, conn)

    def _record(self, conn, payload):
        try:
            obj = json.loads(payload.decode("utf-8"))
        except ValueError:
            obj = None
        if isinstance(obj, dict):
            with self.cond:
                self.sequence.append(dict(obj, _conn=conn.index))
        super()._record(conn, payload)

    def stop(self):
        """As Backend.stop(); a paused backend reads nothing more."""
        self._stopping = True
        self._reading.set()
        super().stop()
