//! Nothing the token endpoint or the bearer check logs holds a secret or a token. Its own test
//! binary: tracing caches which call sites are enabled per process, so the capturing subscriber
//! must be the only one.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use dingbridge::adapters::embedded::EmbeddedStore;
use dingbridge::domain::directory::Origin;
use dingbridge::oauth::{BearerCheck, SourceIp};
use dingbridge::ports::{Clock, SystemClock, Table};
use dingbridge::secrets::SecretBox;
use dingbridge::store::Actor;
use dingbridge::store::scim_clients::{NewScimClient, ScimClients};
use dingbridge::store::throttle::ThrottleSettings;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// The log lines, as written.
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

async fn post(app: &axum::Router, body: String, basic: Option<String>) -> Value {
    let mut request = Request::post("/oauth/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(credentials) = basic {
        request = request.header(
            header::AUTHORIZATION,
            format!("Basic {}", STANDARD.encode(credentials)),
        );
    }
    let mut request = request.body(Body::from(body)).unwrap();
    request
        .extensions_mut()
        .insert(SourceIp("192.0.2.1".into()));
    let response = app.clone().oneshot(request).await.unwrap();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn no_secret_or_token_reaches_the_logs() {
    let captured = Captured::default();
    let sink = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .init();

    let dir = tempfile::tempdir().unwrap();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let table: Arc<dyn Table> = Arc::new(store.table(clock.clone()));
    let app = oauth_token::router(oauth_token::Deps {
        table: table.clone(),
        clock: clock.clone(),
        secrets: SecretBox::from_base64(&SecretBox::generate_key()).unwrap(),
        public_url: "https://idm.example".into(),
        throttle: ThrottleSettings::default(),
    });
    let (client, secret) = ScimClients::new(table.clone(), clock.clone())
        .create(
            NewScimClient {
                name: "Okta".into(),
                connector_id: None,
                root_org_unit_id: None,
                token_lifetime_s: 600,
                allow_basic: true,
            },
            &Actor::new(Origin::Admin, "test"),
        )
        .await
        .unwrap();
    let id = &client.client_id;

    let ok = post(
        &app,
        "grant_type=client_credentials".into(),
        Some(format!("{id}:{secret}")),
    )
    .await;
    let token = ok["access_token"].as_str().unwrap().to_owned();
    post(
        &app,
        "grant_type=client_credentials".into(),
        Some(format!("{id}:{secret}x")),
    )
    .await;
    post(
        &app,
        format!("grant_type=client_credentials&client_id={id}&client_secret=guess-{secret}"),
        None,
    )
    .await;
    let check = BearerCheck::new(table, clock, "https://idm.example");
    check
        .caller(Some(&format!("Bearer {token}")), None)
        .await
        .unwrap();
    let _ = check.caller(Some(&format!("Bearer {token}x")), None).await;
    let _ = check
        .caller(
            Some(&format!(
                "Basic {}",
                STANDARD.encode(format!("{id}:wrong-{secret}"))
            )),
            Some("192.0.2.1"),
        )
        .await;

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("issued a SCIM access token") && logs.contains("token refused"),
        "logging was captured: {logs}"
    );
    assert!(logs.contains(id.as_str()), "client ids may be logged");
    assert!(!logs.contains(&secret), "a secret was logged: {logs}");
    let signature = token.rsplit('.').next().unwrap();
    assert!(!logs.contains(signature), "a token was logged: {logs}");
}
