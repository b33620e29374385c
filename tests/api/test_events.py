"""GET /api/v1/events: the change stream (Server-Sent Events).

What a console or any client relies on: every change arrives (local writes
and, on PostgreSQL, another instance's), in order, with ids that replay
after a reconnect (Last-Event-ID) or say "reset" when they cannot; the
stream needs a read key; and no client can hold the server: the number of
streams is capped, one that stops reading is cut off, one that is killed
is dropped, and streams end when the server stops.
"""
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

from harness import (BACKEND, Server, TMTestCase, migrate, new_database, open_stream, stop_and_check, uniq)
from test_metrics import scrape, value
from test_security import ADMIN_TOKEN, bearer, make_key


def start(tag, env=None, url=None):
    url = url or new_database(tag)
    migrate(url)
    base = {"SHUTDOWN_DRAIN": "0"}
    base.update(env or {})
    return Server(url, env=base).start()


def ready(stream):
    """Reads the opening of a stream (retry, then ready); returns the ready event."""
    first = stream.next_event()
    assert first == {"retry": "2000"}, first
    e = stream.next_change()
    assert e is not None and e.get("event") == "ready", e
    return e


def seq(event_id):
    return int(event_id.rsplit("-", 1)[1])


def subscribers(server):
    return value(scrape(server)[1], "togglemaster_event_subscribers")


def wait_until(pred, timeout=5.0, step=0.05):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


class Stream(TMTestCase):

    @classmethod
    def setUpClass(cls):
        cls.server = start("events")

    @classmethod
    def tearDownClass(cls):
        stop_and_check(None, cls.server)

    def test_head_and_opening(self):
        s = open_stream(self.server)
        try:
            self.assertEqual(s.status, 200, s)
            self.assertEqual(s.header("Content-Type"), "text/event-stream; charset=utf-8")
            self.assertIsNone(s.header("Content-Length"), "a stream's body ends with the connection")
            self.assertEqual(s.header("Cache-Control"), "no-cache")
            self.assertEqual(s.header("X-Accel-Buffering"), "no")
            e = ready(s)
            run, _, n = e["id"].partition("-")
            self.assertRegex(run, "^[0-9a-f]{16}$")
            self.assertEqual(e["data"], {"run": run})
            self.assertTrue(n.isdigit())
        finally:
            s.close()
        r = self.server.head("/api/v1/events")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.raw, b"")

    def test_every_kind_of_change_in_order(self):
        s = open_stream(self.server)
        try:
            start_id = seq(ready(s)["id"])
            name = uniq("ev")
            self.assertEqual(self.server.post("/flags", {"name": name, "is_enabled": False}).status, 201)
            self.assertEqual(self.server.put("/flags/" + name, {"is_enabled": True}).status, 200)
            self.assertEqual(self.server.put("/evaluators/" + name, {"rule": {"in": [{"var": "c"}, ["br"]]}}).status, 201)
            self.assertEqual(self.server.delete("/flags/" + name).status, 204)
            got = [s.next_change() for _ in range(4)]
            self.assertNotIn(None, got, got)
            self.assertEqual([e["data"] for e in got], [
                {"type": "flag", "action": "created", "name": name},
                {"type": "flag", "action": "updated", "name": name},
                {"type": "evaluators"},
                {"type": "flag", "action": "deleted", "name": name},
            ])
            self.assertEqual({e["event"] for e in got}, {"change"})
            self.assertEqual([seq(e["id"]) for e in got], list(range(start_id + 1, start_id + 5)))
            # A refused write tells nothing.
            self.assertEqual(self.server.post("/flags", {"name": name + " bad"}).status, 400)
            self.assertIsNone(s.next_change(0.5))
        finally:
            s.close()

    def test_reconnect_with_last_event_id_replays_what_was_missed(self):
        s = open_stream(self.server)
        last = ready(s)["id"]
        s.close()
        names = [uniq("missed") for _ in range(3)]
        for n in names:
            self.assertEqual(self.server.post("/flags", {"name": n}).status, 201)
        s = open_stream(self.server, {"Last-Event-ID": last})
        try:
            self.assertEqual(s.next_event(), {"retry": "2000"})
            replayed = [s.next_change() for _ in range(3)]
            self.assertEqual([e["data"]["name"] for e in replayed], names)
            self.assertEqual([seq(e["id"]) for e in replayed], [seq(last) + 1, seq(last) + 2, seq(last) + 3])
            e = s.next_change()
            self.assertEqual(e["event"], "ready")
            self.assertEqual(e["id"], replayed[-1]["id"])
            # And it goes on live.
            live = uniq("live")
            self.assertEqual(self.server.post("/flags", {"name": live}).status, 201)
            self.assertEqual(s.next_change()["data"]["name"], live)
        finally:
            s.close()

    def test_an_id_it_cannot_replay_from_gets_reset(self):
        for bad in ("0123456789abcdef-1", "nonsense", "-", "x" * 200):
            s = open_stream(self.server, {"Last-Event-ID": bad})
            try:
                self.assertEqual(s.status, 200)
                s.next_event()
                e = s.next_change()
                self.assertEqual(e["event"], "reset", bad)
                self.assertIn("another instance", e["data"]["reason"])
                self.assertEqual(s.next_change()["event"], "ready")
            finally:
                s.close()


