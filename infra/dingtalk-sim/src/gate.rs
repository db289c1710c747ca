//! What every call passes before its handler runs: counting, latency, the per-IP limit, injected
//! faults, the access token, the egress-IP whitelist, permissions and the app × API QPS bucket.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use rand::Rng;
use serde_json::json;

use crate::envelope::{ApiError, DingError, json_response, request_id};
use crate::faults::Firing;
use crate::org::Visible;
use crate::state::{AppRef, SimState, perm, read};

/// The caller's source address as the server saw it.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([127, 0, 0, 1]), |c| c.0.ip().to_canonical());
        Ok(Self(ip))
    }
}

/// The app a legacy call acts for, with what its policy lets it see.
#[derive(Debug, Clone)]
pub struct Caller {
    pub app: AppRef,
    pub scope: Vec<i64>,
    pub visible: Visible,
    /// A `lose_answer` fault that fired: the handler runs, then this replaces its answer.
    pub lost_answer: Option<Firing>,
}

/// Which envelope a rejection uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Legacy,
    NewApi,
}

/// The steps every call shares, before any credential is looked at. A `lose_answer` fault is
/// returned for the caller to apply after the call took effect.
pub async fn common(
    sim: &SimState,
    api: &'static str,
    ip: IpAddr,
    app_key: Option<&str>,
    style: Style,
) -> Result<Option<Firing>, Response> {
    sim.limits.count(api);
    let settings = sim.settings();
    if settings.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(settings.latency_ms)).await;
    }
    if !sim.limits.ip_allows(ip, settings.ip_calls_per_20s) {
        // Not an errcode: the gateway's own deny page (protocol §5.1).
        let body = json!({"status": 1111, "wait": 5, "source": "x5", "punish": "deny", "uuid": request_id()});
        return Err(json_response(StatusCode::OK, &body));
    }
    if let Some(firing) = sim.faults.fire(api, app_key) {
        if firing.lose_answer {
            return Ok(Some(firing));
        }
        if let Some(response) = apply_fault(firing, style).await {
            return Err(response);
        }
    }
    Ok(None)
}

/// The full legacy (`oapi`) pipeline; `need` is the permission the API requires.
pub async fn legacy(
    sim: &SimState,
    api: &'static str,
    ip: IpAddr,
    token: Option<&str>,
    need: Option<&'static str>,
) -> Result<Caller, Response> {
    let auth = sim.tokens.check(token);
    let app_key = auth
        .as_ref()
        .ok()
        .and_then(|r| sim.app(*r))
        .map(|a| a.app_key.as_str());
    let lost_answer = common(sim, api, ip, app_key, Style::Legacy).await?;
    let settings = sim.settings();
    let wrap = |e: DingError| {
        if rand::rng().random_bool(settings.auth_88_share.clamp(0.0, 1.0)) {
            e.wrapped_88()
        } else {
            e
        }
    };
    let app_ref = auth.map_err(|e| wrap(e).into_response())?;
    let Some(app) = sim.app(app_ref) else {
        return Err(DingError::new(40014, "不合法的access_token").into_response());
    };
    let caller = {
        let policy = read(&app.policy);
        if let Some(list) = &policy.ip_whitelist {
            if !list.iter().any(|allowed| allowed == &ip.to_string()) {
                let msg = format!(
                    "访问ip不在白名单之中,request ip={ip} appKey({})",
                    app.app_key
                );
                return Err(DingError::new(60020, msg).into_response());
            }
        }
        if let Some(need) = need {
            if !policy.has(need) {
                let msg = format!("没有调用该接口的权限，接口权限申请参考：{need}");
                return Err(wrap(DingError::new(60011, msg)).into_response());
            }
        }
        Caller {
            app: app_ref,
            scope: policy.contact_scope_depts.clone(),
            visible: Visible {
                mobile: policy.has(perm::MOBILE),
                email: policy.has(perm::EMAIL),
            },
            lost_answer,
        }
    };
    if !sim.limits.take(app_ref, api, settings.qps_per_api) {
        return Err(
            DingError::new(90018, "当前应用调用该接口的QPS超过限制，请稍后重试").into_response(),
        );
    }
    Ok(caller)
}

/// The answer a `lose_answer` fault puts in place of the handler's (a 502 when it names none).
pub async fn lost_answer(firing: Firing) -> Response {
    match apply_fault(firing, Style::Legacy).await {
        Some(response) => response,
        None => {
            let page = "<html><body><h1>502 Bad Gateway</h1>Tengine</body></html>";
            (
                StatusCode::BAD_GATEWAY,
                [(header::CONTENT_TYPE, "text/html")],
                page,
            )
                .into_response()
        }
    }
}

async fn apply_fault(firing: Firing, style: Style) -> Option<Response> {
    if let Some(ms) = firing.hang_ms {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if let Some(status) = firing.http_status {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
        let page = format!("<html><body><h1>{status}</h1>Tengine</body></html>");
        return Some((status, [(header::CONTENT_TYPE, "text/html")], page).into_response());
    }
    if firing.malformed {
        let broken = "{\"errcode\":0,\"errmsg\":\"ok\",\"result\":{\"userid\":\"";
        return Some(
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json;charset=utf-8")],
                broken,
            )
                .into_response(),
        );
    }
    let (code, sub) = firing.errcode?;
    let mut err = DingError::new(code, message_for(code));
    if let Some(sub) = sub {
        err = DingError::new(sub, message_for(sub)).wrapped_88();
    }
    Some(match style {
        Style::Legacy => err.into_response(),
        Style::NewApi => ApiError::from_legacy(&err).into_response(),
    })
}

/// DingTalk's texts for the codes tests usually inject (protocol §5.3).
pub fn message_for(code: i64) -> &'static str {
    match code {
        -1 => "系统繁忙",
        88 => "鉴权异常",
        33001 => "无效的企业ID",
        40001 => "获取access_token时Secret错误，或者access_token无效",
        40014 => "不合法的access_token",
        42001 => "access_token超时",
        60011 => "没有调用该接口的权限",
        60020 => "访问ip不在白名单之中",
        90002 => "服务器繁忙，请稍后重试",
        90018 => "当前应用调用该接口的QPS超过限制，请稍后重试",
        _ => "模拟故障",
    }
}
