//! The legacy callback APIs `call_back/*` (protocol §2.3): registration and update run the
//! encrypted `check_url` handshake (71009/71012 on failure); the failed list clears what it returns.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Sim, TokenQuery, respond};
use crate::callbacks::Registration;
use crate::envelope::{DingError, Params};
use crate::gate::{self, ClientIp};
use crate::state::lock;

/// The tags `register_call_back` accepts (protocol §2.1 plus common non-contact ones).
const ALLOWED_TAGS: &[&str] = &[
    "user_add_org",
    "user_modify_org",
    "user_leave_org",
    "user_active_org",
    "org_admin_add",
    "org_admin_remove",
    "org_dept_create",
    "org_dept_modify",
    "org_dept_remove",
    "org_remove",
    "org_change",
    "label_user_change",
    "label_conf_add",
    "label_conf_del",
    "label_conf_modify",
    "bpms_task_change",
    "bpms_instance_change",
    "chat_add_member",
    "chat_remove_member",
    "chat_quit",
    "chat_update_owner",
    "chat_update_title",
    "chat_disband",
    "check_in",
    "attendance_check_record",
];
/// Most items per failed-list call (§1.6).
const FAILED_PAGE: usize = 200;

fn registration(body: &[u8]) -> Result<Registration, DingError> {
    let bad = || {
        DingError::new(
            71010,
            "POST的JSON数据不包含所需要的参数字段或包含的参数格式非法",
        )
    };
    let p = Params::parse(body).map_err(|_| bad())?;
    let tags = p
        .str_list("call_back_tag")
        .filter(|t| !t.is_empty())
        .ok_or_else(bad)?;
    let token = p.str("token").ok_or_else(bad)?;
    let aes_key = p.str("aes_key").ok_or_else(bad)?;
    let url = p.str("url").ok_or_else(bad)?;
    if tags.iter().any(|t| !ALLOWED_TAGS.contains(&t.as_str())) {
        return Err(DingError::new(71008, "回调标签不在允许列表中"));
    }
    // Legacy API: token ≥ 6 and < 64 chars; aes_key exactly 43 alphanumerics (§1.1).
    if !(6..64).contains(&token.len()) {
        return Err(bad());
    }
    if aes_key.len() != 43 || !aes_key.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(DingError::new(900004, "加密密钥非法"));
    }
    if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() < 10 {
        return Err(DingError::new(71011, "不合法的回调地址"));
    }
    Ok(Registration {
        call_back_tag: tags,
        token,
        aes_key,
        url,
    })
}

async fn register_or_update(
    sim: Sim,
    ip: ClientIp,
    q: TokenQuery,
    body: Bytes,
    update: bool,
) -> Response {
    let api = if update {
        "/call_back/update_call_back"
    } else {
        "/call_back/register_call_back"
    };
    let caller = match gate::legacy(&sim, api, ip.0, q.access_token.as_deref(), None).await {
        Ok(caller) => caller,
        Err(rejected) => return rejected,
    };
    let Some(corp) = sim.corp(caller.app.corp) else {
        return DingError::new(33001, "无效的企业ID").into_response();
    };
    let reg = match registration(&body) {
        Ok(reg) => reg,
        Err(e) => return e.into_response(),
    };
    let exists = lock(&corp.callbacks.registration).is_some();
    if exists && !update {
        return DingError::new(71006, "回调地址已经存在").into_response();
    }
    if !exists && update {
        return DingError::new(71007, "回调地址已不存在").into_response();
    }
    let settings = sim.settings();
    let timeout = Duration::from_millis(settings.callback_timeout_ms);
    if let Err(e) = sim
        .delivery
        .check_url(&reg, &corp.corp_id, settings.key_casing, timeout)
        .await
    {
        return e.into_response();
    }
    *lock(&corp.callbacks.registration) = Some(reg);
    respond(Ok(Value::Null))
}

pub async fn register(
    State(sim): State<Sim>,
    ip: ClientIp,
    Query(q): Query<TokenQuery>,
    body: Bytes,
) -> Response {
    register_or_update(sim, ip, q, body, false).await
}

pub async fn update(
    State(sim): State<Sim>,
    ip: ClientIp,
    Query(q): Query<TokenQuery>,
    body: Bytes,
) -> Response {
    register_or_update(sim, ip, q, body, true).await
}

/// Runs the gate, then `f` on the caller's corp callback store.
async fn with_store(
    sim: &Sim,
    api: &'static str,
    ip: ClientIp,
    q: &TokenQuery,
    f: impl FnOnce(&crate::callbacks::CallbackStore) -> Result<Value, DingError>,
) -> Response {
    match gate::legacy(sim, api, ip.0, q.access_token.as_deref(), None).await {
        Err(rejected) => rejected,
        Ok(caller) => match sim.corp(caller.app.corp) {
            Some(corp) => respond(f(&corp.callbacks)),
            None => DingError::new(33001, "无效的企业ID").into_response(),
        },
    }
}

fn gone() -> DingError {
    DingError::new(71007, "回调地址已不存在")
}

pub async fn get(State(sim): State<Sim>, ip: ClientIp, Query(q): Query<TokenQuery>) -> Response {
    with_store(&sim, "/call_back/get_call_back", ip, &q, |store| {
        let reg = lock(&store.registration).clone().ok_or_else(gone)?;
        Ok(json!({ "call_back_tag": reg.call_back_tag, "token": reg.token, "aes_key": reg.aes_key, "url": reg.url }))
    })
    .await
}

pub async fn delete(State(sim): State<Sim>, ip: ClientIp, Query(q): Query<TokenQuery>) -> Response {
    with_store(&sim, "/call_back/delete_call_back", ip, &q, |store| {
        lock(&store.registration).take().ok_or_else(gone)?;
        Ok(Value::Null)
    })
    .await
}

pub async fn failed_result(
    State(sim): State<Sim>,
    ip: ClientIp,
    Query(q): Query<TokenQuery>,
) -> Response {
    with_store(
        &sim,
        "/call_back/get_call_back_failed_result",
        ip,
        &q,
        |store| {
            let mut failed = lock(&store.failed);
            let n = failed.len().min(FAILED_PAGE);
            let list: Vec<Value> = failed.drain(..n).collect();
            Ok(json!({ "has_more": !failed.is_empty(), "failed_list": list }))
        },
    )
    .await
}
