//! The micro-app free login straight into an app, against the simulator. The page's JSAPI call is
//! played here by asking the simulator for a free-login code (as DingTalk would hand the page one)
//! and posting it the way the page's script does.

use reqwest::Method;
use serde_json::{Value, json};

use super::{Ding, param, sso_py};
use crate::portal::Browser;
use crate::system::Engine;

/// Opens the micro-app page for `app`, gets a code for `userid` and posts it; the answer.
async fn open(d: &Ding, b: &Browser, app: &str, userid: &str) -> (crate::portal::Answer, String) {
    let page = b
        .get(&format!(
            "/authenticate/ddMicro/login?agentId={}&appId={app}",
            d.agent_id
        ))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("dingtalk.open.js"), "{}", page.body);
    assert!(
        page.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self' https://g.alicdn.com")
    );
    let code = d
        .sys
        .sim(
            Method::POST,
            "/_sim/microapp/code",
            json!({"userid": userid, "app_key": d.app_key}),
        )
        .await["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let answer = post_code(d, b, &page, app, &code).await;
    (answer, code)
}

async fn post_code(
    d: &Ding,
    b: &Browser,
    page: &crate::portal::Answer,
    app: &str,
    code: &str,
) -> crate::portal::Answer {
    b.post(
        "/authenticate/ddMicro/code",
        &[
            ("csrf", &page.field("csrf")),
            ("agentId", &d.agent_id),
            ("appId", app),
            ("code", code),
        ],
    )
    .await
}

pub async fn enters_oidc_and_jwt_apps_and_refuses_a_used_code(engine: Engine) {
    let d = Ding::start(engine).await;
    let source = d
        .source(json!({"kind": "dingtalk_micro", "name": "工作台免登", "agent_id": d.agent_id}))
        .await;
    let redirect_uri = "http://127.0.0.1:9/callback";
    let oidc = d
        .admin(
            Method::POST,
            "/admin/api/apps",
            Some(
                json!({"name": "OA", "kind": "oidc", "redirect_uris": [redirect_uri],
                "scopes": ["openid", "profile", "email", "phone"],
                "initiate_login_uri": "https://oa.example/login",
                "home_url": "https://oa.example/",
                "assigned_to": {"everyone": true}}),
            ),
        )
        .await;
    let jwt = d
        .admin(
            Method::POST,
            "/admin/api/apps",
            Some(
                json!({"name": "HR", "kind": "jwt", "target_url": "https://hr.example/sso",
                "assigned_to": {"everyone": true}}),
            ),
        )
        .await;
    // The home-page URL of every app, to paste into DingTalk.
    let path = format!("/admin/api/auth-sources/{}", source["id"].as_str().unwrap());
    let source = d.admin(Method::GET, &path, None).await;
    let homes = source["home_urls"].as_array().unwrap();
    let oidc_id = oidc["client_id"].as_str().unwrap();
    let jwt_id = jwt["client_id"].as_str().unwrap();
    assert!(
        homes.iter().any(|h| h["home_url"]
            == format!(
                "{}/authenticate/ddMicro/login?agentId={}&appId={oidc_id}",
                d.sys.base, d.agent_id
            )),
        "{source}"
    );
    let (user, account) = d.synced_member("免登用户", "13900003333").await;

    // Into the OIDC app: its own login is started (third-party-initiated), and its code flow
    // completes on the new session without a sign-in page.
    let b = d.browser();
    let (answer, code) = open(&d, &b, oidc_id, &user.userid).await;
    assert_eq!(
        answer.location.as_deref(),
        Some(format!("/portal/apps/{oidc_id}").as_str())
    );
    let launched = b.follow(answer).await;
    let initiate = launched.location.clone().unwrap();
    assert!(
        initiate.starts_with("https://oa.example/login?"),
        "{initiate}"
    );
    assert_eq!(
        param(&initiate, "iss").as_deref(),
        Some(d.sys.base.as_str())
    );
    let session = b.cookie("dbsid").unwrap();
    let claims = sso_py(vec![
        "oidc".into(),
        d.sys.base.clone(),
        oidc_id.into(),
        oidc["client_secret"].as_str().unwrap().into(),
        redirect_uri.into(),
        session,
    ])
    .await;
    assert_eq!(claims["sub"], account.as_str(), "{claims}");
    assert_eq!(claims["amr"], json!(["dingtalk_micro"]), "{claims}");
    assert_eq!(claims["phone_number"], "13900003333", "{claims}");

    // The same code again: DingTalk's 40078, and a page that says to reopen the app.
    let b2 = d.browser();
    let page = b2
        .get(&format!(
            "/authenticate/ddMicro/login?agentId={}&appId={oidc_id}",
            d.agent_id
        ))
        .await;
    let used = post_code(&d, &b2, &page, oidc_id, &code).await;
    assert_eq!(used.status, 400, "{}", used.body);
    assert!(
        used.body.contains("reopen") || used.body.contains("open it again"),
        "{}",
        used.body
    );
    assert!(b2.cookie("dbsid").is_none());

    // Into the JWT app: its signed JWT, checked by joserfc against the JWKS.
    let b = d.browser();
    let (answer, _) = open(&d, &b, jwt_id, &user.userid).await;
    let launched = b.follow(answer).await;
    let target = launched.location.clone().unwrap();
    assert!(target.starts_with("https://hr.example/sso?"), "{target}");
    let token = param(&target, "id_token").unwrap();
    let claims: Value = sso_py(vec!["jwt".into(), d.sys.base.clone(), jwt_id.into(), token]).await;
    assert_eq!(claims["sub"], account.as_str(), "{claims}");

    // An app the person is not assigned: a page says so.
    let units = d.admin(Method::GET, "/admin/api/org-units", None).await;
    let root = units["items"][0]["id"].as_str().unwrap();
    let other = d
        .admin(
            Method::POST,
            "/admin/api/org-units",
            Some(json!({"name": "财务", "parent_id": root})),
        )
        .await;
    let finance = d
        .admin(
            Method::POST,
            "/admin/api/apps",
            Some(
                json!({"name": "Finance", "kind": "jwt", "target_url": "https://fin.example/",
                "assigned_to": {"org_unit_ids": [other["id"]]}}),
            ),
        )
        .await;
    let fin_id = finance["client_id"].as_str().unwrap();
    let b = d.browser();
    let (answer, _) = open(&d, &b, fin_id, &user.userid).await;
    let refused = b.follow(answer).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("not assigned"), "{}", refused.body);

    // Outside DingTalk the page offers the QR sign-in: no source → the sign-in page.
    assert!(
        b.get(&format!(
            "/authenticate/ddMicro/login?agentId={}&appId={oidc_id}",
            d.agent_id
        ))
        .await
        .body
        .contains("id=\"qr-link\"")
    );
    d.stop().await;
}
