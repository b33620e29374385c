#!/usr/bin/python3
"""The `ha` shape of the VPC replica, and four availability drills under
continuous mixed load through the load balancer.

                          tmha-router (VPC router)
     r-client    r-lb     r-app1     r-app2      r-db1        r-db2
        |          |         |          |           |            |
  tmha-client  tmha-lb   tmha-app1  tmha-app2   tmha-db1     tmha-db2
  198.19.0.10  198.19.1.10  .10.10    .11.10     .20.10       .21.10
  "internet"   HAProxy   private    private     PostgreSQL   streaming
               TLS :443  subnet a   subnet b    primary      replica (sync)
               public    :80        :80         (zone a)     (zone b)

The database endpoint 198.19.30.10 (what DB_HOST names) is on the loopback
of both database namespaces, and the router sends it to the primary
(a /32 route). RDS Multi-AZ moves its endpoint's DNS name to the promoted
standby; here a failover replaces that route, so the app hosts keep their
DB_HOST and reach the new primary when they reconnect.

HAProxy is rolling_restart.py's configuration (TLS added) plus fail-open
backups: while /ready is 503 on both hosts (the database is down) it still
sends traffic to them, as an AWS ALB does when every target is unhealthy.

Security groups (nftables input chains): app hosts admit :80 only from the
load balancer; database hosts admit :5432 only from the app hosts and the
other database host (replication).

Drills (each with its own load; figures line per drill):
  1 kill-host     every process of tmha-app1 gets kill -9: no request sent
                  after HAProxy's health check (GET /ready, 200 ms, fall 2)
                  removed it fails (those in flight at the kill may, and
                  are listed); tmha-app2 serves everything; tm1 is started
                  again.
  2 rolling       SIGTERM (SHUTDOWN_DRAIN=2) and replace each host in turn:
                  zero failed requests.
  3 zone-loss     the link of private subnet b (r-app2) is cut: no request
                  sent after the health check removed tm2 fails; the link
                  is restored 1.5 s later.
  4 db-failover   the primary's host dies (every process in tmha-db1 kill -9),
                  the replica is promoted and the endpoint moved to it:
                  writes answer 503 (with Retry-After) for at most
                  FAILOVER_WINDOW_S, then succeed; reads never fail; every
                  acknowledged write of all drills is on the new primary.

Usage: tests/vpc/ha_drills.py  (as root; TM_BINARY, default build/togglemaster).
Not root: skip line (fails if TM_VPC_REQUIRED=1). The last line is
`vpc-ha: N passed, N failed`; exit 1 on failure. Leftovers of a killed run
(tmha-* namespaces and their processes, /tmp/tmha-run.*) are removed first,
and everything is removed at the end, also on failure, Ctrl-C or SIGTERM.
"""

import contextlib
import ctypes
import http.client
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "drills"))
sys.path.insert(0, os.path.join(ROOT, "tests", "api"))
sys.dont_write_bytecode = True

import pgserver  # noqa: E402
import rolling_restart as rr  # noqa: E402
from drill import Check, closing, guard, log  # noqa: E402

SUITE = "vpc-ha"
DEADLINE_S = 170
P = "tmha-"
NAMESPACES = ["router", "client", "lb", "app1", "app2", "db1", "db2"]
NET = "198.18.0.0/15"
ADDR = {"client": "198.19.0.10", "lb": "198.19.1.10", "app1": "198.19.10.10",
        "app2": "198.19.11.10", "db1": "198.19.20.10", "db2": "198.19.21.10"}
DB_ENDPOINT = "198.19.30.10"
DRAIN = 2
# The documented bound (docs/operations.md, "Database failover"): writes
# answer 503 for at most this long after the primary is lost, when the
# standby is promoted and the endpoint moved within a few seconds.
FAILOVER_WINDOW_S = 15
AFTER_S = 2.0

BIN = os.environ.get("TM_BINARY", "build/togglemaster")
if not os.path.isabs(BIN):
    BIN = os.path.join(ROOT, BIN)

