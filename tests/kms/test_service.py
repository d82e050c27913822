"""The Python API, the bypass-by-construction rule, atomicity and the audit trail."""

from __future__ import annotations

import ast
import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest

import kmspolicy
from kmspolicy import KMS, Identity
from kmspolicy.errors import (
    AccessDeniedException,
    ConfigError,
    InternalError,
    MalformedPolicyDocumentException,
)
from kmspolicy.kms.kernel import AuthorizedKey, Kernel
from kmspolicy.kms.memory import MemoryStore
from kmspolicy.kms.model import KeyRecord
from kmspolicy.kms.ports import AuditRecord
from kmspolicy.kms.requests import Call
from tests.kms.audit_log import RecordedAudit
from tests.kms.principals import BOB, policy

KMS_PACKAGE = Path(kmspolicy.__file__).parent / "kms"


def test_python_api_is_the_same_dispatch(service: KMS) -> None:
    key = service.create_key(Description="py")["KeyMetadata"]
    blob = service.encrypt(KeyId=key["KeyId"], Plaintext=b"p")["CiphertextBlob"]
    assert service.decrypt(CiphertextBlob=blob)["Plaintext"] == b"p"
    with pytest.raises(AccessDeniedException):
        service.as_principal(BOB).encrypt(KeyId=key["Arn"], Plaintext=b"p")
    with pytest.raises(AttributeError):
        service.make_coffee  # noqa: B018  # not an operation


def _a_record(service: KMS) -> KeyRecord:
    arn = service.create_key()["KeyMetadata"]["Arn"]
    with service.store.transaction(readonly=True) as tx:
        record = tx.get_key(arn)
    assert record is not None
    return record


def test_authorized_key_cannot_be_made_outside_the_pipeline(service: KMS) -> None:
    record = _a_record(service)
    kernel = service._pipeline.kernel
    with pytest.raises(TypeError):
        AuthorizedKey(object(), kernel, record, "kms:Encrypt", None)
    with pytest.raises(InternalError):  # the pipeline took the minter when it built its kernel
        kernel.take_minter()


def test_a_kernel_refuses_the_handles_of_another(service: KMS) -> None:
    record = _a_record(service)
    own = Kernel(service.store.root_key, os.urandom)
    foreign = own.take_minter()(record, "kms:Encrypt", None)
    with pytest.raises(InternalError, match="another KMS instance"):
        service._pipeline.kernel.encrypt(foreign, b"p", None)


# The modules that make or open key material: the kernel and its backends (the default one,
# with its envelope key, and the custom key stores').
_KERNEL_MODULES = {
    "kernel.py",
    "backends.py",
    "envelope.py",
    "cloudhsm_backend.py",
    "external_backend.py",
}
# Names of those crypto modules that touch no key material: the randomness type, a check of
# wrapping algorithm names, and the class of the in-memory store's default root key.
_HARMLESS = {"Rng", "check_wrapping", "RootKey"}


def test_only_the_kernel_hands_material_to_crypto() -> None:
    """Nothing of kms/ but the kernel and its backends reaches the crypto that touches key
    material (handlers and lifecycle alike: they hold sealed references only)."""
    crypto_ops = {"asymmetric", "mac", "agreement", "blob", "material", "wrapping", "seal"}
    offenders = []
    for path in KMS_PACKAGE.rglob("*.py"):
        if path.name in _KERNEL_MODULES:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = {a.name for a in node.names} - _HARMLESS
                if node.module == "kmspolicy.crypto" and names & crypto_ops:
                    offenders.append(f"{path.name}: {node.module} {names & crypto_ops}")
                if names and node.module.removeprefix("kmspolicy.crypto.") in crypto_ops:
                    offenders.append(f"{path.name}: {node.module} {names}")
    assert offenders == []


