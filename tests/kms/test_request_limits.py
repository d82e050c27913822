"""Size limits on the request members that feed authorization, enforced before it (issue 12
item 2): one request cannot make the decision point work on megabytes of context."""

from __future__ import annotations

from typing import Any

import pytest

from kmspolicy import KMS
from kmspolicy.errors import ValidationException
from kmspolicy.kms import wire
from kmspolicy.kms.pipeline import Pipeline
from tests.kms.principals import BOB, raises_code

LIMIT = wire.DOCUMENTED_LIMITS["EncryptionContextType"]["max_bytes"]


@pytest.fixture
def no_decisions(monkeypatch: pytest.MonkeyPatch) -> None:
    def decide(*_args: Any, **_kw: Any) -> None:
        raise AssertionError("a policy was evaluated for a request over the size limits")

    monkeypatch.setattr(Pipeline, "decide", decide)


def test_a_60_kb_context_value_is_refused_before_any_policy_is_evaluated(
    service: KMS, key_id: str, no_decisions: None
) -> None:
    bob = service.client(BOB)  # the policies deny him: the old attack made them match 60 KB
    with raises_code("ValidationException") as info:
        bob.encrypt(KeyId=key_id, Plaintext=b"p", EncryptionContext={"team": "a" * 60_000})
    message = info.value.response["Error"]["Message"]
    assert message == (
        "1 validation error detected: Value at 'encryptionContext' failed to satisfy "
        f"constraint: Member must have keys and values of total length less than or equal to "
        f"{LIMIT} bytes"
    )
    assert "aaaa" not in message  # the value is not echoed


@pytest.mark.parametrize(
    ("operation", "params"),
    [
        ("Decrypt", {"CiphertextBlob": b"x" * 32, "EncryptionContext": {"k": "v" * 9000}}),
        (
            "GenerateDataKey",
            {"KeyId": "k", "KeySpec": "AES_256", "EncryptionContext": {"k" * 9000: "v"}},
        ),
        (
            "ReEncrypt",
            {
                "CiphertextBlob": b"x" * 32,
                "DestinationKeyId": "k",
                "DestinationEncryptionContext": {f"k{i}": "v" * 100 for i in range(90)},
            },
        ),
        (
            "CreateGrant",
            {
                "KeyId": "k",
                "GranteePrincipal": BOB,
                "Operations": ["Decrypt"],
                "Constraints": {"EncryptionContextSubset": {"k": "é" * 4097}},  # 8,194 bytes
            },
        ),
        ("CreateKey", {"Tags": [{"TagKey": f"t{i}", "TagValue": ""} for i in range(51)]}),
        ("UntagResource", {"KeyId": "k", "TagKeys": [f"t{i}" for i in range(51)]}),
        ("CreateAlias", {"AliasName": "alias/" + "a" * 251, "TargetKeyId": "k"}),
        (
            "CreateGrant",
            {"KeyId": "k", "GranteePrincipal": BOB, "Operations": ["Decrypt"], "Name": "n" * 257},
        ),
        ("Encrypt", {"KeyId": "k", "Plaintext": b"p", "GrantTokens": ["t"] * 11}),
        (
            "CreateGrant",  # kms:GrantOperations: at most one entry per operation name
            {"KeyId": "k", "GranteePrincipal": BOB, "Operations": ["Decrypt"] * 10_000},
        ),
    ],
)
def test_every_operation_checks_the_limits_before_authorization(
    service: KMS, operation: str, params: dict[str, Any], no_decisions: None
) -> None:
    with pytest.raises(ValidationException):
        getattr(service.as_principal(BOB), _snake(operation))(**params)


def test_limits_hold_exactly_at_the_boundary(service: KMS, client: Any, key_id: str) -> None:
    at_limit = {"k": "v" * (LIMIT - 1)}
    blob = client.encrypt(KeyId=key_id, Plaintext=b"p", EncryptionContext=at_limit)
    out = client.decrypt(CiphertextBlob=blob["CiphertextBlob"], EncryptionContext=at_limit)
    assert out["Plaintext"] == b"p"
    with raises_code("ValidationException"):
        client.encrypt(KeyId=key_id, Plaintext=b"p", EncryptionContext={"k": "é" * LIMIT})


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")
