//! Login flows: the picker page, OAuth2 user token, legacy SNS signature, micro-app codes.

use base64::Engine as _;
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::support::{Env, config, env};

fn query_param(url: &str, key: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).ok()?;
    pairs.into_iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// Opens the login page and "scans" as the first listed member; returns the redirect target.
async fn scan(env: &Env, page_path: &str) -> String {
    let page = env
        .http
        .get(format!("{}{page_path}", env.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let href = html
        .split("href=\"/_sim/login/pick?")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let pick = format!(
        "{}/_sim/login/pick?{}",
        env.base,
        href.replace("&amp;", "&")
    );
    let response = env.http.get(pick).send().await.unwrap();
    assert_eq!(response.status(), 302);
    response.headers()["location"].to_str().unwrap().to_string()
}

/// `userAccessToken` for an OAuth2 code: the answer.
async fn user_token(env: &Env, code: &str) -> Value {
    env.http
        .post(format!("{}/v1.0/oauth2/userAccessToken", env.base))
        .json(
            &json!({"clientId": env.app.app_key, "clientSecret": env.app.app_secret,
            "code": code, "grantType": "authorization_code"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// `users/me` with a user token.
async fn users_me(env: &Env, token: &Value) -> Value {
    env.http
        .get(format!("{}/v1.0/contact/users/me", env.base))
        .header(
            "x-acs-dingtalk-access-token",
            token["accessToken"].as_str().unwrap(),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn oauth2_login_issues_a_user_token_for_the_member_who_scanned() {
    let env = env(config()).await;
    let redirect = "http://127.0.0.1:9/cb";
    let query = serde_urlencoded::to_string([
        ("redirect_uri", redirect),
        ("response_type", "code"),
        ("client_id", env.app.app_key.as_str()),
        ("scope", "openid"),
        ("state", "xyz"),
        ("prompt", "consent"),
    ])
    .unwrap();
    let target = scan(&env, &format!("/oauth2/auth?{query}")).await;
    assert!(target.starts_with(redirect));
    assert_eq!(query_param(&target, "state").as_deref(), Some("xyz"));
    let code = query_param(&target, "authCode").unwrap();
    assert_eq!(query_param(&target, "code").unwrap(), code);

    let token = user_token(&env, &code).await;
    assert_eq!(token["corpId"], env.app.corp_id.as_str());
    let reused = user_token(&env, &code).await;
    assert_eq!(reused["code"], "invalidAuthCode", "{reused}");

    let me = users_me(&env, &token).await;
    let app_token = env.token().await;
    let mapped = env
        .post(
            "/topapi/user/getbyunionid",
            &app_token,
            json!({"unionid": me["unionId"]}),
        )
        .await;
    assert_eq!(mapped["errcode"], 0, "{mapped}");
    assert!(mapped["result"]["userid"].is_string());
}

#[tokio::test]
async fn an_unregistered_redirect_uri_is_refused() {
    let env = env(config()).await;
    let query = serde_urlencoded::to_string([
        ("redirect_uri", "https://evil.example/cb"),
        ("client_id", env.app.app_key.as_str()),
        ("state", "s"),
    ])
    .unwrap();
    let page = env
        .http
        .get(format!("{}/oauth2/auth?{query}", env.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 400);
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut block = [0u8; 64];
    block[..key.len()].copy_from_slice(key);
    let inner = Sha256::new()
        .chain_update(block.map(|b| b ^ 0x36))
        .chain_update(data)
        .finalize();
    Sha256::new()
        .chain_update(block.map(|b| b ^ 0x5c))
        .chain_update(inner)
        .finalize()
        .to_vec()
}

#[tokio::test]
async fn sns_code_exchange_checks_the_hmac_signature() {
    let env = env(config()).await;
    let query = serde_urlencoded::to_string([
        ("appid", env.app.app_key.as_str()),
        ("response_type", "code"),
        ("scope", "snsapi_login"),
        ("state", "st"),
        ("redirect_uri", "http://localhost:8080/login"),
    ])
    .unwrap();
    let target = scan(&env, &format!("/connect/qrconnect?{query}")).await;
    let code = query_param(&target, "code").unwrap();
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        .to_string();
    let signature = base64::engine::general_purpose::STANDARD.encode(hmac_sha256(
        env.app.app_secret.as_bytes(),
        timestamp.as_bytes(),
    ));
    let call = |sig: String| {
        let q = serde_urlencoded::to_string([
            ("accessKey", env.app.app_key.as_str()),
            ("timestamp", timestamp.as_str()),
            ("signature", sig.as_str()),
        ])
        .unwrap();
        let url = format!("{}/sns/getuserinfo_bycode?{q}", env.base);
        let body = json!({"tmp_auth_code": code});
        let http = env.http.clone();
        async move {
            http.post(url)
                .json(&body)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let forged = call("AAAA".into()).await;
    assert_eq!(forged["errmsg"], "invalid signature");
    let ok = call(signature.clone()).await;
    assert_eq!(ok["errcode"], 0, "{ok}");
    assert!(ok["user_info"]["unionid"].is_string());
    assert_eq!(call(signature).await["errcode"], 40078);
}

#[tokio::test]
async fn a_micro_app_code_is_single_use() {
    let env = env(config()).await;
    let t = env.token().await;
    let userid = env.sim.state().corps[0]
        .org
        .read()
        .unwrap()
        .users
        .keys()
        .next()
        .unwrap()
        .clone();
    let (_, minted) = env
        .control(
            Method::POST,
            "/_sim/microapp/code",
            json!({"userid": userid}),
        )
        .await;
    let code = minted["code"].clone();
    let first = env
        .post("/topapi/v2/user/getuserinfo", &t, json!({"code": code}))
        .await;
    assert_eq!(first["errcode"], 0, "{first}");
    assert_eq!(first["result"]["userid"], userid.as_str());
    let again = env
        .post("/topapi/v2/user/getuserinfo", &t, json!({"code": code}))
        .await;
    assert_eq!(again["errcode"], 40078);
}

/// As on DingTalk, a member of another organisation may scan a corp's login app and gets a valid
/// code; what keeps them out is the corp's own `getbyunionid` (60121), which the relying party
/// must call.
#[tokio::test]
async fn a_member_of_another_corp_can_scan_but_the_corp_does_not_know_them() {
    let env = env(dingtalk_sim::SimConfig {
        corps: 2,
        users: 20,
        depts: 3,
        ..config()
    })
    .await;
    let redirect = "http://127.0.0.1:9/cb";
    let query = serde_urlencoded::to_string([
        ("redirect_uri", redirect),
        ("response_type", "code"),
        ("client_id", env.app.app_key.as_str()),
        ("scope", "openid"),
        ("state", "s"),
        ("prompt", "consent"),
    ])
    .unwrap();
    let html = env
        .http
        .get(format!("{}/oauth2/auth?{query}", env.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let href = html
        .split("class=\"member outsider\"")
        .nth(1)
        .expect("the page lists the other corp's members")
        .split("href=\"/_sim/login/pick?")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&");
    let picked = env
        .http
        .get(format!("{}/_sim/login/pick?{href}", env.base))
        .send()
        .await
        .unwrap();
    assert_eq!(picked.status(), 302);
    let target = picked.headers()["location"].to_str().unwrap().to_owned();
    let code = query_param(&target, "authCode").unwrap();
    let token = user_token(&env, &code).await;
    let me = users_me(&env, &token).await;
    assert!(me["unionId"].is_string(), "{me}");
    let mapped = env
        .post(
            "/topapi/user/getbyunionid",
            &env.token().await,
            json!({"unionid": me["unionId"]}),
        )
        .await;
    assert_eq!(mapped["errcode"], 60121, "{mapped}");
}
