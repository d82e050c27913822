"""Where a `kmspolicy serve` request's CPU goes, stage by stage (the cost model of docs/server.md).

Run: ``.venv/bin/python bench/server_stages.py [--requests N] [--rounds R] [--operation Decrypt]``.

The app ``kmspolicy serve`` builds (SQLite in a temporary data dir, the file root key, SigV4, the
audit log, request quotas on) answers pre-signed boto3 Encrypt requests (or Decrypt requests of
one Encrypt's blob) in-process, N times, the
way the server's HTTP protocol has it answer them (server/protocol.py): the headers as one dict,
``KmsApp.answers_directly``, then ``KmsApp.answer``, with no event loop and no ASGI cycle. Each
stage's functions are timed where the app calls them (a timer costs about 0.2 µs, inside the
stage it times). What the replay cannot see — httptools' parse and the protocol's callbacks
(bench/server_protocol.py), uvloop and the sockets (bench/server.py) — is measured elsewhere.
The same request is also replayed through the app's ASGI face, the path of the requests the
protocol does not answer directly (a worker thread's call, the console, chunked bodies): the
difference is what an ASGI cycle's task, loop turn and messages cost in the app.
Then the physical floor of each stage: the same primitive work done alone, in a loop, with no
framework around it (SHA-256 of the body, one AES-GCM of 4 KB, one ``write`` of an audit line…).
All figures are CPU µs per request, the median of ``--rounds`` rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from kmspolicy.audit.file import FileAuditLog
from kmspolicy.kms.kernel import Kernel
from kmspolicy.kms.pipeline import Pipeline
from kmspolicy.server import app as server_app
from kmspolicy.server import backend as server_backend
from kmspolicy.server.main import ServerSettings, build_app, load_config

ACCESS_KEY = "AKIAKMSPOLICYLOCAL01"  # the documented development identity (docs/identities.md)
SECRET_KEY = "kmspolicy-local-development-secret"
PLAINTEXT = os.urandom(4096)


class Stages:
    """CPU time spent in each timed stage, per request, over a round. The timers replace
    functions on their classes and modules: ``restore`` puts the originals back."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = {}
        self._replaced: list[tuple[Any, str, Any]] = []  # owner, name, what its own dict held

    def _replace(self, owner: Any, name: str, timed: Any) -> None:
        self._replaced.append((owner, name, vars(owner).get(name, _INHERITED)))
        setattr(owner, name, timed)

    def restore(self) -> None:
        while self._replaced:
            owner, name, own = self._replaced.pop()
            if own is _INHERITED:
                delattr(owner, name)
            else:
                setattr(owner, name, own)

    def wrap(self, owner: Any, name: str, stage: str) -> None:
        inner = getattr(owner, name)
        spent = self.spent
        clock = time.process_time

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = clock()
            try:
                return inner(*args, **kwargs)
            finally:
                spent[stage] = spent.get(stage, 0.0) + clock() - t0

        self._replace(owner, name, timed)

    def wrap_context(self, owner: Any, name: str, stage: str) -> None:
        """Time entering and leaving a context manager, not the block inside it."""
        inner = getattr(owner, name)
        spent = self.spent
        clock = time.process_time

        @contextmanager
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = clock()
            manager = inner(*args, **kwargs)
            value = manager.__enter__()
            spent[stage] = spent.get(stage, 0.0) + clock() - t0
            try:
                yield value
            except BaseException as exc:
                t1 = clock()
                if not manager.__exit__(type(exc), exc, exc.__traceback__):
                    spent[stage] = spent.get(stage, 0.0) + clock() - t1
                    raise
                spent[stage] = spent.get(stage, 0.0) + clock() - t1
            else:
                t1 = clock()
                manager.__exit__(None, None, None)
                spent[stage] = spent.get(stage, 0.0) + clock() - t1

        self._replace(owner, name, timed)


_INHERITED = object()  # a replaced attribute the owner's own dict did not hold


