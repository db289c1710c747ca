"""The admin console in a real browser (Debian's Chromium driven by Playwright), run by
tests/e2e/console/mod.rs against `cargo run`'s demo: sign in through the portal, the first
administrator made with the bootstrap token (a wrong one first), the overview with the demo
connector's test connection, the language switch, the sign-in page's sources and their test, the
roles page.

Then the rest of an admin's jobs: a new connector (a pasted space flagged, test connection passing,
then failing on the IP whitelist injected in the simulator, with the fix named), the directory
(the pulled accounts in the org tree, an account created in the pushed subtree getting its DingTalk
userid), a callback event parked by DingTalk's refusal and re-driven once fixed, a SCIM client's
secret shown once, the password policy, the audit log, and a viewer who can change nothing (the
pages offer no write, the API refuses one).

usage: browser.py CHROMIUM BASE_URL USERNAME PASSWORD ADMIN_TOKEN SCREENSHOT_DIR SIM_URL
                  DEMO_APP_KEY CORP_ID APP_KEY APP_SECRET PUSH_UNIT_ID
Prints one JSON object with what it saw; a failed expectation raises (non-zero exit).
"""

import json
import re
import sys
import time
import urllib.request

from playwright.sync_api import expect, sync_playwright


def checks(page, box):
    items = page.locator(f"#{box} li")
    expect(items.first).to_be_visible()
    return {
        li.get_attribute("data-check"): "ok" in (li.get_attribute("class") or "")
        for li in items.all()
    }


def sim(sim_url, method, path, body):
    """A call to the simulator's control API (what a test does to DingTalk)."""
    request = urllib.request.Request(
        sim_url + path, method=method, data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=20) as answer:
        return json.loads(answer.read() or b"{}")


