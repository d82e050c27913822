"""The envelope key of a root key in an HSM: one token call per envelope key, not per new key,
and no more exposed than what the kernel holds open (docs/hsm.md, "The envelope key")."""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kmspolicy._cache import BoundedCache
from kmspolicy.crypto.seal import RootKey, SealError
from kmspolicy.kms.backends import MATERIAL, NewKey, SealedBackend, material_scope, secret_aad
from kmspolicy.kms.envelope import ENVELOPE_KEY_AAD, Envelope
from kmspolicy.kms.kernel import Kernel
from kmspolicy.kms.memory import MemoryStore
from kmspolicy.kms.model import OriginType
from kmspolicy.kms.sealed import Sealed, reveal
from kmspolicy.kms.service import KMS
from tests.kms.root_keys import CountingRootKey, CountingTokenKey


def new_key(i: int) -> NewKey:
    arn = f"arn:aws:kms:us-east-1:111122223333:key/0000000{i}-0000-0000-0000-000000000000"
    return NewKey(arn.rsplit("/", 1)[1], arn, "SYMMETRIC_DEFAULT", OriginType.AWS_KMS)


def sealed_backend(kernel: Kernel) -> SealedBackend:
    backend = kernel.backend_for(new_key(0))
    assert isinstance(backend, SealedBackend)
    return backend


def test_new_keys_cost_one_token_call_per_envelope_key_and_open_without_one() -> None:
    token = CountingTokenKey()
    store = MemoryStore(token)
    client = KMS(store).client()
    ids = [client.create_key()["KeyMetadata"]["KeyId"] for _ in range(20)]
    assert (token.seals, token.unseals) == (1, 0)  # one envelope key wrapped, nothing opened
    blobs = [client.encrypt(KeyId=k, Plaintext=k.encode())["CiphertextBlob"] for k in ids]
    assert [client.decrypt(CiphertextBlob=b)["Plaintext"] for b in blobs] == [
        k.encode() for k in ids
    ]
    assert token.unseals == 0  # held open by the kernel since they were made
    other = KMS(store).client()  # another kernel: it unwraps the envelope key for each open
    assert other.decrypt(CiphertextBlob=blobs[0])["Plaintext"] == ids[0].encode()
    assert token.unseals == 1
    with store.transaction(readonly=True) as tx:
        for key in tx.iter_all_keys():
            (version,) = key.materials
            assert version.sealed is not None and reveal(version.sealed)[:3] == b"ke\x01"


def test_a_root_key_in_this_process_seals_directly() -> None:
    root = CountingRootKey()
    client = KMS(MemoryStore(root)).client()
    for _ in range(3):
        client.create_key()
    assert root.seals == 3  # kind "file": no envelope, a "ks" blob per key


def test_the_envelope_key_in_memory_opens_only_what_the_kernel_holds() -> None:
    """The attack: an image of the process's memory (the current envelope key) and a copy of
    the store. It must open no version the kernel does not hold open already."""
    token = CountingTokenKey()
    kernel = Kernel(token, os.urandom, cache_size=2)
    # keys 0-2 sealed by a first envelope key, which is dropped as holding key 2 evicts key 0;
    # key 3 is sealed by a second one, and holding it evicts key 1
    made = {i: kernel.new_material(new_key(i)) for i in range(4)}
    envelope = sealed_backend(kernel)._envelope
    assert envelope is not None and envelope.made == 2 and token.seals == 2
    current = envelope._current  # what the memory image holds
    assert current is not None
    opened_by_image = set()
    for i, new in made.items():
        blob = reveal(new.sealed)
        aad = secret_aad(new_key(i).arn, MATERIAL, new.material_id)
        end = 5 + int.from_bytes(blob[3:5], "big")
        try:
            current.key.unseal(blob[end:], blob[:end] + aad)
            opened_by_image.add(i)
        except SealError:
            pass
    held = {i for i in made if kernel.opened_versions(new_key(i).arn)}
    assert held == {2, 3}
    assert opened_by_image == {3}
    assert opened_by_image <= held
    # and nothing is lost: every version still opens, through the token
    backend = sealed_backend(kernel)
    for i, new in made.items():
        assert backend.open_secret(new_key(i).arn, MATERIAL, new.material_id, new.sealed)
    assert token.unseals == 3  # keys 0-2: their envelope key unwrapped, each time


ops = st.lists(
    st.tuples(st.sampled_from(["create", "create", "forget"]), st.integers(0, 4)), max_size=30
)


