"""Data-driven lint corpus: each policy under tests/corpus/lint has a ``.expected`` file listing
the exact findings (severity, code, line:col) ``kmspolicy lint`` must report for it."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmspolicy.authz.lint import lint_text

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "lint"
POLICIES = sorted(p for p in CORPUS.iterdir() if p.suffix in (".json", ".kmsp"))


def _expected(path: Path) -> tuple[str, list[str]]:
    lines = path.with_suffix(".expected").read_text(encoding="utf-8").splitlines()
    header = [line for line in lines if line.startswith("#")]
    policy_type = header[0].split(":", 1)[1].strip()
    return policy_type, [line for line in lines if line and not line.startswith("#")]


def test_corpus_has_good_and_bad_policies() -> None:
    findings = [_expected(p)[1] for p in POLICIES]
    assert sum(1 for f in findings if not f) >= 4
    assert sum(1 for f in findings if f) >= 25


@pytest.mark.parametrize("path", POLICIES, ids=lambda p: p.stem)
def test_corpus_findings(path: Path) -> None:
    policy_type, expected = _expected(path)
    text = path.read_bytes()
    found = lint_text(text, path.name, policy_type)
    got = [f"{f.severity.value} {f.code} {f.span.line}:{f.span.column}" for f in found if f.span]
    assert sorted(got) == sorted(expected)


def test_every_corpus_finding_code_is_documented() -> None:
    from kmspolicy.authz.lint import CODES

    for path in POLICIES:
        for line in _expected(path)[1]:
            assert line.split()[1] in CODES, f"{path.name}: {line}"
