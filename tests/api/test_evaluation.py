"""Flag evaluation (issue 10), black-box: flag documents, partial updates
with If-Match, evaluators, OFREP single and bulk, the native /evaluate,
flagd files in and out, and the change feed for all of it. Runs against
whichever backend TM_TEST_BACKEND selects.
"""

import json
import os
import signal
import time
import unittest

from harness import (BACKEND, Server, ServerTestCase, TMTestCase, get_pg, migrate, new_database, pg_dbname,
                     read_until_closed, run_cmd, stop_and_check, tmpdir, uniq)

OFREP = "/ofrep/v1/evaluate/flags"

COLOR = {
    "state": "ENABLED",
    "variants": {"red": "#f00", "blue": "#00f", "green": "#0f0"},
    "defaultVariant": "red",
    "targeting": {"if": [{"ends_with": [{"var": "email"}, "@acme.com"]}, "blue",
                         {"fractional": [["red", 10], ["green", 90]]}]},
}


def ofrep(server, key, context=None, body=None):
    return server.post(OFREP + "/" + key, {"context": context or {}} if body is None else body)


class Documents(ServerTestCase):

    def test_original_shape_is_a_boolean_document(self):
        name = uniq("orig")
        self.assertStatus(self.server.post("/flags", {"name": name, "is_enabled": True}), 201)
        r = self.server.get("/flags/" + name)
        self.assertStatus(r, 200)
        self.assertEqual(r.header("ETag"), '"1"')
        for k, v in {"name": name, "is_enabled": True, "state": "ENABLED", "type": "boolean",
                     "variants": {"on": True, "off": False}, "defaultVariant": "on", "version": 1}.items():
            self.assertEqual(r.json.get(k), v, k)
        self.assertNotIn("targeting", r.json)
        listed = [f for f in self.server.get("/flags").json if f["name"] == name]
        self.assertEqual(listed, [{"name": name, "is_enabled": True}], "GET /flags keeps the original's keys")
        page = self.server.get("/flags?limit=1&after=" + name[:-1]).json
        self.assertEqual(set(page[0]), {"name", "is_enabled"}, "pages too: %r" % page)

    def test_whole_document_round_trips(self):
        name = uniq("doc")
        doc = dict(COLOR, name=name, metadata={"team": "web", "tier": 2}, description="header colour")
        self.assertStatus(self.server.post("/flags", doc), 201)
        got = self.server.get("/flags/" + name).json
        for k in ("variants", "defaultVariant", "targeting", "metadata", "description"):
            self.assertEqual(got[k], doc[k], k)
        self.assertEqual((got["type"], got["state"], got["is_enabled"]), ("string", "ENABLED", True))
        self.assertRegex(got["created_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

    def test_invalid_documents_name_the_problem(self):
        cases = [
            ({"targeting": {"foo": [1]}}, 'targeting: unknown operator "foo"'),
            ({"variants": {"red": "#f00", "blue": 1}}, "variants.blue: must be a string like the other variants"),
            ({"variants": {"a": 1}, "defaultVariant": "x"}, 'defaultVariant: "x" is not a variant'),
            ({"targeting": {"if": [{"==": [1]}, "on", "off"]}}, "targeting.if[0]: == takes 2 arguments, not 1"),
            ({"targeting": {"fractional": [["on", 50.5], ["off", 49.5]]}},
             "targeting: fractional's weights are integers from 0"),
            ({"targeting": {"if": [{"$ref": "no-such"}, "on", "off"]}},
             'targeting.if[0]: $ref "no-such" names no shared rule ($evaluators)'),
            ({"state": "MAYBE"}, 'state: must be "ENABLED" or "DISABLED"'),
            ({"state": "DISABLED", "is_enabled": True}, "'is_enabled' and 'state' disagree; give one of them"),
            ({"metadata": {"owner": {"team": "x"}}}, "metadata.owner: must be a string, number or boolean"),
        ]
        for body, message in cases:
            name = uniq("bad")
            r = self.server.post("/flags", dict(body, name=name))
            self.assertError(r, 400, "%r: " % body)
            self.assertEqual(r.json["error"], message)
            self.assertNoFlag(self.server, name)

    def test_put_changes_any_subset_and_counts_versions(self):
        name = uniq("put")
        self.assertStatus(self.server.post("/flags", dict(COLOR, name=name)), 201)
        self.assertStatus(self.server.put("/flags/" + name, {"is_enabled": False}), 200)   # the toggle
        got = self.server.get("/flags/" + name).json
        self.assertEqual((got["is_enabled"], got["state"], got["version"]), (False, "DISABLED", 2))
        self.assertEqual(got["targeting"], COLOR["targeting"], "a toggle keeps the document")
        self.assertStatus(self.server.put("/flags/" + name, {"description": "d", "state": "ENABLED"}), 200)
        got = self.server.get("/flags/" + name).json
        self.assertEqual((got["is_enabled"], got["description"], got["version"]), (True, "d", 3))
        self.assertStatus(self.server.put("/flags/" + name, {"targeting": None, "description": None}), 200)
        got = self.server.get("/flags/" + name).json
        self.assertNotIn("targeting", got)
        self.assertNotIn("description", got)
        r = self.server.put("/flags/" + name, {"variants": {"a": 1, "b": "x"}})
        self.assertError(r, 400)
        self.assertEqual(r.json["error"], "variants.b: must be a number like the other variants")
        r = self.server.put("/flags/" + name, {"variants": {"one": 1, "two": 2}})
        self.assertError(r, 400, "a flag keeps its type: ")
        self.assertIn("must stay a string", r.json["error"])
        self.assertEqual(self.server.get("/flags/" + name).json["version"], 4, "a refused change writes nothing")
        self.assertError(self.server.put("/flags/" + name, {}), 400)
        self.assertError(self.server.put("/flags/" + uniq("ghost"), {"description": "x"}), 404)

    def test_if_match(self):
        name = uniq("etag")
        self.assertStatus(self.server.post("/flags", {"name": name}), 201)
        etag = self.server.get("/flags/" + name).header("ETag")
        self.assertEqual(self.server.get("/flags/" + name, headers={"If-None-Match": etag}).status, 304)
        self.assertStatus(self.server.put("/flags/" + name, {"is_enabled": True}, headers={"If-Match": etag}), 200)
        self.assertEqual(self.server.get("/flags/" + name, headers={"If-None-Match": etag}).status, 200)
        r = self.server.put("/flags/" + name, {"is_enabled": False}, headers={"If-Match": etag})
        self.assertError(r, 412, "a stale If-Match: ")
        self.assertFlag(self.server, name, True)
        self.assertStatus(self.server.put("/flags/" + name, {"description": "x"}, headers={"If-Match": "2"}), 200)
        self.assertStatus(self.server.put("/flags/" + name, {"is_enabled": False}, headers={"If-Match": "*"}), 200)
        self.assertError(self.server.put("/flags/" + name, {"is_enabled": False}, headers={"If-Match": "v7"}), 400)
        self.assertError(self.server.put("/flags/" + uniq("ghost"), {"is_enabled": False},
                                         headers={"If-Match": "1"}), 404)


class Evaluators(ServerTestCase):

    def test_shared_fragments(self):
        ev, name = uniq("staff"), uniq("beta")
        r = self.server.put("/evaluators/" + ev, {"rule": {"ends_with": [{"var": "email"}, "@acme.com"]}})
        self.assertStatus(r, 201)
        self.assertStatus(self.server.post("/flags", {
            "name": name, "state": "ENABLED", "variants": {"on": True, "off": False}, "defaultVariant": "off",
            "targeting": {"if": [{"$ref": ev}, "on", None]}}), 201)
        self.assertEqual(ofrep(self.server, name, {"email": "a@acme.com"}).json["variant"], "on")
        self.assertEqual(ofrep(self.server, name, {"email": "a@other.com"}).json["reason"], "DEFAULT")
        # Changing the fragment changes every flag that uses it, at once.
        self.assertStatus(self.server.put("/evaluators/" + ev,
                                          {"rule": {"ends_with": [{"var": "email"}, "@other.com"]}}), 200)
        self.assertEqual(ofrep(self.server, name, {"email": "a@other.com"}).json["variant"], "on")
        self.assertEqual(ofrep(self.server, name, {"email": "a@acme.com"}).json["reason"], "DEFAULT")
        got = self.server.get("/evaluators/" + ev).json
        self.assertEqual((got["version"], got["used_by"]), (2, [name]))
        self.assertIn(ev, [e["name"] for e in self.server.get("/evaluators").json["evaluators"]])
        r = self.server.delete("/evaluators/" + ev)
        self.assertError(r, 409)
        self.assertIn(name, r.json["error"])
        self.assertStatus(self.server.put("/flags/" + name, {"targeting": None}), 200)
        self.assertStatus(self.server.delete("/evaluators/" + ev), 204)
        self.assertError(self.server.get("/evaluators/" + ev), 404)
        self.assertError(self.server.delete("/evaluators/" + ev), 404)

    def test_refused_fragments(self):
        a, b = uniq("a"), uniq("b")
        self.assertStatus(self.server.put("/evaluators/" + a, {"rule": {"!": {"var": "x"}}}), 201)
        self.assertStatus(self.server.put("/evaluators/" + b, {"rule": {"!": {"$ref": a}}}), 201)
        r = self.server.put("/evaluators/" + a, {"rule": {"!": {"$ref": b}}})
        self.assertError(r, 400, "a cycle: ")
        self.assertIn('makes a cycle through', r.json["error"])
        self.assertError(self.server.put("/evaluators/" + uniq("c"), {"rule": {"nope": 1}}), 400)
        self.assertError(self.server.put("/evaluators/" + uniq("c"), {"no_rule": 1}), 400)
        self.assertError(self.server.put("/evaluators/bad%20name", {"rule": {"var": "x"}}), 400)
        self.assertError(self.server.delete("/evaluators/" + a), 409, "used by another evaluator: ")


class Ofrep(ServerTestCase):

    def test_acme_to_one_variant_and_a_ten_ninety_split_for_everyone_else(self):
        """The issue's "done when": a string flag with three variants, every
        @acme.com email to one, everyone else split 10/90, sticky."""
        name = uniq("color")
        self.assertStatus(self.server.post("/flags", dict(COLOR, name=name)), 201)
        counts = {"red": 0, "green": 0, "blue": 0}
        with self.server.client() as c:
            for i in range(2000):
                key = "user-%d" % i
                r = c.request("POST", OFREP + "/" + name,
                              {"context": {"targetingKey": key, "email": "%s@example.com" % key}})
                self.assertStatus(r, 200)
                self.assertEqual(r.json["reason"], "TARGETING_MATCH")
                counts[r.json["variant"]] += 1
                if i % 97 == 0:   # sticky: the same key, the same answer
                    again = c.request("POST", OFREP + "/" + name,
                                      {"context": {"targetingKey": key, "email": "%s@example.com" % key}})
                    self.assertEqual(again.json["variant"], r.json["variant"])
            for i in range(50):
                r = c.request("POST", OFREP + "/" + name,
                              {"context": {"targetingKey": "staff-%d" % i, "email": "s%d@acme.com" % i}})
                self.assertEqual((r.json["variant"], r.json["value"]), ("blue", "#00f"))
        self.assertEqual(counts["blue"], 0)
        self.assertTrue(150 <= counts["red"] <= 250, counts)   # 10% of 2000, generously

    def test_reasons_values_and_errors(self):
        flags = {
            "static-num": {"state": "ENABLED", "variants": {"one": 1, "half": 0.5}, "defaultVariant": "half"},
            "obj": {"state": "ENABLED", "variants": {"a": {"x": [1, 2]}, "b": {}}, "defaultVariant": "a",
                    "targeting": {"if": [{"===": [{"var": "k"}, 1]}, "b", None]}},
            "no-default": {"state": "ENABLED", "variants": {"a": "x"}, "defaultVariant": None},
            "off": {"state": "DISABLED", "variants": {"on": True, "off": False}, "defaultVariant": "on"},
            "names-nothing": {"state": "ENABLED", "variants": {"a": "x"}, "defaultVariant": "a",
                              "targeting": {"cat": ["zz", {"var": "k"}]}},
        }
        p = uniq("r")
        for k, f in flags.items():
            self.assertStatus(self.server.post("/flags", dict(f, name=p + k, metadata={"owner": k})), 201)
        r = ofrep(self.server, p + "static-num")
        self.assertEqual(r.json, {"key": p + "static-num", "reason": "STATIC", "variant": "half", "value": 0.5,
                                  "metadata": {"owner": "static-num"}})
        self.assertEqual(ofrep(self.server, p + "obj", {"k": 1}).json["value"], {})
        self.assertEqual(ofrep(self.server, p + "obj", {"k": "1"}).json["reason"], "DEFAULT")   # === keeps types
        r = ofrep(self.server, p + "obj", {"k": 2})
        self.assertEqual((r.json["reason"], r.json["value"]), ("DEFAULT", {"x": [1, 2]}))
        r = ofrep(self.server, p + "no-default")   # the caller's default: no value, no variant
        self.assertEqual(r.json, {"key": p + "no-default", "reason": "DEFAULT", "metadata": {"owner": "no-default"}})
        r = ofrep(self.server, p + "off")
        self.assertEqual(r.json, {"key": p + "off", "reason": "DISABLED", "metadata": {"owner": "off"}})
        r = ofrep(self.server, p + "names-nothing", {"k": 1})
        self.assertStatus(r, 400)
        self.assertEqual(r.json["errorCode"], "GENERAL")
        r = ofrep(self.server, p + "missing")
        self.assertStatus(r, 404)
        self.assertEqual((r.json["key"], r.json["errorCode"]), (p + "missing", "FLAG_NOT_FOUND"))
        for body in ([1], {"context": 5}, {"context": [1]}, "x"):
            r = ofrep(self.server, p + "off", body=body)
            self.assertStatus(r, 400, "%r: " % (body,))
            self.assertEqual(r.json["errorCode"], "INVALID_CONTEXT")
        r = self.server.post(OFREP + "/" + p + "off", data=b"{not json", headers={"Content-Type": "application/json"})
        self.assertEqual((r.status, r.json["errorCode"]), (400, "INVALID_CONTEXT"))
        r = self.server.post(OFREP + "/" + p + "static-num", data=b"", headers={"Content-Type": "application/json"})
        self.assertEqual((r.status, r.json["variant"]), (200, "half"))   # no body: an empty context

    def test_context_types_are_kept(self):
        name = uniq("types")
        self.assertStatus(self.server.post("/flags", {
            "name": name, "state": "ENABLED", "variants": {"strict": "s", "loose": "l", "none": "n"},
            "defaultVariant": "none",
            "targeting": {"if": [{"===": [{"var": "v"}, 1]}, "strict", {"==": [{"var": "v"}, 1]}, "loose", None]}}), 201)
        self.assertEqual(ofrep(self.server, name, {"v": 1}).json["variant"], "strict")
        self.assertEqual(ofrep(self.server, name, {"v": 1.0}).json["variant"], "strict")
        self.assertEqual(ofrep(self.server, name, {"v": "1"}).json["variant"], "loose")
        self.assertEqual(ofrep(self.server, name, {"v": True}).json["variant"], "loose")
        self.assertEqual(ofrep(self.server, name, {"v": {"nested": 1}}).json["reason"], "DEFAULT")

    def test_bulk_with_etag(self):
        self.reset_flags()
        self.assertStatus(self.server.post("/flags", dict(COLOR, name="b-color")), 201)
        self.assertStatus(self.server.post("/flags", {"name": "b-off", "is_enabled": False}), 201)
        self.assertStatus(self.server.post("/flags", {"name": "b-on", "is_enabled": True}), 201)
        r = self.server.post(OFREP, {"context": {"targetingKey": "u1", "email": "u1@acme.com"}})
        self.assertStatus(r, 200)
        self.assertEqual([f["key"] for f in r.json["flags"]], ["b-color", "b-on"], "disabled flags are left out")
        self.assertEqual(r.json["flags"][0]["variant"], "blue")
        etag = r.header("ETag")
        self.assertTrue(etag and etag.startswith('"'), r)
        same = self.server.post(OFREP, {"context": {"targetingKey": "u1", "email": "u1@acme.com"}},
                                headers={"If-None-Match": etag})
        self.assertEqual((same.status, same.raw), (304, b""))
        other = self.server.post(OFREP, {"context": {"targetingKey": "u1", "email": "u1@example.com"}},
                                 headers={"If-None-Match": etag})
        self.assertStatus(other, 200, "another context, another body: ")
        self.assertNotEqual(other.header("ETag"), etag)
        self.assertStatus(self.server.put("/flags/b-on", {"is_enabled": False}), 200)
        changed = self.server.post(OFREP, {"context": {"targetingKey": "u1", "email": "u1@acme.com"}},
                                   headers={"If-None-Match": etag})
        self.assertStatus(changed, 200, "a flag changed: ")
        self.assertEqual([f["key"] for f in changed.json["flags"]], ["b-color"])
        bad = self.server.post(OFREP, {"context": "x"})
        self.assertEqual((bad.status, bad.json["errorCode"]), (400, "INVALID_CONTEXT"))


class NativeEvaluate(ServerTestCase):

    def test_get_and_post(self):
        name = uniq("course")
        self.assertStatus(self.server.post("/flags", dict(COLOR, name=name)), 201)
        r = self.server.get("/evaluate?flag_name=%s&user_id=u7&email=z%%40acme.com" % name)
        self.assertStatus(r, 200)
        self.assertEqual(r.json, {"flag_name": name, "user_id": "u7", "result": "#00f", "variant": "blue",
                                  "reason": "TARGETING_MATCH"})
        a = self.server.get("/evaluate?flag_name=%s&targetingKey=zz&user_id=u8&targetingKey=yy" % name).json
        b = self.server.post("/evaluate", {"flag_name": name, "user_id": "u8"}).json
        self.assertEqual(a, b)
        off = uniq("off")
        self.assertStatus(self.server.post("/flags", {"name": off, "is_enabled": False}), 201)
        self.assertEqual(self.server.get("/evaluate?flag_name=%s&user_id=x" % off).json,
                         {"flag_name": off, "user_id": "x", "result": False, "variant": None, "reason": "DISABLED"})
        typed = uniq("typed")
        self.assertStatus(self.server.post("/flags", {
            "name": typed, "state": "ENABLED", "variants": {"big": True, "small": False}, "defaultVariant": "small",
            "targeting": {"if": [{">=": [{"var": "seats"}, 100]}, "big", "small"]}}), 201)
        r = self.server.post("/evaluate", {"flag_name": typed, "context": {"seats": 150}})
        self.assertEqual((r.json["result"], r.json["user_id"]), (True, None))
        self.assertError(self.server.get("/evaluate?user_id=x"), 400)
        self.assertError(self.server.get("/evaluate?flag_name=" + uniq("nope")), 404)
        self.assertError(self.server.post("/evaluate", {"flag_name": 3}), 400)


@unittest.skipUnless(BACKEND == "sqlite", "writes the original's row straight into SQLite")
class LongStoredNames(TMTestCase):
    """The original may have stored a 100-character name of 4-byte
    characters: 400 bytes, the most a stored name can have."""

    def raw_get(self, server, target):
        """GET with the target's bytes as they are (raw UTF-8 in the query)."""
        import socket
        with socket.create_connection((server.host, server.port), timeout=5) as sock:
            sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = read_until_closed(sock)
        head, _, body = data.partition(b"\r\n\r\n")
        return int(head.split(b" ")[1]), json.loads(body)

    def test_the_longest_stored_name_loads_and_is_not_confused(self):
        import sqlite3
        import urllib.parse
        url = new_database("longname")
        migrate(url)
        stored = "\U0001F600" * 100
        con = sqlite3.connect(url[len("sqlite://"):])
        con.execute("INSERT INTO flags(name, is_enabled) VALUES(?, 1)", (stored,))
        con.commit()
        con.close()
        # Rendering this flag used to overrun its buffer: the server
        # aborted while loading it.
        with Server(url) as s:
            self.assertEqual(s.get("/flags/" + urllib.parse.quote(stored, safe="")).json["name"], stored)
            self.assertEqual(s.post("/evaluate", {"flag_name": stored}).json["result"], True)
            self.assertError(s.post("/evaluate", {"flag_name": stored + "x"}), 404)
            # A longer flag_name in the query was cut to 400 bytes, and so
            # evaluated the stored flag.
            status, body = self.raw_get(s, b"/evaluate?flag_name=" + stored.encode())
            self.assertEqual((status, body.get("result")), (200, True), body)
            status, body = self.raw_get(s, b"/evaluate?flag_name=" + stored.encode() + b"x")
            self.assertEqual(status, 404, body)
            self.assertIn("error", body)
            stop_and_check(self, s)


class FlagdFiles(TMTestCase):
    """import and export, and GET /flagd.json."""

    FILE = {
        "$schema": "https://flagd.dev/schema/v0/flags.json",
        "flags": {
            "myBoolFlag": {"state": "ENABLED", "variants": {"on": True, "off": False}, "defaultVariant": "on"},
            "headerColor": {"state": "ENABLED", "variants": {"red": "#FF0000", "blue": "#0000FF"},
                            "defaultVariant": "red", "targeting": {"if": [{"$ref": "emailWithFaas"}, "blue", None]},
                            "metadata": {"owner": "web"}},
            "broken": {"state": "ENABLED", "variants": {"a": 1, "b": 2}, "defaultVariant": "a",
                       "targeting": {"nope": [1]}},
            "badSemver": {"state": "ENABLED", "variants": {"a": 1, "b": 2}, "defaultVariant": "a",
                          "targeting": {"if": [{"sem_ver": [{"var": "v"}, "=~", "1.2.3"]}, "b", None]}},
        },
        "$evaluators": {"emailWithFaas": {"in": ["@faas.com", {"var": ["email"]}]}},
        "metadata": {"flagSetId": "demo", "version": "1"},
    }

    def write(self, doc, name="flags.json"):
        path = os.path.join(tmpdir("flagd"), name)
        with open(path, "w") as f:
            json.dump(doc, f)
        return path

    def test_import_evaluate_export(self):
        url = new_database("flagd")
        migrate(url)
        path = self.write(self.FILE)
        dry = run_cmd(["import", path, "--dry-run"], url)
        self.assertEqual(dry.returncode, 0, dry)
        self.assertIn("create flag headerColor", dry.stdout)
        self.assertIn("dry run (nothing written): 4 created", dry.stdout)
        self.assertIn('warning: flag broken: targeting: unknown operator "nope"', dry.stdout)
        self.assertIn("warning: flag badSemver: targeting.if[0]: sem_ver's operator", dry.stdout)
        first = run_cmd(["import", path], url)
        self.assertEqual(first.returncode, 0, first)
        self.assertIn("imported: 4 created, 0 updated, 0 deleted, 0 unchanged flags; 1 evaluators saved", first.stdout)
        again = run_cmd(["import", path], url)
        self.assertIn("imported: 0 created, 0 updated, 0 deleted, 4 unchanged flags; 0 evaluators saved",
                      again.stdout)
        with Server(url) as s:
            r = ofrep(s, "headerColor", {"email": "x@faas.com"})
            self.assertEqual(r.json, {"key": "headerColor", "reason": "TARGETING_MATCH", "variant": "blue",
                                      "value": "#0000FF",
                                      "metadata": {"flagSetId": "demo", "version": "1", "owner": "web"}})
            self.assertEqual(ofrep(s, "broken").json["errorCode"], "PARSE_ERROR")
            r = ofrep(s, "badSemver", {"v": "1.2.3"})
            self.assertEqual((r.json["reason"], r.json["variant"]), ("DEFAULT", "a"), "sem_ver gives null: DEFAULT")
            served = s.get("/flagd.json")
            self.assertStatus(served, 200)
            self.assertEqual(s.get("/flagd.json", headers={"If-None-Match": served.header("ETag")}).status, 304)
            stop_and_check(self, s)
        out = os.path.join(tmpdir("flagd"), "export.json")
        self.assertEqual(run_cmd(["export", out], url).returncode, 0)
        with open(out, "rb") as f:
            exported = f.read()
        self.assertEqual(exported, served.raw, "export and GET /flagd.json are the same bytes")
        doc = json.loads(exported)
        self.assertEqual(doc["$evaluators"], self.FILE["$evaluators"])
        self.assertEqual(doc["metadata"], self.FILE["metadata"])
        for k, f in self.FILE["flags"].items():
            self.assertEqual(doc["flags"][k], f, k)
        self.assertEqual(run_cmd(["export"], url).stdout.encode(), exported, "export is stable")
        # The export imports into a fresh database unchanged.
        other = new_database("flagd2")
        migrate(other)
        self.assertEqual(run_cmd(["import", out], other).returncode, 0)
        self.assertEqual(run_cmd(["export"], other).stdout.encode(), exported)

    def test_prune_array_form_and_refusals(self):
        url = new_database("prune")
        migrate(url)
        self.assertEqual(run_cmd(["import", self.write(self.FILE)], url).returncode, 0)
        arr = {"flags": [{"key": "myBoolFlag", "state": "DISABLED", "variants": {"on": True, "off": False},
                          "defaultVariant": "on"}]}
        r = run_cmd(["import", self.write(arr), "--prune"], url)
        self.assertEqual(r.returncode, 0, r)
        self.assertIn("update flag myBoolFlag", r.stdout)
        self.assertIn("delete flag headerColor", r.stdout)
        self.assertIn("delete evaluator emailWithFaas", r.stdout)
        doc = json.loads(run_cmd(["export"], url).stdout)
        self.assertEqual(list(doc["flags"]), ["myBoolFlag"])
        self.assertEqual(doc["flags"]["myBoolFlag"]["state"], "DISABLED")
        bad = {"flags": {"a": {"state": "ENABLED", "variants": {"x": 1}, "defaultVariant": "y"},
                         "b": {"state": "ON", "variants": {"x": 1}}}}
        before = run_cmd(["export"], url).stdout
        r = run_cmd(["import", self.write(bad)], url)
        self.assertEqual(r.returncode, 1, r)
        self.assertIn('error: flag a: defaultVariant: "y" is not a variant', r.stdout)
        self.assertIn("error: flag b: state:", r.stdout)
        self.assertIn("nothing was written", r.stdout)
        self.assertEqual(run_cmd(["export"], url).stdout, before)
        self.assertEqual(run_cmd(["import", "/nonexistent/flags.json"], url).returncode, 1)
        self.assertEqual(run_cmd(["import"], url).returncode, 2)

    def test_sighup_reloads_after_an_import(self):
        url = new_database("hup")
        migrate(url)
        with Server(url) as s:
            self.assertEqual(run_cmd(["import", self.write(self.FILE)], url).returncode, 0)
            s.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 10
            while s.get("/flags/headerColor").status != 200 and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertEqual(ofrep(s, "headerColor", {"email": "x@faas.com"}).json.get("variant"), "blue")
            stop_and_check(self, s)


@unittest.skipUnless(BACKEND == "postgres", "the change feed is PostgreSQL's")
class ChangeFeed(TMTestCase):

    def wait_until(self, fn, what, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if fn():
                return
            time.sleep(0.05)
        self.fail("timed out waiting for " + what)

    def test_documents_and_evaluators_reach_the_other_instance(self):
        url = new_database("feed")
        migrate(url)
        with Server(url) as a, Server(url) as b:
            self.assertStatus(a.put("/evaluators/staff", {"rule": {"ends_with": [{"var": "email"}, "@acme.com"]}}),
                              201)
            self.assertStatus(a.post("/flags", {"name": "f", "state": "ENABLED",
                                                "variants": {"on": True, "off": False}, "defaultVariant": "off",
                                                "targeting": {"if": [{"$ref": "staff"}, "on", None]}}), 201)
            self.wait_until(lambda: ofrep(b, "f", {"email": "a@acme.com"}).json.get("variant") == "on",
                            "the flag on B")
            self.assertStatus(a.put("/evaluators/staff", {"rule": {"ends_with": [{"var": "email"}, "@x.org"]}}), 200)
            self.wait_until(lambda: ofrep(b, "f", {"email": "a@x.org"}).json.get("variant") == "on",
                            "the evaluator change on B")
            self.assertStatus(a.put("/flags/f", {"defaultVariant": "on", "targeting": None}), 200)
            self.wait_until(lambda: ofrep(b, "f").json.get("reason") == "STATIC", "the document change on B")
            # An import through the command reaches running servers too.
            path = os.path.join(tmpdir("feed"), "f.json")
            with open(path, "w") as f:
                json.dump({"flags": {"g": {"state": "ENABLED", "variants": {"v": 7}, "defaultVariant": "v"}}}, f)
            self.assertEqual(run_cmd(["import", path], url).returncode, 0)
            self.wait_until(lambda: ofrep(b, "g").json.get("value") == 7, "the import on B")
            stop_and_check(self, a)
            stop_and_check(self, b)

    def test_original_monolith_still_works_on_the_migrated_table(self):
        """The original's own statements, on a migrated database; what it
        writes is served (at the next resync: it does not notify)."""
        url = new_database("orig")
        migrate(url)
        pg, db = get_pg(), pg_dbname(url)
        with Server(url, env={"RESYNC_INTERVAL": "1"}) as s:
            self.assertStatus(s.post("/flags", dict(COLOR, name="doc-flag")), 201)
            pg.psql(db, "INSERT INTO flags (name, is_enabled) VALUES ('from-python', true)")
            pg.psql(db, "UPDATE flags SET is_enabled = false WHERE name = 'doc-flag'")
            rows = pg.rows(db, "SELECT id, name, is_enabled, created_at FROM flags ORDER BY id")
            self.assertEqual([r[1] for r in rows], ["doc-flag", "from-python"])
            self.wait_until(lambda: s.get("/flags/from-python").status == 200, "the original's insert")
            self.wait_until(lambda: s.get("/flags/doc-flag").json["is_enabled"] is False, "the original's update")
            got = s.get("/flags/doc-flag").json
            self.assertEqual(got["targeting"], COLOR["targeting"], "the original's toggle keeps the document")
            self.assertEqual(ofrep(s, "from-python").json["variant"], "on")
            stop_and_check(self, s)
