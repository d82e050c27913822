"""A KMS key in an external key store (a ``kmspolicy xks-proxy`` over HTTPS) vs a local key.

Run: ``.venv/bin/python bench/xks_key_store.py [--seconds S]``. Baseline: a local symmetric key
of the same service, same run. The external key store's key encrypts twice — its own material,
then the proxy's AES-GCM over one HTTPS request (a fresh TLS connection each, as kmspolicy's
transport makes them; SigV4-signed both ways). Everything runs on loopback in this process: the
proxy in a thread, its certificate from a throwaway CA (``tests/xks/pki.py``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.xks helpers

HOST = "xks.bench"


def rate(fn: Callable[[], object], seconds: float) -> float:
    fn()  # warm up
    n, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(5):
            fn()
        n += 5
    return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()

    from kmspolicy.kms.keystores import CloudHsmConnector
    from kmspolicy.kms.keystores.external import ExternalKeyStoreConnector
    from kmspolicy.kms.service import KMS
    from kmspolicy.store.xks_http import XksHttp
    from tests.xks.conftest import ACCESS_KEY_ID, PREFIX, SECRET, running_proxy
    from tests.xks.pki import make_pki

    with tempfile.TemporaryDirectory() as tmp:
        ca, cert, key = make_pki(Path(tmp), HOST)
        with running_proxy(Path(tmp), tls=(cert, key)) as proxy:
            port = int(proxy.url.rsplit(":", 1)[1])
            transport = XksHttp(ca_bundle=ca, connect_to={HOST: ("127.0.0.1", port)})
            service = KMS(key_stores=[CloudHsmConnector(), ExternalKeyStoreConnector(transport)])
            client = service.client()
            store_id = client.create_custom_key_store(
                CustomKeyStoreName="bench",
                CustomKeyStoreType="EXTERNAL_KEY_STORE",
                XksProxyUriEndpoint=f"https://{HOST}",
                XksProxyUriPath=f"/{PREFIX}/kms/xks/v1",
                XksProxyAuthenticationCredential={
                    "AccessKeyId": ACCESS_KEY_ID,
                    "RawSecretAccessKey": SECRET,
                },
                XksProxyConnectivity="PUBLIC_ENDPOINT",
            )["CustomKeyStoreId"]
            client.connect_custom_key_store(CustomKeyStoreId=store_id)
            keys = {
                "local": service.create_key()["KeyMetadata"]["KeyId"],
                "external": service.create_key(
                    CustomKeyStoreId=store_id, Origin="EXTERNAL_KEY_STORE", XksKeyId="foo"
                )["KeyMetadata"]["KeyId"],
            }
            data = os.urandom(4096)
            print(f"{'Encrypt 4 KB (KMS API, memory)':32} {'key':9} {'calls/s':>9} "
                  f"{'us/call':>9} {'vs local':>9}")  # fmt: skip
            base = 0.0
            for name, key_id in keys.items():
                per_second = rate(
                    lambda key_id=key_id: service.encrypt(KeyId=key_id, Plaintext=data),
                    args.seconds,
                )
                base = base or per_second
                print(
                    f"{'':32} {name:9} {per_second:9.0f} {1e6 / per_second:9.1f} "
                    f"{per_second / base:8.3f}x"
                )
            service.close()


if __name__ == "__main__":
    main()
