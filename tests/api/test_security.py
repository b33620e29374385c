"""Security and trust (issue 11), black-box: API keys and roles on every
route (the matrix is generated from the binary's own route table), the
modes (open, ADMIN_TOKEN, AUTH_REQUIRED, PUBLIC_EVALUATION), failed
authentication limits, revocation across instances, the audit trail on
both backends, CORS and the headers every response carries.
"""

import json
import os
import re
import time
import unittest

from harness import (BACKEND, Server, TMTestCase, get_pg, migrate, new_database, open_stream, pg_dbname, run_cmd,
                     stop_and_check, tmpdir, uniq)

ADMIN_TOKEN = "admin-token-for-tests-0123456789"
KEY_RE = re.compile(r"^tm_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$")


def routes():
    """The route table, as `togglemaster routes` prints it."""
    r = run_cmd(["routes"])
    assert r.returncode == 0, r
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def bearer(key):
    return {"Authorization": "Bearer " + key}


def make_key(server, admin, role, name=None):
    r = server.post("/api/v1/keys", {"name": name or uniq(role), "role": role}, headers=bearer(admin))
    assert r.status == 201, r
    return r.json


def cli_key(url, role, name="ops"):
    r = run_cmd(["keys", "create", "--role", role, "--name", name], url)
    assert r.returncode == 0, r
    key = r.stdout.strip()
    assert KEY_RE.match(key), r
    return key


ROLE_RANK = {"public": 0, "client": 1, "editor": 2, "admin": 3}


class Matrix(TMTestCase):
    """Every route x every role, from the route table: a route added
    without a role, or with the wrong one, fails here."""

    @classmethod
    def setUpClass(cls):
        cls.url = new_database("matrix")
        migrate(cls.url)
        cls.server = Server(cls.url, env={"ADMIN_TOKEN": ADMIN_TOKEN, "AUTH_FAILURE_LIMIT": "0"})
        cls.server.start()
        s = cls.server
        cls.keys = {"admin": ADMIN_TOKEN}
        for role in ("client", "editor"):
            cls.keys[role] = make_key(s, ADMIN_TOKEN, role)["key"]
        cls.keys["admin-key"] = make_key(s, ADMIN_TOKEN, "admin")["key"]
        cls.flag = uniq("matrix")
        assert s.post("/flags", {"name": cls.flag, "is_enabled": True}, headers=bearer(ADMIN_TOKEN)).status == 201
        cls.table = routes()

    @classmethod
    def tearDownClass(cls):
        stop_and_check(None, cls.server)

    def fill(self, pattern):
        """A path for pattern that does nothing harmful: reads name the test
        flag, deletes name things that do not exist (404 after the check)."""
        path = pattern.replace("{name}", self.flag).replace("{key}", self.flag)
        return path.replace("{id}", "000000000000").replace("{file}", "app.js")

    def call(self, method, pattern, headers):
        path = self.fill(pattern)
        if pattern == "/api/v1/events":
            # A stream that does not end: its status line and head are the answer.
            return open_stream(self.server, headers).close()
        if method == "DELETE":
            path = path.replace(self.flag, "no-such-" + self.flag)
        body = {} if method in ("POST", "PUT") else None
        if body is None:
            return self.server.request(method, path, headers=headers)
        return self.server.request(method, path, body, headers=headers)

    def test_table_is_what_we_expect_to_guard(self):
        patterns = {(m, r["pattern"]) for r in self.table for m in r["methods"]}
        for must in (("POST", "/flags"), ("PUT", "/flags/{name}"), ("GET", "/api/v1/keys"),
                     ("GET", "/api/v1/audit"), ("POST", "/ofrep/v1/evaluate/flags/{key}")):
            self.assertIn(must, patterns)
        public = sorted(r["pattern"] for r in self.table if r["role"] == "public")
        # The probes, and the console's page and files (which hold no data:
        # the page asks for a key and calls the API with it).
        self.assertEqual(public, ["/", "/assets/{file}", "/health", "/ready"], "only the probes and the console are open")
        self.assertGreaterEqual(len(self.table), 21)

    def test_every_route_every_role(self):
        checked = 0
        for route in self.table:
            need = ROLE_RANK[route["role"]]
            for method in route["methods"]:
                what = "%s %s (needs %s)" % (method, route["pattern"], route["role"])
                r = self.call(method, route["pattern"], {})
                if need == 0:
                    self.assertNotIn(r.status, (401, 403), what)
                    continue
                self.assertError(r, 401, what + " without a key: ")
                self.assertTrue(r.header("WWW-Authenticate", "").startswith("Bearer"), what)
                r = self.call(method, route["pattern"], bearer("tm_000000000000_" + "A" * 43))
                self.assertError(r, 401, what + " with an unknown key: ")
                for role in ("client", "editor", "admin", "admin-key"):
                    for headers in (bearer(self.keys[role]), {"X-API-Key": self.keys[role]}):
                        r = self.call(method, route["pattern"], headers)
                        if ROLE_RANK[role.split("-")[0]] >= need:
                            self.assertNotIn(r.status, (401, 403), "%s as %s: %r" % (what, role, r))
                        else:
                            self.assertError(r, 403, "%s as %s: " % (what, role))
                        checked += 1
        self.assertGreater(checked, 100)

    def test_malformed_authorization_is_401(self):
        for value in ("Basic dXNlcjpwYXNz", "Bearer", "Bearer a b", "Token " + ADMIN_TOKEN, "Bearer\t"):
            r = self.server.get("/flags", headers={"Authorization": value})
            self.assertError(r, 401, value)
        self.assertStatus(self.server.get("/flags", headers={"Authorization": "bEaReR  " + ADMIN_TOKEN}), 200)

    def test_ofrep_routes_answer_401_with_json(self):
        r = self.server.post("/ofrep/v1/evaluate/flags/" + self.flag, {"context": {}})
        self.assertError(r, 401)
        r = self.server.post("/ofrep/v1/evaluate/flags/" + self.flag, {"context": {}},
                             headers=bearer(self.keys["client"]))
        self.assertStatus(r, 200)
        self.assertEqual(r.json["value"], True)


