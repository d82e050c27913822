"""The engines that feed the targets: atheris (libFuzzer, coverage-guided, one target per child
process) and hypothesis (generation and seed mutation; no extra dependency, deterministic with
a seed). Each returns how many inputs it ran and the crashes it found."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fuzz.targets import Target, seeds

__all__ = ["Outcome", "run_atheris", "run_hypothesis", "write_seed_corpus"]


@dataclass
class Outcome:
    target: str
    engine: str
    runs: int = 0
    seconds: float = 0.0
    crashes: list[str] = field(default_factory=list)  # artifact paths or reprs of inputs


def write_seed_corpus(target: Target, corpus: Path) -> int:
    """Write the target's built-in seeds into ``corpus`` (named by content, so rerunning adds
    nothing twice); return the number of files there."""
    import hashlib

    corpus.mkdir(parents=True, exist_ok=True)
    for data in target.seeds():
        name = hashlib.sha1(data).hexdigest()
        path = corpus / f"seed-{name}"
        if not path.exists():
            path.write_bytes(data)
    return sum(1 for _ in corpus.iterdir())


# libFuzzer's progress lines start with "#<runs>"; its final line is "Done <runs> runs in ..."
_PROGRESS = re.compile(rb"^#(\d+)\s", re.MULTILINE)
_DONE = re.compile(rb"^Done (\d+) runs in", re.MULTILINE)
_ARTIFACT = re.compile(rb"Test unit written to (\S+)")


def run_atheris(
    target: Target,
    runs: int,
    workdir: Path,
    *,
    seed: int = 1,
    max_len: int = 8192,
    log: Callable[[str], None] = print,
) -> Outcome:
    """``runs`` inputs through ``target`` under atheris, in one child process at a time; after a
    crash (its input saved as an artifact) the child is restarted for the remaining runs."""
    corpus = workdir / target.name / "corpus"
    artifacts = workdir / target.name / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    write_seed_corpus(target, corpus)
    dictionary = workdir / target.name / "tokens.dict"
    dictionary.write_text("".join(f'"{_dict_escape(t)}"\n' for t in target.tokens))
    outcome = Outcome(target.name, "atheris")
    started = time.monotonic()
    attempt = 0
    while outcome.runs < runs and attempt < 50:
        attempt += 1
        command = [
            sys.executable,
            "-m",
            "fuzz.atheris_worker",
            target.name,
            f"-runs={runs - outcome.runs}",
            f"-seed={seed + attempt}",
            f"-max_len={max_len}",
            f"-artifact_prefix={artifacts}/",
            "-print_final_stats=1",
            f"-dict={dictionary}",
            "-rss_limit_mb=4096",
            "-timeout=60",
            str(corpus),
        ]
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        result = subprocess.run(command, capture_output=True, env=env, check=False)
        output = result.stdout + result.stderr
        done = _DONE.findall(output)
        progress = _PROGRESS.findall(output)
        ran = int(done[-1]) if done else int(progress[-1]) if progress else 0
        outcome.runs += ran
        found = [a.decode() for a in _ARTIFACT.findall(output)]
        if result.returncode != 0 or found:
            outcome.crashes += found or [f"exit status {result.returncode}"]
            tail = output.decode("utf-8", "replace")[-3000:]
            log(f"[{target.name}] crash after {outcome.runs} runs: {found}\n{tail}")
            if ran == 0:
                break  # the target crashes at once (a seed): nothing more to learn
    outcome.seconds = time.monotonic() - started
    return outcome


def _dict_escape(token: bytes) -> str:
    """A libFuzzer dictionary entry: printable ASCII as is, anything else as ``\\xNN``."""
    return "".join(
        chr(b) if 32 <= b < 127 and b not in (0x22, 0x5C) else f"\\x{b:02x}" for b in token
    )


def run_hypothesis(
    target: Target,
    runs: int,
    *,
    seed: int = 1,
    corpus: Path | None = None,
    log: Callable[[str], None] = print,
) -> Outcome:
    """``runs`` inputs from hypothesis: arbitrary bytes, the seeds, and seeds with bytes
    replaced, inserted and deleted. The first crash is shrunk and reported."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st

    pool = list(seeds(target, corpus)) or [b""]
    pieces = st.binary(max_size=16)
    if target.tokens:
        pieces = pieces | st.sampled_from(target.tokens)
    edits = st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 64), pieces), max_size=6)

    def splice(base: bytes, changes: list[tuple[int, int, bytes]]) -> bytes:
        data = bytearray(base)
        for at, cut, insert in changes:
            at %= len(data) + 1
            data[at : at + cut] = insert
        return bytes(data)

    inputs = st.one_of(
        st.binary(max_size=512),
        st.sampled_from(pool),
        st.builds(splice, st.sampled_from(pool), edits),
    )
    outcome = Outcome(target.name, "hypothesis")
    started = time.monotonic()

    @settings(
        max_examples=runs,
        database=None,
        deadline=None,
        derandomize=False,
        phases=(Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
    )
    @given(inputs)
    def one(data: bytes) -> None:
        outcome.runs += 1
        target(data)

    # hypothesis seeds its random generator from the test function's identity unless told
    from hypothesis import seed as hypothesis_seed

    try:
        hypothesis_seed(seed)(one)()
    except Exception as exc:  # a crash: hypothesis re-raised it after shrinking
        outcome.crashes.append(f"{type(exc).__name__}: {exc}"[:500])
        log(f"[{target.name}] crash: {type(exc).__name__}: {exc}"[:2000])
    outcome.seconds = time.monotonic() - started
    return outcome
