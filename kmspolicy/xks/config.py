"""The configuration file of ``kmspolicy xks-proxy`` (YAML or JSON; docs/xks-proxy.md).

Layer: xks. Read through ``kmspolicy.yamlpos`` (duplicate keys refused, errors as
``file:line: path: message``), validated by pydantic with unknown fields forbidden. The
constraints are the specification's: access key ids of 20–30 characters ``A-Z2-7``, secrets of
43–64 characters ``A-Za-z0-9+/=``, external key ids of at most 128 characters ``A-Za-z0-9._-``,
a URI path (``/<prefix>/kms/xks/v1``) of at most 128 characters ``A-Za-z0-9/_-``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kmspolicy.errors import ConfigError
from kmspolicy.lang import Policy, load_policies
from kmspolicy.yamlpos import Located, load_yaml

API_PATH = "/kms/xks/v1"
URI_PATH_MAX = 128
KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
ACCESS_KEY_ID = r"^[A-Z2-7]{20,30}$"
SECRET = r"^[A-Za-z0-9+/=]{43,64}$"
_PREFIX = re.compile(r"[A-Za-z0-9/_-]*")
_REGION = r"^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$"

Operation = Literal["encrypt", "decrypt"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class CredentialModel(_Model):
    access_key_id: str = Field(pattern=ACCESS_KEY_ID)
    secret_access_key: str = Field(pattern=SECRET, repr=False)


class KeyModel(_Model):
    id: str = Field(pattern=r"^[A-Za-z0-9._-]{1,128}$")
    operations: tuple[Operation, ...] = ("encrypt", "decrypt")
    #: the external key's own status (GetKeyMetadata's keyStatus); DISABLED refuses crypto
    status: Literal["ENABLED", "DISABLED"] = "ENABLED"

    @field_validator("operations", mode="before")
    @classmethod
    def _list(cls, value: object) -> object:
        return tuple(value) if isinstance(value, list) else value


class ConfigModel(_Model):
    uri_prefix: str = ""
    region: str = Field(pattern=_REGION)
    credentials: list[CredentialModel] = Field(min_length=1)
    keys: list[KeyModel] = []
    data_dir: str | None = None
    root_key: str | None = None
    policy: str | None = None


@dataclass(frozen=True, slots=True)
class KeyConfig:
    id: str
    operations: frozenset[str]
    enabled: bool


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    """The validated configuration; paths resolved against the file's directory."""

    source: str
    uri_prefix: str  # without slashes at either end; "" for none
    region: str
    credentials: dict[str, str]  # access key id -> secret
    keys: dict[str, KeyConfig]
    data_dir: Path | None
    root_key: str | None  # a key file or a pkcs11: URI
    policy_path: Path | None
    policies: tuple[Policy, ...]

    @property
    def base_path(self) -> str:
        """``/<prefix>/kms/xks/v1``: what a key store's XksProxyUriPath must be."""
        return (f"/{self.uri_prefix}" if self.uri_prefix else "") + API_PATH

    def __repr__(self) -> str:  # the secrets stay out of every repr
        return f"ProxyConfig(source={self.source!r}, base_path={self.base_path!r})"


def load_config(path: str | Path) -> ProxyConfig:
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the xks-proxy config: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: the xks-proxy config is not UTF-8 text") from None
    return parse_config(text, source=str(path), base=path.parent)


def parse_config(text: str, *, source: str, base: Path) -> ProxyConfig:
    located = load_yaml(text, source)
    if not isinstance(located.data, dict):
        raise ConfigError(f"{source}:1: the xks-proxy config must be a mapping")
    try:
        model = ConfigModel.model_validate(located.data)
    except ValidationError as exc:
        raise ConfigError(_render(exc, located)) from None

    def where(*loc: str | int) -> str:
        mark = located.mark_for(loc)
        return f"{mark.source}:{mark.line}"

    prefix = model.uri_prefix.strip("/")
    if not _PREFIX.fullmatch(prefix) or "//" in prefix:
        raise ConfigError(
            f"{where('uri_prefix')}: uri_prefix may hold only A-Z a-z 0-9 / _ - "
            "(single slashes between segments)"
        )
    if len(f"/{prefix}{API_PATH}") > URI_PATH_MAX:
        raise ConfigError(
            f"{where('uri_prefix')}: the URI path /{prefix}{API_PATH} is longer than "
            f"{URI_PATH_MAX} characters"
        )
    credentials: dict[str, str] = {}
    for i, cred in enumerate(model.credentials):
        if cred.access_key_id in credentials:
            raise ConfigError(
                f"{where('credentials', i)}: access key id `{cred.access_key_id}` is listed twice"
            )
        credentials[cred.access_key_id] = cred.secret_access_key
    keys: dict[str, KeyConfig] = {}
    for i, key in enumerate(model.keys):
        if key.id in keys:
            raise ConfigError(f"{where('keys', i)}: key id `{key.id}` is listed twice")
        keys[key.id] = KeyConfig(key.id, frozenset(key.operations), key.status == "ENABLED")
    pkcs11 = model.root_key is not None and model.root_key.startswith("pkcs11:")
    if model.data_dir is None and not pkcs11:
        raise ConfigError(
            f"{source}:1: give `data_dir` (keys sealed under a root key there) or "
            "`root_key: pkcs11:...` (keys inside a PKCS#11 token)"
        )
    root_key = model.root_key
    if root_key is not None and not pkcs11:
        root_key = str(base / root_key.removeprefix("file:"))
    policy_path = base / model.policy if model.policy is not None else None
    policies: tuple[Policy, ...] = ()
    if policy_path is not None:
        try:
            policies = tuple(load_policies(policy_path))
        except OSError as exc:
            raise ConfigError(
                f"{where('policy')}: cannot read the policy `{policy_path}`: {exc.strerror}"
            ) from None
    return ProxyConfig(
        source=source,
        uri_prefix=prefix,
        region=model.region,
        credentials=credentials,
        keys=keys,
        data_dir=base / model.data_dir if model.data_dir is not None else None,
        root_key=root_key,
        policy_path=policy_path,
        policies=policies,
    )


def _render(exc: ValidationError, located: Located) -> str:
    lines = []
    for err in exc.errors():
        loc = [p for p in err["loc"] if isinstance(p, str | int)]
        path = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in loc)
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown field (the fields are listed in docs/xks-proxy.md)"
        elif err["type"] == "string_pattern_mismatch":
            message = _PATTERN_HELP.get(str(loc[-1]) if loc else "", message)
        mark = located.mark_for(tuple(loc))
        lines.append(f"{mark.source}:{mark.line}: {path.replace('.[', '[')}: {message}")
    return "\n".join(lines)


_PATTERN_HELP = MappingProxyType(
    {
        "access_key_id": "an access key id is 20 to 30 characters A-Z and 2-7",
        "secret_access_key": "a secret access key is 43 to 64 characters A-Z a-z 0-9 + / = "
        "(e.g. `openssl rand -base64 32`)",
        "id": "an external key id is 1 to 128 characters A-Z a-z 0-9 . _ -",
        "region": "a region is lowercase letters, digits and dashes (us-east-1)",
    }
)
