"""The one pipeline every KMS operation runs through, the only minter of key handles.

Layer: kms, the top of the service core (it imports the operation table, the requests and the
kernel; none of them imports it). validate → resolve key(s) → build context → AUTHORIZE →
declared key refusals (AWS managed keys, key type) → key state → (DryRun) → perform → audit →
commit: the record is written before the transaction commits, so no change is visible before it
is recorded, and a log that cannot be written refuses the request with nothing changed. The
pipeline builds its own ``kms.kernel.Kernel`` and takes its minter, so it alone makes the
``AuthorizedKey`` handles that kernel accepts, and only after an allowing decision for exactly
that principal, action and key.

A request may be run in several rounds, each a fresh attempt in a fresh transaction, from
validation on: due lifecycle work found on a key (``DueWorkFirst``) and work AWS does on its own
(``CommitFirst``) are committed first in transactions of their own; work that may wait on the
network (``OutsideFirst``: an external key store's proxy asked by CreateCustomKeyStore,
UpdateCustomKeyStore, CreateKey, or the crypto of an external key store's key) runs with no
transaction open, so that no caller can hold a store lock while a proxy answers (or does not).
A round that stops for such work rolls back and records nothing; the work's outcome, value or
exception, is kept for the next rounds of the request (``Call.outside``), which authorize and
check everything anew. What such work made outside the store (a key object in an HSM) is taken
back when the request fails or commits without it. Only the last round's decision is recorded;
the rounds are bounded.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from kmspolicy._cache import BoundedCache
from kmspolicy.authz import Caller, Decision, KmsPolicies, PolicyCache, Request, authorize_kms
from kmspolicy.authz import Grant as AuthzGrant
from kmspolicy.authz.grants import GrantSet
from kmspolicy.errors import (
    AccessDeniedException,
    DryRunOperationException,
    InternalError,
    KMSInternalException,
    KmsPolicyError,
    PolicyError,
    ServiceError,
    UnsupportedOperationException,
)
from kmspolicy.kms import ids, onbehalf
from kmspolicy.kms.context import key_context
from kmspolicy.kms.decisions import (
    MAX_ENTRY_CHARS,
    MAX_POLICY_CHARS,
    DecisionMemo,
    context_chars,
    freeze,
)
from kmspolicy.kms.identities import Identities, Resolved
from kmspolicy.kms.implemented import load_operations
from kmspolicy.kms.kernel import AuthorizedKey, Forgets, Kernel
from kmspolicy.kms.keystores.connector import KeyStoreConnector
from kmspolicy.kms.keystores.live import KeyStores
from kmspolicy.kms.lifecycle.due import due_at, run_due_work
from kmspolicy.kms.model import GrantRecord, KeyRecord
from kmspolicy.kms.operations import Operation
from kmspolicy.kms.ports import (
    EVENT_NOT_COMMITTED,
    AuditLog,
    AuditRecord,
    Clock,
    Rng,
    RunInThread,
    SnapshotMoved,
    Store,
    Transaction,
)
from kmspolicy.kms.quotas import Quotas
from kmspolicy.kms.requests import (
    AuditFacts,
    Call,
    CommitFirst,
    DueWorkFirst,
    OutsideFirst,
    OutsideOutcomes,
    RequestScope,
    Resolution,
    Target,
    parse_grant_token,
    verify_grant_token,
)
from kmspolicy.kms.states import KeyState, check_state
from kmspolicy.kms.usage import KeyUsage
from kmspolicy.lang import Policy
from kmspolicy.lang.awsjson import read_json

__all__ = ["Pipeline"]


_log = logging.getLogger("kmspolicy.kms.pipeline")

# A request touches at most two keys; each may need its due work done once; a CreateKey in a
# custom key store does two pieces of work outside (its key id, then its material).
_ROUNDS = 6
_NO_CONTEXT: frozenset[Any] = frozenset()
_DRY_RUN_MESSAGE = "The request would have succeeded, but the DryRun option is set."
#: the characters of the key records the key-context table keeps alive (policy texts of up to
#: 32 KB, descriptions, condition keys), stale records included (issue 17): about 8 MB
MAX_KEY_CONTEXT_CHARS = 8 * 1024 * 1024
#: the grants the indexed grant sets of (key, caller) pairs may hold together
#: (``_authz_grants``): two callers each named by a key's 50,000 grants, or many smaller ones
MAX_GRANT_SET_GRANTS = 131_072
_NO_GRANTS = GrantSet()
#: the deciding statements an audit record names: a key's 50,000 grants can all decide one
#: request, and naming each would make every such record megabytes (the rest are counted)
AUDITED_MATCHES = 64
#: what a record costs beyond those characters (its fields, the entry), and each version of
#: its material (ids, sealed secret, public key), in characters
_RECORD_OVERHEAD = 512
_MATERIAL_CHARS = 1024


def _hide_aliased_key(caller: Caller, target: Target, message: str) -> str:
    """A denial of a key the caller named by another account's alias says "on this resource",
    as AWS's denials do for resources the caller may not see: the key id behind someone
    else's alias is not the caller's to learn (issue 12 item 11)."""
    key = target.key
    if target.request_alias is None or key is None or key.account == caller.account:
        return message
    return message.replace(f"on resource: {target.resource}", "on this resource")


#: what a kept plan weighs beyond its context and KeyId text (its question, tuple, entry), in chars
_PLAN_OVERHEAD = 256


class _PlanMark:
    """The first member of a pipeline's plan questions (``Pipeline._plans``)."""

    __slots__ = ()


