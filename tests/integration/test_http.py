#!/usr/bin/env python3
"""The HTTP front door: status answers, limits, subprotocols, signals."""

import base64
import signal
import socket
import time

import harness
from harness import upgrade_head, http_raw, http_upgrade, ws_status


class Answers(harness.GatewayTest):
    """Raw request heads against a default gateway (no backend needed)."""

    def setUp(self):
        super().setUp()
        self.gw = self.gateway()

    def answer(self, head):
        r = http_raw(self.gw.port, head)
        self.assertIsNotNone(r, "connection closed without an answer")
        return r

    def assertStatus(self, head, status):
        r = self.answer(head)
        self.assertEqual(r.status, status, "request %r got %r" % (head, r))
        if status != 101:
            self.assertEqual((r.header("connection") or "").lower(), "close", r)
        return r

    def upgrade(self, **kw):
        return upgrade_head(self.gw.port, **kw)

    def test_valid_upgrade_101(self):
        # Proves the raw head used by every negative test below is valid.
        r = http_upgrade(self.gw.port, self.upgrade())
        self.assertEqual(r.status, 101)
        self.assertEqual(r.header("sec-websocket-accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        self.assertEqual(r.header("upgrade").lower(), "websocket")

    def test_upgrade_with_query_string(self):
        r = http_upgrade(self.gw.port, self.upgrade(path="/ws?room=1"))
        self.assertEqual(r.status, 101)

    def test_connection_token_list(self):
        r = http_upgrade(self.gw.port, self.upgrade(
            omit=("connection",), extra=[("Connection", "keep-alive, Upgrade")]))
        self.assertEqual(r.status, 101)

    def test_healthz_200(self):
        r = self.assertStatus(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 200)
        self.assertEqual(r.body.strip(), b"ok")

    def test_unknown_path_404(self):
        self.assertStatus(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", 404)

    def test_unknown_path_with_upgrade_404(self):
        self.assertStatus(self.upgrade(path="/ws/extra"), 404)

    def test_no_upgrade_426(self):
        r = self.assertStatus(b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n", 426)
        self.assertEqual((r.header("upgrade") or "").lower(), "websocket")

    def test_version_8_426(self):
        r = self.assertStatus(self.upgrade(ws_version="8"), 426)
        self.assertEqual(r.header("sec-websocket-version"), "13")

    def test_version_missing_426(self):
        r = self.assertStatus(self.upgrade(omit=("sec-websocket-version",)), 426)
        self.assertEqual(r.header("sec-websocket-version"), "13")

    def test_malformed_request_line_400(self):
        self.assertStatus(b"GARBAGE\r\nHost: x\r\n\r\n", 400)

    def test_request_line_extra_field_400(self):
        self.assertStatus(b"GET /ws HTTP/1.1 extra\r\nHost: x\r\n\r\n", 400)

    def test_header_without_colon_400(self):
        self.assertStatus(self.upgrade(extra=[("X-Broken", "")])
                          .replace(b"X-Broken: ", b"X-Broken"), 400)

    def test_header_with_nul_400(self):
        self.assertStatus(self.upgrade(extra=[("X-Foo", b"a\x00b")]), 400)

    def test_header_with_bare_cr_400(self):
        self.assertStatus(self.upgrade(extra=[("X-Foo", b"a\rb")]), 400)

    def test_duplicate_key_400(self):
        self.assertStatus(self.upgrade(extra=[("Sec-WebSocket-Key", harness.SAMPLE_KEY)]), 400)

    def test_duplicate_upgrade_400(self):
        self.assertStatus(self.upgrade(extra=[("Upgrade", "websocket")]), 400)

    def test_duplicate_version_400(self):
        self.assertStatus(self.upgrade(extra=[("Sec-WebSocket-Version", "13")]), 400)

    def test_upgrade_websocket_h2c_400(self):
        self.assertStatus(self.upgrade(omit=("upgrade",),
                                       extra=[("Upgrade", "websocket, h2c")]), 400)

    def test_connection_without_upgrade_400(self):
        self.assertStatus(self.upgrade(omit=("connection",),
                                       extra=[("Connection", "keep-alive")]), 400)

    def test_key_short_400(self):
        self.assertStatus(self.upgrade(key=base64.b64encode(b"x" * 15).decode()), 400)

    def test_key_not_base64_400(self):
        self.assertStatus(self.upgrade(key="not base64 at all!!!!!!="), 400)

    def test_key_missing_400(self):
        self.assertStatus(self.upgrade(omit=("sec-websocket-key",)), 400)

    def test_host_missing_400(self):
        self.assertStatus(self.upgrade(omit=("host",)), 400)

    def test_post_405(self):
        r = self.assertStatus(self.upgrade(method="POST"), 405)
        self.assertEqual(r.header("allow"), "GET")

    def test_http10_upgrade_400(self):
        self.assertStatus(self.upgrade(version="HTTP/1.0"), 400)

    def test_http20_505(self):
        self.assertStatus(self.upgrade(version="HTTP/2.0"), 505)


class Limits(harness.GatewayTest):
    def test_head_over_max_head_bytes_431(self):
        gw = self.gateway({"limits": {"max_head_bytes": 1024}})
        r = http_raw(gw.port, upgrade_head(gw.port, extra=[("X-Pad", "a" * 2000)]))
        self.assertEqual(r.status, 431, r)

    def test_head_under_max_head_bytes_101(self):
        gw = self.gateway({"limits": {"max_head_bytes": 1024}})
        head = upgrade_head(gw.port, extra=[("X-Pad", "a" * 700)])
        self.assertLess(len(head), 1000)
        r = http_upgrade(gw.port, head)
        self.assertEqual(r.status, 101)

    def test_huge_head_431_not_hang(self):
        # A head far over the limit, sent without the final empty line.
        gw = self.gateway({"limits": {"max_head_bytes": 1024}})
        r = http_raw(gw.port, b"GET /ws HTTP/1.1\r\nX-Pad: " + b"a" * 100000)
        self.assertIsNotNone(r)
        self.assertEqual(r.status, 431)

    def test_too_many_headers_431(self):
        gw = self.gateway({"limits": {"max_headers": 10}})
        extra = [("X-H%d" % i, "v") for i in range(6)]      # 5 + 6 = 11 header lines
        r = http_raw(gw.port, upgrade_head(gw.port, extra=extra))
        self.assertEqual(r.status, 431, r)

    def test_max_headers_exactly_101(self):
        gw = self.gateway({"limits": {"max_headers": 10}})
        extra = [("X-H%d" % i, "v") for i in range(5)]      # 5 + 5 = 10 header lines
        r = http_upgrade(gw.port, upgrade_head(gw.port, extra=extra))
        self.assertEqual(r.status, 101)

    def test_handshake_timeout(self):
        gw = self.gateway({"limits": {"handshake_timeout": 0.5}})
        sock = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
        self.addCleanup(sock.close)
        start = time.monotonic()
        sock.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\n")
        data = b""
        try:
            while True:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass
        except socket.timeout:
            self.fail("connection still open 5 s after a 0.5 s handshake timeout")
        elapsed = time.monotonic() - start
        self.assertGreaterEqual(elapsed, 0.4)
        self.assertLess(elapsed, 3.0)
        self.assertTrue(data.startswith(b"HTTP/1.1 408"), data)

    def test_third_connection_503(self):
        gw = self.gateway({"limits": {"max_connections": 2}})
        self.backend(gw)
        a = self.connect(gw)
        b = self.connect(gw)
        self.assertEqual(ws_status(gw.url), 503)
        b.close()
        # The slot frees once the gateway has processed the close.
        harness.wait_until(lambda: ws_status(gw.url) == 101, what="a free slot after a close")
        a.close()

    def test_handshakes_in_progress_count_503(self):
        gw = self.gateway({"limits": {"max_connections": 2}})
        socks = []
        for _ in range(2):
            s = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
            self.addCleanup(s.close)
            s.sendall(b"GET /ws HTTP/1.1\r\n")
            socks.append(s)
        self.assertEqual(ws_status(gw.url), 503)


class ListenPath(harness.GatewayTest):
    def test_custom_path(self):
        gw = self.gateway({"listen": {"path": "/custom/socket"}})
        self.assertEqual(http_upgrade(gw.port, upgrade_head(gw.port, path="/custom/socket"))
                         .status, 101)
        self.assertEqual(http_raw(gw.port, upgrade_head(gw.port, path="/ws")).status, 404)
        self.assertEqual(http_raw(gw.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                         .status, 200)


class Subprotocols(harness.GatewayTest):
    def test_echo_configured(self):
        gw = self.gateway({"listen": {"subprotocols": ["chat"]}})
        c = self.connect(gw, subprotocols=["x", "chat"])
        self.assertEqual(c.subprotocol, "chat")

    def test_first_offered_wins(self):
        gw = self.gateway({"listen": {"subprotocols": ["a", "chat"]}})
        c = self.connect(gw, subprotocols=["chat", "a"])
        self.assertEqual(c.subprotocol, "chat")

    def test_unknown_only_connects_without(self):
        gw = self.gateway({"listen": {"subprotocols": ["chat"]}})
        c = self.connect(gw, subprotocols=["x"])
        self.assertIsNone(c.subprotocol)

    def test_none_configured_none_echoed(self):
        gw = self.gateway()
        r = http_upgrade(gw.port, upgrade_head(gw.port, extra=[("Sec-WebSocket-Protocol",
                                                                  "chat")]))
        self.assertEqual(r.status, 101)
        self.assertIsNone(r.header("sec-websocket-protocol"))


class Signals(harness.GatewayTest):
    def test_sigterm_closes_1001_and_exits_0(self):
        gw = self.gateway()
        be = self.backend(gw)
        c = self.connect(gw)
        sid = be.wait_open()["socketId"]
        gw.signal(signal.SIGTERM)
        code, _ = c.wait_closed()
        self.assertEqual(code, 1001)
        self.assertEqual(gw.wait(timeout=10), 0)
        close = be.wait_event("close", sid)
        self.assertEqual(close["code"], 1001)

    def test_sigint_exits_0(self):
        gw = self.gateway()
        gw.signal(signal.SIGINT)
        self.assertEqual(gw.wait(timeout=10), 0)

    def test_sighup_does_not_kill(self):
        gw = self.gateway()
        self.backend(gw, echo=True)
        c = self.connect(gw)
        since = gw.log_size()
        gw.signal(signal.SIGHUP)
        gw.wait_log(r"reloaded ", since=since)
        self.assertTrue(gw.running())
        c.send("still here")
        self.assertEqual(c.recv(), "still here")
        self.assertEqual(http_raw(gw.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").status,
                         200)
        self.assertEqual(gw.stop(), 0)


if __name__ == "__main__":
    harness.main()