def signed(
    operation: str, params: dict[str, Any], port: int = 4599
) -> tuple[dict[str, Any], bytes]:
    """An ASGI scope and body for a boto3-style signed request."""
    body = json.dumps(params).encode()
    request = AWSRequest(
        method="POST",
        url=f"http://127.0.0.1:{port}/",
        data=body,
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": f"TrentService.{operation}",
            "User-Agent": "Boto3/1.35 md/Botocore#1.35 ua/2.0 os/linux lang/python#3.11",
        },
    )
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "kms", "us-east-1").add_auth(request)
    prepared = request.prepare()
    headers = [(k.lower().encode(), v.encode()) for k, v in prepared.headers.items()]
    headers.append((b"host", f"127.0.0.1:{port}".encode()))
    if b"content-length" not in dict(headers):
        headers.append((b"content-length", str(len(body)).encode()))
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "headers": headers,
        "scheme": "http",
        "client": ("127.0.0.1", 50000),
    }
    return scope, body


def direct(app: Any, scope: dict[str, Any], body: bytes) -> Callable[[], bytes]:
    """The request as the server's HTTP protocol has the app answer it (``on_headers_complete``
    and ``on_message_complete`` of server/protocol.py): the headers dict, the check, the answer.
    An operation the backend runs in a worker thread is not answered here: it fails."""
    raw = scope["headers"]
    client, scheme = scope["client"], scope["scheme"]
    headers_of = server_app._headers

    def once() -> bytes:
        headers = headers_of(raw)
        if not app.answers_directly(headers):
            raise AssertionError("the protocol would not answer this request directly")
        answer = app.answer(headers, body, client, scheme, time.perf_counter())
        if not isinstance(answer, tuple):
            raise AssertionError("the backend runs this operation in a worker thread")
        return answer[1]

    return once


def through_asgi(
    app: Any, scope: dict[str, Any], body: bytes, loop: asyncio.AbstractEventLoop
) -> Callable[[], bytes]:
    """The request through the app's ASGI face, one task and loop turn per request."""
    out: list[bytes] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            out.append(message["body"])

    def once() -> bytes:
        out.clear()
        loop.run_until_complete(app(scope, receive, send))
        return out[0]

    return once


def stubbed(app: Any, scope: dict[str, Any], body: bytes) -> Any:
    """The app with its verifier and backend answering at once (their last answers): a replay
    of it costs the app's own code only."""
    verified = app._verifier.verify(
        "POST", "/", "", server_app._headers(scope["headers"]), body, app._clock.now()
    )
    reply = server_app.Reply(b"{}", verified.credential.principal)
    return server_app.KmsApp(_Canned(reply), _Signed(verified), app._clock, app._options)


class _Signed:
    def __init__(self, verified: Any) -> None:
        self._verified = verified

    def verify(self, *_: Any) -> Any:
        return self._verified


class _Canned:
    def __init__(self, reply: Any) -> None:
        self._reply = reply

    def operations(self) -> frozenset[str]:
        return frozenset(OPERATIONS)

    def offload(self, operation: str) -> bool:
        return False

    def call(self, call: Any) -> Any:
        return self._reply

    def encode_error(self, error: Any) -> bytes:
        return b"{}"

    def principal_arn(self, principal: Any) -> str:
        return str(principal)


def per_call(fn: Callable[[], object], n: int) -> float:
    fn()
    t0 = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - t0) / n * 1e6


