"""Multi-Region keys: one key id, one set of material, a primary and replicas in other Regions.

Layer: kms (functions over records and a transaction; the operations are in
``handlers/multiregion.py``). The members of a set are keys of one store in several Regions,
each with its own ARN, state, policy, description, tags, aliases and grants. What AWS
synchronizes among them (the shared properties: key spec, usage, origin, the material and its
rotations, the automatic rotation status) is kept on every member and written from the primary:

- the primary is the source of truth. Whenever it is written with replicas (a rotation, a
  change of rotation status, ReplicateKey, UpdatePrimaryRegion), ``synchronize`` writes the
  shared properties and the set's membership (``primary_region``, ``replica_regions``) to every
  replica in the same transaction — the work AWS does as ``SynchronizeMultiRegionKey``;
- material is sealed bound to the set, not to one Region (``backends.material_scope``), so a
  replica holds the very sealed references of its primary: nothing is unsealed to replicate or
  synchronize, and a ciphertext of one member decrypts with any other (same key id, same
  material ids). Keys with imported material share no material: each member imports its own,
  which must be the same (``require_same_material``);
- replicas never rotate on their own (due work and EnableKey's catch-up skip them);
- a replica is born ``Creating`` and completed on its first access (``finish_creation``); the
  deletion of a replica updates the set and, for a primary pending replica deletion whose last
  replica is gone, starts the primary's waiting period (``replica_deleted``);
- UpdatePrimaryRegion swaps the roles at once, and leaves the old and the new primary
  ``Updating`` for ``UPDATE_TAKES`` (``start_update``), as AWS finishes the swap seconds after
  answering; due work makes them ``Enabled`` again (``finish_update``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from kmspolicy.errors import IncorrectKeyMaterialException, UnsupportedOperationException
from kmspolicy.kms import ids
from kmspolicy.kms.lifecycle import rotation
from kmspolicy.kms.model import (
    KeyChanges,
    KeyInfo,
    KeyMaterial,
    KeyMaterialState,
    KeyRecord,
    MultiRegionKeyType,
    OriginType,
)
from kmspolicy.kms.ports import AuditRecord, Transaction
from kmspolicy.kms.states import Event, KeyState, transition

__all__ = [
    "UPDATE_TAKES",
    "finish_creation",
    "finish_update",
    "is_primary_with_replicas",
    "is_replica",
    "member_arn",
    "members_elsewhere",
    "replica_deleted",
    "require_new_material_of_set",
    "require_not_replica",
    "require_primary",
    "require_same_material",
    "shared_properties",
    "stage_new_material",
    "start_update",
    "synchronize",
    "synchronize_event",
    "update_due",
]


def member_arn(record: KeyInfo, region: str) -> str:
    """The ARN of the member of ``record``'s set in ``region``."""
    return ids.key_arn(region, record.account, record.key_id)


def is_replica(record: KeyInfo) -> bool:
    return record.multi_region_key_type is MultiRegionKeyType.REPLICA


def is_primary_with_replicas(record: KeyInfo) -> bool:
    return record.multi_region_key_type is MultiRegionKeyType.PRIMARY and bool(
        record.replica_regions
    )


def require_primary(record: KeyInfo) -> None:
    """UnsupportedOperationException unless ``record`` is a multi-Region primary key."""
    if record.multi_region_key_type is not MultiRegionKeyType.PRIMARY:
        raise UnsupportedOperationException(
            f"{record.arn} is not a multi-Region primary key, which is required for this operation."
        )


def require_not_replica(record: KeyInfo) -> None:
    """Rotation is managed on the primary key of a set (AWS synchronizes it to replicas)."""
    if is_replica(record):
        raise UnsupportedOperationException(
            f"{record.arn} is a multi-Region replica key, which is not valid for this "
            "operation; manage rotation on its primary key in "
            f"{record.primary_region}."
        )


def shared_properties(primary: KeyInfo) -> dict[str, Any]:
    """The fields every member takes from the primary (besides its own ARN, state, policy,
    description, tags, aliases and grants)."""
    shared: dict[str, Any] = {
        "primary_region": primary.primary_region,
        "replica_regions": primary.replica_regions,
        "rotation_enabled": primary.rotation_enabled,
        "rotation_period_days": primary.rotation_period_days,
        "next_rotation_date": primary.next_rotation_date,
        # the on-demand rotation limit is the set's: a new primary does not start afresh
        "on_demand_rotations": primary.on_demand_rotations,
        # a rotation in progress shows on every member (GetKeyRotationStatus)
        "on_demand_rotation_start_date": primary.on_demand_rotation_start_date,
    }
    if primary.origin is OriginType.AWS_KMS:  # imported material is imported per member
        shared["materials"] = primary.materials
        shared["current_material_id"] = primary.current_material_id
    return shared


