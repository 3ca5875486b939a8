#!/usr/bin/env python3
"""The admin listener: health, readiness, metrics and operator endpoints."""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
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
           "backend_down", "http_version", "token")


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
            self.assertTrue(name.startswith(("wsgated_", "process_")), name)
            self.assertEqual(name.endswith("_total"), kind == "counter", name)

    def test_process_metrics(self):
        """The standard process_* metrics, read from the kernel."""
        before = time.time()
        gw = self.admin_gateway()
        self.backend(gw)
        c = self.connect(gw)
        m = self.scrape()
        with open("/proc/%d/status" % gw.proc.pid) as f:
            rss_kib = int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
        fds = len(os.listdir("/proc/%d/fd" % gw.proc.pid))
        self.assertLessEqual(abs(m["process_resident_memory_bytes"] - rss_kib * 1024),
                             8 << 20)
        self.assertGreater(m["process_virtual_memory_bytes"],
                           m["process_resident_memory_bytes"])
        # Listeners, the backend links, the client, the scrape itself.
        self.assertGreaterEqual(m["process_open_fds"], 5)
        self.assertLessEqual(abs(m["process_open_fds"] - fds), 4)
        with open("/proc/%d/limits" % gw.proc.pid) as f:
            soft = int(re.search(r"Max open files\s+(\d+)", f.read()).group(1))
        self.assertEqual(m["process_max_fds"], soft)
        self.assertGreaterEqual(m["process_cpu_seconds_total"], 0)
        self.assertTrue(before - 2 <= m["process_start_time_seconds"] <= time.time(),
                        (before, m["process_start_time_seconds"]))
        c.close()

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


WSGATECTL = os.environ.get("WSGATECTL") or os.path.join(
    os.path.dirname(harness.WSGATED or "."), "wsgatectl")
SECRET = "tok-8c1f-secret"
ENTRY_KEYS = {"socketId", "userId", "peer", "worker", "age_seconds", "queued_bytes"}


