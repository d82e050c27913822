"""Due work: automatic rotation catch-up, deletion at the end of the window, expiry — and the
lazy path (on access) and the sweeper giving the same result."""

from __future__ import annotations

import os
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from kmspolicy.kms.lifecycle import deletion, imports, rotation
from kmspolicy.kms.lifecycle.due import (
    SweepReport,
    apply_due_work,
    due_at,
    has_due_work,
    run_due_work,
    sweep,
)
from kmspolicy.kms.memory import MemoryStore
from kmspolicy.kms.model import AliasRecord, OriginType, RotationType
from kmspolicy.kms.ports import Store
from kmspolicy.kms.states import KeyState
from kmspolicy.store import open_store
from kmspolicy.store.rootkey import RootKey
from kmspolicy.store.sql import SqlTransaction

from .conftest import ACCOUNT, KERNEL, REGION, T0, apply, apply_pair, make_key, new_version


def accept(record, secret, **kwargs):  # type: ignore[no-untyped-def]
    """The record after ImportKeyMaterial (the material id is checked where it matters)."""
    return apply_pair(imports.accept_material, record, new_version(record, secret), **kwargs)[0]


def test_nothing_due_returns_the_same_record() -> None:
    key = apply(rotation.enable_rotation, make_key(), 365, T0)
    assert apply_due_work(key, T0 + timedelta(days=364), KERNEL) is key
    assert not has_due_work(key, T0 + timedelta(days=364))


def test_automatic_rotation_on_time_and_catch_up() -> None:
    key = apply(rotation.enable_rotation, make_key(), 90, T0)
    later = T0 + timedelta(days=275)  # three periods (90, 180, 270) have passed
    after = apply_due_work(key, later, KERNEL)
    assert after is not None
    rotations = [m for m in after.materials if m.rotation_type is RotationType.AUTOMATIC]
    assert [m.rotation_date for m in rotations] == [T0 + timedelta(days=d) for d in (90, 180, 270)]
    assert after.next_rotation_date == T0 + timedelta(days=360)


def test_disabled_key_is_not_rotated_but_catches_up_when_enabled() -> None:
    key = apply(rotation.enable_rotation, make_key(), 90, T0).evolve(key_state=KeyState.DISABLED)
    seen = T0 + timedelta(days=200)
    assert not has_due_work(key, seen)  # nothing to write while it stays disabled
    assert apply_due_work(key, seen, KERNEL) is key
    enabled = apply(
        rotation.catch_up_on_enable, key.evolve(key_state=KeyState.ENABLED), seen, KERNEL
    )
    assert len(enabled.materials) == 2  # once, as it comes back, not once per missed period
    assert enabled.current_material is not None
    assert enabled.current_material.rotation_date == seen
    assert enabled.next_rotation_date == seen + timedelta(days=90)
    assert apply_due_work(enabled, seen + timedelta(days=89), KERNEL) is enabled


def test_deletion_due_removes_key_and_aliases() -> None:
    store = MemoryStore()
    key = apply(deletion.schedule_deletion, make_key(), 7, T0)
    alias_arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/doomed"
    with store.transaction() as tx:
        tx.put_key(key)
        tx.put_alias(AliasRecord("alias/doomed", alias_arn, ACCOUNT, REGION, key.key_id, T0, T0))
    with store.transaction() as tx:
        assert run_due_work(tx, key, T0 + timedelta(days=6), KERNEL) is key
    with store.transaction() as tx:
        assert run_due_work(tx, key, T0 + timedelta(days=7), KERNEL) is None
    with store.transaction() as tx:
        assert tx.get_key(key.arn) is None
        assert tx.get_alias(alias_arn) is None
        assert list(tx.iter_all_keys()) == []


def _population() -> list:  # type: ignore[type-arg]
    secret = os.urandom(32)
    imported = accept(
        make_key(key_id="22222222-12ab-34cd-56ef-1234567890ab", origin=OriginType.EXTERNAL),
        secret,
        now=T0,
        expiration_model="KEY_MATERIAL_EXPIRES",
        valid_to=T0 + timedelta(days=20),
    )
    return [
        apply(
            rotation.enable_rotation,
            make_key(key_id="11111111-12ab-34cd-56ef-1234567890ab"),
            90,
            T0,
        ),
        imported,
        apply(
            deletion.schedule_deletion,
            make_key(key_id="33333333-12ab-34cd-56ef-1234567890ab"),
            10,
            T0,
        ),
        make_key(key_id="44444444-12ab-34cd-56ef-1234567890ab"),
    ]


def _shape(store: Store) -> list[tuple[object, ...]]:
    """What must agree between the paths (fresh material differs: it is random)."""
    with store.transaction() as tx:
        return sorted(
            (
                k.key_id,
                k.key_state,
                k.next_rotation_date,
                tuple((m.state, m.rotation_date, m.sealed is None) for m in k.materials),
            )
            for k in tx.iter_all_keys()
        )


def _sqlite(tmp_path: Path, root_key: RootKey | None = None) -> Store:
    return open_store(f"sqlite://{tmp_path / 'kms.db'}", root_key=root_key or RootKey.generate())