def floors(body: bytes, line: bytes, tmp: Path, n: int) -> dict[str, float]:
    """The primitive work of each stage, alone."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    aes = AESGCM(os.urandom(32))
    nonce = os.urandom(12)
    key = os.urandom(32)
    raw = os.urandom(4096 + 100)
    fd = os.open(tmp / "floor.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        import orjson
        import pybase64

        creq = body[:600]
        return {
            "SigV4: SHA-256 of the body and of the canonical request, one HMAC": per_call(
                lambda: (
                    hashlib.sha256(body).hexdigest(),
                    hmac.digest(key, hashlib.sha256(creq).hexdigest().encode(), "sha256"),
                ),
                n,
            ),
            "codec: orjson parse of the body, base64 decode of 4 KB (pybase64)": per_call(
                lambda: pybase64.b64decode(orjson.loads(body)["Plaintext"], validate=True), n
            ),
            "codec: base64 encode of the ~4.2 KB blob, JSON of the response": per_call(
                lambda: orjson.dumps(
                    {"CiphertextBlob": pybase64.b64encode_as_string(raw), "KeyId": "k"}
                ),
                n,
            ),
            "crypto: AES-256-GCM of 4 KB": per_call(lambda: aes.encrypt(nonce, PLAINTEXT, b""), n),
            "audit: SHA-256 and keyed BLAKE2b of a record line": per_call(
                lambda: hashlib.blake2b(
                    hashlib.sha256(line).hexdigest().encode(), key=key, digest_size=32
                ).hexdigest(),
                n,
            ),
            "audit: one write(2) of the line (no fsync)": per_call(lambda: os.write(fd, line), n),
        }
    finally:
        os.close(fd)


#: every timed stage, by where its timer sits: (owner, attribute, stage); the owners that are
#: instances' classes are found on the app (``_TIMED_ON_APP``)
STAGES = (
    (server_backend.wire, "decode_request", "codec: request"),
    (server_backend.wire, "encode_response", "codec: response"),
    (Pipeline, "_allowed", "resolution and authorization"),
    (FileAuditLog, "append", "audit append"),
    (Pipeline, "_audit", "audit record and append"),
    (server_backend.ServiceBackend, "call", "backend"),
)
_TIMED_ON_APP = ("SigV4 (verify)", "store transaction (begin+end)", "pipeline")
#: the replayed operations, with the kernel function each one's crypto stage times
OPERATIONS = {"Encrypt": "encrypt", "Decrypt": "decrypt"}
_CRYPTO = "crypto (kernel)"
STAGE_NAMES = frozenset(stage for *_, stage in STAGES) | frozenset((*_TIMED_ON_APP, _CRYPTO))


@dataclass
class Measured:
    """One run's figures: CPU µs per request, medians over the rounds."""

    requests: int
    rounds: int
    untimed: float  # the whole request, answered directly, no timers
    untimed_asgi: float  # the same through the ASGI face
    total: float  # the whole request with the stage timers
    table: dict[str, float]
    app_alone: float  # verifier and backend answering at once, answered directly
    app_alone_asgi: float  # the same through the ASGI face
    floor: dict[str, float]
    stages_seen: set[str] = field(default_factory=set)  # the stages whose timers ran


def replayed_request(
    app: Any, loop: asyncio.AbstractEventLoop, operation: str
) -> tuple[dict[str, Any], bytes, bytes, bytes]:
    """The request the replay repeats, on a key it creates: its scope and body, the body of
    the Encrypt it is or is made from (the floors are an Encrypt's), and the answer's member."""
    create_scope, create_body = signed("CreateKey", {})  # it writes: a worker thread's call
    key_id = json.loads(through_asgi(app, create_scope, create_body, loop)())["KeyMetadata"][
        "KeyId"
    ]
    scope, body = signed(
        "Encrypt", {"KeyId": key_id, "Plaintext": base64.b64encode(PLAINTEXT).decode()}
    )
    if operation != "Decrypt":
        return scope, body, body, b"CiphertextBlob"
    blob = json.loads(direct(app, scope, body)())["CiphertextBlob"]  # decrypted again and again
    decrypt_scope, decrypt_body = signed("Decrypt", {"CiphertextBlob": blob})
    return decrypt_scope, decrypt_body, body, b"Plaintext"


def measure(requests: int, rounds: int, operation: str = "Encrypt") -> Measured:
    with tempfile.TemporaryDirectory(prefix="kmsp-stages-") as tmp:
        settings = ServerSettings(port=0, data_dir=Path(tmp) / "data")
        app, runtime = build_app(settings, load_config(settings))
        loop = asyncio.new_event_loop()
        try:
            return _measure(app, runtime, loop, Path(tmp), requests, rounds, operation)
        finally:
            loop.close()
            runtime.close()


