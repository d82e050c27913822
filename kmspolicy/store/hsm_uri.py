"""The ``pkcs11:`` root-key URI and its PIN source (store layer; pure parsing, no HSM binding).

``pkcs11:module=/usr/lib/softhsm/libsofthsm2.so;token=kmspolicy;object=kmspolicy-root;
pin-source=env:KMSPOLICY_HSM_PIN`` — attributes separated by ``;`` (``?``/``&`` also accepted,
as in RFC 7512), values percent-decoded. The PIN itself never appears in the URI, so it never
reaches a command line, a process listing or a log line. See ``docs/hsm.md``.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from urllib.parse import unquote

from kmspolicy.errors import ConfigError

SCHEME = "pkcs11:"
DEFAULT_OBJECT = "kmspolicy-root"
DEFAULT_PIN_SOURCE = "env:KMSPOLICY_HSM_PIN"
_ALIASES = MappingProxyType({"module-path": "module", "token-label": "token", "label": "object"})
_KNOWN = ("module", "token", "serial", "object", "pin-source")


@dataclass(frozen=True, slots=True)
class HsmUri:
    """Where the root key is: the module (.so), the token, the key's label, the PIN's source."""

    module: str
    token: str
    object: str = DEFAULT_OBJECT
    serial: str | None = None
    pin_source: str = DEFAULT_PIN_SOURCE

    def describe(self) -> str:
        """For startup lines and errors: everything but the PIN (which is not here anyway)."""
        serial = f";serial={self.serial}" if self.serial else ""
        return (
            f"pkcs11:module={self.module};token={self.token}{serial};object={self.object};"
            f"pin-source={self.pin_source}"
        )


def parse_pkcs11_uri(text: str) -> HsmUri:
    """Parse a ``pkcs11:`` URI; ConfigError naming the problem (never echoing a PIN)."""
    if not text.startswith(SCHEME):
        raise ConfigError(f"a PKCS#11 root key is a `{SCHEME}...` URI (docs/hsm.md)")
    values: dict[str, str] = {}
    for part in re.split(r"[;?&]", text[len(SCHEME) :]):
        if not part:
            continue
        name, eq, raw = part.partition("=")
        name = _ALIASES.get(name.strip().lower(), name.strip().lower())
        if name == "pin-value":
            raise ConfigError(
                "the PIN may not be written in the pkcs11: URI (command lines and logs show it); "
                "use pin-source=env:VARIABLE or pin-source=file:/path"
            )
        if not eq or name not in _KNOWN:
            raise ConfigError(
                f"unknown attribute `{name}` in the pkcs11: URI; known: {', '.join(_KNOWN)}"
            )
        if name in values:
            raise ConfigError(f"attribute `{name}` appears twice in the pkcs11: URI")
        values[name] = unquote(raw.strip())
    for required in ("module", "token"):
        if not values.get(required):
            raise ConfigError(
                f"the pkcs11: URI needs `{required}=` "
                "(e.g. pkcs11:module=/usr/lib/softhsm/libsofthsm2.so;token=kmspolicy)"
            )
    pin_source = values.get("pin-source") or DEFAULT_PIN_SOURCE
    if not pin_source.startswith(("env:", "file:")):
        raise ConfigError("pin-source must be env:VARIABLE or file:/path")
    return HsmUri(
        module=values["module"],
        token=values["token"],
        object=values.get("object") or DEFAULT_OBJECT,
        serial=values.get("serial") or None,
        pin_source=pin_source,
    )


def read_pin(pin_source: str, env: Mapping[str, str]) -> str:
    """The user PIN from ``env:NAME`` or ``file:/path`` (mode 0600 or stricter, one line)."""
    kind, _, where = pin_source.partition(":")
    if kind == "env":
        pin = env.get(where)
        if not pin:
            raise ConfigError(f"the HSM PIN is read from ${where}, which is not set")
        return pin
    try:
        fd = os.open(where, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise ConfigError(f"cannot open the HSM PIN file `{where}`: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_mode & 0o077:
            raise ConfigError(
                f"the HSM PIN file `{where}` must be a regular file of mode 0600 "
                f"(run `chmod 600 {where}`)"
            )
        data = os.read(fd, 4096)
    finally:
        os.close(fd)
    pin = data.decode("utf-8", "replace").strip()
    if not pin:
        raise ConfigError(f"the HSM PIN file `{where}` is empty")
    return pin