class _Plan(NamedTuple):
    """What a one-key read request found on one state of the store, for the same request on
    the same state (``Pipeline._plan_question``): its key, allowed by ``decision``, its key
    checks passed, until its lifecycle work falls ``due``."""

    identity: Resolved  # the caller's directory entry it was decided for
    key: KeyRecord
    request_alias: str | None
    decision: Decision
    due: datetime | None
    facts: AuditFacts  # what the audit record says of its target and decision
    used: tuple[str, ...]  # the key ARN usage tracking notes (``KeyUsage.note``)


@dataclass(frozen=True, slots=True)
class Preview:
    """What ``Pipeline.preview`` found: whether the request would be allowed, else why, and
    the context keys a refusal read that the previewed request lacked (the real request
    may carry them)."""

    decided: bool
    allowed: bool
    reason: str = ""
    missing_context_keys: tuple[str, ...] = ()
    resource: str = ""  # the refused target's resource (a key ARN, an alias ARN, "*")


class Pipeline:
    """Runs operations of the table for callers, each inside one store transaction."""

    def __init__(
        self,
        *,
        store: Store,
        clock: Clock,
        rng: Rng,
        identities: Identities,
        audit: AuditLog | None,
        account: str,
        region: str,
        quotas: Quotas | None = None,
        regions: frozenset[str] | None = None,
        key_stores: Iterable[KeyStoreConnector] = (),
    ) -> None:
        self.store = store
        self.quotas = quotas if quotas is not None else Quotas()  # resource quotas (handlers)
        #: the Regions this service's store serves (None: any); ReplicateKey writes only there
        self.regions = regions
        self.clock = clock
        self.rng = rng
        self.identities = identities
        self.audit = audit
        self.account = account
        self.region = region
        self.operations = load_operations()
        # the custom key store types offered; their keys' backends join the kernel's
        self.key_stores = KeyStores(key_stores, store.root_key)
        # INVARIANT: the kernel's minter never leaves this object
        self.kernel = Kernel(store.root_key, rng, backends=self.key_stores.backends())
        self._mint = self.kernel.take_minter()
        # weighs its text: a parsed policy keeps about 7 bytes per character alive (decisions)
        self._policies: BoundedCache[str, Policy] = BoundedCache(4096, maxweight=MAX_POLICY_CHARS)
        self._grants: BoundedCache[tuple[str, str], AuthzGrant] = BoundedCache(65_536)
        #: (key ARN, caller's index keys) -> (the store's last read of the key's grants naming
        #: the caller, those grants indexed), weighing its grants (_authz_grants)
        self._grant_sets: BoundedCache[
            tuple[str, tuple[str, ...]], tuple[Sequence[GrantRecord], GrantSet]
        ] = BoundedCache(4096, maxweight=MAX_GRANT_SET_GRANTS)
        # compiled forms of the policies above (by identity), weighing their policy_chars
        self._compiled = PolicyCache(1024, maxweight=MAX_POLICY_CHARS)
        self._memo = DecisionMemo(max_policy_chars=MAX_POLICY_CHARS)
        self.key_refs: BoundedCache[tuple[str, str, str, bool], tuple[ids.KeyRef, str]] = (
            BoundedCache(4096)
        )  # KeyId parameters parsed (requests.Services)
        #: (record, alias names, its key_context, that frozen) by id of the record
        #: (_key_context), weighing the record's characters
        self._key_contexts: BoundedCache[
            int, tuple[KeyRecord, tuple[str, ...], dict[str, object], frozenset[Any]]
        ] = BoundedCache(4096, maxweight=MAX_KEY_CONTEXT_CHARS)
        #: (decision, (kind, reason, matched labels)) by id of the decision (_recorded)
        self._recorded_facts: BoundedCache[
            int, tuple[Decision, tuple[str, str, tuple[str, ...]]]
        ] = BoundedCache(4096)
        self.usage = KeyUsage(clock.now())  # GetKeyLastUsage: tracking starts with the service
        #: the operations whose requests may be planned: read-only, one key named by a
        #: parameter and resolved by the pipeline itself, or named as the operation's
        #: ``plan_key`` says (Decrypt: by its ciphertext) (``_plan_question``); none where the
        #: store keeps nothing (``Transaction.reused`` always None: memory, PostgreSQL)
        self._plannable = frozenset(
            name
            for name, op in self.operations.items()
            if not op.mutates
            and (op.plan_key is not None or (op.resolve is None and op.key_param is not None))
            and op.handler is not None
            and getattr(store, "keeps_answers", False)
        )
        #: this pipeline's mark on its plans: services of other Regions or accounts may share
        #: the store, and its reads, on one thread (an object, so no later pipeline has it)
        self._plans = _PlanMark()

    # ----------------------------------------------------------------------------------------
    def run(
        self,
        name: str,
        principal: str,
        params: Mapping[str, Any],
        *,
        context: Mapping[str, object] | None = None,
        request_id: str = "",
        now: datetime | None = None,
        identity: Resolved | None = None,
    ) -> dict[str, Any]:
        """Run operation ``name`` for ``principal`` with already validated ``params``; ``now``:
        the request's time, when the caller has just read this pipeline's clock; ``identity``:
        ``principal``'s directory entry, when the caller has just resolved it here."""
        op = self.operations.get(name)
        if op is None:  # the codec knows every operation of the model; the table too
            raise InternalError(f"{name} is not an operation of the KMS model")
        if op.validate is not None:
            op.validate(params)
        if identity is None:
            identity = self.identities.resolve(principal)
        caller = identity.caller
        if now is None:
            now = self.clock.now()
        # Due lifecycle work found on a key is committed first, in a transaction of its own (a
        # refused request must not roll it back), then the request starts over. Operations not
        # declared ``mutates`` run in a read-only transaction (no write lock in SQL stores);
        # work AWS does on its own (an AWS managed key created on first use) is committed in a
        # transaction of its own, then the request starts over.
        # Work that may wait on the network runs with no transaction open (OutsideFirst).
        readonly = not op.mutates
        outside: OutsideOutcomes = {}
        scope = RequestScope(self, identity, params, now, op, context, readonly, outside)
        # what outside work made that must be taken back unless the request keeps it
        undos: dict[Hashable, Callable[[], None]] = {}
        try:
            for round_ in range(_ROUNDS):
                if round_:  # a fresh scope per round: the audit record is the last round's
                    scope = scope.again()
                try:
                    # read before the key is: a key forgotten meanwhile (disabled) is not held
                    # again by this request's handles (Kernel._hold)
                    forgets = self.kernel.forgets
                    with self.store.transaction(readonly=readonly) as tx:
                        scope.tx = tx
                        result = self._attempt(op, scope, forgets)
                        # INVARIANT (recorded before visible): the decision is in the log
                        # before the transaction commits and before the result leaves; a log
                        # that cannot be written raises here, and the transaction rolls back
                        self._audit(scope, request_id, None)
                    if scope.saved:  # committed: forget what changed
                        for arn, saved in scope.saved.items():
                            self.note_saved(saved, arn)
                    if undos:  # nearly every request has none (no outside work)
                        self._undo(op, undos, keep=scope.used_outside)
                    if scope.after_commit:
                        self._after_commit(scope)
                    break
                except DueWorkFirst as due:
                    self._run_due_work(due.arn, now)
                except SnapshotMoved:  # another writer committed mid-round (nothing recorded)
                    pass
                except CommitFirst as first:
                    with self.store.transaction() as tx:
                        first.work(tx)
                except OutsideFirst as first:
                    if first.key in outside:  # INVARIANT: each piece of work runs once
                        raise InternalError(f"{op.name} asked twice for {first.key!r}") from None
                    self._outside(first, outside, undos, caller, op, request_id, context)
            else:
                raise InternalError(f"{op.name} did not settle in {_ROUNDS} rounds")
        except RunInThread:  # nothing decided or written yet: the server runs it again
            if undos:
                self._undo(op, undos, keep=())
            raise
        except Exception as exc:
            if undos:
                self._undo(op, undos, keep=())
            self._audit_failure(scope, request_id, exc)
            raise
        if op.tracked:  # what GetKeyLastUsage reports (usage.TRACKED_OPERATIONS)
            plan = scope.plan
            self.usage.note(
                op.name,
                plan.used
                if plan is not None
                else tuple([t.key.arn for t in scope.targets if t.key is not None]),
                now,
                request_id,
            )
        return result

    @staticmethod
    def _outside(
        first: OutsideFirst,
        outside: OutsideOutcomes,
        undos: dict[Hashable, Callable[[], None]],
        caller: Caller,
        op: Operation,
        request_id: str,
        context: Mapping[str, object] | None,
    ) -> None:
        """Run one piece of outside work, keeping its outcome (value or exception) for the
        request's next rounds. It is the only place a request's work may call a third party (an
        external key store's proxy), so it runs on behalf of the request (``kms.onbehalf``)."""
        token = onbehalf.enter(caller.principal_arn, op.name, request_id, context)
        try:
            value = first.work()
        except Exception as exc:  # raised by the handler in the next round
            outside[first.key] = (False, exc)
        else:
            outside[first.key] = (True, value)
            if first.undo is not None:
                undos[first.key] = functools.partial(first.undo, value)
        finally:
            onbehalf.leave(token)

    @staticmethod
    def _undo(
        op: Operation, undos: Mapping[Hashable, Callable[[], None]], keep: Iterable[Hashable]
    ) -> None:
        """Take back what outside work made and the request did not keep (it failed, or its
        committed round used another outcome): best effort, a failure is logged."""
        kept = frozenset(keep)
        for key, undo in undos.items():
            if key in kept:
                continue
            try:
                undo()
            except Exception:
                _log.exception(
                    "%s: what %r made outside the store was not taken back", op.name, key
                )

    def _after_commit(self, attempt: RequestScope) -> None:
        """Work a committed request left to do outside its transaction (connecting a custom
        key store): its failures are the work's own to record, never the request's."""
        for work in attempt.after_commit:
            try:
                work()
            except Exception:
                _log.exception("work after %s failed", attempt.op.name)

    def _audit_failure(self, attempt: RequestScope, request_id: str, exc: Exception) -> None:
        """Record a request that failed: its decision, or — when its record was already written
        and the commit failed after it — that the recorded change did not happen."""
        if attempt.audit_failed:
            return  # the log itself failed: the request is refused, there is nothing to add
        code = exc.code if isinstance(exc, ServiceError) else KMSInternalException.code
        if not attempt.recorded:
            # a refusal or an exception in a handler after an allow: nothing committed, and
            # the decision is still recorded (a log that cannot take it refuses the request)
            self._audit(attempt, request_id, code)
            return
        # the request fails with its own error; its record says what was decided
        with contextlib.suppress(KMSInternalException):
            self._append(
                attempt,
                AuditRecord(
                    time=attempt.now,
                    request_id=request_id,
                    operation=attempt.op.name,
                    principal=attempt.caller.arn,
                    actions=(),
                    resources=tuple([t.recorded_resource for t in attempt.targets]),
                    allowed=False,
                    decision="",
                    reason="the change recorded for this request was rolled back",
                    error_code=code,
                    event=EVENT_NOT_COMMITTED,
                ),
            )

    def _attempt(self, op: Operation, scope: RequestScope, forgets: Forgets) -> dict[str, Any]:
        """One round of the pipeline inside one transaction (see the module docstring);
        ``forgets``: the kernel's, read before the transaction began."""
        targets = self._allowed(op, scope)
        # INVARIANT: from here on every target was allowed for exactly this caller and action
        if op.dry_run and scope.params.get("DryRun"):
            raise DryRunOperationException(_DRY_RUN_MESSAGE)
        mint = self._mint
        keys: tuple[AuthorizedKey, ...]
        if len(targets) == 1:  # nearly every request: its one handle, without a comprehension
            t = targets[0]
            keys = (mint(t.key, t.action, t.request_alias, forgets),) if t.key is not None else ()
        else:
            keys = tuple(
                [mint(t.key, t.action, t.request_alias, forgets) for t in targets if t.key]
            )
        assert op.handler is not None  # _decided refused it otherwise
        return op.handler(Call(scope, keys))

    def _allowed(self, op: Operation, scope: RequestScope) -> list[Target]:
        """The request's targets, resolved, allowed and checked (``_decided``), or, for a
        request asked before on the same state of the store, its plan."""
        tx = scope.tx
        asked = self._plan_question(op, scope) if op.name in self._plannable else None
        plan = tx.reused(asked[0]) if asked is not None else None
        if (
            isinstance(plan, _Plan)
            and plan.identity is scope.identity
            and (plan.due is None or scope.now < plan.due)
        ):
            # the request this plan was made for, on the same store: the same target, allowed
            # by the same decision, its key checks passed (``_plan_question``)
            assert asked is not None
            key = plan.key
            scope.targets = targets = [
                Target(
                    op.action,
                    key.arn,
                    key,
                    op.state_row,
                    op.grant_operation,
                    asked[1],
                    plan.request_alias,
                )
            ]
            scope.decisions.append(plan.decision)
            scope.plan = plan
            return targets
        targets, time_free = self._decided(op, scope)
        if asked is not None and time_free:
            self._keep_plan(tx, asked[0], asked[2], scope)
        return targets

    def _decided(self, op: Operation, scope: RequestScope) -> tuple[list[Target], bool]:
        """The request's targets, each allowed for the caller, and checked as the operation
        declares (key type, key state, a custom key store's connection), else the refusal;
        and whether no decision read the time."""
        caller, tx = scope.caller, scope.tx
        scope.targets = targets = self._targets(op, Resolution(scope), scope.context)
        tokens = scope.params.get("GrantTokens")
        if tokens:
            self._check_grant_tokens(tx, tokens)
        time_free = self._authorize(
            tx, op, caller, scope.identity, targets, scope.now, scope.decisions
        )
        # INVARIANT: from here on every target was allowed for exactly this caller and action
        if op.handler is None:
            # a real KMS operation that kmspolicy does not implement, authorized like any other
            # first: a typed, modeled error boto3 users can catch, not an unknown operation
            raise UnsupportedOperationException(
                f"kmspolicy does not implement {op.name} (see docs/deviations.md)"
            )
        for target in targets:
            if target.key is not None:
                op.check_key(target.key)  # declared: AWS managed key refusal, key-type precheck
        for target in targets:
            if target.key is not None and target.state_row is not None:
                try:
                    check_state(target.state_row, target.key.key_state, target.key.arn)
                except ServiceError:
                    # refused for a state this kernel may not have seen written (another
                    # process disabled the key, or scheduled its deletion): its opened
                    # versions go now, not when the cache evicts them
                    if target.key.key_state is not KeyState.ENABLED:
                        self.kernel.forget(target.key.arn)
                    raise
        if op.tracked:  # it uses key material: a custom key store's connection must be live
            for target in targets:
                if target.key is not None and target.key.custom_key_store_id is not None:
                    self._connect_here(tx, target.key)
        return targets, time_free

    # --- request plans: a repeated request on an unchanged store (docs/server.md)
    def _plan_question(
        self, op: Operation, scope: RequestScope
    ) -> tuple[tuple[object, ...], dict[str, object], frozenset[tuple[str, Any]]] | None:
        """What the targets and decision of a one-key read request are a function of, besides
        the store's state and the time: this pipeline (its account, Region, memo, key stores),
        the operation, the ``KeyId`` text (or what the operation's ``plan_key`` names the key
        by: a Decrypt's ciphertext's key id), the caller's directory entry (a new one whenever
        the directory changes) and the request's condition keys; with those condition keys
        (the target's context) and their frozen form. None: not planned (grant tokens, which
        are checked against the store; a context that cannot be a key)."""
        params = scope.params
        if op.plan_key is not None:
            key_text = op.plan_key(params, self.kernel)
        else:
            key_text = params.get(op.key_param) if op.key_param is not None else None
        if key_text is None or params.get("GrantTokens"):
            return None
        try:
            extra = _params_context(op, params)
        except KeyError:  # refused where _targets computes it, after the key is resolved
            return None
        transport = scope.context
        if transport:
            extra = {**transport, **extra}
        try:
            frozen = freeze(extra)
            question = (self._plans, op.name, key_text, id(scope.identity), frozen)
        except TypeError:  # a context value that cannot be part of a key
            return None
        return question, extra, frozen

    def _keep_plan(
        self,
        tx: Transaction,
        question: tuple[object, ...],
        frozen: frozenset[tuple[str, Any]],
        scope: RequestScope,
    ) -> None:
        """Keep what the request found for the next one asking ``question`` while the store is
        unchanged (``Transaction.keep``), when that is all it depends on: one key, outside any
        custom key store (whose connection lives outside the store), decided without reading
        the time, a context small enough to keep (as the decision memo weighs it). Its
        lifecycle work's moment is kept: the plan ends when the work falls due."""
        targets, decisions = scope.targets, scope.decisions
        if len(targets) != 1 or len(decisions) != 1:
            return
        target = targets[0]
        key = target.key
        if key is None or key.custom_key_store_id is not None:
            return
        chars = context_chars(frozen)
        if chars > MAX_ENTRY_CHARS:
            return
        plan = _Plan(
            scope.identity,
            key,
            target.request_alias,
            decisions[0],
            due_at(key),
            self._facts(decisions, targets),
            (key.arn,),
        )
        # question[2]: what names the key (the KeyId text, a Decrypt's blob's key id)
        tx.keep(question, plan, chars + len(str(question[2])) + _PLAN_OVERHEAD)

    def _authorize(
        self,
        tx: Transaction,
        op: Operation,
        caller: Caller,
        identity: Resolved,
        targets: Sequence[Target],
        now: datetime,
        decisions: list[Decision],
        policy: Policy | None = None,
    ) -> bool:
        """Decide every target, appending each decision; raise at the first refusal. Whether
        every decision is a function of its memo key (none read the time)."""
        time_free = True
        for target in targets:
            if (
                target.key is not None
                and not op.cross_account
                and target.key.account != caller.account
            ):
                raise AccessDeniedException(
                    _hide_aliased_key(
                        caller,
                        target,
                        f"User: {caller.arn} is not authorized to perform: {target.action} on "
                        f"resource: {target.resource} because {op.name} cannot be called "
                        "across accounts",
                    )
                )
            decision, memoised = self._decide(
                tx, caller, target, now, identity, policy if target.key else None
            )
            decisions.append(decision)
            if not decision.allowed:
                raise AccessDeniedException(_hide_aliased_key(caller, target, decision.reason))
            time_free = time_free and memoised
        return time_free

    def preview(
        self,
        name: str,
        principal: str,
        params: Mapping[str, Any],
        *,
        context: Mapping[str, object] | None = None,
        policy: Policy | None = None,
    ) -> Preview:
        """Whether ``principal`` would be allowed operation ``name`` with ``params``, decided
        as ``run`` decides it — the same targets, key properties, aliases, grants, identity
        policies, boundary, session policies, SCPs and RCPs — in a read-only transaction,
        without running the operation or recording it (it changes nothing; a console asks it
        to show which actions a principal may take). ``policy``: a key policy to try instead
        of the stored one (the lockout check before saving). A request the pipeline could
        answer only by writing first (due lifecycle work, an AWS managed key) is not
        previewed: ``decided`` is False and the real request decides."""
        op = self.operations.get(name)
        if op is None:
            raise InternalError(f"{name} is not an operation of the KMS model")
        identity = self.identities.resolve(principal)
        caller, now = identity.caller, self.clock.now()
        decisions: list[Decision] = []
        targets: list[Target] = []
        try:
            with self.store.transaction(readonly=True) as tx:
                scope = RequestScope(self, identity, params, now, op, context=context)
                scope.tx = tx
                targets = self._targets(op, Resolution(scope), context, partial=True)
                self._authorize(tx, op, caller, identity, targets, now, decisions, policy)
        except (DueWorkFirst, CommitFirst, OutsideFirst, SnapshotMoved):
            return Preview(decided=False, allowed=True)
        except AccessDeniedException as refused:
            # the refused target is the last one decided (or the next: refused across accounts)
            last = decisions[-1] if decisions and not decisions[-1].allowed else None
            target = targets[len(decisions) - 1 if last else len(decisions)]
            missing = tuple(last.missing_context_keys) if last else ()
            return Preview(True, False, str(refused.message), missing, target.resource)
        return Preview(decided=True, allowed=True)

    def _connect_here(self, tx: Transaction, key: KeyRecord) -> None:
        """After the allow: this process holds a connection of the key's custom key store
        (made now, with its credential unsealed, when the store was connected elsewhere or
        before a restart)."""
        assert key.custom_key_store_id is not None
        store = tx.get_custom_key_store(key.custom_key_store_id)
        if store is None:
            raise InternalError(f"{key.arn} names a custom key store that does not exist")
        self.key_stores.ready(store, key.arn)

    def destroy_deleted(self, record: KeyRecord) -> None:
        """A key was deleted (its waiting period ended): destroy what its backend holds
        outside the store, when its custom key store can be reached. Best effort, as in AWS:
        a disconnected store keeps the object, and the log names it for the operator."""
        if record.custom_key_store_id is None:
            self.kernel.forget(record.arn)
            return
        try:
            with self.store.transaction(readonly=True) as tx:
                store = tx.get_custom_key_store(record.custom_key_store_id)
            if store is None:
                raise KMSInternalException("its custom key store no longer exists")
            self.key_stores.ready(store, record.arn)
            self.kernel.destroy_material(record)
        except KmsPolicyError as exc:
            _log.warning(
                "deleted key %s: its material in custom key store %s was not destroyed (%s); "
                "delete it from the key store by hand",
                record.arn,
                record.custom_key_store_id,
                exc,
            )

    def _run_due_work(self, arn: str, now: datetime) -> None:
        service_audit = _Refusing(self.audit) if self.audit is not None else None
        with self.store.transaction() as tx:
            record = tx.get_key(arn)
            if record is None:
                return
            # its AwsServiceEvent records go in before this commit
            after = run_due_work(tx, record, now, self.kernel, service_audit)
        if after is None:
            self.destroy_deleted(record)
        if after is not record:
            self.note_saved(after, arn)

    def note_saved(self, record: KeyRecord | None, arn: str) -> None:
        """A key was written (or deleted, ``record`` None) and committed: the kernel forgets
        what it opened that no longer applies, and the memo the decisions about a key that is
        no longer Enabled (disabled, scheduled for deletion, deleted). Other writes keep them:
        every input of a decision is in its memo key, so a changed key asks new questions, and
        forgetting on every write would cost the next request a full evaluation."""
        self.kernel.note_saved(record, arn)
        if record is None or record.key_state is not KeyState.ENABLED:
            self.forget_decisions(arn)

    def forget_decisions(self, arn: str) -> None:
        """The memoised decisions about key ``arn`` go (it is disabled, doomed or deleted)."""
        self._memo.forget(arn)

    # ----------------------------------------------------------------------------------------
    def _targets(
        self,
        op: Operation,
        res: Resolution,
        transport: Mapping[str, object] | None,
        *,
        partial: bool = False,
    ) -> list[Target]:
        """The request's targets with their context: each target's own keys, then those of
        the request's parameters, then the ``transport`` keys from adapters (aws:SourceIp,
        kms:ViaService, ...), the first of a name winning. ``partial`` (a preview): parameters
        the caller has not chosen yet are absent, and a context key read from one is left out,
        so a condition on it shows in the decision's missing context keys."""
        if op.resolve is not None:
            targets = op.resolve(res)
        elif op.key_param is None:
            targets = [Target(op.action, "*")]
        else:
            targets = [res.key_target(op, res.params[op.key_param])]
        try:
            extra = _params_context(op, res.params)
        except KeyError:
            if not partial:
                raise
            extra = {}
        if transport:
            extra = {**transport, **extra}
        if extra:
            for target in targets:
                if target.context:
                    for k, v in extra.items():
                        target.context.setdefault(k, v)
                else:  # the usual target: no keys of its own, one dict per target
                    target.context = extra if len(targets) == 1 else dict(extra)
        return targets

    def _check_grant_tokens(self, tx: Transaction, tokens: Sequence[str]) -> None:
        for token in tokens:
            key_arn, grant_id = parse_grant_token(token)
            verify_grant_token(token, tx.get_grant(key_arn, grant_id))

    def key_policy(self, text: str) -> Policy:
        """The parsed key policy (cached by text: records hold the JSON the caller sent)."""
        policy = self._policies.get(text)
        if policy is None:
            try:
                policy = read_json(text, "key policy", key_policy=True)
            except PolicyError as exc:  # a stored policy was validated when it was put
                raise InternalError(f"stored key policy does not parse: {exc}") from exc
            self._policies.put(text, policy, len(text))
        return policy

    def _authz_grants(self, tx: Transaction, key_arn: str, caller: Caller) -> GrantSet:
        """The key's grants that can name ``caller`` as grantee (by its ARN, its principal ARN,
        its account's root ARN or its role: ``Caller.index_keys``), read by index and indexed
        by principal (``GrantSet``): a key's grants to other principals (up to 50,000) cost a
        decision nothing. Every grant that can allow the caller's request names it so;
        retiring principals do not count, since a RetireGrant is decided by the one grant it
        retires (``Target.only_grant``). Made once per read of them (a store answering from
        its reads hands out the same sequence while it is unchanged), and the same object
        again when a new read holds the same grants, so the decisions memoised with it (keyed
        by its id) still answer after unrelated writes."""
        names = caller.index_keys
        records = tx.list_grants_naming(key_arn, names)
        if not records:
            return _NO_GRANTS
        at = (key_arn, names)
        known = self._grant_sets.get(at)
        if known is not None and known[0] is records:
            return known[1]
        grants = tuple([self._authz_grant(key_arn, g) for g in records])
        # the same grant objects (the cache above): once per read, not per request
        found = known[1] if known is not None and tuple(known[1]) == grants else GrantSet(grants)
        self._grant_sets.put(at, (records, found), len(records))
        return found

    def _authz_grant(self, key_arn: str, g: GrantRecord) -> AuthzGrant:
        cached = self._grants.get((key_arn, g.grant_id))
        if cached is None:  # a grant never changes under its id (grants are immutable)
            cached = self._grants.put((key_arn, g.grant_id), to_authz_grant(g))
        return cached

    def decide(
        self,
        tx: Transaction,
        caller: Caller,
        target: Target,
        now: datetime,
        *,
        identity: Resolved | None = None,
        policy: Policy | None = None,
    ) -> Decision:
        """The decision on ``target`` for ``caller`` (``policy``: a key policy to try instead
        of the stored one, for the lockout safety check; never memoised)."""
        if identity is None:
            identity = self.identities.resolve(caller.arn)
        return self._decide(tx, caller, target, now, identity, policy)[0]

    def _decide(
        self,
        tx: Transaction,
        caller: Caller,
        target: Target,
        now: datetime,
        identity: Resolved,
        policy: Policy | None,
    ) -> tuple[Decision, bool]:
        """``decide``, and whether the decision is a function of its memo key alone (no
        policy reads the time; the stored key policy)."""
        key = target.key
        # the request's own condition keys, laid over the key's (kms:RequestAlias last)
        asked: Mapping[str, Any] = target.context
        if target.request_alias is not None:
            asked = {**asked, "kms:RequestAlias": target.request_alias}
        key_policy = None
        grants: GrantSet = _NO_GRANTS
        rcps: tuple[Policy, ...] = ()
        own: dict[str, object] | None = None
        frozen_own: frozenset[Any] = _NO_CONTEXT
        if key is not None:
            own, frozen_own = self._key_context(tx, key)
            key_policy = policy if policy is not None else self.key_policy(key.policy)
            if target.only_grant is not None:
                grants = GrantSet((to_authz_grant(target.only_grant),))
            elif target.grant_operation is not None:
                grants = self._authz_grants(tx, key.arn, caller)
            rcps = self.identities.account(key.account).rcps
        scps = self.identities.account(caller.account).scps
        memo = self._memo
        memo_key = None
        if policy is None:
            policy_ids = memo.policy_ids(identity, key_policy, scps, rcps)
            if policy_ids is not None:
                memo_key = memo.key(
                    identity, target.action, target.resource, asked, policy_ids, grants, frozen_own
                )
                known = memo.get(memo_key)
                if known is not None:
                    return known, True
        context: dict[str, Any] = {**own, **asked} if own is not None else dict(asked)
        policies = KmsPolicies(
            key_policy,
            identity_policies=identity.policies,
            grants=grants,
            scps=scps,
            rcps=rcps,
            permissions_boundary=identity.permissions_boundary,
            session_policies=identity.session_policies,
        )
        decision = authorize_kms(
            Request(caller, target.action, target.resource, context, now),
            policies,
            matcher=self._compiled.match,
        )
        if memo_key is not None:
            memo.put(memo_key, decision, (identity, key_policy, scps, rcps, grants))
        return decision, memo_key is not None

    def _key_context(
        self, tx: Transaction, key: KeyRecord
    ) -> tuple[dict[str, object], frozenset[tuple[str, Any]]]:
        """``key_context`` of ``key`` with the aliases naming it now, and its frozen form (a
        memo key part), made once per key record object and alias names: records are
        immutable, and a store answering from its reads hands out the same one per request.
        The entry holds its record, so the id it is found by stays that record's; it weighs
        what it keeps alive (the policy text above all), so stale records cannot pile up."""
        names = tuple([a.name for a in tx.list_aliases(key.account, key.region, key_id=key.key_id)])
        known = self._key_contexts.get(id(key))
        if known is None or known[0] is not key or known[1] != names:
            own = key_context(key, names)
            frozen = freeze(own)
            weight = (
                len(key.policy)
                + len(key.description)
                + context_chars(frozen)
                + _MATERIAL_CHARS * len(key.materials)
                + _RECORD_OVERHEAD
            )
            known = self._key_contexts.put(id(key), (key, names, own, frozen), weight)
        return known[2], known[3]

    def _audit(self, a: RequestScope, request_id: str, error_code: str | None) -> None:
        """Append the record of request ``a`` (its decisions, or the refusal before any)."""
        if self.audit is None:
            return
        targets = a.targets
        plan = a.plan
        facts = plan.facts if plan is not None else self._facts(a.decisions, targets)
        # request-derived condition keys (EC, algorithms, tags, ...); the audit adapter
        # hashes encryption-context values before writing. One target (nearly every
        # request): its context as it is, which nothing changes once the target is decided
        if len(targets) == 1:
            context = targets[0].context
        else:
            context = {}
            for t in targets:
                context.update(t.context)
        self._append(
            a, AuditRecord(a.now, request_id, a.op.name, a.caller.arn, *facts, error_code, context)
        )
        a.recorded = True

    def _facts(self, decisions: Sequence[Decision], targets: Sequence[Target]) -> AuditFacts:
        """What the audit record says of a round's ``targets`` and ``decisions``: the actions,
        the resources, whether it was allowed, the deciding decision's kind and reason (the
        first refusal, else the last decision) and every decision's matched statements."""
        # plain loops, not generators: this runs once per request not answered by a plan
        facts: tuple[str, str, tuple[str, ...]] = ("", "", ())  # the deciding decision's
        denied = False
        matched: tuple[str, ...] = ()
        for d in decisions:
            known = self._recorded(d)
            matched += known[2]
            if not denied:
                facts = known
                denied = not d.allowed
        return (
            tuple([t.action for t in targets]),
            tuple([t.recorded_resource for t in targets]),
            bool(decisions) and not denied,
            facts[0],
            facts[1],
            matched,
        )

    def _recorded(self, decision: Decision) -> tuple[str, str, tuple[str, ...]]:
        """What the audit record says of ``decision`` (its kind, its reason, the labels of its
        deciding statements), formatted once per decision: a memoized decision answers many
        requests. By id; the entry holds the decision, so the id stays that decision's."""
        known = self._recorded_facts.get(id(decision))
        if known is None or known[0] is not decision:
            matched = decision.matched_statements
            labels = tuple(
                [f"{m.source_policy_type.value}:{m.label()}" for m in matched[:AUDITED_MATCHES]]
            )
            if len(matched) > AUDITED_MATCHES:
                labels += (f"+{len(matched) - AUDITED_MATCHES} more",)
            facts = (decision.kind.value, decision.reason, labels)
            known = self._recorded_facts.put(id(decision), (decision, facts))
        return known[1]

    def _append(self, a: RequestScope, record: AuditRecord) -> None:
        assert self.audit is not None
        try:
            self.audit.append(record)
        except Exception as exc:
            a.audit_failed = True
            raise audit_unavailable(exc) from exc


