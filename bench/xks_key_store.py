"""A KMS key in an external key store (a ``kmspolicy xks-proxy`` over HTTPS) vs a local key.

Run: ``.venv/bin/python bench/xks_key_store.py [--seconds S] [--rounds N]``. Baseline: a local
symmetric key of the same service, same run. The external key store's key encrypts twice — its
own material, then the proxy's AES-GCM over one HTTPS request, SigV4-signed — measured twice:
with the key store's connections kept alive (``XksHttp``'s default pool) and with a fresh TLS
connection per request (``max_idle=0``, what kmspolicy did before the pool). The three are
interleaved for ``--rounds`` rounds and the medians printed. Everything runs on loopback in this
process: the proxy in a thread, its certificate from a throwaway CA (``tests/xks/pki.py``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.xks helpers
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # their softhsm_tokens
from _timing import rate

HOST = "xks.bench"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from kmspolicy.kms.keystores import CloudHsmConnector
    from kmspolicy.kms.keystores.external import ExternalKeyStoreConnector
    from kmspolicy.kms.service import KMS
    from kmspolicy.store.xks_http import DEFAULT_MAX_IDLE, XksHttp
    from tests.xks.conftest import running_proxy, xks_store_request
    from tests.xks.pki import make_pki

    with tempfile.TemporaryDirectory() as tmp:
        ca, cert, key = make_pki(Path(tmp), HOST)
        with running_proxy(Path(tmp), tls=(cert, key)) as proxy:
            port = int(proxy.url.rsplit(":", 1)[1])
            services: list[KMS] = []
            keys: dict[str, tuple[KMS, str]] = {}
            for label, max_idle in (("new TLS each", 0), (f"pool {DEFAULT_MAX_IDLE}", None)):
                transport = XksHttp(
                    ca_bundle=ca,
                    connect_to={HOST: ("127.0.0.1", port)},
                    **({} if max_idle is None else {"max_idle": max_idle}),
                )
                service = KMS(
                    key_stores=[CloudHsmConnector(), ExternalKeyStoreConnector(transport)]
                )
                services.append(service)
                client = service.client()
                store_id = client.create_custom_key_store(**xks_store_request("bench", HOST))[
                    "CustomKeyStoreId"
                ]
                client.connect_custom_key_store(CustomKeyStoreId=store_id)
                if not keys:
                    keys["local"] = (service, service.create_key()["KeyMetadata"]["KeyId"])
                keys[f"external, {label}"] = (
                    service,
                    service.create_key(
                        CustomKeyStoreId=store_id, Origin="EXTERNAL_KEY_STORE", XksKeyId="foo"
                    )["KeyMetadata"]["KeyId"],
                )
            data = os.urandom(4096)
            rates: dict[str, list[float]] = {name: [] for name in keys}
            for _ in range(args.rounds):  # interleaved: the machine's noise hits all alike
                for name, (service, key_id) in keys.items():
                    rates[name].append(
                        rate(
                            lambda s=service, k=key_id: s.encrypt(KeyId=k, Plaintext=data),
                            args.seconds,
                            batch=5,
                        )
                    )
            print(f"{'Encrypt 4 KB (KMS API, memory)':32} {'key':26} {'calls/s':>9} "
                  f"{'us/call':>9} {'vs local':>9}  (median of {args.rounds})")  # fmt: skip
            base = statistics.median(rates["local"])
            for name, found in rates.items():
                per_second = statistics.median(found)
                print(
                    f"{'':32} {name:26} {per_second:9.0f} {1e6 / per_second:9.1f} "
                    f"{per_second / base:8.3f}x"
                )
            for service in services:
                service.close()


if __name__ == "__main__":
    main()
