"""Rotation through the boto3 client: old ciphertexts keep decrypting, new ones use the newest
material, the schedule follows the injected clock, and AWS's limits hold."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest

from kmspolicy.errors import ValidationException
from kmspolicy.kms.clock import FakeClock
from kmspolicy.kms.lifecycle.rotation import ON_DEMAND_ROTATION_TAKES
from kmspolicy.kms.memory import MemoryStore
from tests.kms.principals import raises_code
from tests.kms.rotations import rotate_on_demand


def _material_of(client: Any, blob: bytes) -> str:
    return str(client.decrypt(CiphertextBlob=blob)["KeyMaterialId"])


def test_rotation_keeps_old_ciphertexts_and_encrypts_with_newest(
    client: Any, key_id: str, clock: FakeClock
) -> None:
    before = client.encrypt(KeyId=key_id, Plaintext=b"v1")["CiphertextBlob"]
    first = client.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]
    rotate_on_demand(client, clock, key_id)
    client.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
    clock.advance(days=91)
    after = client.encrypt(KeyId=key_id, Plaintext=b"v3")
    current = client.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]
    assert current != first
    assert _material_of(client, after["CiphertextBlob"]) == current
    assert client.decrypt(CiphertextBlob=before)["Plaintext"] == b"v1"
    assert _material_of(client, before) == first
    assert client.describe_key(KeyId=key_id)["KeyMetadata"]["KeyId"] == key_id


def test_status_reports_period_and_next_date(client: Any, key_id: str, clock: FakeClock) -> None:
    assert client.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is False
    client.enable_key_rotation(KeyId=key_id)
    status = client.get_key_rotation_status(KeyId=key_id)
    assert status["KeyRotationEnabled"] is True
    assert status["RotationPeriodInDays"] == 365
    assert status["NextRotationDate"] == clock.now() + timedelta(days=365)
    client.disable_key_rotation(KeyId=key_id)
    status = client.get_key_rotation_status(KeyId=key_id)
    assert status["KeyRotationEnabled"] is False and "NextRotationDate" not in status


@pytest.mark.parametrize("days", [89, 2561])
def test_rotation_period_out_of_range(service: Any, key_id: str, days: int) -> None:
    # botocore refuses these before sending; the service must refuse them too (raw callers)
    with pytest.raises(ValidationException, match="between 90 and 2560"):
        service.dispatch(
            "EnableKeyRotation",
            service.root_principal,
            {"KeyId": key_id, "RotationPeriodInDays": days},
        )


def test_automatic_rotation_happens_without_anyone_asking(
    service: Any, client: Any, key_id: str, clock: FakeClock
) -> None:

    client.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
    clock.advance(days=365)
    service.sweep()  # what the server runs
    rotations = client.list_key_rotations(KeyId=key_id)["Rotations"]
    assert [r["RotationType"] for r in rotations] == ["AUTOMATIC"] * 4
    assert rotations[-1]["KeyMaterialState"] == "CURRENT"


def test_list_key_rotations_pages(client: Any, key_id: str, clock: FakeClock) -> None:
    for _ in range(5):
        rotate_on_demand(client, clock, key_id)
    first = client.list_key_rotations(KeyId=key_id, Limit=2)
    assert len(first["Rotations"]) == 2 and first["Truncated"] is True
    rest = client.list_key_rotations(KeyId=key_id, Limit=10, Marker=first["NextMarker"])
    assert len(rest["Rotations"]) == 3 and rest["Truncated"] is False
    every = client.list_key_rotations(KeyId=key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")
    assert len(every["Rotations"]) == 6  # the original material too


def test_on_demand_rotation_limit(client: Any, key_id: str, clock: FakeClock) -> None:
    for _ in range(24):
        rotate_on_demand(client, clock, key_id)
    client.rotate_key_on_demand(KeyId=key_id)
    # the 25th counts from its request on, before it completes
    with raises_code("ConflictException"):  # in progress
        client.rotate_key_on_demand(KeyId=key_id)
    clock.advance(seconds=ON_DEMAND_ROTATION_TAKES.total_seconds())
    with raises_code("LimitExceededException"):
        client.rotate_key_on_demand(KeyId=key_id)
    assert len(client.list_key_rotations(KeyId=key_id)["Rotations"]) == 25


def test_on_demand_rotation_completes_as_due_work(
    service: Any, client: Any, key_id: str, clock: FakeClock
) -> None:
    """AWS's shape: the request starts the rotation; GetKeyRotationStatus shows its start until
    it is done, ListKeyRotations lists it once done, and encryption moves to the new material
    only then. The sweeper completes it for a key nobody touches."""
    first = client.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]
    started = clock.now()
    assert client.rotate_key_on_demand(KeyId=key_id)["KeyId"].endswith(key_id)
    status = client.get_key_rotation_status(KeyId=key_id)
    assert status["OnDemandRotationStartDate"] == started
    assert client.list_key_rotations(KeyId=key_id)["Rotations"] == []
    blob = client.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
    assert _material_of(client, blob) == first
    clock.advance(seconds=ON_DEMAND_ROTATION_TAKES.total_seconds() - 0.5)
    assert "OnDemandRotationStartDate" in client.get_key_rotation_status(KeyId=key_id)
    clock.advance(seconds=0.5)
    report = service.sweep()  # nobody touched the key: the sweeper completes the rotation
    assert report.changed == 1
    assert "OnDemandRotationStartDate" not in client.get_key_rotation_status(KeyId=key_id)
    (rotated,) = client.list_key_rotations(KeyId=key_id)["Rotations"]
    assert rotated["RotationType"] == "ON_DEMAND"
    assert rotated["RotationDate"] == started + ON_DEMAND_ROTATION_TAKES
    blob = client.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
    assert _material_of(client, blob) == rotated["KeyMaterialId"] != first


def test_disabling_automatic_rotation_does_not_cancel_on_demand(
    client: Any, key_id: str, clock: FakeClock
) -> None:
    """Developer Guide: DisableKeyRotation does not cancel an on-demand rotation in progress;
    nor does disabling the key (the service completes what it accepted)."""
    client.enable_key_rotation(KeyId=key_id)
    client.rotate_key_on_demand(KeyId=key_id)
    client.disable_key_rotation(KeyId=key_id)
    client.disable_key(KeyId=key_id)
    clock.advance(seconds=ON_DEMAND_ROTATION_TAKES.total_seconds())
    rotations = client.list_key_rotations(KeyId=key_id)["Rotations"]
    assert [r["RotationType"] for r in rotations] == ["ON_DEMAND"]


@pytest.mark.parametrize(
    ("spec", "usage"), [("ECC_NIST_P256", "SIGN_VERIFY"), ("HMAC_256", "GENERATE_VERIFY_MAC")]
)
def test_only_symmetric_keys_rotate(client: Any, spec: str, usage: str) -> None:
    key = client.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]["KeyId"]
    for call in (client.enable_key_rotation, client.rotate_key_on_demand):
        with raises_code("UnsupportedOperationException"):
            call(KeyId=key)
    with raises_code("UnsupportedOperationException"):
        client.get_key_rotation_status(KeyId=key)


def test_disabled_key_neither_rotates_nor_changes_rotation(
    client: Any, key_id: str, clock: FakeClock
) -> None:
    client.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
    client.disable_key(KeyId=key_id)
    with raises_code("DisabledException"):
        client.disable_key_rotation(KeyId=key_id)
    clock.advance(days=200)
    assert client.list_key_rotations(KeyId=key_id)["Rotations"] == []
    client.enable_key(KeyId=key_id)
    clock.advance(seconds=1)
    # Overdue: rotated once on the first access after re-enabling, not for each missed period.
    rotations = client.list_key_rotations(KeyId=key_id)["Rotations"]
    assert len(rotations) == 1


def test_rotation_status_is_false_while_pending_deletion(client: Any, key_id: str) -> None:
    client.enable_key_rotation(KeyId=key_id)
    client.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert client.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is False
    client.cancel_key_deletion(KeyId=key_id)
    assert client.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True


def test_key_type_is_checked_before_the_key_state(client: Any) -> None:
    """A declared precheck: the key type rules out the operation whatever the state."""
    signing = client.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    client.disable_key(KeyId=signing["KeyId"])
    with raises_code("UnsupportedOperationException"):
        client.enable_key_rotation(KeyId=signing["KeyId"])
    with raises_code("UnsupportedOperationException"):
        client.rotate_key_on_demand(KeyId=signing["KeyId"])
    made_by_kms = client.create_key()["KeyMetadata"]["KeyId"]
    client.disable_key(KeyId=made_by_kms)
    with raises_code("UnsupportedOperationException"):
        client.get_parameters_for_import(
            KeyId=made_by_kms, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
        )
    # an eligible key in the same state gets the state error
    with raises_code("DisabledException"):
        client.enable_key_rotation(KeyId=made_by_kms)


class _GatedStore:
    """The store, holding the first transaction opened by ``gated`` until ``release``."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.gated: threading.Thread | None = None
        self.waiting = threading.Event()
        self.release = threading.Event()

    def transaction(self, **kw: Any) -> Any:
        if threading.current_thread() is self.gated:
            self.gated = None
            self.waiting.set()
            assert self.release.wait(10)
        return self._inner.transaction(**kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_rotation_dates_follow_the_order_rotations_commit(clock: FakeClock) -> None:
    """Issue 12 item 11: request A reads the clock, B reads it a second later, starts its
    rotation first and sees it complete; A's rotation, started last from the earlier clock
    reading, used to carry the earlier date."""
    from kmspolicy import KMS

    store = _GatedStore(MemoryStore())
    service = KMS(store=store, clock=clock)  # type: ignore[arg-type]
    client = service.client()
    key_id = client.create_key()["KeyMetadata"]["KeyId"]
    first = threading.Thread(target=lambda: client.rotate_key_on_demand(KeyId=key_id))
    store.gated = first
    first.start()
    assert store.waiting.wait(10)  # A has read the clock and waits for its transaction
    clock.advance(seconds=1)
    rotate_on_demand(client, clock, key_id)  # B: later clock reading, started first
    assert len(client.list_key_rotations(KeyId=key_id)["Rotations"]) == 1  # B completed
    store.release.set()
    first.join(10)
    clock.advance(seconds=ON_DEMAND_ROTATION_TAKES.total_seconds())
    rotations = client.list_key_rotations(KeyId=key_id)["Rotations"]
    dates = [r["RotationDate"] for r in rotations]
    assert len(dates) == 2 and dates[0] < dates[1], dates
    current = client.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]
    assert rotations[-1]["KeyMaterialId"] == current