def launch(p, chromium):
    return p.chromium.launch(
        executable_path=chromium,
        args=["--no-sandbox", "--disable-gpu", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    )


def watch(page, seen):
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
    page.on("dialog", lambda d: d.accept())


def sign_in(page, base, username, password, path="/admin"):
    page.goto(base + path)
    page.fill("#identifier", username)
    page.fill("#password", password)
    page.click("#sign-in")


def main():
    chromium, base, username, password, token, shots = sys.argv[1:7]
    sim_url, demo_app_key, corp_id, app_key, app_secret, push_unit = sys.argv[7:13]
    seen = {"console_errors": [], "shots": shots}
    with sync_playwright() as p:
        browser = launch(p, chromium)
        page = browser.new_page(locale="zh-CN", viewport={"width": 1200, "height": 800})
        watch(page, seen)

        page.goto(base + "/admin")
        expect(page).to_have_url(f"{base}/login?next=%2Fadmin")
        sign_in(page, base, username, password)
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
        journeys(page, base, shots, seen, sim_url, demo_app_key, corp_id, app_key, app_secret,
                 push_unit)
        browser.close()
        viewer(p, chromium, base, seen)
    print(json.dumps(seen, ensure_ascii=False))


def journeys(page, base, shots, seen, sim_url, demo_app_key, corp_id, app_key, app_secret,
             push_unit):
    # A new connector: every field explained; a pasted space is flagged; saved, then tested.
    page.click("text=概览与连接器")
    page.click("#new-connector")
    expect(page.locator("#connector-form")).to_be_visible()
    seen["field_help"] = page.locator("#h-corp_id").inner_text()
    page.fill("#f-name", "第二个钉钉应用")
    page.fill("#f-corp_id", corp_id)
    page.fill("#f-app_key", " " + app_key)
    expect(page.locator("#f-app_key + .trim-hint")).to_be_visible()
    page.fill("#f-app_secret", app_secret)
    for name in ("oapi_base", "api_base", "login_base"):
        page.fill(f"#f-{name}", sim_url)
    page.screenshot(path=f"{shots}/connector.png", full_page=True)
    page.click("#save")
    page.wait_for_selector("#test-connection, #connector-form .form-answer .error")
    refused = page.locator("#connector-form .form-answer")
    if refused.count() and refused.inner_text().strip():
        raise AssertionError("the connector was refused: " + refused.inner_text())
    seen["connector_url"] = page.url
    expect(page.locator("#answer .warning")).to_be_visible()
    seen["trimmed_warning"] = page.inner_text("#answer .warning")
    expect(page.locator("#f-app_key")).to_have_value(app_key)
    seen["secret_placeholder"] = page.get_attribute("#f-app_secret", "placeholder")
    seen["secret_value"] = page.input_value("#f-app_secret")
    page.click("#test-connection")
    seen["new_connector_checks"] = checks(page, "test-result")
    # DingTalk refuses the machine's IP: the failed check names the IP to whitelist.
    sim(sim_url, "POST", f"/_sim/apps/{app_key}", {"ip_whitelist": ["198.51.100.7"]})
    page.locator("#test-result").evaluate("box => box.textContent = ''")
    page.click("#test-connection")
    seen["whitelist_checks"] = checks(page, "test-result")
    seen["whitelist_fix"] = page.locator("#test-result li[data-check=ip_whitelist]").inner_text()
    sim(sim_url, "POST", f"/_sim/apps/{app_key}", {"ip_whitelist": None})

    # The directory: the confirmed pull's accounts under the org tree; an account made in the
    # pushed subtree reaches DingTalk and shows its userid.
    page.click("text=机构及组")
    expect(page.locator("#tree button[data-unit]").first).to_be_visible()
    seen["tree_units"] = page.locator("#tree button[data-unit]").count()
    page.fill("#search", "a")
    expect(page.locator("#found-accounts tbody tr").first).to_be_visible()
    seen["found"] = int(page.get_attribute("#found-accounts", "data-count") or "0")
    page.fill("#search", "")
    page.click(f"#tree button[data-unit='{push_unit}']")
    expect(page.locator("#unit-id")).to_have_text(push_unit)
    page.click("#new-account summary")
    mobile = "139" + str(int(time.time() * 1000))[-8:]
    page.fill("#na-username", "console.made")
    page.fill("#na-display_name", "控制台新建")
    page.fill("#na-mobile", mobile)
    page.click("#create-account")
    made = page.locator("#unit-accounts tbody tr", has_text="控制台新建")
    expect(made).to_be_visible()
    # The page reads the directory again while the push is on its way.
    expect(made.locator("td[data-field=push]")).to_have_text("已推送", timeout=60000)
    seen["pushed_userid"] = made.locator("td[data-field=mappings]").inner_text()
    seen["pushed_state"] = made.locator("td[data-field=push]").inner_text()
    page.screenshot(path=f"{shots}/directory.png", full_page=True)
    made.locator("a").click()
    expect(page.locator("#a-username")).to_have_value("console.made")
    expect(page.locator("#mappings tbody tr[data-key], #mappings tbody tr").first).to_be_visible()
    seen["account_mappings"] = page.locator("#mappings tbody").inner_text()

    # A callback event DingTalk's refusal parks (the IP whitelist again), re-driven once fixed.
    sim(sim_url, "POST", f"/_sim/apps/{demo_app_key}", {"ip_whitelist": ["198.51.100.7"]})
    sim(sim_url, "POST", "/_sim/users",
        {"name": "晚到的同事", "mobile": "137" + str(int(time.time() * 1000))[-8:],
         "email": "late@example.com", "dept_id_list": [1]})
    page.click("text=同步记录")
    parked = page.locator("#parked tbody tr[data-key]", has_text="60020")
    for _ in range(60):
        if parked.count():
            break
        time.sleep(1)
        page.reload()
    expect(parked.first).to_be_visible()
    seen["parked_reason"] = parked.first.locator("td[data-field=reason]").inner_text()
    seen["parked_reasons"] = page.locator("#parked tbody").inner_text()
    page.screenshot(path=f"{shots}/sync.png", full_page=True)
    sim(sim_url, "POST", f"/_sim/apps/{demo_app_key}", {"ip_whitelist": None})
    key = parked.first.get_attribute("data-key")
    parked.first.locator("button").click()
    expect(page.locator("#answer .ok")).to_be_visible()
    expect(page.locator(f"#parked tbody tr[data-key='{key}']")).to_have_count(0)
    everything = page.locator("#parked tbody tr[data-key]")
    seen["parked_left"] = everything.count()
    if seen["parked_left"]:
        page.click("#redrive-all")
        expect(everything).to_have_count(0)
    seen["history_rows"] = page.locator("#history tbody tr").count()
    seen["link_tables"] = page.locator("table.links").count()

    # An initial push of the pushed subtree: planned against DingTalk, reviewed, confirmed whole.
    page.locator("button[data-then=run]", has_text="核对并初始推送").first.click()
    expect(page.locator("#run-state")).to_have_text(re.compile("^(awaiting_review|done)$"),
                                                    timeout=60000)
    seen["push_run_state"] = page.inner_text("#run-state")
    seen["push_confirm_visible"] = page.locator("button[data-kind=push]").is_visible()
    seen["pull_confirm_visible"] = page.locator("button[data-kind=pull]").first.is_visible()
    if seen["push_run_state"] == "awaiting_review":
        page.click("button[data-kind=push]")
        expect(page.locator("#run-state")).to_have_text("done", timeout=60000)
    seen["push_run_done"] = page.inner_text("#run-state")

    # Security: the password policy, a SCIM client whose secret is shown once.
    page.click("text=安全设置")
    expect(page.locator("#p-min")).not_to_have_value("")
    seen["policy_min"] = page.input_value("#p-min")
    page.click("#new-scim summary")
    page.fill("#s-name", "Entra ID")
    page.click("#create-scim")
    expect(page.locator("#secret-once")).to_be_visible()
    seen["scim_secret_len"] = len(page.inner_text("#secret-once"))
    expect(page.locator("#scim-clients tbody tr[data-key]", has_text="Entra ID")).to_be_visible()
    page.screenshot(path=f"{shots}/security.png", full_page=True)
    page.reload()
    seen["secret_after_reload"] = page.locator("#secret-once").count()

    # An OIDC app: its client secret shown once.
    page.click("text=认证源与应用")
    page.click("#new-app summary")
    page.fill("#app-name", "报销系统")
    page.fill("#app-redirects", "https://expenses.example.com/callback")
    page.fill("#app-scopes", "openid, profile")
    page.click("#create-app")
    expect(page.locator("#secret-once")).to_be_visible()
    seen["app_secret_len"] = len(page.inner_text("#secret-once"))
    expect(page.locator("#apps tbody tr[data-key]", has_text="报销系统")).to_be_visible()
    # Its settings edited on its own page (the form filled from the API, sent whole).
    page.locator("#apps tbody tr[data-key]", has_text="报销系统").locator("a").click()
    expect(page.locator("#app-name")).to_have_value("报销系统")
    seen["app_redirects_loaded"] = page.input_value("#app-redirects")
    page.fill("#app-name", "报销系统（新）")
    page.click("#save-app")
    expect(page.locator("#answer .ok")).to_be_visible()
    expect(page.locator("#app-name")).to_have_value("报销系统（新）")
    seen["app_scopes_after"] = page.input_value("#app-scopes")
    # An auth source's settings, on its page: loaded, saved unchanged.
    page.click("text=认证源与应用")
    page.locator("#sources tbody tr a").first.click()
    expect(page.locator("#src-corp")).not_to_have_value("")
    seen["source_kind_locked"] = page.locator("#src-kind").is_disabled()
    page.click("#save-source")
    expect(page.locator("#answer .ok")).to_be_visible()

    # The audit log, newest first; the account's history.
    page.click("text=审计日志")
    expect(page.locator("#audit tbody tr").first).to_be_visible()
    seen["audit_rows"] = page.locator("#audit tbody tr").count()
    page.screenshot(path=f"{shots}/audit.png")

    # A viewer: an account made here, given a password and the viewer role on its page.
    page.click("text=机构及组")
    expect(page.locator("#tree button[data-unit]").first).to_be_visible()
    page.locator("#tree > li > button[data-unit]").first.click()
    page.click("#new-account summary")
    page.fill("#na-username", "it.viewer")
    page.fill("#na-display_name", "只读管理员")
    page.click("#create-account")
    viewer_row = page.locator("#unit-accounts tbody tr", has_text="只读管理员")
    expect(viewer_row).to_be_visible()
    viewer_row.locator("a").click()
    expect(page.locator("#a-username")).to_have_value("it.viewer")
    page.fill("#new-password", VIEWER_PASSWORD)
    page.locator("#password-form input[name=must_change]").uncheck()
    page.click("#password-form button[type=submit]")
    expect(page.locator("#password-form .ok")).to_be_visible()
    page.select_option("#role-select", "viewer")
    expect(page.locator("#answer .ok")).to_be_visible()
    page.screenshot(path=f"{shots}/account.png", full_page=True)


VIEWER_PASSWORD = "Viewer-Passw0rd-2026"


def viewer(p, chromium, base, seen):
    browser = launch(p, chromium)
    page = browser.new_page(locale="zh-CN", viewport={"width": 390, "height": 844})
    watch(page, seen)
    sign_in(page, base, "it.viewer", VIEWER_PASSWORD)
    expect(page.locator("#readonly-notice")).to_be_visible()
    seen["viewer_role"] = page.inner_text("#role")
    seen["viewer_new_connector"] = page.locator("#new-connector").is_visible()
    page.screenshot(path=f"{shots_dir(seen)}/viewer-phone.png", full_page=True)
    page.goto(base + "/admin/sync")
    expect(page.locator("#history tbody tr").first).to_be_visible()
    seen["viewer_redrive_disabled"] = page.locator("#redrive-all").is_disabled()
    page.goto(base + "/admin/directory")
    expect(page.locator("#tree button[data-unit]").first).to_be_visible()
    seen["viewer_forms_visible"] = page.locator("#new-account").is_visible()
    # The page offers nothing; the API refuses a write made by hand with the session's token.
    seen["viewer_write_status"] = page.evaluate("""async () => {
        const me = await (await fetch('/admin/api/me')).json();
        const r = await fetch('/admin/api/org-units', {method: 'POST',
            headers: {'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf_token},
            body: JSON.stringify({name: 'not allowed', parent_id: 'x'})});
        return r.status;
    }""")
    browser.close()


def shots_dir(seen):
    return seen["shots"]


if __name__ == "__main__":
    main()
