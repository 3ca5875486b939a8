#!/usr/bin/env python3
"""What the log says, and what it must never say: at the most verbose
level, through accepted, refused, kicked and closed connections, no token,
cookie or query value reaches the log; field names and lengths do."""

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


if __name__ == "__main__":
    harness.main()
