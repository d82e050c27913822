"""Store and audit-log cost: the KMS Python API on memory vs SQLite vs PostgreSQL, same run.

Run: ``.venv/bin/python bench/store.py [--seconds S]``. Baseline: the in-memory store. Prints
calls/s and the ratio to the baseline for authorized Encrypt (4 KB), GenerateDataKey and
symmetric CreateKey, then the file audit log's cost per Encrypt. PostgreSQL rows are skipped
when the server at $KMSPOLICY_TEST_POSTGRES (default 127.0.0.1:5432/test) is unreachable.
"""

from __future__ import annotations

import argparse
import os
import secrets
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psycopg

from kmspolicy.audit import open_audit_log
from kmspolicy.kms.service import KMS
from kmspolicy.store import open_store
from kmspolicy.store.rootkey import RootKey

PG = os.environ.get("KMSPOLICY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
PLAINTEXT = os.urandom(4096)


def rate(fn: Callable[[], object], seconds: float) -> float:
    fn()  # warm up
    n, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(10):
            fn()
        n += 10
    return n / elapsed


def workloads(kms: KMS) -> dict[str, Callable[[], object]]:
    key_id = kms.call("CreateKey")["KeyMetadata"]["KeyId"]
    return {
        "Encrypt 4KB": lambda: kms.call("Encrypt", {"KeyId": key_id, "Plaintext": PLAINTEXT}),
        "GenerateDataKey": lambda: kms.call(
            "GenerateDataKey", {"KeyId": key_id, "KeySpec": "AES_256"}
        ),
        "CreateKey": lambda: kms.call("CreateKey"),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=1.5)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    root = RootKey.generate()
    schema = f"kmsp_bench_{secrets.token_hex(4)}"
    stores = {"memory": "memory:", "sqlite": f"sqlite://{tmp / 'kms.db'}"}
    try:
        psycopg.connect(PG, connect_timeout=3).close()
        stores["postgres"] = f"{PG}?schema={schema}"
    except psycopg.Error:
        print("PostgreSQL unreachable: skipped")
    results: dict[str, dict[str, float]] = {}
    try:
        for name, url in stores.items():
            store = open_store(url, root)
            kms = KMS(store)
            results[name] = {op: rate(fn, args.seconds) for op, fn in workloads(kms).items()}
            store.close()
        print(f"{'operation':18}" + "".join(f"{n:>24}" for n in results))
        for op in results["memory"]:
            base = results["memory"][op]
            cells = "".join(
                f"{results[n][op]:>12,.0f}/s ({results[n][op] / base:5.2f}x)" for n in results
            )
            print(f"{op:18}{cells}")
        # the audit log's cost: the same Encrypt on the memory store with and without it
        log = open_audit_log(tmp / "audit.log")
        plain, audited = KMS(), KMS(audit=log)
        plain_encrypt = workloads(plain)["Encrypt 4KB"]
        audited_encrypt = workloads(audited)["Encrypt 4KB"]
        bare = logged = 0.0
        for _ in range(3):  # alternate and keep the best of each: the machine is shared
            bare = max(bare, rate(plain_encrypt, args.seconds / 3))
            logged = max(logged, rate(audited_encrypt, args.seconds / 3))
        log.close()
        print(
            f"audit log: Encrypt {bare:,.0f}/s without, {logged:,.0f}/s with "
            f"({logged / bare:.2f}x; {1e6 / logged - 1e6 / bare:.1f} us per record)"
        )
    finally:
        if "postgres" in stores:
            with psycopg.connect(PG, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
