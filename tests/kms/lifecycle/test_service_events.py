"""Every state change is audited (issue 10 item 6): automatic rotation, deletion at the end of
the waiting period and expiry of imported material — done on first access or by the sweeper —
leave an ``AwsServiceEvent`` record by "AWS Internal" in the same hash chain, before they
commit; a log that cannot take it leaves the key as it was."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from kmspolicy import KMS
from kmspolicy.audit import open_audit_log, verify
from kmspolicy.errors import KMSInternalException
from kmspolicy.kms.clock import FakeClock
from kmspolicy.kms.lifecycle.rotation import ON_DEMAND_ROTATION_TAKES
from kmspolicy.kms.ports import AuditRecord
from tests.kms.lifecycle.importing import import_material


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def service_events(path: Path) -> list[tuple[str, str, str]]:
    return [
        (r["operation"], r["principal"], r["resources"][0])
        for r in records(path)
        if r["event"] == "AwsServiceEvent"
    ]


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "audit.log"


@pytest.fixture
def kms(clock: FakeClock, log_path: Path) -> KMS:
    return KMS(clock=clock, audit=open_audit_log(log_path))


def test_an_automatic_rotation_found_on_first_access_is_recorded_before_the_request(
    kms: KMS, clock: FakeClock, log_path: Path
) -> None:
    client = kms.client()
    arn = client.create_key()["KeyMetadata"]["Arn"]
    client.enable_key_rotation(KeyId=arn, RotationPeriodInDays=90)
    clock.advance(days=91)
    client.describe_key(KeyId=arn)
    written = records(log_path)
    rotation, describe = written[-2:]
    assert (rotation["operation"], rotation["event"], rotation["principal"]) == (
        "RotateKey",
        "AwsServiceEvent",
        "AWS Internal",
    )
    assert rotation["resources"] == [arn] and rotation["decision"] == ""
    current = client.list_key_rotations(KeyId=arn)["Rotations"][-1]
    assert rotation["context"]["rotationType"] == "AUTOMATIC"
    assert rotation["context"]["keyMaterialId"] == current["KeyMaterialId"]
    assert describe["operation"] == "DescribeKey"  # the request that found the work
    assert verify(log_path).ok  # one chain with the requests'


def test_the_sweeper_records_rotations_and_the_end_of_the_waiting_period(
    kms: KMS, clock: FakeClock, log_path: Path
) -> None:
    client = kms.client()
    rotating = client.create_key()["KeyMetadata"]["Arn"]
    client.enable_key_rotation(KeyId=rotating, RotationPeriodInDays=90)
    doomed = client.create_key()["KeyMetadata"]["Arn"]
    client.schedule_key_deletion(KeyId=doomed, PendingWindowInDays=7)
    clock.advance(days=181)
    report = kms.sweep()
    assert (report.changed, report.deleted) == (1, 1)
    events = service_events(log_path)
    assert sorted(events) == sorted(
        [
            ("RotateKey", "AWS Internal", rotating),
            ("RotateKey", "AWS Internal", rotating),
            ("DeleteKey", "AWS Internal", doomed),
        ]
    )
    assert verify(log_path).ok


def test_an_on_demand_rotation_is_recorded_by_the_caller_then_by_the_service(
    kms: KMS, clock: FakeClock, log_path: Path
) -> None:
    """CloudTrail's pair: the caller's RotateKeyOnDemand when it starts, the service's
    RotateKey (rotation type ON_DEMAND) when it completes, in the one chain."""
    client = kms.client()
    arn = client.create_key()["KeyMetadata"]["Arn"]
    client.rotate_key_on_demand(KeyId=arn)
    assert [r["operation"] for r in records(log_path)][-1] == "RotateKeyOnDemand"
    assert service_events(log_path) == []  # nothing done by the service yet
    clock.advance(seconds=ON_DEMAND_ROTATION_TAKES.total_seconds())
    assert kms.sweep().changed == 1
    (done,) = [r for r in records(log_path) if r["event"] == "AwsServiceEvent"]
    (rotation,) = client.list_key_rotations(KeyId=arn)["Rotations"]
    assert (done["operation"], done["principal"], done["resources"]) == (
        "RotateKey",
        "AWS Internal",
        [arn],
    )
    assert done["context"]["rotationType"] == "ON_DEMAND"
    assert done["context"]["keyMaterialId"] == rotation["KeyMaterialId"]
    assert verify(log_path).ok


def test_an_on_demand_rotation_whose_new_material_was_deleted_is_dropped(
    kms: KMS, clock: FakeClock, log_path: Path
) -> None:
    client = kms.client()
    key_id = client.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    import_material(client, key_id, os.urandom(32))
    first = client.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]
    new = import_material(client, key_id, os.urandom(32), ImportType="NEW_KEY_MATERIAL")
    client.rotate_key_on_demand(KeyId=key_id)
    client.delete_imported_key_material(KeyId=key_id, KeyMaterialId=new["KeyMaterialId"])
    clock.advance(seconds=ON_DEMAND_ROTATION_TAKES.total_seconds())
    assert "OnDemandRotationStartDate" not in client.get_key_rotation_status(KeyId=key_id)
    assert client.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"] == first
    (dropped,) = [r for r in records(log_path) if r["event"] == "AwsServiceEvent"]
    assert dropped["operation"] == "RotateKey"
    assert dropped["context"] == {
        "keyId": key_id,
        "rotationType": "ON_DEMAND",
        "errorCode": "KMSInvalidStateException",
    }
    with kms.store.transaction(readonly=True) as tx:
        record = tx.get_key(dropped["resources"][0])
    assert record is not None and record.on_demand_rotations == 0  # it did not count


def test_expired_imported_material_is_recorded(kms: KMS, clock: FakeClock, log_path: Path) -> None:
    client = kms.client()
    key = client.create_key(Origin="EXTERNAL")["KeyMetadata"]
    import_material(
        client,
        key["KeyId"],
        os.urandom(32),
        ExpirationModel="KEY_MATERIAL_EXPIRES",
        ValidTo=clock.now().timestamp() + 3600,
    )
    material_id = client.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["CurrentKeyMaterialId"]
    clock.advance(hours=2)
    kms.sweep()
    (expired,) = [r for r in records(log_path) if r["event"] == "AwsServiceEvent"]
    assert expired["operation"] == "DeleteExpiredKeyMaterial"
    assert expired["context"] == {"keyId": key["KeyId"], "keyMaterialId": material_id}
    assert client.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "PendingImport"


class _FailsOnServiceEvents:
    """A log that takes requests' records but not the service's own (a disk that fills up
    just then)."""

    def __init__(self) -> None:
        self.records: list[AuditRecord] = []

    def append(self, record: AuditRecord) -> None:
        if record.event == "AwsServiceEvent":
            raise OSError(28, "No space left on device")
        self.records.append(record)

    def close(self) -> None:
        """Nothing to release."""


def test_due_work_the_log_cannot_take_is_not_done(clock: FakeClock) -> None:
    log = _FailsOnServiceEvents()
    service = KMS(clock=clock, audit=log)
    arn = service.create_key()["KeyMetadata"]["Arn"]
    service.enable_key_rotation(KeyId=arn, RotationPeriodInDays=90)
    clock.advance(days=91)
    with pytest.raises(KMSInternalException):
        service.describe_key(KeyId=arn)  # the rotation found on access cannot be recorded
    with pytest.raises(OSError):
        service.sweep()  # the sweeper retries later
    with service.store.transaction(readonly=True) as tx:
        record = tx.get_key(arn)
    assert record is not None and len(record.materials) == 1  # nothing was rotated


def test_an_aws_managed_key_created_on_first_use_is_recorded(kms: KMS, log_path: Path) -> None:
    client = kms.client()
    meta = client.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]  # AWS creates it now
    created, described = records(log_path)
    assert (created["operation"], created["event"], created["principal"]) == (
        "CreateKey",
        "AwsServiceEvent",
        "AWS Internal",
    )
    assert created["resources"] == [meta["Arn"]]
    assert created["context"] == {"keyId": meta["KeyId"], "aliasName": "alias/aws/s3"}
    assert described["operation"] == "DescribeKey" and described["error_code"] is None
    client.describe_key(KeyId="alias/aws/s3")  # exists now: no second creation
    assert [r["operation"] for r in records(log_path)][2:] == ["DescribeKey"]
    assert verify(log_path).ok
