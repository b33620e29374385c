#!/usr/bin/env python3
"""make bench: ToggleMaster against its ceilings, measured in the same run.

What it starts (all on free 127.0.0.1 ports, all stopped at the end, also on
failure or Ctrl-C): a throwaway PostgreSQL (tests/api/pgserver.py, reused as
is), the service (build/togglemaster), a second instance for the propagation
figure, and nginx (Debian nginx-light) with its own config in a temp dir.

What it measures (wrk on loopback, -t1, same duration for ours and the
ceiling, a short warm-up, each run repeated and the median taken; ours and
the ceiling alternate so drifting machine load hits both):
  1. GET /flags/<name>  random names out of 100 flags, 50 connections;
     ceiling: nginx `return 200 '<the very same bytes>'` per name.
  2. GET /flags         100 flags, 50 connections; ceiling: nginx, same bytes.
  2b. GET /flags/<name> over HTTPS (TLS_CERT_FILE), 50 connections; ceiling:
     nginx with the same throwaway certificate.
  2c. POST /ofrep/v1/evaluate/flags/<key>: OpenFeature evaluation of a flag
     with a 3-condition rule and a fractional split, a random context per
     request out of 1,000, 50 connections; ceiling: nginx answering the
     same POSTs with a response body of the same kind and size.
  2d. POST /ofrep/v1/evaluate/flags (bulk: all 101 flags for one context),
     50 connections; ceiling: nginx returning the very same bytes.
  3. PUT /flags/<name>  toggling random flags, 8 connections;
     ceiling: pgbench -M prepared, 8 clients, the single-row
     UPDATE flags SET is_enabled = NOT is_enabled WHERE name = ...
     on the same server and database.
plus read p50/p99 (from wrk's latency histogram), RSS and time-to-ready with
10k flags in the database, cross-instance propagation p50/p99 over two
instances on one PostgreSQL, and user-space instructions per GET counted
by callgrind (bench/callgrind_get.py; repeatable whatever the load), and
nanoseconds per evaluation of the bench flag in isolation (bench/eval_bench.c)
beside flagd's own JavaScript evaluator evaluating the same flag and contexts
in Node (bench/eval_bench.mjs, @openfeature/flagd-core) as the peer figure.

Output: a table on stdout, bench/results/latest.json, bench/results/latest.png
(gnuplot). Exit status 0 when the benchmark ran and was valid (targets missed
or not: this is a benchmark, not a test), 1 when it could not run or a run
had errors (which makes its numbers meaningless).

Python 3 standard library only. See bench/README.md.
"""

import argparse
import atexit
import datetime
import http.client
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "api"))

import pgserver  # noqa: E402  (the test suite's throwaway PostgreSQL)

RESULTS = os.path.join(HERE, "results")
N_FLAGS = 100
N_BIG = 10_000
CONFIG_VARS = ("PORT", "BIND", "DATABASE_URL", "LOG_LEVEL", "LOG_FORMAT", "SHUTDOWN_TIMEOUT",
               "THREADS", "DB_POOL_SIZE", "DB_CONNECT_TIMEOUT", "DB_STATEMENT_TIMEOUT",
               "RESYNC_INTERVAL", "DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD")

TARGETS = {
    "read_ratio": 1.0,       # reads >= 1.0 x nginx serving the same bytes
    "https_ratio": 0.8,      # HTTPS reads >= 0.8 x nginx with the same certificate
    "ofrep_ratio": 0.8,      # OFREP evaluations >= 0.8 x nginx answering the same POSTs
    "read_p99_ratio": 1.0,   # read p99 no worse than nginx's in the same run
    "write_ratio": 0.7,      # writes >= 0.7 x pgbench
    "rss_mb": 16.0,          # with 10k flags
    "ready_ms": 200.0,       # with 10k flags
    "propagation_p99_ms": 100.0,
    "metrics_ratio": 0.95,   # reads and evaluations with metrics on within 5% of off
}


def log(msg):
    sys.stderr.write("bench: %s\n" % msg)
    sys.stderr.flush()


class BenchError(Exception):
    pass


# --- processes we own ----------------------------------------------------------

class Procs:
    """Every process started here, stopped in reverse order by stop_all()."""

    def __init__(self):
        self.procs = []

    def start(self, name, argv, env=None, logpath=None):
        out = open(logpath, "ab") if logpath else subprocess.DEVNULL
        p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=out,
                             stderr=subprocess.STDOUT, start_new_session=True)
        if logpath:
            out.close()
        self.procs.append((name, p))
        return p

    def stop(self, p, sig=signal.SIGTERM, timeout=10):
        if p.poll() is None:
            try:
                p.send_signal(sig)
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
            except ProcessLookupError:
                pass
        self.procs = [(n, q) for n, q in self.procs if q is not p]

    def stop_all(self):
        for _, p in reversed(list(self.procs)):
            try:
                self.stop(p)
            except Exception:
                pass


PROCS = Procs()
TMP = tempfile.mkdtemp(prefix="tm-bench-")
PG = None


def cleanup():
    PROCS.stop_all()
    if PG is not None:
        PG.cleanup()
    if os.environ.get("TM_KEEP_TMP") == "1":
        log("kept %s" % TMP)
    else:
        shutil.rmtree(TMP, ignore_errors=True)


atexit.register(cleanup)


def _on_signal(signum, frame):
    raise SystemExit(128 + signum)


signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGHUP, _on_signal)


# --- small helpers -------------------------------------------------------------

def free_port():
    return pgserver.free_port()


def median(xs):
    return statistics.median(xs) if xs else None


def percentile(xs, p):
    """Nearest-rank percentile of a list (p in 0..100)."""
    if not xs:
        return None
    s = sorted(xs)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def http_get(port, path, timeout=5):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read(), r.getheaders()
    finally:
        c.close()


def wait_http(port, path, proc=None, timeout=20, want=200):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise BenchError("process exited (%s) before %s answered" % (proc.returncode, path))
        try:
            st, _, _ = http_get(port, path, timeout=2)
            if st == want:
                return
        except OSError:
            pass
        time.sleep(0.01)
    raise BenchError("no %d from :%d%s within %ds" % (want, port, path, timeout))


