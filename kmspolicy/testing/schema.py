"""The ``*.kmstest.yaml`` suite format as pydantic models (documented in ``docs/suites.md``).

Layer: testing (boundary validation). Every model forbids unknown fields, so a misspelt key
(``expcet:``) is an error with a position instead of a case that silently tests nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kmspolicy.authz import Expectation, check_grant_operations

#: a policy as a suite names it: a path relative to the suite, inline DSL or JSON text
#: (a multi-line string), or an inline AWS JSON document written as YAML
PolicyRef = str | dict[str, Any]

#: context values as the request context holds them: one value or a set of values; ``null``
#: removes a key a default put there
ContextValue = str | bool | int | float | list[str | bool | int | float] | None


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PrincipalSpec(_Model):
    """A named principal: its ARN plus the tags and user id that condition keys may read."""

    arn: str
    tags: dict[str, str] = {}
    user_id: str | None = None


class GrantSpec(_Model):
    """A grant on the suite's key (or on ``key``)."""

    grantee: str
    operations: list[str] = Field(min_length=1)
    key: str | None = None
    grant_id: str | None = None
    retiring_principal: str | None = None
    encryption_context_equals: dict[str, str] | None = None
    encryption_context_subset: dict[str, str] | None = None

    @field_validator("operations")
    @classmethod
    def _known_operations(cls, value: list[str]) -> list[str]:
        check_grant_operations(value)
        return value

    @model_validator(mode="after")
    def _one_constraint(self) -> GrantSpec:
        both = (self.encryption_context_equals, self.encryption_context_subset)
        if None not in both:
            raise ValueError(
                "a grant takes encryption_context_equals or encryption_context_subset, not both"
            )
        return self


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str | dict) else value


OneOrMany = Annotated[list[PolicyRef], Field(min_length=1)]


class PoliciesSpec(_Model):
    """The policies in play. Identity, boundary and session policies are keyed by principal
    (a name from ``principals`` or an ARN; a role's policies also apply to its sessions)."""

    key: PolicyRef
    identity: dict[str, OneOrMany] = {}
    #: Organizations levels (root, OU…, account): each level must allow
    scps: list[OneOrMany] = []
    rcps: list[OneOrMany] = []
    boundaries: dict[str, PolicyRef] = {}
    sessions: dict[str, OneOrMany] = {}
    grants: list[GrantSpec] = []

    @field_validator("identity", "sessions", mode="before")
    @classmethod
    def _single_policy_per_principal(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: _as_list(v) for k, v in value.items()}
        return value

    @field_validator("scps", "rcps", mode="before")
    @classmethod
    def _single_policy_per_level(cls, value: Any) -> Any:
        return [_as_list(v) for v in value] if isinstance(value, list) else value


class Defaults(_Model):
    """Values every case inherits unless it sets its own."""

    principal: str | None = None
    resource: str | None = None
    context: dict[str, ContextValue] = {}
    time: datetime | None = None


def _actions(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class CaseSpec(_Model):
    """One expectation: principal × action(s) on a resource in a context → decision."""

    name: str
    principal: str | None = None
    action: str | None = None
    actions: list[str] | None = None
    resource: str | None = None
    context: dict[str, ContextValue] = {}
    time: datetime | None = None
    expect: Expectation
    #: Sids that must be among the decision's matched statements (proves *why*, not only what)
    because: list[str] = []

    @field_validator("because", mode="before")
    @classmethod
    def _one_sid(cls, value: Any) -> Any:
        return _actions(value)

    @model_validator(mode="after")
    def _one_of_action_actions(self) -> CaseSpec:
        if (self.action is None) == (self.actions is None):
            raise ValueError("a case takes exactly one of `action` or `actions`")
        if self.actions is not None and not self.actions:
            raise ValueError("`actions` must not be empty")
        return self


class TableSpec(_Model):
    """A matrix: rows are principals, columns are actions, cells are expected decisions."""

    name: str
    actions: list[str] = Field(min_length=1)
    resource: str | None = None
    context: dict[str, ContextValue] = {}
    time: datetime | None = None
    expect: dict[str, list[Expectation]] = Field(min_length=1)

    @model_validator(mode="after")
    def _rectangular(self) -> TableSpec:
        for principal, row in self.expect.items():
            if len(row) != len(self.actions):
                raise ValueError(
                    f"row `{principal}` has {len(row)} cells for {len(self.actions)} actions"
                )
        return self


class SuiteSpec(_Model):
    """A whole ``*.kmstest.yaml`` file."""

    suite: str | None = None
    description: str | None = None
    principals: dict[str, str | PrincipalSpec] = {}
    policies: PoliciesSpec
    defaults: Defaults = Defaults()
    cases: list[CaseSpec] = []
    tables: list[TableSpec] = []

    @model_validator(mode="after")
    def _has_cases(self) -> SuiteSpec:
        if not self.cases and not self.tables:
            raise ValueError("a suite needs at least one entry in `cases` or `tables`")
        names = [c.name for c in self.cases] + [t.name for t in self.tables]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"case and table names must be unique: {', '.join(duplicates)}")
        return self
