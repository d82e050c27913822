"""``kmspolicy check``: proofs about policies over every request, with counterexamples.

Layer: cli (adapter over ``kmspolicy.reasoning``). Four subcommands (issue 13's contract):
``no-new-access``, ``access-not-granted``, ``no-public-access``, ``equivalent``. Exit status:
0 PASS, 1 FAIL, 2 usage or input error (positioned diagnostics), 3 UNKNOWN (never a PASS).
What the checks model and assume is in docs/check.md.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import click

from kmspolicy.cli import EXIT_FAILED, EXIT_USAGE
from kmspolicy.errors import ConfigError, UserError
from kmspolicy.lang import Policy, load_policies
from kmspolicy.lang.diagnostics import excerpt
from kmspolicy.lang.span import Span

if TYPE_CHECKING:
    from kmspolicy.reasoning import CheckResult

#: exit status of an UNKNOWN answer
EXIT_UNKNOWN = 3
POLICY_TYPES = ("key", "identity", "resource", "scp", "rcp", "boundary", "session")
_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def _account(value: str | None) -> str | None:
    if value is not None and not (len(value) == 12 and value.isascii() and value.isdigit()):
        raise click.BadParameter(
            f"`{value}` is not a 12-digit AWS account id", param_hint="--account"
        )
    return value


def _common(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options every check takes."""
    options = [
        click.option(
            "--format",
            "fmt",
            type=click.Choice(["text", "json"]),
            default="text",
            show_default=True,
        ),
        click.option(
            "--timeout",
            type=click.FloatRange(min=0.1),
            default=10.0,
            show_default=True,
            metavar="SECONDS",
            help="Give up (UNKNOWN, exit 3) after this long.",
        ),
        click.option(
            "--account",
            metavar="ACCOUNT_ID",
            help="The account that owns the key or resource (key policies: inferred when the "
            "policy makes it certain); for identity, boundary and session policies, the "
            "caller's account.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _policy_type(choices: Sequence[str] = POLICY_TYPES) -> Callable[..., Any]:
    return click.option(
        "--policy-type",
        type=click.Choice(choices),
        default="key",
        show_default=True,
        help="Where the policies are attached (docs/check.md: what each assumes).",
    )


def _load(path: Path, policy_type: str) -> list[Policy]:
    try:
        policies = load_policies(path, key_policy=policy_type == "key")
    except OSError as exc:
        raise ConfigError(f"cannot read policy file `{path}`: {exc.strerror or exc}") from exc
    if not policies:
        raise ConfigError(f"`{path}` holds no policy")
    return policies


def _run(fmt: str, kind: str, name: str, check: Callable[[], CheckResult]) -> None:
    """Run a check and report it; the exit status says PASS/FAIL/UNKNOWN."""
    try:
        result = check()
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        _print_text(result, name, kind)
    status = {"PASS": 0, "FAIL": EXIT_FAILED, "UNKNOWN": EXIT_UNKNOWN}[result.verdict.value]
    raise SystemExit(status)


_STYLE = MappingProxyType({"PASS": "green", "FAIL": "red", "UNKNOWN": "yellow"})


def _print_text(result: CheckResult, name: str, kind: str) -> None:
    verdict = result.verdict.value
    click.echo(click.style(verdict, fg=_STYLE[verdict], bold=True) + f"  {name} ({kind} policy)")
    for reason in result.reasons:
        click.echo(f"  {reason}")
    example = result.counterexample
    if example:
        identity = example.get("identity")
        assumed = f" (identity policies: {identity})" if identity else ""
        click.echo(f"counterexample{assumed}:")
        for field in ("principal", "action", "resource"):
            click.echo(f"  {field:<10} {example[field]}")
        for key, value in example["context"].items():
            click.echo(f"  {'context':<10} {key} = {json.dumps(value)}")
    if result.statements:
        click.echo("statements:")
        texts: dict[str, str | None] = {}
        for ref in result.statements:
            m = ref.statement
            label = f"`{m.sid}`" if m.sid else f"#{m.statement_index + 1}"
            where = f"{m.source}:{m.line}:{m.column}" if m.line else (m.source or "")
            click.echo(f"  {where}: {m.effect.value.lower()} statement {label} ({ref.policy})")
            if m.source and m.line and m.column:
                if m.source not in texts:
                    texts[m.source] = _read(m.source)
                text = texts[m.source]
                if text is not None:
                    lines = excerpt(text, Span(m.source, m.line, m.column), underline=False)
                    for line in lines:
                        click.echo(f"    {line}")


def _read(source: str) -> str | None:
    try:
        return Path(source).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _solver() -> Any:
    """The reasoning package (it needs z3: without it, a UserError says what to install)."""
    import kmspolicy.reasoning as reasoning

    return reasoning


class _Group(click.Group):
    """Turns a UserError (bad file, missing solver) into ``error: …`` and exit 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UserError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(EXIT_USAGE)


@click.group(name="check", cls=_Group)
def command() -> None:
    """Prove properties of policies for every request: PASS, FAIL with a counterexample that
    the evaluator replays, or UNKNOWN (exit 0, 1, 3; 2 for bad input). See docs/check.md."""


@command.command("no-new-access")
@click.option("--existing", required=True, type=_FILE, help="The policy in force.")
@click.option("--new", "new", required=True, type=_FILE, help="The proposed policy.")
@_policy_type()
@_common
def no_new_access(
    existing: Path, new: Path, policy_type: str, fmt: str, timeout: float, account: str | None
) -> None:
    """PASS when NEW allows no request that EXISTING denies."""
    old_p, new_p = _load(existing, policy_type), _load(new, policy_type)
    r = _solver()
    _run(
        fmt,
        policy_type,
        "no-new-access",
        lambda: r.check_no_new_access(
            old_p, new_p, policy_type=policy_type, account=_account(account), timeout=timeout
        ),
    )


@command.command("access-not-granted")
@click.argument("policy", type=_FILE)
@click.option(
    "--action",
    "actions",
    required=True,
    multiple=True,
    metavar="ACTION",
    help="An action (wildcards allowed); repeat for several.",
)
@click.option(
    "--resource",
    "resources",
    multiple=True,
    metavar="ARN",
    help="Only requests on these resources (ARN patterns); default: any.",
)
@_policy_type()
@_common
def access_not_granted(
    policy: Path,
    actions: tuple[str, ...],
    resources: tuple[str, ...],
    policy_type: str,
    fmt: str,
    timeout: float,
    account: str | None,
) -> None:
    """PASS when POLICY allows none of the actions, for any caller and context."""
    policies = _load(policy, policy_type)
    r = _solver()
    _run(
        fmt,
        policy_type,
        "access-not-granted",
        lambda: r.check_access_not_granted(
            policies,
            actions,
            resources,
            policy_type=policy_type,
            account=_account(account),
            timeout=timeout,
        ),
    )


@command.command("no-public-access")
@click.argument("policy", type=_FILE)
@click.option(
    "--organization",
    metavar="o-…",
    help="Callers in this organization (aws:PrincipalOrgID) do not count as outside.",
)
@_policy_type(["key", "resource"])
@_common
def no_public_access(
    policy: Path,
    organization: str | None,
    policy_type: str,
    fmt: str,
    timeout: float,
    account: str | None,
) -> None:
    """PASS when no caller outside the owner account (or organization) is allowed anything."""
    policies = _load(policy, policy_type)
    if organization is not None and not organization.startswith("o-"):
        raise click.BadParameter(
            f"`{organization}` is not an organization id (o-…)", param_hint="--organization"
        )
    r = _solver()
    _run(
        fmt,
        policy_type,
        "no-public-access",
        lambda: r.check_no_public_access(
            policies,
            policy_type=policy_type,
            account=_account(account),
            organization=organization,
            timeout=timeout,
        ),
    )


@command.command("equivalent")
@click.argument("a", type=_FILE)
@click.argument("b", type=_FILE)
@_policy_type()
@_common
def equivalent(
    a: Path, b: Path, policy_type: str, fmt: str, timeout: float, account: str | None
) -> None:
    """PASS when A and B allow exactly the same requests."""
    pa, pb = _load(a, policy_type), _load(b, policy_type)
    r = _solver()
    _run(
        fmt,
        policy_type,
        "equivalent",
        lambda: r.check_equivalent(
            pa, pb, policy_type=policy_type, account=_account(account), timeout=timeout
        ),
    )
