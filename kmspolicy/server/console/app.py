"""The web console under ``/console/``: sign-in, keys, a key's page and actions, key creation,
the policy editor, the access matrix and the decision log.

Layer: server (adapter). INVARIANT: every KMS read or change the console makes is a ``Call``
to the same ``Backend`` the HTTP API uses, as the signed-in principal, with the transport's
request context: the same pipeline decides it, the same audit log records it, the same
validation errors come back (shown inline). The console can therefore show nothing and change
nothing its principal could not through the API. Pages are rendered on the server (Jinja2,
autoescaped); the little JavaScript there is only adds live policy diagnostics.
"""

from __future__ import annotations

import asyncio
import difflib
import json
import secrets
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol
from urllib.parse import quote, urlencode, urlsplit

import jinja2

from kmspolicy.errors import KmsPolicyError, ServiceError
from kmspolicy.kms.clock import Clock
from kmspolicy.kms.identities import Identities
from kmspolicy.kms.pipeline import Preview
from kmspolicy.kms.ports import Store
from kmspolicy.server.app import Backend, Call, transport_context
from kmspolicy.server.console import imports
from kmspolicy.server.console.decisions import ChainVerifier
from kmspolicy.server.console.sessions import SESSION_LIFETIME, Session, Sessions, same
from kmspolicy.server.console.throttle import SignInThrottle
from kmspolicy.server.console.web import (
    MAX_FORM,
    Request,
    Response,
    cookie,
    parse_cookies,
    parse_form,
    parse_multipart,
    parse_query,
    redirect,
)
from kmspolicy.server.sigv4 import Credential

PREFIX = "/console"
SESSION_COOKIE = "kmspolicy_session"
SIGNIN_COOKIE = "kmspolicy_signin"  # the sign-in form's CSRF token (double submit)
MESSAGE_COOKIE = "kmspolicy_message"  # the result of an action, shown on the next page once
_HERE = Path(__file__).parent
_STATIC = MappingProxyType(
    {"console.css": b"text/css; charset=utf-8", "console.js": b"text/javascript"}
)
PAGE_SIZE = 50
#: keys a filtered keys page looks at before it offers to go on (DescribeKey each)
SCAN_LIMIT = 200
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
#: the key page's forms and the operation each one is
KEY_PAGE_OPERATIONS = MappingProxyType(
    {
        "enable": "EnableKey",
        "disable": "DisableKey",
        "rotate": "RotateKeyOnDemand",
        "enable-rotation": "EnableKeyRotation",
        "disable-rotation": "DisableKeyRotation",
        "schedule-deletion": "ScheduleKeyDeletion",
        "cancel-deletion": "CancelKeyDeletion",
        "tag": "TagResource",
        "untag": "UntagResource",
        "alias": "CreateAlias",
        "delete-alias": "DeleteAlias",
        "grant": "CreateGrant",
        "revoke-grant": "RevokeGrant",
        "description": "UpdateKeyDescription",
        "replicate": "ReplicateKey",
        "import-parameters": "GetParametersForImport",
        "import-material": "ImportKeyMaterial",
        "delete-material": "DeleteImportedKeyMaterial",
    }
)
#: the forms of an EXTERNAL key only (its imported key material)
_IMPORT_FORMS = frozenset({"import-parameters", "import-material", "delete-material"})
#: the alias name a preview of CreateAlias asks about (the real one is typed in later; a
#: refusal on the alias's own resource therefore disables nothing)
_PREVIEW_ALIAS = "alias/console-preview"


class ConsoleBackend(Backend[str], Protocol):
    """The API's backend, which can also preview a decision (``ServiceBackend``)."""

    def preview(
        self,
        operation: str,
        principal: str,
        region: str,
        params: Mapping[str, Any],
        *,
        context: Mapping[str, object] | None = None,
        policy: str | None = None,
    ) -> Preview: ...


class KmsError(Exception):
    """A console call the service refused: the AWS error, shown inline."""

    def __init__(self, error: ServiceError) -> None:
        super().__init__(f"{error.code}: {error.message}")
        self.code = error.code
        self.message = error.message


