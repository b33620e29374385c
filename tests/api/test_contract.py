"""The API contract (issue 2's table and the rules around it), black-box.

Runs against whichever backend TM_TEST_BACKEND selects.
"""

import http.client
import json
import re
import signal
import socket
import time
import unittest

from harness import (Server, ServerTestCase, TMTestCase, migrate, new_database, stop_and_check,
                     uniq, SOCKET_TIMEOUT, Response)

RFC3339_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


def raw_exchange(server, request_bytes, timeout=SOCKET_TIMEOUT, method="POST"):
    """Send raw bytes on a new socket, parse one HTTP response.
    Tolerates the server closing/resetting while we still send."""
    s = socket.create_connection((server.host, server.port), timeout=timeout)
    try:
        try:
            s.sendall(request_bytes)
        except (BrokenPipeError, ConnectionResetError):
            pass
        resp = http.client.HTTPResponse(s, method=method)
        resp.begin()
        raw = resp.read()
        return Response(resp.status, resp.headers, raw, resp.reason)
    finally:
        s.close()


class HealthReady(ServerTestCase):

    def test_health(self):
        r = self.server.get("/health")
        self.assertStatus(r, 200)
        self.assertJsonType(r)
        self.assertEqual(r.json, {"status": "ok"}, repr(r))

    def test_ready(self):
        r = self.server.get("/ready")
        self.assertStatus(r, 200)
        self.assertJsonType(r)
        self.assertEqual(r.json.get("status"), "ready", repr(r))

    def test_health_with_query_string(self):
        r = self.server.get("/health?probe=1")
        self.assertStatus(r, 200)
        self.assertEqual(r.json, {"status": "ok"}, repr(r))


