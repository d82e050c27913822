"""Benchmark: parse time of a ~1 MB policy set in both faces, and how it grows 10 KB → 1 MB.

Run: .venv/bin/python bench/parse.py
Prints ms and µs/KB at each size for the DSL parser and the AWS JSON reader, the ratio of
largest to smallest per-KB cost (≈1 means linear), and two same-run baselines: the stdlib
``json.loads`` of the same JSON text (it builds no positions, AST or diagnostics) and, when
cedarpy is installed (the ``bench`` extra), Cedar's parser (``PolicySet.from_str``) on the same
number of equivalent Cedar statements, compared per statement.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from types import ModuleType

from kmspolicy.lang import Policy, format_dsl, parse_dsl, read_json, write_json

try:
    import cedarpy as _cedarpy

    cedarpy: ModuleType | None = _cedarpy
except ImportError:  # the baseline is optional: pip install -e '.[bench]'
    cedarpy = None

SIZES_KB = (10, 30, 100, 300, 1000)


def _statement(i: int) -> str:
    return f"""
# statement {i}: users of the finance key, through EBS only
allow "Users{i}"
  principal aws "arn:aws:iam::111122223333:role/App{i}", aws "444455556666"
  action kms:Encrypt, kms:Decrypt, kms:ReEncrypt*, kms:GenerateDataKey*, kms:DescribeKey
  resource *
  when StringEquals kms:ViaService ["ec2.us-east-1.amazonaws.com", "rds.us-east-1.amazonaws.com"]
   and StringEquals kms:CallerAccount "111122223333"
   and ForAnyValue:StringLike kms:EncryptionContextKeys ["dept", "project*"]
   and Bool aws:SecureTransport true
"""


def _cedar_statement(i: int) -> str:
    return f"""
// statement {i}: users of the finance key, through EBS only
@id("Users{i}")
permit (
  principal,
  action in [Action::"Encrypt", Action::"Decrypt", Action::"ReEncrypt", Action::"GenerateDataKey",
             Action::"DescribeKey"],
  resource
) when {{
  (principal == Role::"arn:aws:iam::111122223333:role/App{i}"
   || principal == Account::"444455556666")
  && ["ec2.us-east-1.amazonaws.com", "rds.us-east-1.amazonaws.com"].contains(context.viaService)
  && context.callerAccount == "111122223333"
  && context.encryptionContextKeys.containsAny(["dept", "project"])
  && context.secureTransport == true
}};
"""


def cedar_text(statements: int) -> str:
    return "".join(_cedar_statement(i) for i in range(statements))


def dsl_text(target_bytes: int) -> str:
    """Policies of 20 statements each until the text reaches ``target_bytes``."""
    parts: list[str] = []
    size = i = 0
    while size < target_bytes:
        header = f'\npolicy "p{i // 20}" version 2012-10-17\n' if i % 20 == 0 else ""
        chunk = header + _statement(i)
        parts.append(chunk)
        size += len(chunk)
        i += 1
    return "".join(parts)


def json_text(target_bytes: int) -> str:
    """One document whose statements are the DSL set's statements (same content, JSON face)."""
    statements = [s for p in parse_dsl(dsl_text(target_bytes)) for s in p.statements]
    return write_json(Policy(tuple(statements), "2012-10-17", "bench"))


def best_of(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()  # CPU time: load from other processes does not count
        fn()
        best = min(best, time.process_time() - start)
    return best


def main() -> None:
    rows: dict[str, list[float]] = {"dsl": [], "json": [], "json.loads": []}
    per_statement: dict[str, float] = {}
    print(f"{'size':>8} {'face':>10} {'bytes':>9} {'ms':>9} {'us/KB':>8}")
    for kb in SIZES_KB:
        repeat = 5 if kb <= 100 else 3
        dsl, doc = dsl_text(kb * 1024), json_text(kb * 1024)
        statements = sum(len(p.statements) for p in parse_dsl(dsl))
        cases: list[tuple[str, str, Callable[[], object]]] = [
            ("dsl", dsl, lambda t=dsl: parse_dsl(t)),
            ("json", doc, lambda t=doc: read_json(t)),
            ("json.loads", doc, lambda t=doc: json.loads(t)),
        ]
        if cedarpy is not None:
            cedar = cedar_text(statements)
            cases.append(("cedar", cedar, lambda t=cedar: cedarpy.PolicySet.from_str(t)))
        for face, text, fn in cases:
            # the baseline takes milliseconds: more tries, so one slow try on this shared
            # machine does not shrink the ratio it stands for
            seconds = best_of(fn, repeat * 5 if face == "json.loads" else repeat)
            per_kb = seconds * 1e6 / (len(text) / 1024)
            rows.setdefault(face, []).append(per_kb)
            per_statement[face] = seconds / statements
            print(f"{kb:>6}KB {face:>10} {len(text):>9} {seconds * 1e3:>9.1f} {per_kb:>8.1f}")
    print()
    for face, per_kb in rows.items():
        print(
            f"{face:>10}: per-KB cost at 1 MB / at 10 KB = {per_kb[-1] / per_kb[0]:.2f} "
            "(1.0 = linear)"
        )
    print(
        f"      json: {rows['json'][-1] / rows['json.loads'][-1]:.1f}x stdlib json.loads at 1 MB "
        "(positions, AST and checks included)"
    )
    if "cedar" in per_statement:
        print(
            f"       dsl: {per_statement['dsl'] / per_statement['cedar']:.1f}x cedarpy's parser "
            f"per statement at 1 MB ({per_statement['dsl'] * 1e6:.0f} us vs "
            f"{per_statement['cedar'] * 1e6:.0f} us)"
        )
    sample = parse_dsl(dsl_text(1024 * 1024))
    assert format_dsl(sample) and len(sample) > 1  # the set really is a set of policies


if __name__ == "__main__":
    main()
