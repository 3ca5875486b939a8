#!/usr/bin/env python3
"""Addressing on one node: users, several sockets, topics, everyone, kicks."""

import base64
import http.client
import json
import os
import subprocess
import sys
import time

import harness

USER_FIELDS = {"context": {"fields": [
    {"name": "userId", "source": "query", "key": "user"},
    {"name": "room", "source": "query", "key": "room"},
]}}


class Addressing(harness.GatewayTest):
    config = USER_FIELDS

    def setUp(self):
        super().setUp()
        self.gw = self.gateway(self.config)
        self.be = self.backend(self.gw)
        self.be.wait_conns(2)

    def open(self, user=None, room=None):
        """A client and its socket id; the query names its user and room."""
        n = len(self.be.events("open"))
        q = []
        if user is not None:
            q.append("user=" + user)
        if room is not None:
            q.append("room=" + room)
        c = self.connect(self.gw, path="/ws" + ("?" + "&".join(q) if q else ""))
        sid = self.be.wait_for(
            lambda fr: (lambda o: o[n]["socketId"] if len(o) > n else None)(
                [f for f in fr if f.get("type") == "open"]), what="open event")
        return c, sid

    def counters(self):
        return harness.read_counters(self.gw)

    def sync(self, clients):
        """A marker sent to each client last: what came before is in."""
        for c, sid in clients:
            self.be.send({"type": "send", "socketId": sid, "data": "marker"})
        got = {}
        for c, sid in clients:
            msgs = []
            while True:
                m = c.recv()
                if m == "marker":
                    break
                msgs.append(m)
            got[sid] = msgs
        return got

    # -- send to a user --------------------------------------------------

    def test_send_to_user_reaches_each_of_its_sockets_once(self):
        alice = [self.open(user="alice") for _ in range(4)]
        bob = [self.open(user="bob")]
        anon = [self.open()]
        self.be.send({"type": "send", "userId": "alice", "data": "for alice"})
        self.be.send({"type": "send", "userId": "alice", "data": "YmluYXJ5",
                      "binary": True})
        self.be.send({"type": "send", "userId": "nobody", "data": "lost"})
        got = self.sync(alice + bob + anon)
        for c, sid in alice:
            self.assertEqual(got[sid], ["for alice", b"binary"], sid)
        for c, sid in bob + anon:
            self.assertEqual(got[sid], [], sid)
        self.assertGreaterEqual(self.counters()["cmd_send_user"], 3)

    def test_user_index_follows_closes(self):
        a1, a2 = self.open(user="carol"), self.open(user="carol")
        a1[0].close()
        self.be.wait_event("close", a1[1])
        self.be.send({"type": "send", "userId": "carol", "data": "still here"})
        self.assertEqual(self.sync([a2])[a2[1]], ["still here"])
        a2[0].close()
        self.be.wait_event("close", a2[1])
        # The user has left every index: a new socket of hers is new.
        a3 = self.open(user="carol")
        self.be.send({"type": "send", "userId": "carol", "data": "again"})
        self.assertEqual(self.sync([a3])[a3[1]], ["again"])

    # -- send to several sockets -----------------------------------------

    def test_send_to_socket_ids(self):
        cs = [self.open() for _ in range(5)]
        before = self.counters()["backend_err_unknown_socket"]
        ids = [cs[0][1], cs[2][1], cs[4][1], cs[2][1], "A" * 22, "short"]
        self.be.send({"type": "send", "socketIds": ids, "data": "some of you"})
        got = self.sync(cs)
        for i, (c, sid) in enumerate(cs):
            self.assertEqual(got[sid], ["some of you"] if i in (0, 2, 4) else [], i)
        harness.wait_counters(
            self.gw, lambda k: k["backend_err_unknown_socket"] >= before + 2,
            what="the unknown and the malformed id counted")

    # -- topics ------------------------------------------------------------

    def test_subscribe_publish_exclude_unsubscribe(self):
        cs = [self.open() for _ in range(4)]
        for c, sid in cs[:3]:
            self.be.send({"type": "subscribe", "socketId": sid, "topic": "news"})
        # Subscribing twice changes nothing.
        self.be.send({"type": "subscribe", "socketId": cs[0][1], "topic": "news"})
        self.be.send({"type": "publish", "topic": "news", "data": "one"})
        self.be.send({"type": "publish", "topic": "news", "data": "two",
                      "exclude": cs[1][1]})
        self.be.send({"type": "unsubscribe", "socketId": cs[2][1], "topic": "news"})
        self.be.send({"type": "publish", "topic": "news", "data": "AAE=",
                      "binary": True})
        self.be.send({"type": "publish", "topic": "sports", "data": "nobody"})
        got = self.sync(cs)
        self.assertEqual(got[cs[0][1]], ["one", "two", b"\x00\x01"])
        self.assertEqual(got[cs[1][1]], ["one", b"\x00\x01"])
        self.assertEqual(got[cs[2][1]], ["one", "two"])
        self.assertEqual(got[cs[3][1]], [])
        k = self.counters()
        self.assertGreaterEqual(k["cmd_publish"], 4)
        self.assertGreaterEqual(k["topic_subscribes"], 3)
        self.assertGreaterEqual(k["topic_unsubscribes"], 1)

    def test_topics_follow_closes(self):
        a, b = self.open(), self.open()
        for c, sid in (a, b):
            self.be.send({"type": "subscribe", "socketId": sid, "topic": "t"})
        self.sync([a, b])
        a[0].close()
        self.be.wait_event("close", a[1])
        self.be.send({"type": "publish", "topic": "t", "data": "left"})
        self.assertEqual(self.sync([b])[b[1]], ["left"])

    # -- everyone ----------------------------------------------------------

    def test_broadcast_reaches_every_socket_once(self):
        cs = [self.open(user="u%d" % (i % 2)) for i in range(6)]
        self.be.send({"type": "broadcast", "data": "to all"})
        got = self.sync(cs)
        for c, sid in cs:
            self.assertEqual(got[sid], ["to all"])
        self.assertGreaterEqual(self.counters()["cmd_broadcast"], 1)

    # -- kicks by user -----------------------------------------------------

    def test_close_by_user(self):
        dave = [self.open(user="dave") for _ in range(3)]
        erin = self.open(user="erin")
        self.be.send({"type": "close", "userId": "dave", "code": 4001,
                      "reason": "token revoked"})
        for c, sid in dave:
            c.wait_closed()
            self.assertEqual((c.close_code, c.close_reason), (4001, "token revoked"))
            ev = self.be.wait_event("close", sid)
            self.assertEqual((ev["code"], ev["reason"]), (4001, "token revoked"))
        self.assertEqual(self.sync([erin])[erin[1]], [])
        self.assertGreaterEqual(self.counters()["cmd_close_user"], 1)

    # -- bad commands ------------------------------------------------------

    def test_bad_commands_are_counted_and_change_nothing(self):
        c, sid = self.open(user="frank")
        bad = [
            {"type": "send", "socketId": sid, "userId": "frank", "data": "x"},
            {"type": "send", "socketIds": [], "data": "x"},
            {"type": "send", "socketIds": [sid, 7], "data": "x"},
            {"type": "send", "socketIds": sid, "data": "x"},
            {"type": "send", "userId": 7, "data": "x"},
            {"type": "send", "userId": "frank"},
            {"type": "close", "socketIds": [sid]},
            {"type": "publish", "data": "x"},
            {"type": "publish", "topic": 1, "data": "x"},
            {"type": "publish", "topic": "t", "data": "x", "exclude": 5},
            {"type": "broadcast", "data": 5},
            {"type": "broadcast", "data": "!!", "binary": True},
            {"type": "subscribe", "socketId": sid},
            {"type": "subscribe", "socketId": sid, "topic": ""},
            {"type": "subscribe", "socketId": sid, "topic": "a\u0000b"},
            {"type": "unsubscribe", "topic": "t"},
        ]
        before = self.counters()["backend_err_bad_field"]
        for cmd in bad:
            self.be.send(cmd)
        self.be.send({"type": "publish", "topic": "a", "data": "nobody"})
        self.assertEqual(self.sync([(c, sid)])[sid], [])
        harness.wait_counters(
            self.gw, lambda k: k["backend_err_bad_field"] >= before + len(bad),
            what="every bad command counted")


