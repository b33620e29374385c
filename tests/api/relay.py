"""A TCP relay that can stop forwarding without closing anything: the
black-holed database of the tests (a failover or a partition as the
client sees it: connections stay open, nothing comes back).

    relay = Relay(target_port).start()   # listens on relay.port
    relay.blackhole(True)                 # stop forwarding in both directions
    relay.blackhole(False)                # forward again (held bytes go through)
    relay.stop()
"""

import select
import socket
import threading


class Relay:
    def __init__(self, target_port, target_host="127.0.0.1"):
        self.target = (target_host, target_port)
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(128)
        self.port = self.listener.getsockname()[1]
        self.holding = threading.Event()
        self.stopping = threading.Event()
        self.sockets = []
        self.lock = threading.Lock()

    def start(self):
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def blackhole(self, on):
        if on:
            self.holding.set()
        else:
            self.holding.clear()

    def stop(self):
        self.stopping.set()
        self.listener.close()
        with self.lock:
            for s in self.sockets:
                try:
                    s.close()
                except OSError:
                    pass

    def _accept(self):
        while not self.stopping.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    def _pump(self, a, b):
        peers = {a: b, b: a}
        try:
            while not self.stopping.is_set():
                if self.holding.is_set():
                    # Read nothing, send nothing, close nothing.
                    self.stopping.wait(0.01)
                    continue
                ready, _, _ = select.select([a, b], [], [], 0.05)
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    peers[s].sendall(data)
        except OSError:
            return
        finally:
            for s in (a, b):
                try:
                    s.close()
                except OSError:
                    pass
