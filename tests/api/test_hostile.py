"""Hostile input (issue 11): hundreds of malformed or hostile requests,
sent as raw bytes. Each must get a 4xx JSON error (or, for protocol
garbage, a closed connection), the server must stay up, and the database
must be byte for byte what it was before.
"""

import json
import socket
import unittest

from harness import (BACKEND, Server, TMTestCase, get_pg, migrate, new_database, pg_dbname, read_until_closed,
                     stop_and_check)

ADMIN = "hostile-admin-token-0123456789abcdef"
TABLES = ("flags", "evaluators", "catalog_settings", "api_keys", "audit_log", "schema_migrations")


def dump(url):
    """Every row of every table, in a stable order."""
    if BACKEND == "postgres":
        pg, db = get_pg(), pg_dbname(url)
        return {t: pg.psql(db, "SELECT * FROM %s ORDER BY 1" % t) for t in TABLES}
    import sqlite3
    con = sqlite3.connect(url[len("sqlite://"):])
    try:
        return {t: con.execute("SELECT * FROM %s ORDER BY 1" % t).fetchall() for t in TABLES}
    finally:
        con.close()


def exchange(server, raw, timeout=5):
    """Sends raw bytes; returns (status, body bytes), or (None, b"") when the
    connection was closed without an answer."""
    with socket.create_connection((server.host, server.port), timeout=timeout) as sock:
        try:
            sock.sendall(raw)
        except OSError:
            pass
        data = read_until_closed(sock)   # every request says Connection: close
    if not data:
        return None, b""
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


def request(method, path, body=None, headers=None, auth=True):
    """A well-framed request with any bytes in it."""
    if isinstance(path, str):
        path = path.encode("utf-8", "surrogatepass")
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    elif isinstance(body, str):
        body = body.encode("utf-8", "surrogatepass")
    lines = [method.encode() + b" " + path + b" HTTP/1.1", b"Host: test", b"Connection: close"]
    if auth:
        lines.append(b"Authorization: Bearer " + ADMIN.encode())
    for k, v in (headers or {}).items():
        lines.append((k.encode() if isinstance(k, str) else k) + b": " +
                     (v.encode("utf-8", "surrogatepass") if isinstance(v, str) else v))
    if body is not None:
        lines.append(b"Content-Type: application/json")
        lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + (body or b"")


def deep(n, open_, close):
    return open_ * n + close * n


BROKEN_JSON = [
    "", "{", "}", "[", "{\"name\":", "{\"name\": \"x\",}", "{'name': 'x'}", "{\"name\": \"x\"} trailing",
    "nul", "{\"name\": tru}", "{\"a\":1,\"a\":2}", "\"just a string\"", "[1,2,3]", "1e99999",
    "{\"name\": \"\\ud800\"}", "{\"name\": \"x\\u0000y\"}", "\xef\xbb\xbf{}", "{\"name\": \"x\" \"y\"}",
    "{\"name\"\x00: 1}", "{\"is_enabled\": NaN}", "{\"is_enabled\": Infinity}", "{\"name\": 0x10}",
]

WRITE_ROUTES = [("POST", "/flags"), ("PUT", "/flags/seed"), ("PUT", "/evaluators/seed-rule"),
                ("POST", "/api/v1/keys"), ("POST", "/evaluate"), ("POST", "/ofrep/v1/evaluate/flags/seed"),
                ("POST", "/ofrep/v1/evaluate/flags")]

