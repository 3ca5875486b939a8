#!/usr/bin/env python3
"""The backend link: late start, restart, garbage from the backend, oversize frames."""

import json
import signal
import struct
import time

import harness

# Words a gateway log line about a skipped backend frame is expected to use.
BACKEND_ERROR_LOG = r"(?i)(invalid|malformed|bad|unknown|error|skip)"


class LinkTests:
    """Mixed into one TestCase per framing (see the bottom of the file)."""

    def open_client(self, gw, be):
        c = self.connect(gw)
        return c, be.wait_open()["socketId"]

    def test_backend_starts_after_gateway(self):
        gw = self.gateway()
        c = self.connect(gw)                  # accepted while no backend listens
        sent = ["early %d" % i for i in range(20)]
        c.send_many(sent)
        be = self.backend(gw, echo=True)
        op = be.wait_open()
        sid = op["socketId"]
        msgs = be.wait_messages(sid, len(sent))
        self.assertEqual([m["data"] for m in msgs], sent)
        # The open event precedes the socket's messages.
        frames = [f for f in be.snapshot() if f.get("socketId") == sid]
        self.assertEqual(frames[0]["type"], "open")
        self.assertEqual(c.recv_many(len(sent)), sent)

    def test_backend_restart_client_stays(self):
        gw = self.gateway()
        be = self.backend(gw, echo=True)
        c, sid = self.open_client(gw, be)
        c.send("before")
        self.assertEqual(c.recv(), "before")
        be.stop()
        be.clear()
        be.start()
        be.wait_conns(gw.workers)
        c.send("after")
        self.assertEqual(c.recv(), "after")
        msg = be.wait_messages(sid, 1)[0]
        self.assertEqual((msg["data"], msg["context"]["socketId"]), ("after", sid))

    def test_messages_while_backend_down_are_queued(self):
        gw = self.gateway()
        be = self.backend(gw, echo=True)
        c, sid = self.open_client(gw, be)
        be.stop()
        be.clear()
        # Let the gateway see the link close: a frame caught mid-write when
        # the link breaks may be dropped (spec), one queued later may not.
        time.sleep(0.5)
        sent = ["down %d" % i for i in range(10)]
        c.send_many(sent)
        be.start()
        msgs = be.wait_messages(sid, len(sent))
        self.assertEqual([m["data"] for m in msgs], sent)
        self.assertEqual(c.recv_many(len(sent)), sent)

    def test_close_while_backend_down_is_delivered(self):
        gw = self.gateway()
        be = self.backend(gw)
        c, sid = self.open_client(gw, be)
        be.stop()
        be.clear()
        time.sleep(0.5)
        c.close(4002, "gone")
        be.start()
        close = be.wait_event("close", sid)
        self.assertEqual((close["code"], close["reason"]), (4002, "gone"))

    def test_backend_garbage_skipped(self):
        gw = self.gateway()
        be = self.backend(gw)
        c, sid = self.open_client(gw, be)
        since = gw.log_size()
        for junk in self.garbage(sid):
            be.send_raw(junk, socket_id=sid)
        be.send_text(sid, "still alive")
        self.assertEqual(c.recv(), "still alive")
        c.assert_no_message(0.2)
        gw.wait_log(BACKEND_ERROR_LOG, since=since)
        self.assertTrue(gw.running())
        # The link was not reset: the same connections are still live.
        self.assertEqual(len(be.conns), gw.workers)

    def test_backend_garbage_counted_by_kind(self):
        gw = self.gateway()
        be = self.backend(gw)
        c, sid = self.open_client(gw, be)
        for junk in self.garbage(sid):
            be.send_raw(junk, socket_id=sid)
        be.send_text(sid, "sync")
        self.assertEqual(c.recv(), "sync")
        # Each class's garbage() adds one frame of its framing that is not
        # JSON, hence four invalid ones.
        want = ("backend_err_invalid_json=4 backend_err_not_object=3 "
                "backend_err_bad_field=8 backend_err_unknown_type=2 "
                "backend_err_unknown_socket=1 ")

        def counted():
            since = gw.log_size()
            gw.signal(signal.SIGUSR1)
            gw.wait_log(r"counters: .*", since=since)
            return want in gw.log_text()[since:]

        harness.wait_until(counted, what="the counters of each kind: " + want,
                           interval=0.2)

    def garbage(self, sid):
        """Frames the gateway must skip, already framed."""
        frame = lambda payload: harness.encode_frame(payload, self.framing)
        bad = [
            b"this is not json",
            b"{\"type\":\"send\",",                                  # truncated JSON
            b"[1,2,3]",                                              # not an object
            b"\"a string\"",
            b"42",
            json.dumps({"type": "bogus", "socketId": sid}).encode(),
            json.dumps({"socketId": sid, "data": "no type"}).encode(),
            json.dumps({"type": "send", "socketId": "AAAAAAAAAAAAAAAAAAAAAA",
                        "data": "unknown socket"}).encode(),
            json.dumps({"type": "send", "socketId": sid, "data": "!!not base64!!",
                        "binary": True}).encode(),
            json.dumps({"type": "send", "socketId": sid}).encode(),  # missing data
            json.dumps({"type": "send", "socketId": sid, "data": 5}).encode(),
            json.dumps({"type": "send", "socketId": 7, "data": "x"}).encode(),
            b"{\"type\":\"send\",\"socketId\":\"" + sid.encode() + b"\",\"data\":\"\xff\xfe\"}",
            # Close commands the gateway must refuse rather than carry out.
            json.dumps({"type": "close", "socketId": sid, "code": 1001}).encode(),
            json.dumps({"type": "close", "socketId": sid, "code": 5000}).encode(),
            json.dumps({"type": "close", "socketId": sid, "code": "4000"}).encode(),
            json.dumps({"type": "close", "socketId": sid, "reason": "r" * 124}).encode(),
        ]
        return [frame(b) for b in bad]

    def test_frame_split_across_writes(self):
        gw = self.gateway()
        be = self.backend(gw)
        c, sid = self.open_client(gw, be)
        data = harness.encode_frame({"type": "send", "socketId": sid, "data": "split"},
                                    self.framing)
        for i in range(0, len(data), 3):
            be.send_raw(data[i:i + 3], socket_id=sid)
            time.sleep(0.01)
        self.assertEqual(c.recv(), "split")

    def test_unknown_socket_close_skipped(self):
        gw = self.gateway()
        be = self.backend(gw)
        c, sid = self.open_client(gw, be)
        be.send({"type": "close", "socketId": "AAAAAAAAAAAAAAAAAAAAAA", "code": 4000},
                socket_id=sid)
        be.send_text(sid, "unaffected")
        self.assertEqual(c.recv(), "unaffected")


