"""The request headers as the HTTP protocol (server/protocol.py) reads them: into the dict the
app reads while a request may be answered directly, into uvicorn's list once it takes
uvicorn's cycle. Either way they must be what uvicorn's own ``on_header`` makes of the same
bytes: each raw request is fed to the protocol and to one with the direct path off (uvicorn's
callbacks alone), and the app sees the same headers from both — the dict equal to
``app._headers`` of uvicorn's list, the ASGI scope's list equal to it, repeated headers,
letter case, trailing whitespace and ``Expect`` included."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from kmspolicy.kms.clock import SystemClock
from kmspolicy.server.app import AppOptions, KmsApp, Receive, Scope, Send, _headers
from kmspolicy.server.protocol import DeadlineHttpToolsProtocol, with_read_timeout
from kmspolicy.server.sigv4 import Verifier

pytestmark = pytest.mark.server


class RecordingApp(KmsApp[str]):
    """Records the headers each request reached the app with, on either path."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.direct: list[dict[str, str]] = []
        self.scopes: list[list[tuple[bytes, bytes]]] = []

    def answer(self, headers: dict[str, str], body: bytes, *args: Any) -> tuple[int, bytes, str]:
        self.direct.append(dict(headers))
        return 200, b"{}", "0c4e7ab4-6c4e-4a0e-9d4a-000000000001"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scopes.append(list(scope["headers"]))
        while (await receive()).get("more_body", False):
            pass
        headers = [(b"content-length", b"2")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"{}"})


class _Backend:
    def operations(self) -> frozenset[str]:
        return frozenset({"ListKeys"})


class Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 4599)}.get(
            name, default
        )

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def _connect(direct: bool) -> tuple[DeadlineHttpToolsProtocol, RecordingApp, Transport]:
    app = RecordingApp(_Backend(), Verifier({}.get), SystemClock(), AppOptions())  # type: ignore[arg-type]
    config = Config(app, lifespan="off", log_config=None, access_log=False, proxy_headers=False)
    config.load()
    protocol = with_read_timeout(20.0, direct=direct)(
        config, ServerState(), {}, asyncio.get_running_loop()
    )
    transport = Transport()
    protocol.connection_made(transport)
    return protocol, app, transport


def _request(
    lines: list[bytes], *, start: bytes = b"POST / HTTP/1.1", body: bytes = b"{}"
) -> bytes:
    head = [start, *lines, b"Content-Length: %d" % len(body)]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


SIGNED = [b"Host: k", b"X-Amz-Target: TrentService.ListKeys"]
CASES = {
    "plain": (_request([*SIGNED, b"Content-Type: application/x-amz-json-1.1"]), True),
    "a repeated header": (
        _request([*SIGNED, b"X-Extra: 1", b"Content-Type: a", b"X-Extra: 2", b"Content-Type: b"]),
        True,
    ),
    "names in any case, values with trailing whitespace": (
        _request([b"HOST: k  ", b"x-AMZ-target: TrentService.ListKeys\t", b"Accept: a \t"]),
        True,
    ),
    "a repeated header, then the cycle (GET)": (
        _request([*SIGNED, b"X-Extra: 1", b"X-Extra: 2", b"After: x"], start=b"GET / HTTP/1.1"),
        False,
    ),
    "a repeated header, then the cycle (another path)": (
        _request([b"A: 1", b"B: 2", b"A: 3"], start=b"POST /other HTTP/1.1"),
        False,
    ),
    "HTTP/1.0, trailing whitespace": (
        _request([b"Host: k \t", b"Content-Type: x "], start=b"POST / HTTP/1.0"),
        False,
    ),
    "Expect: 100-continue": (_request([*SIGNED, b"Expect: 100-Continue "]), False),
    "Expect: 100-continue, repeated behind another": (
        _request([*SIGNED, b"Expect: something", b"Expect: 100-continue"]),
        False,
    ),
    "another Expect": (_request([*SIGNED, b"Expect: something"]), False),
    "a known name in two spellings": (
        _request([*SIGNED, b"Content-Type: a", b"content-type: b", b"CONTENT-TYPE: c"]),
        True,
    ),
    "no headers": (_request([]), True),
}


@pytest.mark.parametrize("case", CASES)
def test_the_app_sees_the_headers_uvicorn_reads(case: str) -> None:
    asyncio.run(_compare(case, *CASES[case]))


async def _compare(case: str, raw: bytes, answered_directly: bool) -> None:
    direct, direct_app, direct_transport = _connect(True)
    uvicorn, uvicorn_app, uvicorn_transport = _connect(False)
    for protocol in (direct, uvicorn):
        protocol.data_received(raw)
    for _ in range(5):
        await asyncio.sleep(0)
    assert len(uvicorn_app.scopes) == 1 and not uvicorn_app.direct
    listed = uvicorn_app.scopes[0]
    if answered_directly:
        assert direct_app.direct == [_headers(listed)] and not direct_app.scopes
    else:
        assert direct_app.scopes == [listed] and not direct_app.direct
    # the same answers, ``100 Continue`` included (sent when uvicorn's on_header noted it)
    assert len(direct_transport.writes) == len(uvicorn_transport.writes)
    continued = [w for w in uvicorn_transport.writes if w.startswith(b"HTTP/1.1 100 ")]
    assert [w for w in direct_transport.writes if w.startswith(b"HTTP/1.1 100 ")] == continued
    assert bool(continued) == (case.startswith("Expect: 100-continue"))
