"""Several instances on one PostgreSQL (issue 4): changes reach the other
instance through LISTEN/NOTIFY well before the periodic resync, a killed
listener connection is re-established and resynced, and readers racing
writers only ever see states that existed. Skipped unless
TM_TEST_BACKEND=postgres.
"""

import threading
import time
import unittest

from harness import BACKEND, Server, TMTestCase, get_pg, migrate, new_database, pg_dbname, stop_and_check

# Far beyond the test bounds: convergence must come from the change feed,
# not from the safety-net resync.
NO_RESYNC = {"RESYNC_INTERVAL": 3600}
CONVERGE_S = 1.0


def pg_only(cls):
    return unittest.skipUnless(BACKEND == "postgres",
                               "PostgreSQL tests need TM_TEST_BACKEND=postgres")(cls)


def wait_until(predicate, timeout):
    """Seconds until predicate() held, or None after timeout."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if predicate():
            return time.monotonic() - t0
        time.sleep(0.01)
    return None


def state(server, name):
    """None when absent, else is_enabled."""
    r = server.get("/flags/" + name)
    return None if r.status == 404 else r.json["is_enabled"]


@pg_only
class Coherence(TMTestCase):

    def test_create_update_delete_converge_within_a_second(self):
        db = new_database("coh")
        migrate(db, NO_RESYNC)
        with Server(db, env=NO_RESYNC) as a, Server(db, env=NO_RESYNC) as b:
            steps = [("create", lambda: a.post("/flags", {"name": "shared", "is_enabled": True}), True),
                     ("disable", lambda: a.put("/flags/shared", {"is_enabled": False}), False),
                     ("enable", lambda: a.put("/flags/shared", {"is_enabled": True}), True),
                     ("delete", lambda: a.delete("/flags/shared"), None)]
            for what, write, expected in steps:
                r = write()
                self.assertLess(r.status, 300, "%s on A: %r" % (what, r))
                took = wait_until(lambda: state(b, "shared") == expected, CONVERGE_S)
                self.assertIsNotNone(took, "%s on A not visible on B within %.1fs" % (what, CONVERGE_S))
            # And the other way round.
            self.assertStatus(b.post("/flags", {"name": "from-b"}), 201)
            self.assertIsNotNone(wait_until(lambda: state(a, "from-b") is False, CONVERGE_S))
            stop_and_check(self, a)
            stop_and_check(self, b)

    def test_killed_listener_reconnects_and_resyncs(self):
        pg = get_pg()
        db = new_database("cohkill")
        dbname = pg_dbname(db)
        migrate(db, NO_RESYNC)
        with Server(db, env=NO_RESYNC) as a, Server(db, env=NO_RESYNC) as b:
            self.assertStatus(a.post("/flags", {"name": "before", "is_enabled": True}), 201)
            self.assertIsNotNone(wait_until(lambda: state(b, "before") is True, CONVERGE_S))

            # Kill every instance's sync (listener) connection, then change
            # things at once: the notifications go to nobody.
            killed = pg.rows(dbname, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                     "WHERE application_name = 'togglemaster/sync' "
                                     "AND datname = current_database()")
            self.assertEqual(len(killed), 2, "expected the two sync connections: %r" % killed)
            self.assertStatus(a.post("/flags", {"name": "during", "is_enabled": True}), 201)
            self.assertStatus(a.put("/flags/before", {"is_enabled": False}), 200)

            # B notices, reconnects (retry every second) and reloads.
            took = wait_until(lambda: state(b, "during") is True and state(b, "before") is False, 5)
            self.assertIsNotNone(took, "B did not resync after losing its listener connection")
            self.assertIsNotNone(b.wait_log(lambda o: o.get("message", "").startswith("change feed lost")),
                                 "B should log the lost feed: %s" % b.output_tail())
            back = pg.rows(dbname, "SELECT count(*) FROM pg_stat_activity "
                                   "WHERE application_name = 'togglemaster/sync' "
                                   "AND datname = current_database()")
            self.assertEqual(back[0][0], "2", "both listeners should be back")
            # The feed works again: a new change arrives without a resync.
            self.assertStatus(a.post("/flags", {"name": "after"}), 201)
            self.assertIsNotNone(wait_until(lambda: state(b, "after") is False, CONVERGE_S))
            stop_and_check(self, a)
            stop_and_check(self, b)

    def test_readers_only_see_states_that_existed(self):
        """A writer creates c-000, c-001, ... in order through A and toggles
        them; readers on A and B list all flags the whole time. Every list
        must be sorted, hold only booleans, and be a prefix of the creation
        order (c-007 never without c-006): changes apply whole and in commit
        order. Writes on A are read back on A at once (read-your-writes)."""
        db = new_database("cohrace")
        migrate(db, NO_RESYNC)
        count = 60
        names = ["c-%03d" % i for i in range(count)]
        problems, reads = [], [0]
        done = threading.Event()
        with Server(db, env=NO_RESYNC) as a, Server(db, env=NO_RESYNC) as b:
            def reader(server):
                with server.client() as c:
                    while not done.is_set():
                        r = c.request("GET", "/flags")
                        if r.status != 200 or not isinstance(r.json, list):
                            problems.append("list %r" % r)
                            continue
                        seen = [f["name"] for f in r.json]
                        if seen != sorted(seen, key=lambda s: s.encode()):
                            problems.append("unsorted %r" % seen)
                        if seen != names[:len(seen)]:
                            problems.append("not a prefix of the creation order: %r" % seen)
                        if any(not isinstance(f["is_enabled"], bool) for f in r.json):
                            problems.append("non-boolean in %r" % r.json)
                        reads[0] += 1

            threads = [threading.Thread(target=reader, args=(s,)) for s in (a, a, b, b)]
            for t in threads:
                t.start()
            try:
                with a.client() as w:
                    for i, name in enumerate(names):
                        r = w.request("POST", "/flags", {"name": name, "is_enabled": i % 2 == 0})
                        self.assertStatus(r, 201)
                        r = w.request("PUT", "/flags/" + name, {"is_enabled": i % 2 == 1})
                        self.assertStatus(r, 200)
                        got = w.request("GET", "/flags/" + name)
                        self.assertEqual({k: got.json[k] for k in ("name", "is_enabled")},
                                         {"name": name, "is_enabled": i % 2 == 1},
                                         "read-your-writes on A")
            finally:
                done.set()
                for t in threads:
                    t.join(10)
            self.assertGreater(reads[0], 20, "readers should have run during the writes")
            self.assertEqual(problems[:5], [], "%d inconsistent reads" % len(problems))
            final = wait_until(lambda: b.get("/flags").json == a.get("/flags").json, CONVERGE_S)
            self.assertIsNotNone(final, "B should converge to A")
            stop_and_check(self, a)
            stop_and_check(self, b)


if __name__ == "__main__":
    unittest.main()
