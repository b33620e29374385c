#!/usr/bin/env python3
"""Instructions per GET /flags/<name>, counted by callgrind.

  python3 bench/callgrind_get.py [BINARY]

callgrind counts instructions, not time, so the figure repeats exactly for
the same binary and requests whatever else the machine is doing. The
service runs under callgrind on a throwaway SQLite database with 100
flags; a client sends GETs of one flag over one keep-alive connection. Two
runs (SMALL and LARGE requests) share start-up and shutdown, so their
difference divided by LARGE - SMALL is the cost of one request, user space
only (the kernel's TCP work is not counted). Prints one JSON object.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SMALL, LARGE = 1000, 11000


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.sendall(b"GET /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if b" 200 " in s.recv(200):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("callgrind_get: the service did not become ready")


def request(sock, raw):
    sock.sendall(raw)
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
    while len(body) < length:
        body += sock.recv(65536)


def instructions(binary, requests, tmp):
    db = os.path.join(tmp, "cg-%d.db" % requests)
    env = {"PATH": os.environ["PATH"], "DATABASE_URL": "sqlite://" + db, "LOG_LEVEL": "warn",
           "BIND": "127.0.0.1", "THREADS": "1"}
    subprocess.run([binary, "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
    port = free_port()
    env["PORT"] = str(port)
    out = os.path.join(tmp, "callgrind-%d.out" % requests)
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out, binary, "serve"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(port)
        with socket.create_connection(("127.0.0.1", port)) as s:
            for i in range(100):
                body = json.dumps({"name": "bench-flag-%03d" % i, "is_enabled": i % 2 == 0}).encode()
                request(s, b"POST /flags HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                           b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            get = b"GET /flags/bench-flag-042 HTTP/1.1\r\nHost: x\r\n\r\n"
            for _ in range(requests):
                request(s, get)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    with open(out) as f:
        for line in f:
            if line.startswith("totals:") or line.startswith("summary:"):
                return int(line.split()[1])
    raise SystemExit("callgrind_get: no totals in " + out)


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "build", "togglemaster")
    tmp = tempfile.mkdtemp(prefix="tm-callgrind-")
    try:
        small, large = instructions(binary, SMALL, tmp), instructions(binary, LARGE, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps({"binary": binary, "instructions_per_get": round((large - small) / (LARGE - SMALL)),
                      "runs": {str(SMALL): small, str(LARGE): large}}))


if __name__ == "__main__":
    main()
