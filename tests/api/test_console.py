"""The web console as HTTP serves it: "/" and /assets/<file>, embedded in the
binary, and GET /api/v1/whoami, which the console asks what its key may do.
(The console itself is tested in a real browser: tests/browser/.)
"""
import gzip
import hashlib
import re
import unittest

from harness import ServerTestCase, TMTestCase, Server, migrate, new_database, stop_and_check
from test_security import ADMIN_TOKEN, bearer, make_key

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HASHED = re.compile(r'"/assets/([A-Za-z0-9_-]+)\.([0-9a-f]{12})\.([a-z]+)"')


class Files(ServerTestCase):

    def page(self):
        r = self.server.get("/")
        self.assertStatus(r, 200)
        return r

    def assets(self):
        """(stem, hash, ext) of every asset the page names."""
        found = HASHED.findall(self.page().raw.decode())
        self.assertTrue(found, "the page names no hashed asset")
        return found

    def test_page_headers(self):
        r = self.page()
        self.assertEqual(r.header("Content-Type"), "text/html; charset=utf-8")
        self.assertEqual(r.header("Content-Security-Policy"), CSP)
        self.assertEqual(r.header("Cache-Control"), "no-cache")
        self.assertEqual(r.header("X-Frame-Options"), "DENY")
        self.assertEqual(r.header("Referrer-Policy"), "no-referrer")
        self.assertEqual(r.header("X-Content-Type-Options"), "nosniff")
        self.assertRegex(r.header("ETag"), r'^"[0-9a-f]{12}"$')

    def test_page_needs_nothing_the_policy_forbids(self):
        html = self.page().raw.decode()
        names = {(stem, ext) for stem, _, ext in self.assets()}
        self.assertIn(("app", "js"), names)
        self.assertIn(("app", "css"), names)
        # No inline script, inline style or handler attribute (CSP would block
        # them), and nothing from another origin.
        for script in re.findall(r"<script\b[^>]*>", html):
            self.assertIn('src="/assets/', script)
        self.assertNotRegex(html, r"<style\b")
        self.assertNotRegex(html, r"\sstyle\s*=")
        self.assertNotRegex(html, r"\son[a-z]+\s*=")
        self.assertNotRegex(html, r"(src|href)=\"(https?:)?//")

    def test_hashed_assets_are_immutable_and_named_by_their_bytes(self):
        for stem, digest, ext in self.assets():
            r = self.server.get("/assets/%s.%s.%s" % (stem, digest, ext))
            self.assertStatus(r, 200)
            self.assertEqual(hashlib.sha256(r.raw).hexdigest()[:12], digest, "%s.%s" % (stem, ext))
            self.assertEqual(r.header("Cache-Control"), "public, max-age=31536000, immutable")
            self.assertEqual(r.header("Content-Type"), {"js": "text/javascript; charset=utf-8",
                                                        "css": "text/css; charset=utf-8"}[ext])
            self.assertEqual(r.header("Content-Security-Policy"), CSP)
            plain = self.server.get("/assets/%s.%s" % (stem, ext))
            self.assertStatus(plain, 200)
            self.assertEqual(plain.raw, r.raw)
            self.assertEqual(plain.header("Cache-Control"), "no-cache")

    def test_revalidation_and_head(self):
        etag = self.page().header("ETag")
        r = self.server.get("/", headers={"If-None-Match": etag})
        self.assertStatus(r, 304)
        self.assertEqual(r.raw, b"")
        r = self.server.head("/")
        self.assertStatus(r, 200)
        self.assertEqual(r.raw, b"")
        self.assertGreater(int(r.header("Content-Length")), 100)
        stem, digest, ext = self.assets()[0]
        r = self.server.get("/assets/%s.%s.%s" % (stem, digest, ext), headers={"If-None-Match": '"%s"' % digest})
        self.assertStatus(r, 304)

    def test_gzip_for_clients_that_take_it(self):
        stem, digest, ext = [a for a in self.assets() if a[2] == "js"][0]
        for path in ("/", "/assets/%s.%s" % (stem, ext), "/assets/%s.%s.%s" % (stem, digest, ext)):
            plain = self.server.get(path)
            self.assertStatus(plain, 200)
            self.assertIsNone(plain.header("Content-Encoding"), "no Accept-Encoding: identity")
            self.assertEqual(plain.header("Vary"), "Accept-Encoding")
            packed = self.server.get(path, headers={"Accept-Encoding": "gzip, deflate, br"})
            self.assertStatus(packed, 200)
            self.assertEqual(packed.header("Content-Encoding"), "gzip", path)
            self.assertEqual(packed.header("Vary"), "Accept-Encoding")
            self.assertEqual(packed.header("Content-Type"), plain.header("Content-Type"))
            self.assertEqual(packed.header("Content-Security-Policy"), CSP)
            self.assertEqual(packed.header("Cache-Control"), plain.header("Cache-Control"))
            self.assertEqual(gzip.decompress(packed.raw), plain.raw, path)
            self.assertLess(len(packed.raw), len(plain.raw) * 0.9, path)
            # Another representation, another ETag; each revalidates alone.
            self.assertEqual(packed.header("ETag"), plain.header("ETag")[:-1] + '-gz"')
            again = self.server.get(path, headers={"Accept-Encoding": "gzip", "If-None-Match": packed.header("ETag")})
            self.assertStatus(again, 304)
            self.assertStatus(self.server.get(path, headers={"If-None-Match": packed.header("ETag")}), 200)
            head = self.server.head(path, headers={"Accept-Encoding": "gzip"})
            self.assertEqual(int(head.header("Content-Length")), len(packed.raw))
        # What Accept-Encoding says, by its rules: weights, "*", case, x-gzip.
        for accept, expect in (("gzip", "gzip"), ("GZip;Q=1.0", "gzip"), ("x-gzip", "gzip"), ("*", "gzip"),
                               ("br, *;q=0.1", "gzip"), ("identity", None), ("br", None), ("gzip;q=0", None),
                               ("gzip; q=0.000, *", None), ("*;q=0", None), ("gzip;q=0.5", "gzip"),
                               ("deflate, gzip ; q=0.01", "gzip"), ("gzipped", None), ("", None)):
            r = self.server.get("/", headers={"Accept-Encoding": accept})
            self.assertStatus(r, 200)
            self.assertEqual(r.header("Content-Encoding"), expect, repr(accept))

    def test_unknown_files_and_methods(self):
        for path in ("/assets/nope.js", "/assets/app.000000000000.js", "/assets/..%2Fsrc%2Fmain.c",
                     "/assets/index.html", "/index.html"):
            self.assertError(self.server.get(path), 404, path)
        self.assertError(self.server.post("/", {}), 405)
        self.assertError(self.server.request("PUT", "/assets/app.js", {}), 405)


