"""GET /metrics: the Prometheus text format, checked by promtool and scraped
by a real Prometheus server (both from Debian's prometheus package)."""

import json
import os
import re
import shutil
import socket
import subprocess
import time
import unittest
import urllib.parse
import urllib.request

from harness import (Server, ServerTestCase, TMTestCase, free_port, migrate, new_database, stop_and_check,
                     tmpdir, uniq)
from test_security import bearer, cli_key

SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """{(name, frozenset(labels)): value} of every sample line."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE_RE.match(line)
        assert m, "not a sample line: %r" % line
        labels = frozenset(LABEL_RE.findall(m.group(3) or ""))
        samples[(m.group(1), labels)] = float(m.group(4))
    return samples


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


def scrape(server, headers=None):
    r = server.get("/metrics", headers=headers)
    assert r.status == 200, r
    return r, parse(r.raw.decode())


def ofrep(server, flag, key="u1", headers=None):
    return server.post("/ofrep/v1/evaluate/flags/" + flag, {"context": {"targetingKey": key}}, headers=headers)


class Metrics(ServerTestCase):

    def test_requests_by_route_pattern_and_status_never_the_raw_path(self):
        name = uniq("metrics")
        self.assertStatus(self.server.post("/flags", {"name": name, "is_enabled": True}), 201)
        # One keep-alive connection: a request is counted when its exchange
        # ends, after its last byte is written, and the next request on the
        # same connection is handled only after that; on separate
        # connections the scrape could overtake the last count.
        with self.server.client() as c:
            before = parse(c.request("GET", "/metrics").raw.decode())
            for _ in range(3):
                self.assertStatus(c.request("GET", "/flags/" + name), 200)
            self.assertStatus(c.request("GET", "/flags/no-such-" + name), 404)
            self.assertStatus(c.request("GET", "/nowhere/" + name), 404)
            r = c.request("GET", "/metrics")
        self.assertStatus(r, 200)
        after = parse(r.raw.decode())
        self.assertTrue(r.header("Content-Type").startswith("text/plain; version=0.0.4"), r.header("Content-Type"))
        text = r.raw.decode()
        self.assertNotIn(name, text.replace('flag="%s"' % name, ""), "a raw path or name leaked into a label")

        def delta(status, route, method="GET"):
            key = dict(method=method, route=route, status=status)
            return (value(after, "togglemaster_http_requests_total", **key) or 0) - \
                   (value(before, "togglemaster_http_requests_total", **key) or 0)
        self.assertEqual(delta("200", "/flags/{name}"), 3)
        self.assertEqual(delta("404", "/flags/{name}"), 1)
        self.assertEqual(delta("404", "unmatched", method=""), 1)
        # The histogram of that route counts the same requests, cumulatively.
        labels = dict(method="GET", route="/flags/{name}")
        count = value(after, "togglemaster_http_request_duration_seconds_count", **labels)
        inf = value(after, "togglemaster_http_request_duration_seconds_bucket", le="+Inf", **labels)
        self.assertEqual(count, inf)
        buckets = sorted((float(dict(k[1])["le"]), v) for k, v in after.items()
                         if k[0] == "togglemaster_http_request_duration_seconds_bucket"
                         and dict(k[1]).get("route") == "/flags/{name}" and dict(k[1])["le"] != "+Inf")
        self.assertEqual([v for _, v in buckets], sorted(v for _, v in buckets), "buckets are cumulative")
        self.assertGreater(value(after, "togglemaster_http_request_duration_seconds_sum", **labels), 0)

    def test_evaluations_by_flag_variant_and_reason(self):
        name = uniq("evals")
        doc = {"name": name, "state": "ENABLED", "variants": {"a": "A", "b": "B"}, "defaultVariant": "a",
               "targeting": {"if": [{"==": [{"var": "targetingKey"}, "vip"]}, "b", None]}}
        self.assertStatus(self.server.post("/flags", doc), 201)
        for _ in range(4):
            self.assertStatus(ofrep(self.server, name, "someone"), 200)
        self.assertStatus(ofrep(self.server, name, "vip"), 200)
        self.assertStatus(self.server.get("/evaluate?flag_name=%s&user_id=vip" % name), 200)
        self.assertStatus(self.server.post("/ofrep/v1/evaluate/flags", {"context": {"targetingKey": "x"}}), 200)
        self.assertStatus(ofrep(self.server, "no-such-" + name), 404)
        _, s = scrape(self.server)
        self.assertEqual(value(s, "togglemaster_evaluations_total", flag=name, variant="a", reason="DEFAULT"), 5)
        self.assertEqual(value(s, "togglemaster_evaluations_total", flag=name, variant="b",
                               reason="TARGETING_MATCH"), 2)
        self.assertFalse([k for k in s if k[0] == "togglemaster_evaluations_total"
                          and ("flag", "no-such-" + name) in k[1]], "an unknown flag must not become a series")

    def test_gauges_and_build_info(self):
        _, s = scrape(self.server)
        flags = len(self.server.get("/flags").json)
        self.assertEqual(value(s, "togglemaster_flags"), flags)
        self.assertGreaterEqual(value(s, "togglemaster_snapshot_generation"), 1)
        self.assertGreaterEqual(value(s, "togglemaster_snapshot_loaded_age_seconds"), 0)
        self.assertGreaterEqual(value(s, "togglemaster_http_connections"), 1)
        self.assertEqual(value(s, "togglemaster_store_queue_depth"), 0)
        self.assertGreaterEqual(value(s, "togglemaster_store_workers", state="idle"), 1)
        self.assertEqual(value(s, "togglemaster_log_lines_dropped_total"), 0)
        self.assertAlmostEqual(value(s, "process_start_time_seconds"), time.time(), delta=600)
        self.assertGreater(value(s, "process_resident_memory_bytes"), 1e6)
        version = subprocess.run([os.environ.get("TM_BINARY", "build/togglemaster"), "version"],
                                 capture_output=True, text=True).stdout
        info = [dict(k[1]) for k in s if k[0] == "togglemaster_build_info"]
        self.assertEqual(len(info), 1, info)
        self.assertIn(info[0]["version"], version)
        self.assertIn(info[0]["revision"], version)
        for kind in ("unavailable", "error"):
            self.assertIsNotNone(value(s, "togglemaster_database_errors_total", kind=kind))

    def test_promtool_accepts_the_output(self):
        name = uniq("prom")
        self.assertStatus(self.server.post("/flags", {"name": name, "state": "ENABLED", "variants": {'we"ird\\\n': "x", "b": "y"},
                                                      "defaultVariant": 'we"ird\\\n'}), 201)
        self.assertStatus(ofrep(self.server, name), 200)
        r, s = scrape(self.server)
        self.assertEqual(value(s, "togglemaster_evaluations_total", flag=name, variant='we\\"ird\\\\\\n',
                               reason="STATIC"), 1, "a variant name is escaped in its label")
        p = subprocess.run(["promtool", "check", "metrics"], input=r.raw, capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stdout.decode() + p.stderr.decode())


class Access(TMTestCase):

    def test_needs_a_key_when_auth_is_on_unless_public(self):
        url = new_database("metricsauth")
        migrate(url)
        client = cli_key(url, "client")
        with Server(url) as s:
            self.assertError(s.get("/metrics"), 401)
            self.assertStatus(s.get("/metrics", headers=bearer(client)), 200)
            stop_and_check(self, s)
        with Server(url, env={"METRICS_PUBLIC": "true"}) as s:
            self.assertStatus(s.get("/metrics"), 200)
            self.assertError(s.get("/flags"), 401, "METRICS_PUBLIC opens only /metrics: ")
            stop_and_check(self, s)

    def test_metrics_off(self):
        url = new_database("metricsoff")
        migrate(url)
        with Server(url, env={"METRICS_ENABLED": "false"}) as s:
            self.assertError(s.get("/metrics"), 404)
            name = uniq("off")
            self.assertStatus(s.post("/flags", {"name": name, "is_enabled": True}), 201)
            self.assertStatus(ofrep(s, name), 200)
            self.assertIsNone(s.get("/flags/" + name).json["last_evaluated_at"])
            stop_and_check(self, s)


def wait_http(url, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@unittest.skipUnless(shutil.which("prometheus"), "Debian's prometheus package (scripts/install-deps.sh)")
class PrometheusScrape(TMTestCase):
    """A real Prometheus server scrapes a running instance; the series of a
    known request appear with the right labels."""

    def test_a_real_prometheus_scrapes_the_series(self):
        url = new_database("scrape")
        migrate(url)
        with Server(url) as s:
            name = uniq("scraped")
            self.assertStatus(s.post("/flags", {"name": name, "is_enabled": True}), 201)
            for _ in range(5):
                self.assertStatus(s.get("/flags/" + name), 200)
                self.assertStatus(ofrep(s, name), 200)
            work = tmpdir("prometheus")
            port = free_port()
            config = os.path.join(work, "prometheus.yml")
            with open(config, "w") as f:
                f.write("global:\n  scrape_interval: 1s\n"
                        "scrape_configs:\n  - job_name: togglemaster\n"
                        "    static_configs:\n      - targets: ['127.0.0.1:%d']\n" % s.port)
            log = open(os.path.join(work, "prometheus.log"), "wb")
            prom = subprocess.Popen(["prometheus", "--config.file=" + config,
                                     "--storage.tsdb.path=" + os.path.join(work, "data"),
                                     "--web.listen-address=127.0.0.1:%d" % port],
                                    stdout=log, stderr=subprocess.STDOUT)
            self.addCleanup(lambda: (prom.kill(), prom.wait(), log.close()))
            base = "http://127.0.0.1:%d" % port
            wait_http(base + "/-/ready")

            def query(q):
                body = wait_http(base + "/api/v1/query?" + urllib.parse.urlencode({"query": q}))
                return json.loads(body)["data"]["result"]
            # The three queries are not one snapshot: a scrape can land
            # between them, so wait until all three have an answer (the
            # first scrape after the queries started brings all of them).
            deadline = time.monotonic() + 30
            reads = evaluations = up = []
            while time.monotonic() < deadline:
                up = query('up{job="togglemaster"}')
                reads = query('togglemaster_http_requests_total{route="/flags/{name}",method="GET",status="200"}')
                evaluations = query('togglemaster_evaluations_total{flag="%s"}' % name)
                if up and reads and evaluations:
                    break
                time.sleep(0.5)
            self.assertTrue(up and up[0]["value"][1] == "1", "the target is up: %r" % up)
            self.assertTrue(reads, "Prometheus has the read series: %s" % open(log.name).read()[-2000:])
            self.assertGreaterEqual(float(reads[0]["value"][1]), 5)
            self.assertEqual(reads[0]["metric"]["job"], "togglemaster")
            self.assertEqual(len(evaluations), 1, evaluations)
            self.assertEqual(evaluations[0]["metric"]["variant"], "on")
            self.assertEqual(evaluations[0]["metric"]["reason"], "STATIC")
            self.assertEqual(float(evaluations[0]["value"][1]), 5)
            stop_and_check(self, s)


if __name__ == "__main__":
    unittest.main()
