//! LOCAL ONLY — a stand-in for DingTalk's JSAPI, so the micro-app free login works in a desktop
//! browser on `cargo run`. Inside DingTalk, `dd.requestAuthCode` hands the page a free-login code;
//! here `/_local/dingtalk-jsapi.js` defines a `dd` that asks the simulated DingTalk for one
//! (`/_local/dingtalk/code` → the simulator's `/_sim/microapp/code`) for the simulated member the
//! tester names. It exists only in the local runner: the Lambda functions never serve it, and the
//! portal includes it only when told to (`portal::Deps::jsapi_stand_in`).

use std::sync::{Arc, RwLock};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

/// Where the portal's micro-app page loads the stand-in from.
pub const SCRIPT_PATH: &str = "/_local/dingtalk-jsapi.js";
const SCRIPT: &str = include_str!("../static/dingtalk-jsapi-stand-in.js");

/// The simulator the stand-in asks for codes (set once the demo's simulator runs).
#[derive(Clone, Default)]
pub struct LocalDd {
    sim_url: Arc<RwLock<Option<String>>>,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct CodeRequest {
    userid: String,
    corp_id: Option<String>,
    client_id: Option<String>,
}

impl LocalDd {
    pub fn set_sim(&self, url: String) {
        if let Ok(mut slot) = self.sim_url.write() {
            *slot = Some(url);
        }
    }

    pub fn routes(&self) -> Router {
        Router::new()
            .route(SCRIPT_PATH, get(script))
            .route("/_local/dingtalk/code", post(code))
            .with_state(self.clone())
    }
}

async fn script() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/javascript; charset=utf-8"),
        )],
        SCRIPT,
    )
        .into_response()
}

/// A free-login code from the simulator for the simulated member `userid` of the app
/// `client_id` (the corp's internal app).
async fn code(State(dd): State<LocalDd>, axum::Json(body): axum::Json<CodeRequest>) -> Response {
    let Some(sim) = dd.sim_url.read().ok().and_then(|s| s.clone()) else {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": "no simulated DingTalk runs here"})),
        )
            .into_response();
    };
    let _ = body.corp_id;
    let answer = dd
        .http
        .post(format!("{sim}/_sim/microapp/code"))
        .json(&json!({"userid": body.userid.trim(), "app_key": body.client_id}))
        .send()
        .await;
    match answer {
        Ok(r) => {
            let status =
                StatusCode::from_u16(r.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let value: serde_json::Value = r.json().await.unwrap_or_default();
            (status, axum::Json(value)).into_response()
        }
        Err(e) => (
            StatusCode::BAD_GATEWAY,
            axum::Json(json!({"error": format!("the simulator did not answer: {e}")})),
        )
            .into_response(),
    }
}