class Modes(TMTestCase):

    def test_open_mode_says_so(self):
        url = new_database("open")
        migrate(url)
        with Server(url) as s:
            self.assertEqual(s.get("/ready").json, {"status": "ready", "auth": "off"})
            self.assertIsNotNone(s.wait_log(lambda o: o.get("level") == "warn" and
                                            "authentication is off" in o.get("message", "")))
            self.assertStatus(s.post("/flags", {"name": uniq("o"), "is_enabled": True}), 201)
            stop_and_check(self, s)

    def test_auth_required_without_a_key_exits_2(self):
        url = new_database("required")
        migrate(url)
        s = Server(url, env={"AUTH_REQUIRED": "true"}, wait=None)
        s.start()
        self.assertEqual(s.wait_exit(10), 2, s.output_tail())
        self.assertIn("AUTH_REQUIRED", s.stdout_text() + s.stderr_text())
        # With a key it starts, and the key is needed.
        key = cli_key(url, "admin")
        with Server(url, env={"AUTH_REQUIRED": "true"}) as s:
            self.assertEqual(s.get("/ready").json["auth"], "on")
            self.assertError(s.get("/flags"), 401)
            self.assertStatus(s.get("/flags", headers=bearer(key)), 200)
            # A revoked key does not count.
            kid = key[3:15]
            self.assertStatus(s.delete("/api/v1/keys/" + kid, headers=bearer(key)), 200)
            self.assertError(s.get("/flags", headers=bearer(key)), 401)
            stop_and_check(self, s)
        s = Server(url, env={"AUTH_REQUIRED": "true"}, wait=None)
        s.start()
        self.assertEqual(s.wait_exit(10), 2, s.output_tail())
        # ADMIN_TOKEN is enough.
        with Server(url, env={"AUTH_REQUIRED": "true", "ADMIN_TOKEN": ADMIN_TOKEN}) as s:
            self.assertStatus(s.get("/flags", headers=bearer(ADMIN_TOKEN)), 200)
            stop_and_check(self, s)

    def test_admin_token_rules(self):
        r = run_cmd(["serve"], new_database("short"), env={"ADMIN_TOKEN": "short"})
        self.assertEqual(r.returncode, 2, r)
        self.assertIn("ADMIN_TOKEN", r.stderr)
        self.assertNotIn("short", r.stderr.replace("too short", ""), "the value is never quoted")
        url = new_database("token")
        migrate(url)
        with Server(url, env={"ADMIN_TOKEN": ADMIN_TOKEN}) as s:
            self.assertStatus(s.post("/flags", {"name": "t1", "is_enabled": True}, headers=bearer(ADMIN_TOKEN)), 201)
            self.assertError(s.delete("/api/v1/keys/env-admin", headers=bearer(ADMIN_TOKEN)), 400)
            stop_and_check(self, s)
            self.assertNotIn(ADMIN_TOKEN, s.stdout_text() + s.stderr_text(), "the token is never logged")

    def test_public_evaluation_opens_reads_only(self):
        url = new_database("public")
        migrate(url)
        with Server(url, env={"ADMIN_TOKEN": ADMIN_TOKEN, "PUBLIC_EVALUATION": "true"}) as s:
            self.assertStatus(s.post("/flags", {"name": "pub", "is_enabled": True}, headers=bearer(ADMIN_TOKEN)), 201)
            self.assertStatus(s.get("/flags/pub"), 200)
            self.assertStatus(s.get("/evaluate?flag_name=pub"), 200)
            self.assertStatus(s.post("/ofrep/v1/evaluate/flags/pub", {"context": {}}), 200)
            self.assertError(s.put("/flags/pub", {"is_enabled": False}), 401)
            self.assertError(s.get("/api/v1/keys"), 401)
            self.assertError(s.get("/flags/pub/history"), 401)
            # A key that is presented must be valid, even where none is needed.
            self.assertError(s.get("/flags/pub", headers=bearer("tm_nope")), 401)
            stop_and_check(self, s)


