"""Benchmark: authorization decisions per second at 10/100/1,000/10,000 statements, one matching,
side by side with cedarpy (``is_authorized``, policies parsed once) and pycasbin (``enforce``).

Run: .venv/bin/python bench/authz.py
Equivalent policy sets: statement i allows principal ``user/u<i>`` the action Decrypt on the key
(kmspolicy: one key policy of N statements evaluated with KMS rules; cedar: N ``permit`` policies;
casbin: N ``p`` lines of an ACL model). The request comes from the principal of the middle
statement. kmspolicy builds a fresh ``Request`` per decision (the caller is authenticated once).
Prints µs per decision, decisions/s, the ratios, and 10,000-vs-10 latency growth.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

import casbin
import cedarpy

from kmspolicy.authz import Caller, KmsPolicies, PolicyCache, Request, authorize_kms
from kmspolicy.lang import read_json

SIZES = (10, 100, 1_000, 10_000)
ACCOUNT = "111122223333"
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
BUDGET_S = 0.08  # per measurement
ROUNDS = 7  # rounds interleave all engines and sizes; the minimum per cell filters load noise


def per_call(fn: Callable[[], object], budget: float = BUDGET_S) -> float:
    """Mean seconds per call over a run of about ``budget`` seconds."""
    calls, start = 0, time.perf_counter()
    while True:
        for _ in range(10):
            fn()
        calls += 10
        elapsed = time.perf_counter() - start
        if elapsed > budget:
            return elapsed / calls


def kmspolicy_case(n: int) -> Callable[[], object]:
    doc = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": f"U{i}",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/u{i}"},
                "Action": "kms:Decrypt",
                "Resource": "*",
            }
            for i in range(n)
        ],
    }
    policies = KmsPolicies(read_json(json.dumps(doc)))
    caller = Caller.from_arn(f"arn:aws:iam::{ACCOUNT}:user/u{n // 2}")
    match = PolicyCache().match  # compiled once, as the KMS pipeline keeps them
    assert authorize_kms(Request(caller, "kms:Decrypt", KEY), policies, matcher=match).allowed
    return lambda: authorize_kms(Request(caller, "kms:Decrypt", KEY), policies, matcher=match)


def cedar_case(n: int) -> Callable[[], object]:
    text = "\n".join(
        f'permit(principal == User::"u{i}", action == Action::"Decrypt", resource);'
        for i in range(n)
    )
    ps = cedarpy.PolicySet.from_str(text)
    entities = cedarpy.Entities.from_json_str("[]")
    request = {
        "principal": f'User::"u{n // 2}"',
        "action": 'Action::"Decrypt"',
        "resource": 'Key::"k1"',
        "context": {},
    }
    assert cedarpy.is_authorized(request, ps, entities).allowed
    return lambda: cedarpy.is_authorized(request, ps, entities)


CASBIN_MODEL = """
[request_definition]
r = sub, obj, act
[policy_definition]
p = sub, obj, act
[policy_effect]
e = some(where (p.eft == allow))
[matchers]
m = r.sub == p.sub && r.obj == p.obj && r.act == p.act
"""


def casbin_case(n: int) -> Callable[[], object]:
    model = casbin.model.Model()
    model.load_model_from_text(CASBIN_MODEL)
    enforcer = casbin.Enforcer(model)
    enforcer.add_policies([[f"u{i}", "k1", "Decrypt"] for i in range(n)])
    sub = f"u{n // 2}"
    assert enforcer.enforce(sub, "k1", "Decrypt")
    return lambda: enforcer.enforce(sub, "k1", "Decrypt")


def scan_case(n: int, operator: str = "StringLike") -> Callable[[], object]:
    """N statements with Principal *, a wildcard action that matches and a condition that fails,
    plus the one that matches. With StringLike no index can exclude them (the per-statement scan
    cost); with StringEquals the condition-value index does."""
    stmts = [
        {
            "Effect": "Allow",
            "Principal": "*",
            "Action": "kms:De*",
            "Resource": "*",
            "Condition": {operator: {"aws:PrincipalTag/team": f"t{i}"}},
        }
        for i in range(n)
    ]
    stmts.append(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/u"},
            "Action": "kms:Decrypt",
            "Resource": "*",
        }
    )
    policies = KmsPolicies(read_json(json.dumps({"Version": "2012-10-17", "Statement": stmts})))
    caller = Caller.from_arn(f"arn:aws:iam::{ACCOUNT}:user/u", tags={"team": "none"})
    match = PolicyCache().match  # compiled once, as the KMS pipeline keeps them
    assert authorize_kms(Request(caller, "kms:Decrypt", KEY), policies, matcher=match).allowed
    return lambda: authorize_kms(Request(caller, "kms:Decrypt", KEY), policies, matcher=match)


ENGINES: dict[str, Callable[[int], Callable[[], object]]] = {
    "kmspolicy": kmspolicy_case,
    "cedarpy": cedar_case,
    "casbin": casbin_case,
}


def main() -> None:
    logging.getLogger("casbin").setLevel(logging.WARNING)
    print(
        f"{'statements':>10} {'kmspolicy µs':>13} {'cedarpy µs':>11} {'casbin µs':>10} "
        f"{'kmspolicy/s':>12} {'× cedarpy':>10} {'× casbin':>9}"
    )
    cases = {(n, name): make(n) for n in SIZES for name, make in ENGINES.items()}
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(ROUNDS):
        for key, fn in cases.items():
            best[key] = min(best[key], per_call(fn))
    ours: dict[int, float] = {}
    for n in SIZES:
        k, c, b = (best[(n, name)] for name in ENGINES)
        ours[n] = k
        print(
            f"{n:>10} {k * 1e6:>13.2f} {c * 1e6:>11.2f} {b * 1e6:>10.1f} "
            f"{1 / k:>12,.0f} {c / k:>10.1f} {b / k:>9.1f}"
        )
    for operator, label in (("StringLike", "non-indexable"), ("StringEquals", "condition-indexed")):
        small, large = (
            min(per_call(scan_case(n, operator)) for _ in range(ROUNDS)) for n in (0, 1_000)
        )
        each = (large - small) * 1e6 / 1_000
        print(f"{label} statements (Principal *, {operator} fails): {each:.3f} µs each")
    growth = ours[SIZES[-1]] / ours[SIZES[0]]
    print(
        f"kmspolicy latency at {SIZES[-1]:,} statements / at {SIZES[0]}: {growth:.2f}× (goal ≤ 2×)"
    )


if __name__ == "__main__":
    main()
