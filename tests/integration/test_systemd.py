#!/usr/bin/env python3
"""systemd integration, with the test in systemd's place: READY=1 once an
upgrade works, STATUS=, RELOADING=1 and READY=1 around a reload (valid or
broken), STOPPING=1, watchdog pings that stop while a worker is stuck,
socket activation with LISTEN_FDS, and systemd-analyze verify on the
shipped units."""

import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

import harness

# Put the descriptor named by argv[1] at 3, name this process in
# LISTEN_PID and WATCHDOG_PID where the test asked for them ("self"), and
# become the daemon: its PID is the one systemd would have given it.
LAUNCHER = """\
import os, sys
fd = int(sys.argv[1])
if fd >= 0 and fd != 3:
    os.dup2(fd, 3)
    os.close(fd)
for k in ("LISTEN_PID", "WATCHDOG_PID"):
    if os.environ.get(k) == "self":
        os.environ[k] = str(os.getpid())
os.execv(sys.argv[2], sys.argv[2:])
"""


def build_features():
    """The features wsgated -V names, e.g. {"+systemd"}."""
    r = subprocess.run([harness.WSGATED, "-V"], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=10)
    m = re.search(r"\(([^)]*)\)", r.stdout)
    return set(m.group(1).split()) if m else set()


def need_systemd(test):
    if "+systemd" not in build_features():
        test.skipTest("wsgated was built without systemd support (-V says -systemd)")


class SystemdGateway(harness.Gateway):
    """A Gateway started through LAUNCHER, with listen_fd as its fd 3."""

    listen_fd = -1

    def command(self):
        return [sys.executable, "-c", LAUNCHER, str(self.listen_fd)] + super().command()

    @property
    def pass_fds(self):
        return (self.listen_fd,) if self.listen_fd >= 0 else ()


