//! A tiny business app for the demo (`/demo-app/…`), served by the local runner so that a
//! newcomer can click from the portal into an app and see what it received: as an OpenID
//! Connect relying party (third-party-initiated login, code flow with PKCE, the id_token checked
//! against the JWKS, userinfo) and as the target of the demo JWT app (the JWT checked the same
//! way). It talks to the provider over HTTP like any app would.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dingbridge::secrets::generate_token;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The demo apps' credentials, known once the demo made them.
#[derive(Clone, Debug)]
pub struct DemoAppConfig {
    pub oidc_client_id: String,
    pub oidc_client_secret: String,
    pub jwt_client_id: String,
}

/// A login the app started and waits to see come back.
struct Pending {
    verifier: String,
    nonce: String,
}

struct Inner {
    /// Where the app reaches the provider (loopback).
    base: String,
    /// The provider's issuer (the browser is sent there).
    issuer: String,
    config: OnceLock<DemoAppConfig>,
    pending: Mutex<HashMap<String, Pending>>,
    http: reqwest::Client,
}

#[derive(Clone)]
pub struct DemoApp(Arc<Inner>);

/// The app's callback and login URLs under `issuer`.
pub fn callback_url(issuer: &str) -> String {
    format!("{issuer}/demo-app/callback")
}

pub fn login_url(issuer: &str) -> String {
    format!("{issuer}/demo-app/login")
}

pub fn jwt_url(issuer: &str) -> String {
    format!("{issuer}/demo-app/jwt")
}

pub fn home_url(issuer: &str) -> String {
    format!("{issuer}/demo-app/")
}

impl DemoApp {
    pub fn new(base: &str, issuer: &str) -> Self {
        Self(Arc::new(Inner {
            base: base.trim_end_matches('/').to_owned(),
            issuer: issuer.trim_end_matches('/').to_owned(),
            config: OnceLock::new(),
            pending: Mutex::new(HashMap::new()),
            http: reqwest::Client::new(),
        }))
    }

    pub fn set(&self, config: DemoAppConfig) {
        let _ = self.0.config.set(config);
    }

