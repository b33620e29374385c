#!/usr/bin/python3
"""Run the ToggleMaster API suite and print one summary line.

  TM_BINARY=build/togglemaster TM_TEST_BACKEND=postgres /usr/bin/python3 tests/api/run.py [-k PATTERN]...

Each test prints its name and ok/FAIL (unittest verbosity 2); the last line is
exactly `api[<backend>]: N passed, N failed` (+ `, N skipped` when any were
skipped). Exit status 1 on any failure or error.

For the postgres backend one throwaway PostgreSQL is started for the whole
run (pgserver.py) and handed to the harness; it is stopped and removed at the
end whatever happens (also on Ctrl-C / SIGTERM). A watchdog aborts the run
(after cleaning up) if it exceeds TM_TEST_DEADLINE seconds (default 600).
"""

import argparse
import faulthandler
import os
import signal
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # keep tests/api free of __pycache__

import harness  # noqa: E402
import pgserver  # noqa: E402


class CountingResult(unittest.TextTestResult):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.passed = 0

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed += 1

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-k", dest="patterns", action="append", default=None,
                    help="only run tests matching this substring/glob (repeatable)")
    ap.add_argument("-q", "--quiet", action="store_true", help="verbosity 1")
    ap.add_argument("-f", "--failfast", action="store_true")
    opts = ap.parse_args()

    backend = harness.BACKEND
    bin_path = harness.binary()
    if not os.access(bin_path, os.X_OK):
        print("run.py: binary %s not found or not executable (set TM_BINARY)" % bin_path,
              file=sys.stderr)
        print("api[%s]: 0 passed, 1 failed" % backend)
        return 1

    # SIGTERM behaves like Ctrl-C so finally-blocks and atexit clean up.
    def on_term(signum, frame):
        raise KeyboardInterrupt("SIGTERM")
    signal.signal(signal.SIGTERM, on_term)

    pg = None
    deadline = float(os.environ.get("TM_TEST_DEADLINE", "600"))

    def watchdog():
        time.sleep(deadline)
        sys.stderr.write("\nrun.py: suite exceeded %.0fs; aborting. Thread stacks:\n" % deadline)
        faulthandler.dump_traceback(all_threads=True)
        harness.kill_all()
        if pg is not None:
            pg.cleanup()
        print("api[%s]: 0 passed, 1 failed" % backend, flush=True)
        os._exit(1)
    threading.Thread(target=watchdog, daemon=True).start()

    t0 = time.monotonic()
    try:
        if backend == "postgres":
            pg = pgserver.PgServer()
            pg.start()
            harness.set_pg(pg)
            print("run.py: PostgreSQL %s on 127.0.0.1:%d (%s)" % (
                os.path.basename(os.path.dirname(pg.bindir)), pg.port, pg.tmpdir), file=sys.stderr)
        loader = unittest.TestLoader()
        if opts.patterns:
            loader.testNamePatterns = [p if any(c in p for c in "*?[") else "*%s*" % p
                                       for p in opts.patterns]
        suite = loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
        runner = unittest.TextTestRunner(stream=sys.stderr, verbosity=1 if opts.quiet else 2,
                                         resultclass=CountingResult, failfast=opts.failfast)
        print("run.py: binary %s, backend %s" % (bin_path, backend), file=sys.stderr)
        result = runner.run(suite)
    finally:
        harness.kill_all()
        if pg is not None:
            pg.cleanup()

    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    line = "api[%s]: %d passed, %d failed" % (backend, result.passed, failed)
    if skipped:
        line += ", %d skipped" % skipped
    print("run.py: %.1fs" % (time.monotonic() - t0), file=sys.stderr)
    sys.stderr.flush()
    print(line, flush=True)
    return 1 if failed or not result.wasSuccessful() else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("run.py: interrupted", file=sys.stderr)
        sys.exit(130)
