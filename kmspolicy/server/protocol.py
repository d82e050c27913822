"""uvicorn's httptools protocol with a deadline for reading each request (slow clients).

Layer: server (adapter). uvicorn times out idle keep-alive connections only: a client that
connects and never sends, sends its headers a byte at a time, or declares a Content-Length it
never sends, would hold its connection (and the app's body read) forever. Here every request —
head and body — must arrive within ``REQUEST_READ_TIMEOUT`` seconds of the connection or of its
first byte; otherwise the client gets ``408`` and the connection is closed. One timer per
connection, for that deadline and for the keep-alive timeout after a direct answer: a request's
callbacks and an answer only note their deadline, and the timer, when it fires before a
deadline noted since, is armed again for that one (arming and cancelling uvicorn's keep-alive
timer for each answer cost 4.4 k instructions of the 84 k the protocol spent on a request).
Bytes between requests (a bare CRLF, which llhttp skips without beginning a message, while
uvicorn cancels its keep-alive timer on every byte) start that deadline too, and a request
begun right behind an answer is not cut by the keep-alive timeout of that answer.

A pipelining client can neither hold the loop nor grow memory: reads are parsed
``FEED_SLICE`` bytes at a time; at most one request per slice is answered directly (the rest
queue for uvicorn's cycles, one per loop turn); and once requests are queued, the rest of the
read is held unparsed and reading stays paused (``_QueueFlow``) until they are answered.
Nor can one request's head: it may take ``HEAD_LIMIT`` bytes of input (counted per slice fed
while it is read: httptools and uvicorn copy a header value or URL so far for every slice,
quadratic without a bound) and hold ``HEADER_COUNT_LIMIT`` headers, else 431 (414 when its URL
is over ``URL_LIMIT``) and the connection is closed, before the app or uvicorn's cycle sees
the request.

A request the protocol refuses itself (400 for what the parser rejects, 408, 414, 431) ends
the connection: nothing after it is parsed or run, and its answer is written after those still
due to the requests pipelined before it, in order (``_stop``).

It also sends each response in one write: uvicorn writes a response's head when the app starts
the response and its body when the app sends it, two ``send`` calls and two TCP segments, and
the client wakes up twice to read one answer. Here the head waits for the body
(``_HeadWithBody``) and both leave together.

And it answers the requests the app can answer at once straight from the parser's callbacks,
without uvicorn's per-request ASGI cycle (a task and its loop turn, the scope, the receive and
send messages, the head rebuilt and checked header by header): a ``POST /`` on HTTP/1.1 with
its whole body declared (``KmsApp.answers_directly``), no ``Expect`` header, no upgrade,
no response of an earlier request still pending on the connection, and no other request of
the same slice answered directly. Its headers are read straight into the dict the app reads
(``on_header``; uvicorn's list is made from it only for a request that takes uvicorn's cycle
after all). The app does the same work for it as for an ASGI request
(``KmsApp.answer``) and the head is the one uvicorn writes (its default headers,
``connection: close`` when the connection will close). A call that must run in a worker thread
after all, and every other request (the console, health, the dev endpoints, other paths,
chunked or oversized bodies, ``100 Continue``, HTTP/1.0, pipelined requests behind a pending
answer or a direct answer of the same slice), take uvicorn's ordinary response cycle.
docs/server.md "Performance" says what this saves.

``HttpToolsProtocol`` is uvicorn's internal class, not its API: pyproject bounds uvicorn below
the next minor release, and tests/server/test_library_internals.py names what this relies on.
"""

from __future__ import annotations

import asyncio
import http
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httptools
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from kmspolicy.errors import log_safe_traceback
from kmspolicy.server.app import KmsApp, Receive, Scope, Send, _headers, _known_name, error_log

REQUEST_READ_TIMEOUT = 20.0  # seconds; a 512 KB body at 256 kbit/s still fits
#: the most bytes parsed at once: the requests queued behind a pending answer (each a cycle
#: with its scope and body) are at most what one slice holds, the rest waits unparsed
FEED_SLICE = 8 * 1024
#: a request's head (request line and headers): the input it may take, and its headers (an
#: SDK's head is 1–3 KiB, ten headers or so). Counted per slice fed while a head is being
#: read, not per header: llhttp hands over a header only once it is whole, and httptools and
#: uvicorn copy what has come of a value or URL so far for every slice (quadratic)
HEAD_LIMIT = 32 * 1024
HEADER_COUNT_LIMIT = 100
#: the request URL within the head (KMS's is ``/``): longer is answered 414, not 431. A head
#: refused while its URL is still arriving has a URL over it (such a head took at least
#: ``HEAD_LIMIT - FEED_SLICE`` bytes of input), so the two refusals never blur
URL_LIMIT = 16 * 1024
_NEVER = float("inf")  # the due time of a timer not armed


