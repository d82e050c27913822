"""The console's decision log: the audit records a principal may see, newest first, and the
state of the hash chain.

Layer: server (adapter over audit). A principal sees the records of its own requests; an
account's root user sees every record of its account (its principals' requests and the
service's own changes to its keys). The chain is checked incrementally: each console instance
keeps the checkpoint where its last check of an intact chain ended (one per log: bounded) and,
when the file still ends that prefix with the same line, checks only the records appended
since; the page says how much was checked when, and a check from the start is one click
(``?verify=full``). A broken chain is shown plainly, with the first problems.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from kmspolicy.audit import Checkpoint, prefix_unchanged, verify
from kmspolicy.authz import Arn

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
    #: records checked by an earlier view of this server process (0: all checked now)
    checked_before: int = 0
    #: when the chain was last checked from its first record (by the service's clock)
    full_check: datetime | None = None


class ChainVerifier:
    """The decision log's chain state for one console: each view checks what was appended
    since the last intact check (under a lock: views run in worker threads)."""

    def __init__(self, path: Path | None, key: bytes | None) -> None:
        self._path = path
        self._key = key
        self._lock = threading.Lock()
        self._checkpoint: Checkpoint | None = None
        self._full_check: datetime | None = None

    def state(self, now: datetime, *, full: bool = False) -> ChainState | None:
        path = self._path
        if path is None or not path.exists():
            return None
        with self._lock:
            resume = self._checkpoint
            if full or (resume is not None and not prefix_unchanged(path, resume)):
                resume = None
            result = verify(path, key=self._key, resume=resume)
            self._checkpoint = result.checkpoint
            if resume is None:
                self._full_check = now
            return ChainState(
                ok=result.ok,
                records=result.records,
                authenticated=result.authenticated,
                head=result.head,
                problems=tuple(
                    f"line {p.line}: {p.kind}: {p.message}" for p in result.problems[:5]
                ),
                checked_before=result.resumed_after,
                full_check=self._full_check,
            )


def _visible(record: dict[str, Any], principal: str) -> bool:
    """A principal sees its own records; an account's root also sees those of its account's
    principals and keys. Accounts are compared as parsed ARN fields: an alias name may hold
    ``:111122223333:``, so a substring test would show another account's records to that root."""
    if record.get("principal") == principal:
        return True
    caller = Arn.of(principal)
    if caller is None or caller.resource != "root":
        return False
    texts = [str(record.get("principal", "")), *(str(r) for r in record.get("resources", []))]
    return any(arn is not None and arn.account == caller.account for arn in map(Arn.of, texts))


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
    path: Path | None, principal: str, filters: dict[str, str]
) -> list[dict[str, Any]]:
    if path is None or not path.exists():
        return []
    tail = _last_lines(path, TAIL)
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
    return shown


def _last_lines(path: Path, count: int, block: int = 64 * 1024) -> list[bytes]:
    """The last ``count`` lines of ``path``, read backwards from its end in blocks (a view
    reads the tail it shows, not the whole log)."""
    with path.open("rb") as f:
        end = f.seek(0, 2)
        data, position = b"", end
        while position > 0 and data.count(b"\n") <= count:
            step = min(block, position)
            position -= step
            f.seek(position)
            data = f.read(step) + data
    lines = data.splitlines(keepends=True)
    if position > 0:
        lines = lines[1:]  # the first one may be cut: more than ``count`` were read anyway
    return lines[-count:]
