#!/usr/bin/env python3
"""Rate limits a public gateway needs: each connection's messages and
bytes a second (limits.message_rate, byte_rate), paused or closed as
limits.rate_action says, and each address's new connections a second
(limits.connection_rate_per_ip)."""

import time

import harness
from harness import http_raw, upgrade_head, RawWebSocket, OP_TEXT
from test_admin import AdminTest


class MessageRate(harness.GatewayTest):
    def start(self, limits):
        gw = self.gateway({"limits": limits})
        be = self.backend(gw)
        c = self.connect(gw)
        sid = be.wait_open()["socketId"]
        return gw, be, c, sid

    def test_over_the_rate_paused_nothing_lost(self):
        # 10 a second, 5 at once: 25 messages take at least two seconds,
        # and every one arrives, in order.
        gw, be, c, sid = self.start({"message_rate": 10, "message_burst": 5})
        start = time.monotonic()
        c.send_many(["m%02d" % i for i in range(25)])
        got = be.wait_messages(sid, 25, timeout=20)
        self.assertGreaterEqual(time.monotonic() - start, 1.8)
        self.assertEqual([f["data"] for f in got], ["m%02d" % i for i in range(25)])
        self.assertEqual(be.events("close", sid), [])
        self.assertGreater(harness.read_counters(gw)["rate_limited_messages"], 0)
        c.send("still open")
        self.assertEqual(be.wait_messages(sid, 26, timeout=5)[-1]["data"], "still open")

    def test_within_the_burst_not_slowed(self):
        gw, be, c, sid = self.start({"message_rate": 10, "message_burst": 20})
        c.send_many(["m%02d" % i for i in range(20)])
        be.wait_messages(sid, 20, timeout=1.5)
        self.assertEqual(harness.read_counters(gw)["rate_limited_messages"], 0)

    def test_close_action_names_the_limit(self):
        gw, be, c, sid = self.start({"message_rate": 10, "message_burst": 5,
                                     "rate_action": "close"})
        c.send_many(["m%02d" % i for i in range(10)])
        code, reason = c.wait_closed()
        self.assertEqual((code, reason), (1008, "message rate limit"))
        close = be.wait_event("close", sid)
        self.assertEqual((close["code"], close["reason"]), (1008, "message rate limit"))
        self.assertEqual(len(be.events("message", sid)), 5)

    def test_byte_rate_paused_nothing_lost(self):
        # 20,000 bytes a second, 10,000 at once: 50,000 bytes take two
        # seconds at least.
        gw, be, c, sid = self.start({"byte_rate": 20000, "byte_burst": 10000,
                                     "message_rate": 0})
        start = time.monotonic()
        c.send_many(["%02d" % i + "x" * 4998 for i in range(10)])
        got = be.wait_messages(sid, 10, timeout=20)
        self.assertGreaterEqual(time.monotonic() - start, 1.8)
        self.assertEqual([f["data"][:2] for f in got], ["%02d" % i for i in range(10)])
        self.assertGreater(harness.read_counters(gw)["rate_limited_bytes"], 0)

    def test_byte_rate_close(self):
        gw, be, c, sid = self.start({"byte_rate": 20000, "byte_burst": 10000,
                                     "rate_action": "close"})
        c.send("x" * 30000)
        self.assertEqual(c.wait_closed(), (1008, "byte rate limit"))
        self.assertEqual(be.wait_event("close", sid)["reason"], "byte rate limit")

    def test_off_with_zero(self):
        gw, be, c, sid = self.start({"message_rate": 0, "byte_rate": 0})
        c.send_many(["m"] * 3000)
        be.wait_messages(sid, 3000, timeout=20)
        counters = harness.read_counters(gw)
        self.assertEqual((counters["rate_limited_messages"],
                          counters["rate_limited_bytes"]), (0, 0))


class ConnectionRate(AdminTest):
    def test_new_connections_per_address_429(self):
        # 2 a second, 3 at once. The harness's start-up probe took one:
        # wait for the bucket to empty, then three upgrades pass within
        # half a second and the fourth is refused.
        gw = self.admin_gateway({"limits": {"connection_rate_per_ip": 2,
                                            "connection_burst_per_ip": 3}})
        self.backend(gw)
        time.sleep(1.6)
        for _ in range(3):
            self.addCleanup(RawWebSocket(gw.port).close)
        r = http_raw(gw.port, upgrade_head(gw.port))
        self.assertEqual(r.status, 429)
        self.assertEqual(r.header("retry-after"), "1")
        self.wait_metric('wsgated_connections_rejected_total{reason="rate_per_ip"}',
                         lambda v: v == 1)
        # Half a second later the bucket takes one more.
        time.sleep(0.6)
        self.addCleanup(RawWebSocket(gw.port).close)

    def test_off_with_zero(self):
        gw = self.admin_gateway({"limits": {"connection_rate_per_ip": 0,
                                            "connection_burst_per_ip": 1}})
        self.backend(gw)
        for _ in range(20):
            RawWebSocket(gw.port).close()


if __name__ == "__main__":
    harness.main()
