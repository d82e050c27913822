"""``python -m fuzz``: run the campaign, or replay inputs.

    python -m fuzz run [--engine atheris|hypothesis] [--runs N] [--target NAME ...]
    python -m fuzz replay TARGET FILE...

``run`` spreads ``--runs`` (default 1,000,000) over the targets by their weights (slow parsers
get fewer inputs), runs them one after the other in one process at a time, prints a summary
and writes it as JSON to ``<workdir>/summary.json``. Exit status 1 when anything crashed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

from fuzz.engines import Outcome, run_atheris, run_hypothesis
from fuzz.targets import TARGETS

# Share of the inputs per target: the policy parsers cost ~10-30x more per input than the codec,
# the verifier and the blob parser, so they get fewer inputs for a similar time.
WEIGHTS = {
    "wire": 26,
    "sigv4": 20,
    "blob": 16,
    "audit": 14,
    "awsjson": 10,
    "der": 8,
    "dsl": 6,
}


def _split(total: int, names: list[str]) -> dict[str, int]:
    weight = sum(WEIGHTS[n] for n in names)
    shares = {n: total * WEIGHTS[n] // weight for n in names}
    shares[names[0]] += total - sum(shares.values())
    return shares


def _run(args: argparse.Namespace) -> int:
    names = args.target or list(WEIGHTS)
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        print(f"unknown target(s): {', '.join(unknown)}; known: {', '.join(TARGETS)}")
        return 2
    engine = args.engine
    if engine == "atheris" and importlib.util.find_spec("atheris") is None:
        print("atheris is not installed (pip install -e '.[fuzz]'); using hypothesis")
        engine = "hypothesis"
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    outcomes: list[Outcome] = []
    started = time.monotonic()
    for name, runs in _split(args.runs, names).items():
        target = TARGETS[name]
        if engine == "atheris":
            outcome = run_atheris(target, runs, workdir, seed=args.seed)
        else:
            outcome = run_hypothesis(target, runs, seed=args.seed, corpus=workdir / name / "corpus")
        outcomes.append(outcome)
        rate = outcome.runs / outcome.seconds if outcome.seconds else 0.0
        print(
            f"{name:8} {engine:10} {outcome.runs:>9,} inputs {outcome.seconds:8.1f} s "
            f"{rate:8.0f}/s  crashes: {len(outcome.crashes)}",
            flush=True,
        )
    total = sum(o.runs for o in outcomes)
    crashes = sum(len(o.crashes) for o in outcomes)
    elapsed = time.monotonic() - started
    print(f"total    {engine:10} {total:>9,} inputs {elapsed:8.1f} s  crashes: {crashes}")
    summary = {
        "engine": engine,
        "inputs": total,
        "crashes": crashes,
        "seconds": round(elapsed, 1),
        "targets": [
            {
                "target": o.target,
                "inputs": o.runs,
                "seconds": round(o.seconds, 1),
                "crashes": o.crashes,
            }
            for o in outcomes
        ],
    }
    (workdir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return 1 if crashes else 0


def _replay(args: argparse.Namespace) -> int:
    target = TARGETS[args.target]
    status = 0
    for path in args.files:
        try:
            target(Path(path).read_bytes())
        except Exception as exc:  # the crash being replayed: shown, not hidden
            print(f"{path}: CRASH {type(exc).__name__}: {exc}"[:2000])
            status = 1
        else:
            print(f"{path}: ok")
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the campaign")
    run.add_argument("--engine", choices=["atheris", "hypothesis"], default="atheris")
    run.add_argument("--runs", type=int, default=1_000_000, help="inputs over all targets")
    run.add_argument("--target", action="append", help="only this target (repeatable)")
    run.add_argument("--seed", type=int, default=1)
    run.add_argument("--workdir", default=".fuzz", help="corpora, crash artifacts, summary")
    run.set_defaults(func=_run)
    replay = commands.add_parser("replay", help="run saved inputs through a target")
    replay.add_argument("target", choices=sorted(TARGETS))
    replay.add_argument("files", nargs="+")
    replay.set_defaults(func=_replay)
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
