"""PostgreSQL-only properties (issue 3): drop-in on the original's database,
the original's DB_* variables, outage and recovery, concurrency, concurrent
migrations. Skipped unless TM_TEST_BACKEND=postgres.

Figures (recovery time, request counts) are printed to stderr with a
"figures:" prefix so they can be copied into the issue note.
"""

import random
import sys
import threading
import time
import subprocess
import unittest

from harness import (BACKEND, Server, TMTestCase, binary, get_pg, make_env, migrate, new_database,
                     pg_dbname, run_cmd, stop_and_check, free_port, tmpdir)
from relay import Relay

ORIGINAL_TABLE = ("CREATE TABLE flags(id SERIAL PRIMARY KEY, name VARCHAR(100) UNIQUE NOT NULL, "
                  "is_enabled BOOLEAN NOT NULL DEFAULT false, "
                  "created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP)")
PASSWORD = "Tm9pwS3cretX"   # distinctive, URL-safe


def figure(msg):
    sys.stderr.write("\nfigures: %s\n" % msg)
    sys.stderr.flush()


def pg_only(cls):
    return unittest.skipUnless(BACKEND == "postgres",
                               "PostgreSQL tests need TM_TEST_BACKEND=postgres")(cls)


@pg_only
class DropIn(TMTestCase):

    COLS = ("SELECT column_name, data_type, coalesce(character_maximum_length::text, ''), "
            "is_nullable, coalesce(column_default, '') FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name = 'flags' "
            "AND column_name IN ('id', 'name', 'is_enabled', 'created_at') ORDER BY column_name")
    ROWS = "SELECT id, name, is_enabled, created_at::text FROM flags ORDER BY id"

    def test_original_database_served_unchanged_and_writable(self):
        pg = get_pg()
        db = pg_dbname(new_database("dropin"))
        pg.psql(db, ORIGINAL_TABLE)
        pg.psql(db, "INSERT INTO flags(name, is_enabled) VALUES ('new-checkout', true), "
                    "('dark-mode', false), ('Beta.Search:v2', true)")
        pg.psql(db, "INSERT INTO flags(name, is_enabled, created_at) VALUES "
                    "('legacy-2019', false, '2019-03-04 05:06:07.123456+00')")
        pg.psql(db, "INSERT INTO flags(name) VALUES ('default-off'), ('9lives')")
        cols_before = pg.rows(db, self.COLS)
        idx_before = pg.rows(db, "SELECT indexname FROM pg_indexes WHERE tablename = 'flags'")
        before = {r[1]: r for r in pg.rows(db, self.ROWS)}
        self.assertEqual(len(before), 6)

        url = pg.dsn(db)
        for i in range(2):
            r = run_cmd(["migrate"], url)
            self.assertEqual(r.returncode, 0, "migrate #%d on the original's database: %r" % (i + 1, r))
        self.assertEqual(pg.rows(db, self.COLS), cols_before, "original columns changed by migrate")
        after_migrate = {r[1]: r for r in pg.rows(db, self.ROWS)}
        self.assertEqual(after_migrate, before, "migrate changed the original rows")
        idx_after = pg.rows(db, "SELECT indexname FROM pg_indexes WHERE tablename = 'flags'")
        self.assertTrue(set(idx_before) <= set(idx_after), "indexes lost: %r -> %r"
                        % (idx_before, idx_after))

        with Server(url) as s:
            r = s.get("/flags")
            self.assertStatus(r, 200)
            expected = [{"name": n, "is_enabled": before[n][2] == "t"}
                        for n in sorted(before, key=lambda x: x.encode())]
            self.assertEqual([{k: f[k] for k in ("name", "is_enabled")} for f in r.json], expected,
                             "GET /flags over the original rows")
            for n, row in before.items():
                self.assertFlag(s, n, row[2] == "t", "original row %r: " % (row,))
            self.assertError(s.post("/flags", {"name": "dark-mode"}), 409, "existing original row: ")
            self.assertStatus(s.put("/flags/dark-mode", {"is_enabled": True}), 200)
            self.assertStatus(s.put("/flags/legacy-2019", {"is_enabled": True}), 200)
            self.assertStatus(s.delete("/flags/9lives"), 204)
            self.assertStatus(s.post("/flags", {"name": "from-c", "is_enabled": False}), 201)
            self.assertFlag(s, "dark-mode", True)
            self.assertFlag(s, "legacy-2019", True)
            stop_and_check(self, s)

        after = {r[1]: r for r in pg.rows(db, self.ROWS)}
        for n in ("new-checkout", "Beta.Search:v2", "default-off"):
            self.assertEqual(after[n], before[n], "untouched original row changed")
        for n in ("dark-mode", "legacy-2019"):
            self.assertEqual((after[n][0], after[n][3]), (before[n][0], before[n][3]),
                             "PUT must keep id and created_at of %s" % n)
            self.assertEqual(after[n][2], "t", after[n])
        self.assertNotIn("9lives", after)
        self.assertIn("from-c", after)
        self.assertGreater(int(after["from-c"][0]), max(int(r[0]) for r in before.values()),
                           "new row must take its id from the original SERIAL sequence")
        self.assertTrue(after["from-c"][3], "created_at of a new row should be set: %r" % (after["from-c"],))
        self.assertEqual(after["from-c"][2], "f")
        self.assertEqual(pg.rows(db, self.COLS), cols_before, "original columns changed by serving")
        self.assertTrue(pg.rows(db, "SELECT 1 FROM information_schema.tables "
                                    "WHERE table_name = 'schema_migrations'"),
                        "migrate should record versions in schema_migrations")


