"""What handlers and resolvers of the operation table see: targets, resolution, the call.

Layer: kms. ``Resolution`` turns a request's identifiers into the keys and aliases to
authorize (``Target``); ``Call`` is the narrow unit of work a handler gets after the allow.
Neither exposes the store's raw key reads beyond what resolving a request needs.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

from kmspolicy import messages
from kmspolicy._cache import BoundedCache
from kmspolicy.authz import Caller, Decision
from kmspolicy.crypto.material import Rng
from kmspolicy.errors import (
    InternalError,
    InvalidCiphertextException,
    InvalidGrantTokenException,
    NotFoundException,
)
from kmspolicy.kms import ids
from kmspolicy.kms.clock import Clock
from kmspolicy.kms.identities import Resolved
from kmspolicy.kms.kernel import AuthorizedKey, Kernel
from kmspolicy.kms.keystores.live import KeyStores
from kmspolicy.kms.lifecycle import multiregion
from kmspolicy.kms.lifecycle.due import has_due_work
from kmspolicy.kms.lifecycle.managed import ensure_aws_managed_key, service_to_create
from kmspolicy.kms.model import (
    AliasRecord,
    CustomKeyStoreRecord,
    GrantRecord,
    KeyInfo,
    KeyRecord,
    KeyState,
)
from kmspolicy.kms.ports import AuditLog, Store, Transaction
from kmspolicy.kms.quotas import Quotas
from kmspolicy.kms.usage import KeyUsage
from kmspolicy.lang import Policy
from kmspolicy.optable import OpSpec

__all__ = [
    "GRANT_NONCE_BYTES",
    "AuditFacts",
    "Call",
    "CommitFirst",
    "DueWorkFirst",
    "OutsideFirst",
    "Planned",
    "RequestScope",
    "Resolution",
    "Services",
    "Target",
    "parse_grant_token",
    "verify_grant_token",
]

_T = TypeVar("_T")

_TOKEN_PREFIX = "kpgt1."
#: Random bytes in a grant's token nonce (stored hex-encoded on the grant).
GRANT_NONCE_BYTES = 16


class DueWorkFirst(Exception):  # a control-flow signal; never leaves Pipeline.run
    """A key loaded by a request has lifecycle work due (rotation, expiry, deletion)."""

    def __init__(self, arn: str) -> None:
        super().__init__(arn)
        self.arn = arn


class CommitFirst(Exception):  # a control-flow signal; never leaves Pipeline.run
    """Work AWS does on its own must be committed before the request can go on (creating an
    AWS managed key on first use): ``Pipeline.run`` runs ``work`` in a transaction of its own,
    so the request's transaction stays read-only where declared, and a refused request cannot
    roll the work back, then starts the request over."""

    def __init__(self, work: Callable[[Transaction], object]) -> None:
        super().__init__("commit first")
        self.work = work


class OutsideFirst(Exception):  # a control-flow signal; never leaves Pipeline.run
    """Work that may wait on the network (a call to an external key store's proxy) must run
    outside any transaction, so that no caller can hold a store lock with it:
    ``Pipeline.run`` leaves the request's transaction (rolled back, nothing recorded), runs
    ``work``, keeps its outcome (value or exception) under ``key`` for the rest of the request,
    then starts the request over; ``Call.outside`` then returns (or raises) that outcome.
    ``undo`` (given the value) takes back what the work made outside the store when the request
    does not keep it: it fails, or its committed round did not use that value."""

    def __init__(
        self,
        key: Hashable,
        work: Callable[[], object],
        undo: Callable[[Any], None] | None = None,
    ) -> None:
        super().__init__("outside first")
        self.key = key
        self.work = work
        self.undo = undo


#: the outcomes of a request's ``OutsideFirst`` work, by key: (True, value) or (False, error)
OutsideOutcomes = dict[Hashable, tuple[bool, Any]]
#: what a request's audit record says of its targets and decisions, in the record's order:
#: actions, resources, allowed, the deciding decision's kind and reason, matched statements
AuditFacts = tuple[tuple[str, ...], tuple[str, ...], bool, str, str, tuple[str, ...]]


class Planned(Protocol):
    """What a request plan (``Pipeline``'s) made once for every round it answers."""

    @property
    def facts(self) -> AuditFacts:
        """What the audit record says of the round's targets and decisions."""

    @property
    def used(self) -> tuple[str, ...]:
        """The ARNs of the keys the round uses (``KeyUsage.note``)."""


@dataclass(slots=True)
class Target:
    """One authorization question of a request: ``action`` on ``resource`` (and its key)."""

    action: str
    resource: str
    key: KeyRecord | None = None
    #: the key-state row to check for ``key``; None: no state check
    state_row: str | None = None
    grant_operation: str | None = None
    #: condition keys of this target (beyond the key's own and the caller's)
    context: dict[str, object] = field(default_factory=dict)
    #: alias name used to name the key (kms:RequestAlias), if any
    request_alias: str | None = None
    #: RetireGrant: the one grant that may allow the request (its retiring principal/grantee)
    only_grant: GrantRecord | None = None
    #: what the audit record names for this target when that is not ``resource``: a key the
    #: request creates in another Region is authorized as ``kms:CreateKey`` on ``*`` (IAM has
    #: no key ARN for it yet), and recorded as the ARN it gets (ReplicateKey's replica)
    recorded_as: str | None = None

    @property
    def recorded_resource(self) -> str:
        """The resource the audit record names for this target."""
        return self.recorded_as or self.resource


class Services(Protocol):
    """What a request needs of the service running it (``kms.pipeline.Pipeline`` is one)."""

    account: str
    region: str
    rng: Rng
    kernel: Kernel
    usage: KeyUsage
    quotas: Quotas
    audit: AuditLog | None
    #: the Regions served (None: any Region name)
    regions: frozenset[str] | None
    store: Store
    clock: Clock
    key_stores: KeyStores
    #: ``KeyId`` parameters already parsed: (text, account, Region, aliases allowed) -> the
    #: reference and the ARN to load (a pure function of the question; refusals not kept)
    key_refs: BoundedCache[tuple[str, str, str, bool], tuple[ids.KeyRef, str]]

    def decide(
        self,
        tx: Transaction,
        caller: Caller,
        target: Target,
        now: datetime,
        *,
        policy: Policy | None = None,
    ) -> Decision: ...


class RequestScope:
    """One round of one request as the pipeline runs it: the values every step reads, held
    once, and what the round found (its targets, decisions, writes), kept for the audit record.

    ``Resolution`` (before the decision) and ``Call`` (after it) are two views of one scope.
    ``tx`` is set when the round's transaction is open; a round that fails before that is
    recorded with what it has (no targets, no decisions).
    """

    __slots__ = (
        "account",
        "after_commit",
        "audit_failed",
        "caller",
        "context",
        "decisions",
        "identity",
        "now",
        "op",
        "outside",
        "params",
        "plan",
        "readonly",
        "recorded",
        "region",
        "saved",
        "services",
        "targets",
        "tx",
        "used_outside",
    )

    tx: Transaction

    def __init__(
        self,
        services: Services,
        identity: Resolved,
        params: Mapping[str, Any],
        now: datetime,
        op: OpSpec,
        context: Mapping[str, object] | None = None,
        readonly: bool = False,
        outside: OutsideOutcomes | None = None,
    ) -> None:
        self.services = services
        self.identity = identity  # the caller and its identity-side policies
        self.caller = caller = identity.caller
        self.params = params
        self.now = now
        self.op = op
        self.context = context or {}
        self.readonly = readonly
        self.account = caller.account or services.account
        self.region = services.region
        #: work to do once the request's transaction has committed (a connection attempt);
        #: tuples, grown by the rare request that has any, so no request builds them empty
        self.after_commit: tuple[Callable[[], None], ...] = ()
        #: what earlier rounds of this request did outside any transaction (OutsideFirst)
        self.outside: OutsideOutcomes = outside if outside is not None else {}
        #: the keys of those outcomes this round used (an unused one is undone, OutsideFirst)
        self.used_outside: tuple[Hashable, ...] = ()
        # what the round found, for its audit record
        self.targets: Sequence[Target] = ()
        self.decisions: list[Decision] = []
        #: the request plan that answered the round, if one did (its targets and decisions)
        self.plan: Planned | None = None
        self.recorded = False  # its record is in the audit log (written before the commit)
        self.audit_failed = False  # the audit log refused its record
        #: the keys its handler wrote (None: deleted), made by the first write (``Call``)
        self.saved: dict[str, KeyRecord | None] | None = None

    def again(self) -> RequestScope:
        """A fresh round of the same request (what its earlier rounds did outside kept)."""
        return RequestScope(
            self.services,
            self.identity,
            self.params,
            self.now,
            self.op,
            self.context,
            self.readonly,
            self.outside,
        )


class _View:
    """The scope's values (one definition for both views), copied once: handlers read them
    many times per request, and a plain attribute costs less than a property."""

    __slots__ = ("account", "caller", "now", "params", "region", "rng", "scope")

    def __init__(self, scope: RequestScope) -> None:
        self.scope = scope
        self.caller: Caller = scope.caller
        self.params: Mapping[str, Any] = scope.params
        self.now: datetime = scope.now
        self.account: str = scope.account
        self.region: str = scope.region
        self.rng: Rng = scope.services.rng


class Resolution(_View):
    """What a resolver may use: the parameters, the caller, and read access to keys/aliases."""

    __slots__ = ()

    @property
    def op(self) -> OpSpec:
        """The operation being resolved."""
        return self.scope.op

    @property
    def tx(self) -> Transaction:
        return self.scope.tx

    def resolve_key(self, text: str, *, allow_alias: bool) -> tuple[ids.KeyRef, KeyRecord]:
        """The key ``text`` names (id, ARN, alias name, alias ARN); NotFoundException if none."""
        refs = self.scope.services.key_refs
        question = (text, self.account, self.region, allow_alias)
        known = refs.get(question)
        if known is None:
            ref = ids.parse_key_ref(text, self.account, self.region, allow_alias=allow_alias)
            known = refs.put(question, (ref, ref.arn))
        ref, arn = known
        if ref.region != self.region:
            raise NotFoundException(messages.arn_of_other_region(ref.region))
        if ref.alias_name is not None:
            alias = self.tx.get_alias(arn)
            if alias is not None and alias.target_key_id is not None:
                arn = ids.key_arn(ref.region, ref.account, alias.target_key_id)
            else:
                arn = self._aws_managed_key_arn(ref)
        record = self.load_key(arn)
        if record is None:
            raise NotFoundException(f"Key '{arn}' does not exist")
        return ref, record

    def _aws_managed_key_arn(self, ref: ids.KeyRef) -> str:
        """``alias/aws/<service>`` without a key yet: the AWS managed key, created when AWS
        creates it (DescribeKey, or the service's first call via ``kms:ViaService``)."""
        via = self.scope.context.get("kms:ViaService")
        service = None
        if ref.alias_name is not None and ref.account == self.caller.account:
            service = service_to_create(
                ref.alias_name,
                operation=self.scope.op.name,
                via_service=via if isinstance(via, str) else None,
            )
        if service is None:
            raise NotFoundException(f"Alias {ref.arn} is not found.")
        now, kernel, audit = self.now, self.scope.services.kernel, self.scope.services.audit

        def create(tx: Transaction) -> None:
            ensure_aws_managed_key(
                tx,
                account=ref.account,
                region=ref.region,
                service=service,
                now=now,
                kernel=kernel,
                audit=audit,  # recorded before it commits, like every change
            )

        raise CommitFirst(create)  # Pipeline.run commits it, then resolves the alias anew

    def load_key(self, arn: str) -> KeyRecord | None:
        """The key, with any due lifecycle work (rotation, expiry, deletion) done first."""
        record = self.tx.get_key(arn)
        if record is None:
            # deleted, perhaps by another process: whatever this kernel opened of it goes
            self.scope.services.kernel.forget_held(arn)
            return None
        if has_due_work(record, self.now):
            raise DueWorkFirst(arn)  # Pipeline.run commits the work, then starts over
        if record.custom_key_store_id is not None:  # Unavailable while its store is not connected
            return self.scope.services.key_stores.key_view(self.tx, record)
        return record

    def key_target(
        self,
        op: OpSpec,
        text: str,
        *,
        action: str | None = None,
        state_row: str | None = None,
    ) -> Target:
        ref, record = self.resolve_key(text, allow_alias=op.accepts_alias)
        return Target(
            action or op.action,
            record.arn,
            record,
            state_row if state_row is not None else op.state_row,
            op.grant_operation,
            request_alias=ref.alias_name,
        )

    def key_from_blob(self, blob: bytes) -> KeyRecord:
        """The key a symmetric ciphertext names (read from its header, nothing decrypted).

        The blob holds the key id only; key ids are unique across accounts, so a key of another
        account is found by id within the Region, as AWS does (authorization then applies the
        cross-account rules). An unreadable header or an unknown key is
        InvalidCiphertextException: a flipped bit in the key id must look like any other
        corruption.
        """
        key_id = self.scope.services.kernel.blob_key_id(blob)
        record = self.load_key(ids.key_arn(self.region, self.account, key_id))
        if record is None:  # the common case first: the caller's own key, by primary key
            foreign = self.tx.find_key(key_id, self.region)
            if foreign is not None:
                record = self.load_key(foreign.arn)
        if record is None:
            raise InvalidCiphertextException(messages.INVALID_CIPHERTEXT)
        return record


class Call(_View):
    """What a handler receives: parameters, caller, authorized keys and a narrow unit of work."""

    __slots__ = ("kernel", "keys")

    def __init__(self, scope: RequestScope, keys: tuple[AuthorizedKey, ...]) -> None:
        _View.__init__(self, scope)
        #: the crypto kernel: operations on ``self.keys`` (and making new material)
        self.kernel: Kernel = scope.services.kernel
        self.keys = keys

    @property
    def targets(self) -> Sequence[Target]:
        """The request's targets, each allowed, in the order of ``keys`` (those with a key)."""
        return self.scope.targets

    @property
    def decisions(self) -> Sequence[Decision]:
        """The decisions that allowed them."""
        return self.scope.decisions

    @property
    def usage(self) -> KeyUsage:
        return self.scope.services.usage

    @property
    def quotas(self) -> Quotas:
        """The resource quotas (keys per Region, aliases and grants per key)."""
        return self.scope.services.quotas

    @property
    def regions(self) -> frozenset[str] | None:
        """The Regions served (None: any): where a request may create a key of another Region."""
        return self.scope.services.regions

    @property
    def key(self) -> AuthorizedKey:
        return self.keys[0]

    # --- writes, limited to keys this request was authorized for (or creates)
    def create_key(self, record: KeyRecord) -> None:
        if self.scope.tx.get_key(record.arn) is not None:
            raise InternalError(f"key {record.arn} already exists")
        self.scope.tx.put_key(record)

    def update_key(self, key: AuthorizedKey, **changes: Any) -> KeyInfo:
        """Write the next record of ``key`` (authorized for this request): its record as this
        request last wrote it, or as it was authorized, with ``changes`` applied; returns it.
        Handlers change keys only so: they never hold a record to write whole. A multi-Region
        primary with replicas carries its shared properties to them in the same transaction:
        the service's own synchronization (``lifecycle.multiregion``), part of this change."""
        before = self._latest(key)
        record = before.evolve(**changes)
        # "Unavailable" is how a key of a disconnected custom key store is seen, never what
        # is stored: the key keeps its own state for when the store is connected again
        if record.key_state is KeyState.UNAVAILABLE:
            record = record.evolve(key_state=self._stored(record).key_state)
        self.scope.tx.put_key(record)
        saved = self._saving()
        saved[record.arn] = record
        if multiregion.is_primary_with_replicas(record) and not (
            # a change of its own (tags, description, policy …): the replicas have nothing new
            before.multi_region_key_type is record.multi_region_key_type
            and multiregion.shared_properties(before) == multiregion.shared_properties(record)
        ):
            for replica in multiregion.synchronize(self.scope.tx, record):
                saved[replica.arn] = replica
        return record

    def _saving(self) -> dict[str, KeyRecord | None]:
        """The keys this request wrote (the scope's, for the kernel to forget what changed)."""
        saved = self.scope.saved
        if saved is None:
            saved = self.scope.saved = {}
        return saved

    def _latest(self, key: AuthorizedKey) -> KeyRecord:
        saved = self.scope.saved
        if saved is not None:
            record = saved.get(key.arn)
            if record is not None:
                return record
        for target in self.targets:  # the record each handle was minted from
            if target.key is not None and target.key.arn == key.arn:
                return target.key
        raise InternalError(f"{key.arn} was not authorized for this request")

    def stored_state(self, key: AuthorizedKey) -> KeyState:
        """The state ``key`` is stored in: where requests see it Unavailable (its custom key
        store is not connected), its own, which EnableKey and DisableKey change."""
        record = self._latest(key)
        if record.key_state is not KeyState.UNAVAILABLE:
            return record.key_state
        return self._stored(record).key_state

    def _stored(self, record: KeyRecord) -> KeyRecord:
        stored = self.scope.tx.get_key(record.arn)
        if stored is None:
            raise InternalError(f"{record.arn} is not stored")
        return stored

    def update_member(self, key: AuthorizedKey, region: str, **changes: Any) -> None:
        """The service's own write to the member in ``region`` of the multi-Region set of
        ``key`` (its imported material's staging, a set rotation): its stored record with
        ``changes`` applied."""
        info = key.info
        member = self.scope.tx.get_key(multiregion.member_arn(info, region))
        if member is None or not info.multi_region:
            raise InternalError(f"{info.arn} has no member in {region}")
        record = member.evolve(**changes)
        self.scope.tx.put_key(record)
        self._saving()[record.arn] = record

    def load_member(self, key: KeyInfo, region: str) -> KeyInfo | None:
        """The member of ``key``'s multi-Region set in ``region``, or None."""
        return self.scope.tx.get_key(multiregion.member_arn(key, region))

    # --- custom key stores of the caller's account and Region
    @property
    def key_stores(self) -> KeyStores:
        return self.scope.services.key_stores

    def custom_key_store(self, store_id: str) -> CustomKeyStoreRecord | None:
        """The store ``store_id`` if it is one of the caller's account and Region."""
        found = self.scope.tx.get_custom_key_store(store_id)
        if found is None or found.account != self.account or found.region != self.region:
            return None
        return found

    def list_custom_key_stores(self) -> Sequence[CustomKeyStoreRecord]:
        return self.scope.tx.list_custom_key_stores(self.account, self.region)

    def put_custom_key_store(self, record: CustomKeyStoreRecord) -> None:
        self.scope.tx.put_custom_key_store(record)

    def delete_custom_key_store(self, store_id: str) -> None:
        self.scope.tx.delete_custom_key_store(store_id)

    def count_keys_in_custom_key_store(self, store_id: str) -> int:
        return self.scope.tx.count_keys_in_custom_key_store(store_id)

    def keys_in_custom_key_store(self, store_id: str) -> list[KeyInfo]:
        """The caller's keys in custom key store ``store_id`` (its account and Region)."""
        keys = self.scope.tx.list_keys(self.account, self.region)
        return [k for k in keys if k.custom_key_store_id == store_id]

    def outside(
        self, key: Hashable, work: Callable[[], _T], undo: Callable[[_T], None] | None = None
    ) -> _T:
        """The outcome of ``work`` run outside any transaction (it may wait on the network):
        the first time, the request leaves its transaction to run it and starts over
        (``OutsideFirst``); from then on its value is returned, or its exception raised.
        ``key`` names the work and everything it depends on: what the handler reads anew in a
        later round (the store may have changed) must give the same key to reuse the outcome.
        ``undo`` takes back what ``work`` made outside the store (a key object in an HSM) if
        the request does not commit with it."""
        done = self.scope.outside.get(key)
        if done is None:
            raise OutsideFirst(key, work, undo)
        scope = self.scope
        scope.used_outside = (*scope.used_outside, key)
        ok, value = done
        if not ok:
            raise value
        return value  # type: ignore[no-any-return]

    def crypto(
        self,
        key: AuthorizedKey,
        work: Callable[[], _T],
        operation: str,
        data: Hashable,
        context: Mapping[str, str] | None,
    ) -> _T:
        """``work``, a cryptographic operation under ``key``: run here, or — when the key's
        crypto may wait on the network (an external key store's proxy) — outside the request's
        transaction (``outside``), so that a proxy that does not answer holds no store lock,
        for reads as for writes. ``operation``, ``data`` (the plaintext, the blob, the data
        key's length...) and the encryption ``context`` name everything ``work`` reads besides
        the key's current material; they are made a key only for outside work."""
        if not self.kernel.remote(key):
            return work()
        inputs = (operation, data, tuple(sorted(context.items())) if context else ())
        return self.outside(("crypto", key.arn, key.info.current_material_id, inputs), work)

    def after_commit(self, work: Callable[[], None]) -> None:
        """Run ``work`` once this request has committed (outside its transaction)."""
        self.scope.after_commit = (*self.scope.after_commit, work)

    @property
    def store(self) -> Store:
        return self.scope.services.store

    @property
    def audit(self) -> AuditLog | None:
        return self.scope.services.audit

    @property
    def clock(self) -> Clock:
        return self.scope.services.clock

    # --- aliases and grants
    def get_alias(self, alias_arn: str) -> AliasRecord | None:
        return self.scope.tx.get_alias(alias_arn)

    def put_alias(self, record: AliasRecord) -> None:
        self.scope.tx.put_alias(record)

    def delete_alias(self, alias_arn: str) -> None:
        self.scope.tx.delete_alias(alias_arn)

    def list_aliases(self, *, key_id: str | None = None) -> Sequence[AliasRecord]:
        return self.scope.tx.list_aliases(self.account, self.region, key_id=key_id)

    def get_grant(self, key_arn: str, grant_id: str) -> GrantRecord | None:
        return self.scope.tx.get_grant(key_arn, grant_id)

    def put_grant(self, record: GrantRecord) -> None:
        self.scope.tx.put_grant(record)

    def delete_grant(self, key_arn: str, grant_id: str) -> None:
        self.scope.tx.delete_grant(key_arn, grant_id)

    def list_grants(
        self,
        key_arn: str,
        *,
        grantee: str | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> Sequence[GrantRecord]:
        return self.scope.tx.list_grants(key_arn, grantee=grantee, after=after, limit=limit)

    def count_grants(self, key_arn: str) -> int:
        return self.scope.tx.count_grants(key_arn)

    def list_grants_by_retiring_principal(
        self, principal: str, *, after: tuple[str, str] | None = None, limit: int | None = None
    ) -> Sequence[GrantRecord]:
        return self.scope.tx.list_grants_by_retiring_principal(principal, after=after, limit=limit)

    def list_key_arns(self, *, after: str | None, limit: int) -> list[tuple[str, str]]:
        """(key id, key ARN) of the caller's keys: ListKeys sees no more than that."""
        return [
            (k.key_id, k.arn)
            for k in self.scope.tx.list_keys(self.account, self.region, after=after, limit=limit)
        ]

    def count_keys(self, region: str | None = None) -> int:
        """The caller's keys in ``region`` (default: the request's)."""
        return self.scope.tx.count_keys(self.account, region or self.region)

    # --- policy questions the handlers ask (lockout safety check)
    def would_allow(self, action: str, key: AuthorizedKey | KeyRecord, policy: Policy) -> bool:
        """Whether this caller would be allowed ``action`` on ``key`` (a key of this request,
        or the first record of a key it creates) under key ``policy``."""
        record = self._latest(key) if isinstance(key, AuthorizedKey) else key
        target = Target(action, record.arn, record)
        decision = self.scope.services.decide(
            self.scope.tx, self.caller, target, self.now, policy=policy
        )
        return decision.allowed

    def grant_token(self, grant: GrantRecord) -> str:
        """A token for ``grant``: its key ARN, its id and its nonce (see ``verify_grant_token``)."""
        # a grant stored before nonces were kept: a fresh one, as before (never checked)
        nonce = grant.token_nonce or self.rng(GRANT_NONCE_BYTES).hex()
        raw = f"{grant.key_arn}\n{grant.grant_id}\n{nonce}".encode()
        return _TOKEN_PREFIX + base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _token_parts(token: str) -> tuple[str, str, str]:
    if not token.startswith(_TOKEN_PREFIX):
        raise InvalidGrantTokenException("Grant token is invalid")
    body = token[len(_TOKEN_PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode("utf-8")
        key_arn, grant_id, nonce = raw.split("\n")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidGrantTokenException("Grant token is invalid") from None
    return key_arn, grant_id, nonce


def parse_grant_token(token: str) -> tuple[str, str]:
    """(key ARN, grant id) of a token; InvalidGrantTokenException if it is not one of ours."""
    key_arn, grant_id, _nonce = _token_parts(token)
    return key_arn, grant_id


def verify_grant_token(token: str, grant: GrantRecord | None) -> None:
    """InvalidGrantTokenException unless ``token`` names ``grant`` (the grant its key ARN and
    id load, None when there is none) and carries that grant's nonce: a grant id alone (as
    ListGrants shows it) is not enough to forge a token."""
    key_arn, grant_id, nonce = _token_parts(token)
    if grant is None or grant.key_arn != key_arn or grant.grant_id != grant_id:
        raise InvalidGrantTokenException("Grant token is invalid")
    # INVARIANT: compare_digest, so the time taken says nothing about the stored nonce
    if grant.token_nonce and not hmac.compare_digest(
        nonce.encode("utf-8"), grant.token_nonce.encode("ascii")
    ):
        raise InvalidGrantTokenException("Grant token is invalid")
