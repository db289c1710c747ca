"""The portal in a real browser (Debian's Chromium driven by Playwright), run by
tests/e2e/portal/browser.rs against `cargo run`'s demo: the sign-in page, a wrong password, the
portal, one click into the demo OIDC app and one into the demo JWT app, and sign-out.

usage: browser.py CHROMIUM BASE_URL USERNAME PASSWORD SCREENSHOT_DIR
Prints one JSON object with what it saw; a failed expectation raises (non-zero exit).
"""

import json
import sys

from playwright.sync_api import expect, sync_playwright


def main():
    chromium, base, username, password, shots = sys.argv[1:6]
    seen = {}
    # Playwright gives the browser a fresh profile of its own.
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        page = browser.new_page(locale="zh-CN")
        page.set_default_timeout(15000)

        page.goto(base + "/portal")
        expect(page).to_have_url(f"{base}/login?next=%2Fportal")
        page.fill("#identifier", username)
        page.fill("#password", "not-the-password")
        page.click("#sign-in")
        expect(page.locator("#error")).to_contain_text("Wrong username or password")
        seen["wrong_password"] = page.inner_text("#error")

        page.fill("#password", password)
        page.click("#sign-in")
        expect(page).to_have_url(base + "/portal")
        page.screenshot(path=f"{shots}/portal.png", full_page=True)
        seen["who"] = page.inner_text("#who")
        seen["apps"] = page.locator("#apps .app").all_inner_texts()

        page.click("text=演示 OIDC 应用")
        expect(page.locator("#title")).to_contain_text("Demo OIDC app: signed in")
        seen["oidc_claims"] = json.loads(page.locator("pre.claims").first.inner_text())
        page.screenshot(path=f"{shots}/oidc-app.png", full_page=True)

        page.goto(base + "/portal")
        page.click("text=演示 JWT 应用")
        expect(page.locator("#title")).to_contain_text("Demo JWT app: signed in")
        seen["jwt_claims"] = json.loads(page.locator("pre.claims").first.inner_text())

        page.goto(base + "/portal")
        page.click("#sign-out")
        expect(page).to_have_url(base + "/login")
        page.goto(base + "/portal")
        expect(page).to_have_url(f"{base}/login?next=%2Fportal")
        seen["signed_out"] = True
        browser.close()
    print(json.dumps(seen, ensure_ascii=False))


if __name__ == "__main__":
    main()
