#!/usr/bin/env python3
"""The backend link: late start, restart, garbage from the backend, oversize frames."""

import os
import json
import signal
import socket
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



class RefusedEvents(harness.GatewayTest):
    """A backend that drops its connection over one event, every time it
    is sent (its own frame limit, or a crash on that input), must not
    wedge the worker: after backend.frame_attempts tries the event is
    dropped and its socket closed with backend.refused_close_code."""

    def start(self, attempts=None, code=None, refuse_times=None):
        backend = {"reconnect_min": 0.05}
        if attempts is not None:
            backend["frame_attempts"] = attempts
        if code is not None:
            backend["refused_close_code"] = code
        gw = self.gateway({"limits": {"max_message_bytes": 1 << 20},
                           "backend": backend}, workers=1)
        be = harness.Backend(gw.backend_path, self.framing, echo=True,
                             refuse_over=65536, refuse_times=refuse_times)
        self.addCleanup(be.stop)
        a = self.connect(gw)
        b = self.connect(gw)
        opens = be.wait_opens(2)
        return gw, be, a, b, opens[0]["socketId"], opens[1]["socketId"]

    def test_refused_message_dropped_and_socket_closed_1011(self):
        gw, be, a, b, sid_a, sid_b = self.start()
        b.send("before")
        self.assertEqual(b.recv(), "before")
        started = time.monotonic()
        a.send(os.urandom(512 * 1024))     # a frame of some 700 KB in base64
        b.send("behind it")                # queued behind the refused frame
        self.assertEqual(a.wait_closed(), (1011, "backend refused a message"))
        self.assertEqual(b.recv(), "behind it")
        # Three attempts, each after reconnect_min: well under a second
        # here, where the backend's own drops take no time.
        self.assertLess(time.monotonic() - started, 5)
        self.assertEqual(be.refused, 3)
        close = be.wait_event("close", sid_a)
        self.assertEqual((close["code"], close["reason"]),
                         (1011, "backend refused a message"))
        self.assertEqual(be.events("message", sid_a), [])
        counters = harness.read_counters(gw)
        self.assertEqual(counters["backend_events_refused"], 1)
        self.assertEqual(counters["msgs_dropped_refused"], 1)
        gw.wait_log(r"dropped the connection 3 times while reading a message "
                    r"event of \d+ bytes for socket %s" % sid_a)
        b.send("after")
        self.assertEqual(b.recv(), "after")

    def test_attempts_and_code_configured(self):
        gw, be, a, b, sid_a, sid_b = self.start(attempts=1, code=4001)
        a.send(os.urandom(256 * 1024))
        self.assertEqual(a.wait_closed()[0], 4001)
        self.assertEqual(be.refused, 1)
        self.assertEqual(be.wait_event("close", sid_a)["code"], 4001)

    def test_a_cut_that_is_not_repeated_is_sent_again(self):
        # The backend refuses it once only (a restart in the middle of a
        # large frame): the event is delivered on the next connection.
        gw, be, a, b, sid_a, sid_b = self.start(refuse_times=1)
        data = os.urandom(300 * 1024)
        a.send(data)
        self.assertEqual(a.recv(), data)
        self.assertEqual(be.refused, 1)
        self.assertEqual(harness.read_counters(gw)["backend_events_refused"], 0)



class FrameSizes(harness.GatewayTest):
    """The hello event tells the largest event the gateway can send
    (wsgate-protocol(7), Frame sizes), and no event is larger."""

    MAX = 65536
    FIELD_MAX = 100

    def test_hello_bounds_the_largest_event(self):
        gw = self.gateway({"limits": {"max_message_bytes": self.MAX},
                           "context": {"fields": [
                               {"name": "q", "source": "query", "key": "q",
                                "max_length": self.FIELD_MAX},
                               {"name": "user", "source": "header", "key": "X-User",
                                "max_length": self.FIELD_MAX}]}})
        be = self.backend(gw)
        bound = be.wait_for(lambda fr: be.hellos and be.hellos[0]["maxEventBytes"],
                            what="a hello")
        # The documented formula, for this configuration.
        self.assertEqual(bound, 128 + 80 + (1 + 4 + 2 + 6 * self.FIELD_MAX) +
                         (4 + 4 + 2 + 6 * self.FIELD_MAX) + 6 * self.MAX)
        # The worst case: control characters everywhere JSON escapes them
        # as \u00XX, in the context (a percent-decoded query) and the data.
        c = self.connect(gw, path="/ws?q=" + "%01" * self.FIELD_MAX,
                         extra_headers=[("X-User", '"' * self.FIELD_MAX)])
        sid = be.wait_open()["socketId"]
        c.send("\x01" * self.MAX)
        ev = be.wait_messages(sid, 1)[0]
        ev.pop("_conn")
        size = 4 + len(json.dumps(ev, separators=(",", ":")))
        self.assertGreater(size, 6 * self.MAX)
        self.assertLessEqual(size, bound)



class ConnectErrors(harness.GatewayTest):
    """Connect errors are logged at the start of each outage and whenever
    the error changes, not once per retry."""

    def count(self, gw, text):
        return gw.log_text().count(text)

    def test_each_new_error_logged_once(self):
        gw = self.gateway(workers=1)
        gw.wait_log(r"cannot connect, retrying: No such file or directory")
        # A socket file nobody listens on: another error.
        s = socket.socket(socket.AF_UNIX)
        s.bind(gw.backend_path)
        s.close()
        gw.wait_log(r"cannot connect, retrying: Connection refused")
        # Retries every 0.2 s at most (the harness's reconnect_max) give
        # the same error again: it is not logged again.
        time.sleep(1.5)
        self.assertEqual(self.count(gw, "cannot connect, retrying: Connection refused"), 1)
        self.assertEqual(self.count(gw, "cannot connect, retrying: No such file"), 1)
        os.unlink(gw.backend_path)
        be = self.backend(gw)
        be.wait_conns(1)
        # A new outage logs its first error again.
        be.stop()
        gw.wait_log(r"backend connection lost")
        harness.wait_until(lambda: self.count(gw, "retrying: No such file") == 2,
                           what="the new outage's error")


if __name__ == "__main__":
    harness.main()
