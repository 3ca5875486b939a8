#!/usr/bin/env python3
"""Messages both ways, ordering, limits and close codes, for both framings."""

import base64
import ctypes
import json
import os
import re
import socket

import harness
from harness import RawWebSocket, OP_TEXT, OP_BINARY, OP_CONT, OP_CLOSE, OP_PING, OP_PONG

SYS_PIDFD_GETFD = 438   # x86_64 and aarch64 alike


class MessageTests:
    """Mixed into one TestCase per framing (see the bottom of the file)."""

    config = {"limits": {"max_message_bytes": 4096}}

    def setUp(self):
        super().setUp()
        self.gw = self.gateway(self.config)
        self.be = self.backend(self.gw, echo=True)

    def open_client(self, **kw):
        n = len(self.be.events("open"))
        c = self.connect(self.gw, **kw)
        sid = self.be.wait_for(
            lambda fr: (lambda o: o[n]["socketId"] if len(o) > n else None)(
                [f for f in fr if f.get("type") == "open"]), what="open event")
        return c, sid

    # -- data both ways ----------------------------------------------------

    def test_text_round_trip(self):
        c, sid = self.open_client()
        for text in ["hello", "", "h\u00e9llo \u2603 \U0001D11E", '{"json":"in text"}\n']:
            c.send(text)
            self.assertEqual(c.recv(), text)
        msgs = self.be.wait_messages(sid, 4)
        self.assertEqual([m["data"] for m in msgs],
                         ["hello", "", "h\u00e9llo \u2603 \U0001D11E", '{"json":"in text"}\n'])
        self.assertTrue(all(not m.get("binary", False) for m in msgs), msgs)

    def test_binary_to_backend_is_base64(self):
        self.be.echo = False
        c, sid = self.open_client()
        payload = bytes(range(256)) + b"\x00\xff"
        c.send(payload)
        msg = self.be.wait_messages(sid, 1)[0]
        self.assertIs(msg.get("binary"), True)
        self.assertEqual(base64.b64decode(msg["data"], validate=True), payload)

    def test_binary_from_backend_is_bytes(self):
        self.be.echo = False
        c, sid = self.open_client()
        payload = b"\x00\x01binary\xfe\xff"
        self.be.send_binary(sid, payload)
        got = c.recv()
        self.assertIsInstance(got, bytes)
        self.assertEqual(got, payload)

    def test_text_from_backend_is_text(self):
        self.be.echo = False
        c, sid = self.open_client()
        self.be.send_text(sid, "from backend \u00e9")
        self.assertEqual(c.recv(), "from backend \u00e9")

    def test_binary_echo(self):
        c, sid = self.open_client()
        c.send(b"")
        self.assertEqual(c.recv(), b"")
        c.send(b"\x80abc")
        self.assertEqual(c.recv(), b"\x80abc")

    def test_send_on_other_connection(self):
        # A command may be written on any gateway connection.
        self.be.echo = False
        c, sid = self.open_client()
        self.be.wait_conns(self.gw.workers)
        carrier = self.be.by_socket[sid]
        other = [x for x in self.be.live_conns() if x is not carrier][0]
        self.be.send({"type": "send", "socketId": sid, "data": "via other"}, conn=other)
        self.assertEqual(c.recv(), "via other")

    def test_send_every_spelling_delivered_alike(self):
        # Backends write JSON in many ways; the same send, however it is
        # spelled, delivers the same message.
        self.be.echo = False
        c, sid = self.open_client()
        text = 'q"b\\s/ \u00e9\u2603\U0001D11E\x00\x01\t\n\x7f end'
        cmd = {"type": "send", "socketId": sid, "data": text}
        ascii_ = json.dumps(cmd)
        spellings = [
            ascii_,                                      # \u escapes, a surrogate pair
            json.dumps(cmd, ensure_ascii=False),         # raw UTF-8
            re.sub(r"\\u([0-9a-f]{4})", lambda m: "\\u" + m.group(1).upper(), ascii_),
            ascii_.replace("/", "\\/"),
            json.dumps({"data": text, "binary": False, "socketId": sid, "type": "send"},
                       separators=(" ,\t", " :\t")),
            " \t" + json.dumps(cmd, separators=(",", ":")) + " \r",
            json.dumps(dict(cmd, extra=[1, {"a": None}])),  # a key the gateway ignores
        ]
        for s in spellings:
            self.be.send_raw(harness.encode_frame(s.encode(), self.framing), socket_id=sid)
        self.assertEqual(c.recv_many(len(spellings)), [text] * len(spellings))

        payload = bytes(range(256))
        b64 = base64.b64encode(payload).decode()
        self.assertIn("/", b64)
        bcmd = {"binary": True, "data": b64, "socketId": sid, "type": "send"}
        for s in [json.dumps(bcmd), json.dumps(bcmd).replace("/", "\\/")]:
            self.be.send_raw(harness.encode_frame(s.encode(), self.framing), socket_id=sid)
        self.assertEqual(c.recv_many(2), [payload, payload])

    def test_send_with_bad_escapes_refused(self):
        self.be.echo = False
        c, sid = self.open_client()
        before = harness.read_counters(self.gw).get("backend_err_invalid_json", 0)
        bad = ["\\ud800", "\\ud800x", "\\udc00\\ud800", "\\ud800\\u0041",
               "\\x41", "\\u12G4", "\\u12", "tab\there"]
        for data in bad:
            frame = '{"type":"send","socketId":"%s","data":"%s"}' % (sid, data)
            self.be.send_raw(harness.encode_frame(frame.encode(), self.framing),
                             socket_id=sid)
        self.be.send_text(sid, "after")
        self.assertEqual(c.recv(), "after")
        harness.wait_counters(
            self.gw, lambda n: n.get("backend_err_invalid_json", 0) - before == len(bad),
            what="%d invalid_json errors" % len(bad))

    def test_fragmented_message_reassembled(self):
        r, sid = self.open_raw()
        r.send_frame(OP_TEXT, b"frag", fin=False)
        r.send_frame(OP_CONT, b"men", fin=False)
        r.send_frame(OP_CONT, b"ted", fin=True)
        self.assertEqual(self.be.wait_messages(sid, 1)[0]["data"], "fragmented")

    def test_text_with_nul_echoed(self):
        # U+0000 is valid text: the gateway forwards it as \u0000 and must
        # take it back in a send.
        c, sid = self.open_client()
        c.send("a\x00b")
        self.assertEqual(c.recv(), "a\x00b")
        self.assertEqual(self.be.wait_messages(sid, 1)[0]["data"], "a\x00b")

    def test_ping_answered_with_pong(self):
        r, sid = self.open_raw()
        r.send_frame(OP_PING, b"are you there")
        self.assertEqual(r.recv_frame(), (OP_PONG, b"are you there"))
        # A ping in the middle of a fragmented message does not break it.
        r.send_frame(OP_TEXT, b"one ", fin=False)
        r.send_frame(OP_PING, b"p")
        r.send_frame(OP_CONT, b"message", fin=True)
        self.assertEqual(r.recv_frame(), (OP_PONG, b"p"))
        self.assertEqual(self.be.wait_messages(sid, 1)[0]["data"], "one message")

    def test_10000_in_order(self):
        c, sid = self.open_client()
        n = 10000
        sent = ["m%05d" % i for i in range(n)]
        c.send_many(sent, timeout=60)
        msgs = self.be.wait_messages(sid, n, timeout=60)
        self.assertEqual([m["data"] for m in msgs], sent)
        self.assertEqual(c.recv_many(n, timeout=60), sent)

    # -- limits ------------------------------------------------------------

    def test_max_message_bytes_exact_ok(self):
        c, sid = self.open_client()
        c.send("x" * 4096)
        self.assertEqual(c.recv(), "x" * 4096)

    def test_over_max_message_bytes_1009(self):
        c, sid = self.open_client()
        c.send(b"x" * 4097)
        _, code, _ = c.recv_until_closed()
        self.assertEqual(code, 1009)
        close = self.be.wait_event("close", sid)
        self.assertEqual(close["code"], 1009)
        self.assertEqual(self.be.events("message", sid), [])

    def test_over_max_after_reassembly_1009(self):
        r, sid = self.open_raw()
        r.send_frame(OP_BINARY, b"a" * 3000, fin=False)
        r.send_frame(OP_CONT, b"b" * 3000, fin=True)
        code, _ = r.recv_close()
        self.assertEqual(code, 1009)

    def test_invalid_utf8_1007(self):
        r, sid = self.open_raw()
        r.send_frame(OP_TEXT, b"ok \xc3\x28 bad")
        code, _ = r.recv_close()
        self.assertEqual(code, 1007)
        self.be.wait_event("close", sid)
        self.assertEqual(self.be.events("message", sid), [])

    # -- closing -----------------------------------------------------------

    def test_client_close_code_and_reason(self):
        c, sid = self.open_client()
        c.close(4001, "bye now")
        close = self.be.wait_event("close", sid)
        self.assertEqual((close["code"], close["reason"]), (4001, "bye now"))
        self.assertEqual(close["context"]["socketId"], sid)

    def test_client_close_without_code_1005(self):
        r, sid = self.open_raw()
        r.send_frame(OP_CLOSE, b"")
        r.recv_close(reply=False)
        r.close()
        close = self.be.wait_event("close", sid)
        self.assertEqual((close["code"], close["reason"]), (1005, ""))

    def test_client_drop_1006(self):
        r, sid = self.open_raw()
        r.close()
        close = self.be.wait_event("close", sid)
        self.assertEqual((close["code"], close["reason"]), (1006, ""))

    def test_backend_close_kicked(self):
        c, sid = self.open_client()
        self.be.close_socket(sid, 4000, "kicked")
        _, code, reason = c.recv_until_closed()
        self.assertEqual((code, reason), (4000, "kicked"))
        close = self.be.wait_event("close", sid)
        self.assertEqual(close["code"], 4000)

    def test_backend_close_default_1000(self):
        c, sid = self.open_client()
        self.be.close_socket(sid)
        _, code, _ = c.recv_until_closed()
        self.assertEqual(code, 1000)
        self.be.wait_event("close", sid)

    def test_send_after_close_discarded(self):
        self.be.echo = False
        c, sid = self.open_client()
        self.be.close_socket(sid, 4000, "kicked")
        self.be.send_text(sid, "too late")
        msgs, code, _ = c.recv_until_closed()
        self.assertEqual(msgs, [])
        self.assertEqual(code, 4000)

    def test_other_sockets_unaffected_by_close(self):
        a, sa = self.open_client()
        b, sb = self.open_client()
        self.be.close_socket(sa, 4000, "kicked")
        a.recv_until_closed()
        b.send("b lives")
        self.assertEqual(b.recv(), "b lives")


