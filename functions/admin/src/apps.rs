//! Applications (SSO targets of the portal: OpenID Connect relying parties and signed-JWT apps):
//! create, list, read, replace, rotate the secret, delete. A confidential app's secret is shown
//! once, in the answer that made it; reads never carry a secret or a hash. Every write is audited.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{get, post};
use axum::{Extension, Router};
use dingbridge::domain::app::{AppInput, check_app};
use dingbridge::domain::ids::{AccountId, AppId, OrgUnitId};
use dingbridge::domain::values::InvalidField;
use dingbridge::store::Actor;
use dingbridge::store::apps::{App, AppView, id_of_client_id};
use dingbridge::web::{ApiError, FieldProblem, Json, decode};
use futures::{StreamExt, TryStreamExt, stream};
use serde::{Deserialize, Serialize};

use crate::Admin;
use crate::directory_writes::{etag, expected_version};
use crate::paging::{PageRequest, Paged};

/// A day: long enough to roll a new secret out to the app that uses it.
const DEFAULT_OVERLAP_S: i64 = 86_400;
/// A week at most: an old secret should not live on for long.
const MAX_OVERLAP_S: i64 = 7 * 86_400;
/// Existence checks of an assignment's ids in flight at once.
const ASSIGNEE_READS: usize = 16;
/// How many missing ids a problem lists by name.
const LISTED_MISSING: usize = 10;

pub(crate) fn routes() -> Router<Admin> {
    Router::new()
        .route("/apps", get(list).post(create))
        .route("/apps/{id}", get(read).put(replace).delete(delete))
        .route("/apps/{id}/rotate", post(rotate))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RotateBody {
    overlap_s: Option<i64>,
}

/// The answer that may carry the secret: creation and rotation, once.
#[derive(Serialize)]
struct WithSecret {
    #[serde(flatten)]
    app: AppView,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
}

#[derive(Serialize)]
struct Deleted {
    id: AppId,
    deleted: bool,
}

fn refused(problems: Vec<InvalidField>) -> ApiError {
    ApiError::InvalidFields(problems.into_iter().map(FieldProblem::from).collect())
}

/// The app a path names, by id or by public client id.
fn app_id(raw: &str) -> Result<AppId, ApiError> {
    AppId::parse(raw)
        .ok()
        .or_else(|| id_of_client_id(raw.trim()))
        .ok_or(ApiError::NotFound)
}

async fn load(admin: &Admin, raw: &str) -> Result<App, ApiError> {
    let id = app_id(raw)?;
    admin.apps.get(&id).await?.ok_or(ApiError::NotFound)
}

/// The org units and accounts an assignment names that the directory does not hold, as problems
/// of `assigned_to` (the body's mistake: a 400 listing them, with the body's other problems).
/// Malformed ids are the domain check's to name; only well-formed ones are looked up.
async fn missing_assignees(
    admin: &Admin,
    input: &AppInput,
    problems: &mut Vec<InvalidField>,
) -> Result<(), ApiError> {
    let Some(assigned) = &input.assigned_to else {
        return Ok(());
    };
    let units: Vec<OrgUnitId> = assigned
        .org_unit_ids
        .iter()
        .flatten()
        .filter_map(|raw| OrgUnitId::parse(raw).ok())
        .collect();
    let accounts: Vec<AccountId> = assigned
        .account_ids
        .iter()
        .flatten()
        .filter_map(|raw| AccountId::parse(raw).ok())
        .collect();
    let directory = &admin.directory;
    let missing_units: Vec<OrgUnitId> = stream::iter(units)
        .map(|id| async move {
            Ok::<_, ApiError>(directory.org_unit(&id).await?.is_none().then_some(id))
        })
        .buffered(ASSIGNEE_READS)
        .try_filter_map(|missing| async move { Ok(missing) })
        .try_collect()
        .await?;
    let missing_accounts: Vec<AccountId> = stream::iter(accounts)
        .map(|id| async move {
            Ok::<_, ApiError>(directory.account(&id).await?.is_none().then_some(id))
        })
        .buffered(ASSIGNEE_READS)
        .try_filter_map(|missing| async move { Ok(missing) })
        .try_collect()
        .await?;
    let mut report = |list: &str, what: &str, ids: Vec<String>| {
        if ids.is_empty() {
            return;
        }
        let mut named: Vec<String> = ids.iter().take(LISTED_MISSING).cloned().collect();
        if ids.len() > LISTED_MISSING {
            named.push(format!("and {} more", ids.len() - LISTED_MISSING));
        }
        problems.push(InvalidField::new(
            "assigned_to",
            format!("{list} names no existing {what}: {}", named.join(", ")),
        ));
    };
    report(
        "org_unit_ids",
        "org unit",
        missing_units.iter().map(ToString::to_string).collect(),
    );
    report(
        "account_ids",
        "account",
        missing_accounts.iter().map(ToString::to_string).collect(),
    );
    Ok(())
}

fn location(id: &AppId) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(v) = format!("/admin/api/apps/{id}").parse() {
        headers.insert(header::LOCATION, v);
    }
    headers
}

