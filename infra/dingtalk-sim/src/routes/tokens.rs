//! App access tokens on both API families (protocol §3.2): legacy `GET /gettoken`, new
//! `POST /v1.0/oauth2/accessToken` and the unified `POST /v1.0/oauth2/{corpId}/token`.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Sim;
use crate::envelope::{ApiError, DingError, json_response, legacy_ok};
use crate::gate::{self, ClientIp, Style};

#[derive(Debug, Deserialize)]
pub struct GetTokenQuery {
    appkey: Option<String>,
    appsecret: Option<String>,
}

pub async fn gettoken(
    State(sim): State<Sim>,
    ip: ClientIp,
    Query(q): Query<GetTokenQuery>,
) -> Response {
    let key = q.appkey.unwrap_or_default();
    if let Err(rejected) = gate::common(&sim, "/gettoken", ip.0, Some(&key), Style::Legacy).await {
        return rejected;
    }
    match sim.find_app(&key) {
        Some((r, app)) if Some(&app.app_secret) == q.appsecret.as_ref() => {
            let (token, expires_in) = sim.tokens.issue(r, sim.settings().token_ttl_secs);
            legacy_ok(json!({ "access_token": token, "expires_in": expires_in }))
        }
        _ => DingError::new(40089, "不合法的corpid或corpsecret").into_response(),
    }
}

pub async fn access_token(
    State(sim): State<Sim>,
    ip: ClientIp,
    body: Option<Json<Value>>,
) -> Response {
    let body = body.map(|Json(v)| v).unwrap_or_default();
    let key = body["appKey"].as_str().unwrap_or_default();
    let api = "/v1.0/oauth2/accessToken";
    if let Err(rejected) = gate::common(&sim, api, ip.0, Some(key), Style::NewApi).await {
        return rejected;
    }
    match sim.find_app(key) {
        Some((r, app)) if body["appSecret"].as_str() == Some(app.app_secret.as_str()) => {
            let (token, expire_in) = sim.tokens.issue(r, sim.settings().token_ttl_secs);
            json_response(
                StatusCode::OK,
                &json!({ "accessToken": token, "expireIn": expire_in }),
            )
        }
        _ => ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalidClientIdOrSecret",
            "无效的clientId或clientSecret",
        )
        .into_response(),
    }
}

pub async fn corp_token(
    State(sim): State<Sim>,
    ip: ClientIp,
    Path(corp_id): Path<String>,
    body: Option<Json<Value>>,
) -> Response {
    let body = body.map(|Json(v)| v).unwrap_or_default();
    let key = body["client_id"].as_str().unwrap_or_default();
    let api = "/v1.0/oauth2/{corpId}/token";
    if let Err(rejected) = gate::common(&sim, api, ip.0, Some(key), Style::NewApi).await {
        return rejected;
    }
    if body["grant_type"].as_str() != Some("client_credentials") {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "unsupported.grant.type",
            "不支持的grant_type",
        )
        .into_response();
    }
    match sim.find_app(key) {
        Some((r, app))
            if body["client_secret"].as_str() == Some(app.app_secret.as_str())
                && sim.corp(r.corp).is_some_and(|c| c.corp_id == corp_id) =>
        {
            let (token, expires_in) = sim.tokens.issue(r, sim.settings().token_ttl_secs);
            json_response(
                StatusCode::OK,
                &json!({ "access_token": token, "expires_in": expires_in }),
            )
        }
        Some(_) => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized.client",
            "应用未授权该企业",
        )
        .into_response(),
        None => ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid.client",
            "无效的client_id或client_secret",
        )
        .into_response(),
    }
}
