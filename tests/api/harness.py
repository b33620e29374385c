"""Black-box test harness for ToggleMaster: starts the real binary, speaks HTTP.

Environment:
  TM_BINARY        path of the binary (default build/togglemaster, relative to
                   the repository root)
  TM_TEST_BACKEND  sqlite (default: a fresh temp file per database) or
                   postgres (a fresh database per test class on one throwaway
                   PostgreSQL, see pgserver.py; run.py starts it once per run
                   and hands it over with set_pg(), otherwise it is started
                   lazily on first use and removed at exit)
  TM_KEEP_TMP=1    keep the temp dir (server logs) after the run

Everything here has a bound: sockets time out after 10 s, process waits are
limited, and every process started is killed at teardown / exit.
"""

import atexit
import http.client
import io
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import pgserver  # noqa: E402

SOCKET_TIMEOUT = 10.0
READY_TIMEOUT = 10.0

BACKEND = os.environ.get("TM_TEST_BACKEND", "sqlite").strip().lower() or "sqlite"
if BACKEND not in ("sqlite", "postgres"):
    raise SystemExit("TM_TEST_BACKEND must be sqlite or postgres, not %r" % BACKEND)


def binary():
    b = os.environ.get("TM_BINARY", "build/togglemaster")
    if not os.path.isabs(b):
        cand = os.path.join(os.getcwd(), b)
        b = cand if os.path.exists(cand) else os.path.join(REPO, b)
    return b


# Variables the service reads; stripped from the inherited environment so the
# developer's shell never leaks into a test. PG* (libpq) are stripped too.
CONFIG_VARS = ("PORT", "BIND", "DATABASE_URL", "LOG_LEVEL", "LOG_FORMAT", "SHUTDOWN_TIMEOUT", "SHUTDOWN_DRAIN",
               "USAGE_FLUSH_INTERVAL", "METRICS_PUBLIC", "METRICS_ENABLED", "EVENTS_MAX_SUBSCRIBERS",
               "EVENTS_BUFFER_KB", "EVENTS_HISTORY", "EVENTS_HEARTBEAT",
               "THREADS", "DB_POOL_SIZE", "DB_CONNECT_TIMEOUT", "DB_STATEMENT_TIMEOUT",
               "RESYNC_INTERVAL", "DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD")


def base_env():
    return {k: v for k, v in os.environ.items()
            if k not in CONFIG_VARS and not k.startswith("PG") and not k.startswith("TM_")}


# --- temp dir for the whole session ----------------------------------------

_TMP_ROOT = tempfile.mkdtemp(prefix="tm-api-")
_counter = itertools.count(1)


def _rm_tmp_root():
    if os.environ.get("TM_KEEP_TMP") == "1":
        sys.stderr.write("harness: kept %s\n" % _TMP_ROOT)
    else:
        shutil.rmtree(_TMP_ROOT, ignore_errors=True)


atexit.register(_rm_tmp_root)


def tmpdir(tag="t"):
    return tempfile.mkdtemp(prefix="%s-%d-" % (re.sub(r"[^A-Za-z0-9]", "", tag)[:30],
                                               next(_counter)), dir=_TMP_ROOT)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- backends --------------------------------------------------------------

_pg = None
_pg_lock = threading.Lock()


def set_pg(pg):
    """run.py hands over the one PostgreSQL it started for the run."""
    global _pg
    _pg = pg


def get_pg():
    """The throwaway PostgreSQL of this run (started lazily, removed at exit)."""
    global _pg
    with _pg_lock:
        if _pg is None:
            pg = pgserver.PgServer()
            try:
                pg.start()
            except BaseException:
                pg.cleanup()
                raise
            _pg = pg
        return _pg


def new_database(tag="t"):
    """A fresh, empty database for the current backend; returns its DATABASE_URL."""
    if BACKEND == "postgres":
        pg = get_pg()
        name = "tm_%s_%d" % (re.sub(r"[^a-z0-9]", "", tag.lower())[:30], next(_counter))
        pg.create_database(name)
        return pg.dsn(name)
    return "sqlite://" + os.path.join(tmpdir(tag), "togglemaster.db")


