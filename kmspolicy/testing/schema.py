"""The ``*.kmstest.yaml`` suite format as pydantic models (documented in ``docs/suites.md``).

Layer: testing (boundary validation). Every model forbids unknown fields, so a misspelt key
(``expcet:``) is an error with a position instead of a case that silently tests nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

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

    key: PolicyRef | None = None
    #: plain policies, decided alone with no KMS or account rules (an explicit deny wins, an
    #: allow is needed): a resource's own policy, such as an XKS proxy's (docs/xks-proxy.md)
    plain: list[PolicyRef] = []
    identity: dict[str, OneOrMany] = {}
    #: Organizations levels (root, OU…, account): each level must allow
    scps: list[OneOrMany] = []
    rcps: list[OneOrMany] = []
    boundaries: dict[str, PolicyRef] = {}
    sessions: dict[str, OneOrMany] = {}
    grants: list[GrantSpec] = []

    @field_validator("plain", mode="before")
    @classmethod
    def _one_plain_policy(cls, value: Any) -> Any:
        return _as_list(value)

    @model_validator(mode="after")
    def _key_or_plain(self) -> PoliciesSpec:
        if self.plain:
            others = [
                name
                for name in ("key", "identity", "scps", "rcps", "boundaries", "sessions", "grants")
                if getattr(self, name)
            ]
            if others:
                raise ValueError(
                    f"`plain` policies are decided alone; remove `{others[0]}` (or `plain`)"
                )
        elif self.key is None:
            raise ValueError("give the key policy (`key`) or plain policies (`plain`)")
        return self

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


#: the checks of ``kmspolicy check`` a suite can state (docs/check.md)
CheckName = Literal["no-new-access", "access-not-granted", "no-public-access", "equivalent"]
_CHECK_NAMES = ("no-new-access", "access-not-granted", "no-public-access", "equivalent")


class CheckSpec(_Model):
    """A property of the suite's key policy over every request, proved by ``kmspolicy check``.

    ``other``: the existing policy for ``no-new-access`` (the suite's key policy is the new one),
    the policy to compare with for ``equivalent``. Shorthand: ``- no-public-access: PASS``."""

    check: CheckName
    expect: Literal["PASS", "FAIL", "UNKNOWN"]
    name: str | None = None
    other: PolicyRef | None = None
    actions: list[str] = []
    resources: list[str] = []
    organization: str | None = None
    account: str | None = None
    timeout: float = Field(default=10.0, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, dict) and len(value) == 1:
            ((check, expect),) = value.items()
            if check in _CHECK_NAMES and isinstance(expect, str):
                return {"check": check, "expect": expect}
        return value

    @model_validator(mode="after")
    def _options_fit(self) -> CheckSpec:
        if self.check == "access-not-granted" and not self.actions:
            raise ValueError("access-not-granted needs `actions`")
        if self.check != "access-not-granted" and (self.actions or self.resources):
            raise ValueError("only access-not-granted takes `actions` and `resources`")
        if self.check in ("no-new-access", "equivalent") and self.other is None:
            raise ValueError(
                f"{self.check} needs `other` (the policy to compare the key policy with)"
            )
        if self.check not in ("no-new-access", "equivalent") and self.other is not None:
            raise ValueError(f"{self.check} takes no `other` policy")
        if self.check != "no-public-access" and self.organization is not None:
            raise ValueError("only no-public-access takes `organization`")
        return self

    @property
    def label(self) -> str:
        return self.name or f"check {self.check}"


class SuiteSpec(_Model):
    """A whole ``*.kmstest.yaml`` file."""

    suite: str | None = None
    description: str | None = None
    principals: dict[str, str | PrincipalSpec] = {}
    policies: PoliciesSpec
    defaults: Defaults = Defaults()
    cases: list[CaseSpec] = []
    tables: list[TableSpec] = []
    #: properties proved over every request (``kmspolicy check``)
    checks: list[CheckSpec] = []

    @model_validator(mode="after")
    def _has_cases(self) -> SuiteSpec:
        if not self.cases and not self.tables and not self.checks:
            raise ValueError("a suite needs at least one entry in `cases`, `tables` or `checks`")
        names = [c.name for c in self.cases] + [t.name for t in self.tables]
        names += [c.label for c in self.checks]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"case and table names must be unique: {', '.join(duplicates)}")
        return self
