"""Hostile requests over HTTP, generated from botocore's KMS model, against a real ``kmspolicy
serve``: for every operation, each required member left out and hostile values in every string
member; bodies that are not JSON, wrong types, huge numbers, deep nesting, bad base64, oversized
and chunked bodies, odd headers; and a fixed-seed stream of model-driven random requests.

Every answer is an AWS error or a success (never a 500); a refused request changes nothing in
the store (its rows are compared before and after); every decided request is in the audit log.
"""

from __future__ import annotations

import hashlib
import json
import random
import socket
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest

from fuzz.requests import HOSTILE_TEXT, Known, body_for, string_members, to_json
from kmspolicy.kms import wire
from tests.server.conftest import NOBODY, Server, start_server, stop_server
from tests.server.hostile import Answer, Sender, audit_records, check_answer

pytestmark = pytest.mark.server

ALICE_ARN = "arn:aws:iam::111111111111:user/alice"
#: the stored rows' digests by (table, first column), and how many service events were logged
Snapshot = tuple[dict[tuple[str, str], str], int]


class World:
    """A server with one key of each kind, an alias, a grant and ciphertexts."""

    def __init__(self, server: Server) -> None:
        self.server = server
        kms = self.kms = server.client()

        def key(**kw: Any) -> str:
            return str(kms.create_key(**kw)["KeyMetadata"]["KeyId"])

        self.symmetric = key()
        keys = [
            self.symmetric,
            key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY"),
            key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC"),
            key(Origin="EXTERNAL"),
            key(KeySpec="ECC_NIST_P256", KeyUsage="KEY_AGREEMENT"),
        ]
        kms.create_alias(AliasName="alias/robust", TargetKeyId=self.symmetric)
        grant = kms.create_grant(
            KeyId=self.symmetric,
            GranteePrincipal=ALICE_ARN,
            RetiringPrincipal=ALICE_ARN,
            Operations=["Encrypt", "Decrypt"],
        )
        blobs = [
            kms.encrypt(KeyId=self.symmetric, Plaintext=b"p")["CiphertextBlob"],
            kms.encrypt(KeyId=self.symmetric, Plaintext=b"p", EncryptionContext={"a": "b"})[
                "CiphertextBlob"
            ],
        ]
        # AWS managed keys are created on first use, on their own (design.md invariant 1):
        # created here, so that a refused request naming them changes nothing afterwards
        for service in ("s3", "ebs"):
            kms.describe_key(KeyId=f"alias/aws/{service}")
        self.known = Known(keys, ["alias/robust"], [grant["GrantId"]], blobs)
        self.known.extra["GrantTokens"] = [grant["GrantToken"]]
        self.alice = Sender(server)
        self.nobody = Sender(server, NOBODY)
        self._db = sqlite3.connect(f"file:{server.data_dir / 'kms.db'}?mode=ro", uri=True)

    def rows(self) -> dict[tuple[str, str], str]:
        """A digest of the stored rows (keys, secrets, aliases, grants) by table and first
        column (the key's ARN, but for aliases)."""
        digests: dict[tuple[str, str], Any] = {}
        for table in ("keys", "key_secrets", "aliases", "grants"):
            for row in self._db.execute(f"SELECT * FROM {table} ORDER BY 1, 2"):
                digests.setdefault((table, row[0]), hashlib.sha256()).update(repr(row).encode())
        self._db.rollback()  # a fresh snapshot next time
        return {where: digest.hexdigest() for where, digest in digests.items()}

    def snapshot(self) -> Snapshot:
        return self.rows(), len(self.service_events())

    def service_events(self) -> list[dict[str, Any]]:
        """The audit records of the service's own work (due work, done on access or by the
        sweeper), in log order."""
        with (self.server.data_dir / "audit.log").open("rb") as log:
            records = [json.loads(line) for line in log]
        return [r for r in records if r["event"] == "AwsServiceEvent"]

    def close(self) -> None:
        self._db.close()
        self.alice.close()
        self.nobody.close()
        self.kms.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    # quotas off: hundreds of requests a second are the point here, not a denial of service
    srv = start_server(tmp_path_factory.mktemp("kmsp-robust-model"), "--request-quotas", "off")
    w = World(srv)
    try:
        yield w
    finally:
        w.close()
        assert stop_server(srv) == 0
        assert "Traceback" not in srv.access_log(), srv.access_log()[-3000:]