class LengthPrefixed(LinkTests, harness.GatewayTest):
    framing = "length-prefixed"

    def garbage(self, sid):
        return super().garbage(sid) + [struct.pack(">I", 0)]        # empty payload

    def test_oversize_length_prefix_resets_link(self):
        gw = self.gateway({"backend": {"max_frame_bytes": 1024}})
        be = self.backend(gw, echo=True)
        c, sid = self.open_client(gw, be)
        be.wait_conns(gw.workers)
        old = be.by_socket[sid]
        be.send_raw(struct.pack(">I", 1 << 20) + b"{" * 100, conn=old)
        # The gateway closes that link and opens a new one.
        harness.wait_until(lambda: old.closed, what="the gateway to drop the link")
        be.wait_conns(gw.workers)
        c.send("after reset")
        self.assertEqual(c.recv(), "after reset")
        self.assertEqual(be.wait_messages(sid, 1)[0]["data"], "after reset")
        self.assertTrue(gw.running())


class Ndjson(LinkTests, harness.GatewayTest):
    framing = "ndjson"

    def garbage(self, sid):
        return super().garbage(sid) + [b"\n", b"   \n"]

    def test_overlong_line_skipped(self):
        gw = self.gateway({"backend": {"max_frame_bytes": 1024}})
        be = self.backend(gw)
        c, sid = self.open_client(gw, be)
        long_cmd = {"type": "send", "socketId": sid, "data": "y" * 3000}
        be.send(long_cmd, socket_id=sid)
        be.send_text(sid, "short")
        self.assertEqual(c.recv(), "short")
        c.assert_no_message(0.2)


if __name__ == "__main__":
    harness.main()
