"""Root-key cost: the file root key vs a PKCS#11 root key in SoftHSM2, same run.

Run: ``.venv/bin/python bench/hsm.py [--seconds S]``. Baseline: the file root key. Prints
seal and unseal calls/s for a 32-byte (AES) and a 1.2 KB (RSA-2048 PKCS#8) secret, then the KMS
Python API on SQLite with each root key: Encrypt 4 KB (stored decodings are reused while rows are
unchanged, so no unseal per call) and CreateKey (one seal per key, plus the commit's fsync).
Makes its own SoftHSM2 token in a temporary directory; needs ``apt-get install softhsm2``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from _timing import rate
from softhsm_tokens import SOFTHSM_MODULE as MODULE
from softhsm_tokens import init_softhsm

PIN = "bench-pin"


def token(home: Path) -> str:
    init_softhsm(home, {"bench": PIN})
    return f"pkcs11:module={MODULE};token=bench;object=root;pin-source=env:BENCH_HSM_PIN"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()

    from kmspolicy.crypto import KeySpec, generate_key
    from kmspolicy.kms.service import KMS
    from kmspolicy.store import open_store
    from kmspolicy.store.pkcs11 import create_hsm_root_key
    from kmspolicy.store.rootkey import RootKey

    with tempfile.TemporaryDirectory() as tmp:
        uri = token(Path(tmp))
        keys = {
            "file": RootKey.generate(),
            "pkcs11": create_hsm_root_key(uri, {"BENCH_HSM_PIN": PIN}),
        }
        secrets = {
            "32 B": generate_key(KeySpec.SYMMETRIC_DEFAULT).secret,
            f"{len(generate_key(KeySpec.RSA_2048).secret)} B": generate_key(
                KeySpec.RSA_2048
            ).secret,
        }
        print(f"{'workload':34} {'root key':8} {'calls/s':>10} {'us/call':>8} {'vs file':>8}")
        for label, secret in secrets.items():
            for op in ("seal", "unseal"):
                base = 0.0
                for name, key in keys.items():
                    sealed = key.seal(secret, b"aad")
                    fn = (
                        (lambda k=key, p=secret: k.seal(p, b"aad"))
                        if op == "seal"
                        else (lambda k=key, s=sealed: k.unseal(s, b"aad"))
                    )
                    r = rate(fn, args.seconds)
                    base = base or r
                    print(
                        f"{op + ' ' + label:34} {name:8} {r:10.0f} {1e6 / r:8.1f} {r / base:8.2f}"
                    )
        for workload in ("Encrypt 4 KB (SQLite)", "CreateKey (SQLite)"):
            base = 0.0
            for name, key in keys.items():
                store = open_store(f"sqlite://{tmp}/{name}.db", key)
                client = KMS(store).client()
                key_id = client.create_key()["KeyMetadata"]["KeyId"]
                plaintext = os.urandom(4096)
                if workload.startswith("Encrypt"):
                    fn: Callable[[], object] = lambda c=client, k=key_id, p=plaintext: c.encrypt(  # noqa: E731
                        KeyId=k, Plaintext=p
                    )
                else:
                    fn = client.create_key
                r = rate(fn, args.seconds)
                base = base or r
                print(f"{workload:34} {name:8} {r:10.0f} {1e6 / r:8.1f} {r / base:8.2f}")
                store.close()
        for key in keys.values():
            key.close()


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"({time.perf_counter() - start:.1f} s)")
