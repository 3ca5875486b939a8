#!/usr/bin/env python3
"""JSON Web Tokens at the upgrade: the jwt group with a secret file, an RSA
PEM public key and a JWKS of an RSA and an EC key. Tokens are made here:
HMACs with Python's hmac module, RSA and ECDSA signatures with the openssl
command-line tool (ES256's DER signature turned into R || S in Python).
Each refusal must be a bare 401 that raises its jwt_refused_* counter,
and no token may reach the log."""

import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import urllib.request
import time

import harness
from harness import http_raw, upgrade_head

SECRET = b"wsgated-test-secret-0123456789abcdef"          # 36 bytes
NEW_SECRET = b"wsgated-test-secret-after-reload-0123456789"
REASONS = ("missing", "too_large", "malformed", "algorithm", "key", "signature",
           "expired", "not_yet_valid", "issuer", "audience")


def b64u(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64u_json(obj):
    return b64u(json.dumps(obj, separators=(",", ":")))


def hs_token(claims, secret=SECRET, alg="HS256", header=None):
    """An HMAC-signed token; header overrides the default JOSE header."""
    h = b64u_json(header if header is not None else {"alg": alg, "typ": "JWT"})
    p = b64u_json(claims) if not isinstance(claims, str) else b64u(claims)
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384,
              "HS512": hashlib.sha512}.get(alg, hashlib.sha256)
    sig = hmac.new(secret, ("%s.%s" % (h, p)).encode(), digest).digest()
    return "%s.%s.%s" % (h, p, b64u(sig))


def openssl(*args, data=None):
    r = subprocess.run(["openssl"] + list(args), input=data, capture_output=True,
                       timeout=60)
    if r.returncode != 0:
        raise AssertionError("openssl %s: %s" % (" ".join(args), r.stderr.decode()))
    return r.stdout


def der_ecdsa_to_raw(der):
    """An ECDSA-Sig-Value (SEQUENCE of INTEGER r, s) as 64 bytes R || S."""
    assert der[0] == 0x30, der
    i = 2 if der[1] < 0x80 else 2 + (der[1] & 0x7F)
    out = b""
    for _ in range(2):
        assert der[i] == 0x02
        n = der[i + 1]
        v = der[i + 2:i + 2 + n].lstrip(b"\x00")
        out += v.rjust(32, b"\x00")
        i += 2 + n
    return out


