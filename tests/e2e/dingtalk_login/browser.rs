//! DingTalk sign-in in a real browser: Debian's Chromium, driven by Playwright for Python
//! (`browser.py`), on `cargo run`'s demo — the QR button, the simulator's scan page, the bind
//! page, an error page, and the micro-app page's script with the current JSAPI, the legacy one,
//! and none. Screenshots of the sign-in, bind and error pages are what `docs/PORTAL.md` shows.

use dingbridge_local::start;
use serde_json::Value;

use super::param;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dingtalk_sign_in_and_the_micro_app_page_work_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(crate::demo::options(dir.path())).await.unwrap();
    let sso = running.demo.as_ref().unwrap().sso.clone().unwrap();
    let dt = sso.dingtalk.clone().unwrap();
    let password = std::fs::read_to_string(&sso.password_file).unwrap();
    let micro = dt.micro_urls[0].1.clone();
    let member = param(&micro, "simUser").unwrap();
    let shots = std::env::var("DINGBRIDGE_SCREENSHOTS")
        .unwrap_or_else(|_| dir.path().to_str().unwrap().to_owned());
    let args = vec![
        crate::portal::chromium(),
        running.public_url.clone(),
        dt.qr_url.clone(),
        micro,
        member.clone(),
        sso.username.clone(),
        password.trim().to_owned(),
        shots.clone(),
    ];
    let seen: Value = crate::portal::run_script("dingtalk_login/browser.py", args).await;
    assert_eq!(seen["button"], "钉钉扫码登录 (模拟)", "{seen}");
    assert!(
        seen["bind_who"].as_str().unwrap().contains(&member),
        "{seen}"
    );
    assert!(seen["linked"].as_str().unwrap().contains(&member), "{seen}");
    assert!(
        seen["error_again"]
            .as_str()
            .unwrap()
            .starts_with("/authenticate/ddtalk/"),
        "{seen}"
    );
    for claims in ["micro_claims", "legacy_claims"] {
        assert_eq!(
            seen[claims]["preferred_username"],
            sso.username.as_str(),
            "{seen}"
        );
        assert_eq!(
            seen[claims]["amr"],
            serde_json::json!(["dingtalk_micro"]),
            "{seen}"
        );
    }
    assert!(
        seen["outside"]
            .as_str()
            .unwrap()
            .contains("DingTalk workbench"),
        "{seen}"
    );
    assert!(
        seen["outside_link"]
            .as_str()
            .unwrap()
            .starts_with("/authenticate/ddtalk/"),
        "{seen}"
    );
    // The pages were drawn (real pixels, Chinese in a CJK font).
    for shot in ["sign-in.png", "bind.png", "error.png", "micro-outside.png"] {
        let size = std::fs::metadata(std::path::Path::new(&shots).join(shot))
            .unwrap()
            .len();
        assert!(size > 5_000, "{shot}: {size} bytes");
    }
    running.shutdown().await.unwrap();
}
