"""Attacks on the HTTP protocol (server/protocol.py) replayed in-process: the protocol is fed
raw bytes through ``data_received`` over a transport that records what it is told, on the
test's own event loop, so each test asserts what happened per read and per loop turn — how
many requests were answered, how many wait in uvicorn's queue, whether reading is paused,
which timer is armed — rather than timing anything.

- a client pipelining thousands of small requests in one read must not be answered all at
  once, in one parser feed (the loop held for the whole flood, every other client waiting);
- nor may its requests queue without bound (uvicorn resumed reading after every answer and
  queued every request of the next read: gigabytes within a minute);
- a bare CRLF between requests must not keep a connection open past the read deadline;
- a request begun right behind a direct answer is cut by its read deadline (408), not by the
  keep-alive timer armed for the answer before it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from kmspolicy.kms.clock import SystemClock
from kmspolicy.server.app import AppOptions, KmsApp, Receive, Scope, Send
from kmspolicy.server.protocol import FEED_SLICE, DeadlineHttpToolsProtocol, with_read_timeout
from kmspolicy.server.sigv4 import Verifier

pytestmark = pytest.mark.server


def request(tag: bytes, *, close: bool = False, path: bytes = b"/") -> bytes:
    """A small unsigned ``POST``, as a flood sends it; its body comes back as its answer."""
    body = b'{"n":"%s"}' % tag
    extra = b"Connection: close\r\n" if close else b""
    return (
        b"POST %s HTTP/1.1\r\nHost: k\r\nContent-Type: application/x-amz-json-1.1\r\n"
        b"X-Amz-Target: TrentService.ListKeys\r\n%sContent-Length: %d\r\n\r\n%s"
        % (path, extra, len(body), body)
    )


class EchoApp(KmsApp[str]):
    """Answers each request with its own body, on either path (so order can be checked)."""

    def answer(self, headers: dict[str, str], body: bytes, *args: Any) -> tuple[int, bytes, str]:
        return 200, body, "0c4e7ab4-6c4e-4a0e-9d4a-000000000001"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        headers = [(b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class _Backend:
    def operations(self) -> frozenset[str]:
        return frozenset({"ListKeys"})


class Transport(asyncio.Transport):
    """Records writes (with a shared log, to order two connections' answers), reading paused
    or not, and closing."""

    def __init__(self, name: str, log: list[tuple[str, bytes]]) -> None:
        super().__init__()
        self.name = name
        self.log = log
        self.writes: list[bytes] = []
        self.paused = False
        self.closed = False
        self.on_resume: Callable[[], None] | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))
        self.log.append((self.name, bytes(data)))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_write_buffer_size(self) -> int:
        return 0  # every write is taken at once: the client reads

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 4599)}.get(
            name, default
        )

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False
        if self.on_resume is not None:
            self.on_resume()

    def answers(self) -> list[bytes]:
        """The bodies answered, in order (each write is one whole answer)."""
        return [w.split(b"\r\n\r\n", 1)[1] for w in self.writes if w.startswith(b"HTTP/1.1 200")]


def connect(
    name: str,
    log: list[tuple[str, bytes]],
    *,
    read_timeout: float = 20.0,
    keep_alive: float = 5.0,
    direct: bool = True,
    app_class: type[EchoApp] = EchoApp,
) -> tuple[DeadlineHttpToolsProtocol, Transport]:
    app = app_class(_Backend(), Verifier({}.get), SystemClock(), AppOptions())  # type: ignore[arg-type]
    config = Config(
        app,
        lifespan="off",
        log_config=None,
        access_log=False,
        proxy_headers=False,
        timeout_keep_alive=keep_alive,  # type: ignore[arg-type]
    )
    config.load()
    protocol = with_read_timeout(read_timeout, direct=direct)(
        config, ServerState(), {}, asyncio.get_running_loop()
    )
    transport = Transport(name, log)
    protocol.connection_made(transport)
    return protocol, transport


async def turns(count: int) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


async def until_closed(transport: Transport, rounds: int, pause: float = 0.0) -> None:
    """Let the loop run (``rounds`` times, ``pause`` seconds each) until the connection closes;
    fails if it is still open."""
    for _ in range(rounds):
        if transport.closed:
            break
        await asyncio.sleep(pause)
    assert transport.closed


def test_a_pipelined_flood_is_answered_one_request_per_feed_and_in_order() -> None:
    async def attack() -> None:
        protocol, transport = connect("flood", [])
        tags = [b"%d" % i for i in range(200)]
        protocol.data_received(b"".join(request(tag) for tag in tags))
        # the feed itself answers at most one request; before the fix it answered every
        # request of the read, back to back, without a loop turn in between
        assert len(transport.answers()) == 1
        for _ in range(5000):
            if len(transport.answers()) == len(tags):
                break
            await asyncio.sleep(0)
        assert transport.answers() == [b'{"n":"%s"}' % tag for tag in tags]

    asyncio.run(attack())


def test_a_bystander_is_answered_while_a_flood_is_still_being_answered() -> None:
    async def attack() -> None:
        log: list[tuple[str, bytes]] = []
        flood, flood_transport = connect("flood", log)
        bystander, _ = connect("bystander", log)
        count = 1000
        flood.data_received(request(b"f") * count)
        await asyncio.sleep(0)  # the loop turns to the other connection's read
        bystander.data_received(request(b"b"))
        for _ in range(20000):
            if len(flood_transport.answers()) == count:
                break
            await asyncio.sleep(0)
        order = [name for name, data in log if data.startswith(b"HTTP/1.1 200")]
        assert order.count("flood") == count
        # served within a few loop turns of arriving, not behind the flood's thousand answers
        assert order.index("bystander") < 10

    asyncio.run(attack())


def test_a_client_that_pipelines_without_end_queues_a_bounded_number_of_requests() -> None:
    async def attack() -> None:
        protocol, transport = connect("flood", [])
        one = request(b"x", path=b"/x")  # another path: uvicorn's cycle, queued as before
        read = one * (256 * 1024 // len(one))  # one socket read's worth
        reads = 0

        def receive() -> None:  # the loop reads only if reading is still on by its turn
            nonlocal reads
            if not transport.paused and not transport.closed:
                reads += 1
                protocol.data_received(read)

        # the peer always has another read waiting
        transport.on_resume = lambda: asyncio.get_running_loop().call_soon(receive)
        protocol.data_received(read)
        bound = FEED_SLICE // len(one) + 1  # the requests one slice holds
        most_queued = most_held = 0
        for _ in range(3000):
            await asyncio.sleep(0)
            most_queued = max(most_queued, len(protocol.pipeline))
            most_held = max(most_held, len(getattr(protocol, "_held", b"")))
            if most_queued > bound:
                break
        # queued: at most one slice's requests (before the fix: every request of every read,
        # here about 1,900 per read, one more read parsed after each answer)
        assert most_queued <= bound
        assert len(transport.answers()) > 100  # the flood is being answered meanwhile
        # unparsed: at most one read, held while reading is paused
        assert most_held <= len(read)
        assert reads <= len(transport.answers())

    asyncio.run(attack())


def test_pipelined_requests_split_across_slices_are_all_answered_in_order() -> None:
    async def attack() -> None:
        protocol, transport = connect("c", [])
        tags = [b"%d" % i for i in range(3 * FEED_SLICE // len(request(b"0")))]
        raw = b"".join(request(tag) for tag in tags[:-1]) + request(tags[-1], close=True)
        protocol.data_received(raw[: FEED_SLICE + 7])  # a request cut by the slice and the read
        protocol.data_received(raw[FEED_SLICE + 7 :])
        await until_closed(transport, 20000)
        assert transport.answers() == [b'{"n":"%s"}' % tag for tag in tags]

    asyncio.run(attack())


def test_a_bare_crlf_between_requests_starts_the_read_deadline() -> None:
    async def attack() -> None:
        protocol, transport = connect("idle", [], read_timeout=0.05, keep_alive=60.0)
        protocol.data_received(request(b"1"))
        assert len(transport.answers()) == 1
        assert protocol._read_deadline is None  # idle: the keep-alive timer governs
        protocol.data_received(b"\r\n")  # cancels the keep-alive timer, begins no message
        assert protocol._read_deadline is not None and protocol._read_timer is not None
        await until_closed(transport, 200, 0.01)
        assert transport.writes[-1].startswith(b"HTTP/1.1 408 ")

    asyncio.run(attack())


def test_a_request_begun_behind_a_direct_answer_gets_its_408_not_a_keep_alive_close() -> None:
    async def attack() -> None:
        protocol, transport = connect("slow", [], read_timeout=0.2, keep_alive=0.02)
        second = request(b"2")
        protocol.data_received(request(b"1") + second[:-1])  # the second's last byte never comes
        assert len(transport.answers()) == 1
        assert protocol._idle_deadline is None  # a request is being read
        await until_closed(transport, 300, 0.01)
        assert transport.writes[-1].startswith(b"HTTP/1.1 408 ")

    asyncio.run(attack())


def test_a_connection_left_idle_after_direct_answers_is_closed_by_the_keep_alive_timeout() -> None:
    async def attack() -> None:
        protocol, transport = connect("idle", [], read_timeout=60.0, keep_alive=0.05)
        protocol.data_received(request(b"1"))
        protocol.data_received(request(b"2"))
        assert len(transport.answers()) == 2
        assert protocol.server_state.total_requests == 2
        assert protocol._idle_deadline is not None  # idle after the answer
        await until_closed(transport, 200, 0.01)
        assert len(transport.writes) == 2  # closed silently: no 408, the client is not late

    asyncio.run(attack())


def test_the_keep_alive_timeout_holds_when_the_timer_was_armed_for_a_read_deadline() -> None:
    # One timer serves both deadlines: armed for the first request's read deadline, it fires
    # while the connection is idle and must then wait for the keep-alive timeout, not close.
    async def run() -> None:
        protocol, transport = connect("idle", [], read_timeout=0.02, keep_alive=0.3)
        loop = asyncio.get_running_loop()
        began = loop.time()
        protocol.data_received(request(b"1"))
        await asyncio.sleep(0.1)  # past the read deadline the timer was armed for
        assert not transport.closed or loop.time() - began >= 0.3
        await until_closed(transport, 200, 0.01)
        assert loop.time() - began >= 0.3  # (a lower bound: a timer never fires early)
        assert len(transport.writes) == 1  # closed silently: no 408, the client is not late

    asyncio.run(run())
