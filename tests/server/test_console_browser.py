"""The web console in a real browser (issue 16): Playwright drives Debian's headless Chromium
(``/usr/bin/chromium``; ``.ci/run`` installs it) through the stories a person follows:

- the whole story once: sign in, create a key with a policy, see a denial in the access
  matrix, fix the policy in the editor, see the cell turn allowed, rotate, schedule deletion,
  find every step in the decision log, sign out;
- importing key material: an EXTERNAL key, its public key and import token downloaded, the
  material wrapped with that key as a user would, uploaded, the key Enabled;
- a principal with little permission: what it may not read is not shown, a refused action
  is the API's AccessDeniedException inline, and the decision log shows it denied.

Then what no story shows, on every main page: the accessibility tree and the keyboard, and
the colour contrast of every text and focus outline (WCAG 1.4.3 and 1.4.11).

One browser and one server for the module: a browser start costs a second or two.
"""

from __future__ import annotations

import io
import json
import os
import re
import textwrap
import zipfile
from collections.abc import Iterator, Mapping
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from kmspolicy.server.thread import serve_in_thread

CHROMIUM = Path(os.environ.get("KMSPOLICY_CHROMIUM", "/usr/bin/chromium"))
pytestmark = [
    pytest.mark.server,
    pytest.mark.skipif(
        not CHROMIUM.exists() and not os.environ.get("CI"),
        reason="needs Debian's chromium (.ci/run installs it)",
    ),
]

ACCOUNT = "111122223333"
ADMIN = f"arn:aws:iam::{ACCOUNT}:user/admin"
APP = f"arn:aws:iam::{ACCOUNT}:role/App"
AUDITOR = f"arn:aws:iam::{ACCOUNT}:user/auditor"
IDENTITIES = textwrap.dedent(
    f"""\
    account: "{ACCOUNT}"
    region: us-east-1
    identities:
      - arn: {ADMIN}
        access_key_id: AKIAADMINEXAMPLE0001
        secret_access_key: admin-secret
        policies:
          - Version: "2012-10-17"
            Statement: [{{Effect: Allow, Action: "kms:*", Resource: "*"}}]
      - arn: {APP}
        access_key_id: AKIAAPPEXAMPLE000001
        secret_access_key: app-secret
      # lists the keys; may read a key only where its key policy says, and may schedule a
      # deletion only with the longest waiting period
      - arn: {AUDITOR}
        access_key_id: AKIAAUDITOREXAMPLE01
        secret_access_key: auditor-secret
        policies:
          - Version: "2012-10-17"
            Statement:
              - {{Effect: Allow, Action: ["kms:ListKeys", "kms:ListAliases"], Resource: "*"}}
    """
)


def _policy(*statements: Mapping[str, object]) -> str:
    admin = {
        "Sid": "Admin",
        "Effect": "Allow",
        "Principal": {"AWS": ADMIN},
        "Action": "kms:*",
        "Resource": "*",
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [admin, *statements]}, indent=2)


APP_DECRYPTS = {
    "Sid": "AppDecrypts",
    "Effect": "Allow",
    "Principal": {"AWS": APP},
    "Action": "kms:Decrypt",
    "Resource": "*",
}


def _cell(page: Page, principal: str, action: str) -> Any:
    return page.locator(f'td[data-principal="{principal}"][data-action="{action}"]')


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    tmp = tmp_path_factory.mktemp("console-browser")
    ids = tmp / "identities.yaml"
    ids.write_text(IDENTITIES)
    with serve_in_thread(
        identities=ids, data_dir=tmp, store_url=f"sqlite:///{tmp}/kms.db", console=True
    ) as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield browser
        browser.close()


def _signed_in(chromium: Browser, server: Any, key_id: str, secret: str) -> Page:
    page = chromium.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.set_default_timeout(15_000)
    page.goto(server.url + "/console/")
    page.get_by_label("Access key id").fill(key_id)
    page.get_by_label("Secret access key").fill(secret)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url("**/console/keys")
    return page


