"""The web console over plain HTTP (issue 16): sign-in, the session cookie, CSRF, the security
headers, and that every console action is a request of the signed-in principal — decided by the
same policies and recorded in the same decision log as an API call.

The browser flows are in tests/server/test_console_browser.py (Playwright, headless Chromium).
"""

from __future__ import annotations

import http.client
import io
import json
import os
import re
import textwrap
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode, urlsplit

import boto3
import pytest
from urllib3 import encode_multipart_formdata

from kmspolicy.server.thread import serve_in_thread

ACCOUNT = "111122223333"
ADMIN_ARN = f"arn:aws:iam::{ACCOUNT}:user/admin"
READER_ARN = f"arn:aws:iam::{ACCOUNT}:user/reader"
IDENTITIES = textwrap.dedent(
    f"""\
    account: "{ACCOUNT}"
    region: us-east-1
    identities:
      - arn: {ADMIN_ARN}
        access_key_id: AKIAADMINEXAMPLE0001
        secret_access_key: admin-secret
        policies:
          - Version: "2012-10-17"
            Statement: [{{Effect: Allow, Action: "kms:*", Resource: "*"}}]
      - arn: {READER_ARN}
        access_key_id: AKIAREADEREXAMPLE001
        secret_access_key: reader-secret
        policies:
          - Version: "2012-10-17"
            Statement:
              - {{Effect: Allow, Action: ["kms:List*", "kms:Describe*", "kms:Get*"], Resource: "*"}}
    """
)


