#!/usr/bin/env python3
"""permessage-deflate: negotiated only when websocket.compression is on,
and a compression bomb closes its socket with 1009 instead of eating
memory."""

import os
import zlib

import harness
from harness import RawWebSocket, OP_TEXT


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM for %d" % pid)


class Compression(harness.GatewayTest):
    def test_off_by_default(self):
        gw = self.gateway()
        self.backend(gw, echo=True)
        c = self.connect(gw, compression="deflate")
        self.assertEqual(c.ws.extensions, [])
        c.send("plain")
        self.assertEqual(c.recv(), "plain")

    def test_negotiated_when_on(self):
        gw = self.gateway({"websocket": {"compression": True}})
        be = self.backend(gw, echo=True)
        c = self.connect(gw, compression="deflate")
        self.assertEqual([type(e).__name__ for e in c.ws.extensions],
                         ["PerMessageDeflate"])
        text = "compress me " * 1000
        c.send(text)
        self.assertEqual(c.recv(), text)
        self.assertEqual(be.wait_messages(be.wait_open()["socketId"], 1)[0]["data"], text)
        c.send(b"\x00\xff" * 5000)
        self.assertEqual(c.recv(), b"\x00\xff" * 5000)

    def answer(self, gw, offer):
        r = RawWebSocket(gw.port, extra=[("Sec-WebSocket-Extensions", offer)])
        self.addCleanup(r.close)
        return r.response.header("sec-websocket-extensions")

    def test_invalid_offers_declined_rfc7692_section_5(self):
        # RFC 7692 5 and 7.1: an offer with an unknown, duplicated or
        # out-of-range parameter is declined, never accepted bare.
        gw = self.gateway({"websocket": {"compression": True}})
        self.backend(gw, echo=True)
        for offer in (b"permessage-deflate; server_max_window_bits=7",
                      b"permessage-deflate; server_max_window_bits=16",
                      b"permessage-deflate; client_max_window_bits=7",
                      b"permessage-deflate; client_max_window_bits=16",
                      b"permessage-deflate; foo",
                      b"permessage-deflate; client_no_context_takeover; "
                      b"client_no_context_takeover",
                      b"permessage-deflate; server_no_context_takeover=1"):
            with self.subTest(offer=offer):
                self.assertIsNone(self.answer(gw, offer))

    def test_next_valid_offer_taken_rfc7692_section_5(self):
        gw = self.gateway({"websocket": {"compression": True}})
        self.backend(gw, echo=True)
        got = self.answer(gw, b"permessage-deflate; client_max_window_bits=16, "
                              b"permessage-deflate; server_no_context_takeover; "
                              b"client_max_window_bits")
        # libwebsockets swaps the two no_context_takeover parameters; the
        # gateway asks for both, so both are answered (RFC 7692 7.1.1.1).
        self.assertEqual(got, "permessage-deflate; server_no_context_takeover; "
                              "client_no_context_takeover")
        self.assertEqual(self.answer(gw, b"permessage-deflate; client_no_context_takeover"),
                         "permessage-deflate; client_no_context_takeover")
        self.assertEqual(self.answer(gw, b"permessage-deflate; client_max_window_bits"),
                         "permessage-deflate")

    def test_no_context_takeover_messages_flow(self):
        # The parameters the gateway passes on are honoured: with
        # server_no_context_takeover each message is compressed afresh, so
        # a client that resets its inflater per message reads them all.
        gw = self.gateway({"websocket": {"compression": True}})
        self.backend(gw, echo=True)
        r = RawWebSocket(gw.port, extra=[("Sec-WebSocket-Extensions",
                                          b"permessage-deflate; server_no_context_takeover")])
        self.addCleanup(r.close)
        self.assertEqual(r.response.header("sec-websocket-extensions"),
                         "permessage-deflate; server_no_context_takeover; "
                         "client_no_context_takeover")
        for i in range(3):
            text = ("message %d " % i) * 50
            # client_no_context_takeover: each message compressed afresh.
            c = zlib.compressobj(6, zlib.DEFLATED, -15)
            r.send_frame(OP_TEXT | 0x40,
                         (c.compress(text.encode()) + c.flush(zlib.Z_SYNC_FLUSH))[:-4])
            op, payload = r.recv_frame_raw()
            self.assertEqual(op & 0x40, 0x40, "not compressed")
            d = zlib.decompressobj(-15)
            self.assertEqual(d.decompress(payload + b"\x00\x00\xff\xff").decode(), text)

    def test_bomb_closed_1009_with_bounded_memory(self):
        gw = self.gateway({"websocket": {"compression": True},
                           "limits": {"max_message_bytes": 65536}})
        be = self.backend(gw)
        # 64 MiB of zeros deflate to about 64 KiB: one RSV1 text frame.
        comp = zlib.compressobj(9, zlib.DEFLATED, -15)
        payload = comp.compress(b"\x00" * (64 << 20)) + comp.flush(zlib.Z_SYNC_FLUSH)
        payload = payload[:-4]          # RFC 7692 7.2.1: drop 00 00 ff ff
        r = RawWebSocket(gw.port, extra=[("Sec-WebSocket-Extensions",
                                          b"permessage-deflate")])
        self.addCleanup(r.close)
        self.assertIn("permessage-deflate",
                      r.response.header("sec-websocket-extensions") or "")
        sid = be.wait_open()["socketId"]
        before = rss_kib(gw.proc.pid)
        r.send_frame(OP_TEXT | 0x40, payload)   # RSV1: compressed
        self.assertEqual(r.recv_close()[0], 1009)
        close = be.wait_event("close", sid)
        self.assertEqual(close["code"], 1009)
        # Inflating stopped at the limit: nowhere near 64 MiB of growth.
        self.assertLess(rss_kib(gw.proc.pid) - before, 16 * 1024)
        self.assertEqual(be.events("message", sid), [])


if __name__ == "__main__":
    harness.main()
