"""Policy lint in the style of IAM Access Analyzer's ValidatePolicy: ERROR, SECURITY_WARNING,
WARNING and SUGGESTION findings, each with a stable code documented in ``docs/lint.md``.

Layer: authz (pure; imports only errors, lang and authz). ``lint_policy`` checks one parsed
policy; ``lint_text`` also turns the reader's syntax diagnostics into ERROR findings.
"""

from __future__ import annotations

from kmspolicy.authz.lint.catalog import key_applies_to, kms_actions_matching
from kmspolicy.authz.lint.codes import CODES
from kmspolicy.authz.lint.engine import RULES, fails, lint_policy
from kmspolicy.authz.lint.findings import DOCS_PAGE, Finding, LintSeverity, PolicyType
from kmspolicy.authz.lint.source import lint_text

__all__ = [
    "CODES",
    "DOCS_PAGE",
    "RULES",
    "Finding",
    "LintSeverity",
    "PolicyType",
    "fails",
    "key_applies_to",
    "kms_actions_matching",
    "lint_policy",
    "lint_text",
]