def judged(world: World, send: Any, what: object) -> Answer:
    """Send, then judge: an AWS answer, recorded when decided, no change when refused."""
    before = world.snapshot()
    answer: Answer = send()
    check_answer(answer, audit_records(world.server), what)
    if answer.status != 200:
        assert_unchanged(world, before, ("a refused request changed the store", answer, what))
    return answer


#: the service's own work that may meet a refused request here: an on-demand rotation
#: completing on the first access after it is due (or by the sweeper); it changes the key's
#: row and its versions, never its aliases or grants
DUE_WORK = frozenset({"RotateKey"})


def assert_unchanged(world: World, before: Snapshot, what: object) -> None:
    """Nothing in the store changed since ``before`` but the service's own due work: only the
    key and version rows of a key that an event of that work names."""
    rows, done = before
    after = world.rows()
    changed = {w for w in rows.keys() | after.keys() if rows.get(w) != after.get(w)}
    own = {
        arn
        for r in world.service_events()[done:]
        if r["operation"] in DUE_WORK
        for arn in r["resources"]
    }
    allowed = {(table, arn) for arn in own for table in ("keys", "key_secrets")}
    assert changed <= allowed, what


# --- every required member of every operation, left out


def _operations(world: World) -> list[str]:
    return sorted(world.server.operations() & wire.operation_names())


def _plausible(operation: str, world: World, seed: int) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(body_for(operation, random.Random(seed), world.known, 0.0))
    return body


def test_each_missing_required_member_is_a_validation_error(world: World) -> None:
    model = wire.service_model()
    checked = 0
    for operation in _operations(world):
        shape = model.operation_model(operation).input_shape
        if shape is None:
            continue
        base = _plausible(operation, world, 1)
        for member in shape.required_members:
            body = {k: v for k, v in base.items() if k != member}
            answer = judged(
                world,
                lambda b=body, op=operation: world.alice.send(op, to_json(b)),
                (operation, member),
            )
            assert answer.error == "ValidationException", (operation, member, answer)
            lower = member[:1].lower() + member[1:]
            assert f"Value null at '{lower}'" in json.loads(answer.body)["message"]
            checked += 1
    assert checked > 60  # the model has ~90 required members across the operations


def test_each_optional_member_left_out_is_still_an_aws_answer(world: World) -> None:
    model = wire.service_model()
    for operation in _operations(world):
        shape = model.operation_model(operation).input_shape
        if shape is None or operation in ("CreateKey", "ScheduleKeyDeletion"):
            continue  # key generation is slow; deletion would leave the keys unusable
        base = _plausible(operation, world, 2)
        for member in shape.members:
            if member in shape.required_members:
                continue
            body = {k: v for k, v in base.items() if k != member}
            judged(
                world,
                lambda b=body, op=operation: world.alice.send(op, to_json(b)),
                (operation, member),
            )


# --- hostile text in every string member, nested ones included


def _set(body: dict[str, Any], path: tuple[str, ...], value: str) -> dict[str, Any]:
    """``body`` with the string at ``path`` (``[]`` a list member, ``{key}``/``{value}`` a map
    entry) replaced by ``value``, creating what is missing."""
    out = json.loads(json.dumps(body))
    node: Any = out
    for i, step in enumerate(path):
        last = i == len(path) - 1
        nxt = None if last else path[i + 1]
        if step == "[]":
            node.clear() if isinstance(node, list) else None
            child: Any = value if last else ({} if nxt not in ("[]",) else [])
            node.append(child)
            node = child
        elif step in ("{key}", "{value}"):
            if step == "{key}":
                node.clear()
                node[value] = "v"
            else:
                node.clear()
                node["k"] = value
            return out
        else:
            if last:
                node[step] = value
            else:
                default: Any = [] if nxt == "[]" else {}
                existing = node.get(step)
                node[step] = existing if isinstance(existing, type(default)) else default
                node = node[step]
    return out