class _Refusing:
    """The audit log for the service's own work: a record it cannot take refuses the work
    (``KMSInternalException``), and the work's transaction rolls back."""

    __slots__ = ("inner",)

    def __init__(self, inner: AuditLog) -> None:
        self.inner = inner

    def append(self, record: AuditRecord) -> None:
        try:
            self.inner.append(record)
        except Exception as exc:
            raise audit_unavailable(exc) from exc

    def close(self) -> None:
        self.inner.close()


def audit_unavailable(exc: Exception) -> KMSInternalException:
    """The refusal of a request whose record cannot be written (nothing was changed).

    The adapter's reason goes to the operator's log, never to the caller; only our own errors'
    messages are logged (an encoder's message could quote what the caller sent)."""
    why = str(exc) if isinstance(exc, KmsPolicyError) else type(exc).__name__
    _log.error("the audit log refused a record (%s); the request was refused", why)
    return KMSInternalException(
        "The request was not processed because its audit record could not be written; "
        "nothing was changed. The request can be retried."
    )


def _params_context(op: Operation, params: Mapping[str, Any]) -> dict[str, object]:
    out: dict[str, object] = {}
    for member, key in op.condition_params:
        value = params.get(member)
        if value is not None:
            out[key] = value
    for key, default in op.condition_defaults:
        out.setdefault(key, default)
    if op.encryption_context_param is not None:
        ec = params.get(op.encryption_context_param)
        if ec:
            for k, v in ec.items():
                out[f"kms:EncryptionContext:{k}"] = v
            out["kms:EncryptionContextKeys"] = list(ec)
    if op.context is not None:
        out.update(op.context(params))
    return out


def to_authz_grant(g: GrantRecord) -> AuthzGrant:
    c = g.constraints
    return AuthzGrant(
        grant_id=g.grant_id,
        key_arn=g.key_arn,
        grantee_principal=g.grantee_principal,
        operations=frozenset(g.operations),
        retiring_principal=g.retiring_principal,
        encryption_context_equals=dict(c.encryption_context_equals)
        if c is not None and c.encryption_context_equals is not None
        else None,
        encryption_context_subset=dict(c.encryption_context_subset)
        if c is not None and c.encryption_context_subset is not None
        else None,
        name=g.name,
        issuing_account=g.issuing_account,
        source_arn=c.source_arn if c is not None else None,
    )
