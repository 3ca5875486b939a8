#!/usr/bin/env python3
"""What the log says, and what it must never say: at the most verbose
level, through accepted, refused, kicked and closed connections, no token,
cookie or query value reaches the log; field names and lengths do."""

import os
import shutil
import signal

import harness
from harness import http_raw, upgrade_head

SECRET_TOKEN = "tok-SECRET-3f9a"
SECRET_COOKIE = "SECRET-COOKIE-77"
SECRET_ROOM = "SECRET-ROOM-q"
LONG_TOKEN = "SECRET-LONG-" + "x" * 40


class Secrets(harness.GatewayTest):
    framing = "length-prefixed"

    def test_no_secret_in_the_log(self):
        gw = self.gateway({"context": {"fields": [
            {"name": "token", "source": "cookie", "key": "X-Token", "required": True,
             "max_length": 32},
            {"name": "userId", "source": "header", "key": "X-User-Id"},
            {"name": "room", "source": "query", "key": "room"},
        ]}})
        be = self.backend(gw, echo=True)
        cookie = "X-Token=%s; session=%s" % (SECRET_TOKEN, SECRET_COOKIE)

        # Accepted: the values reach the backend, then the socket is kicked.
        c = self.connect(gw, path="/ws?room=" + SECRET_ROOM,
                         extra_headers=[("Cookie", cookie), ("X-User-Id", "u1")])
        opened = be.wait_event("open")
        self.assertEqual(opened["context"]["token"], SECRET_TOKEN)
        self.assertEqual(opened["context"]["room"], SECRET_ROOM)
        c.send("hello")
        self.assertEqual(c.recv(), "hello")
        be.close_socket(opened["socketId"], 4001, "kicked")
        be.wait_event("close", opened["socketId"])

        # Refused: too long a token, and a token that is not UTF-8.
        for value in (LONG_TOKEN.encode(), b"SECRET-\xff\xfe"):
            r = http_raw(gw.port, upgrade_head(
                gw.port, path="/ws?room=" + SECRET_ROOM,
                extra=[("Cookie", b"X-Token=" + value + b"; session=" +
                        SECRET_COOKIE.encode())]))
            self.assertEqual(r.status, 400)

        # A dropped client and a counters line, then a clean stop.
        c2 = self.connect(gw, extra_headers=[("Cookie", cookie)])
        c2.abort()
        harness.read_counters(gw)
        gw.signal(signal.SIGTERM)
        self.assertEqual(gw.wait(), 0)

        text = gw.log_text()
        # The log did record these events, by name and length...
        self.assertRegex(text, r"field token is \d+ bytes, more than 32")
        self.assertIn("field token is not valid UTF-8", text)
        self.assertIn("session %s" % opened["socketId"], text)
        # ...and never a value.
        for secret in (SECRET_TOKEN, SECRET_COOKIE, SECRET_ROOM, "SECRET-"):
            self.assertNotIn(secret, text)



class Priorities(harness.GatewayTest):
    """Under systemd, stderr is the journal (JOURNAL_STREAM names it), and
    each line carries its priority as an sd-daemon(3) prefix, so that
    journalctl -p warning shows the warnings."""

    def start(self, same_file):
        d = harness.make_tempdir()
        self.addCleanup(shutil.rmtree, d, True)
        log = os.path.join(d, "wsgated.log")
        open(log, "ab").close()
        st = os.stat(log if same_file else d)
        gw = self.gateway(dir=d, env={"JOURNAL_STREAM": "%d:%d" % (st.st_dev,
                                                                   st.st_ino)})
        self.assertEqual(gw.log_path, log)
        # No backend yet: a warning.
        gw.wait_log(r"cannot connect, retrying")
        gw.wait_log(r"started")
        return gw

    def test_prefixes_when_stderr_is_the_journal(self):
        gw = self.start(True)
        text = gw.log_text()
        self.assertRegex(text, r"(?m)^<4>warning: worker \d: backend .* cannot connect")
        self.assertRegex(text, r"(?m)^<6>wsgated \S+ started")
        self.assertRegex(text, r"(?m)^<7>debug: ")
        for line in text.splitlines():
            self.assertRegex(line, r"^<[3467]>", "a line without its priority")

    def test_no_prefix_when_stderr_is_elsewhere(self):
        gw = self.start(False)
        self.assertNotRegex(gw.log_text(), r"(?m)^<\d>")


if __name__ == "__main__":
    harness.main()
