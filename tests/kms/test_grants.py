"""Grants through the boto3 client: create, use with a token, constraints, retire, revoke."""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

import pytest

from kmspolicy import KMS
from kmspolicy.authz.grants import (
    GRANT_OPERATIONS,
    GRANT_OPERATIONS_BY_KEY_USAGE,
    SYMMETRIC_KEY_GRANT_OPERATIONS,
)
from kmspolicy.crypto.specs import KeyUsage
from tests.kms.principals import ACCOUNT, ALICE, BOB, MALLORY, OTHER_ACCOUNT, raises_code


@pytest.fixture
def bob(service: KMS) -> Any:
    return service.client(BOB)


def test_grant_lets_grantee_use_key_with_and_without_token(
    client: Any, bob: Any, key_id: str
) -> None:
    with raises_code("AccessDeniedException"):
        bob.encrypt(KeyId=key_id, Plaintext=b"p")
    grant = client.create_grant(
        KeyId=key_id, GranteePrincipal=BOB, Operations=["Encrypt", "Decrypt"]
    )
    blob = bob.encrypt(KeyId=key_id, Plaintext=b"p", GrantTokens=[grant["GrantToken"]])[
        "CiphertextBlob"
    ]
    assert bob.decrypt(CiphertextBlob=blob)["Plaintext"] == b"p"  # immediately consistent
    with raises_code("AccessDeniedException"):
        bob.generate_data_key(KeyId=key_id, KeySpec="AES_256")  # not a granted operation
    with raises_code("AccessDeniedException"):
        bob.describe_key(KeyId=key_id)


def test_unknown_grant_token_is_invalid(client: Any, key_id: str) -> None:
    with pytest.raises(client.exceptions.InvalidGrantTokenException):
        client.encrypt(KeyId=key_id, Plaintext=b"p", GrantTokens=["not-a-token"])


def _forged(token: str, nonce: str) -> str:
    # our token layout: prefix, then url-safe base64 of "key ARN\ngrant id\nnonce"
    prefix, _, body = token.partition(".")
    key_arn, grant_id, _ = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).split(b"\n")
    raw = b"\n".join([key_arn, grant_id, nonce.encode()])
    return f"{prefix}." + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_grant_token_must_carry_the_grants_nonce(client: Any, bob: Any, key_id: str) -> None:
    grant = client.create_grant(KeyId=key_id, GranteePrincipal=BOB, Operations=["Encrypt"])
    token = grant["GrantToken"]
    bob.encrypt(KeyId=key_id, Plaintext=b"p", GrantTokens=[token])
    forged = _forged(token, "00" * 16)  # the grant id is public (ListGrants); the nonce is not
    with pytest.raises(bob.exceptions.InvalidGrantTokenException):
        bob.encrypt(KeyId=key_id, Plaintext=b"p", GrantTokens=[forged])
    with pytest.raises(client.exceptions.InvalidGrantTokenException):
        client.retire_grant(GrantToken=forged)
    assert client.list_grants(KeyId=key_id)["Grants"]  # the forged retire changed nothing
    client.retire_grant(GrantToken=token)
    assert client.list_grants(KeyId=key_id)["Grants"] == []


def test_token_of_a_revoked_grant_is_invalid(client: Any, bob: Any, key_id: str) -> None:
    grant = client.create_grant(KeyId=key_id, GranteePrincipal=BOB, Operations=["Encrypt"])
    client.revoke_grant(KeyId=key_id, GrantId=grant["GrantId"])
    with pytest.raises(bob.exceptions.InvalidGrantTokenException):
        bob.encrypt(KeyId=key_id, Plaintext=b"p", GrantTokens=[grant["GrantToken"]])


def test_idempotent_create_grant_returns_a_token_that_still_works(
    client: Any, bob: Any, key_id: str
) -> None:
    args = {"KeyId": key_id, "GranteePrincipal": BOB, "Operations": ["Encrypt"], "Name": "n"}
    first, again = client.create_grant(**args), client.create_grant(**args)
    assert first["GrantId"] == again["GrantId"]
    for token in (first["GrantToken"], again["GrantToken"]):
        bob.encrypt(KeyId=key_id, Plaintext=b"p", GrantTokens=[token])