TEXTS = ["\udfff", "\ud800x", "a\x00b", "\u202e\U0001f600", "", "k" * 70_000]


def test_hostile_text_in_every_string_member(world: World) -> None:
    sent = 0
    for operation in _operations(world):
        if operation in ("CreateKey", "ScheduleKeyDeletion", "DisableKey"):
            continue  # would change the keys every other request relies on (covered below)
        base = _plausible(operation, world, 3)
        for path in string_members(operation):
            for text in TEXTS:
                body = _set(base, path, text)
                judged(
                    world,
                    lambda b=body, op=operation: world.alice.send(op, to_json(b)),
                    (operation, path, text[:20]),
                )
                sent += 1
    assert sent > 500


@pytest.mark.parametrize("text", HOSTILE_TEXT, ids=lambda t: repr(t[:12]))
def test_hostile_text_where_keys_are_created_and_scheduled_for_deletion(
    world: World, text: str
) -> None:
    for operation, body in [
        ("CreateKey", {"Description": text, "Tags": [{"TagKey": text, "TagValue": text}]}),
        ("CreateKey", {"Policy": text}),
        ("ScheduleKeyDeletion", {"KeyId": text, "PendingWindowInDays": 7}),
        ("DisableKey", {"KeyId": text}),
    ]:
        answer = judged(world, lambda b=body, op=operation: world.alice.send(op, to_json(b)), body)
        if answer.status == 200 and operation == "CreateKey":  # a valid key: keep state small
            key = json.loads(answer.body)["KeyMetadata"]["KeyId"]
            world.kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)


# --- bodies that are not the right JSON

DEEP = 50_000
BAD_BODIES: list[tuple[str, bytes]] = [
    ("not-json", b"{not json"),
    ("empty-object-key", b'{"":1}'),
    ("array", b"[]"),
    ("string", b'"KeyId"'),
    ("number", b"1e309"),
    ("nan", b'{"Limit": NaN}'),
    ("bom", b'\xef\xbb\xbf{"Limit": 1}'),
    ("utf16", '{"Limit": 1}'.encode("utf-16")),
    ("invalid-utf8", b'{"KeyId": "\xff\xfe"}'),
    ("lone-surrogate-utf8", b'{"KeyId": "\xed\xa0\x80"}'),
    ("deep-array", b'{"KeyId": ' + b"[" * DEEP + b"]" * DEEP + b"}"),
    ("deep-object", b'{"KeyId": ' + b'{"a":' * DEEP + b"1" + b"}" * DEEP + b"}"),
    ("huge-int", b'{"Limit": ' + b"9" * 5000 + b"}"),
    ("huge-negative", b'{"Limit": -' + b"9" * 30 + b"}"),
    ("float-limit", b'{"Limit": 1.5}'),
    ("bool-limit", b'{"Limit": true}'),
    ("string-limit", b'{"Limit": "10"}'),
    ("object-limit", b'{"Limit": {}}'),
    ("duplicate-members", b'{"Limit": 1, "Limit": "x"}'),
    ("nul-byte", b'{"Limit": 1}\x00'),
    ("trailing", b'{"Limit": 1} {}'),
    ("control-in-string", b'{"Marker": "a\x01b"}'),
]


