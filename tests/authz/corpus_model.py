"""The authz decision-corpus format (tests/corpus/authz/*.yaml): pydantic, unknown fields rejected.

A file holds optional named ``policies`` (referenced as ``"@name"``) and ``cases``; each case
names the documented rule it checks, the policies, the request and the expected decision.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from kmspolicy.authz import Caller, Grant, KmsPolicies, Request
from kmspolicy.lang import Policy, parse_dsl, read_json

CORPUS = Path(__file__).resolve().parent.parent / "corpus" / "authz"

PolicyDoc = str | dict[str, Any]
Scalar = str | bool | int | float


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CaseRequest(_Strict):
    principal: str
    action: str
    resource: str = "*"
    context: dict[str, Scalar | list[Scalar]] = {}
    time: datetime | None = None
    principal_tags: dict[str, str] = {}


class GrantSpec(_Strict):
    GranteePrincipal: str
    Operations: list[str]
    Constraints: (
        dict[Literal["EncryptionContextEquals", "EncryptionContextSubset"], dict[str, str]] | None
    ) = None
    RetiringPrincipal: str | None = None
    KeyId: str | None = None


class Case(_Strict):
    name: str
    #: the documented rule this case checks (guide page and rule, in our words)
    rule: str = Field(min_length=10)
    mode: Literal["kms", "iam", "plain"] | None = None
    key_policy: PolicyDoc | None = None
    identity_policies: list[PolicyDoc] = []
    resource_policy: PolicyDoc | None = None
    policies: list[PolicyDoc] = []
    #: shorthand for ``policies: [{"Version": "2012-10-17", "Statement": [statement]}]``
    statement: dict[str, Any] | None = None
    scps: list[list[PolicyDoc]] = []
    rcps: list[list[PolicyDoc]] = []
    permissions_boundary: PolicyDoc | None = None
    session_policies: list[PolicyDoc] = []
    grants: list[GrantSpec] = []
    resource_account: str | None = None
    request: CaseRequest
    expect: Literal["allowed", "explicitDeny", "implicitDeny"]
    reason_contains: str | None = None
    missing_context_keys: list[str] | None = None
    matched_sids: list[str] | None = None
    #: every statement that matched, deciding or not (``Decision.all_matched``), by Sid
    all_matched_sids: list[str] | None = None

    @property
    def effective_mode(self) -> str:
        if self.mode:
            return self.mode
        if self.policies or self.statement is not None:
            return "plain"
        if self.key_policy is not None or self.request.action.lower().startswith("kms:"):
            return "kms"
        return "iam"

    @property
    def plain_policies(self) -> list[PolicyDoc]:
        if self.statement is None:
            return list(self.policies)
        return [*self.policies, {"Version": "2012-10-17", "Statement": [self.statement]}]


class CorpusFile(_Strict):
    policies: dict[str, PolicyDoc] = {}
    cases: list[Case]


class Loaded:
    """A case with its policies resolved to AST (named references expanded)."""

    def __init__(self, case: Case, named: dict[str, PolicyDoc], source: str) -> None:
        self.case = case
        self.named = named
        self.source = source

    def doc(self, doc: PolicyDoc) -> PolicyDoc:
        if isinstance(doc, str) and doc.startswith("@"):
            return self.named[doc[1:]]
        return doc

    def policy(self, doc: PolicyDoc, label: str, *, key_policy: bool = False) -> Policy:
        doc = self.doc(doc)
        if isinstance(doc, dict):
            return read_json(json.dumps(doc), label, key_policy=key_policy)
        parsed = parse_dsl(doc, label)
        assert len(parsed) == 1, f"{label}: a DSL policy entry must hold one policy"
        return parsed[0]

    def request(self) -> Request:
        r = self.case.request
        caller = Caller.from_arn(r.principal, tags=r.principal_tags)
        return Request(caller, r.action, r.resource, dict(r.context), r.time)

    def grants(self) -> list[Grant]:
        out = []
        for i, g in enumerate(self.case.grants):
            c = g.Constraints or {}
            out.append(
                Grant(
                    f"g{i}",
                    g.KeyId or self.case.request.resource,
                    g.GranteePrincipal,
                    frozenset(g.Operations),
                    g.RetiringPrincipal,
                    c.get("EncryptionContextEquals"),
                    c.get("EncryptionContextSubset"),
                )
            )
        return out

    def kms_policies(self) -> KmsPolicies:
        c = self.case
        return KmsPolicies(
            self.policy(c.key_policy, "key-policy", key_policy=True)
            if c.key_policy is not None
            else None,
            [self.policy(p, f"identity-{i}") for i, p in enumerate(c.identity_policies)],
            self.grants(),
            [
                [self.policy(p, f"scp-{n}-{i}") for i, p in enumerate(lv)]
                for n, lv in enumerate(c.scps)
            ],
            [
                [self.policy(p, f"rcp-{n}-{i}") for i, p in enumerate(lv)]
                for n, lv in enumerate(c.rcps)
            ],
            self.policy(c.permissions_boundary, "boundary")
            if c.permissions_boundary is not None
            else None,
            [self.policy(p, f"session-{i}") for i, p in enumerate(c.session_policies)],
        )


def load_corpus() -> list[Loaded]:
    cases: list[Loaded] = []
    for path in sorted(CORPUS.glob("*.yaml")):
        data = CorpusFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        cases.extend(Loaded(c, data.policies, path.name) for c in data.cases)
    return cases
