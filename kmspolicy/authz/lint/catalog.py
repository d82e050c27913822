"""What lint knows about KMS: every action, which ones work cross-account, and which condition
keys apply to which action (KMS.md §1.1, §3.4, §4.1 — the Service Authorization Reference).

Layer: authz (pure data). The facts come from the operation table (``kmspolicy.optable``); this
module shapes them for lint. Keys are compared case-insensitively, as IAM does.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from kmspolicy.authz.matching import compile_glob, has_wildcard
from kmspolicy.lang.vocab import ATTESTATION_PCR_KEY
from kmspolicy.optable import ACTIONS, API_ACTIONS, Resource

#: every ``kms:`` action (the API's operations with ReEncrypt split into From/To, plus the
#: permission-only actions), from the operation table
KMS_ACTIONS: tuple[str, ...] = tuple(ACTIONS)

#: actions with no key resource: meaningful only in IAM policies (KMS.md §1.1 "IAM")
IAM_ONLY: frozenset[str] = frozenset(
    a.name for a in ACTIONS.values() if a.resources == (Resource.ANY,)
)

#: the only actions a principal of another account can use (KMS.md §3.4): the authorizer's set
CROSS_ACCOUNT: frozenset[str] = frozenset(a.name for a in ACTIONS.values() if a.cross_account)

#: actions that return or use plaintext of data protected by the key
DECRYPTING: frozenset[str] = frozenset(a.name for a in ACTIONS.values() if a.plaintext)

# the API's actions on a key (not the permission-only ones): every key-resource condition key
# (key properties, kms:ViaService, aws:ResourceTag/…) applies to them
_KEY_RESOURCE = frozenset(a.name for a in API_ACTIONS.values() if Resource.KEY in a.resources)
_KEY_RESOURCE_KEYS = frozenset(
    {
        "kms:keyorigin",
        "kms:keyspec",
        "kms:keyusage",
        "kms:multiregion",
        "kms:multiregionkeytype",
        "kms:customermasterkeyspec",
        "kms:customermasterkeyusage",
        "kms:viaservice",
        "kms:calleraccount",
        "kms:resourcealiases",
    }
)


def _declaring() -> tuple[dict[str, frozenset[str]], dict[str, frozenset[str]]]:
    """The actions declaring each condition key: exact keys, and key families by the text
    before their ``${…}`` (both lower-case)."""
    exact: dict[str, set[str]] = {}
    families: dict[str, set[str]] = {}
    for action in ACTIONS.values():
        for key in action.condition_keys:
            prefix, templated, _ = key.lower().partition("${")
            (families if templated else exact).setdefault(prefix, set()).add(action.name)
    return (
        {k: frozenset(v) for k, v in exact.items()},
        {k: frozenset(v) for k, v in families.items()},
    )


_EXACT, _FAMILIES = _declaring()
_PCR_FAMILY = "kms:recipientattestation:pcr"


#: multi-valued keys: a plain (non-set) operator on them is almost always a mistake
MULTI_VALUED: frozenset[str] = frozenset(
    {
        "kms:encryptioncontextkeys",
        "kms:grantoperations",
        "kms:resourcealiases",
        "aws:tagkeys",
        "aws:calledvia",
        "aws:principalservicenameslist",
        "aws:principalorgpaths",
        "aws:resourceorgpaths",
        "aws:sourceorgpaths",
        "aws:vpceorgpaths",
    }
)

#: the value type of typed keys (the rest are strings); used to flag operator/key mismatches
KEY_TYPES: Mapping[str, str] = MappingProxyType(
    {
        "kms:bypasspolicylockoutsafetycheck": "Bool",
        "kms:grantisforawsresource": "Bool",
        "kms:multiregion": "Bool",
        "kms:reencryptonsamekey": "Bool",
        "kms:rotationperiodindays": "Numeric",
        "kms:schedulekeydeletionpendingwindowindays": "Numeric",
        "kms:trailingdayswithoutkeyusage": "Numeric",
        "kms:validto": "Date",
        "aws:securetransport": "Bool",
        "aws:multifactorauthpresent": "Bool",
        "aws:viaawsservice": "Bool",
        "aws:principalisawsservice": "Bool",
        "aws:multifactorauthage": "Numeric",
        "aws:currenttime": "Date",
        "aws:tokenissuetime": "Date",
        "aws:sourceip": "IP",
        "aws:vpcsourceip": "IP",
        "aws:principalarn": "ARN",
        "aws:sourcearn": "ARN",
    }
)


#: lower-cased ``kms:<action>`` -> the one action it names (the patterns without wildcards)
_EXACT_ACTIONS: Mapping[str, frozenset[str]] = MappingProxyType(
    {f"kms:{a.lower()}": frozenset({a}) for a in KMS_ACTIONS}
)
_EVERY_ACTION = frozenset(KMS_ACTIONS)


def kms_actions_matching(pattern: str) -> frozenset[str]:
    """The KMS actions (bare names) an action pattern matches: ``kms:Generate*``, ``*``."""
    pattern = pattern.lower()
    if pattern == "*":
        return _EVERY_ACTION
    exact = _EXACT_ACTIONS.get(pattern)
    if exact is not None:
        return exact
    service, _, name = pattern.partition(":")
    if service != "kms" or not name or not has_wildcard(name):
        return frozenset()
    # the evaluator's own action glob, so lint and decisions agree on what a pattern covers
    glob = compile_glob(name, ignore_case=True)
    return frozenset(a for a in KMS_ACTIONS if glob.matches(a))


def key_applies_to(key: str) -> frozenset[str] | None:
    """The KMS actions a condition key applies to, or None when it applies to every action (or
    we do not know it: global ``aws:`` keys, other services' keys)."""
    lower = key.lower()
    declared = _EXACT.get(lower, frozenset())
    if ATTESTATION_PCR_KEY.match(lower):  # PCR<n> and NitroTPM PCR<n>: one family
        declared = _FAMILIES[_PCR_FAMILY]
    else:
        for prefix, actions in _FAMILIES.items():
            if prefix != _PCR_FAMILY and lower.startswith(prefix):
                declared = declared | actions
    if lower in _KEY_RESOURCE_KEYS or lower.startswith("aws:resourcetag/"):
        return _KEY_RESOURCE | declared
    return declared or None


#: keys KMS evaluates only in IAM policies, never in a key policy (KMS.md §3.8, §4.1)
def iam_policy_only(key: str) -> bool:
    lower = key.lower()
    return lower == "kms:resourcealiases" or lower.startswith("aws:resourcetag/")
