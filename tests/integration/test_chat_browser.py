#!/usr/bin/env python3
"""The chat demo (examples/chat) in headless Chromium, through the real daemon.

wsgated runs with examples/chat/wsgate.conf (its ports and socket moved to
free ones), examples/chat/chat_backend.py behind it, and the page served by
python3 -m http.server. Chromium is driven over the Chrome DevTools
Protocol, spoken here with the websockets module: no npm package, and no
browser build of its own to download, so a fresh Debian machine needs only
the chromium package. Each user is a separate browser context, so each
has its own cookie jar.

The screenshot of the receiving page is kept as BUILDDIR/tests/chat-screenshot.png.
"""

import asyncio
import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.request

import harness
import websockets

CHAT = os.path.join(harness.SRCDIR, "examples", "chat")
BUILDDIR = os.path.dirname(os.path.dirname(os.path.abspath(harness.WSGATED)))
SCREENSHOT = os.path.join(BUILDDIR, "tests", "chat-screenshot.png")
CHROMIUM = (os.environ.get("CHROMIUM") or shutil.which("chromium")
            or shutil.which("chromium-browser"))
# Chromium's first start (profile, fonts, GPU probing) is slow on a
# loaded machine; still bounded.
BROWSER_TIMEOUT = max(30.0, harness.TIMEOUT)


def chat_config(gw_port, socket_path, http_port):
    """examples/chat/wsgate.conf with its ports and socket replaced."""
    with open(os.path.join(CHAT, "wsgate.conf")) as f:
        text = f.read()
    for pattern, repl in ((r"\bport = 8080;", "port = %d;" % gw_port),
                          (r'"/run/wsgate/chat\.sock"', '"%s"' % socket_path),
                          (r"(http://(127\.0\.0\.1|localhost)):8000\b",
                           r"\1:%d" % http_port)):
        text, n = re.subn(pattern, repl, text)
        if n == 0:
            raise AssertionError("examples/chat/wsgate.conf: no match for %s" % pattern)
    return text


class CDP:
    """A Chrome DevTools Protocol connection (the browser's endpoint).

    Commands for a page carry its session id (Target.attachToTarget with
    flatten). Runs on the harness's client loop; every call is bounded.
    """

    def __init__(self, url):
        self.next_id = 0
        self.pending = {}
        self.ws = None
        harness.run(self._connect(url), harness.TIMEOUT + 1)

    async def _connect(self, url):
        self.ws = await websockets.connect(url, max_size=None, ping_interval=None,
                                           open_timeout=harness.TIMEOUT)
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self):
        try:
            async for raw in self.ws:
                msg = json.loads(raw)
                fut = self.pending.pop(msg.get("id"), None)
                if fut is not None and not fut.done():
                    fut.set_result(msg)
        except websockets.exceptions.ConnectionClosed:
            pass
        for fut in self.pending.values():
            if not fut.done():
                fut.set_exception(AssertionError("DevTools connection closed"))

    async def _call(self, method, params, session):
        self.next_id += 1
        fut = asyncio.get_running_loop().create_future()
        self.pending[self.next_id] = fut
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session is not None:
            msg["sessionId"] = session
        await self.ws.send(json.dumps(msg))
        return await fut

    def call(self, method, params=None, session=None, timeout=harness.TIMEOUT):
        resp = harness.run(self._call(method, params, session), timeout)
        if "error" in resp:
            raise AssertionError("%s: %s" % (method, resp["error"]))
        return resp["result"]

    def close(self):
        harness._quiet(lambda: harness.run(self.ws.close(), 5))


class Page:
    """One tab in a browser context of its own (its own cookie jar)."""

    def __init__(self, cdp, width=800, height=600):
        self.cdp = cdp
        self.context = cdp.call("Target.createBrowserContext")["browserContextId"]
        target = cdp.call("Target.createTarget", {"url": "about:blank",
                                                  "browserContextId": self.context})
        self.session = cdp.call("Target.attachToTarget", {"targetId": target["targetId"],
                                                          "flatten": True})["sessionId"]
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1,
                   "mobile": False})

    def call(self, method, params=None, timeout=harness.TIMEOUT):
        return self.cdp.call(method, params, self.session, timeout)

    def set_cookie(self, name, value, url):
        ok = self.call("Network.setCookie", {"name": name, "value": value, "url": url})
        if not ok.get("success", True):
            raise AssertionError("cookie %s=%s refused" % (name, value))

    def navigate(self, url):
        """Load url and wait (bounded) until its scripts have run."""
        r = self.call("Page.navigate", {"url": url})
        if r.get("errorText"):
            raise AssertionError("navigating to %s: %s" % (url, r["errorText"]))
        self.wait("location.href === %s && document.readyState === 'complete'"
                  % json.dumps(url), what="%s to load" % url)

    def eval(self, expr):
        """The value of a JavaScript expression in the page."""
        r = self.call("Runtime.evaluate", {"expression": expr, "returnByValue": True})
        if "exceptionDetails" in r:
            raise AssertionError("%s: %s" % (expr, r["exceptionDetails"]))
        return r["result"].get("value")

    def wait(self, expr, what, timeout=harness.TIMEOUT):
        """Poll a JavaScript expression until it is truthy; return it."""
        return harness.wait_until(lambda: self.eval(expr), timeout, interval=0.05,
                                  what=what)

    def status(self):
        return self.eval("document.getElementById('status').dataset.state + ': ' + "
                         "document.getElementById('status').textContent")

    def messages(self):
        """The chat lines shown: [(user or None, text, class)]."""
        return [tuple(x) for x in self.eval(
            "Array.from(document.querySelectorAll('#messages li')).map(li => ["
            "li.querySelector('.user') ? li.querySelector('.user').textContent : null,"
            "li.querySelector('.text').textContent, li.className])")]

    def type_and_enter(self, selector, text):
        """Type into an input as a user would and press Enter."""
        self.eval("document.querySelector(%s).focus()" % json.dumps(selector))
        self.call("Input.insertText", {"text": text})
        for kind in ("keyDown", "keyUp"):
            self.call("Input.dispatchKeyEvent",
                      {"type": kind, "key": "Enter", "code": "Enter",
                       "windowsVirtualKeyCode": 13, "nativeVirtualKeyCode": 13,
                       "text": "\r" if kind == "keyDown" else ""})

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))


