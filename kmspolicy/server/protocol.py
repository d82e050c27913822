"""uvicorn's httptools protocol with a deadline for reading each request (slow clients).

Layer: server (adapter). uvicorn times out idle keep-alive connections only: a client that
connects and never sends, sends its headers a byte at a time, or declares a Content-Length it
never sends, would hold its connection (and the app's body read) forever. Here every request —
head and body — must arrive within ``REQUEST_READ_TIMEOUT`` seconds of the connection or of its
first byte; otherwise the client gets ``408`` and the connection is closed. One timer per
request, armed and cancelled in the parser callbacks: nothing on the app's per-request path.

It also sends each response in one write: uvicorn writes a response's head when the app starts
the response and its body when the app sends it, two ``send`` calls and two TCP segments, and
the client wakes up twice to read one answer. Here the head waits for the body
(``_HeadWithBody``) and both leave together.

``HttpToolsProtocol`` is uvicorn's internal class, not its API: pyproject bounds uvicorn below
the next minor release, and tests/server/test_library_internals.py names what this relies on.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

REQUEST_READ_TIMEOUT = 20.0  # seconds; a 512 KB body at 256 kbit/s still fits


def _timeout_response(seconds: float) -> bytes:
    body = (
        b'{"__type":"RequestTimeoutException","message":"the request was not received within '
        b'%g seconds"}' % seconds
    )
    return (
        b"HTTP/1.1 408 Request Timeout\r\n"
        b"content-type: application/x-amz-json-1.1\r\n"
        b"connection: close\r\n"
        b"content-length: %d\r\n\r\n%s" % (len(body), body)
    )


def _bad_request_response(message: str) -> bytes:
    body = json.dumps({"__type": "SerializationException", "message": message}).encode()
    return (
        b"HTTP/1.1 400 Bad Request\r\n"
        b"content-type: application/x-amz-json-1.1\r\n"
        b"connection: close\r\n"
        b"content-length: %d\r\n\r\n%s" % (len(body), body)
    )


class _HeadWithBody:
    """The transport as one response cycle writes to it: the response head (the first write
    once the response has started) is held and written with the next write, the body, which
    uvicorn writes for every response but one to a HEAD request (whose head goes out at once).
    Writes before the response starts (``100 Continue``) go out at once; a head still held when
    the transport closes (an app that failed after starting its response) goes out first."""

    __slots__ = ("_cycle", "_head", "_held", "_transport")

    def __init__(self, transport: asyncio.Transport, cycle: Any) -> None:
        self._transport = transport
        self._cycle = cycle  # uvicorn's RequestResponseCycle: response_started
        self._head: bytes | None = None
        self._held = cycle.scope["method"] == "HEAD"  # nothing to hold it for

    def write(self, data: bytes) -> None:
        head = self._head
        if head is not None:
            self._head = None
            data = head + data
        elif not self._held and self._cycle.response_started:
            self._held = True
            self._head = data
            return
        self._transport.write(data)

    def close(self) -> None:
        head = self._head
        if head is not None:
            self._head = None
            self._transport.write(head)
        self._transport.close()

    def __getattr__(self, name: str) -> Any:  # is_closing, get_extra_info ...: the transport's
        return getattr(self._transport, name)


class DeadlineHttpToolsProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` that closes a connection whose request is not read in time."""

    read_timeout = REQUEST_READ_TIMEOUT
    _read_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # a connection that never sends a byte is a slow client too

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._read_timer is None:
            self._arm()

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None:  # the cycle just made for this request writes through the holder
            # type: the cycle writes, closes and asks is_closing; the holder passes the rest on
            cycle.transport = _HeadWithBody(self.transport, cycle)  # type: ignore[assignment]

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()  # from here on the app has the whole request

    def send_400_response(self, msg: str) -> None:
        # What the HTTP parser refuses (a control character in a header, a malformed request
        # line, a bad chunk size) is answered as AWS answers a body it cannot read: a typed
        # JSON error an SDK can parse, not uvicorn's plain-text page.
        self.transport.write(_bad_request_response(f"the request is not valid HTTP/1.1: {msg}"))
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._read_timer = self.loop.call_later(self.read_timeout, self._read_timed_out)

    def _disarm(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _read_timed_out(self) -> None:
        self._read_timer = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is None or not cycle.response_started:
            self.transport.write(_timeout_response(self.read_timeout))
        # connection_lost follows: an app still awaiting the body receives http.disconnect.
        self.transport.close()


def with_read_timeout(seconds: float) -> type[DeadlineHttpToolsProtocol]:
    """The protocol class for uvicorn's ``http=`` with a read deadline of ``seconds``."""
    return type(
        "DeadlineHttpToolsProtocol", (DeadlineHttpToolsProtocol,), {"read_timeout": seconds}
    )