class Browser:
    """A minimal cookie-keeping HTTP client (what a browser sends, nothing more)."""

    def __init__(self, url: str, source: str | None = None) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.source = (source, 0) if source else None  # a client address of 127.0.0.0/8
        self.cookies: dict[str, str] = {}
        self.last_set_cookies: list[str] = []
        self.last_body = b""

    def request(
        self,
        method: str,
        path: str,
        form: dict[str, str] | None = None,
        extra: dict[str, str] | None = None,
        raw: tuple[bytes, str] | None = None,
    ) -> tuple[int, dict[str, str], str]:
        conn = http.client.HTTPConnection(
            self.host, self.port, timeout=30, source_address=self.source
        )
        headers = dict(extra or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body: str | bytes | None = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if raw is not None:
            body, headers["Content-Type"] = raw
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        self.last_body = resp.read()
        text = self.last_body.decode("utf-8", "replace")
        self.last_set_cookies = resp.headers.get_all("Set-Cookie") or []
        for set_cookie in self.last_set_cookies:
            name, _, rest = set_cookie.partition("=")
            value = rest.split(";", 1)[0]
            if "Max-Age=0" in set_cookie:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        answer = {k.lower(): v for k, v in resp.getheaders()}
        conn.close()
        return resp.status, answer, text

    def upload(
        self, path: str, fields: dict[str, str], files: dict[str, bytes]
    ) -> tuple[int, dict[str, str], str]:
        """POST a multipart/form-data form, as a browser sends one with file inputs."""
        parts: list[tuple[str, Any]] = list(fields.items())
        parts += [
            (name, (f"{name}.bin", content, "application/octet-stream"))
            for name, content in files.items()
        ]
        return self.request("POST", path, raw=encode_multipart_formdata(parts))

    def csrf(self, html: str) -> str:
        match = re.search(r'name="csrf" value="([^"]+)"', html)
        assert match, html
        return match.group(1)

    def sign_in(self, key_id: str, secret: str) -> tuple[int, dict[str, str], str]:
        _, _, page = self.request("GET", "/console/signin")
        form = {"csrf": self.csrf(page), "access_key_id": key_id, "secret_access_key": secret}
        return self.request("POST", "/console/signin", form)


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("console")
    ids = tmp / "identities.yaml"
    ids.write_text(IDENTITIES)
    with serve_in_thread(
        identities=ids, data_dir=tmp, store_url=f"sqlite:///{tmp}/kms.db", console=True
    ) as running:
        yield SimpleNamespace(url=running.url, data_dir=tmp)


def _audit(endpoint: Any) -> list[dict[str, Any]]:
    data_dir = Path(endpoint.data_dir)
    return [json.loads(line) for line in (data_dir / "audit.log").read_text().splitlines()]


def test_pages_need_a_session_and_carry_the_security_headers(endpoint: Any) -> None:
    browser = Browser(endpoint.url)
    status, headers, _ = browser.request("GET", "/console/keys")
    assert status == 303 and headers["location"] == "/console/signin"
    status, headers, page = browser.request("GET", "/console/signin")
    assert status == 200 and "<form" in page
    csp = headers["content-security-policy"]
    assert "unsafe-inline" not in csp and "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert headers["x-frame-options"] == "DENY" and headers["cache-control"] == "no-store"
    assert "<script>" not in page and " style=" not in page  # nothing inline for the CSP


def test_sign_in_sets_a_strict_http_only_expiring_cookie(endpoint: Any) -> None:
    browser = Browser(endpoint.url)
    status, headers, _ = browser.sign_in("AKIAADMINEXAMPLE0001", "admin-secret")
    assert status == 303 and headers["location"] == "/console/keys"
    [session] = [c for c in browser.last_set_cookies if c.startswith("kmspolicy_session=")]
    assert "HttpOnly" in session and "SameSite=Strict" in session
    assert "Max-Age=3600" in session and "Path=/console" in session
    assert "Secure" not in session  # plain HTTP here; set under TLS (test_secure_cookie...)
    status, headers, page = browser.request("GET", "/console/keys")
    assert status == 200 and ADMIN_ARN in page
    assert "admin-secret" not in page  # no secret is ever rendered


def test_wrong_secret_unknown_key_and_a_forged_sign_in_form_fail(endpoint: Any) -> None:
    browser = Browser(endpoint.url)
    assert browser.sign_in("AKIAADMINEXAMPLE0001", "wrong")[0] == 401
    assert browser.sign_in("AKIANOTAKEYEXAMPLE01", "admin-secret")[0] == 401
    # a cross-site page posting the sign-in form has no sign-in cookie to match (login CSRF)
    forged = Browser(endpoint.url)
    status, _, _ = forged.request(
        "POST",
        "/console/signin",
        {"csrf": "x" * 43, "access_key_id": "AKIAADMINEXAMPLE0001", "secret_access_key": "s"},
    )
    assert status == 403 and "kmspolicy_session" not in forged.cookies


def test_a_state_changing_form_without_the_csrf_token_changes_nothing(endpoint: Any) -> None:
    browser = Browser(endpoint.url)
    browser.sign_in("AKIAADMINEXAMPLE0001", "admin-secret")
    _, _, page = browser.request("GET", "/console/create")
    token = browser.csrf(page)
    before = len(_audit(endpoint))
    for sent in ({}, {"csrf": "not-the-token"}):
        form = {"KeySpec": "SYMMETRIC_DEFAULT", "KeyUsage": "ENCRYPT_DECRYPT", **sent}
        status, _, body = browser.request("POST", "/console/create", form)
        assert status == 403 and "CSRF" in body
    assert len(_audit(endpoint)) == before  # not even a decision: nothing reached the service
    status, headers, _ = browser.request(
        "POST", "/console/create", {"csrf": token, "Description": "made in the console"}
    )
    assert status == 303 and headers["location"].startswith("/console/keys/")


def test_console_actions_are_the_principals_requests_decided_and_audited(endpoint: Any) -> None:
    admin, reader = Browser(endpoint.url), Browser(endpoint.url)
    admin.sign_in("AKIAADMINEXAMPLE0001", "admin-secret")
    reader.sign_in("AKIAREADEREXAMPLE001", "reader-secret")
    _, _, page = admin.request("GET", "/console/create")
    _, headers, _ = admin.request(
        "POST", "/console/create", {"csrf": admin.csrf(page), "Description": "shared"}
    )
    key_id = headers["location"].split("/")[3].split("?")[0]
    # the reader sees the key (it may describe it) but may not disable it: the API's answer
    _, _, key_page = reader.request("GET", f"/console/keys/{key_id}")
    assert key_id in key_page
    # its policies refuse DisableKey whatever the request: the button is disabled...
    assert re.search(r'<button type="submit" disabled title="[^"]*DisableKey', key_page)
    assert "not allowed for you: kms:DisableKey" in key_page
    # ...and a hand-made POST is refused by the service all the same
    status, _, answer = reader.request(
        "POST", f"/console/keys/{key_id}/disable", {"csrf": reader.csrf(key_page)}
    )
    assert status == 400 and "AccessDeniedException" in answer
    records = _audit(endpoint)
    denied = [r for r in records if r["operation"] == "DisableKey"]
    assert denied[-1]["principal"] == READER_ARN and denied[-1]["decision"] == "implicitDeny"
    created = [r for r in records if r["operation"] == "CreateKey"]
    assert created[-1]["principal"] == ADMIN_ARN and created[-1]["allowed"]
    # and in the decision log page, the reader sees its own denial
    _, _, log = reader.request("GET", "/console/log?action=DisableKey")
    assert "DisableKey" in log and "implicitDeny" in log and "Chain intact" in log
    assert "every record's seal checked with the audit key" in log


def test_sign_out_ends_the_session(endpoint: Any) -> None:
    browser = Browser(endpoint.url)
    browser.sign_in("AKIAADMINEXAMPLE0001", "admin-secret")
    stolen = dict(browser.cookies)
    _, _, page = browser.request("GET", "/console/keys")
    status, _, _ = browser.request("POST", "/console/signout", {"csrf": browser.csrf(page)})
    assert status == 303 and "kmspolicy_session" not in browser.cookies
    replay = Browser(endpoint.url)
    replay.cookies = stolen  # the old cookie is worthless after sign-out
    assert replay.request("GET", "/console/keys")[0] == 303


def test_the_console_is_off_unless_asked_for() -> None:
    with serve_in_thread(dev=False) as running:
        status, _, body = Browser(running.url).request("GET", "/console/signin")
    assert status >= 400 and "UnknownOperationException" in body  # only the KMS API answers


def test_guessing_secrets_is_throttled_per_address(tmp_path: Path) -> None:
    """The attack: try secrets one after another. After ten failures in five minutes the
    address waits (429), even for the right secret; other state is untouched."""
    ids = tmp_path / "identities.yaml"
    ids.write_text(IDENTITIES)
    with serve_in_thread(identities=ids, data_dir=tmp_path, console=True) as running:
        guesser = Browser(running.url)
        for n in range(10):
            assert guesser.sign_in("AKIAADMINEXAMPLE0001", f"guess-{n}")[0] == 401
        status, _, page = guesser.sign_in("AKIAADMINEXAMPLE0001", "admin-secret")
        assert status == 429 and "Too many failed sign-ins" in page
        assert "kmspolicy_session" not in guesser.cookies


def test_guessing_one_keys_secret_from_many_addresses_is_throttled_per_key(
    tmp_path: Path,
) -> None:
    """The attack: a distributed brute force, each address (here 127.0.0.2-.12, all loopback)
    guessing one access key's secret a few times, below the per-address limit. After ten
    failures in all, that access key id waits (429) from any address, even with the right
    secret; an unknown id is refused alike (no oracle for which ids exist); another key and
    the API are unaffected."""
    ids = tmp_path / "identities.yaml"
    ids.write_text(IDENTITIES)
    with serve_in_thread(identities=ids, data_dir=tmp_path, console=True) as running:
        for n in range(10):
            guesser = Browser(running.url, source=f"127.0.0.{2 + n}")
            assert guesser.sign_in("AKIAADMINEXAMPLE0001", f"guess-{n}")[0] == 401
            assert guesser.sign_in("AKIANOSUCHKEYEXAMPL1", f"guess-{n}")[0] == 401
        for key_id, secret in (
            ("AKIAADMINEXAMPLE0001", "admin-secret"),
            ("AKIANOSUCHKEYEXAMPL1", "anything"),
        ):
            fresh = Browser(running.url, source="127.0.0.20")
            status, _, page = fresh.sign_in(key_id, secret)
            assert status == 429 and "for this access key id" in page
            assert "kmspolicy_session" not in fresh.cookies
        reader = Browser(running.url, source="127.0.0.20")
        assert reader.sign_in("AKIAREADEREXAMPLE001", "reader-secret")[0] == 303
        api = running.client(
            aws_access_key_id="AKIAADMINEXAMPLE0001", aws_secret_access_key="admin-secret"
        )
        assert "Keys" in api.list_keys()  # the throttle is the console's sign-in only


def test_sessions_expire_by_the_clock_and_keep_only_a_hash() -> None:
    from kmspolicy.kms.memory import MemoryStore
    from kmspolicy.server.console.sessions import SESSION_LIFETIME, Sessions

    store = MemoryStore()
    sessions = Sessions(store)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    token = sessions.open(ADMIN_ARN, "AKIAADMINEXAMPLE0001", "us-east-1", now)
    assert sessions.get(token, now + SESSION_LIFETIME - timedelta(seconds=1)) is not None
    assert sessions.get(token, now + SESSION_LIFETIME) is None  # expired by the clock
    assert token not in repr(store._sessions)  # the store holds the token's hash only
    kept = sessions.open(ADMIN_ARN, "AKIAADMINEXAMPLE0001", "us-east-1", now + SESSION_LIFETIME)
    assert len(store._sessions) == 1  # the sign-in purged the expired session
    # a message for the next page opens only in the session that sealed it, unaltered
    mine = sessions.get(kept, now + SESSION_LIFETIME)
    other = sessions.get(sessions.open(READER_ARN, "AKIAREADEREXAMPLE001", "us-east-1", now), now)
    assert mine is not None and other is not None and mine.csrf != other.csrf
    sealed = mine.seal_message("Created key 1234.")
    assert mine.open_message(sealed) == "Created key 1234."
    assert other.open_message(sealed) == ""
    assert mine.open_message("Q3JlYXRlZCBrZXkgNjY2Lg." + sealed.partition(".")[2]) == ""


def test_a_session_is_known_to_every_server_on_the_store_and_sign_out_ends_it_everywhere(
    tmp_path: Path,
) -> None:
    """Two servers sharing one store (two processes behind a load balancer, or one restarted):
    a session opened on one works on the other, with its CSRF token and its one-time message,
    and signing out on one makes the cookie worthless on both."""
    ids = tmp_path / "identities.yaml"
    ids.write_text(IDENTITIES)
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    store = f"sqlite:///{tmp_path}/kms.db"
    with serve_in_thread(identities=ids, data_dir=first, store_url=store, console=True) as a:
        (second / "root.key").write_bytes((first / "root.key").read_bytes())
        (second / "root.key").chmod(0o600)
        with serve_in_thread(identities=ids, data_dir=second, store_url=store, console=True) as b:
            on_a, on_b = Browser(a.url), Browser(b.url)
            on_a.sign_in("AKIAADMINEXAMPLE0001", "admin-secret")
            on_b.cookies = on_a.cookies  # one browser, its requests spread over two servers
            status, _, page = on_b.request("GET", "/console/create")
            assert status == 200 and ADMIN_ARN in page
            status, headers, _ = on_b.request(
                "POST", "/console/create", {"csrf": on_a.csrf(page), "Description": "shared"}
            )
            assert status == 303
            status, _, key_page = on_a.request("GET", headers["location"])
            assert status == 200 and "Created key" in key_page  # the message, on the other
            _, _, page = on_a.request("GET", "/console/keys")
            kept = dict(on_a.cookies)
            status, _, _ = on_a.request("POST", "/console/signout", {"csrf": on_a.csrf(page)})
            assert status == 303
            replay = Browser(b.url)
            replay.cookies = kept
            assert replay.request("GET", "/console/keys")[0] == 303  # ended on b too


def test_a_cross_site_post_is_refused_by_its_origin(endpoint: Any) -> None:
    """The attack: another site's page posts a console form with the victim's cookie (were
    SameSite ignored). Its Origin names the other site: refused before any check of the form."""
    browser = Browser(endpoint.url)
    browser.sign_in("AKIAADMINEXAMPLE0001", "admin-secret")
    _, _, page = browser.request("GET", "/console/create")
    form = {"csrf": browser.csrf(page), "Description": "cross-site"}
    for origin in ("https://evil.example", "null"):
        status, _, body = browser.request("POST", "/console/create", form, {"Origin": origin})
        assert status == 403 and "cross-origin" in body
    own = f"http://{browser.host}:{browser.port}"
    assert browser.request("POST", "/console/create", form, {"Origin": own})[0] == 303


def test_the_development_console_answers_only_loopback_names() -> None:
    """The attack: DNS rebinding. A page of evil.example whose name now resolves to 127.0.0.1
    is same-origin with the console and could press "sign in as the development identity"; its
    requests carry `Host: evil.example`, which the development console does not answer."""
    with serve_in_thread(console=True) as running:
        browser = Browser(running.url)
        status, _, _ = browser.request("GET", "/console/signin", extra={"Host": "evil.example:80"})
        assert status == 421
        assert browser.request("GET", "/console/signin", extra={"Host": "localhost"})[0] == 200
        _, _, page = browser.request("GET", "/console/signin")
        assert 'id="dev-signin"' in page
        status, _, _ = browser.request(
            "POST", "/console/signin", {"csrf": browser.csrf(page), "development": "1"}
        )
        assert status == 303 and "kmspolicy_session" in browser.cookies


def test_the_policy_editor_warns_of_a_lockout_and_the_service_refuses_it(endpoint: Any) -> None:
    browser = Browser(endpoint.url)
    browser.sign_in("AKIAADMINEXAMPLE0001", "admin-secret")
    _, _, page = browser.request("GET", "/console/create")
    _, headers, _ = browser.request("POST", "/console/create", {"csrf": browser.csrf(page)})
    key_id = headers["location"].split("/")[3].split("?")[0]
    _, _, editor = browser.request("GET", f"/console/keys/{key_id}/policy")
    assert "Enable IAM User Permissions" in editor and "LOCKOUT" not in editor
    locked = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": READER_ARN},
                    "Action": "kms:*",
                    "Resource": "*",
                }
            ],
        }
    )
    form = {"csrf": browser.csrf(editor), "policy": locked, "syntax": "json"}
    _, _, checked = browser.request(
        "POST", f"/console/keys/{key_id}/policy", {**form, "do": "check"}
    )
    assert "LOCKOUT" in checked and "+" in checked  # the warning, and the diff against the saved
    status, _, saved = browser.request(
        "POST", f"/console/keys/{key_id}/policy", {**form, "do": "save"}
    )
    assert status == 400 and "MalformedPolicyDocumentException" in saved


