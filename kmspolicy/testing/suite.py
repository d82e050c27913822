"""Load a ``*.kmstest.yaml`` suite: validate it, read its policies, expand its cases.

Layer: testing (pure over lang: reads the suite and the policy files it names, nothing else).
Every mistake in a suite is a ConfigError that starts with ``file:line:col``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pydantic import ValidationError

from kmspolicy.authz import Expectation
from kmspolicy.authz.lint.catalog import KMS_ACTIONS
from kmspolicy.errors import ConfigError, PolicyError
from kmspolicy.lang import Policy, read_policies
from kmspolicy.lang.diagnostics import did_you_mean
from kmspolicy.testing.schema import (
    CaseSpec,
    CheckSpec,
    ContextValue,
    GrantSpec,
    PolicyRef,
    PrincipalSpec,
    SuiteSpec,
)
from kmspolicy.yamlpos import Located, Mark, load_yaml

SUITE_SUFFIX = ".kmstest.yaml"
_ACTIONS = MappingProxyType({a.lower(): a for a in KMS_ACTIONS})
_SKIP = frozenset({"node_modules", "__pycache__", "venv", "site-packages"})


@dataclass(frozen=True, slots=True)
class LoadedPolicy:
    """A policy in play, with the label coverage reports use (file name or suite position)."""

    label: str
    policy: Policy
    role: str  # key | identity | scp | rcp | boundary | session


@dataclass(frozen=True, slots=True)
class Case:
    """One expanded expectation: exactly one principal, one action, one resource."""

    name: str
    principal: PrincipalSpec
    action: str
    resource: str
    context: dict[str, ContextValue]
    time: datetime | None
    expect: Expectation
    because: tuple[str, ...]
    mark: Mark


class CheckExpectation(StrEnum):
    """The verdict a suite expects of a check."""

    PASS = "PASS"
    FAIL = "FAIL"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True, slots=True)
class SuiteCheck:
    """A ``checks:`` entry: a property of the suite's key policy over every request."""

    name: str
    spec: CheckSpec
    #: the other policy (no-new-access: the existing one; equivalent: the one compared)
    other: LoadedPolicy | None
    expect: CheckExpectation
    mark: Mark


@dataclass(frozen=True, slots=True)
class Suite:
    path: Path
    name: str
    description: str | None
    key_policy: LoadedPolicy | None
    identity: dict[str, tuple[LoadedPolicy, ...]]
    scps: tuple[tuple[LoadedPolicy, ...], ...]
    rcps: tuple[tuple[LoadedPolicy, ...], ...]
    boundaries: dict[str, LoadedPolicy]
    sessions: dict[str, tuple[LoadedPolicy, ...]]
    grants: tuple[GrantSpec, ...]
    cases: tuple[Case, ...] = field(default=())
    checks: tuple[SuiteCheck, ...] = field(default=())
    #: plain policies (``policies.plain``): decided alone, without KMS rules
    plain: tuple[LoadedPolicy, ...] = field(default=())

    def policies(self) -> list[LoadedPolicy]:
        """Every distinct policy in play (coverage is reported per policy)."""
        found: list[LoadedPolicy] = [self.key_policy] if self.key_policy else []
        found.extend(self.plain)
        for group in (*self.identity.values(), *self.scps, *self.rcps, *self.sessions.values()):
            found.extend(group)
        found.extend(self.boundaries.values())
        unique: dict[int, LoadedPolicy] = {}
        for loaded in found:
            unique.setdefault(id(loaded), loaded)
        return list(unique.values())


def discover(paths: list[Path]) -> list[Path]:
    """Every suite file under ``paths`` (a file is taken as is), sorted for stable reports."""
    found: set[Path] = set()
    for path in paths:
        if path.is_dir():
            for folder, subdirs, files in os.walk(path):
                # hidden directories (.git, .venv) and dependency trees are never suites
                subdirs[:] = [d for d in subdirs if not d.startswith(".") and d not in _SKIP]
                found.update(Path(folder, f) for f in files if f.endswith(SUITE_SUFFIX))
        elif path.is_file():
            found.add(path)
        else:
            raise ConfigError(f"{path}: no such file or directory")
    return sorted(found)


