"""The in-process boto3 client: independent of the user's AWS configuration."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from kmspolicy import KMS
from kmspolicy._cache import Once
from kmspolicy.kms import client as client_module
from kmspolicy.kms.clock import FakeClock
from kmspolicy.kms.ports import AuditRecord


@pytest.fixture
def hostile_aws_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    garbage = tmp_path / "config"
    garbage.write_text("[[[ not an ini file\nregion = = =\n")
    monkeypatch.setenv("AWS_PROFILE", "nope")
    monkeypatch.setenv("AWS_DEFAULT_PROFILE", "nope")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(garbage))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(garbage))
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-9")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://example.invalid")
    # the session is built once per process: build it again under this environment
    monkeypatch.setattr(client_module, "_botocore_session", Once(client_module._isolated_session))


@pytest.mark.usefixtures("hostile_aws_environment")
def test_client_ignores_aws_profile_and_config_files() -> None:
    service = KMS(region="eu-central-1")
    client = service.client()
    assert client.meta.region_name == "eu-central-1"
    key = client.create_key(Description="isolated")["KeyMetadata"]
    assert key["Arn"].startswith("arn:aws:kms:eu-central-1:")
    blob = client.encrypt(KeyId=key["KeyId"], Plaintext=b"p")["CiphertextBlob"]
    assert client.decrypt(CiphertextBlob=blob)["Plaintext"] == b"p"


class _CountingRng:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self, n: int) -> bytes:
        self.n += 1
        return bytes([self.n]) * n


class _Audit:
    def __init__(self) -> None:
        self.request_ids: list[str] = []

    def append(self, record: AuditRecord) -> None:
        self.request_ids.append(record.request_id)

    def close(self) -> None:
        pass


def test_request_ids_come_from_the_service_rng_and_reach_the_audit_log() -> None:
    audit = _Audit()
    service = KMS(rng=_CountingRng(), audit=audit)
    client = service.client()
    first = client.list_keys()["ResponseMetadata"]["RequestId"]
    second = client.list_keys()["ResponseMetadata"]["RequestId"]
    assert first == "01010101-0101-0101-0101-000000000001"  # prefix: the rng's first draw
    assert second == "01010101-0101-0101-0101-000000000002"
    assert audit.request_ids == [first, second]


def test_request_ids_differ_between_services() -> None:
    assert KMS().new_request_id()[:24] != KMS().new_request_id()[:24]


# --- the fast path answers exactly what the wire path answers


class _Recording:
    """The service, remembering each request id drawn and each dispatched call's outcome."""

    def __init__(self, service: KMS) -> None:
        self._service = service
        self.region = service.region
        self.request_ids: list[str] = []
        self.outcomes: dict[str, dict[str, Any] | Exception] = {}

    def new_request_id(self) -> str:
        self.request_ids.append(self._service.new_request_id())
        return self.request_ids[-1]

    def dispatch(self, operation: str, principal: str, params: Any, **kw: Any) -> dict[str, Any]:
        try:
            result = self._service.dispatch(operation, principal, params, **kw)
        except Exception as exc:
            self.outcomes[kw["request_id"]] = exc
            raise
        self.outcomes[kw["request_id"]] = result
        return result


class _Replay:
    """Answers each request with the recorded request's id and outcome, in order."""

    def __init__(self, recorded: _Recording) -> None:
        self.region = recorded.region
        self._ids = iter(recorded.request_ids)
        self._outcomes = recorded.outcomes

    def new_request_id(self) -> str:
        return next(self._ids)

    def dispatch(self, operation: str, principal: str, params: Any, **kw: Any) -> dict[str, Any]:
        outcome = self._outcomes[kw["request_id"]]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def _typed(value: Any) -> Any:
    """``value`` with every leaf's exact type (and a timestamp's zone type) beside it."""
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    if isinstance(value, datetime):
        return (datetime, value, type(value.tzinfo))
    return (type(value), value)


def _outcome(call: Callable[[], dict[str, Any]]) -> Any:
    try:
        return _typed(call())
    except ClientError as exc:
        return (type(exc).__name__, _typed(exc.response))


