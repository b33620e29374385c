"""The process: commands, configuration errors, logs, signals and shutdown."""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import unittest

from harness import (Server, TMTestCase, migrate, new_database, run_cmd, stop_and_check, tmpdir,
                     uniq, SOCKET_TIMEOUT)

ALL_VARS = ("PORT", "BIND", "DATABASE_URL", "LOG_LEVEL", "LOG_FORMAT", "SHUTDOWN_TIMEOUT",
            "THREADS", "DB_POOL_SIZE", "DB_CONNECT_TIMEOUT", "DB_STATEMENT_TIMEOUT",
            "RESYNC_INTERVAL", "DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD")


def sqlite_url(tag="cfg"):
    return "sqlite://" + os.path.join(tmpdir(tag), "tm.db")


class Commands(TMTestCase):

    def test_help_lists_every_variable_with_default(self):
        r = run_cmd(["--help"], None)
        self.assertEqual(r.returncode, 0, repr(r))
        for var in ALL_VARS:
            self.assertIn(var, r.stdout, "--help does not mention %s: %r" % (var, r))
        for default in ("5000", "0.0.0.0", "sqlite://./data/togglemaster.db", "5432"):
            self.assertIn(default, r.stdout, "--help does not show default %s: %r" % (default, r))

    def test_version(self):
        """The release number and the git revision the binary was built from
        (the same in the .deb and the image: tests/release/run.sh)."""
        r = run_cmd(["version"], None)
        self.assertEqual(r.returncode, 0, repr(r))
        self.assertRegex(r.stdout, r"^togglemaster \d+\.\d+\.\d+ \(git ([0-9a-f]{7,40}|unknown)\)\n$", repr(r))

    def test_unknown_command_exit_2(self):
        r = run_cmd(["frobnicate"], sqlite_url())
        self.assertEqual(r.returncode, 2, repr(r))
        self.assertTrue(r.stderr.strip(), "unknown command should say so on stderr: %r" % r)

    def test_migrate_idempotent_and_init_db_alias(self):
        db = new_database("mig")
        for cmd in ("migrate", "migrate", "init-db"):
            r = run_cmd([cmd], db)
            self.assertEqual(r.returncode, 0, "%s: %r" % (cmd, r))
        with Server(db) as s:
            self.assertStatus(s.post("/flags", {"name": "after-migrate"}), 201)
            stop_and_check(self, s)
        r = run_cmd(["migrate"], db)
        self.assertEqual(r.returncode, 0, "migrate on a database in use before: %r" % r)

    def test_init_db_on_fresh_database(self):
        db = new_database("initdb")
        r = run_cmd(["init-db"], db)
        self.assertEqual(r.returncode, 0, repr(r))
        with Server(db) as s:
            self.assertStatus(s.post("/flags", {"name": "x"}), 201)

    def test_serve_does_not_migrate(self):
        """Build, release, run: serve only runs. On a database nobody has
        migrated it serves /health, keeps /ready at 503 and creates nothing;
        the one-off `migrate` then applies every migration, and the running
        server becomes ready without a restart."""
        db = new_database("nomigrate")
        with Server(db, wait="health") as s:
            time.sleep(1.5)     # the first load is retried every second
            self.assertError(s.get("/ready"), 503, "serve on an unmigrated database: ")
            r = run_cmd(["migrate"], db)
            self.assertEqual(r.returncode, 0, repr(r))
            applied = [json.loads(l) for l in r.stdout.splitlines() if '"migrations applied"' in l]
            self.assertTrue(applied and applied[0]["applied"] > 0, "serve had migrated already: %r" % r)
            s.wait_for("/ready", timeout=5)
            stop_and_check(self, s)

    def test_serve_is_the_default_command(self):
        db = new_database("default")
        migrate(db)
        with Server(db, args=()) as s:
            self.assertStatus(s.get("/health"), 200)
            stop_and_check(self, s)

    def test_sqlite_plain_path_and_url_are_the_same_file(self):
        path = os.path.join(tmpdir("plain"), "plain.db")
        migrate(path)
        with Server(path) as s:
            self.assertStatus(s.post("/flags", {"name": "plain-path", "is_enabled": True}), 201)
            stop_and_check(self, s)
        self.assertTrue(os.path.exists(path), "no database file at the plain path %s" % path)
        with Server("sqlite://" + path) as s:
            self.assertFlag(s, "plain-path", True, "sqlite:// + same path: ")
            stop_and_check(self, s)

    def test_default_database_url(self):
        cwd = tmpdir("defaultdb")
        os.mkdir(os.path.join(cwd, "data"))
        r = run_cmd(["migrate"], None, {"DATABASE_URL": None}, cwd=cwd)
        self.assertEqual(r.returncode, 0, repr(r))
        self.assertTrue(os.path.exists(os.path.join(cwd, "data", "togglemaster.db")),
                        "default DATABASE_URL should be ./data/togglemaster.db: %s"
                        % os.listdir(os.path.join(cwd, "data")))