class ChatBrowserTest(harness.GatewayTest):
    def setUp(self):
        super().setUp()
        if CHROMIUM is None:
            self.skipTest("chromium is not installed (Debian package chromium)")
        self.http_port = harness.free_port()
        # The gateway's port is chosen by Gateway; the config is written
        # from the shipped file once both ports are known.
        self.gw = harness.Gateway(None, start=False, backend_path="run/chat.sock")
        self.gw.write_config(chat_config(self.gw.port, self.gw.backend_path, self.http_port))
        harness.adopt_gateway(self, self.gw)
        self.gw.start()
        self.backend_out = os.path.join(self.gw.dir, "chat_backend.out")
        self.spawn("chat_backend.py", self.backend_out,
                   [sys.executable, os.path.join(CHAT, "chat_backend.py"),
                    "--socket", self.gw.backend_path])
        harness.wait_until(lambda: "listening on" in self.read(self.backend_out),
                           what="chat_backend.py to listen")
        self.spawn("http.server", os.path.join(self.gw.dir, "http.out"),
                   [sys.executable, "-m", "http.server", "--bind", "127.0.0.1",
                    "--directory", CHAT, str(self.http_port)])
        harness.wait_until(self.page_served, what="the page to be served")
        self.page_url = "http://127.0.0.1:%d/index.html?ws=%s" % (self.http_port,
                                                                   self.gw.url)
        self.start_browser()

    def read(self, path):
        try:
            with open(path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def spawn(self, name, out_path, argv, **kw):
        with open(out_path, "ab") as out:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, **kw)
        self.addCleanup(self.stop_proc, name, proc)
        return proc

    def stop_proc(self, name, proc):
        """SIGTERM by PID, SIGKILL if it lingers."""
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(harness.TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(harness.TIMEOUT)

    def page_served(self):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/chat.js" % self.http_port,
                                        timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def start_browser(self):
        self.profile = os.path.join(self.gw.dir, "chromium")
        os.makedirs(self.profile)
        argv = [CHROMIUM, "--headless", "--remote-debugging-port=0",
                "--remote-debugging-address=127.0.0.1",
                "--user-data-dir=" + self.profile, "--no-first-run",
                "--no-default-browser-check", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-extensions",
                "--disable-default-apps", "--disable-gpu", "--disable-dev-shm-usage",
                "--mute-audio", "--hide-scrollbars", "--password-store=basic",
                "about:blank"]
        if os.geteuid() == 0:
            # Chromium will not start as root with its sandbox on, and the
            # suite runs as root on CI; it only loads our own loopback page.
            argv.append("--no-sandbox")
        env = dict(os.environ, HOME=self.profile)
        self.browser_log = os.path.join(self.gw.dir, "chromium.out")
        # A session of its own: Chromium's helper processes stay in its
        # process group, and the cleanup ends that group, which holds only
        # what this test started.
        self.browser = self.spawn("chromium", self.browser_log, argv, env=env,
                                  start_new_session=True)
        self.addCleanup(self.stop_browser_group)
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        lines = harness.wait_until(
            lambda: self.browser_ready(port_file), BROWSER_TIMEOUT, interval=0.05,
            what="Chromium's DevToolsActivePort")
        self.cdp = CDP("ws://127.0.0.1:%s%s" % (lines[0], lines[1]))
        self.addCleanup(self.close_browser)

    def browser_ready(self, port_file):
        if self.browser.poll() is not None:
            raise AssertionError("chromium exited with %d:\n%s" % (
                self.browser.returncode, self.read(self.browser_log)[-3000:]))
        try:
            with open(port_file) as f:
                lines = f.read().split("\n")
        except FileNotFoundError:
            return None
        return lines if len(lines) >= 2 and lines[1].startswith("/devtools/") else None

    def close_browser(self):
        """Browser.close, then wait (bounded) for the process to exit."""
        try:
            self.cdp.call("Browser.close", timeout=5)
        except AssertionError:
            pass                # the connection may close before the answer
        self.cdp.close()
        try:
            self.browser.wait(harness.TIMEOUT)
        except subprocess.TimeoutExpired:
            pass                # stop_proc and stop_browser_group follow

    def stop_browser_group(self):
        """SIGKILL what is left of the browser's own process group."""
        try:
            os.killpg(self.browser.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def failure_diagnostics(self):
        parts = [super().failure_diagnostics()]
        for label, path in (("chat_backend.py", getattr(self, "backend_out", None)),
                            ("chromium", getattr(self, "browser_log", None))):
            if path:
                parts.append("--- %s output ---\n%s" % (label, self.read(path)[-2000:]))
        return "\n".join(parts)

    def open_page(self, user=None):
        """A page in a fresh browser context, with the user cookie if given."""
        page = Page(self.cdp)
        if user is not None:
            page.set_cookie("user", user, "http://127.0.0.1:%d/" % self.http_port)
        page.navigate(self.page_url)
        return page

    def wait_connected(self, page, user):
        try:
            page.wait("document.getElementById('status').dataset.state === 'connected'",
                      what="the page of %s to connect" % user, timeout=BROWSER_TIMEOUT)
        except AssertionError as e:
            raise AssertionError("%s; status: %s" % (e, page.status()))
        self.assertEqual(page.status(), "connected: connected as %s" % user)

    def test_message_reaches_the_other_user_with_the_senders_id(self):
        alice = self.open_page("alice")
        bob = self.open_page("bob")
        self.wait_connected(alice, "alice")
        self.wait_connected(bob, "bob")
        # alice learns that bob came after her; then she writes.
        alice.wait("Array.from(document.querySelectorAll('#messages li.system'))"
                   ".some(li => li.textContent === 'bob joined')", what="bob joined")
        alice.type_and_enter("#text", "hello bob, it's <b>alice</b>")
        want = ("alice", "hello bob, it's <b>alice</b>")

        def shown(page):
            return [m[:2] for m in page.messages() if m[0] is not None]
        try:
            harness.wait_until(lambda: want in shown(bob), BROWSER_TIMEOUT,
                               what="alice's message on bob's page")
        except AssertionError as e:
            raise AssertionError("%s; bob shows %r" % (e, bob.messages()))
        # Exactly one chat line, attributed to alice (not to the reader);
        # the text is shown as text, not markup.
        self.assertEqual(shown(bob), [want])
        self.assertEqual(bob.eval("document.querySelectorAll('#messages b').length"), 0)
        harness.wait_until(lambda: shown(alice) == [want], what="alice's own line")
        self.assertIn("mine", [m[2] for m in alice.messages() if m[0] == "alice"][0])
        self.assertEqual(alice.eval("document.getElementById('text').value"), "")
        # The backend named the sender from the context, not from the page.
        self.assertIn("message from alice: ", self.read(self.backend_out))
        bob.screenshot(SCREENSHOT)
        with open(SCREENSHOT, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")

        # bob answers; alice sees it under bob's name.
        bob.type_and_enter("#text", "hi alice")
        harness.wait_until(lambda: ("bob", "hi alice") in shown(alice), BROWSER_TIMEOUT,
                           what="bob's answer on alice's page")

    def test_login_form_sets_the_cookie(self):
        # Without the cookie the page asks for a name; the cookie it sets
        # reaches wsgated on the other port.
        carol = self.open_page()
        carol.wait("!document.getElementById('login').hidden", what="the login form")
        self.assertEqual(carol.eval("document.getElementById('chat').hidden"), True)
        carol.type_and_enter("#name", "carol")
        self.wait_connected(carol, "carol")
        self.assertRegex(self.read(self.backend_out), r"open \S+ user=carol\n")

    def test_config_refuses_other_origins_and_no_cookie(self):
        # What the page relies on: the cookie is required, and only the
        # page's origin may use it.
        origin = "http://127.0.0.1:%d" % self.http_port
        self.assertEqual(harness.ws_status(self.gw.url, extra_headers=[("Origin", origin)]),
                         401)
        self.assertEqual(harness.ws_status(
            self.gw.url, extra_headers=[("Origin", "http://evil.example"),
                                        ("Cookie", "user=mallory")]), 403)
        c = self.connect(self.gw, extra_headers=[("Origin", origin), ("Cookie", "user=dave")])
        welcome = json.loads(c.recv())
        self.assertEqual(welcome["type"], "welcome")
        self.assertEqual(welcome["user"], "dave")
        c.send("plain client")
        self.assertEqual(json.loads(c.recv()),
                         {"type": "message", "from": "dave", "text": "plain client"})


if __name__ == "__main__":
    harness.main()
