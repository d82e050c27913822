"""Key states: the ONE transitions table and the state × operation compatibility matrix.

Layer: kms. Pure data plus two functions: ``transition`` (which event moves which state where)
and ``check_state`` (what an operation on a key in a given state answers — the key-state table
of the AWS KMS Developer Guide, KMS.md 1.2, whose rows the operation table declares). Nothing
else in kmspolicy spells a state as a string but the table's column heads.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from kmspolicy.errors import (
    DisabledException,
    InternalError,
    KMSInvalidStateException,
    ServiceError,
    UnsupportedOperationException,
)
from kmspolicy.optable import OPERATIONS, STATE_COLUMNS

__all__ = [
    "COMPATIBILITY",
    "TRANSITIONS",
    "Cell",
    "Event",
    "KeyState",
    "check_state",
    "is_usable",
    "state_error",
    "transition",
]


class KeyState(StrEnum):
    """``KeyState`` of the KMS model, AWS spellings."""

    CREATING = "Creating"
    ENABLED = "Enabled"
    DISABLED = "Disabled"
    PENDING_DELETION = "PendingDeletion"
    PENDING_IMPORT = "PendingImport"
    PENDING_REPLICA_DELETION = "PendingReplicaDeletion"
    UNAVAILABLE = "Unavailable"
    UPDATING = "Updating"


def is_usable(state: KeyState) -> bool:
    """Whether cryptographic operations may use a key in ``state``."""
    return state in (KeyState.ENABLED, KeyState.UPDATING)


# ---------------------------------------------------------------------------------------------
# Transitions
# ---------------------------------------------------------------------------------------------


class Event(StrEnum):
    """What moves a key between states: API operations and due work done by the service."""

    CREATE = "CreateKey"
    CREATE_EXTERNAL = "CreateKey(Origin=EXTERNAL)"
    ENABLE = "EnableKey"
    DISABLE = "DisableKey"
    SCHEDULE_DELETION = "ScheduleKeyDeletion"
    CANCEL_DELETION = "CancelKeyDeletion"
    # CancelKeyDeletion of a key whose imported material was deleted or expired while pending
    # deletion: it has nothing to be Enabled/Disabled with, so it waits for an import again.
    CANCEL_DELETION_WITHOUT_MATERIAL = "CancelKeyDeletion(no material)"
    IMPORT_MATERIAL = "ImportKeyMaterial"
    DELETE_MATERIAL = "DeleteImportedKeyMaterial"
    MATERIAL_EXPIRED = "ImportedKeyMaterialExpired"
    DELETION_DUE = "DeletionWindowElapsed"
    # Multi-Region keys (kms.lifecycle.multiregion)
    REPLICATE = "ReplicateKey"
    # the service finishes creating a replica: usable at once, or waiting for its own import
    REPLICA_READY = "ReplicaCreated"
    REPLICA_READY_EXTERNAL = "ReplicaCreated(Origin=EXTERNAL)"
    # ScheduleKeyDeletion of a primary key that has replicas: its waiting period has not begun
    SCHEDULE_DELETION_WITH_REPLICAS = "ScheduleKeyDeletion(primary with replicas)"
    LAST_REPLICA_DELETED = "LastReplicaDeleted"
    # UpdatePrimaryRegion: the old and the new primary are Updating until the service has
    # finished the swap (due work, seconds later), then Enabled again
    UPDATE_PRIMARY_REGION = "UpdatePrimaryRegion"
    PRIMARY_REGION_UPDATED = "PrimaryRegionUpdated"


_S = KeyState
# None as a source: the key does not exist yet. None as a target: the key is gone for good.
TRANSITIONS: Mapping[Event, Mapping[KeyState | None, KeyState | None]] = MappingProxyType(
    {
        Event.CREATE: {None: _S.ENABLED},
        Event.CREATE_EXTERNAL: {None: _S.PENDING_IMPORT},
        # Enable/Disable on an Unavailable key are accepted; the custom key store owns the state.
        Event.ENABLE: {
            _S.ENABLED: _S.ENABLED,
            _S.DISABLED: _S.ENABLED,
            _S.UNAVAILABLE: _S.UNAVAILABLE,
        },
        Event.DISABLE: {
            _S.ENABLED: _S.DISABLED,
            _S.DISABLED: _S.DISABLED,
            _S.UNAVAILABLE: _S.UNAVAILABLE,
        },
        Event.SCHEDULE_DELETION: {
            s: _S.PENDING_DELETION
            for s in (_S.ENABLED, _S.DISABLED, _S.PENDING_IMPORT, _S.UNAVAILABLE, _S.CREATING)
        },
        Event.SCHEDULE_DELETION_WITH_REPLICAS: {
            s: _S.PENDING_REPLICA_DELETION
            for s in (_S.ENABLED, _S.DISABLED, _S.PENDING_IMPORT, _S.UNAVAILABLE, _S.CREATING)
        },
        # the primary's waiting period begins when its last replica is deleted
        Event.LAST_REPLICA_DELETED: {_S.PENDING_REPLICA_DELETION: _S.PENDING_DELETION},
        # CancelKeyDeletion returns the key Disabled: using it again takes a deliberate EnableKey.
        Event.CANCEL_DELETION: {
            _S.PENDING_DELETION: _S.DISABLED,
            _S.PENDING_REPLICA_DELETION: _S.DISABLED,
        },
        Event.CANCEL_DELETION_WITHOUT_MATERIAL: {
            _S.PENDING_DELETION: _S.PENDING_IMPORT,
            _S.PENDING_REPLICA_DELETION: _S.PENDING_IMPORT,
        },
        # ReplicateKey answers while the replica is Creating (AWS's recorded response); the
        # service completes it on the replica's first access or sweep (due work)
        Event.REPLICATE: {None: _S.CREATING},
        Event.REPLICA_READY: {_S.CREATING: _S.ENABLED},
        Event.REPLICA_READY_EXTERNAL: {_S.CREATING: _S.PENDING_IMPORT},
        # both keys must be Enabled when it starts (DisabledException otherwise, the state
        # table's row); a key still Updating from an earlier swap may take part again
        Event.UPDATE_PRIMARY_REGION: {_S.ENABLED: _S.UPDATING, _S.UPDATING: _S.UPDATING},
        Event.PRIMARY_REGION_UPDATED: {_S.UPDATING: _S.ENABLED},
        # A re-import into an Enabled or Disabled key leaves its state alone.
        Event.IMPORT_MATERIAL: {
            _S.PENDING_IMPORT: _S.ENABLED,
            _S.ENABLED: _S.ENABLED,
            _S.DISABLED: _S.DISABLED,
        },
        # Losing material never interrupts a pending deletion.
        Event.DELETE_MATERIAL: {
            _S.ENABLED: _S.PENDING_IMPORT,
            _S.DISABLED: _S.PENDING_IMPORT,
            _S.PENDING_IMPORT: _S.PENDING_IMPORT,
            _S.PENDING_DELETION: _S.PENDING_DELETION,
            _S.PENDING_REPLICA_DELETION: _S.PENDING_REPLICA_DELETION,
        },
        Event.MATERIAL_EXPIRED: {
            _S.ENABLED: _S.PENDING_IMPORT,
            _S.DISABLED: _S.PENDING_IMPORT,
            _S.PENDING_IMPORT: _S.PENDING_IMPORT,
            _S.PENDING_DELETION: _S.PENDING_DELETION,
            _S.PENDING_REPLICA_DELETION: _S.PENDING_REPLICA_DELETION,
        },
        Event.DELETION_DUE: {_S.PENDING_DELETION: None},
    }
)


def transition(state: KeyState | None, event: Event) -> KeyState | None:
    """The state after ``event``; ``None`` means the key no longer exists.

    Raises ``InternalError``: callers check the operation with ``check_state`` first, so an
    event from a state that does not allow it is a bug, not a user error.
    """
    targets = TRANSITIONS[event]
    if state not in targets:
        raise InternalError(f"no transition for {event.value} from {state}")
    return targets[state]


# ---------------------------------------------------------------------------------------------
# State × operation compatibility (KMS.md 1.2)
# ---------------------------------------------------------------------------------------------


class Cell(StrEnum):
    """One cell of the compatibility table."""

    OK = "✓"
    DISABLED = "D"  # DisabledException
    INVALID = "S"  # KMSInvalidStateException
    UNSUPPORTED = "U"  # UnsupportedOperationException


# The rows are the operation table's (``kmspolicy.optable``): its own row for each operation
# with a key, and the rows for the second key of two-key operations ("ReEncryptFrom",
# "ReEncryptTo", "UpdateAlias.TargetKey"). Its columns name our KeyState values.
_COLUMNS = tuple(tuple(KeyState(name) for name in column) for column in STATE_COLUMNS)
_ROWS: Mapping[str, str] = MappingProxyType(
    {
        **{op.name: op.states for op in OPERATIONS.values() if op.states is not None},
        **{name: row for op in OPERATIONS.values() for name, row in op.target_states},
    }
)


def _expand(row: str) -> Mapping[KeyState, Cell]:
    if len(row) != len(_COLUMNS):
        raise AssertionError(f"row {row!r} needs {len(_COLUMNS)} cells")
    cells: dict[KeyState, Cell] = {}
    for states, mark in zip(_COLUMNS, row, strict=True):
        for state in states:
            cells[state] = Cell(mark)
    return MappingProxyType(cells)


COMPATIBILITY: Mapping[str, Mapping[KeyState, Cell]] = MappingProxyType(
    {operation: _expand(row) for operation, row in _ROWS.items()}
)

# How each state names itself in AWS's error messages ("<arn> is pending deletion.").
_STATE_PHRASE: Mapping[KeyState, str] = MappingProxyType(
    {
        _S.ENABLED: "enabled",
        _S.DISABLED: "disabled",
        _S.PENDING_DELETION: "pending deletion",
        _S.PENDING_REPLICA_DELETION: "pending replica deletion",
        _S.PENDING_IMPORT: "pending import",
        _S.UNAVAILABLE: "unavailable",
        _S.CREATING: "creating",
        _S.UPDATING: "updating",
    }
)


def state_error(operation: str, state: KeyState, key_arn: str) -> ServiceError | None:
    """The error ``operation`` meets on a key in ``state``, or ``None`` when it may proceed."""
    row = COMPATIBILITY.get(operation)
    if row is None:
        raise InternalError(f"{operation} has no row in the key-state compatibility table")
    cell = row[state]
    if cell is Cell.OK:
        return None
    if cell is Cell.DISABLED:
        return DisabledException(f"{key_arn} is disabled.")
    if cell is Cell.UNSUPPORTED:
        if state is _S.PENDING_IMPORT:
            return UnsupportedOperationException(
                f"{key_arn} origin is EXTERNAL which is not valid for this operation."
            )
        return UnsupportedOperationException(
            f"{key_arn} is in a custom key store, which is not valid for this operation."
        )
    if operation == "CancelKeyDeletion":
        return KMSInvalidStateException(f"{key_arn} is not pending deletion.")
    return KMSInvalidStateException(f"{key_arn} is {_STATE_PHRASE[state]}.")


def check_state(operation: str, state: KeyState, key_arn: str) -> None:
    """Raise the AWS error for ``operation`` on a key in ``state``; return if it may proceed.

    ``operation`` is the API operation name (``"Encrypt"``), or ``"ReEncryptFrom"`` /
    ``"ReEncryptTo"`` / ``"UpdateAlias.TargetKey"`` for the second key of a two-key operation.
    """
    error = state_error(operation, state, key_arn)
    if error is not None:
        raise error
