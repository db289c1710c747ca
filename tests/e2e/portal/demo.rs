//! The demo of `cargo run`: the banner names the portal, the demo person and the file of their
//! password; signed in, the portal lists the demo OIDC app and the demo JWT app, and one click
//! into each ends on the demo app's page with the claims it received (checked there against the
//! JWKS). A second start keeps the person and their password.

use dingbridge_local::start;

use super::Browser;

/// Clicks the app tile `name` on the portal page and follows the browser to where it ends.
async fn click(browser: &Browser, portal: &super::Answer, name: &str) -> super::Answer {
    let tile = portal
        .body
        .split("class=\"app\"")
        .skip(1)
        .find(|t| t.contains(name))
        .unwrap_or_else(|| panic!("no tile {name} on the portal:\n{}", portal.body));
    let href = tile
        .split("href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let first = browser.get(href).await;
    browser.follow(first).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_person_signs_in_and_clicks_into_both_demo_apps() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(crate::demo::options(dir.path())).await.unwrap();
    let sso = running
        .demo
        .as_ref()
        .unwrap()
        .sso
        .clone()
        .expect("the demo has sign-in");
    let text = dingbridge_local::banner::banner(&running);
    let password = std::fs::read_to_string(&sso.password_file).unwrap();
    assert!(
        !text.contains(password.trim()),
        "the password is not printed"
    );
    assert!(
        text.contains(&format!("{}/login", running.public_url)),
        "{text}"
    );
    assert!(
        text.contains(&sso.password_file.display().to_string()),
        "{text}"
    );

    let browser = Browser::new(&format!("http://{}", running.addr));
    let answer = browser.sign_in(&sso.username, password.trim()).await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    let portal = browser.follow(answer).await;
    assert_eq!(portal.status, 200);
    assert!(portal.body.contains("演示用户"), "{}", portal.body);

    let oidc = click(&browser, &portal, "演示 OIDC 应用").await;
    assert_eq!(oidc.status, 200, "{}", oidc.body);
    assert!(
        oidc.body.contains("Demo OIDC app: signed in"),
        "{}",
        oidc.body
    );
    assert!(
        oidc.body.contains(&format!(
            "&quot;preferred_username&quot;: &quot;{}&quot;",
            sso.username
        )),
        "{}",
        oidc.body
    );

    let jwt = click(&browser, &portal, "演示 JWT 应用").await;
    assert_eq!(jwt.status, 200, "{}", jwt.body);
    assert!(jwt.body.contains("Demo JWT app: signed in"), "{}", jwt.body);
    assert!(
        jwt.body.contains(&sso.app.jwt_client_id),
        "the audience: {}",
        jwt.body
    );
    running.shutdown().await.unwrap();

    // A second start: the same person, the same password.
    let again = start(crate::demo::options(dir.path())).await.unwrap();
    let kept = again.demo.as_ref().unwrap().sso.clone().unwrap();
    assert_eq!(kept.username, sso.username);
    assert_eq!(
        std::fs::read_to_string(&kept.password_file).unwrap(),
        password
    );
    let browser = Browser::new(&format!("http://{}", again.addr));
    assert_eq!(
        browser
            .sign_in(&kept.username, password.trim())
            .await
            .status,
        303
    );
    again.shutdown().await.unwrap();
}

/// An app with the `dingtalk` scope learns the DingTalk userid and unionid of a person the push
/// made a DingTalk user of.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dingtalk_scope_releases_the_pushed_users_userid_and_unionid() {
    use serde_json::{Value, json};
    let dir = tempfile::tempdir().unwrap();
    let running = start(crate::demo::options(dir.path())).await.unwrap();
    let base = format!("http://{}", running.addr);
    let push = running.demo.as_ref().unwrap().push.clone().unwrap();
    let http = reqwest::Client::new();
    let admin = |method: reqwest::Method, path: &str, body: Value| {
        http.request(method, format!("{base}{path}"))
            .bearer_auth(&running.token.value)
            .json(&body)
            .send()
    };
    let password = "Han-Meimei-2026";
    let created: Value = admin(
        reqwest::Method::POST,
        "/admin/api/accounts",
        json!({"username": "han.meimei", "display_name": "韩梅梅", "mobile": "16612340000",
               "org_unit_ids": [push.root_unit_id], "password": password}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    admin(
        reqwest::Method::POST,
        &format!("/admin/api/accounts/{id}/password"),
        json!({"password": password, "must_change": false}),
    )
    .await
    .unwrap();
    crate::system::eventually(
        std::time::Duration::from_secs(60),
        "the push maps the account to a DingTalk user",
        || async {
            let account: Value = admin(
                reqwest::Method::GET,
                &format!("/admin/api/accounts/{id}"),
                Value::Null,
            )
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
            account["mappings"]
                .as_array()
                .is_some_and(|m| !m.is_empty())
        },
    )
    .await;
    let account: Value = admin(
        reqwest::Method::GET,
        &format!("/admin/api/accounts/{id}"),
        Value::Null,
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let userid = account["mappings"][0]["external_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let redirect = "https://app.example.com/cb";
    let app: Value = admin(
        reqwest::Method::POST,
        "/admin/api/apps",
        json!({"name": "考勤", "kind": "oidc", "redirect_uris": [redirect],
               "scopes": ["openid", "dingtalk"], "assigned_to": {"everyone": true}}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let client_id = app["client_id"].as_str().unwrap();
    let browser = Browser::new(&base);
    assert_eq!(browser.sign_in("han.meimei", password).await.status, 303);
    let query = serde_urlencoded::to_string([
        ("client_id", client_id),
        ("redirect_uri", redirect),
        ("response_type", "code"),
        ("scope", "openid dingtalk"),
    ])
    .unwrap();
    let answer = browser.get(&format!("/oauth2/authorize?{query}")).await;
    let code = answer.location_param("code").expect("a code");
    let tokens: Value = http
        .post(format!("{base}/oauth2/token"))
        .basic_auth(client_id, app["client_secret"].as_str())
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let claims: Value = http
        .get(format!("{base}/oauth2/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(claims["dingtalk"]["userid"], userid.as_str(), "{claims}");
    assert!(claims["dingtalk"]["unionid"].is_string(), "{claims}");
    running.shutdown().await.unwrap();
}