class Keys(TMTestCase):

    def test_create_list_revoke_over_http_and_cli(self):
        url = new_database("keys")
        migrate(url)
        admin = cli_key(url, "admin", "bootstrap")
        with Server(url, env={"RESYNC_INTERVAL": "1"}) as s:
            made = make_key(s, admin, "client", "mobile app")
            self.assertTrue(KEY_RE.match(made["key"]), made)
            self.assertEqual((made["name"], made["role"], made["revoked_at"]), ("mobile app", "client", None))
            listed = s.get("/api/v1/keys", headers=bearer(admin)).json
            self.assertEqual([k["name"] for k in listed], ["bootstrap", "mobile app"])
            self.assertNotIn("key", listed[1], "a key is shown once")
            self.assertNotIn("hash", json.dumps(listed))
            for body in ({"name": "x", "role": "root"}, {"name": "", "role": "client"}, {"role": "client"},
                         {"name": "x", "role": "client", "extra": 1}, {"name": "a\nb", "role": "client"}):
                self.assertError(s.post("/api/v1/keys", body, headers=bearer(admin)), 400, repr(body))
            self.assertError(s.delete("/api/v1/keys/ffffffffffff", headers=bearer(admin)), 404)
            self.assertError(s.delete("/api/v1/keys/not-an-id", headers=bearer(admin)), 404)
            r = s.delete("/api/v1/keys/" + made["id"], headers=bearer(admin))
            self.assertStatus(r, 200)
            self.assertIsNotNone(r.json["revoked_at"])
            self.assertError(s.get("/flags", headers=bearer(made["key"])), 401)
            # The CLI sees what the API did, and revokes what the API made.
            out = run_cmd(["keys", "list", "--json"], url)
            self.assertEqual(out.returncode, 0, out)
            self.assertEqual(sorted(k["name"] for k in json.loads(out.stdout)), ["bootstrap", "mobile app"])
            other = make_key(s, admin, "editor")
            out = run_cmd(["keys", "revoke", other["id"]], url)
            self.assertEqual(out.returncode, 0, out)
            self.assertEqual(run_cmd(["keys", "revoke", "ffffffffffff"], url).returncode, 3)
            self.assertEqual(run_cmd(["keys", "create", "--role", "root", "--name", "x"], url).returncode, 2)
            # SQLite has no change feed: the next resync brings the CLI's revocation.
            self.wait_until(lambda: s.get("/flags", headers=bearer(other["key"])).status == 401,
                            "the CLI's revocation")
            stop_and_check(self, s)
            logs = s.stdout_text() + s.stderr_text()
            for secret in (admin, made["key"], other["key"]):
                self.assertNotIn(secret[16:], logs, "no key is ever logged")

    def wait_until(self, pred, what, timeout=10):
        deadline = time.monotonic() + timeout
        while not pred():
            if time.monotonic() > deadline:
                self.fail("timed out waiting for " + what)
            time.sleep(0.05)

    def test_stored_only_as_hash(self):
        url = new_database("hash")
        migrate(url)
        key = cli_key(url, "client")
        if BACKEND == "postgres":
            rows = get_pg().rows(pg_dbname(url), "SELECT id, hash FROM api_keys")
        else:
            import sqlite3
            con = sqlite3.connect(url[len("sqlite://"):])
            rows = con.execute("SELECT id, hash FROM api_keys").fetchall()
            con.close()
        import hashlib
        self.assertEqual([tuple(r) for r in rows], [(key[3:15], hashlib.sha256(key.encode()).hexdigest())])

    def test_repeated_failures_get_429(self):
        url = new_database("limit")
        migrate(url)
        with Server(url, env={"ADMIN_TOKEN": ADMIN_TOKEN, "AUTH_FAILURE_LIMIT": "5",
                              "AUTH_FAILURE_WINDOW": "60"}) as s:
            statuses = [s.get("/flags", headers=bearer("tm_wrong%d" % i)).status for i in range(6)]
            self.assertEqual(statuses, [401] * 5 + [429])
            r = s.get("/flags", headers=bearer(ADMIN_TOKEN))
            self.assertError(r, 429, "even a good key waits out the window: ")
            self.assertTrue(1 <= int(r.header("Retry-After")) <= 60, r)
            r = s.post("/ofrep/v1/evaluate/flags/x", {"context": {}}, headers=bearer("tm_wrong"))
            self.assertError(r, 429)
            self.assertIsNotNone(r.header("Retry-After"))
            # The probes stay open, and requests without a key are not
            # guesses: 401, not counted.
            self.assertStatus(s.get("/health"), 200)
            self.assertError(s.get("/flags"), 401)
            stop_and_check(self, s)