def _measure(
    app: Any,
    runtime: Any,
    loop: asyncio.AbstractEventLoop,
    tmp: Path,
    requests: int,
    rounds: int,
    operation: str,
) -> Measured:
    scope, body, encrypt_body, answered = replayed_request(app, loop, operation)
    plain, plain_asgi = direct(app, scope, body), through_asgi(app, scope, body, loop)
    assert answered in plain() and answered in plain_asgi()
    alone = stubbed(app, scope, body)
    alone_direct, alone_asgi = direct(alone, scope, body), through_asgi(alone, scope, body, loop)
    # the two paths alternate, round by round, so that the machine's load falls on both
    whole: list[float] = []
    whole_asgi: list[float] = []
    own: list[float] = []
    own_asgi: list[float] = []
    for _ in range(rounds):
        whole.append(per_call(plain, requests))
        whole_asgi.append(per_call(plain_asgi, requests))
        own.append(per_call(alone_direct, requests))
        own_asgi.append(per_call(alone_asgi, requests))

    stages = Stages()
    try:
        stages.wrap(type(app._verifier), "verify", "SigV4 (verify)")
        stages.wrap_context(
            type(runtime.store._store), "transaction", "store transaction (begin+end)"
        )
        stages.wrap(type(runtime.service()), "dispatch", "pipeline")
        for owner, name, stage in STAGES:
            stages.wrap(owner, name, stage)
        stages.wrap(Kernel, OPERATIONS[operation], _CRYPTO)
        timed = direct(app, scope, body)
        spent: list[dict[str, float]] = []
        seen: set[str] = set()
        for _ in range(rounds):
            stages.spent.clear()
            timed()
            stages.spent.clear()
            total = per_call(timed, requests)
            seen |= stages.spent.keys()
            spent.append({k: v / requests * 1e6 for k, v in stages.spent.items()})
            spent[-1]["(timed run, total)"] = total
    finally:
        stages.restore()
    line = b'{"seq":1,"time":"2026-12-06T00:00:00Z","operation":"Encrypt"' + b"x" * 500 + b"}\n"
    floor = floors(encrypt_body, line, tmp, requests)

    def median(stage: str) -> float:
        return statistics.median(r.get(stage, 0.0) for r in spent)

    total = median("(timed run, total)")
    sigv4, backend, pipeline = median("SigV4 (verify)"), median("backend"), median("pipeline")
    audit_all, append = median("audit record and append"), median("audit append")
    store, decide, crypto = (
        median("store transaction (begin+end)"),
        median("resolution and authorization"),
        median(_CRYPTO),
    )
    table = {
        # the cost of the timers around SigV4 and the backend is in it
        "HTTP app: headers dict, target, context, access line": total - sigv4 - backend,
        "SigV4": sigv4,
        "codec: request (JSON, base64, validation)": median("codec: request"),
        "codec: response": median("codec: response"),
        "store transaction (data_version; BEGIN/COMMIT on a miss)": store,
        "resolution and authorization (a plan, or key, memo, checks)": decide,
        "audit: the record": audit_all - append,
        "audit: append (seal, checks, flock, write)": append,
        "crypto (kernel: AES-GCM, blob)": crypto,
        "pipeline: the rest (scope, handler, usage)": (
            pipeline - store - decide - audit_all - crypto
        ),
        "backend: the rest (region's service, reply)": (
            backend - median("codec: request") - median("codec: response") - pipeline
        ),
    }
    return Measured(
        requests=requests,
        rounds=rounds,
        untimed=statistics.median(whole),
        untimed_asgi=statistics.median(whole_asgi),
        total=total,
        table=table,
        app_alone=statistics.median(own),
        app_alone_asgi=statistics.median(own_asgi),
        floor=floor,
        stages_seen=seen,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--operation", choices=sorted(OPERATIONS), default="Encrypt")
    args = parser.parse_args()
    m = measure(args.requests, args.rounds, args.operation)
    print(
        f"{args.operation} 4 KB answered by kmspolicy serve's app in-process as its HTTP "
        "protocol has it answered (SQLite, file root key), CPU µs per request, median of "
        f"{m.rounds} rounds of {m.requests}"
    )
    print(f"  {'whole request, untimed run':58} {m.untimed:7.1f}")
    print(f"  {'whole request, timed run (the stages below add up to it)':58} {m.total:7.1f}")
    for stage, value in m.table.items():
        print(f"  {stage:58} {value:7.1f}  {value / m.total:4.0%}")
    # (no logging is configured here, so no access line is written on either path)
    print("the HTTP app's row measured alone (verifier and backend answering at once)")
    print(f"  {'the app itself: headers dict, framing, target, context':58} {m.app_alone:7.1f}")
    print("the same request through the app's ASGI face (requests not answered directly)")
    print(f"  {'whole request, untimed run':58} {m.untimed_asgi:7.1f}")
    print(f"  {'the app alone':58} {m.app_alone_asgi:7.1f}")
    print(
        f"  {'the ASGI cycle in the app (alone, ASGI - direct)':58} "
        f"{m.app_alone_asgi - m.app_alone:7.1f}"
    )
    print("physical floors (the primitive work alone)")
    for name, value in m.floor.items():
        print(f"  {name:66} {value:6.1f}")


if __name__ == "__main__":
    main()
