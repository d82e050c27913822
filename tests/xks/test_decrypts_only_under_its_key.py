"""The property of issue 11: whatever the key's store — local, a CloudHSM key store (SoftHSM2
token), an external key store (a ``kmspolicy xks-proxy`` over HTTPS) — a ciphertext decrypts
only under its key and its encryption context.

One service holds two keys of each kind, through the boto3-shaped client (``KMS.client()``).
Hypothesis draws the plaintext, the context, another context, the key and another key.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmspolicy.kms.identities import Identities
from kmspolicy.wiring import ServiceSettings, build_runtime
from tests.kms.keystores.conftest import CLUSTER, PASSWORD, token_uri
from tests.kms.principals import raises_code
from tests.xks.conftest import (
    CONFIG,
    running_proxy,
    xks_store_request,
)
from tests.xks.pki import make_pki

pytestmark = pytest.mark.hsm

HOST = "xks.test"
KINDS = ("local", "local", "cloudhsm", "cloudhsm", "external", "external")

# keys that differ only in case are refused (tests/kms/test_case_twins.py), so none are drawn
_contexts = st.dictionaries(
    st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=1, max_size=8),
    st.text(max_size=8),
    max_size=3,
).filter(lambda ec: len({k.lower() for k in ec}) == len(ec))


@pytest.fixture(scope="module")
def three_kinds_of_key(
    softhsm_conf: Path, trust_anchor: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Any, tuple[str, ...]]]:
    directory = tmp_path_factory.mktemp("three-kinds")
    ca, cert, key = make_pki(directory, HOST)
    config = CONFIG.replace("  - id: foo\n", "  - id: foo\n  - id: foo2\n")
    with running_proxy(directory, config, tls=(cert, key)) as proxy:
        runtime = build_runtime(
            ServiceSettings(
                data_dir=directory,
                hsm_clusters={CLUSTER: token_uri("ks-one")},
                xks_ca_bundle=ca,
                xks_connect_to={HOST: ("127.0.0.1", int(proxy.url.rsplit(":", 1)[1]))},
            ),
            Identities(),
        )
        try:
            client = runtime.service().client()
            hsm = client.create_custom_key_store(
                CustomKeyStoreName="property-hsm",
                CloudHsmClusterId=CLUSTER,
                TrustAnchorCertificate=trust_anchor,
                KeyStorePassword=PASSWORD,
            )["CustomKeyStoreId"]
            external = client.create_custom_key_store(**xks_store_request("property-xks", HOST))[
                "CustomKeyStoreId"
            ]
            for store_id in (hsm, external):
                client.connect_custom_key_store(CustomKeyStoreId=store_id)
            xks_key_ids = iter(("foo", "foo2"))  # one KMS key per external key
            made = {
                "local": lambda: client.create_key(),
                "cloudhsm": lambda: client.create_key(CustomKeyStoreId=hsm, Origin="AWS_CLOUDHSM"),
                "external": lambda: client.create_key(
                    CustomKeyStoreId=external,
                    Origin="EXTERNAL_KEY_STORE",
                    XksKeyId=next(xks_key_ids),
                ),
            }
            keys = tuple(made[kind]()["KeyMetadata"]["KeyId"] for kind in KINDS)
            yield client, keys
        finally:
            runtime.close()


def refused_as(kind: str) -> str:
    """A blob that does not open under the key and context given: local and CloudHSM keys
    answer InvalidCiphertextException; an external key's outer layer is the proxy's, whose
    refusal AWS answers as KMSInvalidStateException (docs/xks-proxy.md)."""
    return "KMSInvalidStateException" if kind == "external" else "InvalidCiphertextException"


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    plaintext=st.binary(min_size=1, max_size=256),
    context=_contexts,
    other_context=_contexts,
    which=st.integers(0, len(KINDS) - 1),
    other=st.integers(0, len(KINDS) - 1),
)
def test_a_ciphertext_decrypts_only_under_its_key_and_context(
    three_kinds_of_key, plaintext, context, other_context, which, other
) -> None:
    client, keys = three_kinds_of_key
    blob = client.encrypt(KeyId=keys[which], Plaintext=plaintext, EncryptionContext=context)[
        "CiphertextBlob"
    ]
    assert client.decrypt(CiphertextBlob=blob, EncryptionContext=context)["Plaintext"] == plaintext
    if other_context != context:
        with raises_code(refused_as(KINDS[which])):
            client.decrypt(CiphertextBlob=blob, EncryptionContext=other_context)
    if other != which:
        with raises_code("IncorrectKeyException"):
            client.decrypt(CiphertextBlob=blob, EncryptionContext=context, KeyId=keys[other])
        # the blob's key id rewritten to another key's (key ids are all 36 characters): it
        # never opens, whichever kind each key is (the other key lacks the blob's material
        # version, or its layers do not open)
        forged = blob.replace(keys[which].encode(), keys[other].encode(), 1)
        with pytest.raises(ClientError) as info:
            client.decrypt(CiphertextBlob=forged, EncryptionContext=context)
        code = info.value.response["Error"]["Code"]
        assert code in {"InvalidCiphertextException", refused_as(KINDS[which])}, code
