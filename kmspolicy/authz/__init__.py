"""The decision point: request context, policy evaluation, KMS authorization, explanations.

Layer: authz (pure: imports only ``kmspolicy.errors`` and ``kmspolicy.lang``). Public API:

* ``Arn.parse(text)`` / ``Arn.of(text)`` — an ARN's fields (partition, service, region, account,
  resource), strictly parsed: InvalidArnException / None for what is not an ARN.
* ``Caller.from_arn(arn, *, tags=None, user_id=None)`` — the principal (``.arn``, ``.account``,
  ``.type``: :class:`PrincipalType`, ``.principal_arn``: the role ARN for an assumed-role session).
* ``Request(caller, action, resource="*", context={}, time=None)`` — one question; context keys in
  any case, values str/bool/number/datetime/bytes or lists of them. Derives ``aws:PrincipalArn``,
  ``aws:PrincipalAccount``, ``aws:PrincipalType``, ``aws:username``, ``aws:userid``,
  ``aws:PrincipalTag/*``, ``kms:CallerAccount``, ``aws:CurrentTime``, ``aws:EpochTime`` and
  ``kms:EncryptionContextKeys`` unless given.
* ``Grant(grant_id, key_arn, grantee_principal, operations, retiring_principal=None,
  encryption_context_equals=None, encryption_context_subset=None, name=None,
  issuing_account=None)``.
* ``KmsPolicies(key_policy, identity_policies=(), grants=(), scps=(), rcps=(),
  permissions_boundary=None, session_policies=())``.
* ``authorize_kms(request, policies) -> Decision`` — KMS's rules.
* ``authorize_iam(request, identity_policies=(), resource_policy=None, *, scps=(), rcps=(),
  permissions_boundary=None, session_policies=(), resource_account=None) -> Decision`` — IAM's
  general rules for other resources.
* ``evaluate_policies(request, policies) -> Decision`` — plain policies, no KMS rules.
* ``Decision`` (``.kind``: :class:`DecisionKind`, ``.allowed``, ``.reason`` (caller-safe, AWS
  wording; allows name the policy type that allowed), ``.matched_statements`` (the deciding
  ones), ``.all_matched`` (every statement that matched, deciding or not),
  ``.missing_context_keys``, ``.nearest_miss``, ``.explain()``, ``.to_dict()``).
* ``Expectation`` — an expected outcome (``denied`` = either deny); ``.holds_for(decision)``.
* ``compile_policy(policy, policy_type)`` — the compiled form; ``PolicyCache()`` keeps them for
  repeated decisions (``authorize_kms(..., matcher=cache.match)``).
"""

from kmspolicy.authz.arn import Arn
from kmspolicy.authz.context import Caller, ContextScalar, ContextValue, PrincipalType, Request
from kmspolicy.authz.decision import (
    Decision,
    DecisionKind,
    Expectation,
    MatchedStatement,
    NearMiss,
    PolicyType,
)
from kmspolicy.authz.evaluator import authorize_iam, evaluate_policies
from kmspolicy.authz.grants import EC_OPERATIONS, GRANT_OPERATIONS, Grant, check_grant_operations
from kmspolicy.authz.index import (
    CompiledPolicy,
    PolicyCache,
    PolicyMatch,
    compile_policy,
    match_policy,
)
from kmspolicy.authz.kms import CROSS_ACCOUNT_ACTIONS, KmsPolicies, authorize_kms, is_key_arn
from kmspolicy.authz.principals import PrincipalMatch
from kmspolicy.authz.reference import match_policy_reference

__all__ = [
    "CROSS_ACCOUNT_ACTIONS",
    "EC_OPERATIONS",
    "GRANT_OPERATIONS",
    "Arn",
    "Caller",
    "CompiledPolicy",
    "ContextScalar",
    "ContextValue",
    "Decision",
    "DecisionKind",
    "Expectation",
    "Grant",
    "KmsPolicies",
    "MatchedStatement",
    "NearMiss",
    "PolicyCache",
    "PolicyMatch",
    "PolicyType",
    "PrincipalMatch",
    "PrincipalType",
    "Request",
    "authorize_iam",
    "authorize_kms",
    "check_grant_operations",
    "compile_policy",
    "evaluate_policies",
    "is_key_arn",
    "match_policy",
    "match_policy_reference",
]
