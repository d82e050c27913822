"""The operation table: every KMS operation declared once, as data, in a registry.

Layer: kms. An ``Operation`` names its IAM action, how its key is identified, which key-state
row applies, whether a grant can allow it, whether it works across accounts, DryRun, the
condition keys its parameters add, what it refuses on AWS managed keys and key types, and its
handler. Handler modules (``kmspolicy.kms.handlers`` and ``kmspolicy.kms.lifecycle``) call
``register`` at import; the pipeline runs whatever is registered, so a new operation never
edits the pipeline.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kmspolicy.errors import InternalError, ServiceError
from kmspolicy.kms.model import KeyManagerType, KeyRecord

if TYPE_CHECKING:
    from kmspolicy.kms.pipeline import Call, Resolution, Target

__all__ = ["REGISTRY", "Operation", "load_operations", "operation", "register"]

Params = Mapping[str, Any]
Handler = Callable[["Call"], dict[str, Any]]
#: A custom resolver returns the authorization targets of a request (several keys or an alias)
Resolver = Callable[["Resolution"], "list[Target]"]
#: Extra condition keys computed from the parameters
ContextFn = Callable[[Params], Mapping[str, object]]


@dataclass(frozen=True, slots=True)
class Operation:
    """One API operation as data (KMS.md section 1.1 and 1.2)."""

    name: str
    handler: Handler
    #: the IAM action; ``kms:<name>`` unless given
    action: str = ""
    #: the request member naming the key; None for operations without a key resource
    key_param: str | None = "KeyId"
    #: whether ``key_param`` may be an alias name or alias ARN (else key id or key ARN only)
    accepts_alias: bool = False
    #: the GrantOperation that allows it, when a grant can
    grant_operation: str | None = None
    #: whether a principal of another account may call it on the key (else AccessDenied)
    cross_account: bool = False
    #: whether the request has a DryRun member
    dry_run: bool = False
    #: key-state row in ``kms.states``; None: the operation has no key-state check
    state_row: str | None = None
    #: (request member, condition key) pairs added to the context when the member is present
    condition_params: tuple[tuple[str, str], ...] = ()
    #: (condition key, value) defaults when the member is absent (AWS: "as if the default
    #: were sent")
    condition_defaults: tuple[tuple[str, object], ...] = ()
    #: the request member holding the encryption context
    encryption_context_param: str | None = None
    #: further condition keys computed from the parameters
    context: ContextFn | None = None
    #: custom resolution for operations with several resources (ReEncrypt, aliases, ...)
    resolve: Resolver | None = None
    #: parameter rules checked before anything else (ValidationException)
    validate: Callable[[Params], None] | None = None
    #: whether the operation changes state (read-only ones skip write locks where stores can)
    mutates: bool = False
    #: the error AWS answers when the key is an AWS managed key (None: allowed on them).
    #: Checked after authorization, before the key state: the fixed policy already refuses,
    #: this is the wall no policy can open.
    refuse_aws_managed: type[ServiceError] | None = None
    #: key-type eligibility (e.g. rotation only for symmetric AWS_KMS keys), raising
    #: UnsupportedOperationException; after authorization, before the key state, as AWS orders it
    precheck: Callable[[KeyRecord], None] | None = None

    def __post_init__(self) -> None:
        if not self.action:
            object.__setattr__(self, "action", f"kms:{self.name}")

    def check_key(self, key: KeyRecord) -> None:
        """The declared refusals for ``key`` (AWS managed keys, then key type)."""
        if self.refuse_aws_managed is not None and key.key_manager is KeyManagerType.AWS:
            raise self.refuse_aws_managed(
                f"{key.arn} is an AWS managed key, which is not valid for {self.name}."
            )
        if self.precheck is not None:
            self.precheck(key)


REGISTRY: dict[str, Operation] = {}


def register(op: Operation) -> Operation:
    """Add ``op`` to the table; registering a name twice is a bug."""
    if op.name in REGISTRY and REGISTRY[op.name] != op:
        raise InternalError(f"operation {op.name} is registered twice")
    REGISTRY[op.name] = op
    return op


def operation(name: str, **fields: Any) -> Callable[[Handler], Handler]:
    """Decorator form: ``@operation("Encrypt", accepts_alias=True, ...)`` over the handler."""

    def decorate(handler: Handler) -> Handler:
        register(Operation(name, handler, **fields))
        return handler

    return decorate


_HANDLER_MODULES = (
    "kmspolicy.kms.handlers.keys",
    "kmspolicy.kms.handlers.encryption",
    "kmspolicy.kms.handlers.datakeys",
    "kmspolicy.kms.handlers.signing",
    "kmspolicy.kms.handlers.aliases",
    "kmspolicy.kms.handlers.tags",
    "kmspolicy.kms.handlers.policies",
    "kmspolicy.kms.handlers.grants",
)
# Registered by the lifecycle engineer's modules when present (rotation, deletion, import).
_OPTIONAL_MODULES = ("kmspolicy.kms.lifecycle",)
_loaded = False


def load_operations() -> Mapping[str, Operation]:
    """Import every handler module once, so that each registers its operations."""
    global _loaded
    if not _loaded:
        for module in _HANDLER_MODULES:
            importlib.import_module(module)
        for module in _OPTIONAL_MODULES:
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as exc:  # the package itself is absent: nothing to add
                if exc.name != module:
                    raise
        _loaded = True
    return REGISTRY
