"""A hypothesis state machine over the key lifecycle, driven through the boto3 client.

Random sequences of create, encrypt, rotate, disable, enable, schedule/cancel deletion,
import/delete material and clock moves, checked after every step against a small model:
every ciphertext returned while its key existed decrypts whenever the key is Enabled; nothing
decrypts in PendingDeletion, Disabled or PendingImport; after deletion nothing of the key
(record, aliases) is left in the store.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule

from kmspolicy import KMS
from kmspolicy.kms.clock import FakeClock
from kmspolicy.kms.lifecycle.rotation import ON_DEMAND_ROTATION_TAKES

OAEP = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
# What a cryptographic operation answers in each state (KMS.md 1.2).
CRYPTO_ERROR = {
    "Disabled": "DisabledException",
    "PendingDeletion": "KMSInvalidStateException",
    "PendingImport": "KMSInvalidStateException",
}


@dataclass
class ModelKey:
    key_id: str
    arn: str
    alias: str
    external: bool
    state: str
    secret: bytes = b""
    has_material: bool = False
    valid_to: datetime | None = None
    deletion_date: datetime | None = None
    deleted: bool = False
    on_demand: int = 0
    rotating_until: datetime | None = None  # an on-demand rotation in progress
    ciphertexts: list[tuple[bytes, bytes]] = field(default_factory=list)


class LifecycleMachine(RuleBasedStateMachine):
    keys = Bundle("keys")

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.kms = KMS(clock=self.clock)
        self.client = self.kms.client()
        self.count = 0
        self.created: list[ModelKey] = []

    # --- helpers ------------------------------------------------------------------------------
    def _code(self, call: Any, **params: Any) -> str | None:
        try:
            call(**params)
        except ClientError as err:
            return str(err.response["Error"]["Code"])
        return None

    def _new(self, external: bool) -> ModelKey:
        self.count += 1
        extra = {"Origin": "EXTERNAL"} if external else {}
        meta = self.client.create_key(**extra)["KeyMetadata"]
        alias = f"alias/k{self.count}"
        self.client.create_alias(AliasName=alias, TargetKeyId=meta["KeyId"])
        key = ModelKey(
            meta["KeyId"],
            meta["Arn"],
            alias,
            external,
            meta["KeyState"],
            secret=os.urandom(32) if external else b"",
        )
        self.created.append(key)
        return key

    # --- rules --------------------------------------------------------------------------------
    @initialize(target=keys)
    def first_key(self) -> ModelKey:
        return self.create_key()

    @initialize(target=keys)
    def first_external_key(self) -> ModelKey:
        return self.create_external_key()

    def _remember(self, key: ModelKey, plaintext: bytes) -> None:
        blob = self.client.encrypt(KeyId=key.alias, Plaintext=plaintext)["CiphertextBlob"]
        if len(key.ciphertexts) >= 4:
            del key.ciphertexts[1]  # keep the very first ciphertext: the oldest material
        key.ciphertexts.append((blob, plaintext))

    @rule(target=keys)
    def create_key(self) -> ModelKey:
        key = self._new(external=False)
        assert key.state == "Enabled"
        self._remember(key, b"first words")
        return key

    @rule(target=keys)
    def create_external_key(self) -> ModelKey:
        key = self._new(external=True)
        assert key.state == "PendingImport"
        return key

    @rule(key=keys, plaintext=st.binary(min_size=1, max_size=64))
    def encrypt(self, key: ModelKey, plaintext: bytes) -> None:
        if key.deleted:
            assert self._code(self.client.encrypt, KeyId=key.key_id, Plaintext=b"x") == (
                "NotFoundException"
            )
            return
        if key.state != "Enabled":
            code = self._code(self.client.encrypt, KeyId=key.key_id, Plaintext=plaintext)
            assert code == CRYPTO_ERROR[key.state]
            return
        self._remember(key, plaintext)

    @rule(key=keys)
    def rotate_on_demand(self, key: ModelKey) -> None:
        code = self._code(self.client.rotate_key_on_demand, KeyId=key.key_id)
        if key.deleted:
            assert code == "NotFoundException"
        elif key.state == "Disabled":
            assert code == "DisabledException"
        elif key.state in ("PendingDeletion", "PendingImport"):
            assert code == "KMSInvalidStateException"
        elif key.external:
            # no new material imported for it: nothing to rotate to
            assert code == "KMSInvalidStateException"
        elif key.rotating_until is not None and self.clock.now() < key.rotating_until:
            assert code == "ConflictException"  # the previous one is still in progress
        elif key.on_demand >= 25:
            assert code == "LimitExceededException"
        else:
            assert code is None
            key.on_demand += 1
            key.rotating_until = self.clock.now() + ON_DEMAND_ROTATION_TAKES
            self._remember(key, b"after rotation %d" % key.on_demand)

    @rule(key=keys, days=st.sampled_from([90, 180, 365]))
    def enable_automatic_rotation(self, key: ModelKey, days: int) -> None:
        code = self._code(
            self.client.enable_key_rotation, KeyId=key.key_id, RotationPeriodInDays=days
        )
        if key.deleted:
            assert code == "NotFoundException"
        elif key.external:  # the key type is checked before the state, as AWS does
            assert code == "UnsupportedOperationException"
        elif key.state == "Disabled":
            assert code == "DisabledException"
        elif key.state == "PendingDeletion":
            assert code == "KMSInvalidStateException"
        else:
            assert code is None

    @rule(key=keys)
    def disable(self, key: ModelKey) -> None:
        code = self._code(self.client.disable_key, KeyId=key.key_id)
        if key.deleted:
            assert code == "NotFoundException"
        elif key.state in ("PendingDeletion", "PendingImport"):
            assert code == "KMSInvalidStateException"
        else:
            assert code is None
            key.state = "Disabled"

    @rule(key=keys)
    def enable(self, key: ModelKey) -> None:
        code = self._code(self.client.enable_key, KeyId=key.key_id)
        if key.deleted:
            assert code == "NotFoundException"
        elif key.state in ("PendingDeletion", "PendingImport"):
            assert code == "KMSInvalidStateException"
        else:
            assert code is None
            key.state = "Enabled"

    @rule(key=keys, days=st.integers(min_value=7, max_value=30))
    def schedule_deletion(self, key: ModelKey, days: int) -> None:
        code = self._code(
            self.client.schedule_key_deletion, KeyId=key.key_id, PendingWindowInDays=days
        )
        if key.deleted:
            assert code == "NotFoundException"
        elif key.state == "PendingDeletion":
            assert code == "KMSInvalidStateException"
        else:
            assert code is None
            key.state = "PendingDeletion"
            key.deletion_date = self.clock.now() + timedelta(days=days)

    @rule(key=keys)
    def cancel_deletion(self, key: ModelKey) -> None:
        code = self._code(self.client.cancel_key_deletion, KeyId=key.key_id)
        if key.deleted:
            assert code == "NotFoundException"
        elif key.state != "PendingDeletion":
            assert code == "KMSInvalidStateException"
        else:
            assert code is None
            no_material = key.external and not key.has_material
            key.state = "PendingImport" if no_material else "Disabled"
            key.deletion_date = None

    @rule(key=keys, expires_in_days=st.one_of(st.none(), st.integers(min_value=1, max_value=60)))
    def import_material(self, key: ModelKey, expires_in_days: int | None) -> None:
        if not key.external or key.deleted:
            return
        if key.state == "PendingDeletion":
            code = self._code(
                self.client.get_parameters_for_import,
                KeyId=key.key_id,
                WrappingAlgorithm="RSAES_OAEP_SHA_256",
                WrappingKeySpec="RSA_2048",
            )
            assert code == "KMSInvalidStateException"
            return
        params = self.client.get_parameters_for_import(
            KeyId=key.key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
        )
        public = serialization.load_der_public_key(params["PublicKey"])
        wrapped = public.encrypt(key.secret, OAEP)  # type: ignore[union-attr,call-arg]
        expiry: dict[str, Any] = {"ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}
        valid_to = None
        if expires_in_days is not None:
            valid_to = self.clock.now() + timedelta(days=expires_in_days)
            expiry = {"ExpirationModel": "KEY_MATERIAL_EXPIRES", "ValidTo": valid_to}
        self.client.import_key_material(
            KeyId=key.key_id,
            ImportToken=params["ImportToken"],
            EncryptedKeyMaterial=wrapped,
            **expiry,
        )
        key.has_material, key.valid_to = True, valid_to
        event("material imported")
        if key.state == "PendingImport":
            key.state = "Enabled"
        if key.state == "Enabled":
            self._remember(key, b"imported")

    @rule(key=keys)
    def delete_material(self, key: ModelKey) -> None:
        if not key.external:
            return
        code = self._code(self.client.delete_imported_key_material, KeyId=key.key_id)
        if key.deleted:
            assert code == "NotFoundException"
            return
        assert code is None
        if key.has_material and key.state != "PendingDeletion":
            key.state = "PendingImport"
        key.has_material, key.valid_to = False, None

    @rule(
        days=st.one_of(st.integers(min_value=0, max_value=3), st.sampled_from([7, 30, 91, 366])),
        hours=st.integers(min_value=0, max_value=23),
        run_sweeper=st.booleans(),
    )
    def advance_clock(self, days: int, hours: int, run_sweeper: bool) -> None:
        """Time passes; due work then happens by the sweeper or on the next access."""
        now = self.clock.advance(days=days, hours=hours)
        if run_sweeper:
            self.kms.sweep(now)
        for key in self._all():
            if key.deleted:
                continue
            if key.has_material and key.valid_to is not None and key.valid_to <= now:
                key.has_material, key.valid_to = False, None
                event("imported material expired")
                if key.state != "PendingDeletion":
                    key.state = "PendingImport"
            due = key.deletion_date
            if key.state == "PendingDeletion" and due is not None and due <= now:
                key.deleted = True
                event("a key reached the end of its deletion window")

    # --- invariants ---------------------------------------------------------------------------
    def _all(self) -> list[ModelKey]:
        return self.created

    @invariant()
    def lifecycle_invariants(self) -> None:
        # Order matters: the accesses of the first two checks do any due work the sweeper
        # did not, so that the store check sees every deletion that is due.
        self._states_match()
        self._ciphertexts_decrypt_exactly_when_enabled()
        self._nothing_left_of_deleted_keys()

    def _states_match(self) -> None:
        for key in self._all():
            if key.deleted:
                assert self._code(self.client.describe_key, KeyId=key.key_id) == (
                    "NotFoundException"
                )
            else:
                meta = self.client.describe_key(KeyId=key.key_id)["KeyMetadata"]
                assert meta["KeyState"] == key.state, (key, meta)

    def _ciphertexts_decrypt_exactly_when_enabled(self) -> None:
        for key in self._all():
            for blob, plaintext in key.ciphertexts:
                if key.deleted:
                    code = self._code(self.client.decrypt, CiphertextBlob=blob)
                    assert code == "InvalidCiphertextException"
                elif key.state == "Enabled":
                    assert self.client.decrypt(CiphertextBlob=blob)["Plaintext"] == plaintext
                    event("an old ciphertext decrypted")
                else:
                    code = self._code(self.client.decrypt, CiphertextBlob=blob)
                    assert code == CRYPTO_ERROR[key.state]

    def _nothing_left_of_deleted_keys(self) -> None:
        with self.kms.store.transaction() as tx:
            for key in self._all():
                if key.deleted:
                    assert tx.get_key(key.arn) is None
                    assert list(tx.list_grants(key.arn)) == []
                    assert all(
                        a.target_key_id != key.key_id
                        for a in tx.list_aliases(self.kms.account, self.kms.region)
                    )


TestLifecycle = LifecycleMachine.TestCase
TestLifecycle.settings = settings(
    max_examples=50,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
