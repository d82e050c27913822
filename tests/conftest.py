"""Suite-wide test settings.

Hypothesis profiles: ``dev`` (the default) explores new random examples on every run; ``ci``
(``HYPOTHESIS_PROFILE=ci``, set by ``.ci/run``) is derandomized, so CI's verdict on a commit is
the verdict anyone gets by re-running it. Per-test ``@settings`` still set the example counts.
"""

import os

from hypothesis import settings

settings.register_profile("dev")
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


# --- SoftHSM2: one token directory per test session -----------------------------------------
# SoftHSM2 reads SOFTHSM2_CONF once, when the module is first initialised in a process, so every
# test of a session shares one directory holding every token any test needs.

import sys  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))  # tests/ is not a package
from pg_scratch import drop_schemas, pg_unreachable, scratch_url  # noqa: E402
from softhsm_tokens import SOFTHSM_TOKENS, init_softhsm, softhsm_missing  # noqa: E402


@pytest.fixture(scope="session")
def softhsm_conf(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh SoftHSM2 token directory holding SOFTHSM_TOKENS; SOFTHSM2_CONF points at it.

    Skips with the reason when libsofthsm2, softhsm2-util or python-pkcs11 is missing — unless
    KMSPOLICY_REQUIRE_HSM=1 (CI), where a missing HSM fails instead of hiding the HSM tests.
    """
    reason = softhsm_missing()
    if reason:
        if os.environ.get("KMSPOLICY_REQUIRE_HSM") == "1":
            pytest.fail(f"KMSPOLICY_REQUIRE_HSM=1 but {reason}")
        pytest.skip(reason)
    previous = os.environ.get("SOFTHSM2_CONF")
    conf = init_softhsm(tmp_path_factory.mktemp("softhsm"), SOFTHSM_TOKENS)
    yield conf
    if previous is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = previous


# --- PostgreSQL: one scratch namespace per test session ---------------------------------------


@pytest.fixture(scope="session")
def pg_schema() -> Iterator[str]:
    """A uniquely named scratch schema prefix for this test session, dropped at the end."""
    import secrets

    reason = pg_unreachable()
    if reason:
        pytest.skip(reason)
    name = f"kmsp_test_{os.getpid()}_{secrets.token_hex(4)}"
    yield name
    drop_schemas(name)  # every per-test schema starts with the session's name


@pytest.fixture
def pg_store_url(pg_schema: str) -> Iterator[str]:
    """A PostgreSQL store URL with a scratch schema of its own, dropped after the test."""
    url = scratch_url(pg_schema)
    yield url
    drop_schemas(url.rsplit("=", 1)[1])


@pytest.fixture(scope="session")
def trust_anchor() -> str:
    """A PEM certificate, as a CloudHSM cluster's customerCA.crt is (custom key store tests)."""
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "customerCA")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()