class TopicLimits(harness.GatewayTest):
    config = dict(USER_FIELDS, topics={"max_per_socket": 2, "max_subscribers": 3,
                                       "max_name_bytes": 8})

    def setUp(self):
        super().setUp()
        self.gw = self.gateway(self.config)
        self.be = self.backend(self.gw)
        self.be.wait_conns(2)

    open = Addressing.open
    sync = Addressing.sync

    def test_per_socket_limit(self):
        c, sid = self.open()
        for t in ("t1", "t2", "t3"):
            self.be.send({"type": "subscribe", "socketId": sid, "topic": t})
        for t in ("t1", "t2", "t3"):
            self.be.send({"type": "publish", "topic": t, "data": t})
        self.assertEqual(self.sync([(c, sid)])[sid], ["t1", "t2"])
        k = harness.wait_counters(self.gw, lambda k: k["topic_refused_per_socket"] >= 1)
        self.assertEqual(k["topic_refused_per_socket"], 1)
        self.assertEqual(k["backend_err_limit"], 1)
        self.gw.wait_log(r"topics\.max_per_socket reached")
        # Leaving one makes room again.
        self.be.send({"type": "unsubscribe", "socketId": sid, "topic": "t1"})
        self.be.send({"type": "subscribe", "socketId": sid, "topic": "t3"})
        self.be.send({"type": "publish", "topic": "t3", "data": "t3 now"})
        self.assertEqual(self.sync([(c, sid)])[sid], ["t3 now"])

    def test_subscribers_per_topic_limit_spans_workers(self):
        cs = [self.open() for _ in range(5)]
        for c, sid in cs:
            self.be.send({"type": "subscribe", "socketId": sid, "topic": "busy"})
        self.be.send({"type": "publish", "topic": "busy", "data": "hi"})
        got = self.sync(cs)
        self.assertEqual(sorted(len(v) for v in got.values()), [0, 0, 1, 1, 1])
        k = harness.wait_counters(self.gw, lambda k: k["topic_refused_subscribers"] >= 2)
        self.assertEqual(k["topic_refused_subscribers"], 2)
        # A subscriber that leaves frees its place on the node.
        first = [sid for sid, v in got.items() if v][0]
        self.be.send({"type": "unsubscribe", "socketId": first, "topic": "busy"})
        # The count is the node's: the unsubscribe must be done, on its
        # socket's worker, before a socket of the other worker subscribes.
        self.sync([p for p in cs if p[1] == first])
        late = [p for p in cs if not got[p[1]]][0]
        self.be.send({"type": "subscribe", "socketId": late[1], "topic": "busy"})
        self.be.send({"type": "publish", "topic": "busy", "data": "again"})
        got = self.sync(cs)
        self.assertEqual(got[late[1]], ["again"])
        self.assertEqual(got[first], [])

    def test_topic_name_limit(self):
        c, sid = self.open()
        self.be.send({"type": "subscribe", "socketId": sid, "topic": "123456789"})
        self.be.send({"type": "publish", "topic": "123456789", "data": "long"})
        self.assertEqual(self.sync([(c, sid)])[sid], [])
        harness.wait_counters(self.gw, lambda k: k["backend_err_bad_field"] >= 1)