@settings(max_examples=60, deadline=None)
@given(ops)
def test_whatever_happens_the_envelope_key_opens_nothing_the_kernel_does_not_hold(
    steps: list[tuple[str, int]],
) -> None:
    kernel = Kernel(CountingTokenKey(), os.urandom, cache_size=4, cache_versions=2)
    backend = sealed_backend(kernel)
    versions: list[tuple[str, str, Sealed]] = []  # the store's copy: every version ever made
    for op, i in steps:
        key = new_key(i)
        if op == "create":  # a new key, or a new version of it (rotation)
            new = kernel.new_material(key)
            versions.append((key.arn, new.material_id, new.sealed))
        else:  # disabled, deleted, material changed: the kernel forgets it
            kernel.forget(key.arn)
        for arn, material_id, sealed in versions:
            if backend.opens_in_process(sealed):
                assert material_id in kernel.opened_versions(arn)
        held = [kernel.opened_versions(new_key(i).arn) for i in range(5)]
        assert sum(map(len, held)) <= 4 and max(map(len, held)) <= 2  # both bounds
    for arn, material_id, sealed in versions:  # every version still opens
        assert backend.open_secret(material_scope(new_key(0)._replace(arn=arn)), MATERIAL,
                                   material_id, sealed)  # fmt: skip


def test_every_kind_of_blob_opens_and_a_changed_one_does_not() -> None:
    token = CountingTokenKey()
    envelope = Envelope(token)
    aad = b"row"
    old = token.seal(b"sealed before the envelope", aad)
    assert envelope.unseal(old, aad) == b"sealed before the envelope"
    first = envelope.seal(b"one", aad)
    assert envelope.unseal(first, aad) == b"one" and token.unseals == 1  # only the old blob
    envelope.drop()
    second = envelope.seal(b"two", aad)
    assert envelope.made == 2
    assert envelope.unseal(first, aad) == b"one" and token.unseals == 2
    assert envelope.unseal(first, aad) == b"one" and token.unseals == 3  # not kept
    assert envelope.unseal(second, aad) == b"two" and token.unseals == 3
    flipped = bytearray(second)
    for at in (5, len(second) - 1, len(second) // 2):  # W, the tag, the ciphertext
        flipped = bytearray(second)
        flipped[at] ^= 1
        with pytest.raises(SealError):
            envelope.unseal(bytes(flipped), aad)
    with pytest.raises(SealError):
        envelope.unseal(second, b"another row")
    for cut in (2, 4, 30, len(second) - 1):
        with pytest.raises(SealError):
            envelope.unseal(second[:cut], aad)
    # a wrapped key that is not an envelope key of this root key does not open as one
    stranger = RootKey.generate().seal(os.urandom(32), ENVELOPE_KEY_AAD)
    forged = b"ke\x01" + len(stranger).to_bytes(2, "big") + stranger + second[5 + 90 :]
    with pytest.raises(SealError):
        envelope.unseal(forged, aad)


@pytest.mark.parametrize("forget_at", ["before", "during", "after"])
@pytest.mark.parametrize("existing", [False, True], ids=["new key", "new version"])
def test_a_forget_racing_a_hold_leaves_the_envelope_key_opening_only_held_versions(
    existing: bool, forget_at: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race: the kernel holds a new version while another thread forgets its key (it was
    disabled or deleted). The forget is played just before the hold (the version is then held,
    and released when it leaves), from another thread while the hold writes to the cache (the
    kernel's lock makes it wait, and it drops and releases the version), or just after it.
    Either way the envelope key opens no version the kernel does not hold. (With a cache per
    key, a forget between finding the key's cache and writing to it left the version in a
    cache nobody held.)"""
    kernel = Kernel(CountingTokenKey(), os.urandom)
    backend = sealed_backend(kernel)
    key = new_key(1)
    if existing:  # a version sealed by an earlier envelope key: its release drops nothing
        kernel.new_material(key)
        envelope = backend._envelope
        assert envelope is not None
        envelope.drop()
    hold = backend._hold
    assert hold is not None
    put = BoundedCache.put
    other: list[threading.Thread] = []

    def racing_hold(key_arn: str, material_id: str, sealed: Any, opened: Any) -> None:
        if forget_at == "before":
            kernel.forget(key.arn)  # the other thread, just before the hold
        hold(key_arn, material_id, sealed, opened)
        if forget_at == "after":
            kernel.forget(key.arn)  # the other thread, just after it

    def racing_put(cache: Any, k: Any, value: Any, weight: int = 1) -> Any:
        if forget_at == "during" and isinstance(value, tuple) and not other:
            other.append(threading.Thread(target=kernel.forget, args=(key.arn,)))
            other[0].start()  # the other thread, in the middle of the write
        return put(cache, k, value, weight)

    monkeypatch.setattr(backend, "_hold", racing_hold)
    monkeypatch.setattr(BoundedCache, "put", racing_put)
    new = kernel.new_material(key)
    for thread in other:
        thread.join()
    monkeypatch.undo()
    held = new.material_id in kernel.opened_versions(key.arn)
    assert backend.opens_in_process(new.sealed) is held
    assert held is (forget_at == "before")
