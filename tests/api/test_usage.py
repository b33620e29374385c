"""Usage insights: evaluation counts per flag written every
USAGE_FLUSH_INTERVAL and at shutdown, summed across instances; the usage
windows, last_evaluated_at, and stale flags."""

import signal
import sqlite3
import threading
import time
import unittest

from harness import (BACKEND, Server, TMTestCase, get_pg, migrate, new_database, pg_dbname, stop_and_check,
                     uniq)

FAST = {"USAGE_FLUSH_INTERVAL": "1"}


def ofrep(server, flag, key="u1"):
    r = server.post("/ofrep/v1/evaluate/flags/" + flag, {"context": {"targetingKey": key}})
    assert r.status == 200, r
    return r.json


def usage(server, flag, window="24h"):
    r = server.get("/flags/%s/usage?window=%s" % (flag, window))
    assert r.status == 200, r
    return r.json


def wait_for(predicate, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        got = predicate()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.1)


def sql(url, statement):
    """Runs one statement on the test database, whichever backend."""
    if BACKEND == "postgres":
        get_pg().psql(pg_dbname(url), statement)
    else:
        db = sqlite3.connect(url[len("sqlite://"):])
        db.execute(statement.replace("now() - interval '40 days'", "datetime('now', '-40 days')"))
        db.commit()
        db.close()


def age_flags(url, names):
    """Makes flags look created and last changed 40 days ago."""
    sql(url, "UPDATE flags SET created_at = now() - interval '40 days', updated_at = now() - interval '40 days'"
             " WHERE name IN (%s)" % ", ".join("'%s'" % n for n in names))


def split_flag(name):
    return {"name": name, "state": "ENABLED", "variants": {"red": "r", "blue": "b"}, "defaultVariant": "red",
            "targeting": {"fractional": [["red", 50], ["blue", 50]]}}


