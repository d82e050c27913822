"""What the HTTP protocol costs per request, in-process: the direct path vs uvicorn's ASGI cycle.

Run: ``.venv/bin/python bench/server_protocol.py [--requests N] [--rounds R]``.

The server's protocol class (``server/protocol.py``) is fed a recorded boto3 Encrypt request
(4 KB of plaintext, its headers as botocore sends them) through ``data_received``, over a
transport that only counts writes, on uvloop, and each request is followed by one loop turn
(where an ASGI cycle's task runs). The app's work is canned in both variants, so what is measured
is the HTTP side alone: httptools' parse and uvicorn's callbacks, then either

- **direct**: the answer written from the parser's callback (``KmsApp.answer`` canned), or
- **ASGI**: uvicorn's cycle (task, scope, ``receive``/``send`` messages, the head built and
  checked header by header) around an ASGI app answering the same canned body — what
  bench/server.py's canned floor costs, without the sockets.

Rounds alternate between the two; CPU µs per request, median over the rounds, and the ratio.
The sockets, the event loop's wake-up and the caches a client process evicts between requests
are not here: bench/server.py and bench/compare.py measure the whole server under boto3.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

import uvloop
from uvicorn.config import Config
from uvicorn.server import ServerState

from kmspolicy.kms.clock import SystemClock
from kmspolicy.server.app import AppOptions, KmsApp, Receive, Scope, Send
from kmspolicy.server.protocol import DeadlineHttpToolsProtocol, with_read_timeout
from kmspolicy.server.sigv4 import Verifier

BODY = b'{"KeyId": "alias/bench", "Plaintext": "' + b"A" * 5464 + b'"}'
REQUEST = (
    b"POST / HTTP/1.1\r\nHost: 127.0.0.1:4599\r\nAccept-Encoding: identity\r\n"
    b"X-Amz-Target: TrentService.Encrypt\r\nContent-Type: application/x-amz-json-1.1\r\n"
    b"User-Agent: Boto3/1.35.0 md/Botocore#1.35.0 ua/2.0 os/linux#6.1 md/arch#x86_64 "
    b"lang/python#3.11.7 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.35.0\r\n"
    b"X-Amz-Date: 20261206T205400Z\r\n"
    b"Authorization: AWS4-HMAC-SHA256 Credential=AKIAKMSPOLICYLOCAL01/20261206/us-east-1/kms/"
    b"aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature="
    + b"0"
    * 64
    + b"\r\namz-sdk-invocation-id: 0c4e7ab4-6c4e-4a0e-9d4a-1c2f2f6b5d55\r\n"
    b"amz-sdk-request: attempt=1\r\nContent-Length: %d\r\n\r\n" % len(BODY) + BODY
)
ANSWER = b'{"CiphertextBlob": "' + b"B" * 5600 + b'", "KeyId": "k"}'
HEADERS = [
    (b"content-type", b"application/x-amz-json-1.1"),
    (b"content-length", str(len(ANSWER)).encode()),
    (b"x-amzn-requestid", b"0c4e7ab4-6c4e-4a0e-9d4a-000000000001"),
]


class CannedApp(KmsApp[str]):
    """The API app with its work canned: the same answer on either path."""

    def answer(self, *args: Any) -> tuple[int, bytes, str]:
        return 200, ANSWER, "0c4e7ab4-6c4e-4a0e-9d4a-000000000001"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body", False):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        await send({"type": "http.response.body", "body": ANSWER})


class _Backend:
    def operations(self) -> frozenset[str]:
        return frozenset({"Encrypt"})


class Transport(asyncio.Transport):
    """Counts the writes; the peer and the local address are loopback."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes += 1

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


async def connection(direct: bool) -> tuple[DeadlineHttpToolsProtocol, Transport]:
    app = CannedApp(_Backend(), Verifier({}.get), SystemClock(), AppOptions())  # type: ignore[arg-type]
    config = Config(app, lifespan="off", log_config=None, access_log=False, proxy_headers=False)
    config.load()
    protocol = with_read_timeout(20.0, direct=direct)(
        config, ServerState(), {}, asyncio.get_running_loop()
    )
    transport = Transport()
    protocol.connection_made(transport)
    return protocol, transport


async def cpu_per_request(protocol: DeadlineHttpToolsProtocol, requests: int) -> float:
    feed = protocol.data_received
    started = time.process_time()
    for _ in range(requests):
        feed(REQUEST)
        await asyncio.sleep(0)  # the loop turn in which an ASGI cycle's task runs
    return (time.process_time() - started) / requests * 1e6


async def run(requests: int, rounds: int) -> None:
    variants = {"direct": await connection(True), "ASGI cycle": await connection(False)}
    spent: dict[str, list[float]] = {name: [] for name in variants}
    for protocol, _ in variants.values():
        await cpu_per_request(protocol, 200)  # warm up
    for i in range(rounds):
        order = list(variants) if i % 2 == 0 else list(reversed(variants))
        for name in order:
            spent[name].append(await cpu_per_request(variants[name][0], requests))
    for name, (_, transport) in variants.items():
        assert transport.writes == requests * rounds + 200, (name, transport.writes)
    print(f"HTTP protocol CPU µs per request (boto3 Encrypt 4 KB, app canned), {rounds} rounds")
    for name, values in spent.items():
        print(
            f"  {name:<11} median {statistics.median(values):6.1f}  "
            f"range {min(values):.1f}–{max(values):.1f}"
        )
    ratio = statistics.median(spent["direct"]) / statistics.median(spent["ASGI cycle"])
    print(f"  direct / ASGI cycle = {ratio:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    uvloop.run(run(args.requests, args.rounds))


if __name__ == "__main__":
    main()