class Rates(TMTestCase):

    def test_write_and_key_creation_limits_per_key(self):
        url = new_database("rates")
        migrate(url)
        with Server(url, env={"ADMIN_TOKEN": ADMIN_TOKEN, "WRITE_LIMIT": "5", "KEY_CREATE_LIMIT": "2"}) as s:
            admin = bearer(ADMIN_TOKEN)
            keys = [s.post("/api/v1/keys", {"name": "k%d" % i, "role": "editor"}, headers=admin) for i in range(3)]
            self.assertEqual([k.status for k in keys], [201, 201, 429])
            self.assertIn("KEY_CREATE_LIMIT", keys[2].json["error"])
            self.assertTrue(int(keys[2].header("Retry-After")) > 60)
            editor = bearer(keys[0].json["key"])
            statuses = [s.post("/flags", {"name": "w%d" % i, "is_enabled": True}, headers=editor).status
                        for i in range(6)]
            self.assertEqual(statuses, [201] * 5 + [429])
            self.assertStatus(s.get("/flags/w0", headers=editor), 200, "reads are not limited: ")
            # Another key has its own count.
            self.assertStatus(s.put("/flags/w0", {"is_enabled": False}, headers=bearer(keys[1].json["key"])), 200)
            stop_and_check(self, s)
        url = new_database("ratesopen")
        migrate(url)
        with Server(url, env={"WRITE_LIMIT": "2"}) as s:
            statuses = [s.post("/flags", {"name": "o%d" % i, "is_enabled": True}).status for i in range(4)]
            self.assertEqual(statuses, [201] * 4, "open mode is not limited, as the original was not")
            stop_and_check(self, s)


