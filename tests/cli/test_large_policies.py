"""Issue 12 item 11: ``lint`` and ``convert`` were quadratic on a large policy with many
duplicate Sids (each finding's source excerpt split the whole text again). The work is checked
by counting scans of the text, not by timing: one line index per file, however many findings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from kmspolicy.cli import cli
from kmspolicy.lang import diagnostics
from kmspolicy.lang.diagnostics import SourceLines, excerpt
from kmspolicy.lang.span import Span


def _policy(statements: int, *, indent: int | None) -> str:
    stmt = {"Sid": "Same", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}
    doc = {"Version": "2012-10-17", "Statement": [dict(stmt) for _ in range(statements)]}
    return json.dumps(doc, indent=indent)


@pytest.fixture
def scans(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times a text was scanned for its lines (one entry per scan: its length)."""
    seen: list[int] = []
    real = diagnostics.line_starts

    def counting(text: str) -> list[int]:
        seen.append(len(text))
        return real(text)

    monkeypatch.setattr(diagnostics, "line_starts", counting)
    return seen


@pytest.mark.parametrize("indent", [1, None], ids=["pretty", "minified"])
@pytest.mark.parametrize("command", [["lint"], ["convert", "--to", "dsl"]])
def test_many_duplicate_sids_scan_the_text_once(
    tmp_path: Path, scans: list[int], command: list[str], indent: int | None
) -> None:
    path = tmp_path / "big.json"
    statements = 600
    path.write_text(_policy(statements, indent=indent))
    result = CliRunner().invoke(cli, [*command, str(path)])
    assert result.exit_code != 0
    assert (
        result.output.count("duplicate Sid") == statements - 1
    )  # every duplicate is still reported
    # convert renders the error twice (str() and the CLI); lint once: never once per finding
    assert 1 <= len(scans) <= 2


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(alphabet="ab\t\r\n", max_size=40),
    line=st.integers(0, 8),
    column=st.integers(1, 12),
    width=st.integers(0, 5),
)
def test_excerpt_equals_the_line_split_reading(
    text: str, line: int, column: int, width: int
) -> None:
    """The indexed excerpt shows what splitting the whole text on "\\n" would show."""
    span = Span("f", line, column, line, column + width)
    lines = text.split("\n")
    got = excerpt(SourceLines(text), span)
    if not 1 <= line <= len(lines):
        assert got == []
        return
    shown = lines[line - 1].removesuffix("\r").replace("\t", " ")
    start = min(column - 1, len(shown))
    assert got[0] == f"{line} | {shown}"
    assert got[1].index("^") - len(f"{line} | ") == start
    assert got == excerpt(text, span)
