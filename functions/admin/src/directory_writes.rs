//! The directory's write side: create, change and delete org units and accounts, and set a
//! password. Every write reports all its problems at once, is conditional on the version the
//! client saw (`If-Match` or `version`), is audited with origin `admin`, and — inside a
//! push-enabled connector's root — carries its outbox item and is queued for the push.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{patch, post};
use dingbridge::domain::directory::{
    Account, AccountStatus, MAX_MEMBERSHIPS, normalise_memberships,
};
use dingbridge::domain::ids::{AccountId, OrgUnitId};
use dingbridge::domain::rules::{MAX_JOB_NUMBER_CHARS, MAX_TITLE_CHARS};
use dingbridge::domain::values::{
    DisplayName, Email, InvalidField, Mobile, Username, check_unit_name,
};
use dingbridge::secrets::hash_password;
use dingbridge::store::Actor;
use dingbridge::store::directory::{NewOrgUnit, UnitChange};
use dingbridge::web::{ApiError, FieldProblem, Json};
use serde::Deserialize;

use crate::Admin;
use crate::directory::{AccountView, OrgUnitView, account_view, unit_view};

/// At most this many attributes, each key ≤ 64 and value ≤ 1,024 characters.
const MAX_ATTRIBUTES: usize = 50;
const MAX_PASSWORD: usize = 256;

pub(crate) fn routes() -> Router<Admin> {
    Router::new()
        .route("/org-units", post(create_unit))
        .route("/org-units/{id}", patch(update_unit).delete(delete_unit))
        .route("/accounts", post(create_account))
        .route(
            "/accounts/{id}",
            patch(update_account).delete(delete_account),
        )
        .route("/accounts/{id}/password", post(set_password))
}

fn refused(problems: Vec<InvalidField>) -> ApiError {
    ApiError::InvalidFields(problems.into_iter().map(FieldProblem::from).collect())
}

/// The version a write is conditional on: `If-Match` (an ETag such as `"3"` or `W/"3"`, or a
/// bare number) or the body's `version`; both given must agree.
pub(crate) fn expected_version(
    headers: &HeaderMap,
    body: Option<u64>,
    problems: &mut Vec<InvalidField>,
) -> Option<u64> {
    let header = headers.get(header::IF_MATCH).map(|v| {
        v.to_str()
            .ok()
            .map(|s| s.trim().trim_start_matches("W/").trim_matches('"'))
            .and_then(|s| s.parse::<u64>().ok())
    });
    match (header, body) {
        (Some(None), _) => {
            problems.push(InvalidField::new(
                "If-Match",
                "must be the entity's version, such as \"3\"",
            ));
            None
        }
        (Some(Some(h)), Some(b)) if h != b => {
            problems.push(InvalidField::new(
                "version",
                "differs from the If-Match header: send one of them",
            ));
            None
        }
        (Some(Some(h)), _) => Some(h),
        (None, b) => b,
    }
}

fn unit_id(raw: &str) -> Result<OrgUnitId, ApiError> {
    OrgUnitId::parse(raw).map_err(|_| ApiError::NotFound)
}

fn account_id(raw: &str) -> Result<AccountId, ApiError> {
    AccountId::parse(raw).map_err(|_| ApiError::NotFound)
}

/// An org unit id named in a body: a malformed one is a problem of that field.
fn named_unit(
    field: &'static str,
    raw: &str,
    problems: &mut Vec<InvalidField>,
) -> Option<OrgUnitId> {
    OrgUnitId::parse(raw)
        .map_err(|_| problems.push(InvalidField::new(field, "is not an org unit id")))
        .ok()
}

// --- org units -------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUnitBody {
    name: String,
    parent_id: String,
    #[serde(default)]
    order: i64,
}

