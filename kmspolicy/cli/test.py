"""``kmspolicy test [PATHS]``: run compliance suites (``*.kmstest.yaml``) and report coverage.

Layer: cli (adapter). ``-k EXPR`` keeps the cases whose id matches a keyword expression (as
``pytest -k``); ``--exclude`` and ``.kmspolicyignore`` leave suite files out of directory
walks. Exit 0 when every case passes (and coverage reaches ``--min-coverage``), 1 when a case
fails or coverage is too low, 2 when a suite cannot be loaded.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from kmspolicy.cli import EXIT_FAILED, EXIT_USAGE
from kmspolicy.cli._annotations import annotation
from kmspolicy.cli._color import color_option, use_color
from kmspolicy.cli._files import write_text_atomically
from kmspolicy.cli._paths import expand

if TYPE_CHECKING:
    from kmspolicy.testing.runner import Report


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "junit", "github"]),
    default="text",
    show_default=True,
    help="Report format (json, junit, github annotations: for CI systems).",
)
@click.option(
    "-k",
    "keyword",
    metavar="EXPR",
    default=None,
    help="Run only the cases whose `suite::case` id matches EXPR: words joined by and/or/not.",
)
@click.option(
    "--exclude",
    multiple=True,
    metavar="GLOB",
    help="Leave out matching suite files and directories (repeatable; also .kmspolicyignore).",
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
@color_option
def command(
    paths: tuple[Path, ...],
    fmt: str,
    keyword: str | None,
    exclude: tuple[str, ...],
    coverage: bool,
    min_coverage: float | None,
    verbose: bool,
    output: Path | None,
    color: str,
) -> None:
    """Run the compliance suites under PATHS (default: the current directory).

    A case names a principal, an action, a resource and a context, and the decision it expects
    (allowed, denied, explicitDeny, implicitDeny). See docs/suites.md for the file format.
    """
    from kmspolicy.testing.report import render_json, render_junit, render_text
    from kmspolicy.testing.runner import run_paths
    from kmspolicy.testing.select import keyword_matcher
    from kmspolicy.testing.suite import SUITE_SUFFIX

    targets = list(paths) or [Path(".")]
    suites = expand(targets, exclude, suffixes=(SUITE_SUFFIX,))
    if not suites:
        raise click.UsageError(f"no *.kmstest.yaml suites under {', '.join(map(str, targets))}")
    select = None
    if keyword is not None:
        matches = keyword_matcher(keyword)
        select = lambda suite, case: matches(f"{suite.path.name} {suite.name}::{case.name}")  # noqa: E731
    report = run_paths(suites, select)
    too_low = min_coverage is not None and report.coverage.percent < min_coverage
    below = (
        f"statement coverage {report.coverage.percent:.1f}% is below the required "
        f"{min_coverage or 0:g}%"
    )
    colored = False
    if fmt == "json":
        text = render_json(report)
    elif fmt == "junit":
        text = render_junit(report)
    elif fmt == "github":
        text = _github(report, below if too_low else None)
    else:
        text = render_text(report, coverage=coverage, verbose=verbose)
        if too_low:
            text += f"\n{below}"
        colored = output is None and use_color(color)
        if colored:
            text = _colour(text)
    if output is not None:
        write_text_atomically(output, text + "\n")
    else:
        click.echo(text, color=colored)
    if report.load_errors:
        sys.exit(EXIT_USAGE)
    if report.failures or too_low:
        sys.exit(EXIT_FAILED)


def _github(report: Report, coverage_failure: str | None) -> str:
    """One annotation per failing case (at its line in the suite) and per unloadable suite,
    then the summary line."""
    from kmspolicy.testing.report import render_text

    lines = [
        annotation(
            "error",
            f"expected {r.case.expect.value}, got {r.got}\n{r.detail}",
            file=str(r.suite.path),
            line=r.case.mark.line,
            title=f"kmspolicy test: {r.id}",
        )
        for r in report.failures
    ]
    lines += [
        annotation("error", error, file=str(path), title="kmspolicy test: the suite does not load")
        for path, error in report.load_errors
    ]
    if coverage_failure is not None:
        lines.append(annotation("error", coverage_failure, title="kmspolicy test: coverage"))
    lines.append(render_text(report).rsplit("\n", 1)[-1])
    return "\n".join(lines)


def _colour(text: str) -> str:
    out = []
    for line in text.split("\n"):
        if line.startswith("FAIL ") or line.startswith("  FAIL "):
            line = click.style(line, fg="red", bold=True)
        elif line.startswith("  pass "):
            line = click.style(line, fg="green")
        elif line.endswith(", ok"):
            line = line[: -len("ok")] + click.style("ok", fg="green")
        elif " FAILED" in line and line.endswith("FAILED"):
            line = click.style(line, fg="red")
        out.append(line)
    return "\n".join(out)
