#!/usr/bin/env python3
"""examples/echo_backend.py works with the real daemon, in both framings."""

import json
import os
import socket
import struct
import subprocess
import sys

import harness

EXAMPLE = os.path.join(harness.SRCDIR, "examples", "echo_backend.py")


class ExampleTests:
    def setUp(self):
        super().setUp()
        if not os.path.exists(EXAMPLE):
            self.skipTest("no %s" % EXAMPLE)
        # The socket's directory does not exist yet: the example creates it.
        self.gw = self.gateway(backend_path="run/backend.sock")
        self.out_path = os.path.join(self.gw.dir, "backend.out")
        self.procs = []
        self.start_example(self.gw.backend_path)

    def start_example(self, path):
        with open(self.out_path, "ab") as out:
            proc = subprocess.Popen([sys.executable, EXAMPLE, "--socket", path,
                                     "--framing", self.framing],
                                    stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT)
        self.addCleanup(self.stop_example, proc)
        return proc

    def stop_example(self, proc):
        """SIGTERM by PID (it then unlinks its socket), SIGKILL if it lingers."""
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(harness.TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(harness.TIMEOUT)
        return proc.returncode

    def output(self):
        with open(self.out_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def failure_diagnostics(self):
        return (super().failure_diagnostics() + "\n--- echo_backend.py output ---\n"
                + self.output()[-3000:])

    def test_echo_text_and_binary(self):
        c = self.connect(self.gw)
        c.send("hello")
        self.assertEqual(c.recv(), "hello")
        c.send(b"\x00\xffbin")
        self.assertEqual(c.recv(), b"\x00\xffbin")
        harness.wait_until(lambda: "open " in self.output(), what="an open line")

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


class LengthPrefixed(ExampleTests, harness.GatewayTest):
    framing = "length-prefixed"


class Ndjson(ExampleTests, harness.GatewayTest):
    framing = "ndjson"


if __name__ == "__main__":
    harness.main()
