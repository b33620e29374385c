#!/usr/bin/python3
"""Write-load drills: one instance under continuous writes is stopped with
SIGTERM, killed with SIGKILL, or has its PostgreSQL restarted under it, and
no acknowledged write is lost.

What they prove.
  sigterm-under-load (SQLite, PostgreSQL). SIGTERM with SHUTDOWN_DRAIN=1:
    the instance goes on serving through the drain, then stops accepting,
    finishes what it has and exits 0. Every request that got an answer got
    a 2xx; the only requests without an answer are those made after the
    instance stopped accepting, and the instance never read any of them
    (its access log, which names each request by the X-Request-Id the
    drill sends, says so). After a restart on the same database the flags
    are exactly the acknowledged writes: nothing lost, nothing extra.
  kill9-under-load (SQLite, PostgreSQL). SIGKILL in the middle of the same
    load. After a restart on the same database every acknowledged write is
    there with its acknowledged state; the only latitude is for the one
    write per client that was in flight at the kill (its create may or may
    not exist, its toggle may or may not have taken effect).
  pg-restart-under-load (PostgreSQL). The same load plus reads while
    PostgreSQL is stopped (pg_ctl -m fast), held down for a second and
    started again. Reads never fail (they are served from memory, and
    show every acknowledged write); writes that meet the outage answer 503
    with a JSON error within DB_STATEMENT_TIMEOUT + 1 s + DB_CONNECT_TIMEOUT,
    and no write answers 503 outside the outage; writes recover by
    themselves once PostgreSQL accepts again; /ready returns to 200; every
    acknowledged write is in PostgreSQL, and no create whose 503 came
    before it reached PostgreSQL (the instance logs why each write failed).

How. One instance (TM_BINARY, default build/togglemaster) per drill on a
database of its own: a fresh SQLite file, or a fresh database on one
throwaway PostgreSQL (tests/api/pgserver.py) started for the run. Eight
client threads, each on its own keep-alive connection, create new flags
(POST /flags, unique names) and toggle flags only they write (PUT
/flags/<name>, always to the opposite of the last acknowledged state, so a
lost toggle shows). Each thread writes one request at a time, so its
records say exactly which write was in flight when something happened.
What the database may hold is worked out from those records: an
acknowledged write fixes a flag's state; a write without an answer that the
instance may have executed adds its state to the possible ones; a write
that was never sent (connection refused), that the instance never read, or
that failed before reaching PostgreSQL changes nothing. The database is
read both through a fresh instance (GET /flags) and directly (psql, or
Python's sqlite3 on the file).

  TM_BINARY=build/togglemaster /usr/bin/python3 tests/drills/write_load.py

Each drill prints one `drill NAME [backend]: ...` figures line; the last
line is `write-load drills: N passed, N failed` (each check is one), and
the exit status is 1 on any failure. Everything started is stopped and
removed at the end, also on failure, Ctrl-C or SIGTERM; a watchdog ends a
run that exceeds 150 s. TM_KEEP_TMP=1 keeps the instances' logs.
"""

import json
import os
import random
import select
import signal
import socket
import sqlite3
import sys
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "api"))
sys.dont_write_bytecode = True  # keep tests/ free of __pycache__

import harness  # noqa: E402
import pgserver  # noqa: E402
from drill import Check, binary_or_fail, closing, guard, log, run  # noqa: E402

SUITE = "write-load drills"
DEADLINE_S = 150            # the whole script, watchdog
CLIENT_THREADS = 8
CLIENT_TIMEOUT = 15.0       # socket timeout of one request: far above every bound below
OWN_FLAGS = 4               # flags each thread alone toggles from the start
WARMUP_S = 1.5              # load before the SIGTERM, the kill or the PostgreSQL stop
DRAIN_S = 1                 # SHUTDOWN_DRAIN in the SIGTERM drill
SHUTDOWN_TIMEOUT = 10
# PostgreSQL restart drill
READ_SHARE = 0.4            # of the requests; the rest are half creates, half toggles
SEED_FLAGS = 20             # read, never written
DB_STATEMENT_TIMEOUT_MS = 2000
DB_CONNECT_TIMEOUT_S = 2
WRITE_BOUND_S = DB_STATEMENT_TIMEOUT_MS / 1000.0 + 1 + DB_CONNECT_TIMEOUT_S   # no write waits longer
PG_DOWN_S = 1.0             # PostgreSQL is held down this long, so writes certainly meet the outage
AFTER_S = 2.5               # load after PostgreSQL is back
RECOVERY_BOUND_S = 5.0      # first acknowledged write after PostgreSQL accepts again

