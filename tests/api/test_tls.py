"""Native TLS (issue 9): a throwaway CA made at test time; the API over
HTTPS with hostname verification; TLS 1.0 and 1.1 refused; the
certificate and key re-read on SIGHUP while a client keeps its
connection; and the errors of a bad configuration.

Transport behaviour: SQLite only.
"""

import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import unittest

from harness import (BACKEND, EventStream, Server, TMTestCase, migrate, new_database, run_cmd, stop_and_check, tmpdir,
                     uniq)

SQLITE_ONLY = unittest.skipIf(BACKEND != "sqlite", "transport tests need no database: run on SQLite")


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE, timeout=60)


class Pki:
    """A CA and server certificates for localhost / 127.0.0.1, in a temp dir."""

    def __init__(self):
        self.dir = tmpdir("pki")
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=ToggleMaster test CA",
                "-keyout", "ca.key", "-out", "ca.pem", cwd=self.dir)
        self.ca = os.path.join(self.dir, "ca.pem")

    def issue(self, name):
        """A certificate signed by the CA: (cert path, key path)."""
        with open(os.path.join(self.dir, name + ".ext"), "w") as f:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", name + ".key",
                "-out", name + ".csr", cwd=self.dir)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-days", "2", "-extfile", name + ".ext", "-out", name + ".pem", cwd=self.dir)
        return os.path.join(self.dir, name + ".pem"), os.path.join(self.dir, name + ".key")


def client_context(ca, minimum=None, maximum=None):
    ctx = ssl.create_default_context(cafile=ca)
    if minimum is not None:
        ctx.minimum_version = minimum
    if maximum is not None:
        ctx.maximum_version = maximum
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")   # let the client even try old versions
    return ctx


def https(server, ctx, method, path, body=None, host="localhost"):
    conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=ctx, timeout=10)
    conn._tunnel_host = None
    # Verify against the name in the certificate, not the address dialled.
    conn.host = host
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    conn.sock = ctx.wrap_socket(sock, server_hostname=host)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    r = conn.getresponse()
    data = r.read()
    fingerprint = hashlib.sha256(conn.sock.getpeercert(binary_form=True)).hexdigest()
    conn.close()
    return r.status, json.loads(data) if data else None, fingerprint


