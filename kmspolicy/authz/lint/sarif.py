"""Findings as SARIF 2.1.0, the format code-scanning UIs read to show findings inline.

Layer: authz (pure data shaping; the CLI writes it). ERROR and SECURITY_WARNING map to SARIF
level ``error``, WARNING to ``warning``, SUGGESTION to ``note``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kmspolicy.authz.lint.codes import CODES
from kmspolicy.authz.lint.findings import DOCS_PAGE, Finding, LintSeverity

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVELS = {
    LintSeverity.ERROR: "error",
    LintSeverity.SECURITY_WARNING: "error",
    LintSeverity.WARNING: "warning",
    LintSeverity.SUGGESTION: "note",
}
#: GitHub code scanning ranks security results by this property (0.0–10.0)
_SECURITY_SEVERITY = {LintSeverity.SECURITY_WARNING: "7.5"}


def _rule_name(code: str) -> str:
    return "".join(part.capitalize() for part in code.split("_"))


def to_sarif(findings: Iterable[Finding], *, tool_version: str = "0") -> dict[str, Any]:
    findings = list(findings)
    codes = sorted(CODES)
    rules = []
    for code in codes:
        severity, title = CODES[code]
        rule: dict[str, Any] = {
            "id": code,
            "name": _rule_name(code),
            "shortDescription": {"text": title},
            "helpUri": f"{DOCS_PAGE}#{code.lower().replace('_', '-')}",
            "help": {"text": f"See {DOCS_PAGE}, section {code}."},
            "defaultConfiguration": {"level": _LEVELS[severity]},
            "properties": {"severity": severity.value},
        }
        if severity in _SECURITY_SEVERITY:
            rule["properties"]["security-severity"] = _SECURITY_SEVERITY[severity]
            rule["properties"]["tags"] = ["security"]
        rules.append(rule)
    index = {code: i for i, code in enumerate(codes)}
    results = [_result(f, index) for f in findings]
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "kmspolicy-lint",
                        "version": tool_version,
                        "rules": rules,
                    }
                },
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }


def _result(finding: Finding, index: dict[str, int]) -> dict[str, Any]:
    text = finding.message + (f" (help: {finding.help})" if finding.help else "")
    result: dict[str, Any] = {
        "ruleId": finding.code,
        "level": _LEVELS[finding.severity],
        "message": {"text": text},
        "properties": {"severity": finding.severity.value},
    }
    if finding.code in index:
        result["ruleIndex"] = index[finding.code]
    span = finding.span
    if span is not None:
        region: dict[str, int] = {
            "startLine": max(1, span.line),
            "startColumn": max(1, span.column),
        }
        if span.end_line is not None and span.end_column is not None:
            region["endLine"] = span.end_line
            region["endColumn"] = span.end_column
        result["locations"] = [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": span.source.replace("\\", "/")},
                    "region": region,
                }
            }
        ]
    return result
