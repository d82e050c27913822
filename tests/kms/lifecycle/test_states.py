"""The transitions table and the key-state compatibility matrix (KMS.md 1.2)."""

from __future__ import annotations

import pytest

from kmspolicy.errors import (
    DisabledException,
    InternalError,
    KMSInvalidStateException,
    UnsupportedOperationException,
)
from kmspolicy.kms.states import (
    COMPATIBILITY,
    TRANSITIONS,
    Cell,
    Event,
    KeyState,
    check_state,
    transition,
)

ARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
CRYPTO = ["Encrypt", "Decrypt", "GenerateDataKey", "Sign", "GenerateMac", "ReEncryptFrom"]


def test_key_state_spellings_match_the_model() -> None:
    assert {s.value for s in KeyState} == {
        "Creating",
        "Enabled",
        "Disabled",
        "PendingDeletion",
        "PendingImport",
        "PendingReplicaDeletion",
        "Unavailable",
        "Updating",
    }


def test_every_row_covers_every_state() -> None:
    for operation, row in COMPATIBILITY.items():
        assert set(row) == set(KeyState), operation


@pytest.mark.parametrize("operation", CRYPTO)
def test_crypto_on_enabled_key_proceeds(operation: str) -> None:
    check_state(operation, KeyState.ENABLED, ARN)


@pytest.mark.parametrize("operation", CRYPTO)
def test_crypto_on_disabled_key_is_disabled_exception(operation: str) -> None:
    with pytest.raises(DisabledException) as err:
        check_state(operation, KeyState.DISABLED, ARN)
    assert err.value.message == f"{ARN} is disabled."


@pytest.mark.parametrize(
    ("state", "phrase"),
    [
        (KeyState.PENDING_DELETION, "pending deletion"),
        (KeyState.PENDING_REPLICA_DELETION, "pending replica deletion"),
        (KeyState.PENDING_IMPORT, "pending import"),
        (KeyState.UNAVAILABLE, "unavailable"),
        (KeyState.CREATING, "creating"),
    ],
)
def test_crypto_in_other_states_is_invalid_state_with_aws_wording(
    state: KeyState, phrase: str
) -> None:
    with pytest.raises(KMSInvalidStateException) as err:
        check_state("Encrypt", state, ARN)
    assert err.value.message == f"{ARN} is {phrase}."


def test_cancel_deletion_of_a_key_not_pending_deletion() -> None:
    with pytest.raises(KMSInvalidStateException) as err:
        check_state("CancelKeyDeletion", KeyState.ENABLED, ARN)
    assert err.value.message == f"{ARN} is not pending deletion."
    check_state("CancelKeyDeletion", KeyState.PENDING_DELETION, ARN)


def test_rotation_config_on_external_key_pending_import_is_unsupported() -> None:
    with pytest.raises(UnsupportedOperationException, match="origin is EXTERNAL"):
        check_state("EnableKeyRotation", KeyState.PENDING_IMPORT, ARN)


@pytest.mark.parametrize("state", list(KeyState))
@pytest.mark.parametrize(
    "operation", ["DescribeKey", "GetKeyPolicy", "PutKeyPolicy", "DeleteAlias"]
)
def test_reads_and_policy_work_in_every_state(operation: str, state: KeyState) -> None:
    check_state(operation, state, ARN)


def test_schedule_deletion_twice_is_refused() -> None:
    with pytest.raises(KMSInvalidStateException, match="is pending deletion"):
        check_state("ScheduleKeyDeletion", KeyState.PENDING_DELETION, ARN)


def test_update_alias_may_leave_but_not_enter_a_doomed_key() -> None:
    check_state("UpdateAlias", KeyState.PENDING_DELETION, ARN)
    with pytest.raises(KMSInvalidStateException):
        check_state("UpdateAlias.TargetKey", KeyState.PENDING_DELETION, ARN)


def test_unknown_operation_is_our_bug() -> None:
    with pytest.raises(InternalError):
        check_state("Frobnicate", KeyState.ENABLED, ARN)


def test_ok_cells_are_exactly_the_usable_states_for_encrypt() -> None:
    ok = {s for s, c in COMPATIBILITY["Encrypt"].items() if c is Cell.OK}
    assert ok == {KeyState.ENABLED, KeyState.UPDATING}


# --- transitions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "event", "after"),
    [
        (None, Event.CREATE, KeyState.ENABLED),
        (None, Event.CREATE_EXTERNAL, KeyState.PENDING_IMPORT),
        (KeyState.ENABLED, Event.DISABLE, KeyState.DISABLED),
        (KeyState.DISABLED, Event.ENABLE, KeyState.ENABLED),
        (KeyState.ENABLED, Event.SCHEDULE_DELETION, KeyState.PENDING_DELETION),
        (KeyState.PENDING_IMPORT, Event.SCHEDULE_DELETION, KeyState.PENDING_DELETION),
        (KeyState.PENDING_DELETION, Event.CANCEL_DELETION, KeyState.DISABLED),
        (
            KeyState.PENDING_DELETION,
            Event.CANCEL_DELETION_WITHOUT_MATERIAL,
            KeyState.PENDING_IMPORT,
        ),
        (KeyState.PENDING_IMPORT, Event.IMPORT_MATERIAL, KeyState.ENABLED),
        (KeyState.DISABLED, Event.IMPORT_MATERIAL, KeyState.DISABLED),
        (KeyState.ENABLED, Event.DELETE_MATERIAL, KeyState.PENDING_IMPORT),
        (KeyState.PENDING_DELETION, Event.DELETE_MATERIAL, KeyState.PENDING_DELETION),
        (KeyState.DISABLED, Event.MATERIAL_EXPIRED, KeyState.PENDING_IMPORT),
        (KeyState.PENDING_DELETION, Event.DELETION_DUE, None),
    ],
)
def test_transition(state: KeyState | None, event: Event, after: KeyState | None) -> None:
    assert transition(state, event) == after


def test_transition_from_a_state_that_does_not_allow_it_is_a_bug() -> None:
    with pytest.raises(InternalError):
        transition(KeyState.ENABLED, Event.DELETION_DUE)
    with pytest.raises(InternalError):
        transition(KeyState.ENABLED, Event.CANCEL_DELETION)


def test_every_event_has_a_row() -> None:
    assert set(TRANSITIONS) == set(Event)


def test_transitions_agree_with_the_matrix() -> None:
    # An API event may only start from a state in which its operation proceeds.
    for event, operation in [
        (Event.ENABLE, "EnableKey"),
        (Event.DISABLE, "DisableKey"),
        (Event.SCHEDULE_DELETION, "ScheduleKeyDeletion"),
        (Event.CANCEL_DELETION, "CancelKeyDeletion"),
        (Event.DELETE_MATERIAL, "DeleteImportedKeyMaterial"),
    ]:
        for state in TRANSITIONS[event]:
            assert state is not None
            assert COMPATIBILITY[operation][state] is Cell.OK, (event, state)
