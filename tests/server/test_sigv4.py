"""SigV4 verification against requests signed by botocore's own signer, and their mutations."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kmspolicy.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    ServiceError,
    UnrecognizedClientException,
)
from kmspolicy.server.sigv4 import Credential, Verifier, _Signer

NOW = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)
ALICE = Credential("AKIAALICEEXAMPLE0001", "alice-secret", "alice")
TEMP = Credential("ASIATEMPEXAMPLE00001", "temp-secret", "temp", session_token="tok-123")
KEYS = {c.access_key_id: c for c in (ALICE, TEMP)}


def sign(
    *,
    akid: str = ALICE.access_key_id,
    secret: str = ALICE.secret_access_key,
    token: str | None = None,
    region: str = "us-east-1",
    service: str = "kms",
    at: datetime = NOW,
    body: bytes = b'{"KeyId": "alias/x"}',
    url: str = "http://localhost:4599/",
) -> tuple[str, str, str, dict[str, str], bytes]:
    req = AWSRequest(
        method="POST",
        url=url,
        data=body,
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "TrentService.Encrypt",
        },
    )
    with mock.patch("botocore.auth.get_current_datetime", return_value=at.replace(tzinfo=None)):
        SigV4Auth(Credentials(akid, secret, token), service, region).add_auth(req)
    prepared = req.prepare()
    headers = {k.lower(): v for k, v in prepared.headers.items()}
    headers["host"] = "localhost:4599"
    path, _, query = prepared.url.split("localhost:4599", 1)[1].partition("?")
    return "POST", path, query, headers, body


def verify(req: tuple[str, str, str, dict[str, str], bytes], now: datetime = NOW):  # type: ignore[no-untyped-def]
    method, path, query, headers, body = req
    return Verifier(KEYS.get).verify(method, path, query, headers, body, now)


def test_botocore_signed_request_verifies_and_names_principal_and_region() -> None:
    verified = verify(sign(region="eu-west-1"))
    assert verified.credential.principal == "alice"
    assert verified.region == "eu-west-1"
    assert verified.signed_at == NOW


def test_query_string_is_part_of_the_signature() -> None:
    req = sign(url="http://localhost:4599/?b=2&a=1%20x")
    assert verify(req).region == "us-east-1"
    method, path, query, headers, body = req
    with pytest.raises(InvalidSignatureException):
        verify((method, path, query + "&c=3", headers, body))


def test_temporary_credentials_need_their_session_token() -> None:
    ok = sign(akid=TEMP.access_key_id, secret=TEMP.secret_access_key, token="tok-123")
    assert verify(ok).credential.principal == "temp"
    wrong = sign(akid=TEMP.access_key_id, secret=TEMP.secret_access_key, token="tok-999")
    with pytest.raises(UnrecognizedClientException):
        verify(wrong)
    missing = sign(akid=TEMP.access_key_id, secret=TEMP.secret_access_key)
    with pytest.raises(UnrecognizedClientException):
        verify(missing)


def test_long_term_key_with_a_session_token_is_rejected() -> None:
    with pytest.raises(UnrecognizedClientException):
        verify(sign(token="tok-123"))


def test_unknown_access_key() -> None:
    with pytest.raises(UnrecognizedClientException):
        verify(sign(akid="AKIANOBODY0000000000"))


def test_wrong_secret() -> None:
    with pytest.raises(InvalidSignatureException):
        verify(sign(secret="not-alice"))


def test_tampered_body() -> None:
    method, path, query, headers, _ = sign()
    with pytest.raises(InvalidSignatureException):
        verify((method, path, query, headers, b'{"KeyId": "alias/y"}'))


def test_tampered_signed_header() -> None:
    method, path, query, headers, body = sign()
    headers = {**headers, "x-amz-target": "TrentService.Decrypt"}
    with pytest.raises(InvalidSignatureException):
        verify((method, path, query, headers, body))


def test_wrong_service_in_scope() -> None:
    with pytest.raises(InvalidSignatureException):
        verify(sign(service="s3"))


@pytest.mark.parametrize("offset", [timedelta(minutes=6), -timedelta(minutes=6)])
def test_clock_skew_beyond_five_minutes(offset: timedelta) -> None:
    with pytest.raises(InvalidSignatureException, match="skew"):
        verify(sign(), now=NOW + offset)


def test_clock_skew_within_five_minutes() -> None:
    assert verify(sign(), now=NOW + timedelta(minutes=4, seconds=59)).region == "us-east-1"


def test_missing_authorization_header() -> None:
    method, path, query, headers, body = sign()
    del headers["authorization"]
    with pytest.raises(MissingAuthenticationTokenException):
        verify((method, path, query, headers, body))


@pytest.mark.parametrize(
    "mutate",
    [
        lambda a: a.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1"),
        lambda a: a.split(", Signature=")[0],
        lambda a: a.replace("SignedHeaders=", "Headers="),
        lambda a: a.replace("/aws4_request", ""),
        lambda a: a.replace("host;", ""),
    ],
    ids=["algorithm", "no-signature", "no-signed-headers", "short-scope", "host-unsigned"],
)
def test_incomplete_authorization_header(mutate) -> None:  # type: ignore[no-untyped-def]
    method, path, query, headers, body = sign()
    headers = {**headers, "authorization": mutate(headers["authorization"])}
    with pytest.raises(IncompleteSignatureException):
        verify((method, path, query, headers, body))


def test_missing_date_header() -> None:
    method, path, query, headers, body = sign()
    del headers["x-amz-date"]
    with pytest.raises(IncompleteSignatureException):
        verify((method, path, query, headers, body))


def test_empty_date_header_is_incomplete_on_a_fresh_verifier() -> None:
    """An empty X-Amz-Date is no date: IncompleteSignatureException, as a missing one (a fresh
    verifier's remembered date must not pass it as already checked)."""
    method, path, query, headers, body = sign()
    headers = {**headers, "x-amz-date": ""}
    with pytest.raises(IncompleteSignatureException):
        verify((method, path, query, headers, body))


def test_scope_date_must_match_request_date() -> None:
    method, path, query, headers, body = sign()
    headers = {**headers, "x-amz-date": "20261128T120000Z"}
    with pytest.raises(InvalidSignatureException):
        verify((method, path, query, headers, body), now=datetime(2026, 11, 28, 12, tzinfo=UTC))


def test_secrets_do_not_appear_in_repr() -> None:
    assert "alice-secret" not in repr(ALICE)
    assert "tok-123" not in repr(TEMP)


@settings(max_examples=200, deadline=None)
@given(
    auth=st.text(max_size=200),
    date=st.one_of(st.none(), st.text(max_size=20), st.just("20261129T120000Z")),
    token=st.one_of(st.none(), st.text(max_size=10)),
)
def test_garbage_authorization_raises_only_aws_errors(auth: str, date, token) -> None:  # type: ignore[no-untyped-def]
    method, path, query, headers, body = sign()
    headers = {**headers, "authorization": auth}
    headers.pop("x-amz-date")
    if date is not None:
        headers["x-amz-date"] = date
    if token is not None:
        headers["x-amz-security-token"] = token
    with pytest.raises(ServiceError):
        verify((method, path, query, headers, body))


@settings(max_examples=100, deadline=None)
@given(index=st.integers(min_value=0), char=st.sampled_from("0123456789abcdef"))
def test_any_single_signature_change_is_rejected(index: int, char: str) -> None:
    method, path, query, headers, body = sign()
    auth = headers["authorization"]
    start = auth.index("Signature=") + len("Signature=")
    pos = start + index % 64
    if auth[pos] == char:
        return
    headers = {**headers, "authorization": auth[:pos] + char + auth[pos + 1 :]}
    with pytest.raises(InvalidSignatureException):
        verify((method, path, query, headers, body))


def test_reused_authorization_parse_checks_each_requests_own_signature() -> None:
    # Same credential scope and signed headers: the parse of everything before the signature
    # is reused, but each request is still checked against its own signature.
    first, second = sign(body=b'{"KeyId": "alias/a"}'), sign(body=b'{"KeyId": "alias/b"}')
    assert verify(first).credential.principal == "alice"
    assert verify(second).credential.principal == "alice"
    method, path, query, headers, body = second
    swapped = {**headers, "authorization": first[3]["authorization"]}
    with pytest.raises(InvalidSignatureException):
        verify((method, path, query, swapped, body))
    # "Signature=" that is not a whole parameter name is parsed in full and refused
    bogus = headers["authorization"].replace(", Signature=", ", XSignature=")
    with pytest.raises(IncompleteSignatureException):
        verify((method, path, query, {**headers, "authorization": bogus}, body))


def test_only_the_regions_served_verify() -> None:
    served = Verifier(KEYS.get, regions={"eu-west-1"})
    method, path, query, headers, body = sign(region="eu-west-1")
    assert served.verify(method, path, query, headers, body, NOW).region == "eu-west-1"
    method, path, query, headers, body = sign(region="us-east-1")
    with pytest.raises(
        InvalidSignatureException, match="scoped to a valid region, not 'us-east-1'"
    ):
        served.verify(method, path, query, headers, body, NOW)


@given(key=st.binary(min_size=0, max_size=200), message=st.binary(max_size=512))
@example(key=b"k" * 65, message=b"m")  # longer than the block: RFC 2104 hashes it first
def test_the_signer_is_hmac_sha256(key: bytes, message: bytes) -> None:
    # the signature's HMAC with its padded key blocks hashed once (sigv4._Signer) is RFC 2104's
    assert _Signer(key).hexdigest(message) == hmac.digest(key, message, "sha256").hex()


def test_unsigned_requests_with_long_heads_pin_bounded_memory_in_the_parse_cache() -> None:
    """The parse cache fills before the access key is looked up, from any caller: 64
    unauthenticated requests with a 1 MB ``Authorization`` each pinned 67 MB (bounded by
    entries only). Heads an SDK would never send are now parsed, not kept, and what is kept is
    bounded by its characters."""
    verifier = Verifier(KEYS.get)
    method, path, query, headers, body = sign(akid="AKIANOBODY0000000000")
    sizes = [100, 1000, 2000, 5000, 50_000]
    for i in range(1200):
        pad = str(i) + "p" * sizes[i % len(sizes)]
        headers["authorization"] = (
            "AWS4-HMAC-SHA256 Credential=AKIANOBODY0000000000/20261129/us-east-1/kms/"
            f"aws4_request, Pad={pad}, SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
            f"Signature={'0' * 64}"
        )
        with pytest.raises(UnrecognizedClientException):
            verifier.verify(method, path, query, headers, body, NOW)
    heads = verifier._authorization._heads
    assert len(heads) > 0  # an SDK-sized head is still kept
    assert max(len(head) for head in heads) <= 2048
    assert sum(len(head) for head in heads) <= 512 * 1024