class Endpoints(AdminTest):
    """/status, /connections and the close and send endpoints."""

    def client(self, gw, user=None):
        headers = [("Cookie", "X-Token=" + SECRET)]
        if user is not None:
            headers.append(("X-User-Id", user))
        return self.connect(gw, extra_headers=headers)

    def json(self, path):
        status, headers, body = self.get(path)
        self.assertEqual(status, 200, body)
        self.assertEqual(headers["content-type"], "application/json")
        return json.loads(body)

    def test_status(self):
        gw = self.admin_gateway(workers=2)
        be = self.backend(gw)
        be.wait_conns(2)
        self.client(gw)
        self.client(gw)
        be.wait_opens(2)
        st = self.json("/status")
        version = subprocess.run([harness.WSGATED, "-V"], stdout=subprocess.PIPE,
                                 timeout=TIMEOUT).stdout.decode().split()[1]
        self.assertEqual(st["version"], version)
        self.assertEqual(st["pid"], gw.proc.pid)
        self.assertGreaterEqual(st["uptime_seconds"], 0)
        self.assertEqual(st["connections"], 2)
        self.assertEqual([w["worker"] for w in st["workers"]], [0, 1])
        self.assertEqual(sum(w["connections"] for w in st["workers"]), 2)
        for w in st["workers"]:
            self.assertEqual(set(w), {"worker", "connections", "backend",
                                      "queued_messages", "queued_bytes"})
            self.assertEqual(w["backend"], "up")
        be.stop()
        wait_until(lambda: all(w["backend"] == "down" for w in self.json("/status")["workers"]),
                   what="backend down in /status")

    def test_connections_show_only_what_an_operator_needs(self):
        gw = self.admin_gateway()
        be = self.backend(gw)
        self.client(gw, user="alice")
        self.client(gw)
        opens = be.wait_opens(2)
        alice = [o["socketId"] for o in opens if o["context"]["userId"] == "alice"][0]
        other = [o["socketId"] for o in opens if o["socketId"] != alice][0]
        entries = {e["socketId"]: e for e in self.json("/connections")}
        self.assertEqual(set(entries), {alice, other})
        for e in entries.values():
            self.assertEqual(set(e), ENTRY_KEYS)
            self.assertEqual(e["peer"], "127.0.0.1")
            self.assertIn(e["worker"], (0, 1))
            self.assertLess(e["age_seconds"], TIMEOUT)
            self.assertEqual(e["queued_bytes"], 0)
        self.assertEqual(entries[alice]["userId"], "alice")
        self.assertIsNone(entries[other]["userId"])
        # The token is in the context the backend got, and nowhere else.
        self.assertEqual(opens[0]["context"]["token"], SECRET)
        for path in ("/connections", "/status", "/metrics"):
            self.assertNotIn(SECRET.encode(), self.get(path)[2], path)
        self.post("/connections/%s/send" % alice, b"x")
        self.post("/connections/%s/close" % alice)
        self.assertNotIn(SECRET, gw.log_text())

    def test_connections_limit(self):
        gw = self.admin_gateway()
        be = self.backend(gw)
        for _ in range(3):
            self.client(gw)
        be.wait_opens(3)
        self.assertEqual(len(self.json("/connections")), 3)
        self.assertEqual(len(self.json("/connections?limit=2")), 2)
        self.assertEqual(len(self.json("/connections?limit=1")), 1)
        for query in ("limit=0", "limit=abc", "limit=10001", "limit=-1", "limit=",
                      "limit=%zz", "count=2"):
            status, _, body = self.get("/connections?" + query)
            self.assertEqual(status, 400, (query, body))

    def test_close_with_code_and_reason(self):
        gw = self.admin_gateway()
        be = self.backend(gw)
        c = self.client(gw)
        sid = be.wait_open()["socketId"]
        status, _, body = self.post("/connections/%s/close?code=4001&reason=bye%%20now" % sid)
        self.assertEqual((status, body), (202, b"accepted\n"))
        self.assertEqual(c.wait_closed(), (4001, "bye now"))
        ev = be.wait_event("close", sid)
        self.assertEqual((ev["code"], ev["reason"]), (4001, "bye now"))
        gw.wait_log(r"admin: 127\.0\.0\.1 closes socket %s with 4001" % sid)
        # Gone now.
        self.assertEqual(self.post("/connections/%s/close" % sid)[0], 404)
        # The default code is 1000.
        c = self.client(gw)
        first = sid
        sid = be.wait_for(lambda fr: [f["socketId"] for f in fr if f["type"] == "open"
                                      and f["socketId"] != first], what="second open")[0]
        self.assertEqual(self.post("/connections/%s/close" % sid)[0], 202)
        self.assertEqual(c.wait_closed()[0], 1000)

    def test_close_refusals(self):
        gw = self.admin_gateway()
        be = self.backend(gw)
        c = self.client(gw)
        sid = be.wait_open()["socketId"]
        for path, status in (
                ("/connections/AAAAAAAAAAAAAAAAAAAAAA/close", 404),
                ("/connections/short/close", 404),
                ("/connections/%s/close?code=2000" % sid, 400),
                ("/connections/%s/close?code=1001" % sid, 400),
                ("/connections/%s/close?code=5000" % sid, 400),
                ("/connections/%s/close?code=abc" % sid, 400),
                ("/connections/%s/close?reason=%s" % (sid, "r" * 124), 400),
                ("/connections/%s/close?reason=%%FF" % sid, 400),
                ("/connections/%s/close?reason=a%%00b" % sid, 400),
                ("/connections/%s/close?reason=%%zz" % sid, 400),
                ("/connections/%s/close?why=x" % sid, 400)):
            got, _, body = self.post(path)
            self.assertEqual(got, status, (path, body))
        status, headers, _ = self.get("/connections/%s/close" % sid)
        self.assertEqual((status, headers.get("allow")), (405, "POST"))
        # None of them closed it; 123 bytes of reason are fine.
        c.send("still here")
        be.wait_messages(sid, 1)
        self.assertEqual(self.post("/connections/%s/close?code=3000&reason=%s"
                                   % (sid, "r" * 123))[0], 202)
        self.assertEqual(c.wait_closed(), (3000, "r" * 123))

    def test_send_text_and_binary(self):
        gw = self.admin_gateway()
        be = self.backend(gw)
        c = self.client(gw)
        sid = be.wait_open()["socketId"]
        before = self.scrape()["wsgated_messages_out_total"]
        status, _, body = self.post("/connections/%s/send" % sid, "héllo".encode())
        self.assertEqual((status, body), (202, b"accepted\n"))
        self.assertEqual(self.post("/connections/%s/send" % sid, b"")[0], 202)
        self.assertEqual(c.recv(), "héllo")
        self.assertEqual(c.recv(), "")
        self.assertEqual(self.post("/connections/%s/send?binary=1" % sid, b"\xff\x00\x01")[0],
                         202)
        self.assertEqual(c.recv(), b"\xff\x00\x01")
        self.assertEqual(self.scrape()["wsgated_messages_out_total"] - before, 3)
        gw.wait_log(r"admin: 127\.0\.0\.1 sends 3 bytes to socket %s" % sid)

    def test_send_refusals(self):
        gw = self.admin_gateway({"limits": {"max_message_bytes": 100}})
        be = self.backend(gw)
        c = self.client(gw)
        sid = be.wait_open()["socketId"]
        path = "/connections/%s/send" % sid
        for p, body, status in ((path, b"\xff", 400),
                                (path + "?binary=2", b"x", 400),
                                (path + "?text=1", b"x", 400),
                                (path, b"x" * 101, 413),
                                (path + "?binary=1", b"x" * 101, 413),
                                ("/connections/AAAAAAAAAAAAAAAAAAAAAA/send", b"x", 404),
                                ("/connections/%s/send" % ("A" * 23), b"x", 404)):
            got, _, answer = self.post(p, body)
            self.assertEqual(got, status, (p, answer))
        c.assert_no_message()
        self.assertEqual(self.post(path, b"y" * 100)[0], 202)
        self.assertEqual(c.recv(), "y" * 100)
        # A reload's limit applies to the next send.
        since = gw.log_size()
        gw.write_config({"admin": {"port": self.admin_port},
                         "limits": {"max_message_bytes": 50}})
        gw.signal(signal.SIGHUP)
        gw.wait_log(r"reloaded ", since=since)
        self.assertEqual(self.post(path, b"z" * 60)[0], 413)
        self.assertEqual(self.post(path, b"z" * 50)[0], 202)
        self.assertEqual(c.recv(), "z" * 50)

    def test_publish_and_broadcast(self):
        gw = self.admin_gateway({"limits": {"max_message_bytes": 100}})
        be = self.backend(gw)
        a = self.client(gw)
        sa = be.wait_open()["socketId"]
        b = self.client(gw)
        be.wait_opens(2)
        be.send({"type": "subscribe", "socketId": sa, "topic": "room 1/é"})
        be.send({"type": "send", "socketId": sa, "data": "subscribed"})
        self.assertEqual(a.recv(), "subscribed")
        status, _, body = self.post("/publish?topic=room%201%2F%C3%A9", b"to the room")
        self.assertEqual((status, body), (202, b"accepted\n"))
        self.assertEqual(a.recv(), "to the room")
        self.assertEqual(self.post("/broadcast", "to all".encode())[0], 202)
        self.assertEqual(self.post("/broadcast?binary=1", b"\xff")[0], 202)
        for c in (a, b):
            self.assertEqual(c.recv(), "to all")
            self.assertEqual(c.recv(), b"\xff")
        b.assert_no_message()
        gw.wait_log(r"admin: 127\.0\.0\.1 publishes 11 bytes to topic \"room 1/\S+\"")
        gw.wait_log(r"admin: 127\.0\.0\.1 broadcasts 6 bytes")
        for p, body, status in (("/publish", b"x", 400),
                                ("/publish?topic=", b"x", 400),
                                ("/publish?topic=a%00b", b"x", 400),
                                ("/publish?topic=%zz", b"x", 400),
                                ("/publish?topic=" + "t" * 129, b"x", 400),
                                ("/publish?topic=t&x=1", b"x", 400),
                                ("/publish?topic=t", b"\xff", 400),
                                ("/broadcast", b"x" * 101, 413),
                                ("/broadcast?binary=3", b"x", 400)):
            got, _, answer = self.post(p, body)
            self.assertEqual(got, status, (p, answer))
        status, headers, _ = self.get("/broadcast")
        self.assertEqual((status, headers.get("allow")), (405, "POST"))
        a.assert_no_message()
        b.assert_no_message()

    def test_concurrent_listings_while_clients_come_and_go(self):
        gw = self.admin_gateway(workers=2)
        self.backend(gw)
        results = []

        def lister():
            for _ in range(10):
                status, _, body = self.get("/connections")
                results.append((status, json.loads(body)))
        threads = [threading.Thread(target=lister) for _ in range(4)]
        for t in threads:
            t.start()
        for _ in range(10):
            c = self.connect(gw)
            c.close()
        for t in threads:
            t.join(TIMEOUT * 2)
        self.assertEqual(len(results), 40)
        self.assertTrue(all(st == 200 and isinstance(doc, list) for st, doc in results))

    def test_listing_with_many_workers_and_none_connected(self):
        self.admin_gateway(workers=4)
        self.assertEqual(self.json("/connections"), [])