def test_the_console_story_in_headless_chromium(server: Any, chromium: Browser) -> None:
    console = server.url + "/console"
    # sign in
    page = _signed_in(chromium, server, "AKIAADMINEXAMPLE0001", "admin-secret")
    assert ADMIN in page.content()

    # create a key whose policy leaves the app out
    page.get_by_role("link", name="Create key").click()
    page.get_by_label("Description").fill("browser story")
    page.get_by_label("Key policy", exact=False).fill(_policy())
    page.locator("#create-key").click()
    page.wait_for_url("**/console/keys/*")
    assert "Created key" in page.locator(".flash").inner_text()
    key_url = page.url

    # the access matrix: the app may not decrypt
    page.get_by_role("link", name="Access", exact=True).click()
    assert "denied" in _cell(page, APP, "kms:Decrypt").inner_text()

    # fix the policy in the editor: live diagnostics, then save
    page.goto(key_url.split("?")[0] + "/policy")
    editor = page.locator("#policy-text")
    editor.fill('{"Version": "2012-10-17", "Statement": [')
    page.locator("#diagnostics li.sev-ERROR").first.wait_for()  # checked server-side
    lockout = json.dumps({"Version": "2012-10-17", "Statement": [APP_DECRYPTS]})
    editor.fill(lockout)  # the admin would lock itself out: said before saving
    page.locator("#diagnostics li", has_text="LOCKOUT").wait_for()
    editor.fill(_policy(APP_DECRYPTS))
    page.locator("#save-policy").click()
    page.wait_for_url("**/policy?**")
    assert "Saved the key policy" in page.locator(".flash").inner_text()

    # the cell turns allowed
    page.goto(key_url.split("?")[0] + "/access")
    assert _cell(page, APP, "kms:Decrypt").inner_text().strip() == "allowed"

    # rotate now, then schedule deletion
    page.goto(key_url)
    page.locator("#rotate-now").click()
    assert "RotateKeyOnDemand: done" in page.locator(".flash").inner_text()
    page.locator("#schedule-deletion").click()
    assert "Deletion scheduled" in page.locator(".flash").inner_text()
    assert page.locator("#key-state").inner_text() == "PendingDeletion"

    # every step is in the decision log, and the chain verifies
    page.get_by_role("link", name="Decision log").click()
    log = page.locator("#decision-log").inner_text()
    for operation in ("CreateKey", "PutKeyPolicy", "RotateKeyOnDemand", "ScheduleKeyDeletion"):
        assert operation in log, operation
    assert "Chain intact" in page.locator("#chain-state").inner_text()

    # sign out: the pages are gone
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/console/signin")
    page.goto(console + "/keys")
    assert page.url.endswith("/console/signin")


def test_import_key_material_in_headless_chromium(
    server: Any, chromium: Browser, tmp_path: Path
) -> None:
    """An EXTERNAL key: download its import parameters, wrap 32 bytes with the downloaded
    public key (the user's side, outside the console), upload them with the token."""
    from kmspolicy.crypto.wrapping import wrap_key_material

    page = _signed_in(chromium, server, "AKIAADMINEXAMPLE0001", "admin-secret")
    page.get_by_role("link", name="Create key").click()
    page.get_by_label("Origin").select_option("EXTERNAL")
    page.get_by_label("Description").fill("bring your own key")
    page.locator("#create-key").click()
    page.wait_for_url("**/console/keys/*")
    assert page.locator("#key-state").inner_text() == "PendingImport"

    page.get_by_label("Wrapping algorithm").select_option("RSA_AES_KEY_WRAP_SHA_256")
    with page.expect_download() as downloading:
        page.locator("#import-parameters").click()
    download = downloading.value
    assert download.suggested_filename.startswith("ImportParameters-")
    with zipfile.ZipFile(io.BytesIO(Path(download.path()).read_bytes())) as archive:
        public_key = archive.read("WrappingPublicKey.bin")
        (tmp_path / "ImportToken.bin").write_bytes(archive.read("ImportToken.bin"))
    wrapped = wrap_key_material(public_key, "RSA_AES_KEY_WRAP_SHA_256", os.urandom(32))
    (tmp_path / "EncryptedKeyMaterial.bin").write_bytes(wrapped)

    # without the token the service refuses: its validation error inline, nothing imported
    page.get_by_label("Wrapped key material").set_input_files(tmp_path / "EncryptedKeyMaterial.bin")
    page.locator("#itoken").evaluate("input => input.removeAttribute('required')")
    page.locator("#import-material").click()
    assert "ImportKeyMaterial: ValidationException" in page.locator("#action-error").inner_text()
    assert page.locator("#key-state").inner_text() == "PendingImport"

    page.get_by_label("Wrapped key material").set_input_files(tmp_path / "EncryptedKeyMaterial.bin")
    page.get_by_label("Import token").set_input_files(tmp_path / "ImportToken.bin")
    page.get_by_label("Expiration", exact=True).select_option("KEY_MATERIAL_DOES_NOT_EXPIRE")
    page.locator("#import-material").click()
    assert "Imported key material" in page.locator(".flash").inner_text()
    assert page.locator("#key-state").inner_text() == "Enabled"
    assert "KEY_MATERIAL_DOES_NOT_EXPIRE" in page.locator("#key-material").inner_text()


