"""Proofs about policies: PASS for every real request, or FAIL with a replayed counterexample.

Layer: reasoning (pure; imports ``errors``, ``lang`` and ``authz`` only, plus z3). Public API:

* ``check_equivalent(a, b, *, policy_type="key", account=None, timeout=10.0)``
* ``check_no_new_access(existing, new, *, policy_type, account, timeout)``
* ``check_access_not_granted(policies, actions, resources=(), *, policy_type, account, timeout)``
* ``check_no_public_access(policies, *, policy_type="key", account=None, organization=None,
  timeout)``

* ``who_can(key_policy, callers, *, key_arn, actions=None, timeout=10.0)`` → :class:`WhoCanResult`
  (``callers``: :class:`CallerPolicies`, or ``callers_from_directory(identities, arns,
  key_account)`` for a ``kmspolicy.Identities`` directory, as the service resolves them)

The checks return a :class:`CheckResult` (``.verdict``: :class:`Verdict` PASS/FAIL/UNKNOWN,
``.reasons``, ``.counterexample``, ``.statements``, ``.to_dict()``). What is modelled, and what
makes an answer UNKNOWN, is in docs/check.md. z3 comes with the ``check`` extra: without it,
importing this package raises :class:`MissingSolver` (a UserError saying what to install).
"""

from kmspolicy.errors import UserError

INSTALL_HINT = "pip install 'kmspolicy[check]'"


class MissingSolver(UserError):
    """z3 is not installed (the ``check`` extra)."""


try:
    import z3  # noqa: F401 - imported here so a missing solver fails with a useful message
except ImportError as exc:  # pragma: no cover - CI installs the extra
    raise MissingSolver(
        f"policy checks need the z3 solver, which is not installed; run: {INSTALL_HINT}"
    ) from exc

from kmspolicy.reasoning.checks import (  # noqa: E402 - after the solver check above
    DEFAULT_TIMEOUT,
    CheckResult,
    StatementRef,
    Verdict,
    check_access_not_granted,
    check_equivalent,
    check_no_new_access,
    check_no_public_access,
)
from kmspolicy.reasoning.decisions import Assumption, PolicyKind  # noqa: E402
from kmspolicy.reasoning.whocan import (  # noqa: E402
    Access,
    CallerPolicies,
    Cell,
    Literal,
    WhoCanResult,
    callers_from_directory,
    who_can,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "INSTALL_HINT",
    "Access",
    "Assumption",
    "CallerPolicies",
    "Cell",
    "CheckResult",
    "Literal",
    "MissingSolver",
    "PolicyKind",
    "StatementRef",
    "Verdict",
    "WhoCanResult",
    "callers_from_directory",
    "check_access_not_granted",
    "check_equivalent",
    "check_no_new_access",
    "check_no_public_access",
    "who_can",
]