#: Where a handler or a lifecycle rule could get at a whole record: the handle's private
#: record and kernel, the writes of whole records ``Call`` no longer has, and the record of an
#: authorization target (``Call.targets``). ``KeyInfo`` has no ``evolve`` (mypy strict).
_WHOLE_RECORD = {"record", "_record", "_kernel", "save_key", "write_member"}
#: The lifecycle rules: pure functions of ``KeyInfo`` returning ``KeyChanges``
_RULES = ("lifecycle/rotation.py", "lifecycle/deletion.py", "lifecycle/imports.py")


def _is_resolver(fn: ast.FunctionDef) -> bool:
    """A resolver runs before the decision, on the records it resolves into targets."""
    return any(
        a.annotation is not None and ast.unparse(a.annotation) == "Resolution" for a in fn.args.args
    )


def _whole_record_uses(source: str, module: str) -> list[str]:
    """Where a handler module or a lifecycle rule reaches for a whole record: one of
    ``_WHOLE_RECORD``, a target's ``key``, or (outside a resolver) the name ``KeyRecord`` other
    than to make a new key's first record (CreateKey, ReplicateKey); a rule may not name it."""
    tree = ast.parse(source)
    skipped = {
        id(node)
        for fn in ast.walk(tree)
        if isinstance(fn, ast.FunctionDef) and _is_resolver(fn)
        for node in ast.walk(fn)
    }
    made = {
        id(node.func)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and module not in _RULES
    }
    found = []
    for node in ast.walk(tree):
        target_key = (
            isinstance(node, ast.Attribute)
            and node.attr == "key"
            and "targets" in ast.unparse(node.value)
        )
        if isinstance(node, ast.Attribute) and (node.attr in _WHOLE_RECORD or target_key):
            found.append(f"{module}:{node.lineno} {ast.unparse(node)}")
        elif id(node) in skipped or id(node) in made:
            continue
        elif (isinstance(node, ast.Name) and node.id == "KeyRecord") or (
            isinstance(node, ast.Constant) and node.value == "KeyRecord"
        ):
            found.append(f"{module}:{node.lineno} names KeyRecord")
    return found


def test_handlers_and_lifecycle_rules_never_hold_a_whole_record() -> None:
    """Handlers read a key as ``AuthorizedKey.info`` (a ``KeyInfo``: no ``evolve``) and change
    it only through ``Call.update_key`` / ``update_member`` with ``KeyChanges``; the lifecycle
    rules take a ``KeyInfo`` and return ``KeyChanges``. Only the service's own writes (due work,
    multi-Region synchronization, AWS managed keys: ``due``, ``multiregion``, ``managed``) and
    ``Call`` itself evolve records."""
    modules = [
        *KMS_PACKAGE.glob("handlers/*.py"),
        *KMS_PACKAGE.glob("lifecycle/api_*.py"),
        *(KMS_PACKAGE / rule for rule in _RULES),
    ]
    found = [
        use
        for path in sorted(modules)
        for use in _whole_record_uses(path.read_text(), str(path.relative_to(KMS_PACKAGE)))
    ]
    assert found == [], "\n".join(found)


def test_a_handle_and_a_call_offer_no_whole_record() -> None:
    assert not hasattr(AuthorizedKey, "record")
    assert not {"save_key", "write_member", "underlying"} & set(dir(Call))


@pytest.mark.parametrize(
    ("source", "module"),
    [
        ("def describe_key(call):\n    return call.key.record.policy", "handlers/keys.py"),
        ("def f(call):\n    return call.key._record", "handlers/keys.py"),
        ("def f(call):\n    return call.targets[0].key.evolve()", "handlers/tags.py"),
        ("def f(res: Resolution, call):\n    return call.key.record", "handlers/keys.py"),
        ("def f(info: KeyRecord) -> None: ...", "handlers/keys.py"),
        ("def f(info):\n    return typing.cast('KeyRecord', info)", "handlers/keys.py"),
        ("def f(info):\n    return typing.cast(KeyRecord, info)", "handlers/keys.py"),
        ("def f(info):\n    return KeyRecord(**vars(info))", "lifecycle/rotation.py"),
    ],
)
def test_the_whole_record_check_finds_each_way(source: str, module: str) -> None:
    assert _whole_record_uses(source, module)


