"""Issue 12 item 8: malformed requests that answered HTTP 500, replayed against a real
``kmspolicy serve`` on SQLite and on PostgreSQL. Each must be an AWS error, change nothing a
caller can observe, and leave an audit record whenever a decision was made."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pg_scratch import drop_schemas, scratch_url

from fuzz.requests import to_json
from tests.server.conftest import Server, start_server, stop_server
from tests.server.hostile import Sender, audit_records, check_answer, snapshot

pytestmark = pytest.mark.server

CORPUS = Path(__file__).parent.parent / "fuzzing" / "corpus"  # the fuzz campaign's finds
ALICE_ARN = "arn:aws:iam::111111111111:user/alice"


class Seeded:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.kms = server.client()
        self.key = self.kms.create_key()["KeyMetadata"]["KeyId"]
        self.external = self.kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
        self.kms.create_alias(AliasName="alias/seeded", TargetKeyId=self.key)
        self.grant = self.kms.create_grant(
            KeyId=self.key,
            GranteePrincipal=ALICE_ARN,
            Operations=["Encrypt"],
            RetiringPrincipal=ALICE_ARN,
        )["GrantId"]
        self.kms.tag_resource(KeyId=self.key, Tags=[{"TagKey": "team", "TagValue": "a"}])
        self.agreement = self.kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="KEY_AGREEMENT")[
            "KeyMetadata"
        ]["KeyId"]
        self.external_ecc = self.kms.create_key(
            Origin="EXTERNAL", KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY"
        )["KeyMetadata"]["KeyId"]
        self.sender = Sender(server)

    def close(self) -> None:
        self.sender.close()
        self.kms.close()


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def seeded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Seeded]:
    extra: list[str] = []
    url = None
    if request.param == "postgres":
        url = scratch_url(request.getfixturevalue("pg_schema"))  # skips if unreachable
        extra = ["--store", url]
    srv = start_server(
        tmp_path_factory.mktemp(f"kmsp-malformed-{request.param}"),
        "--request-quotas",
        "off",
        *extra,
    )
    seeded = Seeded(srv)
    try:
        yield seeded
    finally:
        seeded.close()
        assert stop_server(srv) == 0
        assert "Traceback" not in srv.access_log(), srv.access_log()[-3000:]
        if url is not None:
            drop_schemas(url.rsplit("=", 1)[1])


Body = Callable[[Seeded], bytes]


def _json(make: Callable[[Seeded], dict[str, Any]]) -> Body:
    return lambda s: to_json(make(s))


def _raw(template: str) -> Body:
    return lambda s: template.replace("KEY", s.key).replace("EXT", s.external).encode()


CASES: list[tuple[str, str, Body, str]] = [
    # optional in the botocore model, required by KMS
    (
        "reencrypt-no-ciphertext",
        "ReEncrypt",
        _json(lambda s: {"DestinationKeyId": s.key}),
        "ValidationException",
    ),
    (
        "reencrypt-ignore-ciphertext-no-source",
        "ReEncrypt",
        _json(
            lambda s: {
                "DestinationKeyId": s.key,
                "DryRun": True,
                "DryRunModifiers": ["IGNORE_CIPHERTEXT"],
            }
        ),
        "ValidationException",
    ),
    (
        "grant-no-grantee",
        "CreateGrant",
        _json(lambda s: {"KeyId": s.key, "Operations": ["Encrypt"]}),
        "ValidationException",
    ),
    # service-principal grants: AWS's rules for the members (API_CreateGrant)
    (
        "grant-service-grantee-without-source-arn",
        "CreateGrant",
        _json(
            lambda s: {
                "KeyId": s.key,
                "Operations": ["Encrypt"],
                "GranteeServicePrincipal": "logs.amazonaws.com",
                "RetiringServicePrincipal": "logs.amazonaws.com",
            }
        ),
        "ValidationException",
    ),
    (
        "grant-two-grantees",
        "CreateGrant",
        _json(
            lambda s: {
                "KeyId": s.key,
                "Operations": ["Encrypt"],
                "GranteePrincipal": ALICE_ARN,
                "GranteeServicePrincipal": "logs.amazonaws.com",
                "RetiringPrincipal": ALICE_ARN,
                "Constraints": {"SourceArn": "arn:aws:logs:us-east-1:111111111111:log-group:x"},
            }
        ),
        "ValidationException",
    ),
    # numbers that are no time
    (
        "validto-inf",
        "ImportKeyMaterial",
        _raw(
            '{"KeyId":"EXT","ImportToken":"AAAA","EncryptedKeyMaterial":"AAAA",'
            '"ExpirationModel":"KEY_MATERIAL_EXPIRES","ValidTo":1e309}'
        ),
        "ValidationException",
    ),
    (
        "validto-nan",
        "ImportKeyMaterial",
        _raw(
            '{"KeyId":"EXT","ImportToken":"AAAA","EncryptedKeyMaterial":"AAAA",'
            '"ExpirationModel":"KEY_MATERIAL_EXPIRES","ValidTo":NaN}'
        ),
        "SerializationException",
    ),
    (
        "validto-year-3-million",
        "ImportKeyMaterial",
        _raw(
            '{"KeyId":"EXT","ImportToken":"AAAA","EncryptedKeyMaterial":"AAAA",'
            '"ExpirationModel":"KEY_MATERIAL_EXPIRES","ValidTo":1e14}'
        ),
        "ValidationException",
    ),
    # lone UTF-16 surrogates, wherever a string goes
    (
        "surrogate-ec-value",
        "Encrypt",
        _raw('{"KeyId":"KEY","Plaintext":"aGk=","EncryptionContext":{"a":"\\udfff"}}'),
        "ValidationException",
    ),
    (
        "surrogate-ec-key",
        "GenerateDataKey",
        _raw('{"KeyId":"KEY","NumberOfBytes":32,"EncryptionContext":{"\\ud800":"a"}}'),
        "ValidationException",
    ),
    (
        "surrogate-tag-value-create",
        "CreateKey",
        _raw('{"Tags":[{"TagKey":"a","TagValue":"\\udfff"}]}'),
        "ValidationException",
    ),
    (
        "surrogate-tag-value",
        "TagResource",
        _raw('{"KeyId":"KEY","Tags":[{"TagKey":"a","TagValue":"\\udfff"}]}'),
        "ValidationException",
    ),
    (
        "surrogate-untag",
        "UntagResource",
        _raw('{"KeyId":"KEY","TagKeys":["\\udfff"]}'),
        "ValidationException",
    ),
    (
        "surrogate-description",
        "UpdateKeyDescription",
        _raw('{"KeyId":"KEY","Description":"\\udc00"}'),
        "ValidationException",
    ),
    (
        "surrogate-retire",
        "RetireGrant",
        _raw('{"KeyId":"KEY","GrantId":"\\udfff"}'),
        "ValidationException",
    ),
    (
        "surrogate-revoke",
        "RevokeGrant",
        _raw('{"KeyId":"KEY","GrantId":"\\udfff"}'),
        "ValidationException",
    ),
    (
        "surrogate-grant-constraint",
        "CreateGrant",
        _raw(
            '{"KeyId":"KEY","GranteePrincipal":"' + ALICE_ARN + '","Operations":["Encrypt"],'
            '"Constraints":{"EncryptionContextEquals":{"a":"\\udfff"}}}'
        ),
        "ValidationException",
    ),
    # a context key or value longer than the AAD encoding holds: refused before authorization
    (
        "huge-context-key",
        "Encrypt",
        _json(
            lambda s: {"KeyId": s.key, "Plaintext": b"hi", "EncryptionContext": {"k" * 70_000: "v"}}
        ),
        "ValidationException",
    ),
    (
        "huge-context-value",
        "GenerateDataKeyPair",
        _json(
            lambda s: {
                "KeyId": s.key,
                "KeyPairSpec": "ECC_NIST_P256",
                "EncryptionContext": {"k": "\u00e9" * 40_000},
            }
        ),
        "ValidationException",
    ),
    (
        "huge-destination-context",
        "ReEncrypt",
        _json(
            lambda s: {
                "CiphertextBlob": b"x" * 64,
                "DestinationKeyId": s.key,
                "DestinationEncryptionContext": {"k": "v" * 65_536},
            }
        ),
        "ValidationException",
    ),
    # well-formed DER of an algorithm the crypto library does not know (UnsupportedAlgorithm)
    (
        "peer-key-unknown-algorithm",
        "DeriveSharedSecret",
        _json(
            lambda s: {
                "KeyId": s.agreement,
                "KeyAgreementAlgorithm": "ECDH",
                "PublicKey": (CORPUS / "der" / "spki-unknown-algorithm").read_bytes(),
            }
        ),
        "ValidationException",
    ),
    # NUL cannot be stored in PostgreSQL text: a lookup by it finds nothing, as on SQLite
    (
        "nul-revoke",
        "RevokeGrant",
        _raw('{"KeyId":"KEY","GrantId":"a\\u0000b"}'),
        "InvalidGrantIdException",
    ),
    (
        "nul-retire",
        "RetireGrant",
        _raw('{"KeyId":"KEY","GrantId":"a\\u0000b"}'),
        "NotFoundException",
    ),
    ("nul-list-grants", "ListGrants", _raw('{"KeyId":"KEY","GrantId":"\\u0000"}'), ""),
]


@pytest.mark.parametrize(
    ("operation", "body", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_malformed_request_is_an_aws_error_and_changes_nothing(
    seeded: Seeded, operation: str, body: Body, expected: str
) -> None:
    before = snapshot(seeded.kms)
    answer = seeded.sender.send(operation, body(seeded))
    check_answer(answer, audit_records(seeded.server), operation)
    assert answer.error == (expected or None), answer
    assert snapshot(seeded.kms) == before


@pytest.mark.parametrize("found", ["pkcs8-unknown-curve", "pkcs8-ed448-oid-on-32-bytes"])
def test_imported_private_key_the_library_cannot_load_is_incorrect_material(
    seeded: Seeded, found: str
) -> None:
    from kmspolicy.crypto.wrapping import wrap_key_material

    params = seeded.kms.get_parameters_for_import(
        KeyId=seeded.external_ecc,
        WrappingAlgorithm="RSAES_OAEP_SHA_256",
        WrappingKeySpec="RSA_2048",
    )
    wrapped = wrap_key_material(
        params["PublicKey"],
        "RSAES_OAEP_SHA_256",
        (CORPUS / "der" / found).read_bytes(),
    )
    body = {
        "KeyId": seeded.external_ecc,
        "ImportToken": params["ImportToken"],
        "EncryptedKeyMaterial": wrapped,
        "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE",
    }
    before = snapshot(seeded.kms)
    answer = seeded.sender.send("ImportKeyMaterial", to_json(body))
    check_answer(answer, audit_records(seeded.server), "ImportKeyMaterial")
    assert answer.error == "IncorrectKeyMaterialException", answer
    assert snapshot(seeded.kms) == before


def test_websocket_upgrade_is_an_unknown_operation(seeded: Seeded) -> None:
    host, port = seeded.server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        answer = sock.recv(4096)
        while b'"}' not in answer and (more := sock.recv(4096)):  # the body may come apart
            answer += more
    assert answer.startswith(b"HTTP/1.1 400 "), answer
    assert b'"__type": "UnknownOperationException"' in answer
    assert seeded.kms.list_keys()["Keys"]  # and the server still serves


def test_a_server_that_upgrades_gets_a_refusal_not_a_500() -> None:
    # KmsApp embedded under an ASGI server that does speak WebSocket: the handshake is refused
    import asyncio

    from kmspolicy.server.app import KmsApp

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    class _Nothing:
        def operations(self) -> frozenset[str]:
            return frozenset()

    app = KmsApp(_Nothing(), None, None)  # type: ignore[arg-type]
    asyncio.run(app({"type": "websocket", "path": "/", "headers": []}, receive, send))
    assert sent == [{"type": "websocket.close", "code": 1008}]