def synchronize(tx: Transaction, primary: KeyRecord) -> list[KeyRecord]:
    """Write the shared properties of ``primary`` to each of its replicas (the same
    transaction); returns the replicas written. A replica missing from the store (deleted in
    this very transaction) is skipped."""
    written = []
    shared = shared_properties(primary)
    for region in primary.replica_regions:
        replica = tx.get_key(member_arn(primary, region))
        if replica is None:
            continue
        synced = replica.evolve(multi_region_key_type=MultiRegionKeyType.REPLICA, **shared)
        if _rotated_to_own_copy(synced, primary):
            synced = synced.evolve(**rotation.promote_imported(synced, primary))
        if synced != replica:
            tx.put_key(synced)
            written.append(synced)
    return written


def _rotated_to_own_copy(replica: KeyRecord, primary: KeyRecord) -> bool:
    """Whether an imported-material set rotated: the primary made current new material that
    the replica holds waiting (its own import of it), which the replica makes current too.
    A replica that no longer holds it stays on its current material."""
    if primary.origin is not OriginType.EXTERNAL:
        return False  # the material itself is shared
    current = primary.current_material
    if current is None or current.rotation_date is None:
        return False
    if replica.current_material_id == current.material_id:
        return False
    waiting = replica.material_by_id(current.material_id)
    return waiting is not None and waiting.sealed is not None and waiting.state.waiting


def finish_creation(record: KeyRecord) -> KeyRecord:
    """A replica created ``Creating``, completed: Enabled, or PendingImport until its own
    material is imported (Origin=EXTERNAL)."""
    event = (
        Event.REPLICA_READY if record.origin is OriginType.AWS_KMS else Event.REPLICA_READY_EXTERNAL
    )
    state = transition(record.key_state, event)
    assert state is not None  # INVARIANT: completing a creation never destroys
    return record.evolve(key_state=state)


#: How long the old and the new primary stay ``Updating`` after UpdatePrimaryRegion (AWS: "a
#: few more seconds" after the operation completes; long enough to be seen, short enough not
#: to hold up a script that waits for ``Enabled``)
UPDATE_TAKES = timedelta(seconds=3)


def start_update(record: KeyInfo, now: datetime) -> KeyChanges:
    """A key of UpdatePrimaryRegion (the old or the new primary), ``Updating`` until the
    service completes the update."""
    state = transition(record.key_state, Event.UPDATE_PRIMARY_REGION)
    assert state is not None  # INVARIANT: an update never destroys
    return {"key_state": state, "updating_until": now + UPDATE_TAKES}


def update_due(record: KeyRecord, now: datetime | None) -> bool:
    """Whether the update ``record`` takes part in completes by ``now`` (None: ever)."""
    return (
        record.key_state is KeyState.UPDATING
        and record.updating_until is not None
        and (now is None or record.updating_until <= now)
    )


def finish_update(record: KeyRecord) -> KeyRecord:
    """The update complete: the key is ``Enabled`` again."""
    state = transition(record.key_state, Event.PRIMARY_REGION_UPDATED)
    assert state is not None  # INVARIANT: completing an update never destroys
    return record.evolve(key_state=state, updating_until=None)


def replica_deleted(
    tx: Transaction, replica: KeyRecord, now: datetime
) -> list[tuple[KeyRecord, KeyRecord]]:
    """The replica ``replica`` left the store: every other member forgets its Region, and a
    primary pending replica deletion whose last replica this was starts its waiting period
    (``now`` + its window). Returns (before, after) of each member written."""
    assert replica.primary_region is not None
    primary = tx.get_key(member_arn(replica, replica.primary_region))
    if primary is None:
        return []
    regions = tuple(r for r in primary.replica_regions if r != replica.region)
    after = primary.evolve(replica_regions=regions)
    if after.key_state is KeyState.PENDING_REPLICA_DELETION and not regions:
        window = after.pending_deletion_window_days or 30
        after = after.evolve(
            key_state=transition(after.key_state, Event.LAST_REPLICA_DELETED),
            deletion_date=now + timedelta(days=window),
        )
    tx.put_key(after)
    before = {r.arn: r for r in (tx.get_key(member_arn(primary, g)) for g in regions) if r}
    changed = [(primary, after)]
    changed.extend((before[r.arn], r) for r in synchronize(tx, after))
    return changed


