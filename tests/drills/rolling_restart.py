#!/usr/bin/python3
"""Rolling-restart drill: two instances on one PostgreSQL behind HAProxy are
restarted one at a time under continuous mixed load, and no client notices.

What it proves. SIGTERM turns /ready to 503 for SHUTDOWN_DRAIN seconds while
every request is still served; a load balancer that health-checks /ready
takes the instance out during that time, so by the moment the instance stops
accepting, nothing is being sent to it any more, and the requests it still
has finish. A rolling restart of both instances therefore ends with
  - zero failed client requests (any status other than the expected one, and
    any exception such as a reset or a closed connection, is a failure);
  - every acknowledged write present, with its acknowledged state, both in
    PostgreSQL and as each instance serves it.

How. A throwaway PostgreSQL (tests/api/pgserver.py), migrated; two
instances (TM_BINARY, default build/togglemaster) with SHUTDOWN_DRAIN=2 and
MAX_CLIENT_CONNECTIONS=0 (all of HAProxy's connections come from one
address); HAProxy (Debian's package, scripts/install-deps.sh) in front,
checking GET /ready every 200 ms (fall 2, rise 2). Eight client threads
send reads (GET /flags/<name>, GET /flags), evaluations (OFREP) and writes
(POST /flags with new names, PUT /flags/<name> toggles) through HAProxy on
keep-alive connections. Meanwhile each instance in turn gets SIGTERM, must
be taken out by HAProxy within the drain, must exit 0, and is replaced by a
new process on the same port that HAProxy must see UP before the next one
is rolled. Figures: requests sent, failures, the longest time during which
no request completed successfully (across all clients), p99 and max latency.

  TM_BINARY=build/togglemaster /usr/bin/python3 tests/drills/rolling_restart.py [--drain S]

The last line is `rolling-restart: N passed, N failed` (each check below is
one); the exit status is 1 on any failure. `--drain 0` shows that the drill
has teeth (the instances stop accepting at once); the suite never uses it.
Everything started is stopped and removed at the end, also on failure,
Ctrl-C or SIGTERM; a watchdog ends a run that exceeds 120 s.
TM_KEEP_TMP=1 keeps the logs (instances', HAProxy's).
"""

import argparse
import csv
import http.client
import io
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "api"))
sys.dont_write_bytecode = True  # keep tests/ free of __pycache__

import harness  # noqa: E402
import pgserver  # noqa: E402
from drill import Check, binary_or_fail, closing, guard, log, run  # noqa: E402

SUITE = "rolling-restart"
DEADLINE_S = 120            # the whole drill, watchdog
CLIENT_THREADS = 8          # moderate: the machine has two cores for everything
CLIENT_TIMEOUT = 30.0       # above HAProxy's worst case (retries x timeout server)
SHUTDOWN_TIMEOUT = 10
CHECK_INTER_MS = 200        # HAProxy health-check interval; fall 2, rise 2
WARMUP_S = 1.5              # load before the first SIGTERM
AFTER_S = 2.0               # load after the last instance is back
SEED_FLAGS = 20             # read and evaluated, never written during the load
TOGGLES_PER_THREAD = 4      # each client thread owns these, so their final state is known

