"""The pytest plugin (entry point ``pytest11``): collects ``*.kmstest.yaml`` compliance suites,
one test item per case, and offers fixtures for compliance tests written in Python.

Layer: testing (adapter). pytest loads this module in every run of every project that has
kmspolicy installed, so it imports nothing heavy at module level: suites, authz and the
service are imported when a suite is collected or a fixture is used.

Fixtures: ``kms_clock`` (a FakeClock), ``kms`` (an in-process service on that clock),
``kms_client`` (a botocore KMS client of the service, as the account root), ``simulate``
(authorize one request against policies, no service needed), ``kms_endpoint`` (a real HTTP
server in a thread, for clients that are not Python or must sign requests).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from kmspolicy.testing.runner import CaseResult
    from kmspolicy.testing.simulate import Simulator
    from kmspolicy.testing.suite import Case, Suite, SuiteCheck

SUITE_SUFFIX = ".kmstest.yaml"


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if file_path.name.endswith(SUITE_SUFFIX):
        return SuiteFile.from_parent(parent, path=file_path)
    return None


class SuiteFile(pytest.File):
    """A compliance suite file; a malformed suite is one collection error with its position."""

    def collect(self) -> Iterator[CaseItem | CheckItem]:
        from kmspolicy.testing.suite import load_suite

        suite = load_suite(self.path)
        seen: dict[str, int] = {}
        for case in suite.cases:
            name = case.name
            if name in seen:  # keep node ids unique even if two expansions share a name
                seen[name] += 1
                name = f"{name} #{seen[name]}"
            else:
                seen[name] = 1
            yield CaseItem.from_parent(self, name=name, suite=suite, case=case)
        for check in suite.checks:
            yield CheckItem.from_parent(self, name=check.name, suite=suite, check=check)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        from kmspolicy.errors import ConfigError

        if isinstance(excinfo.value, ConfigError):
            return f"invalid compliance suite:\n{excinfo.value}"
        return super().repr_failure(excinfo)


class CaseFailed(Exception):
    """Raised by a case whose decision disagrees with its expectation."""

    def __init__(self, result: CaseResult) -> None:
        super().__init__(result.detail)
        self.result = result


class CaseItem(pytest.Item):
    def __init__(self, *, suite: Suite, case: Case, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.suite = suite
        self.case = case

    def runtest(self) -> None:
        from kmspolicy.testing.runner import run_case

        result = run_case(self.suite, self.case)
        if not result.passed:
            raise CaseFailed(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, CaseFailed):
            result = excinfo.value.result
            return f"{self.suite.name}: {self.case.name}\n  at {self.case.mark}\n" + "\n".join(
                f"  {line}" for line in result.detail.splitlines()
            )
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.case.mark.line - 1, f"{self.suite.name}: {self.case.name}"


class CheckItem(pytest.Item):
    """A ``checks:`` entry of a suite: proved by the solver (kmspolicy check)."""

    def __init__(self, *, suite: Suite, check: SuiteCheck, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.suite = suite
        self.check = check

    def runtest(self) -> None:
        from kmspolicy.testing.runner import run_check

        result = run_check(self.suite, self.check)
        if not result.passed:
            raise CaseFailed(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, CaseFailed):
            result = excinfo.value.result
            return f"{self.suite.name}: {self.check.name}\n  at {self.check.mark}\n" + "\n".join(
                f"  {line}" for line in result.detail.splitlines()
            )
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.check.mark.line - 1, f"{self.suite.name}: {self.check.name}"


# --- fixtures for Python-written compliance tests ------------------------------------------


@pytest.fixture
def kms_clock() -> Any:
    """A FakeClock at 2026-01-01T00:00:00Z; ``kms_clock.advance(days=7)`` moves it."""
    from kmspolicy.kms.clock import FakeClock

    return FakeClock()


@pytest.fixture
def kms(kms_clock: Any) -> Iterator[Any]:
    """An in-process KMS (in-memory store) whose time is ``kms_clock``."""
    from kmspolicy.kms.service import KMS

    service = KMS(clock=kms_clock)
    yield service
    close = getattr(service, "close", None)
    if callable(close):
        close()


@pytest.fixture
def kms_client(kms: Any) -> Any:
    """A real botocore KMS client served by ``kms``, calling as the account root; for other
    principals use ``kms.client(principal=ARN)``."""
    return kms.client(principal=f"arn:aws:iam::{kms.account}:root")


@pytest.fixture
def simulate() -> Simulator:
    """``simulate(principal, action, resource, key_policy=..., identity_policies=[...], ...)``
    → a Decision, with policies given as Policy objects, file paths, JSON/DSL text or dicts."""
    from kmspolicy.testing.simulate import Simulator

    return Simulator()


@pytest.fixture
def kms_endpoint() -> Iterator[Any]:
    """A real ``kmspolicy serve`` on a free loopback port, in memory, for this test:
    ``kms_endpoint.url``, ``kms_endpoint.env()`` (AWS_* variables for a client process, the
    development identity's keys included), ``kms_endpoint.client()`` (boto3 over HTTP)."""
    from kmspolicy.testing import serve_in_thread

    with serve_in_thread() as endpoint:
        yield endpoint
