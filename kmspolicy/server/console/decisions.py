"""The console's decision log: the audit records a principal may see, newest first, and the
state of the hash chain.

Layer: server (adapter over audit). A principal sees the records of its own requests; an
account's root user sees every record of its account (its principals' requests and the
service's own changes to its keys). The chain is verified on each view (with the audit key, so
a forged record shows too); a broken chain is shown plainly, with the first problems.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kmspolicy.audit import verify

#: records read from the end of the log for one page (the log itself may be far longer)
TAIL = 5000
SHOWN = 200


@dataclass(frozen=True, slots=True)
class ChainState:
    ok: bool
    records: int
    authenticated: bool
    head: str
    problems: tuple[str, ...]


def _visible(record: dict[str, Any], principal: str) -> bool:
    if record.get("principal") == principal:
        return True
    if not principal.endswith(":root"):
        return False
    account = principal.split(":")[4]
    who = str(record.get("principal", ""))
    resources = [str(r) for r in record.get("resources", [])]
    return f"::{account}:" in who or any(f":{account}:" in r for r in resources)


def _matches(record: dict[str, Any], filters: dict[str, str]) -> bool:
    if filters.get("principal") and filters["principal"] not in str(record.get("principal")):
        return False
    resources = record.get("resources", [])
    if filters.get("key") and not any(filters["key"] in str(r) for r in resources):
        return False
    if filters.get("action") and not any(
        filters["action"].lower() in str(a).lower()
        for a in [*record.get("actions", []), record.get("operation", "")]
    ):
        return False
    return not (filters.get("decision") and record.get("decision") != filters["decision"])


def read_decisions(
    path: Path | None, key: bytes | None, principal: str, filters: dict[str, str]
) -> tuple[list[dict[str, Any]], ChainState | None]:
    if path is None or not path.exists():
        return [], None
    result = verify(path, key=key)
    state = ChainState(
        ok=result.ok,
        records=result.records,
        authenticated=result.authenticated,
        head=result.head,
        problems=tuple(f"line {p.line}: {p.kind}: {p.message}" for p in result.problems[:5]),
    )
    with path.open("rb") as lines:
        tail = deque(lines, maxlen=TAIL)
    shown: list[dict[str, Any]] = []
    for raw in reversed(tail):
        try:
            record = json.loads(raw)
        except ValueError:
            continue
        if isinstance(record, dict) and _visible(record, principal) and _matches(record, filters):
            shown.append(record)
            if len(shown) >= SHOWN:
                break
    return shown, state
