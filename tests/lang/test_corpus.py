"""Data-driven: every real-world key policy in tests/corpus/policies parses, converts and
round-trips; hand-written DSL twins mean exactly what their JSON documents mean."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmspolicy.lang import format_dsl, load_policies, parse_dsl, read_json, write_json

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "policies"
JSON_FILES = sorted(CORPUS.glob("*.json"))
DSL_TWINS = sorted(CORPUS.glob("*.kmsp"))


def _is_identity_policy(path: Path) -> bool:
    return path.name.startswith("iam-")  # identity policies have no Principal


def test_corpus_has_at_least_fifteen_policies() -> None:
    assert len(JSON_FILES) >= 15


@pytest.mark.parametrize("path", JSON_FILES, ids=lambda p: p.stem)
def test_corpus_policy_parses_as_key_policy(path: Path) -> None:
    policy = read_json(path.read_bytes(), str(path), key_policy=not _is_identity_policy(path))
    assert policy.statements
    assert all(s.span is not None and s.span.source == str(path) for s in policy.statements)


@pytest.mark.parametrize("path", JSON_FILES, ids=lambda p: p.stem)
def test_corpus_json_round_trip_is_lossless(path: Path) -> None:
    policy = read_json(path.read_text())
    written = write_json(policy)
    assert read_json(written) == policy
    assert write_json(read_json(written)) == written  # canonical form is a fixed point


@pytest.mark.parametrize("path", JSON_FILES, ids=lambda p: p.stem)
def test_corpus_json_to_dsl_to_json_is_lossless(path: Path) -> None:
    policy = read_json(path.read_text())
    dsl = format_dsl([policy])
    assert parse_dsl(dsl) == [policy]
    assert format_dsl(parse_dsl(dsl)) == dsl
    assert write_json(parse_dsl(dsl)[0]) == write_json(policy)


@pytest.mark.parametrize("path", DSL_TWINS, ids=lambda p: p.stem)
def test_dsl_twin_means_the_same_as_its_json(path: Path) -> None:
    twin = path.with_suffix(".json")
    assert load_policies(path) == load_policies(twin)


@pytest.mark.parametrize("path", DSL_TWINS, ids=lambda p: p.stem)
def test_dsl_twin_keeps_comments_through_fmt(path: Path) -> None:
    text = path.read_text()
    formatted = format_dsl(parse_dsl(text))
    comments = [line.strip() for line in text.splitlines() if line.strip().startswith("#")]
    assert [
        line.strip() for line in formatted.splitlines() if line.strip().startswith("#")
    ] == comments
