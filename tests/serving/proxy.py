"""A loopback TCP proxy that drops every open connection once, after a number of bytes went through: a real
network fault between the loader and Redis, with no change to the code under test."""

from __future__ import annotations

import contextlib
import socket
import threading


class DroppingProxy:
    def __init__(self, upstream_port: int, drop_after_bytes: int):
        self.upstream_port = upstream_port
        self.drop_after_bytes = drop_after_bytes
        self.sent = 0
        self.dropped = threading.Event()
        self._lock = threading.Lock()
        self._connections: list[socket.socket] = []
        self._server = socket.socket()
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(64)
        self.port = self._server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            with self._lock:
                self._connections += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, counts: bool) -> None:
        try:
            while data := source.recv(65536):
                if counts:
                    with self._lock:
                        self.sent += len(data)
                        drop = self.sent > self.drop_after_bytes and not self.dropped.is_set()
                    if drop:  # before forwarding: the writer then always waits for replies that never come
                        self._drop_all()
                        return
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.close()

    def _drop_all(self) -> None:
        self.dropped.set()
        with self._lock:
            connections, self._connections = self._connections, []
        for s in connections:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass

    def close(self) -> None:
        self._server.close()
        self._drop_all()
