"""boto3 against a real `kmspolicy serve`: every implemented operation, errors as AWS sends them."""

from __future__ import annotations

import base64
import hashlib
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.server.conftest import NOBODY, SESSION, Server

pytestmark = pytest.mark.server

PLAINTEXT = b"attack at dawn" * 10
CONTEXT = {"purpose": "interop", "tenant": "t1"}


def code(err: pytest.ExceptionInfo[ClientError]) -> str:
    return str(err.value.response["Error"]["Code"])


def called_operations(client: Any) -> set[str]:
    """Record every operation the client sends (the before-call event names it)."""
    seen: set[str] = set()
    client.meta.events.register("before-call.kms", lambda model, **_: seen.add(model.name))
    return seen


def test_every_implemented_operation_round_trips(fresh: Server) -> None:
    kms = fresh.client()
    seen = called_operations(kms)

    sym = kms.create_key(Description="interop", Tags=[{"TagKey": "env", "TagValue": "test"}])
    key_id = sym["KeyMetadata"]["KeyId"]
    arn = sym["KeyMetadata"]["Arn"]
    assert arn == f"arn:aws:kms:us-east-1:111111111111:key/{key_id}"
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    assert any(k["KeyId"] == key_id for k in kms.list_keys()["Keys"])

    # data plane
    enc = kms.encrypt(KeyId=key_id, Plaintext=PLAINTEXT, EncryptionContext=CONTEXT)
    assert enc["KeyId"] == arn
    dec = kms.decrypt(CiphertextBlob=enc["CiphertextBlob"], EncryptionContext=CONTEXT)
    assert dec["Plaintext"] == PLAINTEXT and dec["KeyId"] == arn
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    re = kms.re_encrypt(
        CiphertextBlob=enc["CiphertextBlob"],
        SourceEncryptionContext=CONTEXT,
        DestinationKeyId=other,
    )
    assert kms.decrypt(CiphertextBlob=re["CiphertextBlob"])["Plaintext"] == PLAINTEXT
    dk = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")
    assert len(dk["Plaintext"]) == 32
    assert kms.decrypt(CiphertextBlob=dk["CiphertextBlob"])["Plaintext"] == dk["Plaintext"]
    dkw = kms.generate_data_key_without_plaintext(KeyId=key_id, NumberOfBytes=16)
    assert len(kms.decrypt(CiphertextBlob=dkw["CiphertextBlob"])["Plaintext"]) == 16
    pair = kms.generate_data_key_pair(KeyId=key_id, KeyPairSpec="ECC_NIST_P256")
    assert pair["PublicKey"] and pair["PrivateKeyPlaintext"]
    pair2 = kms.generate_data_key_pair_without_plaintext(KeyId=key_id, KeyPairSpec="ECC_NIST_P256")
    assert "PrivateKeyPlaintext" not in pair2
    assert len(kms.generate_random(NumberOfBytes=24)["Plaintext"]) == 24

    # asymmetric and HMAC keys
    signer = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    digest = hashlib.sha256(b"message").digest()
    sig = kms.sign(
        KeyId=signer, Message=digest, MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256"
    )["Signature"]
    assert kms.verify(
        KeyId=signer,
        Message=digest,
        MessageType="DIGEST",
        Signature=sig,
        SigningAlgorithm="ECDSA_SHA_256",
    )["SignatureValid"]
    assert kms.get_public_key(KeyId=signer)["KeySpec"] == "ECC_NIST_P256"
    mac_key = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    mac = kms.generate_mac(KeyId=mac_key["KeyId"], Message=b"m", MacAlgorithm="HMAC_SHA_256")
    assert kms.verify_mac(
        KeyId=mac_key["KeyId"], Message=b"m", MacAlgorithm="HMAC_SHA_256", Mac=mac["Mac"]
    )["MacValid"]
    agree = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="KEY_AGREEMENT")["KeyMetadata"]
    peer = kms.generate_data_key_pair(KeyId=key_id, KeyPairSpec="ECC_NIST_P256")["PublicKey"]
    shared = kms.derive_shared_secret(
        KeyId=agree["KeyId"], KeyAgreementAlgorithm="ECDH", PublicKey=peer
    )
    assert len(shared["SharedSecret"]) == 32

    # aliases
    kms.create_alias(AliasName="alias/interop", TargetKeyId=key_id)
    assert kms.encrypt(KeyId="alias/interop", Plaintext=b"x")["KeyId"] == arn
    kms.update_alias(AliasName="alias/interop", TargetKeyId=other)
    names = {a["AliasName"]: a.get("TargetKeyId") for a in kms.list_aliases()["Aliases"]}
    assert names["alias/interop"] == other
    kms.delete_alias(AliasName="alias/interop")

    # tags, description
    kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": "owner", "TagValue": "alice"}])
    kms.untag_resource(KeyId=key_id, TagKeys=["env"])
    tags = {t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=key_id)["Tags"]}
    assert tags == {"owner": "alice"}
    kms.update_key_description(KeyId=key_id, Description="renamed")
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["Description"] == "renamed"

    # key policies
    assert kms.list_key_policies(KeyId=key_id)["PolicyNames"] == ["default"]
    policy = kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"]
    assert "111111111111" in policy
    kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=policy)

    # grants
    grant = kms.create_grant(
        KeyId=key_id,
        GranteePrincipal="arn:aws:iam::111111111111:user/nobody",
        Operations=["Decrypt"],
        RetiringPrincipal="arn:aws:iam::111111111111:user/alice",
    )
    assert [g["GrantId"] for g in kms.list_grants(KeyId=key_id)["Grants"]] == [grant["GrantId"]]
    retirable = kms.list_retirable_grants(RetiringPrincipal="arn:aws:iam::111111111111:user/alice")
    assert grant["GrantId"] in [g["GrantId"] for g in retirable["Grants"]]
    kms.retire_grant(KeyId=arn, GrantId=grant["GrantId"])
    grant2 = kms.create_grant(
        KeyId=key_id,
        GranteePrincipal="arn:aws:iam::111111111111:user/nobody",
        Operations=["Encrypt"],
    )
    kms.revoke_grant(KeyId=key_id, GrantId=grant2["GrantId"])
    assert kms.list_grants(KeyId=key_id)["Grants"] == []

    # enable / disable, rotation, deletion
    kms.disable_key(KeyId=key_id)
    with pytest.raises(ClientError) as err:
        kms.encrypt(KeyId=key_id, Plaintext=b"x")
    assert code(err) == "DisabledException"
    kms.enable_key(KeyId=key_id)
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"]
    kms.rotate_key_on_demand(KeyId=key_id)
    # AWS's shape: started now, completed by the service moments later (the server's clock)
    assert "OnDemandRotationStartDate" in kms.get_key_rotation_status(KeyId=key_id)
    with pytest.raises(ClientError) as err:
        kms.rotate_key_on_demand(KeyId=key_id)
    assert code(err) == "ConflictException"  # in progress
    deadline = time.monotonic() + 10
    while "OnDemandRotationStartDate" in kms.get_key_rotation_status(KeyId=key_id):
        assert time.monotonic() < deadline, "the on-demand rotation never completed"
        time.sleep(0.25)
    (rotation,) = kms.list_key_rotations(KeyId=key_id)["Rotations"]
    assert rotation["RotationType"] == "ON_DEMAND"
    kms.disable_key_rotation(KeyId=key_id)
    assert (
        kms.decrypt(CiphertextBlob=enc["CiphertextBlob"], EncryptionContext=CONTEXT)["Plaintext"]
        == PLAINTEXT
    )
    deletion = kms.schedule_key_deletion(KeyId=other, PendingWindowInDays=7)
    assert deletion["KeyState"] == "PendingDeletion"
    kms.cancel_key_deletion(KeyId=other)
    assert kms.describe_key(KeyId=other)["KeyMetadata"]["KeyState"] == "Disabled"

    # imported key material
    external = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    params = kms.get_parameters_for_import(
        KeyId=external, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
    )
    wrapped = _wrap_for_import(params["PublicKey"], b"\x07" * 32)
    kms.import_key_material(
        KeyId=external,
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrapped,
        ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
    )
    assert kms.describe_key(KeyId=external)["KeyMetadata"]["KeyState"] == "Enabled"
    kms.delete_imported_key_material(KeyId=external)
    assert kms.describe_key(KeyId=external)["KeyMetadata"]["KeyState"] == "PendingImport"

    # the rest: answered with a modelled AWS error or a success, never an internal error
    extras: dict[str, dict[str, Any]] = {
        "DescribeCustomKeyStores": {},
        "CreateCustomKeyStore": {"CustomKeyStoreName": "cks"},
        "ConnectCustomKeyStore": {"CustomKeyStoreId": "cks-1234567890abcdef0"},
        "DisconnectCustomKeyStore": {"CustomKeyStoreId": "cks-1234567890abcdef0"},
        "UpdateCustomKeyStore": {"CustomKeyStoreId": "cks-1234567890abcdef0"},
        "DeleteCustomKeyStore": {"CustomKeyStoreId": "cks-1234567890abcdef0"},
        "ReplicateKey": {"KeyId": key_id, "ReplicaRegion": "eu-west-1"},
        "UpdatePrimaryRegion": {"KeyId": key_id, "PrimaryRegion": "eu-west-1"},
        "GetKeyLastUsage": {"KeyId": key_id},
        "Encapsulate": {"KeyId": key_id, "EncapsulationAlgorithm": "ML_KEM"},
        "Decapsulate": {
            "KeyId": key_id,
            "SharedSecretCiphertextBlob": b"x" * 32,
            "EncapsulationAlgorithm": "ML_KEM",
        },
    }
    for name in sorted(fresh.operations() - seen):
        if name not in extras:
            continue
        method = getattr(kms, _snake(name))
        try:
            method(**extras[name])
        except ClientError as exc:
            assert exc.response["Error"]["Code"] not in (
                "KMSInternalException",
                "InternalFailure",
                "UnknownOperationException",
            ), name
        except Exception as exc:  # botocore parameter validation of our guesses
            if type(exc).__name__ != "ParamValidationError":
                raise

    missing = fresh.operations() - seen
    assert not missing, f"operations the server implements but this test never called: {missing}"


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


