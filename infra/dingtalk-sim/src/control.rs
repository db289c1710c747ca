//! The control API under `/_sim/` for tests and demos: apps and their policies, faults, counters,
//! token expiry, org reads and writes (firing events), the callback log, micro-app codes, settings.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::envelope::{DingError, Params, json_response};
use crate::faults::FaultSpec;
use crate::login::{CODE_TTL, CodeKind};
use crate::routes::Sim;
use crate::state::{AppRef, KeyCasing, SimState, lock, read, write};

pub fn routes() -> Router<Sim> {
    Router::new()
        .route("/_sim/apps", get(apps))
        .route("/_sim/apps/{app_key}", post(set_app))
        .route(
            "/_sim/faults",
            post(add_fault).delete(clear_faults).get(list_faults),
        )
        .route("/_sim/counters", get(counters).delete(reset_counters))
        .route("/_sim/tokens/expire", post(expire_tokens))
        .route("/_sim/org", get(org))
        .route("/_sim/users", post(create_user))
        .route(
            "/_sim/users/{userid}",
            patch(update_user).delete(delete_user).get(get_user),
        )
        .route("/_sim/depts", post(create_dept))
        .route(
            "/_sim/depts/{dept_id}",
            patch(update_dept).delete(delete_dept),
        )
        .route("/_sim/callbacks", get(callbacks))
        .route("/_sim/microapp/code", post(microapp_code))
        .route("/_sim/settings", get(settings).post(set_settings))
        .route("/_sim/limits/reset", post(reset_limits))
}

fn ok(body: Value) -> Response {
    json_response(StatusCode::OK, &body)
}

fn fail(err: DingError) -> Response {
    json_response(StatusCode::BAD_REQUEST, &err.body())
}

fn not_found(what: &str) -> Response {
    json_response(
        StatusCode::NOT_FOUND,
        &json!({ "errcode": 404, "errmsg": format!("unknown {what}") }),
    )
}

/// Every corp and app, as tests and tools discover them.
pub fn app_list(sim: &SimState) -> Vec<Value> {
    sim.corps
        .iter()
        .flat_map(|corp| {
            corp.apps.iter().map(move |app| {
                json!({
                    "corp_id": corp.corp_id,
                    "app_key": app.app_key,
                    "app_secret": app.app_secret,
                    "agent_id": app.agent_id,
                })
            })
        })
        .collect()
}

async fn apps(State(sim): State<Sim>) -> Response {
    let list: Vec<Value> = app_list(&sim)
        .into_iter()
        .map(|mut entry| {
            if let Some((_, app)) = entry["app_key"].as_str().and_then(|k| sim.find_app(k)) {
                entry["policy"] = json!(*read(&app.policy));
            }
            entry
        })
        .collect();
    ok(json!(list))
}

#[derive(Debug, Deserialize)]
struct AppPatch {
    /// Absent: unchanged; `null`: no whitelist; a list: only those IPs.
    #[serde(default, deserialize_with = "present")]
    ip_whitelist: Option<Option<Vec<String>>>,
    permissions: Option<Vec<String>>,
    contact_scope_depts: Option<Vec<i64>>,
    redirect_uris: Option<Vec<String>>,
}

/// Tells an explicit `null` from an absent field.
fn present<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<Vec<String>>>, D::Error> {
    Option::<Vec<String>>::deserialize(d).map(Some)
}

async fn set_app(
    State(sim): State<Sim>,
    Path(app_key): Path<String>,
    Json(p): Json<AppPatch>,
) -> Response {
    let Some((_, app)) = sim.find_app(&app_key) else {
        return not_found("app");
    };
    let mut policy = write(&app.policy);
    if let Some(list) = p.ip_whitelist {
        policy.ip_whitelist = list;
    }
    if let Some(perms) = p.permissions {
        policy.permissions = perms.into_iter().collect();
    }
    if let Some(scope) = p.contact_scope_depts {
        policy.contact_scope_depts = scope;
    }
    if let Some(uris) = p.redirect_uris {
        policy.redirect_uris = uris;
    }
    ok(json!(*policy))
}

async fn add_fault(State(sim): State<Sim>, Json(spec): Json<FaultSpec>) -> Response {
    let active = sim.faults.add(spec);
    ok(json!({ "active": active }))
}

async fn clear_faults(State(sim): State<Sim>) -> Response {
    sim.faults.clear();
    ok(json!({ "active": 0 }))
}

async fn list_faults(State(sim): State<Sim>) -> Response {
    ok(json!(sim.faults.list()))
}

async fn counters(State(sim): State<Sim>) -> Response {
    ok(json!(sim.limits.counters()))
}

