"""``kmspolicy fmt`` and ``kmspolicy convert`` through the console entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kmspolicy.cli import main
from kmspolicy.lang import parse_dsl, read_json

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "policies"
FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "default-key-policy.kmsp"
MESSY = 'policy "k" version 2012-10-17\n# users\nallow principal * action kms:Decrypt resource *\n'
BAD = "policy\nallow acton *\n"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out, err = capsys.readouterr()
    code = info.value.code
    return (code if isinstance(code, int) else 0), out, err


def test_fmt_check_passes_on_the_default_key_policy_fixture(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(capsys, "fmt", "--check", str(FIXTURE)) == (0, "", "")


def test_fmt_check_exits_1_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "p.kmsp"
    f.write_text(MESSY)
    code, out, _ = run(capsys, "fmt", "--check", str(f))
    assert code == 1 and f"would reformat {f}" in out
    assert f.read_text() == MESSY


def test_fmt_rewrites_in_place_keeping_comments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "p.kmsp"
    f.write_text(MESSY)
    code, out, _ = run(capsys, "fmt", str(f))
    assert code == 0 and "reformatted" in out
    assert f.read_text() == (
        'policy "k" version 2012-10-17\n\n# users\nallow\n  principal *\n'
        "  action kms:Decrypt\n  resource *\n"
    )
    assert run(capsys, "fmt", "--check", str(f))[0] == 0


def test_fmt_canonicalises_json_documents(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "p.json"
    f.write_text('{"Statement": {"Action": "kms:*", "Effect": "Allow"}}')
    assert run(capsys, "fmt", str(f))[0] == 0
    assert f.read_text() == (
        '{\n  "Statement": [\n    {\n      "Effect": "Allow",\n'
        '      "Action": "kms:*"\n    }\n  ]\n}\n'
    )


def test_fmt_bad_input_exits_2_with_rendered_diagnostics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "bad.kmsp"
    f.write_text(BAD)
    code, _, err = run(capsys, "fmt", "--check", str(f))
    assert code == 2
    assert f"{f}:2:7: error[syntax]: unexpected `acton`" in err
    assert "2 | allow acton *" in err and "help: did you mean `action`?" in err
    assert "Traceback" not in err
    assert f.read_text() == BAD


def test_fmt_missing_file_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "fmt", "/nonexistent/p.kmsp")
    assert code == 2 and "does not exist" in err


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.json")), ids=lambda p: p.stem)
def test_convert_corpus_json_to_dsl_and_back(
    path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, dsl, _ = run(capsys, "convert", "--to", "dsl", str(path))
    assert code == 0
    assert parse_dsl(dsl) == [read_json(path.read_text())]
    (tmp_path / "p.kmsp").write_text(dsl)
    code, back, _ = run(capsys, "convert", "--to", "json", str(tmp_path / "p.kmsp"))
    assert code == 0 and read_json(back) == read_json(path.read_text())


def test_convert_to_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.json"
    assert run(capsys, "convert", "--to", "json", "-o", str(out), str(FIXTURE))[0] == 0
    assert json.loads(out.read_text())["Id"] == "key-default-1"


def test_convert_multi_policy_file_needs_a_choice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "two.kmsp"
    f.write_text('policy "a"\nallow action *\npolicy "b"\ndeny action *\n')
    code, _, err = run(capsys, "convert", "--to", "json", str(f))
    assert code == 2 and "holds 2 policies" in err
    code, out, _ = run(capsys, "convert", "--to", "json", "--policy", "b", str(f))
    assert code == 0 and json.loads(out)["Statement"][0]["Effect"] == "Deny"
    code, out, _ = run(capsys, "convert", "--to", "json", "--policy", "1", str(f))
    assert code == 0 and json.loads(out)["Id"] == "a"
    assert run(capsys, "convert", "--to", "dsl", str(f))[1].count("policy ") == 2


def test_convert_bad_json_exits_2_with_path_and_position(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "bad.json"
    f.write_text('{\n  "Statement": [{"Effect": "Allow", "Action": "kms:*", "NotAction": "x"}]\n}')
    code, out, err = run(capsys, "convert", "--to", "dsl", str(f))
    assert code == 2 and out == ""
    assert f"{f}:2:56: error[action-and-notaction]" in err
    assert "(at Statement[0].NotAction)" in err and "Traceback" not in err


def test_convert_non_utf8_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "bad.kmsp"
    f.write_bytes(b"policy \xff\n")
    code, _, err = run(capsys, "convert", "--to", "json", str(f))
    assert code == 2 and "not-utf8" in err
