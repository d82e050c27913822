"""The operation table is held to botocore's KMS model, and to the handlers bound to it."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import botocore.session
import pytest

from kmspolicy.errors import InternalError
from kmspolicy.kms.handlers import encryption
from kmspolicy.kms.implemented import load_operations
from kmspolicy.kms.operations import bind, collect
from kmspolicy.optable import ACTIONS, API_ACTIONS, OPERATIONS, PERMISSION_ONLY, STATE_COLUMNS
from kmspolicy.optable.spec import ANY_KEY, Resource


@cache
def model() -> Any:
    return botocore.session.get_session().get_service_model("kms")


def members(operation: str) -> set[str]:
    shape = model().operation_model(operation).input_shape
    return set(shape.members) if shape is not None else set()


def enum(shape: str) -> set[str]:
    return set(model().shape_for(shape).enum)


def test_the_table_holds_every_operation_of_the_model_and_no_other() -> None:
    assert set(OPERATIONS) == set(model().operation_names)
    assert all(name == op.name for name, op in OPERATIONS.items())


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_request_members_the_table_names_exist_in_the_input_shape(name: str) -> None:
    op, known = OPERATIONS[name], members(name)
    named = {member for member, _key in op.condition_params}
    if op.key_param is not None:
        named.add(op.key_param)
    if op.encryption_context_param is not None:
        named.add(op.encryption_context_param)
    assert named <= known
    assert op.dry_run == ("DryRun" in known)


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_condition_keys_from_parameters_are_keys_its_actions_support(name: str) -> None:
    op = OPERATIONS[name]
    supported = {k for a in op.actions for k in a.condition_keys}
    assert {key for _member, key in op.condition_params} <= supported
    assert {key for key, _value in op.condition_defaults} <= supported
    if op.encryption_context_param is not None:
        assert "kms:EncryptionContext:${EncryptionContextKey}" in supported
    # kms:RequestAlias is the alias a request named the key by: only where aliases are accepted
    assert op.accepts_alias == all("kms:RequestAlias" in a.condition_keys for a in op.actions)


def test_grant_operations_are_the_models_grant_operation_enum() -> None:
    assert {a.name for a in ACTIONS.values() if a.grantable} == enum("GrantOperation")
    for action in ACTIONS.values():
        assert action.grant_keys <= ANY_KEY
        assert action.grantable or not action.grant_constraints


def test_grant_key_kinds_are_the_models_key_usages_and_the_symmetric_spec() -> None:
    assert enum("KeyUsageType") | {"SYMMETRIC_DEFAULT"} == ANY_KEY
    assert "SYMMETRIC_DEFAULT" in enum("KeySpec")


def test_tracked_operations_are_the_models_key_last_usage_tracking_enum() -> None:
    tracked = {name for name, op in OPERATIONS.items() if op.tracked}
    assert tracked == enum("KeyLastUsageTrackingOperation")


def test_actions_are_the_operations_with_reencrypt_split_plus_the_permission_only_one() -> None:
    assert set(API_ACTIONS) == (set(OPERATIONS) - {"ReEncrypt"}) | {"ReEncryptFrom", "ReEncryptTo"}
    assert [a.name for a in PERMISSION_ONLY] == ["SynchronizeMultiRegionKey"]
    assert set(ACTIONS) == set(API_ACTIONS) | {"SynchronizeMultiRegionKey"}
    assert list(ACTIONS) == sorted(ACTIONS)


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_an_operations_action_pattern_covers_each_of_its_actions(name: str) -> None:
    op = OPERATIONS[name]
    pattern = re.compile(re.escape(op.action).replace(r"\*", ".*"))
    assert all(pattern.fullmatch(a.iam) for a in op.actions)


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_state_rows_fit_the_columns_and_operations_on_keys_have_one(name: str) -> None:
    op = OPERATIONS[name]
    rows = [op.states] if op.states is not None else []
    rows += [row for _name, row in op.target_states]
    for row in rows:
        assert len(row) == len(STATE_COLUMNS)
        assert set(row) <= set("✓DSU")
    on_a_key = Resource.KEY in op.resources
    assert (op.states is not None) == on_a_key
    # the key param names a key: only for operations on a key
    assert op.key_param is None or on_a_key


def test_resources_are_the_ones_kms_md_describes() -> None:
    kinds = {a.resources for a in ACTIONS.values()}
    assert kinds == {(Resource.KEY,), (Resource.ANY,), (Resource.ALIAS, Resource.KEY)}
    two = {a.name for a in ACTIONS.values() if len(a.resources) == 2}
    assert two == {"CreateAlias", "DeleteAlias", "UpdateAlias"}


def test_the_refusal_on_aws_managed_keys_is_an_error_of_the_operation() -> None:
    for name, op in OPERATIONS.items():
        if op.refuse_aws_managed is None:
            continue
        errors = {e.name for e in model().operation_model(name).error_shapes}
        # AccessDeniedException is every operation's (botocore models it for none)
        assert op.refuse_aws_managed.__name__ in errors | {"AccessDeniedException"}, name


def test_condition_defaults_are_the_services_defaults() -> None:
    from kmspolicy.kms.handlers.dataplane import DEFAULT_ENCRYPTION_ALGORITHM
    from kmspolicy.kms.lifecycle.deletion import DEFAULT_PENDING_WINDOW_DAYS
    from kmspolicy.kms.lifecycle.rotation import DEFAULT_ROTATION_PERIOD_DAYS

    defaults = {(n, k): v for n, op in OPERATIONS.items() for k, v in op.condition_defaults}
    assert defaults["EnableKeyRotation", "kms:RotationPeriodInDays"] == (
        DEFAULT_ROTATION_PERIOD_DAYS
    )
    assert defaults["ScheduleKeyDeletion", "kms:ScheduleKeyDeletionPendingWindowInDays"] == (
        DEFAULT_PENDING_WINDOW_DAYS
    )
    assert defaults["Encrypt", "kms:EncryptionAlgorithm"] == DEFAULT_ENCRYPTION_ALGORITHM


# --- binding handlers by name


def test_every_implemented_entry_has_a_handler_and_no_other_has_one() -> None:
    bound = load_operations()
    assert set(bound) == set(OPERATIONS)
    for name, op in bound.items():
        assert (op.handler is not None) == OPERATIONS[name].implemented, name


def test_a_handler_for_a_name_the_table_lacks_is_refused() -> None:
    with pytest.raises(InternalError, match="lacks"):
        bind("EncryptEverything", lambda call: {})


def test_a_handler_for_an_entry_declared_unimplemented_is_refused() -> None:
    unimplemented = [name for name, op in OPERATIONS.items() if not op.implemented]
    if not unimplemented:
        pytest.skip("every operation of the table is implemented")
    with pytest.raises(InternalError, match="unimplemented"):
        bind(unimplemented[0], lambda call: {})


def test_a_second_handler_for_an_entry_is_refused() -> None:
    bound = load_operations().values()
    with pytest.raises(InternalError, match="two handlers are bound to Encrypt"):
        collect([*bound, bind("Encrypt", lambda call: {})])


def test_an_implemented_entry_without_a_handler_is_refused() -> None:
    bound = [op for op in load_operations().values() if op.handler and op.name != "Sign"]
    with pytest.raises(InternalError, match=r"\['Sign'\] implemented, without handlers"):
        collect(bound)


def test_binding_records_nothing() -> None:
    """``bind`` is pure: a binding made and dropped changes no later collection."""
    bind("Encrypt", lambda call: {})
    assert load_operations()["Encrypt"].handler is encryption.encrypt
    assert load_operations() is not load_operations()  # each pipeline gets its own mapping


def test_reencrypt_is_authorized_source_first_each_key_with_its_own_row() -> None:
    op = OPERATIONS["ReEncrypt"]
    assert [a.name for a in op.actions] == ["ReEncryptFrom", "ReEncryptTo"]
    assert [row for row, _cells in op.target_states] == ["ReEncryptFrom", "ReEncryptTo"]
    assert op.grant_operation is None  # one per key: the targets carry them
