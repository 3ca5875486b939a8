#!/usr/bin/env python3
"""examples/echo_backend.py works with the real daemon, in both framings."""

import os
import subprocess
import sys

import harness

EXAMPLE = os.path.join(harness.SRCDIR, "examples", "echo_backend.py")


class ExampleTests:
    def setUp(self):
        super().setUp()
        if not os.path.exists(EXAMPLE):
            self.skipTest("no %s" % EXAMPLE)
        self.gw = self.gateway()
        # A socket in a directory that does not exist yet: the example makes it.
        path = os.path.join(self.gw.dir, "run", "backend.sock")
        self.gw_path = path
        self.out = open(os.path.join(self.gw.dir, "backend.out"), "wb")
        self.addCleanup(self.out.close)
        self.proc = subprocess.Popen([sys.executable, EXAMPLE, "--socket", path,
                                      "--framing", self.framing],
                                     stdout=self.out, stderr=subprocess.STDOUT)
        self.addCleanup(self.stop_example)

    def stop_example(self):
        if self.proc.poll() is None:
            self.proc.terminate()           # by PID; it unlinks its socket on SIGTERM
            try:
                self.proc.wait(harness.TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(harness.TIMEOUT)

    def output(self):
        with open(os.path.join(self.gw.dir, "backend.out"), "rb") as f:
            return f.read().decode("utf-8", "replace")

    def failure_diagnostics(self):
        return super().failure_diagnostics() + "\n--- echo_backend.py output ---\n" + \
            self.output()[-3000:]

    def gateway(self, config=None, **kw):
        # The gateway must connect to the example's socket path.
        gw = harness.Gateway(start=False, framing=self.framing, dir=None)
        gw.close()
        path = None
        d = harness.make_tempdir()
        path = os.path.join(d, "run", "backend.sock")
        gw = harness.Gateway({"backend": {"socket": path}}, framing=self.framing,
                             start=False, dir=d, backend_path=path)
        self.addCleanup(lambda: harness.shutil.rmtree(d, ignore_errors=True))
        self.addCleanup(gw.close)
        self._gateways.append(gw)
        gw.start()
        return gw

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
        self.assertEqual(a.recv(), "/broadcast hi all")      # the echo first
        self.assertEqual(a.recv(), "hi all")
        self.assertEqual(b.recv(), "hi all")
        b.close()
        harness.wait_until(lambda: "close " in self.output(), what="a close line")
        a.send("/broadcast again")
        self.assertEqual(a.recv(), "/broadcast again")
        self.assertEqual(a.recv(), "again")
        a.assert_no_message(0.2)

    def test_removes_stale_socket(self):
        self.stop_example()
        self.assertFalse(os.path.exists(self.gw_path))
        import socket
        s = socket.socket(socket.AF_UNIX)
        s.bind(self.gw_path)                 # a stale socket file, nobody listening
        s.close()
        self.proc = subprocess.Popen([sys.executable, EXAMPLE, "--socket", self.gw_path,
                                      "--framing", self.framing],
                                     stdout=self.out, stderr=subprocess.STDOUT)
        c = self.connect(self.gw)
        c.send("back")
        self.assertEqual(c.recv(timeout=harness.TIMEOUT * 4), "back")


class LengthPrefixed(ExampleTests, harness.GatewayTest):
    framing = "length-prefixed"


class Ndjson(ExampleTests, harness.GatewayTest):
    framing = "ndjson"


if __name__ == "__main__":
    harness.main()