def test_failed_operation_leaves_no_partial_state(service: KMS) -> None:
    before = service.list_keys()["Keys"]
    with pytest.raises(MalformedPolicyDocumentException):
        service.create_key(
            Policy=policy(
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": BOB},
                    "Action": "kms:Encrypt",
                    "Resource": "*",
                }
            )
        )
    assert service.list_keys()["Keys"] == before


def test_memory_store_rolls_back_a_failed_transaction(service: KMS) -> None:
    store = MemoryStore()
    key = service.create_key()["KeyMetadata"]
    with service.store.transaction() as tx:
        record = tx.get_key(key["Arn"])
    assert isinstance(record, KeyRecord)
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.put_key(record)
        raise RuntimeError("crash mid-operation")
    with store.transaction() as tx:
        assert tx.get_key(record.arn) is None
        assert tx.count_keys(record.account, record.region) == 0


def test_every_request_is_audited_without_secrets(clock: Any, identities: Any) -> None:
    audit = RecordedAudit()
    service = KMS(clock=clock, identities=identities, audit=audit)
    key = service.create_key()["KeyMetadata"]["Arn"]
    service.encrypt(KeyId=key, Plaintext=b"top secret", EncryptionContext={"app": "x"})
    with pytest.raises(AccessDeniedException):
        service.as_principal(BOB).decrypt(CiphertextBlob=b"x" * 200, KeyId=key)
    ops = [(r.operation, r.allowed, r.error_code) for r in audit.records]
    assert ops == [
        ("CreateKey", True, None),
        ("Encrypt", True, None),
        ("Decrypt", False, "AccessDeniedException"),
    ]
    assert audit.records[1].resources == (key,)
    assert audit.records[1].context["kms:EncryptionContext:app"] == "x"
    assert [r.decision for r in audit.records] == ["allowed", "allowed", "implicitDeny"]
    assert all("top secret" not in repr(r) for r in audit.records)


def test_boto3_paginators_walk_every_page(client: Any) -> None:
    made = {client.create_key()["KeyMetadata"]["KeyId"] for _ in range(5)}
    pages = list(client.get_paginator("list_keys").paginate(PaginationConfig={"PageSize": 2}))
    assert len(pages) == 3
    assert {k["KeyId"] for p in pages for k in p["Keys"]} == made
    with pytest.raises(client.exceptions.InvalidMarkerException):
        client.list_keys(Marker="***")


def test_audit_record_decision_uses_the_decision_kind_spelling() -> None:
    from datetime import UTC, datetime

    fields: dict[str, Any] = {
        "time": datetime(2026, 1, 1, tzinfo=UTC),
        "request_id": "r",
        "operation": "Encrypt",
        "principal": "arn:aws:iam::111122223333:root",
        "actions": ("kms:Encrypt",),
        "resources": ("*",),
        "allowed": True,
    }
    for kind in ("allowed", "explicitDeny", "implicitDeny", ""):
        assert AuditRecord(**fields, decision=kind).decision == kind
    with pytest.raises(ValueError):
        AuditRecord(**fields, decision="ALLOWED")
    # review finding: the tuple's own _make and _replace skipped these checks
    made = AuditRecord(**fields, decision="allowed")
    assert made._replace(reason="r") == AuditRecord(**fields, decision="allowed", reason="r")
    assert AuditRecord._make(made) == made
    with pytest.raises(ValueError):
        made._replace(decision="ALLOWED")
    with pytest.raises(ValueError):
        AuditRecord._make([*made[:-1], "not-an-event"])