class Console:
    """The console's ASGI handler (mounted by ``KmsApp`` under ``/console``)."""

    def __init__(
        self,
        backend: ConsoleBackend,
        store: Store,
        credential: Callable[[str], Credential[str] | None],
        clock: Clock,
        request_ids: Callable[[], str],
        *,
        region: str,
        regions: frozenset[str],
        development: Credential[str] | None = None,
        directory: Identities | None = None,
        principals: Sequence[str] = (),
        audit_path: Path | None = None,
        audit_key: bytes | None = None,
    ) -> None:
        self._backend = backend
        self._credential = credential
        self._clock = clock
        self._request_ids = request_ids
        self._region = region
        self._regions = regions
        self._development = development
        self._directory = directory if directory is not None else Identities([])
        self._principals = list(principals)
        self._audit_path = audit_path
        self._chain = ChainVerifier(audit_path, audit_key)
        self.sessions = Sessions(store)
        self.throttle = SignInThrottle()
        self._templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(_HERE / "templates")),
            autoescape=True,
        )
        self._templates.filters["q"] = lambda s: quote(str(s), safe="")

    # --- ASGI

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Any],
        send: Callable[[Any], Any],
    ) -> None:
        body, too_large = await _read(receive)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        content_type = headers.get("content-type", "")
        files: Mapping[str, bytes] = {}
        if content_type.startswith("multipart/form-data"):  # the import form's uploads
            form, files = parse_multipart(body, content_type)
        else:
            form = parse_form(body, content_type)
        request = Request(
            method=scope["method"],
            path=scope.get("path", "/"),
            query=parse_query(scope.get("query_string", b"")),
            form=form,
            cookies=parse_cookies(headers.get("cookie", "")),
            headers=headers,
            secure=scope.get("scheme") == "https",
            client=(scope.get("client") or ("-", 0))[0],
            scope=scope,
            files=files,
        )
        if too_large:
            response = Response(413, b"request too large")
        else:
            # KMS calls block (store, crypto): the whole page is made in a worker thread
            response = await asyncio.to_thread(self.handle, request)
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": response.all_headers(),
            }
        )
        await send({"type": "http.response.body", "body": response.body})

    # --- routing

    def handle(self, request: Request) -> Response:
        refused = self._misdirected(request)
        if refused is not None:
            return refused
        path = request.path.removeprefix(PREFIX).rstrip("/") or "/"
        if path.startswith("/static/"):
            return self._static(path.removeprefix("/static/"))
        if path == "/signin":
            return self._signin(request)
        now = self._clock.now()
        session = self.sessions.get(request.cookies.get(SESSION_COOKIE), now)
        if session is not None and not self._still_valid(session):
            session = None
        if session is None:
            return redirect(f"{PREFIX}/signin")
        if request.method == "POST" and not self._csrf_ok(request, session):
            return self._page(
                request,
                session,
                "error.html",
                status=403,
                message="The form was stale or did not come from this console (CSRF check "
                "failed). Reload the page and try again.",
            )
        parts = path.strip("/").split("/")
        route = (request.method, parts[0], len(parts))
        if route == ("POST", "signout", 1):
            self.sessions.close(request.cookies.get(SESSION_COOKIE))
            response = redirect(f"{PREFIX}/signin")
            response.headers.append(
                (b"set-cookie", cookie(SESSION_COOKIE, "", secure=request.secure, max_age=0))
            )
            return response
        if path == "/":
            return redirect(f"{PREFIX}/keys")
        if route == ("GET", "keys", 1):
            return self._keys(request, session)
        if parts[0] == "keys" and len(parts) >= 2:
            key_id = parts[1]
            if len(parts) == 2 and request.method == "GET":
                return self._key(request, session, key_id)
            if len(parts) == 3 and parts[2] == "policy":
                return self._policy(request, session, key_id)
            if len(parts) == 3 and parts[2] == "access":
                return self._access(request, session, key_id)
            if len(parts) == 3 and parts[2] == "import-parameters" and request.method == "POST":
                return self._import_parameters(request, session, key_id)
            if len(parts) == 3 and request.method == "POST":
                return self._key_action(request, session, key_id, parts[2])
        if parts[0] == "create" and len(parts) == 1:
            return self._create(request, session)
        if route == ("POST", "diagnostics", 1):
            return self._diagnostics(request, session)
        if route == ("GET", "log", 1):
            return self._log(request, session)
        return self._page(request, session, "error.html", status=404, message="No such page.")

    # --- plumbing

    def _misdirected(self, request: Request) -> Response | None:
        """Requests a browser was tricked into sending. With the development identity (one
        button signs in) a page of another site that rebinds its DNS name to this address
        would be same-origin with the console: only loopback names are answered then. A POST
        whose Origin is another site (or ``null``) is refused whatever the identities."""
        host = request.headers.get("host", "")
        if self._development is not None and _hostname(host) not in _LOOPBACK:
            return Response(
                421,
                b"the development console answers only loopback names\n",
                b"text/plain; charset=utf-8",
            )
        origin = request.headers.get("origin")
        cross = origin is not None and urlsplit(origin).netloc.lower() != host.lower()
        if request.method == "POST" and cross:
            return Response(403, b"cross-origin form refused\n", b"text/plain; charset=utf-8")
        return None

    def _static(self, name: str) -> Response:
        ctype = _STATIC.get(name)
        if ctype is None:
            return Response(404, b"not found", b"text/plain")
        return Response(200, (_HERE / "static" / name).read_bytes(), ctype)

    def _still_valid(self, session: Session) -> bool:
        """A session's access key must still be one this server knows, for the same principal
        (a process with a newer identities file ends the sessions of a removed key)."""
        credential = self._credential(session.access_key_id)
        return credential is not None and credential.principal == session.principal

    def _done(self, request: Request, session: Session, location: str, message: str) -> Response:
        """Redirect to ``location``, which shows ``message`` once (a cookie bound to the
        session: any server process sharing the store shows it, no other session can)."""
        response = redirect(location)
        value = session.seal_message(message)
        response.headers.append(
            (b"set-cookie", cookie(MESSAGE_COOKIE, value, secure=request.secure, max_age=60))
        )
        return response

    def _csrf_ok(self, request: Request, session: Session) -> bool:
        sent = request.form.get("csrf") or request.headers.get("x-csrf-token", "")
        return bool(sent) and same(sent, session.csrf)

    def _render(self, template: str, **values: Any) -> bytes:
        return self._templates.get_template(template).render(**values).encode("utf-8")

    def _page(
        self,
        request: Request,
        session: Session | None,
        template: str,
        status: int = 200,
        **values: Any,
    ) -> Response:
        flash, sent = "", request.cookies.get(MESSAGE_COOKIE)
        if session is not None and sent:
            flash = session.open_message(sent)
        body = self._render(
            template,
            session=session,
            region=self._region_of(request, session) if session else self._region,
            regions=sorted(self._regions),
            flash=flash,
            prefix=PREFIX,
            **values,
        )
        response = Response(status, body)
        if sent:
            response.headers.append(
                (b"set-cookie", cookie(MESSAGE_COOKIE, "", secure=request.secure, max_age=0))
            )
        return response

    def _region_of(self, request: Request, session: Session) -> str:
        wanted = request.query.get("region") or request.form.get("region") or session.region
        return wanted if wanted in self._regions else session.region

    def call(
        self, request: Request, session: Session, operation: str, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        """One KMS request as the signed-in principal, through the API's own backend (decided,
        audited and validated exactly as over the wire); a refusal raises ``KmsError``."""
        region = self._region_of(request, session)
        call = Call(
            operation=operation,
            body=json.dumps(params).encode("utf-8"),
            principal=session.principal,
            region=region,
            context=transport_context(request.scope, region),
            request_id=self._request_ids(),
        )
        try:
            reply = self._backend.call(call)
        except ServiceError as error:
            raise KmsError(error) from None
        result: dict[str, Any] = json.loads(reply.body or b"{}")
        return result

    def _try(self, request: Request, session: Session, operation: str, **params: Any) -> Any:
        try:
            return self.call(request, session, operation, params)
        except KmsError as error:
            return error

    # --- sign-in

    def _signin(self, request: Request) -> Response:
        now = self._clock.now()
        if request.method == "GET":
            return self._signin_form(request, "")
        sent = request.form.get("csrf", "")
        if not sent or not same(sent, request.cookies.get(SIGNIN_COOKIE, "")):
            return self._signin_form(request, "The sign-in form expired; try again.", 403)
        development = bool(request.form.get("development")) and self._development is not None
        key_id = None if development else request.form.get("access_key_id", "").strip()
        refused_by = self.throttle.attempt(request.client, key_id, now)
        if refused_by is not None:
            message = f"Too many failed sign-ins for this {refused_by}; wait a few minutes."
            return self._signin_form(request, message, 429)
        credential = self._check_credentials(request)
        if credential is None:  # counted as failed by attempt()
            return self._signin_form(request, "Unknown access key id or wrong secret.", 401)
        self.throttle.succeeded(request.client, key_id)
        token = self.sessions.open(
            credential.principal, credential.access_key_id, self._region, now
        )
        response = redirect(f"{PREFIX}/keys")
        lifetime = int(SESSION_LIFETIME.total_seconds())
        response.headers += [
            (b"set-cookie", cookie(SESSION_COOKIE, token, secure=request.secure, max_age=lifetime)),
            (b"set-cookie", cookie(SIGNIN_COOKIE, "", secure=request.secure, max_age=0)),
        ]
        return response

    def _check_credentials(self, request: Request) -> Credential[str] | None:
        if request.form.get("development") and self._development is not None:
            return self._development
        key_id = request.form.get("access_key_id", "").strip()
        secret = request.form.get("secret_access_key", "")
        credential = self._credential(key_id) if key_id else None
        expected = credential.secret_access_key if credential is not None else secrets.token_hex()
        ok = same(secret, expected)  # compared even for an unknown id: the same time either way
        if credential is None or not ok:
            return None
        if credential.session_token is not None and not same(
            request.form.get("session_token", ""), credential.session_token
        ):
            return None
        return credential

    def _signin_form(self, request: Request, error: str, status: int = 200) -> Response:
        token = secrets.token_urlsafe(32)
        body = self._render(
            "signin.html",
            session=None,
            error=error,
            csrf=token,
            development=self._development is not None,
            prefix=PREFIX,
            flash="",
        )
        response = Response(status, body)
        response.headers.append(
            (b"set-cookie", cookie(SIGNIN_COOKIE, token, secure=request.secure, max_age=600))
        )
        return response

    # --- keys

    def _keys(self, request: Request, session: Session) -> Response:
        """One page of the Region's keys, paged like ListKeys (``marker``). A key is described
        (DescribeKey) to be filtered by state or usage; its tags are read only when a search
        needs them or the row is shown, its rotation status only when shown: the API has no
        batch read, so a shown row costs three requests and a row filtered out one or two.
        A filtered search looks at no more than SCAN_LIMIT keys a page and offers to go on."""
        q = request.query.get("q", "").strip().lower()
        state = request.query.get("state", "")
        usage = request.query.get("usage", "")
        marker = request.query.get("marker", "")
        error, scanned = "", 0
        rows: list[dict[str, Any]] = []
        try:  # the Region's aliases in one listing, not one request per key
            aliases = self._all(request, session, "ListAliases", "Aliases")
        except KmsError as exc:
            aliases, error = [], str(exc)
        by_key: dict[str, list[str]] = {}
        for alias in aliases:
            if alias.get("TargetKeyId"):
                by_key.setdefault(alias["TargetKeyId"], []).append(alias["AliasName"])
        while not error:
            params: dict[str, Any] = {"Limit": PAGE_SIZE - len(rows)}
            if marker:
                params["Marker"] = marker
            try:
                page = self.call(request, session, "ListKeys", params)
            except KmsError as exc:
                error = str(exc)
                break
            for entry in page.get("Keys", []):
                scanned += 1
                row = self._key_row(
                    request,
                    session,
                    entry["KeyId"],
                    by_key.get(entry["KeyId"], []),
                    q,
                    state,
                    usage,
                )
                if row is not None:
                    rows.append(row)
            marker = page.get("NextMarker", "") if page.get("Truncated") else ""
            if not marker or len(rows) >= PAGE_SIZE or scanned >= SCAN_LIMIT:
                break
        return self._page(
            request,
            session,
            "keys.html",
            keys=rows,
            q=q,
            state=state,
            usage=usage,
            next_marker=marker,
            first_page=not request.query.get("marker"),
            scanned=scanned,
            stopped_scanning=bool(marker) and len(rows) < PAGE_SIZE,
            usages=["ENCRYPT_DECRYPT", "SIGN_VERIFY", "GENERATE_VERIFY_MAC", "KEY_AGREEMENT"],
            error=error,
            states=["Enabled", "Disabled", "PendingDeletion", "PendingImport", "Unavailable"],
        )

    def _all(self, request: Request, session: Session, operation: str, member: str) -> list[Any]:
        """Every page of a listing (at most 1000 entries: a console page, not an export)."""
        out: list[Any] = []
        params: dict[str, Any] = {"Limit": 1000}
        while len(out) < 1000:
            page = self.call(request, session, operation, params)
            out += page.get(member, [])
            if not page.get("Truncated"):
                break
            params["Marker"] = page["NextMarker"]
        return out

    def _key_row(
        self,
        request: Request,
        session: Session,
        key_id: str,
        aliases: list[str],
        q: str,
        state: str,
        usage: str,
    ) -> dict[str, Any] | None:
        """The row of one key, or None when the filters leave it out."""
        row: dict[str, Any] = {"id": key_id, "aliases": aliases, "tag_text": []}
        described = self._try(request, session, "DescribeKey", KeyId=key_id)
        if isinstance(described, KmsError):
            row["denied"] = described.code
            matched = not (state or usage) and (not q or q in " ".join([key_id, *aliases]).lower())
            return row if matched else None
        meta = described["KeyMetadata"]
        if (state and meta.get("KeyState") != state) or (usage and meta.get("KeyUsage") != usage):
            return None
        row.update(
            state=meta.get("KeyState", ""),
            spec=meta.get("KeySpec", ""),
            usage=meta.get("KeyUsage", ""),
            origin=meta.get("Origin", ""),
            description=meta.get("Description", ""),
            manager=meta.get("KeyManager", ""),
            multi_region=meta.get("MultiRegion", False),
        )
        tags = self._try(request, session, "ListResourceTags", KeyId=key_id)
        if not isinstance(tags, KmsError):
            row["tags"] = {t["TagKey"]: t["TagValue"] for t in tags.get("Tags", [])}
            row["tag_text"] = [f"{k}={v}" for k, v in row["tags"].items()]
        haystack = " ".join([key_id, row["description"], *aliases, *row["tag_text"]]).lower()
        if q and q not in haystack:
            return None
        if meta.get("KeySpec") == "SYMMETRIC_DEFAULT" and meta.get("Origin") == "AWS_KMS":
            rotation = self._try(request, session, "GetKeyRotationStatus", KeyId=key_id)
            if not isinstance(rotation, KmsError):
                row["rotation"] = rotation.get("KeyRotationEnabled", False)
        return row

    def _key(
        self, request: Request, session: Session, key_id: str, error: str = "", status: int = 200
    ) -> Response:
        described = self._try(request, session, "DescribeKey", KeyId=key_id)
        if isinstance(described, KmsError):
            return self._page(
                request,
                session,
                "error.html",
                status=404 if "NotFound" in described.code else 403,
                message=str(described),
            )
        meta = described["KeyMetadata"]
        arn = meta["Arn"]
        sections: dict[str, Any] = {}
        for name, operation, params in (
            ("aliases", "ListAliases", {"KeyId": arn}),
            ("tags", "ListResourceTags", {"KeyId": arn}),
            ("grants", "ListGrants", {"KeyId": arn}),
            ("rotation", "GetKeyRotationStatus", {"KeyId": arn}),
            ("rotations", "ListKeyRotations", {"KeyId": arn}),
        ):
            sections[name] = self._try(request, session, operation, **params)
        timeline = [("Created", meta.get("CreationDate"))]
        if not isinstance(sections["rotations"], KmsError):
            timeline += [
                (f"Rotated ({r.get('RotationType', '').lower()})", r.get("RotationDate"))
                for r in sections["rotations"].get("Rotations", [])
            ]
        rotation = sections["rotation"]
        if not isinstance(rotation, KmsError) and rotation.get("NextRotationDate"):
            timeline.append(("Next automatic rotation", rotation["NextRotationDate"]))
        if meta.get("DeletionDate"):
            timeline.append(("Deletion", meta["DeletionDate"]))
        if meta.get("ValidTo"):
            timeline.append(("Imported key material expires", meta["ValidTo"]))
        timeline = [(label, _when(t)) for label, t in timeline if t is not None]
        return self._page(
            request,
            session,
            "key.html",
            status=status,
            meta=meta,
            error=error,
            timeline=sorted(timeline, key=lambda item: item[1]),
            is_error=lambda v: isinstance(v, KmsError),
            refused=self._refused(request, session, meta, sections),
            operations=KEY_PAGE_OPERATIONS,
            imports=imports,
            **sections,
            grant_operations=[
                "Decrypt",
                "Encrypt",
                "GenerateDataKey",
                "ReEncryptFrom",
                "ReEncryptTo",
                "DescribeKey",
                "Sign",
                "Verify",
                "GenerateMac",
                "VerifyMac",
                "CreateGrant",
                "RetireGrant",
            ],
        )

    def _refused(
        self, request: Request, session: Session, meta: Mapping[str, Any], sections: Any
    ) -> dict[str, str]:
        """The key page's forms the service would refuse this principal, with the reason
        (their buttons are disabled): each previewed by the service's own decision point
        (``ServiceBackend.preview``: key policy, grants, IAM policies, boundary, SCPs, RCPs,
        the key's properties and the request's transport context) with the parameters known
        before the form is filled in. A refusal that read a context key those parameters do
        not give (the waiting period, a grant's operations) disables nothing: the real
        request may carry it. Per-item forms are keyed ``action:item``."""
        arn = meta["Arn"]
        # the Region of a replica is chosen in the form: ReplicateKey is not previewed; the
        # import forms are shown (and previewed) for an EXTERNAL key only
        skipped = {"alias", "delete-alias", "untag", "revoke-grant", "replicate"}
        if meta.get("Origin") != "EXTERNAL":
            skipped |= _IMPORT_FORMS
        asks: list[tuple[str, str, dict[str, Any]]] = [
            (action, operation, {"KeyId": arn})
            for action, operation in KEY_PAGE_OPERATIONS.items()
            if action not in skipped
        ]
        asks.append(("alias", "CreateAlias", {"AliasName": _PREVIEW_ALIAS, "TargetKeyId": arn}))
        for name, listed, item, form, operation in (
            ("aliases", "Aliases", "AliasName", "delete-alias", "DeleteAlias"),
            ("tags", "Tags", "TagKey", "untag", "UntagResource"),
            ("grants", "Grants", "GrantId", "revoke-grant", "RevokeGrant"),
        ):
            if isinstance(sections[name], KmsError):
                continue
            for entry in sections[name].get(listed, []):
                params: dict[str, Any] = {"KeyId": arn, item: entry[item]}
                if operation == "UntagResource":
                    params = {"KeyId": arn, "TagKeys": [entry[item]]}
                elif operation == "DeleteAlias":
                    params = {"AliasName": entry[item]}
                asks.append((f"{form}:{entry[item]}", operation, params))
        region = self._region_of(request, session)
        context = transport_context(request.scope, region)
        refused = {}
        for form, operation, params in asks:
            try:
                answer = self._backend.preview(
                    operation, session.principal, region, params, context=context
                )
            except KmsPolicyError:  # not previewable (not found, ...): the service answers
                continue
            if not answer.decided or answer.allowed or answer.missing_context_keys:
                continue
            if operation == "CreateAlias" and answer.resource != arn:
                continue  # refused on the placeholder alias name, not on the key
            refused[form] = answer.reason
        return refused

    def _key_action(self, request: Request, session: Session, key_id: str, action: str) -> Response:
        form = request.form
        actions: dict[str, tuple[str, Callable[[], dict[str, Any]]]] = {
            "enable": ("EnableKey", lambda: {"KeyId": key_id}),
            "disable": ("DisableKey", lambda: {"KeyId": key_id}),
            "rotate": ("RotateKeyOnDemand", lambda: {"KeyId": key_id}),
            "enable-rotation": (
                "EnableKeyRotation",
                lambda: {"KeyId": key_id, **_int(form, "RotationPeriodInDays")},
            ),
            "disable-rotation": ("DisableKeyRotation", lambda: {"KeyId": key_id}),
            "schedule-deletion": (
                "ScheduleKeyDeletion",
                lambda: {"KeyId": key_id, **_int(form, "PendingWindowInDays")},
            ),
            "cancel-deletion": ("CancelKeyDeletion", lambda: {"KeyId": key_id}),
            "tag": (
                "TagResource",
                lambda: {
                    "KeyId": key_id,
                    "Tags": [
                        {"TagKey": form.get("TagKey", ""), "TagValue": form.get("TagValue", "")}
                    ],
                },
            ),
            "untag": (
                "UntagResource",
                lambda: {"KeyId": key_id, "TagKeys": [form.get("TagKey", "")]},
            ),
            "alias": (
                "CreateAlias",
                lambda: {"AliasName": form.get("AliasName", ""), "TargetKeyId": key_id},
            ),
            "delete-alias": ("DeleteAlias", lambda: {"AliasName": form.get("AliasName", "")}),
            "grant": (
                "CreateGrant",
                lambda: {
                    "KeyId": key_id,
                    "GranteePrincipal": form.get("GranteePrincipal", ""),
                    "Operations": [
                        op.strip() for op in form.get("Operations", "").split(",") if op.strip()
                    ],
                    **({"Name": form["Name"]} if form.get("Name") else {}),
                },
            ),
            "revoke-grant": (
                "RevokeGrant",
                lambda: {"KeyId": key_id, "GrantId": form.get("GrantId", "")},
            ),
            "description": (
                "UpdateKeyDescription",
                lambda: {"KeyId": key_id, "Description": form.get("Description", "")},
            ),
            "replicate": (
                "ReplicateKey",
                lambda: {"KeyId": key_id, "ReplicaRegion": form.get("ReplicaRegion", "")},
            ),
            "import-material": (
                "ImportKeyMaterial",
                lambda: imports.import_params(request, key_id),
            ),
            "delete-material": ("DeleteImportedKeyMaterial", lambda: {"KeyId": key_id}),
        }
        if action not in actions:
            return self._page(request, session, "error.html", status=404, message="No such action.")
        operation, params = actions[action]
        try:
            result = self.call(request, session, operation, params())
        except KmsError as error:
            return self._key(request, session, key_id, error=f"{operation}: {error}", status=400)
        location = self._key_url(request, session, key_id)
        return self._done(request, session, location, _outcome(operation, result))

    def _import_parameters(self, request: Request, session: Session, key_id: str) -> Response:
        """GetParametersForImport as the principal; its public key and import token are
        downloaded together (one request makes one matching pair) as a ZIP file, as AWS's
        console does: WrappingPublicKey.bin (DER), ImportToken.bin and a README.txt."""
        params = {
            "KeyId": key_id,
            "WrappingAlgorithm": request.form.get("WrappingAlgorithm", ""),
            "WrappingKeySpec": request.form.get("WrappingKeySpec", ""),
        }
        try:
            result = self.call(request, session, "GetParametersForImport", params)
        except KmsError as error:
            message = f"GetParametersForImport: {error}"
            return self._key(request, session, key_id, error=message, status=400)
        archive, name = imports.import_parameters_zip(result, params, self._clock.now())
        disposition = f'attachment; filename="{name}"'.encode("ascii")
        return Response(200, archive, b"application/zip", [(b"content-disposition", disposition)])

    def _key_url(self, request: Request, session: Session, key_id: str, page: str = "") -> str:
        region = self._region_of(request, session)
        return f"{PREFIX}/keys/{quote(key_id, safe='')}{page}?{urlencode({'region': region})}"

    # --- create

    def _create(self, request: Request, session: Session) -> Response:
        account = _account_of(session.principal)
        form = dict(request.form)
        if request.method == "GET":
            form = {
                "KeySpec": "SYMMETRIC_DEFAULT",
                "KeyUsage": "ENCRYPT_DECRYPT",
                "Origin": "AWS_KMS",
                "Policy": default_key_policy(account),
            }
            return self._page(request, session, "create.html", form=form, error="")
        params: dict[str, Any] = {
            "KeySpec": form.get("KeySpec", "SYMMETRIC_DEFAULT"),
            "KeyUsage": form.get("KeyUsage", "ENCRYPT_DECRYPT"),
            "Origin": form.get("Origin", "AWS_KMS"),
        }
        if form.get("Description"):
            params["Description"] = form["Description"]
        if form.get("MultiRegion"):
            params["MultiRegion"] = True
        tags = [line.partition("=") for line in form.get("Tags", "").splitlines() if line.strip()]
        if tags:
            params["Tags"] = [{"TagKey": k.strip(), "TagValue": v.strip()} for k, _, v in tags]
        error = ""
        if form.get("Policy", "").strip():
            policy, diagnostics = policy_as_json(form["Policy"])
            if policy is None:
                error = "The key policy does not parse:\n" + "\n".join(diagnostics)
            else:
                params["Policy"] = policy
        if not error:
            try:
                created = self.call(request, session, "CreateKey", params)
            except KmsError as exc:
                error = f"CreateKey: {exc}"
            else:
                key_id = created["KeyMetadata"]["KeyId"]
                location = self._key_url(request, session, key_id)
                return self._done(request, session, location, f"Created key {key_id}.")
        return self._page(request, session, "create.html", status=400, form=form, error=error)

    # --- policy editor

    def _policy(self, request: Request, session: Session, key_id: str) -> Response:
        syntax = request.form.get("syntax") or request.query.get("syntax") or "json"
        saved = self._try(request, session, "GetKeyPolicy", KeyId=key_id, PolicyName="default")
        if isinstance(saved, KmsError):
            return self._page(request, session, "error.html", status=403, message=str(saved))
        saved_text = policy_in(saved["Policy"], syntax)
        text = saved_text
        if request.method == "POST":  # a browser sends a textarea's lines ended with CRLF
            text = request.form.get("policy", saved_text).replace("\r\n", "\n")
        described = self._try(request, session, "DescribeKey", KeyId=key_id)
        key_arn = "" if isinstance(described, KmsError) else described["KeyMetadata"]["Arn"]
        error, diagnostics = "", self._policy_diagnostics(request, session, text, key_arn)
        if request.method == "POST" and request.form.get("do") == "save":
            policy, _ = policy_as_json(text)
            if policy is None:
                error = "The policy does not parse; nothing was saved."
            else:
                try:
                    self.call(
                        request,
                        session,
                        "PutKeyPolicy",
                        {"KeyId": key_id, "PolicyName": "default", "Policy": policy},
                    )
                except KmsError as exc:
                    error = f"PutKeyPolicy: {exc}"
                else:
                    location = self._key_url(request, session, key_id, "/policy")
                    if syntax == "dsl":  # shown again as it was edited
                        location += "&syntax=dsl"
                    return self._done(request, session, location, "Saved the key policy.")
        if request.method == "POST" and request.form.get("do") == "switch":
            converted = policy_in_other(text, syntax)
            if converted is not None:
                text, syntax = converted
                saved_text = policy_in(saved["Policy"], syntax)
        diff = "".join(
            difflib.unified_diff(
                saved_text.splitlines(keepends=True),
                text.splitlines(keepends=True),
                "saved",
                "edited",
            )
        )
        return self._page(
            request,
            session,
            "policy.html",
            key_arn=key_arn,
            status=400 if error else 200,
            key_id=key_id,
            text=text,
            syntax=syntax,
            diagnostics=diagnostics,
            diff=diff,
            error=error,
        )

    def _diagnostics(self, request: Request, session: Session) -> Response:
        text, key_arn = request.form.get("policy", ""), request.form.get("key", "")
        found = self._policy_diagnostics(request, session, text, key_arn)
        return Response(200, json.dumps(found).encode(), b"application/json")

    def _policy_diagnostics(
        self, request: Request, session: Session, text: str, key_arn: str
    ) -> list[dict[str, Any]]:
        """The CLI's diagnostics, and first the lockout check the service makes on save: the
        new policy must let the principal saving it change it again (kms:PutKeyPolicy)."""
        found = lint_policy_text(text, _account_of(session.principal))
        policy, _ = policy_as_json(text)
        if policy is None or not key_arn.startswith("arn:aws:kms:"):
            return found
        region = self._region_of(request, session)
        try:
            answer = self._backend.preview(
                "PutKeyPolicy",
                session.principal,
                region,
                {"KeyId": key_arn, "PolicyName": "default"},
                context=transport_context(request.scope, region),
                policy=policy,
            )
        except KmsPolicyError:  # a policy the decision point cannot read is lint's to report
            return found
        refused = answer.decided and not answer.allowed and not answer.missing_context_keys
        if refused:
            message = (
                f"after saving, {session.principal} could not change this policy again "
                "(kms:PutKeyPolicy denied); the service's lockout safety check refuses it"
            )
            remedy = "allow this principal (or its account root) kms:PutKeyPolicy"
            found.insert(
                0,
                {
                    "severity": "ERROR",
                    "code": "LOCKOUT",
                    "message": message,
                    "line": None,
                    "column": None,
                    "help": remedy,
                    "rendered": f"policy: ERROR LOCKOUT: {message}\n  help: {remedy}",
                },
            )
        return found

    # --- access matrix

    def _access(self, request: Request, session: Session, key_id: str) -> Response:
        from kmspolicy.server.console.access import KeyFacts, grants_of, key_context_of, matrix

        saved = self._try(request, session, "GetKeyPolicy", KeyId=key_id, PolicyName="default")
        described = self._try(request, session, "DescribeKey", KeyId=key_id)
        for answer in (saved, described):
            if isinstance(answer, KmsError):
                return self._page(request, session, "error.html", status=403, message=str(answer))
        meta = described["KeyMetadata"]
        # the key's aliases, tags and grants as this principal may read them: what it may
        # not read is left out of the matrix, and the page says so
        notes, read = [], {}
        for name, operation, params in (
            ("aliases", "ListAliases", {"KeyId": meta["Arn"]}),
            ("tags", "ListResourceTags", {"KeyId": meta["Arn"]}),
            ("grants", "ListGrants", {"KeyId": meta["Arn"]}),
        ):
            read[name] = self._try(request, session, operation, **params)
            if isinstance(read[name], KmsError):
                notes.append(f"{operation} refused ({read[name].code}): {name} not shown")
                read[name] = {}
        facts = KeyFacts(
            saved["Policy"],
            meta,
            key_context_of(
                meta,
                [a["AliasName"] for a in read["aliases"].get("Aliases", [])],
                {t["TagKey"]: t["TagValue"] for t in read["tags"].get("Tags", [])},
            ),
            grants_of(read["grants"].get("Grants", [])),
        )
        result = matrix(
            facts,
            self._directory,
            self._principals,
            principal=request.query.get("principal"),
            action=request.query.get("action"),
            context_text=request.query.get("context", ""),
        )
        result.notes += notes
        return self._page(
            request, session, "access.html", key_id=key_id, m=result, query=request.query
        )

    # --- decision log

    def _log(self, request: Request, session: Session) -> Response:
        from kmspolicy.server.console.decisions import read_decisions

        filters = {k: request.query.get(k, "") for k in ("principal", "key", "action", "decision")}
        full = request.query.get("verify") == "full"
        state = self._chain.state(self._clock.now(), full=full)
        records = read_decisions(self._audit_path, session.principal, filters)
        return self._page(
            request, session, "log.html", records=records, state=state, filters=filters
        )


# --- helpers below the console (pure functions over the language and the decision point)


def _hostname(host: str) -> str:
    """The name of a Host header (``[::1]:4599`` -> ``::1``, ``localhost:80`` -> ``localhost``)."""
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def _account_of(principal: str) -> str:
    parts = principal.split(":")
    return parts[4] if len(parts) > 4 and parts[4] else "000000000000"


def _int(form: Mapping[str, str], name: str) -> dict[str, Any]:
    value = form.get(name, "").strip()
    if not value:
        return {}
    try:
        return {name: int(value)}
    except ValueError:
        return {name: value}  # the service's own validation error says what is wrong


def _outcome(operation: str, result: Mapping[str, Any]) -> str:
    if operation == "CreateGrant":
        return f"Created grant {result.get('GrantId', '')}."
    if operation == "ReplicateKey":
        return f"Replicated: {result.get('ReplicaKeyMetadata', {}).get('Arn', '')}."
    if operation == "ScheduleKeyDeletion":
        return f"Deletion scheduled for {_when(result.get('DeletionDate'))}."
    if operation == "ImportKeyMaterial":
        return f"Imported key material {result.get('KeyMaterialId', '')}."
    return f"{operation}: done."


def _when(value: Any) -> str:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    return str(value)


def default_key_policy(account: str) -> str:
    """KMS's default key policy for ``account`` (the root may do everything; IAM delegated)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Id": "key-default-1",
            "Statement": [
                {
                    "Sid": "Enable IAM User Permissions",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                }
            ],
        },
        indent=2,
    )


def policy_as_json(text: str) -> tuple[str | None, list[str]]:
    """The key policy as AWS JSON (DSL converted), or None and the rendered diagnostics."""
    from kmspolicy.lang import PolicySyntaxError, read_policies, write_json

    try:
        policies = read_policies(text, "policy", key_policy=True)
    except PolicySyntaxError as exc:
        return None, [d.render() for d in exc.diagnostics]
    if len(policies) != 1:
        return None, [f"a key policy is one policy (this text holds {len(policies)})"]
    if text.lstrip().startswith("{"):
        return text, []  # sent as written: the service reads the caller's JSON itself
    return write_json(policies[0]), []


def policy_in(json_text: str, syntax: str) -> str:
    if syntax != "dsl":
        return json_text
    from kmspolicy.lang import format_dsl, read_json

    return format_dsl(read_json(json_text, "policy", key_policy=True))


def policy_in_other(text: str, syntax: str) -> tuple[str, str] | None:
    """The text in the other syntax (JSON <-> DSL), or None when it does not parse."""
    from kmspolicy.lang import PolicySyntaxError, format_dsl, read_policies, write_json

    try:
        [policy] = read_policies(text, "policy", key_policy=True)
    except (PolicySyntaxError, ValueError):
        return None
    return (format_dsl(policy), "dsl") if syntax == "json" else (write_json(policy), "json")


def lint_policy_text(text: str, account: str) -> list[dict[str, Any]]:
    """The CLI's positioned parse errors and lint findings for a key policy text, each also
    rendered as the CLI prints it (``policy:LINE:COL: SEVERITY CODE: message``, the source
    line with a caret under the column, help)."""
    from kmspolicy.authz.lint.source import lint_text

    return [
        {
            "severity": f.severity.value,
            "code": f.code,
            "message": f.message,
            "line": f.span.line if f.span else None,
            "column": f.span.column if f.span else None,
            "help": f.help or "",
            "rendered": f.render(text),
        }
        for f in lint_text(text, "policy", "key", account=account)
    ]


async def _read(receive: Callable[[], Any]) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"", False
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= MAX_FORM:
            chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), size > MAX_FORM