def load_suite(path: Path) -> Suite:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read suite: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        column = len(before.rsplit(b"\n", 1)[-1].decode("utf-8", "replace")) + 1
        raise ConfigError(
            f"{path}:{line}:{column}: byte {data[exc.start]:#04x} is not valid "
            "UTF-8 (suites must be UTF-8)"
        ) from None
    located = load_yaml(text, str(path))
    if not isinstance(located.data, dict):
        raise ConfigError(f"{path}:1:1: a suite is a YAML mapping with `policies` and `cases`")
    try:
        spec = SuiteSpec.model_validate(located.data)
    except ValidationError as exc:
        raise ConfigError(_render_validation(exc, located)) from None
    return _Resolver(path, spec, located).suite()


def _render_validation(exc: ValidationError, located: Located) -> str:
    lines = []
    for error in exc.errors(include_url=False):
        mark = located.mark_for(tuple(error["loc"]))
        field_path = ".".join(str(p) for p in error["loc"] if not _is_union_tag(p))
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown field"
        lines.append(f"{mark}: {field_path or 'suite'}: {message}")
    return "\n".join(dict.fromkeys(lines))


def _is_union_tag(part: Any) -> bool:
    return isinstance(part, str) and (part in ("str", "dict[str,any]") or "[" in part)


