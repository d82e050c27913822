"""CI-native policy tooling (issue 15 §2), through the command line as a user runs it: GitHub
annotations, SARIF help and end positions, ``--explain``, standard input, directories with
``.kmspolicyignore``/``--exclude``, ``fmt --diff``, ``test -k``, colour, the simulate matrix and
its ``aws-json`` shape, shell completion and ``kmspolicy docs``."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pytest
from click.testing import CliRunner

from kmspolicy.authz.lint import CODES
from kmspolicy.cli import cli, main
from kmspolicy.cli._docs import lint_rule_docs
from kmspolicy.errors import ConfigError
from kmspolicy.testing.select import keyword_matcher

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
CORPUS = ROOT / "tests" / "corpus" / "lint"
PUBLIC = CORPUS / "key-public-kms-all.json"
UNFORMATTED = (
    '{"Version":"2012-10-17","Statement":[{"Sid":"Root","Effect":"Allow",'
    '"Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}'
)
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class Ran:
    exit_code: int
    output: str  # stdout and stderr, interleaved


def run(*args: str, input: str | bytes | None = None, env: dict[str, str] | None = None) -> Ran:
    """The console entry point (``kmspolicy.cli.main``: its error handling included)."""
    with CliRunner().isolation(input=input, env=env) as (_, _, both):
        try:
            main(list(args))
            code: object = 0
        except SystemExit as exc:
            code = exc.code or 0
        sys.stdout.flush()
        sys.stderr.flush()
        output = both.getvalue().decode()
    assert isinstance(code, int) and "Traceback" not in output, output
    return Ran(code, output)


# --- lint: github annotations, json and SARIF positions, --explain ---------------------------


def test_lint_github_format_annotates_the_finding_span() -> None:
    result = run("lint", "--format", "github", str(PUBLIC))
    assert result.exit_code == 1
    [line] = [ln for ln in result.output.splitlines() if "PUBLIC_ACCESS" in ln]
    assert line.startswith(f"::error file={PUBLIC},line=13,col=5,endLine=")
    assert ",title=SECURITY_WARNING PUBLIC_ACCESS::" in line
    # the message's own line breaks are escaped: one annotation is one line
    assert "%0Asee: kmspolicy lint --explain PUBLIC_ACCESS" in line


def test_lint_json_gives_end_positions_after_the_start() -> None:
    result = run("lint", "--format", "json", str(PUBLIC))
    [finding] = [f for f in json.loads(result.output) if f["code"] == "PUBLIC_ACCESS"]
    assert (finding["end_line"], finding["end_column"]) > (finding["line"], finding["column"])


def test_sarif_rules_embed_their_docs_with_absolute_help_uris() -> None:
    result = run("lint", "--format", "sarif", str(PUBLIC))
    [sarif_run] = json.loads(result.output)["runs"]
    rules = {r["id"]: r for r in sarif_run["tool"]["driver"]["rules"]}
    assert set(rules) == set(CODES)
    for code, rule in rules.items():
        uri = urlparse(rule["helpUri"])
        assert uri.scheme == "file" and uri.fragment == code.lower().replace("_", "-")
        assert Path(uri.path).name == "lint.md" and Path(uri.path).is_file()
        assert rule["help"]["markdown"].startswith(f"### {code}\n")
        assert rule["help"]["text"] == lint_rule_docs()[code]
    for res in sarif_run["results"]:
        region = res["locations"][0]["physicalLocation"]["region"]
        assert (region["endLine"], region["endColumn"]) > (
            region["startLine"],
            region["startColumn"],
        )


def test_sarif_help_uri_follows_docs_url() -> None:
    base = "https://docs.example.org/kmspolicy/lint.html"
    result = run("lint", "--format", "sarif", "--docs-url", base, str(PUBLIC))
    rules = json.loads(result.output)["runs"][0]["tool"]["driver"]["rules"]
    assert {r["helpUri"].partition("#")[0] for r in rules} == {base}


def test_explain_prints_the_codes_documentation_and_suggests_on_typos() -> None:
    result = run("lint", "--explain", "public-access")
    assert result.exit_code == 0
    assert result.output.startswith("### PUBLIC_ACCESS\n")
    assert "kms:CallerAccount" in result.output
    wrong = run("lint", "--explain", "PUBLIC_ACESS")
    assert wrong.exit_code == 2
    assert "did you mean `PUBLIC_ACCESS`" in wrong.output


def test_every_code_has_documentation_to_explain() -> None:
    docs = lint_rule_docs()
    assert set(docs) == set(CODES)
    assert all(text.startswith(f"### {code}\n") and len(text) > 40 for code, text in docs.items())


# --- standard input --------------------------------------------------------------------------


def test_fmt_reads_stdin_and_writes_stdout() -> None:
    result = run("fmt", "-", input=UNFORMATTED)
    assert result.exit_code == 0
    assert json.loads(result.output) == json.loads(UNFORMATTED)
    assert result.output.startswith('{\n  "Version": "2012-10-17",\n')
    assert run("fmt", "--check", "-", input=UNFORMATTED).exit_code == 1
    assert run("fmt", "--check", "-", input=result.output).exit_code == 0


def test_convert_reads_stdin() -> None:
    result = run("convert", "--to", "dsl", "-", input=UNFORMATTED)
    assert result.exit_code == 0
    assert 'allow "Root"' in result.output


def test_lint_reads_stdin_under_the_given_name() -> None:
    result = run("lint", "--stdin-filename", "keys/app.json", "-", input=PUBLIC.read_bytes())
    assert result.exit_code == 1
    assert "keys/app.json:13:5: SECURITY_WARNING PUBLIC_ACCESS" in result.output


def test_bad_stdin_is_a_diagnostic_not_a_traceback() -> None:
    result = run("fmt", "-", input='{"Version": ')
    assert result.exit_code == 2
    assert "<stdin>:1:" in result.output and "Traceback" not in result.output


# --- directories, .kmspolicyignore, --exclude, fmt --diff -------------------------------------


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """policies/{a.json (unformatted), b.kmsp, nested/c.json (unformatted), vendor/d.json}."""
    root = tmp_path / "policies"
    (root / "nested").mkdir(parents=True)
    (root / "vendor").mkdir()
    (root / "a.json").write_text(UNFORMATTED)
    shutil.copy(FIXTURES / "default-key-policy.kmsp", root / "b.kmsp")
    (root / "nested" / "c.json").write_text(UNFORMATTED)
    (root / "vendor" / "d.json").write_text("not a policy")
    (root / "notes.txt").write_text("ignored: not a policy suffix")
    monkeypatch.chdir(tmp_path)
    return root


def test_fmt_walks_directories_honouring_kmspolicyignore(tree: Path) -> None:
    (tree / ".kmspolicyignore").write_text("# third-party\nvendor/\n")
    result = run("fmt", "--check", str(tree))
    assert result.exit_code == 1
    assert sorted(result.output.splitlines()) == [
        f"would reformat {tree / 'a.json'}",
        f"would reformat {tree / 'nested' / 'c.json'}",
    ]
    assert run("fmt", str(tree)).exit_code == 0
    assert run("fmt", "--check", str(tree)).exit_code == 0
    assert (tree / "vendor" / "d.json").read_text() == "not a policy"


def test_exclude_leaves_out_paths_and_without_it_a_bad_file_fails(tree: Path) -> None:
    assert run("fmt", "--check", str(tree)).exit_code == 2  # vendor/d.json is not a policy
    result = run("fmt", "--check", "--exclude", "vendor", "--exclude", "nested/*", str(tree))
    assert result.output == f"would reformat {tree / 'a.json'}\n"


def test_an_ignore_file_in_the_working_directory_applies(tree: Path) -> None:
    Path(".kmspolicyignore").write_text("d.json\n")
    result = run("lint", "--format", "json", str(tree))
    files = {f["file"] for f in json.loads(result.output)}
    assert not any(f.endswith("d.json") for f in files)
    assert result.exit_code == 0


def test_lint_walks_directories(tree: Path) -> None:
    result = run("lint", "--exclude", "vendor", str(tree))
    assert result.output.rstrip().endswith("3 file(s): no findings")


def test_fmt_diff_prints_a_unified_diff_and_changes_nothing(tree: Path) -> None:
    result = run("fmt", "--diff", str(tree / "a.json"))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0] == f"--- a/{tree / 'a.json'}" and lines[1] == f"+++ b/{tree / 'a.json'}"
    assert f"-{UNFORMATTED}" in lines and '+  "Version": "2012-10-17",' in lines
    assert (tree / "a.json").read_text() == UNFORMATTED
    assert run("fmt", "--diff", str(tree / "b.kmsp")).output == ""


# --- kmspolicy test: -k, --exclude, github ----------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "text", "expected"),
    [
        ("admin", "duties::Admin × kms:Decrypt", True),
        ("admin and not decrypt", "duties::admin × kms:Decrypt", False),
        ("app or admin", "duties::app × kms:Encrypt", True),
        ("not (app or admin)", "duties::app × kms:Encrypt", False),
        ("(app or admin) and encrypt", "duties::admin × kms:Encrypt", True),
        ("not not app", "x::app", True),
    ],
)
def test_keyword_expressions(expression: str, text: str, expected: bool) -> None:
    assert keyword_matcher(expression)(text) is expected


@pytest.mark.parametrize("expression", ["", "a and", "(a", "a )", "and a", "a b"])
def test_malformed_keyword_expressions_are_config_errors(expression: str) -> None:
    with pytest.raises(ConfigError, match="-k"):
        keyword_matcher(expression)


def _cases(output: str) -> list[str]:
    return [
        line.strip().removeprefix("pass").strip() for line in output.splitlines() if "pass " in line
    ]


def test_test_k_selects_cases_and_exclude_drops_suites() -> None:
    everything = run("test", str(FIXTURES), "-v")
    some = run("test", str(FIXTURES), "-v", "-k", "duties and not admin")
    assert everything.exit_code == some.exit_code == 0
    chosen = _cases(some.output)
    assert chosen and set(chosen) < set(_cases(everything.output))
    assert all("admin" not in c.lower() for c in chosen)
    excluded = run("test", str(FIXTURES), "--exclude", "separation-*", "--exclude", "abac*")
    assert "separation-of-duties" not in excluded.output and "abac-tags" not in excluded.output
    assert "default-key-policy.kmstest.yaml" in excluded.output


def test_test_github_format_annotates_the_failing_case(tmp_path: Path) -> None:
    for name in ("default-key-policy.kmsp", "administrator-access.kmsp"):
        shutil.copy(FIXTURES / name, tmp_path)
    suite = (FIXTURES / "default-key-policy.kmstest.yaml").read_text()
    lines = suite.splitlines()
    index = next(i for i, line in enumerate(lines) if "expect: allowed" in line)
    lines[index] = lines[index].replace("allowed", "explicitDeny")
    (tmp_path / "s.kmstest.yaml").write_text("\n".join(lines) + "\n")
    result = run("test", "--format", "github", str(tmp_path))
    assert result.exit_code == 1
    annotations = [ln for ln in result.output.splitlines() if ln.startswith("::error")]
    case_line = max(i + 1 for i in range(index) if lines[i].lstrip().startswith("- "))
    failed = len(annotations)  # the case may expand to several actions: one per failure
    assert failed >= 1
    for annotation in annotations:
        assert annotation.startswith(
            f"::error file={tmp_path / 's.kmstest.yaml'},line={case_line},"
        )
        assert "::expected explicitDeny, got allowed%0A" in annotation
    from kmspolicy.testing.suite import load_suite

    loaded = load_suite(tmp_path / "s.kmstest.yaml")
    total = len(loaded.cases) + len(loaded.checks)  # the suite's cases and its checks
    assert result.output.splitlines()[-1].startswith(
        f"{total} cases: {total - failed} passed, {failed} failed"
    )


# --- colour --------------------------------------------------------------------------------------


def test_colour_follows_the_flag_and_no_color() -> None:
    path = str(PUBLIC)
    always = run("lint", "--color", "always", path)
    assert ANSI.search(always.output)
    assert ANSI.sub("", always.output) == run("lint", "--color", "never", path).output
    # auto: CliRunner's output is not a terminal, and NO_COLOR wins over nothing else
    assert not ANSI.search(run("lint", path).output)
    assert not ANSI.search(run("test", str(FIXTURES), env={"NO_COLOR": "1"}).output)
    assert ANSI.search(run("test", str(FIXTURES), "--color", "always").output)


def test_use_color_auto_respects_no_color_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    from kmspolicy.cli._color import use_color

    class Tty:
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert use_color("auto", Tty()) is True
    monkeypatch.setenv("NO_COLOR", "1")
    assert use_color("auto", Tty()) is False
    assert use_color("always", Tty()) is True


# --- simulate: matrix, aws-json, whole ARNs ---------------------------------------------------

DUTIES = str(FIXTURES / "separation-of-duties.kmsp")
ADMIN = "arn:aws:iam::111122223333:role/KeyAdmin"
APP = "arn:aws:iam::111122223333:role/App"
LONG = (
    "arn:aws:iam::111122223333:role/" + "a-very-long-role-name-that-a-narrow-table-would-fold" * 2
)


def test_several_principals_make_a_matrix() -> None:
    args = ["simulate", "--key-policy", DUTIES, "--format", "json"]
    args += ["--principal", ADMIN, "--principal", APP]
    args += ["--action", "kms:Decrypt", "--action", "kms:PutKeyPolicy"]
    result = run(*args)
    pairs = [
        (r["principal"], r["action"], r["decision"]) for r in json.loads(result.output)["results"]
    ]
    assert pairs == [
        (ADMIN, "kms:Decrypt", "explicitDeny"),
        (ADMIN, "kms:PutKeyPolicy", "allowed"),
        (APP, "kms:Decrypt", "implicitDeny"),
        (APP, "kms:PutKeyPolicy", "implicitDeny"),
    ]


def test_aws_json_is_shaped_like_simulate_custom_policy() -> None:
    args = ["simulate", "--key-policy", DUTIES, "--principal", ADMIN, "--format", "aws-json"]
    result = run(*args, "--action", "kms:Decrypt", "--action", "kms:CreateGrant")
    document = json.loads(result.output)
    assert set(document) == {"EvaluationResults", "IsTruncated"}
    deny, _ = document["EvaluationResults"]
    assert deny["EvalActionName"] == "kms:Decrypt" and deny["EvalDecision"] == "explicitDeny"
    assert deny["EvalResourceName"].startswith("arn:aws:kms:us-east-1:111122223333:key/")
    [statement] = deny["MatchedStatements"]
    assert statement["SourcePolicyId"] == DUTIES and statement["SourcePolicyType"] == "resource"
    assert set(statement["StartPosition"]) == {"Line", "Column"}
    assert deny["MissingContextValues"] == []
    assert deny["ResourceSpecificResults"][0]["EvalResourceDecision"] == "explicitDeny"
    matrix = json.loads(run(*args, "--principal", APP, "--action", "kms:Decrypt").output)
    assert [d["CallerArn"] for d in matrix] == [ADMIN, APP]
    assert matrix[1]["EvaluationResults"][0]["MatchedStatements"] == []  # implicit deny


def test_a_piped_table_never_cuts_an_arn() -> None:
    result = run(
        "simulate",
        "--key-policy",
        DUTIES,
        "--principal",
        LONG,
        "--principal",
        APP,
        "--action",
        "kms:Decrypt",
    )
    table_rows = [ln for ln in result.output.splitlines() if ln.startswith("│")]
    assert any(LONG in row for row in table_rows)
    assert not ANSI.search(result.output)


# --- completion, docs -------------------------------------------------------------------------


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts(shell: str) -> None:
    result = run("completion", shell)
    assert result.exit_code == 0 and "_KMSPOLICY_COMPLETE" in result.output


def test_completion_completes_commands_and_choices() -> None:
    env = {
        "_KMSPOLICY_COMPLETE": "bash_complete",
        "COMP_WORDS": "kmspolicy lint --format ",
        "COMP_CWORD": "3",
    }
    result = CliRunner().invoke(cli, [], env=env, prog_name="kmspolicy")
    assert "plain,github" in result.output.splitlines()


def test_docs_command_lists_and_prints_pages() -> None:
    listing = run("docs").output.split()
    assert "lint" in listing and "suites" in listing
    assert run("docs", "suites").output == (ROOT / "docs" / "suites.md").read_text()
    missing = run("docs", "nope")
    assert missing.exit_code == 2 and "pages:" in missing.output
    assert Path(run("docs", "--path").output.strip()).is_dir()
    assert os.path.samefile(run("docs", "--path").output.strip(), ROOT / "docs")


def test_the_docs_index_lists_every_page() -> None:
    index = (ROOT / "docs" / "index.md").read_text()
    linked = set(re.findall(r"\]\(([a-z-]+\.md)\)", index))
    assert linked == {p.name for p in (ROOT / "docs").glob("*.md")} - {"index.md"}
    assert run("docs").output.split()[0] == "index"


def test_lint_takes_each_files_kind_from_the_suites_beside_it(tmp_path: Path) -> None:
    """An identity policy in a directory is not judged by the key-policy rules when a suite
    names it under `identity` (its DSL twin follows); a file no suite names stays a key policy,
    and --policy-type still decides for every file."""
    for name in ("default-key-policy.kmsp", "administrator-access.json"):
        shutil.copy(FIXTURES / name, tmp_path)
    shutil.copy(FIXTURES / "administrator-access.json", tmp_path / "unnamed.json")
    (tmp_path / "administrator-access.kmsp").write_text(
        (FIXTURES / "administrator-access.kmsp").read_text()
    )
    (tmp_path / "key.kmstest.yaml").write_text(
        "suite: s\npolicies:\n  key: default-key-policy.kmsp\n"
        "  identity: {admin: administrator-access.json}\n"
        "principals: {admin: arn:aws:iam::111122223333:role/Admin}\n"
        "cases:\n  - {name: c, principal: admin, action: kms:Decrypt, expect: allowed}\n"
    )
    walked = run("lint", "--format", "json", str(tmp_path))
    flagged = {Path(f["file"]).name for f in json.loads(walked.output) if f["code"]}
    assert flagged == {"unnamed.json"}  # MISSING_PRINCIPAL: a key policy needs principals
    one = run("lint", str(tmp_path / "administrator-access.kmsp"))  # as pre-commit passes it
    assert one.exit_code == 0 and "no findings" in one.output
    forced = run("lint", "--policy-type", "key", str(tmp_path / "administrator-access.json"))
    assert forced.exit_code == 1 and "MISSING_PRINCIPAL" in forced.output
