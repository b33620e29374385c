"""A throwaway PostgreSQL server for the API tests.

Uses Debian's `postgresql` package: the binaries under
/usr/lib/postgresql/<version>/bin (the newest version directory found by glob).
`initdb` + `pg_ctl` put a cluster into a fresh temp dir; it listens on a free
TCP port on 127.0.0.1 only, with its unix socket inside the temp dir so it
never collides with a system cluster.

PostgreSQL refuses to run as root and CI runs as root: when we are root, every
server-side command (initdb, pg_ctl) runs as the `postgres` system user (the
Debian package creates it) through `runuser -u postgres --`, and the temp dir
is chowned to that user.  When we are not root, everything runs as ourselves.
Clients (psql, the service under test) run as whoever we are and connect over
TCP, so they never need the postgres user.

Authentication (pg_hba.conf), first match wins:
  local  all  all                     trust
  host   all  tm_app   127.0.0.1/32   scram-sha-256   <- password role
  host   all  all      127.0.0.1/32   trust
The bootstrap superuser is named `postgres` (initdb -U postgres) whatever OS
user runs the server, so `dsn(db)` is always postgres://postgres@127.0.0.1:PORT/db.
`create_role('tm_app', password)` makes the role whose password really is
checked (scram), for tests of DB_PASSWORD / passwords in URLs.

Durability is switched off (fsync, synchronous_commit, full_page_writes) for
speed: the cluster lives for one test run.

The temp dir is removed by cleanup(), which is registered with atexit and is
idempotent; use the object as a context manager (or try/finally) as well.

Run this file directly for a self-check: it starts, queries, restarts, stops.
"""

import atexit
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time

PG_USER = "postgres"          # bootstrap superuser name inside the cluster
PASSWORD_ROLE = "tm_app"       # the one role that must authenticate by password


