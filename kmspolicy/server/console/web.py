"""The console's HTTP plumbing: a parsed request, a response, cookies and security headers.

Layer: server (adapter). Every console response carries the same security headers: a
Content-Security-Policy without ``unsafe-inline`` (scripts and styles come only from the
console's own static files), ``X-Frame-Options: DENY``, ``no-store`` caching, a referrer for
the console itself only, and no content sniffing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesHeaderParser
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qs

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),  # no-referrer would make Chromium send `Origin: null`
    (b"cross-origin-opener-policy", b"same-origin"),
)
#: form fields longer than this are refused (a key policy is at most 32 KB, escaped twice)
MAX_FORM = 256 * 1024


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    query: Mapping[str, str]
    form: Mapping[str, str]
    cookies: Mapping[str, str]
    headers: Mapping[str, str]
    secure: bool
    client: str
    scope: Mapping[str, Any] = field(repr=False)
    #: the files of a multipart form (field name -> content; the import form's uploads)
    files: Mapping[str, bytes] = field(default_factory=dict, repr=False)


@dataclass(slots=True)
class Response:
    status: int = 200
    body: bytes = b""
    content_type: bytes = b"text/html; charset=utf-8"
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)

    def all_headers(self) -> list[tuple[bytes, bytes]]:
        return [
            (b"content-type", self.content_type),
            (b"content-length", str(len(self.body)).encode()),
            *SECURITY_HEADERS,
            *self.headers,
        ]


def redirect(location: str, status: int = 303) -> Response:
    return Response(status, b"", headers=[(b"location", location.encode("latin-1"))])


def _first(values: dict[str, list[str]]) -> dict[str, str]:
    return {k: v[0] for k, v in values.items() if v}


def parse_query(raw: bytes) -> dict[str, str]:
    return _first(parse_qs(raw.decode("latin-1"), keep_blank_values=True))


def parse_form(body: bytes, content_type: str) -> dict[str, str]:
    if not content_type.startswith("application/x-www-form-urlencoded"):
        return {}
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return {}
    return _first(parse_qs(text, keep_blank_values=True, max_num_fields=200))


#: parts a multipart form may have (the import form has six)
MAX_PARTS = 16


def parse_multipart(body: bytes, content_type: str) -> tuple[dict[str, str], dict[str, bytes]]:
    """The text fields and the files of a ``multipart/form-data`` body (RFC 7578), or two empty
    mappings when it is malformed. The body is already bounded by MAX_FORM; the parts are cut
    at the boundary lines byte for byte (a file's content is kept exactly, CR and LF included).
    """
    kind = Message()
    kind["content-type"] = content_type
    boundary = kind.get_param("boundary")
    if kind.get_content_type() != "multipart/form-data" or not isinstance(boundary, str):
        return {}, {}
    delimiter = b"--" + boundary.encode("latin-1")
    pieces = body.split(b"\r\n" + delimiter)
    # the body opens with the first delimiter line and ends with the closing one ("--")
    if len(pieces) < 2 or len(pieces) > MAX_PARTS + 1 or not pieces[0].startswith(delimiter):
        return {}, {}
    if not pieces[-1].startswith(b"--"):
        return {}, {}
    pieces[0] = pieces[0].removeprefix(delimiter)
    fields: dict[str, str] = {}
    files: dict[str, bytes] = {}
    for piece in pieces[:-1]:
        head, found, content = piece.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not found:
            return {}, {}
        headers = BytesHeaderParser().parsebytes(head + b"\r\n\r\n")
        name = headers.get_param("name", header="content-disposition")
        if not isinstance(name, str) or name in fields or name in files:
            return {}, {}
        if headers.get_filename() is not None:
            files[name] = content
            continue
        try:
            fields[name] = content.decode("utf-8")
        except UnicodeDecodeError:
            return {}, {}
    return fields, files


def parse_cookies(header: str) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


def cookie(name: str, value: str, *, secure: bool, max_age: int, path: str = "/console") -> bytes:
    """A Set-Cookie value: HttpOnly, SameSite=Strict, and Secure when served over TLS."""
    parts = [f"{name}={value}", f"Path={path}", f"Max-Age={max_age}", "HttpOnly"]
    parts.append("SameSite=Strict")
    if secure:
        parts.append("Secure")
    return "; ".join(parts).encode("latin-1")
