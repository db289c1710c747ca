//! `HttpDingTalk`: the real `DingTalk` port over reqwest (rustls). One instance serves every app of
//! the process: it owns the shared rate limiter and token cache, retries what is worth retrying and
//! turns every failure into a typed `DingTalkError` whose text never carries a secret or a token.

use super::error::{self, DingTalkError, ErrorCode, ErrorKind};
use super::limiter::RateLimiter;
use super::port::DingTalk;
use super::token::{DEFAULT_MARGIN, TokenCache};
use super::types::{
    AppToken, CallbackRegistration, CreatedUser, DepartmentPatch, DeptId, DingApp, DingDepartment,
    DingProfile, DingUser, DingUserId, DingUserRef, FailedEvent, FailedEventBatch, MicroAppUser,
    NewDepartment, NewUser, Page, SecretString, SnsUser, TokenSource, UnionIdMatch, UserPatch,
    UserToken,
};
use super::wire;
use crate::ports::{Clock, SystemClock};
use async_trait::async_trait;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::Rng;
use reqwest::{Method, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::Sha256;
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
enum Auth<'a> {
    /// The app's cached token; refused tokens are refreshed once.
    App,
    User(&'a SecretString),
    None,
}

/// One call: where, how, and whether repeating it after an unclear failure is harmless.
struct Call<'a> {
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
    fn oapi(method: Method, path: &'static str) -> Self {
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

    fn api(method: Method, path: &'static str) -> Self {
        Self {
            family: Family::Api,
            ..Self::oapi(method, path)
        }
    }

    fn json(mut self, body: &impl Serialize) -> Result<Self, DingTalkError> {
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

    fn auth(mut self, auth: Auth<'a>) -> Self {
        self.auth = auth;
        self
    }

    fn query(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.query.push((key, value.into()));
        self
    }

    fn once(mut self) -> Self {
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

    /// The cached app token, refreshed when near expiry (one refresh at a time per app).
    pub async fn app_token(&self, app: &DingApp) -> Result<SecretString, DingTalkError> {
        let source = self.inner.config.token_source;
        self.inner
            .tokens
            .get(&app.app_key, || self.fetch_app_token(app, source))
            .await
    }

    async fn call<T: DeserializeOwned>(
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
            self.inner.limiter.acquire(&app.app_key, call.path).await;
            let err = match self.attempt::<T>(app, &call, token.as_ref()).await {
                Ok(value) => return Ok(value),
                Err(Failure::TokenRefused(err)) => {
                    if let (false, Some(token)) = (refreshed, token.as_ref()) {
                        tracing::info!(api = call.path, app_key = %app.app_key, "token refused; refreshing once");
                        self.inner.tokens.invalidate(&app.app_key, token).await;
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
        let base = match call.family {
            Family::Oapi => &app.endpoints.oapi,
            Family::Api => &app.endpoints.api,
        };
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

    fn now_millis(&self) -> i64 {
        self.inner.clock.now_millis()
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

/// The legacy SNS signature (§4.2): `Base64(HmacSHA256(key = appSecret, data = timestamp))`.
/// URL-encode it exactly once — adding it as a query pair does that.
pub fn sns_signature(app_secret: &str, timestamp_ms: &str) -> String {
    // HMAC accepts keys of any length, so this never fails; the fallback keeps the code panic-free.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()) else {
        return String::new();
    };
    mac.update(timestamp_ms.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn ok_unit(_: serde_json::Value) {}

fn to_u64(value: Option<wire::Loose>, default: u64) -> u64 {
    value
        .and_then(|v| v.as_i64())
        .and_then(|v| u64::try_from(v).ok())
        .unwrap_or(default)
}

fn page<W, T: From<W>>(
    api: &str,
    wire: wire::WireUserPage<W>,
    cursor: u64,
) -> Result<Page<T>, DingTalkError> {
    let next_cursor = if wire.has_more.unwrap_or(false) {
        let next = wire
            .next_cursor
            .and_then(|c| u64::try_from(c).ok())
            .ok_or_else(|| DingTalkError::malformed(api, "has_more without next_cursor"))?;
        if next <= cursor {
            return Err(DingTalkError::malformed(api, "next_cursor did not advance"));
        }
        Some(next)
    } else {
        None
    };
    Ok(Page {
        items: wire.list.into_iter().map(T::from).collect(),
        next_cursor,
    })
}

/// Payload keys of failed events other than the tag's own (§1.6).
const FAILED_PAYLOAD_KEYS: [&str; 3] = ["callbackData", "bpmsCallBackData", "roleLabelChange"];

fn failed_event(mut raw: serde_json::Map<String, serde_json::Value>) -> FailedEvent {
    let tag = raw
        .remove("call_back_tag")
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let event_time_ms = raw.remove("event_time").and_then(|v| {
        v.as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    });
    let payload = raw
        .remove(&tag)
        .or_else(|| FAILED_PAYLOAD_KEYS.iter().find_map(|k| raw.remove(*k)))
        .unwrap_or(serde_json::Value::Object(raw));
    FailedEvent {
        tag,
        event_time_ms,
        payload,
    }
}

#[async_trait]
impl DingTalk for HttpDingTalk {
    async fn fetch_app_token(
        &self,
        app: &DingApp,
        source: TokenSource,
    ) -> Result<AppToken, DingTalkError> {
        match source {
            TokenSource::Legacy => {
                let call = Call::oapi(Method::GET, "/gettoken")
                    .auth(Auth::None)
                    .query("appkey", app.app_key.clone())
                    .query("appsecret", app.app_secret.expose());
                let t: wire::LegacyToken = self.call(app, call).await?;
                Ok(AppToken {
                    token: SecretString::new(t.access_token),
                    expires_in_secs: to_u64(t.expires_in, 7200),
                })
            }
            TokenSource::V1 => {
                let call = Call::api(Method::POST, "/v1.0/oauth2/accessToken")
                    .auth(Auth::None)
                    .json(&wire::V1TokenRequest {
                        app_key: &app.app_key,
                        app_secret: app.app_secret.expose(),
                    })?;
                let t: wire::V1Token = self.call(app, call).await?;
                Ok(AppToken {
                    token: SecretString::new(t.access_token),
                    expires_in_secs: to_u64(t.expire_in, 7200),
                })
            }
        }
    }

    async fn list_sub_departments(
        &self,
        app: &DingApp,
        parent: DeptId,
    ) -> Result<Vec<DingDepartment>, DingTalkError> {
        let call = Call::oapi(Method::POST, "/topapi/v2/department/listsub").json(
            &wire::DeptIdRequest {
                dept_id: parent.get(),
                language: Some("zh_CN"),
            },
        )?;
        let r: wire::Wrapped<Vec<wire::WireDept>> = self.call(app, call).await?;
        Ok(r.result.into_iter().map(DingDepartment::from).collect())
    }

    async fn list_sub_department_ids(
        &self,
        app: &DingApp,
        parent: DeptId,
    ) -> Result<Vec<DeptId>, DingTalkError> {
        let call = Call::oapi(Method::POST, "/topapi/v2/department/listsubid").json(
            &wire::DeptIdRequest {
                dept_id: parent.get(),
                language: None,
            },
        )?;
        let r: wire::Wrapped<wire::WireDeptIds> = self.call(app, call).await?;
        Ok(r.result.dept_id_list)
    }

    async fn get_department(
        &self,
        app: &DingApp,
        id: DeptId,
    ) -> Result<DingDepartment, DingTalkError> {
        let call =
            Call::oapi(Method::POST, "/topapi/v2/department/get").json(&wire::DeptIdRequest {
                dept_id: id.get(),
                language: Some("zh_CN"),
            })?;
        let r: wire::Wrapped<wire::WireDept> = self.call(app, call).await?;
        Ok(r.result.into())
    }

    async fn create_department(
        &self,
        app: &DingApp,
        dept: &NewDepartment,
    ) -> Result<DeptId, DingTalkError> {
        let call = Call::oapi(Method::POST, "/topapi/v2/department/create")
            .json(&wire::CreateDeptRequest::from(dept))?
            .once();
        let r: wire::Wrapped<wire::WireCreatedDept> = self.call(app, call).await?;
        Ok(r.result.dept_id)
    }

    async fn update_department(
        &self,
        app: &DingApp,
        patch: &DepartmentPatch,
    ) -> Result<(), DingTalkError> {
        let call = Call::oapi(Method::POST, "/topapi/v2/department/update")
            .json(&wire::UpdateDeptRequest::from(patch))?;
        self.call(app, call).await.map(ok_unit)
    }

    async fn delete_department(&self, app: &DingApp, id: DeptId) -> Result<(), DingTalkError> {
        let call = Call::oapi(Method::POST, "/topapi/v2/department/delete").json(
            &wire::DeptIdRequest {
                dept_id: id.get(),
                language: None,
            },
        )?;
        self.call(app, call).await.map(ok_unit)
    }

    async fn list_parent_departments(
        &self,
        app: &DingApp,
        id: DeptId,
    ) -> Result<Vec<DeptId>, DingTalkError> {
        let call = Call::oapi(Method::POST, "/topapi/v2/department/listparentbydept").json(
            &wire::DeptIdRequest {
                dept_id: id.get(),
                language: None,
            },
        )?;
        let r: wire::Wrapped<wire::WireParentIds> = self.call(app, call).await?;
        Ok(r.result.parent_id_list)
    }

    async fn list_users_page(
        &self,
        app: &DingApp,
        dept: DeptId,
        cursor: u64,
        size: u32,
    ) -> Result<Page<DingUser>, DingTalkError> {
        const API: &str = "/topapi/v2/user/list";
        let call = Call::oapi(Method::POST, API).json(&wire::UserPageRequest {
            dept_id: dept.get(),
            cursor,
            size: size.clamp(1, super::port::MAX_PAGE_SIZE),
            language: "zh_CN",
        })?;
        let r: wire::Wrapped<wire::WireUserPage<wire::WireUser>> = self.call(app, call).await?;
        page(API, r.result, cursor)
    }

    async fn list_simple_users_page(
        &self,
        app: &DingApp,
        dept: DeptId,
        cursor: u64,
        size: u32,
    ) -> Result<Page<DingUserRef>, DingTalkError> {
        const API: &str = "/topapi/user/listsimple";
        let call = Call::oapi(Method::POST, API).json(&wire::UserPageRequest {
            dept_id: dept.get(),
            cursor,
            size: size.clamp(1, super::port::MAX_PAGE_SIZE),
            language: "zh_CN",
        })?;
        let r: wire::Wrapped<wire::WireUserPage<wire::WireUserRef>> = self.call(app, call).await?;
        page(API, r.result, cursor)
    }

    async fn list_user_ids(
        &self,
        app: &DingApp,
        dept: DeptId,
    ) -> Result<Vec<DingUserId>, DingTalkError> {
        let call = Call::oapi(Method::POST, "/topapi/user/listid").json(&wire::DeptIdRequest {
            dept_id: dept.get(),
            language: None,
        })?;
        let r: wire::Wrapped<wire::WireUserIds> = self.call(app, call).await?;
        Ok(r.result.userid_list)
    }

    async fn get_user(&self, app: &DingApp, id: &DingUserId) -> Result<DingUser, DingTalkError> {
        let call = Call::oapi(Method::POST, "/topapi/v2/user/get").json(&wire::UserIdRequest {
            userid: id.as_str(),
            language: Some("zh_CN"),
        })?;
        let r: wire::Wrapped<wire::WireUser> = self.call(app, call).await?;
        Ok(r.result.into())
    }

    async fn create_user(
        &self,
        app: &DingApp,
        user: &NewUser,
    ) -> Result<CreatedUser, DingTalkError> {
        let call = Call::oapi(Method::POST, "/topapi/v2/user/create")
            .json(&wire::UserWriteRequest::from(user))?
            .once();
        let r: wire::Wrapped<wire::WireUserIdResult> = self.call(app, call).await?;
        Ok(CreatedUser {
            userid: r.result.userid,
            unionid: r.result.unionid,
        })
    }

    async fn update_user(&self, app: &DingApp, patch: &UserPatch) -> Result<(), DingTalkError> {
        let call = Call::oapi(Method::POST, "/topapi/v2/user/update")
            .json(&wire::UserWriteRequest::from(patch))?;
        self.call(app, call).await.map(ok_unit)
    }

    async fn delete_user(&self, app: &DingApp, id: &DingUserId) -> Result<(), DingTalkError> {
        let call =
            Call::oapi(Method::POST, "/topapi/v2/user/delete").json(&wire::UserIdRequest {
                userid: id.as_str(),
                language: None,
            })?;
        self.call(app, call).await.map(ok_unit)
    }

    async fn user_id_by_mobile(
        &self,
        app: &DingApp,
        mobile: &str,
    ) -> Result<DingUserId, DingTalkError> {
        let call = Call::oapi(Method::POST, "/topapi/v2/user/getbymobile")
            .json(&wire::MobileRequest { mobile })?;
        let r: wire::Wrapped<wire::WireUserIdResult> = self.call(app, call).await?;
        Ok(r.result.userid)
    }

    async fn user_by_unionid(
        &self,
        app: &DingApp,
        unionid: &str,
    ) -> Result<UnionIdMatch, DingTalkError> {
        let call = Call::oapi(Method::POST, "/topapi/user/getbyunionid")
            .json(&wire::UnionIdRequest { unionid })?;
        let r: wire::Wrapped<wire::WireUserIdResult> = self.call(app, call).await?;
        Ok(UnionIdMatch {
            userid: r.result.userid,
            contact_type: r.result.contact_type,
        })
    }

    async fn count_users(&self, app: &DingApp, only_active: bool) -> Result<u64, DingTalkError> {
        const API: &str = "/topapi/user/count";
        let call = Call::oapi(Method::POST, API).json(&wire::CountRequest { only_active })?;
        let r: wire::Wrapped<wire::WireCount> = self.call(app, call).await?;
        r.result
            .count
            .and_then(|c| u64::try_from(c).ok())
            .ok_or_else(|| DingTalkError::malformed(API, "missing count"))
    }

    async fn register_callback(
        &self,
        app: &DingApp,
        registration: &CallbackRegistration,
    ) -> Result<(), DingTalkError> {
        let call = Call::oapi(Method::POST, "/call_back/register_call_back")
            .json(&callback_body(registration))?
            .once();
        self.call(app, call).await.map(ok_unit)
    }

    async fn update_callback(
        &self,
        app: &DingApp,
        registration: &CallbackRegistration,
    ) -> Result<(), DingTalkError> {
        let call = Call::oapi(Method::POST, "/call_back/update_call_back")
            .json(&callback_body(registration))?;
        self.call(app, call).await.map(ok_unit)
    }

    async fn get_callback(&self, app: &DingApp) -> Result<CallbackRegistration, DingTalkError> {
        let call = Call::oapi(Method::GET, "/call_back/get_call_back");
        let r: wire::WireCallback = self.call(app, call).await?;
        Ok(CallbackRegistration {
            tags: r.call_back_tag,
            token: SecretString::new(r.token),
            aes_key: SecretString::new(r.aes_key),
            url: r.url,
        })
    }

    async fn delete_callback(&self, app: &DingApp) -> Result<(), DingTalkError> {
        let call = Call::oapi(Method::GET, "/call_back/delete_call_back");
        self.call(app, call).await.map(ok_unit)
    }

    async fn failed_events_page(&self, app: &DingApp) -> Result<FailedEventBatch, DingTalkError> {
        // Each read clears what it returned: a lost response loses events, so never repeat blindly.
        let call = Call::oapi(Method::GET, "/call_back/get_call_back_failed_result").once();
        let r: wire::WireFailedList = self.call(app, call).await?;
        Ok(FailedEventBatch {
            events: r.failed_list.into_iter().map(failed_event).collect(),
            has_more: r.has_more.unwrap_or(false),
        })
    }

    async fn user_access_token(
        &self,
        app: &DingApp,
        auth_code: &str,
    ) -> Result<UserToken, DingTalkError> {
        let call = Call::api(Method::POST, "/v1.0/oauth2/userAccessToken")
            .auth(Auth::None)
            .json(&wire::UserTokenRequest {
                client_id: &app.app_key,
                client_secret: app.app_secret.expose(),
                code: auth_code,
                grant_type: "authorization_code",
            })?
            .once();
        let t: wire::WireUserToken = self.call(app, call).await?;
        Ok(UserToken {
            access_token: SecretString::new(t.access_token),
            refresh_token: SecretString::new(t.refresh_token),
            expires_in_secs: to_u64(t.expire_in, 7200),
            corp_id: t.corp_id,
        })
    }

    async fn current_user(
        &self,
        app: &DingApp,
        user_token: &SecretString,
    ) -> Result<DingProfile, DingTalkError> {
        let call = Call::api(Method::GET, "/v1.0/contact/users/me").auth(Auth::User(user_token));
        let p: wire::WireProfile = self.call(app, call).await?;
        Ok(DingProfile {
            nick: p.nick,
            union_id: p.union_id,
            open_id: p.open_id,
            avatar_url: p.avatar_url,
            mobile: p.mobile,
            email: p.email,
            state_code: p.state_code,
        })
    }

    async fn sns_user_by_code(
        &self,
        app: &DingApp,
        tmp_auth_code: &str,
    ) -> Result<SnsUser, DingTalkError> {
        let timestamp = self.now_millis().to_string();
        let signature = sns_signature(app.app_secret.expose(), &timestamp);
        let call = Call::oapi(Method::POST, "/sns/getuserinfo_bycode")
            .auth(Auth::None)
            .query("accessKey", app.app_key.clone())
            .query("timestamp", timestamp)
            .query("signature", signature)
            .json(&wire::SnsCodeRequest { tmp_auth_code })?
            .once();
        let r: wire::WireSnsResult = self.call(app, call).await?;
        Ok(SnsUser {
            nick: r.user_info.nick,
            unionid: r.user_info.unionid,
            openid: r.user_info.openid,
        })
    }

    async fn micro_app_user(
        &self,
        app: &DingApp,
        code: &str,
    ) -> Result<MicroAppUser, DingTalkError> {
        let call = Call::oapi(Method::POST, "/topapi/v2/user/getuserinfo")
            .json(&wire::CodeRequest { code })?
            .once();
        let r: wire::Wrapped<wire::WireMicroAppUser> = self.call(app, call).await?;
        Ok(MicroAppUser {
            userid: r.result.userid,
            unionid: r.result.unionid,
            name: r.result.name,
            sys: r.result.sys.unwrap_or(false),
            sys_level: r.result.sys_level,
        })
    }
}

fn callback_body(r: &CallbackRegistration) -> wire::CallbackRequest<'_> {
    wire::CallbackRequest {
        call_back_tag: &r.tags,
        token: r.token.expose(),
        aes_key: r.aes_key.expose(),
        url: &r.url,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn sns_signature_matches_the_documented_example() {
        let sig = sns_signature("testappSecret", "1546084445901");
        assert_eq!(sig, "HCbG3xNE3vzhO+u7qCUL1jS5hsu2n5r2cFhnTrtyDAE=");
        let mut url = Url::parse("https://oapi.dingtalk.com/sns/getuserinfo_bycode").unwrap();
        url.query_pairs_mut().append_pair("signature", &sig);
        assert_eq!(
            url.query(),
            Some("signature=HCbG3xNE3vzhO%2Bu7qCUL1jS5hsu2n5r2cFhnTrtyDAE%3D")
        );
    }

    #[test]
    fn failed_events_take_their_payload_from_the_tag_key() {
        let raw = serde_json::json!({
            "call_back_tag": "user_add_org",
            "event_time": 1606126433000_i64,
            "user_add_org": {"userid": ["zhangsan"], "corpid": "dingcorp"}
        });
        let e = failed_event(raw.as_object().unwrap().clone());
        assert_eq!(e.tag, "user_add_org");
        assert_eq!(e.event_time_ms, Some(1_606_126_433_000));
        assert_eq!(e.payload["userid"][0], "zhangsan");
        let raw = serde_json::json!({"call_back_tag": "org_dept_create", "callbackData": {"deptid": [5]}});
        let e = failed_event(raw.as_object().unwrap().clone());
        assert_eq!(e.payload["deptid"][0], 5);
    }

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