async fn create(
    State(admin): State<Admin>,
    Extension(actor): Extension<Actor>,
    Json(body): Json<AppInput>,
) -> Result<(StatusCode, HeaderMap, Json<WithSecret>), ApiError> {
    let checked = check_app(&body, None);
    let mut problems = checked.as_ref().err().cloned().unwrap_or_default();
    missing_assignees(&admin, &body, &mut problems).await?;
    let checked = match checked {
        Ok(checked) if problems.is_empty() => checked,
        _ => return Err(refused(problems)),
    };
    let (app, secret) = admin.apps.create(checked, &actor).await?;
    tracing::info!(client_id = %app.client_id, kind = app.kind.as_str(), "created an app");
    let mut headers = location(&app.id);
    headers.extend(etag(app.version));
    Ok((
        StatusCode::CREATED,
        headers,
        Json(WithSecret {
            app: AppView::from(&app),
            client_secret: secret,
        }),
    ))
}

async fn list(State(admin): State<Admin>, page: PageRequest) -> Result<Paged<AppView>, ApiError> {
    let found = page
        .load(|limit, cursor| admin.apps.list(limit, cursor))
        .await?;
    Ok(Paged::from_page(found, |a| AppView::from(&a)))
}

async fn read(
    State(admin): State<Admin>,
    Path(id): Path<String>,
) -> Result<(HeaderMap, Json<AppView>), ApiError> {
    let app = load(&admin, &id).await?;
    Ok((etag(app.version), Json(AppView::from(&app))))
}

/// Replaces every setting (absent ones take their defaults; `kind` and `public` are kept and
/// cannot change), conditional on the version given as `If-Match` or `version`.
async fn replace(
    State(admin): State<Admin>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<AppInput>,
) -> Result<(HeaderMap, Json<AppView>), ApiError> {
    let old = load(&admin, &id).await?;
    let mut problems = Vec::new();
    let version = expected_version(&headers, body.version, &mut problems);
    let checked = check_app(&body, Some((old.kind, old.public)));
    if let Err(found) = &checked {
        problems.extend(found.iter().cloned());
    }
    missing_assignees(&admin, &body, &mut problems).await?;
    let checked = match checked {
        Ok(checked) if problems.is_empty() => checked,
        _ => return Err(refused(problems)),
    };
    let app = admin.apps.update(&old.id, version, checked, &actor).await?;
    tracing::info!(client_id = %app.client_id, "replaced an app's settings");
    Ok((etag(app.version), Json(AppView::from(&app))))
}

/// A new secret, shown once; the old one keeps working for `overlap_s` (default a day).
async fn rotate(
    State(admin): State<Admin>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<WithSecret>, ApiError> {
    let id = app_id(&id)?;
    // The body is optional: `{}` or nothing rotates with the default overlap.
    let body: RotateBody = if body.iter().all(u8::is_ascii_whitespace) {
        RotateBody::default()
    } else {
        decode(&body)?
    };
    let overlap_s = body.overlap_s.unwrap_or(DEFAULT_OVERLAP_S);
    if !(0..=MAX_OVERLAP_S).contains(&overlap_s) {
        return Err(ApiError::invalid(
            "overlap_s",
            format!("must be from 0 to {MAX_OVERLAP_S} seconds (7 days)"),
        ));
    }
    let (app, secret) = admin.apps.rotate_secret(&id, overlap_s, &actor).await?;
    tracing::info!(client_id = %app.client_id, overlap_s, "rotated an app's secret");
    Ok(Json(WithSecret {
        app: AppView::from(&app),
        client_secret: Some(secret),
    }))
}

/// Deletes the app (conditional on `If-Match` when sent); its secret stops working at once.
async fn delete(
    State(admin): State<Admin>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Deleted>, ApiError> {
    let id = app_id(&id)?;
    let mut problems = Vec::new();
    let version = expected_version(&headers, None, &mut problems);
    if !problems.is_empty() {
        return Err(refused(problems));
    }
    let old = admin.apps.delete(&id, version, &actor).await?;
    tracing::info!(client_id = %old.client_id, "deleted an app");
    Ok(Json(Deleted {
        id: old.id,
        deleted: true,
    }))
}
