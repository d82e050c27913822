"""Render a compliance-suite run for people (text), programs (JSON) and CI systems (JUnit XML).

Layer: testing (pure formatting over ``runner.Report``).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import defaultdict
from typing import Any

from kmspolicy.testing.runner import CaseResult, Report
from kmspolicy.testing.suite import Case


def _by_suite(report: Report) -> dict[str, list[CaseResult]]:
    grouped: dict[str, list[CaseResult]] = defaultdict(list)
    for result in report.results:
        grouped[str(result.suite.path)].append(result)
    return grouped


def render_text(report: Report, *, coverage: bool = False, verbose: bool = False) -> str:
    lines: list[str] = []
    for path, results in _by_suite(report).items():
        failed = sum(1 for r in results if not r.passed)
        status = "ok" if not failed else f"{failed} FAILED"
        lines.append(f"{path}  ({results[0].suite.name}): {len(results)} cases, {status}")
        if verbose:
            lines.extend(f"  {'pass' if r.passed else 'FAIL'}  {r.case.name}" for r in results)
    for bad, error in report.load_errors:
        lines.append(f"{bad}: could not load the suite")
        lines.extend(f"  {line}" for line in error.splitlines())
    for result in report.failures:
        lines.append("")
        lines.append(f"FAIL {result.id}")
        lines.append(f"  at {result.case.mark}")
        lines.extend(f"  {line}" for line in result.detail.splitlines())
    if coverage:
        lines.append("")
        lines.extend(_coverage_lines(report))
    passed = sum(1 for r in report.results if r.passed)
    failed = len(report.results) - passed
    lines.append("")
    summary = f"{len(report.results)} cases: {passed} passed, {failed} failed"
    if report.load_errors:
        summary += f", {len(report.load_errors)} suite(s) could not be loaded"
    cov = report.coverage
    lines.append(f"{summary}; statement coverage {cov.percent:.1f}% ({cov.covered}/{cov.total})")
    return "\n".join(lines)


def _coverage_lines(report: Report) -> list[str]:
    lines = ["statement coverage:"]
    for label, policy in sorted(report.coverage.policies.items()):
        lines.append(f"  {policy.percent:6.1f}%  {policy.covered}/{policy.total}  {label}")
        for _, name, line in policy.uncovered():
            where = f"{label}:{line}" if line else label
            lines.append(f"           not exercised: {name} ({where})")
    return lines


def _result_dict(result: CaseResult) -> dict[str, Any]:
    case = result.case
    request = (
        {"principal": case.principal.arn, "action": case.action, "resource": case.resource}
        if isinstance(case, Case)
        else {"check": case.spec.check}
    )
    return {
        "suite": result.suite.name,
        "file": str(result.suite.path),
        "line": result.case.mark.line,
        "case": result.case.name,
        **request,
        "expect": result.case.expect.value,
        "got": result.got,
        "passed": result.passed,
        "detail": result.detail or None,
        "decision": result.decision.to_dict() if result.decision is not None else None,
    }


def render_json(report: Report) -> str:
    passed = sum(1 for r in report.results if r.passed)
    document = {
        "summary": {
            "cases": len(report.results),
            "passed": passed,
            "failed": len(report.results) - passed,
            "load_errors": len(report.load_errors),
        },
        "results": [_result_dict(r) for r in report.results],
        "load_errors": [{"file": str(p), "error": e} for p, e in report.load_errors],
        "coverage": report.coverage.to_dict(),
    }
    return json.dumps(document, indent=2)


def render_junit(report: Report) -> str:
    """JUnit XML as CI systems read it: one <testsuite> per suite file, one <testcase> per case."""
    root = ET.Element("testsuites", name="kmspolicy")
    total = failures = errors = 0
    for path, results in _by_suite(report).items():
        failed = [r for r in results if not r.passed]
        suite_el = ET.SubElement(
            root,
            "testsuite",
            name=results[0].suite.name,
            file=path,
            tests=str(len(results)),
            failures=str(len(failed)),
            errors="0",
        )
        for result in results:
            case_el = ET.SubElement(
                suite_el,
                "testcase",
                name=result.case.name,
                classname=results[0].suite.name,
                file=path,
                line=str(result.case.mark.line),
            )
            if not result.passed:
                failure = ET.SubElement(
                    case_el,
                    "failure",
                    message=f"expected {result.case.expect.value}, got {result.got}",
                    type="DecisionMismatch",
                )
                failure.text = result.detail
        total += len(results)
        failures += len(failed)
    for bad, error in report.load_errors:
        suite_el = ET.SubElement(
            root, "testsuite", name=str(bad), file=str(bad), tests="1", failures="0", errors="1"
        )
        case_el = ET.SubElement(suite_el, "testcase", name="load", classname=str(bad))
        ET.SubElement(
            case_el, "error", message="the suite could not be loaded", type="ConfigError"
        ).text = error
        total += 1
        errors += 1
    root.set("tests", str(total))
    root.set("failures", str(failures))
    root.set("errors", str(errors))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