def pg_dbname(database_url):
    return database_url.rsplit("/", 1)[1].split("?")[0]


# --- sanitizer output ------------------------------------------------------

SANITIZER_RE = re.compile(r"ERROR: (Address|Leak|Memory|Thread|UndefinedBehavior)Sanitizer"
                          r"|WARNING: ThreadSanitizer|runtime error: |SUMMARY: \w+Sanitizer")


def sanitizer_report(text):
    m = SANITIZER_RE.search(text or "")
    if not m:
        return None
    start = max(0, m.start() - 200)
    return text[start:start + 3000]


# --- running commands ------------------------------------------------------

def make_env(database_url, env=None, port=None):
    """Full environment for the binary. env values of None remove the variable."""
    e = base_env()
    # SHUTDOWN_DRAIN=0: tests stop servers at once unless they test the drain.
    e.update({"BIND": "127.0.0.1", "LOG_FORMAT": "json", "SHUTDOWN_DRAIN": "0"})
    if port is not None:
        e["PORT"] = str(port)
    if database_url is not None:
        e["DATABASE_URL"] = database_url
    for k, v in (env or {}).items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = str(v)
    return e


class CmdResult:
    def __init__(self, argv, returncode, stdout, stderr, elapsed):
        self.argv, self.returncode, self.stdout, self.stderr = argv, returncode, stdout, stderr
        self.elapsed = elapsed

    def __repr__(self):
        return ("<%s exit=%s %.2fs>\n--- stdout ---\n%s\n--- stderr ---\n%s"
                % (" ".join(self.argv), self.returncode, self.elapsed,
                   self.stdout[-3000:], self.stderr[-3000:]))


