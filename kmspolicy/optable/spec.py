"""The shape of one entry of the operation table: an API operation and the IAM actions it needs.

Layer: optable (pure data; imports only ``kmspolicy.errors``). ``Action`` holds what IAM and
grants know of a ``kms:`` action; ``OpSpec`` holds what the service knows of an API operation
(its actions, how its key is named, key-state row, scheduling, DryRun, condition keys from its
parameters, usage tracking, whether kmspolicy implements it). Behaviour (handlers, resolvers,
validators) is bound to an entry by name in ``kmspolicy.kms.operations``, never declared here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from kmspolicy.errors import ServiceError

__all__ = [
    "ANY_KEY",
    "ASYMMETRIC_ENCRYPTION",
    "ENCAPSULATION",
    "HMAC",
    "KEY_AGREEMENT",
    "SIGNING",
    "STATE_COLUMNS",
    "SYMMETRIC",
    "Action",
    "OpSpec",
    "Resource",
]


class Resource(StrEnum):
    """What an action is authorized on (the ``Resource`` a policy statement must match)."""

    KEY = "key"  # the key ARN: the key policy governs (KP in KMS.md 1.1)
    ALIAS = "alias"  # the alias ARN: identity policies alone govern
    ANY = "*"  # no resource: identity policies alone govern (IAM in KMS.md 1.1)


# The kinds of key a grant operation can be granted on (CreateGrant refuses the others):
# symmetric encryption keys by their key spec, every other key by its KeyUsage.
SYMMETRIC = "SYMMETRIC_DEFAULT"
ASYMMETRIC_ENCRYPTION = "ENCRYPT_DECRYPT"
SIGNING = "SIGN_VERIFY"
HMAC = "GENERATE_VERIFY_MAC"
KEY_AGREEMENT = "KEY_AGREEMENT"
ENCAPSULATION = "ENCAPSULATE_DECAPSULATE"
ANY_KEY = frozenset({SYMMETRIC, ASYMMETRIC_ENCRYPTION, SIGNING, HMAC, KEY_AGREEMENT, ENCAPSULATION})

#: The key states of a state row, in order: a row is one cell per column, ``✓`` (allowed),
#: ``D`` (DisabledException), ``S`` (KMSInvalidStateException), ``U``
#: (UnsupportedOperationException). A column names every state it stands for.
STATE_COLUMNS: tuple[tuple[str, ...], ...] = (
    ("Enabled",),
    ("Disabled",),
    ("PendingDeletion", "PendingReplicaDeletion"),
    ("PendingImport",),
    ("Unavailable",),
    ("Creating",),
    ("Updating",),
)


@dataclass(frozen=True, slots=True)
class Action:
    """One ``kms:`` IAM action (Service Authorization Reference; KMS.md 1.1, 3.4, 4.1)."""

    #: the bare name, ``Decrypt`` for ``kms:Decrypt``
    name: str
    #: what the action is authorized on; CreateAlias, UpdateAlias and DeleteAlias name two kinds
    resources: tuple[Resource, ...] = (Resource.KEY,)
    #: whether a principal of another account may be allowed it on the key
    cross_account: bool = False
    #: the key kinds a grant for it may be created on; empty: not a GrantOperation (the name of
    #: the grant operation is the action's name)
    grant_keys: frozenset[str] = frozenset()
    #: whether a grant's encryption-context constraints apply to it (API_GrantConstraints)
    grant_constraints: bool = False
    #: the operation-specific condition keys it supports; ``${...}`` marks a key family
    #: (``kms:EncryptionContext:${EncryptionContextKey}``). Keys every key-resource action
    #: supports (key properties, ``kms:ViaService``, ``aws:ResourceTag/…``) are lint's rule
    condition_keys: frozenset[str] = frozenset()
    #: whether it returns or uses plaintext of data the key protects
    plaintext: bool = False

    @property
    def iam(self) -> str:
        """``kms:<name>``, as a policy names it."""
        return f"kms:{self.name}"

    @property
    def grantable(self) -> bool:
        return bool(self.grant_keys)


@dataclass(frozen=True, slots=True)
class OpSpec:
    """One operation of botocore's KMS model, as data (KMS.md 1.1, 1.2)."""

    name: str
    #: the IAM actions a request is authorized for (ReEncrypt: one per key)
    actions: tuple[Action, ...]
    #: False: authorized like any other, then answered UnsupportedOperationException
    implemented: bool = True
    #: the request member naming the key when the pipeline resolves it (None: no key, or a
    #: resolver bound with the handler finds the keys)
    key_param: str | None = "KeyId"
    #: whether the key may be named by an alias name or alias ARN
    accepts_alias: bool = False
    #: whether it changes state (else it runs in a read-only transaction)
    mutates: bool = False
    #: whether it costs milliseconds of CPU (asymmetric crypto): the server never runs it on
    #: its event loop
    cpu_bound: bool = False
    #: whether the request has a DryRun member
    dry_run: bool = False
    #: the key-state row (``STATE_COLUMNS``); None: no key, or no state check
    states: str | None = None
    #: further rows, for the other keys of a multi-key operation (``"UpdateAlias.TargetKey"``)
    target_states: tuple[tuple[str, str], ...] = ()
    #: (request member, condition key): the key is set when the member is present
    condition_params: tuple[tuple[str, str], ...] = ()
    #: (condition key, value) when the member is absent (AWS: "as if the default were sent")
    condition_defaults: tuple[tuple[str, object], ...] = ()
    #: the request member holding the encryption context (its pairs become condition keys)
    encryption_context_param: str | None = None
    #: the error AWS answers on an AWS managed key (None: allowed on them)
    refuse_aws_managed: type[ServiceError] | None = None
    #: whether a success counts as the key's last usage (KeyLastUsageTrackingOperation)
    tracked: bool = False

    # Derived once (the pipeline reads them on every request), never passed in:
    #: the IAM action; for an operation authorized as several, the pattern covering them
    action: str = field(init=False)
    #: whether a principal of another account may call it (every one of its actions)
    cross_account: bool = field(init=False)
    #: the GrantOperation that allows it (None when no grant can, or one per key)
    grant_operation: str | None = field(init=False)
    #: the name of its key-state row in ``kmspolicy.kms.states`` (None: no state check)
    state_row: str | None = field(init=False)

    def __post_init__(self) -> None:
        one = self.actions[0] if len(self.actions) == 1 else None
        derived = {
            "action": one.iam if one is not None else f"kms:{self.name}*",
            "cross_account": all(a.cross_account for a in self.actions),
            "grant_operation": one.name if one is not None and one.grantable else None,
            "state_row": self.name if self.states is not None else None,
        }
        for name, value in derived.items():
            object.__setattr__(self, name, value)

    @property
    def resources(self) -> frozenset[Resource]:
        return frozenset(r for a in self.actions for r in a.resources)

    @property
    def may_run_on_event_loop(self) -> bool:
        """Neither writes nor burns CPU: the server may run it on its event loop (when the
        store is in-process; see ``kmspolicy.server.backend``)."""
        return not self.mutates and not self.cpu_bound