def test_grant_stored_without_a_nonce_accepts_its_tokens(
    service: KMS, client: Any, bob: Any, key_id: str
) -> None:
    # grants written before nonces were kept load with an empty one: their tokens are checked
    # by key ARN and grant id only, as they were then
    grant = client.create_grant(KeyId=key_id, GranteePrincipal=BOB, Operations=["Encrypt"])
    arn = client.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
    with service.store.transaction() as tx:
        record = tx.get_grant(arn, grant["GrantId"])
        assert record is not None and record.token_nonce
        tx.put_grant(dataclasses.replace(record, token_nonce=""))
    old_token = _forged(grant["GrantToken"], "ab" * 12)
    bob.encrypt(KeyId=key_id, Plaintext=b"p", GrantTokens=[old_token])


def test_encryption_context_constraints(client: Any, bob: Any, key_id: str) -> None:
    client.create_grant(
        KeyId=key_id,
        GranteePrincipal=BOB,
        Operations=["Encrypt"],
        Constraints={"EncryptionContextSubset": {"tenant": "a"}},
    )
    bob.encrypt(KeyId=key_id, Plaintext=b"p", EncryptionContext={"tenant": "a", "x": "y"})
    with raises_code("AccessDeniedException"):
        bob.encrypt(KeyId=key_id, Plaintext=b"p", EncryptionContext={"tenant": "b"})
    with raises_code("AccessDeniedException"):
        bob.encrypt(KeyId=key_id, Plaintext=b"p")


def test_retire_by_retiring_principal(service: KMS, client: Any, bob: Any, key_id: str) -> None:
    grant = client.create_grant(
        KeyId=key_id, GranteePrincipal=BOB, Operations=["Encrypt"], RetiringPrincipal=ALICE
    )
    retirable = service.client(ALICE).list_retirable_grants(RetiringPrincipal=ALICE)["Grants"]
    assert [g["GrantId"] for g in retirable] == [grant["GrantId"]]
    with raises_code("AccessDeniedException"):  # grantee without RetireGrant
        bob.retire_grant(GrantToken=grant["GrantToken"])
    service.client(ALICE).retire_grant(GrantToken=grant["GrantToken"])
    with raises_code("AccessDeniedException"):
        bob.encrypt(KeyId=key_id, Plaintext=b"p")
    assert client.list_grants(KeyId=key_id)["Grants"] == []


def test_grantee_with_retire_grant_may_retire_by_key_and_grant_id(
    client: Any, bob: Any, key_id: str
) -> None:
    arn = client.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
    grant = client.create_grant(KeyId=key_id, GranteePrincipal=BOB, Operations=["RetireGrant"])
    bob.retire_grant(KeyId=arn, GrantId=grant["GrantId"])
    assert client.list_grants(KeyId=key_id)["Grants"] == []


def test_revoke_grant_and_list(client: Any, bob: Any, key_id: str) -> None:
    grant = client.create_grant(
        KeyId=key_id, GranteePrincipal=BOB, Operations=["Encrypt"], Name="build"
    )
    again = client.create_grant(
        KeyId=key_id, GranteePrincipal=BOB, Operations=["Encrypt"], Name="build"
    )
    assert again["GrantId"] == grant["GrantId"]  # Name makes CreateGrant idempotent
    (entry,) = client.list_grants(KeyId=key_id)["Grants"]
    assert entry["GranteePrincipal"] == BOB and entry["Operations"] == ["Encrypt"]
    assert entry["IssuingAccount"] == f"arn:aws:iam::{ACCOUNT}:root"
    with raises_code("AccessDeniedException"):
        bob.revoke_grant(KeyId=key_id, GrantId=grant["GrantId"])
    client.revoke_grant(KeyId=key_id, GrantId=grant["GrantId"])
    with raises_code("AccessDeniedException"):
        bob.encrypt(KeyId=key_id, Plaintext=b"p")


def test_grant_operations_must_suit_the_key(client: Any) -> None:
    signer = client.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"][
        "KeyId"
    ]
    with pytest.raises(client.exceptions.ClientError) as err:
        client.create_grant(KeyId=signer, GranteePrincipal=BOB, Operations=["Encrypt"])
    assert err.value.response["Error"]["Code"] == "ValidationException"