WRONG_TYPES = [
    ("POST", "/flags", {"name": 1}), ("POST", "/flags", {"name": None}), ("POST", "/flags", {"name": ["x"]}),
    ("POST", "/flags", {"name": "ok-name", "is_enabled": "yes"}), ("POST", "/flags", {"name": "ok-name", "is_enabled": 1}),
    ("POST", "/flags", {"name": "ok-name", "variants": []}), ("POST", "/flags", {"name": "ok-name", "variants": {}}),
    ("POST", "/flags", {"name": "ok-name", "variants": {"a": 1, "b": "x"}, "defaultVariant": "a"}),
    ("POST", "/flags", {"name": "ok-name", "variants": {"a": True}, "defaultVariant": "zz"}),
    ("POST", "/flags", {"name": "ok-name", "state": "MAYBE"}),
    ("POST", "/flags", {"name": "ok-name", "variants": {"a": True}, "defaultVariant": "a", "targeting": {"foo": []}}),
    ("POST", "/flags", {"name": "ok-name", "variants": {"a": True}, "defaultVariant": "a", "targeting": [1]}),
    ("POST", "/flags", {"name": "ok-name", "variants": {"a": True}, "defaultVariant": "a",
                        "targeting": {"$ref": "missing"}}),
    ("POST", "/flags", {"name": "ok-name", "metadata": {"x": {"nested": 1}}}),
    ("PUT", "/flags/seed", {"is_enabled": "false"}), ("PUT", "/flags/seed", {"variants": {"on": "text"}}),
    ("PUT", "/flags/seed", {"name": "renamed"}), ("PUT", "/flags/seed", []),
    ("PUT", "/evaluators/seed-rule", {"rule": {"nope": 1}}), ("PUT", "/evaluators/seed-rule", {"rule": 5, "x": 1}),
    ("PUT", "/evaluators/seed-rule", {"rul": {}}),
    ("POST", "/evaluate", {"flag_name": 5}), ("POST", "/evaluate", {"flag_name": "seed", "context": []}),
    ("POST", "/evaluate", {"flag_name": "seed", "user_id": {}}),
    ("POST", "/ofrep/v1/evaluate/flags/seed", {"context": "x"}), ("POST", "/ofrep/v1/evaluate/flags/seed", []),
    ("POST", "/ofrep/v1/evaluate/flags", {"context": 1}),
    ("POST", "/api/v1/keys", {"name": 1, "role": "client"}), ("POST", "/api/v1/keys", {"name": "x", "role": 1}),
    ("POST", "/api/v1/keys", {"name": "x" * 101, "role": "client"}),
]

INJECTIONS = ["x'; DROP TABLE flags; --", "<script>alert(1)</script>", "${jndi:ldap://x/a}", "../../etc/passwd",
              "a\" OR \"1\"=\"1", "%00", "name with spaces", "\u202etxt.exe", "😀", "x" * 101, "-leading-dash",
              "a/b", "a\\b", "a\nb", "$(reboot)", "`id`", "{{7*7}}"]

PATHS = ["/flags/../etc/passwd", "/flags/%2e%2e/%2e%2e/etc/passwd", "//flags", "/flags//seed", "/flags/%00",
         "/flags/seed%00", "/flags/a%2Fb", "/FLAGS", "/flags/seed/", "/flags/seed/extra/more", "/%",
         "/flags/%zz", "/flags/%ff%fe", "/flags/" + "a" * 5000, "/" + "/x" * 40, "/flags/seed/history/x",
         "/api/v1/keys/../audit", "/api/v1/keys/%2e%2e", "/ofrep/v1/evaluate/flags/" + "%c0%af",
         "/evaluators/%2e%2e%2fflags", "/api/v1/audit/..;/keys", "/.env", "/flags?limit=%zz", "/flags/\xc3\x28"]

METHODS = [("PATCH", "/flags"), ("DELETE", "/flags"), ("PUT", "/health"), ("POST", "/ready"), ("TRACE", "/flags"),
           ("OPTIONS", "/flags"), ("PUT", "/flags"), ("POST", "/flags/seed"), ("GET", "/ofrep/v1/evaluate/flags"),
           ("PUT", "/api/v1/keys"), ("POST", "/api/v1/audit"), ("DELETE", "/api/v1/keys"), ("PATCH", "/flags/seed"),
           ("POST", "/flagd.json"), ("PROPFIND", "/flags")]

