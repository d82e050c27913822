"""``kmspolicy test [PATHS]``: run compliance suites (``*.kmstest.yaml``) and report coverage.

Layer: cli (adapter). Exit 0 when every case passes (and coverage reaches ``--min-coverage``),
1 when a case fails or coverage is too low, 2 when a suite cannot be loaded.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from kmspolicy.cli import EXIT_FAILED, EXIT_USAGE
from kmspolicy.cli._files import write_text_atomically


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "junit"]),
    default="text",
    show_default=True,
    help="Report format (json and junit are for CI systems).",
)
@click.option(
    "--coverage",
    is_flag=True,
    help="List statement coverage per policy, with the statements no case exercised.",
)
@click.option(
    "--min-coverage",
    type=click.FloatRange(0, 100),
    default=None,
    metavar="N",
    help="Fail (exit 1) when overall statement coverage is below N percent.",
)
@click.option("-v", "--verbose", is_flag=True, help="List every case, not only failures.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the report to a file instead of stdout.",
)
def command(
    paths: tuple[Path, ...],
    fmt: str,
    coverage: bool,
    min_coverage: float | None,
    verbose: bool,
    output: Path | None,
) -> None:
    """Run the compliance suites under PATHS (default: the current directory).

    A case names a principal, an action, a resource and a context, and the decision it expects
    (allowed, denied, explicitDeny, implicitDeny). See docs/suites.md for the file format.
    """
    from kmspolicy.testing.report import render_json, render_junit, render_text
    from kmspolicy.testing.runner import run_paths
    from kmspolicy.testing.suite import discover

    targets = list(paths) or [Path(".")]
    if not discover(targets):
        raise click.UsageError(f"no *.kmstest.yaml suites under {', '.join(map(str, targets))}")
    report = run_paths(targets)
    if fmt == "json":
        text = render_json(report)
    elif fmt == "junit":
        text = render_junit(report)
    else:
        text = render_text(report, coverage=coverage, verbose=verbose)
    too_low = min_coverage is not None and report.coverage.percent < min_coverage
    if too_low and fmt == "text":
        text += (
            f"\nstatement coverage {report.coverage.percent:.1f}% is below the required "
            f"{min_coverage:g}%"
        )
    if output is not None:
        write_text_atomically(output, text + "\n")
    else:
        click.echo(text)
    if report.load_errors:
        sys.exit(EXIT_USAGE)
    if report.failures or too_low:
        sys.exit(EXIT_FAILED)