class Whoami(TMTestCase):

    def test_open_mode(self):
        url = new_database("whoami-open")
        migrate(url)
        with Server(url, env={"SHUTDOWN_DRAIN": "0"}) as s:
            r = s.get("/api/v1/whoami")
            self.assertStatus(r, 200)
            self.assertEqual(r.json, {"auth": False, "role": "admin", "key_id": None,
                                      "name": "anonymous (authentication off)"})

    def test_each_role_and_the_console_stays_public(self):
        url = new_database("whoami-auth")
        migrate(url)
        s = Server(url, env={"ADMIN_TOKEN": ADMIN_TOKEN, "SHUTDOWN_DRAIN": "0"}).start()
        try:
            self.assertError(s.get("/api/v1/whoami"), 401)
            for role in ("client", "editor", "admin"):
                key = make_key(s, ADMIN_TOKEN, role, name="console " + role)
                r = s.get("/api/v1/whoami", headers=bearer(key["key"]))
                self.assertStatus(r, 200)
                self.assertEqual(r.json, {"auth": True, "role": role, "key_id": key["id"], "name": "console " + role})
            # The page and its files hold no data: they need no key.
            self.assertStatus(s.get("/"), 200)
            self.assertStatus(s.get("/assets/app.js"), 200)
            self.assertError(s.get("/flags"), 401)
        finally:
            stop_and_check(None, s)


if __name__ == "__main__":
    unittest.main()