def run_cmd(args, database_url=None, env=None, timeout=30, cwd=None, check_sanitizer=True):
    """Run `togglemaster ARGS...` to completion (killed after timeout -> AssertionError)."""
    argv = [binary()] + list(args)
    e = make_env(database_url, env, port=(env or {}).get("PORT", free_port()))
    t0 = time.monotonic()
    try:
        p = subprocess.run(argv, env=e, cwd=cwd or tmpdir("cmd"), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired as ex:
        raise AssertionError("%s did not exit within %ss (stdout=%r stderr=%r)"
                             % (" ".join(argv), timeout, ex.stdout, ex.stderr))
    r = CmdResult(argv, p.returncode, p.stdout.decode("utf-8", "replace"),
                  p.stderr.decode("utf-8", "replace"), time.monotonic() - t0)
    if check_sanitizer:
        rep = sanitizer_report(r.stderr)
        if rep:
            raise AssertionError("sanitizer report from %s:\n%s" % (" ".join(argv), rep))
    return r


def migrate(database_url, env=None):
    r = run_cmd(["migrate"], database_url, env)
    if r.returncode != 0:
        raise AssertionError("migrate failed: %r" % r)
    return r


# --- HTTP ------------------------------------------------------------------

def read_until_closed(sock):
    """Every byte the peer sends until it closes (or the socket's timeout;
    a reset ends it too)."""
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    return data


class Response:
    """status, headers (case-insensitive http.client.HTTPMessage), json (or None), raw bytes."""

    def __init__(self, status, headers, raw, reason=""):
        self.status, self.headers, self.raw, self.reason = status, headers, raw, reason
        self.json = None
        if raw:
            try:
                self.json = json.loads(raw.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                self.json = None

    def __iter__(self):  # allows: status, headers, body, raw = resp
        return iter((self.status, self.headers, self.json, self.raw))

    def header(self, name, default=None):
        return self.headers.get(name, default)

    def __repr__(self):
        raw = self.raw if len(self.raw) < 600 else self.raw[:600] + b"...(%d bytes)" % len(self.raw)
        hdrs = "; ".join("%s: %s" % kv for kv in self.headers.items())
        return "HTTP %s [%s] %r" % (self.status, hdrs, raw)


_NO_BODY = object()


def encode_body(json_body=_NO_BODY, data=None):
    if json_body is not _NO_BODY:
        return json.dumps(json_body).encode()
    if isinstance(data, str):
        return data.encode("utf-8")
    return data


def do_request(conn, method, path, json_body=_NO_BODY, data=None, headers=None):
    body = encode_body(json_body, data)
    h = {}
    if body is not None:
        h["Content-Type"] = "application/json"
    h.update(headers or {})
    conn.request(method, path, body=body, headers=h)
    resp = conn.getresponse()
    raw = resp.read()
    return Response(resp.status, resp.headers, raw, resp.reason)


def http_request(host, port, method, path, json_body=_NO_BODY, data=None, headers=None,
                 timeout=SOCKET_TIMEOUT):
    """One request on a fresh connection."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        return do_request(conn, method, path, json_body, data, headers)
    finally:
        conn.close()


class EventStream:
    """A GET of a Server-Sent Events stream on a connection of its own.

    The head is read at once (status, headers; an error's JSON body in
    json); events are parsed as they are asked for. Every event is a dict
    of its fields (id, event, data, retry; data parsed as JSON when it is),
    a block of comments only is {"comment": text}. Also looks like a
    Response, for assertError."""

    def __init__(self, host, port, path="/api/v1/events", headers=None, timeout=SOCKET_TIMEOUT, rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        lines = ["GET %s HTTP/1.1" % path, "Host: %s:%d" % (host, port)]
        lines += ["%s: %s" % kv for kv in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed before the response head: %r" % self.buf)
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        status_line, _, header_text = head.decode("latin-1").partition("\r\n")
        self.status = int(status_line.split()[1])
        self.headers = http.client.parse_headers(io.BytesIO(header_text.encode("latin-1") + b"\r\n\r\n"))
        self.raw, self.json = b"", None
        length = self.headers.get("Content-Length")
        if length is not None:
            while len(self.buf) < int(length):
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                self.buf += chunk
            self.raw, self.buf = self.buf[:int(length)], self.buf[int(length):]
            try:
                self.json = json.loads(self.raw.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                pass

    def header(self, name, default=None):
        return self.headers.get(name, default)

    def __repr__(self):
        return "EventStream %s [%s] %r" % (self.status, "; ".join("%s: %s" % kv for kv in self.headers.items()),
                                           self.raw or self.buf[:300])

    def next_event(self, timeout=5.0):
        """The next event (or comment block); None when the stream ended or
        nothing came within timeout."""
        deadline = time.monotonic() + timeout
        while b"\n\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return None
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return None
            self.buf += chunk
        block, _, self.buf = self.buf.partition(b"\n\n")
        event, comments = {}, []
        for line in block.decode("utf-8").split("\n"):
            if line.startswith(":"):
                comments.append(line[1:].strip())
                continue
            field, _, value = line.partition(":")
            event[field] = value[1:] if value.startswith(" ") else value
        if not event:
            return {"comment": "\n".join(comments)}
        if "data" in event:
            try:
                event["data"] = json.loads(event["data"])
            except ValueError:
                pass
        return event

    def next_change(self, timeout=5.0):
        """The next event that is not a comment, or None."""
        deadline = time.monotonic() + timeout
        while True:
            e = self.next_event(max(0.0, deadline - time.monotonic()))
            if e is None or "comment" not in e:
                return e

    def ended(self, timeout=5.0):
        """Whether the server closes the stream within timeout (what it
        still sends is dropped)."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                self.sock.settimeout(max(0.01, deadline - time.monotonic()))
                if not self.sock.recv(65536):
                    return True
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True
        return False

    def close(self):
        self.sock.close()
        return self


def open_stream(server, headers=None, **kw):
    """An EventStream of GET /api/v1/events on server."""
    return EventStream(server.host, server.port, headers=headers, **kw)


class Client:
    """A persistent (keep-alive) connection; never silently reconnects."""

    def __init__(self, host, port, timeout=SOCKET_TIMEOUT):
        self.conn = http.client.HTTPConnection(host, port, timeout=timeout)

    def request(self, method, path, json_body=_NO_BODY, data=None, headers=None):
        return do_request(self.conn, method, path, json_body, data, headers)

    def reconnect(self):
        self.conn.close()

    def close(self):
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --- the server process ----------------------------------------------------

_live = set()
_live_lock = threading.Lock()


def kill_all():
    with _live_lock:
        procs = list(_live)
    for s in procs:
        s.kill()


atexit.register(kill_all)


class Server:
    """The service as a child process on a free port of 127.0.0.1.

    Server(database_url, env={...}).start() waits for GET /ready == 200
    (wait='health' waits for /health only, wait=None not at all).
    """

    def __init__(self, database_url, env=None, port=None, wait="ready", args=("serve",)):
        self.database_url = database_url
        self.extra_env = dict(env or {})
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.url = "http://%s:%d" % (self.host, self.port)
        self.wait = wait
        self.args = list(args)
        self.dir = tmpdir("srv")
        self.stdout_path = os.path.join(self.dir, "stdout.log")
        self.stderr_path = os.path.join(self.dir, "stderr.log")
        self.proc = None
        self.returncode = None

    # lifecycle
    def start(self):
        env = make_env(self.database_url, self.extra_env, port=self.port)
        self._out = open(self.stdout_path, "ab")
        self._err = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen([binary()] + self.args, env=env, cwd=self.dir,
                                     stdin=subprocess.DEVNULL, stdout=self._out, stderr=self._err)
        self.returncode = None
        with _live_lock:
            _live.add(self)
        try:
            if self.wait == "ready":
                self.wait_for("/ready")
            elif self.wait == "health":
                self.wait_for("/health")
        except BaseException:
            self.kill()
            raise
        return self

    def wait_for(self, path, timeout=READY_TIMEOUT, status=200):
        deadline = time.monotonic() + timeout
        last = None
        while True:
            if self.proc.poll() is not None:
                raise AssertionError("server exited with %s before %s answered %d\n%s"
                                     % (self.proc.returncode, path, status, self.output_tail()))
            try:
                r = http_request(self.host, self.port, "GET", path, timeout=2)
                last = r
                if r.status == status:
                    return r
            except OSError as e:
                last = e
            if time.monotonic() > deadline:
                raise AssertionError("%s did not answer %d within %.0fs (last: %r)\n%s"
                                     % (path, status, timeout, last, self.output_tail()))
            time.sleep(0.05)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def wait_exit(self, timeout):
        """Exit code, or None if still running after timeout."""
        try:
            self.returncode = self.proc.wait(timeout=timeout)
            self._forget()
            return self.returncode
        except subprocess.TimeoutExpired:
            return None

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Send sig, wait; returns the exit code (negative: killed by signal).
        If it does not exit in time it is SIGKILLed and AssertionError raised."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        rc = self.wait_exit(timeout)
        if rc is None:
            self.kill()
            raise AssertionError("server did not exit within %ss after signal %s\n%s"
                                 % (timeout, sig, self.output_tail()))
        return rc

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.kill()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        if self.proc is not None:
            self.returncode = self.proc.poll()
        self._forget()

    def _forget(self):
        with _live_lock:
            _live.discard(self)
        for f in (getattr(self, "_out", None), getattr(self, "_err", None)):
            if f and not f.closed:
                f.close()

    def __enter__(self):
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        self.kill()
        if exc_type is None and os.path.exists(self.stderr_path):
            rep = self.sanitizer_report()
            if rep:
                raise AssertionError("sanitizer report from the server:\n" + rep)

    # output
    def stdout_text(self):
        with open(self.stdout_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stderr_text(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def output_tail(self, n=3000):
        return ("--- server stdout (%s) ---\n%s\n--- server stderr ---\n%s"
                % (self.stdout_path, self.stdout_text()[-n:], self.stderr_text()[-n:]))

    def logs(self):
        """stdout parsed as JSON lines (lines that are not JSON objects are skipped)."""
        out = []
        for line in self.stdout_text().splitlines():
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict):
                out.append(obj)
        return out

    def wait_log(self, pred, timeout=3.0):
        """First log object satisfying pred, polling (logs may lag a little)."""
        deadline = time.monotonic() + timeout
        while True:
            for obj in self.logs():
                if pred(obj):
                    return obj
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)

    def sanitizer_report(self):
        return sanitizer_report(self.stderr_text())

    # HTTP shortcuts (fresh connection each)
    def request(self, method, path, json_body=_NO_BODY, data=None, headers=None,
                timeout=SOCKET_TIMEOUT):
        return http_request(self.host, self.port, method, path, json_body, data, headers, timeout)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def head(self, path, **kw):
        return self.request("HEAD", path, **kw)

    def post(self, path, json_body=_NO_BODY, **kw):
        return self.request("POST", path, json_body, **kw)

    def put(self, path, json_body=_NO_BODY, **kw):
        return self.request("PUT", path, json_body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def client(self, timeout=SOCKET_TIMEOUT):
        return Client(self.host, self.port, timeout)


# --- test base classes -----------------------------------------------------

class TMTestCase(unittest.TestCase):
    maxDiff = 4000

    def assertJsonType(self, r, msg=""):
        ct = r.header("Content-Type", "")
        self.assertTrue(ct.split(";")[0].strip().lower() == "application/json",
                        "%sContent-Type should be application/json: %r" % (msg, r))

    def assertStatus(self, r, status, msg=""):
        self.assertEqual(r.status, status, "%sexpected %d, got %r" % (msg, status, r))

    def assertError(self, r, status, msg=""):
        """status matches, JSON content type, body is an object with a string 'error'."""
        self.assertStatus(r, status, msg)
        self.assertJsonType(r, msg)
        self.assertIsInstance(r.json, dict, "%serror body must be a JSON object: %r" % (msg, r))
        self.assertIsInstance(r.json.get("error"), str, "%s'error' must be a string: %r" % (msg, r))
        self.assertTrue(r.json["error"].strip(), "%s'error' must not be empty: %r" % (msg, r))

    def assertFlag(self, server, name, enabled, msg=""):
        r = server.get("/flags/" + name)
        self.assertStatus(r, 200, msg)
        self.assertJsonType(r, msg)
        self.assertIsInstance(r.json, dict, "%s%r" % (msg, r))
        self.assertEqual(r.json.get("name"), name, "%s%r" % (msg, r))
        self.assertIs(r.json.get("is_enabled"), enabled, "%s%r" % (msg, r))

    def assertNoFlag(self, server, name, msg=""):
        self.assertError(server.get("/flags/" + name), 404, msg)


def stop_and_check(testcase_or_none, server, expect_rc=0):
    """Stop with SIGTERM and fail on a nonzero exit or sanitizer output."""
    rc = server.stop()
    rep = server.sanitizer_report()
    problems = []
    if rep:
        problems.append("sanitizer report:\n" + rep)
    if expect_rc is not None and rc != expect_rc:
        problems.append("exit code %s after SIGTERM (expected %s)\n%s"
                        % (rc, expect_rc, server.output_tail()))
    if problems:
        raise AssertionError("\n".join(problems))
    return rc


class ServerTestCase(TMTestCase):
    """One migrated database and one running server for the whole class."""

    server_env = {}

    @classmethod
    def setUpClass(cls):
        cls.db_url = new_database(cls.__name__)
        migrate(cls.db_url, cls.server_env)
        cls.server = Server(cls.db_url, env=cls.server_env)
        cls.addClassCleanup(cls.server.kill)
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        if cls.server.alive():
            stop_and_check(None, cls.server)

    def reset_flags(self):
        """Delete every flag (through the API) so the list is empty."""
        r = self.server.get("/flags")
        self.assertStatus(r, 200)
        for f in r.json:
            d = self.server.delete("/flags/" + f["name"])
            self.assertStatus(d, 204, "reset: ")
        r = self.server.get("/flags")
        self.assertEqual(r.json, [], "reset: list should be empty: %r" % r)


_uniq = itertools.count(1)


def uniq(prefix="f"):
    return "%s-%d-%d" % (prefix, os.getpid() % 10000, next(_uniq))