async fn create_unit(
    State(admin): State<Admin>,
    Extension(actor): Extension<Actor>,
    Json(body): Json<NewUnitBody>,
) -> Result<(StatusCode, HeaderMap, Json<OrgUnitView>), ApiError> {
    let mut problems = Vec::new();
    let parent = existing_parent(&admin, &body.parent_id, &mut problems).await?;
    if let Err(p) = check_unit_name(&body.name) {
        problems.push(p);
    }
    let Some(parent_id) = parent.filter(|_| problems.is_empty()) else {
        return Err(refused(problems));
    };
    let new = NewOrgUnit {
        scim: None,
        name: body.name,
        parent_id,
        order: body.order,
    };
    let unit = admin
        .pushing
        .create_org_unit(OrgUnitId::generate(), new, &actor)
        .await?;
    let view = unit_view(&admin, unit).await?;
    Ok((StatusCode::CREATED, etag(view.version), Json(view)))
}

/// The parent a body names, when it is an existing unit; otherwise a problem of `parent_id` (the
/// body's mistake, a 400, not a 404 of the path). A parent deleted between this read and the
/// write makes the write a 404.
async fn existing_parent(
    admin: &Admin,
    raw: &str,
    problems: &mut Vec<InvalidField>,
) -> Result<Option<OrgUnitId>, ApiError> {
    let Some(id) = named_unit("parent_id", raw, problems) else {
        return Ok(None);
    };
    if admin.directory.org_unit(&id).await?.is_none() {
        problems.push(InvalidField::new(
            "parent_id",
            "does not name an existing org unit",
        ));
        return Ok(None);
    }
    Ok(Some(id))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UnitPatch {
    name: Option<String>,
    parent_id: Option<String>,
    order: Option<i64>,
    version: Option<u64>,
}

async fn update_unit(
    State(admin): State<Admin>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<UnitPatch>,
) -> Result<(HeaderMap, Json<OrgUnitView>), ApiError> {
    let id = unit_id(&id)?;
    let mut problems = Vec::new();
    let version = expected_version(&headers, body.version, &mut problems);
    let parent_id = match body.parent_id.as_deref() {
        Some(raw) => existing_parent(&admin, raw, &mut problems).await?,
        None => None,
    };
    if let Some(Err(p)) = body.name.as_deref().map(check_unit_name) {
        problems.push(p);
    }
    if !problems.is_empty() {
        return Err(refused(problems));
    }
    let change = UnitChange {
        scim: None,
        name: body.name,
        parent_id,
        order: body.order,
    };
    let unit = admin
        .pushing
        .update_org_unit(&id, version, change, &actor)
        .await?;
    let view = unit_view(&admin, unit).await?;
    Ok((etag(view.version), Json(view)))
}

async fn delete_unit(
    State(admin): State<Admin>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let id = unit_id(&id)?;
    let mut problems = Vec::new();
    let version = expected_version(&headers, None, &mut problems);
    if !problems.is_empty() {
        return Err(refused(problems));
    }
    admin.pushing.delete_org_unit(&id, version, &actor).await?;
    Ok(StatusCode::NO_CONTENT)
}

// --- accounts --------------------------------------------------------------------------------

/// The account fields a create sets and a change may set; absent = unchanged on a change.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AccountBody {
    username: Option<String>,
    display_name: Option<String>,
    /// `null` (or "") removes the value on a change.
    #[serde(default, deserialize_with = "present")]
    mobile: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    email: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    job_number: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    title: Option<Option<String>>,
    org_unit_ids: Option<Vec<String>>,
    primary_org_unit_id: Option<String>,
    password: Option<String>,
    attributes: Option<BTreeMap<String, String>>,
    enabled: Option<bool>,
    version: Option<u64>,
}

/// Tells a field sent as `null` (`Some(None)`) from one not sent (`None`).
fn present<'de, D>(d: D) -> Result<Option<Option<String>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Option::<String>::deserialize(d).map(Some)
}