AUTHS = ["Basic YWRtaW46YWRtaW4=", "Bearer", "Bearer ", "Bearer tm_", "Bearer tm_000000000000_",
         "Bearer " + "A" * 4000, "Bearer " + ADMIN[:-1], "Bearer " + ADMIN + "x", "Bearer  " + ADMIN + " x",
         "Digest username=\"a\"", "Bearer tm_zzzzzzzzzzzz_" + "a" * 43, "Bearer \xff\xfe",
         "Bearer tm_000000000000_" + "A" * 43, "Negotiate abc", "Bearer null"]

PROTOCOL = [
    b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
    b"GET /flags HTTP/1.1\r\n\r\n",                                   # no Host
    b"GET /flags HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    b"POST /flags HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"POST /flags HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
    b"POST /flags HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"GET /flags HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
    b"GET /flags HTTP/1.1\r\nHost: x\r\nX: a\r\n folded\r\n\r\n",
    b"GET /flags HTTP/1.1\nHost: x\n\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40,  # a TLS hello to a plain port
    b"GET /flags HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
    b"GET /flags HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\n\r\n",
    b"GET " + b"/a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /flags HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n",
    b"POST /flags HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n",
    b"POST /flags HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    b"\x00\x00\x00\x00\r\n\r\n",
    b"GET /flags HTTP/1.1\r\nHost: x\r\nX-Nul: a\x00b\r\n\r\n",
]


