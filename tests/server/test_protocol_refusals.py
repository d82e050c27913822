"""A request the protocol refuses itself (400 for what the parser rejects, 408, 414, 431)
pipelined behind requests whose answers are still due (server/protocol.py ``_stop``).

HTTP/1.1 answers pipelined requests in order (RFC 9112 9.3.2). The protocol wrote its refusal
and closed the connection at once: the requests before it, queued or running in a worker
thread, still ran (their keys created, their access lines 200) but their answers were never
written — the client saw the first answer, then the 400, then the close. Now every request
before the refused one is answered, in order, then the refusal, then the connection closes;
nothing after it, nor the refused request itself, is run.

Replayed over a real socket (N requests then a malformed one, in the same read or in a later
one while the last answer is due) and in-process for each kind of refusal, as
test_protocol_floods.py replays floods."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from kmspolicy.server.app import Call, Receive, Reply, Scope, Send
from kmspolicy.server.backend import ServiceBackend
from kmspolicy.server.protocol import HEADER_COUNT_LIMIT, URL_LIMIT
from kmspolicy.server.thread import Endpoint, serve_in_thread
from tests.server.test_direct_path import Reader, _address
from tests.server.test_direct_path import request as signed
from tests.server.test_protocol_floods import EchoApp, connect, until_closed
from tests.server.test_protocol_floods import request as small

pytestmark = pytest.mark.server

MALFORMED = b"GARBAGE / X\r\n\r\n"  # no such method: llhttp refuses the request line


@pytest.fixture(scope="module", params=["direct", "asgi"])
def endpoint(request: pytest.FixtureRequest) -> Iterator[Endpoint]:
    with serve_in_thread(direct=request.param == "direct") as endpoint:
        yield endpoint


class _Refused(logging.Handler):
    """Set once the protocol has read and refused a request (uvicorn's warning)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() == "Invalid HTTP request received.":
            self.seen.set()


@pytest.mark.parametrize("arrival", ["same read", "later read"])
@pytest.mark.parametrize("count", [1, 2, 5])
def test_requests_before_a_malformed_one_are_answered_in_order_then_the_400(
    endpoint: Endpoint, count: int, arrival: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # CreateKey runs in a worker thread: its answer is due while the protocol reads on
    names = [f"pipelined {i}" for i in range(count)]
    valid = b"".join(
        signed(endpoint, "TrentService.CreateKey", json.dumps({"Description": n}).encode())
        for n in names
    )
    running, release = threading.Event(), threading.Event()
    call = ServiceBackend.call

    def held(self: ServiceBackend, job: Call[str]) -> Reply:
        if b'"%s"' % names[-1].encode() in job.body:  # the last request: held until released
            running.set()
            assert release.wait(10)
        return call(self, job)

    if arrival == "later read":
        monkeypatch.setattr(ServiceBackend, "call", held)
    refused = _Refused()
    uvicorn_log = logging.getLogger("uvicorn.error")
    uvicorn_log.addHandler(refused)
    kms = endpoint.client()
    before = {key["KeyId"] for key in kms.list_keys(Limit=1000)["Keys"]}
    try:
        with socket.create_connection(_address(endpoint), timeout=10) as sock:
            if arrival == "same read":
                sock.sendall(valid + MALFORMED)
            else:
                sock.sendall(valid)
                assert running.wait(10)  # every request read; the last one's answer due
                sock.sendall(MALFORMED)
                assert refused.seen.wait(10)  # read and refused while that answer is due
                release.set()
            reader = Reader(sock)
            answers = []
            while (answer := reader.response()) is not None:
                answers.append(answer)
            closed = reader.closed()
    finally:
        release.set()
        uvicorn_log.removeHandler(refused)
    # before the fix: the first answer at most, then the 400, and the rest lost
    statuses = [status for status, _, _ in answers]
    assert statuses == [b"HTTP/1.1 200 OK"] * count + [b"HTTP/1.1 400 Bad Request"]
    created = [json.loads(body)["KeyMetadata"] for _, _, body in answers[:-1]]
    assert [key["Description"] for key in created] == names
    assert json.loads(answers[-1][2])["__type"] == "SerializationException"
    assert closed
    # and no request ran without its answer: the keys made are the keys answered
    after = {key["KeyId"] for key in kms.list_keys(Limit=1000)["Keys"]}
    assert after - before == {key["KeyId"] for key in created}


class _Counted(EchoApp):
    """``EchoApp`` that counts the requests its ASGI cycles run, and holds each until
    ``release`` is set (an answer due as long as the test wants)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.ran: list[str] = []
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.ran.append(scope["path"])
        await self.release.wait()
        await super().__call__(scope, receive, send)


#: two requests answered one per turn (the direct path answers the first at once, the second
#: takes a cycle), then the refused one in the same read, parsed while the second is due
TWO = [b"1", b"2"]
REFUSED = {
    "a malformed request line": (TWO, MALFORMED, b"HTTP/1.1 400 Bad Request"),
    # a chunked body takes uvicorn's cycle, queued behind the answer due: it must not run
    "a malformed chunk": (
        TWO,
        b"POST /refused HTTP/1.1\r\nHost: k\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 400 Bad Request",
    ),
    "too many headers": (
        TWO,
        b"POST /refused HTTP/1.1\r\n"
        + b"".join(b"x%d: y\r\n" % i for i in range(HEADER_COUNT_LIMIT + 1))
        + b"\r\n",
        b"HTTP/1.1 431 Request Header Fields Too Large",
    ),
    # a head longer than a slice is parsed on only while nothing is queued (the rest of a read
    # is held behind a queue): one request before it, running in its cycle
    "a URL too long": (
        [b"1"],
        b"POST /%s HTTP/1.1\r\nHost: k\r\n\r\n" % (b"a" * URL_LIMIT),
        b"HTTP/1.1 414 URI Too Long",
    ),
}


@pytest.mark.parametrize("direct", [True, False])
@pytest.mark.parametrize("refused", REFUSED)
def test_a_refusal_is_written_after_the_answers_due_before_it(direct: bool, refused: str) -> None:
    async def attack() -> None:
        protocol, transport = connect("c", [], direct=direct, app_class=_Counted)
        app = protocol.app
        assert isinstance(app, _Counted)
        tags, bad, status = REFUSED[refused]
        path = b"/" if len(tags) > 1 else b"/x"  # (/x: a cycle on either path)
        protocol.data_received(b"".join(small(tag, path=path) for tag in tags) + bad)
        await until_closed(transport, 200)
        # before the fix: the refusal first (or no answer at all), and the answers due lost
        statuses = [w.split(b"\r\n", 1)[0] for w in transport.writes]
        assert statuses == [b"HTTP/1.1 200 OK"] * len(tags) + [status]
        assert transport.answers() == [b'{"n":"%s"}' % tag for tag in tags]
        assert app.ran and "/refused" not in app.ran  # answers were due; the refused not run

    asyncio.run(attack())


@pytest.mark.parametrize("direct", [True, False])
def test_a_408_is_written_after_the_answer_due_before_it(direct: bool) -> None:
    async def attack() -> None:
        protocol, transport = connect("c", [], read_timeout=0.05, direct=direct, app_class=_Counted)
        app = protocol.app
        assert isinstance(app, _Counted)
        app.release.clear()
        second = small(b"2")
        # the first takes a cycle (another path) and is held; the second never ends
        protocol.data_received(small(b"1", path=b"/x") + second[:-1])
        await asyncio.sleep(0.2)  # past the second's read deadline
        # before the fix: the 408 was written here and the connection closed, the first
        # request running all the same, its answer lost
        assert transport.writes == []
        assert not transport.closed
        app.release.set()
        await until_closed(transport, 200)
        assert [w.split(b"\r\n", 1)[0] for w in transport.writes] == [
            b"HTTP/1.1 200 OK",
            b"HTTP/1.1 408 Request Timeout",
        ]
        assert app.ran == ["/x"]

    asyncio.run(attack())
