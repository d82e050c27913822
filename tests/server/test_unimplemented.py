"""Over HTTP, an operation of the KMS model that kmspolicy does not implement is authorized
first and then answered UnsupportedOperationException — as in-process
(tests/kms/test_unimplemented.py) — never UnknownOperationException; the decision is in the
audit log. boto3, unchanged, against a real server (``serve_in_thread``: the app, SigV4 and
runtime of ``kmspolicy serve``) whose services have the stand-ins of the in-process tests
unbound, as the table's unimplemented entries would be: every operation of botocore's model is
implemented today."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from kmspolicy.kms import implemented, pipeline
from kmspolicy.optable import OPERATIONS
from kmspolicy.server.thread import serve_in_thread
from tests.kms.operation_samples import CASES, fill_key, snake
from tests.server.conftest import ALICE, IDENTITIES, NOBODY, SECRETS

pytestmark = pytest.mark.server

NOBODY_ARN = "arn:aws:iam::111111111111:user/nobody"
#: the in-process samples, with principals of this server's account
SAMPLES = {**CASES, "ListRetirableGrants": {"RetiringPrincipal": NOBODY_ARN}}


@dataclasses.dataclass
class Running:
    url: str
    data_dir: Path

    def client(self, access_key: str) -> Any:
        return boto3.client(
            "kms",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=access_key,
            aws_secret_access_key=SECRETS[access_key]["secret_access_key"],
            config=Config(retries={"max_attempts": 1}),
        )

    def audit_record(self, operation: str) -> dict[str, Any]:
        lines = (self.data_dir / "audit.log").read_text().splitlines()
        return [r for r in map(json.loads, lines) if r["operation"] == operation][-1]


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    tmp = tmp_path_factory.mktemp("unimplemented")
    identities = tmp / "identities.json"
    identities.write_text(json.dumps(IDENTITIES))

    def unbound() -> Any:  # every service of this server loads its operations so
        return {
            name: dataclasses.replace(op, handler=None) if name in CASES else op
            for name, op in implemented.load_operations().items()
        }

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline, "load_operations", unbound)
        with serve_in_thread(identities=identities, data_dir=tmp / "data") as endpoint:
            yield Running(endpoint.url, tmp / "data")


def _error(call: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as info:
        call()
    return dict(info.value.response["Error"])


@pytest.mark.parametrize("operation", sorted(CASES))
def test_boto3_gets_unsupported_after_an_audited_allow(running: Running, operation: str) -> None:
    kms = running.client(ALICE)  # alice: kms:* in her identity policy, enabled by the key policy
    key_arn = kms.create_key()["KeyMetadata"]["Arn"]
    call = getattr(kms, snake(operation))
    error = _error(lambda: call(**fill_key(SAMPLES[operation], key_arn)))
    assert error["Code"] == "UnsupportedOperationException", error
    assert operation in error["Message"]
    record = running.audit_record(operation)
    assert record["allowed"] is True
    assert record["actions"] == [OPERATIONS[operation].action]
    assert record["error_code"] == "UnsupportedOperationException"


@pytest.mark.parametrize("operation", sorted(CASES))
def test_boto3_without_permission_is_denied_first(running: Running, operation: str) -> None:
    key_arn = running.client(ALICE).create_key()["KeyMetadata"]["Arn"]
    call = getattr(running.client(NOBODY), snake(operation))
    error = _error(lambda: call(**fill_key(SAMPLES[operation], key_arn)))
    assert error["Code"] == "AccessDeniedException", error
    record = running.audit_record(operation)
    assert record["allowed"] is False
    assert record["principal"] == NOBODY_ARN


def test_the_other_operations_are_served(running: Running) -> None:
    kms = running.client(ALICE)
    key_arn = kms.create_key()["KeyMetadata"]["Arn"]
    blob = kms.encrypt(KeyId=key_arn, Plaintext=b"p")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"p"
