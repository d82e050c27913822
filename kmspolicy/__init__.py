"""kmspolicy: a key-management engine in which every key operation is decided by a policy first.

The public facade. Everything a library user needs is importable from here; the modules behind
it are private to the package layout (see DESIGN.md). ``__all__`` is sorted and a test keeps it
honest.
"""

from kmspolicy.errors import (
    ConfigError,
    InternalError,
    KmsPolicyError,
    PolicyError,
    ServiceError,
    UserError,
)
from kmspolicy.kms.identities import AccountPolicies, Identities, Identity
from kmspolicy.kms.service import KMS
from kmspolicy.lang import (
    Policy,
    PolicySyntaxError,
    Statement,
    format_dsl,
    load_policies,
    parse_dsl,
    read_json,
    write_json,
)

__all__ = [  # noqa: RUF022  # plain sorted() order, as tests/test_public_api.py checks
    "AccountPolicies",
    "ConfigError",
    "Identities",
    "Identity",
    "InternalError",
    "KMS",
    "KmsPolicyError",
    "Policy",
    "PolicyError",
    "PolicySyntaxError",
    "ServiceError",
    "Statement",
    "UserError",
    "format_dsl",
    "load_policies",
    "parse_dsl",
    "read_json",
    "write_json",
]
