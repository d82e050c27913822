"""The server's identities file (YAML or JSON): who may call, with which keys and policies.

Layer: server (adapter). Validates the file with pydantic (unknown fields forbidden), reports
errors as ``file:line: path: message`` (read through ``kmspolicy.yamlpos``, the one YAML path:
duplicate keys are errors), resolves policy references (paths relative to the file,
or inline documents in JSON or the DSL) through ``kmspolicy.lang``, and yields plain frozen
specs that ``wiring`` turns into the service's identity types. The format is documented in
``docs/identities.md`` and is a contract: add optional fields only.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import botocore.loaders
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kmspolicy._cache import Once
from kmspolicy.errors import ConfigError, KmsPolicyError
from kmspolicy.kms.identities import ROOT_IDENTITY_POLICY, AccountPolicies, Identities, Identity
from kmspolicy.kms.keystores.cloudhsm import CLUSTER_ID
from kmspolicy.kms.quotas import ASYMMETRIC, DEFAULT_REQUEST_RATES, SYMMETRIC, Quotas
from kmspolicy.lang import Policy, load_policies, read_json, read_policies
from kmspolicy.server.sigv4 import Credential
from kmspolicy.yamlpos import Located, load_yaml

ACCOUNT = re.compile(r"\d{12}")
REGION = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?")
PRINCIPAL_ARN = re.compile(
    r"arn:aws:(?:iam::(?P<iam>\d{12}):(?:root|user/.+|role/.+)"
    r"|sts::(?P<sts>\d{12}):assumed-role/[^/]+/.+)"
)

# The development identity used when no identities file is given (docs/identities.md).
DEV_ACCOUNT = "000000000000"
DEV_REGION = "us-east-1"
DEV_ACCESS_KEY_ID = "AKIAKMSPOLICYLOCAL01"
DEV_SECRET_ACCESS_KEY = "kmspolicy-local-development-secret"  # documented; loopback only
#: access keys other local emulators document, accepted for the development identity so that
#: environments and test suites written for them sign in unchanged (LocalStack, moto)
EMULATOR_KEYS: Mapping[str, str] = MappingProxyType({"test": "test", "FOOBARKEY": "FOOBARSECRET"})
#: AWS's access key ids have at least 16 characters; shorter ones load with a warning
AWS_MIN_ACCESS_KEY_ID = 16
log = logging.getLogger("kmspolicy.server")
PolicyRef = str | dict[str, Any]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class IdentityModel(_Model):
    arn: str
    access_key_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9]+$")
    secret_access_key: str = Field(min_length=1, repr=False)
    session_token: str | None = Field(default=None, min_length=1, repr=False)
    policies: list[PolicyRef] = []
    permissions_boundary: PolicyRef | None = None
    tags: dict[str, str] = {}

    @field_validator("arn")
    @classmethod
    def _arn(cls, value: str) -> str:
        if not PRINCIPAL_ARN.fullmatch(value):
            raise ValueError(
                "expected an IAM principal ARN such as `arn:aws:iam::111122223333:user/alice`, "
                "`...:role/name`, `...:root` or `arn:aws:sts::111122223333:assumed-role/r/s`"
            )
        return value


class AccountModel(_Model):
    scps: list[PolicyRef] = []
    rcps: list[PolicyRef] = []


class QuotasModel(_Model):
    """Quotas (docs/server.md): AWS's defaults unless changed here."""

    requests: bool | None = None  # request quotas on/off (default: on, off with --dev)
    requests_per_second: dict[str, float] = {}  # by bucket: an operation or a shared quota
    keys_per_region: int | None = Field(default=None, ge=0)
    aliases_per_key: int | None = Field(default=None, ge=0)
    grants_per_key: int | None = Field(default=None, ge=0)