def pg_bindir():
    """Newest /usr/lib/postgresql/<ver>/bin that has initdb (env TM_PG_BINDIR wins)."""
    env = os.environ.get("TM_PG_BINDIR")
    if env:
        return env
    found = []
    for d in glob.glob("/usr/lib/postgresql/*/bin"):
        ver = os.path.basename(os.path.dirname(d))
        if os.path.exists(os.path.join(d, "initdb")):
            try:
                found.append((float(ver), d))
            except ValueError:
                found.append((0.0, d))
    if not found:
        raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin "
                           "(install Debian package 'postgresql')")
    return sorted(found)[-1][1]


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _clean_env():
    """Our environment minus libpq/PG variables that could redirect the cluster."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


class PgServer:
    def __init__(self, port=None):
        self.bindir = pg_bindir()
        self.as_root = os.geteuid() == 0
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.tmpdir = None
        self.datadir = None
        self.sockdir = None
        self.logfile = None
        self.running = False
        self._cleaned = False
        self._counter = 0
        atexit.register(self.cleanup)

    # -- running commands -------------------------------------------------

    def _server_cmd(self, argv):
        """Prefix a server-side command so it runs as a non-root user."""
        if self.as_root:
            return ["runuser", "-u", "postgres", "--"] + argv
        return argv

    def _run(self, argv, timeout=60, check=True):
        p = subprocess.run(self._server_cmd(argv), cwd=self.tmpdir, env=_clean_env(),
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout)
        out = p.stdout.decode("utf-8", "replace")
        if check and p.returncode != 0:
            raise RuntimeError("command failed (%d): %s\n%s\n%s"
                               % (p.returncode, " ".join(argv), out, self.log_tail()))
        return out

    def log_tail(self, n=30):
        try:
            with open(self.logfile, encoding="utf-8", errors="replace") as f:
                lines = f.readlines()
            return "--- postgres log tail ---\n" + "".join(lines[-n:])
        except (OSError, TypeError):
            return ""

    # -- lifecycle --------------------------------------------------------

    def _make_tmpdir(self):
        base = tempfile.gettempdir()
        if self.as_root:
            # the postgres user must be able to reach the dir; /tmp always works
            st = os.stat(base)
            if not (st.st_mode & 0o001):
                base = "/tmp"
        self.tmpdir = tempfile.mkdtemp(prefix="tm-pg-", dir=base)
        self.datadir = os.path.join(self.tmpdir, "data")
        self.sockdir = os.path.join(self.tmpdir, "sock")
        self.logfile = os.path.join(self.tmpdir, "postgres.log")
        os.mkdir(self.sockdir)
        open(self.logfile, "w").close()
        if self.as_root:
            pw = pwd.getpwnam("postgres")
            for p in (self.tmpdir, self.sockdir, self.logfile):
                os.chown(p, pw.pw_uid, pw.pw_gid)

    def init(self):
        self._make_tmpdir()
        self._run([os.path.join(self.bindir, "initdb"), "-D", self.datadir,
                   "-U", PG_USER, "-A", "trust", "-E", "UTF8", "--locale=C",
                   "--no-sync", "--no-instructions"], timeout=120)
        conf = os.path.join(self.datadir, "postgresql.conf")
        with open(conf, "a") as f:
            f.write("\n# --- ToggleMaster test harness ---\n"
                    "listen_addresses = '127.0.0.1'\n"
                    "port = %d\n"
                    "unix_socket_directories = '%s'\n"
                    "fsync = off\n"
                    "synchronous_commit = off\n"
                    "full_page_writes = off\n"
                    "max_connections = 200\n"
                    "password_encryption = 'scram-sha-256'\n"
                    "log_min_messages = warning\n"
                    % (self.port, self.sockdir))
        hba = os.path.join(self.datadir, "pg_hba.conf")
        with open(hba, "w") as f:
            f.write("# written by tests/api/pgserver.py; first match wins\n"
                    "local all all trust\n"
                    "host all %s 127.0.0.1/32 scram-sha-256\n"
                    "host all all 127.0.0.1/32 trust\n" % PASSWORD_ROLE)

    def start(self):
        if self.tmpdir is None:
            self.init()
        if self.running:
            return self
        self._run([os.path.join(self.bindir, "pg_ctl"), "-D", self.datadir,
                   "-l", self.logfile, "-w", "-t", "60", "start"], timeout=90)
        self.running = True
        self._wait_accepting()
        return self

    def _wait_accepting(self, timeout=20):
        deadline = time.monotonic() + timeout
        while True:
            p = subprocess.run([os.path.join(self.bindir, "pg_isready"), "-h", self.host,
                                "-p", str(self.port), "-U", PG_USER, "-t", "2"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env=_clean_env(), timeout=10)
            if p.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError("PostgreSQL not accepting connections\n" + self.log_tail())
            time.sleep(0.1)

    def stop(self, mode="fast"):
        if not self.running:
            return
        self._run([os.path.join(self.bindir, "pg_ctl"), "-D", self.datadir,
                   "-m", mode, "-w", "-t", "60", "stop"], timeout=90)
        self.running = False

    def restart(self):
        self.stop()
        self.start()

    def cleanup(self):
        """Stop the server (if running) and remove the temp dir. Idempotent."""
        if self._cleaned:
            return
        self._cleaned = True
        try:
            if self.tmpdir and os.path.exists(os.path.join(self.datadir or "", "postmaster.pid")):
                try:
                    self._run([os.path.join(self.bindir, "pg_ctl"), "-D", self.datadir,
                               "-m", "immediate", "-w", "-t", "30", "stop"],
                              timeout=45, check=False)
                except Exception:
                    pass
            self.running = False
        finally:
            if self.tmpdir:
                shutil.rmtree(self.tmpdir, ignore_errors=True)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(self, *exc):
        self.cleanup()

    # -- clients ----------------------------------------------------------

    def dsn(self, dbname, user=PG_USER, password=None):
        cred = user if password is None else "%s:%s" % (user, password)
        return "postgres://%s@%s:%d/%s" % (cred, self.host, self.port, dbname)

    def psql(self, dbname, sql, user=PG_USER, check=True, timeout=30):
        """Run SQL with psql; returns unaligned, tuples-only output ('|' separated)."""
        p = subprocess.run([os.path.join(self.bindir, "psql"), "-X", "-q", "-A", "-t",
                            "-v", "ON_ERROR_STOP=1", "-h", self.host, "-p", str(self.port),
                            "-U", user, "-d", dbname, "-c", sql],
                           env=_clean_env(), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        out = p.stdout.decode("utf-8", "replace")
        if check and p.returncode != 0:
            raise RuntimeError("psql failed on %s: %s\n%s" % (dbname, sql,
                               p.stderr.decode("utf-8", "replace")))
        return out

    def rows(self, dbname, sql):
        """psql output as a list of tuples of strings."""
        out = self.psql(dbname, sql)
        return [tuple(line.split("|")) for line in out.splitlines() if line != ""]

    def create_database(self, name=None, owner=None):
        if name is None:
            self._counter += 1
            name = "tm_%d_%d" % (os.getpid(), self._counter)
        sql = 'CREATE DATABASE "%s"' % name
        if owner:
            sql += ' OWNER "%s"' % owner
        self.psql("postgres", sql)
        return name

    def create_role(self, name=PASSWORD_ROLE, password=None):
        """Create a LOGIN role (if missing) and set its password."""
        pw = "NULL" if password is None else "'%s'" % password.replace("'", "''")
        self.psql("postgres",
                  "DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname='%s') "
                  "THEN CREATE ROLE \"%s\" LOGIN; END IF; END$$;" % (name, name))
        self.psql("postgres", 'ALTER ROLE "%s" WITH LOGIN PASSWORD %s' % (name, pw))
        return name


if __name__ == "__main__":
    t0 = time.monotonic()
    with PgServer() as pg:
        print("started on port", pg.port, "in", pg.tmpdir, "as root" if pg.as_root else "")
        print(pg.psql("postgres", "SELECT version()").strip())
        db = pg.create_database()
        pg.psql(db, "CREATE TABLE t(x int); INSERT INTO t VALUES (1),(2)")
        print("rows:", pg.rows(db, "SELECT x FROM t ORDER BY x"))
        pg.create_role(PASSWORD_ROLE, "s3cret")
        pg.stop()
        print("stopped; restarting")
        pg.start()
        print("rows after restart:", pg.rows(db, "SELECT x FROM t ORDER BY x"))
        tmp = pg.tmpdir
    print("cleaned:", not os.path.exists(tmp), "total %.1fs" % (time.monotonic() - t0))
