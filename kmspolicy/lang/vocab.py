"""The vocabulary both readers check against: operators, well-known condition keys, ARN shapes.

Layer: lang (pure). The DSL parser and the AWS JSON reader ask the same questions here so the two
faces of the language accept exactly the same documents and suggest the same corrections.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import MappingProxyType

from kmspolicy.lang.ast import ConditionOperator, PrincipalKind, SetQualifier
from kmspolicy.lang.diagnostics import did_you_mean

# --- condition operators ---------------------------------------------------------------------

_BASE = MappingProxyType({op.value: op for op in ConditionOperator})
_QUALIFIERS = MappingProxyType({q.value: q for q in SetQualifier})


def operator_spellings() -> list[str]:
    """Every operator text AWS accepts (qualifier × base × IfExists), for did-you-mean."""
    bases = [op.value for op in ConditionOperator]
    plain = bases + [f"{b}IfExists" for b in bases if b != "Null"]
    return plain + [f"{q.value}:{p}" for q in SetQualifier for p in plain]


_SPELLINGS = operator_spellings()


def _split_operator(text: str) -> tuple[SetQualifier | None, ConditionOperator, bool] | None:
    qualifier = None
    rest = text
    if ":" in text:
        prefix, rest = text.split(":", 1)
        qualifier = _QUALIFIERS.get(prefix)
        if qualifier is None:
            return None
    if_exists = rest.endswith("IfExists")
    base = _BASE.get(rest.removesuffix("IfExists") if if_exists else rest)
    if base is None or (if_exists and base is ConditionOperator.NULL):
        return None
    return qualifier, base, if_exists


# every valid spelling, split once: the readers look an operator up rather than split it
_OPERATORS = MappingProxyType({text: _split_operator(text) for text in _SPELLINGS})


def parse_operator(text: str) -> tuple[SetQualifier | None, ConditionOperator, bool] | None:
    """Split ``ForAnyValue:StringLikeIfExists`` into (qualifier, base, if_exists); None if invalid.

    Spelling is exact, as in the IAM documentation (a wrong case gets a did-you-mean): being
    stricter than IAM is safer than accepting a document AWS might refuse.
    """
    return _OPERATORS.get(text)


def suggest_operator(text: str) -> str | None:
    return did_you_mean(text, _SPELLINGS, cutoff=0.6)


# --- well-known condition keys ---------------------------------------------------------------

#: Global ``aws:`` keys (IAM User Guide, "AWS global condition context keys")
AWS_GLOBAL_KEYS = (
    "aws:AssumedRoot",
    "aws:CalledVia",
    "aws:CalledViaFirst",
    "aws:CalledViaLast",
    "aws:ChatbotSourceArn",
    "aws:CurrentTime",
    "aws:Ec2InstanceSourcePrivateIPv4",
    "aws:Ec2InstanceSourceVpc",
    "aws:EpochTime",
    "aws:FederatedProvider",
    "aws:MultiFactorAuthAge",
    "aws:MultiFactorAuthPresent",
    "aws:PrincipalAccount",
    "aws:PrincipalArn",
    "aws:PrincipalIsAWSService",
    "aws:PrincipalOrgID",
    "aws:PrincipalOrgPaths",
    "aws:PrincipalServiceName",
    "aws:PrincipalServiceNamesList",
    "aws:PrincipalType",
    "aws:Referer",
    "aws:RequestedRegion",
    "aws:ResourceAccount",
    "aws:ResourceOrgID",
    "aws:ResourceOrgPaths",
    "aws:SecureTransport",
    "aws:SourceAccount",
    "aws:SourceArn",
    "aws:SourceIdentity",
    "aws:SourceIp",
    "aws:SourceOrgID",
    "aws:SourceOrgPaths",
    "aws:SourceVpc",
    "aws:SourceVpcArn",
    "aws:SourceVpce",
    "aws:TagKeys",
    "aws:TokenIssueTime",
    "aws:UserAgent",
    "aws:userid",
    "aws:username",
    "aws:ViaAWSService",
    "aws:VpceAccount",
    "aws:VpceOrgID",
    "aws:VpceOrgPaths",
    "aws:VpcSourceIp",
)
#: ``aws:`` keys that take a suffix (``aws:PrincipalTag/dept``)
AWS_PREFIX_KEYS = ("aws:PrincipalTag/", "aws:RequestTag/", "aws:ResourceTag/")

#: AWS KMS condition keys (Service Authorization Reference, AWS Key Management Service)
KMS_KEYS = (
    "kms:BypassPolicyLockoutSafetyCheck",
    "kms:CallerAccount",
    "kms:CustomerMasterKeySpec",
    "kms:CustomerMasterKeyUsage",
    "kms:DataKeyPairSpec",
    "kms:EncryptionAlgorithm",
    "kms:EncryptionContextKeys",
    "kms:ExpirationModel",
    "kms:GrantConstraintSourceArn",
    "kms:GrantConstraintType",
    "kms:GrantIsForAWSResource",
    "kms:GrantOperations",
    "kms:GranteePrincipal",
    "kms:GranteeServicePrincipal",
    "kms:KeyAgreementAlgorithm",
    "kms:KeyOrigin",
    "kms:KeySpec",
    "kms:KeyUsage",
    "kms:MacAlgorithm",
    "kms:MessageType",
    "kms:MultiRegion",
    "kms:MultiRegionKeyType",
    "kms:PrimaryRegion",
    "kms:ReEncryptOnSameKey",
    "kms:RecipientAttestation:ImageSha384",
    "kms:ReplicaRegion",
    "kms:RequestAlias",
    "kms:ResourceAliases",
    "kms:RetiringPrincipal",
    "kms:RetiringServicePrincipal",
    "kms:RotationPeriodInDays",
    "kms:ScheduleKeyDeletionPendingWindowInDays",
    "kms:SigningAlgorithm",
    "kms:TrailingDaysWithoutKeyUsage",
    "kms:ValidTo",
    "kms:ViaService",
    "kms:WrappingAlgorithm",
    "kms:WrappingKeySpec",
)
KMS_PREFIX_KEYS = ("kms:EncryptionContext:",)
#: the numbered attestation keys (``kms:RecipientAttestation:PCR0``..), matched lower-cased
ATTESTATION_PCR_KEY = re.compile(r"kms:recipientattestation:(nitrotpm)?pcr\d{1,2}\Z")

WELL_KNOWN_KEYS = AWS_GLOBAL_KEYS + KMS_KEYS
_EXACT = frozenset({k.lower() for k in WELL_KNOWN_KEYS})
_PREFIXES = tuple(p.lower() for p in AWS_PREFIX_KEYS + KMS_PREFIX_KEYS)


def check_condition_key(key: str) -> tuple[str, str | None] | None:
    """None if ``key`` is acceptable, else (message, help).

    Only the ``aws:`` and ``kms:`` namespaces are checked: we know every key there, as IAM
    Access Analyzer does; other services' keys pass.
    """
    lower = key.lower()
    if not key:
        return "condition key is empty", None
    if not (lower.startswith("aws:") or lower.startswith("kms:")):
        return None
    if lower in _EXACT or ATTESTATION_PCR_KEY.match(lower):
        return None
    for prefix in _PREFIXES:
        if lower.startswith(prefix) and len(lower) > len(prefix):
            return None
    if lower in _PREFIXES:  # the prefix alone: the name that completes it is missing
        return (
            f"condition key `{key}` is incomplete",
            f"name what follows the prefix, e.g. `{key}team`",
        )
    namespace, _, rest = key.partition(":")
    # A misspelt prefix key: compare the head (``kms:EncryptionContxt:``) with the prefixes.
    for sep in (":", "/"):
        if sep in rest:
            head = f"{namespace}:{rest.split(sep, 1)[0]}{sep}"
            found = did_you_mean(head, AWS_PREFIX_KEYS + KMS_PREFIX_KEYS, cutoff=0.8)
            if found is not None:
                return (
                    f"unknown condition key `{key}`",
                    f"did you mean `{found}{rest.split(sep, 1)[1]}`?",
                )
    found = did_you_mean(key, WELL_KNOWN_KEYS + AWS_PREFIX_KEYS + KMS_PREFIX_KEYS, cutoff=0.75)
    return (
        f"unknown condition key `{key}`",
        f"did you mean `{found}`?" if found else f"`{namespace}:` keys are a fixed list; see docs",
    )


# --- actions, resources, principals ----------------------------------------------------------

_ACTION = re.compile(r"\*\Z|[A-Za-z0-9-]+:[A-Za-z0-9*?_-]+\Z")
_ARN = re.compile(r"arn:[^:\s]+:[^:\s]*:[^:\s]*:[^:\s]*:\S+\Z")
# a policy variable, whose default value may hold spaces (``${aws:PrincipalTag/team,
# 'company-wide'}``, the IAM User Guide's own Resource example)
_VARIABLE = re.compile(r"\$\{[^}]*\}")
# an account id, an IAM/STS ARN, or the unique id IAM shows for a deleted principal
_AWS_PRINCIPAL = re.compile(r"\d{12}\Z|arn:aws[a-z-]*:(iam|sts)::\d{12}:\S+\Z|A[A-Z0-9]{15,127}\Z")
_SERVICE = re.compile(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+\Z")  # ec2.amazonaws.com, logs.<region>...
_CANONICAL = re.compile(r"[0-9a-f]{64}\Z")
_PRINCIPAL_PATTERNS = MappingProxyType(
    {PrincipalKind.SERVICE: _SERVICE, PrincipalKind.CANONICAL_USER: _CANONICAL}
)


@dataclass(frozen=True, slots=True)
class Problem:
    code: str
    message: str
    help: str | None = None


def check_action(name: str) -> Problem | None:
    if _ACTION.match(name):
        return None
    return Problem(
        "malformed-action",
        f"malformed action `{name}`",
        "an action is `service:Name` (wildcards `*` and `?` allowed) or `*`",
    )


def check_resource(arn: str) -> Problem | None:
    if arn == "*" or _ARN.match(_VARIABLE.sub("v", arn)):
        return None
    return Problem(
        "malformed-arn",
        f"malformed resource ARN `{arn}`",
        "a resource is `*` or `arn:partition:service:region:account:resource`",
    )


def check_principal(kind: PrincipalKind, value: str) -> Problem | None:
    if kind is PrincipalKind.AWS and value != "*" and ("*" in value or "?" in value):
        return Problem(
            "malformed-arn",
            f"wildcard in AWS principal `{value}`",
            "principals take no partial wildcards; use `principal *` with a condition on "
            "`aws:PrincipalArn` (ArnLike) instead",
        )
    if kind is PrincipalKind.FEDERATED:
        ok = bool(value) and not any(c.isspace() for c in value)
    elif value == "*":
        ok = True
    elif kind is PrincipalKind.AWS:
        ok = _AWS_PRINCIPAL.match(value) is not None
    else:  # only the kinds below have a pattern; ANY is nothing but `*`
        ok = kind in _PRINCIPAL_PATTERNS and bool(_PRINCIPAL_PATTERNS[kind].match(value))
    if ok:
        return None
    helps = {
        PrincipalKind.ANY: "the bare principal is `*`",
        PrincipalKind.AWS: "an AWS principal is `*`, a 12-digit account id or an IAM/STS ARN "
        "such as `arn:aws:iam::111122223333:root`",
        PrincipalKind.SERVICE: "a service principal looks like `ec2.amazonaws.com`",
        PrincipalKind.FEDERATED: "a federated principal is a provider ARN or a domain",
        PrincipalKind.CANONICAL_USER: "a canonical user id is 64 hexadecimal digits",
    }
    code = "malformed-arn" if kind is PrincipalKind.AWS else "malformed-principal"
    return Problem(code, f"malformed {kind.value} principal `{value}`", helps[kind])
