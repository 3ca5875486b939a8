#!/usr/bin/env python3
"""The context object: default fields, every source kind, limits, hostile values."""

import base64
import re

import harness
from harness import http_raw, http_upgrade, upgrade_head, ws_status

SOCKET_ID = re.compile(r"^[A-Za-z0-9_-]{22}$")


def field(name, source, key=None, **kw):
    f = {"name": name, "source": source}
    if key is not None:
        f["key"] = key
    f.update(kw)
    return f


def fields(*fs):
    return {"context": {"fields": list(fs)}}


def merge_fields(config, *fs):
    return dict(config, **fields(*fs))


class DefaultContext(harness.GatewayTest):
    def setUp(self):
        super().setUp()
        self.gw = self.gateway()
        self.be = self.backend(self.gw)

    def test_open_and_message_carry_exact_context(self):
        before = harness.now_ms()
        c = self.connect(self.gw, extra_headers=[("Cookie", "a=1; X-Token=tok123; b=2"),
                                                 ("X-User-Id", "user-7")])
        after = harness.now_ms()
        op = self.be.wait_open()
        ctx = op["context"]
        self.assertEqual(list(ctx), ["socketId", "createdAt", "token", "userId"])
        self.assertEqual(ctx["socketId"], op["socketId"])
        self.assertEqual(ctx["token"], "tok123")
        self.assertEqual(ctx["userId"], "user-7")
        self.assertIs(type(ctx["createdAt"]), int)
        self.assertGreaterEqual(ctx["createdAt"], before - 1000)
        self.assertLessEqual(ctx["createdAt"], after + 1000)
        c.send("hi")
        msg = self.be.wait_event("message", op["socketId"])
        self.assertEqual(msg["context"], ctx)
        self.assertEqual(list(msg["context"]), list(ctx))
        c.close(1000, "bye")
        close = self.be.wait_event("close", op["socketId"])
        self.assertEqual(close["context"], ctx)

    def test_socket_id_format(self):
        self.connect(self.gw)
        sid = self.be.wait_open()["socketId"]
        self.assertRegex(sid, SOCKET_ID)
        raw = base64.urlsafe_b64decode(sid + "==")
        self.assertEqual(len(raw), 16)
        # Canonical encoding: the 4 spare bits of the last character are 0.
        self.assertEqual(base64.urlsafe_b64encode(raw).decode().rstrip("="), sid)

    def test_missing_fields_are_null(self):
        self.connect(self.gw)
        ctx = self.be.wait_open()["context"]
        self.assertEqual(list(ctx), ["socketId", "createdAt", "token", "userId"])
        self.assertIsNone(ctx["token"])
        self.assertIsNone(ctx["userId"])

    def test_socket_ids_unique_over_100(self):
        clients = [self.connect(self.gw) for _ in range(100)]
        opens = self.be.wait_opens(100, timeout=30)
        ids = [o["socketId"] for o in opens]
        self.assertEqual(len(set(ids)), 100)
        self.assertTrue(all(SOCKET_ID.match(i) for i in ids))
        for c in clients:
            c.close()


class Sources(harness.GatewayTest):
    def open_context(self, gw, be, path="/ws", headers=None):
        self.connect(gw, path=path, extra_headers=headers)
        return be.wait_open()["context"]

    def test_cookie_quoted_value(self):
        gw = self.gateway(fields(field("s", "cookie", "sess")))
        be = self.backend(gw)
        ctx = self.open_context(gw, be, headers=[("Cookie", 'a=1; sess="abc123"; b=2')])
        self.assertEqual(ctx["s"], "abc123")

    def test_cookie_first_wins_over_several_headers(self):
        gw = self.gateway(fields(field("s", "cookie", "sess")))
        be = self.backend(gw)
        ctx = self.open_context(gw, be, headers=[("Cookie", "a=1"),
                                                 ("Cookie", "b=2; sess=first"),
                                                 ("Cookie", "sess=second")])
        self.assertEqual(ctx["s"], "first")

    def test_cookie_first_wins_in_one_header(self):
        gw = self.gateway(fields(field("s", "cookie", "sess")))
        be = self.backend(gw)
        ctx = self.open_context(gw, be, headers=[("Cookie", "sess=one; sess=two")])
        self.assertEqual(ctx["s"], "one")

    def test_cookie_name_is_exact(self):
        # A cookie whose name merely contains the key is not it.
        gw = self.gateway(fields(field("s", "cookie", "sess")))
        be = self.backend(gw)
        ctx = self.open_context(gw, be, headers=[("Cookie", "xsess=no; sessx=no")])
        self.assertIsNone(ctx["s"])

    def test_header_case_insensitive(self):
        gw = self.gateway(fields(field("h", "header", "X-Custom-Thing")))
        be = self.backend(gw)
        ctx = self.open_context(gw, be, headers=[("x-CUSTOM-thing", "value 1")])
        self.assertEqual(ctx["h"], "value 1")

    def test_header_twice_400(self):
        gw = self.gateway(fields(field("h", "header", "X-Custom-Thing")))
        self.assertEqual(ws_status(gw.url, extra_headers=[("X-Custom-Thing", "a"),
                                                          ("x-custom-thing", "b")]), 400)

    def test_query_percent_decoded_plus_is_space(self):
        gw = self.gateway(fields(field("q", "query", "room")))
        be = self.backend(gw)
        ctx = self.open_context(gw, be, path="/ws?x=1&room=hello%20big+world%21&y=2")
        self.assertEqual(ctx["q"], "hello big world!")

    def test_query_missing_is_null(self):
        gw = self.gateway(fields(field("q", "query", "room")))
        be = self.backend(gw)
        ctx = self.open_context(gw, be, path="/ws?rooms=1&xroom=2")
        self.assertIsNone(ctx["q"])

    def test_peer(self):
        gw = self.gateway(fields(field("ip", "peer")))
        be = self.backend(gw)
        ctx = self.open_context(gw, be)
        self.assertEqual(ctx["ip"], "127.0.0.1")

    def test_peer_ipv6(self):
        if not harness.have_ipv6_loopback():
            self.skipTest("no IPv6 loopback")
        gw = self.gateway(merge_fields({"listen": {"address": "::1"}}, field("ip", "peer")))
        be = self.backend(gw)
        ctx = self.open_context(gw, be)
        self.assertEqual(ctx["ip"], "::1")

    def test_fields_in_config_order(self):
        gw = self.gateway(fields(field("z", "peer"), field("a", "header", "X-A"),
                                 field("m", "query", "m")))
        be = self.backend(gw)
        ctx = self.open_context(gw, be, path="/ws?m=3", headers=[("X-A", "1")])
        self.assertEqual(list(ctx), ["socketId", "createdAt", "z", "a", "m"])
        self.assertEqual(ctx, dict(ctx, z="127.0.0.1", a="1", m="3"))


