"""A client that does not read its answers (server/protocol.py), replayed in-process as
test_protocol_floods.py replays floods: a transport whose buffer the test fills stands for a
peer that never reads.

A client pipelining requests and never reading held its connection forever: its answers
filled the buffer (reading paused, answers waiting to be written), and the read deadline's
``close()`` waited for a flush that never came. Now a buffer over its high-water mark for the
read deadline aborts the connection, and so does a deadline (read or keep-alive) that finds
output still buffered, and so does a closing connection (``Connection: close``, an error
answer) whose answer, under the high-water mark, is still unread by the deadline."""

from __future__ import annotations

import asyncio

import pytest

from kmspolicy.server.protocol import DeadlineHttpToolsProtocol
from tests.server.test_protocol_floods import Transport, connect, request, until_closed

pytestmark = pytest.mark.server


class Unread(Transport):
    """A transport whose peer reads nothing once ``buffered`` is set."""

    buffered = 0
    aborted = False

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def abort(self) -> None:
        self.aborted = self.closed = True


def unread(
    read_timeout: float, keep_alive: float = 5.0, *, direct: bool = True
) -> tuple[DeadlineHttpToolsProtocol, Unread]:
    protocol, _ = connect("c", [], read_timeout=read_timeout, keep_alive=keep_alive, direct=direct)
    transport = Unread("c", [])
    protocol.transport = transport
    protocol.flow._transport = transport
    return protocol, transport


def test_answers_never_read_abort_the_connection_at_the_deadline() -> None:
    async def attack() -> None:
        protocol, transport = unread(read_timeout=0.05)
        protocol.data_received(request(b"1"))
        transport.buffered = 1 << 20
        protocol.pause_writing()  # the transport's high water
        # before the fix: nothing timed a write; the connection stayed open for good
        await until_closed(transport, 300, 0.01)
        assert transport.aborted

    asyncio.run(attack())


def test_answers_read_in_time_keep_the_connection() -> None:
    async def run() -> None:
        protocol, transport = unread(read_timeout=0.05)
        protocol.data_received(request(b"1"))
        protocol.pause_writing()
        protocol.resume_writing()  # the client read them
        await asyncio.sleep(0.1)
        assert not transport.closed

    asyncio.run(run())


@pytest.mark.parametrize("deadline", ["read", "keep-alive"])
def test_a_deadline_finding_answers_unread_aborts_rather_than_waits(deadline: str) -> None:
    async def attack() -> None:
        if deadline == "read":
            protocol, transport = unread(read_timeout=0.05, keep_alive=60.0)
            protocol.data_received(request(b"1") + request(b"2")[:-1])
        else:
            protocol, transport = unread(read_timeout=60.0, keep_alive=0.05)
            protocol.data_received(request(b"1"))
        transport.buffered = 5000  # under the high-water mark, never read
        # before the fix: close(), which waits for the buffer to be flushed, for good
        await until_closed(transport, 300, 0.01)
        assert transport.aborted

    asyncio.run(attack())


async def until_aborted(transport: Unread) -> None:
    for _ in range(300):
        if transport.aborted:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the connection was not aborted")


@pytest.mark.parametrize("direct", [True, False])
def test_a_closing_answer_never_read_is_aborted_at_the_write_deadline(direct: bool) -> None:
    async def attack() -> None:
        protocol, transport = unread(read_timeout=0.05, keep_alive=60.0, direct=direct)
        transport.buffered = 5000  # under the high-water mark, never read
        protocol.data_received(request(b"1", close=True))
        await until_closed(transport, 300, 0.01)  # answered and closing: no deadline runs now
        # before the fix: close(), which waits for the buffer to be flushed, for good
        await until_aborted(transport)

    asyncio.run(attack())


@pytest.mark.parametrize("direct", [True, False])
def test_a_closing_answer_flushed_at_once_starts_no_deadline(direct: bool) -> None:
    async def run() -> None:
        protocol, transport = unread(read_timeout=0.05, keep_alive=60.0, direct=direct)
        protocol.data_received(request(b"1", close=True))
        await until_closed(transport, 300, 0.01)
        assert protocol._write_timer is None
        await asyncio.sleep(0.1)
        assert not transport.aborted

    asyncio.run(run())


def test_a_graceful_shutdown_s_close_with_answers_never_read_is_aborted_at_the_deadline() -> None:
    """SIGTERM closes every idle connection (uvicorn's ``shutdown``): a close that waits for
    a flush the client never reads held the server's exit for its whole graceful timeout."""

    async def attack() -> None:
        protocol, transport = unread(read_timeout=0.05, keep_alive=60.0)
        protocol.data_received(request(b"1"))
        await asyncio.sleep(0.01)  # answered
        transport.buffered = 5000  # under the high-water mark, never read
        protocol.shutdown()
        assert transport.closed and not transport.aborted
        # before the fix: close(), which waits for the buffer to be flushed, for good
        await until_aborted(transport)

    asyncio.run(attack())
