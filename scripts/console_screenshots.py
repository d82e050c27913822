"""Screenshots of the console's main pages (scripts/console-screenshots.sh runs this).

Starts ``kmspolicy serve`` in a thread with the development identity and a temporary data
directory, makes a key with a policy, a rotation and a denial, and has headless Chromium
(Debian's ``/usr/bin/chromium``, driven by Playwright) photograph each page at 1280 px, and the
keys list at 390 px (a narrow screen), into the directory given (default screenshots/console).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from kmspolicy.server.thread import serve_in_thread

CHROMIUM = os.environ.get("KMSPOLICY_CHROMIUM", "/usr/bin/chromium")
POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::000000000000:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "Nobody deletes it",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "kms:ScheduleKeyDeletion",
            "Resource": "*",
        },
    ],
}


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory() as data,
        serve_in_thread(data_dir=data, store_url=f"sqlite:///{data}/kms.db") as endpoint,
        sync_playwright() as pw,
    ):
        client = endpoint.client()
        key = client.create_key(Description="payments", Policy=json.dumps(POLICY))["KeyMetadata"]
        client.create_alias(AliasName="alias/payments", TargetKeyId=key["KeyId"])
        client.tag_resource(KeyId=key["KeyId"], Tags=[{"TagKey": "team", "TagValue": "payments"}])
        client.enable_key_rotation(KeyId=key["KeyId"])
        client.rotate_key_on_demand(KeyId=key["KeyId"])
        client.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY", Description="signing")
        external = client.create_key(Origin="EXTERNAL", Description="bring your own key")
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        console = endpoint.url + "/console"
        page.goto(console + "/signin")
        page.screenshot(path=str(out / "signin.png"))
        page.locator("#dev-signin").click()
        page.wait_for_url("**/keys")
        page.screenshot(path=str(out / "keys.png"), full_page=True)
        key_page = f"{console}/keys/{key['KeyId']}"
        page.goto(key_page)
        # the policy refuses deletion: its button is disabled; a bad alias name shows the
        # service's validation error inline
        page.get_by_label("Alias name").fill("payments-without-prefix")
        page.get_by_role("button", name="Add alias").click()
        page.screenshot(path=str(out / "key.png"), full_page=True)
        page.goto(f"{console}/keys/{external['KeyMetadata']['KeyId']}")
        page.locator("#import-h").scroll_into_view_if_needed()
        page.screenshot(path=str(out / "key-import.png"), full_page=True)
        page.goto(key_page + "/policy?syntax=dsl")
        # an added statement with a misspelt action: the finding at its line and column, and
        # the diff against the saved policy
        editor = page.locator("#policy-text")
        editor.fill(
            editor.input_value()
            + '\nallow "App decrypts"\n  principal aws "arn:aws:iam::000000000000:role/App"\n'
            "  action kms:Decrpyt\n  resource *\n"
        )
        page.get_by_role("button", name="Check", exact=True).click()
        page.screenshot(path=str(out / "policy.png"), full_page=True)
        page.goto(
            key_page + "/access?principal=arn:aws:iam::000000000000:root"
            "&action=kms:ScheduleKeyDeletion#why"
        )
        page.screenshot(path=str(out / "access.png"), full_page=True)
        page.goto(console + "/create")
        page.screenshot(path=str(out / "create.png"), full_page=True)
        page.goto(console + "/log")
        page.screenshot(path=str(out / "log.png"))
        page.set_viewport_size({"width": 390, "height": 800})
        page.goto(console + "/keys")
        page.screenshot(path=str(out / "keys-narrow.png"), full_page=True)
        browser.close()
    print(f"screenshots in {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "screenshots/console"))