class IdentitiesFileModel(_Model):
    account: str = Field(pattern=ACCOUNT.pattern)
    region: str = Field(default=DEV_REGION, pattern=REGION.pattern)
    # the regions served (default: AWS's standard regions); a request scoped to another is refused
    regions: list[str] | None = Field(default=None, min_length=1)
    identities: list[IdentityModel] = Field(min_length=1)
    scps: list[PolicyRef] = []  # apply to every account in the file
    rcps: list[PolicyRef] = []  # apply to every account in the file
    accounts: dict[str, AccountModel] = {}  # per-account additions (optional)
    quotas: QuotasModel = QuotasModel()
    #: CloudHSM clusters for custom key stores: cluster id -> pkcs11: URI of its token
    #: (docs/custom-key-stores.md); `kmspolicy serve --hsm-cluster` adds to them
    hsm_clusters: dict[str, str] = {}


@dataclass(frozen=True, slots=True)
class IdentitySpec:
    """One caller: its ARN (and account), credentials, policies and tags."""

    arn: str
    account: str
    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)
    policies: tuple[Policy, ...] = ()
    permissions_boundary: Policy | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AccountSpec:
    account: str
    scps: tuple[Policy, ...] = ()
    rcps: tuple[Policy, ...] = ()


def _standard_regions() -> frozenset[str]:
    data = botocore.loaders.Loader().load_data("endpoints")
    (aws,) = (p for p in data["partitions"] if p["partition"] == "aws")
    return frozenset(aws["regions"])


#: AWS's standard regions (the ``aws`` partition of the installed botocore's endpoints): the
#: regions served unless the identities file lists its own. ARNs here are ``arn:aws:``.
standard_regions = Once(_standard_regions)


@dataclass(frozen=True, slots=True)
class IdentitiesConfig:
    """A loaded identities file: the default account and region, callers, and accounts."""

    account: str
    region: str
    identities: tuple[IdentitySpec, ...]
    accounts: Mapping[str, AccountSpec]
    source: str
    development: bool = False
    regions: frozenset[str] = field(default_factory=standard_regions)
    #: the file's `quotas:`; whether request quotas apply is decided with the server's options
    quotas: QuotasModel = field(default_factory=QuotasModel)
    #: the file's `hsm_clusters:` (cluster id -> pkcs11: URI)
    hsm_clusters: Mapping[str, str] = field(default_factory=dict)


def account_of(arn: str) -> str:
    match = PRINCIPAL_ARN.fullmatch(arn)
    if match is None:
        raise ConfigError(f"not a principal ARN: `{arn}`")
    return match.group("iam") or match.group("sts")


def development_identities() -> IdentitiesConfig:
    """The documented local identity: the root user of account 000000000000."""
    spec = IdentitySpec(
        arn=f"arn:aws:iam::{DEV_ACCOUNT}:root",
        account=DEV_ACCOUNT,
        access_key_id=DEV_ACCESS_KEY_ID,
        secret_access_key=DEV_SECRET_ACCESS_KEY,
    )
    return IdentitiesConfig(
        account=DEV_ACCOUNT,
        region=DEV_REGION,
        identities=(spec,),
        accounts={DEV_ACCOUNT: AccountSpec(DEV_ACCOUNT)},
        source="<development identity>",
        development=True,
    )


