//! The portal: password sign-in with server-side sessions, the page of the apps a person may use,
//! and the OpenID provider those apps sign in through (discovery, authorization code with PKCE,
//! token, userinfo, RP-initiated logout), plus IDaaS-style signed-JWT apps. The issuer is the
//! deployment's public URL; the JWKS (`/.well-known/jwks.json`) is the token endpoint's, signed
//! with the same deployment key (`dingbridge::signing`).
//!
//! Sign-in with DingTalk lives here too (`dingtalk`): the QR login and the bind page
//! ([`qr_router`], the `qr-login` function) and the micro-app free login ([`micro_router`], the
//! `micro-app-login` function) make the same sessions and enter apps the same way.

mod claims;
mod dingtalk;
#[cfg(feature = "aws")]
pub mod lambda;
mod oidc;
mod pages;
mod signin;
mod web;

use std::sync::Arc;

use axum::Router;
use dingbridge::ports::{Clock, DingTalk, Table};
use dingbridge::secrets::SecretBox;
use dingbridge::signing::SigningKeys;
use dingbridge::store::apps::Apps;
use dingbridge::store::auth_sources::AuthSources;
use dingbridge::store::bindings::Bindings;
use dingbridge::store::connectors::Connectors;
use dingbridge::store::directory::Directory;
use dingbridge::store::grants::Grants;
use dingbridge::store::login_states::LoginStates;
use dingbridge::store::mappings::Mappings;
use dingbridge::store::sessions::{SessionSettings, Sessions};
use dingbridge::store::settings::Settings;
use dingbridge::store::throttle::{Throttle, ThrottleSettings};

/// Largest form or JSON body accepted: sign-in and token forms are a few hundred bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// What the portal uses, and so what its IAM policy grants: the table and the data key (the
/// signing key's private half).
#[derive(Clone)]
pub struct Deps {
    pub table: Arc<dyn Table>,
    pub clock: Arc<dyn Clock>,
    pub secrets: SecretBox,
    /// The issuer (no trailing slash).
    pub public_url: String,
    pub sessions: SessionSettings,
    /// Failed sign-ins allowed per account (`per_client`) and per address (`per_source`).
    pub throttle: ThrottleSettings,
    /// DingTalk sign-in: the code exchanges and the corp lookups.
    pub dingtalk: Arc<dyn DingTalk>,
    /// A script that plays DingTalk's JSAPI on the micro-app page in a desktop browser: the
    /// local runner's, never set on Lambda.
    pub jsapi_stand_in: Option<String>,
}

/// Sign-in failures allowed before the account (or the address) waits: a person who forgot
/// their password tries a few times; a guesser, thousands.
pub fn default_throttle() -> ThrottleSettings {
    ThrottleSettings {
        per_client: 5,
        per_source: 50,
        window_s: 900,
    }
}

#[derive(Clone)]
pub(crate) struct Portal {
    pub table: Arc<dyn Table>,
    pub directory: Directory,
    pub settings: Settings,
    pub sessions: Sessions,
    pub grants: Grants,
    pub apps: Apps,
    pub mappings: Mappings,
    pub connectors: Connectors,
    pub sources: AuthSources,
    pub bindings: Bindings,
    pub login_states: LoginStates,
    pub dingtalk: Arc<dyn DingTalk>,
    pub jsapi_stand_in: Option<String>,
    pub keys: SigningKeys,
    pub throttle: Throttle,
    /// Failed client authentications at the token endpoint, per client id and per address (the
    /// SCIM token endpoint's limits).
    pub client_throttle: Throttle,
    pub clock: Arc<dyn Clock>,
    pub issuer: String,
    /// Cookies carry `Secure` unless the portal is served over plain http (localhost).
    pub secure_cookies: bool,
}

impl Portal {
    fn new(deps: Deps) -> Self {
        let issuer = deps.public_url.trim_end_matches('/').to_owned();
        let (table, clock) = (deps.table.clone(), deps.clock.clone());
        Self {
            table: table.clone(),
            directory: Directory::new(table.clone(), clock.clone()),
            settings: Settings::new(table.clone(), clock.clone()),
            sessions: Sessions::new(table.clone(), clock.clone(), deps.sessions),
            grants: Grants::new(table.clone(), clock.clone()),
            apps: Apps::new(table.clone(), clock.clone()),
            mappings: Mappings::new(table.clone()),
            connectors: Connectors::new(table.clone(), clock.clone(), deps.secrets.clone()),
            sources: AuthSources::new(table.clone(), clock.clone(), deps.secrets.clone()),
            bindings: Bindings::new(table.clone(), clock.clone()),
            login_states: LoginStates::new(table.clone(), clock.clone()),
            dingtalk: deps.dingtalk,
            jsapi_stand_in: deps.jsapi_stand_in,
            keys: SigningKeys::new(table.clone(), clock.clone(), deps.secrets),
            client_throttle: Throttle::new(
                table.clone(),
                clock.clone(),
                ThrottleSettings::default(),
            ),
            throttle: Throttle::new(table, clock.clone(), deps.throttle),
            clock,
            secure_cookies: !issuer.starts_with("http://"),
            issuer,
        }
    }
}

/// Security headers of every page: no framing, no referrer, no sniffing; pages without their own
/// policy run no script at all.
async fn page_headers(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::{HeaderValue, header};
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https: data:; \
                 base-uri 'none'; frame-ancestors 'none'",
            ),
        );
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

fn finish(routes: Router<Portal>, deps: Deps) -> Router {
    routes
        .layer(axum::middleware::from_fn(page_headers))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(Portal::new(deps))
}

/// The portal's pages and the OpenID provider (the `portal` function).
pub fn router(deps: Deps) -> Router {
    finish(
        Router::new().merge(signin::routes()).merge(oidc::routes()),
        deps,
    )
}

/// The DingTalk QR login and the bind page of a first DingTalk sign-in (`functions/qr-login`).
pub fn qr_router(deps: Deps) -> Router {
    finish(
        Router::new()
            .merge(dingtalk::qr::routes())
            .merge(dingtalk::bind::routes()),
        deps,
    )
}

/// The micro-app free login (`functions/micro-app-login`).
pub fn micro_router(deps: Deps) -> Router {
    finish(dingtalk::micro::routes(), deps)
}