def rss_kb(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                k, v = line.split(":", 1)
                out[k] = int(v.split()[0])
    return out


def tool_version(argv, pattern=None):
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
        text = p.stdout.decode("utf-8", "replace").strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    if pattern:
        m = re.search(pattern, text)
        return m.group(0) if m else text.splitlines()[0] if text else None
    return text.splitlines()[0] if text else None


def machine_info():
    cpu = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = None
    try:
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu,
        "mem_total_mb": mem,
        "kernel": platform.release(),
        "os": _os_release(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "loadavg_before": os.getloadavg(),
    }


def _os_release():
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return None


# --- the service ---------------------------------------------------------------

class Service:
    def __init__(self, binary, database_url, threads, log_level="warn", tag="a", extra_env=None):
        self.binary = binary
        self.port = free_port()
        self.tag = tag
        self.logpath = os.path.join(TMP, "service-%s.log" % tag)
        env = {k: v for k, v in os.environ.items()
               if k not in CONFIG_VARS and not k.startswith("PG")}
        env.update({"PORT": str(self.port), "BIND": "127.0.0.1", "DATABASE_URL": database_url,
                    "LOG_LEVEL": log_level, "THREADS": str(threads), "SHUTDOWN_TIMEOUT": "1"})
        env.update(extra_env or {})
        self.env = env
        self.proc = None
        self.ready_ms = None

    def migrate(self):
        p = subprocess.run([self.binary, "migrate"], env=self.env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        if p.returncode != 0:
            raise BenchError("migrate failed: %s" % p.stdout.decode("utf-8", "replace"))

    def start(self):
        t0 = time.monotonic()
        self.proc = PROCS.start("togglemaster-" + self.tag, [self.binary, "serve"],
                                env=self.env, logpath=self.logpath)
        # Tight poll: a refused connect costs microseconds, so 1 ms steps
        # resolve the ready time well below the 200 ms target.
        deadline = t0 + 30
        while True:
            if self.proc.poll() is not None:
                raise BenchError("service %s exited with %s; log:\n%s"
                                 % (self.tag, self.proc.returncode, self.log_tail()))
            try:
                if "TLS_CERT_FILE" in self.env:
                    st = https_get(self.port, "/ready")[0]
                else:
                    st = http_get(self.port, "/ready", timeout=2)[0]
                if st == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise BenchError("service %s not ready in 30 s; log:\n%s" % (self.tag, self.log_tail()))
            time.sleep(0.001)
        self.ready_ms = (time.monotonic() - t0) * 1000.0
        return self

    def stop(self):
        if self.proc is not None:
            PROCS.stop(self.proc)
            self.proc = None

    def log_tail(self, n=20):
        try:
            with open(self.logpath, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""


def self_signed_certificate():
    """A throwaway certificate for 127.0.0.1, shared by nginx and us."""
    d = os.path.join(TMP, "tls")
    os.makedirs(d, exist_ok=True)
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    p = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                        "-keyout", key, "-out", cert], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=60)
    if p.returncode != 0:
        raise BenchError("openssl req failed: %s" % p.stdout.decode("utf-8", "replace"))
    return cert, key


def https_get(port, path):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    c = http.client.HTTPSConnection("127.0.0.1", port, timeout=5, context=ctx)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


# --- nginx ceiling -------------------------------------------------------------

def nginx_quote(body):
    text = body.decode("utf-8")
    if any(c in text for c in "'\\$"):
        raise BenchError("body contains a character nginx would interpret: %r" % text[:80])
    return "'" + text + "'"


def start_nginx(workers, bodies, list_body, tls=None):
    """nginx serving the given bodies; bodies: {path: bytes}. With tls =
    (cert, key), a second server serves the same over HTTPS. Returns
    (process, port, https port or None)."""
    d = os.path.join(TMP, "nginx")
    os.makedirs(os.path.join(d, "logs"), exist_ok=True)
    port = free_port()
    tls_port = free_port() if tls else None
    # nginx's config tokens must fit its 4 KB parse buffer: a longer body is
    # split into `set` variables and joined again by `return` (per request,
    # a memcpy of the pieces; nginx-light has the rewrite module).
    def location(path, body, tag):
        text = nginx_quote(body)[1:-1]
        if len(text) <= 3000:
            return "        location = %s { return 200 '%s'; }" % (path, text)
        parts = [text[i:i + 3000] for i in range(0, len(text), 3000)]
        sets = " ".join("set $tm_%s%d '%s';" % (tag, i, t) for i, t in enumerate(parts))
        joined = "".join("${tm_%s%d}" % (tag, i) for i in range(len(parts)))
        return "        location = %s { %s return 200 \"%s\"; }" % (path, sets, joined)
    all_bodies = dict(bodies, **{"/flags": list_body})
    locs = [location(path, b, "b%d_" % i) for i, (path, b) in enumerate(sorted(all_bodies.items()))]
    conf = """# written by bench/run.py: the read ceiling (static bytes, no logging)
daemon off;
master_process on;
worker_processes %d;
pid %s/nginx.pid;
error_log %s/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    default_type application/json;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    client_body_temp_path %s/client_body;
    fastcgi_temp_path %s/fastcgi;
    uwsgi_temp_path %s/uwsgi;
    scgi_temp_path %s/scgi;
    proxy_temp_path %s/proxy;
    server {
        listen 127.0.0.1:%d;
%s
    }
%s}
""" % (workers, d, d, d, d, d, d, d, port, "\n".join(locs),
       "" if not tls else """    server {
        listen 127.0.0.1:%d ssl;
        ssl_certificate %s;
        ssl_certificate_key %s;
        ssl_protocols TLSv1.2 TLSv1.3;
%s
    }
""" % (tls_port, tls[0], tls[1], "\n".join(locs)))
    path = os.path.join(d, "nginx.conf")
    with open(path, "w") as f:
        f.write(conf)
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    t = subprocess.run([nginx, "-t", "-q", "-p", d + "/", "-c", path, "-e", d + "/error.log"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    if t.returncode != 0:
        raise BenchError("nginx -t failed: %s" % t.stdout.decode("utf-8", "replace"))
    p = PROCS.start("nginx", [nginx, "-p", d + "/", "-c", path, "-e", d + "/error.log"],
                    logpath=os.path.join(d, "stdout.log"))
    wait_http(port, "/flags", proc=p)
    return p, port, tls_port


# --- load generators -----------------------------------------------------------

def wrk(port, path, conns, duration, script, names_file=None, threads=1, scheme="http", auth=None):
    env = dict(os.environ, TM_BENCH_DIR=HERE)
    env.pop("TM_BENCH_AUTH", None)
    if auth:
        env["TM_BENCH_AUTH"] = auth
    if names_file:
        # A list of names (GET scripts) or of request bodies (post_random.lua).
        env["TM_BENCH_NAMES"] = env["TM_BENCH_BODIES"] = names_file
    argv = ["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % duration, "--latency",
            "--timeout", "5s", "-s", os.path.join(HERE, script),
            "%s://127.0.0.1:%d%s" % (scheme, port, path)]
    p = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=duration + 60)
    text = p.stdout.decode("utf-8", "replace")
    m = re.search(r"^TM_WRK_JSON (\{.*\})$", text, re.M)
    if p.returncode != 0 or not m:
        raise BenchError("wrk failed (%d):\n%s" % (p.returncode, text))
    r = json.loads(m.group(1))
    # wrk's own summary line, cross-checked against done()'s counter
    non2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", text)
    r["non_2xx"] = int(non2xx.group(1)) if non2xx else 0
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
    r["errors_total"] = sum(r["errors"].values()) + r["non_2xx"]
    return r


def pgbench(pg, db, clients, duration, script_sql):
    path = os.path.join(TMP, "pgbench-%d.sql" % abs(hash(script_sql)))
    with open(path, "w") as f:
        f.write(script_sql)
    exe = os.path.join(pg.bindir, "pgbench")
    argv = [exe, "-n", "-M", "prepared", "-c", str(clients), "-j", "1", "-T", str(duration),
            "-f", path, "-h", pg.host, "-p", str(pg.port), "-U", pgserver.PG_USER, db]
    p = subprocess.run(argv, env=pgserver._clean_env(), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=duration + 60)
    text = p.stdout.decode("utf-8", "replace")
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", text)
    failed = re.search(r"number of failed transactions: (\d+)", text)
    lat = re.search(r"latency average = ([\d.]+) ms", text)
    if p.returncode != 0 or not tps:
        raise BenchError("pgbench failed (%d):\n%s" % (p.returncode, text))
    n_failed = int(failed.group(1)) if failed else 0
    return {"rps": float(tps.group(1)), "latency_avg_ms": float(lat.group(1)) if lat else None,
            "errors_total": n_failed}


def summarize(runs):
    """Median figures over repeated runs, plus the raw runs."""
    out = {"runs": runs, "rps": median([r["rps"] for r in runs]),
           "errors_total": sum(r["errors_total"] for r in runs)}
    if runs and "latency_us" in runs[0]:
        for k in ("p50", "p90", "p99", "p999", "max"):
            out[k + "_ms"] = median([r["latency_us"][k] / 1000.0 for r in runs])
    if runs and runs[0].get("latency_avg_ms") is not None:
        out["latency_avg_ms"] = median([r["latency_avg_ms"] for r in runs])
    return out


def alternate(label, reps, warmup, ours, ceiling):
    """Warm both up, then run ours/ceiling alternately `reps` times."""
    log("%s: warm-up" % label)
    ours(warmup)
    ceiling(warmup)
    a, b = [], []
    for i in range(reps):
        a.append(ours(None))
        b.append(ceiling(None))
        log("%s run %d/%d: ours %.0f/s, ceiling %.0f/s" % (label, i + 1, reps, a[-1]["rps"], b[-1]["rps"]))
    return summarize(a), summarize(b)


# --- the benchmark -------------------------------------------------------------

# The evaluation bench flag: a segment by three conditions, then a 10/90
# split for everyone else (what teams actually write).
EVAL_FLAG = {
    "state": "ENABLED",
    "variants": {"staff": "#000", "red": "#f00", "green": "#0f0"},
    "defaultVariant": "red",
    "targeting": {"if": [
        {"and": [{"ends_with": [{"var": "email"}, "@acme.com"]},
                 {"in": [{"var": "country"}, ["BR", "PT", "US"]]},
                 {">=": [{"var": "plan_level"}, 2]}]},
        "staff",
        {"fractional": [["red", 10], ["green", 90]]}]},
}


def write_contexts(path, n):
    """n OFREP request bodies, one per line, a tenth of them @acme.com."""
    rnd = random.Random(4242)
    with open(path, "w") as f:
        for i in range(n):
            domain = "acme.com" if i % 10 == 0 else "example.com"
            ctx = {"targetingKey": "user-%d" % i, "email": "user-%d@%s" % (i, domain),
                   "country": rnd.choice(["BR", "PT", "US", "DE", "JP"]), "plan_level": rnd.randint(0, 4)}
            f.write(json.dumps({"context": ctx}) + "\n")


def http_post(port, path, body):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def eval_in_isolation(contexts_file):
    """ns per evaluation: ours (bench/eval_bench.c) and flagd-core in Node."""
    doc = json.dumps({k: v for k, v in EVAL_FLAG.items() if k != "state"})
    out = {}
    p = subprocess.run([os.path.join(REPO, "build", "bench", "eval_bench"), doc, contexts_file],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    try:
        out["ours"] = json.loads(p.stdout.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise BenchError("eval_bench failed: %s" % p.stdout.decode("utf-8", "replace"))
    node = shutil.which("node")
    if node and os.path.isdir(os.path.join(REPO, "node_modules", "@openfeature", "flagd-core")):
        p = subprocess.run([node, os.path.join(HERE, "eval_bench.mjs"), json.dumps(EVAL_FLAG), contexts_file],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300, cwd=REPO)
        try:
            out["flagd_core"] = json.loads(p.stdout.decode().strip().splitlines()[-1])
        except (ValueError, IndexError):
            log("eval_bench.mjs failed (peer figure skipped): %s" % p.stdout.decode("utf-8", "replace")[-500:])
    else:
        log("node or node_modules/@openfeature/flagd-core missing: no peer figure (run npm ci)")
    log("ns per evaluation: ours %.0f (with context parse %.0f), flagd-core %s"
        % (out["ours"]["ns_per_eval"], out["ours"]["ns_per_parse_and_eval"],
           out.get("flagd_core", {}).get("ns_per_eval", "-")))
    return out


def keepalive_client(port):
    return http.client.HTTPConnection("127.0.0.1", port, timeout=10)


def request(conn, method, path, body=None):
    headers = {"Content-Type": "application/json"} if body is not None else {}
    conn.request(method, path, body=body, headers=headers)
    r = conn.getresponse()
    return r.status, r.read()


def flag_names(n, prefix):
    return ["%s%d" % (prefix, i) for i in range(1, n + 1)]


def write_names_file(path, states):
    with open(path, "w") as f:
        for name, v in states.items():
            f.write("%s %s\n" % (name, "true" if v else "false"))


def current_states(port):
    st, body, _ = http_get(port, "/flags")
    if st != 200:
        raise BenchError("GET /flags -> %d" % st)
    return {f["name"]: bool(f["is_enabled"]) for f in json.loads(body)}


def propagation(a, b, names, samples, states):
    """Time from A's PUT response to B serving the new state, per sample.

    B is polled over one keep-alive connection as fast as Python can (about
    10-20k polls/s here), so the resolution is ~0.1 ms."""
    ca, cb = keepalive_client(a.port), keepalive_client(b.port)
    states = dict(states)
    rng = random.Random(7)
    out, polls, missed = [], [], 0
    try:
        for _ in range(samples):
            name = rng.choice(names)
            new = not states[name]
            st, _ = request(ca, "PUT", "/flags/" + name, json.dumps({"is_enabled": new}))
            if st != 200:
                raise BenchError("PUT via A -> %d" % st)
            t0 = time.perf_counter()
            states[name] = new
            n = 0
            while True:
                st, body = request(cb, "GET", "/flags/" + name)
                n += 1
                if st != 200:
                    raise BenchError("GET via B -> %d" % st)
                if json.loads(body)["is_enabled"] == new:
                    break
                if time.perf_counter() - t0 > 5.0:
                    missed += 1
                    break
            out.append((time.perf_counter() - t0) * 1000.0)
            polls.append(n)
            time.sleep(rng.uniform(0.002, 0.012))  # decorrelate from any timer
    finally:
        ca.close()
        cb.close()
    return {"samples": len(out), "missed_over_5s": missed,
            "p50_ms": percentile(out, 50), "p90_ms": percentile(out, 90),
            "p99_ms": percentile(out, 99), "max_ms": max(out),
            "min_ms": min(out), "polls_median": median(polls)}


def main():
    global PG
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=int, default=int(os.environ.get("BENCH_DURATION", 10)),
                    help="seconds per measured run (default 10)")
    ap.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per workload")
    ap.add_argument("--reps", type=int, default=int(os.environ.get("BENCH_REPS", 3)),
                    help="runs per measurement; the median is reported (default 3)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2,
                    help="service THREADS = nginx worker_processes (default nproc)")
    ap.add_argument("--wrk-threads", type=int, default=1)
    ap.add_argument("--durable", action="store_true",
                    help="run PostgreSQL with fsync=on, synchronous_commit=on "
                         "(default: the test harness's settings, durability off)")
    ap.add_argument("--binary", default=os.path.join(REPO, "build", "togglemaster"))
    ap.add_argument("--samples", type=int, default=200, help="propagation samples")
    args = ap.parse_args()

    for tool in ("wrk", "gnuplot", "openssl", "valgrind"):
        if not shutil.which(tool):
            raise BenchError("%s not found (run scripts/install-deps.sh bench)" % tool)
    if not os.access(args.binary, os.X_OK):
        raise BenchError("%s not built (run make)" % args.binary)
    t_start = time.monotonic()
    res = {"machine": machine_info(), "config": vars(args), "targets": TARGETS}

    # PostgreSQL: the test harness's throwaway server, reused as is.
    PG = pgserver.PgServer()
    PG.init()
    pg_settings = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
    if args.durable:
        pg_settings = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}
        with open(os.path.join(PG.datadir, "postgresql.conf"), "a") as f:
            f.write("\n# --- bench/run.py --durable: later lines win ---\n"
                    "fsync = on\nsynchronous_commit = on\nfull_page_writes = on\n")
    PG.start()
    shown = PG.rows("postgres", "SELECT name, setting FROM pg_settings WHERE name IN "
                    "('fsync','synchronous_commit','full_page_writes','shared_buffers','max_connections')")
    res["postgres"] = {"version": PG.psql("postgres", "SHOW server_version").strip(),
                       "settings": dict(shown)}
    log("PostgreSQL %s on :%d, %s" % (res["postgres"]["version"], PG.port,
                                     ", ".join("%s=%s" % kv for kv in shown)))
    if dict(shown).get("fsync") != pg_settings["fsync"]:
        raise BenchError("fsync setting did not take: %r" % dict(shown))

    res["tools"] = {
        "wrk": tool_version(["wrk", "-v"], r"wrk \S+"),
        "nginx": tool_version(["nginx", "-v"], r"nginx/\S+"),
        "pgbench": tool_version([os.path.join(PG.bindir, "pgbench"), "--version"]),
        "gnuplot": tool_version(["gnuplot", "--version"]),
        "python": platform.python_version(),
        "togglemaster": tool_version([args.binary, "version"]),
        "gcc": tool_version(["gcc", "--version"]),
        "llhttp": tool_version(["dpkg-query", "-W", "-f=${Version}", "node-llhttp"]),
        "openssl": tool_version(["openssl", "version"]),
    }

    # --- 100 flags, instance A ---------------------------------------------
    db = PG.create_database("bench")
    url = PG.dsn(db)
    a = Service(args.binary, url, args.threads, "warn", "a")
    a.migrate()
    a.start()
    names = flag_names(N_FLAGS, "bench-flag-")
    c = keepalive_client(a.port)
    for i, n in enumerate(names):
        st, body = request(c, "POST", "/flags", json.dumps({"name": n, "is_enabled": i % 2 == 0}))
        if st != 201:
            raise BenchError("POST /flags %s -> %d %r" % (n, st, body))
    # The evaluation bench flag: three conditions, then a fractional split.
    st, body = request(c, "POST", "/flags", json.dumps(dict(EVAL_FLAG, name="bench-eval")))
    if st != 201:
        raise BenchError("POST /flags bench-eval -> %d %r" % (st, body))
    c.close()
    contexts_file = os.path.join(TMP, "contexts.txt")
    write_contexts(contexts_file, 1000)
    ofrep_one = "/ofrep/v1/evaluate/flags/bench-eval"
    ofrep_all = "/ofrep/v1/evaluate/flags"
    bulk_body = json.dumps({"context": {"targetingKey": "user-42", "email": "user-42@example.com",
                                       "country": "BR", "plan_level": 3}})

    # The ceiling serves the very bytes the service serves; check all of them.
    bodies = {}
    for n in names:
        st, body, hdrs = http_get(a.port, "/flags/" + n)
        if st != 200:
            raise BenchError("GET /flags/%s -> %d" % (n, st))
        bodies["/flags/" + n] = body
    st, list_body, ours_headers = http_get(a.port, "/flags")
    if st != 200 or len(json.loads(list_body)) != N_FLAGS + 1:
        raise BenchError("GET /flags did not list %d flags" % (N_FLAGS + 1))
    # OFREP: one typical single answer (its size is what nginx sends for
    # every POST), and the bulk answer for the fixed context, byte for byte.
    with open(contexts_file) as f:
        first_context = f.readline().strip()
    st, one_body = http_post(a.port, ofrep_one, first_context)
    st2, bulk = http_post(a.port, ofrep_all, bulk_body)
    if st != 200 or st2 != 200 or len(json.loads(bulk)["flags"]) < N_FLAGS // 2:
        raise BenchError("OFREP answers: %d %r / %d %r" % (st, one_body[:200], st2, bulk[:200]))
    bodies[ofrep_one] = one_body
    bodies[ofrep_all] = bulk
    cert, key = self_signed_certificate()
    nginx, nport, nport_tls = start_nginx(args.threads, bodies, list_body, tls=(cert, key))
    for path, body in list(bodies.items()) + [("/flags", list_body)]:
        st, nb, nh = http_get(nport, path)
        if st != 200 or nb != body:
            raise BenchError("nginx body for %s differs: %r vs %r" % (path, nb[:80], body[:80]))
    res["bodies"] = {"flag_bytes": len(bodies["/flags/" + names[0]]), "list_bytes": len(list_body),
                     "identical_to_nginx": True,
                     "ours_headers": ours_headers, "nginx_headers": nh}
    log("bodies byte-identical (one flag %d B, list %d B); nginx on :%d, service on :%d"
        % (res["bodies"]["flag_bytes"], len(list_body), nport, a.port))

    names_file = os.path.join(TMP, "names.txt")
    write_names_file(names_file, {n: False for n in names})
    dur, wt = args.duration, args.wrk_threads

    def w(port, path, conns, script, nf=None):
        return lambda d: wrk(port, path, conns, d or dur, script, nf, wt)

    # 1. GET /flags/<name>
    res["get_one"] = dict(zip(("ours", "nginx"), alternate(
        "GET /flags/<name>", args.reps, args.warmup,
        w(a.port, "/", 50, "get_random.lua", names_file),
        w(nport, "/", 50, "get_random.lua", names_file))))
    res["rss_after_reads_kb"] = rss_kb(a.proc.pid)
    # 2. GET /flags
    res["get_list"] = dict(zip(("ours", "nginx"), alternate(
        "GET /flags", args.reps, args.warmup,
        w(a.port, "/flags", 50, "get_fixed.lua"),
        w(nport, "/flags", 50, "get_fixed.lua"))))
    # 3. GET /flags/<name> over HTTPS, same certificate for both.
    tls = Service(args.binary, url, args.threads, "warn", "tls",
                  extra_env={"TLS_CERT_FILE": cert, "TLS_KEY_FILE": key}).start()
    for path in ("/flags/" + names[0], "/flags"):
        if https_get(tls.port, path) != https_get(nport_tls, path):
            raise BenchError("HTTPS bodies for %s differ" % path)
    res["get_one_https"] = dict(zip(("ours", "nginx"), alternate(
        "GET /flags/<name> over HTTPS", args.reps, args.warmup,
        lambda d: wrk(tls.port, "/", 50, d or dur, "get_random.lua", names_file, wt, "https"),
        lambda d: wrk(nport_tls, "/", 50, d or dur, "get_random.lua", names_file, wt, "https"))))
    tls.stop()
    # 2c. OFREP single evaluation, random contexts; nginx answers the same
    # POSTs with a body of the same kind and size.
    res["ofrep_one"] = dict(zip(("ours", "nginx"), alternate(
        "POST " + ofrep_one, args.reps, args.warmup,
        w(a.port, ofrep_one, 50, "post_random.lua", contexts_file),
        w(nport, ofrep_one, 50, "post_random.lua", contexts_file))))
    # 2d. OFREP bulk: every flag for one context, the very same bytes.
    bulk_file = os.path.join(TMP, "bulk.txt")
    with open(bulk_file, "w") as f:
        f.write(bulk_body + "\n")
    res["ofrep_bulk"] = dict(zip(("ours", "nginx"), alternate(
        "POST " + ofrep_all + " (%d flags)" % (N_FLAGS + 1), args.reps, args.warmup,
        w(a.port, ofrep_all, 50, "post_random.lua", bulk_file),
        w(nport, ofrep_all, 50, "post_random.lua", bulk_file))))
    res["bodies"]["ofrep_one_bytes"] = len(one_body)
    res["bodies"]["ofrep_bulk_bytes"] = len(bulk)
    PROCS.stop(nginx)
    res["eval_ns"] = eval_in_isolation(contexts_file)

    # For information: the same read with LOG_LEVEL=info (the log goes to a file).
    info = Service(args.binary, url, args.threads, "info", "info").start()
    wrk(info.port, "/", 50, args.warmup, "get_random.lua", names_file, wt)
    r = wrk(info.port, "/", 50, dur, "get_random.lua", names_file, wt)
    info.stop()
    with open(info.logpath, "rb") as f:
        lines = sum(1 for _ in f)
    res["get_one_log_info"] = {"rps": r["rps"], "p50_ms": r["latency_us"]["p50"] / 1000.0,
                               "p99_ms": r["latency_us"]["p99"] / 1000.0,
                               "errors_total": r["errors_total"], "log_lines": lines, "run": r}
    log("GET /flags/<name> with LOG_LEVEL=info: %.0f/s, %d log lines" % (r["rps"], lines))

    # For information: the same read with authentication on (ADMIN_TOKEN on
    # this instance only, so the others stay open), each request carrying
    # the key, against instance a with authentication off, alternately.
    token = "bench-admin-token-%s" % os.urandom(8).hex()
    authed = Service(args.binary, url, args.threads, "warn", "auth", extra_env={"ADMIN_TOKEN": token}).start()
    res["get_one_auth"] = dict(zip(("on", "off"), alternate(
        "GET /flags/<name> with a key vs open", args.reps, args.warmup,
        lambda d: wrk(authed.port, "/", 50, d or dur, "get_random.lua", names_file, wt, auth=token),
        w(a.port, "/", 50, "get_random.lua", names_file))))
    authed.stop()

    # What counting costs: reads and evaluations with METRICS_ENABLED=false
    # on an instance of their own, against instance a (metrics on: every
    # request and evaluation counted, usage flushed every minute),
    # alternately.
    quiet = Service(args.binary, url, args.threads, "warn", "nometrics",
                    extra_env={"METRICS_ENABLED": "false"}).start()
    res["get_one_metrics"] = dict(zip(("on", "off"), alternate(
        "GET /flags/<name> metrics on vs off", args.reps, args.warmup,
        w(a.port, "/", 50, "get_random.lua", names_file),
        w(quiet.port, "/", 50, "get_random.lua", names_file))))
    res["ofrep_one_metrics"] = dict(zip(("on", "off"), alternate(
        "POST " + ofrep_one + " metrics on vs off", args.reps, args.warmup,
        w(a.port, ofrep_one, 50, "post_random.lua", contexts_file),
        w(quiet.port, ofrep_one, 50, "post_random.lua", contexts_file))))
    quiet.stop()

    # 3. PUT /flags/<name> vs pgbench's single-row UPDATE on the same server + db.
    def db_states():
        return dict((n, v == "t") for n, v in PG.rows(db, "SELECT name, is_enabled FROM flags"))

    def ours_put(d):
        # States from the table, not the snapshot: pgbench's UPDATEs (run in
        # between) bypass the service, so its snapshot is stale until our
        # own PUTs (or the periodic resync) overwrite those flags.
        write_names_file(names_file, db_states())
        r = wrk(a.port, "/", 8, d or dur, "put_toggle.lua", names_file, wt)
        # After the storm every flag was written thousands of times by this
        # run, so the snapshot must equal the table. wrk stops with up to 8
        # PUTs in flight, which still commit after it exits: allow 2 s for
        # them to land before calling a difference an error.
        deadline = time.monotonic() + 2.0
        while True:
            snap, rows = current_states(a.port), db_states()
            diff = [n for n in rows if snap.get(n) != rows[n]]
            if not diff or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        r["snapshot_mismatch"] = len(diff)
        r["errors_total"] += len(diff)
        if diff:
            log("after PUT run: %d flags differ between snapshot and table (%s...)" % (len(diff), diff[:3]))
        return r

    update_sql = ("\\set id random(1, %d)\n"
                  "UPDATE flags SET is_enabled = NOT is_enabled WHERE name = 'bench-flag-'::text || :id;\n"
                  % N_FLAGS)
    res["put"] = dict(zip(("ours", "pgbench"), alternate(
        "PUT /flags/<name>", args.reps, args.warmup, ours_put,
        lambda d: pgbench(PG, db, 8, d or dur, update_sql))))
    # For information: our exact statement shape (CTE + pg_notify, on a channel
    # nobody listens to so no instance reacts), to see what NOTIFY costs.
    notify_sql = ("\\set id random(1, %d)\n"
                  "WITH w AS (UPDATE flags SET is_enabled = NOT is_enabled "
                  "WHERE name = 'bench-flag-'::text || :id RETURNING id) "
                  "SELECT id, pg_notify('togglemaster_bench_unheard', 'x bench-flag-' || :id) FROM w;\n"
                  % N_FLAGS)
    res["pgbench_with_notify"] = pgbench(PG, db, 8, dur, notify_sql)
    log("pgbench with pg_notify: %.0f/s" % res["pgbench_with_notify"]["rps"])

    # Propagation: second instance B on the same database.
    # B starts after every pgbench run, so its snapshot is the table; A's may
    # be stale for flags pgbench touched last, which does not matter: A only
    # writes here, and the expected new state comes from the table.
    b = Service(args.binary, url, args.threads, "warn", "b").start()
    res["propagation"] = propagation(a, b, names, args.samples, db_states())
    log("propagation p50 %.2f ms p99 %.2f ms" % (res["propagation"]["p50_ms"], res["propagation"]["p99_ms"]))
    b.stop()
    a.stop()

    # --- 10k flags: RSS and time to ready ---------------------------------
    big = PG.create_database("bench10k")
    bigurl = PG.dsn(big)
    s = Service(args.binary, bigurl, args.threads, "warn", "big")
    s.migrate()
    PG.psql(big, "INSERT INTO flags(name, is_enabled) SELECT 'bench-feature-' || lpad(g::text, 5, '0'), "
                 "g %% 3 = 0 FROM generate_series(1, %d) g" % N_BIG)
    PG.psql(big, "VACUUM ANALYZE flags")
    starts = []
    for i in range(3):
        s = Service(args.binary, bigurl, args.threads, "warn", "big%d" % i).start()
        st, body, _ = http_get(s.port, "/flags")
        n = len(json.loads(body)) if st == 200 else -1
        if n != N_BIG:
            raise BenchError("10k instance lists %d flags" % n)
        cc = keepalive_client(s.port)
        for name in ("bench-feature-00001", "bench-feature-05000", "bench-feature-10000"):
            request(cc, "GET", "/flags/" + name)
        request(cc, "GET", "/flags?limit=100")
        cc.close()
        time.sleep(0.2)
        mem = rss_kb(s.proc.pid)
        starts.append({"ready_ms": s.ready_ms, "rss_kb": mem["VmRSS"], "hwm_kb": mem["VmHWM"],
                       "list_bytes": len(body)})
        s.stop()
    res["big"] = {"flags": N_BIG, "starts": starts,
                  "ready_ms": median([x["ready_ms"] for x in starts]),
                  "rss_mb": median([x["rss_kb"] for x in starts]) / 1024.0,
                  "hwm_mb": median([x["hwm_kb"] for x in starts]) / 1024.0}
    # --- user-space instructions per GET (callgrind: repeatable) -------------
    log("callgrind: instructions per GET /flags/<name>")
    cg = subprocess.run([sys.executable, os.path.join(HERE, "callgrind_get.py"), args.binary],
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=900)
    try:
        res["callgrind"] = json.loads(cg.stdout.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise BenchError("callgrind_get.py failed: %s" % cg.stdout.decode("utf-8", "replace"))

    res["elapsed_s"] = time.monotonic() - t_start
    res["machine"]["loadavg_after"] = os.getloadavg()

    errors = {k + "_" + side: res[k][side]["errors_total"] for k, side in
              (("get_one", "ours"), ("get_one", "nginx"), ("get_list", "ours"),
               ("get_list", "nginx"), ("get_one_https", "ours"), ("get_one_https", "nginx"),
               ("ofrep_one", "ours"), ("ofrep_one", "nginx"), ("ofrep_bulk", "ours"), ("ofrep_bulk", "nginx"),
               ("put", "ours"), ("put", "pgbench"), ("get_one_auth", "on"), ("get_one_auth", "off"),
               ("get_one_metrics", "on"), ("get_one_metrics", "off"), ("ofrep_one_metrics", "on"),
               ("ofrep_one_metrics", "off"))}
    errors["get_one_log_info"] = res["get_one_log_info"]["errors_total"]
    errors["pgbench_with_notify"] = res["pgbench_with_notify"]["errors_total"]
    errors["propagation_missed"] = res["propagation"]["missed_over_5s"]
    res["errors"] = errors
    res["valid"] = all(v == 0 for v in errors.values())
    res["table"] = table(res, args)
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "latest.json"), "w") as f:
        json.dump(res, f, indent=2, default=str)
        f.write("\n")
    chart(res)
    print_report(res, args)
    return 0 if res["valid"] else 1


# --- report ----------------------------------------------------------------------

def table(res, args):
    """Rows: metric, ours, ceiling, ratio, target, met."""
    t = TARGETS
    g1, g2, p = res["get_one"], res["get_list"], res["put"]
    rows = []

    def ratio_row(label, ours, ceil, target):
        r = ours["rps"] / ceil["rps"]
        rows.append({"metric": label, "ours": ours["rps"], "ceiling": ceil["rps"], "ratio": r,
                     "target": ">= %.2fx" % target, "met": r >= target, "unit": "req/s"})

    def max_row(label, ours, ceil, limit, unit):
        rows.append({"metric": label, "ours": ours, "ceiling": ceil,
                     "ratio": (ours / ceil) if ceil else None,
                     "target": "<= %g %s" % (limit, unit), "met": ours <= limit, "unit": unit})

    def info_row(label, ours, ceil, unit):
        rows.append({"metric": label, "ours": ours, "ceiling": ceil,
                     "ratio": (ours / ceil) if ceil else None, "target": "info", "met": None,
                     "unit": unit})

    def p99_row(label, ours, ceil):
        r = ours / ceil if ceil else None
        rows.append({"metric": label, "ours": ours, "ceiling": ceil, "ratio": r,
                     "target": "<= %.1fx" % t["read_p99_ratio"], "met": r is not None and r <= t["read_p99_ratio"],
                     "unit": "ms"})

    gs = res["get_one_https"]
    ratio_row("GET /flags/<name> req/s (c=50) vs nginx", g1["ours"], g1["nginx"], t["read_ratio"])
    ratio_row("GET /flags (100) req/s (c=50) vs nginx", g2["ours"], g2["nginx"], t["read_ratio"])
    ratio_row("HTTPS GET /flags/<name> req/s vs nginx", gs["ours"], gs["nginx"], t["https_ratio"])
    ratio_row("OFREP evaluate (3 conditions + fractional) vs nginx", res["ofrep_one"]["ours"],
              res["ofrep_one"]["nginx"], t["ofrep_ratio"])
    info_row("OFREP bulk (%d flags) req/s vs nginx, same bytes" % (N_FLAGS + 1), res["ofrep_bulk"]["ours"]["rps"],
             res["ofrep_bulk"]["nginx"]["rps"], "req/s")
    p99_row("OFREP evaluate p99 ms", res["ofrep_one"]["ours"]["p99_ms"], res["ofrep_one"]["nginx"]["p99_ms"])
    ev = res["eval_ns"]
    info_row("ns per evaluation, in process (ours vs flagd-core in Node)", ev["ours"]["ns_per_eval"],
             ev["flagd_core"]["ns_per_eval"] if ev.get("flagd_core") else None, "ns")
    info_row("ns per context parse + evaluation (ours)", ev["ours"]["ns_per_parse_and_eval"], None, "ns")
    ratio_row("PUT /flags/<name> req/s (c=8) vs pgbench", p["ours"], p["pgbench"], t["write_ratio"])
    info_row("GET /flags/<name> p50 ms", g1["ours"]["p50_ms"], g1["nginx"]["p50_ms"], "ms")
    p99_row("GET /flags/<name> p99 ms", g1["ours"]["p99_ms"], g1["nginx"]["p99_ms"])
    info_row("GET /flags p50 ms", g2["ours"]["p50_ms"], g2["nginx"]["p50_ms"], "ms")
    p99_row("GET /flags p99 ms", g2["ours"]["p99_ms"], g2["nginx"]["p99_ms"])
    p99_row("HTTPS GET /flags/<name> p99 ms", gs["ours"]["p99_ms"], gs["nginx"]["p99_ms"])
    info_row("user-space instructions per GET (callgrind)", res["callgrind"]["instructions_per_get"],
             None, "req/s")
    max_row("RSS with 10k flags MB", res["big"]["rss_mb"], None, t["rss_mb"], "MB")
    max_row("start -> /ready 200, 10k flags ms", res["big"]["ready_ms"], None, t["ready_ms"], "ms")
    info_row("propagation A->B p50 ms", res["propagation"]["p50_ms"], None, "ms")
    max_row("propagation A->B p99 ms", res["propagation"]["p99_ms"], None,
            t["propagation_p99_ms"], "ms")
    info_row("GET /flags/<name> LOG_LEVEL=info req/s", res["get_one_log_info"]["rps"],
             g1["nginx"]["rps"], "req/s")
    info_row("GET /flags/<name> with a key vs auth off req/s", res["get_one_auth"]["on"]["rps"],
             res["get_one_auth"]["off"]["rps"], "req/s")
    ratio_row("GET /flags/<name> metrics on vs off (same run)", res["get_one_metrics"]["on"],
              res["get_one_metrics"]["off"], t["metrics_ratio"])
    ratio_row("OFREP evaluate metrics on vs off (same run)", res["ofrep_one_metrics"]["on"],
              res["ofrep_one_metrics"]["off"], t["metrics_ratio"])
    info_row("PUT p50 ms / pgbench avg latency ms", p["ours"]["p50_ms"],
             p["pgbench"].get("latency_avg_ms"), "ms")
    info_row("PUT p99 ms", p["ours"]["p99_ms"], None, "ms")
    info_row("pgbench UPDATE+pg_notify tps vs plain UPDATE", res["pgbench_with_notify"]["rps"],
             p["pgbench"]["rps"], "req/s")
    info_row("PUT req/s vs pgbench UPDATE+pg_notify", p["ours"]["rps"],
             res["pgbench_with_notify"]["rps"], "req/s")
    return rows


def fmt(v, unit):
    if v is None:
        return "-"
    if unit == "req/s":
        return "%.0f" % v
    if unit == "MB" or unit == "ns":
        return "%.1f" % v
    return "%.2f" % v


def print_report(res, args):
    m = res["machine"]
    print()
    print("ToggleMaster benchmark (%s)" % m["date"])
    print("machine: %s cores, %s, kernel %s; PostgreSQL %s (%s)"
          % (m["nproc"], m["cpu_model"], m["kernel"], res["postgres"]["version"],
             ", ".join("%s=%s" % kv for kv in sorted(res["postgres"]["settings"].items())
                       if kv[0] in ("fsync", "synchronous_commit"))))
    print("service: THREADS=%d, DB_POOL_SIZE default, LOG_LEVEL=warn (access log off, as nginx "
          "access_log off); nginx worker_processes=%d; wrk -t%d, %d s runs, median of %d"
          % (args.threads, args.threads, args.wrk_threads, args.duration, args.reps))
    w = [44, 10, 10, 7, 12, 5]
    head = ["metric", "ours", "ceiling", "ratio", "target", "met?"]
    line = "  ".join(h.ljust(w[i]) if i == 0 else h.rjust(w[i]) for i, h in enumerate(head))
    print(line)
    print("-" * len(line))
    for r in res["table"]:
        cells = [r["metric"], fmt(r["ours"], r["unit"]), fmt(r["ceiling"], r["unit"]),
                 "-" if r["ratio"] is None else "%.2f" % r["ratio"], r["target"],
                 "-" if r["met"] is None else ("yes" if r["met"] else "NO")]
        print("  ".join(c.ljust(w[i]) if i == 0 else c.rjust(w[i]) for i, c in enumerate(cells)))
    errs = res["errors"]
    print("errors (non-2xx, socket errors, failed transactions, missed samples): %s"
          % ", ".join("%s=%d" % kv for kv in errs.items()))
    print("VALID" if res["valid"] else "INVALID: some run had errors, its figures mean nothing")
    print("results: bench/results/latest.json, bench/results/latest.png (%.0f s)" % res["elapsed_s"])


def chart(res):
    """Grouped bars of req/s (ours vs ceiling) and the ratios against targets."""
    d = os.path.join(TMP, "chart")
    os.makedirs(d, exist_ok=True)
    data = os.path.join(d, "rps.dat")
    rows = [("GET /flags/<name>", res["get_one"]["ours"]["rps"], res["get_one"]["nginx"]["rps"],
             TARGETS["read_ratio"], "nginx"),
            ("GET /flags", res["get_list"]["ours"]["rps"], res["get_list"]["nginx"]["rps"],
             TARGETS["read_ratio"], "nginx"),
            ("HTTPS GET /flags/<name>", res["get_one_https"]["ours"]["rps"],
             res["get_one_https"]["nginx"]["rps"], TARGETS["https_ratio"], "nginx"),
            ("OFREP evaluate", res["ofrep_one"]["ours"]["rps"], res["ofrep_one"]["nginx"]["rps"],
             TARGETS["ofrep_ratio"], "nginx"),
            ("PUT /flags/<name>", res["put"]["ours"]["rps"], res["put"]["pgbench"]["rps"],
             TARGETS["write_ratio"], "pgbench")]
    with open(data, "w") as f:
        f.write("# label ours ceiling ratio target\n")
        for label, o, cl, tgt, cname in rows:
            f.write('"%s\\n(vs %s)" %.1f %.1f %.4f %.2f\n' % (label, cname, o, cl, o / cl, tgt))
    out = os.path.join(RESULTS, "latest.png")
    tmp_out = os.path.join(d, "latest.png")
    ymax = max(max(r[1], r[2]) for r in rows) * 1.18
    rmax = max(1.2, max(r[1] / r[2] for r in rows) * 1.15)
    m = res["machine"]
    script = """
set terminal pngcairo size 1200,520 font "sans,10"
set output '%(out)s'
set multiplot layout 1,2 title "ToggleMaster vs ceilings, same run — %(date)s, %(nproc)s cores, %(cpu)s"
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set bmargin 5
set grid ytics
set key top right
set title "Throughput (req/s, median of %(reps)d x %(dur)ds, loopback)"
set ylabel "requests / s"
set yrange [0:%(ymax)f]
set format y "%%.0s%%c"
plot '%(data)s' using 2:xtic(1) title "ToggleMaster" lc rgb "#2b7bba", \\
     '' using 3 title "ceiling (nginx / pgbench)" lc rgb "#999999", \\
     '' using ($0-0.15):2:(sprintf("%%.0f",$2)) with labels offset 0,0.7 font ",8" notitle, \\
     '' using ($0+0.15):3:(sprintf("%%.0f",$3)) with labels offset 0,0.7 font ",8" notitle
set title "Ratio ours / ceiling (bars) and target (red)"
set ylabel "ratio"
set yrange [0:%(rmax)f]
set format y "%%.1f"
set style histogram clustered gap 2
set key top right
plot '%(data)s' using 4:xtic(1) title "ratio" lc rgb "#2b7bba", \\
     '' using 0:5:(0.3) with xerrorbars pt -1 lw 3 lc rgb "#d62728" title "target", \\
     '' using 0:4:(sprintf("%%.2f",$4)) with labels offset 0,0.7 notitle
unset multiplot
""" % {"out": tmp_out, "data": data, "date": m["date"], "nproc": m["nproc"],
       "cpu": (m["cpu_model"] or "").replace('"', "'"), "reps": res["config"]["reps"],
       "dur": res["config"]["duration"], "ymax": ymax, "rmax": rmax}
    gp = os.path.join(d, "chart.gp")
    with open(gp, "w") as f:
        f.write(script)
    p = subprocess.run(["gnuplot", gp], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    if p.returncode != 0 or not os.path.exists(tmp_out):
        log("gnuplot failed (chart skipped): %s" % p.stdout.decode("utf-8", "replace"))
        return
    shutil.move(tmp_out, out)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        log("error: %s" % e)
        sys.exit(1)
    except KeyboardInterrupt:
        log("interrupted")
        sys.exit(130)
