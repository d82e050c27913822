"""Canaries for the one private API of another library the server still relies on (issue 10):
uvicorn's httptools protocol, subclassed by ``server/protocol.py`` for its read deadline, its
one write per response and its direct answers (issue 17).
pyproject pins uvicorn below the next minor release; when a new uvicorn is allowed, these
tests say exactly which assumption broke before the slow-client tests do."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import uvicorn
from uvicorn.protocols.http import httptools_impl

from kmspolicy.server.protocol import DeadlineHttpToolsProtocol

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def test_installed_uvicorn_is_within_the_pinned_range() -> None:
    pin = re.search(r'"uvicorn>=([\d.]+),<([\d.]+)"', PYPROJECT.read_text())
    assert pin is not None, "pyproject must bound uvicorn from above (server/protocol.py)"
    low, high = _version(pin.group(1)), _version(pin.group(2))
    assert low <= _version(uvicorn.__version__) < high


def test_the_httptools_protocol_still_has_what_the_deadline_protocol_uses() -> None:
    base = httptools_impl.HttpToolsProtocol
    assert DeadlineHttpToolsProtocol.__mro__[1] is base
    for hook in (
        "connection_made",
        "on_headers_complete",
        "on_message_begin",
        "on_message_complete",
        "connection_lost",
    ):
        assert callable(getattr(base, hook, None)), f"uvicorn dropped HttpToolsProtocol.{hook}"
    source = inspect.getsource(base)
    for attribute in ("self.loop", "self.transport", "self.cycle"):
        assert attribute in source, f"uvicorn's HttpToolsProtocol no longer sets {attribute}"
    cycle = inspect.getsource(httptools_impl.RequestResponseCycle)
    assert "response_started" in cycle
    # one write per response (_HeadWithBody): the protocol's on_headers_complete makes the
    # request's cycle (self.cycle), which writes the head and then the body through its
    # own transport attribute, and writes no body for HEAD
    assert "self.cycle = RequestResponseCycle(" in inspect.getsource(base.on_headers_complete)
    assert "self.transport = transport" in cycle
    assert cycle.count("self.transport.write(") >= 2
    assert 'self.scope["method"] == "HEAD"' in cycle
    parameters = list(inspect.signature(base.__init__).parameters)
    assert parameters[:4] == ["self", "config", "server_state", "app_state"]


def test_the_httptools_protocol_still_has_what_the_direct_path_uses() -> None:
    base = httptools_impl.HttpToolsProtocol
    for hook in ("on_body", "shutdown", "on_response_complete", "_start_asgi_task"):
        assert callable(getattr(base, hook, None)), f"uvicorn dropped HttpToolsProtocol.{hook}"
    source = inspect.getsource(base)
    # the request as the parser callbacks leave it, read in on_headers_complete
    for attribute in (
        "self.url",
        "self.headers",
        "self.expect_100_continue",
        "self.parser",
        "self.flow",
        "self.limit_concurrency",
        "self.client",
        "self.scheme",
        "self.scope",
        "self.root_path",
        "self.server_state",
        "self.pipeline",
    ):
        assert attribute in source, f"uvicorn's HttpToolsProtocol no longer sets {attribute}"
    # the head uvicorn writes: its status line, then the server state's default headers
    # (the date), then the app's, then connection: close when the connection will close
    cycle = inspect.getsource(httptools_impl.RequestResponseCycle.send)
    assert "headers = self.default_headers + list(" in cycle
    assert 'content.append(b"connection: close\\r\\n")' in cycle
    assert httptools_impl.STATUS_LINE[200] == b"HTTP/1.1 200 OK\r\n"
    assert "self.server_state.default_headers" in source
    # keep-alive as uvicorn decides it, and requests queued behind a pending answer
    headers_complete = inspect.getsource(base.on_headers_complete)
    assert 'keep_alive=http_version != "1.0" and self.parser.should_keep_alive()' in (
        headers_complete
    )
    assert "existing_cycle is None or existing_cycle.response_complete" in headers_complete
    # a refused request's cycle, if it has one, is the newest (self.cycle, first in the queue
    # when queued) and the one whose body is still being read (protocol._stop)
    assert "self.pipeline.appendleft((self.cycle, app))" in headers_complete
    assert "self.cycle.more_body = False" in inspect.getsource(base.on_message_complete)
    # the protocol feeds the parser itself (data_received): what uvicorn's data_received does
    # around the feed is its keep-alive timer cancelled, then _not_parsed's and _upgrade's
    received = inspect.getsource(base.data_received)
    assert re.findall(r"self\.[\w.]+\(|except [\w.]+", received) == [
        "self._unset_keepalive_if_required(",
        "self.parser.feed_data(",
        "except httptools.HttpParserError",
        "self.logger.warning(",
        "self.send_400_response(",
        "except httptools.HttpParserUpgrade",
        "self._should_upgrade(",
        "self.handle_websocket_upgrade(",
        "self._unsupported_upgrade_warning(",
    ], "uvicorn's data_received changed: compare DeadlineHttpToolsProtocol.data_received"
    assert 'msg = "Invalid HTTP request received."' in received
    # flow control: the cycle waits while writing is paused
    assert "write_paused" in inspect.getsource(httptools_impl.FlowControl.__init__)
    # a cycle made for a request whose body is already read (server/protocol.py _in_cycle)
    parameters = list(inspect.signature(httptools_impl.RequestResponseCycle.__init__).parameters)
    assert parameters == [
        "self",
        "scope",
        "transport",
        "flow",
        "logger",
        "access_logger",
        "access_log",
        "default_headers",
        "message_event",
        "expect_100_continue",
        "keep_alive",
        "on_response",
    ]
    assert "self.more_body = True" in inspect.getsource(httptools_impl.RequestResponseCycle)
    # what the protocol does after a direct answer (_write_answer) is uvicorn's
    # on_response_complete without its queue, which a direct answer never has behind it, and
    # with its keep-alive timer kept as the connection's one timer
    complete = inspect.getsource(base.on_response_complete)
    for step in (
        "self.server_state.total_requests += 1",
        "if self.transport.is_closing():",
        "self.flow.resume_reading()",
        "if self.pipeline:",
        "self.timeout_keep_alive_task = self.loop.call_later(",
        "self.timeout_keep_alive, self.timeout_keep_alive_handler",
    ):
        assert step in complete, f"uvicorn's on_response_complete no longer does {step}"
    assert re.findall(r"self\.[\w.]+\(", complete) == [  # and nothing else
        "self.transport.is_closing(",
        "self._unset_keepalive_if_required(",  # (no timer: the request's bytes cancelled it)
        "self.flow.resume_reading(",
        "self.pipeline.pop(",
        "self._start_asgi_task(",
        "self.loop.call_later(",
    ]
    shutdown = inspect.getsource(base.shutdown)
    assert "self.cycle is None or self.cycle.response_complete" in shutdown
    # the scope is made only for a request that takes uvicorn's cycle (protocol._make_scope):
    # uvicorn's on_message_begin resets the request's url, headers and Expect, and makes the
    # scope around that headers list; the direct path resets the three itself
    # the protocol's on_header reads the headers into a dict as uvicorn's on_header reads them
    # into its list (names lower-cased, trailing whitespace stripped, Expect noted), and hands
    # a request that takes uvicorn's cycle that list (tests/server/test_protocol_headers.py)
    on_header = inspect.getsource(base.on_header)
    assert "name = name.lower()" in on_header
    assert 'value = value.rstrip(b" \\t")' in on_header
    assert 'if name == b"expect" and value.lower() == b"100-continue":' in on_header
    assert "self.headers.append((name, value))" in on_header
    begin = inspect.getsource(base.on_message_begin)
    assert re.findall(r"self\.(\w+) = ", begin) == [
        "url",
        "expect_100_continue",
        "headers",
        "scope",
    ]
    for reset in ('self.url = b""', "self.expect_100_continue = False", "self.headers = []"):
        assert reset in begin
    assert '"headers": self.headers' in begin
