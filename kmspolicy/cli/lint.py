"""``kmspolicy lint PATHS``: IAM-Access-Analyzer-style findings for policy files.

Layer: cli (adapter over ``kmspolicy.authz.lint``). Exit 1 when any finding is an ERROR or a
SECURITY_WARNING, 0 otherwise (warnings and suggestions are reported but do not fail).
``--explain CODE`` prints a code's documentation from the docs shipped in the package.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import click

from kmspolicy._version import __version__
from kmspolicy.cli import EXIT_FAILED
from kmspolicy.cli._annotations import annotation
from kmspolicy.cli._color import color_option, use_color
from kmspolicy.cli._docs import LINT_PAGE, lint_rule_docs, page_uri
from kmspolicy.cli._paths import STDIN, expand
from kmspolicy.cli._policy_kinds import policy_kinds
from kmspolicy.errors import UserError

if TYPE_CHECKING:
    from kmspolicy.authz.lint import Finding
    from kmspolicy.lang import Policy
    from kmspolicy.lang.diagnostics import SourceLines

_STYLE: Mapping[str, dict[str, Any]] = MappingProxyType(
    {
        "ERROR": {"fg": "red", "bold": True},
        "SECURITY_WARNING": {"fg": "magenta", "bold": True},
        "WARNING": {"fg": "yellow"},
        "SUGGESTION": {"fg": "cyan"},
    }
)
_GITHUB_LEVEL = MappingProxyType(
    {
        "ERROR": "error",
        "SECURITY_WARNING": "error",
        "WARNING": "warning",
        "SUGGESTION": "notice",
    }
)


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, allow_dash=True, path_type=Path))
@click.option(
    "--policy-type",
    type=click.Choice(["key", "identity", "scp", "rcp", "session", "boundary", "xks-proxy"]),
    default=None,
    help="Where the policies are attached: what is valid depends on it. Default: what the "
    "compliance suites beside the files say (a twin .kmsp/.json file as well), else key.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "sarif", "github"]),
    default="text",
    show_default=True,
    help="sarif: SARIF 2.1.0 for code-scanning UIs; github: GitHub Actions annotations.",
)
@click.option(
    "--account",
    default=None,
    metavar="ACCOUNT_ID",
    help="The key owner's account (cross-account rules); inferred when omitted.",
)
@click.option(
    "--min-severity",
    type=click.Choice(["ERROR", "SECURITY_WARNING", "WARNING", "SUGGESTION"], case_sensitive=False),
    default="SUGGESTION",
    show_default=True,
    help="Hide less severe findings.",
)
@click.option(
    "--exclude",
    multiple=True,
    metavar="GLOB",
    help="Leave out matching files and directories when walking a directory (repeatable; "
    "also read from .kmspolicyignore).",
)
@click.option(
    "--stdin-filename",
    default=None,
    metavar="NAME",
    help="The file name to report for `-` (standard input).",
)
@click.option(
    "--docs-url",
    envvar="KMSPOLICY_DOCS_URL",
    default=None,
    metavar="URL",
    help="Absolute address of lint.md for SARIF helpUri (default: the file installed here).",
)
@click.option(
    "--solver/--no-solver",
    default=True,
    show_default=True,
    help="Also run the solver-backed rules (CONDITIONS_NEVER_HOLD, DENY_NEVER_MATCHES, "
    "ALLOW_SHADOWED_BY_DENY) when "
    "the solver is installed (pip install 'kmspolicy[check]').",
)
@click.option("--explain", metavar="CODE", help="Print the documentation of a finding code.")
@color_option
def command(
    paths: tuple[Path, ...],
    policy_type: str | None,
    fmt: str,
    account: str | None,
    min_severity: str,
    exclude: tuple[str, ...],
    stdin_filename: str | None,
    docs_url: str | None,
    explain: str | None,
    color: str,
    solver: bool,
) -> None:
    """Check policy PATHS (.json or .kmsp files, directories, `-` for standard input) and report
    findings with code, severity and position.

    Codes and their fixes: `kmspolicy lint --explain CODE`, or `kmspolicy docs lint`.
    """
    from kmspolicy.authz.lint import Finding, LintSeverity, fails
    from kmspolicy.authz.lint.source import lint_text_and_policies
    from kmspolicy.lang.diagnostics import SourceLines

    if explain is not None:
        _explain(explain)
        return
    if not paths:
        raise click.UsageError("give policy files or directories to lint (or `-` for stdin)")
    if account is not None and not (len(account) == 12 and account.isascii() and account.isdigit()):
        raise click.BadParameter(
            f"`{account}` is not a 12-digit AWS account id", param_hint="--account"
        )
    threshold = LintSeverity(min_severity.upper()).rank
    findings: list[Finding] = []
    #: each text's lines are indexed once, however many findings quote it
    texts: dict[str, SourceLines] = {}
    files = expand(paths, exclude)
    suites_say = {} if policy_type is not None else policy_kinds(paths, exclude)
    for path in files:
        if path == STDIN:
            data, source = sys.stdin.buffer.read(), stdin_filename or "<stdin>"
        else:
            data, source = path.read_bytes(), str(path)
        texts[source] = SourceLines(data.decode("utf-8", "replace"))
        kinds = [policy_type] if policy_type else suites_say.get(path.resolve(), ["key"])
        for kind in kinds:  # one kind, unless suites attach the same file in two places
            found, policies = lint_text_and_policies(data, source, kind, account=account)
            if solver and policies:
                found = sorted(
                    found + _solver_findings(policies, kind, account), key=Finding.sort_key
                )
            findings.extend(f for f in found if f.severity.rank <= threshold)
    if fmt == "json":
        click.echo(json.dumps([_json(f) for f in findings], indent=2))
    elif fmt == "sarif":
        from kmspolicy.authz.lint.sarif import to_sarif

        document = to_sarif(
            findings,
            tool_version=__version__,
            docs_uri=docs_url or page_uri(LINT_PAGE),
            rule_help=lint_rule_docs(),
        )
        click.echo(json.dumps(document, indent=2))
    elif fmt == "github":
        for f in findings:
            click.echo(_github(f))
    else:
        colored = use_color(color)
        for finding in findings:
            source_text = texts.get(finding.span.source) if finding.span else None
            click.echo(_text(finding, source_text, colored), color=colored)
        counts = {s: len([f for f in findings if f.severity is s]) for s in LintSeverity}
        summary = ", ".join(f"{n} {s.value}" for s, n in counts.items() if n) or "no findings"
        click.echo(f"{len(files)} file(s): {summary}")
    if fails(findings):
        sys.exit(EXIT_FAILED)


def _solver_findings(
    policies: list[Policy], policy_type: str, account: str | None
) -> list[Finding]:
    """The solver-backed rules, when z3 is installed (the `check` extra)."""
    try:
        from kmspolicy.reasoning.lintrules import solver_findings
    except UserError:  # the solver is not installed: these rules do not run
        return []
    return [f for p in policies for f in solver_findings(p, policy_type, account=account)]


def _explain(code: str) -> None:
    docs = lint_rule_docs()
    key = code.upper().replace("-", "_")
    if key not in docs:
        from kmspolicy.lang.diagnostics import suggestion

        hint = suggestion(key, docs)
        raise UserError(f"no lint code `{code}`" + (f"; {hint}" if hint else ""))
    click.echo(docs[key])


def _json(f: Finding) -> dict[str, Any]:
    from kmspolicy.authz.lint.sarif import end_of

    end_line, end_column = end_of(f.span) if f.span else (None, None)
    return {
        "code": f.code,
        "severity": f.severity.value,
        "message": f.message,
        "file": f.span.source if f.span else None,
        "line": f.span.line if f.span else None,
        "column": f.span.column if f.span else None,
        "end_line": end_line,
        "end_column": end_column,
        "path": f.span.path if f.span else None,
        "help": f.help,
        "doc": f.anchor,
    }


def _github(f: Finding) -> str:
    from kmspolicy.authz.lint.sarif import end_of

    message = f.message + (f"\nhelp: {f.help}" if f.help else "")
    message += f"\nsee: kmspolicy lint --explain {f.code}"
    span = f.span
    if span is None:
        return annotation(_GITHUB_LEVEL[f.severity.value], message, title=f.code)
    end_line, end_column = end_of(span)
    return annotation(
        _GITHUB_LEVEL[f.severity.value],
        message,
        file=span.source,
        line=span.line,
        col=span.column,
        endLine=end_line,
        endColumn=end_column if end_line == span.line else None,
        title=f"{f.severity.value} {f.code}",
    )


def _text(f: Finding, source_text: SourceLines | None, colored: bool) -> str:
    rendered = f.render(source_text)
    if not colored:
        return rendered
    head, sep, rest = rendered.partition("\n")
    label = f"{f.severity.value} {f.code}"
    head = head.replace(label, click.style(label, **_STYLE[f.severity.value]), 1)
    return head + sep + rest