class CreateFlag(ServerTestCase):

    def test_create_default_false(self):
        n = uniq("create")
        r = self.server.post("/flags", {"name": n})
        self.assertStatus(r, 201)
        self.assertJsonType(r)
        self.assertEqual(r.json.get("message"), "Flag '%s' created successfully" % n, repr(r))
        self.assertFlag(self.server, n, False)

    def test_create_enabled_true(self):
        n = uniq("on")
        r = self.server.post("/flags", {"name": n, "is_enabled": True})
        self.assertStatus(r, 201)
        self.assertEqual(r.json.get("message"), "Flag '%s' created successfully" % n, repr(r))
        self.assertFlag(self.server, n, True)

    def test_create_enabled_false_explicit(self):
        n = uniq("off")
        self.assertStatus(self.server.post("/flags", {"name": n, "is_enabled": False}), 201)
        self.assertFlag(self.server, n, False)

    def test_create_duplicate_409(self):
        n = uniq("dup")
        self.assertStatus(self.server.post("/flags", {"name": n, "is_enabled": True}), 201)
        r = self.server.post("/flags", {"name": n, "is_enabled": False})
        self.assertError(r, 409)
        self.assertFlag(self.server, n, True, "duplicate create must not change the flag: ")

    def test_names_are_case_sensitive(self):
        n = uniq("Case")
        self.assertStatus(self.server.post("/flags", {"name": n, "is_enabled": True}), 201)
        self.assertStatus(self.server.post("/flags", {"name": n.lower()}), 201,
                          "a name differing only in case is another flag: ")
        self.assertFlag(self.server, n, True)
        self.assertFlag(self.server, n.lower(), False)

    def test_missing_name_400(self):
        for body in ({}, {"is_enabled": True}, {"Name": "x"}):
            self.assertError(self.server.post("/flags", body), 400, "body %r: " % (body,))

    def test_non_string_name_400(self):
        for name in (123, None, True, [], {}, ["a"], 1.5):
            self.assertError(self.server.post("/flags", {"name": name}), 400, "name %r: " % (name,))

    def test_empty_name_400(self):
        self.assertError(self.server.post("/flags", {"name": ""}), 400)

    def test_is_enabled_non_boolean_400(self):
        for val in (1, 0, "true", "false", None, [], {}, 1.0):
            n = uniq("nb")
            r = self.server.post("/flags", {"name": n, "is_enabled": val})
            self.assertError(r, 400, "is_enabled=%r: " % (val,))
            self.assertNoFlag(self.server, n, "rejected create must not create: ")

    def test_body_not_object_400(self):
        for raw in ("[]", "1", '"x"', "null", "true", '["name"]', '[{"name":"x"}]'):
            self.assertError(self.server.post("/flags", data=raw), 400, "body %r: " % raw)

    def test_empty_body_400(self):
        self.assertError(self.server.post("/flags", data=b""), 400)
        # no body at all, no Content-Length
        r = self.server.request("POST", "/flags")
        self.assertError(r, 400, "POST without body: ")

    def test_whitespace_body_400(self):
        self.assertError(self.server.post("/flags", data=b"  \n "), 400)

    def test_malformed_json_400_names_problem(self):
        for raw in ('{"name": ', "{name: 1}", "{'name': 'x'}", '{"name":"a",}',
                    '{"name":"x"} trailing', "{", "}", "nul", '{"name":"a" "is_enabled":true}'):
            r = self.server.post("/flags", data=raw)
            self.assertError(r, 400, "body %r: " % raw)
        self.assertNoFlag(self.server, "x")
        self.assertNoFlag(self.server, "a")

    def test_invalid_utf8_body_400(self):
        r = self.server.post("/flags", data=b'{"name":"ab\xff\xfe"}')
        self.assertError(r, 400)
        r = self.server.post("/flags", data=b'{"name":"a\\u0000b"}')
        self.assertError(r, 400, "NUL inside name: ")

    def test_extra_keys_ignored(self):
        n = uniq("extra")
        r = self.server.post("/flags", {"name": n, "is_enabled": True, "description": "x",
                                        "id": 99999, "nested": {"a": [1, 2]}, "created_at": "now"})
        self.assertStatus(r, 201)
        self.assertFlag(self.server, n, True)

    def test_name_length_100_ok_101_rejected(self):
        n100 = "L" + uniq("len").replace("-", "x")
        n100 = (n100 + "z" * 100)[:100]
        n101 = n100[:99] + "yy"
        self.assertEqual((len(n100), len(n101)), (100, 101))
        r = self.server.post("/flags", {"name": n100})
        self.assertStatus(r, 201, "100-char name: ")
        self.assertFlag(self.server, n100, False)
        self.assertError(self.server.post("/flags", {"name": n101}), 400, "101-char name: ")
        self.assertError(self.server.post("/flags", {"name": "a" * 5000}), 400, "5000-char name: ")

    def test_name_bad_characters_400(self):
        bad = ["a b", "a/b", "a?b", "a#b", "a%b", "a*b", "caf\u00e9", "a\tb", "a\nb",
               "a\"b", "a'b", "a\\b", "a,b", "a;b", "a@b", "a+b", "a=b", "a&b", "\u2603",
               " a", "a ", ".a", "-a", ":a", "_a", ".", "-", ":", "..", "a\u0000"]
        for name in bad:
            r = self.server.post("/flags", {"name": name})
            self.assertError(r, 400, "name %r: " % name)

    def test_name_allowed_characters(self):
        tag = uniq("ok").replace("-", "")
        for name in ("A" + tag, "9" + tag, "z." + tag, "a-b:c.d-" + tag, "x:" + tag, "a_b_" + tag,
                     "Q" + tag + "...", "0" + tag + "--"):
            r = self.server.post("/flags", {"name": name})
            self.assertStatus(r, 201, "name %r: " % name)
            self.assertFlag(self.server, name, False)


