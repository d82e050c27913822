"""A KMS key in a CloudHSM key store (SoftHSM2 token) vs a local key, same run.

Run: ``.venv/bin/python bench/custom_key_stores.py [--seconds S]``. Baseline: a local symmetric
key (material sealed under a file root key, AES-GCM in this process). Prints calls/s of the KMS
Python API on SQLite for Encrypt 4 KB, Decrypt 4 KB and GenerateDataKey (AES_256) with each key;
the CloudHSM key's AES-GCM runs in the token (one PKCS#11 call per request). Makes its own
SoftHSM2 token in a temporary directory; needs ``apt-get install softhsm2``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from _timing import rate
from softhsm_tokens import SOFTHSM_MODULE as MODULE
from softhsm_tokens import init_softhsm

PASSWORD = "bench-kmsuser-1"
CLUSTER = "cluster-234567abcdef"
ANCHOR = "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n"  # form only


def token(home: Path) -> str:
    init_softhsm(home, {"bench-ks": PASSWORD})
    return f"pkcs11:module={MODULE};token=bench-ks"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()

    from kmspolicy.kms.keystores import CloudHsmConnector
    from kmspolicy.kms.service import KMS
    from kmspolicy.store import open_store
    from kmspolicy.store.pkcs11_cluster import Pkcs11Cluster
    from kmspolicy.store.rootkey import RootKey

    with tempfile.TemporaryDirectory() as tmp:
        cluster = Pkcs11Cluster(CLUSTER, token(Path(tmp)))
        store = open_store(f"sqlite://{Path(tmp) / 'kms.db'}", RootKey.generate())
        service = KMS(store, key_stores=[CloudHsmConnector({CLUSTER: cluster})])
        client = service.client()
        store_id = client.create_custom_key_store(
            CustomKeyStoreName="bench",
            CloudHsmClusterId=CLUSTER,
            TrustAnchorCertificate=ANCHOR,
            KeyStorePassword=PASSWORD,
        )["CustomKeyStoreId"]
        client.connect_custom_key_store(CustomKeyStoreId=store_id)
        keys = {
            "local": service.create_key()["KeyMetadata"]["KeyId"],
            "cloudhsm": service.create_key(CustomKeyStoreId=store_id, Origin="AWS_CLOUDHSM")[
                "KeyMetadata"
            ]["KeyId"],
        }
        data = os.urandom(4096)
        blobs = {
            name: service.encrypt(KeyId=key, Plaintext=data)["CiphertextBlob"]
            for name, key in keys.items()
        }
        workloads: dict[str, Callable[[str, str], Callable[[], object]]] = {
            "Encrypt 4 KB": lambda name, key: lambda: service.encrypt(KeyId=key, Plaintext=data),
            "Decrypt 4 KB": lambda name, key: lambda: service.decrypt(CiphertextBlob=blobs[name]),
            "GenerateDataKey AES_256": lambda name, key: (
                lambda: service.generate_data_key(KeyId=key, KeySpec="AES_256")
            ),
        }
        head = f"{'workload (KMS API, SQLite)':28} {'key':9} {'calls/s':>9} {'us/call':>8}"
        print(f"{head} {'vs local':>9}")
        for label, make in workloads.items():
            base = 0.0
            for name, key in keys.items():
                per_second = rate(make(name, key), args.seconds)
                base = base or per_second
                print(
                    f"{label:28} {name:9} {per_second:9.0f} {1e6 / per_second:8.1f} "
                    f"{per_second / base:8.2f}x"
                )
        service.close()
        store.close()


if __name__ == "__main__":
    main()