def test_the_access_matrix_without_the_solver_uses_the_decision_point(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A `[server]`-only install has no z3: each cell is the decision point's answer for a
    request without context, and a denial that read context keys says which."""
    from kmspolicy.kms.identities import Identities, Identity
    from kmspolicy.reasoning import MissingSolver
    from kmspolicy.server.console import access

    def no_solver(*_: Any, **__: Any) -> Any:
        raise MissingSolver("policy checks need the z3 solver")

    monkeypatch.setattr(access, "_who_can", no_solver)
    key = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": ADMIN_ARN},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": READER_ARN},
                    "Action": "kms:Decrypt",
                    "Resource": "*",
                    "Condition": {"StringEquals": {"kms:EncryptionContext:app": "reports"}},
                },
            ],
        }
    )
    directory = Identities([Identity.of(ADMIN_ARN), Identity.of(READER_ARN)])
    meta = {"Arn": key, "KeySpec": "SYMMETRIC_DEFAULT", "KeyUsage": "ENCRYPT_DECRYPT"}
    result = access.matrix(
        access.KeyFacts(policy, meta, access.key_context_of(meta, [], {})),
        directory,
        [ADMIN_ARN, READER_ARN],
        principal=READER_ARN,
        action="kms:Decrypt",
        context_text='{"kms:EncryptionContext:app": "reports"}',
    )
    assert result.engine == "decision point"
    assert result.cells[(ADMIN_ARN, "kms:PutKeyPolicy")].access == "allowed"
    reader = result.cells[(READER_ARN, "kms:Decrypt")]
    assert reader.access == "denied" and "kms:EncryptionContext:app" in reader.text
    assert result.simulated.startswith("allowed")  # the "why" panel, with the context given


#: IDENTITIES with an SCP denying DisableKey to everyone and a role with no IAM policy at all
GRANTS_IDENTITIES = IDENTITIES.replace(
    "identities:\n",
    """\
scps:
  - Version: "2012-10-17"
    Statement:
      - {Effect: Allow, Action: "*", Resource: "*"}
      - {Effect: Deny, Action: "kms:DisableKey", Resource: "*"}
identities:
""",
    1,
) + (
    f"  - arn: arn:aws:iam::{ACCOUNT}:role/app\n"
    "    access_key_id: AKIAAPPEXAMPLE000001\n"
    "    secret_access_key: app-secret\n"
)


def _button(page: str, key_id: str, action: str) -> str:
    """The submit button of the key page's form for ``action``."""
    match = re.search(
        rf'action="/console/keys/{key_id}/{action}\?[^"]*".*?(<button[^>]*>)', page, re.S
    )
    assert match, action
    return match.group(1)


def test_enabled_actions_are_the_services_full_decision_grants_and_scps_included(
    tmp_path: Path,
) -> None:
    """What the key page enables is what the API would allow: a principal allowed CreateGrant
    only by a grant has it enabled (and it works); one without the grant has it disabled; an
    SCP's denial disables DisableKey even for a principal whose IAM policy allows kms:*."""
    ids = tmp_path / "identities.yaml"
    ids.write_text(GRANTS_IDENTITIES)
    with serve_in_thread(identities=ids, data_dir=tmp_path, console=True) as running:
        admin, reader, app = (Browser(running.url) for _ in range(3))
        admin.sign_in("AKIAADMINEXAMPLE0001", "admin-secret")
        reader.sign_in("AKIAREADEREXAMPLE001", "reader-secret")
        app.sign_in("AKIAAPPEXAMPLE000001", "app-secret")
        _, _, page = admin.request("GET", "/console/create")
        _, headers, _ = admin.request("POST", "/console/create", {"csrf": admin.csrf(page)})
        key_id = headers["location"].split("/")[3].split("?")[0]
        _, _, page = admin.request("GET", f"/console/keys/{key_id}")
        assert "disabled" in _button(page, key_id, "disable")  # the SCP
        assert "disabled" not in _button(page, key_id, "rotate")
        status, _, answer = admin.request(
            "POST", f"/console/keys/{key_id}/disable", {"csrf": admin.csrf(page)}
        )
        assert status == 400 and "AccessDeniedException" in answer  # as the API decides
        status, _, _ = admin.request(
            "POST",
            f"/console/keys/{key_id}/grant",
            {
                "csrf": admin.csrf(page),
                "GranteePrincipal": f"arn:aws:iam::{ACCOUNT}:role/app",
                "Operations": "DescribeKey,CreateGrant",
            },
        )
        assert status == 303
        # the app has no IAM policy at all: the grant alone lets it describe the key and grant
        status, _, page = app.request("GET", f"/console/keys/{key_id}")
        assert status == 200 and key_id in page
        assert "disabled" not in _button(page, key_id, "grant")
        assert "disabled" in _button(page, key_id, "disable")
        assert "disabled" in _button(page, key_id, "rotate")
        # the reader may read but holds no grant: CreateGrant is disabled for it
        _, _, page = reader.request("GET", f"/console/keys/{key_id}")
        assert "disabled" in _button(page, key_id, "grant")
        assert "not allowed for you: kms:CreateGrant" in page
        # and the enabled form does what it promises, through the service
        _, _, page = app.request("GET", f"/console/keys/{key_id}")
        status, _, _ = app.request(
            "POST",
            f"/console/keys/{key_id}/grant",
            {
                "csrf": app.csrf(page),
                "GranteePrincipal": READER_ARN,
                "Operations": "DescribeKey",
            },
        )
        assert status == 303
        records = _audit(SimpleNamespace(data_dir=tmp_path))
        granted = [r for r in records if r["operation"] == "CreateGrant" and r["allowed"]]
        assert [r["principal"] for r in granted][-1] == f"arn:aws:iam::{ACCOUNT}:role/app"


def _matrix_cell(page: str, principal: str, action: str) -> tuple[str, str]:
    """The class and the text of one access-matrix cell."""
    match = re.search(
        rf'<td class="cell ([^"]+)" title="[^"]*" data-principal="{re.escape(principal)}" '
        rf'data-action="{re.escape(action)}"><a [^>]*>([^<]*)</a>',
        page,
    )
    assert match, (principal, action)
    return match.group(1), match.group(2)


def test_the_access_matrix_covers_the_keys_actions_with_its_properties_and_grants(
    tmp_path: Path,
) -> None:
    """An HMAC key: the matrix lists the MAC actions and not the encryption or signing ones;
    a statement conditioned on the key's spec is decided with the key's properties (allowed,
    not "allowed only if"); a cell only a grant allows is marked as the grant's."""
    ids = tmp_path / "identities.yaml"
    ids.write_text(GRANTS_IDENTITIES)
    app_arn = f"arn:aws:iam::{ACCOUNT}:role/app"
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Effect": "Allow",
                "Principal": {"AWS": READER_ARN},
                "Action": "kms:GenerateMac",
                "Resource": "*",
                "Condition": {"StringEquals": {"kms:KeySpec": "HMAC_256"}},
            },
        ],
    }
    with serve_in_thread(identities=ids, data_dir=tmp_path, console=True) as running:
        admin = Browser(running.url)
        admin.sign_in("AKIAADMINEXAMPLE0001", "admin-secret")
        _, _, page = admin.request("GET", "/console/create")
        form = {
            "csrf": admin.csrf(page),
            "KeySpec": "HMAC_256",
            "KeyUsage": "GENERATE_VERIFY_MAC",
            "Policy": json.dumps(policy),
        }
        _, headers, _ = admin.request("POST", "/console/create", form)
        key_id = headers["location"].split("/")[3].split("?")[0]
        _, _, page = admin.request("GET", f"/console/keys/{key_id}")
        grant = {"csrf": admin.csrf(page), "GranteePrincipal": app_arn, "Operations": "VerifyMac"}
        assert admin.request("POST", f"/console/keys/{key_id}/grant", grant)[0] == 303
        status, _, page = admin.request("GET", f"/console/keys/{key_id}/access")
        assert status == 200
        actions = set(re.findall(r'<th scope="row">(kms:\w+)</th>', page))
        assert {
            "kms:GenerateMac",
            "kms:VerifyMac",
            "kms:CreateGrant",
            "kms:PutKeyPolicy",
        } <= actions
        assert not actions & {"kms:Encrypt", "kms:Sign", "kms:ImportKeyMaterial"}
        assert _matrix_cell(page, READER_ARN, "kms:GenerateMac")[0] == "allowed"  # HMAC_256
        assert _matrix_cell(page, READER_ARN, "kms:VerifyMac")[0] == "denied"
        access, text = _matrix_cell(page, app_arn, "kms:VerifyMac")
        assert access == "grant" and text.startswith("allowed by grant")
        assert _matrix_cell(page, app_arn, "kms:GenerateMac")[0] == "denied"
        assert _matrix_cell(page, ADMIN_ARN, "kms:DisableKey")[0] == "denied"  # the SCP