class ConfigErrors(TMTestCase):

    def check_bad(self, env, var, args=("serve",)):
        e = dict(env)
        db = e.pop("DATABASE_URL") if "DATABASE_URL" in e else sqlite_url()
        r = run_cmd(list(args), db, e, timeout=10)
        what = "%s with %r: " % (" ".join(args), env)
        self.assertEqual(r.returncode, 2, what + repr(r))
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, what + "expected exactly one stderr line: %r" % r)
        self.assertIn(var, lines[0], what + "the line must name %s: %r" % (var, r))
        self.assertNotIn('"listening"', r.stdout, what + repr(r))

    def test_bad_values_exit_2(self):
        cases = [({"PORT": "abc"}, "PORT"), ({"PORT": "70000"}, "PORT"), ({"PORT": "-1"}, "PORT"),
                 ({"PORT": "65536"}, "PORT"), ({"PORT": "80x"}, "PORT"),
                 ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
                 ({"THREADS": "0"}, "THREADS"), ({"THREADS": "abc"}, "THREADS"),
                 ({"LOG_LEVEL": "loud"}, "LOG_LEVEL"), ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
                 ({"SHUTDOWN_TIMEOUT": "-1"}, "SHUTDOWN_TIMEOUT"),
                 ({"SHUTDOWN_TIMEOUT": "abc"}, "SHUTDOWN_TIMEOUT"),
                 ({"DB_POOL_SIZE": "abc"}, "DB_POOL_SIZE"),
                 ({"DB_CONNECT_TIMEOUT": "abc"}, "DB_CONNECT_TIMEOUT"),
                 ({"DB_STATEMENT_TIMEOUT": "abc"}, "DB_STATEMENT_TIMEOUT"),
                 ({"RESYNC_INTERVAL": "abc"}, "RESYNC_INTERVAL")]
        for env, var in cases:
            with self.subTest(env=env):
                self.check_bad(env, var)

    def test_bad_db_port_in_legacy_variables(self):
        env = {"DATABASE_URL": None, "DB_HOST": "127.0.0.1", "DB_PORT": "abc", "DB_NAME": "x",
               "DB_USER": "x"}
        r = run_cmd(["serve"], None, env, timeout=10)
        self.assertEqual(r.returncode, 2, repr(r))
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, repr(r))
        self.assertIn("DB_PORT", lines[0], repr(r))

    def test_bad_database_url_for_migrate_exit_2(self):
        self.check_bad({"DATABASE_URL": "mysql://x"}, "DATABASE_URL", args=("migrate",))


# What a shell, systemd, a container runtime, Kubernetes, make and CI put in
# the environment: none of it may be taken for a misspelt setting.
ORDINARY_ENV = {
    "PATH": "/usr/bin:/bin", "HOME": "/root", "PWD": "/", "OLDPWD": "/tmp", "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8", "TERM": "xterm-256color", "SHELL": "/bin/bash", "USER": "root", "LOGNAME": "root",
    "HOSTNAME": "app-1", "HOST": "app-1", "TZ": "UTC", "TMPDIR": "/tmp", "SHLVL": "1", "MAIL": "/var/mail/root",
    "EDITOR": "vi", "PAGER": "less", "MAKEFLAGS": "-j8", "MAKELEVEL": "1", "MFLAGS": "-j8",
    "INVOCATION_ID": "0123", "JOURNAL_STREAM": "8:1234", "NOTIFY_SOCKET": "/run/systemd/notify",
    "STATE_DIRECTORY": "/var/lib/togglemaster", "MIGRATE_ON_START": "true", "POSTGRES_USER": "tm",
    "POSTGRES_PASSWORD": "change-me", "POSTGRES_DB": "tm", "SSL_CERT_FILE": "/etc/ssl/certs/ca.pem",
    "SSL_CERT_DIR": "/etc/ssl/certs", "PGPORT": "5433", "PGSSLMODE": "require", "HTTP_PROXY": "http://proxy:3128",
    "NO_PROXY": "localhost", "KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_PORT": "tcp://10.0.0.1:443",
    # Kubernetes service links of Services named db and togglemaster
    "DB_SERVICE_HOST": "10.0.0.5", "DB_SERVICE_PORT": "5432", "DB_PORT_5432_TCP": "tcp://10.0.0.5:5432",
    "DB_PORT_5432_TCP_ADDR": "10.0.0.5", "DB_PORT_5432_TCP_PORT": "5432", "DB_PORT_5432_TCP_PROTO": "tcp",
    "TOGGLEMASTER_SERVICE_HOST": "10.0.0.9", "TOGGLEMASTER_PORT": "tcp://10.0.0.9:5000",
    "TOGGLEMASTER_SERVICE_PORT_HTTP": "5000",
}