ABSENT = None               # a flag's "state" when it does not exist

# How a request ended (Client.send).
ANSWERED = "answered"       # a whole response (any status)
REFUSED = "refused"         # the connection was refused: nothing was sent
UNANSWERED = "unanswered"   # sent; the connection closed or reset before any byte of an answer
BROKEN = "broken"           # part of an answer, or one that is not HTTP
TIMEOUT = "timeout"         # no answer within CLIENT_TIMEOUT
CONNECT_FAILED = "connect failed"   # another error while connecting


# --- a small HTTP/1.1 client ----------------------------------------------
#
# http.client cannot say how far a failed request got. Here every request
# ends as one of the outcomes above, and "refused" (nothing sent) is told
# apart from "sent, no answer" and from "part of an answer".

class Client:
    """One keep-alive connection to 127.0.0.1:port, reopened when it closes."""

    def __init__(self, port):
        self.port = port
        self.sock = None
        self.idle_closed = []   # when the server was found to have closed the idle connection

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def _closed_while_idle(self):
        # Readable while no request is outstanding: an EOF, a reset, or bytes
        # nobody asked for. Either way the connection is over (urllib3 does
        # the same check before reusing a connection).
        try:
            readable, _, _ = select.select([self.sock], [], [], 0)
            return bool(readable)
        except (OSError, ValueError):
            return True

    def send(self, method, path, body, request_id):
        """(outcome, status, headers, body bytes, error text)."""
        if self.sock is not None and self._closed_while_idle():
            self.close()
            self.idle_closed.append(time.monotonic())
        if self.sock is None:
            try:
                self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=CLIENT_TIMEOUT)
            except ConnectionRefusedError as e:
                return REFUSED, None, {}, b"", str(e)
            except socket.timeout as e:
                return TIMEOUT, None, {}, b"", "connect: %s" % e
            except OSError as e:
                return CONNECT_FAILED, None, {}, b"", "%s: %s" % (type(e).__name__, e)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        data = json.dumps(body).encode() if body is not None else b""
        head = ("%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nX-Request-Id: %s\r\n"
                % (method, path, self.port, request_id))
        if body is not None:
            head += "Content-Type: application/json\r\nContent-Length: %d\r\n" % len(data)
        got = b""
        try:
            self.sock.sendall(head.encode() + b"\r\n" + data)   # one segment: headers and body
            while b"\r\n\r\n" not in got:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise EOFError("connection closed")
                got += chunk
            raw_head, rest = got.split(b"\r\n\r\n", 1)
            lines = raw_head.decode("latin-1").split("\r\n")
            version, status = lines[0].split(" ")[:2]
            if not version.startswith("HTTP/1."):
                raise ValueError("status line %r" % lines[0])
            status = int(status)
            headers = {}
            for line in lines[1:]:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
            length = int(headers.get("content-length", "0"))
            while len(rest) < length:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise EOFError("connection closed after %d of %d body bytes" % (len(rest), length))
                rest += chunk
                got += chunk
            if len(rest) > length:
                raise ValueError("%d bytes past the body" % (len(rest) - length))
        except socket.timeout as e:
            self.close()
            return TIMEOUT, None, {}, got, "no answer within %.0f s (%s)" % (CLIENT_TIMEOUT, e)
        except (EOFError, OSError) as e:
            self.close()
            return (UNANSWERED if not got else BROKEN), None, {}, got, "%s: %s" % (type(e).__name__, e)
        except ValueError as e:
            self.close()
            return BROKEN, None, {}, got, "not HTTP: %s" % e
        if headers.get("connection", "").lower() == "close":
            self.close()
        return ANSWERED, status, headers, rest, None


class Result:
    """One request and how it ended."""
    __slots__ = ("thread", "rid", "kind", "method", "name", "state", "want", "t0", "t1",
                 "outcome", "status", "body", "error")

    def acked(self):
        """A whole answer with the status this request must get."""
        return self.outcome == ANSWERED and self.status == self.want and self.error is None

    def describe(self, origin):
        return "%+.3f..%+.3f s %s %s %s%s: %s %s" % (
            self.t0 - origin, self.t1 - origin, self.rid, self.method, self.name,
            "" if self.state is None else " -> %s" % self.state, self.outcome,
            ("HTTP %s " % self.status if self.status else "") + (self.error or ""))