class Usage(TMTestCase):

    def test_counts_per_variant_and_last_evaluated_at(self):
        url = new_database("usage")
        migrate(url)
        with Server(url, env=FAST) as s:
            name = uniq("split")
            self.assertStatus(s.post("/flags", split_flag(name)), 201)
            self.assertIsNone(s.get("/flags/" + name).json["last_evaluated_at"])
            for i in range(200):
                ofrep(s, name, "user-%d" % i)
            for _ in range(3):   # the native service counts too
                self.assertStatus(s.get("/evaluate?flag_name=%s&user_id=x" % name), 200)
            total = 203
            u = wait_for(lambda: (lambda j: j if j["evaluations"] == total else None)(usage(s, name)),
                         what="%d evaluations in the usage window" % total)
            by_variant = {v["variant"]: v["evaluations"] for v in u["variants"]}
            self.assertEqual(sum(by_variant.values()), total)
            self.assertGreater(by_variant["red"], 50)
            self.assertGreater(by_variant["blue"], 50)
            self.assertEqual(sum(u["reasons"].values()), total)
            self.assertEqual(u["evaluations_all_time"], total)
            self.assertEqual(u["pending_on_this_instance"], 0)
            self.assertIsNotNone(u["last_evaluated_at"])
            last = wait_for(lambda: s.get("/flags/" + name).json["last_evaluated_at"], what="last_evaluated_at")
            self.assertRegex(last, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
            for window in ("1h", "7d", "30d"):
                self.assertEqual(usage(s, name, window)["evaluations"], total, window)
            self.assertError(s.get("/flags/%s/usage?window=2y" % name), 400)
            self.assertError(s.get("/flags/no-such-flag/usage"), 404)
            stop_and_check(self, s)

    def test_a_clean_stop_writes_the_counts(self):
        url = new_database("usagestop")
        migrate(url)
        name = uniq("stop")
        with Server(url, env={"USAGE_FLUSH_INTERVAL": "3600"}) as s:
            self.assertStatus(s.post("/flags", {"name": name, "is_enabled": True}), 201)
            for _ in range(37):
                ofrep(s, name)
            self.assertEqual(usage(s, name)["pending_on_this_instance"], 37)
            self.assertEqual(usage(s, name)["evaluations"], 0, "nothing is written per request")
            stop_and_check(self, s)
        with Server(url, env={"USAGE_FLUSH_INTERVAL": "3600"}) as s:
            self.assertEqual(usage(s, name)["evaluations"], 37, "the counts written at SIGTERM")
            wait_for(lambda: s.get("/flags/" + name).json["last_evaluated_at"], what="last_evaluated_at after a restart")
            stop_and_check(self, s)

    def test_a_crash_loses_at_most_one_flush_interval(self):
        url = new_database("usagecrash")
        migrate(url)
        name = uniq("crash")
        with Server(url, env={"USAGE_FLUSH_INTERVAL": "1"}) as s:
            self.assertStatus(s.post("/flags", {"name": name, "is_enabled": True}), 201)
            for _ in range(50):
                ofrep(s, name)
            wait_for(lambda: usage(s, name)["evaluations"] == 50, what="the first 50 written")
            for _ in range(20):
                ofrep(s, name)
            s.kill()   # SIGKILL: whatever was not flushed yet is gone
        with Server(url, env=FAST) as s:
            written = usage(s, name)["evaluations"]
            self.assertGreaterEqual(written, 50, "counts flushed before the crash survive it")
            self.assertLessEqual(written, 70)
            stop_and_check(self, s)

    def test_stale_flags(self):
        url = new_database("stale")
        migrate(url)
        unused, one_variant, split, young = (uniq("unused"), uniq("onevariant"), uniq("split"), uniq("young"))
        with Server(url, env=dict(FAST, RESYNC_INTERVAL="3600")) as s:
            for n in (unused, one_variant, young):
                self.assertStatus(s.post("/flags", {"name": n, "is_enabled": True}), 201)
            self.assertStatus(s.post("/flags", split_flag(split)), 201)
            age_flags(url, [unused, one_variant, split])
            s.send_signal(signal.SIGHUP)   # reload: the flags now look 40 days old
            today = time.strftime("%Y-%m-%d", time.gmtime())
            wait_for(lambda: not s.get("/flags/" + unused).json["created_at"].startswith(today),
                     what="the aged flags reloaded")
            for i in range(30):
                ofrep(s, one_variant, "k%d" % i)
                ofrep(s, split, "k%d" % i)
            wait_for(lambda: usage(s, split)["evaluations"] == 30, what="usage written")
            wait_for(lambda: usage(s, one_variant)["evaluations"] == 30, what="usage written")
            r = s.get("/insights/stale?days=30")
            self.assertStatus(r, 200)
            found = {f["name"]: f for f in r.json["flags"]}
            self.assertEqual(found[unused]["reason"], "not_evaluated")
            self.assertIsNone(found[unused]["last_evaluated_at"])
            self.assertEqual(found[one_variant]["reason"], "single_variant")
            self.assertEqual(found[one_variant]["variant"], "on")
            self.assertEqual(found[one_variant]["evaluations"], 30)
            self.assertNotIn(split, found, "two variants served: not stale")
            self.assertNotIn(young, found, "created today: too young to judge")
            # A change restarts the clock of a single-variant flag.
            self.assertStatus(s.put("/flags/" + one_variant, {"is_enabled": True}), 200)
            found = {f["name"] for f in s.get("/insights/stale?days=30").json["flags"]}
            self.assertNotIn(one_variant, found)
            self.assertIn(unused, found)
            for bad in ("0", "x", "3651", "-1"):
                self.assertError(s.get("/insights/stale?days=" + bad), 400)
            stop_and_check(self, s)


@unittest.skipUnless(BACKEND == "postgres", "two instances share PostgreSQL")
class UsageAcrossInstances(TMTestCase):

    def test_two_instances_add_up(self):
        url = new_database("usagesum")
        migrate(url)
        with Server(url, env=FAST) as a, Server(url, env=FAST) as b:
            name = uniq("sum")
            self.assertStatus(a.post("/flags", {"name": name, "is_enabled": True}), 201)
            wait_for(lambda: b.get("/flags/" + name).status == 200, what="the flag on b")
            for _ in range(40):
                ofrep(a, name)
            for _ in range(25):
                ofrep(b, name)
            for s in (a, b):
                wait_for(lambda: usage(s, name)["evaluations"] == 65, what="65 on both instances")
                self.assertEqual(usage(s, name)["evaluations_all_time"], 65)
            # The change feed is up on both, and says so.
            from test_metrics import parse, value
            for s in (a, b):
                m = parse(s.get("/metrics").raw.decode())
                self.assertEqual(value(m, "togglemaster_change_feed_up"), 1)
                self.assertEqual(value(m, "togglemaster_change_feed_reconnects_total"), 0)
            # b evaluated too, but a learns when from the database.
            wait_for(lambda: a.get("/flags/" + name).json["last_evaluated_at"], what="last_evaluated_at on a")
            stop_and_check(self, a)
            stop_and_check(self, b)

    def test_usage_rows_never_block_a_flag_write(self):
        """A session holds every usage row locked; flag writes and reads go
        on at full speed meanwhile, and the counts are written once it lets
        go (they wait in memory)."""
        url = new_database("usagelock")
        migrate(url)
        pg = get_pg()
        with Server(url, env=FAST) as s:
            name = uniq("lock")
            self.assertStatus(s.post("/flags", {"name": name, "is_enabled": True}), 201)
            for _ in range(10):
                ofrep(s, name)
            wait_for(lambda: usage(s, name)["evaluations"] == 10, what="first flush")
            holder = threading.Thread(target=pg.psql, args=(pg_dbname(url),
                                      "BEGIN; LOCK TABLE flag_usage, flag_usage_hourly IN ACCESS EXCLUSIVE MODE;"
                                      " SELECT pg_sleep(4); COMMIT;"), kwargs={"timeout": 30})
            holder.start()
            time.sleep(0.5)
            for _ in range(10):
                ofrep(s, name)
            slowest = 0.0
            for i in range(20):
                t0 = time.monotonic()
                self.assertStatus(s.put("/flags/" + name, {"is_enabled": i % 2 == 0}), 200)
                self.assertStatus(s.post("/flags", {"name": uniq("w"), "is_enabled": True}), 201)
                slowest = max(slowest, time.monotonic() - t0)
            self.assertTrue(holder.is_alive(), "the lock was released before the writes were measured")
            self.assertLess(slowest, 1.0, "a flag write waited on usage rows (%.2fs)" % slowest)
            holder.join()
            wait_for(lambda: usage(s, name)["evaluations"] == 20, timeout=15, what="counts written after the lock")
            stop_and_check(self, s)


if __name__ == "__main__":
    unittest.main()
