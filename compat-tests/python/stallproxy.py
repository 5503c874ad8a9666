"""A TCP proxy that can play a network partition (standard library only), for fencing tests:
a broker reaches PostgreSQL through it; `stall()` stops forwarding both ways without closing
anything, so both peers see silence (as when the network between them is cut) rather than a
reset; `resume()` forwards again, whatever was held back included.

    proxy = StallProxy(0, "127.0.0.1", 25432)   # 0: a free port, see proxy.port
    ... connect to 127.0.0.1:proxy.port ...
    proxy.stall(); ...; proxy.resume(); proxy.close()
"""

from __future__ import annotations

import select
import socket
import threading


class StallProxy:
    def __init__(self, listen_port: int, target_host: str, target_port: int,
                 listen_host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self._go = threading.Event()  # set: forwarding; clear: stalled
        self._go.set()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._socks: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((listen_host, listen_port))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self._spawn(self._accept_loop)

    # ---------------------------------------------------------------------------- control
    def stall(self) -> None:
        """Stop forwarding in both directions (sockets stay open; new connections are
        accepted but not forwarded, nor connected onward, until resume)."""
        self._go.clear()

    def resume(self) -> None:
        self._go.set()

    @property
    def stalled(self) -> bool:
        return not self._go.is_set()

    def close(self) -> None:
        """Close the listener and every connection; idempotent."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._go.set()  # wake the pumps so they see the close
        try:  # wakes the accept() blocked in its thread (a bare close() would not, on Linux)
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        _close(self._listener)
        with self._lock:
            socks = list(self._socks)
        for s in socks:
            _close(s)
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(5)

    def __enter__(self) -> "StallProxy":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---------------------------------------------------------------------------- workers
    def _spawn(self, fn, *args) -> None:
        t = threading.Thread(target=fn, args=args, daemon=True, name=f"stallproxy-{self.port}")
        with self._lock:
            self._threads = [x for x in self._threads if x.is_alive()] + [t]
        t.start()

    def _track(self, s: socket.socket) -> None:
        with self._lock:
            self._socks.add(s)

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._track(client)
            self._spawn(self._connect, client)

    def _connect(self, client: socket.socket) -> None:
        self._wait_go()
        if self._closed.is_set():
            _close(client)
            return
        try:
            upstream = socket.create_connection(self.target, timeout=10)
            upstream.settimeout(None)
        except OSError:
            _close(client)
            return
        self._track(upstream)
        done = threading.Event()  # the first direction to end; the second closes both
        self._spawn(self._pump, client, upstream, done)
        self._spawn(self._pump, upstream, client, done)

    def _wait_go(self) -> None:
        while not self._go.wait(0.2):
            if self._closed.is_set():
                return

    def _pump(self, src: socket.socket, dst: socket.socket, done: threading.Event) -> None:
        """src → dst. Bytes read just before a stall are held until resume."""
        try:
            while not self._closed.is_set():
                self._wait_go()
                readable, _, _ = select.select([src], [], [], 0.2)
                if not readable:
                    continue
                data = src.recv(65536)
                if not data:
                    dst.shutdown(socket.SHUT_WR)
                    break
                self._wait_go()
                dst.sendall(data)
        except (OSError, ValueError):
            done.set()  # a reset or a close: end both directions now
        if done.is_set():
            for s in (src, dst):
                _close(s)
                with self._lock:
                    self._socks.discard(s)
        else:
            done.set()


def _close(s: socket.socket) -> None:
    try:
        s.close()
    except OSError:
        pass
