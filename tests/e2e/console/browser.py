"""The admin console in a real browser (Debian's Chromium driven by Playwright), run by
tests/e2e/console/mod.rs against `cargo run`'s demo: sign in through the portal, the first
administrator made with the bootstrap token (a wrong one first), the overview with the demo
connector's test connection, the language switch, the sign-in page's sources and their test, the
roles page.

usage: browser.py CHROMIUM BASE_URL USERNAME PASSWORD ADMIN_TOKEN SCREENSHOT_DIR
Prints one JSON object with what it saw; a failed expectation raises (non-zero exit).
"""

import json
import sys

from playwright.sync_api import expect, sync_playwright


def checks(page, box):
    items = page.locator(f"#{box} li")
    expect(items.first).to_be_visible()
    return {
        li.get_attribute("data-check"): "ok" in (li.get_attribute("class") or "")
        for li in items.all()
    }


def main():
    chromium, base, username, password, token, shots = sys.argv[1:7]
    seen = {"console_errors": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium,
            args=["--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        page = browser.new_page(locale="zh-CN", viewport={"width": 1200, "height": 800})
        page.set_default_timeout(20000)
        # Script errors and Content-Security-Policy violations (a refused 4xx, such as the wrong
        # token's 403, is the page's answer, not an error of the page).
        page.on("pageerror", lambda e: seen["console_errors"].append(str(e)))
        page.on(
            "console",
            lambda m: seen["console_errors"].append(m.text)
            if m.type == "error" and "Failed to load resource" not in m.text
            else None,
        )

        page.goto(base + "/admin")
        expect(page).to_have_url(f"{base}/login?next=%2Fadmin")
        page.fill("#identifier", username)
        page.fill("#password", password)
        page.click("#sign-in")
        expect(page.locator("#title")).to_contain_text("没有管理权限")
        page.fill("#token", "dbadm_not-the-token")
        page.click("#bootstrap")
        expect(page.locator("#error")).to_be_visible()
        seen["wrong_token"] = page.inner_text("#error")
        page.fill("#token", token)
        page.click("#bootstrap")
        expect(page).to_have_url(base + "/admin")
        expect(page.locator("#connectors")).to_be_visible()
        seen["heading"] = page.inner_text("h1")
        page.locator("#connectors button[data-test]").first.click()
        box = page.locator("#connectors button[data-test]").first.get_attribute("data-target")
        seen["connector_checks"] = checks(page, box)
        page.screenshot(path=f"{shots}/overview.png", full_page=True)

        page.click("#lang")
        expect(page.locator("h1")).to_have_text("DingTalk connectors")
        seen["english_heading"] = page.inner_text("h1")
        page.click("text=Sign-in and apps")
        expect(page.locator("#sources")).to_be_visible()
        seen["register"] = page.locator("#sources code").all_inner_texts()
        page.locator("#sources button[data-test]").first.click()
        box = page.locator("#sources button[data-test]").first.get_attribute("data-target")
        seen["source_checks"] = checks(page, box)
        page.screenshot(path=f"{shots}/sign-in.png", full_page=True)
        page.click("text=Administrators")
        seen["holders"] = page.locator("#roles tbody").inner_text()
        page.goto(base + "/admin?lang=zh")
        expect(page.locator("h1")).to_have_text("钉钉连接器")

        # Imports: the demo's first pull waits for review; review and confirm it.
        page.click("text=导入")
        expect(page.locator("#runs")).to_be_visible()
        seen["run_states"] = page.locator("#runs td.state").all_inner_texts()
        page.locator("#runs a").first.click()
        expect(page.locator("#run-state")).to_have_text("awaiting_review")
        expect(page.locator("#rows tbody tr[data-row]").first).to_be_visible()
        seen["staged_accounts"] = page.locator("#rows tbody tr[data-row]").count()
        seen["staged_units"] = page.locator("#units tbody tr[data-row]").count()
        page.screenshot(path=f"{shots}/review.png", full_page=True)
        page.click("a[data-filter=invalid]")
        page.click("text=一键移除无效行")
        expect(page.locator("#action-result .ok")).to_be_visible()
        page.click("text=确定导入组织机构")
        expect(page.locator("#action-result .ok")).to_be_visible()
        # The org units are applied (the page polls while the run applies) before the accounts
        # are confirmed: the API refuses a confirm while the run is applying.
        expect(page.locator("li[data-counter=applied_units]")).to_be_visible(timeout=60000)
        expect(page.locator("#run-state")).to_have_text("awaiting_review", timeout=60000)
        page.click("text=确定导入账户")
        expect(page.locator("#run-state")).to_have_text("done", timeout=60000)
        seen["applied"] = page.locator("#run-counters").inner_text()
        browser.close()
    print(json.dumps(seen, ensure_ascii=False))


if __name__ == "__main__":
    main()
