"""A repeated one-key read request on an unchanged SQLite store is answered from its plan
(``Pipeline._plan_question``): the key it resolved, the decision that allowed it and its key
checks, kept with the connection's reads. Every change by another handle on the file (another
process), the time reaching the key's due work, a time-reading policy, another request context
and a changed directory must each be seen by the very next request, as without the plan. A
Decrypt's plan is asked for by the key id its ciphertext names (or its ``KeyId``): another key's
blob, a wrong ``KeyId``, another context and a malformed blob are each answered as without it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from kmspolicy import KMS
from kmspolicy.crypto.blob import parse_blob_header
from kmspolicy.errors import (
    AccessDeniedException,
    DisabledException,
    IncorrectKeyException,
    InvalidCiphertextException,
    InvalidKeyUsageException,
    NotFoundException,
)
from kmspolicy.kms import pipeline as pipeline_module
from kmspolicy.kms.clock import FakeClock
from kmspolicy.kms.decisions import context_chars
from kmspolicy.kms.identities import AccountPolicies, Identities
from kmspolicy.kms.pipeline import Pipeline
from kmspolicy.kms.ports import AuditRecord
from kmspolicy.store import open_store
from kmspolicy.store import sqlite as sqlite_module
from kmspolicy.store.rootkey import RootKey
from tests.kms.audit_log import RecordedAudit
from tests.kms.principals import ACCOUNT, ROOT, policy


def _deny_other_context(action: str) -> str:
    """A key policy refusing ``action`` unless the encryption context says purpose=ok."""
    return policy(
        {"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*"},
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": action,
            "Resource": "*",
            "Condition": {"StringNotEquals": {"kms:EncryptionContext:purpose": "ok"}},
        },
    )


_DENY_OTHER_CONTEXT = _deny_other_context("kms:Encrypt")


class Counted:
    """How many requests took the full path (resolution, authorization, key checks)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.full = 0
        decided = Pipeline._decided

        def counting(pipeline: Pipeline, *args: Any) -> Any:
            self.full += 1
            return decided(pipeline, *args)

        monkeypatch.setattr(Pipeline, "_decided", counting)


@pytest.fixture
def services(tmp_path: Path) -> Iterator[tuple[KMS[Any], KMS[Any], FakeClock]]:
    """A service and another on the same SQLite file (another process), one clock."""
    url, root, clock = f"sqlite://{tmp_path / 'kms.db'}", RootKey.generate(), FakeClock()
    service = KMS(store=open_store(url, root), clock=clock)
    other = KMS(store=open_store(url, root), clock=clock)
    try:
        yield service, other, clock
    finally:
        service.close()
        other.close()
        service.store.close()
        other.store.close()


def test_a_repeated_request_is_answered_from_its_plan(
    services: tuple[KMS[Any], KMS[Any], FakeClock], monkeypatch: pytest.MonkeyPatch
) -> None:
    service, _, _ = services
    key_id = service.create_key()["KeyMetadata"]["KeyId"]
    counted = Counted(monkeypatch)
    for _ in range(3):
        blob = service.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
    assert counted.full == 1
    service.encrypt(KeyId=key_id, Plaintext=b"x", EncryptionContext={"a": "b"})
    assert counted.full == 2  # another context is another question
    assert service.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"


