"""Requests AWS could never receive: ``simulate`` refuses them instead of answering them.

Layer: cli (input checks of an adapter; the facts they read — derived caller keys, multi-valued
keys, the resource kind of each ``kms:`` action — live in authz and optable). Each refusal is a
ConfigError (exit status 2) that says what to change.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from kmspolicy.authz import Caller, is_key_arn
from kmspolicy.authz.lint.catalog import MULTI_VALUED
from kmspolicy.errors import ConfigError
from kmspolicy.optable import ACTIONS, Resource

_EC_PREFIX = "kms:encryptioncontext:"
_EC_KEYS = "kms:encryptioncontextkeys"

#: keys only a principal of an account has: its account, organization, tags and ids
_ACCOUNT_PRINCIPAL_KEYS = frozenset(
    {
        "kms:calleraccount",
        "aws:principalaccount",
        "aws:principalorgid",
        "aws:principalorgpaths",
        "aws:principalarn",
        "aws:username",
        "aws:userid",
    }
)

_ACTIONS_BY_IAM = MappingProxyType({a.iam.lower(): a for a in ACTIONS.values()})


def check_request(caller: Caller, action: str, resource: str, context: Mapping[str, Any]) -> None:
    """ConfigError when the request could not reach AWS as given (see each check)."""
    for key, value in context.items():
        lower = key.lower()
        derived = caller.derived.get(lower)
        if derived is not None:
            raise ConfigError(
                f"--context `{key}`: AWS derives it from the caller ({caller.arn}), so it "
                f"cannot be given; it is {_show(derived)} here. Simulate another --principal "
                "instead"
            )
        if caller.account is None and (
            lower in _ACCOUNT_PRINCIPAL_KEYS or lower.startswith("aws:principaltag/")
        ):
            raise ConfigError(
                f"--context `{key}`: the caller {caller.arn} belongs to no account, so a "
                "request of it never carries this key"
            )
        if isinstance(value, list) and len(value) > 1 and lower not in MULTI_VALUED:
            raise ConfigError(
                f"--context `{key}`: a single-valued key cannot hold {len(value)} values "
                "(only multi-valued keys such as kms:EncryptionContextKeys or aws:TagKeys can)"
            )
    _check_encryption_context_keys(context)
    known = _ACTIONS_BY_IAM.get(action.lower())
    if known is not None and is_key_arn(resource) and Resource.KEY not in known.resources:
        kinds = " or ".join(
            "`*`" if r is Resource.ANY else f"an {r.value} ARN" for r in known.resources
        )
        raise ConfigError(
            f"`{action}` is not authorized on a key (the key policy does not govern it); "
            f"AWS authorizes it on {kinds}: give that as --resource"
        )


def _check_encryption_context_keys(context: Mapping[str, Any]) -> None:
    pairs = {k[len(_EC_PREFIX) :] for k in context if k.lower().startswith(_EC_PREFIX)}
    given = next((v for k, v in context.items() if k.lower() == _EC_KEYS), None)
    if given is None or not pairs:
        return
    keys = {str(v) for v in (given if isinstance(given, list) else [given])}
    if keys != pairs:
        raise ConfigError(
            "--context kms:EncryptionContextKeys must list exactly the keys of the "
            f"kms:EncryptionContext:<key> pairs ({', '.join(sorted(pairs))}); AWS derives it "
            "from the encryption context, so leave it out"
        )


def _show(values: tuple[Any, ...]) -> str:
    return ", ".join(f"`{v}`" for v in values)