@pytest.mark.parametrize(
    ("create", "allowed", "refused"),
    [
        ({}, "GenerateDataKeyPair", "GetPublicKey"),
        ({"KeySpec": "RSA_2048", "KeyUsage": "ENCRYPT_DECRYPT"}, "GetPublicKey", "GenerateDataKey"),
        ({"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"}, "Sign", "Decrypt"),
        ({"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"}, "VerifyMac", "GetPublicKey"),
        ({"KeySpec": "ECC_NIST_P256", "KeyUsage": "KEY_AGREEMENT"}, "DeriveSharedSecret", "Sign"),
    ],
    ids=["symmetric", "rsa-encrypt", "ecc-sign", "hmac", "ecc-agreement"],
)
def test_grant_operations_by_key_usage(
    client: Any, create: dict[str, str], allowed: str, refused: str
) -> None:
    key = client.create_key(**create)["KeyMetadata"]["KeyId"]
    ops = [allowed, "DescribeKey", "RetireGrant", "CreateGrant"]
    client.create_grant(KeyId=key, GranteePrincipal=BOB, Operations=ops)
    with raises_code("ValidationException"):
        client.create_grant(KeyId=key, GranteePrincipal=BOB, Operations=[refused])


def test_grant_operation_tables_use_key_usage_and_grant_operation_names() -> None:
    assert set(GRANT_OPERATIONS_BY_KEY_USAGE) <= {u.value for u in KeyUsage}
    for operations in GRANT_OPERATIONS_BY_KEY_USAGE.values():
        assert operations <= GRANT_OPERATIONS
    assert SYMMETRIC_KEY_GRANT_OPERATIONS <= GRANT_OPERATIONS


def test_grant_to_another_account_allows_cross_account_use(
    service: KMS, client: Any, key_id: str
) -> None:
    arn = client.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
    mallory = service.client(MALLORY)
    with raises_code("AccessDeniedException"):
        mallory.encrypt(KeyId=arn, Plaintext=b"p")
    client.create_grant(KeyId=key_id, GranteePrincipal=MALLORY, Operations=["Encrypt"])
    assert mallory.encrypt(KeyId=arn, Plaintext=b"p")["KeyId"] == arn
    assert OTHER_ACCOUNT in MALLORY


def test_child_grant_cannot_widen_its_parent(client: Any, bob: Any, key_id: str) -> None:
    client.create_grant(KeyId=key_id, GranteePrincipal=BOB, Operations=["CreateGrant", "Encrypt"])
    bob.create_grant(KeyId=key_id, GranteePrincipal=ALICE, Operations=["Encrypt"])
    with raises_code("AccessDeniedException"):
        bob.create_grant(KeyId=key_id, GranteePrincipal=ALICE, Operations=["Decrypt"])


def test_list_retirable_grants_refuses_another_accounts_principal(
    service: KMS, client: Any, key_id: str
) -> None:
    """Issue 12 item 3: mallory (another account, kms:* in her IAM) asked for the grants
    retirable by alice and got their key ARNs, grantees, names and constraint values."""
    client.create_grant(
        KeyId=key_id,
        GranteePrincipal=BOB,
        Operations=["Decrypt"],
        RetiringPrincipal=ALICE,
        Name="payroll",
        Constraints={"EncryptionContextEquals": {"tenant": "secret-tenant"}},
    )
    mallory = service.client(MALLORY)
    with raises_code("AccessDeniedException") as info:
        mallory.list_retirable_grants(RetiringPrincipal=ALICE)
    message = info.value.response["Error"]["Message"]
    assert key_id not in message and "secret-tenant" not in message
    with raises_code("AccessDeniedException"):  # the account root is another principal too
        mallory.list_retirable_grants(RetiringPrincipal=f"arn:aws:iam::{ACCOUNT}:root")
    # her own account's principal: the grants she may retire, on keys of any account
    shared = client.create_grant(
        KeyId=key_id, GranteePrincipal=BOB, Operations=["Encrypt"], RetiringPrincipal=MALLORY
    )
    listed = mallory.list_retirable_grants(RetiringPrincipal=MALLORY)["Grants"]
    assert [g["GrantId"] for g in listed] == [shared["GrantId"]]


def test_list_retirable_grants_lists_this_regions_grants(
    service: KMS, client: Any, key_id: str
) -> None:
    client.create_grant(
        KeyId=key_id, GranteePrincipal=BOB, Operations=["Encrypt"], RetiringPrincipal=ALICE
    )
    elsewhere = KMS(store=service.store, account=ACCOUNT, region="eu-west-1")
    assert elsewhere.list_retirable_grants(RetiringPrincipal=ALICE)["Grants"] == []
    assert len(service.list_retirable_grants(RetiringPrincipal=ALICE)["Grants"]) == 1