# --- the load --------------------------------------------------------------

class Load:
    """CLIENT_THREADS threads writing (and, with reads=True, reading) until
    stopped. Thread i creates flags named <tag>-t<i>-n<k> and toggles only
    flags it owns: the ones in owned[i] and the ones it created with an
    acknowledgement. until_refused: a thread stops at its first refused
    connection (the instance has stopped accepting)."""

    def __init__(self, port, tag, owned, seeds=None, reads=False, until_refused=False):
        self.port = port
        self.tag = tag
        self.owned = owned
        self.seeds = dict(seeds or {})
        self.reads = reads
        self.until_refused = until_refused
        self.stop = threading.Event()
        self.records = [[] for _ in range(CLIENT_THREADS)]
        self.clients = [Client(port) for _ in range(CLIENT_THREADS)]
        self.threads = [threading.Thread(target=self.run, args=(i,), name="load-%d" % i, daemon=True)
                        for i in range(CLIENT_THREADS)]

    def start(self):
        self.t_start = time.monotonic()
        for t in self.threads:
            t.start()

    def join(self, timeout):
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.1, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self.threads)

    def finish(self):
        self.stop.set()
        ok = self.join(CLIENT_TIMEOUT + 5)
        self.t_end = time.monotonic()
        return ok

    def run(self, idx):
        rnd = random.Random(7919 * (idx + 1))
        client = self.clients[idx]
        records = self.records[idx]
        last = dict(self.owned[idx])             # name -> last acknowledged state
        mine = list(last)                        # names this thread toggles
        possible = {n: {s} for n, s in last.items()}   # what a read may show now
        possible.update({n: {s} for n, s in self.seeds.items()})
        readable = list(self.seeds) + mine
        n = 0
        while not self.stop.is_set():
            n += 1
            r = Result()
            r.thread, r.rid, r.error, r.body = idx, "%s-%d-%d" % (self.tag, idx, n), None, None
            x = rnd.random()
            read_share = READ_SHARE if self.reads else 0.0
            if x < read_share:
                r.kind, r.method, r.name, r.state, r.want = "read", "GET", rnd.choice(readable), None, 200
                path, body = "/flags/" + r.name, None
            elif x < read_share + (1 - read_share) / 2:   # the writes: half creates, half toggles
                r.kind, r.method, r.want = "write", "POST", 201
                r.name, r.state = "%s-t%d-n%d" % (self.tag, idx, n), rnd.random() < 0.5
                path, body = "/flags", {"name": r.name, "is_enabled": r.state}
            else:
                r.kind, r.method, r.want = "write", "PUT", 200
                r.name = rnd.choice(mine)
                r.state = not last[r.name]
                path, body = "/flags/" + r.name, {"is_enabled": r.state}
            r.t0 = time.monotonic()
            r.outcome, r.status, headers, raw, r.error = client.send(r.method, path, body, r.rid)
            r.t1 = time.monotonic()
            if r.outcome == ANSWERED:
                try:
                    r.body = json.loads(raw) if raw else None
                except ValueError:
                    r.error = "body is not JSON: %r" % raw[:200]
                if r.error is None and headers.get("x-request-id") != r.rid:
                    r.error = "answer for request %r" % headers.get("x-request-id")
                if r.error is None and r.status == r.want:
                    r.error = self.check_body(r, possible)
            records.append(r)
            # This thread's view of what each of its flags may be now.
            if r.kind == "write":
                if r.acked():
                    possible[r.name] = {r.state}
                    last[r.name] = r.state
                    if r.method == "POST":
                        mine.append(r.name)
                        readable.append(r.name)
                elif r.outcome != REFUSED:
                    possible.setdefault(r.name, {ABSENT}).add(r.state)
            if self.until_refused and r.outcome == REFUSED:
                break
        client.close()

    @staticmethod
    def check_body(r, possible):
        """The answer to a 2xx: the flag asked for, in a state it may have."""
        b = r.body
        if r.kind == "write":
            # The original's answers: {"message": "Flag '<name>' created successfully"}, "... updated".
            ok = isinstance(b, dict) and "'%s'" % r.name in str(b.get("message"))
            return None if ok else "answer does not name flag %s: %r" % (r.name, b)
        if not isinstance(b, dict) or b.get("name") != r.name:
            return "answer is not flag %s: %r" % (r.name, b)
        if b.get("is_enabled") not in possible.get(r.name, {ABSENT}):
            return ("read is_enabled=%r, but the acknowledged writes allow only %r"
                    % (b.get("is_enabled"), sorted(possible.get(r.name, ()), key=str)))
        return None

    def all(self):
        return sorted((r for rs in self.records for r in rs), key=lambda r: r.t0)

    def allowed(self, initial, may_have_run):
        """name -> the states the database may hold for it (ABSENT: no such
        flag), from each thread's records in order. may_have_run(result)
        says whether a write without an acknowledgement may have executed."""
        allowed = {n: {s} for n, s in initial.items()}
        for recs in self.records:
            for r in recs:
                if r.kind != "write":
                    continue
                if r.acked():
                    allowed[r.name] = {r.state}
                elif may_have_run(r):
                    allowed.setdefault(r.name, {ABSENT}).add(r.state)
                else:
                    allowed.setdefault(r.name, {ABSENT})
        return allowed


