"""Statement coverage counts every statement that matched a case's request, deciding or not: an
Allow that an explicit Deny overrode is exercised; a statement no request matched is not."""

from __future__ import annotations

import json
from pathlib import Path

from kmspolicy.testing.runner import run_paths

A = "111122223333"
KEY_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "AliceUsesAndDeletes",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{A}:user/alice"},
            "Action": ["kms:Decrypt", "kms:ScheduleKeyDeletion"],
            "Resource": "*",
        },
        {
            "Sid": "NobodyDeletes",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "kms:ScheduleKeyDeletion",
            "Resource": "*",
        },
        {
            "Sid": "BobEncrypts",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{A}:user/bob"},
            "Action": "kms:Encrypt",
            "Resource": "*",
        },
    ],
}


def _suite(tmp_path: Path) -> Path:
    (tmp_path / "key.json").write_text(json.dumps(KEY_POLICY), encoding="utf-8")
    suite = tmp_path / "deny-wins.kmstest.yaml"
    suite.write_text(
        f"""\
policies:
  key: key.json
defaults:
  resource: arn:aws:kms:us-east-1:{A}:key/k
cases:
  - name: the deletion deny overrides alice's allow
    principal: arn:aws:iam::{A}:user/alice
    action: kms:ScheduleKeyDeletion
    expect: explicitDeny
""",
        encoding="utf-8",
    )
    return suite


def test_an_allow_overridden_by_an_explicit_deny_is_covered(tmp_path: Path) -> None:
    report = run_paths([_suite(tmp_path)])
    assert report.ok
    [decision] = [r.decision for r in report.results]
    assert decision is not None
    # the deny alone decided, yet alice's allow matched the request too
    assert [m.sid for m in decision.matched_statements] == ["NobodyDeletes"]
    [policy] = report.coverage.policies.values()
    assert [name for _, name, _ in policy.uncovered()] == ["BobEncrypts"]
    assert (policy.covered, policy.total) == (2, 3)
    assert policy.hits == {0: 1, 1: 1}
