//! `HttpDingTalk`: the real `DingTalk` port over reqwest (rustls). One instance serves every app of
//! the process: it owns the shared rate limiter and token cache, retries what is worth retrying and
//! turns every failure into a typed `DingTalkError` whose text never carries a secret or a token.

use super::error::{self, DingTalkError, ErrorCode, ErrorKind};
use super::limiter::RateLimiter;
use super::token::{CredentialKey, DEFAULT_MARGIN, TokenCache};
use super::types::{DingApp, SecretString, TokenSource};
use super::wire;
use crate::ports::DingTalk;
use crate::ports::{Clock, SystemClock};
use rand::Rng;
use reqwest::{Method, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::Duration;

/// Tunables; the defaults suit production. Tests shorten the waits.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Whole-request timeout: a hung call becomes a transient `Timeout`.
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    /// Retries after the first attempt, for transient failures (never for the token refresh).
    pub max_retries: u32,
    /// First backoff for -1 / 5xx / timeouts; doubles per retry, with jitter, up to `backoff_max`.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// First backoff after 90018 / 90002: DingTalk asks for at least a second (§5.1).
    pub throttle_backoff: Duration,
    /// Refresh app tokens this long before they expire.
    pub token_margin: Duration,
    pub token_source: TokenSource,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
            max_retries: 3,
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(8),
            throttle_backoff: Duration::from_secs(1),
            token_margin: DEFAULT_MARGIN,
            token_source: TokenSource::Legacy,
        }
    }
}

/// The HTTP client. Cheap to clone; clones share the limiter, the token cache and the connection pool.
#[derive(Clone)]
pub struct HttpDingTalk {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    config: ClientConfig,
    limiter: Arc<RateLimiter>,
    tokens: TokenCache,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for HttpDingTalk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpDingTalk")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// Which API family a call belongs to (§3.1): they differ in host, token placement and envelope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    Oapi,
    Api,
}

#[derive(Clone, Copy, Debug)]
pub(super) enum Auth<'a> {
    /// The app's cached token; refused tokens are refreshed once.
    App,
    User(&'a SecretString),
    None,
}

/// One call: where, how, and whether repeating it after an unclear failure is harmless.
pub(super) struct Call<'a> {
    family: Family,
    method: Method,
    path: &'static str,
    query: Vec<(&'static str, String)>,
    body: Option<serde_json::Value>,
    auth: Auth<'a>,
    /// Writes that create something, and single-use codes, are not repeated after a timeout or a
    /// 5xx (the first attempt may have taken effect); only after throttling or a refused connection.
    idempotent: bool,
}

impl<'a> Call<'a> {
    pub(super) fn oapi(method: Method, path: &'static str) -> Self {
        Self {
            family: Family::Oapi,
            method,
            path,
            query: Vec::new(),
            body: None,
            auth: Auth::App,
            idempotent: true,
        }
    }

    pub(super) fn api(method: Method, path: &'static str) -> Self {
        Self {
            family: Family::Api,
            ..Self::oapi(method, path)
        }
    }

    pub(super) fn json(mut self, body: &impl Serialize) -> Result<Self, DingTalkError> {
        let value = serde_json::to_value(body).map_err(|e| {
            DingTalkError::new(
                self.path,
                ErrorKind::Rejected,
                ErrorCode::Malformed,
                format!("request body: {e}"),
            )
        })?;
        self.body = Some(value);
        Ok(self)
    }

    pub(super) fn auth(mut self, auth: Auth<'a>) -> Self {
        self.auth = auth;
        self
    }

    pub(super) fn query(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.query.push((key, value.into()));
        self
    }

    pub(super) fn once(mut self) -> Self {
        self.idempotent = false;
        self
    }
}

/// How one attempt failed: a refused token is handled by the retry loop, not the caller.
enum Failure {
    TokenRefused(DingTalkError),
    Error(DingTalkError),
}

impl HttpDingTalk {
    pub fn new(config: ClientConfig) -> Result<Self, DingTalkError> {
        Self::with_limiter(config, Arc::new(RateLimiter::default()))
    }