# --- databases ------------------------------------------------------------

class Backend:
    """Where a drill's database lives: a fresh SQLite file or a fresh
    database on the run's PostgreSQL."""

    def __init__(self, name, pg=None):
        self.name = name
        self.pg = pg

    def new_database(self, tag):
        if self.name == "sqlite":
            return "sqlite://" + os.path.join(harness.tmpdir(tag), "togglemaster.db")
        return self.pg.dsn(self.pg.create_database("tm_%s" % tag.replace("-", "_")))

    def stored(self, url):
        """{name: is_enabled} read from the database itself, not through the service."""
        if self.name == "sqlite":
            db = sqlite3.connect(url[len("sqlite://"):], timeout=10)
            try:
                return {n: bool(e) for n, e in db.execute("SELECT name, is_enabled FROM flags")}
            finally:
                db.close()
        return {n: e == "t" for n, e in self.pg.rows(harness.pg_dbname(url),
                                                      "SELECT name, is_enabled FROM flags")}


def served(server):
    """{name: is_enabled} as an instance serves it (GET /flags), or None."""
    r = server.get("/flags")
    if r.status != 200 or not isinstance(r.json, list):
        return None
    return {f["name"]: f["is_enabled"] for f in r.json}


def prepare(backend, tag, env, seeds=0):
    """A migrated database and a running instance, with each thread's own
    flags (off) and `seeds` read-only flags (on) created before the load."""
    url = backend.new_database(tag)
    harness.migrate(url, env)
    server = harness.Server(url, env=env).start()
    owned = [{"%s-t%d-own%d" % (tag, t, k): False for k in range(OWN_FLAGS)} for t in range(CLIENT_THREADS)]
    seeded = {"%s-seed%02d" % (tag, k): True for k in range(seeds)}
    for name, state in [kv for d in owned for kv in d.items()] + list(seeded.items()):
        r = server.post("/flags", {"name": name, "is_enabled": state})
        assert r.status == 201, "creating %s: %r" % (name, r)
    initial = dict(seeded)
    for d in owned:
        initial.update(d)
    return url, server, owned, seeded, initial


def compare(found, allowed):
    """Flags whose state in `found` is not one `allowed` permits, as
    {name: (allowed states, found state)}; a name in neither is absent."""
    out = {}
    for name in set(found) | set(allowed):
        ok = allowed.get(name, {ABSENT})
        if found.get(name, ABSENT) not in ok:
            out[name] = (sorted(ok, key=str), found.get(name, ABSENT))
    return out


