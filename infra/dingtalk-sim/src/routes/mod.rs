//! The router: DingTalk's three hosts (oapi, api, login) on one server by path, plus `/_sim/`.

mod callbacks;
mod depts;
mod login;
mod tokens;
mod users;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use serde::Deserialize;
use serde_json::Value;

use crate::envelope::{DingError, Params, legacy_ok};
use crate::gate::{self, Caller, ClientIp};
use crate::state::{SimState, perm};

pub use depts::dept_input;
pub use users::user_input;

pub type Sim = Arc<SimState>;

/// A synchronous `topapi` handler: the params in, the success fields (e.g. `{"result":…}`) out.
pub type Handler = fn(&SimState, &Caller, &Params) -> Result<Value, DingError>;

#[derive(Debug, Deserialize)]
pub struct TokenQuery {
    pub access_token: Option<String>,
}

/// A legacy POST API behind the full gate; GET answers 43002 as DingTalk does.
fn topapi(api: &'static str, need: Option<&'static str>, handler: Handler) -> MethodRouter<Sim> {
    post(move |State(sim): State<Sim>, ip: ClientIp, Query(q): Query<TokenQuery>, body: Bytes| async move {
        match gate::legacy(&sim, api, ip.0, q.access_token.as_deref(), need).await {
            Err(rejected) => rejected,
            Ok(caller) => {
                let answer = respond(Params::parse(&body).and_then(|p| handler(&sim, &caller, &p)));
                match caller.lost_answer {
                    Some(firing) => gate::lost_answer(firing).await,
                    None => answer,
                }
            }
        }
    })
    .get(|| async { DingError::new(43002, "需要POST请求").into_response() })
}

pub fn respond(outcome: Result<Value, DingError>) -> Response {
    match outcome {
        Ok(fields) => legacy_ok(fields),
        Err(e) => e.into_response(),
    }
}

pub fn router(sim: Sim) -> Router {
    use perm::{BY_MOBILE, DEPT_LIST, DEPT_MEMBER, MANAGE, MEMBER};
    let d = "/topapi/v2/department";
    Router::new()
        .route("/gettoken", get(tokens::gettoken))
        .route("/v1.0/oauth2/accessToken", post(tokens::access_token))
        .route("/v1.0/oauth2/{corp_id}/token", post(tokens::corp_token))
        .route(
            &format!("{d}/listsub"),
            topapi(
                "/topapi/v2/department/listsub",
                Some(DEPT_LIST),
                depts::listsub,
            ),
        )
        .route(
            &format!("{d}/listsubid"),
            topapi(
                "/topapi/v2/department/listsubid",
                Some(DEPT_LIST),
                depts::listsubid,
            ),
        )
        .route(
            &format!("{d}/get"),
            topapi("/topapi/v2/department/get", Some(DEPT_LIST), depts::get),
        )
        .route(
            &format!("{d}/create"),
            topapi("/topapi/v2/department/create", Some(MANAGE), depts::create),
        )
        .route(
            &format!("{d}/update"),
            topapi("/topapi/v2/department/update", Some(MANAGE), depts::update),
        )
        .route(
            &format!("{d}/delete"),
            topapi("/topapi/v2/department/delete", Some(MANAGE), depts::delete),
        )
        .route(
            &format!("{d}/listparentbydept"),
            topapi(
                "/topapi/v2/department/listparentbydept",
                Some(DEPT_LIST),
                depts::listparentbydept,
            ),
        )
        .route(
            &format!("{d}/listparentbyuser"),
            topapi(
                "/topapi/v2/department/listparentbyuser",
                Some(DEPT_LIST),
                depts::listparentbyuser,
            ),
        )
        .route(
            "/topapi/v2/user/list",
            topapi("/topapi/v2/user/list", Some(DEPT_MEMBER), users::list),
        )
        .route(
            "/topapi/user/listsimple",
            topapi(
                "/topapi/user/listsimple",
                Some(DEPT_MEMBER),
                users::listsimple,
            ),
        )
        .route(
            "/topapi/user/listid",
            topapi("/topapi/user/listid", Some(DEPT_MEMBER), users::listid),
        )
        .route(
            "/topapi/v2/user/get",
            topapi("/topapi/v2/user/get", Some(MEMBER), users::get),
        )
        .route(
            "/topapi/v2/user/create",
            topapi("/topapi/v2/user/create", Some(MANAGE), users::create),
        )
        .route(
            "/topapi/v2/user/update",
            topapi("/topapi/v2/user/update", Some(MANAGE), users::update),
        )
        .route(
            "/topapi/v2/user/delete",
            topapi("/topapi/v2/user/delete", Some(MANAGE), users::delete),
        )
        .route(
            "/topapi/v2/user/getbymobile",
            topapi(
                "/topapi/v2/user/getbymobile",
                Some(BY_MOBILE),
                users::getbymobile,
            ),
        )
        .route(
            "/topapi/user/getbyunionid",
            topapi(
                "/topapi/user/getbyunionid",
                Some(MEMBER),
                users::getbyunionid,
            ),
        )
        .route(
            "/topapi/user/count",
            topapi("/topapi/user/count", Some(MEMBER), users::count),
        )
        .route(
            "/topapi/v2/user/getuserinfo",
            topapi("/topapi/v2/user/getuserinfo", None, users::getuserinfo),
        )
        .route("/call_back/register_call_back", post(callbacks::register))
        .route("/call_back/update_call_back", post(callbacks::update))
        .route("/call_back/get_call_back", get(callbacks::get))
        .route("/call_back/delete_call_back", get(callbacks::delete))
        .route(
            "/call_back/get_call_back_failed_result",
            get(callbacks::failed_result),
        )
        .merge(login::routes())
        .merge(crate::control::routes())
        .with_state(sim)
}