class History(TMTestCase):

    def test_falling_behind_the_history_gets_reset(self):
        server = start("history", {"EVENTS_HISTORY": "5"})
        try:
            s = open_stream(server)
            last = ready(s)["id"]
            s.close()
            for _ in range(7):
                self.assertEqual(server.post("/flags", {"name": uniq("h")}).status, 201)
            s = open_stream(server, {"Last-Event-ID": last})
            s.next_event()
            e = s.next_change()
            self.assertEqual(e["event"], "reset")
            self.assertIn("no longer kept", e["data"]["reason"])
            s.close()
            # Five back is still kept.
            s = open_stream(server)
            newest = seq(ready(s)["id"])
            s.close()
            run = last.split("-")[0]
            s = open_stream(server, {"Last-Event-ID": "%s-%d" % (run, newest - 4)})
            s.next_event()
            self.assertEqual([s.next_change()["event"] for _ in range(5)], ["change"] * 4 + ["ready"])
            s.close()
        finally:
            stop_and_check(None, server)


class Access(TMTestCase):

    def test_needs_a_read_key_when_auth_is_on(self):
        server = start("events-auth", {"ADMIN_TOKEN": ADMIN_TOKEN})
        try:
            s = open_stream(server)
            self.assertError(s.close(), 401)
            s = open_stream(server, bearer("tm_000000000000_" + "A" * 43))
            self.assertError(s.close(), 401)
            admin = open_stream(server, bearer(ADMIN_TOKEN))
            ready(admin)
            client = make_key(server, ADMIN_TOKEN, "client")["key"]
            self.assertEqual(admin.next_change()["data"], {"type": "keys"})   # never the key itself
            admin.close()
            s = open_stream(server, bearer(client))
            try:
                self.assertEqual(s.status, 200)
                ready(s)
                name = uniq("auth")
                self.assertEqual(server.post("/flags", {"name": name}, headers=bearer(ADMIN_TOKEN)).status, 201)
                self.assertEqual(s.next_change()["data"]["name"], name)
            finally:
                s.close()
        finally:
            stop_and_check(None, server)


