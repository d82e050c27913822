"""The web console in a real browser (issue 16): Playwright drives Debian's headless Chromium
(``/usr/bin/chromium``; ``.ci/run`` installs it) through the whole story once — sign in, create
a key with a policy, see a denial in the access matrix, fix the policy in the editor, see the
cell turn allowed, rotate, schedule deletion, find every step in the decision log, sign out.

One browser, one test: a browser start costs a second or two, the flow itself a few more.
"""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, sync_playwright

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
    """
)


def _policy(*statements: dict[str, object]) -> str:
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


def test_the_console_story_in_headless_chromium(tmp_path: Path) -> None:
    ids = tmp_path / "identities.yaml"
    ids.write_text(IDENTITIES)
    with (
        serve_in_thread(
            identities=ids,
            data_dir=tmp_path,
            store_url=f"sqlite:///{tmp_path}/kms.db",
            console=True,
        ) as endpoint,
        sync_playwright() as pw,
    ):
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(15_000)
        console = endpoint.url + "/console"

        # sign in
        page.goto(console + "/")
        page.get_by_label("Access key id").fill("AKIAADMINEXAMPLE0001")
        page.get_by_label("Secret access key").fill("admin-secret")
        page.get_by_role("button", name="Sign in", exact=True).click()
        page.wait_for_url("**/console/keys")
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
        browser.close()
