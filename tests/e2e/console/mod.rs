//! The admin console's first pages: in Chromium on `cargo run`'s demo (`browser.py`: sign-in
//! through the portal, the first administrator made with the bootstrap token, the test
//! connection of the demo connector, the language switch, the auth sources and their test, the
//! roles), and without a browser: the pages turn away a request without a session or without a
//! role, carry a strict Content-Security-Policy, and show no secret.

use dingbridge_local::start;
use serde_json::Value;

use crate::portal::Browser;

/// The directory's first 1000 accounts, as the admin API lists them.
async fn accounts(running: &dingbridge_local::Running) -> reqwest::Result<String> {
    reqwest::Client::new()
        .get(format!(
            "http://{}/admin/api/accounts?limit=1000",
            running.addr
        ))
        .bearer_auth(&running.token.value)
        .send()
        .await?
        .text()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_signs_in_bootstraps_and_tests_the_demo_connector_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(crate::demo::options(dir.path())).await.unwrap();
    let sso = running.demo.as_ref().unwrap().sso.clone().unwrap();
    let password = std::fs::read_to_string(&sso.password_file).unwrap();
    let shots = std::env::var("DINGBRIDGE_CONSOLE_SCREENSHOTS")
        .unwrap_or_else(|_| dir.path().to_str().unwrap().to_owned());
    let demo = running.demo.as_ref().unwrap();
    let apps = demo.sim.apps();
    // The new connector is the simulator's last app (another corp's when it has two).
    let app = apps.last().unwrap().clone();
    let push_unit = demo.push.as_ref().unwrap().root_unit_id.clone();
    let args = vec![
        crate::portal::chromium(),
        running.public_url.clone(),
        sso.username.clone(),
        password.trim().to_owned(),
        running.token.value.clone(),
        shots.clone(),
        demo.sim.base_url(),
        apps[0].app_key.clone(),
        app.corp_id.clone(),
        app.app_key.clone(),
        app.app_secret.clone(),
        push_unit,
    ];
    let seen: Value = crate::portal::run_script("console/browser.py", args).await;
    assert_eq!(seen["console_errors"], serde_json::json!([]), "{seen}");
    assert!(
        seen["wrong_token"].as_str().unwrap().contains("不是有效"),
        "{seen}"
    );
    assert_eq!(seen["heading"], "钉钉连接器", "{seen}");
    assert_eq!(seen["connector_checks"]["credentials"], true, "{seen}");
    assert_eq!(seen["english_heading"], "DingTalk connectors", "{seen}");
    assert!(
        seen["register"]
            .to_string()
            .contains("/authenticate/ddtalk/forward/"),
        "{seen}"
    );
    assert_eq!(seen["source_checks"]["credentials"], true, "{seen}");
    assert!(
        seen["holders"].as_str().unwrap().contains(&sso.username),
        "{seen}"
    );
    assert_eq!(seen["run_states"][0], "awaiting_review", "{seen}");
    assert!(seen["staged_accounts"].as_u64().unwrap() > 0, "{seen}");
    assert!(seen["staged_units"].as_u64().unwrap() > 0, "{seen}");
    assert!(
        seen["applied"]
            .as_str()
            .unwrap()
            .contains("applied_creates"),
        "{seen}"
    );
    // The confirmed pull's accounts are in the directory.
    let listed: Value = serde_json::from_str(&accounts(&running).await.unwrap()).unwrap();
    assert!(listed["items"].as_array().unwrap().len() > 20, "{listed}");
    // A new connector: the pasted space flagged, the secret never shown back, the test passing,
    // then failing on the injected IP whitelist with the IP to add.
    let says = |key: &str, part: &str| seen[key].as_str().unwrap_or_default().contains(part);
    assert!(says("field_help", "open-dev.dingtalk.com"), "{seen}");
    assert!(says("trimmed_warning", "app_key: had spaces"), "{seen}");
    assert_eq!(seen["secret_value"], "", "{seen}");
    assert!(says("secret_placeholder", "已设置"), "{seen}");
    assert_eq!(seen["new_connector_checks"]["credentials"], true, "{seen}");
    assert_eq!(seen["new_connector_checks"]["ip_whitelist"], true, "{seen}");
    assert_eq!(seen["whitelist_checks"]["ip_whitelist"], false, "{seen}");
    assert!(says("whitelist_fix", "add 127.0.0.1"), "{seen}");
    // The directory: the tree, search, an account made in the pushed subtree with its DingTalk
    // userid.
    assert!(seen["tree_units"].as_u64().unwrap() > 3, "{seen}");
    assert!(seen["found"].as_u64().unwrap() > 0, "{seen}");
    let userid = seen["pushed_userid"].as_str().unwrap();
    assert!(!userid.is_empty(), "{seen}");
    assert_eq!(seen["pushed_state"], "已推送", "{seen}");
    assert!(says("account_mappings", userid), "{seen}");
    // The parked event named DingTalk's refusal; once re-driven it was handled.
    assert!(says("parked_reason", "60020"), "{seen}");
    // The account made above without an email: DingTalk's echo of its push was not parked.
    assert!(!says("parked_reasons", "is empty"), "{seen}");
    crate::system::eventually(
        std::time::Duration::from_secs(60),
        "the re-driven event's account",
        || async {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            accounts(&running)
                .await
                .is_ok_and(|text| text.contains("晚到的同事"))
        },
    )
    .await;
    assert!(seen["history_rows"].as_u64().unwrap() > 0, "{seen}");
    assert_eq!(seen["link_tables"], 1, "{seen}");
    // The initial push: the push run's own confirm, not a pull's.
    assert_eq!(seen["push_run_state"], "awaiting_review", "{seen}");
    assert_eq!(seen["push_confirm_visible"], true, "{seen}");
    assert_eq!(seen["pull_confirm_visible"], false, "{seen}");
    assert_eq!(seen["push_run_done"], "done", "{seen}");
    assert!(seen["scim_secret_len"].as_u64().unwrap() >= 32, "{seen}");
    assert!(seen["app_secret_len"].as_u64().unwrap() >= 32, "{seen}");
    assert_eq!(
        seen["app_redirects_loaded"], "https://expenses.example.com/callback",
        "{seen}"
    );
    assert_eq!(seen["app_scopes_after"], "openid, profile", "{seen}");
    assert_eq!(seen["source_kind_locked"], true, "{seen}");
    assert_eq!(seen["secret_after_reload"], 0, "{seen}");
    assert!(seen["audit_rows"].as_u64().unwrap() > 0, "{seen}");
    // The viewer sees, and can change nothing.
    assert!(says("viewer_role", "只读"), "{seen}");
    assert_eq!(seen["viewer_new_connector"], false, "{seen}");
    assert_eq!(seen["viewer_redrive_disabled"], true, "{seen}");
    assert_eq!(seen["viewer_forms_visible"], false, "{seen}");
    assert_eq!(seen["viewer_write_status"], 403, "{seen}");
    for shot in [
        "overview.png",
        "sign-in.png",
        "review.png",
        "connector.png",
        "directory.png",
        "sync.png",
        "security.png",
        "audit.png",
        "account.png",
        "viewer-phone.png",
    ] {
        let size = std::fs::metadata(std::path::Path::new(&shots).join(shot))
            .unwrap()
            .len();
        assert!(size > 5_000, "{shot}: {size} bytes");
    }
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_pages_need_a_session_and_a_role_and_show_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(crate::demo::options(dir.path())).await.unwrap();
    let sso = running.demo.as_ref().unwrap().sso.clone().unwrap();
    let password = std::fs::read_to_string(&sso.password_file).unwrap();
    let base = format!("http://{}", running.addr);
    let banner = dingbridge_local::banner::banner(&running);
    assert!(
        banner.contains(&format!("console:    {}/admin ", running.public_url)),
        "{banner}"
    );
    let browser = Browser::new(&base);
    let demo = running.demo.as_ref().unwrap();
    let connector = &demo.connector_id;
    let pages = [
        "/admin".to_owned(),
        "/admin/".to_owned(),
        "/admin/sign-in".to_owned(),
        "/admin/roles".to_owned(),
        "/admin/imports".to_owned(),
        "/admin/sync".to_owned(),
        "/admin/directory".to_owned(),
        "/admin/security".to_owned(),
        "/admin/audit".to_owned(),
        "/admin/connectors/new".to_owned(),
        format!("/admin/connectors/{connector}"),
    ];
    for path in &pages {
        let answer = browser.get(path).await;
        assert_eq!(answer.status, 303, "{path}: {}", answer.body);
        assert!(
            answer
                .location
                .as_deref()
                .unwrap()
                .starts_with("/login?next=")
        );
    }
    // A bootstrap without a session is turned away; with a session but without its CSRF token,
    // refused.
    let refused = browser
        .post("/admin/bootstrap", &[("token", &running.token.value)])
        .await;
    assert_eq!(refused.status, 303, "{}", refused.body);
    let signed = browser.sign_in(&sso.username, password.trim()).await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    let gate = browser.get("/admin").await;
    assert_eq!(gate.status, 403, "{}", gate.body);
    let no_csrf = browser
        .post("/admin/bootstrap", &[("token", &running.token.value)])
        .await;
    assert_eq!(no_csrf.status, 403, "{}", no_csrf.body);
    let csrf = gate.field("csrf");
    let made = browser
        .post(
            "/admin/bootstrap",
            &[("csrf", &csrf), ("token", &running.token.value)],
        )
        .await;
    assert_eq!(made.location.as_deref(), Some("/admin"), "{}", made.body);
    // Once only: a second bootstrap (another account) finds an administrator.
    let page = browser.get("/admin").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe"),
        "{csp}"
    );
    assert!(!page.body.contains("<script>"), "no inline script");
    assert!(
        !page.body.contains(&running.token.value),
        "no token in a page"
    );
    let sign_in = browser.get("/admin/sign-in").await;
    assert_eq!(sign_in.status, 200, "{}", sign_in.body);
    // Its form asks for secrets (write-only inputs, never filled).
    assert!(
        sign_in
            .body
            .contains(r#"name="app_secret" type="password" autocomplete="off" data-secret>"#),
        "{}",
        sign_in.body
    );
    let secret = running.demo.as_ref().unwrap().sim.apps()[0]
        .app_secret
        .clone();
    assert!(!page.body.contains(&secret) && !sign_in.body.contains(&secret));
    // The console's script reaches the API with the session, and writes only with the token.
    let me = browser.get("/admin/api/me").await;
    assert!(me.body.contains("\"role\":\"admin\""), "{}", me.body);
    // No page, and no API answer a page reads, carries a secret: the DingTalk app secrets, the
    // admin token, the demo's SCIM client secret, the session's own id.
    let scim_secret = std::fs::read_to_string(
        dir.path()
            .join("data")
            .join(dingbridge_local::demo::SCIM_SECRET_FILE),
    )
    .unwrap()
    .trim()
    .to_owned();
    let session_id = browser.cookie("dbsid").unwrap();
    let mut secrets: Vec<String> = demo.sim.apps().into_iter().map(|a| a.app_secret).collect();
    secrets.push(running.token.value.clone());
    secrets.push(session_id);
    assert!(scim_secret.len() >= 32);
    secrets.push(scim_secret);
    let accounts = browser.get("/admin/api/accounts?limit=1").await;
    let account: Value = serde_json::from_str(&accounts.body).unwrap();
    let account_id = account["items"][0]["id"].as_str().unwrap().to_owned();
    let runs = browser.get("/admin/api/runs").await;
    let run: Value = serde_json::from_str(&runs.body).unwrap();
    let run_id = run["items"][0]["id"].as_str().unwrap().to_owned();
    let mut read = pages.to_vec();
    read.extend([
        format!("/admin/directory/accounts/{account_id}"),
        format!("/admin/imports/{run_id}"),
        "/admin/api/connectors".to_owned(),
        format!("/admin/api/connectors/{connector}"),
        "/admin/api/auth-sources".to_owned(),
        "/admin/api/apps".to_owned(),
        "/admin/api/scim-clients".to_owned(),
        "/admin/api/settings/password-policy".to_owned(),
        "/admin/api/signing-keys".to_owned(),
        "/admin/api/audit?limit=1000".to_owned(),
        "/admin/api/parked-events".to_owned(),
        format!("/admin/api/accounts/{account_id}"),
        format!("/admin/api/accounts/{account_id}/bindings"),
        "/admin/api/accounts?limit=1000".to_owned(),
        format!("/admin/api/runs/{run_id}"),
    ]);
    assert!(secrets.len() >= 4, "{secrets:?}");
    for path in &read {
        let answer = browser.get(path).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.body);
        for secret in &secrets {
            assert!(
                !answer.body.contains(secret.as_str()),
                "{path} shows a secret"
            );
        }
        if !path.starts_with("/admin/api/") {
            let csp = answer.headers["content-security-policy"].to_str().unwrap();
            assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
            assert!(
                !answer.body.contains("<script>"),
                "{path}: an inline script"
            );
        }
    }
    running.shutdown().await.unwrap();
}
