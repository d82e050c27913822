"""Issue 12 item 7: an encryption context whose keys differ only in case (``team``, ``TEAM``).

Policies and grant constraints match encryption-context key names case-insensitively, so such a
context used to let whichever twin came last in the JSON decide. Now it is refused
(ValidationException) in either member order, before any decision or crypto; a grant
constraint holding twins needs both values at once, whatever its member order.
"""

from __future__ import annotations

from typing import Any

import pytest

from kmspolicy import KMS
from kmspolicy.authz import Caller, Grant, Request
from kmspolicy.errors import ValidationException
from tests.kms.principals import ACCOUNT, BOB, ROOT, policy, raises_code

KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/k1"
# both member orders: the refusal (and any decision) must not depend on which comes last
TWINS = [{"team": "red", "TEAM": "blue"}, {"TEAM": "blue", "team": "red"}]


@pytest.fixture
def bob(service: KMS) -> Any:
    return service.client(BOB)


@pytest.fixture
def blue_only_key(client: Any) -> str:
    """Bob may encrypt only under ``team=blue``."""
    doc = policy(
        {"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*"},
        {
            "Effect": "Allow",
            "Principal": {"AWS": BOB},
            "Action": ["kms:Encrypt", "kms:Decrypt"],
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:EncryptionContext:team": "blue"}},
        },
    )
    return str(client.create_key(Policy=doc)["KeyMetadata"]["KeyId"])


@pytest.mark.parametrize("context", TWINS)
def test_condition_cannot_be_steered_by_member_order(
    bob: Any, blue_only_key: str, context: dict[str, str]
) -> None:
    bob.encrypt(KeyId=blue_only_key, Plaintext=b"p", EncryptionContext={"team": "blue"})
    with raises_code("ValidationException") as info:
        bob.encrypt(KeyId=blue_only_key, Plaintext=b"p", EncryptionContext=context)
    message = info.value.response["Error"]["Message"]
    assert "differ only in case" in message
    assert "red" not in message and "blue" not in message  # the caller's values are not echoed


@pytest.mark.parametrize("context", TWINS)
def test_decrypt_and_grant_constraints_refuse_twins(
    client: Any, key_id: str, context: dict[str, str]
) -> None:
    blob = client.encrypt(KeyId=key_id, Plaintext=b"p", EncryptionContext={"team": "red"})
    with raises_code("ValidationException"):
        client.decrypt(CiphertextBlob=blob["CiphertextBlob"], EncryptionContext=context)
    for kind in ("EncryptionContextEquals", "EncryptionContextSubset"):
        with raises_code("ValidationException"):
            client.create_grant(
                KeyId=key_id,
                GranteePrincipal=BOB,
                Operations=["Encrypt"],
                Constraints={kind: context},
            )
    assert client.list_grants(KeyId=key_id)["Grants"] == []


@pytest.mark.parametrize("context", TWINS)
def test_request_refuses_twins(context: dict[str, str]) -> None:
    caller = Caller.from_arn(BOB)
    with pytest.raises(ValidationException):
        Request(
            caller,
            "kms:Encrypt",
            KEY,
            {f"kms:EncryptionContext:{k}": v for k, v in context.items()},
        )


@pytest.mark.parametrize("constraint", TWINS)
@pytest.mark.parametrize("kind", ["equals", "subset"])
def test_twin_constraint_needs_both_values(constraint: dict[str, str], kind: str) -> None:
    grant = Grant(
        "g1",
        KEY,
        BOB,
        frozenset({"Encrypt"}),
        **{f"encryption_context_{kind}": constraint},  # type: ignore[arg-type]
    )
    for ec in ({"team": "red"}, {"TEAM": "blue"}, {"team": "blue"}, {"Team": "red"}):
        request = Request(
            Caller.from_arn(BOB),
            "kms:Encrypt",
            KEY,
            {f"kms:EncryptionContext:{k}": v for k, v in ec.items()},
        )
        assert not grant.allows(request), ec
    agreeing = Grant(
        "g2", KEY, BOB, frozenset({"Encrypt"}), encryption_context_equals={"team": "x", "TEAM": "x"}
    )
    request = Request(Caller.from_arn(BOB), "kms:Encrypt", KEY, {"kms:EncryptionContext:Team": "x"})
    assert agreeing.allows(request)
