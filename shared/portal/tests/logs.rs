//! Nothing the portal logs holds a password, a session id, a code, a token or a client secret,
//! through a whole sign-in and code flow (a wrong password first). Its own test binary: tracing
//! caches which call sites are enabled per process, so the capturing subscriber must be the only
//! one.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, header};
use dingbridge::oauth::SourceIp;
use dingbridge::ports::{Clock, SystemClock};
use dingbridge::secrets::SecretBox;
use dingbridge::store::apps::{AppKind, Apps, Assignment, CheckedApp};
use dingbridge::store::sessions::SessionSettings;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

const PASSWORD: &str = "Correct-Horse-9";
const WRONG: &str = "Wrong-Horse-Battery-1";
const REDIRECT: &str = "https://app.example.com/cb";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct Answer {
    status: u16,
    cookies: Vec<String>,
    location: Option<String>,
    body: String,
}

async fn send(app: &axum::Router, request: Request<Body>) -> Answer {
    let mut request = request;
    request
        .extensions_mut()
        .insert(SourceIp("192.0.2.7".into()));
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let cookies = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect();
    let location = response
        .headers()
        .get(header::LOCATION)
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        cookies,
        location,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

fn form(path: &str, cookie: &str, body: &[(&str, &str)]) -> Request<Body> {
    Request::post(path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, cookie)
        .body(Body::from(serde_urlencoded::to_string(body).unwrap()))
        .unwrap()
}

fn field(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker).unwrap() + marker.len();
    page[start..][..page[start..].find('"').unwrap()].replace("&#38;", "&")
}

#[tokio::test]
async fn no_password_session_code_token_or_secret_reaches_the_logs() {
    let captured = Captured::default();
    let sink = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .init();

    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let common::Store {
        table,
        admin,
        dir: _dir,
        ..
    } = common::store(clock.clone(), "li.si", "李四", PASSWORD).await;
    let mut settings = CheckedApp::new("应用", AppKind::Oidc);
    settings.redirect_uris = vec![REDIRECT.to_owned()];
    settings.assigned_to = Assignment::Everyone;
    let (app, secret) = Apps::new(table.clone(), clock.clone())
        .create(settings, &admin)
        .await
        .unwrap();
    let secret = secret.unwrap();
    let portal = portal::router(portal::Deps {
        table,
        clock,
        secrets: SecretBox::from_base64(&SecretBox::generate_key()).unwrap(),
        public_url: "https://idm.example".into(),
        sessions: SessionSettings::default(),
        throttle: portal::default_throttle(),
        dingtalk: Arc::new(dingbridge::dingtalk::HttpDingTalk::new(Default::default()).unwrap()),
        jsapi_stand_in: None,
    });

    let page = send(&portal, Request::get("/login").body(Body::empty()).unwrap()).await;
    let csrf_cookie = page.cookies[0].clone();
    let csrf = field(&page.body, "csrf");
    let sign_in = |password: &'static str| {
        form(
            "/login",
            &csrf_cookie,
            &[
                ("csrf", &csrf),
                ("next", "/portal"),
                ("identifier", "li.si"),
                ("password", password),
            ],
        )
    };
    assert_eq!(send(&portal, sign_in(WRONG)).await.status, 401);
    let signed = send(&portal, sign_in(PASSWORD)).await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    let session = signed
        .cookies
        .iter()
        .find(|c| c.starts_with("dbsid="))
        .unwrap()
        .clone();

    let query = serde_urlencoded::to_string([
        ("client_id", app.client_id.as_str()),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "openid"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ])
    .unwrap();
    let authorized = send(
        &portal,
        Request::get(format!("/oauth2/authorize?{query}"))
            .header(header::COOKIE, &session)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let location = authorized.location.unwrap();
    let code = location
        .split("code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned();
    let token_form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
        ("client_id", app.client_id.as_str()),
        ("client_secret", secret.as_str()),
    ];
    let tokens = send(&portal, form("/oauth2/token", "", &token_form)).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    // A replay, which is refused and logged as such.
    assert_eq!(
        send(&portal, form("/oauth2/token", "", &token_form))
            .await
            .status,
        400
    );
    let tokens: Value = serde_json::from_str(&tokens.body).unwrap();

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("portal sign-in"),
        "the flow was logged:\n{logs}"
    );
    let session_id = session.trim_start_matches("dbsid=");
    for (what, secret) in [
        ("the password", PASSWORD),
        ("the wrong password", WRONG),
        ("the session id", session_id),
        ("the CSRF token", csrf.as_str()),
        ("the code", code.as_str()),
        ("the client secret", secret.as_str()),
        ("the access token", tokens["access_token"].as_str().unwrap()),
        (
            "the refresh token",
            tokens["refresh_token"].as_str().unwrap(),
        ),
        ("the id_token", tokens["id_token"].as_str().unwrap()),
    ] {
        assert!(!logs.contains(secret), "{what} is in the logs:\n{logs}");
    }
}
