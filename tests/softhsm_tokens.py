"""The SoftHSM2 tokens of the test session (the fixture ``softhsm_conf`` in tests/conftest.py
makes them); imported by the HSM tests for their labels and PINs."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

SOFTHSM_MODULE = os.environ.get("KMSPOLICY_TEST_PKCS11_MODULE", "/usr/lib/softhsm/libsofthsm2.so")
#: token label -> user PIN (7-32 characters: a CloudHSM key store's kmsuser password)
SOFTHSM_TOKENS = {
    "kmspolicy-test": "4711-test-pin",  # the root key (tests/store/test_pkcs11.py)
    "ks-one": "kmsuser-pass-1",  # CloudHSM key stores (tests/kms/keystores/)
    "ks-two": "kmsuser-pass-2",
}


def softhsm_missing() -> str | None:
    if not Path(SOFTHSM_MODULE).exists():
        return f"SoftHSM2 module {SOFTHSM_MODULE} not installed (apt-get install softhsm2)"
    if shutil.which("softhsm2-util") is None:
        return "softhsm2-util not on PATH (apt-get install softhsm2)"
    try:
        import pkcs11  # noqa: F401
    except ImportError:
        return "python-pkcs11 not installed (pip install 'kmspolicy[hsm]')"
    return None
