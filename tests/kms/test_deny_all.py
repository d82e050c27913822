"""Authorization comes first: a deny-all key policy refuses every key operation of the table,
and a deny-all SCP refuses the operations that have no key. Parametrized over the registry, so
an operation added without a sample here fails ``test_every_operation_is_covered``."""

from __future__ import annotations

from typing import Any

import pytest

from kmspolicy import KMS, AccountPolicies, Identities
from kmspolicy.kms.implemented import load_operations
from tests.kms.operation_samples import (
    DENY_ALL,
    KEY_OPERATIONS,
    KEYLESS_OPERATIONS,
    fill_placeholders,
    snake,
)
from tests.kms.principals import ACCOUNT, BOB, raises_code


def test_every_operation_is_covered() -> None:
    assert set(KEY_OPERATIONS) | set(KEYLESS_OPERATIONS) == set(load_operations())


@pytest.fixture
def locked(client: Any) -> dict[str, Any]:
    """A key whose policy denies everything to everyone, with an alias, a grant, a blob."""
    arn = client.create_key()["KeyMetadata"]["Arn"]
    client.create_alias(AliasName="alias/existing", TargetKeyId=arn)
    grant = client.create_grant(KeyId=arn, GranteePrincipal=BOB, Operations=["Encrypt"])
    blob = client.encrypt(KeyId=arn, Plaintext=b"secret")["CiphertextBlob"]
    client.put_key_policy(KeyId=arn, Policy=DENY_ALL, BypassPolicyLockoutSafetyCheck=True)
    return {"{key}": arn, "{blob}": blob, "{grant}": grant["GrantId"]}


def _state(service: KMS, arn: str) -> tuple[object, ...]:
    """Everything a request could change about the locked key: record, grants, aliases."""
    with service.store.transaction(readonly=True) as tx:
        return (
            tx.get_key(arn),
            tuple(tx.list_grants(arn)),
            tuple(tx.list_aliases(ACCOUNT, "us-east-1")),
        )


@pytest.mark.parametrize("operation", sorted(KEY_OPERATIONS))
def test_deny_all_key_policy_refuses(
    service: KMS, client: Any, locked: dict[str, Any], operation: str
) -> None:
    params = fill_placeholders(KEY_OPERATIONS[operation], locked)
    before = _state(service, locked["{key}"])
    with raises_code("AccessDeniedException"):
        getattr(client, snake(operation))(**params)
    # and nothing changed: the same record (state, policy, material), grants and aliases
    assert _state(service, locked["{key}"]) == before


@pytest.mark.parametrize("operation", sorted(KEYLESS_OPERATIONS))
def test_deny_all_scp_refuses_keyless_operations(clock: Any, operation: str) -> None:
    identities = Identities(
        accounts={ACCOUNT: AccountPolicies.of(scps=[DENY_ALL.replace('"Principal": "*", ', "")])}
    )
    service = KMS(clock=clock, account=ACCOUNT, identities=identities)
    with raises_code("AccessDeniedException"):
        getattr(service.client(), snake(operation))(**KEYLESS_OPERATIONS[operation])


def test_denied_requests_leave_no_trace(service: KMS, client: Any, locked: dict[str, Any]) -> None:
    for operation in ("ScheduleKeyDeletion", "DisableKey", "RevokeGrant", "DeleteAlias"):
        with raises_code("AccessDeniedException"):
            getattr(client, snake(operation))(
                **fill_placeholders(KEY_OPERATIONS[operation], locked)
            )
    with service.store.transaction() as tx:
        record = tx.get_key(locked["{key}"])
        assert record is not None and record.key_state.value == "Enabled"
        assert [g.grant_id for g in tx.list_grants(record.arn)] == [locked["{grant}"]]
        assert [a.name for a in tx.list_aliases(ACCOUNT, "us-east-1")] == ["alias/existing"]