    /// Shares `limiter` with other clients of the process (the limit is per app × API, not per client).
    pub fn with_limiter(
        config: ClientConfig,
        limiter: Arc<RateLimiter>,
    ) -> Result<Self, DingTalkError> {
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.connect_timeout)
            .build()
            .map_err(|e| {
                DingTalkError::new(
                    "client",
                    ErrorKind::Rejected,
                    ErrorCode::Connect,
                    e.without_url().to_string(),
                )
            })?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                tokens: TokenCache::new(config.token_margin),
                config,
                limiter,
                clock: Arc::new(SystemClock),
            }),
        })
    }

    /// Replaces the clock (it signs the legacy SNS login with the current time).
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> Self {
        let inner = &self.inner;
        Self {
            inner: Arc::new(Inner {
                http: inner.http.clone(),
                config: inner.config.clone(),
                limiter: inner.limiter.clone(),
                tokens: TokenCache::new(inner.config.token_margin),
                clock,
            }),
        }
    }

    pub fn limiter(&self) -> &Arc<RateLimiter> {
        &self.inner.limiter
    }

    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// The cached app token, refreshed when near expiry (one refresh at a time per credential). The
    /// cache is keyed by the whole credential and its hosts (`CredentialKey`), never by the app key
    /// alone: a token is only sent to the hosts configured with the secret that obtained it.
    pub async fn app_token(&self, app: &DingApp) -> Result<SecretString, DingTalkError> {
        let source = self.inner.config.token_source;
        self.inner
            .tokens
            .get(CredentialKey::of(app), || self.fetch_app_token(app, source))
            .await
    }

    pub(super) async fn call<T: DeserializeOwned>(
        &self,
        app: &DingApp,
        call: Call<'_>,
    ) -> Result<T, DingTalkError> {
        let config = &self.inner.config;
        let mut refreshed = false;
        let mut retries = 0;
        loop {
            let token = match call.auth {
                Auth::App => Some(self.app_token(app).await?),
                Auth::User(token) => Some(token.clone()),
                Auth::None => None,
            };
            // DingTalk counts calls per app × API at the host that serves them.
            let budget = format!("{}@{}", app.app_key, base_of(app, call.family));
            self.inner.limiter.acquire(&budget, call.path).await;
            let err = match self.attempt::<T>(app, &call, token.as_ref()).await {
                Ok(value) => return Ok(value),
                Err(Failure::TokenRefused(err)) => {
                    if let (false, Some(token)) = (refreshed, token.as_ref()) {
                        tracing::info!(api = call.path, app_key = %app.app_key, "token refused; refreshing once");
                        let key = CredentialKey::of(app);
                        self.inner.tokens.invalidate(key, token).await;
                        refreshed = true;
                        continue;
                    }
                    err
                }
                Err(Failure::Error(err)) => err,
            };
            let repeatable = call.idempotent
                || matches!(err.kind(), ErrorKind::Throttled)
                || matches!(err.code(), ErrorCode::Connect);
            if !(err.is_transient() && repeatable && retries < config.max_retries) {
                return Err(err);
            }
            let delay = self.backoff(retries, err.kind());
            tracing::warn!(api = call.path, app_key = %app.app_key, code = %err.code(), retry = retries + 1, delay_ms = delay.as_millis() as u64, "transient DingTalk failure; retrying");
            tokio::time::sleep(delay).await;
            retries += 1;
        }
    }

    /// Exponential backoff with equal jitter: half fixed, half random, so retries spread out.
    fn backoff(&self, retry: u32, kind: &ErrorKind) -> Duration {
        let config = &self.inner.config;
        let base = if matches!(kind, ErrorKind::Throttled) {
            config.throttle_backoff
        } else {
            config.backoff_base
        };
        let full = base
            .saturating_mul(1u32 << retry.min(16))
            .min(config.backoff_max.max(base));
        let half = full / 2;
        half + half.mul_f64(rand::rng().random::<f64>())
    }

    async fn attempt<T: DeserializeOwned>(
        &self,
        app: &DingApp,
        call: &Call<'_>,
        token: Option<&SecretString>,
    ) -> Result<T, Failure> {
        let base = base_of(app, call.family);
        let mut url =
            Url::parse(&format!("{}{}", base.trim_end_matches('/'), call.path)).map_err(|e| {
                Failure::Error(DingTalkError::new(
                    call.path,
                    ErrorKind::Rejected,
                    ErrorCode::Connect,
                    format!("invalid base URL: {e}"),
                ))
            })?;
        {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in &call.query {
                pairs.append_pair(k, v);
            }
            if let (Family::Oapi, Some(token)) = (call.family, token) {
                pairs.append_pair("access_token", token.expose());
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        let mut request = self.inner.http.request(call.method.clone(), url);
        if let (Family::Api, Some(token)) = (call.family, token) {
            request = request.header("x-acs-dingtalk-access-token", token.expose());
        }
        if let Some(body) = &call.body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| Failure::Error(transport_error(call.path, e)))?;
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| Failure::Error(transport_error(call.path, e)))?;
        match call.family {
            Family::Oapi => legacy_outcome(call, status, &bytes),
            Family::Api => api_outcome(call, status, &bytes),
        }
    }

    pub(super) fn now_millis(&self) -> i64 {
        self.inner.clock.now_millis()
    }
}

fn base_of(app: &DingApp, family: Family) -> &str {
    match family {
        Family::Oapi => &app.endpoints.oapi,
        Family::Api => &app.endpoints.api,
    }
}

/// Never includes the URL: legacy URLs carry `access_token` or `appsecret`.
fn transport_error(api: &str, e: reqwest::Error) -> DingTalkError {
    let e = e.without_url();
    let code = if e.is_timeout() {
        ErrorCode::Timeout
    } else if e.is_connect() {
        ErrorCode::Connect
    } else if e.is_decode() || e.is_body() {
        ErrorCode::Malformed
    } else {
        ErrorCode::Connect
    };
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(inner) = source {
        message.push_str(": ");
        message.push_str(&inner.to_string());
        source = inner.source();
    }
    DingTalkError::new(api, ErrorKind::Unavailable, code, message)
}

