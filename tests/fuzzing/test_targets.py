"""The fuzz campaign's CI slice: every target on its seeds and its regression corpus, then a
short fixed-seed hypothesis run per target (the million-input campaign is ``python -m fuzz``,
docs/fuzzing.md). A crash here is a bug in kmspolicy: a parser or verifier raised something
other than its typed error."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from fuzz.__main__ import main as fuzz_main
from fuzz.engines import run_atheris, run_hypothesis
from fuzz.targets import TARGETS, Target

CORPUS = Path(__file__).parent / "corpus"  # inputs that once crashed a target, by target
NAMES = sorted(TARGETS)


@pytest.mark.parametrize("name", NAMES)
def test_every_seed_runs_cleanly(name: str) -> None:
    target = TARGETS[name]
    seeds = target.seeds()
    assert seeds, "a target without seeds starts from nothing"
    for data in seeds:
        target(data)


def _regressions() -> list[tuple[str, Path]]:
    return [
        (d.name, f) for d in sorted(CORPUS.iterdir()) if d.is_dir() for f in sorted(d.iterdir())
    ]


@pytest.mark.parametrize(("name", "path"), _regressions(), ids=lambda v: getattr(v, "name", v))
def test_inputs_that_once_crashed_are_typed_errors_now(name: str, path: Path) -> None:
    TARGETS[name](path.read_bytes())


@pytest.mark.parametrize("name", NAMES)
def test_a_fixed_seed_slice_finds_no_crash(name: str) -> None:
    outcome = run_hypothesis(TARGETS[name], 120, seed=20261206, corpus=CORPUS / name)
    assert outcome.crashes == []
    assert outcome.runs >= 120


def test_the_harness_reports_a_crash_it_is_given() -> None:
    # the slice above can fail: an input raising anything but the typed error is a crash
    def fragile(data: bytes) -> None:
        if b"\x00" in data:
            raise KeyError("a bug")
        raise ValueError("the typed refusal")

    target = Target("fragile", fragile, (ValueError,), lambda: [b"seed"])
    outcome = run_hypothesis(target, 200, seed=1, log=lambda _: None)
    assert outcome.crashes and "KeyError" in outcome.crashes[0]


def test_the_campaign_command_writes_its_summary(tmp_path: Path) -> None:
    status = fuzz_main(
        [
            "run",
            "--engine",
            "hypothesis",
            "--runs",
            "60",
            "--target",
            "blob",
            "--workdir",
            str(tmp_path),
        ]
    )
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert status == 0 and summary["crashes"] == 0 and summary["inputs"] >= 60


@pytest.mark.skipif(importlib.util.find_spec("atheris") is None, reason="atheris not installed")
def test_atheris_runs_a_target_with_coverage(tmp_path: Path) -> None:
    outcome = run_atheris(TARGETS["wire"], 400, tmp_path, log=lambda _: None)
    assert outcome.crashes == [] and outcome.runs >= 400
    assert any((tmp_path / "wire" / "corpus").iterdir())


def test_replay_names_a_crashing_input(tmp_path: Path) -> None:
    ok = tmp_path / "ok.bin"
    ok.write_bytes(b'\x00{"KeyId": "k"}')
    result = subprocess.run(
        [sys.executable, "-m", "fuzz", "replay", "wire", str(ok)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0 and f"{ok}: ok" in result.stdout
