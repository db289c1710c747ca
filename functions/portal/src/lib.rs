//! The portal: password sign-in with server-side sessions, the page of the apps a person may use,
//! and the OpenID provider those apps sign in through (discovery, authorization code with PKCE,
//! token, userinfo, RP-initiated logout), plus IDaaS-style signed-JWT apps. The issuer is the
//! deployment's public URL; the JWKS (`/.well-known/jwks.json`) is the token endpoint's, signed
//! with the same deployment key (`dingbridge::signing`).

mod claims;
mod oidc;
mod pages;
mod signin;
mod web;

use std::sync::Arc;

use axum::Router;
use dingbridge::ports::{Clock, Table};
use dingbridge::secrets::SecretBox;
use dingbridge::signing::SigningKeys;
use dingbridge::store::apps::Apps;
use dingbridge::store::directory::Directory;
use dingbridge::store::grants::Grants;
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

pub fn router(deps: Deps) -> Router {
    let issuer = deps.public_url.trim_end_matches('/').to_owned();
    let state = Portal {
        table: deps.table.clone(),
        directory: Directory::new(deps.table.clone(), deps.clock.clone()),
        settings: Settings::new(deps.table.clone(), deps.clock.clone()),
        sessions: Sessions::new(deps.table.clone(), deps.clock.clone(), deps.sessions),
        grants: Grants::new(deps.table.clone(), deps.clock.clone()),
        apps: Apps::new(deps.table.clone(), deps.clock.clone()),
        mappings: Mappings::new(deps.table.clone()),
        keys: SigningKeys::new(deps.table.clone(), deps.clock.clone(), deps.secrets),
        client_throttle: Throttle::new(
            deps.table.clone(),
            deps.clock.clone(),
            ThrottleSettings::default(),
        ),
        throttle: Throttle::new(deps.table, deps.clock.clone(), deps.throttle),
        clock: deps.clock,
        secure_cookies: !issuer.starts_with("http://"),
        issuer,
    };
    Router::new()
        .merge(signin::routes())
        .merge(oidc::routes())
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}
