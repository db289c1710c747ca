//! The portal in a real browser: Debian's Chromium, driven by Playwright for Python
//! (`browser.py`), signs in to `cargo run`'s demo, clicks into the demo OIDC app and the demo
//! JWT app, and signs out. `infra/test.sh` installs Chromium, the CJK font and Playwright, and
//! names the browser in `DINGBRIDGE_TEST_CHROMIUM`.

use dingbridge_local::start;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_and_clicks_into_both_demo_apps_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(crate::demo::options(dir.path())).await.unwrap();
    let sso = running.demo.as_ref().unwrap().sso.clone().unwrap();
    let password = std::fs::read_to_string(&sso.password_file).unwrap();
    let shots = dir.path().to_str().unwrap().to_owned();
    let args = vec![
        super::chromium(),
        running.public_url.clone(),
        sso.username.clone(),
        password.trim().to_owned(),
        shots,
    ];
    let seen: Value = super::run_script("portal/browser.py", args).await;
    assert_eq!(seen["who"], "演示用户", "{seen}");
    let apps = seen["apps"].to_string();
    assert!(
        apps.contains("演示 OIDC 应用") && apps.contains("演示 JWT 应用"),
        "{seen}"
    );
    assert_eq!(
        seen["oidc_claims"]["preferred_username"],
        sso.username.as_str(),
        "{seen}"
    );
    assert_eq!(
        seen["oidc_claims"]["aud"],
        sso.app.oidc_client_id.as_str(),
        "{seen}"
    );
    assert_eq!(
        seen["jwt_claims"]["aud"],
        sso.app.jwt_client_id.as_str(),
        "{seen}"
    );
    assert_eq!(seen["jwt_claims"]["name"], "演示用户", "{seen}");
    assert_eq!(seen["signed_out"], true);
    // The portal page was drawn (a screenshot of real pixels, Chinese in a CJK font).
    let shot = std::fs::metadata(dir.path().join("portal.png")).unwrap();
    assert!(
        shot.len() > 5_000,
        "a portal screenshot of {} bytes",
        shot.len()
    );
    running.shutdown().await.unwrap();
}
