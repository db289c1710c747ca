"""DingTalk sign-in in a real browser (Debian's Chromium driven by Playwright), run by
tests/e2e/dingtalk_login/browser.rs against `cargo run`'s demo: the sign-in page's DingTalk
button, the simulator's scan page, the bind page (a wrong password, then the right one), an error
page, and the micro-app page — with the local JSAPI stand-in (current `dd.requestAuthCode`), with
only the legacy `dd.runtime.permission.requestAuthCode`, and outside DingTalk. DingTalk's own
script cannot load offline: it is blocked, as it would fail anyway.

usage: browser.py CHROMIUM BASE_URL QR_URL MICRO_URL MEMBER USERNAME PASSWORD SCREENSHOT_DIR
Prints one JSON object with what it saw; a failed expectation raises (non-zero exit).
"""

import json
import sys

from playwright.sync_api import expect, sync_playwright

LEGACY_DD = """
window.dd = { runtime: { permission: { requestAuthCode: function (o) {
  fetch('/_local/dingtalk/code', {method: 'POST', headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({userid: new URLSearchParams(location.search).get('simUser')})})
  .then(function (r) { return r.json(); })
  .then(function (b) { window.__legacy_used = true; o.onSuccess({code: b.code}); });
} } } };
"""


def main():
    chromium, base, qr_url, micro_url, member, username, password, shots = sys.argv[1:9]
    seen = {}
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
        context = browser.new_context(locale="zh-CN", viewport={"width": 1000, "height": 720})
        context.route("https://g.alicdn.com/**", lambda route: route.abort())
        page = context.new_page()
        page.set_default_timeout(15000)

        # The sign-in page with its DingTalk button.
        page.goto(base + "/login")
        button = page.locator(".sources a.button")
        expect(button).to_have_count(1)
        seen["button"] = button.inner_text()
        page.screenshot(path=f"{shots}/sign-in.png", full_page=True)

        # The QR login: the simulator's scan page, a member "scans", the bind page.
        button.click()
        page.locator(f'a.member[data-userid="{member}"]').click()
        expect(page).to_have_url(base + "/authenticate/bind")
        seen["bind_who"] = page.inner_text("#who")
        page.fill("#identifier", username)
        page.fill("#password", "not-the-password")
        page.click("#bind")
        expect(page.locator("#error")).to_contain_text("Wrong username or password")
        page.screenshot(path=f"{shots}/bind.png", full_page=True)
        page.fill("#password", password)
        page.click("#bind")
        expect(page).to_have_url(base + "/portal")
        seen["linked"] = page.locator("#bindings").inner_text()

        # An error page: the address DingTalk returns to, with a state already used.
        page.goto(qr_url.replace("/authenticate/ddtalk/", "/authenticate/ddtalk/forward/")
                  + "?authCode=spent&state=dbls_spent")
        expect(page.locator("#title")).to_contain_text("expired or was already used")
        seen["error_title"] = page.inner_text("#title")
        seen["error_again"] = page.get_attribute("#again", "href")
        page.screenshot(path=f"{shots}/error.png", full_page=True)

        # The micro-app page in a fresh browser: the stand-in's free-login code, straight into
        # the demo OIDC app.
        fresh = browser.new_context(locale="zh-CN")
        fresh.route("https://g.alicdn.com/**", lambda route: route.abort())
        micro = fresh.new_page()
        micro.set_default_timeout(15000)
        micro.goto(micro_url)
        expect(micro.locator("#title")).to_contain_text("Demo OIDC app: signed in")
        seen["micro_claims"] = json.loads(micro.locator("pre.claims").first.inner_text())
        fresh.close()

        # An older DingTalk client: only dd.runtime.permission.requestAuthCode.
        legacy = browser.new_context(locale="zh-CN")
        legacy.route("https://g.alicdn.com/**", lambda route: route.abort())
        legacy.route(
            "**/_local/dingtalk-jsapi.js",
            lambda route: route.fulfill(status=200, content_type="text/javascript", body=LEGACY_DD),
        )
        old = legacy.new_page()
        old.set_default_timeout(15000)
        old.goto(micro_url)
        expect(old.locator("#title")).to_contain_text("Demo OIDC app: signed in")
        seen["legacy_claims"] = json.loads(old.locator("pre.claims").first.inner_text())
        legacy.close()

        # Outside DingTalk (no JSAPI at all): the page says so and offers the QR sign-in.
        outside = browser.new_context(locale="zh-CN")
        outside.route("https://g.alicdn.com/**", lambda route: route.abort())
        outside.route("**/_local/dingtalk-jsapi.js", lambda route: route.abort())
        away = outside.new_page()
        away.set_default_timeout(15000)
        away.goto(micro_url)
        expect(away.locator("#outside")).to_be_visible()
        seen["outside"] = away.inner_text("#outside")
        seen["outside_link"] = away.get_attribute("#qr-link", "href")
        away.screenshot(path=f"{shots}/micro-outside.png", full_page=True)
        outside.close()
        browser.close()
    print(json.dumps(seen, ensure_ascii=False))


if __name__ == "__main__":
    main()
