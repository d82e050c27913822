"""Sealed until allowed: stores hand out sealed material, only the kernel unseals, and only for
an authorized handle. Watched from outside, through a root key that counts its unseals."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from kmspolicy import KMS, AccountPolicies, Identities
from kmspolicy.kms.backends import MATERIAL, secret_aad
from kmspolicy.kms.clock import FakeClock
from kmspolicy.kms.kernel import CACHE_VERSIONS, _stripe
from kmspolicy.kms.memory import MemoryStore
from kmspolicy.kms.ports import Store
from kmspolicy.kms.sealed import Sealed, reveal
from kmspolicy.store.sqlite import SqliteStore
from tests.kms.lifecycle.importing import import_material
from tests.kms.operation_samples import (
    DENY_ALL,
    KEY_OPERATIONS,
    KEYLESS_OPERATIONS,
    fill_placeholders,
    snake,
)
from tests.kms.principals import ACCOUNT, BOB, raises_code
from tests.kms.root_keys import CountingRootKey
from tests.kms.rotations import rotate_on_demand


@pytest.fixture(params=["memory", "sqlite"])
def counted(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Store, CountingRootKey]]:
    root = CountingRootKey()
    store: Store
    if request.param == "memory":
        store = MemoryStore(root_key=root)
    else:
        store = SqliteStore(tmp_path / "kms.db", root)  # type: ignore[arg-type]
    yield store, root
    store.close()


@pytest.fixture
def locked_service(counted: tuple[Store, CountingRootKey]) -> tuple[KMS, dict[str, Any]]:
    """A service whose key (an alias, a grant, a ciphertext) now denies everything to all."""
    store, _root = counted
    service = KMS(store, FakeClock(), ACCOUNT)
    client = service.client()
    arn = client.create_key()["KeyMetadata"]["Arn"]
    client.create_alias(AliasName="alias/existing", TargetKeyId=arn)
    grant = client.create_grant(KeyId=arn, GranteePrincipal=BOB, Operations=["Encrypt"])
    blob = client.encrypt(KeyId=arn, Plaintext=b"secret")["CiphertextBlob"]
    client.put_key_policy(KeyId=arn, Policy=DENY_ALL, BypassPolicyLockoutSafetyCheck=True)
    return service, {"{key}": arn, "{blob}": blob, "{grant}": grant["GrantId"]}


@pytest.mark.parametrize("operation", sorted(KEY_OPERATIONS))
def test_a_denied_request_unseals_nothing(
    counted: tuple[Store, CountingRootKey],
    locked_service: tuple[KMS, dict[str, Any]],
    operation: str,
) -> None:
    _store, root = counted
    service, values = locked_service
    # a fresh service on the same store: nothing opened before, no cache to hide an unseal
    fresh = KMS(service.store, FakeClock(), ACCOUNT)
    before = root.unseals
    with raises_code("AccessDeniedException"):
        getattr(fresh.client(), snake(operation))(
            **fill_placeholders(KEY_OPERATIONS[operation], values)
        )
    assert root.unseals == before


@pytest.mark.parametrize("operation", sorted(KEYLESS_OPERATIONS))
def test_a_denied_keyless_request_unseals_nothing(
    counted: tuple[Store, CountingRootKey], operation: str
) -> None:
    store, root = counted
    deny = DENY_ALL.replace('"Principal": "*", ', "")
    identities = Identities(accounts={ACCOUNT: AccountPolicies.of(scps=[deny])})
    service = KMS(store, FakeClock(), ACCOUNT, identities=identities)
    with raises_code("AccessDeniedException"):
        getattr(service.client(), snake(operation))(**KEYLESS_OPERATIONS[operation])
    assert root.unseals == 0


def test_a_create_key_refused_by_the_lockout_check_makes_and_seals_nothing(
    counted: tuple[Store, CountingRootKey],
) -> None:
    store, root = counted
    client = KMS(store, FakeClock(), ACCOUNT).client()
    before = root.seals  # a store may seal something of its own when it opens
    with raises_code("MalformedPolicyDocumentException"):
        client.create_key(Policy=DENY_ALL)
    assert root.seals == before
    client.create_key(Policy=DENY_ALL, BypassPolicyLockoutSafetyCheck=True)
    assert root.seals == before + 1  # the counter sees the seal of a key that is made


def test_an_allowed_request_unseals_through_the_kernel(
    counted: tuple[Store, CountingRootKey],
) -> None:
    store, root = counted
    client = KMS(store, FakeClock(), ACCOUNT).client()
    key = client.create_key()["KeyMetadata"]["KeyId"]
    assert root.unseals == 0  # creating seals; nothing is opened
    blob = client.encrypt(KeyId=key, Plaintext=b"p")["CiphertextBlob"]
    assert root.unseals == 1
    # the store holds only what the kernel sealed: the record carries no plaintext secret
    with store.transaction(readonly=True) as tx:
        record = tx.get_key(f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{key}")
    assert record is not None
    sealed = record.materials[0].sealed
    assert sealed is not None and reveal(sealed).startswith(b"ks")  # the root-key sealing format
    assert client.decrypt(CiphertextBlob=blob)["Plaintext"] == b"p"


def test_two_services_share_nothing(counted: tuple[Store, CountingRootKey]) -> None:
    """Each KMS has its own kernel cache: what one opened, the other opens again."""
    store, root = counted
    first = KMS(store, FakeClock(), ACCOUNT)
    second = KMS(store, FakeClock(), ACCOUNT)
    key = first.create_key()["KeyMetadata"]["KeyId"]
    blob = first.encrypt(KeyId=key, Plaintext=b"p")["CiphertextBlob"]
    first.decrypt(CiphertextBlob=blob)
    assert root.unseals == 1  # opened once, then reused from the first service's kernel
    second.decrypt(CiphertextBlob=blob)
    assert root.unseals == 2  # the second service's kernel had nothing of the first's
    assert first._pipeline.kernel is not second._pipeline.kernel
    assert first._pipeline._memo is not second._pipeline._memo


@pytest.mark.parametrize(
    ("change", "undo"),
    [
        ("disable_key", "enable_key"),
        ("schedule_key_deletion", "cancel_key_deletion"),
    ],
)
def test_the_kernel_forgets_a_key_that_stops_being_usable(
    counted: tuple[Store, CountingRootKey], change: str, undo: str
) -> None:
    store, root = counted
    service = KMS(store, FakeClock(), ACCOUNT)
    key = service.create_key()["KeyMetadata"]["KeyId"]
    service.encrypt(KeyId=key, Plaintext=b"p")
    service.encrypt(KeyId=key, Plaintext=b"p")
    assert root.unseals == 1
    getattr(service, change)(KeyId=key)
    assert service._pipeline.kernel.opened_keys() == frozenset()  # forgotten at once
    getattr(service, undo)(KeyId=key)
    if undo == "cancel_key_deletion":
        service.enable_key(KeyId=key)
    service.encrypt(KeyId=key, Plaintext=b"p")
    assert root.unseals == 2  # opened anew


def test_rotation_makes_new_sealed_material_and_keeps_the_old(
    counted: tuple[Store, CountingRootKey],
) -> None:
    store, root = counted
    clock = FakeClock()
    service = KMS(store, clock, ACCOUNT)
    key = service.create_key()["KeyMetadata"]["KeyId"]
    old = service.encrypt(KeyId=key, Plaintext=b"old")["CiphertextBlob"]
    rotate_on_demand(service, clock, key)
    new = service.encrypt(KeyId=key, Plaintext=b"new")["CiphertextBlob"]
    assert service.decrypt(CiphertextBlob=old)["Plaintext"] == b"old"
    assert service.decrypt(CiphertextBlob=new)["Plaintext"] == b"new"
    assert root.unseals == 2  # one per version, each opened once


def test_a_deleted_key_leaves_nothing_in_the_kernel(
    counted: tuple[Store, CountingRootKey],
) -> None:
    store, _root = counted
    clock = FakeClock()
    service = KMS(store, clock, ACCOUNT)
    key = service.create_key()["KeyMetadata"]["KeyId"]
    service.encrypt(KeyId=key, Plaintext=b"p")
    service.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    clock.advance(days=8)
    report = service.sweep()
    assert report.deleted == 1
    assert service._pipeline.kernel.opened_keys() == frozenset()


def test_the_kernel_keeps_a_bounded_number_of_versions_per_key(
    counted: tuple[Store, CountingRootKey],
) -> None:
    """A key rotated more often than the kernel keeps versions: every ciphertext still
    decrypts, and the kernel never holds more than CACHE_VERSIONS opened versions of it."""
    store, _root = counted
    clock = FakeClock()
    service = KMS(store, clock, ACCOUNT)
    arn = service.create_key()["KeyMetadata"]["Arn"]
    blobs = [service.encrypt(KeyId=arn, Plaintext=b"v0")["CiphertextBlob"]]
    for n in range(1, CACHE_VERSIONS + 3):
        rotate_on_demand(service, clock, arn)
        blobs.append(service.encrypt(KeyId=arn, Plaintext=f"v{n}".encode())["CiphertextBlob"])
    for n, blob in enumerate(blobs):
        assert service.decrypt(CiphertextBlob=blob)["Plaintext"] == f"v{n}".encode()
    assert len(service._pipeline.kernel.opened_versions(arn)) == CACHE_VERSIONS


def test_a_version_whose_sealed_bytes_change_is_forgotten_and_only_it(
    counted: tuple[Store, CountingRootKey],
) -> None:
    """A write that seals one version again (ReplicateKey binding an old primary's versions to
    its set) leaves the key Enabled: the kernel forgets that version, keeps the other, and
    opens the new bytes when asked."""
    store, root = counted
    clock = FakeClock()
    service = KMS(store, clock, ACCOUNT)
    arn = service.create_key()["KeyMetadata"]["Arn"]
    old = service.encrypt(KeyId=arn, Plaintext=b"old")["CiphertextBlob"]
    rotate_on_demand(service, clock, arn)
    service.encrypt(KeyId=arn, Plaintext=b"new")
    kernel = service._pipeline.kernel
    with store.transaction(readonly=True) as tx:
        record = tx.get_key(arn)
    assert record is not None and len(kernel.opened_versions(arn)) == 2
    first = record.materials[0]
    assert first.sealed is not None
    aad = secret_aad(arn, MATERIAL, first.material_id)
    resealed = Sealed(root.seal(root.unseal(reveal(first.sealed), aad), aad))
    kernel.note_saved(replace(record, materials=(replace(first, sealed=resealed),
                                                 *record.materials[1:])), arn)  # fmt: skip
    assert kernel.opened_versions(arn) == {m.material_id for m in record.materials[1:]}
    kernel.note_saved(record, arn)  # the same bytes again: nothing more is forgotten
    assert len(kernel.opened_versions(arn)) == 1
    unseals = root.unseals
    assert service.decrypt(CiphertextBlob=old)["Plaintext"] == b"old"
    assert root.unseals == unseals + 1  # opened anew from the record's bytes


def test_deleted_imported_material_leaves_the_kernel(
    counted: tuple[Store, CountingRootKey],
) -> None:
    store, _root = counted
    service = KMS(store, FakeClock(), ACCOUNT)
    client = service.client()
    arn = client.create_key(Origin="EXTERNAL")["KeyMetadata"]["Arn"]
    import_material(client, arn, os.urandom(32))
    client.encrypt(KeyId=arn, Plaintext=b"p")
    assert service._pipeline.kernel.opened_keys() == {arn}
    client.delete_imported_key_material(KeyId=arn)
    assert service._pipeline.kernel.opened_keys() == frozenset()


class _UnsealHook(CountingRootKey):
    """Runs ``during_unseal`` (once) in the middle of the next unseal."""

    during_unseal: Callable[[], None] | None = None

    def unseal(self, sealed: bytes, aad: bytes = b"") -> bytes:
        hook, self.during_unseal = self.during_unseal, None
        if hook is not None:
            hook()
        return super().unseal(sealed, aad)


def test_a_request_allowed_before_a_disable_does_not_hold_the_key_after_it(
    tmp_path: Path,
) -> None:
    root = _UnsealHook()
    store = SqliteStore(tmp_path / "kms.db", root)  # type: ignore[arg-type]
    service = KMS(store, FakeClock(), ACCOUNT)
    kernel = service._pipeline.kernel
    key = service.create_key()["KeyMetadata"]["Arn"]
    kernel.forget(key)  # the next Encrypt opens the key's material
    errors: list[BaseException] = []

    def disable() -> None:  # another thread's DisableKey commits (and forgets) meanwhile
        try:
            service.disable_key(KeyId=key)
        except BaseException as exc:
            errors.append(exc)

    def disable_in_another_thread() -> None:
        thread = threading.Thread(target=disable)
        thread.start()
        thread.join()

    root.during_unseal = disable_in_another_thread
    service.encrypt(KeyId=key, Plaintext=b"p")  # allowed before the disable: it is answered
    assert not errors
    assert service.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Disabled"
    assert kernel.opened_keys() == frozenset()  # used once, not held
    store.close()


def test_another_key_forgotten_meanwhile_does_not_cost_a_first_open_its_hold(
    tmp_path: Path,
) -> None:
    """Another key disabled while a request unseals its own: one count of forgets for every key
    kept the request from holding what it opened, so its next request unsealed it again (a
    stream of disables elsewhere kept a key from ever being held). Counted per stripe of ARNs,
    a forget costs the holds of its own stripe only."""
    root = _UnsealHook()
    store = SqliteStore(tmp_path / "kms.db", root)  # type: ignore[arg-type]
    service = KMS(store, FakeClock(), ACCOUNT)
    kernel = service._pipeline.kernel
    key = service.create_key()["KeyMetadata"]["Arn"]
    others = (service.create_key()["KeyMetadata"]["Arn"] for _ in range(8))
    other = next(arn for arn in others if _stripe(arn) != _stripe(key))
    kernel.forget(key)  # the next Encrypt opens the key's material

    def disable_the_other() -> None:
        thread = threading.Thread(target=lambda: service.disable_key(KeyId=other))
        thread.start()
        thread.join()

    root.during_unseal = disable_the_other
    service.encrypt(KeyId=key, Plaintext=b"p")
    assert service.describe_key(KeyId=other)["KeyMetadata"]["KeyState"] == "Disabled"
    assert kernel.opened_keys() == {key}
    unseals = root.unseals
    service.encrypt(KeyId=key, Plaintext=b"p")
    assert root.unseals == unseals  # held: not unsealed again


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        ("disable_key", "DisabledException"),
        ("schedule_key_deletion", "KMSInvalidStateException"),
        ("delete", "NotFoundException"),
        ("delete", "InvalidCiphertextException"),  # a Decrypt names it by its blob
    ],
)
def test_a_key_made_unusable_by_another_process_is_forgotten_when_refused(
    tmp_path: Path, change: str, refusal: str
) -> None:
    root, clock = CountingRootKey(), FakeClock()
    stores = [SqliteStore(tmp_path / "kms.db", root) for _ in range(2)]  # type: ignore[arg-type]
    here, elsewhere = (KMS(store, clock, ACCOUNT) for store in stores)
    kernel = here._pipeline.kernel
    key = elsewhere.create_key()["KeyMetadata"]["Arn"]
    blob = here.encrypt(KeyId=key, Plaintext=b"p")["CiphertextBlob"]
    assert kernel.opened_keys() == {key}
    if change == "delete":  # the other process's sweeper deletes it at the window's end
        elsewhere.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
        clock.advance(days=8)
        assert elsewhere.sweep().deleted == 1
    else:
        getattr(elsewhere, change)(KeyId=key)
    assert kernel.opened_keys() == {key}  # this process has not looked since
    with raises_code(refusal):
        if refusal == "InvalidCiphertextException":
            here.client().decrypt(CiphertextBlob=blob)
        else:
            here.client().encrypt(KeyId=key, Plaintext=b"p")
    assert kernel.opened_keys() == frozenset()
    for store in stores:
        store.close()


def test_lookups_of_missing_keys_keep_other_first_opens_held() -> None:
    """The attack: a caller names keys that do not exist, over and over. Each NotFound used to
    count as a forget, so a request of another caller, allowed and unsealing meanwhile, did not
    hold its key and unsealed it again next time. A missing key this kernel holds nothing of
    forgets nothing."""
    kms = KMS(MemoryStore(), FakeClock(), ACCOUNT)
    kernel = kms._pipeline.kernel
    key = kms.create_key()["KeyMetadata"]["Arn"]
    kernel.forget(key)  # drop the hold CreateKey may have made: the next Encrypt opens it
    before = kernel.forgets
    missing = key.rsplit("/", 1)[0] + "/11111111-2222-3333-4444-555555555555"
    for _ in range(3):
        with raises_code("NotFoundException"):
            kms.client().encrypt(KeyId=missing, Plaintext=b"p")
    assert kernel.forgets == before
    kms.client().encrypt(KeyId=key, Plaintext=b"p")
    assert kernel.opened_keys() == {key}