class Keys:
    """An RSA and an EC P-256 key pair made with openssl in a temp dir."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="wsgated-jwt-")
        self.rsa = os.path.join(self.dir, "rsa.pem")
        self.rsa_pub = os.path.join(self.dir, "rsa.pub.pem")
        self.ec = os.path.join(self.dir, "ec.pem")
        self.ec_pub = os.path.join(self.dir, "ec.pub.pem")
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                "-out", self.rsa)
        openssl("pkey", "-in", self.rsa, "-pubout", "-out", self.rsa_pub)
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-out", self.ec)
        openssl("pkey", "-in", self.ec, "-pubout", "-out", self.ec_pub)

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def sign(self, claims, alg, kid=None, key=None):
        header = {"alg": alg, "typ": "JWT"}
        if kid is not None:
            header["kid"] = kid
        inp = "%s.%s" % (b64u_json(header), b64u_json(claims))
        key = key or (self.rsa if alg == "RS256" else self.ec)
        sig = openssl("dgst", "-sha256", "-sign", key, data=inp.encode())
        if alg == "ES256":
            sig = der_ecdsa_to_raw(sig)
        return "%s.%s" % (inp, b64u(sig))

    def jwk_rsa(self, kid):
        mod = openssl("rsa", "-pubin", "-in", self.rsa_pub, "-noout", "-modulus")
        n = bytes.fromhex(mod.decode().strip().split("=", 1)[1])
        text = openssl("pkey", "-pubin", "-in", self.rsa_pub, "-noout", "-text").decode()
        e = int(text.split("Exponent:")[1].split()[0])
        return {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": b64u(n),
                "e": b64u(e.to_bytes((e.bit_length() + 7) // 8, "big"))}

    def jwk_ec(self, kid):
        # A P-256 SubjectPublicKeyInfo ends with the point 04 || X || Y.
        der = openssl("pkey", "-pubin", "-in", self.ec_pub, "-outform", "DER")
        point = der[-65:]
        assert point[0] == 4
        return {"kty": "EC", "crv": "P-256", "kid": kid, "x": b64u(point[1:33]),
                "y": b64u(point[33:])}


KEYS = None


def setUpModule():
    global KEYS
    if shutil.which("openssl") is None:
        raise AssertionError("the openssl command is needed (Debian package openssl)")
    KEYS = Keys()


def tearDownModule():
    if KEYS is not None:
        KEYS.close()


def now():
    return int(time.time())


def claims(**kw):
    c = {"sub": "user-1", "roles": ["admin", "ops"], "exp": now() + 600}
    c.update(kw)
    return c


def fields(*extra):
    return [{"name": "userId", "source": "jwt", "key": "sub"},
            {"name": "roles", "source": "jwt", "key": "roles"}] + list(extra)


def bearer(tok):
    return [("Authorization", "Bearer " + tok)]


class JWTTest(harness.GatewayTest):
    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="wsgated-jwt-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.secret_path = os.path.join(self.tmp, "jwt.secret")
        self.write_secret(SECRET + b"\n")

    def write_secret(self, data):
        with open(self.secret_path, "wb") as f:
            f.write(data)

    def jwt_gateway(self, jwt=None, ctx_fields=None, **kw):
        group = {"source": "header", "key": "Authorization",
                 "secret_file": self.secret_path, "algorithms": ["HS256"]}
        group.update(jwt or {})
        group = {k: v for k, v in group.items() if v is not None}
        gw = self.gateway({"jwt": group,
                           "context": {"fields": ctx_fields if ctx_fields is not None
                                       else fields()}}, **kw)
        be = self.backend(gw)
        return gw, be

    def assert_refused(self, gw, headers=(), path="/ws"):
        """The upgrade gets a bare 401: no detail in the body."""
        r = http_raw(gw.port, upgrade_head(gw.port, path=path, extra=list(headers)))
        self.assertIsNotNone(r, "no answer")
        self.assertEqual(r.status, 401, r)
        self.assertEqual(r.body, b"unauthorized\n")
        return r

    def open_context(self, gw, be, headers=(), path="/ws"):
        n = len(be.events("open"))
        self.connect(gw, path=path, extra_headers=list(headers))
        return be.wait_opens(n + 1)[n]["context"]

    def assert_counters(self, gw, ok, **refused):
        c = harness.read_counters(gw)
        got = {r: c["jwt_refused_" + r] for r in REASONS}
        want = {r: refused.get(r, 0) for r in REASONS}
        self.assertEqual((c["jwt_ok"], got), (ok, want))


class SecretFile(JWTTest):
    def test_token_gives_user_id_and_claims(self):
        gw, be = self.jwt_gateway()
        # A forged X-User-Id header changes nothing: only the token counts.
        ctx = self.open_context(gw, be, bearer(hs_token(claims())) +
                                [("X-User-Id", "forged")])
        self.assertEqual(list(ctx), ["socketId", "createdAt", "userId", "roles"])
        self.assertEqual(ctx["userId"], "user-1")
        self.assertEqual(ctx["roles"], ["admin", "ops"])
        ctx = self.open_context(gw, be, bearer(hs_token(claims(sub=42, roles={"a": [1]}))))
        self.assertEqual((ctx["userId"], ctx["roles"]), (42, {"a": [1]}))
        ctx = self.open_context(gw, be, bearer(hs_token({"sub": "no-roles"})))
        self.assertEqual((ctx["userId"], ctx["roles"]), ("no-roles", None))
        self.assertEqual(be.errors, [])
        self.assert_counters(gw, ok=3)

    def test_metrics_by_reason(self):
        """/metrics shows verified and refused tokens, and the refusals
        among the front door's, under reason "token"."""
        admin = harness.free_port()
        gw = self.gateway({"jwt": {"source": "header", "key": "Authorization",
                                   "secret_file": self.secret_path,
                                   "algorithms": ["HS256"]},
                           "context": {"fields": fields()},
                           "admin": {"port": admin}})
        be = self.backend(gw)
        self.open_context(gw, be, bearer(hs_token(claims())))
        self.assert_refused(gw, bearer(hs_token(claims(), secret=SECRET + b"x")))
        self.assert_refused(gw, bearer(hs_token(dict(claims(), exp=now() - 60))))
        self.assert_refused(gw, [])
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % admin,
                                    timeout=harness.TIMEOUT) as r:
            text = r.read().decode()
        for line in ('wsgated_jwt_verified_total 1',
                     'wsgated_jwt_refused_total{reason="signature"} 1',
                     'wsgated_jwt_refused_total{reason="expired"} 1',
                     'wsgated_jwt_refused_total{reason="missing"} 1',
                     'wsgated_jwt_refused_total{reason="audience"} 0',
                     'wsgated_connections_rejected_total{reason="token"} 3'):
            self.assertIn(line + "\n", text)

    def test_each_refusal_is_a_bare_401_and_counted(self):
        gw, be = self.jwt_gateway({"issuer": "https://auth.example.com",
                                   "audience": "wsgate", "leeway": 5,
                                   "max_token_bytes": 1024})
        good = claims(iss="https://auth.example.com", aud=["api", "wsgate"])
        ctx = self.open_context(gw, be, bearer(hs_token(good)))
        self.assertEqual(ctx["userId"], "user-1")
        header, payload, sig = hs_token(good).split(".")
        flipped = bytearray(base64.urlsafe_b64decode(sig + "="))
        flipped[0] ^= 1
        bad = {
            "missing": [[], [("Authorization", "")]],
            "too_large": [bearer(hs_token(dict(good, pad="x" * 1100)))],
            "malformed": [bearer("a.b"), bearer(hs_token(good) + "=="),
                          bearer(hs_token(good) + ".x"),
                          [("Authorization", hs_token(good))],
                          [("Authorization", "Basic dTpw")],
                          bearer(hs_token("[1,2]")),
                          bearer(hs_token(good, header={"alg": "HS256", "crit": ["x"]})),
                          bearer(header + "." + payload + "." + sig[:5] + "+" + sig[6:])],
            "algorithm": [bearer("%s.%s." % (b64u_json({"alg": "none"}), payload)),
                          bearer(hs_token(good, alg="HS384"))],
            "signature": [bearer("%s.%s.%s" % (header, payload, b64u(bytes(flipped)))),
                          bearer(hs_token(good, secret=SECRET + b"x"))],
            "expired": [bearer(hs_token(dict(good, exp=now() - 60)))],
            "not_yet_valid": [bearer(hs_token(dict(good, nbf=now() + 60)))],
            "issuer": [bearer(hs_token(dict(good, iss="https://evil.example.com"))),
                       bearer(hs_token({k: v for k, v in good.items() if k != "iss"}))],
            "audience": [bearer(hs_token(dict(good, aud="api"))),
                         bearer(hs_token(dict(good, aud=["api"])))],
        }
        tokens = []
        for reason, cases in bad.items():
            for headers in cases:
                self.assert_refused(gw, headers)
                if headers and headers[0][1]:
                    tokens.append(headers[0][1].split()[-1])
            # The first of each reason is logged, at info.
            self.assertRegex(gw.log_text(), r"token refused \(%s\)" % reason)
        self.assert_counters(gw, ok=1, **{r: len(c) for r, c in bad.items()})
        # Nothing refused reached the backend.
        self.assertEqual(len(be.events("open")), 1)
        # Within the leeway, exp and nbf still pass.
        self.open_context(gw, be, bearer(hs_token(dict(good, exp=now() - 2, nbf=now() + 2))))
        # Neither a token nor a claim value is ever logged.
        text = gw.log_text()
        for t in tokens + [hs_token(good)]:
            for part in t.split("."):
                if len(part) > 8:
                    self.assertNotIn(part, text)
        for secret in ("user-1", "evil.example.com", "auth.example.com"):
            self.assertNotIn(secret, text)

    def test_refusals_logged_once_a_minute_per_reason(self):
        gw, be = self.jwt_gateway()
        for _ in range(3):
            self.assert_refused(gw, bearer(hs_token(claims(exp=now() - 100))))
        self.assert_refused(gw, bearer(hs_token(claims(), secret=b"x" * 40)))
        # At info (no level prefix) once per reason; the others at debug.
        text = gw.log_text()
        info = re.findall(r"(?m)^front: 127\.0\.0\.1: token refused \((\w+)\)$", text)
        self.assertEqual(sorted(info), ["expired", "signature"], text[-3000:])
        self.assertEqual(len(re.findall(r"(?m)^debug: front: .*token refused \(expired\)$",
                                        text)), 2)
        self.assert_counters(gw, ok=0, expired=3, signature=1)

    def test_not_required_no_token_is_null_bad_token_still_401(self):
        gw, be = self.jwt_gateway({"required": False})
        ctx = self.open_context(gw, be)
        self.assertEqual((ctx["userId"], ctx["roles"]), (None, None))
        self.assert_refused(gw, bearer(hs_token(claims(), secret=b"y" * 40)))
        self.assert_refused(gw, bearer("not-a-token"))
        ctx = self.open_context(gw, be, bearer(hs_token(claims())))
        self.assertEqual(ctx["userId"], "user-1")
        self.assert_counters(gw, ok=1, signature=1, malformed=1)

    def test_not_required_but_field_required(self):
        gw, be = self.jwt_gateway({"required": False}, ctx_fields=[
            {"name": "userId", "source": "jwt", "key": "sub", "required": True}])
        self.assertEqual(harness.ws_status(gw.url), 401)
        self.assertEqual(harness.ws_status(gw.url, extra_headers=bearer(
            hs_token({"exp": now() + 60}))), 401)
        ctx = self.open_context(gw, be, bearer(hs_token(claims())))
        self.assertEqual(ctx["userId"], "user-1")

    def test_gate_without_jwt_fields(self):
        gw, be = self.jwt_gateway(ctx_fields=[
            {"name": "userId", "source": "header", "key": "X-User-Id"}])
        self.assert_refused(gw, [("X-User-Id", "u")])
        ctx = self.open_context(gw, be, bearer(hs_token(claims())) + [("X-User-Id", "u")])
        self.assertEqual(ctx["userId"], "u")

    def test_reload_reads_new_secret(self):
        gw, be = self.jwt_gateway()
        old = hs_token(claims())
        self.open_context(gw, be, bearer(old))
        self.write_secret(NEW_SECRET)
        since = gw.log_size()
        gw.signal(signal.SIGHUP)
        gw.wait_log(r"reloaded ", since=since)
        self.assert_refused(gw, bearer(old))
        ctx = self.open_context(gw, be, bearer(hs_token(claims(sub="after"), NEW_SECRET)))
        self.assertEqual(ctx["userId"], "after")
        self.assert_counters(gw, ok=2, signature=1)
        # A key file that no longer loads is refused; the new secret stays.
        os.unlink(self.secret_path)
        since = gw.log_size()
        gw.signal(signal.SIGHUP)
        gw.wait_log(r"reload refused: .*jwt\.secret_file: .*No such file", since=since)
        self.open_context(gw, be, bearer(hs_token(claims(), NEW_SECRET)))

    def test_bearer_scheme_any_case(self):
        gw, be = self.jwt_gateway()
        ctx = self.open_context(gw, be, [("Authorization", "bearer " + hs_token(claims()))])
        self.assertEqual(ctx["userId"], "user-1")
        self.assert_refused(gw, bearer(hs_token(claims())) * 2)

    def test_cookie_source(self):
        gw, be = self.jwt_gateway({"source": "cookie", "key": "X-Token"})
        tok = hs_token(claims(sub="from-cookie"))
        ctx = self.open_context(gw, be, [("Cookie", "a=1; X-Token=%s; b=2" % tok)])
        self.assertEqual(ctx["userId"], "from-cookie")
        self.assert_refused(gw, bearer(tok))
        self.assert_refused(gw, [("Cookie", "X-Token=%s" % hs_token(claims(), b"z" * 40))])
        self.assert_counters(gw, ok=1, missing=1, signature=1)

    def test_query_source(self):
        gw, be = self.jwt_gateway({"source": "query", "key": "access_token"})
        tok = hs_token(claims(sub="from-query"))
        ctx = self.open_context(gw, be, path="/ws?room=1&access_token=" + tok)
        self.assertEqual(ctx["userId"], "from-query")
        self.assert_refused(gw, path="/ws?access_token=%zz")
        self.assert_refused(gw, path="/ws?token=" + tok)
        self.assert_counters(gw, ok=1, missing=1, malformed=1)

    def test_bad_key_file_is_a_config_error(self):
        self.write_secret(b"short\n")
        gw = harness.Gateway({"jwt": {"secret_file": self.secret_path,
                                      "algorithms": ["HS256"]}}, start=False)
        self.addCleanup(gw.close)
        r = subprocess.run([harness.WSGATED, "-t", "-c", gw.conf_path],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"wsgate\.conf:\d+: jwt\.algorithms: HS256 cannot "
                         r"be verified with jwt\.secret_file \(a secret of 5 bytes")
        self.assertNotIn("short", r.stderr)