class Rejections(harness.GatewayTest):
    def test_required_missing_401_backend_gets_nothing(self):
        gw = self.gateway(fields(field("userId", "header", "X-User-Id", required=True)),
                          workers=1)
        be = self.backend(gw)
        be.wait_conns(1)
        self.assertEqual(ws_status(gw.url), 401)
        # A later accepted client's open is the first frame: nothing came before it.
        self.connect(gw, extra_headers=[("X-User-Id", "u")])
        op = be.wait_open()
        self.assertEqual(be.snapshot()[0], op)
        self.assertEqual(op["context"]["userId"], "u")

    def test_required_present_empty_is_accepted(self):
        gw = self.gateway(fields(field("userId", "header", "X-User-Id", required=True)))
        be = self.backend(gw)
        self.connect(gw, extra_headers=[("X-User-Id", "")])
        self.assertEqual(be.wait_open()["context"]["userId"], "")

    def test_max_length(self):
        gw = self.gateway(fields(field("h", "header", "X-H", max_length=8),
                                 field("q", "query", "q", max_length=4)))
        be = self.backend(gw)
        self.assertEqual(ws_status(gw.url, extra_headers=[("X-H", "123456789")]), 400)
        # For query the limit applies after percent-decoding: 4 bytes here.
        self.assertEqual(ws_status(gw.url + "?q=%41%42%43%44%45"), 400)
        self.connect(gw, path="/ws?q=%41%42%43%44", extra_headers=[("X-H", "12345678")])
        ctx = be.wait_open()["context"]
        self.assertEqual((ctx["h"], ctx["q"]), ("12345678", "ABCD"))

    def test_default_max_length_4096(self):
        gw = self.gateway()
        self.assertEqual(ws_status(gw.url, extra_headers=[("X-User-Id", "u" * 4097)]), 400)
        self.assertEqual(ws_status(gw.url, extra_headers=[("X-User-Id", "u" * 4096)]), 101)

    def test_invalid_utf8_header_400(self):
        gw = self.gateway()
        r = http_raw(gw.port, upgrade_head(gw.port, extra=[("X-User-Id", b"ab\xff\xfecd")]))
        self.assertEqual(r.status, 400, r)

    def test_invalid_utf8_query_400(self):
        gw = self.gateway(fields(field("q", "query", "q")))
        self.assertEqual(ws_status(gw.url + "?q=%C3%28"), 400)

    def test_invalid_utf8_unconfigured_header_ignored(self):
        # Only configured fields are decoded as context values.
        gw = self.gateway()
        r = http_upgrade(gw.port, upgrade_head(gw.port, extra=[("X-Other", b"\xff")]))
        self.assertEqual(r.status, 101)


class HostileValues(harness.GatewayTest):
    def test_values_reach_backend_exactly(self):
        gw = self.gateway(fields(field("q", "query", "q"), field("h", "header", "X-H")))
        be = self.backend(gw)
        q = '"quote" \\back\\slash \r\nCRLF \u00e9\u2603 </script> \x7f\x01'
        encoded = "".join("%%%02X" % b for b in q.encode())
        h = 'a"b\\c d {"x":1} \u00e9'
        raw = upgrade_head(gw.port, path="/ws?q=" + encoded,
                           extra=[("X-H", h.encode())])
        r = http_upgrade(gw.port, raw)
        self.assertEqual(r.status, 101, r)
        op = be.wait_open()
        self.assertEqual(be.errors, [])
        self.assertEqual(op["context"]["q"], q)
        self.assertEqual(op["context"]["h"], h)

    def test_nul_in_query_400(self):
        # \u0000 would be valid JSON, but C strings in backends end there.
        gw = self.gateway(fields(field("q", "query", "q")))
        be = self.backend(gw)
        r = http_upgrade(gw.port, upgrade_head(gw.port, path="/ws?q=a%00b"))
        self.assertEqual(r.status, 400)
        self.assertEqual(be.snapshot(), [])

    def test_crlf_in_query(self):
        gw = self.gateway(fields(field("q", "query", "q")))
        be = self.backend(gw)
        self.connect(gw, path="/ws?q=line1%0D%0Aline2%0A")
        self.assertEqual(be.wait_open()["context"]["q"], "line1\r\nline2\n")


class HostileValuesNdjson(HostileValues):
    """The same values must not break the line framing."""
    framing = "ndjson"


if __name__ == "__main__":
    harness.main()
