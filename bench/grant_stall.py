"""One key's many grants against everyone else: the stall other clients see, and CreateGrant's
rate as a key fills up. Wall-clock latencies, so compare runs of one moment only.

    .venv/bin/python bench/grant_stall.py stall [--grants 50000] [--seconds 5] [--self]
    .venv/bin/python bench/grant_stall.py creates [--at 1000,10000,50000] [--count 50]

``stall``: ``kmspolicy serve`` in a thread on SQLite; one key gets ``--grants`` grants (to
other users, or with ``--self`` to the attacker itself), written straight into the store. A
victim thread sends Encrypt on a key of its own back to back and records each latency, first
alone, then while an attacker thread alternates TagResource (a cheap write: any write makes
the store's reads stale) with an Encrypt on the crowded key. Printed: the victim's median,
99th percentile and worst latency in each phase, and the attacker's time per pair.

``creates``: the Python API on the memory store and on SQLite; a key filled (straight into
the store) to each ``--at`` count, then ``--count`` CreateGrant calls timed: creates per second.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from kmspolicy.kms.clock import SystemClock
from kmspolicy.kms.model import GrantRecord
from kmspolicy.kms.ports import Store
from kmspolicy.kms.quotas import Quotas
from kmspolicy.kms.service import KMS
from kmspolicy.store import open_store
from kmspolicy.store.rootkey import RootKey, read_root_key_file

ACCOUNT = "111122223333"


def fill(store: Store, key_arn: str, start: int, count: int, grantee: str | None = None) -> None:
    """``count`` grants on ``key_arn`` in one transaction (ids after ``start``)."""
    now = SystemClock().now()
    with store.transaction() as tx:
        for i in range(start, start + count):
            tx.put_grant(
                GrantRecord(
                    grant_id=f"{i:064x}",
                    key_arn=key_arn,
                    grantee_principal=grantee or f"arn:aws:iam::{ACCOUNT}:user/u{i}",
                    operations=("Encrypt", "Decrypt"),
                    issuing_account=f"arn:aws:iam::{ACCOUNT}:root",
                    creation_date=now,
                    retiring_principal=f"arn:aws:iam::{ACCOUNT}:role/retirer{i % 7}",
                    token_nonce="00" * 16,
                )
            )


def _latencies(fn: Callable[[], object], stop: threading.Event) -> list[float]:
    found: list[float] = []
    while not stop.is_set():
        t = time.perf_counter()
        fn()
        found.append(time.perf_counter() - t)
    return found


def _summary(name: str, values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return (
        f"{name:<34} n={len(ms):>6}  median {statistics.median(ms):7.2f} ms  "
        f"p99 {p99:7.2f} ms  worst {ms[-1]:7.2f} ms"
    )


def stall(grants: int, seconds: float, to_self: bool) -> None:
    from kmspolicy.testing import serve_in_thread

    tmp = Path(tempfile.mkdtemp(prefix="grant-stall-"))
    url = f"sqlite://{tmp / 'kms.db'}"
    with serve_in_thread(store_url=url, data_dir=tmp) as endpoint:
        attacker, victim = endpoint.client(), endpoint.client()
        crowded = attacker.create_key()["KeyMetadata"]["Arn"]
        own = victim.create_key()["KeyMetadata"]["KeyId"]
        # the development identity: the root user of the crowded key's account
        grantee = f"arn:aws:iam::{crowded.split(':')[4]}:root" if to_self else None
        store = open_store(url, read_root_key_file(tmp / "root.key"))
        t = time.perf_counter()
        fill(store, crowded, 0, grants, grantee)
        print(f"filled {grants} grants in {time.perf_counter() - t:.1f} s")
        store.close()
        attacker.encrypt(KeyId=crowded, Plaintext=b"p")  # first read of the grants
        victim_call = lambda: victim.encrypt(KeyId=own, Plaintext=b"p")  # noqa: E731

        stop = threading.Event()
        timer = threading.Timer(seconds, stop.set)
        timer.start()
        quiet = _latencies(victim_call, stop)
        print(_summary("victim Encrypt, alone", quiet))

        pairs: list[float] = []

        def attack() -> None:
            i = 0
            while not stop.is_set():
                t = time.perf_counter()
                attacker.tag_resource(KeyId=crowded, Tags=[{"TagKey": "n", "TagValue": str(i)}])
                attacker.encrypt(KeyId=crowded, Plaintext=b"p")
                pairs.append(time.perf_counter() - t)
                i += 1

        stop = threading.Event()
        thread = threading.Thread(target=attack)
        thread.start()
        time.sleep(0.2)
        timer = threading.Timer(seconds, stop.set)
        timer.start()
        loud = _latencies(victim_call, stop)
        thread.join()
        print(_summary("victim Encrypt, under attack", loud))
        print(_summary("attacker TagResource+Encrypt", pairs))


def creates(at: list[int], count: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="grant-creates-"))
    for kind in ("memory", "sqlite"):
        for n in at:
            url = "memory:" if kind == "memory" else f"sqlite://{tmp / f'kms{n}.db'}"
            store = open_store(url, RootKey.generate())
            kms = KMS(store, SystemClock(), ACCOUNT, quotas=Quotas(grants_per_key=n + count + 1))
            client = kms.client()
            key = client.create_key()["KeyMetadata"]["Arn"]
            fill(store, key, 0, n)
            client.encrypt(KeyId=key, Plaintext=b"p")  # the first read of the grants
            t = time.perf_counter()
            for i in range(count):
                client.create_grant(
                    KeyId=key,
                    GranteePrincipal=f"arn:aws:iam::{ACCOUNT}:user/new{i}",
                    Operations=["Encrypt"],
                )
            elapsed = time.perf_counter() - t
            print(f"{kind:<7} at {n:>6} grants: {count / elapsed:8.1f} CreateGrant/s")
            store.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="what", required=True)
    s = sub.add_parser("stall")
    s.add_argument("--grants", type=int, default=50_000)
    s.add_argument("--seconds", type=float, default=5.0)
    s.add_argument("--self", action="store_true", dest="to_self")
    c = sub.add_parser("creates")
    c.add_argument("--at", default="1000,10000,50000")
    c.add_argument("--count", type=int, default=50)
    args = parser.parse_args()
    if args.what == "stall":
        stall(args.grants, args.seconds, args.to_self)
    else:
        creates([int(n) for n in args.at.split(",")], args.count)


if __name__ == "__main__":
    main()