class _Resolver:
    """Turns the validated spec into a Suite: names → principals, refs → policies, cases."""

    def __init__(self, path: Path, spec: SuiteSpec, located: Located) -> None:
        self.path, self.spec, self.located = path, spec, located
        self.principals = {
            name: value if isinstance(value, PrincipalSpec) else PrincipalSpec(arn=value)
            for name, value in spec.principals.items()
        }
        self._cache: dict[str, LoadedPolicy] = {}

    def suite(self) -> Suite:
        p = self.spec.policies
        base = ("policies",)
        return Suite(
            path=self.path,
            name=self.spec.suite or self.path.name.removesuffix(SUITE_SUFFIX),
            description=self.spec.description,
            key_policy=self.policy(p.key, "key", (*base, "key")) if p.key is not None else None,
            identity={
                self.arn(who): tuple(
                    self.policy(r, "identity", (*base, "identity", who, i))
                    for i, r in enumerate(refs)
                )
                for who, refs in p.identity.items()
            },
            scps=tuple(
                tuple(self.policy(r, "scp", (*base, "scps", n, i)) for i, r in enumerate(level))
                for n, level in enumerate(p.scps)
            ),
            rcps=tuple(
                tuple(self.policy(r, "rcp", (*base, "rcps", n, i)) for i, r in enumerate(level))
                for n, level in enumerate(p.rcps)
            ),
            boundaries={
                self.arn(who): self.policy(r, "boundary", (*base, "boundaries", who))
                for who, r in p.boundaries.items()
            },
            sessions={
                self.arn(who): tuple(
                    self.policy(r, "session", (*base, "sessions", who, i))
                    for i, r in enumerate(refs)
                )
                for who, refs in p.sessions.items()
            },
            grants=tuple(g.model_copy(update={"grantee": self.arn(g.grantee)}) for g in p.grants),
            plain=tuple(
                self.policy(r, "plain", (*base, "plain", i)) for i, r in enumerate(p.plain)
            ),
            cases=tuple(self.cases()),
            checks=tuple(self.checks()),
        )

    def checks(self) -> list[SuiteCheck]:
        out = []
        for i, spec in enumerate(self.spec.checks):
            loc = ("checks", i)
            other = (
                self.policy(spec.other, "key", (*loc, "other")) if spec.other is not None else None
            )
            mark = self.located.mark_for(loc)
            out.append(SuiteCheck(spec.label, spec, other, CheckExpectation(spec.expect), mark))
        return out

    def arn(self, name_or_arn: str) -> str:
        spec = self.principals.get(name_or_arn)
        return spec.arn if spec else name_or_arn

    def principal(self, name_or_arn: str) -> PrincipalSpec:
        return self.principals.get(name_or_arn) or PrincipalSpec(arn=name_or_arn)

    # --- policies ---------------------------------------------------------------------------

    def policy(self, ref: PolicyRef, role: str, loc: tuple[Any, ...]) -> LoadedPolicy:
        mark = self.located.mark_for(loc)
        cache_key = f"{role}:{ref}" if isinstance(ref, str) else f"{role}:{mark}"
        if cache_key in self._cache:
            return self._cache[cache_key]
        if isinstance(ref, dict):
            label = f"{_relative(self.path)}:{mark.line}"
            policy = self._read(json.dumps(ref, indent=2), label, role, mark)
        elif "\n" in ref or ref.lstrip().startswith("{"):
            label = f"{_relative(self.path)}:{mark.line}"
            policy = self._read(ref, label, role, mark)
        else:
            file = (self.path.parent / ref).resolve()
            try:
                data = file.read_bytes()
            except OSError as exc:
                raise ConfigError(f"{mark}: cannot read policy `{ref}`: {exc.strerror}") from None
            label = _relative(file)
            policy = self._read(data, label, role, mark)
        loaded = LoadedPolicy(label=label, policy=policy, role=role)
        self._cache[cache_key] = loaded
        return loaded

    def _read(self, text: str | bytes, label: str, role: str, mark: Mark) -> Policy:
        try:
            parsed = read_policies(text, label, key_policy=role == "key")
        except PolicyError as exc:
            raise ConfigError(f"{mark}: invalid {role} policy `{label}`:\n{exc}") from None
        if len(parsed) != 1:
            raise ConfigError(
                f"{mark}: `{label}` holds {len(parsed)} policies; a suite entry names exactly one"
            )
        return parsed[0]

    # --- cases ------------------------------------------------------------------------------

    def cases(self) -> list[Case]:
        """Cases then tables, or tables then cases: in the order the file writes them."""
        cases, tables = self._cases(), self._tables()
        keys = list(self.located.data)
        tables_first = (
            "tables" in keys and "cases" in keys and (keys.index("tables") < keys.index("cases"))
        )
        return tables + cases if tables_first else cases + tables

    def _cases(self) -> list[Case]:
        out: list[Case] = []
        for i, case in enumerate(self.spec.cases):
            loc = ("cases", i)
            actions = case.actions if case.actions is not None else [case.action or ""]
            for action in actions:
                name = case.name if len(actions) == 1 else f"{case.name} [{action}]"
                out.append(self.case(name, case.principal, action, case, loc))
        return out

    def _tables(self) -> list[Case]:
        out: list[Case] = []
        for t, table in enumerate(self.spec.tables):
            for who, row in table.expect.items():
                for action, expect in zip(table.actions, row, strict=True):
                    spec = CaseSpec(
                        name=table.name,
                        action=action,
                        resource=table.resource,
                        context=table.context,
                        time=table.time,
                        expect=expect,
                    )
                    name = f"{table.name}: {who} × {action}"
                    out.append(self.case(name, who, action, spec, ("tables", t, "expect", who)))
        return out

    def case(
        self, name: str, who: str | None, action: str, case: CaseSpec, loc: tuple[Any, ...]
    ) -> Case:
        d = self.spec.defaults
        mark = self.located.mark_for(loc)
        who = who or d.principal
        resource = case.resource or d.resource
        if who is None:
            raise ConfigError(f"{mark}: case `{name}` has no `principal` (and no default)")
        if resource is None:
            raise ConfigError(f"{mark}: case `{name}` has no `resource` (and no default)")
        return Case(
            name=name,
            principal=self.principal(who),
            action=self.action(action, mark),
            resource=resource,
            context={k: v for k, v in {**d.context, **case.context}.items() if v is not None},
            time=case.time or d.time,
            expect=case.expect,
            because=tuple(case.because),
            mark=mark,
        )

    def action(self, action: str, mark: Mark) -> str:
        bare = action.removeprefix("kms:").removeprefix("KMS:")
        found = _ACTIONS.get(bare.lower())
        if found is None or ":" in bare:
            guess = did_you_mean(bare, KMS_ACTIONS)
            hint = f" (did you mean `kms:{guess}`?)" if guess else ""
            raise ConfigError(f"{mark}: `{action}` is not a KMS action{hint}")
        return f"kms:{found}"


def _relative(file: Path) -> str:
    try:
        return str(file.relative_to(Path.cwd()))
    except ValueError:
        return str(file)
