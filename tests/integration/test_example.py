#!/usr/bin/env python3
"""The example backends work with the real daemon, in both framings.

examples/echo_backend.py (Python), examples/node/echo_backend.js (Node.js)
and examples/c/echo_backend.c (C, built by make) each run as their own
process in front of a real wsgated: text and binary messages are echoed
to websockets clients, the open line each one logs carries the context
the gateway built, and both gateway workers are served at once.
"""

import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys

import harness

PYTHON_EXAMPLE = os.path.join(harness.SRCDIR, "examples", "echo_backend.py")
NODE_EXAMPLE = os.path.join(harness.SRCDIR, "examples", "node", "echo_backend.js")
# Built by make next to the daemon: WSGATED is BUILDDIR/src/wsgated.
C_EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(harness.WSGATED))),
                         "examples", "c", "echo_backend")
NODE = shutil.which("node") or shutil.which("nodejs")

OPEN_LINE = re.compile(r"^open (\S+) context=(.*)$", re.M)


class ExampleTests:
    """The cases every example passes; a subclass names its command."""

    def command(self, path):
        raise NotImplementedError

    def setUp(self):
        super().setUp()
        # The socket's directory does not exist yet: the example creates it.
        self.gw = self.gateway(backend_path="run/backend.sock")
        self.out_path = os.path.join(self.gw.dir, "backend.out")
        self.start_example(self.gw.backend_path)

    def start_example(self, path):
        with open(self.out_path, "ab") as out:
            proc = subprocess.Popen(self.command(path) + ["--framing", self.framing],
                                    stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT)
        self.addCleanup(self.stop_example, proc)
        # Until it listens, it may not have set up its signal handlers yet.
        harness.wait_until(lambda: proc.poll() is not None or
                           "listening on %s " % path in self.output(),
                           what="%s to listen on %s" % (self.language, path))
        if proc.poll() is not None:
            raise AssertionError("%s exited with %d at startup" % (self.language,
                                                                 proc.returncode))
        return proc

    def stop_example(self, proc):
        """SIGTERM by PID (it then unlinks its socket), SIGKILL if it lingers.

        The example must exit 0: a crash, a sanitizer report or a hang on
        the way out fails the test.
        """
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(harness.TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(harness.TIMEOUT)
                raise AssertionError("%s ignored SIGTERM" % self.language)
        if proc.returncode != 0:
            raise AssertionError("%s exited with %d" % (self.language, proc.returncode))

    def output(self):
        with open(self.out_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def failure_diagnostics(self):
        return (super().failure_diagnostics() + "\n--- %s output ---\n" % self.language
                + self.output()[-3000:])

    def opened(self):
        """{socketId: context} from the open lines logged so far."""
        return {sid: json.loads(ctx) for sid, ctx in OPEN_LINE.findall(self.output())}

    def test_echo_text_and_binary_with_context(self):
        c = self.connect(self.gw, extra_headers=[("X-User-Id", "1042"),
                                                 ("Cookie", "X-Token=3f9a-77c2")])
        c.send("hello, w\u00f6rld \u2713")
        self.assertEqual(c.recv(), "hello, w\u00f6rld \u2713")
        c.send(b"\x00\xffbin")
        self.assertEqual(c.recv(), b"\x00\xffbin")
        c.send("x" * 100000)                # many reads on both links
        self.assertEqual(c.recv(), "x" * 100000)
        # The open line shows the context wsgated built from the request.
        opened = harness.wait_until(self.opened, what="an open line")
        self.assertEqual(len(opened), 1, opened)
        sid, ctx = next(iter(opened.items()))
        self.assertEqual(ctx["socketId"], sid)
        self.assertEqual(ctx["userId"], "1042")
        self.assertEqual(ctx["token"], "3f9a-77c2")
        self.assertIsInstance(ctx["createdAt"], int)
        c.close(1000, "bye")
        harness.wait_until(lambda: re.search(r"^close %s code=1000 " % re.escape(sid),
                                             self.output(), re.M),
                           what="the close line of %s" % sid)
        self.assertRegex(self.output(), r"(?m)^hello from ")

    def test_every_message_the_shipped_limits_allow(self):
        # The shipped limit, and the two messages whose events are largest
        # under it: a binary one (base64) and a text of control characters
        # (\u00XX escapes), both echoed whole; and a text of one NUL, which
        # is valid JSON ("\u0000"; Autobahn 6.7.1).
        with open(os.path.join(harness.SRCDIR, "conf", "wsgate.conf")) as f:
            limit = int(re.search(r"(?m)^\s*max_message_bytes = (\d+);", f.read()).group(1))
        gw = self.gateway({"limits": {"max_message_bytes": limit}},
                          backend_path="big/backend.sock")
        self.start_example(gw.backend_path)
        c = self.connect(gw)
        c.send("\x00")
        self.assertEqual(c.recv(), "\x00")
        data = os.urandom(limit)
        c.send(data)
        self.assertEqual(c.recv(timeout=30), data)
        c.send("\x01" * limit)
        self.assertEqual(c.recv(timeout=30), "\x01" * limit)

    def test_events_over_its_limit_reported_at_hello(self):
        # 4 MiB of control characters are some 24 MiB of JSON: more than
        # the examples' 16 MiB frames. Each says so as the link opens.
        gw = self.gateway({"limits": {"max_message_bytes": 4 << 20}},
                          backend_path="big/backend.sock")
        self.start_example(gw.backend_path)
        harness.wait_until(lambda: re.search(
            r"(?m)error: the gateway may send events of up to \d+ bytes, more than "
            r"this backend's limit of 16777216", self.output()),
            what="the example's error line")
        self.assertNotRegex(self.output()[:self.output().index("big/backend.sock")],
                            r"error: the gateway")

    def test_serves_every_worker_at_once(self):
        # The gateway has two workers, each with its own backend connection;
        # four clients land two on each.
        clients = [self.connect(self.gw, extra_headers=[("X-User-Id", "u%d" % i)])
                   for i in range(4)]
        for i, c in enumerate(clients):
            c.send("from %d" % i)
        for i, c in enumerate(clients):
            self.assertEqual(c.recv(), "from %d" % i)
        hellos = re.findall(r"(?m)^hello from \S+ worker (\d+) of 2", self.output())
        self.assertEqual(sorted(hellos), ["0", "1"])
        opened = harness.wait_until(lambda: (lambda o: o if len(o) == 4 else None)(
            self.opened()), what="four open lines")
        self.assertEqual(sorted(ctx["userId"] for ctx in opened.values()),
                         ["u0", "u1", "u2", "u3"])

    def test_replaces_stale_socket_and_survives_garbage(self):
        # A second instance on a path holding a stale socket file; spoken
        # to directly, as a gateway would.
        path = os.path.join(self.gw.dir, "stale.sock")
        s = socket.socket(socket.AF_UNIX)
        s.bind(path)
        s.close()
        self.start_example(path)
        link = socket.socket(socket.AF_UNIX)
        self.addCleanup(link.close)
        harness.wait_until(lambda: _try_connect(link, path), what="the example to listen")
        link.settimeout(harness.TIMEOUT)
        enc = lambda o: harness.encode_frame(o, self.framing)
        msg = enc({"type": "message", "socketId": "S", "context": {}, "data": "x"})
        link.sendall(enc(b"not json") + enc(b"[1]") + msg[:3])
        link.sendall(msg[3:])
        self.assertEqual(_read_frame(link, self.framing),
                         {"type": "send", "socketId": "S", "data": "x"})


class PythonOnly:
    """The Python example also broadcasts "/broadcast " messages."""

    def test_broadcast(self):
        a = self.connect(self.gw)
        b = self.connect(self.gw)
        harness.wait_until(lambda: self.output().count("open ") >= 2, what="two open lines")
        a.send("/broadcast hi all")
        self.assertEqual(a.recv(), "/broadcast hi all")      # the echo comes first
        self.assertEqual(a.recv(), "hi all")
        self.assertEqual(b.recv(), "hi all")
        b.close()
        harness.wait_until(lambda: "close " in self.output(), what="a close line")
        a.send("/broadcast again")
        self.assertEqual(a.recv(), "/broadcast again")
        self.assertEqual(a.recv(), "again")
        a.assert_no_message(0.2)


def _try_connect(sock, path):
    try:
        sock.connect(path)
        return True
    except OSError:
        return False


def _read_frame(sock, framing):
    buf = b""
    while True:
        if framing == "ndjson" and b"\n" in buf:
            return json.loads(buf.split(b"\n")[0])
        if framing != "ndjson" and len(buf) >= 4:
            (n,) = struct.unpack(">I", buf[:4])
            if len(buf) >= 4 + n:
                return json.loads(buf[4:4 + n])
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError("link closed; got %r" % buf)
        buf += chunk


class Python(ExampleTests):
    language = "echo_backend.py"

    def command(self, path):
        return [sys.executable, PYTHON_EXAMPLE, "--socket", path]


class Node(ExampleTests):
    language = "echo_backend.js"

    def setUp(self):
        if NODE is None:
            self.skipTest("node is not installed (Debian package nodejs)")
        super().setUp()

    def command(self, path):
        return [NODE, NODE_EXAMPLE, "--socket", path]


class C(ExampleTests):
    language = "echo_backend (C)"

    def setUp(self):
        if not os.access(C_EXAMPLE, os.X_OK):
            raise AssertionError("%s is not built (make builds it)" % C_EXAMPLE)
        super().setUp()

    def command(self, path):
        return [C_EXAMPLE, "--socket", path]


class PythonLengthPrefixed(Python, PythonOnly, harness.GatewayTest):
    framing = "length-prefixed"


class PythonNdjson(Python, PythonOnly, harness.GatewayTest):
    framing = "ndjson"


class NodeLengthPrefixed(Node, harness.GatewayTest):
    framing = "length-prefixed"


class NodeNdjson(Node, harness.GatewayTest):
    framing = "ndjson"


class CLengthPrefixed(C, harness.GatewayTest):
    framing = "length-prefixed"


class CNdjson(C, harness.GatewayTest):
    framing = "ndjson"


if __name__ == "__main__":
    harness.main()
