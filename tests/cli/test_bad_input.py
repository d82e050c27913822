"""Bad input through the console entry point: a clear message and exit code 2, never a traceback.

Each test is a regression found by feeding the commands malformed files (QA pass): output files
that cannot be written, binary or deeply nested JSON inputs of ``simulate``, empty policy files,
impossible YAML dates in suites.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from kmspolicy.cli import main

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
KEY_POLICY = FIXTURES / "default-key-policy.kmsp"
SIMULATE = [
    "simulate",
    "--key-policy",
    str(KEY_POLICY),
    "--principal",
    "arn:aws:iam::111122223333:user/app",
    "--action",
    "kms:Decrypt",
]
UNFORMATTED = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*",'
    '"Action":"kms:Encrypt","Resource":"*"}]}'
)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out, err = capsys.readouterr()
    code = info.value.code
    assert "Traceback" not in out + err
    return (code if isinstance(code, int) else 0), out, err


def test_convert_to_an_unwritable_output_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "missing-dir" / "out.json"
    code, _, err = run(capsys, "convert", "--to", "json", "-o", str(target), str(KEY_POLICY))
    assert code == 2
    assert f"cannot write `{target}`: No such file or directory" in err


def test_convert_of_an_empty_file_says_it_holds_no_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.json"
    empty.write_text("")
    for face in ("json", "dsl"):
        code, out, err = run(capsys, "convert", "--to", face, str(empty))
        assert (code, out) == (2, "")
        assert "holds no policy" in err and "--policy" not in err


def test_convert_multi_policy_file_needs_policy_to_write_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    two = tmp_path / "two.kmsp"
    two.write_text(
        'policy "a" version 2012-10-17\n'
        "allow principal * action kms:Decrypt resource *\n"
        'policy "b" version 2012-10-17\n'
        "deny principal * action kms:Encrypt resource *\n"
    )
    code, _, err = run(capsys, "convert", "--to", "json", str(two))
    assert code == 2 and "holds 2 policies; choose one with --policy" in err
    code, out, _ = run(capsys, "convert", "--to", "json", "--policy", "b", str(two))
    assert code == 0 and '"Id": "b"' in out
    assert run(capsys, "convert", "--to", "json", "--policy", "3", str(two))[0] == 2


def test_fmt_on_a_file_it_cannot_write_exits_2_and_leaves_it_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    f = tmp_path / "p.json"
    f.write_text(UNFORMATTED)
    f.chmod(stat.S_IRUSR)
    # root may write anything: make the read-only check see what a normal user would
    monkeypatch.setattr(os, "access", lambda path, mode: not mode & os.W_OK)
    code, out, err = run(capsys, "fmt", str(f))
    assert code == 2 and out == ""
    assert f"cannot write `{f}`: the file is read-only" in err
    assert f.read_text() == UNFORMATTED


def test_fmt_failing_mid_write_keeps_the_original_and_no_temporary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    f = tmp_path / "p.json"
    f.write_text(UNFORMATTED)

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    code, _, err = run(capsys, "fmt", str(f))
    assert code == 2 and "No space left on device" in err
    assert f.read_text() == UNFORMATTED
    assert [p.name for p in tmp_path.iterdir()] == ["p.json"]


def test_fmt_through_a_symlink_rewrites_the_target_and_keeps_the_link(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "p.json"
    f.write_text(UNFORMATTED)
    link = tmp_path / "link.json"
    link.symlink_to(f)
    assert run(capsys, "fmt", str(link))[0] == 0
    assert link.is_symlink() and f.read_text().startswith('{\n  "Version"')


def test_test_report_to_an_unwritable_output_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "missing-dir" / "report.xml"
    suite = FIXTURES / "default-key-policy.kmstest.yaml"
    code, _, err = run(capsys, "test", "--format", "junit", "-o", str(target), str(suite))
    assert code == 2 and f"cannot write `{target}`" in err


@pytest.mark.parametrize("option", ["--grants", "--organization", "--context-file"])
def test_simulate_binary_json_input_exits_2(
    option: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "in.json"
    f.write_bytes(b"\xe5\x00\xff{}")
    code, _, err = run(capsys, *SIMULATE, option, str(f))
    assert code == 2 and f"{f}: byte 0xe5 at offset 0 is not valid UTF-8" in err


def test_simulate_deeply_nested_context_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "ctx.json"
    f.write_text("[" * 100_000 + "]" * 100_000)
    code, _, err = run(capsys, *SIMULATE, "--context-file", str(f))
    assert code == 2 and "nested too deeply" in err


def test_simulate_organization_naming_a_missing_policy_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    org = tmp_path / "org.json"
    org.write_text('{"scps": [["nope.json"]]}')
    code, _, err = run(capsys, *SIMULATE, "--organization", str(org))
    assert code == 2
    assert "scps[0][0]: cannot read policy file" in err and "nope.json" in err


def test_suite_with_an_impossible_date_is_a_positioned_load_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "key.kmsp").write_text(KEY_POLICY.read_text())
    suite = tmp_path / "s.kmstest.yaml"
    suite.write_text(
        "policies:\n  key: key.kmsp\ncases:\n  - name: x\n"
        "    principal: arn:aws:iam::111122223333:root\n    action: kms:Decrypt\n"
        "    resource: '*'\n    time: 2026-02-30T00:00:00Z\n    expect: allowed\n"
    )
    code, out, _ = run(capsys, "test", str(suite))
    assert code == 2
    assert f"{suite}:8:11: invalid value `2026-02-30T00:00:00Z`: day is out of range" in out


def test_suite_nested_too_deeply_is_a_load_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = tmp_path / "s.kmstest.yaml"
    suite.write_text("policies: " + "[" * 50_000 + "]" * 50_000 + "\n")
    code, out, _ = run(capsys, "test", str(suite))
    assert code == 2 and "nested too deeply" in out


def test_lint_empty_file_is_an_error_not_a_clean_bill(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "empty.json"
    f.write_text("  \n")
    code, out, _ = run(capsys, "lint", str(f))
    assert code == 1
    assert f"{f}:1:1: ERROR SYNTAX_ERROR: [empty] the file holds no policy" in out


def test_lint_reads_a_json_policy_with_a_byte_order_mark(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "bom.json"
    f.write_bytes(b"\xef\xbb\xbf" + (FIXTURES / "default-key-policy.json").read_bytes())
    code, out, _ = run(capsys, "lint", str(f))
    assert "SYNTAX_ERROR" not in out and code == 0


def test_simulate_warns_about_a_misspelt_kms_action(capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "simulate",
        "--key-policy",
        str(KEY_POLICY),
        "--principal",
        "arn:aws:iam::111122223333:root",
    ]
    code, _, err = run(capsys, *args, "--action", "kms:Decrpyt")
    assert code == 0  # still decided; the warning goes to stderr
    assert "warning: `kms:Decrpyt` is not a KMS action; did you mean `kms:Decrypt`?" in err
    for fine in ("kms:decrypt", "kms:Generate*"):
        assert run(capsys, *args, "--action", fine)[2] == ""


def test_simulate_empty_at_is_rejected(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, *SIMULATE, "--at", "")
    assert code == 2 and "--at ``: expected an ISO 8601 time" in err


def test_suite_that_is_not_utf8_names_the_line_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = tmp_path / "s.kmstest.yaml"
    suite.write_bytes(b"suite: x\npolicies:\n  key: caf\xe9\n")
    code, out, _ = run(capsys, "test", str(suite))
    assert code == 2
    assert f"{suite}:3:11: byte 0xe9 is not valid UTF-8 (suites must be UTF-8)" in out


@pytest.mark.parametrize("account", ["garbage", "12", "1111222233334", "１１１１２２２２３３３３"])
def test_lint_rejects_an_account_that_is_not_12_digits(
    account: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "lint", "--account", account, str(KEY_POLICY))
    assert code == 2 and f"`{account}` is not a 12-digit AWS account id" in err
    assert run(capsys, "lint", "--account", "111122223333", str(KEY_POLICY))[0] == 0
