"""Fuzz targets: one function per parser or verifier that takes untrusted bytes.

Each target takes one input (``bytes``) and either returns or raises one of the typed errors its
caller is built to handle (``Target.expected``); any other exception is a crash. Where a
success has a checkable consequence, the target checks it too (a policy that reads also reads
back from its own rendering; a decoded request validates again unchanged; a verified request
names its credential). Seeds are valid inputs (fixtures, encoded requests, signed requests,
real blobs and audit logs) from which the engines mutate.

The targets are pure functions of their input: the same bytes give the same outcome, so a
crash found by any engine replays with ``python -m fuzz replay <target> <file>``.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import random
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from kmspolicy.errors import (
    IncorrectKeyMaterialException,
    InvalidCiphertextException,
    PolicyError,
    ServiceError,
    ValidationException,
)

__all__ = ["TARGETS", "Target", "seeds"]

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@dataclass(frozen=True)
class Target:
    name: str
    run: Callable[[bytes], None]
    expected: tuple[type[BaseException], ...]
    seeds: Callable[[], list[bytes]]
    #: tokens the engines splice in (a libFuzzer dictionary): mutating bytes one at a time
    #: rarely spells ``\ud800`` or ``${aws:username}``
    tokens: tuple[bytes, ...] = ()

    def __call__(self, data: bytes) -> None:
        """Run one input; raise AssertionError (or any unexpected exception) on a crash."""
        with contextlib.suppress(*self.expected):
            self.run(data)


# --- policies: the AWS JSON reader and the DSL parser


def _json_policy(data: bytes) -> None:
    from kmspolicy.lang import read_json, write_json

    for key_policy in (False, True):
        try:
            policy = read_json(data, "fuzz.json", key_policy=key_policy)
        except PolicyError:
            continue
        # what reads must read back from its own rendering
        read_json(write_json(policy), "rendered.json", key_policy=False)


def _dsl_policy(data: bytes) -> None:
    from kmspolicy.lang import format_dsl, parse_dsl

    policies = parse_dsl(data, "fuzz.kmsp")
    for policy in policies:
        parse_dsl(format_dsl(policy), "formatted.kmsp")


def _policy_seeds(suffix: str) -> Callable[[], list[bytes]]:
    def seeds() -> list[bytes]:
        return [p.read_bytes() for p in sorted(FIXTURES.glob(f"*{suffix}"))]

    return seeds


# --- the wire codec: the first byte picks the operation, the rest is the body


@cache
def _operations() -> tuple[str, ...]:
    from kmspolicy.kms import wire

    return tuple(sorted(wire.operation_names()))


def _wire(data: bytes) -> None:
    from kmspolicy.kms import wire

    if not data:
        return
    operation = _operations()[data[0] % len(_operations())]
    params = wire.decode_request(operation, data[1:])
    # every decoded string has a UTF-8 form (no lone surrogate reaches the service)
    json.dumps(params, default=repr, ensure_ascii=False).encode("utf-8")
    # the in-process client's validation accepts what the wire accepted, unchanged
    assert wire.validate_params(operation, params) == params, operation


def _wire_seeds() -> list[bytes]:
    from fuzz.requests import Known, body_for

    rng = random.Random(1)
    known = Known(
        key_ids=["1234abcd-12ab-34cd-56ef-1234567890ab"],
        aliases=["alias/fuzz"],
        grant_ids=["0" * 64],
        ciphertexts=[bytes(64)],
    )
    out = []
    for index, operation in enumerate(_operations()):
        for hostility in (0.0, 0.0, 0.2):
            out.append(bytes([index]) + body_for(operation, rng, known, hostility))
    return out


# --- the SigV4 verifier: fields of a request separated by NUL bytes

_SIGNED_AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
_ACCESS_KEY = "AKIAFUZZ000000000001"
_SECRET = "fuzz-secret"
_TOKEN_KEY = "ASIAFUZZ000000000002"


@cache
def _verifier() -> object:
    from kmspolicy.server.sigv4 import Credential, Verifier

    creds = {
        _ACCESS_KEY: Credential(_ACCESS_KEY, _SECRET, "alice"),
        _TOKEN_KEY: Credential(_TOKEN_KEY, _SECRET, "session", session_token="token-1"),
    }
    return Verifier(creds.get)


def _split_request(data: bytes) -> tuple[str, str, str, dict[str, str], bytes]:
    """``method NUL path NUL query NUL header-lines NUL body`` (text is latin-1, as on the wire)."""
    parts = data.split(b"\x00", 4)
    parts += [b""] * (5 - len(parts))
    method, path, query, head = (p.decode("latin-1") for p in parts[:4])
    headers: dict[str, str] = {}
    for line in head.split("\n"):
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name:
            headers[name] = f"{headers[name]},{value.strip()}" if name in headers else value.strip()
    return method, path, query, headers, parts[4]


def _sigv4(data: bytes) -> None:
    from kmspolicy.server.sigv4 import Verifier

    verifier = _verifier()
    assert isinstance(verifier, Verifier)
    method, path, query, headers, body = _split_request(data)
    verified = verifier.verify(method, path, query, headers, body, _SIGNED_AT)
    # a request verifies only under a credential the lookup knows
    assert verified.credential.access_key_id in (_ACCESS_KEY, _TOKEN_KEY)


def _sigv4_seeds() -> list[bytes]:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    out = []
    for key, token, target, body in [
        (_ACCESS_KEY, None, "TrentService.ListKeys", b"{}"),
        (_ACCESS_KEY, None, "TrentService.Encrypt", b'{"KeyId":"alias/a","Plaintext":"aGk="}'),
        (_TOKEN_KEY, "token-1", "TrentService.DescribeKey", b'{"KeyId":"alias/a"}'),
    ]:
        request = AWSRequest(
            method="POST",
            url="http://127.0.0.1:4599/",
            data=body,
            headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target},
        )
        auth = SigV4Auth(Credentials(key, _SECRET, token), "kms", "us-east-1")
        auth._timestamp = lambda: _SIGNED_AT.strftime("%Y%m%dT%H%M%SZ")
        auth.add_auth(request)
        head = "\n".join(f"{k}: {v}" for k, v in request.headers.items())
        out.append(b"\x00".join([b"POST", b"/", b"", head.encode("latin-1"), body]))
    return out


# --- the ciphertext blob: header parse, then authenticated decryption


@cache
def _material() -> object:
    from kmspolicy.crypto.material import load_key_material

    return load_key_material("SYMMETRIC_DEFAULT", bytes(range(32)))


def _blob(data: bytes) -> None:
    from kmspolicy.crypto.blob import decrypt_blob, parse_blob_header
    from kmspolicy.crypto.material import KeyMaterial

    header = parse_blob_header(data)
    assert header.length <= len(data)
    material = _material()
    assert isinstance(material, KeyMaterial)
    for context in (None, {"purpose": "fuzz"}):
        try:
            plaintext = decrypt_blob(material, data, context)
        except InvalidCiphertextException:
            continue
        assert len(plaintext) <= 4096


def _blob_seeds() -> list[bytes]:
    from kmspolicy.crypto.blob import encrypt_blob
    from kmspolicy.crypto.material import KeyMaterial

    material = _material()
    assert isinstance(material, KeyMaterial)
    rng = random.Random(2)
    key = "1234abcd-12ab-34cd-56ef-1234567890ab"
    return [
        encrypt_blob(material, key, rng.randbytes(n), context, rng=rng.randbytes)
        for n, context in [(0, None), (5, {"purpose": "fuzz"}), (4096, None), (33, {"a": "b"})]
    ]


# --- DER from callers: a DeriveSharedSecret peer key, imported (unwrapped) private keys


@cache
def _agreement_material() -> object:
    from kmspolicy.crypto.material import generate_key

    return generate_key("ECC_NIST_P256", random.Random(3).randbytes)


_IMPORT_SPECS = ("RSA_2048", "ECC_NIST_P256", "ECC_NIST_EDWARDS25519", "ML_DSA_44")


def _der(data: bytes) -> None:
    from kmspolicy.crypto.agreement import derive_shared_secret
    from kmspolicy.crypto.material import KeyMaterial
    from kmspolicy.crypto.wrapping import validate_import_material

    material = _agreement_material()
    assert isinstance(material, KeyMaterial)
    with contextlib.suppress(ValidationException):
        assert len(derive_shared_secret(material, "ECDH", data)) == 32
    spec = _IMPORT_SPECS[len(data) % len(_IMPORT_SPECS)]
    validate_import_material(spec, data)


def _der_seeds() -> list[bytes]:
    from kmspolicy.crypto.material import KeyMaterial, generate_key, public_key_der

    rng = random.Random(4).randbytes
    out = []
    for spec in ("ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_EDWARDS25519", "RSA_2048"):
        key = generate_key(spec, rng)
        assert isinstance(key, KeyMaterial)
        out.append(public_key_der(key))
        out.append(key.secret)  # PKCS#8 DER
    return out


# --- the audit log verifier: the input is the log file


@cache
def _scratch() -> Path:
    # a RAM file system where there is one: truncating a file on an overlay costs ~2 ms
    shm = Path("/dev/shm")
    base = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
    directory = Path(tempfile.mkdtemp(prefix="kmsp-fuzz-audit-", dir=base))
    atexit.register(shutil.rmtree, directory, True)
    return directory / "audit.log"


def _audit(data: bytes) -> None:
    from kmspolicy.audit.verify import verify

    path = _scratch()
    path.write_bytes(data)
    result = verify(path)
    assert result.ok == (not result.problems)
    assert result.records <= data.count(b"\n")


def _audit_seeds() -> list[bytes]:
    from kmspolicy.audit import open_audit_log
    from kmspolicy.kms.ports import AuditRecord

    with tempfile.TemporaryDirectory(prefix="kmsp-fuzz-seed-") as tmp:
        path = Path(tmp) / "audit.log"
        log = open_audit_log(path)
        for i, (allowed, decision, context) in enumerate(
            [
                (True, "allowed", {"kms:EncryptionContext:app": "x"}),
                (False, "explicitDeny", {"aws:SourceIp": "10.0.0.1"}),
                (False, "", {}),
            ]
        ):
            log.append(
                AuditRecord(
                    time=_SIGNED_AT,
                    request_id=f"req-{i}",
                    operation="Encrypt",
                    principal="arn:aws:iam::111122223333:user/alice",
                    actions=("kms:Encrypt",),
                    resources=("arn:aws:kms:us-east-1:111122223333:key/k",),
                    allowed=allowed,
                    decision=decision,
                    error_code=None if allowed else "AccessDeniedException",
                    context=dict(context),
                )
            )
        log.close()
        whole = path.read_bytes()
    lines = whole.splitlines(keepends=True)
    return [whole, lines[0], b"".join(lines[1:]), whole[:-7]]


_JSON_TOKENS = (
    b'"',
    b"\\",
    b"\\u0000",
    b"\\ud800",
    b"\\udfff",
    b"\\ud83d\\ude00",
    b"\\u00e9",
    b"NaN",
    b"Infinity",
    b"-Infinity",
    b"1e309",
    b"-0",
    b"18446744073709551616",
    b"null",
    b"true",
    b"[]",
    b"{}",
    b'"":',
    b"\xef\xbb\xbf",
    b"\xed\xa0\x80",
    b"\xff",
)
_POLICY_TOKENS = (
    *_JSON_TOKENS,
    b'"Condition"',
    b'"StringLike"',
    b'"ForAnyValue:StringEquals"',
    b'"IfExists"',
    b'"NotPrincipal"',
    b'"NotAction"',
    b'"Principal":"*"',
    b"${aws:username}",
    b"${*}",
    b"${",
    b"kms:EncryptionContext:",
    b"arn:aws:kms:*:111122223333:key/*",
    b"*?*",
    b'"Sid"',
)
_DSL_TOKENS = (
    b"allow",
    b"deny",
    b"when",
    b"not",
    b"principal",
    b"action",
    b"resource",
    b"kms:*",
    b"# ",
    b"//",
    b"/*",
    b'"',
    b"\\u{10FFFF}",
    b"${aws:username}",
    b"StringLike",
    b"ForAllValues:",
    b"IfExists",
    b"[",
    b"]",
    b"{",
    b"}",
    b";",
    b",",
    b"\n",
    b"1e309",
)
_HTTP_TOKENS = (
    b"authorization: AWS4-HMAC-SHA256 Credential=",
    b"/20260102/us-east-1/kms/aws4_request",
    b", SignedHeaders=",
    b"host;x-amz-date",
    b"x-amz-target",
    b"content-type",
    b"x-amz-security-token: ",
    b", Signature=",
    b"x-amz-date: 20260102T030405Z",
    b"X-Amz-Signature=",
    b"%2F",
    b"/../",
    b"/./",
    b"\x00",
    b"\n",
)
_BLOB_TOKENS = (b"kp\x01", b"kp\x01\x24", b"kp\x01\xff", b"\x00" * 12, b"\xff" * 16)
_AUDIT_TOKENS = (
    *_JSON_TOKENS,
    b'"seq":',
    b'"prev":"',
    b'"hash":"',
    b'"v":1',
    b'"v":2',
    b"\n",
    b"\r\n",
    b"0" * 64,
)

_DER_TOKENS = (
    b"\x30\x82",
    b"\x06\x07\x2a\x86\x48\xce\x3d\x02\x01",  # id-ecPublicKey
    b"\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07",  # P-256
    b"\x06\x05\x2b\x81\x04\x00\x22",  # P-384
    b"\x06\x03\x2b\x65\x70",  # Ed25519
    b"\x06\x03\x2b\x65\x6e",  # X25519
    b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01",  # rsaEncryption
    b"\x06\x07\x2a\x86\x48\xce\x38\x04\x01",  # DSA
    b"\x06\x09\x60\x86\x48\x01\x65\x03\x04\x03\x11",  # ML-DSA-44
    b"\x05\x00",
    b"\x03\x42\x00\x04",
    b"\x04\x20",
    b"\x02\x01\x00",
)

TARGETS: dict[str, Target] = {
    t.name: t
    for t in [
        Target("awsjson", _json_policy, (PolicyError,), _policy_seeds(".json"), _POLICY_TOKENS),
        Target("dsl", _dsl_policy, (PolicyError,), _policy_seeds(".kmsp"), _DSL_TOKENS),
        Target("wire", _wire, (ServiceError,), _wire_seeds, _JSON_TOKENS),
        Target("sigv4", _sigv4, (ServiceError,), _sigv4_seeds, _HTTP_TOKENS),
        Target("blob", _blob, (InvalidCiphertextException,), _blob_seeds, _BLOB_TOKENS),
        Target("audit", _audit, (), _audit_seeds, _AUDIT_TOKENS),
        Target("der", _der, (IncorrectKeyMaterialException,), _der_seeds, _DER_TOKENS),
    ]
}


def seeds(target: Target, corpus: Path | None = None) -> Iterator[bytes]:
    """The built-in seeds, then every file of ``corpus`` (when it exists)."""
    yield from target.seeds()
    if corpus is not None and corpus.is_dir():
        for path in sorted(corpus.iterdir()):
            if path.is_file():
                yield path.read_bytes()
