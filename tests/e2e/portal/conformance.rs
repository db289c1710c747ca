//! The checklist of the OpenID conformance suite's basic-OP plan (`login-and-sso` notes): what a
//! certified provider must do at the authorization, token and userinfo endpoints.

use serde_json::Value;

use super::{Answer, Browser, Local, PASSWORD};

const REDIRECT: &str = "https://app.example.com/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

struct App {
    client_id: String,
    secret: String,
}

impl App {
    /// The same client id with another secret.
    fn with_secret(&self, secret: &str) -> App {
        App {
            client_id: self.client_id.clone(),
            secret: secret.to_owned(),
        }
    }
}

/// A local system, its app, and a code the signed-in person got for it.
async fn a_code() -> (Local, App, String) {
    let local = Local::start().await;
    let app = app(&local).await;
    let browser = signed_in(&local).await;
    let code = code_of(&browser.get(&authorize(&app, &[])).await);
    (local, app, code)
}

async fn app(local: &Local) -> App {
    let app = local.oidc_app(REDIRECT, false).await;
    App {
        client_id: app["client_id"].as_str().unwrap().to_owned(),
        secret: app["client_secret"].as_str().unwrap().to_owned(),
    }
}

fn authorize(app: &App, extra: &[(&str, &str)]) -> String {
    let mut params = vec![
        ("client_id", app.client_id.as_str()),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "openid profile email"),
        ("state", "st-1"),
        ("nonce", "n-1"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    for (k, v) in extra {
        params.retain(|(key, _)| key != k);
        if !v.is_empty() {
            params.push((k, v));
        }
    }
    format!(
        "/oauth2/authorize?{}",
        serde_urlencoded::to_string(params).unwrap()
    )
}

/// A signed-in browser.
async fn signed_in(local: &Local) -> Browser {
    let browser = Browser::new(&local.base);
    let answer = browser.sign_in("zhang.san", PASSWORD).await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    browser
}

/// The code the redirect back to the app carries.
fn code_of(answer: &Answer) -> String {
    let location = answer.location.as_deref().unwrap_or_default();
    assert!(location.starts_with(REDIRECT), "{location} {}", answer.body);
    assert_eq!(answer.location_param("state").as_deref(), Some("st-1"));
    answer
        .location_param("code")
        .unwrap_or_else(|| panic!("no code in {location}"))
}

async fn redeem(local: &Local, app: &App, code: &str, verifier: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/oauth2/token", local.base))
        .basic_auth(&app.client_id, Some(&app.secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    if status == 200 {
        assert_eq!(response.headers()["cache-control"], "no-store");
        assert_eq!(response.headers()["pragma"], "no-cache");
    }
    (status, response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_states_exactly_what_is_supported() {
    let local = Local::start().await;
    let doc: Value = reqwest::get(format!("{}/.well-known/openid-configuration", local.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["issuer"], local.base.as_str());
    assert_eq!(doc["request_parameter_supported"], false);
    assert_eq!(doc["request_uri_parameter_supported"], false);
    assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(
        doc["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert!(
        doc.get("authorization_response_iss_parameter_supported")
            .is_none()
    );
    // The JWKS it names answers with the key the id_tokens carry.
    let jwks: Value = reqwest::get(doc["jwks_uri"].as_str().unwrap())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!jwks["keys"].as_array().unwrap().is_empty(), "{jwks}");
    local.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unregistered_redirect_uri_or_client_gets_a_page_never_a_redirect() {
    let local = Local::start().await;
    let app = app(&local).await;
    let browser = signed_in(&local).await;
    for url in [
        authorize(&app, &[("redirect_uri", "https://evil.example/callback")]),
        authorize(
            &app,
            &[("redirect_uri", "https://app.example.com/callback/more")],
        ),
        authorize(&app, &[("redirect_uri", "")]),
        authorize(&app, &[("client_id", "dbapp_unknown")]),
        authorize(&app, &[("client_id", "")]),
    ] {
        let answer = browser.get(&url).await;
        assert_eq!(answer.status, 400, "{url}");
        assert!(answer.location.is_none(), "{url} redirected");
        assert!(answer.body.contains("<html"), "an error page for {url}");
    }
    local.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_redirect_back_with_the_error_and_the_state() {
    let local = Local::start().await;
    let app = app(&local).await;
    let browser = signed_in(&local).await;
    for (extra, error) in [
        (vec![("response_type", "")], "invalid_request"),
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (
            vec![("request", "eyJhbGciOiJub25lIn0.e30.")],
            "request_not_supported",
        ),
        (
            vec![("request_uri", "https://app.example.com/r")],
            "request_uri_not_supported",
        ),
        (vec![("scope", "profile")], "invalid_scope"),
        (vec![("code_challenge_method", "plain")], "invalid_request"),
    ] {
        let answer = browser.get(&authorize(&app, &extra)).await;
        assert_eq!(answer.status, 303, "{extra:?}");
        assert!(answer.location.as_deref().unwrap().starts_with(REDIRECT));
        assert_eq!(
            answer.location_param("error").as_deref(),
            Some(error),
            "{extra:?}"
        );
        assert_eq!(answer.location_param("state").as_deref(), Some("st-1"));
    }
    local.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompt_none_without_a_session_is_login_required_and_with_one_is_silent() {
    let local = Local::start().await;
    let app = app(&local).await;
    let stranger = Browser::new(&local.base);
    let answer = stranger.get(&authorize(&app, &[("prompt", "none")])).await;
    assert_eq!(
        answer.location_param("error").as_deref(),
        Some("login_required")
    );
    assert_eq!(answer.location_param("state").as_deref(), Some("st-1"));

    let browser = signed_in(&local).await;
    let answer = browser.get(&authorize(&app, &[("prompt", "none")])).await;
    let code = code_of(&answer);
    let (status, tokens) = redeem(&local, &app, &code, VERIFIER).await;
    assert_eq!(status, 200, "{tokens}");
    local.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompt_login_and_max_age_ask_for_the_password_again() {
    let local = Local::start().await;
    let app = app(&local).await;
    let browser = signed_in(&local).await;
    for extra in [[("prompt", "login")], [("max_age", "0")]] {
        let answer = browser.get(&authorize(&app, &extra)).await;
        let location = answer.location.clone().unwrap();
        assert!(location.starts_with("/login?"), "{extra:?}: {location}");
        let page = browser.get(&location).await;
        assert_eq!(page.status, 200, "the form, though signed in");
        let signed = browser.sign_in_on(&page, "zhang.san", PASSWORD).await;
        let back = browser.follow(signed).await;
        code_of(&back);
    }
    // A generous max_age is satisfied by the session as it is.
    let answer = browser.get(&authorize(&app, &[("max_age", "3600")])).await;
    code_of(&answer);
    local.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_parameters_are_ignored_and_nonce_is_optional() {
    let local = Local::start().await;
    let app = app(&local).await;
    let browser = signed_in(&local).await;
    let answer = browser
        .get(&authorize(
            &app,
            &[("foo", "bar"), ("nonce", ""), ("ui_locales", "zh-CN")],
        ))
        .await;
    let code = code_of(&answer);
    let (status, tokens) = redeem(&local, &app, &code, VERIFIER).await;
    assert_eq!(status, 200, "{tokens}");
    local.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_or_a_pkce_mismatch_gets_no_tokens() {
    let (local, app, code) = a_code().await;
    let wrong = app.with_secret("dbaps_wrong");
    let (status, body) = redeem(&local, &wrong, &code, VERIFIER).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    // The wrong verifier spends the code.
    let (status, body) = redeem(&local, &app, &code, &"x".repeat(43)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, body) = redeem(&local, &app, &code, VERIFIER).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    local.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn userinfo_takes_the_token_in_the_header_or_the_form_and_refresh_rotates() {
    let local = Local::start().await;
    let app = app(&local).await;
    let browser = signed_in(&local).await;
    let code = code_of(&browser.get(&authorize(&app, &[])).await);
    let (status, tokens) = redeem(&local, &app, &code, VERIFIER).await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    let http = reqwest::Client::new();
    let url = format!("{}/oauth2/userinfo", local.base);
    let by_header = http.get(&url).bearer_auth(access).send().await.unwrap();
    assert_eq!(by_header.status(), 200);
    let claims: Value = by_header.json().await.unwrap();
    assert_eq!(claims["sub"], local.account_id.as_str());
    assert!(
        claims.get("phone_number").is_none(),
        "phone was not asked for: {claims}"
    );
    let by_form = http
        .post(&url)
        .form(&[("access_token", access)])
        .send()
        .await
        .unwrap();
    assert_eq!(by_form.status(), 200);
    let none = http.get(&url).send().await.unwrap();
    assert_eq!(none.status(), 401);
    assert!(
        none.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let bad = http
        .get(&url)
        .bearer_auth("dbat_nope")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    assert!(
        bad.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains(r#"error="invalid_token""#)
    );

    // A refresh gives new tokens; the spent refresh token, used again, revokes the grant.
    let refresh = |token: String| {
        let http = http.clone();
        let (url, app_id, secret) = (
            format!("{}/oauth2/token", local.base),
            app.client_id.clone(),
            app.secret.clone(),
        );
        async move {
            let r = http
                .post(url)
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", token.as_str()),
                    ("client_id", app_id.as_str()),
                    ("client_secret", secret.as_str()),
                ])
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let first = tokens["refresh_token"].as_str().unwrap().to_owned();
    let (status, renewed) = refresh(first.clone()).await;
    assert_eq!(status, 200, "{renewed}");
    let (status, _) = refresh(first).await;
    assert_eq!(status, 400);
    let revoked = http
        .get(&url)
        .bearer_auth(renewed["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        revoked.status(),
        401,
        "a replayed refresh token revokes the grant"
    );
    local.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_wrong_client_secrets_are_no_longer_checked() {
    let (local, app, code) = a_code().await;
    let wrong = app.with_secret("dbaps_wrong");
    for _ in 0..10 {
        let (status, _) = redeem(&local, &wrong, &code, VERIFIER).await;
        assert_eq!(status, 401);
    }
    // The right secret too, until the window ends: a guesser learns nothing more.
    let (status, body) = redeem(&local, &app, &code, VERIFIER).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable");
    local.stop().await;
}