def test_a_principal_with_little_permission_in_headless_chromium(
    server: Any, chromium: Browser
) -> None:
    """The auditor may list keys and read one key (its key policy says so), and schedule that
    key's deletion only with the 30-day waiting period. The keys list shows the other key's id
    (ListKeys gives it) and nothing ListKeys does not; a 7-day deletion is refused inline as
    the API refuses it; the decision log shows the auditor its denied request."""
    admin = _signed_in(chromium, server, "AKIAADMINEXAMPLE0001", "admin-secret").context.request
    reads = {
        "Sid": "AuditorReads",
        "Effect": "Allow",
        "Principal": {"AWS": AUDITOR},
        "Action": ["kms:DescribeKey", "kms:ListResourceTags"],
        "Resource": "*",
    }
    deletes = {
        "Sid": "AuditorDeletesSlowly",
        "Effect": "Allow",
        "Principal": {"AWS": AUDITOR},
        "Action": "kms:ScheduleKeyDeletion",
        "Resource": "*",
        "Condition": {"NumericEquals": {"kms:ScheduleKeyDeletionPendingWindowInDays": 30}},
    }
    readable_id = _create(server, admin, "audited payments", _policy(reads, deletes))
    secret_id = _create(server, admin, "secret ledger", _policy())

    page = _signed_in(chromium, server, "AKIAAUDITOREXAMPLE01", "auditor-secret")
    keys = page.locator("table.keys")
    row = keys.locator("tr", has_text=secret_id)
    assert "AccessDeniedException" in row.inner_text()  # its id, then only the refusal
    assert "secret ledger" not in keys.inner_text()
    assert "audited payments" in keys.locator("tr", has_text=readable_id).inner_text()

    page.get_by_role("link", name=readable_id).click()
    assert page.locator("#key-state").inner_text() == "Enabled"
    page.get_by_label("Waiting period (days, 7–30)").fill("7")
    page.locator("#schedule-deletion").click()
    error = page.locator("#action-error").inner_text()
    assert error.startswith("ScheduleKeyDeletion: AccessDeniedException")
    assert page.locator("#key-state").inner_text() == "Enabled"

    page.get_by_role("link", name="Decision log").click()
    page.get_by_label("Action").fill("ScheduleKeyDeletion")
    page.get_by_label("Decision").select_option("implicitDeny")
    page.get_by_role("button", name="Filter").click()
    [denied] = page.locator("#decision-log tbody tr").all()
    assert readable_id in denied.inner_text() and "implicitDeny" in denied.inner_text()
    assert ADMIN not in page.locator("#decision-log").inner_text()  # its own records only


def _create(server: Any, request: Any, description: str, policy: str) -> str:
    """CreateKey as the admin through the console's own form (the page's CSRF token)."""
    page = request.get(server.url + "/console/create").text()
    token = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    answer = request.post(
        server.url + "/console/create",
        form={"csrf": token, "Description": description, "Policy": policy},
        max_redirects=0,
    )
    assert answer.status == 303, answer.text()
    return str(answer.headers["location"]).split("/")[3].split("?")[0]


# --- accessibility, checked on Chromium's accessibility tree (Playwright's aria snapshot)

#: roles of the controls a user operates: each must have an accessible name
CONTROLS = frozenset(
    {"button", "checkbox", "combobox", "listbox", "radio", "searchbox", "slider", "spinbutton"}
    | {"switch", "textbox"}
)
_NODE = re.compile(r'^(\s*)- (\w+)(?: "((?:[^"\\]|\\.)*)")?(.*)$')