class Bounds(TMTestCase):

    def test_many_subscribers_each_get_every_change(self):
        server = start("many", {"EVENTS_MAX_SUBSCRIBERS": "300"})
        streams = []
        try:
            for _ in range(250):
                streams.append(open_stream(server))
            for s in streams:
                ready(s)
            self.assertEqual(subscribers(server), 250)
            names = [uniq("many") for _ in range(3)]
            began = time.monotonic()
            for n in names:
                self.assertEqual(server.post("/flags", {"name": n}).status, 201)
            for s in streams:
                got = [s.next_change() for _ in range(3)]
                self.assertEqual([e["data"]["name"] for e in got], names)
            self.assertLess(time.monotonic() - began, 5.0)
        finally:
            for s in streams:
                s.close()
            stop_and_check(None, server)

    def test_the_subscriber_cap_answers_503(self):
        server = start("cap", {"EVENTS_MAX_SUBSCRIBERS": "3"})
        streams = []
        try:
            for _ in range(3):
                streams.append(open_stream(server))
                ready(streams[-1])
            extra = open_stream(server)
            self.assertError(extra.close(), 503)
            self.assertEqual(extra.header("Retry-After"), "5")
            self.assertIn("EVENTS_MAX_SUBSCRIBERS", extra.json["error"])
            # Reads go on; a slot comes back when a subscriber leaves (found by
            # the next event).
            self.assertEqual(server.get("/flags").status, 200)
            streams.pop().close()
            self.assertEqual(server.post("/flags", {"name": uniq("cap")}).status, 201)
            self.assertTrue(wait_until(lambda: subscribers(server) == 2), subscribers(server))
            again = open_stream(server)
            self.assertEqual(again.status, 200)
            again.close()
        finally:
            for s in streams:
                s.close()
            stop_and_check(None, server)

    def test_a_subscriber_that_stops_reading_is_cut_off_and_others_go_on(self):
        server = start("slow", {"EVENTS_BUFFER_KB": "16", "MAX_HEADER_BYTES": "8192"})
        try:
            stalled = open_stream(server, rcvbuf=4096)
            ready(stalled)
            healthy = open_stream(server)
            ready(healthy)
            # Long names make long events; a few hundred fill the socket
            # buffers and then the stream's own 16 KiB.
            long_name = "n" * 90
            received = [0]

            def read_healthy():
                try:
                    while healthy.next_change(10) is not None:
                        received[0] += 1
                except OSError:
                    pass   # closed by the test

            reader = threading.Thread(target=read_healthy, daemon=True)
            reader.start()
            writes = 0
            with server.client() as c:
                self.assertEqual(c.request("POST", "/flags", {"name": long_name}).status, 201)
                deadline = time.monotonic() + 60
                while not server.wait_log(lambda l: l.get("message") == "closing a stream whose client does not keep up",
                                          timeout=0):
                    self.assertLess(time.monotonic(), deadline, "the stalled stream was never cut off")
                    for _ in range(50):
                        self.assertEqual(c.request("PUT", "/flags/" + long_name,
                                                   {"is_enabled": writes % 2 == 0}).status, 200)
                        writes += 1
            # The stalled client finds its stream reset once it reads again.
            self.assertTrue(stalled.ended(10))
            # Cut off after little: the socket's kernel buffer is bounded like
            # the stream (autotuned, it took 2.8 MB here before the 16 KiB
            # queue ever filled).
            cut = server.wait_log(lambda l: l.get("path") == "/api/v1/events" and l.get("aborted"))
            self.assertLess(cut["bytes"], 256 * 1024, cut)
            # The healthy one got every change.
            self.assertTrue(wait_until(lambda: received[0] >= writes + 1, 10), (received[0], writes))
            self.assertTrue(wait_until(lambda: subscribers(server) == 1), subscribers(server))
            _, samples = scrape(server)
            self.assertGreaterEqual(value(samples, "togglemaster_event_subscribers_dropped_total"), 1)
            healthy.close()
        finally:
            stop_and_check(None, server)

    def test_a_killed_subscriber_is_dropped(self):
        server = start("killed", {"EVENTS_HEARTBEAT": "1"})
        try:
            before = value(scrape(server)[1], "togglemaster_http_connections")
            # A separate process holds five streams and is killed with them.
            code = ("import socket,sys,time\n"
                    "ss=[]\n"
                    "for _ in range(5):\n"
                    "  s=socket.create_connection(('127.0.0.1',%d)); s.sendall(b'GET /api/v1/events HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n')\n"
                    "  s.recv(4096); ss.append(s)\n"
                    "print('ok', flush=True); time.sleep(60)\n") % server.port
            child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
            self.assertEqual(child.stdout.readline().strip(), b"ok")
            self.assertTrue(wait_until(lambda: subscribers(server) == 5), subscribers(server))
            child.send_signal(signal.SIGKILL)
            child.wait()
            # The connections close at once (the server watches for the
            # client leaving); the journal drops them by the next heartbeat.
            self.assertTrue(wait_until(lambda: value(scrape(server)[1], "togglemaster_http_connections") <= before, 2))
            self.assertTrue(wait_until(lambda: subscribers(server) == 0, 3), subscribers(server))
            # And the server is as it was.
            s = open_stream(server)
            ready(s)
            name = uniq("after")
            self.assertEqual(server.post("/flags", {"name": name}).status, 201)
            self.assertEqual(s.next_change()["data"]["name"], name)
            s.close()
        finally:
            stop_and_check(None, server)

    def test_heartbeats_keep_an_idle_stream_alive(self):
        server = start("heartbeat", {"EVENTS_HEARTBEAT": "1", "KEEPALIVE_TIMEOUT": "1", "SEND_TIMEOUT": "1"})
        try:
            s = open_stream(server)
            ready(s)
            comments = [s.next_event(2.5) for _ in range(3)]
            self.assertEqual(comments, [{"comment": "keep-alive"}] * 3)
            s.close()
        finally:
            stop_and_check(None, server)

    def test_streams_end_when_the_server_stops(self):
        server = start("stop", {"SHUTDOWN_TIMEOUT": "30"})
        streams = [open_stream(server) for _ in range(20)]
        for s in streams:
            ready(s)
        began = time.monotonic()
        server.send_signal(signal.SIGTERM)
        for s in streams:
            self.assertTrue(s.ended(5))
            s.close()
        self.assertEqual(server.wait_exit(10), 0)
        # Streams do not hold the stop for SHUTDOWN_TIMEOUT.
        self.assertLess(time.monotonic() - began, 5)
        self.assertFalse(server.sanitizer_report(), server.sanitizer_report())


