"""SoftHSM2 tokens for tests and benchmarks: the test session's labels and PINs (the fixture
``softhsm_conf`` in tests/conftest.py makes them) and ``init_softhsm``, the one way a test
session or a ``bench/`` script makes a private token directory."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

SOFTHSM_MODULE = os.environ.get("KMSPOLICY_TEST_PKCS11_MODULE", "/usr/lib/softhsm/libsofthsm2.so")
#: token label -> user PIN (7-32 characters: a CloudHSM key store's kmsuser password)
SOFTHSM_TOKENS = {
    "kmspolicy-test": "4711-test-pin",  # the root key (tests/store/test_pkcs11.py)
    "ks-one": "kmsuser-pass-1",  # CloudHSM key stores (tests/kms/keystores/)
    "ks-two": "kmsuser-pass-2",
    "xks-proxy": "xks-proxy-pin",  # kmspolicy xks-proxy's keys (tests/xks/)
}


def init_softhsm(home: Path, tokens: Mapping[str, str]) -> Path:
    """A token directory under ``home`` holding ``tokens`` (label -> user PIN; the SO PIN is
    "so-" + PIN), and its softhsm2.conf, which SOFTHSM2_CONF is set to. SoftHSM2 reads that
    variable once, when the module is first loaded in a process: call this before."""
    (home / "tokens").mkdir()
    conf = home / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {home / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    os.environ["SOFTHSM2_CONF"] = str(conf)
    for label, pin in tokens.items():
        subprocess.run(
            ["softhsm2-util", "--init-token", "--free", "--label", label,
             "--pin", pin, "--so-pin", "so-" + pin],
            check=True, capture_output=True,
        )  # fmt: skip
    return conf


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