@pytest.mark.parametrize(("name", "body"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_bodies_that_are_not_the_right_json(world: World, name: str, body: bytes) -> None:
    for operation in ("ListKeys", "ListAliases", "Encrypt"):
        answer = judged(world, lambda op=operation: world.alice.send(op, body), (operation, name))
        assert answer.error in ("SerializationException", "ValidationException", None), answer


BAD_BLOBS = ['"not base64!"', '"YQ"', '"===="', '"YQ==="', "12", '["YQ=="]', '"' + "A" * 9000 + '"']


@pytest.mark.parametrize("blob", BAD_BLOBS)
def test_bad_base64_blobs(world: World, blob: str) -> None:
    for operation, template in [
        ("Encrypt", '{"KeyId":"alias/robust","Plaintext":%s}'),
        ("Decrypt", '{"CiphertextBlob":%s}'),
        (
            "Verify",
            '{"KeyId":"alias/robust","Message":%s,"Signature":%s,"SigningAlgorithm":"ECDSA_SHA_256"}',
        ),
    ]:
        body = (template.replace("%s", blob)).encode()
        answer = judged(world, lambda op=operation, b=body: world.alice.send(op, b), operation)
        assert answer.status != 200, answer


# --- the transport: headers, framing, sizes


def _raw_exchange(world: World, request: bytes) -> bytes:
    host, port = world.server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=15) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_odd_headers_are_refused_or_ignored(world: World) -> None:
    body = b"{}"
    for extra in [
        {"Content-Type": "text/plain"},
        {
            "Content-Type": "application/x-amz-json-1.1; charset=\udfff".encode(
                "utf-8", "replace"
            ).decode()
        },
        {"X-Amz-Target": "TrentService.ListKeys, TrentService.ScheduleKeyDeletion"},
        {"X-Amz-Target": "TrentService.ListKeys\x7f"},
        {"X-Amz-Date": "99999999T999999Z"},
        {"X-Amz-Date": "20260230T000000Z"},
        {"Authorization": "AWS4-HMAC-SHA256 Credential=\u00e9/\u00e9"},
        {"Authorization": "AWS4-HMAC-SHA256 " + "Credential=a," * 2000},
        {"X-Amz-Security-Token": "x" * 10_000},
        {"Host": ""},
    ]:
        answer = judged(world, lambda e=extra: world.alice.send("ListKeys", body, e), extra)
        assert answer.status != 500


def test_a_denied_caller_is_recorded(world: World) -> None:
    answer = judged(
        world,
        lambda: world.nobody.send("DescribeKey", to_json({"KeyId": world.symmetric})),
        "nobody",
    )
    assert answer.error == "AccessDeniedException"


@pytest.mark.parametrize(
    ("name", "request_bytes", "status"),
    [
        (
            "chunked",
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b"X-Amz-Target: TrentService.ListKeys\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
            403,  # read whole, then refused: unsigned (MissingAuthenticationTokenException)
        ),
        (
            "chunked-oversized",
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b"X-Amz-Target: TrentService.ListKeys\r\n\r\n"
            + b"".join(b"10000\r\n" + b" " * 0x10000 + b"\r\n" for _ in range(10))
            + b"0\r\n\r\n",
            413,
        ),
        (
            "declared-oversized",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n",
            None,  # refused by the parser or by the app; either way not a 500
        ),
        ("http-1.0", b"POST / HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}", 400),
        ("get-with-body", b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", 400),
        (
            "absolute-uri",
            b"POST http://x/ HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
            None,
        ),
        ("dotted-path", b"POST /../ HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", None),
        ("encoded-path", b"POST /%00 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", 404),
        (
            "latin1-header",
            b"POST / HTTP/1.1\r\nHost: \xe9\xff\r\nContent-Length: 2\r\n\r\n{}",
            None,
        ),
        (
            "expect-continue",
            b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n{}",
            None,
        ),
        ("garbage", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(64), 400),
    ],
)
def test_http_framing(world: World, name: str, request_bytes: bytes, status: int | None) -> None:
    before = world.snapshot()
    answer = _raw_exchange(world, request_bytes)
    head = answer.split(b"\r\n", 1)[0]
    assert b" 500 " not in head, (name, answer[:500])
    if status is not None:
        assert head.startswith(b"HTTP/1.") and f" {status} ".encode() in head, (name, answer[:500])
    assert_unchanged(world, before, name)
    assert world.kms.list_keys()["Keys"]  # and the server still serves


# --- a fixed-seed stream of model-driven random requests


def test_model_driven_random_requests(world: World) -> None:
    rng = random.Random(20261206)
    operations = [op for op in _operations(world) if op != "CreateKey"]  # keygen is slow
    for _ in range(400):
        operation = rng.choice(operations)
        body = body_for(operation, rng, world.known, rng.choice([0.05, 0.2, 0.5]))
        judged(world, lambda op=operation, b=body: world.alice.send(op, b), (operation, body[:300]))