def load_identities(path: str | Path) -> IdentitiesConfig:
    """Read, validate and resolve an identities file; raise ConfigError with file:line."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the identities file: {exc.strerror}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"{path}:{line}: the identities file is not UTF-8 text (byte 0x{raw[exc.start]:02x} "
            f"at offset {exc.start}); it must be YAML or JSON"
        ) from None
    return parse_identities(text, source=str(path), base=path.parent)


def parse_identities(text: str, *, source: str, base: Path) -> IdentitiesConfig:
    # the project's one YAML path: duplicate keys, bad scalars and nesting are file:line errors
    located = load_yaml(text, source)
    data = located.data
    if not isinstance(data, dict):
        raise ConfigError(f"{source}:1: the identities file must be a mapping with `identities`")
    try:
        model = IdentitiesFileModel.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_render_errors(exc, located)) from exc
    resolve = _Resolver(source, base, located)
    identities = []
    seen: dict[str, int] = {}
    for i, ident in enumerate(model.identities):
        loc = ("identities", i)
        if ident.access_key_id in seen:
            raise ConfigError(
                f"{resolve.where(*loc, 'access_key_id')}: access key "
                f"`{ident.access_key_id}` is already used by "
                f"identities[{seen[ident.access_key_id]}]"
            )
        seen[ident.access_key_id] = i
        if len(ident.access_key_id) < AWS_MIN_ACCESS_KEY_ID:
            log.warning(
                "%s: access key id `%s` is shorter than AWS's %d characters (accepted)",
                resolve.where(*loc, "access_key_id"),
                ident.access_key_id,
                AWS_MIN_ACCESS_KEY_ID,
            )
        identities.append(
            IdentitySpec(
                arn=ident.arn,
                account=account_of(ident.arn),
                access_key_id=ident.access_key_id,
                secret_access_key=ident.secret_access_key,
                session_token=ident.session_token,
                policies=resolve.many(ident.policies, *loc, "policies"),
                permissions_boundary=(
                    None
                    if ident.permissions_boundary is None
                    else resolve.one(ident.permissions_boundary, *loc, "permissions_boundary")
                ),
                tags=dict(ident.tags),
            )
        )
    shared_scps = resolve.many(model.scps, "scps")
    shared_rcps = resolve.many(model.rcps, "rcps")
    names = {model.account, *(s.account for s in identities), *model.accounts}
    accounts = {}
    for name in sorted(names):
        extra = model.accounts.get(name, AccountModel())
        if not ACCOUNT.fullmatch(name):
            raise ConfigError(
                f"{resolve.where('accounts', name)}: `{name}` is not a 12-digit account id"
            )
        accounts[name] = AccountSpec(
            name,
            scps=shared_scps + resolve.many(extra.scps, "accounts", name, "scps"),
            rcps=shared_rcps + resolve.many(extra.rcps, "accounts", name, "rcps"),
        )
    regions = standard_regions()
    if model.regions is not None:
        for i, name in enumerate(model.regions):
            if not REGION.fullmatch(name):
                raise ConfigError(f"{resolve.where('regions', i)}: `{name}` is not a region name")
        regions = frozenset(model.regions)
    if model.region not in regions:
        raise ConfigError(
            f"{resolve.where('region')}: the default region `{model.region}` is not served "
            + ("(add it to `regions`)" if model.regions is not None else "(not an AWS region)")
        )
    for bucket, rate in model.quotas.requests_per_second.items():
        where = resolve.where("quotas", "requests_per_second", bucket)
        if bucket not in DEFAULT_REQUEST_RATES:
            raise ConfigError(
                f"{where}: `{bucket}` is not a request quota (an operation name, "
                f"`{SYMMETRIC}`, `{ASYMMETRIC}` or `GenerateDataKeyPair:<KeyPairSpec>`)"
            )
        if not rate > 0:
            raise ConfigError(f"{where}: a rate must be a positive number of requests per second")
    for cluster_id in model.hsm_clusters:
        if not CLUSTER_ID.fullmatch(cluster_id):
            raise ConfigError(
                f"{resolve.where('hsm_clusters', cluster_id)}: `{cluster_id}` is not a CloudHSM "
                "cluster id (cluster- and 11-16 characters of [2-7a-zA-Z])"
            )
    return IdentitiesConfig(
        account=model.account,
        region=model.region,
        identities=tuple(identities),
        accounts=accounts,
        source=source,
        regions=regions,
        quotas=model.quotas,
        hsm_clusters=dict(model.hsm_clusters),
    )


def quotas_for(config: IdentitiesConfig, *, requests: bool) -> Quotas:
    """The service's quotas: the file's values over AWS's defaults, with request quotas on or
    off as decided by the server (its option, else the file's ``requests``, else on unless
    ``--dev``)."""
    q, aws = config.quotas, Quotas()
    return Quotas(
        keys_per_region=aws.keys_per_region if q.keys_per_region is None else q.keys_per_region,
        aliases_per_key=aws.aliases_per_key if q.aliases_per_key is None else q.aliases_per_key,
        grants_per_key=aws.grants_per_key if q.grants_per_key is None else q.grants_per_key,
        requests=requests,
        request_rates=MappingProxyType(dict(q.requests_per_second)),
    )


def to_directory(config: IdentitiesConfig) -> Identities:
    """The service's identity directory for a loaded file.

    An account root user is not governed by identity policies (it may do what its account may;
    SCPs still apply), so root entries get the service's allow-all root policy first.
    """
    entries = []
    for spec in config.identities:
        policies = spec.policies
        if spec.arn.endswith(":root"):
            policies = (ROOT_IDENTITY_POLICY, *policies)
        entries.append(
            Identity(
                spec.arn,
                policies,
                spec.permissions_boundary,
                tags=MappingProxyType(dict(spec.tags)),
            )
        )
    accounts = {
        name: AccountPolicies(acct.scps, acct.rcps) for name, acct in config.accounts.items()
    }
    return Identities(entries, accounts)


def credentials(config: IdentitiesConfig) -> dict[str, Credential[str]]:
    """SigV4 credentials by access key id; the principal is the identity's ARN. The development
    identity also answers to the emulators' documented keys (``EMULATOR_KEYS``)."""
    found = {
        spec.access_key_id: Credential(
            spec.access_key_id, spec.secret_access_key, spec.arn, spec.session_token
        )
        for spec in config.identities
    }
    if config.development:
        (spec,) = config.identities
        for key_id, secret in EMULATOR_KEYS.items():
            found[key_id] = Credential(key_id, secret, spec.arn)
    return found