def test_the_decision_log_checks_only_what_was_appended_since_its_last_view(
    tmp_path: Path,
) -> None:
    """The chain is checked from the start once, then each view continues from where the
    last one ended; an edit further back is found by the whole-chain check the page offers."""
    ids = tmp_path / "identities.yaml"
    ids.write_text(IDENTITIES)
    store = f"sqlite:///{tmp_path}/kms.db"
    with serve_in_thread(
        identities=ids, data_dir=tmp_path, store_url=store, console=True
    ) as running:
        admin = Browser(running.url)
        admin.sign_in("AKIAADMINEXAMPLE0001", "admin-secret")
        for view in range(2):  # a key created, then the log viewed: twice
            _, _, page = admin.request("GET", "/console/create")
            admin.request("POST", "/console/create", {"csrf": admin.csrf(page)})
            _, _, page = admin.request("GET", "/console/log")
            assert view or "Checked now from the first record" in page
        assert "Chain intact" in page
        match = re.search(r"Records 1–(\d+) were checked by an earlier view", page)
        assert match and int(match.group(1)) >= 1
        # an edit of the first record, same size: the incremental view does not read it...
        log = tmp_path / "audit.log"
        lines = log.read_bytes().splitlines(keepends=True)
        request_id = json.loads(lines[0])["request_id"]
        edited = request_id[:-1] + ("0" if request_id[-1] != "0" else "1")
        lines[0] = lines[0].replace(request_id.encode(), edited.encode())
        log.write_bytes(b"".join(lines))
        _, _, page = admin.request("GET", "/console/log")
        assert "Chain intact" in page and "checked by an earlier view" in page
        # ...the whole-chain check the page links to does
        assert 'href="?verify=full"' in page
        _, _, page = admin.request("GET", "/console/log?verify=full")
        assert "Chain broken" in page and "modified" in page


