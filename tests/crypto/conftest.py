"""Shared key material for the crypto tests: one key per spec, generated once per session
(RSA 4096 generation takes a second; nothing else here is slow)."""

from __future__ import annotations

import pytest

from kmspolicy.crypto import KeyMaterial, KeySpec, generate_key, is_implemented


@pytest.fixture(scope="session")
def keys() -> dict[KeySpec, KeyMaterial]:
    return {spec: generate_key(spec) for spec in KeySpec if is_implemented(spec)}
