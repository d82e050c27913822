"""``kmspolicy serve --seed FILE``: keys with fixed ids, aliases, policies and (for
non-production use) fixed key material, so that test fixtures holding stored ciphertexts decrypt
on every fresh server.

Layer: server (adapter: reads the file, writes through the store's transaction). Seeding is
operator configuration, like the identities file: it runs once at start-up before the server
listens, not as a request, so no caller is authorized for it. A key that already exists is left
as it is (a restart does not overwrite keys that were changed since); a missing alias is
created. Fixed material is only for symmetric (and HMAC) keys, whose material is bytes; the
file says so in every key that has some, because anyone with the file can decrypt.

```yaml
keys:
  - id: 11111111-2222-4333-8444-555555555555    # required: the key id (a UUID)
    description: fixtures key
    key_spec: SYMMETRIC_DEFAULT                   # default; key_usage: ENCRYPT_DECRYPT
    policy: policies/key.json                     # a path (relative to this file) or inline
    aliases: [alias/fixtures]
    tags: {team: qa}
    material: base64 of 32 bytes                  # optional: NOT for production
    account: "000000000000"                       # default: the server's account and region
    region: us-east-1
```
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kmspolicy.crypto import specs
from kmspolicy.errors import ConfigError
from kmspolicy.kms import ids
from kmspolicy.kms.handlers.common import default_key_policy
from kmspolicy.kms.kernel import Kernel
from kmspolicy.kms.model import AliasRecord, KeyMaterial, KeyRecord, Tag
from kmspolicy.kms.ports import AuditLog, AuditRecord, Store
from kmspolicy.kms.states import Event, transition
from kmspolicy.lang import PolicySyntaxError, load_policies, read_policies, write_json
from kmspolicy.yamlpos import Located, load_yaml

_UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
_ALIAS = r"^alias/[a-zA-Z0-9/_-]+$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class SeedKey(_Model):
    id: str = Field(pattern=_UUID)
    description: str = ""
    key_spec: str = "SYMMETRIC_DEFAULT"
    key_usage: str = "ENCRYPT_DECRYPT"
    policy: str | dict[str, Any] | None = None
    aliases: list[str] = []
    tags: dict[str, str] = {}
    material: str | None = None
    account: str | None = Field(default=None, pattern=r"^\d{12}$")
    region: str | None = None


class SeedFile(_Model):
    keys: list[SeedKey] = []


@dataclass(frozen=True, slots=True)
class SeedReport:
    created: tuple[str, ...]  # key ARNs created now
    kept: tuple[str, ...]  # key ARNs that already existed
    aliases: tuple[str, ...]  # alias names created now


def load_seed(path: Path) -> tuple[SeedFile, Located]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the seed file: {exc}") from None
    located = load_yaml(text, str(path))
    try:
        return SeedFile.model_validate(located.data or {}), located
    except ValidationError as exc:
        first = exc.errors()[0]
        mark = located.mark_for(tuple(first["loc"]))
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path}:{mark.line}: {where}: {first['msg']}") from None


def _policy_text(key: SeedKey, base: Path, where: str) -> str | None:
    if key.policy is None:
        return None
    try:
        if isinstance(key.policy, dict):
            text = json.dumps(key.policy)
            policies = read_policies(text, where, key_policy=True)
        elif "\n" not in key.policy and not key.policy.lstrip().startswith("{"):
            policies = load_policies(base / key.policy, key_policy=True)
        else:
            policies = read_policies(key.policy, where, key_policy=True)
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read the policy: {exc.strerror or exc}") from None
    except PolicySyntaxError as exc:
        raise ConfigError(f"{where}: invalid key policy:\n{exc.render()}") from None
    if len(policies) != 1:
        raise ConfigError(f"{where}: the policy must be one document (found {len(policies)})")
    return write_json(policies[0])


def _material(key: SeedKey, where: str) -> bytes | None:
    if key.material is None:
        return None
    info = specs.spec_info(key.key_spec)
    if info.secret_length is None:
        raise ConfigError(f"{where}: fixed material is for symmetric and HMAC keys only")
    try:
        raw = base64.b64decode(key.material, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{where}: material is not base64") from None
    if len(raw) != info.secret_length:
        raise ConfigError(
            f"{where}: {key.key_spec} material is {info.secret_length} bytes, not {len(raw)}"
        )
    return raw


def _fixed(material: bytes) -> Any:
    """An rng for the kernel that hands out exactly the seed's material (symmetric and HMAC
    material is drawn in one piece of its own length)."""

    def draw(n: int) -> bytes:
        if n != len(material):
            raise ConfigError(f"fixed material is {len(material)} bytes; the key needs {n}")
        return material

    return draw


#: the audit log's principal for what the seed file creates (the operator's doing, at start)
SEED_PRINCIPAL = "kmspolicy serve --seed"


def seed_store(
    path: Path,
    store: Store,
    *,
    account: str,
    region: str,
    now: datetime,
    rng: Any,
    audit: AuditLog | None = None,
) -> SeedReport:
    """Create the seed file's keys and aliases that the store lacks, each recorded in
    ``audit`` before it commits."""
    seed, located = load_seed(path)
    created: list[str] = []
    kept: list[str] = []
    made_aliases: list[str] = []
    for i, key in enumerate(seed.keys):
        where = f"{path}:{located.mark_for(('keys', i)).line}"
        try:
            specs.require_implemented(key.key_spec)
        except ValueError:
            raise ConfigError(f"{where}: key_spec {key.key_spec} is not supported") from None
        if not specs.supports_usage(key.key_spec, key.key_usage):
            raise ConfigError(f"{where}: key_usage {key.key_usage} does not suit {key.key_spec}")
        for alias in key.aliases:
            if not re.fullmatch(_ALIAS, alias) or alias.startswith("alias/aws/"):
                raise ConfigError(f"{where}: `{alias}` is not an alias name you may create")
        key_account, key_region = key.account or account, key.region or region
        arn = ids.key_arn(key_region, key_account, key.id)
        policy = _policy_text(key, path.parent, where)
        fixed = _material(key, where)
        with store.transaction() as tx:
            if tx.get_key(arn) is None:
                draw = _fixed(fixed) if fixed is not None else rng
                state = transition(None, Event.CREATE)
                assert state is not None  # INVARIANT: creation always yields a state
                record = KeyRecord(
                    key_id=key.id,
                    arn=arn,
                    account=key_account,
                    region=key_region,
                    creation_date=now,
                    key_spec=key.key_spec,
                    key_usage=key.key_usage,
                    key_state=state,
                    policy=policy if policy is not None else default_key_policy(key_account),
                    description=key.description,
                    tags=tuple(Tag(k, v) for k, v in key.tags.items()),
                )
                # made and sealed under the store's root key by a kernel drawing from ``draw``
                new = Kernel(store.root_key, draw).new_material(record)
                material = KeyMaterial(
                    new.material_id, new.sealed, created=now, public_key=new.public_key
                )
                if audit is not None:
                    audit.append(
                        AuditRecord.service_event(
                            "CreateKey", arn, now, {"keyId": key.id}, principal=SEED_PRINCIPAL
                        )
                    )
                tx.put_key(
                    record.evolve(materials=(material,), current_material_id=new.material_id)
                )
                created.append(arn)
            else:
                kept.append(arn)
            for alias in key.aliases:
                alias_arn = ids.alias_arn(key_region, key_account, alias)
                if tx.get_alias(alias_arn) is None:
                    if audit is not None:
                        audit.append(
                            AuditRecord.service_event(
                                "CreateAlias",
                                alias_arn,
                                now,
                                {"aliasName": alias, "targetKeyId": key.id},
                                principal=SEED_PRINCIPAL,
                            )
                        )
                    tx.put_alias(
                        AliasRecord(alias, alias_arn, key_account, key_region, key.id, now, now)
                    )
                    made_aliases.append(alias)
    return SeedReport(tuple(created), tuple(kept), tuple(made_aliases))
