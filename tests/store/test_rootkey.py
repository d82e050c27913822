"""The root-key file: created 0600 atomically, found by path / env / data dir, never leaked."""

from __future__ import annotations

import base64
import os
import pickle
import stat
import threading
from pathlib import Path

import pytest

from kmspolicy.errors import ConfigError
from kmspolicy.store.rootkey import (
    ENV_VAR,
    RootKey,
    load_root_key,
    read_root_key_file,
    resolve_root_key_path,
)


def test_first_start_creates_a_0600_key_in_the_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    key = load_root_key(data, env={})
    path = data / "root.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes() == key.material()
    assert len(key.material()) == 32
    # no temporary file is left behind
    assert sorted(p.name for p in data.iterdir()) == ["root.key"]


def test_second_start_reads_the_same_key(tmp_path: Path) -> None:
    first = load_root_key(tmp_path, env={})
    second = load_root_key(tmp_path, env={})
    assert first.material() == second.material()


def test_concurrent_first_starts_agree_on_one_key(tmp_path: Path) -> None:
    keys: list[bytes] = []
    barrier = threading.Barrier(8)

    def start() -> None:
        barrier.wait()
        keys.append(load_root_key(tmp_path, env={}).material())

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(keys)) == 1
    assert (tmp_path / "root.key").read_bytes() == keys[0]


def test_created_key_is_0600_even_with_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        load_root_key(tmp_path, env={})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "root.key").stat().st_mode) == 0o600


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_group_or_world_readable_key_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "root.key"
    path.write_bytes(b"k" * 32)
    path.chmod(mode)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_root_key(tmp_path, env={})


def test_explicit_path_wins_and_is_never_created(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_root_key(tmp_path, path=tmp_path / "elsewhere.key", env={})
    assert not (tmp_path / "elsewhere.key").exists()
    assert not (tmp_path / "root.key").exists()


def test_env_var_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "from-env.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"e" * 32)
    os.close(fd)
    key = load_root_key(tmp_path / "data", env={ENV_VAR: str(path)})
    assert key.material() == b"e" * 32
    assert resolve_root_key_path(None, None, {ENV_VAR: str(path)}) == (path, False)


def test_base64_text_form_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "b64.key"
    raw = bytes(range(32))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, base64.b64encode(raw) + b"\n")
    os.close(fd)
    assert read_root_key_file(path).material() == raw


@pytest.mark.parametrize("content", [b"", b"short", b"x" * 33, b"not base64 at all!!"])
def test_wrong_length_is_refused_without_echoing_it(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, content)
    os.close(fd)
    with pytest.raises(ConfigError, match="exactly 32 bytes") as info:
        read_root_key_file(path)
    if content:
        assert content.decode() not in str(info.value)


def test_symlinked_key_file_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real.key"
    fd = os.open(real, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"r" * 32)
    os.close(fd)
    link = tmp_path / "link.key"
    link.symlink_to(real)
    with pytest.raises(ConfigError, match="cannot open"):
        read_root_key_file(link)


def test_no_source_of_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=ENV_VAR):
        load_root_key(None, env={})


def test_root_key_never_shows_its_material() -> None:
    key = RootKey(b"\x01" * 32, "test")
    assert "\\x01" not in repr(key) and "\\x01" not in str(key)
    assert key.material().hex() not in repr(key)
    with pytest.raises(TypeError):
        pickle.dumps(key)


def test_fingerprint_names_the_key_that_sealed_a_blob() -> None:
    from kmspolicy.crypto.seal import seal, sealed_fingerprint

    key = RootKey(b"\x02" * 32, "test")
    assert len(key.fingerprint) == 16 and key.fingerprint in repr(key)
    assert sealed_fingerprint(seal(key.material(), b"secret")) == key.fingerprint
    assert RootKey.generate().fingerprint != key.fingerprint


def test_root_key_must_be_32_bytes() -> None:
    with pytest.raises(ValueError):
        RootKey(b"short")
