#!/usr/bin/env python3
"""RFC 6455 as a client sees it on the wire: UTF-8 checked as a text
arrives, close frames validated, and connections closed promptly after a
close. Each test names the section it holds the gateway to."""

import os
import select
import struct
import time

import harness
from harness import RawWebSocket, frame_header, OP_TEXT, OP_CONT, OP_BINARY, OP_CLOSE

# Characters of every length, so that splits fall inside each of them.
MIXED = "a\u00e9\u20ac\U0001F600z\u07ff\uffff\U0010ffff".encode()


class Conformance(harness.GatewayTest):
    def setUp(self):
        super().setUp()
        self.gw = self.gateway()
        self.be = self.backend(self.gw, echo=True)

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


def close_payload(code, reason=b""):
    return struct.pack("!H", code) + reason


def seconds_to_eof(r, limit):
    """Read (and drop) until the gateway closes TCP; return how long it took."""
    start = time.monotonic()
    r.sock.settimeout(limit)
    try:
        while r.sock.recv(4096):
            pass
    except ConnectionResetError:
        pass
    return time.monotonic() - start


class CloseFrames(harness.GatewayTest):
    """RFC 6455 5.5.1 and 7.4: a client's close frame is checked, not
    echoed blindly; the backend hears what the client sent and what the
    gateway answered."""

    # libwebsockets' own close timeout is 5 s: well past this bound.
    PROMPT = 2.5

    def setUp(self):
        super().setUp()
        self.gw = self.gateway()
        self.be = self.backend(self.gw, echo=True)

    def close_with(self, payload):
        r, sid = self.open_raw()
        r.send_frame(OP_CLOSE, payload)
        code, reason = r.recv_close(reply=False)
        self.assertLess(seconds_to_eof(r, 5), self.PROMPT, "TCP not closed promptly")
        return code, reason, self.be.wait_event("close", sid)

    def test_valid_codes_echoed_rfc6455_7_4(self):
        for code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011,
                     3000, 3999, 4000, 4999):
            with self.subTest(code=code):
                got, reason, ev = self.close_with(close_payload(code, "bye \u00e9".encode()))
                self.assertEqual((got, reason), (code, "bye \u00e9"))
                self.assertEqual((ev["code"], ev["reason"]), (code, "bye \u00e9"))
                self.assertEqual(ev["received"], {"code": code, "valid": True,
                                                  "reason": "bye \u00e9"})
                self.assertEqual(ev["sent"], {"code": code, "reason": "bye \u00e9"})

    def test_empty_close_echoed_rfc6455_5_5_1(self):
        got, _, ev = self.close_with(b"")
        self.assertIsNone(got)
        self.assertEqual(ev["code"], 1005)
        self.assertEqual(ev["received"], {"code": 1005, "valid": True, "reason": ""})

    def test_invalid_codes_answered_1002_rfc6455_7_4(self):
        for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999,
                     5000, 65535):
            with self.subTest(code=code):
                got, _, ev = self.close_with(close_payload(code, b"x"))
                self.assertEqual(got, 1002)
                self.assertEqual(ev["code"], 1002)
                self.assertEqual(ev["sent"]["code"], 1002)
                if code >= 5000:
                    # libwebsockets replaces the others with 1002 before
                    # the gateway sees them (wsgated(8) CONFORMANCE).
                    self.assertEqual(ev["received"], {"code": code, "valid": False})

    def test_one_byte_close_answered_1002_rfc6455_5_5_1(self):
        got, _, ev = self.close_with(b"\x03")
        self.assertEqual(got, 1002)
        self.assertEqual(ev["code"], 1002)
        self.assertEqual(ev["received"], {"code": 1005, "valid": False})
        self.assertEqual(ev["sent"], {"code": 1002, "reason": "close frame of one byte"})

    def test_invalid_utf8_reason_answered_1007_rfc6455_7_4_1(self):
        got, _, ev = self.close_with(close_payload(
            1000, "\u03ba\u1f79\u03c3\u03bc\u03b5".encode() + b"\xed\xa0\x80edited"))
        self.assertEqual(got, 1007)
        self.assertEqual(ev["code"], 1007)
        self.assertEqual(ev["received"], {"code": 1000, "valid": False})

    def failed_promptly(self, send, code, reply):
        """send fails the connection: the close comes with code, the
        backend hears at once, and TCP closes without lws's 5 s wait."""
        r, sid = self.open_raw()
        start = time.monotonic()
        send(r)
        got, _ = r.recv_close(reply=reply)
        self.assertEqual(got, code)
        ev = self.be.wait_event("close", sid)
        self.assertLess(time.monotonic() - start, self.PROMPT, "backend told late")
        self.assertEqual(ev["code"], code)
        self.assertEqual(ev["sent"]["code"], code)
        self.assertNotIn("received", ev)
        self.assertLess(seconds_to_eof(r, 5), self.PROMPT, "TCP not closed promptly")
        self.assertEqual(self.be.events("message", sid), [])

    def test_reserved_bits_close_promptly_rfc6455_7_1_1(self):
        for rsv in (0x40, 0x20, 0x10, 0x70):
            for reply in (True, False):
                with self.subTest(rsv=rsv, reply=reply):
                    self.failed_promptly(lambda r: r.send_frame(rsv | OP_TEXT, b"hi"),
                                         1002, reply)

    def test_reserved_opcodes_close_promptly_rfc6455_7_1_1(self):
        for op in (3, 7, 0xb, 0xf):
            with self.subTest(op=op):
                self.failed_promptly(lambda r: r.send_frame(op, b"hi"), 1002, True)

    def test_fragmented_ping_closes_promptly_rfc6455_5_5(self):
        self.failed_promptly(lambda r: r.send_frame(0x9, b"hi", fin=False), 1002, True)

    def test_bad_utf8_closes_promptly_rfc6455_7_1_7(self):
        # The gateway stops reading a failed connection; TCP closes even
        # though the client never answers the close.
        self.failed_promptly(lambda r: r.send_frame(OP_TEXT, b"\xff"), 1007, False)