def help_variables():
    """Every variable `togglemaster --help` documents."""
    r = run_cmd(["--help"], None)
    names = set()
    for line in r.stdout.splitlines():
        m = re.match(r"^  ([A-Z][A-Z0-9_]*(?:, [A-Z][A-Z0-9_]*)*)", line)
        if m:
            names.update(m.group(1).split(", "))
    return names


class CheckConfig(TMTestCase):
    """`togglemaster check-config`: the whole environment as serve reads it,
    one line per problem, exit 2 on any error; warnings for names that look
    like settings but are not. It never contacts the database."""

    def check(self, env, database_url=None, cwd=None):
        return run_cmd(["check-config"], database_url or sqlite_url("check"), env, timeout=10, cwd=cwd)

    def lines(self, text, prefix):
        return [l for l in text.splitlines() if l.startswith(prefix)]

    def test_listed_in_help(self):
        r = run_cmd(["--help"], None)
        self.assertIn("check-config", r.stdout)

    def test_valid_environment_exits_0_with_one_summary_line(self):
        r = self.check({"PORT": "8081", "THREADS": "2"})
        self.assertEqual(r.returncode, 0, repr(r))
        self.assertEqual(r.stderr, "", repr(r))
        out = r.stdout.splitlines()
        self.assertEqual(len(out), 1, repr(r))
        self.assertTrue(out[0].startswith("configuration ok: sqlite "), repr(r))
        self.assertIn("127.0.0.1:8081", out[0])

    def test_database_is_not_contacted_and_its_password_not_shown(self):
        url = "postgres://app:s3cret-pw@db.invalid:5432/flags?sslmode=require"
        t0 = time.monotonic()
        r = self.check({}, database_url=url)
        self.assertEqual(r.returncode, 0, repr(r))
        self.assertIn("configuration ok: postgres postgres://app:***@db.invalid:5432/flags", r.stdout)
        self.assertIn("not contacted", r.stdout)
        self.assertNotIn("s3cret", r.stdout + r.stderr)
        self.assertLess(time.monotonic() - t0, 5)
        legacy = {"DATABASE_URL": None, "DB_HOST": "db.invalid", "DB_NAME": "flags", "DB_USER": "app",
                  "DB_PASSWORD": "s3cret-pw"}
        r = run_cmd(["check-config"], None, legacy, timeout=10)
        self.assertEqual(r.returncode, 0, repr(r))
        self.assertIn("host='db.invalid'", r.stdout)
        self.assertNotIn("s3cret", r.stdout + r.stderr)

    def test_several_bad_values_give_one_line_each_and_exit_2(self):
        env = {"PORT": "abc", "THREADS": "0", "LOG_LEVEL": "loud", "BIND": "localhost",
               "AUTH_REQUIRED": "maybe", "ADMIN_TOKEN": "short-s3cret", "DB_CONNECT_TIMEOUT": "-5"}
        r = self.check(env, database_url="mysql://x")
        self.assertEqual(r.returncode, 2, repr(r))
        errors = self.lines(r.stderr, "error: ")
        self.assertEqual(len(errors), len(env) + 1, repr(r))
        self.assertEqual(len(r.stderr.splitlines()), len(errors), "one line per problem: %r" % r)
        for var in list(env) + ["DATABASE_URL"]:
            self.assertEqual(len([l for l in errors if l.startswith("error: %s:" % var)]), 1, var + repr(r))
        self.assertNotIn("s3cret", r.stderr, "a secret was echoed")
        self.assertEqual(r.stdout, "", repr(r))

    def test_serve_still_stops_at_the_first_error(self):
        r = run_cmd(["serve"], sqlite_url(), {"PORT": "abc", "THREADS": "0"}, timeout=10)
        self.assertEqual(r.returncode, 2, repr(r))
        self.assertEqual(r.stderr.strip().splitlines(), ["togglemaster: PORT: invalid value 'abc' "
                                                         "(expected an integer from 1 to 65535)"])

    def test_misspelt_setting_warns_with_the_suggestion(self):
        r = self.check({"DB_HOTS": "db.internal", "PROT": "8080", "LOGLEVEL": "debug"})
        self.assertEqual(r.returncode, 0, "warnings do not fail the check: %r" % r)
        warnings = self.lines(r.stderr, "warning: ")
        self.assertIn("warning: DB_HOTS is not a ToggleMaster setting; did you mean DB_HOST?", warnings)
        self.assertIn("warning: PROT is not a ToggleMaster setting; did you mean PORT?", warnings)
        self.assertIn("warning: LOGLEVEL is not a ToggleMaster setting; did you mean LOG_LEVEL?", warnings)
        self.assertEqual(len(warnings), 3, repr(r))
        self.assertNotIn("db.internal", r.stderr, "values are not shown")
        self.assertTrue(r.stdout.startswith("configuration ok (3 warnings): sqlite "), repr(r))

    def test_unknown_db_and_togglemaster_variables_warn(self):
        r = self.check({"DB_SCHEMA": "public", "TOGGLEMASTER_MODE": "fast", "DB_PASS": "x"})
        self.assertEqual(r.returncode, 0, repr(r))
        warnings = self.lines(r.stderr, "warning: ")
        self.assertEqual(len(warnings), 3, repr(r))
        for var in ("DB_SCHEMA", "TOGGLEMASTER_MODE", "DB_PASS"):
            self.assertTrue(any(l.startswith("warning: %s is not a ToggleMaster setting" % var) for l in warnings),
                            var + repr(r))

    def test_ordinary_environment_never_warns(self):
        r = self.check(ORDINARY_ENV)
        self.assertEqual(r.returncode, 0, repr(r))
        self.assertEqual(r.stderr, "", "false positives: %r" % r)

    def test_every_variable_in_help_is_a_setting(self):
        """--help and the settings check-config knows are one list: each
        variable --help documents, set (empty: its default), is no warning."""
        names = help_variables()
        self.assertGreater(len(names), 40, names)
        cwd = tmpdir("helpvars")
        os.mkdir(os.path.join(cwd, "data"))
        r = run_cmd(["check-config"], None, {n: "" for n in names}, cwd=cwd, timeout=10)
        self.assertEqual(r.returncode, 0, repr(r))
        self.assertEqual(r.stderr, "", repr(r))

    def test_sqlite_directory_that_serve_would_need(self):
        cwd = tmpdir("nodata")
        r = run_cmd(["check-config"], None, {"DATABASE_URL": None}, cwd=cwd, timeout=10)
        self.assertEqual(r.returncode, 2, repr(r))
        self.assertEqual(self.lines(r.stderr, "error: "), r.stderr.splitlines(), repr(r))
        self.assertIn("error: DATABASE_URL: the SQLite database's directory './data' is not there", r.stderr)
        os.mkdir(os.path.join(cwd, "data"))
        r = run_cmd(["check-config"], None, {"DATABASE_URL": None}, cwd=cwd, timeout=10)
        self.assertEqual(r.returncode, 0, repr(r))

    @unittest.skipIf(shutil.which("openssl") is None, "openssl command not installed")
    def test_tls_files_are_loaded_as_serve_loads_them(self):
        d = tmpdir("checktls")
        for name in ("a", "b"):
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                            "-subj", "/CN=localhost", "-keyout", name + ".key", "-out", name + ".pem"],
                           cwd=d, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        with open(os.path.join(d, "garbage.pem"), "w") as f:
            f.write("not a certificate\n")
        path = lambda name: os.path.join(d, name)  # noqa: E731
        r = self.check({"TLS_CERT_FILE": path("a.pem"), "TLS_KEY_FILE": path("a.key")})
        self.assertEqual(r.returncode, 0, repr(r))
        self.assertIn(" https on ", r.stdout)
        cases = [({"TLS_CERT_FILE": "/nonexistent.pem", "TLS_KEY_FILE": "/nonexistent.key"},
                  ["TLS_CERT_FILE", "TLS_KEY_FILE"]),
                 ({"TLS_CERT_FILE": path("garbage.pem"), "TLS_KEY_FILE": path("a.key")}, ["TLS_CERT_FILE"]),
                 ({"TLS_CERT_FILE": path("a.pem"), "TLS_KEY_FILE": path("b.key")}, ["TLS_KEY_FILE"]),
                 ({"TLS_CERT_FILE": d, "TLS_KEY_FILE": path("a.key")}, ["TLS_CERT_FILE"])]
        for env, names in cases:
            with self.subTest(env=env):
                r = self.check(env)
                self.assertEqual(r.returncode, 2, repr(r))
                errors = self.lines(r.stderr, "error: ")
                self.assertEqual([l.split(":")[1].strip() for l in errors], names, repr(r))

    def test_extra_argument_is_a_usage_error(self):
        r = run_cmd(["check-config", "--frobnicate"], sqlite_url(), timeout=10)
        self.assertEqual(r.returncode, 2, repr(r))
        self.assertIn("--frobnicate", r.stderr)

    def test_serve_logs_the_warnings_and_starts(self):
        db = new_database("warnserve")
        migrate(db)
        with Server(db, env={"DB_HOTS": "db.internal", "DB_SCHEMA": "public"}) as s:
            self.assertStatus(s.get("/health"), 200)
            stop_and_check(self, s)
            warnings = [o for o in s.logs() if o.get("level") == "warn" and "variable" in o]
        self.assertEqual(sorted(o["variable"] for o in warnings), ["DB_HOTS", "DB_SCHEMA"], s.output_tail())
        hots = [o for o in warnings if o["variable"] == "DB_HOTS"][0]
        self.assertEqual(hots["message"], "DB_HOTS is not a ToggleMaster setting; did you mean DB_HOST?")
        self.assertNotIn("db.internal", s.stdout_text())


