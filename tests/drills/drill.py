"""What the drills share: the checks that make the closing
`N passed, N failed` line (which tests/run-all.sh adds up), logging, and the
guard rails of a drill script: the binary must exist, SIGTERM ends it
cleanly, and a watchdog stops it (and what it started) past its deadline."""

import faulthandler
import os
import signal
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "api"))

import harness  # noqa: E402


class Check:
    """Each check is one test of the closing `N passed, N failed` line."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def __call__(self, ok, what, detail=""):
        if ok:
            self.passed += 1
            print("ok    %s" % what, flush=True)
        else:
            self.failed += 1
            print("FAIL  %s%s" % (what, ("\n      " + detail.replace("\n", "\n      ")) if detail else ""),
                  flush=True)
        return ok


def log(msg):
    print("drill: %s" % msg, file=sys.stderr, flush=True)


def binary_or_fail(suite):
    """The service binary (TM_BINARY), or None after printing a failed line."""
    path = harness.binary()
    if os.access(path, os.X_OK):
        return path
    print("%s: binary %s not found (set TM_BINARY)" % (suite, path), file=sys.stderr)
    print("%s: 0 passed, 1 failed" % suite)
    return None


def guard(suite, deadline_s, check, cleanup):
    """SIGTERM becomes KeyboardInterrupt (so the script's finally blocks
    clean up); past deadline_s a watchdog dumps every thread's stack, kills
    the servers, calls cleanup() for the rest (HAProxy, PostgreSQL ...),
    prints the closing line with one more failure and exits."""

    def on_term(signum, frame):
        raise KeyboardInterrupt("SIGTERM")
    signal.signal(signal.SIGTERM, on_term)

    def watchdog():
        time.sleep(deadline_s)
        sys.stderr.write("\n%s: exceeded %d s; aborting. Thread stacks:\n" % (suite, deadline_s))
        faulthandler.dump_traceback(all_threads=True)
        harness.kill_all()
        cleanup()
        print("%s: %d passed, %d failed" % (suite, check.passed, check.failed + 1), flush=True)
        os._exit(1)
    threading.Thread(target=watchdog, daemon=True).start()


def closing(suite, check, t0):
    """Prints the time taken and the closing line; the exit status."""
    print("%s: %.1f s" % (suite, time.monotonic() - t0), file=sys.stderr)
    print("%s: %d passed, %d failed" % (suite, check.passed, check.failed), flush=True)
    return 1 if check.failed else 0


def run(suite, main):
    """Runs main() as the script; an interrupt (Ctrl-C, SIGTERM) is one
    failure, after the servers it started are killed."""
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        harness.kill_all()
        print("%s: interrupted" % suite, file=sys.stderr)
        print("%s: 0 passed, 1 failed" % suite)
        sys.exit(130)
