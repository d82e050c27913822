"""Benchmark: ``kmspolicy check`` time per check, on the fixture key policies and on generated key
policies of 10 / 100 / 1,000 statements, beside one evaluator decision on the same policy; and
``who-can`` time per matrix (five callers, every key action) on the same policies.

Run: .venv/bin/python bench/reasoning.py
Goals (issue 13): median <= 50 ms per check on the fixtures, <= 2 s at 1,000 statements.
Each cell is the median of ROUNDS runs (the fixture rows: the median over fixtures of each
fixture's fastest run). The baseline is one ``authorize_kms`` decision on the same policy in the
same run, so the ratio says how many single-request simulations one proof costs.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from kmspolicy.authz import Caller, KmsPolicies, PolicyCache, Request, authorize_kms
from kmspolicy.lang import Policy, load_policies, read_json
from kmspolicy.reasoning import (
    Access,
    CallerPolicies,
    Verdict,
    check_access_not_granted,
    check_equivalent,
    check_no_new_access,
    check_no_public_access,
    who_can,
)
from kmspolicy.reasoning.whocan import example_key_arn

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SIZES = (10, 100, 1_000)
ROUNDS = 3
A, B = "111122223333", "444455556666"
KEY = f"arn:aws:kms:us-east-1:{A}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
TIMEOUT = 60.0


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def decision_seconds(policy: Policy) -> float:
    request = Request(Caller.from_arn(f"arn:aws:iam::{A}:user/u1"), "kms:Decrypt", KEY)
    policies = KmsPolicies(policy)
    match = PolicyCache().match  # compiled once, as the KMS pipeline keeps them
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < 0.05:
        authorize_kms(request, policies, matcher=match)
        calls += 1
    return (time.perf_counter() - start) / calls


def generated(n: int, *, extra: bool = False) -> Policy:
    """Statement 0 enables IAM for the account; statement i lets user u<i> use the key for its
    own encryption context, some only through a service; ``extra`` adds a partner's Decrypt."""
    statements: list[dict[str, object]] = [
        {
            "Sid": "EnableIAM",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{A}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    ]
    for i in range(1, n):
        condition: dict[str, dict[str, str]] = {
            "StringEquals": {"kms:EncryptionContext:owner": f"u{i}"}
        }
        if i % 3 == 0:
            condition["StringEquals"]["kms:ViaService"] = "s3.us-east-1.amazonaws.com"
        statements.append(
            {
                "Sid": f"U{i}",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{A}:user/u{i}"},
                "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
                "Condition": condition,
            }
        )
    if extra:
        statements.append(
            {
                "Sid": "Partner",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{B}:root"},
                "Action": "kms:Decrypt",
                "Resource": "*",
            }
        )
    doc = {"Version": "2012-10-17", "Statement": statements}
    # read without the key-policy checks: 1,000 statements exceed KMS's 32 KB key-policy limit
    # (the AST, and so the check, is the same)
    return read_json(json.dumps(doc))


def checks(policy: Policy, other: Policy) -> dict[str, Callable[[], object]]:
    return {
        "equivalent (PASS)": lambda: check_equivalent(policy, policy, timeout=TIMEOUT),
        "no-new-access": lambda: check_no_new_access(policy, other, timeout=TIMEOUT),
        "no-public-access": lambda: check_no_public_access(policy, timeout=TIMEOUT),
        "access-not-granted": lambda: check_access_not_granted(
            policy, ["kms:PutKeyPolicy"], timeout=TIMEOUT
        ),
    }


def fixture_rows() -> None:
    key_policies = [
        p
        for p in sorted(FIXTURES.glob("*.json"))
        if "identity" not in p.name and "administrator" not in p.name
    ]
    per_check: dict[str, list[float]] = {}
    unknown = 0
    for path in key_policies:
        policy = load_policies(path, key_policy=True)[0]
        other = load_policies(path.with_suffix(".kmsp"), key_policy=True)[0]
        for name, fn in checks(policy, other).items():
            best = float("inf")
            for _ in range(ROUNDS):
                seconds, result = timed(fn)
                best = min(best, seconds)
                unknown += result.verdict is Verdict.UNKNOWN  # type: ignore[attr-defined]
            per_check.setdefault(name, []).append(best)
    print(f"fixture key policies ({len(key_policies)}), median of each fixture's best of {ROUNDS}:")
    everything = [s for times in per_check.values() for s in times]
    for name, times in per_check.items():
        print(
            f"  {name:<20} median {statistics.median(times) * 1000:7.1f} ms   "
            f"max {max(times) * 1000:7.1f} ms"
        )
    print(
        f"  {'all checks':<20} median {statistics.median(everything) * 1000:7.1f} ms   "
        f"(goal <= 50 ms); UNKNOWN answers: {unknown}"
    )


def size_rows() -> None:
    print(
        "generated key policies (median of "
        f"{ROUNDS} runs; ratio = check / one authorize_kms decision):"
    )
    print(f"  {'statements':>10}  {'check':<20} {'seconds':>9} {'verdict':>8} {'ratio':>10}")
    for n in SIZES:
        policy, wider = generated(n), generated(n, extra=True)
        base = decision_seconds(policy)
        for name, fn in checks(policy, wider).items():
            runs = [timed(fn) for _ in range(ROUNDS)]
            seconds = statistics.median(s for s, _ in runs)
            verdict = runs[-1][1].verdict.value  # type: ignore[attr-defined]
            print(f"  {n:>10}  {name:<20} {seconds:9.3f} {verdict:>8} {seconds / base:10.0f}x")
        print(f"  {n:>10}  {'(one decision)':<20} {base:9.6f}")


ALLOW_ALL = read_json(
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'
)


def callers() -> list[CallerPolicies]:
    """The owner's root, a user with an allow-all identity policy, a session with none, another
    account's user with an allow-all one, a service."""
    return [
        CallerPolicies(Caller.from_arn(f"arn:aws:iam::{A}:root")),
        CallerPolicies(Caller.from_arn(f"arn:aws:iam::{A}:user/u3"), (ALLOW_ALL,)),
        CallerPolicies(Caller.from_arn(f"arn:aws:sts::{A}:assumed-role/Payroll/s")),
        CallerPolicies(Caller.from_arn(f"arn:aws:iam::{B}:user/bob"), (ALLOW_ALL,)),
        CallerPolicies(Caller.from_arn("logs.amazonaws.com")),
    ]


def matrix(policy: Policy) -> tuple[float, int, int]:
    seconds, result = timed(lambda: who_can(policy, callers(), key_arn=example_key_arn(A)))
    cells = result.cells  # type: ignore[attr-defined]
    unknown = sum(c.access is Access.UNKNOWN for c in cells)
    return seconds, len(cells), unknown


def who_can_rows() -> None:
    key_policies = [
        p
        for p in sorted(FIXTURES.glob("*.json"))
        if "identity" not in p.name and "administrator" not in p.name
    ]
    times, unknown, cells = [], 0, 0
    for path in key_policies:
        seconds, cells, missing = matrix(load_policies(path, key_policy=True)[0])
        times.append(seconds)
        unknown += missing
    print(f"who-can, five callers x every key action ({cells} cells), one run each:")
    print(
        f"  fixtures ({len(key_policies)})  median {statistics.median(times):6.2f} s   "
        f"max {max(times):6.2f} s   unknown cells: {unknown}"
    )
    for n in SIZES:
        seconds, cells, missing = matrix(generated(n))
        print(f"  {n:>5} statements  {seconds:6.2f} s   unknown cells: {missing}")


def main() -> None:
    fixture_rows()
    print()
    size_rows()
    print()
    who_can_rows()


if __name__ == "__main__":
    main()