HAPROXY_CFG = """\
# Written by tests/drills/rolling_restart.py for one run.
global
    log stdout format raw local0 info
    stats socket {sock} mode 600 level admin
    maxconn 2000

defaults
    mode http
    log global
    option httplog
    # Only errors, retries and redispatches are logged (and server state
    # changes): the evidence when a request goes wrong.
    option dontlog-normal
    timeout connect 1s
    timeout client 30s
    timeout http-request 5s
    timeout http-keep-alive 30s
    timeout server 5s
    timeout queue 5s
    timeout check 1s
    # A connection that was refused (the instance has stopped accepting)
    # is tried again, on the other instance: the request never left.
    retries 3
    option redispatch
    default-server inter {inter}ms fastinter {inter}ms downinter {inter}ms fall 2 rise 2

frontend fe
    bind 127.0.0.1:{port}
    # Which requests may be replayed decides the backend:
    #  - reads (GET, HEAD) and evaluations (POST /ofrep/..., /evaluate) change
    #    nothing (an evaluation only adds to a usage count), so they may be
    #    replayed after any failure, even one where the first attempt might
    #    still be running: be_read;
    #  - writes: be_write.
    acl read method GET HEAD
    acl evaluation path_beg /ofrep/ /evaluate
    use_backend be_read if read
    use_backend be_read if evaluation
    default_backend be_write

backend be_read
    balance roundrobin
    option httpchk GET /ready
    http-check expect status 200
    retry-on conn-failure empty-response response-timeout
    server tm1 127.0.0.1:{port1} check
    server tm2 127.0.0.1:{port2} check

backend be_write
    balance roundrobin
    # Writes are replayed only where a second copy cannot change the outcome:
    #  - conn-failure (the request was never sent): every write.
    #  - empty-response (sent, the connection closed with no answer): only
    #    PUT, which sets an absolute state ({{"is_enabled": X}}; the drill uses
    #    no If-Match, which would answer 412 to a replay). Whether or not
    #    the first copy ran, the flag ends as X, and the client has not
    #    moved on to its next write while HAProxy replays. A POST that
    #    created its flag before the connection died would answer 409 to
    #    the replay (the client would be told its write failed although it
    #    is there), and a replayed DELETE 404: not replayed.
    #  - response-timeout: for no write. The first copy may still be running
    #    (queued behind a slow database); a replay, then the client's next
    #    write, could be overtaken by it, so an acknowledged state would be
    #    overwritten by an older one.
    retry-on conn-failure empty-response
    http-request disable-l7-retry unless METH_PUT
    # One health check for both backends: these servers follow be_read's.
    server tm1 127.0.0.1:{port1} track be_read/tm1
    server tm2 127.0.0.1:{port2} track be_read/tm2
"""


# --- HAProxy ---------------------------------------------------------------

class HAProxy:
    def __init__(self, port, port1, port2, workdir):
        self.port = port
        self.dir = workdir
        self.sock = os.path.join(workdir, "admin.sock")
        self.cfg = os.path.join(workdir, "haproxy.cfg")
        self.log_path = os.path.join(workdir, "haproxy.log")
        with open(self.cfg, "w") as f:
            f.write(HAPROXY_CFG.format(sock=self.sock, port=port, port1=port1, port2=port2,
                                       inter=CHECK_INTER_MS))
        self.proc = None

    def start(self):
        exe = shutil.which("haproxy") or "/usr/sbin/haproxy"
        if not os.access(exe, os.X_OK):
            raise RuntimeError("haproxy not found: run scripts/install-deps.sh")
        chk = subprocess.run([exe, "-c", "-f", self.cfg], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, timeout=30)
        if chk.returncode != 0:
            raise RuntimeError("haproxy -c rejects the config:\n%s"
                               % chk.stdout.decode("utf-8", "replace"))
        self._log = open(self.log_path, "ab")
        # -db: foreground, no daemon; it is our child and dies with the drill.
        self.proc = subprocess.Popen([exe, "-db", "-f", self.cfg], stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT, cwd=self.dir)
        deadline = time.monotonic() + 10
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("haproxy exited with %s\n%s" % (self.proc.returncode, self.log_tail()))
            try:
                self.stats()   # the socket answers once the config is loaded and bound
                return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("haproxy did not come up\n" + self.log_tail())
            time.sleep(0.05)

    def command(self, cmd):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(2)
            s.connect(self.sock)
            s.sendall(cmd.encode() + b"\n")
            return harness.read_until_closed(s).decode("utf-8", "replace")

    def stats(self):
        """{(proxy, server): row} from `show stat` (CSV with a '# ' header)."""
        text = self.command("show stat")
        rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
        return {(r["pxname"], r["svname"]): r for r in rows if r.get("pxname")}

    def status(self, server):
        """be_read's view of tm1/tm2: 'UP', 'DOWN', 'UP 1/2' (going down), ..."""
        return self.stats()[("be_read", server)]["status"]

    def served(self, server):
        """2xx answers the server has given through HAProxy, both backends."""
        st = self.stats()
        return sum(int(st[(b, server)]["hrsp_2xx"] or 0) for b in ("be_read", "be_write"))

    def troubles(self):
        """What HAProxy itself had to paper over or pass on, both backends:
        retries, redispatches, connection and response errors, 5xx."""
        st = self.stats()
        out = {}
        for k in ("wretr", "wredis", "econ", "eresp", "hrsp_5xx"):
            out[k] = sum(int(st[(b, "BACKEND")][k] or 0) for b in ("be_read", "be_write"))
        return out

    def wait_status(self, server, want, timeout):
        deadline = time.monotonic() + timeout
        while True:
            st = self.status(server)
            if st == want:
                return time.monotonic()
            if time.monotonic() > deadline:
                return None
            time.sleep(0.02)

    def log_tail(self, n=40):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return "--- haproxy log (%s) ---\n%s" % (self.log_path, "".join(f.readlines()[-n:]))
        except OSError:
            return ""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if getattr(self, "_log", None):
            self._log.close()