@unittest.skipUnless(BACKEND == "postgres", "another instance shares PostgreSQL")
class AcrossInstances(TMTestCase):

    def test_a_change_on_another_instance_arrives(self):
        url = new_database("across")
        migrate(url)
        a = Server(url, env={"SHUTDOWN_DRAIN": "0"}).start()
        b = Server(url, env={"SHUTDOWN_DRAIN": "0"}).start()
        try:
            s = open_stream(b)
            ready(s)
            name = uniq("remote")
            began = time.monotonic()
            self.assertEqual(a.post("/flags", {"name": name}).status, 201)
            e = s.next_change(5)
            self.assertLess(time.monotonic() - began, 1.0, "another instance's change should arrive within 1 s")
            self.assertEqual(e["data"], {"type": "flag", "action": "created", "name": name})
            self.assertEqual(a.put("/flags/" + name, {"is_enabled": True}).status, 200)
            self.assertEqual(s.next_change(5)["data"], {"type": "flag", "action": "updated", "name": name})
            self.assertEqual(a.delete("/flags/" + name).status, 204)
            self.assertEqual(s.next_change(5)["data"], {"type": "flag", "action": "deleted", "name": name})
            self.assertEqual(a.put("/evaluators/" + name, {"rule": {"==": [1, 1]}}).status, 201)
            self.assertEqual(s.next_change(5)["data"], {"type": "evaluators"})
            # An id from instance a means nothing to b: reset, not a wrong replay.
            sa = open_stream(a)
            a_id = ready(sa)["id"]
            sa.close()
            s.close()
            s = open_stream(b, {"Last-Event-ID": a_id})
            s.next_event()
            self.assertEqual(s.next_change()["event"], "reset")
            s.close()
        finally:
            stop_and_check(None, a)
            stop_and_check(None, b)


if __name__ == "__main__":
    unittest.main()