class AddressingMetrics(harness.GatewayTest):
    open = Addressing.open
    sync = Addressing.sync

    def test_counters_on_the_metrics_page(self):
        port = harness.free_port()
        self.gw = self.gateway(dict(USER_FIELDS, admin={"port": port},
                                    topics={"max_per_socket": 1}))
        self.be = self.backend(self.gw)
        self.be.wait_conns(2)
        c = [self.open(user="m"), self.open(user="m")]
        for t in ("a", "b"):
            self.be.send({"type": "subscribe", "socketId": c[0][1], "topic": t})
        self.be.send({"type": "publish", "topic": "a", "data": "x"})
        self.be.send({"type": "send", "userId": "m", "data": "y"})
        self.be.send({"type": "broadcast", "data": "z"})
        self.sync(c)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=harness.TIMEOUT)
        conn.request("GET", "/metrics")
        page = conn.getresponse().read().decode()
        conn.close()
        for line in ('wsgated_commands_total{kind="publish"} 1',
                     'wsgated_commands_total{kind="send_user"} 1',
                     'wsgated_commands_total{kind="broadcast"} 1',
                     'wsgated_fanout_deliveries_total 5',
                     'wsgated_topic_subscribes_total 1',
                     'wsgated_topic_refused_total{limit="max_per_socket"} 1',
                     'wsgated_backend_errors_total{kind="limit"} 1'):
            self.assertIn("\n" + line + "\n", page)