# --- the load --------------------------------------------------------------

class Load:
    """CLIENT_THREADS threads, each on its own keep-alive connection to
    HAProxy (http.client opens a new one after a close), sending a mix of
    requests until stopped. Every request is recorded; each thread keeps
    its own records and write ledger, merged after the threads are joined."""

    def __init__(self, port, seeds, eval_flags, toggles):
        self.port = port
        self.seeds = seeds
        self.eval_flags = eval_flags
        self.toggles = toggles            # thread index -> names it alone writes
        self.stop = threading.Event()
        self.records = [[] for _ in range(CLIENT_THREADS)]   # (t0, t1, kind, ok)
        self.failures = [[] for _ in range(CLIENT_THREADS)]  # (t1, kind, request, error)
        self.created = [{} for _ in range(CLIENT_THREADS)]   # acknowledged: name -> state
        self.maybe_created = [set() for _ in range(CLIENT_THREADS)]   # not acknowledged
        # toggle name -> the states it may have now: one after an
        # acknowledged PUT; an unacknowledged PUT adds its state.
        self.toggle_states = {n: {False} for names in toggles for n in names}
        # Writes answered 503 (database unavailable) when tolerate_503 is set
        # (the database failover drill of tests/vpc/ha_drills.py): not
        # failures, not acknowledged either.
        self.tolerate_503 = False
        self.unavailable = [[] for _ in range(CLIENT_THREADS)]   # (t1, request, Retry-After)
        self.threads = [threading.Thread(target=self.run, args=(i,), name="load-%d" % i, daemon=True)
                        for i in range(CLIENT_THREADS)]

    def start(self):
        self.t_start = time.monotonic()
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(CLIENT_TIMEOUT + 5)
        self.t_end = time.monotonic()
        return not any(t.is_alive() for t in self.threads)

    def pick(self, rnd, idx, n):
        """(kind, method, path, body, expected status, ledger callback or None)."""
        x = rnd.random()
        if x < 0.35:
            name = rnd.choice(self.seeds)
            return ("read", "GET", "/flags/" + name, None, 200, ("name", name))
        if x < 0.40:
            return ("read", "GET", "/flags?limit=100", None, 200, None)
        if x < 0.75:
            key = rnd.choice(self.eval_flags)
            body = {"context": {"targetingKey": "user-%d" % rnd.randrange(100000)}}
            return ("evaluation", "POST", "/ofrep/v1/evaluate/flags/" + key, body, 200, ("key", key))
        if x < 0.875:
            name = "drill-%d-%d" % (idx, n)
            state = rnd.random() < 0.5
            return ("write", "POST", "/flags", {"name": name, "is_enabled": state}, 201,
                    ("create", name, state))
        name = rnd.choice(self.toggles[idx])
        state = rnd.random() < 0.5
        return ("write", "PUT", "/flags/" + name, {"is_enabled": state}, 200, ("toggle", name, state))

    def connect(self):
        """A new client connection to the load balancer (a subclass may
        speak TLS to another address)."""
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=CLIENT_TIMEOUT)

    def run(self, idx):
        rnd = random.Random(1000 + idx)
        conn = self.connect()
        records, failures = self.records[idx], self.failures[idx]
        n = 0
        while not self.stop.is_set():
            n += 1
            kind, method, path, body, want, note = self.pick(rnd, idx, n)
            data = json.dumps(body).encode() if body is not None else None
            headers = {"Content-Type": "application/json"} if data is not None else {}
            err = None
            unavailable = None   # a tolerated 503: its Retry-After ("" if none)
            t0 = time.monotonic()
            try:
                conn.request(method, path, body=data, headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
                if resp.status == 503 and kind == "write" and self.tolerate_503:
                    unavailable = resp.getheader("Retry-After") or ""
                elif resp.status != want:
                    err = "HTTP %d %r" % (resp.status, raw[:200])
                elif note and note[0] in ("name", "key"):
                    doc = json.loads(raw)
                    if doc.get(note[0]) != note[1]:
                        err = "HTTP %d but the body is for another flag: %r" % (resp.status, raw[:200])
            except (OSError, http.client.HTTPException, ValueError) as e:
                err = "%s: %s" % (type(e).__name__, e)
                conn.close()   # the next request opens a new connection
            t1 = time.monotonic()
            records.append((t0, t1, kind, err is None and unavailable is None))
            if err is not None:
                failures.append((t1, kind, "%s %s" % (method, path), err))
            elif unavailable is not None:
                self.unavailable[idx].append((t1, "%s %s" % (method, path), unavailable))
                err = "503"   # not acknowledged: the ledger below treats it as unknown
            if note and note[0] == "create":
                if err is None:
                    self.created[idx][note[1]] = note[2]
                else:
                    self.maybe_created[idx].add(note[1])
            elif note and note[0] == "toggle":
                if err is None:
                    self.toggle_states[note[1]] = {note[2]}
                else:
                    self.toggle_states[note[1]].add(note[2])
        conn.close()

    # results
    def all_records(self):
        return [r for rs in self.records for r in rs]

    def all_failures(self):
        return sorted(f for fs in self.failures for f in fs)

    def all_created(self):
        out = {}
        for d in self.created:
            out.update(d)
        return out

    def all_maybe_created(self):
        return set().union(*self.maybe_created)


def longest_gap(records, t_start, t_end):
    """Longest interval in [t_start, t_end] with no successful completion."""
    ends = sorted(r[1] for r in records if r[3])
    points = [t_start] + ends + [t_end]
    best, at = 0.0, t_start
    for a, b in zip(points, points[1:]):
        if b - a > best:
            best, at = b - a, a
    return best, at


def percentile(values, p):
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


# --- the drill ------------------------------------------------------------

def instance_env(drain):
    return {"SHUTDOWN_DRAIN": drain, "SHUTDOWN_TIMEOUT": SHUTDOWN_TIMEOUT,
            # behind a load balancer every connection comes from its address
            "MAX_CLIENT_CONNECTIONS": 0, "LOG_LEVEL": "info"}


def flags_in_db(pg, db):
    return {name: enabled == "t" for name, enabled in pg.rows(db, "SELECT name, is_enabled FROM flags")}


def flags_served(server):
    r = server.get("/flags")
    if r.status != 200 or not isinstance(r.json, list):
        return None
    return {f["name"]: f["is_enabled"] for f in r.json}


def roll(check, hap, servers, name, drain, db_url, timeline):
    """SIGTERM the instance `name`, see HAProxy take it out and the process
    exit 0, start its replacement on the same port and wait for HAProxy to
    send it traffic again. Returns the new Server and the 2xx answers
    HAProxy has counted for it so far."""
    old = servers[name]
    t_term = time.monotonic()
    old.send_signal(signal.SIGTERM)
    # Watch HAProxy's view until the process is gone.
    t_down = None
    bound = t_term + drain + SHUTDOWN_TIMEOUT + 5
    while old.proc.poll() is None and time.monotonic() < bound:
        if t_down is None and hap.status(name).startswith("DOWN"):
            t_down = time.monotonic()
        time.sleep(0.02)
    rc = old.wait_exit(max(0.1, bound - time.monotonic()))
    t_exit = time.monotonic()
    if rc is None:
        old.kill()
    if t_down is None and hap.status(name).startswith("DOWN"):
        t_down = time.monotonic()
    timeline.append(("%s SIGTERM" % name, t_term))
    if t_down is not None:
        timeline.append(("%s DOWN in haproxy" % name, t_down))
    timeline.append(("%s exited (%s)" % (name, rc), t_exit))
    # HAProxy must have stopped sending before the instance stops accepting,
    # which is when the drain ends.
    check(t_down is not None and t_down < t_term + drain,
          "%s: haproxy took it out during the %d s drain (after %s)"
          % (name, drain, "%.2f s" % (t_down - t_term) if t_down else "never"),
          "" if t_down is not None and t_down < t_term + drain else hap.log_tail())
    rep = old.sanitizer_report()
    check(rc == 0 and not rep, "%s: exited %s %.2f s after SIGTERM" % (name, rc, t_exit - t_term),
          old.output_tail() if rc != 0 else (rep or ""))

    new = harness.Server(db_url, env=instance_env(drain), port=old.port)
    t_start = time.monotonic()
    new.start()                       # waits for its own /ready == 200
    servers[name] = new
    if t_down is not None:
        t_up = hap.wait_status(name, "UP", 10)
    else:
        # HAProxy never noticed that the old process went away: its "UP" is
        # stale, and it has been sending traffic to the replacement whatever
        # that answered. Let a few checks pass before going on.
        time.sleep(3 * CHECK_INTER_MS / 1000.0)
        t_up = None
    if t_up is not None:
        timeline.append(("%s' UP in haproxy" % name, t_up))
    check(t_up is not None, "%s: replacement UP in haproxy %s after start"
          % (name, "%.2f s" % (t_up - t_start) if t_up else "not seen"),
          "" if t_up else "haproxy never saw it DOWN, so its UP says nothing\n" + hap.log_tail())
    return new, hap.served(name)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--drain", type=int, default=2,
                    help="SHUTDOWN_DRAIN of the instances (default 2; 0 shows the drill failing)")
    opts = ap.parse_args()
    drain = opts.drain

    check = Check()
    if binary_or_fail(SUITE) is None:
        return 1
    pg = hap = load = None

    def cleanup():
        if hap is not None:
            hap.stop()
        if pg is not None:
            pg.cleanup()
    guard(SUITE, DEADLINE_S, check, cleanup)

    t0 = time.monotonic()
    try:
        # PostgreSQL, schema, the flags the load works on.
        pg = pgserver.PgServer()
        pg.start()
        db = pg.create_database("tm_drill")
        db_url = pg.dsn(db)
        harness.migrate(db_url)
        servers = {}
        for name in ("tm1", "tm2"):
            servers[name] = harness.Server(db_url, env=instance_env(drain),
                                           port=harness.free_port()).start()
        seeds = ["seed-%02d" % i for i in range(SEED_FLAGS)]
        toggles = [["toggle-%d-%d" % (t, k) for k in range(TOGGLES_PER_THREAD)]
                   for t in range(CLIENT_THREADS)]
        s1 = servers["tm1"]
        for n in seeds:
            r = s1.post("/flags", {"name": n, "is_enabled": True})
            assert r.status == 201, "creating %s: %r" % (n, r)
        for n in (n for names in toggles for n in names):
            r = s1.post("/flags", {"name": n, "is_enabled": False})
            assert r.status == 201, "creating %s: %r" % (n, r)
        # A flagd-style flag: string variants split by the targeting key.
        r = s1.post("/flags", {"name": "drill-color", "state": "ENABLED",
                               "variants": {"red": "#f00", "green": "#0f0", "blue": "#00f"},
                               "defaultVariant": "red",
                               "targeting": {"fractional": [["red", 34], ["green", 33], ["blue", 33]]}})
        assert r.status == 201, "creating drill-color: %r" % r

        hap = HAProxy(harness.free_port(), servers["tm1"].port, servers["tm2"].port,
                      harness.tmpdir("haproxy"))
        hap.start()
        for name in ("tm1", "tm2"):
            assert hap.wait_status(name, "UP", 10), "haproxy never saw %s UP\n%s" % (name, hap.log_tail())
        # Both instances must know every flag before the load reads them.
        for s in servers.values():
            deadline = time.monotonic() + 5
            while len(flags_served(s) or {}) < SEED_FLAGS + CLIENT_THREADS * TOGGLES_PER_THREAD + 1:
                assert time.monotonic() < deadline, "an instance never saw the seeded flags"
                time.sleep(0.05)
        check(True, "setup: PostgreSQL, two instances (SHUTDOWN_DRAIN=%d), haproxy on :%d, %.1f s"
              % (drain, hap.port, time.monotonic() - t0))

        # The drill: load, roll tm1, roll tm2, load a little longer.
        load = Load(hap.port, seeds, seeds[:5] + ["drill-color"], toggles)
        timeline = []
        load.start()
        timeline.append(("load started", load.t_start))
        time.sleep(WARMUP_S)
        served_at_up = {}
        for name in ("tm1", "tm2"):
            _, served_at_up[name] = roll(check, hap, servers, name, drain, db_url, timeline)
        time.sleep(AFTER_S)
        finished = load.finish()
        timeline.append(("load stopped", load.t_end))
        check(finished, "load: every client thread finished")
        # The replacements really took traffic from HAProxy.
        for name in ("tm1", "tm2"):
            more = hap.served(name) - served_at_up[name]
            check(more > 0, "%s': served %d requests through haproxy after it came back" % (name, more))

        # Figures.
        records = load.all_records()
        failures = load.all_failures()
        kinds = {k: sum(1 for r in records if r[2] == k) for k in ("read", "evaluation", "write")}
        lat = [r[1] - r[0] for r in records]
        slowest = max(records, key=lambda r: r[1] - r[0])
        gap, gap_at = longest_gap(records, load.t_start, load.t_end)
        figures = ("rolling restart: %d requests (reads %d, evaluations %d, writes %d), %d failed, "
                   "longest gap %d ms, p99 %d ms, max %d ms, over %.1f s"
                   % (len(records), kinds["read"], kinds["evaluation"], kinds["write"], len(failures),
                      gap * 1000, percentile(lat, 99) * 1000, max(lat) * 1000,
                      load.t_end - load.t_start))
        print(figures, flush=True)
        print("haproxy: %(wretr)d retries, %(wredis)d redispatches, %(econ)d connection errors, "
              "%(eresp)d response errors, %(hrsp_5xx)d 5xx answers" % hap.troubles(), flush=True)
        print("timeline (s after the load started; longest gap began at %.2f, the slowest request "
              "was a %s sent at %.2f):" % (gap_at - load.t_start, slowest[2], slowest[0] - load.t_start))
        for what, t in sorted(timeline, key=lambda x: x[1]):
            print("  %6.2f  %s" % (t - load.t_start, what))
        check(not failures, "no failed client request (%d of %d)" % (len(failures), len(records)),
              "\n".join("%.2f s %s %s: %s" % (t - load.t_start, k, req, e)
                        for t, k, req, e in failures[:20]) + "\n" + hap.log_tail())

        # Every acknowledged write, in PostgreSQL and as both instances serve it.
        in_db = flags_in_db(pg, db)
        created = load.all_created()
        missing = {n: s for n, s in created.items() if in_db.get(n) != s}
        check(not missing, "%d acknowledged creates in PostgreSQL with their state" % len(created),
              "missing or wrong: %r" % dict(list(missing.items())[:20]))
        wrong = {n: (sorted(ok), in_db.get(n)) for n, ok in load.toggle_states.items()
                 if in_db.get(n) not in ok}
        check(not wrong, "%d toggled flags in PostgreSQL in their last acknowledged state"
              % len(load.toggle_states), "expected vs found: %r" % wrong)
        drill_names = {n for n in in_db if n.startswith("drill-") and n != "drill-color"}
        extra = drill_names - set(created) - load.all_maybe_created()
        check(not extra, "no flag in PostgreSQL that no client asked for", repr(sorted(extra)[:20]))
        for name in ("tm1", "tm2"):
            s = servers[name]
            deadline = time.monotonic() + 5
            while True:
                served = flags_served(s)
                if served == in_db or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            diff = sorted(set((served or {}).items()) ^ set(in_db.items()))
            check(served == in_db, "%s' serves exactly what PostgreSQL holds (%d flags)" % (name, len(in_db)),
                  "differences: %r" % diff[:20])
        # Both at once: two drains one after the other would only add time.
        for name in ("tm1", "tm2"):
            servers[name].send_signal(signal.SIGTERM)
        for name in ("tm1", "tm2"):
            s = servers[name]
            rc = s.wait_exit(drain + SHUTDOWN_TIMEOUT + 5)
            rep = s.sanitizer_report()
            check(rc == 0 and not rep, "%s': exited %s at the end" % (name, rc),
                  rep or s.output_tail())
    except AssertionError as e:
        check(False, "drill aborted", str(e))
    except Exception as e:  # noqa: BLE001 - anything else is a failed drill, reported
        import traceback
        check(False, "drill aborted", traceback.format_exc())
    finally:
        if load is not None:
            load.stop.set()
        harness.kill_all()
        if hap is not None:
            hap.stop()
        if pg is not None:
            pg.cleanup()
    return closing(SUITE, check, t0)


if __name__ == "__main__":
    run(SUITE, main)
