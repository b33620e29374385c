"""A stand-in for sshd on the replica's app host: any TCP listener will do.

    python3 tcp_listener.py ADDRESS PORT

Accepts connections, writes an SSH-style banner line and closes them. It is
bounded: it exits by itself after MAX_CONNECTIONS connections or LIFETIME
seconds, whichever comes first (run.sh also kills it on exit).
"""
import socket
import sys
import time

MAX_CONNECTIONS = 50
LIFETIME = 180.0
BANNER = b"SSH-2.0-tmvpc-dummy\r\n"


def main():
    addr, port = sys.argv[1], int(sys.argv[2])
    deadline = time.monotonic() + LIFETIME
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as srv:
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind((addr, port))
        srv.listen(8)
        srv.settimeout(1.0)
        print("listening on %s:%d" % (addr, port), flush=True)
        served = 0
        while served < MAX_CONNECTIONS and time.monotonic() < deadline:
            try:
                conn, peer = srv.accept()
            except socket.timeout:
                continue
            served += 1
            with conn:
                conn.settimeout(1.0)
                try:
                    conn.sendall(BANNER)
                except OSError:
                    pass
            print("served %s:%d" % peer, flush=True)


if __name__ == "__main__":
    main()
