"""Operations of the KMS model that kmspolicy does not implement are authorized first, like any
other (their action and resource from the operation table), and only then answered
UnsupportedOperationException; the decision is audited either way. The same over HTTP:
tests/server/test_unimplemented.py.

Every operation of botocore's model is implemented today, so the table's own unimplemented list
is empty; these tests unbind two operations in one service (a key operation and a keyless one,
``STANDINS``) so the path an operation the model gains would take is exercised all the same."""

from __future__ import annotations

import dataclasses

import pytest

from kmspolicy import KMS, Identities, Identity
from kmspolicy.kms.clock import FakeClock
from kmspolicy.optable import OPERATIONS, Resource
from tests.kms.audit_log import RecordedAudit
from tests.kms.operation_samples import CASES, SAMPLES, STANDINS, fill_key, snake
from tests.kms.principals import ACCOUNT, ALICE, BOB, KMS_ADMIN, raises_code

UNIMPLEMENTED = sorted(name for name, op in OPERATIONS.items() if not op.implemented)


@pytest.fixture
def audit() -> RecordedAudit:
    return RecordedAudit()


@pytest.fixture
def kms(audit: RecordedAudit) -> KMS:
    identities = Identities([Identity.of(ALICE, policies=[KMS_ADMIN]), Identity.of(BOB)])
    kms = KMS(clock=FakeClock(), account=ACCOUNT, identities=identities, audit=audit)
    # the handlers of the stand-ins removed, as the table's unimplemented entries have none
    pipeline = kms._pipeline
    pipeline.operations = {
        name: dataclasses.replace(op, handler=None) if name in STANDINS else op
        for name, op in pipeline.operations.items()
    }
    return kms


def test_the_stand_ins_are_unbound(kms: KMS) -> None:
    assert not set(STANDINS) & kms.operations
    assert {"CreateKey", "Encrypt"} <= kms.operations


def test_every_unimplemented_operation_has_a_sample() -> None:
    assert set(SAMPLES) == set(UNIMPLEMENTED)


@pytest.mark.parametrize("operation", sorted(CASES))
def test_an_allowed_caller_gets_unsupported_after_an_audited_allow(
    kms: KMS, audit: RecordedAudit, operation: str
) -> None:
    key_arn = kms.client().create_key()["KeyMetadata"]["Arn"]
    client = kms.client(ALICE)  # the key policy enables IAM; her policy allows kms:*
    with pytest.raises(client.exceptions.UnsupportedOperationException, match=operation):
        getattr(client, snake(operation))(**fill_key(CASES[operation], key_arn))
    record = audit.records[-1]
    spec = OPERATIONS[operation]
    assert record.operation == operation
    assert record.principal == ALICE
    assert record.actions == (spec.action,)
    assert record.resources == ((key_arn,) if Resource.KEY in spec.resources else ("*",))
    assert record.allowed
    assert record.error_code == "UnsupportedOperationException"


@pytest.mark.parametrize("operation", sorted(CASES))
def test_a_caller_without_permission_is_denied_first(
    kms: KMS, audit: RecordedAudit, operation: str
) -> None:
    key_arn = kms.client().create_key()["KeyMetadata"]["Arn"]
    with raises_code("AccessDeniedException") as denied:
        getattr(kms.client(BOB), snake(operation))(**fill_key(CASES[operation], key_arn))
    assert OPERATIONS[operation].action in denied.value.response["Error"]["Message"]
    record = audit.records[-1]
    assert (record.operation, record.principal) == (operation, BOB)
    assert not record.allowed
    assert record.error_code == "AccessDeniedException"


@pytest.mark.parametrize(
    "operation", [n for n in sorted(CASES) if Resource.KEY in OPERATIONS[n].resources]
)
def test_a_key_that_does_not_exist_is_not_found_before_anything_else(
    kms: KMS, operation: str
) -> None:
    missing = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    with raises_code("NotFoundException"):
        getattr(kms.client(ALICE), snake(operation))(**fill_key(CASES[operation], missing))


@pytest.mark.parametrize("operation", sorted(CASES))
def test_the_pythonic_layer_answers_the_same(kms: KMS, operation: str) -> None:
    from kmspolicy.errors import AccessDeniedException, UnsupportedOperationException

    key_arn = kms.create_key()["KeyMetadata"]["Arn"]
    params = fill_key(CASES[operation], key_arn)
    with pytest.raises(UnsupportedOperationException):  # the root user: its policies allow
        getattr(kms, snake(operation))(**params)
    with pytest.raises(AccessDeniedException):
        getattr(kms.as_principal(BOB), snake(operation))(**params)
