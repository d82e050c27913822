"""One atheris (libFuzzer) process for one target: ``python -m fuzz.atheris_worker <target>
[libFuzzer flags] [corpus dirs]``. kmspolicy is instrumented for coverage as it is imported;
the engine in ``fuzz.engines`` starts this once per target."""

from __future__ import annotations

import sys

import atheris


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit("usage: python -m fuzz.atheris_worker <target> [libFuzzer flags] [corpus]")
    name = sys.argv[1]
    with atheris.instrument_imports(include=["kmspolicy"]):
        from fuzz.targets import TARGETS

        target = TARGETS[name]
        for data in target.seeds():  # imports everything the target reaches, instrumented
            target(data)

    def one(data: bytes) -> None:
        target(data)

    atheris.Setup([sys.argv[0], *sys.argv[2:]], one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
