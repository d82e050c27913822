"""Benchmark: parse time of a ~1 MB policy set in both faces, and how it grows 10 KB → 1 MB.

Run: .venv/bin/python bench/parse.py
Prints ms and µs/KB at each size for the DSL parser and the AWS JSON reader, the ratio of
largest to smallest per-KB cost (≈1 means linear), and the stdlib ``json.loads`` of the same
JSON text as a same-run baseline (it builds no positions, AST or diagnostics).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from kmspolicy.lang import Policy, format_dsl, parse_dsl, read_json, write_json

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
    print(f"{'size':>8} {'face':>10} {'bytes':>9} {'ms':>9} {'us/KB':>8}")
    for kb in SIZES_KB:
        repeat = 5 if kb <= 100 else 3
        dsl, doc = dsl_text(kb * 1024), json_text(kb * 1024)
        for face, text, fn in (
            ("dsl", dsl, lambda t=dsl: parse_dsl(t)),
            ("json", doc, lambda t=doc: read_json(t)),
            ("json.loads", doc, lambda t=doc: json.loads(t)),
        ):
            seconds = best_of(fn, repeat)
            per_kb = seconds * 1e6 / (len(text) / 1024)
            rows[face].append(per_kb)
            print(f"{kb:>6}KB {face:>10} {len(text):>9} {seconds * 1e3:>9.1f} {per_kb:>8.1f}")
    print()
    for face, per_kb in rows.items():
        print(
            f"{face:>10}: per-KB cost at 1 MB / at 10 KB = {per_kb[-1] / per_kb[0]:.2f} "
            "(1.0 = linear)"
        )
    print(
        f"      json: {rows['json'][-1] / rows['json.loads'][-1]:.0f}x stdlib json.loads at 1 MB "
        "(positions, AST and checks included)"
    )
    sample = parse_dsl(dsl_text(1024 * 1024))
    assert format_dsl(sample) and len(sample) > 1  # the set really is a set of policies


if __name__ == "__main__":
    main()
