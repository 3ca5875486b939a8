#!/usr/bin/env python3
"""The admin listener: health, readiness, metrics and operator endpoints."""

import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import time

import harness
from harness import free_port, wait_until, http_raw, upgrade_head, TIMEOUT


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


SERIES = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$")


def parse_metrics(text):
    """The samples of a Prometheus text page, as {"name{labels}": value}."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SERIES.match(line)
        if m is None:
            raise AssertionError("not a sample line: %r" % line)
        out[m.group(1)] = float(m.group(2))
    return out


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

    def scrape(self):
        status, headers, body = self.get("/metrics")
        self.assertEqual(status, 200, body)
        return parse_metrics(body.decode())

    def wait_metric(self, name, predicate, what=None):
        """Scrape until predicate(value of name) holds; return the samples."""
        last = {}

        def ok():
            last.clear()
            last.update(self.scrape())
            return predicate(last.get(name))
        try:
            wait_until(ok, interval=0.05, what=what or name)
        except AssertionError as e:
            raise AssertionError("%s; last %s = %r" % (e, name, last.get(name)))
        return dict(last)


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


REJECTED = 'wsgated_connections_rejected_total{reason="%s"}'
REASONS = ("bad_request", "context", "origin", "not_found", "method", "timeout",
           "upgrade_required", "too_large", "too_many", "too_many_per_ip",
           "backend_down", "http_version")


class Metrics(AdminTest):

    def test_content_type_and_promtool(self):
        """After traffic of every kind, promtool accepts the page."""
        promtool = shutil.which("promtool")
        self.assertIsNotNone(promtool, "promtool not found: install the Debian "
                                       "package prometheus (tests/deps.sh)")
        gw = self.admin_gateway()
        be = self.backend(gw, echo=True)
        c = self.connect(gw)
        c.send("x")
        self.assertEqual(c.recv(), "x")
        c.close(4001)
        http_raw(gw.port, b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
        be.wait_event("close")
        status, headers, body = self.get("/metrics")
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"],
                         "text/plain; version=0.0.4; charset=utf-8")
        r = subprocess.run([promtool, "check", "metrics"], input=body,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=TIMEOUT)
        self.assertEqual((r.returncode, r.stdout), (0, b""), body.decode())
        # Every family has HELP and TYPE; counters end in _total.
        types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", body.decode(), re.M))
        helps = set(re.findall(r"^# HELP (\S+) ", body.decode(), re.M))
        self.assertEqual(set(types), helps)
        for name, kind in types.items():
            self.assertTrue(name.startswith("wsgated_"), name)
            self.assertEqual(name.endswith("_total"), kind == "counter", name)

    def test_messages_and_bytes_in_each_direction(self):
        gw = self.admin_gateway()
        self.backend(gw, echo=True)
        c = self.connect(gw)
        before = self.scrape()
        for _ in range(3):
            c.send("hello")
        self.assertEqual(c.recv_many(3), ["hello"] * 3)
        after = self.wait_metric("wsgated_messages_delivered_total",
                                 lambda v: v == before["wsgated_messages_delivered_total"] + 3)
        for name, delta in (("wsgated_messages_in_total", 3),
                            ("wsgated_messages_in_bytes_total", 15),
                            ("wsgated_messages_out_total", 3),
                            ("wsgated_messages_out_bytes_total", 15),
                            ("wsgated_backend_frames_in_total", 3)):
            self.assertEqual(after[name] - before[name], delta, name)
        self.assertEqual(after["wsgated_connections_open"], 1)
        # The SIGUSR1 line says the same.
        counters = harness.read_counters(gw)
        self.assertEqual(counters["msgs_in"], after["wsgated_messages_in_total"])
        self.assertEqual(counters["msgs_out_bytes"],
                         after["wsgated_messages_out_bytes_total"])

    def check_rejected(self, reason, action):
        """action() must be refused for reason, and counted once for it."""
        before = self.scrape()
        action()
        after = self.wait_metric(REJECTED % reason,
                                 lambda v: v == before[REJECTED % reason] + 1,
                                 what="%s counted" % reason)
        for other in REASONS:
            if other != reason:
                self.assertEqual(after[REJECTED % other], before[REJECTED % other],
                                 "%s moved on a %s refusal" % (other, reason))
        return after

    def answer(self, port, head, status):
        r = http_raw(port, head)
        self.assertEqual(r.status, status, r)

    def test_rejected_by_reason(self):
        gw = self.admin_gateway({
            "listen": {"allowed_origins": ["https://ok.example"]},
            "limits": {"handshake_timeout": 0.3},
            "context": {"fields": [{"name": "userId", "source": "header",
                                    "key": "X-User-Id", "required": True}]}})
        self.backend(gw)
        user = [("X-User-Id", "u1")]
        port = gw.port
        cases = [
            ("not_found", b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", 404),
            ("bad_request", b"GARBAGE\r\nHost: x\r\n\r\n", 400),
            ("bad_request", upgrade_head(port, omit=("sec-websocket-key",), extra=user), 400),
            ("method", upgrade_head(port, method="POST", extra=user), 405),
            ("upgrade_required", b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n", 426),
            ("too_large", upgrade_head(port, extra=user + [("X-Big", "a" * 9000)]), 431),
            ("http_version", b"GET /ws HTTP/2.0\r\nHost: x\r\n\r\n", 505),
            ("origin", upgrade_head(port, extra=user + [("Origin", "https://evil.example")]),
             403),
            ("context", upgrade_head(port), 401),
            ("timeout", b"GET /ws HTTP/1.1\r\n", 408),
        ]
        for reason, head, status in cases:
            with self.subTest(reason=reason):
                self.check_rejected(reason, lambda: self.answer(port, head, status))
        after = self.scrape()
        self.assertEqual(after["wsgated_connections_upgraded_total"], 0)
        self.assertEqual(sum(after[REJECTED % r] for r in REASONS), len(cases))
        self.assertEqual(harness.read_counters(gw)["conns_rejected"], len(cases))

    def test_rejected_too_many_per_ip(self):
        gw = self.admin_gateway({"limits": {"max_connections_per_ip": 1}})
        self.backend(gw)
        self.connect(gw)
        self.check_rejected("too_many_per_ip",
                            lambda: self.assertEqual(harness.ws_status(gw.url), 503))

    def test_rejected_too_many(self):
        gw = self.admin_gateway({"limits": {"max_connections": 1}})
        self.backend(gw)
        self.connect(gw)
        self.check_rejected("too_many",
                            lambda: self.assertEqual(harness.ws_status(gw.url), 503))

    def test_rejected_backend_down(self):
        gw = self.admin_gateway({"backend": {"down_timeout": 0.2}})
        time.sleep(0.4)
        self.check_rejected("backend_down",
                            lambda: self.assertEqual(harness.ws_status(gw.url), 503))

    def test_handshake_histogram(self):
        gw = self.admin_gateway()
        self.backend(gw)
        before = self.scrape()
        clients = [self.connect(gw) for _ in range(3)]
        after = self.wait_metric("wsgated_handshake_duration_seconds_count",
                                 lambda v: v == before[
                                     "wsgated_handshake_duration_seconds_count"] + 3)
        self.assertEqual(len(clients), 3)
        buckets = [(float(m.group(1)), v) for k, v in after.items()
                   for m in [re.match(r'wsgated_handshake_duration_seconds_bucket'
                                      r'\{le="([^"]+)"\}', k)] if m]
        buckets.sort()
        self.assertEqual(buckets[-1][0], float("inf"))
        self.assertEqual(buckets[-1][1], after["wsgated_handshake_duration_seconds_count"])
        counts = [v for _, v in buckets]
        self.assertEqual(counts, sorted(counts), "buckets must be cumulative")
        spent = (after["wsgated_handshake_duration_seconds_sum"]
                 - before["wsgated_handshake_duration_seconds_sum"])
        self.assertGreater(spent, 0)
        self.assertLess(spent, 3 * TIMEOUT)
        self.assertEqual(after["wsgated_sockets_opened_total"], 3)

    def test_close_codes(self):
        gw = self.admin_gateway({"limits": {"max_message_bytes": 100}})
        be = self.backend(gw)
        code = 'wsgated_close_codes_total{code="%s"}'
        be.wait_conns(2)
        before = self.scrape()
        a = self.connect(gw)
        first = be.wait_open()["socketId"]
        a.close(1000)
        b = self.connect(gw)
        sid = be.wait_for(lambda fr: [f["socketId"] for f in fr if f["type"] == "open"
                                      and f["socketId"] != first], what="second open")[0]
        be.close_socket(sid, code=4000, reason="bye")
        self.assertEqual(b.wait_closed()[0], 4000)
        c = self.connect(gw)
        c.send("x" * 200)
        self.assertEqual(c.wait_closed()[0], 1009)
        after = self.wait_metric("wsgated_sockets_closed_total",
                                 lambda v: v == before["wsgated_sockets_closed_total"] + 3)
        for k, delta in (("1000", 1), ("other", 1), ("1009", 1), ("1001", 0), ("1006", 0)):
            self.assertEqual(after[code % k] - before[code % k], delta, k)
        self.assertEqual(after['wsgated_messages_dropped_total{reason="too_big"}'], 1)
        self.assertEqual(after["wsgated_backend_closes_total"], 1)

    def test_backend_link_state_and_queue(self):
        gw = self.admin_gateway(workers=2)
        be = self.backend(gw)
        up = 'wsgated_backend_up{worker="%d"}'
        qm = 'wsgated_backend_queue_messages{worker="%d"}'
        qb = 'wsgated_backend_queue_bytes{worker="%d"}'
        m = self.wait_metric("wsgated_backend_connects_total", lambda v: v == 2)
        self.assertEqual((m[up % 0], m[up % 1]), (1, 1))
        c = self.connect(gw)
        be.wait_open()
        be.stop()
        m = self.wait_metric("wsgated_backend_disconnects_total", lambda v: v == 2)
        self.assertEqual((m[up % 0], m[up % 1]), (0, 0))
        c.send("one")
        c.send("two")
        m = wait_until(lambda: (lambda s: s if s[qm % 0] + s[qm % 1] == 2 else None)(
            self.scrape()), what="2 queued messages")
        worker = 0 if m[qm % 0] == 2 else 1
        self.assertGreater(m[qb % worker], 0)
        self.assertEqual(m[qb % (1 - worker)], 0)
        self.assertEqual(m['wsgated_worker_connections{worker="%d"}' % worker], 1)
        be.start()
        m = self.wait_metric(qm % worker, lambda v: v == 0)
        m = self.wait_metric(qb % worker, lambda v: v == 0)
        self.assertEqual(m[up % worker], 1)
        self.assertEqual(m["wsgated_messages_delivered_total"], 2)

    def test_backend_errors_by_kind(self):
        gw = self.admin_gateway()
        be = self.backend(gw)
        be.wait_conns(2)
        err = 'wsgated_backend_errors_total{kind="%s"}'
        be.send_raw(harness.encode_frame(b"{nope", "length-prefixed"))
        be.send({"type": "launch"})
        be.send({"type": "send", "socketId": "A" * 22, "data": "x"})
        m = self.wait_metric(err % "unknown_socket", lambda v: v == 1)
        m = self.wait_metric(err % "unknown_type", lambda v: v == 1)
        self.assertEqual(m[err % "invalid_json"], 1)
        self.assertEqual(m[err % "not_object"], 0)


if __name__ == "__main__":
    harness.main()