def peer_socket(pid, port, client_port):
    """A duplicate of the daemon's socket for the client at client_port.

    pidfd_getfd(2) copies another process's descriptor, so the test can
    read the options the daemon set on it. Found through /proc/net/tcp
    (the inode of the server end) and /proc/PID/fd.
    """
    want = ":%04X" % port, ":%04X" % client_port
    inode = None
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            parts = line.split()
            if parts[1].endswith(want[0]) and parts[2].endswith(want[1]):
                inode = parts[9]
    if inode is None:
        raise AssertionError("no server socket for client port %d" % client_port)
    fd_dir = "/proc/%d/fd" % pid
    for name in os.listdir(fd_dir):
        try:
            if os.readlink(os.path.join(fd_dir, name)) == "socket:[%s]" % inode:
                break
        except OSError:
            continue
    else:
        raise AssertionError("the daemon holds no socket:[%s]" % inode)
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        fd = libc.syscall(SYS_PIDFD_GETFD, pidfd, int(name), 0)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "pidfd_getfd")
    finally:
        os.close(pidfd)
    return socket.socket(fileno=fd)


class SocketOptions(harness.GatewayTest):
    def test_client_sockets_have_nodelay(self):
        """Nagle's algorithm would hold a message behind an unacked one."""
        gw = self.gateway()
        be = self.backend(gw, echo=True)
        raw = RawWebSocket(gw.port)
        self.addCleanup(raw.close)
        be.wait_open()
        s = peer_socket(gw.proc.pid, gw.port, raw.sock.getsockname()[1])
        try:
            self.assertEqual(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY), 1)
        finally:
            s.close()


class LengthPrefixed(MessageTests, harness.GatewayTest):
    framing = "length-prefixed"


class Ndjson(MessageTests, harness.GatewayTest):
    framing = "ndjson"


if __name__ == "__main__":
    harness.main()