@pg_only
class LegacyEnvironment(TMTestCase):

    @classmethod
    def setUpClass(cls):
        cls.pg = get_pg()
        cls.pg.create_role("tm_app", PASSWORD)
        cls.db = cls.pg.create_database("tm_legacy_%d" % free_port(), owner="tm_app")

    def legacy_env(self, password=PASSWORD):
        return {"DATABASE_URL": None, "DB_HOST": "127.0.0.1", "DB_PORT": self.pg.port,
                "DB_NAME": self.db, "DB_USER": "tm_app", "DB_PASSWORD": password}

    def assertNoPassword(self, text, pw=PASSWORD, what=""):
        self.assertNotIn(pw, text, "password appears in %s:\n%s" % (what, text[-3000:]))

    def test_db_variables_with_password(self):
        env = self.legacy_env()
        r = run_cmd(["migrate"], None, env)
        self.assertEqual(r.returncode, 0, repr(r))
        self.assertNoPassword(r.stdout + r.stderr, what="migrate output")
        with Server(None, env=env, wait=None) as s:
            s.wait_for("/ready")
            self.assertStatus(s.post("/flags", {"name": "legacy-env", "is_enabled": True}), 201)
            self.assertFlag(s, "legacy-env", True)
            stop_and_check(self, s)
            self.assertNoPassword(s.stdout_text() + s.stderr_text(), what="server logs")
        owner = self.pg.rows(self.db, "SELECT tableowner FROM pg_tables WHERE tablename = 'flags'")
        self.assertEqual(owner, [("tm_app",)], "tables should be created by DB_USER")

    def test_wrong_password_fails_without_leaking(self):
        wrong = "WrongPw5x9Q"
        r = run_cmd(["migrate"], None, self.legacy_env(wrong), timeout=20)
        self.assertNotEqual(r.returncode, 0, "migrate with a wrong password must fail: %r" % r)
        self.assertNoPassword(r.stdout + r.stderr, wrong, "migrate output")

    def test_url_with_password_not_logged(self):
        url = self.pg.dsn(self.db, user="tm_app", password=PASSWORD)
        migrate(url)
        with Server(url) as s:
            self.assertStatus(s.get("/flags"), 200)
            stop_and_check(self, s)
            self.assertNoPassword(s.stdout_text() + s.stderr_text(), what="server logs (URL)")

    def test_database_url_takes_precedence_over_db_host(self):
        url = self.pg.dsn(self.db, user="tm_app", password=PASSWORD)
        env = {"DB_HOST": "192.0.2.1", "DB_PORT": "1", "DB_NAME": "nope", "DB_USER": "nope",
               "DB_PASSWORD": "nope", "DB_CONNECT_TIMEOUT": 2}
        r = run_cmd(["migrate"], url, env, timeout=20)
        self.assertEqual(r.returncode, 0, "DATABASE_URL must win over DB_HOST: %r" % r)
        with Server(url, env=env) as s:
            self.assertStatus(s.get("/flags"), 200)
            stop_and_check(self, s)


