#!/usr/bin/env python3
"""The auth hook: before each upgrade wsgated asks a Unix-socket auth
service, written here, and its answer decides. Allow merges the answer's
fields into the context the backend's open event carries; deny is a bare
401 or 403; no answer in time, a link that is down and too many requests
waiting are timeout_status or 503; answers come in any order; a client
that leaves cancels its request; allow answers are cached by token; bad
frames are counted and survived; no token reaches the log."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import harness
from harness import Backend, http_raw, upgrade_head, read_counters, wait_counters

TOKEN = "s3cret-token-value-42"


class AuthServer(Backend):
    """A Backend that records auth requests and, with a policy, answers.

    policy(request) returns an answer dict (without type and requestId),
    or None to leave the request unanswered.
    """

    def __init__(self, path, framing="length-prefixed", policy=None):
        self.policy = policy
        super().__init__(path, framing)

    def _record(self, conn, payload):
        super()._record(conn, payload)
        if self.policy is None:
            return
        with self.cond:
            req = self.frames[-1] if self.frames else None
        if req is None or req.get("type") != "auth" or req.get("_answered"):
            return
        req["_answered"] = True
        ans = self.policy(req)
        if ans is not None:
            self.answer(req, **ans)

    def requests(self):
        return [f for f in self.snapshot() if f.get("type") == "auth"]

    def wait_requests(self, n, timeout=harness.TIMEOUT):
        return self.wait_for(lambda fr: (lambda r: r if len(r) >= n else None)(
            [f for f in fr if f.get("type") == "auth"]), timeout,
            what="%d auth requests" % n)

    def answer(self, req, **kw):
        msg = {"type": "auth", "requestId": req["requestId"]}
        msg.update(kw)
        self.send(msg, conn=req["_conn"])


def allow_all(req):
    return {"allow": True, "context": {"userId": "u-42", "plan": "pro"}}


def cookie(token):
    return {"Cookie": "X-Token=%s" % token}


class AuthBase(harness.GatewayTest):

    def setup_gw(self, auth=None, policy=allow_all, start_auth=True, framing=None,
                 extra=None):
        """A gateway with an auth group (auth overrides it), its backend in
        self.be and, with start_auth, an AuthServer answering by policy in
        self.auth."""
        conf = {"auth": {"headers": ["Authorization"], "timeout": 2.0}}
        conf["auth"].update(auth or {})
        conf.update(extra or {})
        gw = harness.Gateway(None, framing=self.framing, start=False)
        self.addCleanup(gw.close)
        self.addCleanup(self._check_clean_exit, gw)
        self._gateways.append(gw)
        self.auth_path = gw.dir + "/auth.sock"
        conf["auth"]["socket"] = self.auth_path
        if framing is not None:
            conf["auth"]["framing"] = framing
        gw.write_config(conf)
        self.be = self.backend(gw)
        self.auth = None
        if start_auth:
            self.auth = AuthServer(self.auth_path, framing or self.framing, policy)
            self.addCleanup(self.auth.stop)
        gw.start()
        if start_auth:
            gw.wait_log(r"auth: connected to")
            # The gateway's connect() returns once the kernel queued it:
            # the server's thread may accept it a moment later.
            self.auth.wait_conns(1)
        return gw

    def status(self, gw, headers=()):
        r = http_raw(gw.port, upgrade_head(gw.port, extra=list(headers)), timeout=10,
                     keep=True)
        if isinstance(r, tuple):
            r, s = r
            s.close()
        return r


class AuthTest(AuthBase):

    # -- allow and deny ----------------------------------------------------

    def test_allow_merges_fields_into_open_event(self):
        gw = self.setup_gw()
        c = self.connect(gw, extra_headers={"Authorization": "Bearer " + TOKEN,
                                            "X-User-Id": "configured"})
        ev = self.be.wait_open()
        self.assertEqual(ev["context"]["userId"], "u-42")      # overrides the header's
        self.assertEqual(ev["context"]["plan"], "pro")
        req = self.auth.requests()[0]
        self.assertEqual(req["headers"], {"authorization": "Bearer " + TOKEN})
        self.assertEqual(req["context"]["socketId"], ev["socketId"])
        self.assertIsInstance(req["requestId"], str)
        c.close()
        cnt = read_counters(gw)
        self.assertEqual(cnt["auth_allowed"], 1)

    def test_absent_header_is_omitted(self):
        gw = self.setup_gw()
        c = self.connect(gw)
        self.be.wait_open()
        self.assertEqual(self.auth.requests()[0]["headers"], {})
        c.close()

    def test_deny_401_and_403_bare(self):
        answers = {"a": {"allow": False, "reason": "no-such-user-REASON"},
                   "b": {"allow": False, "status": 403, "reason": "banned-REASON"},
                   "c": {"allow": False, "status": 500, "reason": "weird-REASON"}}
        gw = self.setup_gw(policy=lambda r: answers[r["headers"]["authorization"]])
        for tok, status in (("a", 401), ("b", 403), ("c", 403)):
            r = self.status(gw, [("Authorization", tok)])
            self.assertEqual(r.status, status, tok)
            self.assertNotIn(b"REASON", r.raw)
            self.assertIn(r.body.strip(), (b"unauthorized", b"forbidden"))
        self.assertEqual(self.be.events("open"), [])
        cnt = read_counters(gw)
        self.assertEqual(cnt["auth_denied"], 3)
        # The reason is in the debug log, never in an answer.
        gw.wait_log(r"denied: banned-REASON")

    def test_ndjson_framing(self):
        gw = self.setup_gw(framing="ndjson")
        c = self.connect(gw)
        ev = self.be.wait_open()
        self.assertEqual(ev["context"]["plan"], "pro")
        c.close()

    def test_reserved_fields_make_answer_invalid(self):
        gw = self.setup_gw(auth={"timeout": 0.5},
                           policy=lambda r: {"allow": True, "context": {"socketId": "x"}})
        r = self.status(gw)
        self.assertEqual(r.status, 503)
        cnt = read_counters(gw)
        self.assertEqual(cnt["auth_bad_frames"], 1)
        self.assertEqual(cnt["auth_timeouts"], 1)

    # -- no answer ----------------------------------------------------------

    def test_timeout_gives_timeout_status(self):
        gw = self.setup_gw(auth={"timeout": 0.3, "timeout_status": 401}, policy=None)
        t0 = time.monotonic()
        r = self.status(gw)
        self.assertEqual(r.status, 401)
        self.assertLess(time.monotonic() - t0, 5)
        self.assertGreaterEqual(time.monotonic() - t0, 0.25)
        # A late answer for it is ignored and counted.
        self.auth.answer(self.auth.requests()[0], allow=True)
        cnt = wait_counters(gw, lambda c: c["auth_bad_frames"] == 1)
        self.assertEqual(cnt["auth_timeouts"], 1)
        self.assertEqual(self.be.events("open"), [])

    def test_answers_out_of_order(self):
        gw = self.setup_gw(policy=None)
        results = {}

        def go(name):
            results[name] = self.connect(gw, extra_headers={"Authorization": name})
        threads = [threading.Thread(target=go, args=(n,)) for n in ("first", "second")]
        for t in threads:
            t.start()
        reqs = self.auth.wait_requests(2)
        by = {r["headers"]["authorization"]: r for r in reqs}
        self.auth.answer(by["second"], allow=True, context={"userId": "u-second"})
        ev2 = self.be.wait_open()
        self.assertEqual(ev2["context"]["userId"], "u-second")
        self.auth.answer(by["first"], allow=True, context={"userId": "u-first"})
        for t in threads:
            t.join(harness.TIMEOUT)
        opens = self.be.wait_opens(2)
        self.assertEqual(opens[1]["context"]["userId"], "u-first")
        self.assertEqual(opens[0]["socketId"], by["second"]["context"]["socketId"])
        self.assertEqual(opens[1]["socketId"], by["first"]["context"]["socketId"])
        for c in results.values():
            c.close()

    def test_client_leaving_cancels(self):
        gw = self.setup_gw(auth={"timeout": 30}, policy=None)
        s = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
        s.sendall(upgrade_head(gw.port))
        req = self.auth.wait_requests(1)[0]
        s.close()
        wait_counters(gw, lambda c: c["auth_cancelled"] == 1)
        self.auth.answer(req, allow=True)
        wait_counters(gw, lambda c: c["auth_bad_frames"] == 1)
        self.assertEqual(self.be.events("open"), [])
        self.auth.policy = allow_all
        c = self.connect(gw)
        self.assertEqual(self.be.wait_open()["context"]["plan"], "pro")
        c.close()

    def test_max_pending_overflow(self):
        gw = self.setup_gw(auth={"max_pending": 2, "timeout": 30}, policy=None)
        socks = []
        for _ in range(2):
            s = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
            s.sendall(upgrade_head(gw.port))
            socks.append(s)
        self.auth.wait_requests(2)
        t0 = time.monotonic()
        r = self.status(gw)
        self.assertEqual(r.status, 503)
        self.assertLess(time.monotonic() - t0, 2)
        cnt = read_counters(gw)
        self.assertEqual(cnt["auth_overflow"], 1)
        self.assertEqual(len(self.auth.requests()), 2)
        for s in socks:
            s.close()

    def test_link_down_gives_timeout_status_at_once(self):
        gw = self.setup_gw(auth={"timeout": 10, "timeout_status": 403}, start_auth=False)
        t0 = time.monotonic()
        r = self.status(gw)
        self.assertEqual(r.status, 403)
        self.assertLess(time.monotonic() - t0, 2)
        self.assertEqual(read_counters(gw)["auth_unavailable"], 1)
        # The link comes up later by itself.
        self.auth = AuthServer(self.auth_path, self.framing, allow_all)
        self.addCleanup(self.auth.stop)
        gw.wait_log(r"auth: connected to")
        c = self.connect(gw)
        self.assertEqual(self.be.wait_open()["context"]["plan"], "pro")
        c.close()

    def test_reload_applies_status_names_socket(self):
        gw = self.setup_gw(start_auth=False)
        self.assertEqual(self.status(gw).status, 503)
        since = gw.log_size()
        gw.write_config({"auth": {"socket": self.auth_path + ".new",
                                  "timeout_status": 401}})
        gw.signal(signal.SIGHUP)
        gw.wait_log(r"reload: auth\.socket changed; those take effect at a restart",
                    since=since)
        gw.wait_log(r"reloaded ", since=since)
        self.assertEqual(self.status(gw).status, 401)
        # The link still tries the first socket.
        self.auth = AuthServer(self.auth_path, self.framing, allow_all)
        self.addCleanup(self.auth.stop)
        gw.wait_log(r"(?m)auth: connected to %s$" % re.escape(self.auth_path), since=since)

    def test_link_lost_while_pending(self):
        gw = self.setup_gw(auth={"timeout": 30}, policy=None)
        result = {}

        def go():
            result["r"] = self.status(gw)
        t = threading.Thread(target=go)
        t.start()
        self.auth.wait_requests(1)
        self.auth.stop()
        t.join(harness.TIMEOUT)
        self.assertEqual(result["r"].status, 503)

    # -- cache --------------------------------------------------------------

    def test_cache_hit_within_ttl(self):
        gw = self.setup_gw(auth={"cache_ttl": 1.0})
        hdr = {"Authorization": "Bearer " + TOKEN}
        for i in range(2):
            c = self.connect(gw, extra_headers=hdr)
            ev = self.be.wait_opens(i + 1)[i]
            self.assertEqual(ev["context"]["plan"], "pro")
            c.close()
        self.assertEqual(len(self.auth.requests()), 1)
        # Another token is another key.
        c = self.connect(gw, extra_headers={"Authorization": "Bearer other"})
        self.be.wait_opens(3)
        c.close()
        self.assertEqual(len(self.auth.requests()), 2)
        time.sleep(1.2)
        c = self.connect(gw, extra_headers=hdr)
        self.be.wait_opens(4)
        c.close()
        self.assertEqual(len(self.auth.requests()), 3)
        self.assertEqual(read_counters(gw)["auth_cache_hits"], 1)

    def test_deny_not_cached(self):
        gw = self.setup_gw(auth={"cache_ttl": 10},
                           policy=lambda r: {"allow": False})
        for _ in range(2):
            self.assertEqual(self.status(gw, [("Authorization", TOKEN)]).status, 401)
        self.assertEqual(len(self.auth.requests()), 2)

    def test_no_cache_by_default(self):
        gw = self.setup_gw()
        for i in range(2):
            c = self.connect(gw, extra_headers={"Authorization": TOKEN})
            self.be.wait_opens(i + 1)
            c.close()
        self.assertEqual(len(self.auth.requests()), 2)

    # -- robustness ---------------------------------------------------------

    def test_token_never_logged(self):
        gw = self.setup_gw(policy=lambda r: {"allow": False, "reason": "nope"})
        self.assertEqual(self.status(gw, [("Authorization", "Bearer " + TOKEN),
                                          ("Cookie", "X-Token=" + TOKEN)]).status, 401)
        self.auth.policy = allow_all
        c = self.connect(gw, extra_headers={"Authorization": "Bearer " + TOKEN})
        self.be.wait_open()
        c.close()
        read_counters(gw)
        self.assertNotIn(TOKEN, gw.log_text())

    def test_bad_frames_counted_and_survived(self):
        gw = self.setup_gw(policy=None)
        for junk in (b"not json", b"[1,2]", b'{"type":"other"}',
                     b'{"type":"auth","requestId":"999","allow":true}',
                     b'{"type":"auth","requestId":7,"allow":true}',
                     b'{"type":"auth","requestId":"1","allow":"yes"}'):
            self.auth.send(junk)
        wait_counters(gw, lambda c: c["auth_bad_frames"] == 6)
        gw.wait_log(r"auth: bad answer")
        self.auth.policy = allow_all
        c = self.connect(gw)
        self.assertEqual(self.be.wait_open()["context"]["plan"], "pro")
        c.close()
        self.assertTrue(gw.running())

    def test_metrics_exported(self):
        admin = harness.free_port()
        gw = self.setup_gw(policy=lambda r: {"allow": False},
                           extra={"admin": {"port": admin}})
        self.assertEqual(self.status(gw).status, 401)
        body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % admin,
                                      timeout=5).read().decode()
        self.assertIn('wsgated_auth_refused_total{reason="denied"} 1', body)
        self.assertIn("wsgated_auth_allowed_total 0", body)
        self.assertIn('wsgated_connections_rejected_total{reason="auth"} 1', body)


class AuthNdjsonBackend(AuthBase):
    """auth.framing follows backend.framing when unset."""
    framing = "ndjson"

    def test_framing_follows_backend(self):
        gw = self.setup_gw()
        c = self.connect(gw)
        self.assertEqual(self.be.wait_open()["context"]["plan"], "pro")
        c.close()


class ExampleAuth(harness.GatewayTest):
    """examples/echo_backend.py --auth, on the backend's own socket."""

    def test_example_answers_auth(self):
        gw = harness.Gateway(None, start=False)
        self.addCleanup(gw.close)
        self.addCleanup(self._check_clean_exit, gw)
        self._gateways.append(gw)
        gw.write_config({"auth": {"socket": gw.backend_path,
                                  "headers": ["Authorization"]}})
        out_path = os.path.join(gw.dir, "backend.out")
        with open(out_path, "ab") as out:
            proc = subprocess.Popen(
                [sys.executable, os.path.join(harness.SRCDIR, "examples", "echo_backend.py"),
                 "--socket", gw.backend_path, "--auth"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)

        def stop():
            proc.terminate()
            proc.wait(harness.TIMEOUT)
        self.addCleanup(stop)
        output = lambda: open(out_path, "rb").read().decode("utf-8", "replace")
        harness.wait_until(lambda: "listening on" in output(), what="the example to listen")
        gw.start()
        gw.wait_log(r"auth: connected to")
        c = self.connect(gw, extra_headers=cookie("user:alice"))
        c.send("hi")
        self.assertEqual(c.recv(), "hi")
        m = harness.wait_until(lambda: re.search(r"(?m)^open \S+ context=(.*)$", output()),
                               what="an open line")
        self.assertEqual(json.loads(m.group(1))["userId"], "alice")
        c.close()
        c = self.connect(gw, extra_headers={"Authorization": "Bearer user:bob"})
        harness.wait_until(lambda: '"userId": "bob"' in output(), what="bob's open line")
        c.close()
        self.assertEqual(self.status_of(gw, [("Cookie", "X-Token=nobody")]), 401)
        self.assertRegex(output(), r"(?m)^auth \d+: deny$")

    def status_of(self, gw, headers):
        r = http_raw(gw.port, upgrade_head(gw.port, extra=headers), timeout=10)
        return r.status


if __name__ == "__main__":
    harness.main()