def test_a_planned_request_is_recorded_and_tracked_as_the_full_path_records_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The audit facts and the usage a plan keeps are the ones its first request made: the
    request by an alias, allowed or refused by its handler after the allow."""
    audit, clock = RecordedAudit(), FakeClock()
    service = KMS(
        store=open_store(f"sqlite://{tmp_path / 'kms.db'}", RootKey.generate()),
        clock=clock,
        audit=audit,
    )
    try:
        key_id = service.create_key()["KeyMetadata"]["KeyId"]
        service.create_alias(AliasName="alias/planned", TargetKeyId=key_id)
        counted = Counted(monkeypatch)
        for _ in range(3):
            clock.advance(seconds=1)
            service.encrypt(KeyId="alias/planned", Plaintext=b"x")
        for _ in range(2):  # refused by the handler, after the allow (the record says why)
            with pytest.raises(InvalidKeyUsageException):
                service.encrypt(
                    KeyId="alias/planned", Plaintext=b"x", EncryptionAlgorithm="RSAES_OAEP_SHA_1"
                )
        assert counted.full == 2  # one full path per question, the rest from their plans
        full, *planned, refused, refused_planned = audit.records[-5:]

        def facts(record: AuditRecord) -> AuditRecord:
            return record._replace(time=clock.now(), request_id="")

        assert full.matched and full.allowed and full.resources[0].endswith(key_id)
        assert [facts(r) for r in planned] == [facts(full)] * 2
        assert refused.error_code == "InvalidKeyUsageException"
        assert facts(refused_planned) == facts(refused)
        last = service.get_key_last_usage(KeyId=key_id)["KeyLastUsage"]
        assert last["Operation"] == "Encrypt" and last["Timestamp"] == planned[-1].time
    finally:
        service.close()
        service.store.close()


def test_a_plan_is_not_kept_by_the_memory_store(monkeypatch: pytest.MonkeyPatch) -> None:
    service = KMS()
    key_id = service.create_key()["KeyMetadata"]["KeyId"]
    counted = Counted(monkeypatch)
    for _ in range(3):
        service.encrypt(KeyId=key_id, Plaintext=b"x")
    assert counted.full == 3


def test_a_change_by_another_process_is_seen_by_the_next_request(
    services: tuple[KMS[Any], KMS[Any], FakeClock],
) -> None:
    service, other, _ = services
    key_id = service.create_key()["KeyMetadata"]["KeyId"]
    service.encrypt(KeyId=key_id, Plaintext=b"x")
    service.encrypt(KeyId=key_id, Plaintext=b"x")  # from the plan
    other.disable_key(KeyId=key_id)
    with pytest.raises(DisabledException):
        service.encrypt(KeyId=key_id, Plaintext=b"x")
    other.enable_key(KeyId=key_id)
    service.encrypt(KeyId=key_id, Plaintext=b"x")
    other.put_key_policy(KeyId=key_id, PolicyName="default", Policy=_DENY_OTHER_CONTEXT)
    with pytest.raises(AccessDeniedException):
        service.encrypt(KeyId=key_id, Plaintext=b"x")
    service.encrypt(KeyId=key_id, Plaintext=b"x", EncryptionContext={"purpose": "ok"})


def test_an_alias_moved_by_another_process_is_followed_by_the_next_request(
    services: tuple[KMS[Any], KMS[Any], FakeClock],
) -> None:
    service, other, _ = services
    first = service.create_key()["KeyMetadata"]["Arn"]
    second = service.create_key()["KeyMetadata"]["Arn"]
    service.create_alias(AliasName="alias/app", TargetKeyId=first)
    for _ in range(2):
        assert service.encrypt(KeyId="alias/app", Plaintext=b"x")["KeyId"] == first
    other.update_alias(AliasName="alias/app", TargetKeyId=second)
    assert service.encrypt(KeyId="alias/app", Plaintext=b"x")["KeyId"] == second


def test_due_work_ends_the_plan(services: tuple[KMS[Any], KMS[Any], FakeClock]) -> None:
    """The plan is kept until the key's lifecycle work falls due: the rotation happens on the
    first request after it, as without the plan."""
    service, _, clock = services
    key_id = service.create_key()["KeyMetadata"]["KeyId"]
    service.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)

    def material() -> str:  # the version the Encrypt itself used (its blob's header)
        blob = service.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
        return parse_blob_header(blob).material_id

    before = material()
    assert material() == before
    clock.advance(days=91)
    assert material() != before


def test_a_decision_that_reads_the_time_is_not_planned(
    services: tuple[KMS[Any], KMS[Any], FakeClock], monkeypatch: pytest.MonkeyPatch
) -> None:
    service, _, clock = services
    until = (clock.now() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    timed = policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": ROOT},
            "Action": "kms:*",
            "Resource": "*",
            "Condition": {"DateLessThan": {"aws:CurrentTime": until}},
        }
    )
    key_id = service.create_key(Policy=timed, BypassPolicyLockoutSafetyCheck=True)["KeyMetadata"][
        "KeyId"
    ]
    counted = Counted(monkeypatch)
    service.encrypt(KeyId=key_id, Plaintext=b"x")
    service.encrypt(KeyId=key_id, Plaintext=b"x")
    assert counted.full == 2
    clock.advance(hours=2)
    with pytest.raises(AccessDeniedException):
        service.encrypt(KeyId=key_id, Plaintext=b"x")


def test_a_changed_directory_is_seen_by_the_next_request(tmp_path: Path) -> None:
    """An SCP attached to the caller's account (no store change) refuses the next request:
    the directory hands out a new entry for the caller, which no plan was made for."""
    identities = Identities()
    store = open_store(f"sqlite://{tmp_path / 'kms.db'}", RootKey.generate())
    service = KMS(store=store, identities=identities)
    try:
        key_id = service.create_key()["KeyMetadata"]["KeyId"]
        service.encrypt(KeyId=key_id, Plaintext=b"x")
        service.encrypt(KeyId=key_id, Plaintext=b"x")
        deny = policy({"Effect": "Deny", "Action": "kms:Encrypt", "Resource": "*"})
        identities.set_account(ACCOUNT, AccountPolicies.of(scps=[deny]))
        with pytest.raises(AccessDeniedException):
            service.encrypt(KeyId=key_id, Plaintext=b"x")
    finally:
        service.close()
        store.close()


def test_services_of_two_regions_on_one_store_do_not_share_plans(tmp_path: Path) -> None:
    """One store object (so one connection and its reads per thread) and one directory serve
    two Regions: a key id planned in one is not found in the other."""
    identities = Identities()
    store = open_store(f"sqlite://{tmp_path / 'kms.db'}", RootKey.generate())
    east = KMS(store=store, identities=identities, region="us-east-1")
    west = KMS(store=store, identities=identities, region="us-west-2")
    try:
        key_id = east.create_key()["KeyMetadata"]["KeyId"]
        east.encrypt(KeyId=key_id, Plaintext=b"x")
        east.encrypt(KeyId=key_id, Plaintext=b"x")
        with pytest.raises(NotFoundException):
            west.encrypt(KeyId=key_id, Plaintext=b"x")
    finally:
        east.close()
        west.close()
        store.close()


def test_the_plans_of_one_connection_are_bounded_by_their_contexts(tmp_path: Path) -> None:
    """Review finding: plans were bounded by count only (4096 per connection, as reads), each
    with up to 4 KB of context, so an allowed caller sending distinct contexts pinned ~22 MB
    per connection (per server thread). Now they weigh their characters, within
    ``_READS_MAX_WEIGHT``."""
    store = open_store(f"sqlite://{tmp_path / 'kms.db'}", RootKey.generate())
    service = KMS(store=store)
    try:
        key_id = service.create_key()["KeyMetadata"]["KeyId"]
        for i in range(600):  # ~1.8 M characters of distinct contexts, each one plan
            context = {"n": f"{i:04d}", "pad": "v" * 3000}
            service.encrypt(KeyId=key_id, Plaintext=b"x", EncryptionContext=context)
        reads = store._local.handle.reads
        plans = [q for q in list(reads) if isinstance(q[0], pipeline_module._PlanMark)]
        held = sum(context_chars(q[4]) for q in plans)
        assert plans and held <= sqlite_module._READS_MAX_WEIGHT
    finally:
        service.close()
        store.close()


# --- Decrypt: the key its ciphertext names


def test_a_repeated_decrypt_is_answered_from_its_plan(
    services: tuple[KMS[Any], KMS[Any], FakeClock], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any blob of the same key, by the same caller with the same context, reuses the plan."""
    service, _, _ = services
    arn = service.create_key()["KeyMetadata"]["Arn"]
    first = service.encrypt(KeyId=arn, Plaintext=b"one")["CiphertextBlob"]
    second = service.encrypt(KeyId=arn, Plaintext=b"two")["CiphertextBlob"]
    counted = Counted(monkeypatch)
    for _ in range(2):
        assert service.decrypt(CiphertextBlob=first)["Plaintext"] == b"one"
        answer = service.decrypt(CiphertextBlob=second)
        assert (answer["Plaintext"], answer["KeyId"]) == (b"two", arn)
    assert counted.full == 1
    for _ in range(2):  # naming the key too is another question, planned in turn
        assert service.decrypt(CiphertextBlob=first, KeyId=arn)["Plaintext"] == b"one"
    assert counted.full == 2


