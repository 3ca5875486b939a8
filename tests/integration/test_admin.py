#!/usr/bin/env python3
"""The admin listener: health, readiness, metrics and operator endpoints."""

import http.client
import os
import signal
import socket
import subprocess
import time

import harness
from harness import free_port, wait_until, TIMEOUT


def admin_request(port, method, path, body=None, headers=None, timeout=TIMEOUT):
    """One request to the admin listener; return (status, headers, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        conn.close()


class AdminTest(harness.GatewayTest):
    """A gateway with its admin listener on a free loopback port."""

    def admin_gateway(self, config=None, **kw):
        self.admin_port = free_port()
        cfg = harness.merge({"admin": {"port": self.admin_port}}, config)
        return self.gateway(cfg, **kw)

    def get(self, path, **kw):
        return admin_request(self.admin_port, "GET", path, **kw)

    def post(self, path, body=None, **kw):
        return admin_request(self.admin_port, "POST", path, body=body, **kw)


class Health(AdminTest):

    def test_healthz_ok(self):
        self.admin_gateway()
        status, headers, body = self.get("/healthz")
        self.assertEqual((status, body), (200, b"ok\n"))
        self.assertTrue(headers["content-type"].startswith("text/plain"), headers)

    def test_head_healthz_has_no_body(self):
        self.admin_gateway()
        status, _, body = admin_request(self.admin_port, "HEAD", "/healthz")
        self.assertEqual((status, body), (200, b""))

    def test_unknown_path_404(self):
        self.admin_gateway()
        for path in ("/", "/nope", "/healthz/x", "/ws"):
            status, _, body = self.get(path)
            self.assertEqual(status, 404, path)
            self.assertEqual(body, b"no such endpoint\n")

    def test_wrong_method_405_with_allow(self):
        self.admin_gateway()
        for method, path in (("POST", "/healthz"), ("DELETE", "/readyz"),
                             ("PUT", "/healthz")):
            status, headers, _ = admin_request(self.admin_port, method, path)
            self.assertEqual(status, 405, (method, path))
            self.assertEqual(headers.get("allow"), "GET, HEAD")

    def test_readyz_waits_for_every_backend_link(self):
        gw = self.admin_gateway(workers=2)
        status, _, body = self.get("/readyz")
        self.assertEqual(status, 503)
        self.assertRegex(body, rb"^worker [01]: backend link down\n$")
        be = self.backend(gw)
        be.wait_conns(2)
        wait_until(lambda: self.get("/readyz")[0] == 200, what="ready")
        self.assertEqual(self.get("/readyz")[2], b"ready\n")
        be.stop()
        wait_until(lambda: self.get("/readyz")[0] == 503, what="not ready")

    def test_off_by_default(self):
        gw = self.gateway()
        self.assertNotIn("admin listener", gw.log_text())

    def test_port_in_use_exits_1(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen(1)
            port = s.getsockname()[1]
            gw = harness.Gateway({"admin": {"port": port}}, start=False)
            self.addCleanup(gw.close)
            with self.assertRaises(RuntimeError):
                gw.start()
            self.assertEqual(gw.returncode, 1)
            self.assertRegex(gw.log_text(), r"admin: cannot listen on \[127\.0\.0\.1\]:%d: "
                             r"Address already in use" % port)

    def test_reload_names_admin_keys_and_keeps_listener(self):
        gw = self.admin_gateway()
        old = self.admin_port
        since = gw.log_size()
        gw.write_config({"admin": {"port": free_port()}})
        gw.signal(signal.SIGHUP)
        gw.wait_log(r"reload: admin\.port changed; those take effect at a restart",
                    since=since)
        gw.wait_log(r"reloaded ", since=since)
        self.assertEqual(admin_request(old, "GET", "/healthz")[0], 200)

    def test_request_head_is_bounded(self):
        self.admin_gateway()
        status, _, _ = self.get("/healthz", headers={"X-Big": "a" * 20000})
        self.assertIn(status, (400, 413, 431))
        self.assertEqual(self.get("/healthz")[0], 200)

    def test_slow_request_does_not_block_others(self):
        self.admin_gateway()
        with socket.create_connection(("127.0.0.1", self.admin_port)) as slow:
            slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            t0 = time.monotonic()
            self.assertEqual(self.get("/healthz", timeout=2)[0], 200)
            self.assertLess(time.monotonic() - t0, 1.5)


if __name__ == "__main__":
    harness.main()