async fn reset_counters(State(sim): State<Sim>) -> Response {
    sim.limits.reset_counters();
    ok(json!({}))
}

async fn reset_limits(State(sim): State<Sim>) -> Response {
    sim.limits.unblock_ips();
    ok(json!({}))
}

#[derive(Debug, Deserialize, Default)]
struct ExpireBody {
    app_key: Option<String>,
}

async fn expire_tokens(State(sim): State<Sim>, body: Option<Json<ExpireBody>>) -> Response {
    let body = body.map(|Json(b)| b).unwrap_or_default();
    let app = match body.app_key {
        Some(key) => match sim.find_app(&key) {
            Some((r, _)) => Some(r),
            None => return not_found("app"),
        },
        None => None,
    };
    ok(json!({ "expired": sim.tokens.expire(app) }))
}

#[derive(Debug, Deserialize, Default)]
struct CorpQuery {
    corp_id: Option<String>,
}

fn corp_index(sim: &SimState, corp_id: Option<&str>) -> Option<usize> {
    sim.corp_index(corp_id)
}

async fn org(State(sim): State<Sim>, Query(q): Query<CorpQuery>) -> Response {
    let Some(corp) = corp_index(&sim, q.corp_id.as_deref()).and_then(|i| sim.corp(i)) else {
        return not_found("corp");
    };
    let org = read(&corp.org);
    let mut depts: Vec<_> = org.depts.values().collect();
    depts.sort_by_key(|d| d.dept_id);
    let mut users: Vec<_> = org.users.values().collect();
    users.sort_by_key(|u| u.entry_seq);
    ok(
        json!({ "corp_id": org.corp_id, "corp_name": org.corp_name, "depts": depts, "users": users }),
    )
}

/// Applies an org write for the corp named by `corp_id` (body or query), emitting its events.
fn org_write<T>(
    sim: &SimState,
    corp_id: Option<&str>,
    f: impl FnOnce(&mut crate::org::Org) -> Result<(T, Vec<crate::org::OrgEvent>), DingError>,
) -> Result<T, Box<Response>> {
    let index = corp_index(sim, corp_id).ok_or_else(|| Box::new(not_found("corp")))?;
    let corp = sim.corp(index).ok_or_else(|| Box::new(not_found("corp")))?;
    let (out, events) = f(&mut write(&corp.org)).map_err(|e| Box::new(fail(e)))?;
    sim.emit(index, events);
    Ok(out)
}

async fn create_user(State(sim): State<Sim>, Json(body): Json<Value>) -> Response {
    let p = Params::from_value(body);
    let input = match crate::routes::user_input(&p) {
        Ok(input) => input,
        Err(e) => return fail(e),
    };
    match org_write(&sim, p.str("corp_id").as_deref(), |org| {
        org.create_user(input)
    }) {
        Ok(userid) => ok(json!({ "userid": userid })),
        Err(r) => *r,
    }
}

async fn update_user(
    State(sim): State<Sim>,
    Path(userid): Path<String>,
    Query(q): Query<CorpQuery>,
    Json(body): Json<Value>,
) -> Response {
    let p = Params::from_value(body);
    let input = match crate::routes::user_input(&p) {
        Ok(input) => input,
        Err(e) => return fail(e),
    };
    let corp = q.corp_id.or_else(|| p.str("corp_id"));
    match org_write(&sim, corp.as_deref(), |org| {
        org.update_user(&userid, input).map(|e| ((), e))
    }) {
        Ok(()) => ok(json!({ "userid": userid })),
        Err(r) => *r,
    }
}

async fn delete_user(
    State(sim): State<Sim>,
    Path(userid): Path<String>,
    Query(q): Query<CorpQuery>,
) -> Response {
    match org_write(&sim, q.corp_id.as_deref(), |org| {
        org.delete_user(&userid).map(|e| ((), e))
    }) {
        Ok(()) => ok(json!({ "userid": userid })),
        Err(r) => *r,
    }
}

async fn get_user(
    State(sim): State<Sim>,
    Path(userid): Path<String>,
    Query(q): Query<CorpQuery>,
) -> Response {
    let Some(corp) = corp_index(&sim, q.corp_id.as_deref()).and_then(|i| sim.corp(i)) else {
        return not_found("corp");
    };
    match read(&corp.org).user(&userid) {
        Some(user) => ok(json!(user)),
        None => not_found("user"),
    }
}

async fn create_dept(State(sim): State<Sim>, Json(body): Json<Value>) -> Response {
    let p = Params::from_value(body);
    let input = match crate::routes::dept_input(&p) {
        Ok(input) => input,
        Err(e) => return fail(e),
    };
    match org_write(&sim, p.str("corp_id").as_deref(), |org| {
        org.create_dept(input)
    }) {
        Ok(id) => ok(json!({ "dept_id": id })),
        Err(r) => *r,
    }
}

