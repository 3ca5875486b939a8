#!/usr/bin/env python3
"""SIGHUP reloads wsgate.conf: new connections get the new context fields,
limits and origins; open connections keep theirs; a bad file changes
nothing."""

import signal

import harness
from harness import http_upgrade, upgrade_head


def fields(*f):
    return {"context": {"fields": list(f)}}


def field(name, source, key=None, **kw):
    d = {"name": name, "source": source}
    if key is not None:
        d["key"] = key
    d.update(kw)
    return d


class Reload(harness.GatewayTest):
    def reload(self, gw, config, expect=r"reloaded "):
        since = gw.log_size()
        gw.write_config(config)
        gw.signal(signal.SIGHUP)
        gw.wait_log(expect, since=since)
        return since

    def test_new_fields_for_new_connections_only(self):
        gw = self.gateway(fields(field("a", "header", "X-A")))
        be = self.backend(gw, echo=True)
        old = self.connect(gw, extra_headers=[("X-A", "1"), ("X-B", "2")])
        old_open = be.wait_open()
        self.assertEqual(set(old_open["context"]) - {"socketId", "createdAt"}, {"a"})

        self.reload(gw, fields(field("b", "header", "X-B")))
        new = self.connect(gw, extra_headers=[("X-A", "1"), ("X-B", "2")])
        opens = be.wait_opens(2)
        self.assertEqual(opens[1]["context"]["b"], "2")
        self.assertNotIn("a", opens[1]["context"])

        # The old socket's events still carry its own context.
        old.send("from old")
        self.assertEqual(old.recv(), "from old")
        msg = be.wait_messages(old_open["socketId"], 1)[0]
        self.assertEqual(msg["context"], old_open["context"])
        new.send("from new")
        self.assertEqual(new.recv(), "from new")

    def test_bad_file_refused_old_config_stays(self):
        gw = self.gateway(fields(field("a", "header", "X-A", required=True)))
        self.backend(gw, echo=True)
        since = gw.log_size()
        with open(gw.conf_path, "w") as f:
            f.write("listen = { port = 0; };\nbogus = 1;\n")
        gw.signal(signal.SIGHUP)
        gw.wait_log(r"reload refused: .*wsgate\.conf:1: listen\.port", since=since)
        gw.wait_log(r"reload refused: .*wsgate\.conf:2: unknown key bogus", since=since)
        self.assertTrue(gw.running())
        # Still the old config: X-A is required, and the port is unchanged.
        r = http_upgrade(gw.port, upgrade_head(gw.port))
        self.assertEqual(r.status, 401)
        c = self.connect(gw, extra_headers=[("X-A", "1")])
        c.send("ok")
        self.assertEqual(c.recv(), "ok")

    def test_limits_apply_to_new_connections(self):
        gw = self.gateway({"limits": {"max_message_bytes": 100}})
        self.backend(gw, echo=True)
        old = self.connect(gw)
        self.reload(gw, {"limits": {"max_message_bytes": 10}})
        new = self.connect(gw)
        old.send("x" * 50)
        self.assertEqual(old.recv(), "x" * 50)
        new.send("x" * 50)
        new.wait_closed()
        self.assertEqual(new.close_code, 1009)

    def test_origins_added_at_reload(self):
        gw = self.gateway()
        self.backend(gw)
        evil = [("Origin", b"https://evil.example")]
        self.assertEqual(http_upgrade(gw.port, upgrade_head(gw.port, extra=evil)).status, 101)
        self.reload(gw, {"listen": {"allowed_origins": ["https://app.example"]}})
        self.assertEqual(http_upgrade(gw.port, upgrade_head(gw.port, extra=evil)).status, 403)
        ok = [("Origin", b"https://app.example")]
        self.assertEqual(http_upgrade(gw.port, upgrade_head(gw.port, extra=ok)).status, 101)

    def test_restart_only_keys_are_named(self):
        gw = self.gateway()
        be = self.backend(gw, echo=True)
        since = self.reload(gw, {"workers": 1, "backend": {"framing": "ndjson"}})
        gw.wait_log(r"reload: workers, backend\.framing changed; those take effect "
                    r"at a restart", since=since)
        # Still the old framing on the same links: messages still flow.
        c = self.connect(gw)
        c.send("x")
        self.assertEqual(c.recv(), "x")
        be.wait_conns(2)


if __name__ == "__main__":
    harness.main()
