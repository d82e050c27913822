"""``kmspolicy.KMS``: the KMS service in-process, its Pythonic layer and its boto3 client.

Layer: kms (the facade over the pipeline). ``KMS(...)`` composes a store (in-memory by default),
a clock, an identities directory and an audit log; ``kms.dispatch(op, principal, params)`` runs
any operation of the table; ``kms.encrypt(KeyId=..., Plaintext=...)`` and friends are the same
dispatch under botocore's snake_case names (generated from the table, never written twice);
``kms.client(principal=ARN)`` is a real botocore client served in-process.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Generic, cast

from botocore import xform_name

from kmspolicy.kms import ids, wire
from kmspolicy.kms.client import make_client
from kmspolicy.kms.clock import Clock, OffsetClock
from kmspolicy.kms.handlers.common import key_metadata
from kmspolicy.kms.identities import Identities
from kmspolicy.kms.keystores import CloudHsmConnector, KeyStoreConnector
from kmspolicy.kms.lifecycle.due import SweepReport, sweep
from kmspolicy.kms.lifecycle.managed import ensure_aws_managed_key
from kmspolicy.kms.memory import MemoryStore
from kmspolicy.kms.pipeline import Pipeline, Preview
from kmspolicy.kms.ports import AuditLog, Rng, Store
from kmspolicy.kms.quotas import Quotas, RequestQuotas
from kmspolicy.kms.request_ids import RequestIds
from kmspolicy.optable import OPERATIONS

__all__ = ["KMS"]


if TYPE_CHECKING:
    # PEP 696 defaults (typing on 3.13+): a bare ``KMS`` is ``KMS[OffsetClock]``, so the default
    # clock's ``advance`` type-checks. Only type checkers read the default.
    from typing_extensions import TypeVar

    ClockT = TypeVar("ClockT", bound=Clock, default=OffsetClock)
else:
    from typing import TypeVar

    ClockT = TypeVar("ClockT", bound=Clock)

#: botocore's snake_case method names of every operation of the table
_SNAKE_NAMES = MappingProxyType({xform_name(name): name for name in OPERATIONS})


class KMS(Generic[ClockT]):
    """AWS KMS run in-process; every call is authorized by the key's policies first.

    ``store``: a ``kms.ports.Store`` (default: a fresh in-memory store); ``clock``: a
    ``kms.clock.Clock`` (default: an ``OffsetClock``, the real time, which
    ``kms.clock.advance(days=8)`` moves forward for this instance only; ``kms.clock`` has the
    type of the clock given, ``KMS[FakeClock]`` for a ``FakeClock``); ``identities``: the
    principals and their IAM policies (default: empty — only the account root user has
    identity permissions);
    ``audit``: a ``kms.ports.AuditLog`` receiving one record per request; ``quotas``: the
    resource and request quotas (``kms.quotas.Quotas``; default: AWS's resource quotas, no
    request quotas); ``rng``: the randomness for ids, nonces and new key material (default:
    ``os.urandom``); ``regions``: the Regions the store serves, where ReplicateKey may create
    replicas (default: any Region name; the server passes the Regions it serves);
    ``key_stores``: the custom key store types offered, one connector each (default: CloudHSM
    key stores without any cluster; docs/custom-key-stores.md).

    Two instances share nothing: each has its own pipeline, kernel and caches.
    """

    def __init__(
        self,
        store: Store | None = None,
        clock: ClockT | None = None,
        account: str = "111122223333",
        region: str = "us-east-1",
        identities: Identities | None = None,
        audit: AuditLog | None = None,
        *,
        rng: Rng | None = None,
        quotas: Quotas | None = None,
        regions: Iterable[str] | None = None,
        key_stores: Sequence[KeyStoreConnector] | None = None,
    ) -> None:
        if not ids.is_account_id(account):
            raise ValueError(f"account must be a 12-digit AWS account id, got {account!r}")
        self.account = account
        self.region = region
        self.store: Store = store if store is not None else MemoryStore()
        # without a clock, ClockT is its default, OffsetClock (see ClockT)
        self.clock: ClockT = clock if clock is not None else cast(ClockT, OffsetClock())
        self.identities = identities if identities is not None else Identities()
        self.audit = audit
        rng = rng if rng is not None else os.urandom
        self._request_ids = RequestIds(rng)
        self.quotas = quotas if quotas is not None else Quotas()
        self._request_quotas = RequestQuotas(self.quotas, region) if self.quotas.requests else None
        self._pipeline = Pipeline(
            store=self.store,
            clock=self.clock,
            rng=rng,
            identities=self.identities,
            audit=audit,
            account=account,
            region=region,
            quotas=self.quotas,
            regions=frozenset(regions) if regions is not None else None,
            key_stores=key_stores if key_stores is not None else (CloudHsmConnector(),),
        )

    @property
    def root_principal(self) -> str:
        """``arn:aws:iam::<account>:root``: the default caller."""
        return ids.account_root_arn(self.account)

    @property
    def operations(self) -> frozenset[str]:
        """The operation names this service implements (the model's others are authorized,
        then answered UnsupportedOperationException)."""
        return frozenset(n for n, op in self._pipeline.operations.items() if op.handler)

    def new_request_id(self) -> str:
        """The next request id (one scheme for every front end; drawn from the service's rng)."""
        return self._request_ids()

    def dispatch(
        self,
        operation: str,
        principal: str,
        params: Mapping[str, Any],
        *,
        context: Mapping[str, object] | None = None,
        request_id: str = "",
        admitted: bool = False,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """Run ``operation`` as ``principal`` with parameters already decoded by ``kms.wire``;
        ``admitted``: the request was counted against the request quotas already (the server's
        re-run in a thread of a request that raised ``RunInThread`` on its event loop);
        ``now``: this service's clock, just read by the caller for the request (the server's
        reading for SigV4), else read here."""
        identity = None
        if self._request_quotas is not None and not admitted:
            # one reading of the clock: the second its quota counts in is the request's time
            if now is None:
                now = self.clock.now()
            # the caller's account (cross-account requests count against it, as in AWS), from
            # the directory entry the pipeline then runs the request for
            identity = self.identities.resolve(principal)
            account = identity.caller.account or self.account
            self._request_quotas.admit(account, operation, params, now)
        return self._pipeline.run(
            operation,
            principal,
            params,
            context=context,
            request_id=request_id,
            now=now,
            identity=identity,
        )

    def preview(
        self,
        operation: str,
        principal: str,
        params: Mapping[str, Any],
        *,
        context: Mapping[str, object] | None = None,
        policy: str | None = None,
    ) -> Preview:
        """Whether ``principal`` would be allowed ``operation`` (decoded ``params``), decided by
        the pipeline's own decision point, without running or recording it (``Pipeline.preview``;
        ``policy``: a key policy text to try instead of the key's)."""
        parsed = None
        if policy is not None:  # a candidate, not a stored policy: PolicyError if it is bad
            from kmspolicy.lang import read_json

            parsed = read_json(policy, "key policy", key_policy=True)
        return self._pipeline.preview(operation, principal, params, context=context, policy=parsed)

    def call(
        self,
        operation: str,
        params: Mapping[str, Any] | None = None,
        *,
        principal: str | None = None,
        context: Mapping[str, object] | None = None,
    ) -> dict[str, Any]:
        """Validate ``params`` (boto3's Python shapes) against the model, then dispatch."""
        checked = wire.validate_params(operation, params or {})
        return self.dispatch(operation, principal or self.root_principal, checked, context=context)

    def as_principal(self, principal: str) -> _Bound:
        """The Pythonic layer acting as ``principal``: ``kms.as_principal(arn).encrypt(...)``."""
        return _Bound(self, principal)

    def aws_managed_key(self, service: str) -> dict[str, Any]:
        """The ``KeyMetadata`` of the AWS managed key ``alias/aws/<service>`` (e.g. ``"s3"``),
        created on first use as AWS does when the service first needs it."""
        with self.store.transaction() as tx:
            record = ensure_aws_managed_key(
                tx,
                account=self.account,
                region=self.region,
                service=service,
                now=self.clock.now(),
                kernel=self._pipeline.kernel,
                audit=self.audit,
            )
        return key_metadata(record)

    def sweep(self, now: datetime | None = None) -> SweepReport:
        """Do the lifecycle work due at ``now`` (default: the clock's now) on every key of the
        store: rotations, deletions at the end of their window, import expiry."""
        at = now if now is not None else self.clock.now()
        # the service's own changes go to this service's audit log, in the requests' chain
        report = sweep(
            self.store, at, self._pipeline.kernel, self.audit, self._pipeline.destroy_deleted
        )
        for arn in report.touched:  # deleted or rotated; the kernel forgot what changed
            self._pipeline.forget_decisions(arn)
        return report

    def close(self) -> None:
        """Close this service's live connections to custom key stores (its store, clock and
        audit log are the caller's to close)."""
        self._pipeline.key_stores.close()

    def forget_keys(self, key_arns: Iterable[str]) -> None:
        """Drop whatever this service's kernel opened of these keys, and its decisions about
        them (another service sharing the store changed or deleted them)."""
        for arn in key_arns:
            self._pipeline.note_saved(None, arn)

    def client(
        self,
        principal: str | None = None,
        *,
        context: Mapping[str, object] | None = None,
        config: Any = None,
    ) -> Any:
        """A real botocore KMS client acting as ``principal`` (default: the account root)."""
        return make_client(self, principal or self.root_principal, context=context, config=config)

    def __getattr__(self, name: str) -> Callable[..., dict[str, Any]]:
        return _method(self, None, name)

    def __repr__(self) -> str:
        return f"KMS(account={self.account!r}, region={self.region!r}, store={self.store!r})"


class _Bound:
    __slots__ = ("_kms", "_principal")

    def __init__(self, kms: KMS[Any], principal: str) -> None:
        self._kms = kms
        self._principal = principal

    def __getattr__(self, name: str) -> Callable[..., dict[str, Any]]:
        return _method(self._kms, self._principal, name)


def _method(kms: KMS[Any], principal: str | None, name: str) -> Callable[..., dict[str, Any]]:
    operation = _SNAKE_NAMES.get(name)
    if operation is None or name.startswith("_"):
        raise AttributeError(f"KMS has no operation or attribute {name!r}")

    def invoke(**params: Any) -> dict[str, Any]:
        return kms.call(operation, params, principal=principal)

    invoke.__name__ = name
    invoke.__doc__ = f"AWS KMS {operation} (same parameters and result as boto3's)."
    return invoke