class TopicsFromContext(harness.GatewayTest):
    config = dict(USER_FIELDS, topics={"from_context": ["room"]})

    open = Addressing.open
    sync = Addressing.sync

    def test_sockets_join_their_room_at_open(self):
        self.gw = self.gateway(self.config)
        self.be = self.backend(self.gw)
        self.be.wait_conns(2)
        r1 = [self.open(room="lobby") for _ in range(2)]
        r2 = [self.open(room="kitchen")]
        none = [self.open()]
        self.be.send({"type": "publish", "topic": "lobby", "data": "lobby news"})
        got = self.sync(r1 + r2 + none)
        self.assertEqual([got[s] for c, s in r1], [["lobby news"]] * 2)
        self.assertEqual(got[r2[0][1]], [])
        self.assertEqual(got[none[0][1]], [])

    def test_from_context_must_name_a_field(self):
        r = subprocess.run([harness.WSGATED, "-t", "-c", self.bad_config()],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn('topics.from_context: "nosuch" is not a field of the context',
                      r.stderr)

    def bad_config(self):
        gw = harness.Gateway(dict(USER_FIELDS, topics={"from_context": ["nosuch"]}),
                             start=False)
        self.addCleanup(gw.close)
        return gw.conf_path


class Broadcast5000(harness.GatewayTest):
    """A broadcast to 5,000 sockets, delivered exactly once to each."""

    N = 5000

    def test_broadcast_to_5000_sockets(self):
        gw = self.gateway({"limits": {"max_connections": 20000,
                                      "max_connections_per_ip": 20000,
                                      "connection_rate_per_ip": 0}})
        be = self.backend(gw)
        be.wait_conns(2)
        half = self.N // 2
        procs = []
        for i in range(2):
            p = subprocess.Popen([sys.executable, os.path.join(os.path.dirname(__file__),
                                  "many_clients.py"), gw.url, str(half), "1", "60"],
                                 stdout=subprocess.PIPE, text=True)
            self.addCleanup(p.kill)
            procs.append(p)
        for p in procs:
            self.assertEqual(p.stdout.readline().strip(), "ready")
        be.wait_for(lambda fr: len([f for f in fr if f.get("type") == "open"]) >= self.N,
                    timeout=60, what="5000 open events")
        be.send({"type": "broadcast", "data": "to all 5000"})
        counts = {}
        for p in procs:
            out = json.loads(p.stdout.readline())
            for k, v in out["counts"].items():
                counts[k] = counts.get(k, 0) + v
            self.assertEqual(out["texts"], ["to all 5000"])
            p.wait(timeout=60)
        self.assertEqual(counts, {"1": self.N})
        k = harness.read_counters(gw)
        self.assertEqual(k["fanout_deliveries"], self.N)


if __name__ == "__main__":
    harness.main()