def test_get_key_last_usage_tracks_successful_cryptographic_operations(
    service: KMS, clock: Any
) -> None:
    client = service.client()
    tracking_began = clock.now()
    clock.advance(days=1)
    key = client.create_key()["KeyMetadata"]
    other = client.create_key()["KeyMetadata"]
    usage = client.get_key_last_usage(KeyId=key["KeyId"])
    assert usage["KeyId"] == key["KeyId"] and usage["KeyLastUsage"] == {}
    assert usage["TrackingStartDate"] == usage["KeyCreationDate"] == key["CreationDate"]
    assert usage["TrackingStartDate"] > tracking_began

    clock.advance(hours=1)
    encrypted = client.encrypt(KeyId=key["KeyId"], Plaintext=b"p")
    last = client.get_key_last_usage(KeyId=key["Arn"])["KeyLastUsage"]
    assert last["Operation"] == "Encrypt" and last["Timestamp"] == clock.now()
    assert last["KmsRequestId"] == encrypted["ResponseMetadata"]["RequestId"]

    clock.advance(hours=1)
    client.describe_key(KeyId=key["KeyId"])  # not a cryptographic operation
    with pytest.raises(client.exceptions.InvalidCiphertextException):
        client.decrypt(CiphertextBlob=b"\x01" * 100, KeyId=key["KeyId"])  # not successful
    assert client.get_key_last_usage(KeyId=key["KeyId"])["KeyLastUsage"]["Operation"] == "Encrypt"

    client.re_encrypt(CiphertextBlob=encrypted["CiphertextBlob"], DestinationKeyId=other["Arn"])
    for k in (key, other):  # both keys of a ReEncrypt
        assert client.get_key_last_usage(KeyId=k["KeyId"])["KeyLastUsage"]["Operation"] == (
            "ReEncrypt"
        )
    with pytest.raises(client.exceptions.NotFoundException):
        client.get_key_last_usage(KeyId="alias/nope")


def test_list_keys_resource_owners(client: Any, key_id: str) -> None:
    assert [k["KeyId"] for k in client.list_keys(ResourceOwners=["SELF"])["Keys"]] == [key_id]
    both = client.list_keys(ResourceOwners=["SELF", "OTHER_ACCOUNTS_VIA_RAM"])["Keys"]
    assert [k["KeyId"] for k in both] == [key_id]
    # no AWS RAM here: nothing is shared with the account
    assert client.list_keys(ResourceOwners=["OTHER_ACCOUNTS_VIA_RAM"])["Keys"] == []


@pytest.mark.parametrize(
    "arn",
    ["garbage", "arn:aws:iam::123:user/x", " arn:aws:iam::111122223333:user/padded", ""],
    ids=["not-an-arn", "short-account", "padded", "empty"],
)
def test_identity_with_a_malformed_principal_is_refused_when_built(arn: str) -> None:
    with pytest.raises(ConfigError, match="is not"):
        Identity.of(arn)


def test_identity_accepts_users_roles_and_sessions() -> None:
    for arn in (BOB, "arn:aws:sts::111122223333:assumed-role/Admin/s1", "kms.amazonaws.com"):
        assert Identity.of(arn).arn == arn


def test_a_handler_that_crashes_after_an_allow_leaves_the_decision_in_the_audit_log(
    clock: Any, identities: Any
) -> None:
    audit = RecordedAudit()
    service = KMS(clock=clock, identities=identities, audit=audit)
    key = service.create_key()["KeyMetadata"]["Arn"]
    table = service._pipeline.operations  # the shared registry: replaced here, not mutated
    crashing = dataclasses.replace(
        table["DescribeKey"], handler=lambda call: {}["a bug after the decision"]
    )
    service._pipeline.operations = {**table, "DescribeKey": crashing}
    with pytest.raises(Exception):  # noqa: B017 - whatever the bug raises, it is not hidden
        service.describe_key(KeyId=key)
    last = audit.records[-1]
    assert (last.operation, last.allowed, last.decision) == ("DescribeKey", True, "allowed")
    assert last.error_code  # recorded as failed, not as a success