def test_the_log_view_reads_the_last_lines_from_the_end(tmp_path: Path) -> None:
    from kmspolicy.server.console.decisions import _last_lines

    path = tmp_path / "log"
    lines = [f"line {n} {'x' * (n % 37)}\n".encode() for n in range(3000)]
    path.write_bytes(b"".join(lines))
    for count in (1, 7, 200, 2999, 3000, 5000):
        assert _last_lines(path, count, block=512) == lines[-count:]
    path.write_bytes(b"")
    assert _last_lines(path, 10) == []


def test_the_keys_list_is_paged_like_list_keys_and_describes_only_its_page(
    tmp_path: Path,
) -> None:
    """55 keys: the first page shows 50 and links to the next, which shows 5; each page
    costs one ListKeys and the reads of its own rows, all audited as the principal."""
    ids = tmp_path / "identities.yaml"
    ids.write_text(IDENTITIES)
    store = f"sqlite:///{tmp_path}/kms.db"
    with serve_in_thread(
        identities=ids, data_dir=tmp_path, store_url=store, console=True
    ) as running:
        api = running.client(
            aws_access_key_id="AKIAADMINEXAMPLE0001", aws_secret_access_key="admin-secret"
        )
        made = [api.create_key(Description=f"key {n}")["KeyMetadata"]["KeyId"] for n in range(55)]
        api.tag_resource(KeyId=made[-1], Tags=[{"TagKey": "team", "TagValue": "needle"}])
        admin = Browser(running.url)
        admin.sign_in("AKIAADMINEXAMPLE0001", "admin-secret")
        endpoint = SimpleNamespace(data_dir=tmp_path)
        before = len(_audit(endpoint))
        status, _, page = admin.request("GET", "/console/keys")
        assert status == 200 and "50 key(s)" in page
        calls = [r for r in _audit(endpoint)[before:] if r["principal"] == ADMIN_ARN]
        operations = [r["operation"] for r in calls]
        assert operations.count("ListKeys") == 1 and operations.count("DescribeKey") == 50
        assert operations.count("ListAliases") == 1  # once, not once per key
        match = re.search(r'href="\?([^"]+)" id="next-page"', page)
        assert match
        _, _, second = admin.request("GET", "/console/keys?" + match.group(1).replace("&amp;", "&"))
        assert "5 key(s)" in second and 'id="next-page"' not in second
        shown = set(re.findall(r"/console/keys/([0-9a-f-]{36})\?", page + second))
        assert shown == set(made)
        # a search by tag walks the pages itself and finds the one key
        _, _, found = admin.request("GET", "/console/keys?q=needle")
        assert "1 key(s) matching" in found and made[-1] in found