/// An account body, checked: every value parsed, every problem collected.
#[derive(Default)]
struct CheckedAccount {
    username: Option<Username>,
    display_name: Option<DisplayName>,
    mobile: Option<Option<Mobile>>,
    email: Option<Option<Email>>,
    job_number: Option<Option<String>>,
    title: Option<Option<String>>,
    units: Option<Vec<OrgUnitId>>,
    primary: Option<OrgUnitId>,
    password_hash: Option<String>,
    attributes: Option<BTreeMap<String, String>>,
}

/// A cleared (blank or `null`) optional text is `Some(None)`.
fn optional<T>(
    raw: &Option<Option<String>>,
    parse: impl Fn(&str) -> Result<T, InvalidField>,
    problems: &mut Vec<InvalidField>,
) -> Option<Option<T>> {
    let raw = raw.as_ref()?;
    match raw.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Some(None),
        Some(v) => parse(v).map_err(|p| problems.push(p)).ok().map(Some),
    }
}

fn bounded(field: &'static str, max: usize) -> impl Fn(&str) -> Result<String, InvalidField> {
    move |v: &str| {
        let len = v.chars().count();
        if len > max {
            Err(InvalidField::new(
                field,
                format!("has {len} characters; at most {max} are allowed"),
            ))
        } else if v.chars().any(char::is_control) {
            Err(InvalidField::new(field, "contains control characters"))
        } else {
            Ok(v.to_owned())
        }
    }
}

/// The body's values, parsed, or every problem with them (a 400). A failing read of the
/// directory or the policy is the server's failure, not a problem of the body.
async fn check_account(
    admin: &Admin,
    body: &AccountBody,
    creating: bool,
    mut problems: Vec<InvalidField>,
) -> Result<CheckedAccount, ApiError> {
    let mut out = CheckedAccount::default();
    match (&body.username, creating) {
        (Some(raw), _) => out.username = Username::parse(raw).map_err(|p| problems.push(p)).ok(),
        (None, true) => problems.push(InvalidField::new("username", "is required")),
        (None, false) => {}
    }
    match (&body.display_name, creating) {
        (Some(raw), _) => {
            out.display_name = DisplayName::parse(raw).map_err(|p| problems.push(p)).ok();
        }
        (None, true) => problems.push(InvalidField::new("display_name", "is required")),
        (None, false) => {}
    }
    out.mobile = optional(&body.mobile, Mobile::parse, &mut problems);
    out.email = optional(&body.email, Email::parse, &mut problems);
    out.job_number = optional(
        &body.job_number,
        bounded("job_number", MAX_JOB_NUMBER_CHARS),
        &mut problems,
    );
    out.title = optional(
        &body.title,
        bounded("title", MAX_TITLE_CHARS),
        &mut problems,
    );
    match &body.org_unit_ids {
        Some(ids) if ids.is_empty() => problems.push(InvalidField::new(
            "org_unit_ids",
            "must name at least one org unit",
        )),
        Some(ids) if ids.len() > MAX_MEMBERSHIPS => problems.push(InvalidField::new(
            "org_unit_ids",
            format!(
                "names {} org units; an account belongs to at most {MAX_MEMBERSHIPS}",
                ids.len()
            ),
        )),
        Some(ids) => out.units = Some(existing_units(admin, ids, &mut problems).await?),
        None if creating => problems.push(InvalidField::new(
            "org_unit_ids",
            "is required: an account belongs to at least one org unit",
        )),
        None => {}
    }
    if let Some(raw) = &body.primary_org_unit_id {
        out.primary = named_unit("primary_org_unit_id", raw, &mut problems);
        if let (Some(p), Some(units)) = (&out.primary, &out.units)
            && !units.contains(p)
        {
            problems.push(InvalidField::new(
                "primary_org_unit_id",
                "must be one of org_unit_ids",
            ));
        }
    }
    if let Some(attrs) = &body.attributes {
        check_attributes(attrs, &mut problems);
        out.attributes = Some(attrs.clone());
    }
    if let Some(password) = &body.password {
        out.password_hash = check_password(admin, password, &mut problems).await?;
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(refused(problems))
    }
}