class Credentials(JWTTest):
    """A key file passed as a systemd credential: "credential:NAME" reads
    $CREDENTIALS_DIRECTORY/NAME, which systemd fills from LoadCredential=."""

    def test_secret_from_the_credentials_directory(self):
        creds = tempfile.mkdtemp(prefix="wsgated-creds-")
        self.addCleanup(shutil.rmtree, creds, True)
        with open(os.path.join(creds, "jwt-secret"), "wb") as f:
            f.write(SECRET)
        gw, be = self.jwt_gateway({"secret_file": "credential:jwt-secret"},
                                  env={"CREDENTIALS_DIRECTORY": creds})
        ctx = self.open_context(gw, be, bearer(hs_token(claims())))
        self.assertEqual(ctx["userId"], "user-1")
        self.assert_refused(gw, bearer(hs_token(claims(), secret=NEW_SECRET)))

    def check(self, secret_file, env_dir):
        gw = harness.Gateway({"jwt": {"secret_file": secret_file,
                                      "algorithms": ["HS256"]}}, start=False)
        self.addCleanup(gw.close)
        env = {k: v for k, v in os.environ.items() if k != "CREDENTIALS_DIRECTORY"}
        if env_dir is not None:
            env["CREDENTIALS_DIRECTORY"] = env_dir
        return subprocess.run([harness.WSGATED, "-t", "-c", gw.conf_path], env=env,
                              capture_output=True, text=True, timeout=30)

    def test_outside_a_unit_is_a_config_error(self):
        r = self.check("credential:jwt-secret", None)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"wsgate\.conf:\d+: jwt\.secret_file: "
                         r"credential:jwt-secret: no credentials: systemd passes them "
                         r"to a unit with LoadCredential=jwt-secret:FILE")

    def test_bad_names_refused(self):
        for name in ("credential:", "credential:../jwt.secret", "credential:.."):
            with self.subTest(name=name):
                r = self.check(name, self.tmp)
                self.assertEqual(r.returncode, 1)
                self.assertIn("does not name a credential", r.stderr)