@unittest.skipUnless(BACKEND == "postgres", "two instances share PostgreSQL")
class Revocation(TMTestCase):

    def test_revocation_reaches_the_other_instance(self):
        url = new_database("revoke")
        migrate(url)
        admin = cli_key(url, "admin")
        with Server(url, env={"RESYNC_INTERVAL": "3600"}) as a, \
                Server(url, env={"RESYNC_INTERVAL": "3600"}) as b:
            made = make_key(a, admin, "client")
            t0 = time.monotonic()
            while b.get("/flags", headers=bearer(made["key"])).status != 200:
                self.assertLess(time.monotonic() - t0, 5, "the new key reaches b")
                time.sleep(0.01)
            self.assertStatus(a.delete("/api/v1/keys/" + made["id"], headers=bearer(admin)), 200)
            t0 = time.monotonic()
            while b.get("/flags", headers=bearer(made["key"])).status != 401:
                self.assertLess(time.monotonic() - t0, 5, "the revocation reaches b")
                time.sleep(0.005)
            elapsed = time.monotonic() - t0
            print("\n    revocation reached the other instance in %.0f ms" % (elapsed * 1000))
            self.assertLess(elapsed, 2.0)
            stop_and_check(self, a)
            stop_and_check(self, b)


def audit(server, key, query=""):
    r = server.get("/api/v1/audit" + query, headers=bearer(key))
    assert r.status == 200, r
    return r.json


