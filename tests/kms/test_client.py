"""The in-process boto3 client: independent of the user's AWS configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmspolicy import KMS
from kmspolicy._cache import Once
from kmspolicy.kms import client as client_module
from kmspolicy.kms.ports import AuditRecord


@pytest.fixture
def hostile_aws_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    garbage = tmp_path / "config"
    garbage.write_text("[[[ not an ini file\nregion = = =\n")
    monkeypatch.setenv("AWS_PROFILE", "nope")
    monkeypatch.setenv("AWS_DEFAULT_PROFILE", "nope")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(garbage))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(garbage))
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-9")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://example.invalid")
    # the session is built once per process: build it again under this environment
    monkeypatch.setattr(client_module, "_botocore_session", Once(client_module._isolated_session))


@pytest.mark.usefixtures("hostile_aws_environment")
def test_client_ignores_aws_profile_and_config_files() -> None:
    service = KMS(region="eu-central-1")
    client = service.client()
    assert client.meta.region_name == "eu-central-1"
    key = client.create_key(Description="isolated")["KeyMetadata"]
    assert key["Arn"].startswith("arn:aws:kms:eu-central-1:")
    blob = client.encrypt(KeyId=key["KeyId"], Plaintext=b"p")["CiphertextBlob"]
    assert client.decrypt(CiphertextBlob=blob)["Plaintext"] == b"p"


class _CountingRng:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self, n: int) -> bytes:
        self.n += 1
        return bytes([self.n]) * n


class _Audit:
    def __init__(self) -> None:
        self.request_ids: list[str] = []

    def append(self, record: AuditRecord) -> None:
        self.request_ids.append(record.request_id)

    def close(self) -> None:
        pass


def test_request_ids_come_from_the_service_rng_and_reach_the_audit_log() -> None:
    audit = _Audit()
    service = KMS(rng=_CountingRng(), audit=audit)
    client = service.client()
    first = client.list_keys()["ResponseMetadata"]["RequestId"]
    second = client.list_keys()["ResponseMetadata"]["RequestId"]
    assert first == "01010101-0101-0101-0101-000000000001"  # prefix: the rng's first draw
    assert second == "01010101-0101-0101-0101-000000000002"
    assert audit.request_ids == [first, second]


def test_request_ids_differ_between_services() -> None:
    assert KMS().new_request_id()[:24] != KMS().new_request_id()[:24]