class NotifySocket:
    """The AF_UNIX datagram socket systemd listens on for sd_notify()."""

    def __init__(self, dir):
        self.path = os.path.join(dir, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.messages = []      # (monotonic time, {VARIABLE: value})

    def close(self):
        self.sock.close()

    def _read(self, until):
        self.sock.settimeout(max(0.001, until - time.monotonic()))
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return
        msg = dict(line.split("=", 1) for line in data.decode().split("\n") if "=" in line)
        self.messages.append((time.monotonic(), msg))

    def wait(self, key, value=None, since=0, timeout=harness.TIMEOUT, match=None):
        """The index and message of the first one from index since on that
        sets key (to value, or matching the regex match)."""
        deadline = time.monotonic() + timeout
        i = since
        while True:
            while i < len(self.messages):
                msg = self.messages[i][1]
                if key in msg and (value is None or msg[key] == value) and \
                        (match is None or re.search(match, msg[key])):
                    return i, msg
                i += 1
            if time.monotonic() >= deadline:
                raise AssertionError("no %s%s within %.1f s; got %r" % (
                    key, "=" + value if value else "", timeout,
                    [m for _, m in self.messages[since:]]))
            self._read(deadline)

    def collect(self, seconds):
        """Read whatever arrives for this long."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._read(deadline)

    def count(self, key, since=0):
        return sum(1 for _, m in self.messages[since:] if key in m)


class Notify(harness.GatewayTest):
    def setUp(self):
        super().setUp()
        need_systemd(self)

    def notifying_gateway(self, config=None, env=None, wait=True):
        gw = SystemdGateway(config, start=False, framing=self.framing)
        harness.adopt_gateway(self, gw)
        ns = NotifySocket(gw.dir)
        self.addCleanup(ns.close)
        gw.env = dict(env or {}, NOTIFY_SOCKET=ns.path)
        gw.start(wait=wait)
        return gw, ns

    def test_ready_when_upgrades_work(self):
        gw = SystemdGateway(start=False, framing=self.framing)
        harness.adopt_gateway(self, gw)
        self.backend(gw, echo=True)
        ns = NotifySocket(gw.dir)
        self.addCleanup(ns.close)
        gw.env = {"NOTIFY_SOCKET": ns.path}
        gw.start(wait=False)
        _, msg = ns.wait("READY", "1")
        # Not a probe first: the upgrade is the first thing tried.
        c = self.connect(gw)
        c.send("first")
        self.assertEqual(c.recv(), "first")
        self.assertRegex(msg.get("STATUS", ""),
                         r"^0 connections, backend up on \d/2 workers$")

    def test_status_counts_connections(self):
        gw, ns = self.notifying_gateway()
        self.backend(gw, echo=True)
        i, _ = ns.wait("READY", "1")
        c = self.connect(gw)
        c.send("x")
        self.assertEqual(c.recv(), "x")
        # Refreshed every 5 s.
        _, msg = ns.wait("STATUS", since=i + 1, timeout=max(harness.TIMEOUT, 15),
                         match=r"^1 connection, backend up on 2/2 workers$")
        self.assertNotIn("READY", msg)

    def test_reload(self):
        gw, ns = self.notifying_gateway()
        self.backend(gw)
        i, _ = ns.wait("READY", "1")
        gw.signal(signal.SIGHUP)
        i, msg = ns.wait("RELOADING", "1", since=i + 1)
        self.assertRegex(msg.get("MONOTONIC_USEC", ""), r"^\d+$")
        # CLOCK_MONOTONIC, as time.monotonic() reads it on Linux.
        self.assertLess(abs(int(msg["MONOTONIC_USEC"]) / 1e6 - time.monotonic()), 60)
        _, msg = ns.wait("READY", "1", since=i + 1)
        self.assertRegex(msg.get("STATUS", ""), r"^configuration reloaded; \d+ connections")
        gw.wait_log(r"reloaded ")

    def test_reload_refused(self):
        gw, ns = self.notifying_gateway()
        self.backend(gw)
        i, _ = ns.wait("READY", "1")
        with open(gw.conf_path, "w") as f:
            f.write("bogus = 1;\n")
        gw.signal(signal.SIGHUP)
        i, _ = ns.wait("RELOADING", "1", since=i + 1)
        i, msg = ns.wait("READY", "1", since=i + 1)
        self.assertRegex(msg.get("STATUS", ""),
                         r"^reload refused, configuration unchanged; .*"
                         r"last reload refused, see the log$")
        gw.wait_log(r"reload refused: .*unknown key bogus")
        # The refresh keeps saying so.
        _, msg = ns.wait("STATUS", since=i + 1, timeout=max(harness.TIMEOUT, 15),
                         match=r"connections")
        self.assertRegex(msg["STATUS"], r"; last reload refused, see the log$")

    def test_stopping(self):
        gw, ns = self.notifying_gateway()
        self.backend(gw, echo=True)
        i, _ = ns.wait("READY", "1")
        c = self.connect(gw)
        c.send("x")
        self.assertEqual(c.recv(), "x")
        gw.signal(signal.SIGTERM)
        _, msg = ns.wait("STOPPING", "1", since=i + 1)
        self.assertEqual(msg.get("STATUS"), "stopping, closing 1 connection")
        self.assertEqual(gw.wait(), 0)

    def test_no_notify_socket_no_messages(self):
        """Without NOTIFY_SOCKET nothing is sent (and nothing breaks)."""
        gw = self.gateway(env={"NOTIFY_SOCKET": None})
        self.backend(gw, echo=True)
        c = self.connect(gw)
        c.send("x")
        self.assertEqual(c.recv(), "x")
        self.assertNotIn("notify:", gw.log_text())


def tids(pid):
    return sorted(int(t) for t in os.listdir("/proc/%d/task" % pid))


class Ptrace:
    """Stop one thread (not its process) with PTRACE_SEIZE and PTRACE_INTERRUPT."""

    SEIZE, INTERRUPT, DETACH = 0x4206, 0x4207, 17

    def __init__(self):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.libc.ptrace.restype = ctypes.c_long
        self.libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_void_p,
                                     ctypes.c_void_p]

    def call(self, req, tid):
        if self.libc.ptrace(req, tid, None, None) == -1:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))

    def stop(self, tid):
        self.call(self.SEIZE, tid)
        self.call(self.INTERRUPT, tid)
        os.waitpid(tid, 0x40000000)  # __WALL: tid is a thread

    def resume(self, tid):
        self.call(self.DETACH, tid)


class Watchdog(harness.GatewayTest):
    def setUp(self):
        super().setUp()
        need_systemd(self)

    def watchdog_gateway(self, usec, pid="self"):
        gw = SystemdGateway(start=False, framing=self.framing)
        harness.adopt_gateway(self, gw)
        ns = NotifySocket(gw.dir)
        self.addCleanup(ns.close)
        gw.env = {"NOTIFY_SOCKET": ns.path, "WATCHDOG_USEC": str(usec),
                  "WATCHDOG_PID": pid}
        self.backend(gw)
        gw.start()
        return gw, ns

    def test_pings_at_half_the_interval(self):
        gw, ns = self.watchdog_gateway(400000)
        i, _ = ns.wait("READY", "1")
        gw.wait_log(r"watchdog: 0\.400 s; pinging systemd every 0\.200 s")
        ns.wait("WATCHDOG", "1", since=i)
        start = len(ns.messages)
        ns.collect(2.0)
        # Every 0.2 s: about 10 in 2 s. Loose bounds: a slow machine may
        # miss some, and a loop that pings without a timer would send
        # hundreds.
        n = ns.count("WATCHDOG", since=start)
        self.assertGreaterEqual(n, 4, ns.messages[start:])
        self.assertLessEqual(n, 16, ns.messages[start:])

    def test_no_pings_for_another_pid(self):
        gw, ns = self.watchdog_gateway(200000, pid="1")
        ns.wait("READY", "1")
        ns.collect(1.0)
        self.assertEqual(ns.count("WATCHDOG"), 0)
        self.assertNotIn("watchdog:", gw.log_text())

    def test_stuck_worker_stops_the_pings(self):
        gw, ns = self.watchdog_gateway(400000)
        ns.wait("READY", "1")
        ns.wait("WATCHDOG", "1")
        workers = [t for t in tids(gw.proc.pid) if t != gw.proc.pid]
        self.assertEqual(len(workers), 2, "threads: %r" % (workers,))
        pt = Ptrace()
        try:
            pt.stop(workers[1])
        except OSError as e:
            self.skipTest("cannot stop a thread with ptrace: %s" % e)
        try:
            since = gw.log_size()
            gw.wait_log(r"watchdog: worker \d has not run for 0\.2 s; not telling "
                        r"systemd that all is well", since=since)
            # A ping sent before the stall was seen may still be unread.
            ns.collect(0.1)
            start = len(ns.messages)
            ns.collect(1.5)
            self.assertEqual(ns.count("WATCHDOG", since=start), 0, ns.messages[start:])
        finally:
            pt.resume(workers[1])
        # Running again: the pings come back.
        ns.wait("WATCHDOG", "1", since=len(ns.messages))


class Activation(harness.GatewayTest):
    """LISTEN_FDS=1 and LISTEN_PID: the socket comes from "systemd"."""

    def setUp(self):
        super().setUp()
        need_systemd(self)

    def test_serves_on_the_passed_socket(self):
        gw = SystemdGateway(start=False, framing=self.framing)
        harness.adopt_gateway(self, gw)
        config_port = gw.port
        lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lst.bind(("127.0.0.1", 0))
        lst.listen(16)
        self.assertNotEqual(lst.getsockname()[1], config_port)
        gw.port = lst.getsockname()[1]
        gw.listen_fd = lst.fileno()
        gw.env = {"LISTEN_FDS": "1", "LISTEN_PID": "self"}
        self.backend(gw, echo=True)
        try:
            gw.start()
        finally:
            lst.close()
        c = self.connect(gw)
        c.send("via systemd")
        self.assertEqual(c.recv(), "via systemd")
        gw.wait_log(r"listening on \[127\.0\.0\.1\]:%d, file descriptor 3 from systemd"
                    % gw.port)
        gw.wait_log(r"listen\.address and listen\.port are not used: 1 socket from systemd")
        self.assertNotIn("listening on [127.0.0.1]:%d" % config_port, gw.log_text())
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", config_port), timeout=2).close()

    def test_other_pid_binds_itself(self):
        """LISTEN_PID names another process: the sockets are not ours."""
        gw = self.gateway(env={"LISTEN_FDS": "1", "LISTEN_PID": "1"})
        self.backend(gw, echo=True)
        c = self.connect(gw)
        c.send("x")
        self.assertEqual(c.recv(), "x")
        self.assertNotIn("from systemd", gw.log_text())

    def refused(self, sock, why):
        gw = SystemdGateway(start=False, framing=self.framing)
        self.addCleanup(gw.close)
        gw.listen_fd = sock.fileno()
        env = dict(os.environ, LISTEN_FDS="1", LISTEN_PID="self")
        r = subprocess.run(gw.command(), env=env, pass_fds=gw.pass_fds,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=harness.TIMEOUT)
        sock.close()
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("file descriptor 3 from systemd is not a " + why, r.stderr)

    def test_refuses_a_socket_that_does_not_listen(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        self.refused(s, "listening stream socket")

    def test_refuses_a_datagram_socket(self):
        self.refused(socket.socket(socket.AF_INET, socket.SOCK_DGRAM),
                     "listening stream socket")

    def test_refuses_a_unix_socket(self):
        d = tempfile.mkdtemp(dir="/tmp")
        self.addCleanup(shutil.rmtree, d, True)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(os.path.join(d, "s"))
        s.listen(1)
        self.refused(s, "TCP socket")


def substituted_units(dest):
    """The shipped units in dest, with the build tree's daemon in them."""
    sbindir = os.path.dirname(os.path.abspath(harness.WSGATED))
    out = []
    for name, src in (("wsgated.service", "wsgated.service.in"),
                      ("wsgated.socket", "wsgated.socket")):
        with open(os.path.join(harness.SRCDIR, "systemd", src)) as f:
            text = f.read()
        text = text.replace("@sbindir@", sbindir).replace("@sysconfdir@", "/etc")
        path = os.path.join(dest, name)
        with open(path, "w") as f:
            f.write(text)
        out.append(path)
    return out


class Units(unittest.TestCase):
    def test_systemd_analyze_verify(self):
        analyze = shutil.which("systemd-analyze")
        if analyze is None:
            self.skipTest("no systemd-analyze (Debian package systemd)")
        d = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, d, True)
        units = substituted_units(d)
        r = subprocess.run([analyze, "verify", "--man=no"] + units,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=60, cwd=d)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout + r.stderr, "")

    def test_service_exposure(self):
        """The sandbox keeps systemd-analyze security's exposure low."""
        analyze = shutil.which("systemd-analyze")
        if analyze is None:
            self.skipTest("no systemd-analyze (Debian package systemd)")
        d = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, d, True)
        service = substituted_units(d)[0]
        r = subprocess.run([analyze, "security", "--offline=true", "--no-pager", service],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=60, cwd=d)
        m = re.search(r"Overall exposure level for wsgated\.service: (\d+\.\d+)", r.stdout)
        self.assertIsNotNone(m, r.stdout + r.stderr)
        # 7.2 as a plain DynamicUser service; 1.2 with the sandbox.
        self.assertLessEqual(float(m.group(1)), 1.5, r.stdout)

    def test_units_agree(self):
        """The socket unit listens where the shipped config does."""
        with open(os.path.join(harness.SRCDIR, "systemd", "wsgated.socket")) as f:
            sock = f.read()
        with open(os.path.join(harness.SRCDIR, "conf", "wsgate.conf")) as f:
            conf = f.read()
        address = re.search(r'^\s*address = "([^"]*)";', conf, re.M).group(1)
        port = re.search(r"^\s*port = (\d+);", conf, re.M).group(1)
        self.assertRegex(sock, r"(?m)^ListenStream=%s:%s$" % (re.escape(address), port))


if __name__ == "__main__":
    harness.main()
