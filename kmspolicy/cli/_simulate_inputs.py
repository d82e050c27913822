"""Input files of ``kmspolicy simulate``: grants, organization, context — validated with pydantic.

Layer: cli (adapter). Unknown fields are rejected; paths inside an organization file are
relative to that file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kmspolicy.authz import Grant, check_grant_operations
from kmspolicy.errors import ConfigError
from kmspolicy.lang import Policy, load_policies, read_json

Scalar = str | bool | int | float


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GrantConstraints(_Strict):
    EncryptionContextEquals: dict[str, str] | None = None
    EncryptionContextSubset: dict[str, str] | None = None
    SourceArn: str | None = None


class CreateGrantShape(_Strict):
    """One grant, shaped like a CreateGrant request (plus the ids KMS assigns)."""

    GranteePrincipal: str | None = None
    GranteeServicePrincipal: str | None = None
    Operations: list[str] = Field(min_length=1)
    Constraints: GrantConstraints | None = None
    RetiringPrincipal: str | None = None
    RetiringServicePrincipal: str | None = None
    Name: str | None = None
    KeyId: str | None = None
    GrantId: str | None = None
    IssuingAccount: str | None = None

    @field_validator("Operations")
    @classmethod
    def _known_operations(cls, value: list[str]) -> list[str]:
        check_grant_operations(value)
        return value


class Organization(_Strict):
    """``{"scps": [[level 1], [level 2], …], "rcps": [[…], …]}`` — root first, account last."""

    scps: list[list[str | dict[str, Any]]] = []
    rcps: list[list[str | dict[str, Any]]] = []


def _read_json_file(path: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read `{path}`: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: byte {exc.object[exc.start]:#04x} at offset {exc.start} is "
            "not valid UTF-8 (JSON files must be UTF-8)"
        ) from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from exc
    except RecursionError:
        raise ConfigError(f"{path}: invalid JSON: nested too deeply") from None


def _invalid(path: str, exc: ValidationError) -> ConfigError:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    # lower-case only the first letter: the message may quote the user's own values
    message = first["msg"].removeprefix("Value error, ")
    return ConfigError(f"{path}: {where}: {message[:1].lower()}{message[1:]}")


def load_grants(path: str, key_arn: str) -> list[Grant]:
    """A JSON list of CreateGrant-shaped objects → grants on ``key_arn`` (or their KeyId ARN)."""
    data = _read_json_file(path)
    if not isinstance(data, list):
        raise ConfigError(f"{path}: expected a JSON list of grants")
    grants = []
    for i, item in enumerate(data):
        try:
            shape = CreateGrantShape.model_validate(item)
        except ValidationError as exc:
            raise _invalid(f"{path}[{i}]", exc) from exc
        constraints = shape.Constraints or GrantConstraints()
        grantee = shape.GranteePrincipal or shape.GranteeServicePrincipal
        if grantee is None or (shape.GranteePrincipal and shape.GranteeServicePrincipal):
            raise ConfigError(
                f"{path}[{i}]: give GranteePrincipal or GranteeServicePrincipal (one of them)"
            )
        grants.append(
            Grant(
                grant_id=shape.GrantId or f"grant-{i}",
                key_arn=shape.KeyId if shape.KeyId and shape.KeyId.startswith("arn:") else key_arn,
                grantee_principal=grantee,
                operations=frozenset(shape.Operations),
                retiring_principal=shape.RetiringPrincipal or shape.RetiringServicePrincipal,
                encryption_context_equals=constraints.EncryptionContextEquals,
                encryption_context_subset=constraints.EncryptionContextSubset,
                name=shape.Name,
                issuing_account=shape.IssuingAccount,
                source_arn=constraints.SourceArn,
            )
        )
    return grants


def load_organization(path: str) -> tuple[list[list[Policy]], list[list[Policy]]]:
    """SCP and RCP levels of an organization file; entries are inline documents or paths."""
    try:
        org = Organization.model_validate(_read_json_file(path))
    except ValidationError as exc:
        raise _invalid(path, exc) from exc
    base = Path(path).parent

    def level(entries: Sequence[str | dict[str, Any]], kind: str, n: int) -> list[Policy]:
        out: list[Policy] = []
        for j, entry in enumerate(entries):
            if isinstance(entry, str):
                target = entry if os.path.isabs(entry) else str(base / entry)
                try:
                    out.extend(load_policies(target))
                except OSError as exc:
                    raise ConfigError(
                        f"{path}: {kind}[{n}][{j}]: cannot read policy file "
                        f"`{target}`: {exc.strerror or exc}"
                    ) from exc
            else:
                out.append(read_json(json.dumps(entry), f"{path}#{kind}[{n}][{j}]"))
        return out

    scps = [level(lv, "scps", n) for n, lv in enumerate(org.scps)]
    rcps = [level(lv, "rcps", n) for n, lv in enumerate(org.rcps)]
    return scps, rcps


def parse_context(pairs: Sequence[str], context_file: str | None) -> dict[str, Any]:
    """``--context KEY=VALUE`` (repeat a key for several values; ``[...]`` is a JSON list) and
    ``--context-file`` (a JSON object of strings, numbers, booleans or lists); flags win."""
    context: dict[str, Any] = {}
    if context_file:
        data = _read_json_file(context_file)
        if not isinstance(data, dict):
            raise ConfigError(f"{context_file}: expected a JSON object of context keys")
        for key, value in data.items():
            items = value if isinstance(value, list) else [value]
            if not all(isinstance(v, (str, bool, int, float)) for v in items):
                raise ConfigError(
                    f"{context_file}: `{key}`: values must be strings, numbers or booleans"
                )
            context[key] = value
    given: dict[str, list[Any]] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--context `{pair}`: expected KEY=VALUE")
        if value.startswith("["):
            try:
                parsed = json.loads(value)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"--context `{key}`: invalid JSON list: {exc.msg}") from exc
            given.setdefault(key, []).extend(parsed if isinstance(parsed, list) else [parsed])
            given[key].append(_LIST_MARK)
        else:
            given.setdefault(key, []).append(value)
    for key, values in given.items():
        is_list = _LIST_MARK in values
        values = [v for v in values if v is not _LIST_MARK]
        context[key] = values if is_list or len(values) > 1 else values[0]
    return context


_LIST_MARK: Any = object()
