"""The ports of the KMS service: what it needs from the outside, as protocols.

Layer: kms. Adapters live in ``kmspolicy.store`` (memory, SQLite, PostgreSQL) and
``kmspolicy.audit``; the service sees only these protocols. Each operation runs inside exactly one
``Store.transaction()``: every write made through the ``Transaction`` becomes visible at once on
a clean exit, and none of them on an exception (the unit of work).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, NamedTuple, Protocol, Self, runtime_checkable

from kmspolicy._rng import Rng
from kmspolicy.authz import DecisionKind
from kmspolicy.kms.clock import Clock, FakeClock, SystemClock
from kmspolicy.kms.model import (
    AliasRecord,
    CustomKeyStoreRecord,
    GrantRecord,
    KeyRecord,
    SessionRecord,
)

__all__ = [
    "AUDIT_DECISIONS",
    "AUDIT_EVENTS",
    "EVENT_API_CALL",
    "EVENT_NOT_COMMITTED",
    "EVENT_SERVICE",
    "EVENT_TORN_TAIL",
    "INLINE_GRANTS",
    "SERVICE_PRINCIPAL",
    "AuditLog",
    "AuditRecord",
    "Clock",
    "FakeClock",
    "Rng",
    "SealingKey",
    "Store",
    "SystemClock",
    "Transaction",
]


@runtime_checkable
class Transaction(Protocol):
    """Reads and writes of one unit of work. Keys are addressed by key ARN, aliases by alias
    ARN, grants by (key ARN, grant id). ``list_*`` results are ordered by id / name."""

    # --- keys
    def get_key(self, key_arn: str) -> KeyRecord | None: ...
    def put_key(self, record: KeyRecord) -> None:
        """Insert or replace the record whose ``arn`` matches."""

    def delete_key(self, key_arn: str) -> None:
        """Remove the key and, with it, its aliases and grants."""

    def list_keys(
        self, account: str, region: str, *, after: str | None = None, limit: int | None = None
    ) -> Sequence[KeyRecord]:
        """Keys of one account and Region ordered by key id, those with id > ``after``."""

    def find_key(self, key_id: str, region: str) -> KeyRecord | None:
        """The key with id ``key_id`` in ``region``, whatever its account (key ids are UUIDs,
        unique across accounts): Decrypt of a ciphertext whose blob names only the key id."""

    def count_keys(self, account: str, region: str) -> int: ...
    def iter_all_keys(self) -> Iterator[KeyRecord]:
        """Every key of every account (a full reset; the sweeper uses ``due_key_arns``)."""

    def due_key_arns(self, now: datetime) -> Sequence[str]:
        """ARNs of the keys with lifecycle work due at ``now`` (``lifecycle.due.due_at(key) <=
        now``), of every account and Region, ordered. Reads metadata only: durable stores
        answer from an indexed column and unseal nothing."""

    # --- aliases
    def get_alias(self, alias_arn: str) -> AliasRecord | None: ...
    def put_alias(self, record: AliasRecord) -> None: ...
    def delete_alias(self, alias_arn: str) -> None: ...
    def list_aliases(
        self, account: str, region: str, *, key_id: str | None = None
    ) -> Sequence[AliasRecord]:
        """Aliases of one account and Region ordered by name; only those targeting ``key_id``
        (a key id, not an ARN) when given."""

    # --- grants
    def get_grant(self, key_arn: str, grant_id: str) -> GrantRecord | None: ...
    def put_grant(self, record: GrantRecord) -> None: ...
    def delete_grant(self, key_arn: str, grant_id: str) -> None: ...
    def list_grants(
        self,
        key_arn: str,
        *,
        grantee: str | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> Sequence[GrantRecord]:
        """Grants of one key ordered by grant id: only those whose grantee is ``grantee`` when
        given, those with id > ``after``, at most ``limit`` (ListGrants reads a page, not the
        key's up to 50,000 grants)."""

    def list_grants_naming(self, key_arn: str, names: Sequence[str]) -> Sequence[GrantRecord]:
        """Grants of one key whose grantee, or the path-free ARN of the grantee's role
        (``authz.grants.grantee_keys``), is one of ``names`` (a caller's ``index_keys``),
        ordered by grant id: what a decision about that caller reads. Found by index, so a
        decision's cost does not grow with the grants naming other principals. In an inline
        transaction, ``RunInThread`` instead of more than ``INLINE_GRANTS`` grants."""

    def count_grants(self, key_arn: str) -> int:
        """How many grants one key has (CreateGrant's quota, without reading them)."""

    def list_grants_by_retiring_principal(
        self, principal: str, *, after: tuple[str, str] | None = None, limit: int | None = None
    ) -> Sequence[GrantRecord]:
        """Grants (of any key, any account) whose retiring principal is ``principal``, ordered
        by (key ARN, grant id): those after ``after``, at most ``limit``."""

    # --- custom key stores (ids are unique across accounts and Regions)
    def get_custom_key_store(self, store_id: str) -> CustomKeyStoreRecord | None: ...
    def put_custom_key_store(self, record: CustomKeyStoreRecord) -> None:
        """Insert or replace the record whose ``store_id`` matches."""

    def delete_custom_key_store(self, store_id: str) -> None: ...
    def list_custom_key_stores(self, account: str, region: str) -> Sequence[CustomKeyStoreRecord]:
        """Custom key stores of one account and Region ordered by id."""

    def count_keys_in_custom_key_store(self, store_id: str) -> int:
        """Keys (in any state) whose ``custom_key_store_id`` is ``store_id``."""

    # --- what a caller derived from this transaction's reads (a request's plan, kms.pipeline)
    def reused(self, question: tuple[object, ...]) -> object | None:
        """The answer ``keep`` kept under ``question`` in an earlier transaction, when the
        store is exactly as it was then (no change by any process since); None otherwise,
        and always from a store that cannot tell (memory, PostgreSQL, writing blocks)."""

    def keep(self, question: tuple[object, ...], answer: object, weight: int) -> None:
        """Keep ``answer`` for ``reused`` while the store is unchanged. ``answer`` must be a
        function of ``question`` and of what this transaction read, and of nothing else;
        ``weight``: the characters it holds that no read holds (its question's context), which
        the store bounds per connection."""

    # --- web console sessions (by the SHA-256 of the session token; never the token)
    def get_session(self, digest: str) -> SessionRecord | None: ...
    def put_session(self, record: SessionRecord) -> None: ...
    def delete_session(self, digest: str) -> None: ...
    def delete_expired_sessions(self, now: datetime) -> None:
        """Remove the sessions whose ``expires`` is at or before ``now``."""


class SealingKey(Protocol):
    """The root key: seals and unseals with associated data (``kms.backends`` uses it).

    ``kmspolicy.crypto.seal.RootKey`` (a key in this process, from a file or generated) and
    ``kmspolicy.store.pkcs11.HsmRootKey`` (sealing inside an HSM) implement it; ``unseal``
    raises ``kmspolicy.crypto.seal.SealError`` for bytes that do not open under this key and
    AAD, including blobs of the other kind.
    """

    kind: str
    source: str

    @property
    def fingerprint(self) -> str: ...

    def seal(self, plaintext: bytes, aad: bytes = b"") -> bytes: ...

    def unseal(self, sealed: bytes, aad: bytes = b"") -> bytes: ...

    def describe(self) -> str: ...

    def close(self) -> None: ...


@runtime_checkable
class Store(Protocol):
    """Keys, aliases, grants and custom key stores. A key's material is kept as the kernel sealed it
    (``KeyMaterial.sealed``): a store never unseals, and it never sees a plaintext secret.
    ``root_key`` is the key its sealed references were sealed under (the store checks it
    against the canary it keeps); the service's kernel unseals with it."""

    root_key: SealingKey

    def transaction(
        self, *, readonly: bool = False, inline: bool = False
    ) -> AbstractContextManager[Transaction]:
        """Open one unit of work; commit on clean exit, roll back on exception.

        ``readonly=True`` promises no writes (the pipeline passes it for operations not
        declared ``mutates``): stores may then skip write locks, and must refuse writes
        with InternalError so an undeclared write is found in tests, not in production.
        A read-only transaction may raise ``SnapshotMoved`` from a read (see there).
        ``inline=True`` (read-only only): its caller must not wait long (the server's event
        loop), so ``list_grants_naming`` raises ``RunInThread`` rather than read more than
        ``INLINE_GRANTS`` grants.
        """

    def close(self) -> None: ...


class SnapshotMoved(Exception):  # a control-flow signal, like kms.requests.DueWorkFirst
    """A read-only transaction could not go on: it had answered reads from one state of the
    store, and another writer committed before its next read, which can only see the new
    state. Nothing was written; the work is run again in a new transaction (``Pipeline.run``
    does so; ``Pipeline.preview`` leaves the request undecided). Only a block that answers a
    reused read and then reads again can meet it: callers with one read never do."""


class RunInThread(Exception):  # a control-flow signal, like SnapshotMoved
    """A request running on the server's event loop turned out to need a write transaction
    (an AWS managed key created on first use, lifecycle work found due), which the store
    refuses to open there (``server.backend.LoopWriteGuard``), before taking any lock, or to
    read more grants than the loop may (``INLINE_GRANTS``). Nothing was written or decided
    for the caller: ``Pipeline.run`` passes it on without an audit record, and the server runs
    the request again in a worker thread, already admitted by the request quotas
    (``KMS.dispatch``'s ``admitted``)."""


#: The most grants naming one caller that an inline read-only transaction (the server's event
#: loop) reads for a decision: a caller named by more (a key may hold 50,000 grants to it)
#: is decided in a worker thread, so that its decision, which tests each of them, never
#: holds up the other clients' requests (``Transaction.list_grants_naming``).
INLINE_GRANTS = 64


#: ``AuditRecord.event`` values. The first two are CloudTrail's ``eventType`` for a caller's
#: request and for work KMS does on its own (automatic rotation, deletion at the end of the
#: waiting period, expiry of imported material, AWS managed key creation); the others are the
#: log's own: a change recorded before its commit whose commit then failed, and a line torn by a
#: crash that the writer found and sealed off.
EVENT_API_CALL = "AwsApiCall"
EVENT_SERVICE = "AwsServiceEvent"
EVENT_NOT_COMMITTED = "NotCommitted"
EVENT_TORN_TAIL = "TornTailRecovered"
AUDIT_EVENTS = frozenset({EVENT_API_CALL, EVENT_SERVICE, EVENT_NOT_COMMITTED, EVENT_TORN_TAIL})
#: ``AuditRecord.principal`` of the service's own events (CloudTrail's ``invokedBy``)
SERVICE_PRINCIPAL = "AWS Internal"


class _AuditFields(NamedTuple):
    time: datetime
    request_id: str
    operation: str  # API name, e.g. "Encrypt"
    principal: str  # caller ARN
    actions: tuple[str, ...]  # e.g. ("kms:ReEncryptFrom", "kms:ReEncryptTo")
    resources: tuple[str, ...]  # key / alias ARNs, "*" for account-level actions
    allowed: bool
    #: the deciding ``authz.Decision.kind`` in AWS/IAM spelling: "allowed", "explicitDeny" or
    #: "implicitDeny"; "" when the request was rejected before any decision
    decision: str
    reason: str
    matched: tuple[str, ...]  # "policy:Sid" labels of the deciding statements
    error_code: str | None  # AWS exception name when the request failed
    context: dict[str, object]  # non-secret request context
    event: str  # one of AUDIT_EVENTS


class AuditRecord(_AuditFields):
    """One decided request, or one state change the service made on its own (``event``).
    Never contains plaintext, key material or policy text.

    A tuple (immutable; made once per request, its fields read in C): one ``tuple.__new__``
    instead of a frozen dataclass's thirteen slot stores."""

    __slots__ = ()

    def __new__(
        cls,
        time: datetime,
        request_id: str,
        operation: str,
        principal: str,
        actions: tuple[str, ...],
        resources: tuple[str, ...],
        allowed: bool,
        decision: str,
        reason: str = "",
        matched: tuple[str, ...] = (),
        error_code: str | None = None,
        context: dict[str, object] | None = None,
        event: str = EVENT_API_CALL,
    ) -> AuditRecord:
        if decision not in AUDIT_DECISIONS:
            raise ValueError(f"AuditRecord.decision must be one of {sorted(AUDIT_DECISIONS)}")
        if event not in AUDIT_EVENTS:
            raise ValueError(f"AuditRecord.event must be one of {sorted(AUDIT_EVENTS)}")
        return tuple.__new__(
            cls,
            (
                time,
                request_id,
                operation,
                principal,
                actions,
                resources,
                allowed,
                decision,
                reason,
                matched,
                error_code,
                {} if context is None else context,
                event,
            ),
        )

    # a NamedTuple's own ``_make`` and ``_replace`` call ``tuple.__new__``, past the checks above
    @classmethod
    def _make(cls, iterable: Iterable[Any]) -> Self:  # type: ignore[override]  # same call
        return cls(*iterable)

    def _replace(self, **changes: Any) -> Self:
        return type(self)(**{**self._asdict(), **changes})

    @classmethod
    def service_event(
        cls,
        operation: str,
        resource: str,
        time: datetime,
        context: dict[str, object],
        *,
        principal: str = SERVICE_PRINCIPAL,
    ) -> AuditRecord:
        """A change the service made on its own to ``resource`` (no caller, no decision)."""
        return cls(
            time=time,
            request_id="",
            operation=operation,
            principal=principal,
            actions=(),
            resources=(resource,),
            allowed=True,
            decision="",
            context=context,
            event=EVENT_SERVICE,
        )


#: the values of ``AuditRecord.decision`` (``DecisionKind`` values, or "" before authorization)
AUDIT_DECISIONS = frozenset({*(kind.value for kind in DecisionKind), ""})


class AuditLog(Protocol):
    """Where the pipeline sends one ``AuditRecord`` per request (``kmspolicy.audit``).

    ``append`` returns once the record is written (at least to the OS); it raises when it
    cannot write it, and the pipeline then refuses the request before anything commits.
    """

    def append(self, record: AuditRecord) -> None: ...
    def close(self) -> None:
        """Flush and release the log; no ``append`` afterwards."""
