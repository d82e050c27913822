"""Review finding (denial of service): every request tested every grant of its key, even when
the key policy allowed it, so one key's thousands of grants made each request cost milliseconds
on the event loop. A request now tests only the grants naming its caller, its role or its
account: the per-grant checks it makes do not grow with the grants naming other principals.
Counted, not timed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from kmspolicy import KMS
from kmspolicy.authz import Grant
from kmspolicy.authz import kms as authz_kms
from tests.kms.principals import ACCOUNT, BOB, raises_code


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The per-grant checks the decisions make, by grant id."""
    made: list[str] = []
    allows, account = Grant.allows, authz_kms._account_grant_allows

    def counted_allows(grant: Grant, request: Any) -> bool:
        made.append(grant.grant_id)
        return allows(grant, request)

    def counted_account(grant: Grant, request: Any) -> bool:
        made.append(grant.grant_id)
        return account(grant, request)

    monkeypatch.setattr(Grant, "allows", counted_allows)
    monkeypatch.setattr(authz_kms, "_account_grant_allows", counted_account)
    yield made


def _checks_per_request(service: KMS, checks: list[str], others: int) -> tuple[int, int]:
    """The checks of one Encrypt by bob (his grant decides) and one by root (the key policy
    allows), with ``others`` grants to other users on the key."""
    root = service.client()
    key_id = root.create_key()["KeyMetadata"]["KeyId"]
    root.create_grant(
        KeyId=key_id,
        GranteePrincipal=BOB,
        Operations=["Encrypt"],
        Constraints={"EncryptionContextSubset": {"k": "bob"}},
    )
    for i in range(others):
        root.create_grant(
            KeyId=key_id,
            GranteePrincipal=f"arn:aws:iam::{ACCOUNT}:user/u{i}",
            Operations=["Encrypt"],
            Constraints={"EncryptionContextSubset": {"k": f"v{i}"}},
        )
    bob = service.client(BOB)
    checks.clear()
    with raises_code("AccessDeniedException"):  # a context no memoised decision answers
        bob.encrypt(KeyId=key_id, Plaintext=b"p", EncryptionContext={"k": f"x{others}"})
    by_bob = len(checks)
    checks.clear()
    root.encrypt(KeyId=key_id, Plaintext=b"p", EncryptionContext={"k": f"y{others}"})
    return by_bob, len(checks)


def test_a_request_checks_only_the_grants_naming_its_caller(
    service: KMS, checks: list[str]
) -> None:
    few = _checks_per_request(service, checks, 2)
    many = _checks_per_request(service, checks, 200)
    assert few == many
    assert few[0] >= 1  # bob's own grant was checked (and refused his context)
    assert few[1] == 0  # root is named by none