    pub fn routes(&self) -> Router {
        Router::new()
            .route("/demo-app/", get(index))
            .route("/demo-app/login", get(login))
            .route("/demo-app/callback", get(callback))
            .route("/demo-app/jwt", get(jwt))
            .with_state(self.clone())
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn page(title: &str, body: &str) -> Response {
    Html(format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>{t}</title>\
         <style>body{{font-family:system-ui,'Noto Sans CJK SC',sans-serif;margin:40px;}}\
         pre{{background:#f5f7fa;padding:12px;border-radius:6px;}}</style></head>\
         <body><h1 id=\"title\">{t}</h1>{body}<p><a href=\"/portal\">← 门户 Portal</a></p></body></html>",
        t = escape(title)
    ))
    .into_response()
}

fn claims_page(title: &str, sections: &[(&str, &Value)]) -> Response {
    let mut body = String::new();
    for (heading, value) in sections {
        let pretty = serde_json::to_string_pretty(value).unwrap_or_default();
        body.push_str(&format!(
            "<h2>{}</h2><pre class=\"claims\">{}</pre>",
            escape(heading),
            escape(&pretty)
        ));
    }
    page(title, &body)
}

fn failed(why: &str) -> Response {
    (
        axum::http::StatusCode::BAD_REQUEST,
        page(
            "演示应用：登录失败 Demo app: sign-in failed",
            &format!("<p id=\"error\">{}</p>", escape(why)),
        ),
    )
        .into_response()
}

async fn index(State(app): State<DemoApp>) -> Response {
    page(
        "演示应用 Demo app",
        &format!(
            "<p>This app signs you in through the dingbridge portal.</p>\
             <p><a id=\"sign-in\" href=\"/demo-app/login?iss={}\">通过 dingbridge 登录 Sign in with dingbridge</a></p>",
            escape(&app.0.issuer)
        ),
    )
}

#[derive(Deserialize)]
struct LoginQuery {
    iss: Option<String>,
}

/// Starts the code flow (third-party-initiated when the portal sent `iss`).
async fn login(State(app): State<DemoApp>, Query(q): Query<LoginQuery>) -> Response {
    let Some(config) = app.0.config.get() else {
        return failed("the demo app is not set up yet");
    };
    if q.iss.as_deref().is_some_and(|iss| iss != app.0.issuer) {
        return failed("the login was started by another issuer");
    }
    let (state, verifier, nonce) = (generate_token(""), generate_token(""), generate_token(""));
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    if let Ok(mut pending) = app.0.pending.lock() {
        // A demo: a bounded memory of started logins is plenty.
        if pending.len() > 1000 {
            pending.clear();
        }
        pending.insert(
            state.clone(),
            Pending {
                verifier,
                nonce: nonce.clone(),
            },
        );
    }
    let query = serde_urlencoded::to_string([
        ("client_id", config.oidc_client_id.as_str()),
        ("redirect_uri", &callback_url(&app.0.issuer)),
        ("response_type", "code"),
        ("scope", "openid profile email phone"),
        ("state", &state),
        ("nonce", &nonce),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ])
    .unwrap_or_default();
    Redirect::to(&format!("{}/oauth2/authorize?{query}", app.0.issuer)).into_response()
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// The provider's public keys, and the claims of `token` when one of them signed it for `aud`.
async fn verify(app: &DemoApp, token: &str, aud: &str) -> Result<Value, String> {
    let jwks: JwkSet = app
        .0
        .http
        .get(format!("{}/.well-known/jwks.json", app.0.base))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    let jwk = header
        .kid
        .as_deref()
        .and_then(|kid| jwks.find(kid))
        .ok_or("the token's key is not in the JWKS")?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[app.0.issuer.as_str()]);
    validation.set_audience(&[aud]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .map(|d| d.claims)
        .map_err(|e| format!("the token does not verify: {e}"))
}

async fn callback(State(app): State<DemoApp>, Query(q): Query<CallbackQuery>) -> Response {
    let Some(config) = app.0.config.get().cloned() else {
        return failed("the demo app is not set up yet");
    };
    if let Some(error) = q.error {
        return failed(&format!(
            "{error}: {}",
            q.error_description.unwrap_or_default()
        ));
    }
    let pending = q
        .state
        .as_deref()
        .and_then(|s| app.0.pending.lock().ok().and_then(|mut p| p.remove(s)));
    let (Some(code), Some(pending)) = (q.code, pending) else {
        return failed("no code, or a state this app did not start");
    };
    let answer = app
        .0
        .http
        .post(format!("{}/oauth2/token", app.0.base))
        .basic_auth(&config.oidc_client_id, Some(&config.oidc_client_secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            serde_urlencoded::to_string([
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", &callback_url(&app.0.issuer)),
                ("code_verifier", &pending.verifier),
            ])
            .unwrap_or_default(),
        )
        .send()
        .await;
    let tokens: Value = match answer {
        Ok(r) if r.status().is_success() => r.json().await.unwrap_or_default(),
        Ok(r) => return failed(&format!("the token endpoint answered {}", r.status())),
        Err(e) => return failed(&e.to_string()),
    };
    let id_token = tokens["id_token"].as_str().unwrap_or_default();
    let claims = match verify(&app, id_token, &config.oidc_client_id).await {
        Ok(c) => c,
        Err(e) => return failed(&e),
    };
    if claims["nonce"] != pending.nonce.as_str() {
        return failed("the id_token's nonce is not the one this app sent");
    }
    let userinfo: Value = match app
        .0
        .http
        .get(format!("{}/oauth2/userinfo", app.0.base))
        .bearer_auth(tokens["access_token"].as_str().unwrap_or_default())
        .send()
        .await
    {
        Ok(r) => r.json().await.unwrap_or_default(),
        Err(e) => return failed(&e.to_string()),
    };
    claims_page(
        "演示 OIDC 应用：已登录 Demo OIDC app: signed in",
        &[("id_token", &claims), ("userinfo", &userinfo)],
    )
}

#[derive(Deserialize)]
struct JwtQuery {
    id_token: Option<String>,
}

async fn jwt(State(app): State<DemoApp>, Query(q): Query<JwtQuery>) -> Response {
    let Some(config) = app.0.config.get().cloned() else {
        return failed("the demo app is not set up yet");
    };
    let Some(token) = q.id_token else {
        return failed("no id_token parameter");
    };
    match verify(&app, &token, &config.jwt_client_id).await {
        Ok(claims) => claims_page(
            "演示 JWT 应用：已登录 Demo JWT app: signed in",
            &[("JWT", &claims)],
        ),
        Err(e) => failed(&e),
    }
}