class Ctl(AdminTest):
    """wsgatectl against the real daemon."""

    def ctl(self, gw, *args, config=None):
        cmd = [WSGATECTL, "-c", config or gw.conf_path] + list(args)
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=TIMEOUT + 5)
        return r.returncode, r.stdout.decode(), r.stderr.decode()

    def ok(self, gw, *args):
        rc, out, err = self.ctl(gw, *args)
        self.assertEqual((rc, err), (0, ""), out)
        return out

    def columns(self, header, line):
        """Each column starts where its header does."""
        starts = [m.start() for m in re.finditer(r"\S+", header)]
        for a in starts[1:]:
            self.assertEqual(line[a - 2:a - 1], " ", (header, line))
            self.assertNotEqual(line[a], " ", (header, line))

    def test_status(self):
        gw = self.admin_gateway(workers=2)
        be = self.backend(gw)
        be.wait_conns(2)
        self.connect(gw)
        be.wait_open()
        out = self.ok(gw, "status").splitlines()
        self.assertRegex(out[0], r"^wsgated \S+, pid %d, up \d+s, 1 connections$" % gw.proc.pid)
        self.assertEqual(out[1].split(), ["WORKER", "CONNECTIONS", "BACKEND",
                                          "QUEUED_MESSAGES", "QUEUED_BYTES"])
        self.assertEqual([line.split()[0] for line in out[2:]], ["0", "1"])
        for line in out[2:]:
            self.columns(out[1], line)
            self.assertEqual(line.split()[2], "up")
        self.assertEqual(json.loads(self.ok(gw, "-j", "status"))["connections"], 1)

    def test_connections(self):
        gw = self.admin_gateway()
        be = self.backend(gw)
        self.connect(gw, extra_headers=[("X-User-Id", "alice"),
                                        ("Cookie", "X-Token=" + SECRET)])
        self.connect(gw)
        opens = be.wait_opens(2)
        alice = [o["socketId"] for o in opens if o["context"]["userId"] == "alice"][0]
        out = self.ok(gw, "connections")
        self.assertNotIn(SECRET, out)
        lines = out.splitlines()
        self.assertEqual(lines[0].split(), ["SOCKET_ID", "USER_ID", "PEER", "WORKER", "AGE",
                                            "QUEUED_BYTES"])
        self.assertEqual(len(lines), 3)
        rows = {line.split()[0]: line.split() for line in lines[1:]}
        self.assertEqual(rows[alice][1:3], ["alice", "127.0.0.1"])
        other = [r for k, r in rows.items() if k != alice][0]
        self.assertEqual(other[1], "-")
        for line in lines[1:]:
            self.columns(lines[0], line)
        self.assertEqual(len(self.ok(gw, "connections", "-n", "1").splitlines()), 2)
        listed = json.loads(self.ok(gw, "-j", "connections"))
        self.assertEqual({e["socketId"] for e in listed}, {o["socketId"] for o in opens})

    def test_close_and_send(self):
        gw = self.admin_gateway()
        be = self.backend(gw)
        c = self.connect(gw)
        sid = be.wait_open()["socketId"]
        self.assertEqual(self.ok(gw, "send", sid, "hello from wsgatectl"), "")
        self.assertEqual(c.recv(), "hello from wsgatectl")
        self.ok(gw, "send", "-b", sid, "raw")
        self.assertEqual(c.recv(), b"raw")
        self.assertEqual(self.ok(gw, "close", sid, "4100", "down for maintenance"), "")
        self.assertEqual(c.wait_closed(), (4100, "down for maintenance"))
        self.assertEqual(be.wait_event("close", sid)["code"], 4100)

    def test_publish_and_broadcast(self):
        gw = self.admin_gateway()
        be = self.backend(gw)
        a = self.connect(gw)
        sa = be.wait_open()["socketId"]
        b = self.connect(gw)
        be.wait_opens(2)
        be.send({"type": "subscribe", "socketId": sa, "topic": "news & views"})
        be.send({"type": "send", "socketId": sa, "data": "subscribed"})
        self.assertEqual(a.recv(), "subscribed")
        self.assertEqual(self.ok(gw, "publish", "news & views", "extra!"), "")
        self.assertEqual(a.recv(), "extra!")
        self.assertEqual(self.ok(gw, "broadcast", "maintenance at noon"), "")
        self.assertEqual(self.ok(gw, "broadcast", "-b", "raw"), "")
        for c in (a, b):
            self.assertEqual(c.recv(), "maintenance at noon")
            self.assertEqual(c.recv(), b"raw")
        b.assert_no_message()
        for args in (("publish", "t"), ("broadcast",), ("broadcast", "-b")):
            rc, out, err = self.ctl(gw, *args)
            self.assertEqual(rc, 1, args)
            self.assertIn("usage: wsgatectl", err, args)
        rc, out, err = self.ctl(gw, "publish", "", "x")
        self.assertEqual(rc, 1)
        self.assertIn("publish: topic must be 1 to 128 bytes", err)

    def test_metrics(self):
        gw = self.admin_gateway()
        out = self.ok(gw, "metrics")
        self.assertIn("\nwsgated_connections_open 0\n", out)

    def test_errors(self):
        gw = self.admin_gateway()
        be = self.backend(gw)
        self.connect(gw)
        sid = be.wait_open()["socketId"]
        for args, message in (
                (("close", "AAAAAAAAAAAAAAAAAAAAAA"), "close: no such connection (HTTP 404)"),
                (("send", "AAAAAAAAAAAAAAAAAAAAAA", "x"), "send: no such connection (HTTP 404)"),
                (("close", "not-an-id"), '"not-an-id" is not a socket id'),
                (("close", sid, "2000"), "close: code must be 1000 or from 3000 to 4999"),
                (("connections", "-n", "0"), "connections: limit must be an integer"),
                (("connections", "-n", "x"), "-n x: not a number"),
                (("-a", "nocolon", "status"), "-a nocolon: use host:port")):
            rc, out, err = self.ctl(gw, *args)
            self.assertEqual(rc, 1, args)
            self.assertIn(message, err, args)
            self.assertEqual(out, "", args)
        for args in (("frobnicate",), ("status", "extra"), ("send", sid), ()):
            rc, out, err = self.ctl(gw, *args)
            self.assertEqual(rc, 1, args)
            self.assertIn("usage: wsgatectl", err, args)

    def test_admin_off_or_unreachable(self):
        gw = self.gateway()
        rc, out, err = self.ctl(gw, "status")
        self.assertEqual(rc, 1)
        self.assertIn("the admin listener is off: admin.port is 0 in %s" % gw.conf_path, err)
        port = free_port()
        rc, out, err = self.ctl(gw, "-a", "127.0.0.1:%d" % port, "status")
        self.assertEqual(rc, 1)
        self.assertIn("cannot connect to the admin listener at 127.0.0.1:%d: "
                      "Connection refused" % port, err)
        rc, out, err = self.ctl(gw, "status", config=os.path.join(gw.dir, "missing.conf"))
        self.assertEqual(rc, 1)
        self.assertIn("missing.conf: No such file or directory", err)

    def test_address_option_and_ipv6(self):
        if not harness.have_ipv6_loopback():
            self.skipTest("no IPv6 loopback")
        self.admin_port = free_port("::1")
        gw = self.gateway({"admin": {"address": "::1", "port": self.admin_port}})
        self.assertIn("wsgated_workers", self.ok(gw, "metrics"))
        rc, out, err = self.ctl(gw, "-a", "[::1]:%d" % self.admin_port, "status")
        self.assertEqual(rc, 0, err)


if __name__ == "__main__":
    harness.main()