def test_update_the_description_and_replicate_a_multi_region_key(endpoint: Any) -> None:
    """The key page's description and replication forms are the principal's UpdateKeyDescription
    and ReplicateKey: done through the service, shown, and recorded."""
    admin = Browser(endpoint.url)
    admin.sign_in("AKIAADMINEXAMPLE0001", "admin-secret")
    _, _, page = admin.request("GET", "/console/create")
    _, headers, _ = admin.request(
        "POST", "/console/create", {"csrf": admin.csrf(page), "MultiRegion": "on"}
    )
    key_id = headers["location"].split("/")[3].split("?")[0]
    _, _, page = admin.request("GET", f"/console/keys/{key_id}")
    assert 'id="replicate"' in page and 'name="Description"' in page
    status, headers, _ = admin.request(
        "POST",
        f"/console/keys/{key_id}/description",
        {"csrf": admin.csrf(page), "Description": "payments <b>2026</b>"},
    )
    assert status == 303
    status, headers, _ = admin.request(
        "POST",
        f"/console/keys/{key_id}/replicate",
        {"csrf": admin.csrf(page), "ReplicaRegion": "eu-west-1"},
    )
    assert status == 303
    _, _, page = admin.request("GET", headers["location"])
    assert f"Replicated: arn:aws:kms:eu-west-1:{ACCOUNT}:key/{key_id}" in page
    assert "payments &lt;b&gt;2026&lt;/b&gt;" in page  # escaped, never markup
    _, _, replica = admin.request("GET", f"/console/keys/{key_id}?region=eu-west-1")
    assert "REPLICA" in replica or "multi-Region" in replica
    assert 'id="replicate"' not in replica  # a replica is not replicated
    operations = [r["operation"] for r in _audit(endpoint) if r["principal"] == ADMIN_ARN]
    assert "UpdateKeyDescription" in operations and "ReplicateKey" in operations
    # a Region the service refuses (the key's own): the API's error, inline
    status, _, answer = admin.request(
        "POST",
        f"/console/keys/{key_id}/replicate",
        {"csrf": admin.csrf(page), "ReplicaRegion": "us-east-1"},
    )
    assert status == 400 and "ReplicateKey: AlreadyExistsException" in answer


