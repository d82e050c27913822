"""A TCP relay in front of a real proxy, for tests that need the network to misbehave: it
counts connections, can drop them all (a proxy closing idle connections), and can turn into a
black hole (a proxy that stops answering)."""

from __future__ import annotations

import contextlib
import socket
import threading


class Relay:
    """A TCP relay to a real proxy that turns into a black hole on ``hold``: from then on
    nothing it receives is passed on, so a request waits for an answer that never comes."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.hold = threading.Event()
        self.swallowed = threading.Event()  # a request reached the black hole
        self.accepted = 0  # connections made to the relay
        self._open: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed
            self.accepted += 1
            peer = socket.create_connection(self.upstream)
            self._open += [conn, peer]
            for a, b in ((conn, peer), (peer, conn)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if self.hold.is_set():
                    self.swallowed.set()
                    continue
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)  # one side closed: so does the relayed one

    def drop(self) -> None:
        """Close every connection relayed so far (as a proxy closes idle connections)."""
        open_, self._open = self._open, []
        for conn in open_:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def close(self) -> None:
        if self.sock.fileno() == -1:
            return  # closed already
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.drop()
