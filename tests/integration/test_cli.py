#!/usr/bin/env python3
"""Command line: -t, -V, -h, bad usage, config errors as FILE:LINE."""

import os
import shutil
import re
import socket
import subprocess
import tempfile
import unittest

import harness

GOOD_CONF = """\
workers = 2;
shutdown_timeout = 5;
listen = {
  address = "127.0.0.1";
  port = 8080;
  path = "/ws";
  subprotocols = [ "chat", "v2.json" ];
};
backend = {
  socket = "/run/wsgate/backend.sock";
  framing = "ndjson";
  reconnect_min = 0.1;
  reconnect_max = 5;
  max_frame_bytes = 16777216;
  queue_bytes = 16777216;
};
context = {
  fields = (
    { name = "token"; source = "cookie"; key = "X-Token"; },
    { name = "userId"; source = "header"; key = "X-User-Id"; required = true; max_length = 64; },
    { name = "room"; source = "query"; key = "room"; },
    { name = "ip"; source = "peer"; }
  );
};
limits = {
  max_head_bytes = 8192;
  max_headers = 100;
  handshake_timeout = 0.5;
  max_message_bytes = 1048576;
  max_connections = 10000;
};
log = {
  level = "info";
};
"""

# (test name, config text, line of the error).  Each text has one error.
BAD_CONFIGS = [
    ("unknown_top_level_key", 'workers = 1;\nbogus = 2;\n', 2),
    ("unknown_key_in_group", 'listen = {\n  port = 8080;\n  colour = "red";\n};\n', 3),
    ("unknown_group", 'workers = 1;\n\nmetrics = {\n  port = 9;\n};\n', 3),
    ("port_wrong_type", 'listen = {\n  port = "8080";\n};\n', 2),
    ("port_out_of_range", 'listen = {\n  address = "::1";\n  port = 70000;\n};\n', 3),
    ("port_zero", 'listen = {\n  port = 0;\n};\n', 2),
    ("workers_out_of_range", 'workers = 65;\n', 1),
    ("framing_bad_value", 'backend = {\n  socket = "/tmp/x.sock";\n  framing = "xml";\n};\n', 3),
    ("duration_wrong_type", 'backend = {\n  reconnect_min = "fast";\n};\n', 2),
    ("duration_out_of_range", 'limits = {\n  max_headers = 10;\n  handshake_timeout = 0.01;\n};\n', 3),
    ("log_level_bad_value", 'log = {\n  level = "loud";\n};\n', 2),
    ("path_without_slash", 'listen = {\n  path = "ws";\n};\n', 2),
    ("field_without_key",
     'context = {\n  fields = (\n    { name = "a"; source = "header"; }\n  );\n};\n', 3),
    ("field_duplicate_name",
     'context = {\n  fields = (\n'
     '    { name = "a"; source = "header"; key = "X-A"; },\n'
     '    { name = "a"; source = "cookie"; key = "a"; }\n  );\n};\n', 4),
    ("field_peer_with_key",
     'context = {\n  fields = (\n    { name = "ip"; source = "peer"; key = "x"; }\n  );\n};\n', 3),
    ("field_bad_source",
     'context = {\n  fields = (\n    { name = "a"; source = "env"; key = "A"; }\n  );\n};\n', 3),
    ("field_reserved_name",
     'context = {\n  fields = (\n    { name = "socketId"; source = "header"; key = "X-S"; }\n'
     '  );\n};\n', 3),
    ("field_name_bad_chars",
     'context = {\n  fields = (\n    { name = "a-b"; source = "header"; key = "X-A"; }\n'
     '  );\n};\n', 3),
    ("field_unknown_key",
     'context = {\n  fields = (\n'
     '    { name = "a"; source = "header"; key = "X-A"; colour = 1; }\n  );\n};\n', 3),
    ("syntax_error", 'workers = 1;\nlisten = {\n  port = ;\n};\n', 3),
]


def run_daemon(*args, timeout=10):
    return subprocess.run([harness.WSGATED] + list(args), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, errors="replace", timeout=timeout)


