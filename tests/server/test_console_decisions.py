"""Whose decisions the console's log page shows: a principal its own; an account's root those of
its account's principals and keys, and never another account's (accounts compared as ARN fields)."""

from __future__ import annotations

import json
from pathlib import Path

from kmspolicy.server.console.decisions import read_decisions

ROOT = "arn:aws:iam::111122223333:root"
ALICE = "arn:aws:iam::111122223333:user/alice"
MALLORY = "arn:aws:iam::444455556666:user/mallory"
OWN_KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
# alias names may hold ':', so another account's alias ARN can spell the owner's account inside
SPOOF_ALIAS = "arn:aws:kms:us-east-1:444455556666:alias/x:111122223333:y"


def _log(tmp_path: Path, *records: tuple[str, str, str]) -> Path:
    path = tmp_path / "audit.log"
    lines = [
        json.dumps({"request_id": rid, "principal": who, "resources": [what]})
        for rid, who, what in records
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def _shown(path: Path, principal: str) -> set[str]:
    return {r["request_id"] for r in read_decisions(path, principal, {})}


def test_a_root_sees_its_accounts_records_and_not_an_alias_spelling_its_account(
    tmp_path: Path,
) -> None:
    path = _log(
        tmp_path,
        ("own-user", ALICE, OWN_KEY),
        ("on-own-key", MALLORY, OWN_KEY),
        ("spoof", MALLORY, SPOOF_ALIAS),
    )
    assert _shown(path, ROOT) == {"own-user", "on-own-key"}


def test_a_user_sees_only_its_own_records(tmp_path: Path) -> None:
    path = _log(tmp_path, ("own", ALICE, OWN_KEY), ("other", MALLORY, OWN_KEY))
    assert _shown(path, ALICE) == {"own"}
    assert _shown(path, MALLORY) == {"other"}
