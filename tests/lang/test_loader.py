"""load_policies detects the face by content; large reads leave the interpreter as they found it."""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kmspolicy.lang import PolicySyntaxError, load_policies, parse_dsl, read_json, read_policies
from kmspolicy.lang.gcpause import THRESHOLD

DSL = "policy\nallow\n  principal *\n  action kms:Decrypt\n"
JSON = '{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt"}}'


def test_detects_json_by_content_not_extension(tmp_path: Path) -> None:
    (tmp_path / "a.kmsp").write_text("\n  " + JSON)
    (tmp_path / "b.json").write_text(DSL)
    assert load_policies(tmp_path / "a.kmsp") == load_policies(tmp_path / "b.json")


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "p.json").write_bytes(b"\xef\xbb\xbf" + JSON.encode())
    assert load_policies(tmp_path / "p.json") == parse_dsl(DSL)


def test_key_policy_rules_apply_on_request(tmp_path: Path) -> None:
    (tmp_path / "p.json").write_text('{"Statement": {"Effect": "Allow", "Action": "kms:*"}}')
    assert load_policies(tmp_path / "p.json")
    with pytest.raises(PolicySyntaxError, match="missing-principal"):
        load_policies(tmp_path / "p.json", key_policy=True)


def test_positions_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "p.kmsp").write_text(DSL)
    (policy,) = load_policies(tmp_path / "p.kmsp")
    assert policy.span is not None and policy.span.source == str(tmp_path / "p.kmsp")


def test_missing_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        load_policies(tmp_path / "nope.kmsp")


def test_large_reads_restore_the_garbage_collector() -> None:
    big = DSL + "".join(f'\nallow "s{i}"\n  action kms:Decrypt\n' for i in range(THRESHOLD // 20))
    assert len(big) > THRESHOLD
    assert len(parse_dsl(big)[0].statements) > 1
    assert gc.isenabled()
    with pytest.raises(PolicySyntaxError):
        parse_dsl(big + "oops")
    assert gc.isenabled()
    with pytest.raises(PolicySyntaxError):
        read_json('{"Id": "' + "x" * THRESHOLD + '", "Statement": []}')
    assert gc.isenabled()


def _big_json() -> str:
    statement = '{"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt"}'
    text = '{"Statement": [' + ", ".join([statement] * (THRESHOLD // 50)) + "]}"
    assert len(text) > THRESHOLD
    return text


def _in_oldest_generation(obj: object) -> bool:
    return any(o is obj for o in gc.get_objects(generation=2))


@pytest.mark.parametrize("read", [read_json, parse_dsl], ids=["json", "dsl"])
def test_a_large_read_leaves_its_tree_in_the_oldest_generation(read: Callable[[str], Any]) -> None:
    # the young generation's pass would only find the whole tree alive (gcpause)
    text = _big_json() if read is read_json else DSL * (THRESHOLD // len(DSL) + 1)
    policy = read(text)
    node = policy.statements[-1] if read is read_json else policy[-1].statements[-1]
    assert _in_oldest_generation(node) and gc.get_freeze_count() == 0
    assert gc.isenabled() and gc.get_count()[0] < 100


def test_a_large_read_leaves_an_applications_frozen_objects_frozen() -> None:
    gc.collect()
    gc.freeze()  # as a server might before forking its workers
    try:
        frozen = gc.get_freeze_count()
        policy = read_json(_big_json())
        assert gc.get_freeze_count() == frozen
        assert not _in_oldest_generation(policy.statements[-1])  # left young instead
        assert gc.isenabled()
    finally:
        gc.unfreeze()


def test_a_large_read_in_a_threaded_process_promotes_nothing() -> None:
    # another thread's young objects would be promoted with the tree (gcpause's docstring)
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        policy = read_json(_big_json())
        assert not _in_oldest_generation(policy.statements[-1])  # left young
        assert gc.isenabled() and gc.get_freeze_count() == 0
    finally:
        release.set()
        other.join()


def test_read_policies_reads_either_face_from_text_or_bytes() -> None:
    assert read_policies(JSON) == read_policies(DSL.encode()) == parse_dsl(DSL)
    assert read_policies("\ufeff" + JSON, "p.json") == [read_json(JSON)]
    with pytest.raises(PolicySyntaxError, match="not-utf8"):
        read_policies(b"policy \xff")