/// The units `ids` name, each an existing unit; the others are problems of `org_unit_ids`.
async fn existing_units(
    admin: &Admin,
    ids: &[String],
    problems: &mut Vec<InvalidField>,
) -> Result<Vec<OrgUnitId>, ApiError> {
    let mut units = Vec::new();
    for raw in ids {
        let Some(id) = named_unit("org_unit_ids", raw, problems) else {
            continue;
        };
        if admin.directory.org_unit(&id).await?.is_some() {
            units.push(id);
        } else {
            problems.push(InvalidField::new(
                "org_unit_ids",
                format!("{id} does not name an existing org unit"),
            ));
        }
    }
    Ok(units)
}

fn check_attributes(attrs: &BTreeMap<String, String>, problems: &mut Vec<InvalidField>) {
    if attrs.len() > MAX_ATTRIBUTES {
        problems.push(InvalidField::new(
            "attributes",
            format!(
                "has {} keys; at most {MAX_ATTRIBUTES} are allowed",
                attrs.len()
            ),
        ));
    }
    for (k, v) in attrs {
        if k.trim().is_empty() || k.chars().count() > 64 || k.chars().any(char::is_control) {
            problems.push(InvalidField::new(
                "attributes",
                "keys are 1–64 characters without control characters",
            ));
        }
        if v.chars().count() > 1024 {
            problems.push(InvalidField::new(
                "attributes",
                format!("the value of {k:?} is longer than 1024 characters"),
            ));
        }
    }
}

/// The password's hash, or its policy problem (never echoing the password).
async fn check_password(
    admin: &Admin,
    password: &str,
    problems: &mut Vec<InvalidField>,
) -> Result<Option<String>, ApiError> {
    let len = password.chars().count();
    if len > MAX_PASSWORD {
        problems.push(InvalidField::new(
            "password",
            format!("has {len} characters; at most {MAX_PASSWORD} are allowed"),
        ));
        return Ok(None);
    }
    let policy = admin.settings.password_policy().await?;
    if let Err(p) = policy.check("password", password) {
        problems.push(p);
        return Ok(None);
    }
    hash_password(password)
        .map(Some)
        .map_err(|e| ApiError::Internal(format!("hashing a password: {e}")))
}

/// Applies the checked values to `a` (what a change sets; a create starts from an empty account).
fn apply(a: &mut Account, c: &CheckedAccount, enabled: Option<bool>) {
    if let Some(v) = &c.username {
        a.username = v.clone();
    }
    if let Some(v) = &c.display_name {
        a.display_name = v.clone();
    }
    if let Some(v) = &c.mobile {
        a.mobile = v.clone();
    }
    if let Some(v) = &c.email {
        a.email = v.clone();
    }
    if let Some(v) = &c.job_number {
        a.job_number = v.clone();
    }
    if let Some(v) = &c.title {
        a.title = v.clone();
    }
    match (&c.units, &c.primary) {
        (Some(units), primary) => a.memberships = normalise_memberships(units, primary.as_ref()),
        (None, Some(primary)) => {
            let units: Vec<OrgUnitId> = a
                .memberships
                .iter()
                .map(|m| m.org_unit_id.clone())
                .collect();
            a.memberships = normalise_memberships(&units, Some(primary));
        }
        (None, None) => {}
    }
    if let Some(hash) = &c.password_hash {
        a.password_hash = Some(hash.clone());
    }
    if let Some(attrs) = &c.attributes {
        a.attributes = attrs.clone();
    }
    if let Some(enabled) = enabled {
        a.status = if enabled {
            AccountStatus::Enabled
        } else {
            AccountStatus::Disabled
        };
    }
}

