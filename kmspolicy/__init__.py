"""kmspolicy: a key-management engine in which every key operation is decided by a policy first.

The public facade. Everything a library user needs is importable from here; the modules behind
it are private to the package layout (see docs/design.md). ``__all__`` is sorted and a test keeps it
honest.
"""

import importlib
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from kmspolicy._extras import missing_extra
from kmspolicy._version import __version__ as __version__
from kmspolicy.errors import (
    ConfigError,
    InternalError,
    KmsPolicyError,
    PolicyError,
    ServiceError,
    UserError,
)
from kmspolicy.lang import (
    Diagnostic,
    Policy,
    PolicySyntaxError,
    Statement,
    format_dsl,
    load_policies,
    parse_dsl,
    read_json,
    read_policies,
    write_json,
)

if TYPE_CHECKING:
    from kmspolicy.authz import (
        Caller,
        Decision,
        DecisionKind,
        Expectation,
        Grant,
        KmsPolicies,
        Request,
        authorize_iam,
        authorize_kms,
        evaluate_policies,
    )
    from kmspolicy.authz.lint import Finding, lint_policy, lint_text
    from kmspolicy.facade import authorize
    from kmspolicy.kms.clock import FakeClock, OffsetClock, SystemClock
    from kmspolicy.kms.identities import AccountPolicies, Identities, Identity
    from kmspolicy.kms.service import KMS
    from kmspolicy.kms.states import KeyState

# The service (botocore, cryptography) loads on first use: pytest imports this package at
# startup in every project that has kmspolicy installed (the ``kmspolicy`` pytest11 plugin).
_LAZY = MappingProxyType(
    {
        "Caller": "kmspolicy.authz",
        "Decision": "kmspolicy.authz",
        "DecisionKind": "kmspolicy.authz",
        "Grant": "kmspolicy.authz",
        "KmsPolicies": "kmspolicy.authz",
        "Request": "kmspolicy.authz",
        "authorize_iam": "kmspolicy.authz",
        "authorize_kms": "kmspolicy.authz",
        "evaluate_policies": "kmspolicy.authz",
        "Expectation": "kmspolicy.authz",
        "authorize": "kmspolicy.facade",
        "Finding": "kmspolicy.authz.lint",
        "lint_policy": "kmspolicy.authz.lint",
        "lint_text": "kmspolicy.authz.lint",
        "AccountPolicies": "kmspolicy.kms.identities",
        "Identities": "kmspolicy.kms.identities",
        "Identity": "kmspolicy.kms.identities",
        "KMS": "kmspolicy.kms.service",
        "FakeClock": "kmspolicy.kms.clock",
        "OffsetClock": "kmspolicy.kms.clock",
        "SystemClock": "kmspolicy.kms.clock",
        "KeyState": "kmspolicy.kms.states",
    }
)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'kmspolicy' has no attribute {name!r}")
    try:
        value = getattr(importlib.import_module(module), name)
    except ImportError as exc:  # `pip install kmspolicy` alone: name the extra to install
        missing = missing_extra(exc, f"kmspolicy.{name}")
        if missing is None:
            raise
        raise missing from exc
    globals()[name] = value
    return value


__all__ = [  # noqa: RUF022  # plain sorted() order, as tests/test_public_api.py checks
    "AccountPolicies",
    "Caller",
    "ConfigError",
    "Decision",
    "DecisionKind",
    "Diagnostic",
    "Expectation",
    "FakeClock",
    "Finding",
    "Grant",
    "Identities",
    "Identity",
    "InternalError",
    "KMS",
    "KeyState",
    "KmsPolicies",
    "KmsPolicyError",
    "OffsetClock",
    "Policy",
    "PolicyError",
    "PolicySyntaxError",
    "Request",
    "ServiceError",
    "Statement",
    "SystemClock",
    "UserError",
    "authorize",
    "authorize_iam",
    "authorize_kms",
    "evaluate_policies",
    "format_dsl",
    "lint_policy",
    "lint_text",
    "load_policies",
    "parse_dsl",
    "read_json",
    "read_policies",
    "write_json",
]