def check_database(check, label, backend, url, allowed, env, what):
    """A fresh instance on the database serves, and the database itself
    holds, only states `allowed` permits. Returns (ready seconds, flags)."""
    t0 = time.monotonic()
    s2 = harness.Server(url, env=env).start()       # returns once /ready answers 200
    ready_s = time.monotonic() - t0
    via_api = served(s2)
    check(via_api is not None and not compare(via_api, allowed),
          "%s: a fresh instance serves %s (%d flags)" % (label, what, len(via_api or {})),
          "GET /flags failed" if via_api is None else
          "allowed vs served: %r" % dict(sorted(compare(via_api, allowed).items())[:20]))
    rc = s2.stop()
    check(rc == 0 and not s2.sanitizer_report(), "%s: the fresh instance exited %s" % (label, rc),
          s2.sanitizer_report() or s2.output_tail())
    in_db = backend.stored(url)
    check(not compare(in_db, allowed),
          "%s: %s holds %s (%d flags)" % (label, "psql" if backend.name == "postgres" else "sqlite3",
                                         what, len(in_db)),
          "allowed vs stored: %r" % dict(sorted(compare(in_db, allowed).items())[:20]))
    return ready_s, in_db


def failures_text(results, origin, n=15):
    return "\n".join(r.describe(origin) for r in results[:n]) + (
        "\n... %d more" % (len(results) - n) if len(results) > n else "")


# --- drill 1: SIGTERM under write load ------------------------------------

def drill_sigterm(check, backend):
    label = "sigterm-under-load [%s]" % backend.name
    tag = "sig-" + backend.name[:2]
    env = {"SHUTDOWN_DRAIN": DRAIN_S, "SHUTDOWN_TIMEOUT": SHUTDOWN_TIMEOUT, "LOG_LEVEL": "info",
           "MAX_CLIENT_CONNECTIONS": 0}
    url, server, owned, _, initial = prepare(backend, tag, env)
    load = Load(server.port, tag, owned, until_refused=True)
    load.start()
    time.sleep(WARMUP_S)

    t_term = time.monotonic()
    server.send_signal(signal.SIGTERM)
    t_stop = t_term + DRAIN_S      # the instance cannot stop accepting earlier than this
    # During the drain /ready says 503 and everything else is still served.
    time.sleep(DRAIN_S / 3.0)
    try:
        ready = server.get("/ready", timeout=5).status
    except OSError as e:
        ready = repr(e)
    rc = server.wait_exit(DRAIN_S + SHUTDOWN_TIMEOUT + 5)
    t_exit = time.monotonic()
    if rc is None:
        server.kill()
    # Every thread ends at its first refused connection; the instance is gone.
    finished = load.join(CLIENT_TIMEOUT + 5)
    load.finish()
    check(finished, "%s: every client thread got a refused connection and stopped" % label)
    check(ready == 503, "%s: /ready answered %s during the drain" % (label, ready))
    check(rc == 0 and not server.sanitizer_report(),
          "%s: exited %s %.2f s after SIGTERM" % (label, rc, t_exit - t_term),
          server.sanitizer_report() or server.output_tail())
    check(t_exit - t_term < DRAIN_S + SHUTDOWN_TIMEOUT
          and not server.wait_log(lambda o: "shutdown timeout" in o.get("message", ""), 0),
          "%s: in-flight requests finished before SHUTDOWN_TIMEOUT" % label, server.output_tail())

    # What the instance itself saw: its access log names our request ids.
    seen = {}
    for o in server.logs():
        if o.get("message") == "request" and str(o.get("request_id", "")).startswith(tag + "-"):
            seen[o["request_id"]] = (o.get("status"), o.get("aborted", False))
    results = load.all()
    answered = [r for r in results if r.outcome == ANSWERED]
    acked = [r for r in results if r.acked()]
    # Served all through the drain: writes sent in its second half were
    # acknowledged too (with no drain, the instance stops accepting at once).
    late_in_drain = [r for r in acked if t_term + DRAIN_S / 2.0 < r.t0 and r.t1 < t_stop]
    check(late_in_drain, "%s: %d writes sent in the second half of the %d s drain and acknowledged"
          % (label, len(late_in_drain), DRAIN_S))
    # No answer other than the expected 2xx; no request cut off mid-answer.
    bad = [r for r in results if r.outcome in (BROKEN, TIMEOUT, CONNECT_FAILED)
           or (r.outcome == ANSWERED and not r.acked())]
    # Nothing refused or left unanswered while the instance was still accepting...
    early = [r for r in results if r.outcome in (REFUSED, UNANSWERED) and r.t1 < t_stop]
    # ... and what was left unanswered afterwards, the instance never read:
    # it closed an idle keep-alive connection, or a connection still in the
    # listen queue, just as the request arrived.
    read_then_dropped = [r for r in results if r.outcome == UNANSWERED and r.rid in seen]
    idle_early = [t for c in load.clients for t in c.idle_closed if t < t_stop]
    check(not bad and not early and not read_then_dropped and not idle_early,
          "%s: every answer was a 2xx; only requests made after the instance stopped accepting, "
          "which it never read, went unanswered" % label,
          failures_text(bad + early + read_then_dropped, t_term)
          + ("\n%d idle connections closed by the server before the drain ended" % len(idle_early)
             if idle_early else "")
          + "\n(times relative to SIGTERM)")
    # The access log is complete: every answer the clients got is in it, with
    # the same status, so "not in the log" above means "never read".
    unlogged = [r for r in answered if seen.get(r.rid, (None,))[0] != r.status]
    check(not unlogged, "%s: the access log records all %d answers with their status" % (label, len(answered)),
          failures_text(unlogged, t_term))

    # Exactly the acknowledged writes: none of the unanswered was executed.
    allowed = load.allowed(initial, may_have_run=lambda r: r.outcome not in (REFUSED, UNANSWERED)
                           or r.rid in seen)
    check_database(check, label, backend, url, allowed, {"LOG_LEVEL": "warn"},
                   "exactly the acknowledged writes")

    refused = [r for r in results if r.outcome == REFUSED]
    unread = [r for r in results if r.outcome == UNANSWERED and r.rid not in seen]
    first_refusal = min((r.t1 for r in refused), default=t_exit)
    writes = [r for r in acked if r.kind == "write"]
    print("drill %s: %d requests answered, %d writes acknowledged (%d creates, %d toggles), %d failed, "
          "%d refused after stop (%d connections refused, %d closed unread), stopped accepting after %.2f s, "
          "exit %s in %.2f s"
          % (label, len(answered), len(writes), sum(1 for r in writes if r.method == "POST"),
             sum(1 for r in writes if r.method == "PUT"), len(bad) + len(early) + len(read_then_dropped),
             len(refused) + len(unread), len(refused), len(unread), first_refusal - t_term, rc, t_exit - t_term),
          flush=True)


