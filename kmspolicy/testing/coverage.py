"""Statement coverage: which statements of each policy in play matched some case's request
(like ``opa test --coverage``), so a suite that never exercises a statement is visible.

Layer: testing (pure). Statements are identified by the policy's source label and their index;
a decision names every statement that matched (``Decision.all_matched``: deciding or not, so an
Allow that an explicit Deny overrode counts as exercised) by the same pair.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kmspolicy.authz import Decision
    from kmspolicy.testing.suite import LoadedPolicy


@dataclass(slots=True)
class PolicyCoverage:
    label: str
    #: per statement: (index, label — Sid or ``Statement[i]`` —, line or None)
    statements: list[tuple[int, str, int | None]]
    hits: dict[int, int] = field(default_factory=dict)

    @property
    def covered(self) -> int:
        return sum(1 for index, _, _ in self.statements if self.hits.get(index))

    @property
    def total(self) -> int:
        return len(self.statements)

    @property
    def percent(self) -> float:
        return 100.0 * self.covered / self.total if self.total else 100.0

    def uncovered(self) -> list[tuple[int, str, int | None]]:
        return [s for s in self.statements if not self.hits.get(s[0])]


@dataclass(slots=True)
class Coverage:
    policies: dict[str, PolicyCoverage] = field(default_factory=dict)
    #: policy Id → label, for decisions whose statements carry no source
    _by_id: dict[str, str] = field(default_factory=dict)

    def add_policies(self, loaded: Iterable[LoadedPolicy]) -> None:
        for item in loaded:
            if item.label in self.policies:
                continue
            statements = [
                (i, s.sid or f"Statement[{i}]", s.span.line if s.span else None)
                for i, s in enumerate(item.policy.statements)
            ]
            self.policies[item.label] = PolicyCoverage(item.label, statements)
            if item.policy.id:
                self._by_id.setdefault(item.policy.id, item.label)

    def record(self, decision: Decision) -> None:
        for matched in decision.all_matched:
            label = (
                matched.source
                if matched.source in self.policies
                else (self._by_id.get(matched.source_policy_id))
            )
            if label is None:
                continue  # a grant, or a statement of a policy not in any suite
            hits = self.policies[label].hits
            hits[matched.statement_index] = hits.get(matched.statement_index, 0) + 1

    @property
    def covered(self) -> int:
        return sum(p.covered for p in self.policies.values())

    @property
    def total(self) -> int:
        return sum(p.total for p in self.policies.values())

    @property
    def percent(self) -> float:
        return 100.0 * self.covered / self.total if self.total else 100.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "covered": self.covered,
            "total": self.total,
            "percent": round(self.percent, 2),
            "policies": {
                label: {
                    "covered": p.covered,
                    "total": p.total,
                    "percent": round(p.percent, 2),
                    "not_covered": [
                        {"index": i, "statement": name, "line": line}
                        for i, name, line in p.uncovered()
                    ],
                }
                for label, p in sorted(self.policies.items())
            },
        }
