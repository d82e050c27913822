"""Each response leaves in one write (server/protocol.py ``_HeadWithBody``): the head waits for
its body; ``100 Continue`` and the head of a HEAD response do not wait; a held head is written
before the connection closes."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from kmspolicy.server.protocol import _HeadWithBody
from kmspolicy.server.thread import Endpoint, serve_in_thread


class _Transport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


def _holder(method: str = "POST") -> tuple[_Transport, SimpleNamespace, _HeadWithBody]:
    transport = _Transport()
    cycle = SimpleNamespace(response_started=False, scope={"method": method})
    return transport, cycle, _HeadWithBody(transport, cycle, transport.close)  # type: ignore[arg-type]


def test_head_and_body_leave_in_one_write() -> None:
    transport, cycle, holder = _holder()
    cycle.response_started = True
    holder.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    assert transport.writes == []
    holder.write(b"{}")
    assert transport.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]


def test_writes_before_the_response_and_after_the_body_go_out_at_once() -> None:
    transport, cycle, holder = _holder()
    holder.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # the response has not started
    assert transport.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    cycle.response_started = True
    holder.write(b"head")
    holder.write(b"chunk 1")
    holder.write(b"chunk 2")
    assert transport.writes[1:] == [b"headchunk 1", b"chunk 2"]


def test_the_head_of_a_head_response_is_not_held() -> None:
    transport, cycle, holder = _holder("HEAD")
    cycle.response_started = True
    holder.write(b"head")  # uvicorn writes no body for HEAD
    assert transport.writes == [b"head"]


def test_a_held_head_is_written_before_the_transport_closes() -> None:
    transport, cycle, holder = _holder()
    cycle.response_started = True
    holder.write(b"head")  # the app failed after starting its response: uvicorn closes
    holder.close()
    assert transport.writes == [b"head"]
    assert transport.closed
    assert holder.is_closing()  # the rest of the transport's API is the transport's


@pytest.fixture(scope="module")
def endpoint() -> Iterator[Endpoint]:
    with serve_in_thread() as served:
        yield served


def _exchange(endpoint: Endpoint, first: bytes, then: bytes = b"") -> list[bytes]:
    """Send ``first``; after the first answer bytes arrive, send ``then``; read to the end."""
    host, port = endpoint.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(first)
        reads = [sock.recv(65536)]
        if then:
            sock.sendall(then)
        sock.shutdown(socket.SHUT_WR)
        while chunk := sock.recv(65536):
            reads.append(chunk)
    return reads


def test_over_http_an_answer_arrives_whole_in_the_first_read(endpoint: Endpoint) -> None:
    body = b"{}"
    reads = _exchange(
        endpoint,
        b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: TrentService.ListKeys\r\n"
        b"Content-Type: application/x-amz-json-1.1\r\nConnection: close\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body),
    )
    head, _, payload = reads[0].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ") or head.startswith(b"HTTP/1.1 403 ")
    assert b"MissingAuthenticationTokenException" in payload  # the body came along


def test_over_http_100_continue_comes_before_the_body_is_sent(endpoint: Endpoint) -> None:
    # The client sends its body only after the interim answer: were it held, this would wait
    # for the socket timeout instead of answering.
    body = b"{}"
    reads = _exchange(
        endpoint,
        b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: TrentService.ListKeys\r\n"
        b"Content-Type: application/x-amz-json-1.1\r\nExpect: 100-continue\r\n"
        b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body),
        then=body,
    )
    assert reads[0].startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert b"MissingAuthenticationToken" in b"".join(reads)


def test_over_http_a_head_request_gets_its_head(endpoint: Endpoint) -> None:
    reads = _exchange(endpoint, b"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert b"".join(reads).startswith(b"HTTP/1.1 4")