class ReadUpdateDelete(ServerTestCase):

    def test_get_unknown_404(self):
        r = self.server.get("/flags/" + uniq("nope"))
        self.assertError(r, 404)
        self.assertEqual(r.json, {"error": "Flag not found"}, repr(r))

    def test_get_shape(self):
        n = uniq("shape")
        self.server.post("/flags", {"name": n, "is_enabled": True})
        r = self.server.get("/flags/" + n)
        self.assertStatus(r, 200)
        self.assertJsonType(r)
        self.assertEqual({k: r.json[k] for k in ("name", "is_enabled")},
                         {"name": n, "is_enabled": True}, repr(r))

    def test_get_with_query_string(self):
        n = uniq("qs")
        self.server.post("/flags", {"name": n})
        self.assertStatus(self.server.get("/flags/%s?x=1" % n), 200)

    def test_put_updates(self):
        n = uniq("put")
        self.assertStatus(self.server.post("/flags", {"name": n}), 201)
        r = self.server.put("/flags/" + n, {"is_enabled": True})
        self.assertStatus(r, 200)
        self.assertJsonType(r)
        self.assertEqual(r.json.get("message"), "Flag '%s' updated" % n, repr(r))
        self.assertFlag(self.server, n, True)
        r = self.server.put("/flags/" + n, {"is_enabled": False})
        self.assertStatus(r, 200)
        self.assertFlag(self.server, n, False)
        # same value again is still a success
        self.assertStatus(self.server.put("/flags/" + n, {"is_enabled": False}), 200)
        self.assertFlag(self.server, n, False)

    def test_put_unknown_404(self):
        n = uniq("ghost")
        self.assertError(self.server.put("/flags/" + n, {"is_enabled": True}), 404)
        self.assertNoFlag(self.server, n, "PUT must not create: ")

    def test_put_missing_is_enabled_400(self):
        n = uniq("pm")
        self.server.post("/flags", {"name": n, "is_enabled": True})
        for body in ({}, {"enabled": False}, {"name": n}):
            self.assertError(self.server.put("/flags/" + n, body), 400, "body %r: " % (body,))
        self.assertFlag(self.server, n, True)

    def test_put_non_boolean_400(self):
        n = uniq("pnb")
        self.server.post("/flags", {"name": n, "is_enabled": True})
        for val in (0, 1, "false", "true", None, [], {}, 0.0):
            r = self.server.put("/flags/" + n, {"is_enabled": val})
            self.assertError(r, 400, "is_enabled=%r: " % (val,))
        self.assertFlag(self.server, n, True, "rejected PUTs must not change the flag: ")

    def test_put_body_not_object_empty_or_malformed_400(self):
        n = uniq("pbad")
        self.server.post("/flags", {"name": n, "is_enabled": True})
        for raw in ("[]", "false", '"x"', "null", "", "{", '{"is_enabled": fals}',
                    '{"is_enabled": false} x'):
            self.assertError(self.server.put("/flags/" + n, data=raw), 400, "body %r: " % raw)
        self.assertFlag(self.server, n, True)

    def test_put_extra_keys_ignored(self):
        n, other = uniq("pex"), uniq("other")
        self.server.post("/flags", {"name": n})
        r = self.server.put("/flags/" + n, {"is_enabled": True, "name": other, "x": [1]})
        self.assertStatus(r, 200)
        self.assertFlag(self.server, n, True)
        self.assertNoFlag(self.server, other, "name in a PUT body must be ignored: ")

    def test_delete(self):
        n = uniq("del")
        self.server.post("/flags", {"name": n, "is_enabled": True})
        r = self.server.delete("/flags/" + n)
        self.assertStatus(r, 204)
        self.assertEqual(r.raw, b"", "204 must have no body: %r" % r)
        self.assertNoFlag(self.server, n, "after DELETE: ")
        self.assertError(self.server.delete("/flags/" + n), 404, "second DELETE: ")
        self.assertError(self.server.put("/flags/" + n, {"is_enabled": True}), 404,
                         "PUT after DELETE: ")
        # the name is free again, with the default state
        self.assertStatus(self.server.post("/flags", {"name": n}), 201, "re-create: ")
        self.assertFlag(self.server, n, False)

    def test_delete_unknown_404(self):
        self.assertError(self.server.delete("/flags/" + uniq("never")), 404)

    def test_invalid_names_in_path(self):
        n = uniq("pathok")
        self.server.post("/flags", {"name": n})
        paths = ["/flags/.hidden", "/flags/-dash", "/flags/_u", "/flags/a%20b", "/flags/%20",
                 "/flags/a%2Fb", "/flags/" + "a" * 101, "/flags/" + "b" * 5000, "/flags/%00",
                 "/flags/a%00b", "/flags/%ff%fe", "/flags/caf%C3%A9", "/flags/%2e%2e",
                 "/flags/..", "/flags/%", "/flags/%zz", "/flags/a%2"]
        for p in paths:
            for method in ("GET", "PUT", "DELETE"):
                body = {"is_enabled": True} if method == "PUT" else None
                if body is None:
                    r = self.server.request(method, p)
                else:
                    r = self.server.request(method, p, body)
                if "%" in p and re.search(r"%(?![0-9a-fA-F]{2})", p):
                    # broken percent-encoding: 400 or 404, as long as it is a JSON error
                    self.assertIn(r.status, (400, 404), "%s %s: %r" % (method, p, r))
                    self.assertError(r, r.status, "%s %s: " % (method, p))
                else:
                    self.assertError(r, 404, "%s %s: " % (method, p))
        self.assertStatus(self.server.get("/health"), 200, "server still alive: ")
        self.assertFlag(self.server, n, False)

    def test_nul_after_valid_name_in_path(self):
        # "<name>%00" decodes to a name with a NUL byte: not a valid name, so 404;
        # a C string would silently truncate it to <name>.
        n = uniq("nul")
        self.server.post("/flags", {"name": n})
        self.assertError(self.server.get("/flags/%s%%00" % n), 404, "GET <name>%00: ")
        self.assertError(self.server.put("/flags/%s%%00" % n, {"is_enabled": True}), 404,
                         "PUT <name>%00: ")
        self.assertError(self.server.delete("/flags/%s%%00x" % n), 404, "DELETE <name>%00x: ")
        self.assertFlag(self.server, n, False)

    def test_trailing_slash_is_not_a_flag(self):
        self.assertError(self.server.get("/flags/"), 404)

    def test_percent_decoding_once(self):
        self.server.post("/flags", {"name": "my-flag", "is_enabled": True})
        self.assertFlag(self.server, "my-flag", True)
        r = self.server.get("/flags/my%2Dflag")
        self.assertStatus(r, 200, "percent-encoded '-': ")
        self.assertEqual(r.json.get("name"), "my-flag", repr(r))
        r = self.server.get("/flags/%6D%79%2d%66lag")
        self.assertStatus(r, 200, "fully encoded, lower-case hex: ")
        self.assertEqual(r.json.get("name"), "my-flag", repr(r))
        r = self.server.put("/flags/my%2Dflag", {"is_enabled": False})
        self.assertStatus(r, 200, "PUT through encoded path: ")
        self.assertFlag(self.server, "my-flag", False)
        # decoded once only: a%252Db -> literal "a%2Db" (invalid name) -> 404, not "a-b"
        self.server.post("/flags", {"name": "a-b"})
        self.assertFlag(self.server, "a-b", False)
        self.assertError(self.server.get("/flags/a%252Db"), 404, "double decoding: ")
        self.assertError(self.server.delete("/flags/a%252Db"), 404, "double decoding: ")
        self.assertFlag(self.server, "a-b", False)
        r = self.server.delete("/flags/a%2Db")
        self.assertStatus(r, 204, "DELETE through encoded path: ")
        self.assertNoFlag(self.server, "a-b")


