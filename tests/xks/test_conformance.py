"""Conformance of ``kmspolicy xks-proxy`` to the XKS Proxy API specification (v1), as we read it.

Every request goes over HTTP, signed by botocore's SigV4Auth with service ``kms-xks-proxy``.
Sections follow the specification: the four APIs, AAD and CDIV, key operations, the error
table, authentication, URI paths and methods.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os

import pytest

from tests.xks.conftest import (
    METADATA,
    PREFIX,
    ROTATED_ACCESS_KEY_ID,
    ROTATED_SECRET,
    Proxy,
)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def encrypted(proxy: Proxy, plaintext: bytes, aad: bytes | None = None, key: str = "foo") -> dict:
    fields = {"plaintext": b64(plaintext)}
    if aad is not None:
        fields["additionalAuthenticatedData"] = b64(aad)
    reply = proxy.encrypt(key, **fields)
    assert reply.status == 200, reply
    return reply.body


def opened(proxy: Proxy, out: dict, aad: bytes | None = None, key: str = "foo", **extra):
    fields = {
        "ciphertext": out["ciphertext"],
        "initializationVector": out["initializationVector"],
        "authenticationTag": out["authenticationTag"],
        **extra,
    }
    if aad is not None:
        fields["additionalAuthenticatedData"] = b64(aad)
    return proxy.decrypt(key, **fields)


def assert_error(reply, status: int, name: str) -> None:
    assert (reply.status, reply.body.get("errorName")) == (status, name), reply
    message = reply.body.get("errorMessage", "")
    assert len(message) < 512 and all(" " <= c <= "~" for c in message)


# --- GetHealthStatus


def test_health_status_shape(proxy: Proxy) -> None:
    reply = proxy.health()
    assert reply.status == 200
    body = reply.body
    assert isinstance(body["xksProxyFleetSize"], int) and body["xksProxyFleetSize"] > 0
    for member in ("xksProxyVendor", "xksProxyModel", "ekmVendor"):
        assert isinstance(body[member], str) and body[member]
    assert 1 <= len(body["ekmFleetDetails"]) <= 10
    for ekm in body["ekmFleetDetails"]:
        assert ekm["healthStatus"] in ("ACTIVE", "DEGRADED", "UNAVAILABLE")
        assert ekm["id"] and ekm["model"]


@pytest.mark.parametrize(
    "operation", ["CreateCustomKeyStore", "ConnectCustomKeyStore", "KmsHealthCheck", "Future"]
)
def test_health_accepts_any_kms_operation(proxy: Proxy, operation: str) -> None:
    body = {"requestMetadata": {"kmsRequestId": "opaque id", "kmsOperation": operation}}
    assert proxy.call("/health", body).status == 200


def test_health_answers_a_body_without_metadata(proxy: Proxy) -> None:
    # ValidationException is not among GetHealthStatus's errors
    assert proxy.call("/health", {}).status == 200
    assert proxy.call("/health", None, raw=b"not json").status == 200


# --- GetKeyMetadata


@pytest.mark.parametrize(
    ("key", "usage", "status"),
    [
        ("foo", ["ENCRYPT", "DECRYPT"], "ENABLED"),
        ("encrypt_only_key", ["ENCRYPT"], "ENABLED"),
        ("decrypt_only_key", ["DECRYPT"], "ENABLED"),
        ("impotent_key", [], "ENABLED"),
        ("disabled_key", ["ENCRYPT", "DECRYPT"], "DISABLED"),
    ],
)
def test_key_metadata(proxy: Proxy, key: str, usage: list[str], status: str) -> None:
    reply = proxy.metadata(key)
    assert reply.status == 200
    assert reply.body == {"keySpec": "AES_256", "keyUsage": usage, "keyStatus": status}


def test_key_metadata_during_create_key_has_no_key_arn(proxy: Proxy) -> None:
    md = {k: v for k, v in METADATA.items() if k != "kmsKeyArn"} | {"kmsOperation": "CreateKey"}
    assert proxy.call("/keys/foo/metadata", {"requestMetadata": md}).status == 200


def test_unknown_kms_operation_and_metadata_members_are_accepted(proxy: Proxy) -> None:
    md = {**METADATA, "kmsOperation": "BulkDescribeKey", "kmsRecipientAttestationPCR0": "x"}
    assert proxy.call("/keys/foo/metadata", {"requestMetadata": md}).status == 200


def test_unknown_key_is_not_found(proxy: Proxy) -> None:
    assert_error(proxy.metadata("no-such-key"), 404, "KeyNotFoundException")
    assert_error(proxy.encrypt("no-such-key", plaintext=b64(b"x")), 404, "KeyNotFoundException")


# --- Encrypt and Decrypt


@pytest.mark.parametrize("size", [0, 1, 32, 4300])
def test_round_trip(proxy: Proxy, size: int) -> None:
    plaintext = os.urandom(size)
    out = encrypted(proxy, plaintext)
    assert len(unb64(out["ciphertext"])) == size  # a stream cipher: lengths equal
    assert len(unb64(out["initializationVector"])) in (12, 16)
    assert len(unb64(out["authenticationTag"])) == 16
    assert "ciphertextDataIntegrityValue" not in out
    reply = opened(proxy, out)
    assert reply.status == 200 and unb64(reply.body["plaintext"]) == plaintext


def test_aad_of_8192_bytes_is_supported(proxy: Proxy) -> None:
    aad = os.urandom(8192)
    out = encrypted(proxy, b"data key", aad)
    assert unb64(opened(proxy, out, aad).body["plaintext"]) == b"data key"


def test_decrypt_needs_the_same_aad(proxy: Proxy) -> None:
    out = encrypted(proxy, b"secret", b"project=nile")
    assert_error(opened(proxy, out, b"project=amazon"), 400, "InvalidCiphertextException")
    assert_error(opened(proxy, out), 400, "InvalidCiphertextException")
    no_aad = encrypted(proxy, b"secret")
    assert opened(proxy, no_aad, b"").status == 200  # absent and empty AAD are the same
    assert_error(opened(proxy, no_aad, b"x"), 400, "InvalidCiphertextException")


def test_aad_moved_into_ciphertext_metadata_does_not_decrypt(proxy: Proxy) -> None:
    # the lengths in the GCM AAD keep (aad=X, metadata="") and (aad="", metadata=X) apart
    out = encrypted(proxy, b"secret", b"tenant")
    reply = opened(proxy, out, ciphertextMetadata=b64(b"tenant"))
    assert_error(reply, 400, "InvalidCiphertextException")
    assert_error(
        opened(proxy, out, b"tenant", ciphertextMetadata=b64(b"v1")),
        400,
        "InvalidCiphertextException",
    )


@pytest.mark.parametrize("member", ["ciphertext", "initializationVector", "authenticationTag"])
def test_a_flipped_bit_does_not_decrypt(proxy: Proxy, member: str) -> None:
    out = encrypted(proxy, b"some plaintext")
    raw = bytearray(unb64(out[member]))
    raw[0] ^= 1
    assert_error(opened(proxy, {**out, member: b64(bytes(raw))}), 400, "InvalidCiphertextException")


def test_a_ciphertext_of_another_key_does_not_decrypt(proxy: Proxy) -> None:
    out = encrypted(proxy, b"for foo")
    assert_error(opened(proxy, out, key="decrypt_only_key"), 400, "InvalidCiphertextException")


def test_cdiv(proxy: Proxy) -> None:
    aad = b"project=nile,department=marketing"
    reply = proxy.encrypt(
        "foo",
        plaintext=b64(b"Hello World!"),
        additionalAuthenticatedData=b64(aad),
        ciphertextDataIntegrityValueAlgorithm="SHA_256",
    )
    assert reply.status == 200
    out = reply.body
    parts = [aad] + [
        unb64(out[m]) for m in ("initializationVector", "ciphertext", "authenticationTag")
    ]
    assert unb64(out["ciphertextDataIntegrityValue"]) == hashlib.sha256(b"".join(parts)).digest()
    assert opened(proxy, out, aad).status == 200


def test_cdiv_of_another_algorithm_is_invalid(proxy: Proxy) -> None:
    reply = proxy.encrypt("foo", plaintext=b64(b"x"), ciphertextDataIntegrityValueAlgorithm="MD5")
    assert_error(reply, 400, "ValidationException")


# --- key operations and status


@pytest.mark.parametrize(
    ("key", "encrypt_ok", "decrypt_ok"),
    [
        ("encrypt_only_key", True, False),
        ("decrypt_only_key", False, True),
        ("impotent_key", False, False),
    ],
)
def test_key_operations_restrict_usage(
    proxy: Proxy, key: str, encrypt_ok: bool, decrypt_ok: bool
) -> None:
    reply = proxy.encrypt(key, plaintext=b64(b"x"))
    if encrypt_ok:
        assert reply.status == 200
    else:
        assert_error(reply, 400, "InvalidKeyUsageException")
    fake = {
        "ciphertext": b64(b"x"),
        "initializationVector": b64(bytes(12)),
        "authenticationTag": b64(bytes(16)),
    }
    reply = opened(proxy, fake, key=key)
    if decrypt_ok:  # usage allowed: the bytes are then judged, and refused
        assert_error(reply, 400, "InvalidCiphertextException")
    else:
        assert_error(reply, 400, "InvalidKeyUsageException")


def test_disabled_key_is_in_an_invalid_state(proxy: Proxy) -> None:
    assert_error(proxy.encrypt("disabled_key", plaintext=b64(b"x")), 400, "InvalidStateException")


# --- bad input: the specification's errors, never a 500


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"requestMetadata": "not an object"},
        {"requestMetadata": {**METADATA, "awsPrincipalArn": None}},
        {"requestMetadata": {k: v for k, v in METADATA.items() if k != "kmsRequestId"}},
        {"requestMetadata": {k: v for k, v in METADATA.items() if k != "kmsOperation"}},
        {"requestMetadata": {k: v for k, v in METADATA.items() if k != "kmsKeyArn"}},
        {"requestMetadata": {**METADATA, "kmsViaService": 7}},
        {"requestMetadata": METADATA},  # no plaintext
        {"requestMetadata": METADATA, "plaintext": "!!!not base64"},
        {"requestMetadata": METADATA, "plaintext": 12},
        {"requestMetadata": METADATA, "plaintext": "eA==", "encryptionAlgorithm": "AES_CBC"},
        {"requestMetadata": METADATA, "plaintext": "eA==", "additionalAuthenticatedData": "*"},
    ],
)
def test_invalid_encrypt_requests(proxy: Proxy, body: dict) -> None:
    body = {"encryptionAlgorithm": "AES_GCM", **body}
    assert_error(proxy.call("/keys/foo/encrypt", body), 400, "ValidationException")


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1, 2]", b'"text"', b"{" * 100000])
def test_a_body_that_is_not_a_json_object(proxy: Proxy, raw: bytes) -> None:
    reply = proxy.call("/keys/foo/encrypt", None, raw=raw)
    assert reply.status in (400, 501)
    assert reply.body["errorName"] in ("ValidationException", "UnsupportedOperationException")


def test_decrypt_lengths(proxy: Proxy) -> None:
    out = encrypted(proxy, b"x")
    assert_error(
        opened(proxy, {**out, "initializationVector": b64(bytes(8))}),
        400,
        "InvalidCiphertextException",
    )
    assert_error(
        opened(proxy, {**out, "authenticationTag": b64(bytes(12))}),
        400,
        "InvalidCiphertextException",
    )
    assert_error(
        opened(proxy, out, ciphertextMetadata=b64(bytes(21))), 400, "InvalidCiphertextException"
    )
    reply = proxy.decrypt(
        "foo", ciphertext=out["ciphertext"], authenticationTag=out["authenticationTag"]
    )
    assert_error(reply, 400, "ValidationException")


def test_beyond_the_supported_sizes(proxy: Proxy) -> None:
    assert_error(
        proxy.encrypt("foo", plaintext=b64(bytes(8193))), 501, "UnsupportedOperationException"
    )
    reply = proxy.call("/keys/foo/encrypt", None, raw=b" " * (64 * 1024 + 1))
    assert_error(reply, 501, "UnsupportedOperationException")


# --- URI paths and methods


@pytest.mark.parametrize(
    "path",
    [
        "/kms/xks/v1/health",  # without the prefix
        f"/other/{PREFIX}/kms/xks/v1/health",
        f"/{PREFIX}/kms/xks/v2/health",
        f"/{PREFIX}/kms/xks/v1/keys/foo/sign",
        f"/{PREFIX}/kms/xks/v1/keys/foo/encrypt/extra",
        f"/{PREFIX}/kms/xks/v1/keys/fo%20o/encrypt",
        f"/{PREFIX}/kms/xks/v1/keys/{'a' * 129}/metadata",
        f"/{PREFIX}/kms/xks/v1/",
    ],
)
def test_invalid_uri_path(proxy: Proxy, path: str) -> None:
    body = {"requestMetadata": METADATA}
    assert_error(proxy.call("", body, full_path=path), 404, "InvalidUriPathException")


@pytest.mark.parametrize(
    "api", ["/health", "/keys/foo/metadata", "/keys/foo/encrypt", "/keys/foo/decrypt"]
)
def test_get_is_method_not_allowed(proxy: Proxy, api: str) -> None:
    assert proxy.call(api, None, raw=b"", method="GET").status == 405


# --- authentication


def test_kms_style_signature_over_host_and_date_only(proxy: Proxy) -> None:
    md = {**METADATA, "kmsOperation": "DescribeKey"}
    assert proxy.call("/keys/foo/metadata", {"requestMetadata": md}, kms_style=True).status == 200
    assert proxy.health(kms_style=True).status == 200


def test_either_of_two_credentials_signs(proxy: Proxy) -> None:
    # rotation: the old and the new credential are both accepted
    reply = proxy.health(access_key_id=ROTATED_ACCESS_KEY_ID, secret=ROTATED_SECRET)
    assert reply.status == 200


@pytest.mark.parametrize(
    "change",
    [
        {"sign": False},
        {"secret": "WrongSecretWrongSecretWrongSecretWrongSecret0"},
        {"access_key_id": "UNKNOWNACCESSKEYID2345"},
        {"service": "kms"},
        {"region": "eu-west-1"},
        {"access_key_id": ROTATED_ACCESS_KEY_ID},  # the other credential's id, this secret
    ],
    ids=["unsigned", "wrong-secret", "unknown-key", "wrong-service", "wrong-region", "mixed"],
)
def test_authentication_failures(proxy: Proxy, change: dict) -> None:
    assert_error(proxy.health(**change), 401, "AuthenticationFailedException")
    body = {"requestMetadata": METADATA, "plaintext": b64(b"x"), "encryptionAlgorithm": "AES_GCM"}
    assert_error(
        proxy.call("/keys/foo/encrypt", body, **change), 401, "AuthenticationFailedException"
    )


def test_a_body_changed_after_signing_fails_authentication(proxy: Proxy) -> None:
    # the attack: a captured request replayed with another plaintext (or key usage)
    body = {"requestMetadata": METADATA, "plaintext": b64(b"x"), "encryptionAlgorithm": "AES_GCM"}
    reply = proxy.call("/keys/foo/encrypt", body, tamper=json.dumps({**body, "plaintext": "eQ=="}))
    assert_error(reply, 401, "AuthenticationFailedException")


def test_a_request_signed_for_another_path_fails_authentication(proxy: Proxy) -> None:
    body = {"requestMetadata": METADATA, "plaintext": b64(b"x"), "encryptionAlgorithm": "AES_GCM"}
    reply = proxy.call(
        "/keys/foo/encrypt", body, send_to=proxy.base + "/keys/encrypt_only_key/encrypt"
    )
    assert_error(reply, 401, "AuthenticationFailedException")