def hostile_requests():
    """(label, raw bytes) for every case."""
    out = []
    for method, path in WRITE_ROUTES:
        for body in BROKEN_JSON:
            if body == "" and path.startswith("/ofrep/"):
                continue   # OFREP: no body is an empty context (200)
            out.append(("broken JSON %r to %s %s" % (body[:20], method, path), request(method, path, body)))
    for method, path, body in WRONG_TYPES:
        out.append(("wrong type %s %s %s" % (method, path, json.dumps(body)[:40]), request(method, path, body)))
    for n in (200, 5000, 100000):
        out.append(("nested arrays %d" % n, request("POST", "/flags", deep(n, "[", "]"))))
        out.append(("nested objects %d" % n, request("POST", "/evaluate", "{\"flag_name\":\"seed\",\"context\":" +
                                                     deep(n, "{\"a\":", "}").replace("}", "1}", 1) + "}")))
    rule = {"if": [True, "on", "off"]}
    for _ in range(150):
        rule = {"if": [rule, "on", "off"]}
    out.append(("targeting nested 150 deep", request("POST", "/flags", {
        "name": "deep-rule", "variants": {"on": True, "off": False}, "defaultVariant": "on", "targeting": rule})))
    for bad in (b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf"):
        out.append(("invalid UTF-8 body %r" % bad, request("POST", "/flags", b"{\"name\": \"a" + bad + b"\"}")))
        out.append(("invalid UTF-8 in a context %r" % bad,
                    request("POST", "/ofrep/v1/evaluate/flags/seed", b"{\"context\": {\"k\": \"" + bad + b"\"}}")))
    for name in INJECTIONS:
        out.append(("hostile name %r on create" % name[:20], request("POST", "/flags", {"name": name})))
        out.append(("hostile evaluator name %r" % name[:20],
                    request("PUT", "/evaluators/" + name.replace("/", "%2F").replace(" ", "%20").replace("\n", "%0A"),
                            {"rule": True})))
    for path in PATHS:
        out.append(("path %r" % path[:40], request("GET", path)))
        out.append(("path %r (DELETE)" % path[:40], request("DELETE", path)))
    for method, path in METHODS:
        out.append(("method %s %s" % (method, path), request(method, path)))
    for value in AUTHS:
        for method, path in (("GET", "/flags"), ("PUT", "/flags/seed"), ("POST", "/ofrep/v1/evaluate/flags")):
            out.append(("Authorization %r on %s %s" % (value[:30], method, path),
                        request(method, path, {"is_enabled": False} if method == "PUT" else
                                ({"context": {}} if method == "POST" else None),
                                headers={"Authorization": value}, auth=False)))
    for q in ("limit=0", "limit=-1", "limit=1e3", "limit=99999999999999999999", "before=abc", "before=0",
              "object=flags:x", "object=%ff", "object=" + "x" * 2000, "limit=1001"):
        out.append(("audit query %s" % q[:30], request("GET", "/api/v1/audit?" + q)))
    out.append(("If-Match not a version", request("PUT", "/flags/seed", {"is_enabled": False},
                                                  headers={"If-Match": "\"abc\""})))
    out.append(("If-Match stale", request("PUT", "/flags/seed", {"is_enabled": False}, headers={"If-Match": "\"99\""})))
    out.append(("text/plain body", request("POST", "/flags", "{}", headers={"Content-Type": "text/plain"})
                .replace(b"Content-Type: application/json\r\n", b"")))
    out.append(("revoking an unknown key", request("DELETE", "/api/v1/keys/ffffffffffff")))
    out.append(("deleting an evaluator in use", request("DELETE", "/evaluators/seed-rule")))
    out.append(("creating the seed flag again", request("POST", "/flags", {"name": "seed", "is_enabled": True})))
    return out


class Hostile(TMTestCase):

    def test_hostile_requests_get_4xx_and_change_nothing(self):
        url = new_database("hostile")
        migrate(url)
        with Server(url, env={"ADMIN_TOKEN": ADMIN, "AUTH_FAILURE_LIMIT": "0", "MAX_BODY_BYTES": "1048576"}) as s:
            h = {"Authorization": "Bearer " + ADMIN}
            assert s.post("/flags", {"name": "seed", "is_enabled": True}, headers=h).status == 201
            assert s.put("/evaluators/seed-rule", {"rule": {"==": [1, 1]}}, headers=h).status == 201
            assert s.post("/flags", {"name": "uses-rule", "variants": {"on": True, "off": False},
                                     "defaultVariant": "off", "targeting": {"if": [{"$ref": "seed-rule"}, "on"]}},
                          headers=h).status == 201
            before = dump(url)
            cases = hostile_requests()
            self.assertGreaterEqual(len(cases), 200)
            closed = 0
            for label, raw in cases:
                status, body = exchange(s, raw)
                if status is None:
                    closed += 1
                    self.assertTrue(raw[:4] not in (b"GET ", b"POST", b"PUT ", b"DELE") or b"\n\n" in raw or
                                    b"\x00" in raw[:8] or len(raw) > 60000, "closed without an answer: " + label)
                else:
                    self.assertTrue(400 <= status < 500, "%s: got %s %r" % (label, status, body[:200]))
                    try:
                        parsed = json.loads(body)
                    except ValueError:
                        self.fail("%s: not JSON: %r" % (label, body[:200]))
                    self.assertIsInstance(parsed.get("error"), str, label)
                self.assertTrue(s.alive(), "the server died on: " + label)
            self.assertStatus(s.get("/health"), 200)
            self.assertEqual(s.get("/flags/seed", headers=h).json["is_enabled"], True)
            self.assertEqual(dump(url), before, "the database changed")
            print("\n    %d hostile requests: %d answered 4xx, %d closed" % (len(cases), len(cases) - closed, closed))
            stop_and_check(self, s)

    def test_hostile_values_in_contexts_evaluate_and_change_nothing(self):
        """Injection strings are just strings to evaluation: 200, the right
        variant, nothing stored."""
        url = new_database("hostilectx")
        migrate(url)
        with Server(url) as s:
            assert s.post("/flags", {"name": "by-email", "state": "ENABLED", "variants": {"a": "A", "b": "B"}, "defaultVariant": "b",
                                     "targeting": {"if": [{"==": [{"var": "email"}, "x@acme.com"]}, "a", "b"]}}
                          ).status == 201
            before = dump(url)
            for value in INJECTIONS + ["x@acme.com"]:
                r = s.post("/ofrep/v1/evaluate/flags/by-email", {"context": {"email": value, value: value}})
                self.assertStatus(r, 200, value)
                self.assertEqual(r.json.get("value"), "A" if value == "x@acme.com" else "B", "%r: %r" % (value, r.json))
                self.assertEqual(r.json["value"], "A" if value == "x@acme.com" else "B", value)
            self.assertEqual(dump(url), before)
            stop_and_check(self, s)


if __name__ == "__main__":
    unittest.main()