@pg_only
class Outage(TMTestCase):
    ENV = {"DB_CONNECT_TIMEOUT": 2, "DB_STATEMENT_TIMEOUT": 2000}
    MAX_WAIT = 8.0   # per request during the outage: a few timeouts, never a hang

    def timed(self, fn, *a, **kw):
        t0 = time.monotonic()
        r = fn(*a, **kw)
        return r, time.monotonic() - t0

    def test_outage_and_recovery(self):
        pg = get_pg()
        db = new_database("outage")
        migrate(db, self.ENV)
        s = Server(db, env=self.ENV)
        self.addCleanup(s.kill)
        s.start()
        self.assertStatus(s.post("/flags", {"name": "survivor", "is_enabled": True}), 201)
        self.assertStatus(s.post("/flags", {"name": "other"}), 201)
        rejected = []
        pg.stop()
        try:
            for i in range(3):
                n = "during-outage-%d" % i
                r, dt = self.timed(s.post, "/flags", {"name": n}, timeout=15)
                self.assertError(r, 503, "POST during outage: ")
                self.assertEqual(r.header("Retry-After"), "1", "a 503 says when to retry: %r" % r)
                self.assertLess(dt, self.MAX_WAIT, "POST during outage took %.1fs" % dt)
                rejected.append(n)
            r, dt = self.timed(s.put, "/flags/survivor", {"is_enabled": False}, timeout=15)
            self.assertError(r, 503, "PUT during outage: ")
            self.assertLess(dt, self.MAX_WAIT, "PUT during outage took %.1fs" % dt)
            r, dt = self.timed(s.delete, "/flags/other", timeout=15)
            self.assertError(r, 503, "DELETE during outage: ")
            self.assertLess(dt, self.MAX_WAIT)
            r, dt = self.timed(s.get, "/health")
            self.assertStatus(r, 200, "/health during outage: ")
            self.assertLess(dt, 1.0, "/health must not wait for the database")
            r = s.wait_for("/ready", timeout=6, status=503)
            self.assertError(r, 503, "/ready during outage: ")
            self.assertFlag(s, "survivor", True, "reads from memory during outage: ")
            r = s.get("/flags")
            self.assertStatus(r, 200, "GET /flags during outage: ")
            self.assertEqual(sorted(f["name"] for f in r.json), ["other", "survivor"], repr(r))
            self.assertTrue(s.alive(), "server died during the outage\n" + s.output_tail())
        finally:
            if not pg.running:
                pg.start()
        t0 = time.monotonic()
        recovered, attempts, last = None, 0, None
        while time.monotonic() - t0 < 20:
            attempts += 1
            try:
                last = s.put("/flags/survivor", {"is_enabled": False}, timeout=15)
                if last.status == 200:
                    recovered = time.monotonic() - t0
                    break
            except OSError as e:
                last = e
            time.sleep(0.1)
        figure("outage recovery: first successful write %.2fs after PostgreSQL was back "
               "(%d attempts)" % (recovered if recovered is not None else -1, attempts))
        self.assertIsNotNone(recovered, "writes did not recover within 20s; last: %r\n%s"
                             % (last, s.output_tail()))
        self.assertLessEqual(recovered, 5.0, "recovery took %.2fs (target 5s)" % recovered)
        self.assertFlag(s, "survivor", False)
        self.assertStatus(s.post("/flags", {"name": "after-outage"}), 201)
        s.wait_for("/ready", timeout=5)
        for n in rejected:
            self.assertNoFlag(s, n, "a write answered 503 must not appear later: ")
        from test_metrics import parse, value
        errors = value(parse(s.get("/metrics").raw.decode()), "togglemaster_database_errors_total", kind="unavailable")
        self.assertGreaterEqual(errors, 5, "the outage's failed writes are counted in /metrics")
        self.assertFlag(s, "other", False, "DELETE answered 503 must not have happened: ")
        names = {r[0] for r in pg.rows(pg_dbname(db), "SELECT name FROM flags")}
        self.assertEqual(names, {"survivor", "other", "after-outage"})
        stop_and_check(self, s)

    def test_start_while_database_down_then_recover(self):
        # The service starts with PostgreSQL down: /health 200, /ready 503, then recovers.
        pg = get_pg()
        db = new_database("downstart")
        migrate(db, self.ENV)
        pg.stop()
        try:
            s = Server(db, env=self.ENV, wait="health")
            self.addCleanup(s.kill)
            s.start()
            self.assertStatus(s.get("/health"), 200)
            self.assertError(s.get("/ready"), 503, "/ready with the database down: ")
            # Nothing loaded yet: reads cannot answer from memory either.
            self.assertError(s.get("/flags"), 503, "GET /flags before the first load: ")
            r = s.get("/flags/x")
            self.assertError(r, 503, "GET /flags/x before the first load: ")
            self.assertEqual(r.header("Retry-After"), "1", "a 503 says when to retry: %r" % r)
            r = s.post("/flags", {"name": "x"}, timeout=15)
            self.assertError(r, 503, "POST with the database down: ")
        finally:
            if not pg.running:
                pg.start()
        s.wait_for("/ready", timeout=10)
        self.assertStatus(s.post("/flags", {"name": "x"}), 201)
        stop_and_check(self, s)


