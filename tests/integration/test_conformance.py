#!/usr/bin/env python3
"""RFC 6455 as a client sees it on the wire: UTF-8 checked as a text
arrives, close frames validated, and connections closed promptly after a
close. Each test names the section it holds the gateway to."""

import select
import struct
import time

import harness
from harness import RawWebSocket, OP_TEXT, OP_CONT, OP_BINARY, OP_CLOSE

# Characters of every length, so that splits fall inside each of them.
MIXED = "a\u00e9\u20ac\U0001F600z\u07ff\uffff\U0010ffff".encode()


class Conformance(harness.GatewayTest):
    def setUp(self):
        super().setUp()
        self.gw = self.gateway()
        self.be = self.backend(self.gw, echo=True)

    def open_raw(self):
        n = len(self.be.events("open"))
        r = RawWebSocket(self.gw.port)
        self.addCleanup(r.close)
        sid = self.be.wait_for(
            lambda fr: (lambda o: o[n]["socketId"] if len(o) > n else None)(
                [f for f in fr if f.get("type") == "open"]), what="open event")
        return r, sid

    def assertNoClose(self, r, wait=0.3):
        readable, _, _ = select.select([r.sock], [], [], wait)
        self.assertEqual(readable, [], "the gateway wrote or closed early")

    # -- 8.1: invalid UTF-8 fails the connection where it appears ----------

    def test_valid_text_split_at_every_point_rfc6455_8_1(self):
        r, sid = self.open_raw()
        for cut in range(len(MIXED) + 1):
            r.send_frame(OP_TEXT, MIXED[:cut], fin=False)
            r.send_frame(OP_CONT, MIXED[cut:], fin=True)
            op, payload = r.recv_frame()
            self.assertEqual((op, payload), (OP_TEXT, MIXED), "cut at %d" % cut)
        self.assertEqual(len(self.be.wait_messages(sid, len(MIXED) + 1)), len(MIXED) + 1)

    def test_invalid_first_fragment_closes_at_once_rfc6455_8_1(self):
        # The message is never finished: the close must come anyway.
        r, sid = self.open_raw()
        r.send_frame(OP_TEXT, "\u03ba\u1f79\u03c3\u03bc\u03b5".encode() + b"\xed\xa0\x80edited",
                     fin=False)
        self.assertEqual(r.recv_close()[0], 1007)
        close = self.be.wait_event("close", sid)
        self.assertEqual(close["code"], 1007)
        self.assertEqual(self.be.events("message", sid), [])

    def test_invalid_across_fragments_closes_at_that_fragment_rfc6455_8_1(self):
        # U+10FFFF is the largest code point: F4 90 is past it, and the two
        # bytes arrive in different fragments.
        r, sid = self.open_raw()
        r.send_frame(OP_TEXT, b"ok \xf4", fin=False)
        self.assertNoClose(r)
        r.send_frame(OP_CONT, b"\x90\x80\x80", fin=False)
        self.assertEqual(r.recv_close()[0], 1007)
        self.assertEqual(self.be.wait_event("close", sid)["code"], 1007)

    def test_text_ending_inside_a_character_rfc6455_8_1(self):
        r, sid = self.open_raw()
        r.send_frame(OP_TEXT, b"euro \xe2\x82", fin=False)
        self.assertNoClose(r)
        r.send_frame(OP_CONT, b"", fin=True)
        self.assertEqual(r.recv_close()[0], 1007)
        self.assertEqual(self.be.wait_event("close", sid)["code"], 1007)
        self.assertEqual(self.be.events("message", sid), [])

    def test_binary_is_not_checked(self):
        r, sid = self.open_raw()
        r.send_frame(OP_BINARY, b"\xed\xa0\x80\xff", fin=False)
        r.send_frame(OP_CONT, b"\xc0", fin=True)
        self.assertEqual(r.recv_frame(), (OP_BINARY, b"\xed\xa0\x80\xff\xc0"))


if __name__ == "__main__":
    harness.main()