_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000


@contextlib.contextmanager
def netns(name):
    """Run the block (in this thread) inside namespace tmha-NAME: children
    started and threads created there inherit it."""
    own = os.open("/proc/self/task/%d/ns/net" % _thread_id(), os.O_RDONLY)
    fd = os.open("/run/netns/" + P + name, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns " + name)
        try:
            yield
        finally:
            if _libc.setns(own, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back")
    finally:
        os.close(fd)
        os.close(own)


def _thread_id():
    import threading
    return threading.get_native_id()


def sh(*argv, check=True, timeout=60):
    r = subprocess.run(list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    if check and r.returncode != 0:
        raise RuntimeError("%s -> %d\n%s" % (" ".join(argv), r.returncode,
                                            r.stdout.decode("utf-8", "replace")))
    return r.stdout.decode("utf-8", "replace")


def nsx(ns, *argv, **kw):
    return sh("ip", "netns", "exec", P + ns, *argv, **kw)


def ns_pids(ns):
    out = sh("ip", "netns", "pids", P + ns, check=False)
    return [int(p) for p in out.split()]


def kill_ns(ns, sig=signal.SIGKILL):
    pids = ns_pids(ns)
    for p in pids:
        try:
            os.kill(p, sig)
        except ProcessLookupError:
            pass
    return pids


def our_namespaces():
    out = sh("ip", "netns", "list", check=False)
    return [line.split()[0] for line in out.splitlines() if line.startswith(P)]


def teardown(pg_bin):
    for ns in our_namespaces():
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if not ns_pids(ns[len(P):]):
                break
            kill_ns(ns[len(P):], sig)
            for _ in range(30):
                if not ns_pids(ns[len(P):]):
                    break
                time.sleep(0.1)
    for ns in our_namespaces():
        sh("ip", "netns", "del", ns, check=False)
    for d in os.listdir("/tmp"):
        if d.startswith("tmha-run."):
            shutil.rmtree(os.path.join("/tmp", d), ignore_errors=True)


# --- the replica ------------------------------------------------------------

SG_APP = """table inet tmha_sg {
  chain input {
    type filter hook input priority 0; policy drop;
    ct state established,related accept
    iif lo accept
    ip saddr %s tcp dport 80 accept
  }
}
""" % ADDR["lb"]

SG_DB = """table inet tmha_sg {
  chain input {
    type filter hook input priority 0; policy drop;
    ct state established,related accept
    iif lo accept
    ip saddr { %s, %s, %s, %s } tcp dport 5432 accept
  }
}
""" % (ADDR["app1"], ADDR["app2"], ADDR["db1"], ADDR["db2"])


def build_network(work):
    for ns in NAMESPACES:
        sh("ip", "netns", "add", P + ns)
        nsx(ns, "ip", "link", "set", "lo", "up")
        nsx(ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
            "net.ipv6.conf.default.disable_ipv6=1", check=False)
    nsx("router", "sysctl", "-qw", "net.ipv4.ip_forward=1")
    for host, ip in ADDR.items():
        gw = ip.rsplit(".", 1)[0] + ".1"
        sh("ip", "link", "add", "name", "eth0", "netns", P + host, "type", "veth",
           "peer", "name", "r-" + host, "netns", P + "router")
        nsx("router", "ip", "addr", "add", gw + "/24", "dev", "r-" + host)
        nsx("router", "ip", "link", "set", "r-" + host, "up")
        nsx(host, "ip", "addr", "add", ip + "/24", "dev", "eth0")
        nsx(host, "ip", "link", "set", "eth0", "up")
        nsx(host, "ip", "route", "add", NET, "via", gw, "dev", "eth0")
    for db in ("db1", "db2"):
        nsx(db, "ip", "addr", "add", DB_ENDPOINT + "/32", "dev", "lo")
    point_endpoint("db1")
    for ns, rules in (("app1", SG_APP), ("app2", SG_APP), ("db1", SG_DB), ("db2", SG_DB)):
        path = os.path.join(work, "sg-%s.nft" % ns)
        with open(path, "w") as f:
            f.write(rules)
        nsx(ns, "nft", "-f", path)


def point_endpoint(db):
    """The 'DNS name' of the database: the router's /32 route for it."""
    nsx("router", "ip", "route", "replace", DB_ENDPOINT + "/32", "via", ADDR[db])


def make_tls(work):
    ca_key, ca = os.path.join(work, "ca.key"), os.path.join(work, "ca.pem")
    key, csr, crt = (os.path.join(work, n) for n in ("lb.key", "lb.csr", "lb.crt"))
    ext = os.path.join(work, "lb.ext")
    sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca,
       "-days", "1", "-subj", "/CN=tmha test CA")
    sh("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
       "-subj", "/CN=" + ADDR["lb"])
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:%s\nextendedKeyUsage=serverAuth\n" % ADDR["lb"])
    sh("openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
       "-out", crt, "-days", "1", "-extfile", ext)
    pem = os.path.join(work, "lb.pem")
    with open(pem, "w") as out:
        for p in (crt, key):
            with open(p) as f:
                out.write(f.read())
    os.chmod(pem, 0o600)
    return ca, pem


class Postgres:
    """One cluster in namespace tmha-NAME, run as the postgres system user."""

    def __init__(self, name, work, bindir):
        self.name, self.bindir = name, bindir
        self.data = os.path.join(work, "pg-" + name)
        self.sock = os.path.join(work, "sock-" + name)
        self.log = os.path.join(work, "postgres-%s.log" % name)
        os.makedirs(self.sock)
        open(self.log, "w").close()
        for p in (self.sock, self.log):
            shutil.chown(p, "postgres", "postgres")

    def run(self, prog, *args, timeout=60):
        return sh("ip", "netns", "exec", P + self.name, "runuser", "-u", "postgres", "--",
                  os.path.join(self.bindir, prog), *args, timeout=timeout)

    def conf(self, text):
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write(text)

    def start(self):
        self.run("pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "30", "start")

    def sql(self, q, db="postgres"):
        return self.run("psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", self.sock,
                        "-U", "postgres", "-d", db, "-c", q)


def build_databases(work, bindir, password):
    primary, standby = Postgres("db1", work, bindir), Postgres("db2", work, bindir)
    os.makedirs(primary.data, mode=0o700)
    shutil.chown(primary.data, "postgres", "postgres")
    primary.run("initdb", "-D", primary.data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
                "--locale=C", "--no-sync", "--no-instructions")
    primary.conf("""
# --- tests/vpc/ha_drills.py: the Multi-AZ pair ---
listen_addresses = '*'
port = 5432
unix_socket_directories = '%s'
password_encryption = 'scram-sha-256'
wal_level = replica
max_wal_senders = 5
hot_standby = on
fsync = off
full_page_writes = off
log_min_messages = warning
""" % primary.sock)
    with open(os.path.join(primary.data, "pg_hba.conf"), "w") as f:
        f.write("local all all trust\n"
                "host replication repl %s/32 trust\n"
                "host replication repl %s/32 trust\n"
                "host togglemaster tm_app %s/32 scram-sha-256\n"
                "host togglemaster tm_app %s/32 scram-sha-256\n"
                % (ADDR["db1"], ADDR["db2"], ADDR["app1"], ADDR["app2"]))
    primary.start()
    primary.sql("CREATE ROLE repl LOGIN REPLICATION")
    primary.sql("CREATE ROLE tm_app LOGIN PASSWORD '%s'" % password)
    primary.sql("CREATE DATABASE togglemaster OWNER tm_app")
    os.makedirs(standby.data, mode=0o700)
    shutil.chown(standby.data, "postgres", "postgres")
    standby.run("pg_basebackup", "-h", ADDR["db1"], "-U", "repl", "-D", standby.data,
                "-X", "stream", "-R", "--no-sync", "-c", "fast", timeout=30)
    os.chmod(standby.data, 0o700)
    standby.conf("\nunix_socket_directories = '%s'\n" % standby.sock)
    with open(os.path.join(standby.data, "postgresql.auto.conf"), "a") as f:
        f.write("primary_conninfo = 'host=%s port=5432 user=repl application_name=db2'\n"
                % ADDR["db1"])
    standby.start()
    # Synchronous replication: a commit is acknowledged (and so is the
    # client's write) only once the standby has it. That is what Multi-AZ
    # guarantees, and what lets drill 4 demand every acknowledged write on
    # the promoted standby. Set only now: with no standby connected yet,
    # the CREATEs above would have waited for ever.
    primary.sql("ALTER SYSTEM SET synchronous_standby_names = 'db2'")
    primary.sql("SELECT pg_reload_conf()")
    deadline = time.monotonic() + 20
    while primary.sql("SELECT sync_state FROM pg_stat_replication WHERE application_name = 'db2'").strip() != "sync":
        if time.monotonic() > deadline:
            raise RuntimeError("the standby never became synchronous")
        time.sleep(0.1)
    return primary, standby


# --- the service -------------------------------------------------------------

def app_env(password):
    return {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PORT": "80", "BIND": "0.0.0.0",
            "LOG_LEVEL": "warn", "DB_HOST": DB_ENDPOINT, "DB_PORT": "5432",
            "DB_NAME": "togglemaster", "DB_USER": "tm_app", "DB_PASSWORD": password,
            "DB_CONNECT_TIMEOUT": "2", "DB_STATEMENT_TIMEOUT": "2000",
            "SHUTDOWN_DRAIN": str(DRAIN), "SHUTDOWN_TIMEOUT": "10",
            "MAX_CLIENT_CONNECTIONS": "0"}


class App:
    def __init__(self, ns, work, password):
        self.ns, self.work, self.password = ns, work, password
        self.proc = None
        self.n = 0

    def start(self):
        self.n += 1
        self.logf = open(os.path.join(self.work, "serve-%s-%d.log" % (self.ns, self.n)), "wb")
        with netns(self.ns):
            self.proc = subprocess.Popen([BIN, "serve"], env=app_env(self.password),
                                         stdin=subprocess.DEVNULL, stdout=self.logf,
                                         stderr=subprocess.STDOUT)
        return self

    def log_tail(self, n=20):
        try:
            with open(self.logf.name, errors="replace") as f:
                return "--- %s ---\n%s" % (self.logf.name, "".join(f.readlines()[-n:]))
        except OSError:
            return ""


class HAProxy(rr.HAProxy):
    """rolling_restart's HAProxy and config, terminating TLS on the public
    address of tmha-lb and sending to the two app hosts."""

    def __init__(self, work, pem):
        super().__init__(443, 80, 80, work)
        with open(self.cfg) as f:
            cfg = f.read()
        cfg = cfg.replace("bind 127.0.0.1:443", "bind %s:443 ssl crt %s" % (ADDR["lb"], pem))
        cfg = cfg.replace("server tm1 127.0.0.1:80", "server tm1 %s:80" % ADDR["app1"])
        cfg = cfg.replace("server tm2 127.0.0.1:80", "server tm2 %s:80" % ADDR["app2"])
        # Fail open, as an AWS ALB does when every target is unhealthy: /ready
        # is 503 on both hosts while the database is down (drill 4), and
        # then HAProxy would answer every request itself with 503 "no
        # server". The unchecked backups take over only while both checked
        # servers are DOWN, so reads are served from memory and writes get
        # the service's own 503 with Retry-After. A dead host among them is
        # a connection failure, retried on the other (retries/redispatch).
        for backend in ("be_read", "be_write"):
            cfg = cfg.replace("    server tm2 %s:80 %s" % (ADDR["app2"], "check" if backend == "be_read" else "track be_read/tm2"),
                              "    server tm2 %s:80 %s\n"
                              "    option allbackups\n"
                              "    server open1 %s:80 backup\n"
                              "    server open2 %s:80 backup"
                              % (ADDR["app2"], "check" if backend == "be_read" else "track be_read/tm2",
                                 ADDR["app1"], ADDR["app2"]))
        assert "127.0.0.1" not in cfg, cfg
        with open(self.cfg, "w") as f:
            f.write(cfg)

    def start(self):
        with netns("lb"):
            return super().start()


class Load(rr.Load):
    """rolling_restart's load, over TLS to the load balancer, verifying its
    certificate against the test CA; created names carry the drill's tag."""

    def __init__(self, tag, ctx, seeds, eval_flags, toggles, toggle_states):
        super().__init__(443, seeds, eval_flags, toggles)
        self.tag, self.ctx = tag, ctx
        self.toggle_states = {n: set(s) for n, s in toggle_states.items()}

    def connect(self):
        return http.client.HTTPSConnection(ADDR["lb"], 443, context=self.ctx,
                                           timeout=rr.CLIENT_TIMEOUT)

    def pick(self, rnd, idx, n):
        kind, method, path, body, want, note = super().pick(rnd, idx, n)
        if note and note[0] == "create":
            name = "%s-%s" % (self.tag, note[1])
            body = dict(body, name=name)
            note = ("create", name, note[2])
        return kind, method, path, body, want, note

    def start(self):
        with netns("client"):
            super().start()


def client_request(ctx, method, path, body=None):
    with netns("client"):
        c = http.client.HTTPSConnection(ADDR["lb"], 443, context=ctx, timeout=10)
        c.connect()   # the socket is made here, in the client's namespace
    try:
        c.request(method, path, body=json.dumps(body).encode() if body is not None else None,
                  headers={"Content-Type": "application/json"} if body is not None else {})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def figures(name, load, extra=""):
    records, failures = load.all_records(), load.all_failures()
    gap, _ = rr.longest_gap(records, load.t_start, load.t_end)
    return records, failures, gap, ("ha %s: %d requests, %d failed, longest gap %d ms%s"
                                     % (name, len(records), len(failures), gap * 1000, extra))


def fail_detail(load, failures, hap):
    return "\n".join("%.2f s %s %s: %s" % (t - load.t_start, k, req, e)
                     for t, k, req, e in failures[:15]) + "\n" + hap.log_tail(15)


def wait_for(pred, timeout, step=0.02):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return time.monotonic()
        if time.monotonic() > deadline:
            return None
        time.sleep(step)


# --- main ----------------------------------------------------------------------

def main():
    check = Check()
    t0 = time.monotonic()
    if os.geteuid() != 0:
        if os.environ.get("TM_VPC_REQUIRED") == "1":
            print("FAIL  needs root for network namespaces")
            print("%s: 0 passed, 1 failed" % SUITE)
            return 1
        print("%s: skipped (needs root for network namespaces)" % SUITE)
        print("%s: 0 passed, 0 failed" % SUITE)
        return 0
    for tool in ("ip", "nft", "openssl", "runuser", "haproxy"):
        if not shutil.which(tool):
            check(False, "'%s' missing: run scripts/install-deps.sh vpc" % tool)
            return closing(SUITE, check, t0)
    if not os.access(BIN, os.X_OK):
        check(False, "%s missing: run make first" % BIN)
        return closing(SUITE, check, t0)
    for v in [k for k in os.environ if k.startswith("PG") or k.lower().endswith("_proxy")]:
        del os.environ[v]
    pg_bin = pgserver.pg_bindir()

    hap = None
    loads = []

    def cleanup():
        for ld in loads:
            ld.stop.set()
        if hap is not None:
            hap.stop()
        teardown(pg_bin)
    guard(SUITE, DEADLINE_S, check, cleanup)

    if our_namespaces():
        log("removing leftovers of an earlier run: %s" % " ".join(our_namespaces()))
    teardown(pg_bin)
    work = tempfile.mkdtemp(prefix="tmha-run.", dir="/tmp")
    os.chmod(work, 0o711)
    try:
        password = os.urandom(12).hex()
        build_network(work)
        ca, pem = make_tls(work)
        ctx = ssl.create_default_context(cafile=ca)
        primary, standby = build_databases(work, pg_bin, password)
        with netns("app1"):
            subprocess.run(
                [BIN, "migrate"], env=app_env(password), check=True, timeout=30,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        apps = {"tm1": App("app1", work, password).start(), "tm2": App("app2", work, password).start()}
        hap = HAProxy(work, pem)
        hap.start()
        for name in apps:
            assert hap.wait_status(name, "UP", 15), "haproxy never saw %s UP\n%s%s" % (
                name, hap.log_tail(), apps[name].log_tail())

        seeds = ["seed-%02d" % i for i in range(rr.SEED_FLAGS)]
        toggles = [["toggle-%d-%d" % (t, k) for k in range(rr.TOGGLES_PER_THREAD)]
                   for t in range(rr.CLIENT_THREADS)]
        for n in seeds:
            st, raw = client_request(ctx, "POST", "/flags", {"name": n, "is_enabled": True})
            assert st == 201, "creating %s: %d %r" % (n, st, raw)
        for n in (n for names in toggles for n in names):
            st, raw = client_request(ctx, "POST", "/flags", {"name": n, "is_enabled": False})
            assert st == 201, "creating %s: %d %r" % (n, st, raw)
        want = len(seeds) + sum(len(t) for t in toggles)
        for ns in ("app1", "app2"):
            def seen(ns=ns):
                out = nsx("lb", "curl", "-s", "--max-time", "2", "http://%s/flags" % ADDR[ns],
                          check=False)
                try:
                    return len(json.loads(out)) >= want
                except ValueError:
                    return False
            assert wait_for(seen, 10, 0.1), "%s never saw the seeded flags" % ns
        check(True, "setup: 7 namespaces, TLS HAProxy, 2 app hosts, PostgreSQL primary + "
              "synchronous streaming replica, %.1f s" % (time.monotonic() - t0))

        state = {n: {False} for names in toggles for n in names}

        def new_load(tag):
            ld = Load(tag, ctx, seeds, seeds[:5], toggles, state)
            loads.append(ld)
            ld.start()
            time.sleep(1.0)
            return ld

        def end_load(ld):
            time.sleep(AFTER_S)
            ok = ld.finish()
            state.clear()
            state.update(ld.toggle_states)
            return ok

        def sent_after(ld, failures, t):
            """The failures among requests sent after t (a failure records
            when it ended; its record has when it was sent)."""
            sent = {r[1]: r[0] for r in ld.all_records() if not r[3]}
            return [f for f in failures if sent.get(f[0], f[0]) > t]

        # 1 kill one app host
        ld = new_load("d1")
        served_before = hap.served("tm2")
        t_kill = time.monotonic()
        kill_ns("app1")
        apps["tm1"].proc.wait(10)
        t_out = hap.wait_status("tm1", "DOWN", 10)
        tm1_at_out = hap.served("tm1")
        time.sleep(1.5)
        tm1_later = hap.served("tm1")
        apps["tm1"].start()
        t_up = hap.wait_status("tm1", "UP", 15)
        ok = end_load(ld)
        records, failures, gap, line = figures("kill-host", ld, ", removed after %s, recovered in %s"
                                               % ("%.2f s" % (t_out - t_kill) if t_out else "never",
                                                  "%.1f s" % (t_up - t_kill) if t_up else "never"))
        print(line, flush=True)
        check(ok and t_out is not None and t_up is not None,
              "kill-host: haproxy removed tm1 and took it back after its restart", hap.log_tail())
        late = sent_after(ld, failures, t_out or t_kill)
        check(not late, "kill-host: no request sent after the health check removed tm1 failed "
              "(%d in flight before failed)" % (len(failures) - len(late)), fail_detail(ld, late, hap))
        check(tm1_later == tm1_at_out and hap.served("tm2") > served_before,
              "kill-host: the survivor tm2 served everything while tm1 was out")
        if failures:
            print("  failed, sent before removal:\n" + fail_detail(ld, failures, hap).split("\n--- ")[0],
                  flush=True)

        # 2 rolling restart of both hosts
        ld = new_load("d2")
        t_roll = time.monotonic()
        for name in ("tm1", "tm2"):
            app = apps[name]
            t_term = time.monotonic()
            app.proc.send_signal(signal.SIGTERM)
            t_down = hap.wait_status(name, "DOWN", DRAIN + 2)
            try:
                rc = app.proc.wait(DRAIN + 15)
            except subprocess.TimeoutExpired:
                rc = None
                app.proc.kill()
            check(t_down is not None and t_down < t_term + DRAIN and rc == 0,
                  "rolling: %s out of haproxy within the %d s drain (%s), exited %s"
                  % (name, DRAIN, "%.2f s" % (t_down - t_term) if t_down else "never", rc),
                  app.log_tail() + hap.log_tail())
            app.start()
            check(hap.wait_status(name, "UP", 15) is not None, "rolling: %s replacement UP" % name)
        t_done = time.monotonic()
        ok = end_load(ld)
        records, failures, gap, line = figures("rolling", ld, ", recovered in %.1f s (both hosts replaced)"
                                               % (t_done - t_roll))
        print(line, flush=True)
        check(ok and not failures, "rolling: zero failed requests (%d of %d)" % (len(failures), len(records)),
              fail_detail(ld, failures, hap))

        # 3 zone loss: private subnet b's link is cut, and restored after
        # the health check has taken tm2 out (within HAProxy's 5 s server
        # timeout: requests in flight to tm2 wait for the link).
        ld = new_load("d3")
        t_cut = time.monotonic()
        nsx("router", "ip", "link", "set", "r-app2", "down")
        t_out = hap.wait_status("tm2", "DOWN", 10)
        time.sleep(1.5)
        t_back = time.monotonic()
        nsx("router", "ip", "link", "set", "r-app2", "up")
        t_up = hap.wait_status("tm2", "UP", 15)
        ok = end_load(ld)
        records, failures, gap, line = figures("zone-loss", ld, ", removed after %s, recovered in %s"
                                               % ("%.2f s" % (t_out - t_cut) if t_out else "never",
                                                  "%.1f s" % (t_up - t_cut) if t_up else "never"))
        print(line, flush=True)
        check(ok and t_out is not None and t_up is not None,
              "zone-loss: haproxy removed tm2 and took it back after the link returned", hap.log_tail())
        # A request in flight to tm2 when the link went may fail (a write
        # waits for its database commit over that link, then answers 503
        # after DB_STATEMENT_TIMEOUT + 1 s); none sent after the removal may.
        late = sent_after(ld, failures, t_out or t_cut)
        early = [f for f in failures if f not in late]
        if early:
            print("  failed, sent before removal:\n" + fail_detail(ld, early, hap).split("\n--- ")[0],
                  flush=True)
        check(not late, "zone-loss: zone a served on, no request sent after tm2's removal failed "
              "(%d in flight before failed)" % len(early),
              fail_detail(ld, late, hap) + apps["tm2"].log_tail())

        # 4 database failover
        ld = new_load("d4")
        ld.tolerate_503 = True
        t_loss = time.monotonic()
        kill_ns("db1")               # the primary's host dies
        standby.run("pg_ctl", "-D", standby.data, "-w", "-t", "30", "promote")
        point_endpoint("db2")        # the endpoint's "DNS name" moves
        t_flip = time.monotonic()

        def write_ok_after_flip():
            return any(r[2] == "write" and r[3] and r[0] > t_flip
                       for rs in ld.records for r in list(rs))
        t_writes = wait_for(write_ok_after_flip, FAILOVER_WINDOW_S + 10, 0.05)
        ok = end_load(ld)
        records, failures, gap, line = figures("db-failover", ld, "")
        unavailable = sorted(u for us in ld.unavailable for u in us)
        window = (unavailable[-1][0] - unavailable[0][0]) if unavailable else 0.0
        line += (", %d writes 503 over %.1f s, promoted and endpoint moved after %.1f s, "
                 "recovered in %s (%s after the move)"
                 % (len(unavailable), window, t_flip - t_loss,
                    "%.1f s" % (t_writes - t_loss) if t_writes else "never",
                    "%.1f s" % (t_writes - t_flip) if t_writes else "-"))
        print(line, flush=True)
        reads_failed = [f for f in failures if f[1] != "write"]
        check(not reads_failed, "db-failover: no read or evaluation failed (%d)" % len(reads_failed),
              fail_detail(ld, reads_failed, hap))
        check(not failures, "db-failover: no write failed other than with 503 (%d)" % len(failures),
              fail_detail(ld, failures, hap))
        check(all(u[2] for u in unavailable), "db-failover: every 503 carries Retry-After")
        check(t_writes is not None and window <= FAILOVER_WINDOW_S,
              "db-failover: writes 503 for %.1f s (at most %d s), then succeed on the new primary"
              % (window, FAILOVER_WINDOW_S), apps["tm1"].log_tail() + apps["tm2"].log_tail())

        # Every acknowledged write of every drill, on the new primary.
        rows = standby.sql("SELECT name, is_enabled FROM flags", db="togglemaster")
        in_db = {}
        for line_ in rows.splitlines():
            n, _, e = line_.partition("|")
            in_db[n] = e == "t"
        created, maybe = {}, set()
        for ldx in loads:
            created.update(ldx.all_created())
            maybe |= ldx.all_maybe_created()
        missing = {n: s for n, s in created.items() if in_db.get(n) != s}
        detail = ""
        if missing:
            detail = ("%d missing or wrong (absent: %d): %r\n--- sessions on the new primary:\n%s"
                      % (len(missing), sum(1 for n in missing if n not in in_db),
                         dict(list(missing.items())[:10]),
                         standby.sql("SELECT application_name, client_addr, state, xact_start, "
                                     "left(query, 60) FROM pg_stat_activity WHERE datname = "
                                     "'togglemaster'")))
        check(not missing, "%d acknowledged creates (all drills) on the new primary with their state"
              % len(created), detail)
        wrong = {n: (sorted(ok_), in_db.get(n)) for n, ok_ in state.items() if in_db.get(n) not in ok_}
        check(not wrong, "%d toggled flags on the new primary in their last acknowledged state"
              % len(state), "expected vs found: %r" % wrong)
        extra = {n for n in in_db if n.startswith("d") and "-drill-" in n} - set(created) - maybe
        check(not extra, "no flag on the new primary that no client asked for", repr(sorted(extra)[:20]))
        for name, app in apps.items():
            def same(app=app):
                out = nsx("lb", "curl", "-s", "--max-time", "2",
                          "http://%s/flags" % ADDR[app.ns], check=False)
                try:
                    return {f["name"]: f["is_enabled"] for f in json.loads(out)} == in_db
                except (ValueError, TypeError, KeyError):
                    return False
            check(wait_for(same, 10, 0.2) is not None,
                  "%s serves exactly what the new primary holds (%d flags)" % (name, len(in_db)))
    except AssertionError as e:
        check(False, "drill aborted", str(e))
    except Exception:  # noqa: BLE001
        import traceback
        check(False, "drill aborted", traceback.format_exc())
    finally:
        for ld in loads:
            ld.stop.set()
        if hap is not None:
            hap.stop()
        teardown(pg_bin)
    check(not our_namespaces() and not any(d.startswith("tmha-run.") for d in os.listdir("/tmp")),
          "cleanup: no tmha-* namespace or /tmp/tmha-run.* remains")
    return closing(SUITE, check, t0)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("%s: interrupted" % SUITE, file=sys.stderr)
        print("%s: 0 passed, 1 failed" % SUITE)
        sys.exit(130)