async fn update_dept(
    State(sim): State<Sim>,
    Path(dept_id): Path<i64>,
    Query(q): Query<CorpQuery>,
    Json(body): Json<Value>,
) -> Response {
    let p = Params::from_value(body);
    let input = match crate::routes::dept_input(&p) {
        Ok(input) => input,
        Err(e) => return fail(e),
    };
    let corp = q.corp_id.or_else(|| p.str("corp_id"));
    match org_write(&sim, corp.as_deref(), |org| {
        org.update_dept(dept_id, input).map(|e| ((), e))
    }) {
        Ok(()) => ok(json!({ "dept_id": dept_id })),
        Err(r) => *r,
    }
}

async fn delete_dept(
    State(sim): State<Sim>,
    Path(dept_id): Path<i64>,
    Query(q): Query<CorpQuery>,
) -> Response {
    match org_write(&sim, q.corp_id.as_deref(), |org| {
        org.delete_dept(dept_id).map(|e| ((), e))
    }) {
        Ok(()) => ok(json!({ "dept_id": dept_id })),
        Err(r) => *r,
    }
}

async fn callbacks(State(sim): State<Sim>) -> Response {
    let log = lock(&sim.delivery.log).clone();
    let pending_failed: HashMap<&str, usize> = sim
        .corps
        .iter()
        .map(|c| (c.corp_id.as_str(), lock(&c.callbacks.failed).len()))
        .collect();
    let registrations: HashMap<&str, Value> = sim
        .corps
        .iter()
        .map(|c| (c.corp_id.as_str(), json!(*lock(&c.callbacks.registration))))
        .collect();
    let delivered: Vec<_> = log.iter().filter(|e| e.outcome == "delivered").collect();
    let failed: Vec<_> = log.iter().filter(|e| e.outcome == "failed").collect();
    let pending: Vec<_> = log.iter().filter(|e| e.outcome == "pending").collect();
    ok(json!({
        "delivered": delivered,
        "failed": failed,
        "pending": pending,
        "failed_list_sizes": pending_failed,
        "registrations": registrations,
    }))
}

#[derive(Debug, Deserialize)]
struct CodeBody {
    userid: String,
    app_key: Option<String>,
}

async fn microapp_code(State(sim): State<Sim>, Json(body): Json<CodeBody>) -> Response {
    let app = match body.app_key.as_deref() {
        Some(key) => sim.find_app(key).map(|(r, _)| r),
        None => Some(AppRef { corp: 0, app: 0 }),
    };
    let Some(app) = app.filter(|r| sim.app(*r).is_some()) else {
        return not_found("app");
    };
    let known = sim
        .corp(app.corp)
        .is_some_and(|c| read(&c.org).user(&body.userid).is_some());
    if !known {
        return not_found("user");
    }
    let code = sim
        .login
        .mint(app, app.corp, &body.userid, CodeKind::MicroApp, CODE_TTL);
    ok(json!({ "code": code, "expires_in": CODE_TTL.as_secs() }))
}

async fn settings(State(sim): State<Sim>) -> Response {
    ok(json!(sim.settings()))
}

#[derive(Debug, Deserialize)]
struct SettingsPatch {
    latency_ms: Option<u64>,
    qps_per_api: Option<u32>,
    ip_calls_per_20s: Option<u32>,
    token_ttl_secs: Option<u64>,
    auth_88_share: Option<f64>,
    key_casing: Option<KeyCasing>,
    callback_time_scale: Option<f64>,
    callback_timeout_ms: Option<u64>,
}

async fn set_settings(State(sim): State<Sim>, Json(p): Json<SettingsPatch>) -> Response {
    let mut s = write(&sim.settings);
    s.latency_ms = p.latency_ms.unwrap_or(s.latency_ms);
    s.qps_per_api = p.qps_per_api.unwrap_or(s.qps_per_api);
    s.ip_calls_per_20s = p.ip_calls_per_20s.unwrap_or(s.ip_calls_per_20s);
    s.token_ttl_secs = p.token_ttl_secs.unwrap_or(s.token_ttl_secs);
    s.auth_88_share = p.auth_88_share.unwrap_or(s.auth_88_share);
    s.key_casing = p.key_casing.unwrap_or(s.key_casing);
    s.callback_time_scale = p.callback_time_scale.unwrap_or(s.callback_time_scale);
    s.callback_timeout_ms = p.callback_timeout_ms.unwrap_or(s.callback_timeout_ms);
    ok(json!(*s))
}