class Logging(TMTestCase):

    def test_every_line_is_json_even_for_hostile_requests(self):
        """Paths and request ids come from clients: quotes, backslashes,
        control characters and bytes that are not UTF-8 must still give one
        valid JSON object per line, with the request's fields."""
        db = new_database("hostilelog")
        migrate(db)
        paths = ["/flags/%FF%FEq", '/fl%22ags/%01%0A', "/flags/a%5C%5Cb", "/" + "x" * 3000]
        with Server(db) as s:
            for p in paths:
                with socket.create_connection((s.host, s.port), timeout=5) as c:
                    c.sendall(("GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" % p).encode())
                    c.recv(65536)
            self.assertStatus(s.get("/health", headers={"X-Request-Id": 'a"b\\c{}'}), 200)
            stop_and_check(self, s)
            lines = [l for l in s.stdout_text().splitlines() if l.strip()]
        requests = []
        for line in lines:
            obj = json.loads(line)          # raises on any invalid line
            self.assertIsInstance(obj, dict, line)
            if obj.get("message") == "request" and obj.get("path") != "/ready":
                requests.append(obj)
        # Requests on different connections may complete (and log) in any order.
        self.assertEqual(len(requests), len(paths) + 1, lines)
        logged = {r["path"] for r in requests}
        self.assertIn("/flags/%FF%FEq", logged)
        self.assertIn('/fl"ags/\x01\n', logged)
        self.assertIn({"path": "/health", "request_id": 'a"b\\c{}'},
                      [{"path": r["path"], "request_id": r["request_id"]} for r in requests])
        for r in requests:
            for key in ("method", "path", "status", "duration_ms", "bytes", "request_id", "time", "level"):
                self.assertIn(key, r)

    def test_startup_line(self):
        db = new_database("startlog")
        migrate(db)
        # With authentication on: open mode warns about itself (test_security).
        with Server(db, wait="health", env={"ADMIN_TOKEN": "startup-line-token-0123456789"}) as s:
            line = s.wait_log(lambda o: o.get("message") == "listening")
            self.assertIsNotNone(line, "no JSON 'listening' line:\n" + s.output_tail())
            self.assertIn("level", line)
            self.assertTrue(str(line.get("time", "")).endswith("Z"), line)
            s.wait_for("/ready")
            stop_and_check(self, s)
            # A healthy start and stop says nothing above info.
            noisy = [o for o in s.logs() if o.get("level") in ("warn", "error")]
            self.assertEqual(noisy, [], "warnings on a healthy start:\n" + s.output_tail())

    def test_text_format(self):
        db = new_database("textlog")
        migrate(db)
        with Server(db, env={"LOG_FORMAT": "text"}) as s:
            self.assertStatus(s.get("/health", headers={"X-Request-Id": "text-log-rid-42"}), 200)
            # A client's "%0A" must not start a forged line.
            self.assertStatus(s.get("/x%0A2026-01-01T00:00:00.000Z%20info%20forged"), 404)
            time.sleep(0.3)
            stop_and_check(self, s)
            lines = [l for l in s.stdout_text().splitlines() if l.strip()]
        self.assertTrue(lines, "LOG_FORMAT=text printed nothing")
        for l in lines:
            try:
                obj = json.loads(l)
            except ValueError:
                continue
            self.assertNotIsInstance(obj, dict, "LOG_FORMAT=text printed a JSON line: %r" % l)
        self.assertTrue(any("listen" in l.lower() for l in lines), "no listening line: %r" % lines)
        self.assertTrue(any("text-log-rid-42" in l for l in lines),
                        "the request line should carry the request id: %r" % lines)
        self.assertFalse(any(l.startswith("2026-01-01") for l in lines), "a forged log line: %r" % lines)
        self.assertTrue(any("\\n2026-01-01" in l for l in lines), "the newline is escaped: %r" % lines)

    def test_log_level_error_hides_info(self):
        db = new_database("lvl")
        migrate(db)
        with Server(db, env={"LOG_LEVEL": "error"}) as s:
            for _ in range(3):
                s.get("/health")
            s.get("/nope")
            time.sleep(0.3)
            stop_and_check(self, s)
            noisy = [o for o in s.logs() if str(o.get("level", "")).lower() in ("info", "debug")]
        self.assertEqual(noisy, [], "LOG_LEVEL=error must not print info/debug lines")

    def test_log_level_debug_accepted(self):
        db = new_database("dbg")
        migrate(db)
        with Server(db, env={"LOG_LEVEL": "debug"}) as s:
            self.assertStatus(s.get("/flags"), 200)
            stop_and_check(self, s)