@pg_only
class BlackHoledDatabase(TMTestCase):
    """The database stops answering in the middle of open connections
    (packets dropped, nothing closed): writes answer 503 within
    DB_STATEMENT_TIMEOUT plus the 1 s client margin, /ready turns 503,
    reads go on from memory, and everything recovers when traffic flows
    again. A relay between the service and PostgreSQL plays the network."""

    ENV = {"DB_STATEMENT_TIMEOUT": 1000, "DB_CONNECT_TIMEOUT": 2, "DB_POOL_SIZE": 2, "RESYNC_INTERVAL": 3600}
    BOUND_S = 1.0 + 1.0 + 1.5   # statement timeout + client margin + scheduling slack

    def test_writes_answer_within_the_deadline_and_recover(self):
        pg = get_pg()
        db = new_database("blackhole")
        migrate(db, self.ENV)
        relay = Relay(pg.port).start()
        self.addCleanup(relay.stop)
        url = db.replace(":%d/" % pg.port, ":%d/" % relay.port)
        self.assertNotEqual(url, db)
        with Server(url, env=self.ENV) as s:
            self.assertStatus(s.post("/flags", {"name": "kept", "is_enabled": True}), 201)
            for i in range(4):   # every worker connection is open and in use
                self.assertStatus(s.put("/flags/kept", {"is_enabled": i % 2 == 0}), 200)
            relay.blackhole(True)
            results = []

            def write(i):
                t0 = time.monotonic()
                try:
                    r = s.post("/flags", {"name": "lost-%d" % i}, timeout=30)
                    results.append((r.status, time.monotonic() - t0, r.json))
                except OSError as e:   # no answer at all
                    results.append((None, time.monotonic() - t0, repr(e)))

            threads = [threading.Thread(target=write, args=(i,)) for i in range(10)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(40)
            slowest = max(d for _, d, _ in results)
            figure("black-holed database: 10 concurrent writes, statuses %s, slowest %.2fs "
                   "(DB_STATEMENT_TIMEOUT=1000 ms)" % (sorted({st for st, _, _ in results}), slowest))
            self.assertEqual([st for st, _, _ in results], [503] * 10, results)
            self.assertTrue(all(isinstance(b, dict) and "error" in b for _, _, b in results))
            self.assertLess(slowest, 2 * self.BOUND_S,
                            "the slowest 503 took %.2fs; queued writes must not wait one timeout each" % slowest)
            r = s.wait_for("/ready", timeout=self.BOUND_S + 3, status=503)
            self.assertError(r, 503, "/ready with a black-holed database: ")
            self.assertFlag(s, "kept", False, "reads from memory: ")
            relay.blackhole(False)
            t0 = time.monotonic()
            recovered = None
            while time.monotonic() - t0 < 15:
                if s.put("/flags/kept", {"is_enabled": True}, timeout=10).status == 200:
                    recovered = time.monotonic() - t0
                    break
                time.sleep(0.1)
            figure("black-holed database: first write after traffic flows again: %.2fs"
                   % (recovered if recovered is not None else -1))
            self.assertIsNotNone(recovered, "writes did not recover\n" + s.output_tail())
            self.assertFlag(s, "kept", True)
            s.wait_for("/ready", timeout=5)
            self.assertStatus(s.post("/flags", {"name": "after"}), 201)
            stop_and_check(self, s)


@pg_only
class Concurrency(TMTestCase):
    THREADS = 8
    PER_THREAD = 500
    NAMES_PER_THREAD = 25

    def test_acknowledged_writes_are_exactly_the_database(self):
        pg = get_pg()
        db = new_database("conc")
        migrate(db)
        s = Server(db)
        self.addCleanup(s.kill)
        s.start()
        owned = [["t%d-n%02d" % (t, i) for i in range(self.NAMES_PER_THREAD)]
                 for t in range(self.THREADS)]
        all_names = [n for names in owned for n in names]
        results = [None] * self.THREADS

        def worker(t):
            rnd = random.Random(1000 + t)
            c = s.client()
            created, updated, counts, bad = {}, {}, {}, []
            for _ in range(self.PER_THREAD):
                if rnd.random() < 0.5:
                    name, state = rnd.choice(all_names), rnd.random() < 0.5
                    op = ("POST", "/flags", {"name": name, "is_enabled": state})
                else:
                    name, state = rnd.choice(owned[t]), rnd.random() < 0.5
                    op = ("PUT", "/flags/" + name, {"is_enabled": state})
                try:
                    r = c.request(*op)
                except Exception as e:  # noqa: BLE001 -- count every failure
                    bad.append((op, repr(e)))
                    c.reconnect()
                    continue
                counts[(op[0], r.status)] = counts.get((op[0], r.status), 0) + 1
                if op[0] == "POST" and r.status == 201:
                    created[name] = state
                elif op[0] == "PUT" and r.status == 200:
                    updated[name] = state
                elif op[0] == "PUT" and r.status == 404 and name in updated:
                    bad.append((op, "404 after an acknowledged update of the same name"))
                elif (op[0], r.status) not in (("POST", 409), ("PUT", 404)):
                    bad.append((op, repr(r)))
            c.close()
            results[t] = (created, updated, counts, bad)

        t0 = time.monotonic()
        threads = [threading.Thread(target=worker, args=(t,), daemon=True)
                   for t in range(self.THREADS)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(120)
        elapsed = time.monotonic() - t0
        self.assertFalse(any(th.is_alive() for th in threads), "client threads hung")

        creators, expected, counts, bad = {}, {}, {}, []
        for t, (created, updated, cnt, b) in enumerate(results):
            for n, st in created.items():
                creators.setdefault(n, []).append(t)
                expected[n] = st
            for k, v in cnt.items():
                counts[k] = counts.get(k, 0) + v
            bad += b
        dup = {n: ts for n, ts in creators.items() if len(ts) > 1}
        for t, (created, updated, cnt, b) in enumerate(results):
            for n, st in updated.items():
                expected[n] = st  # only the owner thread updates n: its last ack wins
        total = self.THREADS * self.PER_THREAD
        figure("concurrency: %d requests by %d clients in %.2fs (%.0f req/s); statuses %s; "
               "failures %d" % (total, self.THREADS, elapsed, total / elapsed,
                                ", ".join("%s %d: %d" % (m, st, n) for (m, st), n in sorted(counts.items())),
                                len(bad)))
        self.assertEqual(bad, [], "unexpected answers (first 10): %r" % bad[:10])
        self.assertEqual(dup, {}, "a name was acknowledged as created more than once")

        in_db = {r[0]: r[1] == "t" for r in pg.rows(pg_dbname(db), "SELECT name, is_enabled FROM flags")}
        self.assertEqual(in_db, expected, "database differs from the acknowledged writes")
        r = s.get("/flags")
        self.assertStatus(r, 200)
        via_api = {f["name"]: f["is_enabled"] for f in r.json}
        self.assertEqual(via_api, expected, "GET /flags differs from the acknowledged writes")
        self.assertEqual([f["name"] for f in r.json], sorted(expected, key=lambda x: x.encode()))
        stop_and_check(self, s)


@pg_only
class ConcurrentMigrate(TMTestCase):

    def test_two_migrations_at_once(self):
        pg = get_pg()
        for rnd in range(3):
            url = new_database("cmig")
            db = pg_dbname(url)
            env = make_env(url)
            procs = [subprocess.Popen([binary(), "migrate"], env=env, cwd=tmpdir("cmig"),
                                      stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE) for _ in range(2)]
            outs = []
            for p in procs:
                try:
                    out, err = p.communicate(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    out, err = p.communicate()
                outs.append((p.returncode, out.decode(errors="replace"), err.decode(errors="replace")))
            for rc, out, err in outs:
                self.assertEqual(rc, 0, "round %d: concurrent migrate failed:\n%s\n%s" % (rnd, out, err))
            cols = [r[0] for r in pg.rows(db, "SELECT column_name FROM information_schema.columns "
                                              "WHERE table_name = 'schema_migrations' "
                                              "ORDER BY ordinal_position")]
            self.assertTrue(cols, "no schema_migrations table")
            col = "version" if "version" in cols else cols[0]
            versions = pg.rows(db, 'SELECT "%s"::text, count(*) FROM schema_migrations GROUP BY 1 '
                                   "ORDER BY 1" % col)
            self.assertTrue(versions, "schema_migrations is empty")
            self.assertEqual([v for v in versions if v[1] != "1"], [],
                             "round %d: versions recorded more than once: %r" % (rnd, versions))
        with Server(url) as s:
            self.assertStatus(s.post("/flags", {"name": "after-concurrent-migrate"}), 201)
            stop_and_check(self, s)


@pg_only
class MultiInstance(TMTestCase):
    """Two instances over one database: a write on one shows on the other
    (LISTEN/NOTIFY, or at the latest the periodic resync)."""

    def test_write_on_one_instance_visible_on_other(self):
        db = new_database("multi")
        env = {"RESYNC_INTERVAL": 2}
        migrate(db, env)
        with Server(db, env=env) as a, Server(db, env=env) as b:
            self.assertStatus(a.post("/flags", {"name": "shared", "is_enabled": True}), 201)
            t0 = time.monotonic()
            seen = None
            while time.monotonic() - t0 < 6:
                if b.get("/flags/shared").status == 200:
                    seen = time.monotonic() - t0
                    break
                time.sleep(0.05)
            figure("multi-instance: write on A visible on B after %s"
                   % ("%.2fs" % seen if seen is not None else "never (6s)"))
            self.assertIsNotNone(seen, "instance B never saw the flag created on A "
                                       "(RESYNC_INTERVAL=2)")
            self.assertError(b.post("/flags", {"name": "shared"}), 409, "B must know it exists: ")
            stop_and_check(self, a)
            stop_and_check(self, b)


if __name__ == "__main__":
    unittest.main()
