"""Findings as SARIF 2.1.0, the format code-scanning UIs read to show findings inline.

Layer: authz (pure data shaping; the CLI reads the docs and writes it). ERROR and
SECURITY_WARNING map to SARIF level ``error``, WARNING to ``warning``, SUGGESTION to ``note``.
Code-scanning UIs show a rule's ``help`` next to each result and link its ``helpUri``, which
SARIF wants absolute: the caller gives the documentation's address and each rule's section.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from kmspolicy.authz.lint.codes import CODES
from kmspolicy.authz.lint.findings import DOCS_PAGE, Finding, LintSeverity
from kmspolicy.lang.span import Span

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVELS = MappingProxyType(
    {
        LintSeverity.ERROR: "error",
        LintSeverity.SECURITY_WARNING: "error",
        LintSeverity.WARNING: "warning",
        LintSeverity.SUGGESTION: "note",
    }
)
#: GitHub code scanning ranks security results by this property (0.0–10.0)
_SECURITY_SEVERITY = MappingProxyType({LintSeverity.SECURITY_WARNING: "7.5"})


def _rule_name(code: str) -> str:
    return "".join(part.capitalize() for part in code.split("_"))


def to_sarif(
    findings: Iterable[Finding],
    *,
    tool_version: str = "0",
    docs_uri: str = DOCS_PAGE,
    rule_help: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """SARIF 2.1.0 for ``findings``; ``docs_uri`` is the address of ``docs/lint.md`` (absolute,
    for code-scanning UIs) and ``rule_help`` each code's section of it (Markdown)."""
    findings = list(findings)
    rule_help = rule_help or {}
    codes = sorted(CODES)
    rules = []
    for code in codes:
        severity, title = CODES[code]
        rule: dict[str, Any] = {
            "id": code,
            "name": _rule_name(code),
            "shortDescription": {"text": title},
            "helpUri": f"{docs_uri}#{code.lower().replace('_', '-')}",
            "help": _help(code, title, rule_help.get(code)),
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


def _help(code: str, title: str, section: str | None) -> dict[str, str]:
    if section is None:
        return {"text": f"{code}: {title}. See the section {code} of docs/lint.md."}
    return {"text": section, "markdown": section}


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
        end_line, end_column = end_of(span)
        region["endLine"] = end_line
        region["endColumn"] = end_column
        result["locations"] = [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": span.source.replace("\\", "/")},
                    "region": region,
                }
            }
        ]
    return result


def end_of(span: Span) -> tuple[int, int]:
    """The (exclusive) end of a span; a span the reader gave no end covers one character."""
    if span.end_line is not None and span.end_column is not None:
        return span.end_line, span.end_column
    return max(1, span.line), max(1, span.column) + 1
