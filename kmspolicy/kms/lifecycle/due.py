"""Due work: automatic rotations, the completion of on-demand rotations, deletions at the end of
their window, expiry of imported material and of import parameters — done on first access after
it is due, and by ``sweep``.

Layer: kms. Both paths call ``apply_due_work`` on one record at one moment, so they cannot
disagree: the pipeline calls ``run_due_work`` on every key it loads, the server calls ``sweep``
periodically, and a key that nobody touches still rotates, expires and disappears on time.
Either way each change is in the audit log before its transaction commits, as CloudTrail
records it: an ``AwsServiceEvent`` by "AWS Internal" named ``RotateKey``, ``DeleteKey``,
``DeleteExpiredKeyMaterial`` or ``SynchronizeMultiRegionKey`` (``service_events``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from kmspolicy.kms.kernel import Kernel
from kmspolicy.kms.lifecycle import multiregion
from kmspolicy.kms.lifecycle.deletion import deletion_due
from kmspolicy.kms.lifecycle.imports import expire_materials, expiring, prune_import_parameters
from kmspolicy.kms.lifecycle.rotation import (
    ON_DEMAND_ROTATION_TAKES,
    finish_on_demand,
    on_demand_due,
    rotate,
)
from kmspolicy.kms.model import KeyRecord, OriginType, RotationType
from kmspolicy.kms.ports import AuditLog, AuditRecord, Store, Transaction
from kmspolicy.kms.states import KeyState

__all__ = [
    "SweepReport",
    "apply_due_work",
    "due_at",
    "has_due_work",
    "run_due_work",
    "service_events",
    "sweep",
]


def due_at(record: KeyRecord) -> datetime | None:
    """The first moment at which ``record`` has due work; None if it never will unchanged.

    The one definition of "due": ``has_due_work`` is ``due_at <= now``, and the SQL stores keep
    it in an indexed column so the sweeper finds due keys without reading (unsealing) the rest.
    """
    if (
        record.deletion_date is None
        and not record.rotation_enabled
        and not record.pending_imports
        and record.on_demand_rotation_start_date is None
        and record.origin is not OriginType.EXTERNAL
        and record.key_state is not KeyState.CREATING
        and record.key_state is not KeyState.UPDATING
    ):
        return None  # the common case: nothing scheduled at all
    moments: list[datetime] = []
    if record.key_state is KeyState.CREATING:  # a replica: completed on first access
        moments.append(record.creation_date)
    if multiregion.update_due(record, None):  # UpdatePrimaryRegion: completed seconds later
        assert record.updating_until is not None
        moments.append(record.updating_until)
    if record.key_state is KeyState.PENDING_DELETION and record.deletion_date is not None:
        moments.append(record.deletion_date)
    moments.extend(m.valid_to for m in expiring(record) if m.valid_to is not None)
    moments.extend(p.valid_to for p in record.pending_imports)
    if on_demand_due(record, None):  # RotateKeyOnDemand: completed seconds later
        assert record.on_demand_rotation_start_date is not None
        moments.append(record.on_demand_rotation_start_date + ON_DEMAND_ROTATION_TAKES)
    # Only Enabled keys rotate; one that was disabled (or pending deletion) when its rotation
    # fell due catches up when EnableKey brings it back (rotation.catch_up_on_enable).
    if _rotation_due(record, None):
        assert record.next_rotation_date is not None
        moments.append(record.next_rotation_date)
    return min(moments) if moments else None


def has_due_work(record: KeyRecord, now: datetime) -> bool:
    """Cheap test: would ``apply_due_work`` change anything? (Runs on every key load.)"""
    moment = due_at(record)
    return moment is not None and moment <= now


def _rotation_due(record: KeyRecord, now: datetime | None) -> bool:
    """Whether ``record`` rotates automatically by ``now`` (None: ever). A multi-Region
    replica never rotates on its own: its primary's rotations reach it (``multiregion``)."""
    return (
        record.key_state is KeyState.ENABLED
        and record.rotation_enabled
        and record.next_rotation_date is not None
        and (now is None or record.next_rotation_date <= now)
        and not multiregion.is_replica(record)
    )


def _rotate_due(record: KeyRecord, now: datetime, kernel: Kernel) -> KeyRecord:
    if not _rotation_due(record, now):
        return record
    assert record.next_rotation_date is not None and record.rotation_period_days is not None
    period = timedelta(days=record.rotation_period_days)
    due = record.next_rotation_date
    # Every rotation AWS would have made on time, each dated when it was due: the lazy path
    # and the sweeper then agree however long the key went untouched.
    while due <= now:
        record = record.evolve(
            **rotate(record, when=due, rotation_type=RotationType.AUTOMATIC, kernel=kernel)
        )
        due += period
    return record.evolve(next_rotation_date=due)


def apply_due_work(record: KeyRecord, now: datetime, kernel: Kernel) -> KeyRecord | None:
    """``record`` with everything due by ``now`` done; None when the key's time is up.

    Returns the very same object when nothing was due (callers skip the write).
    """
    if deletion_due(record, now):
        return None
    if record.key_state is KeyState.CREATING:
        record = multiregion.finish_creation(record)
    if multiregion.update_due(record, now):
        record = multiregion.finish_update(record)
    for rule in (expire_materials, prune_import_parameters):
        changes = rule(record, now)
        if changes:
            record = record.evolve(**changes)
    # an on-demand rotation completes long before any automatic one can fall due (the request
    # is refused within 20 minutes of it), so this order is the order they happen in
    if on_demand_due(record, now):
        record = record.evolve(**finish_on_demand(record, kernel))
    return _rotate_due(record, now, kernel)


