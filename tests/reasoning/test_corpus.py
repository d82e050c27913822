"""The check corpus (tests/corpus/check/*.yaml): policy pairs with verdicts known by hand.

Every FAIL is also replayed here, independently of the checker's own guard, through the
evaluator with the identity assumption the counterexample names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kmspolicy.lang import Policy, parse_dsl
from kmspolicy.reasoning import (
    CheckResult,
    check_access_not_granted,
    check_equivalent,
    check_no_new_access,
    check_no_public_access,
)

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "check"
_FIELDS = {
    "id",
    "rule",
    "check",
    "a",
    "b",
    "existing",
    "new",
    "policy",
    "actions",
    "resources",
    "organization",
    "account",
    "policy_type",
    "expect",
    "counterexample",
}


def _cases() -> list[Any]:
    out = []
    for path in sorted(CORPUS.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        policies = {
            name: parse_dsl(text, f"{path.name}:{name}") for name, text in doc["policies"].items()
        }
        for case in doc["cases"]:
            unknown = set(case) - _FIELDS
            assert not unknown, f"{path.name} {case.get('id')}: unknown fields {unknown}"
            out.append(pytest.param(case, policies, id=f"{path.stem}/{case['id']}"))
    return out


def _run(case: dict[str, Any], policies: dict[str, list[Policy]]) -> CheckResult:
    common = {
        "policy_type": case.get("policy_type", "key"),
        "account": case.get("account"),
    }
    check = case["check"]
    if check == "equivalent":
        return check_equivalent(policies[case["a"]], policies[case["b"]], **common)
    if check == "no-new-access":
        return check_no_new_access(policies[case["existing"]], policies[case["new"]], **common)
    if check == "access-not-granted":
        return check_access_not_granted(
            policies[case["policy"]], case["actions"], case.get("resources", ()), **common
        )
    assert check == "no-public-access", check
    return check_no_public_access(
        policies[case["policy"]], organization=case.get("organization"), **common
    )


@pytest.mark.parametrize(("case", "policies"), _cases())
def test_check_corpus(case: dict[str, Any], policies: dict[str, list[Policy]]) -> None:
    result = _run(case, policies)
    assert result.verdict.value == case["expect"], (case["rule"], result.to_dict())
    assert not any("internal error" in r for r in result.reasons)
    pinned = case.get("counterexample") or {}
    example = result.counterexample or {}
    for key, value in pinned.items():
        if key == "principal_contains":
            assert value in example["principal"]
        elif key == "context":
            assert {k: example["context"].get(k) for k in value} == value
        else:
            assert example[key] == value
