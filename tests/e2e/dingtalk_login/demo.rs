//! The demo of `cargo run`: the banner's DingTalk QR login and micro-app URLs work on the local
//! runner against its simulator — a member links the demo person on the bind page, then the
//! micro-app URL (the local JSAPI stand-in's code endpoint standing in for DingTalk) signs the
//! same member straight into the demo OIDC app.

use dingbridge_local::start;

use super::{SimUser, param, scan};
use crate::portal::Browser;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_banners_dingtalk_sign_in_urls_work_on_the_local_runner() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(crate::demo::options(dir.path())).await.unwrap();
    let demo = running.demo.as_ref().unwrap();
    let sso = demo.sso.clone().expect("the demo has sign-in");
    let dt = sso.dingtalk.clone().expect("the demo has DingTalk sign-in");
    let text = dingbridge_local::banner::banner(&running);
    assert!(text.contains(&dt.qr_url), "{text}");
    let (_, micro_oidc) = dt.micro_urls[0].clone();
    assert!(text.contains(&micro_oidc), "{text}");
    let member = param(&micro_oidc, "simUser").unwrap();
    let user = SimUser {
        userid: member.clone(),
        corp: 0,
        mobile: String::new(),
    };

    // QR: the member is not synced yet (the first pull waits for review): the bind page.
    let browser = Browser::new(&format!("http://{}", running.addr));
    let started = browser.get(&dt.qr_url).await;
    assert_eq!(started.status, 303, "{}", started.body);
    let picked = scan(&browser, started.location.as_deref().unwrap(), &user).await;
    let forward = browser.get(picked.location.as_deref().unwrap()).await;
    assert_eq!(forward.location.as_deref(), Some("/authenticate/bind"));
    let page = browser.get("/authenticate/bind").await;
    let password = std::fs::read_to_string(&sso.password_file).unwrap();
    let bound = browser
        .post(
            "/authenticate/bind",
            &[
                ("csrf", &page.field("csrf")),
                ("identifier", &sso.username),
                ("password", password.trim()),
            ],
        )
        .await;
    let portal = browser.follow(bound).await;
    assert_eq!(portal.status, 200, "{}", portal.body);
    assert!(portal.body.contains(&member), "{}", portal.body);

    // Micro-app: the page loads the local stand-in; its code endpoint asks the simulator.
    let browser = Browser::new(&format!("http://{}", running.addr));
    let page = browser.get(&micro_oidc).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("/_local/dingtalk-jsapi.js"),
        "{}",
        page.body
    );
    let stand_in = browser.get("/_local/dingtalk-jsapi.js").await;
    assert!(stand_in.body.contains("LOCAL ONLY"));
    let code: serde_json::Value = reqwest::Client::new()
        .post(format!("http://{}/_local/dingtalk/code", running.addr))
        .json(&serde_json::json!({"userid": member, "client_id": null}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let code = code["code"].as_str().expect("a simulated free-login code");
    let answer = browser
        .post(
            "/authenticate/ddMicro/code",
            &[
                ("csrf", &page.field("csrf")),
                ("agentId", &param(&micro_oidc, "agentId").unwrap()),
                ("appId", &param(&micro_oidc, "appId").unwrap()),
                ("code", code),
            ],
        )
        .await;
    let app = browser.follow(answer).await;
    assert_eq!(app.status, 200, "{}", app.body);
    assert!(
        app.body.contains("Demo OIDC app: signed in"),
        "{}",
        app.body
    );
    running.shutdown().await.unwrap();
}
