#!/usr/bin/env python3
"""Faults: backend restarts (hello, replay, queue), a slow backend
(backpressure), counters accounting, backend.down_timeout/down_action, and
peers vanishing mid-frame or mid-handshake."""

import asyncio
import os
import signal
import socket
import struct
import time

import harness
from harness import RawWebSocket, upgrade_head, wait_until, ws_status, OP_TEXT, OP_CLOSE

INSTANCE = "gw-test"


class FramingFaults:
    """Mixed into one TestCase per framing (see the bottom of the file)."""

    def pbackend(self, gw, echo=False):
        be = harness.PausableBackend(gw.backend_path, self.framing, echo=echo)
        self.addCleanup(be.stop)
        return be

    def wait_hellos(self, be, n):
        return wait_until(lambda: list(be.hellos) if len(be.hellos) >= n else None,
                          what="%d hello frames" % n)

    def per_conn(self, be):
        """be.sequence split by gateway connection: {conn index: [frames]}."""
        out = {}
        with be.cond:
            for f in be.sequence:
                out.setdefault(f["_conn"], []).append(f)
        return out

    def test_hello(self):
        """Each worker connection starts with a hello naming the instance,
        the gateway's start time, the worker and the sockets it serves."""
        before = harness.now_ms()
        gw = self.gateway({"instance": INSTANCE})
        # One client before the backend exists: its open waits in a queue,
        # behind the hello.
        c = self.connect(gw, extra_headers=[("X-User-Id", "u1")])
        be = self.pbackend(gw, echo=True)
        hellos = self.wait_hellos(be, gw.workers)
        op = be.wait_open()
        after = harness.now_ms()
        time.sleep(0.2)
        self.assertEqual(len(be.hellos), gw.workers, be.hellos)
        for h in hellos:
            self.assertEqual(set(h), {"type", "instance", "epoch", "worker", "workers",
                                      "sockets", "maxEventBytes", "_conn"}, h)
            self.assertGreater(h["maxEventBytes"], 6 * 1048576)
            self.assertEqual(h["instance"], INSTANCE)
            self.assertIs(type(h["epoch"]), int)
            self.assertTrue(before - 1000 <= h["epoch"] <= after, (before, h, after))
            self.assertEqual(h["workers"], gw.workers)
            self.assertIs(type(h["sockets"]), int)
        self.assertEqual(len({h["epoch"] for h in hellos}), 1, hellos)
        self.assertEqual(sorted(h["worker"] for h in hellos), list(range(gw.workers)))
        self.assertEqual(sorted(h["sockets"] for h in hellos), [0] * (gw.workers - 1) + [1])
        # The hello comes first on every connection; the queued open follows
        # on the connection whose hello counts the socket.
        for conn, frames in self.per_conn(be).items():
            self.assertEqual(frames[0]["type"], "hello", frames)
            self.assertEqual([f["type"] for f in frames[1:]],
                             ["open"] * frames[0]["sockets"], frames)
        self.assertEqual(op["context"]["userId"], "u1")
        c.send("hi")
        self.assertEqual(c.recv(), "hi")

        # A gateway restart: a new hello with a later epoch.
        epoch = hellos[0]["epoch"]
        self.assertEqual(gw.stop(), 0)
        time.sleep(0.01)
        gw.start()
        hellos = self.wait_hellos(be, 2 * gw.workers)[gw.workers:]
        self.assertEqual(len({h["epoch"] for h in hellos}), 1, hellos)
        self.assertGreater(hellos[0]["epoch"], epoch)
        self.assertEqual([h["sockets"] for h in hellos], [0] * gw.workers)

    def test_replay_after_backend_restart(self):
        """A restarted backend learns every live socket exactly once, with
        its context, right after the hello; then messages flow both ways."""
        gw = self.gateway({"instance": INSTANCE})
        be = self.backend(gw, echo=True)
        c1 = self.connect(gw, extra_headers=[("X-User-Id", "alice")])
        s1 = be.wait_opens(1)[0]
        c2 = self.connect(gw, extra_headers=[("X-User-Id", "bob"), ("Cookie", "X-Token=t2")])
        s2 = be.wait_opens(2)[1]
        contexts = {s1["socketId"]: s1["context"], s2["socketId"]: s2["context"]}
        be.stop()

        be2 = self.pbackend(gw, echo=True)
        self.wait_hellos(be2, gw.workers)
        be2.wait_opens(2)
        time.sleep(0.3)                      # nothing more should come
        conns = self.per_conn(be2)
        self.assertEqual(len(conns), gw.workers)
        total = 0
        seen = []
        for conn, frames in conns.items():
            hello = frames[0]
            self.assertEqual((hello["type"], hello["instance"]), ("hello", INSTANCE))
            self.assertEqual([f["type"] for f in frames[1:]], ["open"] * hello["sockets"],
                             frames)
            total += hello["sockets"]
            seen += [f["socketId"] for f in frames[1:]]
        self.assertEqual(total, 2)
        self.assertEqual(sorted(seen), sorted(contexts))
        for op in be2.events("open"):
            self.assertEqual(op["context"], contexts[op["socketId"]])
        self.assertEqual(len(be2.hellos), gw.workers)

        c1.send("to backend 1")
        self.assertEqual(c1.recv(), "to backend 1")
        self.assertEqual(be2.wait_messages(s1["socketId"], 1)[0]["data"], "to backend 1")
        be2.send_text(s2["socketId"], "push to 2")
        self.assertEqual(c2.recv(), "push to 2")
        c2.send("from 2")
        self.assertEqual(c2.recv(), "from 2")

    def test_queue_across_restart_exactly_once(self):
        """200 messages sent while the backend is down arrive once each, in
        order, at the restarted backend."""
        gw = self.gateway()
        be = self.backend(gw, echo=True)
        c = self.connect(gw)
        sid = be.wait_open()["socketId"]
        c.send("warm")
        self.assertEqual(c.recv(), "warm")
        be.stop()
        sent = ["n%03d" % i for i in range(200)]
        c.send_many(sent)
        be2 = self.pbackend(gw, echo=True)
        msgs = be2.wait_messages(sid, 200)
        time.sleep(0.3)
        msgs = be2.events("message", sid)
        self.assertEqual([m["data"] for m in msgs], sent)
        self.assertEqual(be2.errors, [])
        self.assertEqual(c.recv_many(200), sent)

    def test_cut_frame_sent_again_whole(self):
        """A backend that stops reading, then dies with a frame half
        written: the next backend gets whole frames only, a gap-free
        in-order tail of what was sent (frames the old backend had been
        sent completely are lost: no acks)."""
        gw = self.gateway()
        be = self.pbackend(gw)
        c = self.connect(gw)
        sid = be.wait_open()["socketId"]
        be.pause()
        sent = ["%04d:" % i + "p" * 4000 for i in range(300)]
        c.send_many(sent)
        harness.wait_counters(gw, lambda k: k.get("msgs_queued", 0) > 0,
                              what="messages waiting in the gateway queue")
        be.stop()
        be2 = self.pbackend(gw)
        wait_until(lambda: (lambda m: m and m[-1]["data"] == sent[-1])(
            be2.events("message", sid)), what="the last message at the new backend")
        time.sleep(0.2)
        got = [m["data"] for m in be2.events("message", sid)]
        self.assertEqual(be2.errors, [])
        k = sent.index(got[0])
        self.assertGreater(len(got), 0)
        self.assertEqual(got, sent[k:], "not a gap-free tail")
        self.assertGreater(k, 0, "nothing was lost in the old socket: the test proved nothing")

    def test_backend_vanishes_mid_frame(self):
        """The backend writes half a frame and closes: the gateway
        reconnects, forgets the half frame, and a new send works."""
        gw = self.gateway()
        be = self.backend(gw)
        c = self.connect(gw)
        sid = be.wait_open()["socketId"]
        frame = harness.encode_frame({"type": "send", "socketId": sid,
                                      "data": "half " * 20}, self.framing)
        be.send_raw(frame[:len(frame) // 2], socket_id=sid)
        time.sleep(0.2)
        be.stop()
        be.clear()
        be.start()
        be.wait_open()                  # replayed on the new connection
        be.wait_conns(gw.workers)
        be.send_text(sid, "whole")
        self.assertEqual(c.recv(), "whole")
        c.assert_no_message(0.3)
        c.send("up")
        self.assertEqual(be.wait_messages(sid, 1)[0]["data"], "up")
        self.assertTrue(gw.running())


class LengthPrefixed(FramingFaults, harness.GatewayTest):
    framing = "length-prefixed"


class Ndjson(FramingFaults, harness.GatewayTest):
    framing = "ndjson"


# ---------------------------------------------------------------------------
# Framing-independent faults (length-prefixed)
# ---------------------------------------------------------------------------

class Faults(harness.GatewayTest):

    def test_sigterm_drains_queue_to_returning_backend(self):
        """SIGTERM while the backend is away: the gateway closes its
        clients with 1001 and waits, up to shutdown_timeout, for the
        backend to come back and take the queue, close events included."""
        gw = self.gateway({"shutdown_timeout": 10})
        be = self.backend(gw)
        c = self.connect(gw)
        sid = be.wait_open()["socketId"]
        be.wait_conns(2)
        since = gw.log_size()
        be.stop()
        be.clear()
        # Frames written to a backend that died unread are lost with it:
        # send only once the gateway knows the backend is gone.
        gw.wait_log(r"worker 0: backend connection lost", since=since)
        gw.wait_log(r"worker 1: backend connection lost", since=since)
        sent = ["late %d" % i for i in range(20)]
        c.send_many(sent)
        # A stop closes the clients and reads no more: stop only once
        # the gateway has read them all.
        harness.wait_counters(gw, lambda k: k["msgs_in"] == 20, what="20 messages read")
        gw.signal(signal.SIGTERM)
        self.assertEqual(c.wait_closed()[0], 1001)
        time.sleep(0.5)
        self.assertTrue(gw.running(), "exited with its queue undelivered")
        be.start()
        self.assertEqual([m["data"] for m in be.wait_messages(sid, 20)], sent)
        self.assertEqual(be.wait_event("close", sid)["code"], 1001)
        self.assertEqual(gw.wait(timeout=10), 0)

    def test_sigterm_gives_up_at_shutdown_timeout(self):
        """With no backend at all, a stop still ends within
        shutdown_timeout, and says what it could not deliver."""
        gw = self.gateway({"shutdown_timeout": 1})
        be = self.backend(gw)
        c = self.connect(gw)
        be.wait_open()
        be.stop()
        time.sleep(0.3)
        c.send_many(["lost %d" % i for i in range(5)])
        time.sleep(0.2)
        t0 = time.monotonic()
        gw.signal(signal.SIGTERM)
        self.assertEqual(gw.wait(timeout=10), 0)
        self.assertLess(time.monotonic() - t0, 3.0)
        self.assertRegex(gw.log_text(), r"shutdown_timeout reached .*\(5 messages\) left")

    def test_slow_backend_backpressure(self):
        """queue_bytes = 64 KiB, a backend that stops reading, 20 clients
        sending 500 x 1 KiB each as fast as they can: the gateway stops
        reading from its clients instead of buffering, so its RSS grows by
        far less than the ~12 MB of framed data; when the backend reads
        again every message of every client arrives, in order, none
        dropped."""
        nclients, nmsgs = 20, 500
        gw = self.gateway({"backend": {"queue_bytes": 65536}})
        be = harness.PausableBackend(gw.backend_path, self.framing)
        self.addCleanup(be.stop)
        clients = []
        for i in range(nclients):
            clients.append(self.connect(gw, extra_headers=[("X-User-Id", "c%02d" % i)]))
        opens = be.wait_opens(nclients)
        sid_of = {o["context"]["userId"]: o["socketId"] for o in opens}
        expected = {i: ["c%02d-%03d-" % (i, j) + "m" * 1016 for j in range(nmsgs)]
                    for i in range(nclients)}
        time.sleep(0.2)
        base_rss = harness.proc_rss_bytes(gw.proc.pid)
        since = gw.log_size()
        be.pause()

        async def send_all():
            async def one(c, msgs):
                for m in msgs:
                    await c.ws.send(m)
            await asyncio.gather(*(one(c, expected[i]) for i, c in enumerate(clients)))
        fut = asyncio.run_coroutine_threadsafe(send_all(), harness._get_loop())
        self.addCleanup(fut.cancel)

        peak = base_rss
        t_end = time.monotonic() + 3
        while time.monotonic() < t_end:
            peak = max(peak, harness.proc_rss_bytes(gw.proc.pid))
            time.sleep(0.05)
        gw.wait_log(r"backend queue full, stop reading", since=since, timeout=1)
        # Everything buffered would be > 11 MiB; the queues allow 2 x 2 x
        # 64 KiB plus lws's per-connection buffers.  8 MiB leaves room for
        # allocator slack, not for holding the clients' data.
        self.assertLess(peak - base_rss, 8 << 20,
                        "RSS grew from %.1f to %.1f MiB while the backend was paused"
                        % (base_rss / 2**20, peak / 2**20))
        self.assertLess(peak, 60 << 20)
        be.resume()
        fut.result(60)
        total = nclients * nmsgs
        wait_until(lambda: len(be.events("message")) >= total, timeout=40, interval=0.2,
                   what="%d messages at the backend" % total)
        for i in range(nclients):
            got = [m["data"] for m in be.events("message", sid_of["c%02d" % i])]
            self.assertEqual(got, expected[i], "client %d" % i)
        k = harness.wait_counters(gw, lambda k: k["msgs_queued"] == 0
                                  and k["msgs_in"] == total, what="all delivered")
        self.assertEqual(k["msgs_dropped_queue_full"], 0, k)
        self.assertEqual(k["msgs_delivered"], k["msgs_in"], k)

    def test_accounting_across_restart(self):
        """msgs_in = msgs_delivered + msgs_dropped_queue_full + msgs_queued,
        while messages wait for a stopped backend and after it is back."""
        gw = self.gateway()
        be = self.backend(gw)
        clients = [self.connect(gw, extra_headers=[("X-User-Id", "a%d" % i)])
                   for i in range(3)]
        be.wait_opens(3)
        for i, c in enumerate(clients):
            c.send_many(["before %d %d" % (i, j) for j in range(50)])
        wait_until(lambda: len(be.events("message")) == 150, what="150 messages")
        be.stop()
        for i, c in enumerate(clients):
            c.send_many(["during %d %d" % (i, j) for j in range(50)])

        def identity(k):
            return k["msgs_in"] == (k["msgs_delivered"] + k["msgs_dropped_queue_full"]
                                    + k["msgs_queued"])
        k = harness.wait_counters(gw, lambda k: k["msgs_in"] == 300,
                                  what="msgs_in=300")
        self.assertTrue(identity(k), k)
        self.assertEqual(k["msgs_queued"], 150, k)
        self.assertEqual(k["msgs_delivered"], 150, k)
        be2 = self.backend(gw)
        for i, c in enumerate(clients):
            c.send_many(["after %d %d" % (i, j) for j in range(50)])
        k = harness.wait_counters(gw, lambda k: k["msgs_queued"] == 0 and k["msgs_in"] == 450,
                                  what="msgs_queued=0 and msgs_in=450")
        self.assertTrue(identity(k), k)
        self.assertEqual((k["msgs_delivered"], k["msgs_dropped_queue_full"]), (450, 0), k)
        wait_until(lambda: len(be2.events("message")) == 300, what="300 messages at be2")

    def test_down_timeout_503_then_101(self):
        t0 = time.monotonic()
        gw = self.gateway({"backend": {"down_timeout": 1}})
        if time.monotonic() - t0 < 0.6:
            # Not down for down_timeout yet.
            self.assertEqual(ws_status(gw.url), 101)
        time.sleep(max(0, t0 + 1.5 - time.monotonic()))
        r = harness.http_raw(gw.port, upgrade_head(gw.port))
        self.assertEqual(r.status, 503, r)
        self.assertIn(b"backend unavailable", r.body)
        self.assertEqual(ws_status(gw.url), 503)
        self.backend(gw, echo=True)
        wait_until(lambda: ws_status(gw.url) == 101, timeout=5, interval=0.1,
                   what="upgrades to succeed once the backend is up")
        c = self.connect(gw)
        c.send("served")
        self.assertEqual(c.recv(), "served")

    def test_down_action_close_1013(self):
        gw = self.gateway({"backend": {"down_timeout": 1, "down_action": "close"}})
        be = self.backend(gw)
        c = self.connect(gw)
        sid = be.wait_open()["socketId"]
        t0 = time.monotonic()
        be.stop()
        code, reason = c.wait_closed(timeout=5)
        elapsed = time.monotonic() - t0
        self.assertEqual((code, reason), (1013, "backend unavailable"))
        self.assertLess(elapsed, 1 + 1.2, "closed after %.2f s" % elapsed)
        self.assertGreater(elapsed, 0.9, "closed after %.2f s" % elapsed)
        # The close event waited in the queue for the next backend.
        be2 = self.backend(gw)
        close = be2.wait_event("close", sid)
        self.assertEqual((close["code"], close["reason"]), (1013, "backend unavailable"))

    def test_down_action_keep(self):
        gw = self.gateway({"backend": {"down_timeout": 1}})
        be = self.backend(gw, echo=True)
        c = self.connect(gw)
        sid = be.wait_open()["socketId"]
        be.stop()
        time.sleep(2.5)
        self.assertIsNone(c.close_code)
        be2 = self.backend(gw, echo=True)
        c.send("kept")
        self.assertEqual(c.recv(), "kept")
        self.assertEqual(be2.wait_messages(sid, 1)[0]["data"], "kept")
        self.assertEqual(be2.events("close", sid), [])

    # -- clients vanishing ---------------------------------------------------

    def assertStillServes(self, gw):
        c = self.connect(gw)
        c.send("still serving")
        self.assertEqual(c.recv(), "still serving")

    def open_raw(self, gw, be):
        n = len(be.events("open"))
        r = RawWebSocket(gw.port)
        self.addCleanup(r.close)
        return r, be.wait_opens(n + 1)[n]["socketId"]

    def test_client_vanishes_mid_handshake(self):
        gw = self.gateway()
        be = self.backend(gw, echo=True)
        s = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
        s.sendall(upgrade_head(gw.port)[:40])
        time.sleep(0.1)
        s.close()
        self.assertStillServes(gw)
        time.sleep(0.2)
        self.assertEqual(len(be.events("open")), 1)

    def test_client_vanishes_mid_frame(self):
        gw = self.gateway()
        be = self.backend(gw, echo=True)
        r, sid = self.open_raw(gw, be)
        payload = b"p" * 1000
        mask = os.urandom(4)
        frame = (struct.pack("!BBH", 0x80 | OP_TEXT, 0x80 | 126, len(payload)) + mask
                 + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
        r.sock.sendall(frame[:500])
        time.sleep(0.1)
        r.close()
        close = be.wait_event("close", sid)
        self.assertEqual((close["code"], close["reason"]), (1006, ""))
        self.assertEqual(be.events("message", sid), [])
        self.assertStillServes(gw)

    def test_client_vanishes_mid_close(self):
        gw = self.gateway()
        be = self.backend(gw, echo=True)
        r, sid = self.open_raw(gw, be)
        r.send_frame(OP_CLOSE, struct.pack("!H", 1000) + b"bye")
        r.close()
        close = be.wait_event("close", sid)
        # The close frame was read before the end of the stream.
        self.assertEqual((close["code"], close["reason"]), (1000, "bye"))
        self.assertStillServes(gw)


if __name__ == "__main__":
    harness.main()