def _closing_answer(status_line: bytes, error_type: str, message: str) -> bytes:
    """An answer the protocol writes itself before it closes the connection: a typed JSON
    error an SDK can parse, as AWS answers what it cannot serve."""
    body = json.dumps({"__type": error_type, "message": message}, separators=(",", ":")).encode()
    return (
        b"HTTP/1.1 %s\r\n"
        b"content-type: application/x-amz-json-1.1\r\n"
        b"connection: close\r\n"
        b"content-length: %d\r\n\r\n%s" % (status_line, len(body), body)
    )


def _timeout_response(seconds: float) -> bytes:
    return _closing_answer(
        b"408 Request Timeout",
        "RequestTimeoutException",
        f"the request was not received within {seconds:g} seconds",
    )


def _bad_request_response(message: str) -> bytes:
    return _closing_answer(b"400 Bad Request", "SerializationException", message)


def _head_too_large_response() -> bytes:
    return _closing_answer(
        b"431 Request Header Fields Too Large",
        "ValidationException",
        f"the request line and headers must be at most {HEAD_LIMIT} bytes and "
        f"{HEADER_COUNT_LIMIT} headers",
    )


def _url_too_long_response() -> bytes:
    return _closing_answer(
        b"414 URI Too Long",
        "ValidationException",
        f"the request URL must be at most {URL_LIMIT} bytes",
    )


def _internal_error_response() -> bytes:
    return _closing_answer(
        b"500 Internal Server Error",
        "KMSInternalException",
        "the server failed to answer the request",
    )


class _HeadRefused(Exception):
    """Raised in a parser callback to stop the parser: the request has been answered."""


class _HeadWithBody:
    """The transport as one response cycle writes to it: the response head (the first write
    once the response has started) is held and written with the next write, the body, which
    uvicorn writes for every response but one to a HEAD request (whose head goes out at once).
    Writes before the response starts (``100 Continue``) go out at once; a head still held when
    the transport closes (an app that failed after starting its response) goes out first, and
    the close is ``close``'s (the protocol's: bounded by the write deadline)."""

    __slots__ = ("_close", "_cycle", "_head", "_held", "_transport")

    def __init__(self, transport: asyncio.Transport, cycle: Any, close: Callable[[], None]) -> None:
        self._transport = transport
        self._cycle = cycle  # uvicorn's RequestResponseCycle: response_started
        self._close = close
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
        self._close()

    def __getattr__(self, name: str) -> Any:  # is_closing, get_extra_info ...: the transport's
        return getattr(self._transport, name)


class _QueueFlow(FlowControl):
    """uvicorn's flow control, except that reading stays paused while requests wait: queued
    behind a pending answer (uvicorn's pipeline), or received and not yet parsed; and for good
    once the protocol has stopped reading (``_stop``). uvicorn
    resumes reading whenever an answer completes or a cycle asks for its body, so a client
    pipelining faster than it is answered had every read parsed and queued, without bound."""

    def __init__(self, transport: asyncio.Transport, protocol: DeadlineHttpToolsProtocol) -> None:
        super().__init__(transport)
        self._protocol = protocol

    def resume_reading(self) -> None:
        protocol = self._protocol
        if not protocol.pipeline and not protocol._held and protocol._last_word is None:
            super().resume_reading()


def _status_line(status: int) -> bytes:
    """The status line uvicorn writes for ``status``."""
    try:
        phrase = http.HTTPStatus(status).phrase.encode()
    except ValueError:
        phrase = b""
    return b"HTTP/1.1 %d %s\r\n" % (status, phrase)


_OK = _status_line(200)
_ANSWER_HEAD = (
    b"content-type: application/x-amz-json-1.1\r\ncontent-length: %d\r\nx-amzn-requestid: %s\r\n"
)


