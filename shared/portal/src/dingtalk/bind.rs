//! The bind page (云盾账户绑定) of a DingTalk user the directory does not know yet: the person signs
//! in once with an existing account's password (rate-limited and locked like the sign-in page);
//! the binding is made and from then on DingTalk alone signs them in.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Extensions, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use dingbridge::domain::directory::{AccountStatus, Origin};
use dingbridge::store::Actor;
use dingbridge::store::bindings::BoundBy;
use dingbridge::store::login_states::{LoginState, Stage};

use super::{BIND_COOKIE, finish, problem};
use crate::signin::{Checked, check_password, with_cookies};
use crate::web::{
    PageError, cookie, form_of, identifier_of, no_store, same_token, set_cookie, source,
};
use crate::{Portal, pages};

pub(crate) fn routes() -> Router<Portal> {
    Router::new().route("/authenticate/bind", get(page).post(submit))
}

/// The pending binding of this browser: the cookie names the state and carries the secret the
/// state is bound to.
async fn pending(
    portal: &Portal,
    headers: &HeaderMap,
) -> Result<Option<(String, LoginState)>, PageError> {
    let Some(value) = cookie(headers, BIND_COOKIE) else {
        return Ok(None);
    };
    let Some((id, secret)) = value.split_once('.') else {
        return Ok(None);
    };
    match portal.login_states.peek(id).await? {
        Some(state) if state.is_for(Some(secret)) => Ok(Some((id.to_owned(), state))),
        _ => Ok(None),
    }
}

fn expired() -> Response {
    problem(
        StatusCode::BAD_REQUEST,
        "绑定已过期 This link step expired",
        "账号绑定需在钉钉登录后 10 分钟内完成，且只能在发起登录的浏览器中完成：请重新用钉钉登录。Linking must be done within 10 minutes of the DingTalk sign-in, in the browser that started it: sign in with DingTalk again.",
        None,
        Some(("重新登录 Sign in again", "/login")),
    )
}

struct Form<'a> {
    identifier: &'a str,
    error: Option<&'a str>,
    status: StatusCode,
}

fn render(state: &LoginState, form: Form<'_>) -> Response {
    let Stage::Binding {
        userid, name, csrf, ..
    } = &state.stage
    else {
        return expired();
    };
    let page = pages::bind(&pages::Bind {
        csrf,
        name: name.as_deref().unwrap_or(userid),
        userid,
        identifier: form.identifier,
        error: form.error,
    });
    (form.status, no_store(), Html(page)).into_response()
}

async fn page(State(portal): State<Portal>, headers: HeaderMap) -> Result<Response, PageError> {
    let Some((_, state)) = pending(&portal, &headers).await? else {
        return Ok(expired());
    };
    Ok(render(
        &state,
        Form {
            identifier: "",
            error: None,
            status: StatusCode::OK,
        },
    ))
}

async fn submit(
    State(portal): State<Portal>,
    headers: HeaderMap,
    extensions: Extensions,
    body: Bytes,
) -> Result<Response, PageError> {
    let form = form_of(&headers, &body, "the bind form")?;
    let Some((id, state)) = pending(&portal, &headers).await? else {
        return Ok(expired());
    };
    let Stage::Binding {
        corp_id,
        userid,
        unionid,
        name,
        csrf,
    } = &state.stage
    else {
        return Ok(expired());
    };
    if !same_token(form.get("csrf").unwrap_or(""), csrf) {
        return Err(PageError::Csrf);
    }
    let identifier = identifier_of(&form);
    let password = form.get("password").unwrap_or("");
    let again = |error: &str, status| {
        render(
            &state,
            Form {
                identifier: &identifier,
                error: Some(error),
                status,
            },
        )
    };
    if identifier.is_empty() || password.is_empty() {
        return Ok(again(
            "请输入用户名和密码。Enter your username (or email, or mobile) and your password.",
            StatusCode::BAD_REQUEST,
        ));
    }
    // Counted with the sign-in page's failures: the same account, the same address.
    let from = source(&extensions);
    let account = match check_password(&portal, &identifier, password, &from).await? {
        Checked::Account(account) => account,
        Checked::Blocked(why) => return Ok(again(&why, StatusCode::TOO_MANY_REQUESTS)),
        Checked::Wrong(why) => {
            tracing::info!(source = %from, "DingTalk binding refused: wrong username or password");
            return Ok(again(&why, StatusCode::UNAUTHORIZED));
        }
    };
    if account.status != AccountStatus::Enabled {
        return Ok(super::disabled(&account));
    }
    // One DingTalk user per account and corp: a second would let two people share an account.
    let taken = portal
        .bindings
        .of_account(&account.id)
        .await?
        .into_iter()
        .any(|b| &b.corp_id == corp_id && &b.userid != userid);
    if taken {
        return Ok(again(
            "该账号已绑定本企业的另一个钉钉用户。This account is already linked to another DingTalk user of this company: ask your IT administrator to remove that link first.",
            StatusCode::CONFLICT,
        ));
    }
    // Single use: a second submit of the same form finds nothing.
    if portal.login_states.take(&id).await?.is_none() {
        return Ok(expired());
    }
    let Some(source) = portal.sources.get(&state.source_id).await? else {
        return Ok(expired());
    };
    let actor = Actor::new(Origin::Portal, account.id.to_string());
    let bound = portal
        .bindings
        .bind(
            corp_id,
            userid,
            unionid.as_deref(),
            name.as_deref(),
            &account.id,
            &source.id,
            BoundBy::BindPage,
            &actor,
        )
        .await?;
    // A binding made meanwhile (another tab) for another account wins: this one is not signed in.
    if bound.account_id != account.id {
        return Ok(expired());
    }
    tracing::info!(account = %account.id, source = %source.id, "DingTalk user bound on the bind page");
    let response = finish(&portal, &headers, &source, &account, state.next.clone()).await?;
    Ok(with_cookies(
        response,
        &[set_cookie(BIND_COOKIE, "", 0, portal.secure_cookies)],
    ))
}