def members_elsewhere(record: KeyInfo) -> tuple[str, ...]:
    """The Regions of the other members of ``record``'s set."""
    if record.primary_region is None:
        return ()
    return tuple(r for r in (record.primary_region, *record.replica_regions) if r != record.region)


def require_same_material(others: Iterable[KeyInfo | None], material_id: str) -> None:
    """ImportKeyMaterial into a member of an imported-material set: the material must be the
    set's (AWS: the same key material in every Region). The material id is derived from the
    key id and the material, so equal ids mean equal material; when no other member
    (``others``) has material yet, any is accepted."""
    known = {
        m.material_id
        for member in others
        if member is not None
        for m in member.materials
        if m.sealed is not None
    }
    if known and material_id not in known:
        raise IncorrectKeyMaterialException(
            "The key material you imported is not the key material of the related "
            "multi-Region keys. Import the same key material into every key of the set."
        )


def _primary_of(others: Iterable[KeyInfo | None]) -> KeyInfo | None:
    return next(
        (
            m
            for m in others
            if m is not None and m.multi_region_key_type is MultiRegionKeyType.PRIMARY
        ),
        None,
    )


def require_new_material_of_set(
    record: KeyInfo, others: Iterable[KeyInfo | None], material_id: str
) -> None:
    """ImportKeyMaterial NEW_KEY_MATERIAL into a replica: the new material the primary waits
    to rotate in (imported there first, AWS's order), not any other."""
    if not is_replica(record):
        return
    primary = _primary_of(others)
    waiting = primary.material_by_id(material_id) if primary is not None else None
    if waiting is None or not waiting.state.waiting:
        raise IncorrectKeyMaterialException(
            "Import new key material into the multi-Region primary key first, then the same "
            "key material into each of its replicas."
        )


def stage_new_material(
    record: KeyInfo,
    materials: tuple[KeyMaterial, ...],
    others: Iterable[KeyInfo | None],
    material_id: str,
) -> tuple[KeyChanges, tuple[str, KeyChanges] | None]:
    """After a NEW_KEY_MATERIAL import into a member of an imported-material set (``record``,
    whose versions are now ``materials``): the new material waits in
    PENDING_MULTI_REGION_IMPORT_AND_ROTATION on the primary until every replica has imported
    it, then in PENDING_ROTATION (RotateKeyOnDemand on the primary rotates the set). Returns
    the member's further changes, and the primary's Region and changes when it changes."""
    members = [m for m in others if m is not None]
    replicas = [m.materials for m in members if is_replica(m)]
    if is_replica(record):
        primary = _primary_of(members)
        replicas.append(materials)
    else:
        primary = None
    everywhere = all(_has(r, material_id) for r in replicas)
    state = (
        KeyMaterialState.PENDING_ROTATION
        if everywhere
        else KeyMaterialState.PENDING_MULTI_REGION_IMPORT_AND_ROTATION
    )
    if primary is None:  # the primary itself imported it
        return {"materials": _with_state(materials, material_id, state)}, None
    waiting = primary.material_by_id(material_id)
    if waiting is None or waiting.state is state:
        return {}, None
    return {}, (primary.region, {"materials": _with_state(primary.materials, material_id, state)})


def _has(materials: tuple[KeyMaterial, ...], material_id: str) -> bool:
    return any(m.material_id == material_id and m.sealed is not None for m in materials)


def _with_state(
    materials: tuple[KeyMaterial, ...], material_id: str, state: KeyMaterialState
) -> tuple[KeyMaterial, ...]:
    return tuple(replace(m, state=state) if m.material_id == material_id else m for m in materials)


def synchronize_event(before: KeyInfo, now: datetime) -> AuditRecord:
    """The audit record of the service's own write to a member of a set (CloudTrail:
    ``SynchronizeMultiRegionKey``)."""
    return AuditRecord.service_event(
        "SynchronizeMultiRegionKey", before.arn, now, {"keyId": before.key_id}
    )