class _Resolver:
    """Turns policy references (paths or inline documents) into parsed policies."""

    def __init__(self, source: str, base: Path, located: Located) -> None:
        self._source = source
        self._base = base
        self._located = located

    def where(self, *loc: str | int) -> str:
        return f"{self._source}:{self._located.mark_for(loc).line}"

    def many(self, refs: Sequence[PolicyRef], *loc: str | int) -> tuple[Policy, ...]:
        out: list[Policy] = []
        for i, ref in enumerate(refs):
            out.extend(self._load(ref, (*loc, i)))
        return tuple(out)

    def one(self, ref: PolicyRef, *loc: str | int) -> Policy:
        found = self._load(ref, loc)
        if len(found) != 1:
            raise ConfigError(
                f"{self.where(*loc)}: expected exactly one policy, found {len(found)}"
            )
        return found[0]

    def _load(self, ref: PolicyRef, loc: tuple[str | int, ...]) -> list[Policy]:
        try:
            if isinstance(ref, dict):
                return [read_json(json.dumps(ref), source=f"{self.where(*loc)} (inline)")]
            stripped = ref.strip()
            # One line without spaces (and not a JSON object) is a path; anything else is an
            # inline policy, JSON or DSL, read by the one reader that tells them apart.
            if stripped.startswith("{") or "\n" in stripped or " " in stripped:
                return read_policies(ref, f"{self.where(*loc)} (inline)")
            path = (self._base / stripped).resolve()
            if path.is_dir():
                raise ConfigError(
                    f"{self.where(*loc)}: policy path `{stripped}` is a directory ({path}); "
                    "name a policy file"
                )
            if not path.is_file():
                raise ConfigError(
                    f"{self.where(*loc)}: policy file `{stripped}` not found ({path})"
                )
            return list(load_policies(path))
        except OSError as exc:
            raise ConfigError(
                f"{self.where(*loc)}: cannot read policy file `{ref}`: {exc.strerror or exc}"
            ) from None
        except ConfigError:
            raise
        except KmsPolicyError as exc:
            rendered = _render_policy_error(exc)
            raise ConfigError(f"{self.where(*loc)}: invalid policy: {rendered}") from exc


def _render_policy_error(exc: KmsPolicyError) -> str:
    diagnostics = getattr(exc, "diagnostics", None)
    if diagnostics:
        return "\n".join(d.render() for d in diagnostics)
    return str(exc)


def _render_errors(exc: ValidationError, located: Located) -> str:
    lines = []
    for err in exc.errors():
        loc = [p for p in err["loc"] if isinstance(p, str | int)]
        # pydantic appends union-member tags (e.g. "str", "dict[str,any]") to the location
        path = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in loc)
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown field (allowed fields are listed in docs/identities.md)"
        where = located.mark_for(tuple(loc))
        lines.append(f"{where.source}:{where.line}: {path.replace('.[', '[')}: {message}")
    return "\n".join(lines)
