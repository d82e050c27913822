"""Whatever an authenticated caller sends, the answer is 200 or an error of the specification's
table — never a 500 page or a traceback (hypothesis over real HTTP)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmspolicy.xks.errors import ERRORS
from tests.xks.conftest import METADATA, Proxy

_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=30)
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_members = st.fixed_dictionaries(
    {},
    optional={
        "requestMetadata": st.just(METADATA) | _json,
        "plaintext": st.sampled_from(["eA==", "", "!!", "x" * 7]) | _json,
        "ciphertext": st.sampled_from(["eA==", ""]) | _json,
        "initializationVector": st.sampled_from(["AAAAAAAAAAAAAAAA", "AA=="]) | _json,
        "authenticationTag": st.sampled_from(["AAAAAAAAAAAAAAAAAAAAAA==", "AA=="]) | _json,
        "additionalAuthenticatedData": st.sampled_from(["YQ==", "***"]) | _json,
        "ciphertextMetadata": st.sampled_from(["YQ==", "A" * 40]) | _json,
        "encryptionAlgorithm": st.sampled_from(["AES_GCM", "RSA"]) | _json,
        "ciphertextDataIntegrityValueAlgorithm": st.sampled_from(["SHA_256", "x"]) | _json,
    },
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    api=st.sampled_from(
        [
            "/health",
            "/keys/foo/metadata",
            "/keys/foo/encrypt",
            "/keys/foo/decrypt",
            "/keys/decrypt_only_key/encrypt",
        ]
    ),
    body=_members | _json,
)
def test_every_answer_is_the_specification(proxy: Proxy, api: str, body: object) -> None:
    reply = proxy.call(api, body)
    if reply.status == 200:
        return
    name = reply.body["errorName"]
    assert name in ERRORS and ERRORS[name].status == reply.status
    assert reply.status != 500
