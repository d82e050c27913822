"""The JSON 1.1 codec: decoding, model validation with AWS's messages, encoding."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kmspolicy.errors import (
    DryRunOperationException,
    SerializationException,
    UnknownOperationException,
    ValidationException,
)
from kmspolicy.kms import wire


def test_decode_turns_blobs_into_bytes() -> None:
    body = json.dumps({"KeyId": "k", "Plaintext": base64.b64encode(b"hi").decode()})
    assert wire.decode_request("Encrypt", body.encode()) == {"KeyId": "k", "Plaintext": b"hi"}


def test_missing_required_members_are_all_reported() -> None:
    with pytest.raises(ValidationException) as err:
        wire.decode_request("Encrypt", b"{}")
    assert str(err.value).startswith("2 validation errors detected: ")
    assert "Value null at 'keyId' failed to satisfy constraint: Member must not be null" in str(
        err.value
    )


@pytest.mark.parametrize(
    ("operation", "body", "fragment"),
    [
        ("Encrypt", {"KeyId": "", "Plaintext": "YQ=="}, "length greater than or equal to 1"),
        ("CreateKey", {"KeySpec": "AES"}, "Member must satisfy enum value set: ["),
        ("GenerateRandom", {"NumberOfBytes": 0}, "value greater than or equal to 1"),
        ("CreateAlias", {"AliasName": "alias/a b", "TargetKeyId": "k"}, "regular expression"),
    ],
    ids=["min-length", "enum", "min-value", "pattern"],
)
def test_constraint_messages(operation: str, body: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationException) as err:
        wire.decode_request(operation, json.dumps(body).encode())
    assert fragment in str(err.value)


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"KeyId": 5, "Plaintext": "YQ=="}', b'{"KeyId":"k","Plaintext":"!!"}'],
    ids=["not-json", "not-object", "wrong-type", "bad-base64"],
)
def test_malformed_bodies_are_serialization_errors(body: bytes) -> None:
    with pytest.raises(SerializationException):
        wire.decode_request("Encrypt", body)


def test_unknown_operation() -> None:
    with pytest.raises(UnknownOperationException):
        wire.operation_from_target("TrentService.MakeCoffee")
    with pytest.raises(UnknownOperationException):
        wire.decode_request("MakeCoffee", b"{}")
    assert wire.operation_from_target("TrentService.Encrypt") == "Encrypt"


def test_encode_response_and_error() -> None:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    out = json.loads(wire.encode_response("CreateKey", {"B": b"\x00\x01", "T": when}))
    assert out == {"B": "AAE=", "T": when.timestamp()}
    err = json.loads(wire.encode_error(DryRunOperationException("ok")))
    assert err == {"__type": "DryRunOperationException", "message": "ok"}


def test_python_api_validates_like_the_wire(service: Any) -> None:
    with pytest.raises(ValidationException):
        service.encrypt(KeyId="alias/x", Plaintext=b"x" * 4097)


def test_python_api_rejects_a_misspelt_parameter_by_name(service: Any) -> None:
    with pytest.raises(ValidationException, match='Unknown parameter in input: "KeyID"') as info:
        service.as_principal(service.root_principal).encrypt(KeyID="x", Plaintext=b"x")
    assert 'did you mean "KeyId"?' in str(info.value)


def test_python_api_rejects_an_unknown_parameter_before_acting(service: Any) -> None:
    with pytest.raises(ValidationException, match='Unknown parameter in input: "Bogus"'):
        service.create_key(Bogus=1)
    assert service.list_keys()["Keys"] == []


def test_python_api_rejects_unknown_nested_members(service: Any) -> None:
    tags = [{"TagKey": "k", "TagValue": "v", "Tagvalue": "w"}]
    with pytest.raises(ValidationException, match=r'in tags\.1\.member: "Tagvalue"'):
        service.create_key(Tags=tags)


def test_json_protocol_still_ignores_unknown_members() -> None:
    body = json.dumps({"KeyId": "alias/x", "Plaintext": "eA==", "Extra": 1})
    assert wire.decode_request("Encrypt", body) == {"KeyId": "alias/x", "Plaintext": b"x"}


def test_unknown_operation_through_the_client_is_a_client_error(client: Any) -> None:
    # botocore refuses unknown methods itself; the raw wire path answers UnknownOperation
    assert not hasattr(client, "make_coffee")


# --- the fast paths are exactly the reference encodings


_B64_TEXT = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ \n\xe9",
    max_size=24,
)


@settings(max_examples=400, deadline=None)
@given(text=_B64_TEXT | st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode()))
def test_blob_decoding_is_the_strict_stdlib_decoder(text: str) -> None:
    try:
        expected: bytes | None = binascii.a2b_base64(text, strict_mode=True)
    except ValueError:
        expected = None
    try:
        got: bytes | None = wire.b64decode(text)
    except ValueError:
        got = None
    assert got == expected


@settings(max_examples=200, deadline=None)
@given(
    result=st.dictionaries(
        # the model's output member names (written from a table) and any other
        st.sampled_from(["CiphertextBlob", "KeyId", "EncryptionAlgorithm", "Plaintext"])
        | st.text(max_size=8),
        st.binary(max_size=64)
        | st.text(max_size=16)
        | st.integers()
        | st.booleans()
        | st.none()
        | st.lists(st.text(max_size=4) | st.binary(max_size=4), max_size=3)
        | st.dictionaries(st.text(max_size=4), st.binary(max_size=4), max_size=2)
        | st.datetimes(timezones=st.just(UTC)),
        max_size=5,
    )
)
def test_response_encoding_is_plain_json_dumps(result: dict[str, object]) -> None:
    def plain(v: object) -> object:
        if isinstance(v, bytes):
            return base64.b64encode(v).decode()
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, list):
            return [plain(x) for x in v]
        if isinstance(v, datetime):
            return v.timestamp()
        return v

    expected = json.dumps(plain(result), separators=(",", ":")).encode()
    assert wire.encode_response("Encrypt", result) == expected


@settings(max_examples=300, deadline=None)
@given(
    body=st.binary(max_size=24)
    | st.text(max_size=24)
    | st.recursive(
        st.none() | st.booleans() | st.floats() | st.text(max_size=6),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
        max_leaves=6,
    ).map(lambda v: json.dumps(v).encode())
    | st.sampled_from([b"\xef\xbb\xbf{}", "\ufeff{}", '{"a":1}'.encode("utf-16"), b"{\x00"])
)
def test_body_parsing_is_json_loads(body: bytes | str) -> None:
    def outcome(parse):  # type: ignore[no-untyped-def]
        try:
            return ("ok", parse(body))
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            return ("error", type(exc))

    assert repr(outcome(wire._loads)) == repr(outcome(_strict_loads))


def _strict_loads(body: bytes | str) -> object:
    """The reference: the stdlib decoder, refusing the NaN/Infinity literals JSON lacks."""
    return json.loads(body, parse_constant=wire._no_constant)


_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()  # unbounded: past 64 bits orjson would give a float
    | st.floats()  # NaN and ±Infinity: the stdlib's extensions orjson refuses
    | st.text(st.characters(codec=None), max_size=6),  # lone surrogates: escaped, refused by orjson
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=8,
)


def _document(value: object, ensure_ascii: bool) -> str:
    return json.dumps(value, ensure_ascii=ensure_ascii)


@settings(max_examples=400, deadline=None)
@given(
    text=st.builds(_document, _JSON_VALUES, st.booleans())
    | st.builds(  # duplicate keys: the last value wins, at the first key's position
        lambda k, a, b, c: f'{{"{k}":{a},"z":{c},"{k}":{b}}}',
        st.sampled_from(["a", "z"]),
        st.integers(),
        st.integers(),
        st.integers(),
    )
    | st.sampled_from(
        [
            *("-0", "-0.0", "1e400", "1E5", "18446744073709551615", "18446744073709551616"),
            *("[" * 1100, "[" * 1100 + "]" * 1100, "[" * 5000 + "]" * 5000),
            *('"\\ud800"', "{} x", " {} ", '{"a": NaN}', "\ufeff{}"),
        ]
    ),
    as_bytes=st.booleans(),
)
def test_body_decoding_equals_the_stdlib_reference(text: str, as_bytes: bool) -> None:
    body: bytes | str = text.encode("utf-8", "surrogatepass") if as_bytes else text

    def outcome(parse):  # type: ignore[no-untyped-def]
        try:
            return ("ok", parse(body))
        except RecursionError:
            return ("error", RecursionError)
        except ValueError as exc:
            return ("error", type(exc), str(exc))

    assert repr(outcome(wire._loads)) == repr(outcome(_strict_loads))


@pytest.mark.parametrize("depth", [1100, 100_000])
def test_a_deeply_nested_body_is_a_serialization_exception(depth: int) -> None:
    body = b'{"KeyId":' + b"[" * depth + b"]" * depth + b"}"
    with pytest.raises(SerializationException):
        wire.decode_request("Encrypt", body)


# --- issue 12 item 8: values the JSON grammar allows but no KMS member can hold


@pytest.mark.parametrize(
    ("operation", "body", "path"),
    [
        (
            "Encrypt",
            '{"KeyId":"k","Plaintext":"aGk=","EncryptionContext":{"a":"\\udfff"}}',
            "encryptionContext.a.value",
        ),
        (
            "Encrypt",
            '{"KeyId":"k","Plaintext":"aGk=","EncryptionContext":{"\\ud800":"x"}}',
            "encryptionContext.\ud800.key",
        ),
        (
            "TagResource",
            '{"KeyId":"k","Tags":[{"TagKey":"a","TagValue":"x\\udbff"}]}',
            "tags.1.member.tagValue",
        ),
        ("RevokeGrant", '{"KeyId":"k","GrantId":"\\udfff"}', "grantId"),
        ("CreateKey", '{"Description":"\\udc00\\ud800"}', "description"),
        (
            "Encrypt",
            '{"KeyId":"k","Plaintext":"aGk=","GrantTokens":["\\ud800"]}',
            "grantTokens.1.member",
        ),
    ],
)
def test_a_lone_surrogate_in_any_string_is_a_validation_error(
    operation: str, body: str, path: str
) -> None:
    with pytest.raises(ValidationException) as info:
        wire.decode_request(operation, body.encode())
    assert f"at '{path}' failed to satisfy constraint: Member must be valid Unicode" in str(
        info.value
    )
    # the message itself can be sent and logged: the surrogate is never shown
    json.dumps(info.value.message).encode("utf-8")


def test_the_python_api_refuses_lone_surrogates_too() -> None:
    with pytest.raises(ValidationException, match="valid Unicode"):
        wire.validate_params("UpdateKeyDescription", {"KeyId": "k", "Description": "\udfff"})


def test_a_surrogate_pair_is_one_valid_character() -> None:
    out = wire.decode_request("CreateKey", b'{"Description":"\\ud83d\\ude00"}')
    assert out["Description"] == "\U0001f600"


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_json_number_literals_are_serialization_errors(literal: str) -> None:
    body = '{"KeyId":"k","ImportToken":"AA==","EncryptedKeyMaterial":"AA==","ValidTo":%s}'
    with pytest.raises(SerializationException):
        wire.decode_request("ImportKeyMaterial", (body % literal).encode())


@pytest.mark.parametrize("number", ["1e309", "-1e309", "1e20", "-1e20", "100000000000000000000"])
def test_timestamps_outside_the_calendar_are_validation_errors(number: str) -> None:
    body = '{"KeyId":"k","ImportToken":"AA==","EncryptedKeyMaterial":"AA==","ValidTo":%s}'
    with pytest.raises(ValidationException, match="at 'validTo' failed to satisfy constraint"):
        wire.decode_request("ImportKeyMaterial", (body % number).encode())


def test_x_amz_target_is_parsed_in_one_place() -> None:
    from kmspolicy.errors import UnknownOperationException
    from kmspolicy.kms.wire import operation_from_target

    assert operation_from_target("TrentService.ReplicateKey") == "ReplicateKey"
    for target in (None, "", "Encrypt", "TrentService.Nope", "OtherService.Encrypt"):
        with pytest.raises(UnknownOperationException):
            operation_from_target(target)
    with pytest.raises(UnknownOperationException, match="unknown operation"):
        operation_from_target("TrentService.Encrypt", frozenset({"Decrypt"}))