class ListAndPaging(ServerTestCase):

    def setUp(self):
        self.reset_flags()

    def list(self, qs=""):
        r = self.server.get("/flags" + qs)
        self.assertStatus(r, 200, "GET /flags%s: " % qs)
        self.assertJsonType(r)
        self.assertIsInstance(r.json, list, repr(r))
        return r.json

    def test_empty_list(self):
        self.assertEqual(self.list(), [])

    def test_list_byte_order(self):
        names = ["B", "a", "Z9", "a.b", "a-b", "a:b", "0", "9z", "A", "a0", "aa", "Ab", "a.",
                 "b", "Z", "zz", "z-", "M:1"]
        states = {}
        for i, n in enumerate(names):
            states[n] = (i % 3 == 0)
            self.assertStatus(self.server.post("/flags", {"name": n, "is_enabled": states[n]}), 201)
        expected = [{"name": n, "is_enabled": states[n]}
                    for n in sorted(names, key=lambda s: s.encode())]
        got = [{"name": f.get("name"), "is_enabled": f.get("is_enabled")} for f in self.list()]
        self.assertEqual(got, expected, "GET /flags must be ordered by byte order")

    def test_list_reflects_writes(self):
        self.server.post("/flags", {"name": "one"})
        self.server.post("/flags", {"name": "two", "is_enabled": True})
        self.server.put("/flags/one", {"is_enabled": True})
        self.server.delete("/flags/two")
        got = [{k: f[k] for k in ("name", "is_enabled")} for f in self.list()]
        self.assertEqual(got, [{"name": "one", "is_enabled": True}])

    def test_pagination(self):
        names = ["n%02d" % i for i in range(10)]
        for n in reversed(names):
            self.assertStatus(self.server.post("/flags", {"name": n}), 201)
        page = lambda qs: [f["name"] for f in self.list(qs)]
        self.assertEqual(page(""), names)
        self.assertEqual(page("?limit=3"), names[:3])
        self.assertEqual(page("?limit=3&after=n02"), names[3:6])
        self.assertEqual(page("?after=n02&limit=3"), names[3:6], "parameter order")
        self.assertEqual(page("?after=n07"), names[8:], "after without limit")
        self.assertEqual(page("?after=n09"), [])
        self.assertEqual(page("?after=n025&limit=2"), ["n03", "n04"], "after a missing name")
        self.assertEqual(page("?after=A"), names, "after sorts before all")
        self.assertEqual(page("?limit=1"), ["n00"])
        self.assertEqual(page("?limit=10000"), names)
        # walk page by page with limit=1
        walked, after = [], None
        for _ in range(20):
            p = page("?limit=1" + ("&after=" + after if after else ""))
            if not p:
                break
            walked += p
            after = p[-1]
        self.assertEqual(walked, names)

    def test_full_view_pages_whole_documents(self):
        """?view=full: the documents GET /flags/<name> answers, a page at a
        time (what the console loads the list with: one request per
        thousand flags, not one per flag)."""
        names = ["v%02d" % i for i in range(5)]
        for i, n in enumerate(names):
            self.assertStatus(self.server.post("/flags", {"name": n, "description": "d%d" % i, "is_enabled": i % 2 == 0,
                                                          "variants": {"a": i, "b": i + 1}, "defaultVariant": "b"}), 201)
        one_by_one = [self.server.get("/flags/" + n).json for n in names]
        self.assertEqual(self.list("?view=full"), one_by_one)
        self.assertEqual(self.list("?view=full&limit=2"), one_by_one[:2])
        self.assertEqual(self.list("?view=full&limit=2&after=v01"), one_by_one[2:4])
        self.assertEqual(self.list("?view=summary"), [{"name": n, "is_enabled": i % 2 == 0} for i, n in enumerate(names)])
        for qs in ("?view=", "?view=FULL", "?view=everything"):
            self.assertError(self.server.get("/flags" + qs), 400, qs)

    def test_pagination_bad_limit_400(self):
        self.server.post("/flags", {"name": "x1"})
        for qs in ("?limit=0", "?limit=-1", "?limit=10001", "?limit=abc", "?limit=",
                   "?limit=1.5", "?limit=99999999999999999999", "?limit=3x"):
            self.assertError(self.server.get("/flags" + qs), 400, "GET /flags%s: " % qs)


