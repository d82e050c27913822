"""AWS managed keys: ``alias/aws/<service>`` keys made on first use, with their fixed policy.

Layer: kms. A service's first request through ``kms:ViaService`` (or DescribeKey of the
predefined alias, or ``KMS.aws_managed_key("s3")``) creates the key: KeyManager=AWS, a policy
nobody can change, yearly rotation nobody can turn off, and no management operations.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from types import MappingProxyType

from kmspolicy.crypto.material import Rng
from kmspolicy.crypto.specs import KeySpec, KeyUsage
from kmspolicy.errors import NotFoundException
from kmspolicy.kms.ids import RESERVED_ALIAS_PREFIX, account_root_arn, alias_arn, key_arn
from kmspolicy.kms.kernel import Kernel
from kmspolicy.kms.lifecycle.rotation import AWS_MANAGED_ROTATION_DAYS
from kmspolicy.kms.model import (
    AliasRecord,
    KeyManagerType,
    KeyMaterial,
    KeyMaterialState,
    KeyRecord,
    OriginType,
)
from kmspolicy.kms.ports import AuditLog, AuditRecord, Transaction
from kmspolicy.kms.states import Event, KeyState, transition

__all__ = [
    "AWS_MANAGED_SERVICES",
    "ensure_aws_managed_key",
    "managed_alias_name",
    "managed_key_policy",
    "service_for_alias",
    "service_for_via",
    "service_to_create",
]


# alias/aws/<name> -> the endpoint prefix the service calls KMS through (kms:ViaService).
# EBS volumes are encrypted by EC2, hence ec2.<region>.amazonaws.com for alias/aws/ebs.
AWS_MANAGED_SERVICES: Mapping[str, str] = MappingProxyType(
    {
        "acm": "acm",
        "backup": "backup",
        "codecommit": "codecommit",
        "dynamodb": "dynamodb",
        "ebs": "ec2",
        "elasticfilesystem": "elasticfilesystem",
        "es": "es",
        "fsx": "fsx",
        "glue": "glue",
        "kafka": "kafka",
        "kinesis": "kinesis",
        "lambda": "lambda",
        "rds": "rds",
        "redshift": "redshift",
        "s3": "s3",
        "secretsmanager": "secretsmanager",
        "sns": "sns",
        "sqs": "sqs",
        "ssm": "ssm",
        "xray": "xray",
    }
)
_VIA_RE = re.compile(r"^([a-z0-9-]+)\.([a-z0-9-]+)\.amazonaws\.com$")


def managed_alias_name(service: str) -> str:
    return f"{RESERVED_ALIAS_PREFIX}{service}"


def service_for_alias(alias_name: str) -> str | None:
    """``s3`` for ``alias/aws/s3``; None for any other alias (customer or unknown service)."""
    if not alias_name.startswith(RESERVED_ALIAS_PREFIX):
        return None
    service = alias_name[len(RESERVED_ALIAS_PREFIX) :]
    return service if service in AWS_MANAGED_SERVICES else None


def service_for_via(via_service: str) -> str | None:
    """The managed-key service of a ``kms:ViaService`` value (``ec2.us-east-1...`` → ``ebs``)."""
    match = _VIA_RE.match(via_service)
    if match is None:
        return None
    prefix = match.group(1)
    for service, endpoint in AWS_MANAGED_SERVICES.items():
        if endpoint == prefix:
            return service
    return None


def managed_key_policy(account: str, region: str, service: str) -> str:
    """The fixed key policy of an AWS managed key: use only through the service by principals
    of the account; describe, get, list and revoke grants directly for the account."""
    via = f"{AWS_MANAGED_SERVICES[service]}.{region}.amazonaws.com"
    document = {
        "Version": "2012-10-17",
        "Id": f"auto-{service}-2",
        "Statement": [
            {
                "Sid": f"Allow access through {service} for all principals in the account "
                f"that are authorized to use {service}",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": [
                    "kms:Encrypt",
                    "kms:Decrypt",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:CreateGrant",
                    "kms:DescribeKey",
                ],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"kms:CallerAccount": account, "kms:ViaService": via}
                },
            },
            {
                "Sid": "Allow direct access to key metadata to the account",
                "Effect": "Allow",
                "Principal": {"AWS": account_root_arn(account)},
                "Action": ["kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant"],
                "Resource": "*",
            },
        ],
    }
    return json.dumps(document, indent=2)


def _new_key_id(rng: Rng) -> str:
    return str(uuid.UUID(bytes=rng(16), version=4))


def ensure_aws_managed_key(
    tx: Transaction,
    *,
    account: str,
    region: str,
    service: str,
    now: datetime,
    kernel: Kernel,
    audit: AuditLog | None = None,
) -> KeyRecord:
    """The AWS managed key of ``service`` in this account and Region, created if absent
    (its material made and sealed by ``kernel``).

    A creation is the service's own change: it goes to ``audit`` (an ``AwsServiceEvent``
    ``CreateKey`` by "AWS Internal") before the caller's transaction commits it."""
    if service not in AWS_MANAGED_SERVICES:
        raise NotFoundException(
            f"Alias {alias_arn(region, account, managed_alias_name(service))} is not found."
        )
    name = managed_alias_name(service)
    arn_of_alias = alias_arn(region, account, name)
    alias = tx.get_alias(arn_of_alias)
    if alias is not None and alias.target_key_id is not None:
        existing = tx.get_key(key_arn(region, account, alias.target_key_id))
        if existing is not None:
            return existing
    key_id = _new_key_id(kernel.rng)
    state = transition(None, Event.CREATE)
    assert state is KeyState.ENABLED
    record = KeyRecord(
        key_id=key_id,
        arn=key_arn(region, account, key_id),
        account=account,
        region=region,
        creation_date=now,
        key_spec=KeySpec.SYMMETRIC_DEFAULT.value,
        key_usage=KeyUsage.ENCRYPT_DECRYPT.value,
        key_state=state,
        policy=managed_key_policy(account, region, service),
        origin=OriginType.AWS_KMS,
        key_manager=KeyManagerType.AWS,
        description=f"Default key that protects my {service} data when no other key is defined",
        rotation_enabled=True,
        rotation_period_days=AWS_MANAGED_ROTATION_DAYS,
        next_rotation_date=now + timedelta(days=AWS_MANAGED_ROTATION_DAYS),
    )
    new = kernel.new_material(record)
    record = record.evolve(
        materials=(
            KeyMaterial(
                material_id=new.material_id,
                sealed=new.sealed,
                state=KeyMaterialState.CURRENT,
                created=now,
            ),
        ),
        current_material_id=new.material_id,
    )
    if audit is not None:  # AWS creates its managed keys on its own behalf
        audit.append(
            AuditRecord.service_event(
                "CreateKey", record.arn, now, {"keyId": key_id, "aliasName": name}
            )
        )
    tx.put_key(record)
    tx.put_alias(
        AliasRecord(
            name=name,
            arn=arn_of_alias,
            account=account,
            region=region,
            target_key_id=key_id,
            creation_date=alias.creation_date if alias is not None else now,
            last_updated_date=now,
        )
    )
    return record


def service_to_create(alias_name: str, *, operation: str, via_service: str | None) -> str | None:
    """The pipeline's seam for an alias without a target: the service whose AWS managed key
    AWS creates now (DescribeKey of the predefined alias, or the service's own first request
    through ``kms:ViaService``); None when the alias is simply not there. Pure: the pipeline
    creates the key (``ensure_aws_managed_key``) in a transaction of its own."""
    service = service_for_alias(alias_name)
    if service is None:
        return None
    through_service = via_service is not None and service_for_via(via_service) == service
    if operation != "DescribeKey" and not through_service:
        return None
    return service
