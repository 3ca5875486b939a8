#!/usr/bin/env python3
"""wsgated under a real systemd, as users run it: systemd 252 boots as PID
1 of a container (systemd-nspawn) whose root is an overlay of this
machine's, with wsgated installed from BUILDDIR (configured with
--prefix=/usr --sysconfdir=/etc) and the example echo backend as a service
of its own, in the way wsgated(8) SYSTEMD describes. Then, through
systemctl and real clients (tests/systemd/client.py, inside):

  - the group wsgate and /run/wsgate come from sysusers.d and tmpfiles.d;
  - messages flow; the backend restarted five times and SIGKILLed twice,
    and each time a message sent at once comes back;
  - a valid reload takes effect, a broken one fails systemctl reload and
    the gateway serves on;
  - warnings reach journalctl -p warning;
  - systemctl restart under wsgated.socket refuses no connection, and the
    old clients get 1001;
  - the watchdog restarts a stopped daemon;
  - a JWT secret that only root may read reaches it with LoadCredential=;
  - systemd-analyze security scores the unit 1.5 or less.

Root only. TAP on stdout; "1..0 # SKIP" where the container cannot boot.
Usage: real-systemd.py BUILDDIR
"""

import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else None
PY = "/usr/bin/python3"
CONF = "/etc/wsgate/wsgate.conf"
BACKEND = "wsgated-echo-backend"


class Container:
    """A booted container, and commands run inside it."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="wsgated-sd-")
        self.root = os.path.join(self.dir, "root")
        self.nspawn = None
        self.pid1 = None
        self.console = os.path.join(self.dir, "console.log")

    def boot(self):
        os.makedirs(os.path.join(self.dir, "ovl"))
        os.makedirs(self.root)
        masks = set()
        for wants in glob.glob("/etc/systemd/system/*.wants"):
            for unit in os.listdir(wants):
                if unit.endswith((".service", ".timer")):
                    masks.add(unit)
        masks.update(("postgresql.service", "redis-server.service",
                      "redis.service", "e2scrub_reap.service"))
        script = """
set -e
X=%(dir)s
mount -t tmpfs -o mode=755,size=2g sd-upper $X/ovl
mkdir $X/ovl/upper $X/ovl/work
mount -t overlay -o lowerdir=/,upperdir=$X/ovl/upper,workdir=$X/ovl/work sd-root $X/root
for n in %(masks)s; do ln -sfn /dev/null $X/root/etc/systemd/system/$n; done
rm -rf $X/root/etc/wsgate $X/root/run/wsgate
make -C %(build)s install DESTDIR=$X/root >$X/install.log 2>&1
cp $X/root/usr/share/doc/wsgated/examples/%(backend)s.service $X/root/etc/systemd/system/
mkdir -p $X/root/root
cp %(here)s/client.py $X/root/root/client.py
mount -t tmpfs -o mode=755 sd-run /run
exec systemd-nspawn -q -D $X/root -M wsgated-sd --register=no --keep-unit \
    --private-network -b --console=passive
