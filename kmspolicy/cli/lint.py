"""``kmspolicy lint FILES``: IAM-Access-Analyzer-style findings for policy files.

Layer: cli (adapter over ``kmspolicy.authz.lint``). Exit 1 when any finding is an ERROR or a
SECURITY_WARNING, 0 otherwise (warnings and suggestions are reported but do not fail).
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import click

from kmspolicy.cli import EXIT_FAILED


@click.command()
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--policy-type",
    type=click.Choice(["key", "identity", "scp", "rcp", "session", "boundary"]),
    default="key",
    show_default=True,
    help="Where the policies are attached: what is valid depends on it.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "sarif"]),
    default="text",
    show_default=True,
    help="sarif: SARIF 2.1.0 for code-scanning UIs.",
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
def command(
    files: tuple[Path, ...], policy_type: str, fmt: str, account: str | None, min_severity: str
) -> None:
    """Check policy FILES (.json or .kmsp) and report findings with code, severity and position.

    Codes and their fixes are documented in docs/lint.md.
    """
    from kmspolicy.authz.lint import Finding, LintSeverity, fails, lint_text
    from kmspolicy.authz.lint.sarif import to_sarif

    if account is not None and not (len(account) == 12 and account.isascii() and account.isdigit()):
        raise click.BadParameter(
            f"`{account}` is not a 12-digit AWS account id", param_hint="--account"
        )
    threshold = LintSeverity(min_severity.upper()).rank
    findings: list[Finding] = []
    texts: dict[str, str] = {}
    for path in files:
        data = path.read_bytes()
        texts[str(path)] = data.decode("utf-8", "replace")
        found = lint_text(data, str(path), policy_type, account=account)
        findings.extend(f for f in found if f.severity.rank <= threshold)
    if fmt == "json":
        click.echo(
            json.dumps(
                [
                    {
                        "code": f.code,
                        "severity": f.severity.value,
                        "message": f.message,
                        "file": f.span.source if f.span else None,
                        "line": f.span.line if f.span else None,
                        "column": f.span.column if f.span else None,
                        "path": f.span.path if f.span else None,
                        "help": f.help,
                        "doc": f.anchor,
                    }
                    for f in findings
                ],
                indent=2,
            )
        )
    elif fmt == "sarif":
        click.echo(json.dumps(to_sarif(findings, tool_version=_version()), indent=2))
    else:
        for finding in findings:
            source = texts.get(finding.span.source) if finding.span else None
            click.echo(finding.render(source))
        counts = {s: len([f for f in findings if f.severity is s]) for s in LintSeverity}
        summary = ", ".join(f"{n} {s.value}" for s, n in counts.items() if n) or "no findings"
        click.echo(f"{len(files)} file(s): {summary}")
    if fails(findings):
        sys.exit(EXIT_FAILED)


def _version() -> str:
    try:
        return version("kmspolicy")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"