def test_a_change_by_another_process_is_seen_by_the_next_decrypt(
    services: tuple[KMS[Any], KMS[Any], FakeClock],
) -> None:
    service, other, _ = services
    key_id = service.create_key()["KeyMetadata"]["KeyId"]
    blob = service.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
    ok = service.encrypt(KeyId=key_id, Plaintext=b"y", EncryptionContext={"purpose": "ok"})
    for _ in range(2):
        service.decrypt(CiphertextBlob=blob)
    other.disable_key(KeyId=key_id)
    with pytest.raises(DisabledException):
        service.decrypt(CiphertextBlob=blob)
    other.enable_key(KeyId=key_id)
    for _ in range(2):
        service.decrypt(CiphertextBlob=blob)
    other.put_key_policy(
        KeyId=key_id, PolicyName="default", Policy=_deny_other_context("kms:Decrypt")
    )
    with pytest.raises(AccessDeniedException):
        service.decrypt(CiphertextBlob=blob)
    answer = service.decrypt(
        CiphertextBlob=ok["CiphertextBlob"], EncryptionContext={"purpose": "ok"}
    )
    assert answer["Plaintext"] == b"y"


def test_a_blob_of_another_key_is_decrypted_with_its_own_key(
    services: tuple[KMS[Any], KMS[Any], FakeClock],
) -> None:
    service, _, _ = services
    first = service.create_key()["KeyMetadata"]["Arn"]
    second = service.create_key()["KeyMetadata"]["Arn"]
    blob = service.encrypt(KeyId=first, Plaintext=b"x")["CiphertextBlob"]
    other = service.encrypt(KeyId=second, Plaintext=b"y")["CiphertextBlob"]
    for _ in range(2):
        assert service.decrypt(CiphertextBlob=blob)["KeyId"] == first
    answer = service.decrypt(CiphertextBlob=other)
    assert (answer["Plaintext"], answer["KeyId"]) == (b"y", second)


