#!/usr/bin/env python3
"""The cluster link: three wsgated, each with its own backend, act as one
through a real redis-server on a loopback port.

Each case starts its own Redis (no persistence) and three gateways with
cluster.heartbeat 0.2 and cluster.node_ttl 1; clients are spread over
them, each with a userId (the X-User-Id header). A backend's command for
sockets of other gateways must reach them exactly once; a gateway killed
with SIGKILL must show up at the other backends as close events with
reason "node-lost" within node_ttl + heartbeat; a Redis restart must heal
by itself. redis-server is required (tests/deps.sh installs it): without
it every case fails, it is not skipped.
"""

import base64
import http.client
import os
import shutil
import signal
import socket
import subprocess
import time

import harness
from harness import free_port, make_tempdir, wait_until, TIMEOUT

REDIS_SERVER = shutil.which("redis-server")
HEARTBEAT = 0.2
NODE_TTL = 1.0
# node_ttl + heartbeat, and what a loaded machine may add to it.
LOST_BOUND = NODE_TTL + HEARTBEAT
LOST_SLACK = 1.5


def resp_encode(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


class Redis:
    """A redis-server on a free loopback port, and a tiny RESP client."""

    def __init__(self):
        if REDIS_SERVER is None:
            raise AssertionError("redis-server is not installed: run tests/deps.sh")
        self.dir = make_tempdir()
        self.port = free_port()
        self.proc = None

    def start(self):
        log = open(os.path.join(self.dir, "redis.log"), "ab")
        try:
            self.proc = subprocess.Popen(
                [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no", "--dir", self.dir],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        finally:
            log.close()
        wait_until(self._pong, what="redis-server to answer PING")

    def _pong(self):
        if self.proc.poll() is not None:
            raise AssertionError("redis-server exited with %d" % self.proc.returncode)
        try:
            return self.call("PING") == "PONG"
        except OSError:
            return False

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(TIMEOUT)

    def close(self):
        self.stop()
        if not os.environ.get("WSGATE_TEST_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)

    def call(self, *args):
        """One command; the reply as str, int, list or None."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            s.sendall(resp_encode(*args))
            f = s.makefile("rb")
            return self._read(f)

    def _read(self, f):
        line = f.readline()
        if not line:
            raise OSError("connection closed")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise AssertionError("redis error: %s" % rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = f.read(n + 2)[:-2]
            return data.decode("utf-8", "replace")
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._read(f) for _ in range(n)]
        raise AssertionError("bad RESP line %r" % line)


def metrics(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        conn.request("GET", "/metrics")
        body = conn.getresponse().read().decode()
    finally:
        conn.close()
    out = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def post(port, path, body=b""):
    """POST to an admin listener; return (status, body text)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        conn.request("POST", path, body=body)
        r = conn.getresponse()
        return r.status, r.read().decode()
    finally:
        conn.close()


class ClusterTest(harness.GatewayTest):

    def setUp(self):
        super().setUp()
        self.redis = Redis()
        self.addCleanup(self.redis.close)
        self.redis.start()
        self.nodes = []          # (gateway, backend, admin port, node name)

    def node(self, name, extra=None):
        admin = free_port()
        cfg = harness.merge({
            "admin": {"port": admin},
            "cluster": {"redis": "127.0.0.1:%d" % self.redis.port, "node": name,
                        "heartbeat": HEARTBEAT, "node_ttl": NODE_TTL,
                        "reconnect_min": 0.05, "reconnect_max": 0.2},
        }, extra)
        gw = self.gateway(cfg)
        be = self.backend(gw)
        be.wait_conns(2)
        gw.wait_log(r"cluster: connected to Redis")
        self.nodes.append((gw, be, admin, name))
        return gw, be, admin

    def three(self):
        return [self.node("n%d" % i) for i in (1, 2, 3)]

    def client(self, gw, be, user):
        """A client of gw with userId user; return (client, socketId)."""
        n = len(be.events("open"))
        c = self.connect(gw, extra_headers={"X-User-Id": user})
        ev = be.wait_for(lambda fr: (lambda o: o[n] if len(o) > n else None)(
            [f for f in fr if f.get("type") == "open"]), what="open event")
        return c, ev["socketId"]

    def registered(self, n):
        """Wait until Redis knows n sockets in all."""
        wait_until(lambda: self.redis.call("HLEN", "wsgate:socket") == n,
                   what="%d sockets in the registry (have %r)"
                   % (n, self.redis.call("HLEN", "wsgate:socket")))

    def spread(self):
        """Three nodes; u1 on n1 and n3, u2 on n2, u3 on n3."""
        (g1, b1, _), (g2, b2, _), (g3, b3, _) = self.three()
        s = {}
        s["a"] = self.client(g1, b1, "u1")
        s["b"] = self.client(g2, b2, "u2")
        s["c"] = self.client(g3, b3, "u1")
        s["d"] = self.client(g3, b3, "u3")
        self.registered(4)
        return (b1, b2, b3), s

    def quiet(self, sockets):
        """No client receives anything more (each message exactly once)."""
        for c, _ in sockets:
            c.assert_no_message(0.3)

    # -- addressing ----------------------------------------------------------

    def test_send_by_socket_id_from_every_backend(self):
        (b1, b2, b3), s = self.spread()
        for i, be in enumerate((b1, b2, b3)):
            for name, (c, sid) in s.items():
                be.send({"type": "send", "socketId": sid, "data": "%s from %d" % (name, i)})
            for name, (c, sid) in s.items():
                self.assertEqual(c.recv(), "%s from %d" % (name, i))
        self.quiet(s.values())

    def test_binary_data_crosses_as_it_is(self):
        (b1, b2, b3), s = self.spread()
        data = bytes(range(256)) + b"\n\x00\n"
        b1.send({"type": "send", "socketId": s["c"][1], "binary": True,
                 "data": base64.b64encode(data).decode()})
        self.assertEqual(s["c"][0].recv(), data)

    def test_send_to_socket_ids_on_several_nodes(self):
        (b1, b2, b3), s = self.spread()
        b2.send({"type": "send", "socketIds": [s[k][1] for k in "abcd"], "data": "many"})
        for k in "abcd":
            self.assertEqual(s[k][0].recv(), "many")
        self.quiet(s.values())

    def test_send_to_user_reaches_every_node_that_has_it(self):
        (b1, b2, b3), s = self.spread()
        b2.send({"type": "send", "userId": "u1", "data": "for u1"})
        self.assertEqual(s["a"][0].recv(), "for u1")
        self.assertEqual(s["c"][0].recv(), "for u1")
        self.quiet(s.values())
        # Only n1 and n3 have u1: n2 publishes to those two channels.
        self.assertEqual(sorted(self.redis.call("SMEMBERS", "wsgate:user:u1")), ["n1", "n3"])

    def test_broadcast_from_every_backend(self):
        (b1, b2, b3), s = self.spread()
        for i, be in enumerate((b1, b2, b3)):
            be.send({"type": "broadcast", "data": "all %d" % i})
        for c, _ in s.values():
            self.assertEqual(sorted(c.recv_many(3)), ["all 0", "all 1", "all 2"])
        self.quiet(s.values())

    def test_topic_across_nodes(self):
        (b1, b2, b3), s = self.spread()
        # Each socket's own backend subscribes it; n1's publishes.
        b1.send({"type": "subscribe", "socketId": s["a"][1], "topic": "room"})
        b3.send({"type": "subscribe", "socketId": s["c"][1], "topic": "room"})
        # A subscription given on another node goes to the socket's node.
        b1.send({"type": "subscribe", "socketId": s["b"][1], "topic": "room"})
        # A send that follows a subscribe on the same path arrives after
        # it is done: when each socket has its marker, all three are in.
        for be, k in ((b1, "a"), (b3, "c"), (b1, "b")):
            be.send({"type": "send", "socketId": s[k][1], "data": "marker"})
        for k in "abc":
            self.assertEqual(s[k][0].recv(), "marker")
        b1.send({"type": "publish", "topic": "room", "data": "hello room",
                 "exclude": s["a"][1]})
        self.assertEqual(s["b"][0].recv(), "hello room")
        self.assertEqual(s["c"][0].recv(), "hello room")
        self.quiet(s.values())

    def test_close_by_user_across_nodes(self):
        (b1, b2, b3), s = self.spread()
        b2.send({"type": "close", "userId": "u1", "code": 4001, "reason": "bye"})
        self.assertEqual(s["a"][0].wait_closed(), (4001, "bye"))
        self.assertEqual(s["c"][0].wait_closed(), (4001, "bye"))
        # Their own backends see them close; the registry forgets them.
        b1.wait_event("close", s["a"][1])
        b3.wait_event("close", s["c"][1])
        self.registered(2)
        self.assertIsNone(self.redis.call("HGET", "wsgate:socket", s["a"][1]))
        s["b"][0].assert_no_message(0.1)

    def test_admin_commands_reach_other_nodes(self):
        (b1, b2, b3), s = self.spread()
        port = self.nodes[0][2]
        # A socket of n2, asked of n1's admin listener.
        self.assertEqual(post(port, "/connections/%s/send" % s["b"][1], b"from n1's admin"),
                         (202, "forwarded to the cluster\n"))
        self.assertEqual(s["b"][0].recv(), "from n1's admin")
        # One of its own is found at once.
        self.assertEqual(post(port, "/connections/%s/send" % s["a"][1], b"local"),
                         (202, "accepted\n"))
        self.assertEqual(s["a"][0].recv(), "local")
        self.assertEqual(post(port, "/broadcast", b"everyone"), (202, "accepted\n"))
        for c, _ in s.values():
            self.assertEqual(c.recv(), "everyone")
        self.assertEqual(post(port, "/connections/%s/close?code=4002&reason=admin"
                              % s["d"][1]), (202, "forwarded to the cluster\n"))
        self.assertEqual(s["d"][0].wait_closed(), (4002, "admin"))
        self.quiet([s[k] for k in "abc"])

    # -- node loss -----------------------------------------------------------

    def test_killed_node_is_reported_lost_to_every_backend(self):
        (b1, b2, b3), s = self.spread()
        g3 = self.nodes[2][0]
        lost = {s["c"][1], s["d"][1]}
        killed = time.monotonic()
        g3.kill()
        g3.proc = None          # killed on purpose: no clean exit to check
        for be in (b1, b2):
            evs = be.wait_for(
                lambda fr: (lambda e: e if {f["socketId"] for f in e} >= lost else None)(
                    [f for f in fr if f.get("type") == "close" and f.get("socketId") in lost]),
                timeout=LOST_BOUND + LOST_SLACK + 2, what="node-lost close events")
            took = time.monotonic() - killed
            self.assertLessEqual(took, LOST_BOUND + LOST_SLACK)
            self.assertEqual(len(evs), 2, evs)          # once each
            for ev in evs:
                self.assertEqual(ev["code"], 1006)
                self.assertEqual(ev["reason"], "node-lost")
                self.assertEqual(ev["context"]["socketId"], ev["socketId"])
            users = {ev["socketId"]: ev["context"]["userId"] for ev in evs}
            self.assertEqual(users, {s["c"][1]: "u1", s["d"][1]: "u3"})
        # The registry holds only the living.
        self.registered(2)
        self.assertEqual(sorted(self.redis.call("SMEMBERS", "wsgate:nodes")), ["n1", "n2"])
        self.assertEqual(self.redis.call("SMEMBERS", "wsgate:user:u1"), ["n1"])
        # Exactly one node reaped n3.
        lost_counts = [metrics(a)["wsgated_cluster_nodes_lost_total"]
                       for _, _, a, _ in self.nodes[:2]]
        self.assertEqual(sorted(lost_counts), [0, 1])
        # And the survivors still reach each other.
        b1.send({"type": "send", "socketId": s["b"][1], "data": "still here"})
        self.assertEqual(s["b"][0].recv(), "still here")

    def test_graceful_stop_leaves_the_registry(self):
        (b1, b2, b3), s = self.spread()
        g3 = self.nodes[2][0]
        self.assertEqual(g3.stop(), 0)
        g3.wait_log(r"cluster: node n3 left the registry")
        # Gone at once, not after node_ttl: nothing is left to reap.
        self.assertEqual(self.redis.call("HLEN", "wsgate:socket"), 2)
        self.assertEqual(sorted(self.redis.call("SMEMBERS", "wsgate:nodes")), ["n1", "n2"])
        self.assertEqual(self.redis.call("EXISTS", "wsgate:sockets:n3"), 0)
        time.sleep(LOST_BOUND + 0.3)
        for be in (b1, b2):
            self.assertEqual([f for f in be.events("close")
                              if f.get("reason") == "node-lost"], [])

    # -- Redis away ----------------------------------------------------------

    def test_redis_restart_heals_and_drops_are_counted(self):
        (b1, b2, b3), s = self.spread()
        a1 = self.nodes[0][2]
        # Three nodes at n1's next heartbeat.
        m = wait_until(lambda: (lambda m: m if m["wsgated_cluster_nodes"] == 3 else None)(
            metrics(a1)), what="three live nodes")
        self.assertEqual(m["wsgated_cluster_up"], 1)
        dropped = m["wsgated_cluster_dropped_total"]

        self.redis.stop()
        wait_until(lambda: metrics(a1)["wsgated_cluster_up"] == 0,
                   what="n1 to see Redis gone")
        # Local sends still work; cross-node ones are dropped and counted.
        b1.send({"type": "send", "socketId": s["a"][1], "data": "local"})
        self.assertEqual(s["a"][0].recv(), "local")
        b1.send({"type": "send", "socketId": s["b"][1], "data": "lost"})
        wait_until(lambda: metrics(a1)["wsgated_cluster_dropped_total"] > dropped,
                   what="the drop counted")
        s["b"][0].assert_no_message(0.2)
        self.nodes[0][0].wait_log(r"cluster: lost Redis")

        # An empty Redis on the same port: every node registers again.
        self.redis.start()
        for _, _, admin, _ in self.nodes:
            wait_until(lambda: metrics(admin)["wsgated_cluster_up"] == 1,
                       what="the link back up")
        self.registered(4)
        wait_until(lambda: metrics(a1)["wsgated_cluster_nodes"] == 3,
                   what="three nodes counted")
        b1.send({"type": "send", "socketId": s["b"][1], "data": "back"})
        self.assertEqual(s["b"][0].recv(), "back")
        b3.send({"type": "send", "userId": "u1", "data": "u1 again"})
        self.assertEqual(s["a"][0].recv(), "u1 again")
        self.assertEqual(s["c"][0].recv(), "u1 again")
        self.assertGreaterEqual(metrics(a1)["wsgated_cluster_connects_total"], 2)
        self.assertGreaterEqual(metrics(a1)["wsgated_cluster_disconnects_total"], 1)

    def test_hostile_messages_are_refused(self):
        (b1, b2, b3), s = self.spread()
        a1 = self.nodes[0][2]
        for msg in ("garbage", '{"v":1}\n', '{"v":1,"from":"x","op":"send",'
                    '"to":"socket","key":"../../etc"}\nx',
                    '{"v":1,"from":"x","op":"lost","node":"n9"}\n{"bad":1}'):
            self.assertEqual(self.redis.call("PUBLISH", "wsgate:node:n1", msg), 1)
        wait_until(lambda: metrics(a1)["wsgated_cluster_bad_messages_total"] == 4,
                   what="four refused messages")
        self.nodes[0][0].wait_log(r"cluster: a message was refused")
        # A well-formed one from a stranger is carried out like any other.
        self.redis.call("PUBLISH", "wsgate:node:n1",
                        '{"v":1,"from":"x","op":"send","to":"socket","key":"%s"}\nhi'
                        % s["a"][1])
        self.assertEqual(s["a"][0].recv(), "hi")


if __name__ == "__main__":
    harness.main()
