"""Lint's condition-key tables name only keys the policy readers accept (lang.vocab)."""

from __future__ import annotations

import pytest

from kmspolicy.authz.lint import catalog
from kmspolicy.lang import vocab
from kmspolicy.optable import ACTIONS

# every key the operation table declares (a family ``${…}`` with one member), and lint's own
_DECLARED = {
    key.split("${")[0] + ("1" if "${" in key else "")
    for action in ACTIONS.values()
    for key in action.condition_keys
}
_NAMED = sorted(
    _DECLARED | catalog.MULTI_VALUED | set(catalog.KEY_TYPES) | set(catalog._KEY_RESOURCE_KEYS)
)


@pytest.mark.parametrize("key", _NAMED)
def test_every_key_lint_knows_is_a_key_the_readers_accept(key: str) -> None:
    assert vocab.check_condition_key(key) is None


def test_lint_knows_every_action_the_authorizer_allows_across_accounts() -> None:
    from kmspolicy.authz import CROSS_ACCOUNT_ACTIONS

    assert {f"kms:{a.lower()}" for a in catalog.CROSS_ACCOUNT} == CROSS_ACCOUNT_ACTIONS