class HttpBehaviour(ServerTestCase):

    def test_unknown_path_404_json(self):
        for method, path in (("GET", "/nope"), ("GET", "/flagsx"), ("GET", "/assets"), ("GET", "/assets/nope.js"),
                             ("GET", "/flags/a/b"), ("POST", "/nope"), ("GET", "/assets/a/b"),
                             ("GET", "/health/x"), ("GET", "//flags")):
            self.assertError(self.server.request(method, path), 404, "%s %s: " % (method, path))
        # "/" is the console's page (GET only).
        self.check_405("DELETE", "/", ["GET", "HEAD"])

    def check_405(self, method, path, allowed):
        r = self.server.request(method, path, data=b"{}" if method in ("POST", "PUT", "PATCH") else None)
        self.assertError(r, 405, "%s %s: " % (method, path))
        allow = r.header("Allow")
        self.assertIsNotNone(allow, "405 must carry Allow: %r" % r)
        got = {m.strip().upper() for m in allow.split(",") if m.strip()}
        self.assertEqual(got, set(allowed), "%s %s Allow header: %r" % (method, path, r))

    def test_405_with_allow(self):
        n = uniq("m")
        self.server.post("/flags", {"name": n})
        self.check_405("DELETE", "/flags", ("GET", "HEAD", "POST"))
        self.check_405("PUT", "/flags", ("GET", "HEAD", "POST"))
        self.check_405("PATCH", "/flags", ("GET", "HEAD", "POST"))
        self.check_405("PATCH", "/flags/" + n, ("GET", "HEAD", "PUT", "DELETE"))
        self.check_405("POST", "/flags/" + n, ("GET", "HEAD", "PUT", "DELETE"))
        self.check_405("POST", "/flags/" + uniq("absent"), ("GET", "HEAD", "PUT", "DELETE"))
        self.check_405("POST", "/health", ("GET", "HEAD"))
        self.check_405("DELETE", "/health", ("GET", "HEAD"))
        self.check_405("POST", "/ready", ("GET", "HEAD"))
        self.assertFlag(self.server, n, False)

    def test_head(self):
        n = uniq("head")
        self.server.post("/flags", {"name": n, "is_enabled": True})
        for path, status in (("/health", 200), ("/ready", 200), ("/flags", 200),
                             ("/flags/" + n, 200), ("/flags/" + uniq("nohead"), 404)):
            g = self.server.get(path)
            h = self.server.head(path)
            self.assertEqual((g.status, h.status), (status, status), "HEAD %s: %r / %r" % (path, g, h))
            self.assertEqual(h.raw, b"", "HEAD must have no body: %r" % h)
            self.assertJsonType(h, "HEAD %s: " % path)
            cl = h.header("Content-Length")
            if cl is not None:
                self.assertEqual(int(cl), len(g.raw), "HEAD Content-Length vs GET body: %r" % h)

    def test_body_limit_413(self):
        prefix = b'{"name":"big","pad":"'
        body = prefix + b"x" * (70000 - len(prefix) - 2) + b'"}'
        self.assertEqual(len(body), 70000)
        req = (b"POST /flags HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n" % len(body)) + body
        r = raw_exchange(self.server, req)
        self.assertError(r, 413, "70000-byte POST: ")
        n = uniq("big")
        self.server.post("/flags", {"name": n})
        req = (b"PUT /flags/%s HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n" % (n.encode(), len(body))) + body
        r = raw_exchange(self.server, req, method="PUT")
        self.assertError(r, 413, "70000-byte PUT: ")
        self.assertNoFlag(self.server, "big")
        self.assertFlag(self.server, n, False)
        self.assertStatus(self.server.get("/health"), 200)

    def test_body_limit_413_chunked(self):
        chunk = b"x" * 10000
        req = (b"POST /flags HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n")
        req += b'%x\r\n{"name":"chunky","pad":"\r\n' % len(b'{"name":"chunky","pad":"')
        for _ in range(7):
            req += b"%x\r\n%s\r\n" % (len(chunk), chunk)
        req += b'2\r\n"}\r\n0\r\n\r\n'
        r = raw_exchange(self.server, req)
        self.assertError(r, 413, "70 KB chunked POST: ")
        self.assertNoFlag(self.server, "chunky")

    def test_body_limit_boundary(self):
        n = uniq("edge")
        core = json.dumps({"name": n, "is_enabled": True}).encode()
        exact = core + b" " * (65536 - len(core))
        self.assertEqual(len(exact), 65536)
        self.assertStatus(self.server.post("/flags", data=exact), 201, "65536-byte body is allowed: ")
        self.assertFlag(self.server, n, True)
        n2 = uniq("edge")
        core = json.dumps({"name": n2}).encode()
        over = core + b" " * (65537 - len(core))
        req = (b"POST /flags HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n" % len(over)) + over
        self.assertError(raw_exchange(self.server, req), 413, "65537-byte body: ")
        self.assertNoFlag(self.server, n2)

    def test_keep_alive_reuses_connection(self):
        n = uniq("ka")
        conn = http.client.HTTPConnection(self.server.host, self.server.port, timeout=SOCKET_TIMEOUT)
        try:
            steps = [("GET", "/health", None), ("POST", "/flags", json.dumps({"name": n})),
                     ("GET", "/flags/" + n, None), ("GET", "/flags/" + uniq("missing"), None),
                     ("PUT", "/flags/" + n, '{"is_enabled": true}'), ("GET", "/flags", None)]
            sock, local = None, None
            for method, path, body in steps:
                hdrs = {"Content-Type": "application/json"} if body else {}
                conn.request(method, path, body=body, headers=hdrs)
                resp = conn.getresponse()
                raw = resp.read()
                what = "%s %s -> %d %r" % (method, path, resp.status, raw[:200])
                self.assertNotEqual((resp.getheader("Connection") or "").lower(), "close",
                                    "server asked to close the connection: " + what)
                self.assertFalse(resp.will_close, "response would close the connection: " + what)
                if sock is None:
                    sock, local = conn.sock, conn.sock.getsockname()
                else:
                    self.assertIs(conn.sock, sock, "new socket opened: " + what)
                    self.assertEqual(conn.sock.getsockname(), local, "local port changed: " + what)
        finally:
            conn.close()

    def test_request_id_honoured_and_logged(self):
        n = uniq("rid")
        self.server.post("/flags", {"name": n})
        rid = "test-rid_%s.ABC:~!" % n
        r = self.server.get("/flags/" + n, headers={"X-Request-Id": rid})
        self.assertStatus(r, 200)
        self.assertEqual(r.header("X-Request-Id"), rid, "sane X-Request-Id must be echoed: %r" % r)
        line = self.server.wait_log(lambda o: o.get("message") == "request"
                                    and o.get("request_id") == rid)
        self.assertIsNotNone(line, "no access log line with request_id %r in stdout:\n%s"
                             % (rid, self.server.stdout_text()[-2000:]))
        self.assertEqual(line.get("method"), "GET", line)
        self.assertEqual(line.get("path"), "/flags/" + n, line)
        self.assertEqual(line.get("status"), 200, line)
        for k in ("duration_ms", "bytes"):
            self.assertTrue(isinstance(line.get(k), (int, float)) and not isinstance(line.get(k), bool),
                            "%s must be a number: %r" % (k, line))
            self.assertGreaterEqual(line[k], 0, line)
        self.assertRegex(line.get("time", ""), RFC3339_Z, "time must be RFC 3339 UTC: %r" % line)
        self.assertIn(line.get("level"), ("info", "INFO"), line)

    def test_request_id_boundaries(self):
        ok128 = "r" * 128
        r = self.server.get("/health", headers={"X-Request-Id": ok128})
        self.assertEqual(r.header("X-Request-Id"), ok128, "128 chars must be honoured: %r" % r)
        r = self.server.get("/health", headers={"X-Request-Id": "1"})
        self.assertEqual(r.header("X-Request-Id"), "1", "1 char must be honoured: %r" % r)
        for bad in ("r" * 129, "x" * 200, "", "a\tb", "caf\u00e9"):
            r = self.server.get("/health", headers={"X-Request-Id": bad})
            self.assertStatus(r, 200)
            got = r.header("X-Request-Id")
            self.assertTrue(got, "a request id must be generated for %r: %r" % (bad, r))
            self.assertNotEqual(got, bad, "insane X-Request-Id %r must be replaced: %r" % (bad, r))
            self.assertLessEqual(len(got), 128, repr(r))

    def test_request_id_generated(self):
        ids = set()
        for path in ("/health", "/flags", "/nope"):
            r = self.server.get(path)
            rid = r.header("X-Request-Id")
            self.assertTrue(rid, "response must carry a generated X-Request-Id: %r" % r)
            ids.add(rid)
        self.assertEqual(len(ids), 3, "generated ids must differ: %r" % ids)
        for r in (self.server.post("/flags", data=b"{"), self.server.request("PATCH", "/flags")):
            self.assertTrue(r.header("X-Request-Id"), "error responses carry an id too: %r" % r)

    def test_all_log_lines_are_json(self):
        self.server.get("/health")
        self.server.get("/nope")
        time.sleep(0.2)
        lines = [l for l in self.server.stdout_text().splitlines() if l.strip()]
        self.assertTrue(lines, "no log output at all")
        for l in lines:
            try:
                obj = json.loads(l)
            except ValueError:
                self.fail("stdout line is not JSON: %r" % l)
            self.assertIsInstance(obj, dict, l)
            for k in ("time", "level", "message"):
                self.assertIn(k, obj, "log line lacks %r: %r" % (k, l))
            self.assertRegex(obj["time"], RFC3339_Z, l)
        listening = [json.loads(l) for l in lines if json.loads(l).get("message") == "listening"]
        self.assertTrue(listening, "no 'listening' line: %r" % lines[:5])


class Durability(TMTestCase):

    def test_acknowledged_write_survives_sigkill(self):
        db = new_database("durable")
        migrate(db)
        names = [uniq("dur") for _ in range(5)]
        with Server(db) as s:
            for i, n in enumerate(names):
                self.assertStatus(s.post("/flags", {"name": n}), 201)
            self.assertStatus(s.put("/flags/" + names[0], {"is_enabled": True}), 200)
            self.assertStatus(s.delete("/flags/" + names[1]), 204)
            s.stop(signal.SIGKILL)
        with Server(db) as s2:
            self.assertFlag(s2, names[0], True, "after kill -9: ")
            self.assertNoFlag(s2, names[1], "after kill -9: ")
            for n in names[2:]:
                self.assertFlag(s2, n, False, "after kill -9: ")
            stop_and_check(self, s2)


if __name__ == "__main__":
    unittest.main()
