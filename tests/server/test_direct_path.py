"""The direct path (server/protocol.py): a ``POST /`` the app can answer at once is answered
straight from the HTTP protocol, without uvicorn's ASGI cycle. On the wire it must be the ASGI
path exactly: the same raw requests go to a server with the direct path and one without, and
the answers (status, headers, bodies), the access lines and the audit records must match.
Then each edge the direct path owns: pipelining (also behind a call in a worker thread),
``Connection: close``, HTTP/1.0, ``100 Continue``, an oversized body, a slow body or second
request (408), a client that leaves mid-body, a client that does not read its answers (flow
control), and graceful shutdown with a body still arriving."""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from kmspolicy.server.app import KmsApp
from kmspolicy.server.main import ServerSettings, bind, build_app, load_config
from kmspolicy.server.protocol import with_read_timeout
from kmspolicy.server.thread import Endpoint, serve_in_thread

pytestmark = pytest.mark.server

TIMEOUT = 1.0  # the request read deadline of these servers, seconds

Response = tuple[bytes, list[tuple[bytes, bytes]], bytes]  # status line, headers, body


@pytest.fixture(scope="module")
def direct(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    data = tmp_path_factory.mktemp("direct")
    with serve_in_thread(data_dir=data, request_timeout=TIMEOUT) as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def asgi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    data = tmp_path_factory.mktemp("asgi")
    with serve_in_thread(data_dir=data, request_timeout=TIMEOUT, direct=False) as endpoint:
        yield endpoint


def _address(endpoint: Endpoint) -> tuple[str, int]:
    host, port = endpoint.url.removeprefix("http://").split(":")
    return host, int(port)


def request(
    endpoint: Endpoint,
    target: str | None = "TrentService.ListKeys",
    body: bytes = b"{}",
    *,
    sign: bool = True,
    secret: str | None = None,
    headers: dict[str, str] | None = None,
    method: str = "POST",
    path: str = "/",
    version: bytes = b"HTTP/1.1",
) -> bytes:
    """One raw request, SigV4-signed as botocore signs it (unless ``sign`` is false)."""
    fields = {"Content-Type": "application/x-amz-json-1.1"}
    if target is not None:
        fields["X-Amz-Target"] = target
    aws = AWSRequest(method=method, url=endpoint.url + path, data=body, headers=fields)
    if sign:
        key = endpoint.access_key_id
        assert key is not None and endpoint.secret_access_key is not None
        credentials = Credentials(key, secret or endpoint.secret_access_key)
        SigV4Auth(credentials, "kms", endpoint.region).add_auth(aws)
    prepared = aws.prepare()
    lines = [b"%s %s %s" % (method.encode(), path.encode(), version)]
    lines.append(b"Host: " + endpoint.url.removeprefix("http://").encode())  # signed
    lines += [f"{name}: {value}".encode() for name, value in prepared.headers.items()]
    lines += [f"{name}: {value}".encode() for name, value in (headers or {}).items()]
    if "Content-Length" not in prepared.headers and "Content-Length" not in (headers or {}):
        lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


class Reader:
    """Reads HTTP responses from a socket, framed by their Content-Length."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = b""

    def _fill(self) -> bool:
        chunk = self._sock.recv(65536)
        self._buffer += chunk
        return bool(chunk)

    def response(self) -> Response | None:
        while b"\r\n\r\n" not in self._buffer:
            if not self._fill():
                assert not self._buffer, self._buffer
                return None
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        status, *lines = head.split(b"\r\n")
        headers = [tuple(line.split(b": ", 1)) for line in lines]
        length = int(dict(headers).get(b"content-length", b"0"))  # type: ignore[arg-type]
        while len(self._buffer) < length:
            assert self._fill(), "the connection closed inside a body"
        body, self._buffer = self._buffer[:length], self._buffer[length:]
        return status, headers, body  # type: ignore[return-value]

    def closed(self) -> bool:
        try:
            return not self._buffer and not self._fill()
        except ConnectionResetError:  # closed with some of the request unread
            return True


def exchange(endpoint: Endpoint, *requests: bytes) -> tuple[list[Response], bool]:
    """Send ``requests`` in one write (pipelined), read every answer, then whether the server
    closed the connection (the last request closes it, or the test says so)."""
    with socket.create_connection(_address(endpoint), timeout=10) as sock:
        sock.sendall(b"".join(requests))
        reader = Reader(sock)
        answers = []
        for _ in requests:
            answer = reader.response()
            if answer is None:
                break
            answers.append(answer)
            if answer[0].startswith(b"HTTP/1.1 100 "):
                final = reader.response()
                assert final is not None
                answers.append(final)
        sock.settimeout(0.5)
        try:
            closed = reader.closed()
        except TimeoutError:
            closed = False
    return answers, closed


def normalized(answers: list[Response]) -> list[Response]:
    """Answers with what differs between two servers by design masked: the date, the request
    id (random per server) and, in bodies, request ids and key ids."""
    out = []
    for status, headers, body in answers:
        kept = [
            (name, b"<id>" if name == b"x-amzn-requestid" else value)
            for name, value in headers
            if name != b"date"
        ]
        assert [name for name, _ in headers][:1] in ([b"date"], [])  # uvicorn's first header
        out.append((status, kept, re.sub(rb"[0-9a-f]{8}-[0-9a-f-]{27}", b"<id>", body)))
    return out


def _access_lines(records: list[logging.LogRecord]) -> list[str]:
    lines = []
    for record in records:
        if record.name != "kmspolicy.access":
            continue
        ip, _rid, *rest, _elapsed = record.getMessage().split(" ")
        lines.append(" ".join([ip, *rest]))
    return lines


def _audit_lines(endpoint_data: Path) -> int:
    path = endpoint_data / "audit.log"
    return len(path.read_bytes().splitlines()) if path.exists() else 0


CASES = {
    "ListKeys": lambda e: [request(e, headers={"Connection": "close"})],
    "a key that does not exist": lambda e: [
        request(
            e,
            "TrentService.DescribeKey",
            b'{"KeyId": "alias/missing"}',
            headers={"Connection": "close"},
        )
    ],
    "an unknown target": lambda e: [
        request(e, "TrentService.Nothing", headers={"Connection": "close"})
    ],
    "no target": lambda e: [request(e, None, headers={"Connection": "close"})],
    "malformed JSON": lambda e: [request(e, body=b"{", headers={"Connection": "close"})],
    "a wrong member type": lambda e: [
        request(e, body=b'{"Limit": "ten"}', headers={"Connection": "close"})
    ],
    "a wrong signature": lambda e: [
        request(e, secret="not-the-secret", headers={"Connection": "close"})
    ],
    "no signature": lambda e: [request(e, sign=False, headers={"Connection": "close"})],
    "another content type": lambda e: [
        request(e, headers={"Content-Type": "text/plain", "Connection": "close"})
    ],
    "pipelined, then close": lambda e: [
        request(e),
        request(e, "TrentService.DescribeKey", b'{"KeyId": "alias/missing"}'),
        request(e, body=b"[", headers={"Connection": "close"}),
    ],
    "HTTP/1.0": lambda e: [request(e, version=b"HTTP/1.0")],
    # llhttp keeps these alive, as HTTP/1.1 by default: not 1.1 all the same (protocol.py's
    # _direct_begins asks their version)
    "HTTP/1.0 kept alive": lambda e: [
        request(e, version=b"HTTP/1.0", headers={"Connection": "keep-alive"})
    ],
    "HTTP/1.0 kept alive by Proxy-Connection": lambda e: [
        request(e, version=b"HTTP/1.0", headers={"Proxy-Connection": "keep-alive"})
    ],
    "HTTP/2.0 kept alive": lambda e: [
        request(e, version=b"HTTP/2.0", headers={"Connection": "keep-alive"})
    ],
    "HTTP/1.1 kept alive by name": lambda e: [request(e, headers={"Connection": "keep-alive"})],
    "100 Continue": lambda e: [
        request(e, headers={"Expect": "100-continue", "Connection": "close"})
    ],
    "an oversized body": lambda e: [
        request(e, body=b" " * (512 * 1024 + 1), headers={"Connection": "close"})
    ],
    "GET /": lambda e: [request(e, method="GET", body=b"", headers={"Connection": "close"})],
    "another path": lambda e: [request(e, path="/other", headers={"Connection": "close"})],
    "a chunked body": lambda e: [
        request(e, headers={"Transfer-Encoding": "chunked", "Connection": "close"}, body=b"")
        .replace(b"Content-Length: 0\r\n", b"")
        .replace(b"\r\n\r\n", b"\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 1)
    ],
}


#: the cases the direct path leaves to uvicorn's cycle
ASGI_ONLY = {"HTTP/1.0", "100 Continue", "an oversized body", "GET /", "another path"}
ASGI_ONLY |= {"HTTP/1.0 kept alive", "HTTP/1.0 kept alive by Proxy-Connection"}
ASGI_ONLY |= {"HTTP/2.0 kept alive"}
ASGI_ONLY |= {"a chunked body"}
#: pipelined in one read: the direct path answers the first, uvicorn's cycle the rest
ONE_PER_READ = {"pipelined, then close"}


@pytest.mark.parametrize("case", CASES)
def test_the_direct_path_answers_as_the_asgi_path(
    case: str,
    direct: Endpoint,
    asgi: Endpoint,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answered = []
    answer = KmsApp.answer

    def counted(self: KmsApp[str], *args: Any) -> Any:
        answered.append(self)
        return answer(self, *args)

    monkeypatch.setattr(KmsApp, "answer", counted)
    seen = {}
    for name, endpoint in (("direct", direct), ("asgi", asgi)):
        caplog.clear()
        answered.clear()
        requests = CASES[case](endpoint)
        with caplog.at_level(logging.INFO, logger="kmspolicy.access"):
            answers, closed = exchange(endpoint, *requests)
        seen[name] = (normalized(answers), closed, _access_lines(caplog.records))
        expected = len(requests) if name == "direct" and case not in ASGI_ONLY else 0
        if name == "direct" and case in ONE_PER_READ:
            expected = 1  # the others, read with it, take a cycle each (a loop turn apiece)
        assert len(answered) == expected, name  # the path the case is meant to take
    assert seen["direct"][0], "no answer"
    assert seen["direct"] == seen["asgi"]


def test_an_encrypt_answers_alike_and_is_audited_alike(direct: Endpoint, asgi: Endpoint) -> None:
    shapes = []
    for endpoint in (direct, asgi):
        key = endpoint.client().create_key()["KeyMetadata"]["KeyId"]
        body = json.dumps({"KeyId": key, "Plaintext": "aGVsbG8="}).encode()
        answers, _ = exchange(
            endpoint, request(endpoint, "TrentService.Encrypt", body), request(endpoint)
        )
        (status, headers, payload), listed = answers
        reply = json.loads(payload)
        assert reply["KeyId"].endswith(key)
        shapes.append((status, [name for name, _ in headers], sorted(reply), listed[0]))
    assert shapes[0] == shapes[1]
    assert shapes[0][0] == b"HTTP/1.1 200 OK"


def test_every_request_is_audited_on_the_direct_path(tmp_path: Path) -> None:
    with serve_in_thread(data_dir=tmp_path) as endpoint:
        client = endpoint.client()
        key = client.create_key()["KeyMetadata"]["KeyId"]
        before = _audit_lines(tmp_path)
        for _ in range(5):
            client.encrypt(KeyId=key, Plaintext=b"x")
        exchange(endpoint, request(endpoint, "TrentService.Encrypt", b"{", sign=True))
        # five Encrypt records; the malformed body is refused before any decision
        assert _audit_lines(tmp_path) - before == 5


def test_pipelined_requests_behind_a_worker_thread_call_keep_their_order(
    direct: Endpoint,
) -> None:
    # CreateKey runs in a worker thread (an ordinary cycle): the ListKeys behind it must wait
    # for it, and see its key.
    answers, closed = exchange(
        direct,
        request(direct, "TrentService.CreateKey", b"{}"),
        request(direct, body=b'{"Limit": 1000}'),
        request(direct, "TrentService.Nothing", headers={"Connection": "close"}),
    )
    assert [a[0] for a in answers] == [
        b"HTTP/1.1 200 OK",
        b"HTTP/1.1 200 OK",
        b"HTTP/1.1 400 Bad Request",
    ]
    created = json.loads(answers[0][2])["KeyMetadata"]["KeyId"]
    assert created in {k["KeyId"] for k in json.loads(answers[1][2])["Keys"]}
    assert b"UnknownOperationException" in answers[2][2]
    assert closed


def test_connection_close_and_http_1_0_close_the_connection(direct: Endpoint) -> None:
    for version, headers in ((b"HTTP/1.1", {"Connection": "close"}), (b"HTTP/1.0", {})):
        answers, closed = exchange(direct, request(direct, headers=headers, version=version))
        assert (b"connection", b"close") in answers[0][1]
        assert closed
    answers, closed = exchange(direct, request(direct))  # keep-alive: stays open
    assert (b"connection", b"close") not in answers[0][1]
    assert not closed


def test_100_continue_is_sent_before_the_body_is(direct: Endpoint) -> None:
    raw = request(direct, headers={"Expect": "100-continue", "Connection": "close"})
    head, body = raw.split(b"\r\n\r\n", 1)
    with socket.create_connection(_address(direct), timeout=10) as sock:
        sock.sendall(head + b"\r\n\r\n")
        reader = Reader(sock)
        interim = reader.response()
        assert interim is not None and interim[0] == b"HTTP/1.1 100 Continue"
        sock.sendall(body)
        final = reader.response()
    assert final is not None and final[0] == b"HTTP/1.1 200 OK"


def _read_to_end(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_a_slow_body_is_answered_408_and_logged_as_cut_short(
    direct: Endpoint, caplog: pytest.LogCaptureFixture
) -> None:
    raw = request(direct)
    with (
        caplog.at_level(logging.INFO, logger="kmspolicy.access"),
        socket.create_connection(_address(direct), timeout=10) as sock,
    ):
        sock.sendall(raw[:-1])  # the body's last byte never comes
        started = time.monotonic()
        answer = _read_to_end(sock)
        assert time.monotonic() - started < 8 * TIMEOUT
        deadline = time.monotonic() + 5
        while not _access_lines(caplog.records) and time.monotonic() < deadline:
            time.sleep(0.01)
    assert answer.startswith(b"HTTP/1.1 408 ") and b"RequestTimeoutException" in answer
    (line,) = _access_lines(caplog.records)
    assert " 400 SerializationException 0 " in line


def test_a_slow_second_request_on_a_kept_connection_is_answered_408(direct: Endpoint) -> None:
    # The first request's cycle is finished: the deadline of the second still answers 408.
    for path in ("/", "/other"):  # the direct path, then uvicorn's cycle
        with socket.create_connection(_address(direct), timeout=10) as sock:
            sock.sendall(request(direct, path=path))
            reader = Reader(sock)
            assert reader.response() is not None
            sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")  # the head never ends
            assert _read_to_end(sock).startswith(b"HTTP/1.1 408 ")


def test_a_client_that_leaves_mid_body_is_logged_and_others_are_served(
    direct: Endpoint, caplog: pytest.LogCaptureFixture
) -> None:
    raw = request(direct, body=b'{"Limit": 10}')
    with caplog.at_level(logging.INFO, logger="kmspolicy.access"):
        with socket.create_connection(_address(direct), timeout=10) as sock:
            sock.sendall(raw[:-5])
            time.sleep(0.1)
        deadline = time.monotonic() + 5
        while not _access_lines(caplog.records) and time.monotonic() < deadline:
            time.sleep(0.01)
        (line,) = _access_lines(caplog.records)
        assert " 400 SerializationException 0 " in line
        messages = [r.getMessage() for r in caplog.records]
    assert not any("Traceback" in m for m in messages)
    answers, _ = exchange(direct, request(direct, headers={"Connection": "close"}))
    assert answers[0][0] == b"HTTP/1.1 200 OK"


def test_a_client_that_does_not_read_its_answers_gets_them_all_in_order(
    direct: Endpoint,
) -> None:
    # 3,000 pipelined requests sent without reading: the answers outgrow the transport's
    # write buffer, so the protocol must stop answering directly and let the cycle wait.
    count = 3000
    one = request(direct)
    last = request(direct, "TrentService.Nothing", headers={"Connection": "close"})
    with socket.create_connection(_address(direct), timeout=30) as sock:
        sender = threading.Thread(target=sock.sendall, args=(one * (count - 1) + last,))
        sender.start()
        reader = Reader(sock)
        statuses = []
        while (answer := reader.response()) is not None:
            statuses.append(answer[0])
        sender.join()
    assert statuses == [b"HTTP/1.1 200 OK"] * (count - 1) + [b"HTTP/1.1 400 Bad Request"]


def test_graceful_shutdown_answers_a_request_whose_body_is_still_arriving(
    tmp_path: Path,
) -> None:
    settings = ServerSettings(port=0, data_dir=tmp_path, store_url="memory:", dev=True)
    config = load_config(settings)
    app, runtime = build_app(settings, config)
    assert isinstance(app, KmsApp)
    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            loop="asyncio",
            http=with_read_timeout(10.0),
            lifespan="on",
            access_log=False,
            log_config=None,
            timeout_graceful_shutdown=10,
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.01)
        spec = config.identities[0]
        endpoint = Endpoint(
            f"http://127.0.0.1:{sock.getsockname()[1]}",
            config.region,
            spec.access_key_id,
            spec.secret_access_key,
        )
        raw = request(endpoint)
        with socket.create_connection(_address(endpoint), timeout=10) as client:
            client.sendall(raw[:-1])
            time.sleep(0.2)
            server.should_exit = True  # SIGTERM, as uvicorn's signal handler does
            time.sleep(0.3)
            client.sendall(raw[-1:])
            answer = _read_to_end(client)
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"connection: close\r\n" in answer
        thread.join(10)
        assert not thread.is_alive()
    finally:
        server.should_exit = True
        thread.join(10)
        runtime.close()
        sock.close()


def test_a_failure_outside_the_apps_own_handling_is_a_typed_500_and_closes(
    direct: Endpoint, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # KmsApp.answer maps every failure of the request to an AWS error itself; what fails
    # around it (its access-line writer, say) must not drop the connection unanswered.
    def broken(self: KmsApp[str], *args: Any) -> Any:
        raise OSError("marker-" + "7f3a")  # split: the traceback quotes this source line

    monkeypatch.setattr(KmsApp, "answer", broken)
    with caplog.at_level(logging.ERROR):
        answers, closed = exchange(direct, request(direct), request(direct))
    (answer,) = answers  # the connection closes after the failed answer
    assert answer[0] == b"HTTP/1.1 500 Internal Server Error"
    assert json.loads(answer[2])["__type"] == "KMSInternalException"
    assert closed
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "OSError" in logged and "marker-7f3a" not in logged
    monkeypatch.undo()
    assert exchange(direct, request(direct))[0][0][0] == b"HTTP/1.1 200 OK"


def test_a_request_read_across_the_previous_deadline_is_given_its_own(tmp_path: Path) -> None:
    # One timer per connection, re-armed when it fires (server/protocol.py): the one set for
    # the connection's first request fires while the second is being read, and must wait for
    # the second's own deadline instead of cutting it off.
    with serve_in_thread(data_dir=tmp_path, request_timeout=2.0) as endpoint:
        first, second = request(endpoint), request(endpoint)
        with socket.create_connection(_address(endpoint), timeout=10) as sock:
            reader = Reader(sock)
            sock.sendall(first)  # the connection's deadline: t = 2.0
            assert (answer := reader.response()) is not None and b" 200 " in answer[0]
            time.sleep(1.0)
            sock.sendall(second[:-1])  # the second request's deadline: t = 3.0
            time.sleep(1.5)  # past the first deadline, before the second's
            sock.sendall(second[-1:])
            assert (answer := reader.response()) is not None and b" 200 " in answer[0]
            sock.sendall(first[:-1])  # a third request that never ends: 408 at its deadline
            started = time.monotonic()
            assert _read_to_end(sock).startswith(b"HTTP/1.1 408 ")
            assert time.monotonic() - started > 1.0
