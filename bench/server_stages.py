"""Where a `kmspolicy serve` request's CPU goes, stage by stage (the cost model of docs/server.md).

Run: ``.venv/bin/python bench/server_stages.py [--requests N] [--operation Encrypt]``.

The app ``kmspolicy serve`` builds (SQLite in a temporary data dir, the file root key, SigV4, the
audit log, request quotas on) is driven in-process through ASGI with pre-signed boto3 requests,
N times; each stage's functions are timed where the app calls them (a timer costs about 0.2 µs,
inside the stage it times). What the replay cannot see — uvicorn, httptools, uvloop and the
sockets — is measured the same way under the real server in bench/server.py (the canned floor).
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
    """CPU time spent in each timed stage, per request, over a round."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = {}

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

        setattr(owner, name, timed)

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

        setattr(owner, name, timed)


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


def replay(app: Any, scope: dict[str, Any], body: bytes) -> Callable[[], bytes]:
    loop = asyncio.new_event_loop()
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


async def canned_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An ASGI app that reads the body and answers a fixed one: what the replay's loop turn and
    task cost around any app (uvicorn's own task and messages are bench/server.py's floor)."""
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


def stubbed(app: Any, scope: dict[str, Any], body: bytes) -> Callable[[], bytes]:
    """The app with its verifier and backend answering at once (their last answers): the
    replay then costs the loop turn and the app's own code only."""
    verified = app._verifier.verify(
        "POST", "/", "", server_app._headers(scope["headers"]), body, app._clock.now()
    )
    reply = server_app.Reply(b"{}", verified.credential.principal)
    alone = server_app.KmsApp(_Canned(reply), _Signed(verified), app._clock, app._options)
    return replay(alone, scope, body)


class _Signed:
    def __init__(self, verified: Any) -> None:
        self._verified = verified

    def verify(self, *_: Any) -> Any:
        return self._verified


class _Canned:
    def __init__(self, reply: Any) -> None:
        self._reply = reply

    def operations(self) -> frozenset[str]:
        return frozenset({"Encrypt"})

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="kmsp-stages-") as tmp:
        settings = ServerSettings(port=0, data_dir=Path(tmp) / "data")
        app, runtime = build_app(settings, load_config(settings))
        create_scope, create_body = signed("CreateKey", {})
        key_id = json.loads(replay(app, create_scope, create_body)())["KeyMetadata"]["KeyId"]
        scope, body = signed(
            "Encrypt", {"KeyId": key_id, "Plaintext": base64.b64encode(PLAINTEXT).decode()}
        )
        plain = replay(app, scope, body)
        assert b"CiphertextBlob" in plain()
        whole = [per_call(plain, args.requests) for _ in range(args.rounds)]
        canned = replay(canned_app, scope, body)
        turns = [per_call(canned, args.requests) for _ in range(args.rounds)]
        own = [per_call(stubbed(app, scope, body), args.requests) for _ in range(args.rounds)]

        stages = Stages()
        stages.wrap(type(app._verifier), "verify", "SigV4 (verify)")
        stages.wrap(server_backend.wire, "decode_request", "codec: request")
        stages.wrap(server_backend.wire, "encode_response", "codec: response")
        stages.wrap(Pipeline, "decide", "authorization (decide)")
        stages.wrap(FileAuditLog, "append", "audit append")
        stages.wrap(Kernel, "encrypt", "crypto (kernel.encrypt)")
        stages.wrap_context(
            type(runtime.store._store), "transaction", "store transaction (begin+end)"
        )
        stages.wrap(type(runtime.service()), "dispatch", "pipeline")
        stages.wrap(Pipeline, "_audit", "audit record and append")
        stages.wrap(server_backend.ServiceBackend, "call", "backend")
        timed = replay(app, scope, body)
        rounds: list[dict[str, float]] = []
        for _ in range(args.rounds):
            stages.spent.clear()
            timed()
            stages.spent.clear()
            total = per_call(timed, args.requests)
            rounds.append({k: v / args.requests * 1e6 for k, v in stages.spent.items()})
            rounds[-1]["(timed run, total)"] = total
        line = b'{"seq":1,"time":"2026-12-06T00:00:00Z","operation":"Encrypt"' + b"x" * 500 + b"}\n"
        floor = floors(body, line, Path(tmp), args.requests)
        runtime.close()

    def median(stage: str) -> float:
        return statistics.median(r.get(stage, 0.0) for r in rounds)

    untimed, total = statistics.median(whole), median("(timed run, total)")
    turn, app_alone = statistics.median(turns), statistics.median(own)
    sigv4, backend, pipeline = median("SigV4 (verify)"), median("backend"), median("pipeline")
    audit_all, append = median("audit record and append"), median("audit append")
    store, decide, crypto = (
        median("store transaction (begin+end)"),
        median("authorization (decide)"),
        median("crypto (kernel.encrypt)"),
    )
    table = {
        # the event loop's task and turn per request are in it (uvicorn makes a task per
        # request), and so is the cost of the timers around SigV4 and the backend
        "HTTP app: ASGI task, framing, headers, context, access line": total - sigv4 - backend,
        "SigV4": sigv4,
        "codec: request (JSON, base64, validation)": median("codec: request"),
        "codec: response": median("codec: response"),
        "store transaction (data_version; BEGIN/COMMIT on a miss)": store,
        "authorization (context, memo, decision)": decide,
        "audit: the record": audit_all - append,
        "audit: append (seal, checks, flock, write)": append,
        "crypto (kernel: AES-GCM, blob)": crypto,
        "pipeline: the rest (resolve, state, handler, usage)": (
            pipeline - store - decide - audit_all - crypto
        ),
        "backend: the rest (region's service, reply)": (
            backend - median("codec: request") - median("codec: response") - pipeline
        ),
    }
    print(
        f"Encrypt 4 KB through kmspolicy serve's ASGI app in-process (SQLite, file root key), "
        f"CPU µs per request, median of {args.rounds} rounds of {args.requests}"
    )
    print(f"  {'whole request, untimed run':58} {untimed:7.1f}")
    print(f"  {'whole request, timed run (the stages below add up to it)':58} {total:7.1f}")
    for stage, value in table.items():
        print(f"  {stage:58} {value:7.1f}  {value / total:4.0%}")
    # (no logging is configured here, so neither row writes an access line)
    print("the HTTP app's row measured alone (verifier and backend answering at once)")
    print(f"  {'the replay: loop turn and task around a canned app':58} {turn:7.1f}")
    print(f"  {'the app itself: framing, headers, target, context':58} {app_alone - turn:7.1f}")
    print("physical floors (the primitive work alone)")
    for name, value in floor.items():
        print(f"  {name:66} {value:6.1f}")


if __name__ == "__main__":
    main()