def _import_files(browser: Browser, key_id: str, page: str, algorithm: str) -> dict[str, bytes]:
    """The key page's first step: GetParametersForImport, downloaded as a ZIP file."""
    status, headers, _ = browser.request(
        "POST",
        f"/console/keys/{key_id}/import-parameters",
        {"csrf": browser.csrf(page), "WrappingAlgorithm": algorithm, "WrappingKeySpec": "RSA_2048"},
    )
    assert status == 200 and headers["content-type"] == "application/zip"
    assert headers["content-disposition"] == f'attachment; filename="ImportParameters-{key_id}.zip"'
    with zipfile.ZipFile(io.BytesIO(browser.last_body)) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    assert set(files) == {"WrappingPublicKey.bin", "ImportToken.bin", "README.txt"}
    assert algorithm in files["README.txt"].decode()
    return files


def test_import_key_material_through_the_console(endpoint: Any) -> None:
    """An EXTERNAL key's page: download the wrapping public key and import token, wrap 32 bytes
    with that public key as a user would, upload them: the key is Enabled, encrypts and
    decrypts, and both steps are the principal's audited requests. New material for rotation
    is imported the same way; a bad upload and a principal without permission get the API's
    errors inline."""
    from kmspolicy.crypto.wrapping import wrap_key_material

    admin, reader = Browser(endpoint.url), Browser(endpoint.url)
    admin.sign_in("AKIAADMINEXAMPLE0001", "admin-secret")
    _, _, page = admin.request("GET", "/console/create")
    _, headers, _ = admin.request(
        "POST", "/console/create", {"csrf": admin.csrf(page), "Origin": "EXTERNAL"}
    )
    key_id = headers["location"].split("/")[3].split("?")[0]
    _, _, page = admin.request("GET", f"/console/keys/{key_id}")
    assert "PendingImport" in page and 'enctype="multipart/form-data"' in page
    files = _import_files(admin, key_id, page, "RSAES_OAEP_SHA_256")
    material = os.urandom(32)
    wrapped = wrap_key_material(files["WrappingPublicKey.bin"], "RSAES_OAEP_SHA_256", material)
    upload = {"csrf": admin.csrf(page), "ExpirationModel": "KEY_MATERIAL_EXPIRES"}
    # the server's clock is the real one here; AWS allows up to 365 days
    valid_to = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")
    # a ValidTo that is no time: the service's validation error, inline; nothing imported
    status, _, answer = admin.upload(
        f"/console/keys/{key_id}/import-material",
        {**upload, "ValidTo": "next tuesday"},
        {"EncryptedKeyMaterial": wrapped, "ImportToken": files["ImportToken.bin"]},
    )
    assert status == 400 and "ImportKeyMaterial: SerializationException" in answer
    # material wrapped for another public key does not unwrap
    _, _, page = admin.request("GET", f"/console/keys/{key_id}")
    other = _import_files(admin, key_id, page, "RSAES_OAEP_SHA_256")
    status, _, answer = admin.upload(
        f"/console/keys/{key_id}/import-material",
        {**upload, "ValidTo": valid_to},
        {"EncryptedKeyMaterial": wrapped, "ImportToken": other["ImportToken.bin"]},
    )
    assert status == 400 and "ImportKeyMaterial: InvalidCiphertextException" in answer
    # the matching pair: wrap again for the newest public key, which its token fits
    wrapped = wrap_key_material(other["WrappingPublicKey.bin"], "RSAES_OAEP_SHA_256", material)
    status, headers, answer = admin.upload(
        f"/console/keys/{key_id}/import-material",
        {**upload, "ValidTo": valid_to},
        {"EncryptedKeyMaterial": wrapped, "ImportToken": other["ImportToken.bin"]},
    )
    assert status == 303, re.findall(r'id="action-error">([^<]*)', answer)
    _, _, page = admin.request("GET", headers["location"])
    assert "Imported key material" in page and 'id="key-state">Enabled<' in page
    assert "KEY_MATERIAL_EXPIRES" in page and "Imported key material expires" in page
    api = boto3.client(
        "kms",
        endpoint_url=endpoint.url,
        region_name="us-east-1",
        aws_access_key_id="AKIAADMINEXAMPLE0001",
        aws_secret_access_key="admin-secret",
    )
    blob = api.encrypt(KeyId=key_id, Plaintext=b"imported")["CiphertextBlob"]
    assert api.decrypt(CiphertextBlob=blob)["Plaintext"] == b"imported"

    # new material for an on-demand rotation (symmetric keys), then "Rotate now"
    files = _import_files(admin, key_id, page, "RSA_AES_KEY_WRAP_SHA_256")
    wrapped = wrap_key_material(
        files["WrappingPublicKey.bin"], "RSA_AES_KEY_WRAP_SHA_256", os.urandom(32)
    )
    status, _, _ = admin.upload(
        f"/console/keys/{key_id}/import-material",
        {
            "csrf": admin.csrf(page),
            "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE",
            "ImportType": "NEW_KEY_MATERIAL",
        },
        {"EncryptedKeyMaterial": wrapped, "ImportToken": files["ImportToken.bin"]},
    )
    assert status == 303
    status, headers, _ = admin.request(
        "POST", f"/console/keys/{key_id}/rotate", {"csrf": admin.csrf(page)}
    )
    assert status == 303
    _, _, page = admin.request("GET", headers["location"])
    assert "RotateKeyOnDemand: done" in page
    # the rotation completes moments later (the service's due work, on the real clock here)
    deadline = time.monotonic() + 10
    while "Rotated (on_demand)" not in page:
        assert time.monotonic() < deadline, "the on-demand rotation never completed"
        time.sleep(0.25)
        _, _, page = admin.request("GET", f"/console/keys/{key_id}")
    # the reader may read the key but not import into it: AccessDenied inline, audited
    reader.sign_in("AKIAREADEREXAMPLE001", "reader-secret")
    _, _, page = reader.request("GET", f"/console/keys/{key_id}")
    status, _, answer = reader.upload(
        f"/console/keys/{key_id}/import-material",
        {"csrf": reader.csrf(page), "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"},
        {"EncryptedKeyMaterial": wrapped, "ImportToken": files["ImportToken.bin"]},
    )
    assert status == 400 and "ImportKeyMaterial: AccessDeniedException" in answer
    records = [r for r in _audit(endpoint) if key_id in json.dumps(r)]
    by = {(r["operation"], r["principal"], r["decision"]) for r in records}
    assert ("GetParametersForImport", ADMIN_ARN, "allowed") in by
    assert ("ImportKeyMaterial", ADMIN_ARN, "allowed") in by
    assert ("ImportKeyMaterial", READER_ARN, "implicitDeny") in by
