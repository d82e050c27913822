"""Quotas over HTTP: configured in the identities file and by `serve` options; request quotas
on by default, off by default with --dev."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from kmspolicy.server.identities import development_identities, quotas_for
from kmspolicy.server.main import ServerSettings, _request_quotas_on
from tests.server.conftest import IDENTITIES, start_server, stop_server

pytestmark = pytest.mark.server


def test_a_configured_request_quota_throttles_over_http(tmp_path: Path) -> None:
    identities = copy.deepcopy(IDENTITIES)
    identities["quotas"] = {"requests_per_second": {"ListKeys": 1}, "aliases_per_key": 1}
    server = start_server(tmp_path, identities=identities)  # not --dev: request quotas on
    try:
        client = server.client()
        codes = []
        for _ in range(20):  # 20 calls span at most a few one-second windows
            try:
                client.list_keys()
                codes.append("ok")
            except ClientError as exc:
                codes.append(exc.response["Error"]["Code"])
        assert "ok" in codes and "ThrottlingException" in codes, codes
        assert set(codes) == {"ok", "ThrottlingException"}
        key_id = client.create_key()["KeyMetadata"]["KeyId"]
        client.create_alias(AliasName="alias/one", TargetKeyId=key_id)
        with pytest.raises(ClientError) as info:
            client.create_alias(AliasName="alias/two", TargetKeyId=key_id)
        assert info.value.response["Error"]["Code"] == "LimitExceededException"
        assert "ThrottlingException" in server.access_log()
    finally:
        assert stop_server(server) == 0


def test_request_quotas_default_on_off_with_dev_and_options_win() -> None:
    config = development_identities()
    assert _request_quotas_on(ServerSettings(), config) is True
    assert _request_quotas_on(ServerSettings(dev=True), config) is False
    assert _request_quotas_on(ServerSettings(dev=True, request_quotas=True), config) is True
    assert _request_quotas_on(ServerSettings(request_quotas=False), config) is False
    quotas = quotas_for(config, requests=True)
    assert quotas.requests and quotas.rate("CreateKey", "us-east-1") == 5
    assert quotas.keys_per_region == 100_000 and quotas.grants_per_key == 50_000