def post_headers(server, body_len, path="/flags"):
    return (b"POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % (path.encode(), server.port, body_len))


def read_response(sock, method="POST"):
    resp = http.client.HTTPResponse(sock, method=method)
    resp.begin()
    return resp.status, resp.read()


class Shutdown(TMTestCase):
    SHUTDOWN_TIMEOUT = 5

    def start(self, **env):
        db = new_database("shutdown")
        migrate(db)
        e = {"SHUTDOWN_TIMEOUT": self.SHUTDOWN_TIMEOUT}
        e.update(env)
        s = Server(db, env=e)
        self.addCleanup(s.kill)
        return db, s.start()

    def slow_post(self, s, name):
        """Open a POST /flags whose body is only half sent; returns (sock, rest)."""
        body = json.dumps({"name": name, "is_enabled": True}).encode()
        half = len(body) // 2
        sock = socket.create_connection((s.host, s.port), timeout=SOCKET_TIMEOUT)
        self.addCleanup(sock.close)
        sock.sendall(post_headers(s, len(body)) + body[:half])
        time.sleep(0.3)  # let the server read the headers and start the request
        return sock, body[half:]

    def test_sigterm_lets_in_flight_request_finish(self):
        db, s = self.start()
        n = uniq("inflight")
        sock, rest = self.slow_post(s, n)
        t0 = time.monotonic()
        s.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        self.assertTrue(s.alive(), "server exited with a request in flight (rc=%s)\n%s"
                        % (s.proc.poll(), s.output_tail()))
        sock.sendall(rest)
        status, raw = read_response(sock)
        self.assertEqual(status, 201, "in-flight POST after SIGTERM: %s %r" % (status, raw))
        rc = s.wait_exit(self.SHUTDOWN_TIMEOUT + 1)
        elapsed = time.monotonic() - t0
        self.assertIsNotNone(rc, "still running %.1fs after SIGTERM (SHUTDOWN_TIMEOUT=%d)\n%s"
                             % (elapsed, self.SHUTDOWN_TIMEOUT, s.output_tail()))
        self.assertEqual(rc, 0, "exit code after SIGTERM\n" + s.output_tail())
        self.assertIsNone(s.sanitizer_report(), s.sanitizer_report())
        with Server(db) as s2:
            self.assertFlag(s2, n, True, "flag acknowledged during shutdown must persist: ")
            stop_and_check(self, s2)

    def test_new_connections_refused_after_sigterm(self):
        db, s = self.start()
        sock, rest = self.slow_post(s, uniq("hold"))
        s.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        self.assertTrue(s.alive(), "server exited with a request in flight\n" + s.output_tail())
        outcome = None
        try:
            c = socket.create_connection((s.host, s.port), timeout=2)
        except ConnectionRefusedError:
            outcome = "refused"
        except OSError as e:
            outcome = "error %r" % e
        else:
            try:
                c.settimeout(2)
                c.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                data = c.recv(200)
                outcome = "accepted and answered %r" % data if data else "accepted then closed"
            except OSError as e:
                outcome = "accepted (kernel backlog), then %r" % e
            finally:
                c.close()
        # let the held request finish so the server can exit
        try:
            sock.sendall(rest)
            read_response(sock)
        except OSError:
            pass
        rc = s.wait_exit(self.SHUTDOWN_TIMEOUT + 1)
        self.assertEqual(outcome, "refused", "a new connection after SIGTERM must be refused")
        self.assertEqual(rc, 0, s.output_tail())

    def test_idle_keepalive_connection_does_not_delay_exit(self):
        db, s = self.start(SHUTDOWN_TIMEOUT=10)
        c = s.client()
        self.addCleanup(c.close)
        self.assertStatus(c.request("GET", "/health"), 200)
        t0 = time.monotonic()
        s.send_signal(signal.SIGTERM)
        rc = s.wait_exit(10 + 2)
        elapsed = time.monotonic() - t0
        self.assertEqual(rc, 0, "exit code with an idle keep-alive connection\n" + s.output_tail())
        self.assertLess(elapsed, 3.0, "an idle keep-alive connection delayed exit by %.1fs" % elapsed)

    def test_stuck_client_bounded_by_shutdown_timeout(self):
        db, s = self.start(SHUTDOWN_TIMEOUT=2)
        sock, rest = self.slow_post(s, uniq("stuck"))
        t0 = time.monotonic()
        s.send_signal(signal.SIGTERM)
        rc = s.wait_exit(2 + 3)
        elapsed = time.monotonic() - t0
        self.assertIsNotNone(rc, "a client that never finishes kept the server up %.1fs "
                                 "(SHUTDOWN_TIMEOUT=2)\n%s" % (elapsed, s.output_tail()))
        self.assertIsNone(s.sanitizer_report(), s.sanitizer_report())

    def test_sigterm_idle_exit_0(self):
        db, s = self.start()
        t0 = time.monotonic()
        rc = s.stop(signal.SIGTERM, timeout=self.SHUTDOWN_TIMEOUT + 1)
        self.assertEqual(rc, 0, s.output_tail())
        self.assertLess(time.monotonic() - t0, 3.0, "idle server took long to exit")
        self.assertIsNone(s.sanitizer_report(), s.sanitizer_report())

    def test_sigterm_drains_before_stopping(self):
        """SHUTDOWN_DRAIN: /ready turns 503 at once while reads, writes and
        new connections are still served; the process stops after the
        drain, not before."""
        db, s = self.start(SHUTDOWN_DRAIN=2)
        self.assertStatus(s.get("/ready"), 200)
        t0 = time.monotonic()
        s.send_signal(signal.SIGTERM)
        deadline = t0 + 1.0
        while True:
            r = s.get("/ready")
            if r.status == 503 or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        self.assertError(r, 503, "/ready during the drain: ")
        self.assertIn("draining", r.json["error"])
        self.assertStatus(s.get("/health"), 200, "/health stays 200 while draining: ")
        n = uniq("drain")
        self.assertStatus(s.post("/flags", {"name": n, "is_enabled": True}), 201,
                          "a write during the drain is still served: ")
        with s.client() as c:   # a new connection, after SIGTERM
            self.assertStatus(c.request("GET", "/flags/" + n), 200)
        self.assertTrue(s.alive(), "stopped during the drain\n" + s.output_tail())
        rc = s.wait_exit(2 + self.SHUTDOWN_TIMEOUT + 2)
        elapsed = time.monotonic() - t0
        self.assertEqual(rc, 0, s.output_tail())
        self.assertGreaterEqual(elapsed, 1.8, "stopped before SHUTDOWN_DRAIN was over")
        self.assertLess(elapsed, 4.0, "an idle server took %.1fs to stop after a 2 s drain" % elapsed)
        self.assertTrue(any(l.get("message", "").startswith("draining") for l in s.logs()), s.output_tail())
        with Server(db) as s2:
            self.assertFlag(s2, n, True, "a write acknowledged during the drain persists: ")
            stop_and_check(self, s2)

    def test_second_sigterm_cuts_the_drain_short(self):
        db, s = self.start(SHUTDOWN_DRAIN=30)
        t0 = time.monotonic()
        s.send_signal(signal.SIGTERM)
        s.wait_log(lambda l: l.get("message", "").startswith("draining"), timeout=3)
        s.send_signal(signal.SIGTERM)
        rc = s.wait_exit(5)
        self.assertEqual(rc, 0, s.output_tail())
        self.assertLess(time.monotonic() - t0, 5, "a second SIGTERM did not end a 30 s drain")

    def test_sigint_does_not_drain(self):
        db, s = self.start(SHUTDOWN_DRAIN=30)
        t0 = time.monotonic()
        rc = s.stop(signal.SIGINT, timeout=5)
        self.assertEqual(rc, 0, s.output_tail())
        self.assertLess(time.monotonic() - t0, 3, "SIGINT (a terminal's Ctrl-C) waited for the drain")

    def test_sigint_exit_0(self):
        db, s = self.start()
        self.assertStatus(s.post("/flags", {"name": "sigint"}), 201)
        rc = s.stop(signal.SIGINT, timeout=self.SHUTDOWN_TIMEOUT + 1)
        self.assertEqual(rc, 0, s.output_tail())
        self.assertIsNone(s.sanitizer_report(), s.sanitizer_report())


class Robustness(TMTestCase):

    def test_hung_database_answers_503_within_the_timeout_for_every_queued_write(self):
        """A PostgreSQL that accepts TCP connections but never answers (a
        black-holed database): each connect waits DB_CONNECT_TIMEOUT. With 40
        writes queued on 2 store workers, one timeout each would keep the
        last waiting 40 s; after the first failed connect the others must
        fail fast, so all get their 503 within a few seconds."""
        import threading
        hung = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        hung.bind(("127.0.0.1", 0))
        hung.listen(128)               # the kernel completes handshakes; nobody speaks
        self.addCleanup(hung.close)
        url = "postgres://tm@127.0.0.1:%d/tm" % hung.getsockname()[1]
        env = {"DB_CONNECT_TIMEOUT": 2, "DB_POOL_SIZE": 2}
        with Server(url, env=env, wait="health") as s:
            results = []
            def write(i):
                t0 = time.monotonic()
                r = s.post("/flags", {"name": "hung-%d" % i}, timeout=60)
                results.append((r.status, time.monotonic() - t0, r.json))
            threads = [threading.Thread(target=write, args=(i,)) for i in range(40)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(70)
            self.assertEqual(len(results), 40)
            slowest = max(d for _, d, _ in results)
            self.assertEqual(sorted({st for st, _, _ in results}), [503], results[:3])
            self.assertTrue(all(isinstance(b, dict) and "error" in b for _, _, b in results))
            self.assertLess(slowest, 8.0, "slowest 503 took %.1fs" % slowest)
            self.assertError(s.get("/ready"), 503, "/ready with a hung database: ")
            stop_and_check(self, s)

    def test_port_in_use_fails_fast(self):
        db = new_database("busy")
        migrate(db)
        blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(blocker.close)
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        s = Server(db, port=port, wait=None)
        self.addCleanup(s.kill)
        s.start()
        rc = s.wait_exit(10)
        self.assertIsNotNone(rc, "server kept running although its port is taken\n" + s.output_tail())
        self.assertNotEqual(rc, 0, "port in use must be a failure\n" + s.output_tail())
        self.assertTrue((s.stdout_text() + s.stderr_text()).strip(), "no message about the port")

    def test_slow_client_does_not_block_others(self):
        db = new_database("slowloris")
        migrate(db)
        with Server(db, env={"THREADS": 1}) as s:
            socks = []
            for _ in range(5):
                k = socket.create_connection((s.host, s.port), timeout=SOCKET_TIMEOUT)
                self.addCleanup(k.close)
                k.sendall(b"POST /flags HTTP/1.1\r\nHost: x\r\nContent-Le")
                socks.append(k)
            t0 = time.monotonic()
            r = s.get("/health", timeout=5)
            self.assertStatus(r, 200)
            self.assertLess(time.monotonic() - t0, 2.0, "slow clients stalled the server (THREADS=1)")
            for k in socks:
                k.close()
            stop_and_check(self, s)

    def test_garbage_requests_do_not_crash(self):
        db = new_database("garbage")
        migrate(db)
        with Server(db) as s:
            junks = (b"\x00\x01\x02\r\n\r\n", b"GET\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                     b"POST /flags HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
                     b"POST /flags HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n",
                     b"GET /flags/" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                     b"GET /health HTTP/1.1\r\n" + b"X-H: " + b"v" * 100000 + b"\r\n\r\n")
            for i, junk in enumerate(junks):
                self.assertTrue(s.alive(), "server died after garbage request #%d %r\n%s"
                                % (i, junks[i - 1][:80] if i else b"", s.output_tail()))
                k = socket.create_connection((s.host, s.port), timeout=1)
                try:
                    k.sendall(junk)
                    k.shutdown(socket.SHUT_WR)
                    while k.recv(65536):
                        pass
                except OSError:
                    pass
                finally:
                    k.close()
            time.sleep(0.2)
            self.assertTrue(s.alive(), "server died after garbage\n" + s.output_tail())
            self.assertStatus(s.get("/health"), 200, "server survives garbage: ")
            stop_and_check(self, s)


if __name__ == "__main__":
    unittest.main()