# --- drill 2: kill -9 under write load ------------------------------------

def drill_kill(check, backend):
    label = "kill9-under-load [%s]" % backend.name
    tag = "kill-" + backend.name[:2]
    env = {"LOG_LEVEL": "warn", "MAX_CLIENT_CONNECTIONS": 0}
    url, server, owned, _, initial = prepare(backend, tag, env)
    load = Load(server.port, tag, owned)
    load.start()
    time.sleep(WARMUP_S)

    t_kill = time.monotonic()
    server.proc.kill()
    load.stop.set()               # each thread ends after the request it has in flight
    finished = load.finish()
    rc = server.wait_exit(10)
    check(finished, "%s: every client thread finished" % label)
    check(rc == -signal.SIGKILL, "%s: the instance died of SIGKILL (%s)" % (label, rc))

    results = load.all()
    # Before the kill, nothing may fail.
    before = [r for r in results if r.t1 < t_kill and not r.acked()]
    check(not before, "%s: every request before the kill acknowledged" % label,
          failures_text(before, t_kill) + "\n(times relative to the kill)")
    acked = [r for r in results if r.kind == "write" and r.acked()]
    # Writes that got no acknowledgement: at most the one each thread had in
    # flight, which may or may not have run (a refused one was never sent).
    in_flight = [r for r in results if r.kind == "write" and not r.acked() and r.outcome != REFUSED]
    allowed = load.allowed(initial, may_have_run=lambda r: r.outcome != REFUSED)
    ready_s, in_db = check_database(check, label, backend, url, allowed, {"LOG_LEVEL": "warn"},
                                    "every acknowledged write (or its in-flight successor)")
    creates = {r.name: r.state for r in acked if r.method == "POST"}
    present = sum(1 for n in creates if n in in_db)
    took_effect = sum(1 for r in in_flight if in_db.get(r.name, ABSENT) == r.state)
    check(present == len(creates), "%s: %d of %d acknowledged creates present" % (label, present, len(creates)))
    last_acked = {}
    for r in acked:               # by t0; each flag is written by one thread, one write at a time
        last_acked[r.name] = r.state
    as_acked = sum(1 for n, st in last_acked.items() if in_db.get(n, ABSENT) == st)
    print("drill %s: %d writes acknowledged before the kill (%d creates, %d toggles), %d of %d flags present "
          "in their last acknowledged state, %d in flight at the kill (%d took effect), ready %.2f s after restart"
          % (label, len(acked), len(creates), len(acked) - len(creates), as_acked, len(last_acked),
             len(in_flight), took_effect, ready_s), flush=True)