class PublicKey(JWTTest):
    def test_rs256_pem(self):
        gw, be = self.jwt_gateway({"secret_file": None, "public_key_file": KEYS.rsa_pub,
                                   "algorithms": ["RS256"]})
        ctx = self.open_context(gw, be, bearer(KEYS.sign(claims(sub="rsa-user"), "RS256")))
        self.assertEqual((ctx["userId"], ctx["roles"]), ("rsa-user", ["admin", "ops"]))
        # The PEM as an HMAC secret: the algorithm confusion attack.
        with open(KEYS.rsa_pub, "rb") as f:
            pem = f.read()
        self.assert_refused(gw, bearer(hs_token(claims(sub="admin"), secret=pem)))
        self.assert_refused(gw, bearer(KEYS.sign(claims(), "ES256")))
        # Claims swapped under a valid signature.
        h, p, s = KEYS.sign(claims(), "RS256").split(".")
        self.assert_refused(gw, bearer("%s.%s.%s" % (h, b64u_json(claims(sub="admin")), s)))
        self.assert_counters(gw, ok=1, algorithm=2, signature=1)

    def test_es256_pem(self):
        gw, be = self.jwt_gateway({"secret_file": None, "public_key_file": KEYS.ec_pub,
                                   "algorithms": ["ES256"]})
        ctx = self.open_context(gw, be, bearer(KEYS.sign(claims(sub="ec-user"), "ES256")))
        self.assertEqual(ctx["userId"], "ec-user")
        h, p, s = KEYS.sign(claims(), "ES256").split(".")
        raw = bytearray(base64.urlsafe_b64decode(s + "=="))
        raw[40] ^= 0x10
        self.assert_refused(gw, bearer("%s.%s.%s" % (h, p, b64u(bytes(raw)))))
        self.assert_counters(gw, ok=1, signature=1)