def _calls(client: Any) -> Iterator[Callable[[], dict[str, Any]]]:
    """Calls of every output shape: nested structures, lists, maps, blobs, timestamps,
    booleans, integers; and refusals (not found, validation, dry run, disabled)."""
    key = client.create_key(Description="d", Tags=[{"TagKey": "t", "TagValue": "v"}])
    key_id = key["KeyMetadata"]["KeyId"]
    sign = client.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    hmac_key = client.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
    external = client.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    blob = client.encrypt(KeyId=key_id, Plaintext=b"p", EncryptionContext={"a": "b"})
    yield lambda: client.describe_key(KeyId=key_id)
    yield lambda: client.list_keys(Limit=1)
    yield lambda: client.create_alias(AliasName="alias/x", TargetKeyId=key_id)
    yield lambda: client.list_aliases()
    yield lambda: client.encrypt(KeyId="alias/x", Plaintext=b"\x00" * 4096)
    yield lambda: client.decrypt(
        CiphertextBlob=blob["CiphertextBlob"], EncryptionContext={"a": "b"}
    )
    yield lambda: client.generate_data_key(KeyId=key_id, NumberOfBytes=16)
    yield lambda: client.generate_data_key_pair(KeyId=key_id, KeyPairSpec="ECC_NIST_P256")
    yield lambda: client.get_public_key(KeyId=sign["KeyId"])
    yield lambda: client.sign(KeyId=sign["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
    yield lambda: client.generate_mac(
        KeyId=hmac_key["KeyMetadata"]["KeyId"], Message=b"m", MacAlgorithm="HMAC_SHA_256"
    )
    yield lambda: client.create_grant(
        KeyId=key_id,
        GranteePrincipal="arn:aws:iam::111122223333:root",
        Operations=["Encrypt"],
        Constraints={"EncryptionContextSubset": {"a": "b"}},
    )
    yield lambda: client.list_grants(KeyId=key_id)
    yield lambda: client.list_resource_tags(KeyId=key_id)
    yield lambda: client.get_key_policy(KeyId=key_id)
    yield lambda: client.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
    yield lambda: client.get_key_rotation_status(KeyId=key_id)
    yield lambda: client.get_parameters_for_import(
        KeyId=external, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
    )
    yield lambda: client.generate_random(NumberOfBytes=8)
    yield lambda: client.schedule_key_deletion(KeyId=external, PendingWindowInDays=7)
    yield lambda: client.disable_key(KeyId=key_id)
    yield lambda: client.encrypt(KeyId=key_id, Plaintext=b"p")  # DisabledException
    yield lambda: client.describe_key(KeyId="alias/missing")  # NotFoundException
    yield lambda: client.create_alias(AliasName="alias/a b", TargetKeyId=key_id)  # pattern
    yield lambda: client.generate_mac(
        KeyId=hmac_key["KeyMetadata"]["KeyId"],
        Message=b"m",
        MacAlgorithm="HMAC_SHA_256",
        DryRun=True,
    )


def test_fast_path_answers_what_the_wire_path_answers() -> None:
    recorded = _Recording(KMS(clock=FakeClock()))
    fast = client_module.make_client(recorded, "arn:aws:iam::111122223333:root")
    wire_client = client_module.make_client(_Replay(recorded), "arn:aws:iam::111122223333:root")
    wire_client.meta.events.unregister("before-call.kms", unique_id=client_module.FAST_PATH_ID)
    fast_calls, wire_calls = _calls(fast), _calls(wire_client)
    compared = 0
    for fast_call, wire_call in zip(fast_calls, wire_calls, strict=True):
        got, expected = _outcome(fast_call), _outcome(wire_call)
        if isinstance(got, dict):
            # nothing went over a wire: no length, and no retry loop to have reached its end
            del expected["ResponseMetadata"]["HTTPHeaders"]["content-length"]
            del expected["ResponseMetadata"]["MaxAttemptsReached"]
        assert got == expected
        compared += 1
    assert compared == 25
    outcomes = [recorded.outcomes.get(i) for i in recorded.request_ids]
    assert all(isinstance(o, dict) for o in outcomes[:26])  # the setup and the successes
    assert [type(o).__name__ for o in outcomes[26:]] == [
        "DisabledException",
        "NotFoundException",
        "NoneType",  # refused by the decoder: never dispatched
        "DryRunOperationException",
    ]


def test_a_refused_call_is_served_once() -> None:
    audit = _Audit()
    client = KMS(audit=audit).client()
    with pytest.raises(client.exceptions.NotFoundException):
        client.describe_key(KeyId="alias/missing")
    assert len(audit.request_ids) == 1


class _FailingOnce(_Recording):
    """The service, failing its first call with a bug (KMSInternalException, retryable)."""

    def dispatch(self, operation: str, principal: str, params: Any, **kw: Any) -> dict[str, Any]:
        if not self.outcomes:
            self.outcomes[kw["request_id"]] = RuntimeError("a bug")
            raise RuntimeError("a bug")
        return super().dispatch(operation, principal, params, **kw)


def test_a_retried_call_is_served_again_on_the_wire_path() -> None:
    service = _FailingOnce(KMS())
    retrying = Config(retries={"total_max_attempts": 2, "mode": "standard"})
    client = client_module.make_client(service, "arn:aws:iam::111122223333:root", config=retrying)
    answer = client.generate_random(NumberOfBytes=8)
    assert len(answer["Plaintext"]) == 8
    assert answer["ResponseMetadata"]["RetryAttempts"] == 1
    assert [type(o).__name__ for o in service.outcomes.values()] == ["RuntimeError", "dict"]