async fn create_account(
    State(admin): State<Admin>,
    Extension(actor): Extension<Actor>,
    Json(body): Json<AccountBody>,
) -> Result<(StatusCode, HeaderMap, Json<AccountView>), ApiError> {
    let mut problems = Vec::new();
    if body.version.is_some() {
        problems.push(InvalidField::new("version", "is set by the directory"));
    }
    let checked = check_account(&admin, &body, true, problems).await?;
    let (Some(username), Some(display_name)) =
        (checked.username.clone(), checked.display_name.clone())
    else {
        return Err(ApiError::invalid("username", "is required"));
    };
    let policy = admin.settings.password_policy().await?;
    let mut account = Account {
        scim: None,
        id: AccountId::generate(),
        username,
        display_name,
        email: None,
        mobile: None,
        job_number: None,
        title: None,
        status: AccountStatus::Enabled,
        memberships: Vec::new(),
        password_hash: None,
        // An admin-set first password is a default one: changed at the first sign-in when the
        // policy asks for it.
        must_change_password: checked.password_hash.is_some()
            && policy.change_default_at_first_login,
        password_changed_ms: None,
        attributes: BTreeMap::new(),
        version: 0,
        created_ms: 0,
        updated_ms: 0,
    };
    apply(&mut account, &checked, body.enabled);
    let account = admin.pushing.create_account(account, &actor).await?;
    let view = account_view(&admin, account).await?;
    Ok((StatusCode::CREATED, etag(view.version), Json(view)))
}

async fn update_account(
    State(admin): State<Admin>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<AccountBody>,
) -> Result<(HeaderMap, Json<AccountView>), ApiError> {
    let id = account_id(&id)?;
    let mut problems = Vec::new();
    let version = expected_version(&headers, body.version, &mut problems);
    let checked = check_account(&admin, &body, false, problems).await?;
    let policy = admin.settings.password_policy().await?;
    let enabled = body.enabled;
    let units_after = checked.units.clone();
    let account = admin
        .pushing
        .update_account(&id, version, units_after.as_deref(), &actor, |a| {
            apply(a, &checked, enabled);
            if checked.password_hash.is_some() {
                a.must_change_password = policy.change_default_at_first_login;
            }
            Ok(())
        })
        .await?;
    let view = account_view(&admin, account).await?;
    Ok((etag(view.version), Json(view)))
}

async fn delete_account(
    State(admin): State<Admin>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let id = account_id(&id)?;
    let mut problems = Vec::new();
    let version = expected_version(&headers, None, &mut problems);
    if !problems.is_empty() {
        return Err(refused(problems));
    }
    admin.pushing.delete_account(&id, version, &actor).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordBody {
    password: String,
    /// Ask for a change at the next sign-in; defaults to the policy's rule for set passwords.
    must_change: Option<bool>,
    version: Option<u64>,
}

/// Sets or resets an account's password under the policy.
async fn set_password(
    State(admin): State<Admin>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<PasswordBody>,
) -> Result<(HeaderMap, Json<AccountView>), ApiError> {
    let id = account_id(&id)?;
    let mut problems = Vec::new();
    let version = expected_version(&headers, body.version, &mut problems);
    let hash = check_password(&admin, &body.password, &mut problems).await?;
    let Some(hash) = hash.filter(|_| problems.is_empty()) else {
        return Err(refused(problems));
    };
    let policy = admin.settings.password_policy().await?;
    let must_change = body
        .must_change
        .unwrap_or(policy.change_default_at_first_login);
    let account = admin
        .directory
        .update_account(&id, version, &actor, |a| {
            a.password_hash = Some(hash.clone());
            a.must_change_password = must_change;
            Ok(())
        })
        .await?;
    let view = account_view(&admin, account).await?;
    Ok((etag(view.version), Json(view)))
}

pub(crate) fn etag(version: u64) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(v) = format!("\"{version}\"").parse() {
        headers.insert(header::ETAG, v);
    }
    headers
}
