"""The request head's limits (server/protocol.py), replayed in-process as
test_protocol_floods.py replays floods: what a caller sends in its request line and headers
is bounded before the app, or uvicorn's cycle, sees any of it.

- 300,000 ``x: y`` lines (1.8 MB, one request) were read, listed and joined on the event
  loop (quadratically: seconds during which no other connection was served);
- one header value or URL of megabytes was copied whole for every 8 KiB slice parsed
  (quadratic too: 24 MB held the loop for seconds);
- so a head may take at most ``HEAD_LIMIT`` bytes of input and hold ``HEADER_COUNT_LIMIT``
  headers; past either it is answered 431 and the connection closed, on either path;
- a URL over ``URL_LIMIT`` is answered 414 (it was 431, which names the headers)."""

from __future__ import annotations

import asyncio

import pytest

from kmspolicy.server.protocol import FEED_SLICE, HEAD_LIMIT, HEADER_COUNT_LIMIT, URL_LIMIT
from tests.server.test_protocol_floods import connect

pytestmark = pytest.mark.server


def head(*lines: bytes, url: bytes = b"/") -> bytes:
    """A small ``POST`` with ``lines`` among its headers."""
    return (
        b"POST %s HTTP/1.1\r\nHost: k\r\nContent-Type: application/x-amz-json-1.1\r\n"
        b"X-Amz-Target: TrentService.ListKeys\r\n%sContent-Length: 2\r\n\r\n{}"
        % (url, b"".join(line + b"\r\n" for line in lines))
    )


def answers(reads: list[bytes], *, direct: bool = True) -> tuple[list[bytes], bool, int]:
    """The status lines answered to ``reads`` (fed one by one until the connection closes),
    whether it closed, and how many bytes were fed by then."""

    async def run() -> tuple[list[bytes], bool, int]:
        protocol, transport = connect("c", [], direct=direct)
        fed = 0
        for data in reads:
            if transport.closed:
                break
            protocol.data_received(data)
            fed += len(data)
            await asyncio.sleep(0)
        for _ in range(50):
            await asyncio.sleep(0)
        return [w.split(b"\r\n", 1)[0] for w in transport.writes], transport.closed, fed

    return asyncio.run(run())


@pytest.mark.parametrize("direct", [True, False])
@pytest.mark.parametrize("repeated", [True, False])
def test_a_head_of_too_many_headers_is_refused_431(direct: bool, repeated: bool) -> None:
    lines = [b"x: y" if repeated else b"x%d: y" % i for i in range(3000)]
    statuses, closed, _ = answers([head(*lines)], direct=direct)
    # before the fix: answered 200 after joining 3,000 values (300,000 took seconds)
    assert statuses == [b"HTTP/1.1 431 Request Header Fields Too Large"]
    assert closed


@pytest.mark.parametrize("direct", [True, False])
@pytest.mark.parametrize("where", ["header", "url"])
def test_a_head_too_large_is_refused_as_it_arrives(direct: bool, where: str) -> None:
    big = b"a" * (8 << 20)
    raw = head(b"X-Big: " + big) if where == "header" else head(url=b"/" + big)
    reads = [raw[i : i + 64 * 1024] for i in range(0, len(raw), 64 * 1024)]
    statuses, closed, fed = answers(reads, direct=direct)
    if where == "url":  # before the fix: 431, as for headers
        assert statuses == [b"HTTP/1.1 414 URI Too Long"]
    else:
        assert statuses == [b"HTTP/1.1 431 Request Header Fields Too Large"]
    assert closed
    # refused within a slice of the limit, not once 8 MB had been copied slice by slice
    assert fed <= HEAD_LIMIT + 2 * 64 * 1024


@pytest.mark.parametrize("direct", [True, False])
def test_a_head_within_the_limits_is_answered(direct: bool) -> None:
    """SDKs' heads (1–3 KiB, about ten headers; a long session token) fit with room to spare,
    however the head is cut into reads."""
    lines = [b"x%d: y" % i for i in range(HEADER_COUNT_LIMIT - 5)]
    short = len(head(b"X-Amz-Security-Token: ", *lines)) - len(b"{}")
    # the most a head is sure to be given (the slice it begins in counts whole): 24 KiB
    token = b"X-Amz-Security-Token: " + b"t" * (HEAD_LIMIT - FEED_SLICE - short)
    raw = head(token, *lines)
    assert len(raw) - len(b"{}") == HEAD_LIMIT - FEED_SLICE
    for size in (len(raw), FEED_SLICE, 1000, 4097):
        reads = [raw[i : i + size] for i in range(0, len(raw), size)]
        statuses, closed, _ = answers(reads, direct=direct)
        assert statuses == [b"HTTP/1.1 200 OK"], size
        assert not closed


@pytest.mark.parametrize("direct", [True, False])
@pytest.mark.parametrize("read", [FEED_SLICE, 1000, 64 * 1024])
def test_a_url_over_its_limit_is_refused_414_within_the_head_limit(direct: bool, read: int) -> None:
    for length, status in (
        (URL_LIMIT, b"HTTP/1.1 200 OK"),
        (URL_LIMIT + 1, b"HTTP/1.1 414 URI Too Long"),  # before the fix: 200
    ):
        raw = head(url=b"/" + b"a" * (length - 1))
        statuses, closed, _ = answers(
            [raw[i : i + read] for i in range(0, len(raw), read)], direct=direct
        )
        assert statuses == [status], length
        assert closed == (status != b"HTTP/1.1 200 OK")


def test_the_414_is_a_typed_error() -> None:
    async def run() -> bytes:
        protocol, transport = connect("c", [])
        protocol.data_received(head(url=b"/" + b"a" * URL_LIMIT))
        return transport.writes[0]

    answer = asyncio.run(run())
    assert answer.endswith(
        b'{"__type":"ValidationException","message":"the request URL must be at most %d bytes"}'
        % URL_LIMIT
    )
    assert b"connection: close\r\n" in answer
