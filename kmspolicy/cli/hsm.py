"""``kmspolicy hsm``: create and check the root key inside a PKCS#11 HSM (docs/hsm.md).

Layer: cli (adapter). The key is generated in the token (AES-256, non-extractable, sensitive);
nothing here ever sees its value. The PIN comes from the URI's pin-source, never an argument.
"""

from __future__ import annotations

import json
import os

import click

from kmspolicy.errors import ConfigError

_URI_HELP = "pkcs11: URI of the root key (default: $KMSPOLICY_ROOT_KEY)."


def _uri(uri: str | None) -> str:
    uri = uri or os.environ.get("KMSPOLICY_ROOT_KEY")
    if not uri or not uri.startswith("pkcs11:"):
        raise ConfigError(
            "give the root key's pkcs11: URI (argument or $KMSPOLICY_ROOT_KEY), e.g. "
            "pkcs11:module=/usr/lib/softhsm/libsofthsm2.so;token=kmspolicy;object=kmspolicy-root"
        )
    return uri


@click.group("hsm")
def command() -> None:
    """Manage the root key in a PKCS#11 HSM (kmspolicy serve --root-key pkcs11:...)."""


@command.command("create-key")
@click.argument("uri", required=False, metavar="URI")
def create_key(uri: str | None) -> None:
    """Generate the root key in the token: AES-256, CKA_EXTRACTABLE false, CKA_SENSITIVE true.

    Refuses when a key with the URI's object label already exists.
    """
    from kmspolicy.store.pkcs11 import create_hsm_root_key

    key = create_hsm_root_key(_uri(uri))
    try:
        click.echo(f"created root key {key.describe()}")
    finally:
        key.close()


@command.command("check")
@click.argument("uri", required=False, metavar="URI")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def check(uri: str | None, fmt: str) -> None:
    """Log in, find the root key, check it cannot leave the token, and seal/unseal a probe."""
    from kmspolicy.store.pkcs11 import open_hsm_root_key

    key = open_hsm_root_key(_uri(uri))
    try:
        probe = b"kmspolicy hsm check"
        ok = key.unseal(key.seal(probe, b"check"), b"check") == probe
    finally:
        key.close()
    if fmt == "json":
        click.echo(json.dumps({"source": key.source, "fingerprint": key.fingerprint, "ok": ok}))
    else:
        click.echo(f"root key {key.describe()}: non-extractable, sensitive, AES-GCM ok")