@SQLITE_ONLY
class Tls(TMTestCase):

    @classmethod
    def setUpClass(cls):
        if shutil.which("openssl") is None:
            raise unittest.SkipTest("openssl command not installed")
        cls.pki = Pki()

    def start(self):
        cert, key = self.pki.issue("server")
        live_cert, live_key = os.path.join(self.pki.dir, "live.pem"), os.path.join(self.pki.dir, "live.key")
        shutil.copy(cert, live_cert)
        shutil.copy(key, live_key)
        db = new_database("tls")
        migrate(db)
        s = Server(db, env={"TLS_CERT_FILE": live_cert, "TLS_KEY_FILE": live_key}, wait=None)
        self.addCleanup(s.kill)
        s.start()
        ctx = client_context(self.pki.ca)
        deadline = time.monotonic() + 10
        while True:
            try:
                if https(s, ctx, "GET", "/ready")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("HTTPS /ready never answered 200\n" + s.output_tail())
            time.sleep(0.1)
        return s, ctx, live_cert, live_key

    def test_change_stream_over_tls(self):
        s, ctx, _, _ = self.start()
        stream = EventStream("127.0.0.1", s.port, tls=ctx)
        try:
            self.assertEqual(stream.status, 200)
            self.assertEqual(stream.next_event(), {"retry": "2000"})
            self.assertEqual(stream.next_change()["event"], "ready")
            names = [uniq("tls-ev") for _ in range(3)]
            for n in names:
                self.assertEqual(https(s, ctx, "POST", "/flags", {"name": n})[0], 201)
            self.assertEqual([stream.next_change()["data"]["name"] for _ in names], names)
            s.send_signal(signal.SIGTERM)
            self.assertTrue(stream.ended(10))
            self.assertEqual(s.wait_exit(15), 0)
        finally:
            stream.close()

    def test_api_over_https_with_hostname_verification(self):
        s, ctx, _, _ = self.start()
        self.assertEqual(https(s, ctx, "POST", "/flags", {"name": "over-tls", "is_enabled": True})[0], 201)
        status, body, _ = https(s, ctx, "GET", "/flags/over-tls")
        self.assertEqual((status, {k: body[k] for k in ("name", "is_enabled")}),
                         (200, {"name": "over-tls", "is_enabled": True}))
        with self.assertRaises(ssl.SSLCertVerificationError):
            https(s, ctx, "GET", "/health", host="other.example")
        listening = s.wait_log(lambda o: o.get("message") == "listening")
        self.assertEqual(listening.get("scheme"), "https", listening)
        stop_and_check(self, s)

    def test_old_protocol_versions_refused(self):
        s, _, _, _ = self.start()
        for version in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
            ctx = client_context(self.pki.ca, minimum=version, maximum=version)
            with self.assertRaises((ssl.SSLError, ConnectionResetError), msg="%s accepted" % version):
                https(s, ctx, "GET", "/health")
        ctx = client_context(self.pki.ca, minimum=ssl.TLSVersion.TLSv1_2, maximum=ssl.TLSVersion.TLSv1_2)
        self.assertEqual(https(s, ctx, "GET", "/health")[0], 200, "TLS 1.2 is accepted")
        # Plain HTTP on the TLS port is refused without harm.
        with socket.create_connection((s.host, s.port), timeout=5) as k:
            k.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            try:
                data = k.recv(100)
            except ConnectionResetError:
                data = b""
            self.assertFalse(data.startswith(b"HTTP/1.1 200"), data)
        self.assertEqual(https(s, client_context(self.pki.ca), "GET", "/health")[0], 200)
        stop_and_check(self, s)

    def test_sighup_reloads_while_a_client_keeps_its_connection(self):
        s, ctx, live_cert, live_key = self.start()
        first = https(s, ctx, "GET", "/health")[2]
        # A keep-alive client opened before the reload.
        held = http.client.HTTPSConnection("localhost", s.port, context=ctx, timeout=10)
        held.sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", s.port), timeout=10),
                                    server_hostname="localhost")
        held.request("GET", "/health")
        self.assertEqual(held.getresponse().read(), b'{"status":"ok"}')
        # New files, then SIGHUP.
        cert, key = self.pki.issue("renewed")
        shutil.copy(cert, live_cert)
        shutil.copy(key, live_key)
        s.send_signal(signal.SIGHUP)
        self.assertIsNotNone(s.wait_log(lambda o: "reloaded" in o.get("message", "")), s.output_tail())
        second = https(s, ctx, "GET", "/health")[2]
        self.assertNotEqual(first, second, "new connections get the new certificate")
        held.request("GET", "/health")
        self.assertEqual(held.getresponse().read(), b'{"status":"ok"}', "the old connection still works")
        held.close()
        # A broken file on SIGHUP: an error line, the current certificate stays.
        with open(live_key, "w") as f:
            f.write("not a key\n")
        s.send_signal(signal.SIGHUP)
        self.assertIsNotNone(s.wait_log(lambda o: "reload failed" in o.get("message", "")), s.output_tail())
        self.assertEqual(https(s, ctx, "GET", "/health")[2], second)
        stop_and_check(self, s)

    def test_bad_configuration_exits_2_or_1_with_one_line(self):
        db = new_database("tlsbad")
        r = run_cmd(["serve"], db, {"TLS_CERT_FILE": "/nonexistent.pem"}, timeout=10)
        self.assertEqual(r.returncode, 2, repr(r))
        self.assertIn("TLS_KEY_FILE", r.stderr)
        migrate(db)
        r = run_cmd(["serve"], db, {"TLS_CERT_FILE": "/nonexistent.pem", "TLS_KEY_FILE": "/nonexistent.key"},
                    timeout=10)
        self.assertEqual(r.returncode, 1, repr(r))
        self.assertIn("TLS_CERT_FILE", r.stdout, repr(r))


if __name__ == "__main__":
    unittest.main()