fn legacy_outcome<T: DeserializeOwned>(
    call: &Call<'_>,
    status: u16,
    bytes: &[u8],
) -> Result<T, Failure> {
    let api = call.path;
    if status >= 500 {
        return Err(Failure::Error(DingTalkError::new(
            api,
            ErrorKind::Unavailable,
            ErrorCode::Http(status),
            format!("HTTP {status}"),
        )));
    }
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        Failure::Error(if (200..300).contains(&status) {
            DingTalkError::malformed(api, e)
        } else {
            DingTalkError::new(
                api,
                ErrorKind::Rejected,
                ErrorCode::Http(status),
                format!("HTTP {status}"),
            )
        })
    })?;
    let envelope: wire::LegacyStatus = serde_json::from_value(value.clone())
        .map_err(|e| Failure::Error(DingTalkError::malformed(api, e)))?;
    let (code, message) = envelope.effective();
    if code != 0 {
        let kind = error::legacy_kind(code, &message);
        let err = DingTalkError::new(api, kind, ErrorCode::Errcode(code), message);
        return Err(
            if error::is_token_errcode(code) && matches!(call.auth, Auth::App) {
                Failure::TokenRefused(err)
            } else {
                Failure::Error(err)
            },
        );
    }
    if !(200..300).contains(&status) {
        return Err(Failure::Error(DingTalkError::new(
            api,
            ErrorKind::Rejected,
            ErrorCode::Http(status),
            format!("HTTP {status}"),
        )));
    }
    serde_json::from_value(value).map_err(|e| Failure::Error(DingTalkError::malformed(api, e)))
}

fn api_outcome<T: DeserializeOwned>(
    call: &Call<'_>,
    status: u16,
    bytes: &[u8],
) -> Result<T, Failure> {
    let api = call.path;
    if (200..300).contains(&status) {
        return serde_json::from_slice(bytes)
            .map_err(|e| Failure::Error(DingTalkError::malformed(api, e)));
    }
    let failure: Option<wire::ApiFailure> = serde_json::from_slice(bytes).ok();
    let (code, message) = match failure {
        Some(f) => {
            let mut message = f.message.unwrap_or_default();
            if let Some(id) = f.requestid {
                message.push_str(&format!(" (requestid {id})"));
            }
            (f.code.unwrap_or_default(), message)
        }
        None => (String::new(), format!("HTTP {status}")),
    };
    let kind = if code.is_empty() {
        match status {
            500.. | 429 => ErrorKind::Unavailable,
            404 => ErrorKind::NotFound,
            _ => ErrorKind::Rejected,
        }
    } else {
        error::api_kind(status, &code)
    };
    let code = if code.is_empty() {
        ErrorCode::Http(status)
    } else {
        ErrorCode::Api { status, code }
    };
    let refused = matches!(kind, ErrorKind::InvalidToken) && matches!(call.auth, Auth::App);
    let err = DingTalkError::new(api, kind, code, message);
    Err(if refused {
        Failure::TokenRefused(err)
    } else {
        Failure::Error(err)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call() -> Call<'static> {
        Call::oapi(Method::POST, "/topapi/v2/user/get")
    }

    #[test]
    fn token_errors_wrapped_in_88_ask_for_a_refresh() {
        let body = br#"{"errcode":88,"errmsg":"auth","sub_code":"40014","sub_msg":"bad token"}"#;
        let r = legacy_outcome::<serde_json::Value>(&call(), 200, body);
        assert!(matches!(r, Err(Failure::TokenRefused(_))));
        let r = legacy_outcome::<serde_json::Value>(&call().auth(Auth::None), 200, body);
        assert!(matches!(r, Err(Failure::Error(e)) if e.errcode() == Some(40014)));
    }

    #[test]
    fn server_errors_and_garbage_are_transient() {
        let r = legacy_outcome::<serde_json::Value>(&call(), 502, b"<html>");
        assert!(
            matches!(r, Err(Failure::Error(e)) if e.is_transient() && *e.code() == ErrorCode::Http(502))
        );
        let r = legacy_outcome::<serde_json::Value>(&call(), 200, b"{not json");
        assert!(
            matches!(r, Err(Failure::Error(e)) if e.is_transient() && *e.code() == ErrorCode::Malformed)
        );
    }

    #[test]
    fn new_api_invalid_authentication_asks_for_a_refresh() {
        let c = Call::api(Method::GET, "/v1.0/x");
        let r = api_outcome::<serde_json::Value>(
            &c,
            400,
            br#"{"code":"InvalidAuthentication","message":"m","requestid":"r"}"#,
        );
        assert!(matches!(r, Err(Failure::TokenRefused(_))));
    }

    #[test]
    fn backoff_grows_and_stays_bounded() {
        let client = HttpDingTalk::new(ClientConfig::default()).unwrap();
        let first = client.backoff(0, &ErrorKind::Throttled);
        assert!(first >= Duration::from_millis(500) && first <= Duration::from_secs(1));
        let late = client.backoff(30, &ErrorKind::Unavailable);
        assert!(late <= Duration::from_secs(8));
        assert!(format!("{client:?}").starts_with("HttpDingTalk"));
    }
}
