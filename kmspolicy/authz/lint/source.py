"""Lint a policy text (AWS JSON or DSL): the reader's syntax errors become ERROR findings, and
each policy that reads cleanly is checked by the rules.

Layer: authz (pure: the caller reads the file). For identity, boundary and session policies the
reader's errors are reworded as IAM words them where IAM has a message for that mistake.
"""

from __future__ import annotations

from types import MappingProxyType

from kmspolicy.authz.lint import validity
from kmspolicy.authz.lint.engine import lint_policy
from kmspolicy.authz.lint.findings import Finding, LintSeverity, PolicyType
from kmspolicy.lang import Policy, PolicySyntaxError, read_policies
from kmspolicy.lang.diagnostics import Diagnostic, Severity
from kmspolicy.lang.span import Span

#: reader diagnostic code → IAM's MalformedPolicyDocument message for the same mistake
_IAM_WORDING = MappingProxyType(
    {
        "json-syntax": "Syntax errors in policy.",
        "missing-action": validity.IAM_ACTIONS,
        "duplicate-sid": validity.IAM_SID_UNIQUE,
        "invalid-version": validity.IAM_VERSION,
    }
)


def lint_text(
    text: str | bytes,
    source: str,
    policy_type: PolicyType | str = PolicyType.KEY,
    *,
    account: str | None = None,
) -> list[Finding]:
    """Findings for every policy in ``text`` (a DSL file may hold several)."""
    return lint_text_and_policies(text, source, policy_type, account=account)[0]


def lint_text_and_policies(
    text: str | bytes,
    source: str,
    policy_type: PolicyType | str = PolicyType.KEY,
    *,
    account: str | None = None,
) -> tuple[list[Finding], list[Policy]]:
    """:func:`lint_text`, and the policies read (none when the text is not a policy), so a
    caller with more rules (the solver's, in the CLI) does not read the text twice."""
    kind = PolicyType(policy_type)
    try:
        policies = read_policies(text, source, key_policy=kind is PolicyType.KEY)
    except PolicySyntaxError as exc:
        return [_from_diagnostic(d, kind) for d in exc.diagnostics], []
    if not policies:  # an empty (or comment-only) file is no policy, not a clean one
        empty = Finding(
            "SYNTAX_ERROR",
            LintSeverity.ERROR,
            "[empty] the file holds no policy (it is empty or only comments)",
            Span(source, 1, 1),
        )
        return [empty], []
    found = [f for policy in policies for f in lint_policy(policy, kind, account=account)]
    return found, policies


#: reader diagnostic code → the lint code for the same mistake (others are SYNTAX_ERROR)
_SAME_AS = MappingProxyType(
    {
        "missing-principal": "MISSING_PRINCIPAL",
        "missing-action": "MISSING_ACTION",
        "duplicate-sid": "DUPLICATE_SID",
        "invalid-version": "INVALID_VERSION",
    }
)


def _from_diagnostic(diagnostic: Diagnostic, kind: PolicyType) -> Finding:
    code = _SAME_AS.get(diagnostic.code, "SYNTAX_ERROR")
    message = f"[{diagnostic.code}] {diagnostic.message}"
    if kind.is_iam_family and diagnostic.code in _IAM_WORDING:
        message = f"{_IAM_WORDING[diagnostic.code]} ({diagnostic.message})"
    elif kind is PolicyType.KEY and diagnostic.code == "missing-principal":
        message = f"{validity.KMS_PRINCIPAL} ({diagnostic.message})"
    error = diagnostic.severity is Severity.ERROR
    return Finding(
        code,
        LintSeverity.ERROR if error else LintSeverity.WARNING,
        message,
        diagnostic.span,
        diagnostic.help,
    )