@pytest.mark.parametrize("swept_on", ["memory", "sqlite"])
def test_sweeper_and_lazy_access_give_the_same_result(swept_on: str, tmp_path: Path) -> None:
    swept = MemoryStore() if swept_on == "memory" else _sqlite(tmp_path)
    touched = MemoryStore()
    for store in (swept, touched):
        with store.transaction() as tx:
            for key in _population():
                tx.put_key(key)
    moments = [T0 + timedelta(days=d) for d in (5, 15, 25, 100, 400)]
    examined = []
    for now in moments:
        examined.append(sweep(swept, now, KERNEL).examined)
        with touched.transaction() as tx:
            for key in list(tx.iter_all_keys()):
                run_due_work(tx, key, now, KERNEL)
        assert _shape(swept) == _shape(touched)
    # day 5: nothing; 15: deletion; 25: expiry; 100: rotation (90); 400: rotations 180..360
    assert examined == [0, 1, 1, 1, 1]
    shape = {row[0]: row for row in _shape(swept)}
    assert "33333333-12ab-34cd-56ef-1234567890ab" not in shape  # deleted after 10 days
    assert shape["22222222-12ab-34cd-56ef-1234567890ab"][1] is KeyState.PENDING_IMPORT  # expired
    assert len(shape["11111111-12ab-34cd-56ef-1234567890ab"][3]) == 1 + 4  # 90/180/270/360
    swept.close()


def test_sweep_reports_work_done() -> None:
    store = MemoryStore()
    with store.transaction() as tx:
        for key in _population():
            tx.put_key(key)
    report = sweep(store, T0 + timedelta(days=91), KERNEL)
    assert (report.examined, report.changed, report.deleted) == (3, 2, 1)
    assert sweep(store, T0 + timedelta(days=91), KERNEL) == SweepReport(0, 0, 0)


def test_sqlite_sweep_reads_only_the_keys_with_due_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _sqlite(tmp_path)
    population = _population()
    with store.transaction() as tx:
        for key in population:
            tx.put_key(key)
    decoded: list[str] = []
    real_decode = SqlTransaction._decode_key

    def spy(self: SqlTransaction, contents: tuple[Any, ...]) -> Any:
        decoded.append(contents[0])
        return real_decode(self, contents)

    monkeypatch.setattr(SqlTransaction, "_decode_key", spy)
    # day 15: only the key scheduled for deletion (after 10 days) has anything due
    report = sweep(store, T0 + timedelta(days=15), KERNEL)
    assert report == SweepReport(examined=1, changed=0, deleted=1, touched=(population[2].arn,))
    assert set(decoded) <= {population[2].arn}
    decoded.clear()
    assert sweep(store, T0 + timedelta(days=16), KERNEL).examined == 0
    assert decoded == []
    store.close()


def test_due_at_is_when_has_due_work_starts() -> None:
    for key in _population():
        moment = due_at(key)
        if moment is None:
            assert not has_due_work(key, T0 + timedelta(days=10_000))
            continue
        assert not has_due_work(key, moment - timedelta(microseconds=1))
        assert has_due_work(key, moment)
    disabled = apply(rotation.enable_rotation, make_key(), 90, T0).evolve(
        key_state=KeyState.DISABLED
    )
    assert due_at(disabled) is None  # disabled keys do not rotate: nothing to sweep


def test_store_migrated_from_before_due_moments_settles_on_first_sweep(tmp_path: Path) -> None:
    root_key = RootKey.generate()
    store = _sqlite(tmp_path, root_key)
    with store.transaction() as tx:
        for key in _population():
            tx.put_key(key)
    store.close()
    # turn the file back into a schema-2 store holding these keys, then reopen: migration 3 runs
    db = sqlite3.connect(tmp_path / "kms.db")
    with db:
        db.execute("DROP TRIGGER grants_need_grantee")  # migration 8 too
        db.execute("DELETE FROM schema_version WHERE version = 8")
        db.execute("DROP INDEX grants_by_retiring")  # and 7
        db.execute("CREATE INDEX grants_by_retiring ON grants (retiring_principal)")
        db.execute("DELETE FROM schema_version WHERE version = 7")
        db.execute("DROP INDEX grants_by_grantee")  # and 6
        db.execute("DROP INDEX grants_by_grantee_role")
        db.execute("ALTER TABLE grants DROP COLUMN grantee")
        db.execute("ALTER TABLE grants DROP COLUMN grantee_role")
        db.execute("DELETE FROM schema_version WHERE version = 6")
        db.execute("DROP TABLE console_sessions")  # and 5
        db.execute("DELETE FROM schema_version WHERE version = 5")
        db.execute("DROP INDEX keys_by_custom_key_store")  # and 4
        db.execute("ALTER TABLE keys DROP COLUMN custom_key_store_id")
        db.execute("DROP TABLE custom_key_stores")
        db.execute("DELETE FROM schema_version WHERE version = 4")
        db.execute("DROP INDEX keys_by_due")
        db.execute("DROP INDEX keys_by_id")
        db.execute("ALTER TABLE keys DROP COLUMN due_at")
        db.execute("DELETE FROM schema_version WHERE version = 3")
    db.close()
    store = _sqlite(tmp_path, root_key)
    db = sqlite3.connect(tmp_path / "kms.db")
    assert {due for (due,) in db.execute("SELECT due_at FROM keys")} == {0}  # "check me"
    db.close()
    assert sweep(store, T0 + timedelta(days=1), KERNEL).examined == 4
    assert sweep(store, T0 + timedelta(days=1), KERNEL).examined == 0  # settled
    assert sweep(store, T0 + timedelta(days=11), KERNEL).deleted == 1
    store.close()