def _listed(fields: dict[str, str]) -> list[tuple[bytes, bytes]]:
    """uvicorn's list of a request's headers, from the dict of them when none repeats."""
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in fields.items()]


class DeadlineHttpToolsProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` that closes a connection whose request is not read in time, and
    answers what the app can answer at once without an ASGI cycle."""

    read_timeout = REQUEST_READ_TIMEOUT
    direct = True  # answer without an ASGI cycle when the app can (off: tests compare paths)
    #: the loop time by which the request being read must be whole (None: none is)
    _read_deadline: float | None = None
    #: the loop time at which a connection idle since a direct answer is closed (None: it is
    #: not; uvicorn's keep-alive timer does it after an answer of its cycle)
    _idle_deadline: float | None = None
    #: the connection's one timer for both deadlines, and when it fires (``_NEVER``: it is not
    #: armed): re-armed when it fires early or a deadline comes before it, not armed and
    #: cancelled for every request
    _read_timer: asyncio.TimerHandle | None = None
    _timer_due = _NEVER
    #: armed while the transport's buffer is over its high-water mark: the client is not
    #: reading its answers, and by the deadline the connection is aborted
    _write_timer: asyncio.TimerHandle | None = None
    _app: KmsApp[Any] | None = None  # the app, when it answers directly
    #: the headers of the request being parsed, as the app reads them (names lower-cased,
    #: values with uvicorn's trailing whitespace stripped), while it may be answered directly;
    #: None once it takes uvicorn's cycle, whose list (``self.headers``) then holds them
    _fields: dict[str, str] | None = None
    #: the request being read for a direct answer: its headers, body parts, start, keep-alive
    _direct_headers: dict[str, str] | None = None
    _direct_body: list[bytes]
    _direct_started = 0.0
    _direct_keep_alive = True
    #: a direct answer was written in the slice being parsed: the slice's next requests queue
    _answered_in_feed = False
    #: bytes received while requests are queued, parsed once they are answered
    _held = b""
    #: the input fed while the request's head is being read (None: no head is)
    _head_fed: int | None = None
    #: once the protocol has stopped reading (``_stop``): the answer it ends the connection
    #: with while answers of earlier requests are still due, written after them (b"": none
    #: left to write)
    _last_word: bytes | None = None
    #: uvicorn's default headers (the date, once a second) as the head's bytes
    _defaults: list[tuple[bytes, bytes]] | None = None
    _default_lines = b""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.flow = _QueueFlow(transport, self)
        if self.direct and isinstance(self.app, KmsApp) and self.limit_concurrency is None:
            self._app = self.app  # (uvicorn's concurrency limit answers 503 from its cycle)
        self._expect_whole()  # a connection that never sends a byte is a slow client too

    def data_received(self, data: bytes) -> None:
        """Parse ``data`` a slice at a time. Each slice answers at most one request directly
        (the rest queue for uvicorn's cycles, one per loop turn), and once requests are queued
        the rest of ``data`` is held unparsed, reading paused, until they are answered: a
        client pipelining thousands of requests in one read neither holds the loop for all
        their answers nor grows the queue beyond one slice's requests."""
        if self._held:  # reading is paused while bytes are held; order is kept regardless
            self._held += data
            self.flow.pause_reading()
            return
        start, size = 0, len(data)
        while start < size:
            if self.pipeline:
                self._held = data[start:]
                self.flow.pause_reading()
                return
            self._answered_in_feed = False
            if self._read_deadline is None:
                # bytes between requests (llhttp skips a bare CRLF without beginning a
                # message) start a request's deadline: they cancel uvicorn's keep-alive timer
                self._expect_whole()
                if self.timeout_keep_alive_task is not None:
                    self._unset_keepalive_if_required()
            # (a whole read within one slice is parsed as it is, without a copy)
            chunk = data if size <= FEED_SLICE else data[start : start + FEED_SLICE]
            try:  # uvicorn's data_received, but for its keep-alive timer, cancelled above
                self.parser.feed_data(chunk)
            except httptools.HttpParserError:  # refused: nothing after it is parsed
                self._not_parsed()
                return
            except httptools.HttpParserUpgrade:
                self._upgrade()
            if self.transport.is_closing():
                return
            fed = self._head_fed
            if fed is not None:  # a head goes on past this slice (counted whole: ≤ 8 KiB over)
                fed += len(chunk)
                if fed > HEAD_LIMIT:
                    self._refuse_head()
                    return
                self._head_fed = fed
            start += FEED_SLICE

    def _not_parsed(self) -> None:
        """What uvicorn's data_received does when the parser refuses a request (or a callback
        answered it and stopped the parser): a 400."""
        msg = "Invalid HTTP request received."
        self.logger.warning(msg)
        self.send_400_response(msg)

    def _upgrade(self) -> None:
        """What uvicorn's data_received does when the parser stops for an upgrade."""
        if self._should_upgrade():
            self.handle_websocket_upgrade()
        else:
            self._unsupported_upgrade_warning()

    def _feed_held(self) -> None:
        data, self._held = self._held, b""
        if data and not self.transport.is_closing():
            self.data_received(data)
        self.flow.resume_reading()  # unless requests are queued or bytes held again

    def on_message_begin(self) -> None:
        # What uvicorn's on_message_begin resets, without its ASGI scope (two dicts and a copy
        # of the app state): a request answered directly has no use for it; one that takes
        # uvicorn's cycle gets it from _make_scope once its headers are in.
        self.url = b""
        self.expect_100_continue = False
        self.headers = []
        self._head_fed = 0
        if self._app is not None:
            self._fields = {}
        # this request's read deadline governs now (408), not a keep-alive timeout (a silent
        # close): uvicorn's timer, armed by an answer of its cycle, or a direct answer's
        # earlier in this slice (_expect_whole ends it)
        if self.timeout_keep_alive_task is not None:
            self._unset_keepalive_if_required()
        if self._read_deadline is None:
            self._expect_whole()

    def _make_scope(self) -> None:
        """uvicorn's ASGI scope (``self.scope``) for the request whose head has been read, as
        its on_message_begin makes it, with the url, headers and ``Expect`` seen since."""
        url, headers, expect = self.url, self.headers, self.expect_100_continue
        super().on_message_begin()
        self.url, self.headers, self.expect_100_continue = url, headers, expect
        self.scope["headers"] = headers

    def on_header(self, name: bytes, value: bytes) -> None:
        # What uvicorn's on_header does (the name lower-cased, the value's trailing whitespace
        # stripped), into the dict the app reads rather than into uvicorn's list, which a
        # direct answer does not use: one step per header instead of uvicorn's list and then
        # the dict made from it.
        fields = self._fields
        if fields is None:
            HttpToolsProtocol.on_header(self, name, value)
            return
        key = _known_name(name)
        if key is None:
            key = name.lower().decode("latin-1")
        if key in fields:  # repeated: uvicorn's list from here on, each header in it
            self._fields = None
            self.headers = _listed(fields)
            HttpToolsProtocol.on_header(self, name, value)
            return
        fields[key] = value.rstrip(b" \t").decode("latin-1")

    def on_headers_complete(self) -> None:
        self._head_fed = None
        fields = self._fields
        if (
            len(self.headers if fields is None else fields) > HEADER_COUNT_LIMIT
            or len(self.url) > URL_LIMIT
        ):
            self._refuse_head()  # and the parser stopped: uvicorn's 400 follows, not sent
            raise _HeadRefused
        if self._app is not None:
            if fields is None:  # a header repeated: its values joined, as SigV4 reads them
                fields = _headers(self.headers)
            if self._direct_begins(fields):
                return
            self._to_cycle()
        self._make_scope()
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None:  # the cycle just made for this request writes through the holder
            self._hold_heads(cycle)

    def _hold_heads(self, cycle: RequestResponseCycle) -> None:
        """``cycle`` writes through a ``_HeadWithBody`` (one write per answer) and closes as a
        direct answer does (``_close_when_flushed``)."""
        # type: the cycle writes, closes and asks is_closing; the holder passes the rest on
        cycle.transport = _HeadWithBody(  # type: ignore[assignment]
            self.transport, cycle, self._close_when_flushed
        )

    def _to_cycle(self) -> None:
        """Hand the request to uvicorn's cycle with its headers as uvicorn's on_header would
        have left them: its list (each header, in order) and ``Expect: 100-continue``."""
        fields = self._fields
        if fields is not None:  # no header repeated: the dict holds the list, in order
            self._fields = None
            self.headers = _listed(fields)
        self.expect_100_continue = any(
            name == b"expect" and value.lower() == b"100-continue" for name, value in self.headers
        )

    def on_body(self, body: bytes) -> None:
        if self._direct_headers is not None:
            self._direct_body.append(body)  # no more than the declared length, within the limit
        else:
            super().on_body(body)

    def on_message_complete(self) -> None:
        headers = self._direct_headers
        if headers is None:
            super().on_message_complete()
            self._read_deadline = None  # from here on the app has the whole request
            return
        self._direct_headers = None
        self._read_deadline = None
        assert self._app is not None
        parts = self._direct_body
        body = parts[0] if len(parts) == 1 else b"".join(parts)
        try:
            answer = self._app.answer(headers, body, self.client, self.scheme, self._direct_started)
        except Exception as exc:
            # The app answers every failure of the request itself; this is one around it (its
            # access-line writer, say): answered as a bug is, and the connection closed.
            error_log.error("internal error answering a request\n%s", log_safe_traceback(exc))
            self.transport.write(_internal_error_response())
            self._close_when_flushed()
            return
        if isinstance(answer, tuple):
            self._answered_in_feed = True
            self._write_answer(*answer)
        else:
            self._in_cycle(answer)

    def _direct_begins(self, headers: dict[str, str]) -> bool:
        """Whether the request whose ``headers`` just arrived is answered directly (and if so,
        its state is set up); otherwise uvicorn makes its ordinary cycle."""
        cycle = self.cycle
        if (
            (cycle is not None and not cycle.response_complete)  # an answer pending: queue
            or self._answered_in_feed  # one per slice: the others take a loop turn each
            or self.url != b"/"
            or "expect" in headers  # 100-continue: uvicorn's cycle sends it
            or self.flow.write_paused  # the client is not reading: the cycle waits for it
            or self.transport.is_closing()
        ):
            return False
        parser = self.parser
        keep_alive = parser.should_keep_alive()
        # HTTP/1.1 only. llhttp keeps a connection alive by default for HTTP/1.1 alone (of the
        # versions it accepts, 0.9, 1.0, 1.1 and 2.0; the others only when Connection or
        # Proxy-Connection asks), so a request it keeps alive without either header is one;
        # the others ask the parser (its version is a string it formats: 2.6 k instructions,
        # 3 % of the protocol's per request)
        http_1_1 = (
            keep_alive and "connection" not in headers and "proxy-connection" not in headers
        ) or parser.get_http_version() == "1.1"
        if parser.get_method() != b"POST" or not http_1_1 or parser.should_upgrade():
            return False
        assert self._app is not None  # headers are read into a dict only for the app
        if not self._app.answers_directly(headers):
            return False
        self._direct_headers = headers
        self._direct_body = []
        self._direct_started = time.perf_counter()
        self._direct_keep_alive = keep_alive
        return True

    def _write_answer(self, status: int, payload: bytes, request_id: str) -> None:
        """The answer as uvicorn's cycle writes it for the app's response, in one write, and
        what uvicorn does after it."""
        defaults = self.server_state.default_headers
        if defaults is not self._defaults:  # uvicorn replaces the list when the date changes
            self._defaults = defaults
            self._default_lines = b"".join(b"%s: %s\r\n" % pair for pair in defaults)
        head = _ANSWER_HEAD % (len(payload), request_id.encode())
        if not self._direct_keep_alive:
            head += b"connection: close\r\n"
        status_line = _OK if status == 200 else _status_line(status)
        transport = self.transport
        transport.write(b"".join((status_line, self._default_lines, head, b"\r\n", payload)))
        if not self._direct_keep_alive:
            self._close_when_flushed()
        # What uvicorn's on_response_complete does after an answer (the request counted,
        # reading resumed, the keep-alive timer armed), for a direct answer: no request waits
        # in uvicorn's queue or unparsed (then it would not have been answered directly), none
        # is being read, and the request's first bytes cancelled the keep-alive timer.
        self.server_state.total_requests += 1
        if transport.is_closing():
            return
        flow = self.flow
        if flow.read_paused:  # (FlowControl.resume_reading does nothing otherwise: 2 calls)
            flow.resume_reading()
        # uvicorn's keep-alive timer, as the connection's one timer: not armed and cancelled
        # for each answer, only moved earlier when this deadline comes before it is due
        self._idle_deadline = idle = self.loop.time() + self.timeout_keep_alive
        if idle < self._timer_due:
            self._arm(idle)

    def _in_cycle(self, respond: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        """Finish the request in uvicorn's ordinary cycle, its body already read: ``respond``
        runs in the cycle's task (a worker thread's call), requests behind it queue as behind
        any pending answer, and graceful shutdown waits for it."""
        self._make_scope()
        scope = self.scope  # as uvicorn fills it for a POST / (its access log reads it)
        scope["method"] = "POST"
        scope["path"] = self.root_path + "/"
        scope["raw_path"] = self.root_path.encode("ascii") + b"/"
        scope["query_string"] = b""
        cycle = RequestResponseCycle(
            scope=scope,
            transport=self.transport,
            flow=self.flow,
            logger=self.logger,
            access_logger=self.access_logger,
            access_log=self.access_log,
            default_headers=self.server_state.default_headers,
            message_event=asyncio.Event(),
            expect_100_continue=False,
            keep_alive=self._direct_keep_alive,
            on_response=self.on_response_complete,
        )
        cycle.more_body = False
        self._hold_heads(cycle)
        self.cycle = cycle
        # type: uvicorn types ASGI apps with its own TypedDicts; the app's are plain mappings
        self._start_asgi_task(cycle, respond)  # type: ignore[arg-type]

    def on_response_complete(self) -> None:
        if self._last_word and not self.pipeline:  # the last answer due before the protocol's
            self.server_state.total_requests += 1  # (as uvicorn counts it)
            self._last_word, last = b"", self._last_word
            if not self.transport.is_closing():  # (unless that answer closed the connection)
                self.transport.write(last)
                self._close_when_flushed()
            return
        super().on_response_complete()  # the keep-alive timer, or the next queued cycle
        if self.transport.is_closing():
            return
        if self._read_deadline is not None:  # a request is being read: its deadline governs
            self._unset_keepalive_if_required()
        if self._held and not self.pipeline:  # the queue is answered: parse what waited
            self.loop.call_soon(self._feed_held)

    def _refuse_head(self) -> None:
        """Answer a request whose head is over the limits 414 (its URL) or 431, and close the
        connection."""
        url_too_long = len(self.url) > URL_LIMIT
        self._stop(_url_too_long_response() if url_too_long else _head_too_large_response())

    def send_400_response(self, msg: str) -> None:
        if self._last_word is not None or self.transport.is_closing():
            return  # a callback answered and stopped the parser
        # What the HTTP parser refuses (a control character in a header, a malformed request
        # line, a bad chunk size) is answered as AWS answers a body it cannot read: a typed
        # JSON error an SDK can parse, not uvicorn's plain-text page.
        self._direct_headers = None  # answered: no access line for a cut-short body
        self._stop(_bad_request_response(f"the request is not valid HTTP/1.1: {msg}"))

    def _stop(self, answer: bytes) -> None:
        """Stop reading, and close the connection with ``answer`` (the protocol's own refusal
        of the request being read: 400, 408, 414, 431) once the answers of the requests before
        it are written. Pipelined answers go in request order, so while one is due the refusal
        waits behind it: writing it and closing at once lost the answers of requests already
        running or queued, and ran them all the same. Nothing after the refused request is
        parsed or run, and the request itself is not run (queued) or is cut (running: its app
        reads ``http.disconnect``)."""
        if self.transport.is_closing():
            return
        self._read_deadline = self._head_fed = None  # nothing is read from here on
        self._held = b""
        cycle = self.cycle  # uvicorn's newest: the request being read's, or the one before
        due = cycle is not None and not cycle.response_complete
        if due and cycle.more_body:  # the request being read has a cycle: the refused one
            pipeline = self.pipeline
            if pipeline and pipeline[0][0] is cycle:  # queued behind another (still due)
                pipeline.popleft()
            else:  # running: nothing is due before it, and its answer if begun ends the stream
                due = False
                if cycle.response_started:
                    answer = b""
        if due:
            self._last_word = answer
            self.flow.pause_reading()
            return
        self._last_word = b""
        if answer:
            self.transport.write(answer)
        self._close_when_flushed()

    def shutdown(self) -> None:
        if self._direct_headers is not None:  # a request being read: answer it, then close
            self._direct_keep_alive = False
            return
        super().shutdown()
        if self.transport.is_closing():  # closed, no answer pending: its flush is timed too
            self._time_the_flush()

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._write_timer is None:
            self._write_timer = self.loop.call_later(self.read_timeout, self._write_deadline_due)

    def resume_writing(self) -> None:
        super().resume_writing()
        # (a closing connection keeps its deadline: it must be flushed whole by then)
        if self._write_timer is not None and not self.transport.is_closing():
            self._write_timer.cancel()
            self._write_timer = None

    def _close_when_flushed(self) -> None:
        """Close the connection once its output is flushed, or abort it if that has not
        happened by the write deadline: a close waits for the flush, forever for a client
        that reads nothing, and output under the high-water mark started no deadline."""
        self.transport.close()
        self._time_the_flush()

    def _time_the_flush(self) -> None:
        """A closing connection with output unsent gets the write deadline to flush it (a
        graceful shutdown's close too: it would wait for the flush until the server's timeout,
        for a client that reads nothing)."""
        if self.transport.get_write_buffer_size() and self._write_timer is None:
            self._write_timer = self.loop.call_later(self.read_timeout, self._write_deadline_due)

    def _write_deadline_due(self) -> None:
        """The client has not read its answers (the buffer stayed over its high-water mark,
        or a closed connection's output was not flushed) for the read deadline: aborted, since
        closing would wait for a flush that never comes (and hold the socket, the queued
        requests and the unsent answers)."""
        self._write_timer = None
        if self.flow.write_paused or self.transport.is_closing():
            self.transport.abort()

    def _close_or_abort(self) -> None:
        """Close, or abort when output is still buffered: a client that is late, or idle,
        with answers unread is not reading them, and a close would wait for it forever."""
        if self.transport.get_write_buffer_size():
            self.transport.abort()
        else:
            self.transport.close()

    def timeout_keep_alive_handler(self) -> None:
        if not self.transport.is_closing():
            self._close_or_abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self._read_deadline = self._idle_deadline = None
        self._held = b""
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None
            self._timer_due = _NEVER
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None
        if self._direct_headers is not None and self._app is not None:
            # the body never came whole: logged as the ASGI path logs it (nobody to answer)
            self._direct_headers = None
            received = sum(len(part) for part in self._direct_body)
            self._app.cut_short(self.client, received, self._direct_started)
        super().connection_lost(exc)

    def _expect_whole(self) -> None:
        """Start the deadline of a request (or of a connection's first one): the connection
        is no longer idle."""
        self._idle_deadline = None
        self._read_deadline = deadline = self.loop.time() + self.read_timeout
        if deadline < self._timer_due:
            self._arm(deadline)

    def _arm(self, due: float) -> None:
        """Have the connection's timer fire at ``due`` (earlier than it is due now)."""
        if self._read_timer is not None:
            self._read_timer.cancel()
        self._timer_due = due
        self._read_timer = self.loop.call_at(due, self._deadline_due)

    def _deadline_due(self) -> None:
        self._read_timer = None
        self._timer_due = _NEVER
        deadline = self._read_deadline
        if deadline is None:  # nothing being read: idle since a direct answer, or neither
            idle = self._idle_deadline
            if idle is None:  # the next request arms the timer again
                return
            if self.loop.time() < idle:  # idle since an answer written since: wait for it
                self._arm(idle)
                return
            self._idle_deadline = None
            self.timeout_keep_alive_handler()  # as uvicorn's keep-alive timer does
            return
        if self.loop.time() < deadline:  # set for a request read since: wait for this one
            self._arm(deadline)
            return
        if self.transport.is_closing():
            return
        if self.transport.get_write_buffer_size():  # nor does the client read its answers
            self.transport.abort()
            return
        # connection_lost follows: an app still awaiting the body receives http.disconnect.
        self._stop(_timeout_response(self.read_timeout))


def with_read_timeout(seconds: float, *, direct: bool = True) -> type[DeadlineHttpToolsProtocol]:
    """The protocol class for uvicorn's ``http=`` with a read deadline of ``seconds``;
    ``direct=False`` sends every request through uvicorn's ASGI cycle."""
    return type(
        "DeadlineHttpToolsProtocol",
        (DeadlineHttpToolsProtocol,),
        {"read_timeout": seconds, "direct": direct},
    )
