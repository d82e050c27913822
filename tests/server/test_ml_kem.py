"""ML-KEM over HTTP with boto3 against a real `kmspolicy serve` (in-process: test_ml_kem.py)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import mlkem

from tests.server.conftest import Server

pytestmark = pytest.mark.server


def test_boto3_encapsulates_and_decapsulates(fresh: Server) -> None:
    kms = fresh.client()
    key = kms.create_key(KeySpec="ML_KEM_768", KeyUsage="ENCAPSULATE_DECAPSULATE")["KeyMetadata"]
    out = kms.encapsulate(KeyId=key["KeyId"], EncapsulationAlgorithm="ML_KEM")
    back = kms.decapsulate(
        KeyId=key["KeyId"],
        SharedSecretCiphertextBlob=out["SharedSecretCiphertextBlob"],
        EncapsulationAlgorithm="ML_KEM",
    )
    assert back["SharedSecret"] == out["SharedSecret"]
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=key["KeyId"])["PublicKey"])
    assert isinstance(public, mlkem.MLKEM768PublicKey)
    with pytest.raises(ClientError) as refused:
        kms.create_key(KeySpec="ML_KEM_512", KeyUsage="ENCAPSULATE_DECAPSULATE")
    assert refused.value.response["Error"]["Code"] == "UnsupportedOperationException"