def run_due_work(
    tx: Transaction,
    record: KeyRecord,
    now: datetime,
    kernel: Kernel,
    audit: AuditLog | None = None,
) -> KeyRecord | None:
    """Apply due work to a loaded key inside the caller's transaction and persist it.

    The pipeline calls this right after loading a key and before authorizing: a key whose
    deletion is due is gone (None → NotFoundException), expired material is already cleared.
    Each change is appended to ``audit`` first: a log that cannot take it raises, and the
    caller's transaction rolls the change back (recorded before visible).
    """
    after = apply_due_work(record, now, kernel)
    if after is not record and audit is not None:
        for event in service_events(record, after, now):
            audit.append(event)
    if after is None:
        tx.delete_key(record.arn)  # the store removes its aliases and grants with it
        if multiregion.is_replica(record):
            gone = record.deletion_date or now  # the lazy path and the sweeper agree
            _record_sync(audit, multiregion.replica_deleted(tx, record, gone), now)
    elif after is not record:
        tx.put_key(after)
        if multiregion.is_primary_with_replicas(after):  # its rotations reach every replica
            _record_sync(audit, [(r, r) for r in multiregion.synchronize(tx, after)], now)
    return after


def _record_sync(
    audit: AuditLog | None, changed: list[tuple[KeyRecord, KeyRecord]], now: datetime
) -> None:
    if audit is not None:
        for before, _after in changed:
            audit.append(multiregion.synchronize_event(before, now))


def service_events(before: KeyRecord, after: KeyRecord | None, now: datetime) -> list[AuditRecord]:
    """The audit records of the due work that turned ``before`` into ``after`` (None: deleted).

    The CloudTrail events of the same work: ``RotateKey`` per rotation (automatic, or the
    completion of an on-demand one; with its rotation type and new material id; an on-demand
    rotation that could not complete has an ``errorCode``), ``DeleteExpiredKeyMaterial`` per
    expired import, ``DeleteKey`` at the end of the waiting period, and
    ``SynchronizeMultiRegionKey`` when an UpdatePrimaryRegion completes (each of its two keys
    leaves ``Updating``). Pruned import
    parameters (a wrapping key nobody can use any more) change nothing a caller can observe
    and have no event.
    """

    def event(name: str, details: dict[str, object]) -> AuditRecord:
        return AuditRecord.service_event(name, before.arn, now, {"keyId": before.key_id, **details})

    if after is None:
        deletion = before.deletion_date.isoformat() if before.deletion_date else None
        return [event("DeleteKey", {"deletionDate": deletion})]
    kept = {m.material_id: m for m in after.materials}
    events: list[AuditRecord] = []
    if before.key_state is KeyState.UPDATING and after.key_state is not KeyState.UPDATING:
        # the service finishing UpdatePrimaryRegion: CloudTrail's name for its own cross-Region
        # work on a set
        events.append(multiregion.synchronize_event(before, now))
    events += [
        event("DeleteExpiredKeyMaterial", {"keyMaterialId": m.material_id})
        for m in before.materials
        if m.sealed is not None
        and (m.material_id not in kept or kept[m.material_id].sealed is None)
    ]
    # a rotation made a version current: a new one, or imported material that waited for it
    rotated_before = {m.material_id for m in before.materials if m.rotation_date is not None}
    rotations = [
        m
        for m in after.materials
        if m.rotation_date is not None and m.material_id not in rotated_before
    ]
    events.extend(
        event(
            "RotateKey",
            {
                "rotationType": m.rotation_type.value if m.rotation_type else None,
                "keyMaterialId": m.material_id,
                "rotationDate": m.rotation_date.isoformat() if m.rotation_date else None,
            },
        )
        for m in rotations
    )
    if (
        before.on_demand_rotation_start_date is not None
        and after.on_demand_rotation_start_date is None
        and not any(m.rotation_type is RotationType.ON_DEMAND for m in rotations)
    ):
        # the imported material it was to make current was deleted meanwhile
        events.append(
            event(
                "RotateKey",
                {
                    "rotationType": RotationType.ON_DEMAND.value,
                    "errorCode": "KMSInvalidStateException",
                },
            )
        )
    return events


@dataclass(frozen=True, slots=True)
class SweepReport:
    examined: int  # keys the store reported due
    changed: int
    deleted: int
    touched: tuple[str, ...] = ()  # ARNs of the keys changed or deleted


def sweep(
    store: Store,
    now: datetime,
    kernel: Kernel,
    audit: AuditLog | None = None,
    on_deleted: Callable[[KeyRecord], None] | None = None,
) -> SweepReport:
    """Do all due work in the store; one transaction per changed key, so a slow sweep never
    holds every key at once and a failure leaves each key before or after its own change.

    Only the keys the store reports due are read (``due_key_arns``: metadata, nothing
    unsealed). ``on_deleted`` gets each key deleted, once its deletion committed (a custom key
    store's key objects are destroyed there). A reported key with nothing due after all (a
    store migrated from before due moments were recorded) is written back once, so the store
    learns its due moment.
    """
    with store.transaction(readonly=True) as tx:
        due = list(tx.due_key_arns(now))
    changed = deleted = 0
    touched: list[str] = []
    for arn in due:
        with store.transaction() as tx:
            record = tx.get_key(arn)
            if record is None:  # deleted by someone else meanwhile
                continue
            after = run_due_work(tx, record, now, kernel, audit)
            if after is record:
                tx.put_key(record)
        if after is None:
            deleted += 1
            if on_deleted is not None:  # committed: what lives outside the store goes too
                on_deleted(record)
        elif after is not record:
            changed += 1
        if after is not record:
            kernel.note_saved(after, arn)  # committed: the kernel forgets what changed
            touched.append(arn)
    return SweepReport(examined=len(due), changed=changed, deleted=deleted, touched=tuple(touched))
