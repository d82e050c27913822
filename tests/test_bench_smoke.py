"""The benchmarks that replay requests through the server's own code stub parts of it (a canned
backend, a verifier that answers at once, timers put in place of its functions): a change to
what they stub must break here, not on the next run of the bench. A handful of requests each,
and no figure is checked: unit tests never time things."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _bench(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while they are made
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


@pytest.mark.parametrize("operation", ["Encrypt", "Decrypt"])
def test_server_stages_replays_every_stage_and_puts_the_timers_back(operation: str) -> None:
    stages = _bench("server_stages")
    from kmspolicy.kms.pipeline import Pipeline

    decide = Pipeline.decide
    measured = stages.measure(requests=3, rounds=1, operation=operation)
    # every stage's timer was reached on the path the server takes (a stage missed would be
    # counted as nothing in the cost model's table)
    assert measured.stages_seen == stages.STAGE_NAMES
    assert set(measured.floor) and len(measured.table) == 11
    assert Pipeline.decide is decide


def test_server_protocol_bench_answers_on_both_paths(capsys: pytest.CaptureFixture[str]) -> None:
    protocol = _bench("server_protocol")
    uvloop = pytest.importorskip("uvloop")
    # run() checks that every request fed was answered with one write, on either path
    uvloop.run(protocol.run(requests=5, rounds=2))
    out = capsys.readouterr().out
    assert "direct" in out and "ASGI cycle" in out
