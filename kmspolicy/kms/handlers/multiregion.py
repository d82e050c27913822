"""Multi-Region key operations: ReplicateKey and UpdatePrimaryRegion.

Layer: kms (handlers bound to the operation table; the set's rules are in
``lifecycle/multiregion.py``). The members of a set are keys of other Regions of the same
store, so a request in the primary's Region writes the replica's record directly (AWS does the
same work across Regions on its own). AWS API pages:
https://docs.aws.amazon.com/kms/latest/APIReference/API_ReplicateKey.html
https://docs.aws.amazon.com/kms/latest/APIReference/API_UpdatePrimaryRegion.html
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kmspolicy.errors import (
    AlreadyExistsException,
    LimitExceededException,
    MalformedPolicyDocumentException,
    NotFoundException,
    UnsupportedOperationException,
)
from kmspolicy.kms.context import request_tag_context
from kmspolicy.kms.handlers.common import (
    LOCKOUT_MESSAGE,
    default_key_policy,
    key_metadata,
    parse_key_policy,
    parse_tags,
)
from kmspolicy.kms.lifecycle import multiregion
from kmspolicy.kms.model import KeyInfo, KeyRecord, MultiRegionKeyType
from kmspolicy.kms.operations import bind
from kmspolicy.kms.requests import Call, Resolution, Target
from kmspolicy.kms.states import Event, transition

# --- ReplicateKey ----------------------------------------------------------------------------


def _replica_context(primary: KeyInfo, params: Mapping[str, Any]) -> dict[str, object]:
    """The CreateKey request the replica amounts to, as its condition keys."""
    return {
        "kms:KeySpec": primary.key_spec,
        "kms:CustomerMasterKeySpec": primary.key_spec,
        "kms:KeyUsage": primary.key_usage,
        "kms:KeyOrigin": primary.origin.value,
        "kms:MultiRegion": True,
        "kms:MultiRegionKeyType": MultiRegionKeyType.REPLICA.value,
        "kms:BypassPolicyLockoutSafetyCheck": bool(params.get("BypassPolicyLockoutSafetyCheck")),
        **request_tag_context(params.get("Tags")),
    }


def _resolve_replicate_key(res: Resolution) -> list[Target]:
    """Authorization in both Regions (API_ReplicateKey, "Required permissions"):
    ``kms:ReplicateKey`` on the primary key (its key policy, in the primary's Region),
    ``kms:CreateKey`` in the replica's Region (IAM policies), and ``kms:TagResource`` there
    when the request tags the replica."""
    primary = res.key_target(res.op, res.params["KeyId"])
    assert primary.key is not None
    # the audit record names the replica these two create and tag (CloudTrail records the
    # replica as well as the primary), though IAM authorizes them on "*"
    replica_arn = multiregion.member_arn(primary.key, res.params["ReplicaRegion"])
    targets = [
        primary,
        Target(
            "kms:CreateKey",
            "*",
            context=_replica_context(primary.key, res.params),
            recorded_as=replica_arn,
        ),
    ]
    if res.params.get("Tags"):
        targets.append(
            Target(
                "kms:TagResource",
                "*",
                context=request_tag_context(res.params["Tags"]),
                recorded_as=replica_arn,
            )
        )
    return targets


def replicate_key(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_ReplicateKey.html"""
    p = call.params
    primary = call.key.info
    region = p["ReplicaRegion"]
    arn = multiregion.member_arn(primary, region)
    if call.regions is not None and region not in call.regions:
        # every Region served is a store's to write; a name outside them would be a Region
        # nobody can reach, with a key quota of its own
        raise UnsupportedOperationException(
            f"ReplicaRegion {region} is not a Region this service serves."
        )
    if region == primary.region or call.load_member(primary, region) is not None:
        raise AlreadyExistsException(f"Key '{arn}' already exists")
    limit = call.quotas.keys_per_region
    if call.count_keys(region) >= limit:
        raise LimitExceededException(
            f"Account {call.account} has reached the limit of {limit} KMS keys in {region}."
        )
    tags = parse_tags(p.get("Tags"))
    policy_text = p.get("Policy")
    policy = parse_key_policy(policy_text) if policy_text is not None else None
    regions = tuple(sorted({*primary.replica_regions, region}))
    state = transition(None, Event.REPLICATE)
    assert state is not None  # INVARIANT: creation always yields a state
    fields: dict[str, Any] = dict(
        key_id=primary.key_id,
        arn=arn,
        account=primary.account,
        region=region,
        creation_date=call.now,
        key_spec=primary.key_spec,
        key_usage=primary.key_usage,
        key_state=state,
        policy=policy_text if policy_text is not None else default_key_policy(primary.account),
        origin=primary.origin,
        description=p.get("Description") or "",
        tags=tags,
        multi_region=True,
        multi_region_key_type=MultiRegionKeyType.REPLICA,
        **{**multiregion.shared_properties(primary), "replica_regions": regions},
    )
    if (
        policy is not None
        and not p.get("BypassPolicyLockoutSafetyCheck")
        and not call.would_allow("kms:PutKeyPolicy", KeyRecord(**fields), policy)
    ):  # on the replica's properties: its material plays no part
        raise MalformedPolicyDocumentException(LOCKOUT_MESSAGE)
    # A primary made before versions were bound to the set has versions only it can open:
    # they are re-sealed for the set here, after every check, so a refused request opens none.
    bound = call.kernel.bind_to_set(call.key)
    replica = KeyRecord(**{**fields, **({"materials": bound} if bound is not None else {})})
    call.create_key(replica)
    # the set's new membership reaches the primary and every replica
    call.update_key(
        call.key, replica_regions=regions, **({"materials": bound} if bound is not None else {})
    )
    out: dict[str, Any] = {
        "ReplicaKeyMetadata": key_metadata(replica),
        "ReplicaPolicy": replica.policy,
    }
    if tags:
        out["ReplicaTags"] = [{"TagKey": t.key, "TagValue": t.value} for t in tags]
    return out


# --- UpdatePrimaryRegion ---------------------------------------------------------------------


def _resolve_update_primary_region(res: Resolution) -> list[Target]:
    """``kms:UpdatePrimaryRegion`` on the primary key (in its Region) and on the replica that
    becomes primary (in the new primary Region), each by its own key policy."""
    op = res.op
    current = res.key_target(op, res.params["KeyId"])
    key = current.key
    assert key is not None
    region = res.params["PrimaryRegion"]
    if not key.multi_region or region == key.region:
        return [current]  # the handler refuses it (or has nothing to do), after the decision
    arn = multiregion.member_arn(key, region)
    replica = res.load_key(arn)
    if replica is None:
        raise NotFoundException(f"Key '{arn}' does not exist")
    return [current, Target(op.action, arn, replica, op.state_row, op.grant_operation)]


def update_primary_region(call: Call) -> dict[str, Any]:
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_UpdatePrimaryRegion.html

    The roles and the set's membership change at once; the old and the new primary answer
    ``Updating`` until the service completes the update, seconds later (due work:
    ``multiregion.finish_update``), as AWS's do."""
    primary = call.key.info
    multiregion.require_primary(primary)
    if len(call.keys) == 1:  # PrimaryRegion is the primary's own Region: nothing to change
        return {}
    new_primary = call.keys[1].info
    regions = tuple(sorted({*primary.replica_regions, primary.region} - {new_primary.region}))
    moved = {"primary_region": new_primary.region, "replica_regions": regions}
    call.update_key(
        call.key,
        multi_region_key_type=MultiRegionKeyType.REPLICA,
        **moved,
        **multiregion.start_update(primary, call.now),
    )
    call.update_key(
        call.keys[1],
        multi_region_key_type=MultiRegionKeyType.PRIMARY,
        **{**multiregion.shared_properties(primary), **moved},
        **multiregion.start_update(new_primary, call.now),
    )
    return {}


#: this module's operations, collected by kms.implemented.load_operations
OPERATIONS = (
    bind(
        "ReplicateKey",
        replicate_key,
        resolve=_resolve_replicate_key,
        context=lambda params: request_tag_context(params.get("Tags")),
        precheck=multiregion.require_primary,
    ),
    bind("UpdatePrimaryRegion", update_primary_region, resolve=_resolve_update_primary_region),
)