""" % {"dir": self.dir, "masks": " ".join(sorted(masks)), "build": BUILD,
       "backend": BACKEND, "here": HERE}
        with open(self.console, "wb") as out:
            self.nspawn = subprocess.Popen(
                ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while self.pid1 is None:
            if self.nspawn.poll() is not None or time.monotonic() > deadline:
                return False
            for task in glob.glob("/proc/%d/task/*/children" % self.nspawn.pid):
                try:
                    with open(task) as f:
                        for c in f.read().split():
                            with open("/proc/%s/comm" % c) as g:
                                if g.read().strip() == "systemd":
                                    self.pid1 = int(c)
                except OSError:
                    pass
            time.sleep(0.1)
        while time.monotonic() < deadline:
            r = self.run(["systemctl", "is-system-running"], timeout=10)
            if r.stdout.strip() in ("running", "degraded"):
                return True
            time.sleep(0.2)
        return False

    def run(self, cmd, timeout=60, input=None):
        """Run cmd inside, bounded inside (killing nsenter would not)."""
        full = ["nsenter", "-t", str(self.pid1), "-a", "env", "-i",
                "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8",
                "SYSTEMD_PAGER=", "timeout", "-k", "5", str(timeout)] + cmd
        return subprocess.run(full, input=input, capture_output=True, text=True,
                              timeout=timeout + 30)

    def spawn(self, cmd, timeout=60):
        full = ["nsenter", "-t", str(self.pid1), "-a", "env", "-i",
                "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8",
                "timeout", "-k", "5", str(timeout)] + cmd
        return subprocess.Popen(full, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)

    def client(self, *args, timeout=120):
        r = self.run([PY, "/root/client.py"] + [str(a) for a in args], timeout=timeout)
        try:
            return json.loads(r.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return {"error": r.stdout + r.stderr}

    def write(self, path, text, mode=0o644):
        full = "/proc/%d/root%s" % (self.pid1, path)
        with open(full, "w") as f:
            f.write(text)
        os.chmod(full, mode)

    def read(self, path):
        with open("/proc/%d/root%s" % (self.pid1, path)) as f:
            return f.read()

    def main_pid(self, unit="wsgated"):
        r = self.run(["systemctl", "show", "-p", "MainPID", "--value", unit])
        return int(r.stdout.strip() or 0)

    def halt(self):
        if self.nspawn is not None and self.nspawn.poll() is None:
            self.nspawn.send_signal(signal.SIGTERM)
            try:
                self.nspawn.wait(30)
            except subprocess.TimeoutExpired:
                self.nspawn.kill()
                self.nspawn.wait(10)
        # nspawn leaves its empty cgroups behind at the top.
        with open("/proc/self/mounts") as f:
            for line in f:
                fields = line.split()
                if fields[2] not in ("cgroup", "cgroup2"):
                    continue
                for name in ("payload", "supervisor"):
                    top = os.path.join(fields[1], name)
                    for d, _, _ in sorted(os.walk(top), key=lambda t: -len(t[0])):
                        try:
                            os.rmdir(d)
                        except OSError:
                            pass
        shutil.rmtree(self.dir, ignore_errors=True)


class TAP:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def check(self, ok, name, detail=""):
        self.n += 1
        print("%s %d - %s" % ("ok" if ok else "not ok", self.n, name), flush=True)
        if not ok:
            self.failed += 1
            for line in str(detail).splitlines()[-40:]:
                print("# " + line, flush=True)
        return ok


def wait_until(pred, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.2)
    return pred()


def edit_conf(c, old, new):
    text = c.read(CONF)
    if old not in text:
        raise AssertionError("%r not in %s" % (old, CONF))
    c.write(CONF, text.replace(old, new, 1))


def tests(c, t):
    r = c.run(["stat", "-c", "%a %U %G", "/run/wsgate"])
    t.check(r.stdout.strip() == "2770 root wsgate",
            "sysusers.d and tmpfiles.d made /run/wsgate 2770 root:wsgate", r.stdout + r.stderr)

    r = c.run(["systemctl", "enable", "--now", BACKEND + ".service", "wsgated.service"])
    up = wait_until(lambda: c.run(["systemctl", "is-active", BACKEND, "wsgated"]).stdout.split()
                    == ["active", "active"], 20)
    t.check(r.returncode == 0 and up, "the backend's unit and wsgated start",
            r.stdout + r.stderr + c.run(["journalctl", "-b", "--no-pager", "-n", "40"]).stdout)
    got = c.client("echo", 5)
    t.check(got.get("ok") is True, "messages flow both ways", got)
    r = c.run(["stat", "-c", "%a %G", "/run/wsgate/backend.sock"])
    t.check(r.stdout.strip() in ("770 wsgate", "660 wsgate"),
            "the backend's socket is the group's", r.stdout + r.stderr)

    got = c.client("restarts", 5, 2, timeout=200)
    took = got.get("took", [])
    t.check(len(took) == 7 and all(x["ok"] for x in took) and
            all(x["seconds"] < (2 if x["how"] == "restart" else 4) for x in took),
            "backend restarted 5 times and killed twice: each message comes back "
            "(within 2 s of a restart, 4 s of a kill with RestartSec=1)",
            (got, c.run(["journalctl", "-u", BACKEND, "--no-pager", "-n", "30"]).stdout))
    status = c.run(["systemctl", "show", "-p", "StatusText", "--value", "wsgated"]).stdout
    t.check("backend up on 2/2" in status or "backend up" in status,
            "the status line follows the backend", status)

    # A reload that takes effect, and one that is refused.
    edit_conf(c, "max_message_bytes = 1048576;", "max_message_bytes = 100;")
    r = c.run(["systemctl", "reload", "wsgated"])
    got = c.client("big", 200)
    t.check(r.returncode == 0 and got.get("result") == 1009,
            "a valid reload takes effect for new connections", (r.stderr, got))
    edit_conf(c, "max_message_bytes = 100;", "max_message_bytes = 1048576;")
    c.run(["systemctl", "reload", "wsgated"])
    good = c.read(CONF)
    c.write(CONF, good + "\nlimits = nonsense\n")
    r = c.run(["systemctl", "reload", "wsgated"])
    got = c.client("echo", 2)
    t.check(r.returncode != 0 and got.get("ok") is True and
            c.run(["systemctl", "is-active", "wsgated"]).stdout.strip() == "active",
            "a broken reload fails systemctl reload; the gateway serves on",
            (r.returncode, r.stderr, got))
    c.write(CONF, good)

    r = c.run(["journalctl", "-u", "wsgated", "-p", "warning", "--no-pager", "-o", "cat"])
    t.check("backend connection lost" in r.stdout,
            "warnings reach journalctl -p warning", r.stdout[-2000:])

    # Socket activation: a restart refuses nobody; old clients get 1001.
    # (The clients' loop is all from 127.0.0.1: past the new connections
    # an address may open a second, which is not what is tested here.)
    edit_conf(c, "connection_rate_per_ip = 100;", "connection_rate_per_ip = 0;")
    c.run(["systemctl", "stop", "wsgated"])
    r = c.run(["systemctl", "enable", "--now", "wsgated.socket"])
    c.run(["systemctl", "start", "wsgated"])
    held = c.spawn([PY, "/root/client.py", "hold", "20"], timeout=40)
    looping = c.spawn([PY, "/root/client.py", "loop", "4"], timeout=40)
    time.sleep(1)
    r = c.run(["systemctl", "restart", "wsgated"])
    hold_out = json.loads(held.communicate(timeout=60)[0].strip().splitlines()[-1])
    loop_out = json.loads(looping.communicate(timeout=60)[0].strip().splitlines()[-1])
    t.check(r.returncode == 0 and hold_out.get("code") == 1001 and
            loop_out.get("refused") == 0 and loop_out.get("other") == 0 and
            loop_out.get("ok", 0) > 0,
            "restart under wsgated.socket: no connection refused, old clients get 1001",
            (r.stderr, hold_out, loop_out))

    # The watchdog: a stopped daemon is killed and started again.
    os.makedirs("/proc/%d/root/etc/systemd/system/wsgated.service.d" % c.pid1, exist_ok=True)
    c.write("/etc/systemd/system/wsgated.service.d/watchdog.conf",
            "[Service]\nWatchdogSec=2s\n")
    c.run(["systemctl", "daemon-reload"])
    c.run(["systemctl", "restart", "wsgated"])
    before = c.main_pid()
    c.run(["kill", "-STOP", str(before)])
    again = wait_until(lambda: c.main_pid() not in (0, before) and
                       c.run(["systemctl", "is-active", "wsgated"]).stdout.strip() == "active",
                       20)
    t.check(before > 0 and again and c.client("echo", 1).get("ok") is True,
            "the watchdog restarts a stopped daemon", (before, c.main_pid()))

    # A JWT secret only root may read, passed as a credential.
    secret = "wsgated-systemd-test-secret-0123456789"
    c.write("/etc/wsgate/jwt.secret", secret, 0o600)
    c.write("/etc/systemd/system/wsgated.service.d/jwt.conf",
            "[Service]\nLoadCredential=jwt-secret:/etc/wsgate/jwt.secret\n")
    c.write(CONF, good + '\njwt = {\n  source = "query";\n  key = "token";\n'
            '  secret_file = "credential:jwt-secret";\n  algorithms = [ "HS256" ];\n};\n')
    c.run(["systemctl", "daemon-reload"])
    r = c.run(["systemctl", "restart", "wsgated"])
    tok = hs256({"sub": "user-1", "exp": int(time.time()) + 600}, secret.encode())
    with_token = c.client("token", "?token=" + tok)
    without = c.client("token", "")
    t.check(r.returncode == 0 and with_token.get("result") == "open" and
            without.get("result") == 401,
            "a JWT secret passed with LoadCredential= verifies tokens",
            (r.stderr, with_token, without,
             c.run(["journalctl", "-u", "wsgated", "--no-pager", "-n", "20"]).stdout))
    c.write(CONF, good)
    os.unlink("/proc/%d/root/etc/systemd/system/wsgated.service.d/jwt.conf" % c.pid1)
    c.run(["systemctl", "daemon-reload"])
    c.run(["systemctl", "restart", "wsgated"])

    r = c.run(["systemd-analyze", "security", "--no-pager", "wsgated.service"])
    m = re.search(r"Overall exposure level for wsgated.service: ([\d.]+)", r.stdout)
    score = float(m.group(1)) if m else None
    print("# systemd-analyze security wsgated.service: %s" % score, flush=True)
    t.check(score is not None and score <= 1.5,
            "systemd-analyze security scores the unit 1.5 or less", r.stdout[-1500:])


def hs256(claims, secret):
    import base64
    import hashlib
    import hmac

    def b64u(b):
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    head = b64u(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64u(json.dumps(claims).encode())
    sig = hmac.new(secret, ("%s.%s" % (head, body)).encode(), hashlib.sha256).digest()
    return "%s.%s.%s" % (head, body, b64u(sig))


def main():
    if BUILD is None or not os.path.exists(os.path.join(BUILD, "Makefile")):
        print("1..0 # SKIP usage: real-systemd.py BUILDDIR (configured)")
        return 0
    with open(os.path.join(BUILD, "Makefile")) as f:
        mk = f.read()
    if not (re.search(r"(?m)^prefix = /usr$", mk) and
            re.search(r"(?m)^sysconfdir = /etc$", mk)):
        print("1..0 # SKIP %s is not configured with --prefix=/usr --sysconfdir=/etc, "
              "as a package is" % BUILD)
        return 0
    if os.geteuid() != 0 or shutil.which("systemd-nspawn") is None:
        print("1..0 # SKIP needs root and systemd-nspawn (systemd-container)")
        return 0
    c = Container()
    t = TAP()
    start = time.monotonic()
    try:
        if not c.boot():
            with open(c.console, "rb") as f:
                tail = f.read()[-1500:].decode("utf-8", "replace")
            print("1..0 # SKIP a container cannot boot here: " +
                  " ".join(tail.split())[-300:])
            return 0
        try:
            tests(c, t)
        except Exception as e:
            t.check(False, "the tests ran to the end", repr(e))
    finally:
        c.halt()
    print("1..%d" % t.n)
    print("# %.0f s in all" % (time.monotonic() - start))
    return 1 if t.failed else 0


if __name__ == "__main__":
    sys.exit(main())
