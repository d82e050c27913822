"""AWS Signature Version 4 verification for incoming requests (Authorization header form).

Layer: server (adapter). Rebuilds the canonical request and string to sign exactly as botocore's
``SigV4Auth`` does, derives the signing key from the stored secret, and compares signatures in
constant time. The credential scope names the request's region (keys are regional). Time comes
from the caller (the injected clock); nothing here reads the system clock.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Generic, NamedTuple, TypeVar
from urllib.parse import quote, unquote

from kmspolicy._cache import BoundedCache
from kmspolicy.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    ServiceError,
    UnrecognizedClientException,
)

ALGORITHM = "AWS4-HMAC-SHA256"
#: headers that must be in SignedHeaders whenever the request carries them
_SIGNED_WHEN_SENT = ("x-amz-target", "content-type", "x-amz-security-token")
#: headers every signature must cover
_ALWAYS_SIGNED = ("host", "x-amz-date")
MAX_SKEW = timedelta(minutes=5)  # AWS rejects requests signed more than 5 minutes off

_REGION = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?")
_AMZ_DATE = re.compile(r"\d{8}T\d{6}Z")
_HEX_SIG = re.compile(r"[0-9a-f]{64}")
_BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method."
)
_BAD_TOKEN = "The security token included in the request is invalid."

P = TypeVar("P")


@dataclass(frozen=True, slots=True)
class Credential(Generic[P]):
    """What the server knows about one access key: its secret and the principal it stands for."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    principal: P
    session_token: str | None = field(default=None, repr=False)  # set for temporary credentials


class Verified(NamedTuple, Generic[P]):
    """A request whose signature checked out: who sent it, for which region, when (a tuple:
    made once per request, half the cost of a frozen dataclass)."""

    credential: Credential[P]
    region: str
    signed_at: datetime


@dataclass(frozen=True, slots=True)
class _Head:
    """Everything an ``Authorization`` header says before its signature, parsed and checked
    for form, with what the verification derives from it alone."""

    access_key_id: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signed_text: str  # the signed header names as the canonical request lists them
    scope: str  # the credential scope as the string to sign names it
    #: what every signature must cover but this header does not sign
    unsigned_required: tuple[str, ...]


class _AuthorizationParser:
    """``_parse_authorization``, reusing the parse of everything before the signature.

    A client sends the same algorithm, credential scope and signed headers on every request of
    a day; only the signature (last, 64 hex digits) changes. The reused part is a pure function
    of the text before ``Signature=``, so this is exactly the full parse, only cheaper. One per
    ``Verifier``, bounded by entries and by the characters of the heads it keeps: it fills
    before the access key is looked up, from whatever a caller sends, so a head longer than an
    SDK's (about 200 characters) by far is parsed every time rather than kept.
    """

    __slots__ = ("_heads",)

    #: the longest head kept (an SDK's: about 200 characters; many signed headers: ~1,000)
    MAX_HEAD = 2048

    def __init__(self, maxsize: int = 1024, maxchars: int = 512 * 1024) -> None:
        self._heads: BoundedCache[str, _Head] = BoundedCache(maxsize, maxweight=maxchars)

    def __call__(self, value: str) -> tuple[_Head, str, bool]:
        """The head, the signature, and whether the signature is known to be 64 hex digits
        (the shortcut checks it; the full parse leaves the check to its place in ``verify``)."""
        head, sep, signature = value.rpartition("Signature=")
        # ``Signature`` must be a whole parameter name (after a separator) for the shortcut
        if not sep or head[-1:] not in (",", " ") or not _HEX_SIG.fullmatch(signature):
            return (*_parse_authorization(value), False)
        known = self._heads.get(head)
        if known is None:
            known = _parse_authorization(value)[0]
            if len(head) <= self.MAX_HEAD:
                self._heads.put(head, known, len(head))
        return known, signature, True


