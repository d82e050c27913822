"""Handlers bound to the operation table: each entry of ``kmspolicy.optable``, with its behaviour.

Layer: kms. The table declares every operation's facts (action, resource, grants, key states,
scheduling, DryRun, condition keys …); this module binds to an entry, by name, what only code
can say: the handler, and when needed a resolver (several keys or an alias), a parameter
validator, condition keys computed from the parameters, and a key-type precheck.

``bind`` is pure: it returns the bound ``Operation`` and records it nowhere. Each handler module
(``kmspolicy.kms.handlers`` and ``kmspolicy.kms.lifecycle.api_*``) exports its bindings as a
tuple, ``OPERATIONS = (bind(...), ...)``; ``kms.implemented.load_operations`` collects those
tuples with ``collect``, which refuses a set that does not match the table: a name bound twice,
or an implemented entry without a handler (``bind`` itself refuses a name the table lacks or
declares unimplemented). This module imports no handler, so the table and its handlers form no
import loop. Entries declared unimplemented get no handler: the pipeline authorizes them like
any other and then answers UnsupportedOperationException.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from kmspolicy.errors import InternalError
from kmspolicy.kms.kernel import Kernel
from kmspolicy.kms.model import KeyInfo, KeyManagerType, KeyRecord
from kmspolicy.kms.requests import Call, Resolution, Target
from kmspolicy.optable import OPERATIONS, OpSpec

__all__ = ["Handler", "Operation", "bind", "collect"]

Params = Mapping[str, Any]
Handler = Callable[[Call], dict[str, Any]]
#: A custom resolver returns the authorization targets of a request (several keys or an alias)
Resolver = Callable[[Resolution], list[Target]]
#: Extra condition keys computed from the parameters
ContextFn = Callable[[Params], Mapping[str, object]]


@dataclass(frozen=True, slots=True)
class Operation(OpSpec):
    """A table entry with its behaviour bound (``handler`` None: declared unimplemented)."""

    handler: Handler | None = None
    #: further condition keys computed from the parameters
    context: ContextFn | None = None
    #: custom resolution for operations with several resources (ReEncrypt, aliases, ...)
    resolve: Resolver | None = None
    #: parameter rules checked before anything else (ValidationException)
    validate: Callable[[Params], None] | None = None
    #: key-type eligibility (e.g. rotation only for symmetric AWS_KMS keys), raising
    #: UnsupportedOperationException; after authorization, before the key state, as AWS orders it
    precheck: Callable[[KeyInfo], None] | None = None
    #: for a read whose ``resolve`` finds its one key by something other than a parameter
    #: (Decrypt: its ciphertext's header), what names that key, for the request's plan
    #: (``Pipeline._plan_question``): given the parameters and the kernel (which reads the
    #: header), a value that with the caller and context determines ``resolve``'s target;
    #: None: not planned (``resolve`` raises its own errors in its own order)
    plan_key: Callable[[Params, Kernel], Hashable | None] | None = None

    def check_key(self, key: KeyRecord) -> None:
        """The declared refusals for ``key`` (AWS managed keys, then key type)."""
        if self.refuse_aws_managed is not None and key.key_manager is KeyManagerType.AWS:
            raise self.refuse_aws_managed(
                f"{key.arn} is an AWS managed key, which is not valid for {self.name}."
            )
        if self.precheck is not None:
            self.precheck(key)


def _facts(spec: OpSpec) -> dict[str, Any]:
    return {f.name: getattr(spec, f.name) for f in dataclasses.fields(OpSpec) if f.init}


def bind(
    name: str,
    handler: Handler,
    *,
    context: ContextFn | None = None,
    resolve: Resolver | None = None,
    validate: Callable[[Params], None] | None = None,
    precheck: Callable[[KeyInfo], None] | None = None,
    plan_key: Callable[[Params, Kernel], Hashable | None] | None = None,
) -> Operation:
    """Bind ``handler`` (and the rest of the behaviour) to the table's entry ``name``."""
    spec = OPERATIONS.get(name)
    if spec is None:
        raise InternalError(f"a handler is bound to {name}, which the operation table lacks")
    if not spec.implemented:
        raise InternalError(
            f"a handler is bound to {name}, which the operation table declares unimplemented"
        )
    return Operation(
        **_facts(spec),
        handler=handler,
        context=context,
        resolve=resolve,
        validate=validate,
        precheck=precheck,
        plan_key=plan_key,
    )


def collect(bound: Iterable[Operation]) -> Mapping[str, Operation]:
    """Every operation of the table, by name: the ``bound`` ones with their behaviour, the
    others as declared (no handler). InternalError when a name is bound twice or an
    implemented entry has no handler."""
    handled: dict[str, Operation] = {}
    for op in bound:
        if op.name in handled:
            raise InternalError(f"two handlers are bound to {op.name}")
        handled[op.name] = op
    missing = sorted(n for n, spec in OPERATIONS.items() if spec.implemented and n not in handled)
    if missing:
        raise InternalError(f"the operation table declares {missing} implemented, without handlers")
    return MappingProxyType(
        {name: handled.get(name) or Operation(**_facts(spec)) for name, spec in OPERATIONS.items()}
    )
