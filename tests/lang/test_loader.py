"""load_policies detects the face by content; large reads leave the interpreter as they found it."""

from __future__ import annotations

import gc
from pathlib import Path

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


def test_read_policies_reads_either_face_from_text_or_bytes() -> None:
    assert read_policies(JSON) == read_policies(DSL.encode()) == parse_dsl(DSL)
    assert read_policies("\ufeff" + JSON, "p.json") == [read_json(JSON)]
    with pytest.raises(PolicySyntaxError, match="not-utf8"):
        read_policies(b"policy \xff")