class DeclaredLength(harness.GatewayTest):
    """RFC 6455 10.4: a frame declaring more than the limit closes 1009
    after its header and at most websocket.rx_buffer_bytes of payload."""

    LIMIT = 4096
    RXBUF = 128

    def setUp(self):
        super().setUp()
        self.gw = self.gateway({"limits": {"max_message_bytes": self.LIMIT},
                                "websocket": {"rx_buffer_bytes": self.RXBUF}})
        self.be = self.backend(self.gw, echo=True)
        self.r = RawWebSocket(self.gw.port)
        self.addCleanup(self.r.close)
        self.sid = self.be.wait_open()["socketId"]

    def assertClosed1009(self):
        self.assertEqual(self.r.recv_close(reply=False)[0], 1009)
        self.assertEqual(self.be.wait_event("close", self.sid)["code"], 1009)
        self.assertEqual(self.be.events("message", self.sid), [])
        self.assertLess(seconds_to_eof(self.r, 5), CloseFrames.PROMPT)

    def test_huge_declared_length_closes_at_header_rfc6455_10_4(self):
        self.r.sock.sendall(frame_header(OP_BINARY, 1 << 40) + b"x" * self.RXBUF)
        self.assertClosed1009()

    def test_one_over_the_limit_closes_before_the_payload_rfc6455_10_4(self):
        self.r.sock.sendall(frame_header(OP_TEXT, self.LIMIT + 1) + b"x" * self.RXBUF)
        self.assertClosed1009()

    def test_continuation_over_what_is_left_rfc6455_10_4(self):
        self.r.send_frame(OP_TEXT, b"a" * 3000, fin=False)
        self.r.sock.sendall(frame_header(OP_CONT, self.LIMIT - 3000 + 1) +
                            b"b" * self.RXBUF)
        self.assertClosed1009()

    def test_exactly_the_limit_is_delivered(self):
        self.r.send_frame(OP_TEXT, b"a" * 3000, fin=False)
        self.r.send_frame(OP_CONT, b"b" * (self.LIMIT - 3000), fin=True)
        self.assertEqual(self.r.recv_frame(), (OP_TEXT, b"a" * 3000 + b"b" * 1096))
        self.r.send_frame(OP_BINARY, os.urandom(self.LIMIT))
        self.assertEqual(len(self.r.recv_frame()[1]), self.LIMIT)


if __name__ == "__main__":
    harness.main()
