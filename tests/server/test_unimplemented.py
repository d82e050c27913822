"""Over HTTP, an operation of the KMS model that kmspolicy does not implement is authorized
first and then answered UnsupportedOperationException — as in-process
(tests/kms/test_unimplemented.py) — never UnknownOperationException; the decision is in the
audit log. boto3, unchanged, against a real `kmspolicy serve` (the AWS CLI knows none of the
operations left unimplemented)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from kmspolicy.optable import OPERATIONS
from tests.kms.test_unimplemented import SAMPLES, UNIMPLEMENTED, fill, snake
from tests.server.conftest import NOBODY, Server

pytestmark = pytest.mark.server


def _error(call: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as info:
        call()
    return dict(info.value.response["Error"])


def _audit_record(server: Server, operation: str) -> dict[str, Any]:
    lines = (server.data_dir / "audit.log").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["operation"] == operation][-1]


@pytest.mark.parametrize("operation", UNIMPLEMENTED)
def test_boto3_gets_unsupported_after_an_audited_allow(fresh: Server, operation: str) -> None:
    kms = fresh.client()  # alice: kms:* in her identity policy, enabled by the key policy
    key_arn = kms.create_key()["KeyMetadata"]["Arn"]
    call = getattr(kms, snake(operation))
    error = _error(lambda: call(**fill(SAMPLES[operation], key_arn)))
    assert error["Code"] == "UnsupportedOperationException", error
    assert operation in error["Message"]
    record = _audit_record(fresh, operation)
    assert record["allowed"] is True
    assert record["actions"] == [OPERATIONS[operation].action]
    assert record["error_code"] == "UnsupportedOperationException"


@pytest.mark.parametrize("operation", UNIMPLEMENTED)
def test_boto3_without_permission_is_denied_first(fresh: Server, operation: str) -> None:
    key_arn = fresh.client().create_key()["KeyMetadata"]["Arn"]
    call = getattr(fresh.client(NOBODY), snake(operation))
    error = _error(lambda: call(**fill(SAMPLES[operation], key_arn)))
    assert error["Code"] == "AccessDeniedException", error
    record = _audit_record(fresh, operation)
    assert record["allowed"] is False
    assert record["principal"] == "arn:aws:iam::111111111111:user/nobody"