def _wrap_for_import(public_key_der: bytes, material: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    key = serialization.load_der_public_key(public_key_der)
    return key.encrypt(  # type: ignore[union-attr]
        material,
        padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None),
    )


def test_errors_arrive_as_modelled_exceptions(fresh: Server) -> None:
    kms = fresh.client()
    with pytest.raises(kms.exceptions.NotFoundException):
        kms.describe_key(KeyId="alias/does-not-exist")
    with pytest.raises(kms.exceptions.InvalidCiphertextException):
        kms.decrypt(CiphertextBlob=b"\x00" * 64)
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(kms.exceptions.InvalidKeyUsageException):
        kms.sign(KeyId=key_id, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")


def test_validation_errors_for_wrong_types(fresh: Server) -> None:
    status, body = _signed_raw(fresh, "Encrypt", b'{"KeyId": 5, "Plaintext": "aGk="}')
    assert status == 400
    assert b"ValidationException" in body or b"SerializationException" in body


def test_malformed_json_is_serialization_exception(fresh: Server) -> None:
    status, body = _signed_raw(fresh, "ListKeys", b"{not json")
    assert (status, b"SerializationException" in body) == (400, True)


def test_caller_without_permission_is_denied_with_a_reason(fresh: Server) -> None:
    key_id = fresh.client().create_key()["KeyMetadata"]["KeyId"]
    nobody = fresh.client(NOBODY)
    with pytest.raises(ClientError) as err:
        nobody.encrypt(KeyId=key_id, Plaintext=b"x")
    assert code(err) == "AccessDeniedException"
    assert "arn:aws:iam::111111111111:user/nobody" in err.value.response["Error"]["Message"]


def test_temporary_credentials_with_session_token(fresh: Server) -> None:
    kms = fresh.client(SESSION)
    key = kms.create_key()["KeyMetadata"]
    assert key["AWSAccountId"] == "111111111111"
    import boto3

    no_token = boto3.client(
        "kms",
        endpoint_url=fresh.url,
        region_name="us-east-1",
        aws_access_key_id=SESSION,
        aws_secret_access_key="session-secret",
    )
    with pytest.raises(ClientError) as err:
        no_token.list_keys()
    assert code(err) == "UnrecognizedClientException"


def test_wrong_secret_is_invalid_signature(fresh: Server) -> None:
    import boto3

    bad = boto3.client(
        "kms",
        endpoint_url=fresh.url,
        region_name="us-east-1",
        aws_access_key_id="AKIAALICE00000000001",
        aws_secret_access_key="wrong",
    )
    with pytest.raises(ClientError) as err:
        bad.list_keys()
    assert code(err) == "InvalidSignatureException"


def test_access_log_has_no_secrets_or_payloads(fresh: Server) -> None:
    kms = fresh.client()
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    secret = b"very-secret-plaintext-value"
    blob = kms.encrypt(KeyId=key_id, Plaintext=secret)["CiphertextBlob"]
    kms.decrypt(CiphertextBlob=blob)
    log = fresh.access_log()
    assert " Encrypt " in log and " Decrypt " in log
    for needle in (secret, base64.b64encode(secret), base64.b64encode(blob)[:40], b"alice-secret"):
        assert needle.decode() not in log


def _signed_raw(server: Server, operation: str, body: bytes) -> tuple[int, bytes]:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    req = AWSRequest(
        method="POST",
        url=server.url + "/",
        data=body,
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": f"TrentService.{operation}",
        },
    )
    SigV4Auth(Credentials("AKIAALICE00000000001", "alice-secret"), "kms", "us-east-1").add_auth(req)
    prepared = req.prepare()
    return server.post("/", prepared.body, dict(prepared.headers))


def test_connections_are_kept_alive(fresh: Server) -> None:
    import http.client
    from urllib.parse import urlsplit

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    parts = urlsplit(fresh.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    sockets = []
    try:
        for _ in range(3):
            req = AWSRequest(
                method="POST",
                url=fresh.url + "/",
                data=b"{}",
                headers={
                    "Content-Type": "application/x-amz-json-1.1",
                    "X-Amz-Target": "TrentService.ListKeys",
                },
            )
            creds = Credentials("AKIAALICE00000000001", "alice-secret")
            SigV4Auth(creds, "kms", "us-east-1").add_auth(req)
            conn.request("POST", "/", body=b"{}", headers=dict(req.prepare().headers))
            resp = conn.getresponse()
            assert resp.status == 200
            assert resp.getheader("connection", "keep-alive").lower() != "close"
            resp.read()
            sockets.append(conn.sock)
        assert sockets[0] is not None
        assert all(s is sockets[0] for s in sockets)  # one socket carried every request
    finally:
        conn.close()
