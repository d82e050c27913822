"""Where a policy file is attached, as the compliance suites beside it say.

Layer: cli (adapter). A policy file does not say whether it is a key policy or an identity
policy; the suites (``*.kmstest.yaml``) that use it do: ``policies.key`` is a key policy,
``identity`` identity policies, ``scps``/``rcps``/``boundaries``/``sessions`` the others. The
suites read are those under each directory given and beside each file given. A file's DSL/JSON
twin (the same name with the other suffix) is the same policy and gets the same kind. A file
no suite names keeps the command's default. Suites that do not parse are left to
``kmspolicy test`` to report.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from kmspolicy.cli._paths import STDIN, walk

SUITE_SUFFIX = ".kmstest.yaml"
_TWINS = MappingProxyType({".kmsp": ".json", ".json": ".kmsp"})
#: suite field -> policy type (lint's --policy-type names)
_FIELDS = MappingProxyType(
    {
        "identity": "identity",
        "scps": "scp",
        "rcps": "rcp",
        "boundaries": "boundary",
        "sessions": "session",
    }
)


def _refs(value: Any) -> Iterator[str]:
    """Every file reference in a suite field (inline policies are mappings: skipped)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)
    elif isinstance(value, dict):
        for item in value.values():
            if isinstance(item, str | list):
                yield from _refs(item)


def _suite_kinds(suite: Path) -> Iterator[tuple[Path, str]]:
    try:
        document = yaml.safe_load(suite.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return
    policies = document.get("policies") if isinstance(document, dict) else None
    if not isinstance(policies, dict):
        return
    named = [(ref, "key") for ref in _refs(policies.get("key"))]
    for field, kind in _FIELDS.items():
        named += [(ref, kind) for ref in _refs(policies.get(field))]
    for ref, kind in named:
        path = (suite.parent / ref).resolve()
        yield path, kind
        if path.suffix in _TWINS:
            yield path.with_suffix(_TWINS[path.suffix]), kind


def _suites(paths: Sequence[Path], exclude: Sequence[str]) -> Iterable[Path]:
    found: dict[Path, None] = {}
    for path in paths:
        if path == STDIN:
            continue
        if path.is_dir():
            found.update(dict.fromkeys(walk(path, (SUITE_SUFFIX,), exclude)))
        else:
            found.update(dict.fromkeys(sorted(path.parent.glob(f"*{SUITE_SUFFIX}"))))
    return found


def policy_kinds(paths: Sequence[Path], exclude: Sequence[str] = ()) -> dict[Path, list[str]]:
    """Resolved policy file -> the kinds the suites use it as (sorted, usually one)."""
    kinds: dict[Path, set[str]] = {}
    for suite in _suites(paths, exclude):
        for path, kind in _suite_kinds(suite):
            kinds.setdefault(path, set()).add(kind)
    return {path: sorted(found) for path, found in kinds.items()}