# --- drill 3: PostgreSQL restarted under load -----------------------------

def drill_pg_restart(check, backend):
    label = "pg-restart-under-load [postgres]"
    tag = "pgre"
    pg = backend.pg
    env = {"LOG_LEVEL": "info", "MAX_CLIENT_CONNECTIONS": 0, "DB_STATEMENT_TIMEOUT": DB_STATEMENT_TIMEOUT_MS,
           "DB_CONNECT_TIMEOUT": DB_CONNECT_TIMEOUT_S}
    url, server, owned, seeds, initial = prepare(backend, tag, env, seeds=SEED_FLAGS)
    load = Load(server.port, tag, owned, seeds=seeds, reads=True)
    load.start()
    time.sleep(WARMUP_S)

    t_begin = time.monotonic()
    pg.stop(mode="fast")          # pg_ctl stop -m fast -w: returns once it is down
    t_down = time.monotonic()
    time.sleep(PG_DOWN_S)
    t_starting = time.monotonic()
    pg.start()                    # pg_ctl start -w, then pg_isready
    t_up = time.monotonic()
    time.sleep(AFTER_S)
    finished = load.finish()
    check(finished, "%s: every client thread finished" % label)
    results = load.all()
    origin = t_begin
    reads = [r for r in results if r.kind == "read"]
    writes = [r for r in results if r.kind == "write"]

    # Reads are served from memory: every one 200, showing acknowledged writes.
    bad_reads = [r for r in reads if not r.acked()]
    check(not bad_reads, "%s: all %d reads answered 200 with an acknowledged state" % (label, len(reads)),
          failures_text(bad_reads, origin) + "\n(times relative to the PostgreSQL stop)")

    # Writes: acknowledged, or 503 with a JSON error; never anything else.
    def is_503(r):
        return (r.outcome == ANSWERED and r.status == 503 and isinstance(r.body, dict)
                and isinstance(r.body.get("error"), str) and r.body["error"])
    bad_writes = [r for r in writes if not (r.acked() or is_503(r))]
    check(not bad_writes, "%s: every write acknowledged or answered 503 with a JSON error" % label,
          failures_text(bad_writes, origin))
    longest = max((r.t1 - r.t0 for r in writes), default=0.0)
    slow = [r for r in writes if r.t1 - r.t0 > WRITE_BOUND_S]
    check(not slow, "%s: no write took longer than %.0f s (longest %.2f s)" % (label, WRITE_BOUND_S, longest),
          failures_text(slow, origin))
    # Recovery: the first write started once PostgreSQL was down and
    # acknowledged; measured from the moment PostgreSQL accepted again.
    recovered = min((r.t1 for r in writes if r.acked() and r.t0 >= t_down), default=None)
    recovery_s = None if recovered is None else max(0.0, recovered - t_up)
    check(recovered is not None and recovery_s <= RECOVERY_BOUND_S,
          "%s: writes recovered by themselves %s after PostgreSQL accepted again"
          % (label, "never" if recovered is None else "%.2f s" % recovery_s))
    # 503 only for writes that overlap the outage [stop begun, recovered];
    # no acknowledgement while PostgreSQL was down.
    end = recovered if recovered is not None else load.t_end
    refused_503 = [r for r in writes if is_503(r)]
    outside = [r for r in refused_503 if r.t1 < t_begin or r.t0 > end]
    check(not outside, "%s: no write answered 503 outside the outage" % label, failures_text(outside, origin))
    impossible = [r for r in writes if r.acked() and r.t0 > t_down and r.t1 < t_starting]
    check(not impossible, "%s: no write acknowledged while PostgreSQL was down" % label,
          failures_text(impossible, origin))
    check(refused_503, "%s: the load met the outage (%d writes answered 503)" % (label, len(refused_503)))

    # /ready back to 200; the instance serves what PostgreSQL holds.
    try:
        server.wait_for("/ready", timeout=10)
        ready_ok = True
    except AssertionError as e:
        ready_ok = str(e)
    check(ready_ok is True, "%s: /ready answers 200 again" % label, "" if ready_ok is True else ready_ok)
    in_db = backend.stored(url)
    deadline = time.monotonic() + 5
    while True:
        view = served(server)
        if view == in_db or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    diff = sorted(set((view or {}).items()) ^ set(in_db.items()))
    check(view == in_db, "%s: the instance serves exactly what PostgreSQL holds" % label,
          "differences: %r" % diff[:20])
    rc = server.stop()
    check(rc == 0 and not server.sanitizer_report(), "%s: exited %s on SIGTERM" % (label, rc),
          server.sanitizer_report() or server.output_tail())

    # Which 503s may have committed. The instance logs each one ("store
    # unavailable", with our request id and why). A create is never
    # repeated, so one that failed while connecting (or configuring or
    # preparing the connection) never reached PostgreSQL and must not be
    # there. Any other 503 may have committed: the connection broke with
    # the statement sent. (A toggle is repeated once on a fresh connection
    # after such a break, and then reports the reconnect's failure: every
    # 503 toggle may have run.)
    why = {o.get("request_id"): o.get("detail", "") for o in server.logs()
           if o.get("message") == "store unavailable"}
    unsent = ("postgres connect:", "postgres configure:", "postgres prepare:")

    def may_have_run(r):
        if r.method == "POST" and is_503(r):
            return not why.get(r.rid, "").startswith(unsent)
        return r.outcome != REFUSED
    allowed = load.allowed(initial, may_have_run)
    creates_503 = [r for r in refused_503 if r.method == "POST"]
    ambiguous = [r for r in creates_503 if may_have_run(r)]
    check(not compare(in_db, allowed), "%s: PostgreSQL holds every acknowledged write, and no create "
          "that failed before reaching it (%d flags)" % (label, len(in_db)),
          "allowed vs stored: %r" % dict(sorted(compare(in_db, allowed).items())[:20]))

    acked = [r for r in writes if r.acked()]
    print("drill %s: %d requests (%d reads, %d writes), %d reads failed, %d writes acknowledged, "
          "%d writes 503 during the outage (%d creates, %d of them possibly committed; PostgreSQL "
          "stopped and back in %.2f s), longest write %.2f s, writes recovered %s after PostgreSQL "
          "accepted again"
          % (label, len(results), len(reads), len(writes), len(bad_reads), len(acked), len(refused_503),
             len(creates_503), len(ambiguous), t_up - t_begin, longest,
             "never" if recovery_s is None else "%.2f s" % recovery_s), flush=True)