class JWKS(JWTTest):
    def test_rsa_and_ec_keys_by_kid(self):
        path = os.path.join(self.tmp, "jwks.json")
        with open(path, "w") as f:
            json.dump({"keys": [KEYS.jwk_rsa("rsa-1"), KEYS.jwk_ec("ec-1"),
                                {"kty": "oct", "kid": "x", "k": "AAAA"}]}, f)
        gw, be = self.jwt_gateway({"secret_file": None, "jwks_file": path,
                                   "algorithms": ["RS256", "ES256"]})
        ctx = self.open_context(gw, be, bearer(KEYS.sign(claims(sub="r"), "RS256", "rsa-1")))
        self.assertEqual(ctx["userId"], "r")
        ctx = self.open_context(gw, be, bearer(KEYS.sign(claims(sub="e"), "ES256", "ec-1")))
        self.assertEqual(ctx["userId"], "e")
        # Unknown kid, no kid among several keys, a kid of the wrong type.
        self.assert_refused(gw, bearer(KEYS.sign(claims(), "RS256", "rsa-2")))
        self.assert_refused(gw, bearer(KEYS.sign(claims(), "ES256")))
        self.assert_refused(gw, bearer(KEYS.sign(claims(), "RS256", "ec-1")))
        self.assert_refused(gw, bearer(hs_token(claims(), alg="HS256")))
        self.assert_counters(gw, ok=2, key=3, algorithm=1)


if __name__ == "__main__":
    harness.main()