def _parse_authorization(value: str) -> tuple[_Head, str]:
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise IncompleteSignatureException(
            f"Unsupported AWS 'algorithm': '{algorithm}'; use {ALGORITHM}"
        )
    parts: dict[str, str] = {}
    for item in rest.split(","):
        key, sep, val = item.strip().partition("=")
        if sep:
            parts[key] = val.strip()
    missing = [k for k in ("Credential", "SignedHeaders", "Signature") if not parts.get(k)]
    if missing:
        raise IncompleteSignatureException(
            "Authorization header requires " + ", ".join(f"'{m}'" for m in missing) + " parameter"
        )
    scope = parts["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request" or not all(scope):
        raise IncompleteSignatureException(
            "Credential must have the form <access key>/<yyyymmdd>/<region>/<service>/aws4_request"
        )
    access_key_id, date, region, service, _ = scope
    if not _REGION.fullmatch(region):
        raise IncompleteSignatureException(
            f"the credential scope names an invalid region `{region}`"
        )
    signed = tuple(parts["SignedHeaders"].split(";"))
    if (
        not all(signed)
        or list(signed) != sorted(set(signed))
        or any(h != h.lower() for h in signed)
    ):
        raise IncompleteSignatureException(
            "SignedHeaders must be lowercase header names, sorted and separated by ';'"
        )
    head = _Head(
        access_key_id,
        date,
        region,
        service,
        signed,
        ";".join(signed),
        f"{date}/{region}/{service}/aws4_request",
        tuple(h for h in _ALWAYS_SIGNED if h not in signed),
    )
    return head, parts["Signature"]


def _canonical_query(query: str) -> str:
    if not query:
        return ""
    pairs = []
    for item in query.split("&") if query else ():
        key, _, val = item.partition("=")
        pairs.append((_encode(unquote(key)), _encode(unquote(val))))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def _encode(value: str) -> str:
    return quote(value, safe="-_.~")


def _remove_dot_segments(path: str) -> str:
    out: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if len(out) > 1:
                out.pop()
        elif segment != ".":
            out.append(segment)
    normalized = "/".join(out)
    if not normalized.startswith("/"):
        normalized = "/" + normalized
    if path.endswith("/") and not normalized.endswith("/"):
        normalized += "/"
    return normalized


def canonical_request(
    method: str,
    raw_path: str,
    query: str,
    headers: dict[str, str],
    signed_headers: Sequence[str],
    body: bytes,
    signed_text: str | None = None,
) -> str:
    """The SigV4 canonical request; ``headers`` maps lowercase names to (comma-joined) values
    (``signed_text``: ``signed_headers`` joined by ``;``, when the caller has it already)."""
    # Non-S3 services encode the already-encoded path once more, as botocore does.
    uri = "/" if raw_path in ("", "/") else quote(_remove_dot_segments(raw_path), safe="/~")
    get = headers.get
    lines = "".join([f"{name}:{' '.join(get(name, '').split())}\n" for name in signed_headers])
    signed = ";".join(signed_headers) if signed_text is None else signed_text
    return (
        f"{method.upper()}\n{uri}\n{_canonical_query(query) if query else ''}\n{lines}\n"
        f"{signed}\n{hashlib.sha256(body).hexdigest()}"
    )


class _Signer:
    """HMAC-SHA256 (RFC 2104) under one signing key, its two padded key blocks hashed once:
    a signature then costs two hash copies and two short updates, where ``hmac.digest`` looks
    the digest up by name and hashes both blocks again on every call (2.3 µs against 0.9)."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        if len(key) > 64:  # RFC 2104: a key longer than the block is hashed first
            key = hashlib.sha256(key).digest()
        block = key.ljust(64, b"\0")  # a signing key is 32 bytes, within SHA-256's block
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))

    def hexdigest(self, message: bytes) -> str:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


class SigningKeys:
    """Derives (and memoizes, per secret, day, region and service) SigV4 signing keys."""

    def __init__(self, max_entries: int = 4096) -> None:
        self._cache: BoundedCache[tuple[str, str, str, str], _Signer] = BoundedCache(max_entries)

    def signer(self, secret: str, date: str, region: str, service: str) -> _Signer:
        cache_key = (secret, date, region, service)
        found = self._cache.get(cache_key)
        if found is None:
            k = _hmac(("AWS4" + secret).encode(), date)
            for part in (region, service, "aws4_request"):
                k = _hmac(k, part)
            found = self._cache.put(cache_key, _Signer(k))  # bounded; rebuilding: four HMACs
        return found


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


class Verifier(Generic[P]):
    """Checks the SigV4 signature of requests against a credential lookup for one service."""

    def __init__(
        self,
        lookup: Callable[[str], Credential[P] | None],
        *,
        service: str = "kms",
        max_skew: timedelta = MAX_SKEW,
        regions: Collection[str] | None = None,
        signed_when_sent: Sequence[str] = _SIGNED_WHEN_SENT,
    ) -> None:
        self._lookup = lookup
        self._service = service
        #: headers that must be signed when sent (KMS's; an XKS proxy's callers sign only host
        #: and x-amz-date, as its specification says)
        self._signed_when_sent = tuple(signed_when_sent)
        #: the regions served (None: any); every region served costs a service instance
        self._regions = frozenset(regions) if regions is not None else None
        self._max_skew = max_skew
        self._keys = SigningKeys()
        self._authorization = _AuthorizationParser()
        # the last X-Amz-Date parsed (None: none yet; no header, not even an empty one, equals it)
        self._last_date: tuple[str | None, datetime] = (None, datetime.min)

    def verify(
        self,
        method: str,
        raw_path: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
        now: datetime,
    ) -> Verified[P]:
        """Return who signed the request, or raise the AWS error a real endpoint would.

        ``headers`` maps lowercase header names to values (repeated headers joined by ``,``).
        """
        header = headers.get("authorization")
        if header is None:
            if "X-Amz-Signature=" in query or "X-Amz-Credential=" in query:
                raise IncompleteSignatureException(
                    "query-string (presigned) authentication is not supported by this endpoint; "
                    "sign with the Authorization header"
                )
            raise MissingAuthenticationTokenException("Missing Authentication Token")
        auth, signature, hex_checked = self._authorization(header)
        amz_date = headers.get("x-amz-date")
        last = self._last_date  # a date already parsed matched the pattern then
        if amz_date is None or (amz_date != last[0] and not _AMZ_DATE.fullmatch(amz_date)):
            raise IncompleteSignatureException(
                "Authorization header requires existence of a valid 'X-Amz-Date' header "
                "(yyyymmddThhmmssZ)"
            )
        if auth.unsigned_required:
            raise IncompleteSignatureException(
                f"'{auth.unsigned_required[0]}' must be a 'SignedHeader' in the AWS Authorization"
            )
        # The headers that select and shape the operation are signed whenever they are sent:
        # otherwise a captured request could be replayed as another operation (issue 12).
        # Every AWS SDK signs all of them (botocore signs every header but a few transport ones).
        for sent in self._signed_when_sent:
            if sent in headers and sent not in auth.signed_headers:
                raise IncompleteSignatureException(
                    f"'{sent}' must be a 'SignedHeader' in the AWS Authorization when it is sent"
                )
        if auth.service != self._service:
            raise _because(
                InvalidSignatureException(
                    f"Credential should be scoped to correct service: '{self._service}'."
                ),
                f"the credential scope names service {_shown(auth.service)}, not '{self._service}'",
            )
        if self._regions is not None and auth.region not in self._regions:
            raise _because(
                InvalidSignatureException(
                    f"Credential should be scoped to a valid region, not '{auth.region}'. "
                ),
                f"region '{auth.region}' is not served (identities file `regions:`)",
            )
        if auth.date != amz_date[:8]:
            raise InvalidSignatureException(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of "
                "date from HTTP"
            )
        if last[0] == amz_date:
            signed_at = last[1]
        else:  # requests signed within the same second share the parse
            signed_at = _parse_amz_date(amz_date)
            self._last_date = (amz_date, signed_at)
        if abs(now - signed_at) > self._max_skew:
            skew = (signed_at - now).total_seconds()
            raise _because(
                InvalidSignatureException(
                    f"Signature expired: {amz_date} is outside the allowed 5-minute clock skew of "
                    f"the server time {now.astimezone(UTC):%Y%m%dT%H%M%SZ}; check your clock"
                ),
                f"clock skew of {skew:+.0f} s (the client's clock is "
                f"{'ahead' if skew > 0 else 'behind'}; "
                f"at most {int(self._max_skew.total_seconds())} s)",
            )
        credential = self._lookup(auth.access_key_id)
        if credential is None:
            raise _because(
                UnrecognizedClientException(_BAD_TOKEN),
                f"unknown access key id {_shown(auth.access_key_id)} (not in the identities)",
            )
        _check_token(credential, headers.get("x-amz-security-token"))
        if not hex_checked and not _HEX_SIG.fullmatch(signature):
            raise InvalidSignatureException(_BAD_SIGNATURE)
        creq = canonical_request(
            method, raw_path, query, headers, auth.signed_headers, body, auth.signed_text
        ).encode()
        to_sign = f"{ALGORITHM}\n{amz_date}\n{auth.scope}\n{hashlib.sha256(creq).hexdigest()}"
        signer = self._keys.signer(
            credential.secret_access_key, auth.date, auth.region, auth.service
        )
        expected = signer.hexdigest(to_sign.encode())
        # INVARIANT: signatures are compared in constant time.
        if not hmac.compare_digest(expected, signature):
            raise _because(
                InvalidSignatureException(_BAD_SIGNATURE),
                f"signature mismatch for access key id '{auth.access_key_id}': wrong secret, or "
                f"the client signed another request (canonical request SHA-256 here: "
                f"{hashlib.sha256(creq).hexdigest()}; signed headers {auth.signed_text})",
            )
        # (a NamedTuple's __new__ is a Python function: 1 k instructions more per request)
        return tuple.__new__(Verified, (credential, auth.region, signed_at))


def _parse_amz_date(value: str) -> datetime:
    """``yyyymmddThhmmssZ`` (already matched by ``_AMZ_DATE``); slicing beats strptime 10x."""
    try:
        return datetime(
            int(value[0:4]),
            int(value[4:6]),
            int(value[6:8]),
            int(value[9:11]),
            int(value[11:13]),
            int(value[13:15]),
            tzinfo=UTC,
        )
    except ValueError:
        raise IncompleteSignatureException(f"X-Amz-Date `{value}` is not a valid date") from None


def _check_token(credential: Credential[P], presented: str | None) -> None:
    expected = credential.session_token
    if expected is None:
        if presented is not None:
            raise _because(
                UnrecognizedClientException(_BAD_TOKEN),
                f"a session token was sent, but access key id '{credential.access_key_id}' has "
                "none (unset AWS_SESSION_TOKEN)",
            )
        return
    if presented is None:
        raise _because(
            UnrecognizedClientException(_BAD_TOKEN),
            f"no session token sent for access key id '{credential.access_key_id}', "
            "which needs one",
        )
    if not hmac.compare_digest(presented.encode(), expected.encode()):
        raise _because(
            UnrecognizedClientException(_BAD_TOKEN),
            f"wrong session token for access key id '{credential.access_key_id}'",
        )


_E = TypeVar("_E", bound=ServiceError)


def _shown(value: str) -> str:
    """A caller's string as the log shows it: quoted, escaped, at most 64 characters (it is
    whatever the request said; the log must stay one line per event)."""
    return repr(value[:64]) + ("..." if len(value) > 64 else "")


def _because(error: _E, cause: str) -> _E:
    """``error`` (AWS's terse wire answer) carrying the real cause for the server's log."""
    error.cause = cause
    return error