# --- main -----------------------------------------------------------------

def main():
    check = Check()
    if binary_or_fail(SUITE) is None:
        return 1
    state = {"pg": None}

    def cleanup():
        if state["pg"] is not None:
            state["pg"].cleanup()
    guard(SUITE, DEADLINE_S, check, cleanup)

    t0 = time.monotonic()
    sqlite_be = Backend("sqlite")
    pg_be = None
    try:
        pg = pgserver.PgServer()
        state["pg"] = pg
        pg.start()
        pg_be = Backend("postgres", pg)
    except Exception:  # noqa: BLE001 - reported as a failed check; the SQLite drills still run
        check(False, "a throwaway PostgreSQL starts", traceback.format_exc())

    drills = [(drill_sigterm, sqlite_be), (drill_sigterm, pg_be),
              (drill_kill, sqlite_be), (drill_kill, pg_be),
              (drill_pg_restart, pg_be)]      # last: it restarts the PostgreSQL the others use
    try:
        for fn, backend in drills:
            if backend is None:
                continue
            t = time.monotonic()
            try:
                fn(check, backend)
            except Exception:  # noqa: BLE001 - anything unexpected is a failed drill, reported
                check(False, "%s [%s] aborted" % (fn.__name__, backend.name), traceback.format_exc())
            finally:
                harness.kill_all()     # whatever the drill left running
                if backend.pg is not None and not backend.pg.running:
                    backend.pg.start()
            log("%s [%s]: %.1f s" % (fn.__name__, backend.name, time.monotonic() - t))
    finally:
        harness.kill_all()
        if state["pg"] is not None:
            state["pg"].cleanup()
    return closing(SUITE, check, t0)


if __name__ == "__main__":
    run(SUITE, main)