def test_a_wrong_key_id_is_refused_after_a_plan(
    services: tuple[KMS[Any], KMS[Any], FakeClock],
) -> None:
    """The KeyId parameter and the blob's key must still agree (IncorrectKeyException), whether
    the plan was made for the blob alone or for the KeyId."""
    service, _, _ = services
    first = service.create_key()["KeyMetadata"]["Arn"]
    second = service.create_key()["KeyMetadata"]["Arn"]
    blob = service.encrypt(KeyId=first, Plaintext=b"x")["CiphertextBlob"]
    other = service.encrypt(KeyId=second, Plaintext=b"y")["CiphertextBlob"]
    for _ in range(2):
        service.decrypt(CiphertextBlob=blob)
    with pytest.raises(IncorrectKeyException):
        service.decrypt(CiphertextBlob=blob, KeyId=second)
    for _ in range(2):
        service.decrypt(CiphertextBlob=blob, KeyId=first)
    with pytest.raises(IncorrectKeyException):
        service.decrypt(CiphertextBlob=other, KeyId=first)


def test_another_context_is_decided_anew_for_a_decrypt(
    services: tuple[KMS[Any], KMS[Any], FakeClock],
) -> None:
    """The refusal, not the blob's failed check: the context was authorized before any crypto."""
    service, _, _ = services
    key_id = service.create_key(Policy=_deny_other_context("kms:Decrypt"))["KeyMetadata"]["KeyId"]
    blob = service.encrypt(KeyId=key_id, Plaintext=b"x", EncryptionContext={"purpose": "ok"})[
        "CiphertextBlob"
    ]
    for _ in range(2):
        service.decrypt(CiphertextBlob=blob, EncryptionContext={"purpose": "ok"})
    for context in ({"purpose": "other"}, None):
        with pytest.raises(AccessDeniedException):
            if context is None:
                service.decrypt(CiphertextBlob=blob)
            else:
                service.decrypt(CiphertextBlob=blob, EncryptionContext=context)


def test_malformed_blobs_are_refused_after_a_plan(
    services: tuple[KMS[Any], KMS[Any], FakeClock],
) -> None:
    """A planned key's blob naming another key id (one character changed), with a key id that
    cannot be one, a flipped bit in its tag, cut short, or not one of ours at all, is
    InvalidCiphertextException as without a plan (with the ``KeyId`` given, a well-formed
    header naming another key is IncorrectKeyException, as without)."""
    service, _, _ = services
    key_id = service.create_key()["KeyMetadata"]["KeyId"]
    blob = service.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
    for _ in range(2):
        service.decrypt(CiphertextBlob=blob)
    header = parse_blob_header(blob)
    other_id = bytearray(blob)
    other_id[4] = ord("1") if blob[4] == ord("0") else ord("0")  # the key id's first character
    bad_id = bytearray(blob)
    bad_id[4] = ord("!")
    flipped_tag = bytearray(blob)
    flipped_tag[-1] ^= 0x01
    malformed = (bytes(bad_id), bytes(flipped_tag), blob[: header.length], b"x" * 200)
    for bad in (bytes(other_id), *malformed):
        with pytest.raises(InvalidCiphertextException):
            service.decrypt(CiphertextBlob=bad)
    for _ in range(2):
        service.decrypt(CiphertextBlob=blob, KeyId=key_id)
    with pytest.raises(IncorrectKeyException):
        service.decrypt(CiphertextBlob=bytes(other_id), KeyId=key_id)
    for bad in malformed:
        with pytest.raises(InvalidCiphertextException):
            service.decrypt(CiphertextBlob=bad, KeyId=key_id)


def test_a_planned_decrypt_is_recorded_as_the_full_path_records_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    audit = RecordedAudit()
    store = open_store(f"sqlite://{tmp_path / 'kms.db'}", RootKey.generate())
    service = KMS(store=store, audit=audit)
    try:
        key_id = service.create_key()["KeyMetadata"]["KeyId"]
        context = {"purpose": "ok"}
        blob = service.encrypt(KeyId=key_id, Plaintext=b"x", EncryptionContext=context)[
            "CiphertextBlob"
        ]
        del audit.records[:]
        counted = Counted(monkeypatch)
        for _ in range(2):
            service.decrypt(CiphertextBlob=blob, EncryptionContext=context)
        assert counted.full == 1
        full, planned = (r._replace(time=None, request_id="") for r in audit.records)
        assert planned == full
        assert full.operation == "Decrypt" and full.allowed and full.context
    finally:
        service.close()
        store.close()