class Audit(TMTestCase):

    def test_every_kind_of_change_is_recorded(self):
        url = new_database("audit")
        migrate(url)
        admin = cli_key(url, "admin", "ops")
        with Server(url) as s:
            editor = make_key(s, admin, "editor", "release bot")
            h = bearer(editor["key"])
            h_rid = dict(h, **{"X-Request-Id": "req-audit-1"})
            self.assertStatus(s.post("/flags", {"name": "checkout", "is_enabled": True}, headers=h_rid), 201)
            self.assertStatus(s.put("/flags/checkout", {"is_enabled": False}, headers=h), 200)
            self.assertStatus(s.put("/evaluators/beta", {"rule": {"in": ["@acme.com", {"var": "email"}]}}, headers=h), 201)
            self.assertStatus(s.put("/evaluators/beta", {"rule": {"in": ["@acme.org", {"var": "email"}]}}, headers=h), 200)
            self.assertStatus(s.delete("/evaluators/beta", headers=h), 204)
            self.assertStatus(s.delete("/flags/checkout", headers=h), 204)
            self.assertStatus(s.delete("/api/v1/keys/" + editor["id"], headers=bearer(admin)), 200)
            # Refused and failed changes write nothing.
            self.assertError(s.put("/flags/checkout", {"is_enabled": True}, headers=bearer(admin)), 404)
            self.assertError(s.post("/flags", {"name": "bad name"}, headers=bearer(admin)), 400)
            entries = audit(s, admin)["entries"]
            got = [(e["action"], e["object"]["type"], e["object"]["name"], e["actor"]["id"]) for e in entries]
            kid, eid = admin[3:15], editor["id"]
            self.assertEqual(got, [
                ("revoke", "key", eid, kid),
                ("delete", "flag", "checkout", eid),
                ("delete", "evaluator", "beta", eid),
                ("update", "evaluator", "beta", eid),
                ("create", "evaluator", "beta", eid),
                ("update", "flag", "checkout", eid),
                ("create", "flag", "checkout", eid),
                ("create", "key", eid, kid),
                ("create", "key", kid, "cli"),
            ])
            by = {(e["action"], e["object"]["type"]): e for e in entries}
            up = by[("update", "flag")]
            self.assertEqual((up["before"]["is_enabled"], up["after"]["is_enabled"]), (True, False))
            self.assertEqual((up["before"]["version"], up["after"]["version"]), (1, 2))
            self.assertEqual(up["actor"]["name"], "release bot")
            self.assertEqual(by[("create", "flag")]["request_id"], "req-audit-1")
            self.assertIsNone(by[("create", "flag")]["before"])
            self.assertEqual(by[("delete", "flag")]["before"]["name"], "checkout")
            self.assertIsNone(by[("delete", "flag")]["after"])
            self.assertEqual(by[("update", "evaluator")]["before"], {"in": ["@acme.com", {"var": "email"}]})
            self.assertEqual(by[("update", "evaluator")]["after"], {"in": ["@acme.org", {"var": "email"}]})
            self.assertIsNotNone(by[("revoke", "key")]["after"]["revoked_at"])
            self.assertNotIn("hash", json.dumps(entries))
            self.assertTrue(all(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", e["at"]) for e in entries))
            # Filters, paging, the flag's history (also after its deletion).
            hist = s.get("/flags/checkout/history", headers=bearer(admin)).json["entries"]
            self.assertEqual([e["action"] for e in hist], ["delete", "update", "create"])
            page = audit(s, admin, "?limit=4")
            self.assertEqual(len(page["entries"]), 4)
            rest = audit(s, admin, "?limit=100&before=%d" % page["next_before"])
            self.assertEqual([e["id"] for e in page["entries"] + rest["entries"]], [e["id"] for e in entries])
            self.assertIsNone(rest["next_before"])
            self.assertEqual(len(audit(s, admin, "?object=evaluator")["entries"]), 3)
            self.assertEqual(len(audit(s, admin, "?object=key:" + eid)["entries"]), 2)
            self.assertEqual(audit(s, admin, "?object=flag:nope")["entries"], [])
            for q in ("?limit=0", "?limit=1001", "?limit=x", "?before=-1", "?object=table", "?object=",
                      "?object=" + "x" * 20):
                self.assertError(s.get("/api/v1/audit" + q, headers=bearer(admin)), 400, q)
            stop_and_check(self, s)
        self.assert_append_only(url)

    def test_open_mode_and_import_are_recorded(self):
        url = new_database("auditopen")
        migrate(url)
        path = os.path.join(tmpdir("imp"), "flags.json")
        with open(path, "w") as f:
            json.dump({"flags": {"imported": {"state": "ENABLED", "variants": {"on": True, "off": False},
                                              "defaultVariant": "on"}},
                       "$evaluators": {"staff": {"ends_with": [{"var": "email"}, "@acme.com"]}},
                       "metadata": {"team": "web"}}, f)
        with Server(url) as s:
            self.assertStatus(s.post("/flags", {"name": "anon", "is_enabled": True}), 201)
            r = run_cmd(["import", path], url)
            self.assertEqual(r.returncode, 0, r)
            admin = cli_key(url, "admin")
            s.send_signal(__import__("signal").SIGHUP)
            deadline = time.monotonic() + 10
            while s.get("/api/v1/audit", headers=bearer(admin)).status != 200:
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.05)
            entries = audit(s, admin)["entries"]
            got = {(e["action"], e["object"]["type"], e["object"]["name"], e["actor"]["id"]) for e in entries}
            self.assertIn(("create", "flag", "anon", "anonymous"), got)
            self.assertIn(("create", "flag", "imported", "cli"), got)
            self.assertIn(("create", "evaluator", "staff", "cli"), got)
            self.assertIn(("update", "metadata", "flag set", "cli"), got)
            stop_and_check(self, s)

    def assert_append_only(self, url):
        """Not even the database's own user can rewrite history."""
        if BACKEND == "postgres":
            pg, db = get_pg(), pg_dbname(url)
            for sql in ("UPDATE audit_log SET actor_id = 'x'", "DELETE FROM audit_log"):
                with self.assertRaisesRegex(RuntimeError, "cannot be changed", msg=sql):
                    pg.psql(db, sql)
            self.assertGreater(int(pg.psql(db, "SELECT count(*) FROM audit_log").strip()), 0)
        else:
            import sqlite3
            con = sqlite3.connect(url[len("sqlite://"):])
            for sql in ("UPDATE audit_log SET actor_id = 'x'", "DELETE FROM audit_log"):
                with self.assertRaises(sqlite3.DatabaseError, msg=sql):
                    con.execute(sql)
            self.assertGreater(con.execute("SELECT count(*) FROM audit_log").fetchone()[0], 0)
            con.close()


class Headers(TMTestCase):

    def test_cors_allowlist_and_preflight(self):
        url = new_database("cors")
        migrate(url)
        with Server(url, env={"CORS_ORIGINS": "https://app.example.com, https://admin.example.com"}) as s:
            pre = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST",
                   "Access-Control-Request-Headers": "content-type, authorization"}
            r = s.request("OPTIONS", "/ofrep/v1/evaluate/flags", headers=pre)
            self.assertStatus(r, 204)
            self.assertEqual(r.header("Access-Control-Allow-Origin"), "https://app.example.com")
            self.assertIn("POST", r.header("Access-Control-Allow-Methods"))
            self.assertIn("Authorization", r.header("Access-Control-Allow-Headers"))
            self.assertIn("Origin", r.header("Vary"))
            r = s.request("OPTIONS", "/ofrep/v1/evaluate/flags", headers=dict(pre, Origin="https://evil.example"))
            self.assertError(r, 403)
            self.assertIsNone(r.header("Access-Control-Allow-Origin"))
            r = s.request("OPTIONS", "/nowhere", headers=pre)
            self.assertError(r, 404)
            r = s.get("/flags", headers={"Origin": "https://admin.example.com"})
            self.assertEqual(r.header("Access-Control-Allow-Origin"), "https://admin.example.com")
            self.assertIn("ETag", r.header("Access-Control-Expose-Headers"))
            r = s.get("/flags", headers={"Origin": "https://app.example.com.evil.example"})
            self.assertIsNone(r.header("Access-Control-Allow-Origin"), "nothing is reflected blindly")
            stop_and_check(self, s)
        url = new_database("nocors")
        migrate(url)
        with Server(url) as s:
            r = s.get("/flags", headers={"Origin": "https://app.example.com"})
            self.assertIsNone(r.header("Access-Control-Allow-Origin"))
            stop_and_check(self, s)

    def test_security_headers_on_every_response(self):
        url = new_database("hdr")
        migrate(url)
        with Server(url) as s:
            s.post("/flags", {"name": "h", "is_enabled": True})
            for method, path, cache in (("GET", "/flags", "no-cache"), ("GET", "/flags/h", "no-cache"),
                                        ("GET", "/nowhere", "no-store"), ("POST", "/flags", "no-store"),
                                        ("PATCH", "/flags", "no-store"), ("GET", "/health", "no-cache")):
                r = s.request(method, path) if method != "POST" else s.post(path, {})
                self.assertEqual(r.header("X-Content-Type-Options"), "nosniff", path)
                self.assertEqual(r.header("Cache-Control"), cache, "%s %s" % (method, path))
                self.assertIsNone(r.header("Server"), "no version banner")
            stop_and_check(self, s)


if __name__ == "__main__":
    unittest.main()