def _nodes(snapshot: str) -> list[tuple[int, str, str, str]]:
    """(depth, role, name, rest) of each node of an aria snapshot (its YAML, line by line)."""
    out = []
    for line in snapshot.splitlines():
        match = _NODE.match(line)
        if match and match.group(2) not in ("text", "paragraph"):
            indent, role, name, rest = match.groups()
            out.append((len(indent) // 2, role, name or "", rest))
    return out


def _check_tree(page: Page, signed_in: bool) -> None:
    nodes = _nodes(page.locator("body").aria_snapshot())
    top = {role for depth, role, _, _ in nodes if depth == 0}
    assert {"banner", "main"} <= top, top
    navigation = [name for _, role, name, _ in nodes if role == "navigation"]
    assert ("Main" in navigation) == signed_in
    # every control has a name, and no two buttons of the page's content share one
    unnamed = [(role, rest) for _, role, name, rest in nodes if role in CONTROLS and not name]
    assert not unnamed, unnamed
    assert all(name for _, role, name, _ in nodes if role == "columnheader")
    start = next(i for i, node in enumerate(nodes) if node[:2] == (0, "main"))
    buttons = [name for _, role, name, _ in nodes[start:] if role == "button"]
    assert len(buttons) == len(set(buttons)), sorted(buttons)
    # one h1, first; no level skipped on the way down
    levels = [
        int(level)
        for _, role, _, rest in nodes
        if role == "heading"
        for level in re.findall(r"\[level=(\d)\]", rest)
    ]
    assert levels[0] == 1 and levels.count(1) == 1, levels
    assert all(b <= a + 1 for a, b in pairwise(levels)), levels


def _tab_reaches(page: Page, targets: list[str], limit: int = 400) -> None:
    """From the top of the page: the first Tab is the skip link, which moves the keyboard into
    the main content; Tab then reaches each target (a CSS selector), and every element that
    takes the focus on the way shows it (an outline)."""
    page.locator("body").focus()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate("document.getElementById('main').contains(document.activeElement)")
    left = list(targets)
    for _ in range(limit):
        focused = page.evaluate_handle("document.activeElement")
        style = page.evaluate(
            "e => { const s = getComputedStyle(e); return [s.outlineStyle, s.outlineWidth] }",
            focused,
        )
        assert style[0] != "none" and style[1] != "0px", (style, focused)
        left = [t for t in left if not page.evaluate("([e, t]) => e.matches(t)", [focused, t])]
        if not left:
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {left}")


def test_every_main_page_is_accessible_and_keyboard_usable(server: Any, chromium: Browser) -> None:
    """Landmarks (banner, navigation once signed in, main), a name for every control, one h1
    and no skipped heading level, and the keyboard: skip link first, then Tab reaches each
    page's main actions with the focus visible; at 390 px no page scrolls sideways."""
    page = chromium.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.set_default_timeout(15_000)
    page.goto(server.url + "/console/signin")
    _check_tree(page, signed_in=False)
    _tab_reaches(page, ["#akid", "#secret", "button[type=submit]"])

    api = server.client(
        aws_access_key_id="AKIAADMINEXAMPLE0001", aws_secret_access_key="admin-secret"
    )
    key = api.create_key(Description="accessible")["KeyMetadata"]["KeyId"]
    api.create_alias(AliasName="alias/accessible", TargetKeyId=key)
    api.create_alias(AliasName="alias/accessible-2", TargetKeyId=key)
    api.tag_resource(KeyId=key, Tags=[{"TagKey": "team", "TagValue": "a11y"}])
    api.create_grant(KeyId=key, GranteePrincipal=APP, Operations=["Decrypt"], Name="app")
    external = api.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    page.close()
    page = _signed_in(chromium, server, "AKIAADMINEXAMPLE0001", "admin-secret")
    console = server.url + "/console"
    for path, targets in (
        ("/keys", ["#q", f'a[href*="{key}"]']),
        (f"/keys/{key}", ["#rotate-now", "#schedule-deletion", "#alias"]),
        (f"/keys/{external}", ["#import-parameters", "#wrapped", "#import-material"]),
        ("/create", ["#spec", "#policy", "#create-key"]),
        (f"/keys/{key}/policy", ["#policy-text", "#save-policy"]),
        (f"/keys/{key}/access", ["#sim-p", "#sim-c"]),
        ("/log", ["#f-principal", "#verify-full"]),
    ):
        page.set_viewport_size({"width": 1280, "height": 900})
        page.goto(console + path)
        _check_tree(page, signed_in=True)
        _tab_reaches(page, targets)
        # on a narrow screen the page does not scroll sideways: wide tables scroll in their box
        page.set_viewport_size({"width": 390, "height": 800})
        assert page.evaluate("document.documentElement.scrollWidth <= innerWidth"), path


# --- colour contrast (WCAG 2.x), measured on the computed styles Chromium renders with

#: functions both page scripts use: a computed colour as [r, g, b, alpha] (any other form than
#: rgb()/rgba() throws, and fails the test, rather than being skipped); the opacity an element
#: is drawn with (its own times its ancestors'); its background as [r, g, b, alpha], or an
#: error when it has an image or gradient (no single colour to compare with: fail, not skip);
#: a short name of an element for the failure message
_HELPERS = r"""
  const rgba = (s) => {
    const m = s.match(/^rgba?\(([\d.]+), ([\d.]+), ([\d.]+)(?:, ([\d.]+))?\)$/);
    if (!m) throw new Error('unparsed colour ' + s);
    return [+m[1], +m[2], +m[3], m[4] === undefined ? 1 : +m[4]];
  };
  const opacity = (e) => {
    let o = 1;
    for (; e; e = e.parentElement) o *= +getComputedStyle(e).opacity;
    return o;
  };
  const background = (e) => {
    const s = getComputedStyle(e);
    if (s.backgroundImage !== 'none') throw new Error(
      'contrast not computable over a background image: ' + s.backgroundImage + ' on '
      + e.outerHTML.slice(0, 80));
    const c = rgba(s.backgroundColor);
    c[3] *= opacity(e);
    return c;
  };
  const name = (e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
    + (e.className ? '.' + e.className : '') + ' '
    + JSON.stringify((e.innerText || e.value || e.name || '').trim().slice(0, 40));
"""

#: per element that has its own visible text (a text node, or a form field's value): its text
#: colour, size and weight, and the backgrounds from it up to the root, innermost first
_TEXT_COLOURS = (
    "() => {"
    + _HELPERS
    + """
  const FIELDS = 'input:not([type=hidden]):not([type=checkbox]):not([type=radio])'
    + ':not([type=file]), select';
  const out = [];
  for (const e of document.body.querySelectorAll('*')) {
    const own = [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())
      || (e.matches(FIELDS) && e.value);
    if (!own) continue;
    const r = e.getBoundingClientRect(), s = getComputedStyle(e);
    // not drawn, or only for screen readers (.vh is 1 px), or moved off the page (.skip)
    if (r.width <= 1 || r.height <= 1 || r.right <= 0 || s.visibility !== 'visible') continue;
    const fg = rgba(s.color), layers = [];
    fg[3] *= opacity(e);
    for (let p = e; p; p = p.parentElement) layers.push(background(p));
    out.push({what: name(e), fg, size: parseFloat(s.fontSize), weight: +s.fontWeight, layers});
  }
  // an empty field's placeholder is text too (a hint of the form expected)
  for (const e of document.body.querySelectorAll('[placeholder]')) {
    const r = e.getBoundingClientRect();
    if (e.value || r.width <= 1 || r.height <= 1) continue;
    const s = getComputedStyle(e, '::placeholder'), fg = rgba(s.color), layers = [];
    fg[3] *= opacity(e);
    for (let p = e; p; p = p.parentElement) layers.push(background(p));
    out.push({what: name(e) + ' placeholder ' + JSON.stringify(e.placeholder), fg,
              size: parseFloat(s.fontSize), weight: +s.fontWeight, layers});
  }
  return out;
}"""
)

#: per focusable element, focused: its outline's colour and what lies under the outline (the
#: elements at a point of the outline's ring, topmost first, as the browser hit-tests them:
#: the skip link's outline is drawn over the header, though the header is not its ancestor)
_FOCUS_COLOURS = (
    "(e) => {"
    + _HELPERS
    + """
  e.focus();
  const s = getComputedStyle(e), r = e.getBoundingClientRect();
  if (s.outlineStyle === 'none' || document.activeElement !== e) return null;
  const ring = parseFloat(s.outlineOffset) + parseFloat(s.outlineWidth) / 2;
  const x = r.left - ring >= 0 ? r.left - ring : r.right + ring;
  const layers = document.elementsFromPoint(x, r.top + r.height / 2).map(background);
  return {what: name(e), fg: rgba(s.outlineColor), layers};
}"""
)

_CLASSES = "[...document.querySelectorAll('[class]')].flatMap(e => [...e.classList])"
_FOCUSABLE = "a[href], button, input:not([type=hidden]), select, textarea, [tabindex]"


def _over(top: list[float], below: tuple[float, float, float]) -> tuple[float, float, float]:
    """An RGBA colour composited over an opaque one."""
    alpha = top[3]
    return (
        top[0] * alpha + below[0] * (1 - alpha),
        top[1] * alpha + below[1] * (1 - alpha),
        top[2] * alpha + below[2] * (1 - alpha),
    )


def _luminance(rgb: tuple[float, float, float]) -> float:
    """WCAG 2.x relative luminance of an sRGB colour (channels 0-255)."""
    linear = [
        c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (x / 255 for x in rgb)
    ]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(fg: list[float], layers: list[list[float]]) -> float:
    """WCAG contrast ratio of a colour over the backgrounds (innermost first) laid on white."""
    background: tuple[float, float, float] = (255.0, 255.0, 255.0)
    for layer in reversed(layers):
        background = _over(layer, background)
    lighter, darker = sorted((_luminance(_over(fg, background)), _luminance(background)))[::-1]
    return (lighter + 0.05) / (darker + 0.05)


def test_contrast_formula() -> None:
    """The formula on known values: black on white is 21:1, a colour on itself 1:1, #767676 on
    white just passes 4.5:1 (the lightest grey that does), a half-transparent text is fainter,
    and white over half-transparent black on white is white on grey 127.5 (#808080: 3.95:1)."""
    assert _contrast([0, 0, 0, 1], []) == pytest.approx(21)
    assert _contrast([85, 85, 85, 1], [[85, 85, 85, 1]]) == pytest.approx(1)
    assert 4.5 < _contrast([0x76, 0x76, 0x76, 1], [[255, 255, 255, 1]]) < 4.6
    assert _contrast([0, 0, 0, 0.5], []) < _contrast([0, 0, 0, 1], [])
    assert 4.4 < _contrast([0x77, 0x77, 0x77, 1], []) < 4.5
    half = _contrast([255, 255, 255, 1], [[0, 0, 0, 0.5], [0, 0, 0, 0]])
    assert half == pytest.approx(3.98, abs=0.01)


def _contrast_failures(page: Page) -> list[str]:
    failures = []
    for text in page.evaluate(_TEXT_COLOURS):
        large = text["size"] >= 24 or (text["size"] >= 18.66 and text["weight"] >= 700)
        ratio = _contrast(text["fg"], text["layers"])
        if ratio < (3 if large else 4.5):
            failures.append(f"text {text['what']}: {ratio:.2f}:1")
    for element in page.locator(_FOCUSABLE).all():
        if not element.is_visible():
            continue
        focus = element.evaluate(_FOCUS_COLOURS)
        if focus is None:
            continue
        ratio = _contrast(focus["fg"], focus["layers"])
        if ratio < 3:
            failures.append(f"focus outline of {focus['what']}: {ratio:.2f}:1")
    return failures


def test_every_main_page_has_enough_contrast(server: Any, chromium: Browser) -> None:
    """WCAG 1.4.3 and 1.4.11 at 1280 px on the pages the accessibility test visits, with every
    state colour on show (allowed, denied, allowed-only-if and grant cells; Enabled, Disabled
    and PendingDeletion badges; denied rows of the log) and, as a principal that may only read
    a key, its page with disabled buttons: every visible text at least 4.5:1
    against its background (3:1 when large: 24 px, or 18.66 px bold), every focus outline at
    least 3:1 against what it is drawn on."""
    api = server.client(
        aws_access_key_id="AKIAADMINEXAMPLE0001", aws_secret_access_key="admin-secret"
    )
    only_if = dict(APP_DECRYPTS, Sid="AppIfTagged", Action="kms:Encrypt")
    only_if["Condition"] = {"StringEquals": {"kms:EncryptionContext:team": "a11y"}}
    no_decrypt = {
        "Effect": "Deny",
        "Principal": {"AWS": ADMIN},
        "Action": "kms:Decrypt",
        "Resource": "*",
    }
    app_reads = dict(APP_DECRYPTS, Sid="AppReads", Action="kms:DescribeKey")
    policy = _policy(only_if, no_decrypt, app_reads)
    key = api.create_key(Description="contrast", Policy=policy)["KeyMetadata"]["KeyId"]
    api.create_alias(AliasName="alias/contrast", TargetKeyId=key)
    api.tag_resource(KeyId=key, Tags=[{"TagKey": "team", "TagValue": "a11y"}])
    api.create_grant(KeyId=key, GranteePrincipal=APP, Operations=["Decrypt"], Name="app")
    external = api.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    api.disable_key(KeyId=api.create_key()["KeyMetadata"]["KeyId"])
    api.schedule_key_deletion(KeyId=api.create_key()["KeyMetadata"]["KeyId"])
    blob = api.encrypt(KeyId=key, Plaintext=b"x")["CiphertextBlob"]
    with pytest.raises(api.exceptions.ClientError):  # denied: a red row in the log
        api.decrypt(CiphertextBlob=blob)
    page = chromium.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(server.url + "/console/signin")
    failures = {"/signin": _contrast_failures(page)}
    page.close()
    page = _signed_in(chromium, server, "AKIAADMINEXAMPLE0001", "admin-secret")
    shown: set[str] = set()
    for path in (
        "/keys",
        f"/keys/{key}",
        f"/keys/{external}",
        "/create",
        f"/keys/{key}/policy",
        f"/keys/{key}/access",
        "/log",
    ):
        page.goto(server.url + "/console" + path)
        failures[path] = _contrast_failures(page)
        shown |= set(page.evaluate(_CLASSES))
    # a principal that may read the key but not change it: its actions are disabled buttons
    page = _signed_in(chromium, server, "AKIAAPPEXAMPLE000001", "app-secret")
    page.goto(server.url + f"/console/keys/{key}")
    assert page.locator("button:disabled").count() > 0
    failures[f"/keys/{key} as app"] = _contrast_failures(page)
    states = {"allowed", "denied", "allowed-only-if", "grant"}
    states |= {"state-Enabled", "state-Disabled", "state-PendingDeletion", "d-explicitDeny"}
    assert states <= shown, states - shown
    report = [f"{path}: {failure}" for path, found in failures.items() for failure in found]
    assert not report, "\n".join(report)


def test_the_policy_editor_in_headless_chromium(server: Any, chromium: Browser) -> None:
    """Live diagnostics as the CLI prints them (policy:LINE:COL with a caret), a diff against
    the saved policy, the switch to the DSL and a save from it, and the lockout check: warned
    as you type, refused by the service on save, nothing changed."""
    page = _signed_in(chromium, server, "AKIAADMINEXAMPLE0001", "admin-secret")
    key_id = _create(server, page.context.request, "edited", _policy())
    page.goto(f"{server.url}/console/keys/{key_id}/policy")
    editor = page.locator("#policy-text")

    editor.fill('{"Version": "2012-10-17", "Statement": [')
    finding = page.locator("#diagnostics li.sev-ERROR").first
    finding.wait_for()
    text = finding.inner_text()
    assert text.startswith("policy:1:41: ERROR SYNTAX_ERROR:") and "^" in text

    editor.fill(_policy(APP_DECRYPTS))
    page.locator("#diagnostics li", has_text="SYNTAX_ERROR").wait_for(state="detached")
    page.get_by_role("button", name="Check", exact=True).click()
    diff = page.locator("pre.diff").inner_text()
    added = [line for line in diff.splitlines() if line.startswith("+ ")]
    assert any('"Sid": "AppDecrypts"' in line for line in added), diff
    assert not any(line.startswith("- ") for line in diff.splitlines())  # only additions

    page.get_by_role("button", name="Show as DSL").click()
    assert page.get_by_text("Policy (DSL)").is_visible()
    dsl = editor.input_value()
    assert not dsl.lstrip().startswith("{") and "AppDecrypts" in dsl
    page.locator("#save-policy").click()
    assert "Saved the key policy" in page.locator(".flash").inner_text()
    api = server.client(
        aws_access_key_id="AKIAADMINEXAMPLE0001", aws_secret_access_key="admin-secret"
    )
    saved = api.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"]
    assert "AppDecrypts" in saved

    page.get_by_role("button", name="Show as AWS JSON").click()
    editor.fill(json.dumps({"Version": "2012-10-17", "Statement": [APP_DECRYPTS]}))
    page.locator("#diagnostics li", has_text="LOCKOUT").wait_for()
    page.locator("#save-policy").click()
    error = page.locator("#policy-error").inner_text()
    assert error.startswith("PutKeyPolicy: MalformedPolicyDocumentException")
    assert api.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"] == saved