class ConfigCheck(unittest.TestCase):
    def setUp(self):
        self.dir = harness.make_tempdir()
        self.addCleanup(lambda: harness.shutil.rmtree(self.dir, ignore_errors=True))

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def check_fails_at(self, path, lines):
        """-t must exit 1 and report exactly these lines as PATH:LINE: ..."""
        r = run_daemon("-t", "-c", path)
        self.assertEqual(r.returncode, 1, "stdout=%r stderr=%r" % (r.stdout, r.stderr))
        self.assertNotIn("configuration OK", r.stdout)
        found = {int(m) for m in re.findall(re.escape(path) + r":(\d+): \S", r.stderr)}
        self.assertEqual(found, set(lines), "stderr=%r" % r.stderr)

    def test_good_config_ok(self):
        path = self.write("good.conf", GOOD_CONF)
        r = run_daemon("-t", "-c", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("configuration OK", r.stdout)

    def test_empty_config_uses_defaults(self):
        path = self.write("empty.conf", "# nothing\n")
        r = run_daemon("-t", "-c", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("configuration OK", r.stdout)

    def test_subprotocols_as_list(self):
        # libconfig has arrays [ ] and lists ( ); both are "a list of strings".
        path = self.write("list.conf", 'listen = {\n  subprotocols = ( "chat" );\n};\n')
        r = run_daemon("-t", "-c", path)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_all_errors_in_one_run(self):
        path = self.write("two.conf",
                          'workers = 1;\nlisten = {\n  port = 70000;\n};\n'
                          'backend = {\n  framing = "xml";\n};\n')
        self.check_fails_at(path, [3, 6])

    def test_missing_file(self):
        path = os.path.join(self.dir, "absent.conf")
        r = run_daemon("-t", "-c", path)
        self.assertEqual(r.returncode, 1)
        self.assertIn(path, r.stderr)

    def test_shipped_config_passes(self):
        path = os.environ.get("WSGATE_CONF") or os.path.join(harness.SRCDIR, "conf",
                                                            "wsgate.conf")
        if not os.path.exists(path):
            self.skipTest("no shipped config at %s" % path)
        r = run_daemon("-t", "-c", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("configuration OK", r.stdout)
        # Only that /run/wsgate is not there yet, where no package made it.
        warnings = [w for w in r.stderr.splitlines() if "warning" in w]
        if not os.path.isdir("/run/wsgate"):
            warnings = [w for w in warnings if "/run/wsgate does not exist" not in w]
        self.assertEqual(warnings, [])

    def reach_warnings(self, socket_path, secret_mode=None):
        conf = 'backend = {\n  socket = "%s";\n};\n' % socket_path
        if secret_mode is not None:
            secret = self.write("jwt.secret", "s" * 40)
            os.chmod(secret, secret_mode)
            conf += ('jwt = {\n  secret_file = "%s";\n  algorithms = [ "HS256" ];\n};\n'
                     % secret)
        r = run_daemon("-t", "-c", self.write("reach.conf", conf))
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stderr

    @unittest.skipUnless(os.geteuid() == 0, "-t checks what the service reaches as root only")
    def test_what_the_service_would_not_reach_warned(self):
        # A private /tmp, a directory not there yet, one only its owner
        # may search, and a key file only its owner may read.
        self.assertRegex(self.reach_warnings("/tmp/wsgated-test-x/backend.sock"),
                         r"backend.socket /tmp/wsgated-test-x/backend.sock is under a /tmp")
        # Not in TMPDIR, which is /tmp here and would be warned of too.
        top = tempfile.mkdtemp(prefix="wsgated-test-", dir="/run")
        self.addCleanup(shutil.rmtree, top, True)
        os.chmod(top, 0o755)
        closed = os.path.join(top, "closed")
        os.mkdir(closed, 0o700)
        self.assertRegex(self.reach_warnings(os.path.join(closed, "sub", "b.sock")),
                         r"the directory %s/sub does not exist" % re.escape(closed))
        self.assertRegex(self.reach_warnings(os.path.join(closed, "b.sock")),
                         r"the service's user could not reach %s" % re.escape(closed))
        opened = os.path.join(top, "open")
        os.mkdir(opened, 0o755)
        os.chmod(self.dir, 0o755)
        self.assertNotIn("warning", self.reach_warnings(os.path.join(opened, "b.sock"),
                                                        0o644))
        self.assertRegex(self.reach_warnings(os.path.join(opened, "b.sock"), 0o600),
                         r"jwt.secret may be read only by its owner.*LoadCredential=")

    def test_backend_sizes_that_cannot_carry_the_largest_message_warned(self):
        # 8 MiB of control characters are 48 MiB as JSON: more than the
        # backend's frames and queue take by default. A warning, not an
        # error: the configuration works for the messages it can carry.
        path = self.write("big.conf", "limits = {\n  max_message_bytes = 8388608;\n};\n")
        r = run_daemon("-t", "-c", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("configuration OK", r.stdout)
        self.assertRegex(r.stderr, r"warning: %s: backend.max_frame_bytes 16777216 is "
                         r"less than a send carrying the largest message" % re.escape(path))
        self.assertRegex(r.stderr, r"warning: %s: backend.queue_bytes 16777216 is less "
                         r"than an event carrying the largest message, up to \d+ "
                         r"bytes" % re.escape(path))
        path = self.write("fits.conf", "limits = {\n  max_message_bytes = 8388608;\n};\n"
                          "backend = {\n  max_frame_bytes = 60000000;\n"
                          '  socket = "/run/wsgated-test.sock";\n'
                          "  queue_bytes = 60000000;\n};\n")
        r = run_daemon("-t", "-c", path)
        self.assertEqual((r.returncode, r.stderr), (0, ""))


def _make_bad_test(text, line):
    def test(self):
        self.check_fails_at(self.write("bad.conf", text), [line])
    return test


for _name, _text, _line in BAD_CONFIGS:
    setattr(ConfigCheck, "test_bad_" + _name, _make_bad_test(_text, _line))


class Options(unittest.TestCase):
    def test_version(self):
        r = run_daemon("-V")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^wsgated \d+\.\d+\S* \((?:[+-][a-z]+ ?)+\)\n?$")

    def test_help(self):
        r = run_daemon("-h")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^usage: wsgated ")
        # Each option on a line of its own, with what it does.
        for opt in "cftvVh":
            self.assertRegex(r.stdout, r"(?m)^  -%s\s+\S" % opt)
        self.assertIn("/wsgate/wsgate.conf", r.stdout)

    def test_unknown_option(self):
        r = run_daemon("-Z")
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"(?i)usage")

    def test_missing_option_argument(self):
        r = run_daemon("-c")
        self.assertEqual(r.returncode, 1)

    def test_extra_argument(self):
        r = run_daemon("-t", "-c", "/dev/null", "extra")
        self.assertEqual(r.returncode, 1)


class Startup(unittest.TestCase):
    def test_bind_failure_exits_1(self):
        gw = harness.Gateway(start=False)
        self.addCleanup(gw.close)
        blocker = socket.socket()
        self.addCleanup(blocker.close)
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        blocker.bind(("127.0.0.1", gw.port))
        blocker.listen(1)
        r = run_daemon("-f", "-c", gw.conf_path)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertRegex(r.stderr, r"(?i)bind|address already in use")

    def test_without_f_daemonises(self):
        """Without -f the command returns at once and a daemon serves."""
        gw = harness.Gateway(start=False)
        self.addCleanup(gw.close)
        r = run_daemon("-c", gw.conf_path)
        self.assertEqual(r.returncode, 0, r.stderr)
        # The daemon is the process running exactly this command line.
        want = [harness.WSGATED, "-c", gw.conf_path]

        def daemon_pid():
            for d in os.listdir("/proc"):
                if not d.isdigit():
                    continue
                try:
                    with open("/proc/%s/cmdline" % d, "rb") as f:
                        argv = f.read().decode(errors="replace").split("\0")[:-1]
                except OSError:
                    continue
                if argv == want:
                    return int(d)
            return None

        pid = harness.wait_until(daemon_pid, what="the daemonised wsgated")
        self.addCleanup(lambda: os.kill(pid, 9) if daemon_pid() == pid else None)
        resp = harness.http_raw(gw.port, b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
        self.assertEqual(resp.status, 200)
        os.kill(pid, 15)
        harness.wait_until(lambda: daemon_pid() is None, what="the daemon to stop")


if __name__ == "__main__":
    harness.main()
