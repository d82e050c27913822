"""Lint findings as data: a stable code, a severity, a message, a span, help, and a doc anchor.

Layer: authz (pure). The four severities are IAM Access Analyzer's (ValidatePolicy finding
types); every code has a section in ``docs/lint.md`` whose anchor is the code in kebab case.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from kmspolicy.lang.diagnostics import SourceLines, excerpt
from kmspolicy.lang.span import Span

DOCS_PAGE = "docs/lint.md"


class LintSeverity(StrEnum):
    """Access Analyzer's finding types, most severe first."""

    ERROR = "ERROR"
    SECURITY_WARNING = "SECURITY_WARNING"
    WARNING = "WARNING"
    SUGGESTION = "SUGGESTION"

    @property
    def rank(self) -> int:
        return list(LintSeverity).index(self)

    @property
    def fails(self) -> bool:
        """ERROR and SECURITY_WARNING make ``kmspolicy lint`` exit 1."""
        return self in (LintSeverity.ERROR, LintSeverity.SECURITY_WARNING)


class PolicyType(StrEnum):
    """Where a policy is attached: what is valid depends on it (Access Analyzer's policyType)."""

    KEY = "key"
    IDENTITY = "identity"
    SCP = "scp"
    RCP = "rcp"
    SESSION = "session"
    BOUNDARY = "boundary"
    #: kmspolicy xks-proxy's secondary authorization (plain policies, docs/xks-proxy.md)
    XKS_PROXY = "xks-proxy"

    @property
    def is_iam_family(self) -> bool:
        """Policies IAM itself stores and validates (identity, boundary, session)."""
        return self in (PolicyType.IDENTITY, PolicyType.BOUNDARY, PolicyType.SESSION)

    @property
    def has_principal(self) -> bool:
        """Resource-based policies name principals (an xks-proxy policy may); the others must
        not."""
        return self in (PolicyType.KEY, PolicyType.RCP, PolicyType.XKS_PROXY)


@dataclass(frozen=True, slots=True)
class Finding:
    """One lint finding about one place in a policy."""

    code: str
    severity: LintSeverity
    message: str
    span: Span | None = None
    help: str | None = None

    @property
    def anchor(self) -> str:
        """The link-like documentation anchor: ``docs/lint.md#public-access``."""
        return f"{DOCS_PAGE}#{self.code.lower().replace('_', '-')}"

    @property
    def location(self) -> str:
        return str(self.span) if self.span is not None else "<policy>"

    def render(self, source_text: str | SourceLines | None = None) -> str:
        """``file:line:col: SEVERITY CODE: message``, the source line with a caret when the
        text is given, then help and the doc anchor."""
        lines = [f"{self.location}: {self.severity.value} {self.code}: {self.message}"]
        span = self.span
        if span is not None and source_text is not None:
            lines.extend(excerpt(source_text, span, underline=False))
        if self.help:
            lines.append(f"  help: {self.help}")
        lines.append(f"  see: {self.anchor}")
        return "\n".join(lines)

    def sort_key(self) -> tuple[str, int, int, int, str]:
        span = self.span
        return (
            span.source if span else "",
            span.line if span else 0,
            span.column if span else 0,
            self.severity.rank,
            self.code,
        )
