//! `/Users`: accounts. A user's writable attributes are kept as sent (`ScimRecord`) and the
//! directory's fields are derived from them: `userName`; `displayName` (else `name.formatted`,
//! else family + given name, else `userName`); the `work` email (else the primary, else the
//! first); the `mobile` phone; `title`; `employeeNumber`; `active`. New users join the client's
//! root unit; Groups change memberships. `active=false` disables (a soft delete).

use axum::Extension;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use dingbridge::domain::directory::{
    Account, AccountStatus, Membership, ScimRecord, normalise_memberships,
};
use dingbridge::domain::ids::AccountId;
use dingbridge::domain::rules::{MAX_JOB_NUMBER_CHARS, MAX_TITLE_CHARS};
use dingbridge::domain::values::{DisplayName, Email, Mobile, Username};
use dingbridge::secrets::hash_password;
use serde_json::Value;

use crate::doc::{self, Doc};
use crate::error::{ScimError, ScimType};
use crate::list::{self, Listing};
use crate::render::{self, designated};
use crate::schema::{ENTERPRISE_USER, Resource};
use crate::scope::Caller;
use crate::{Scim, ScimJson, if_match, patch, scim_response};

const MAX_PASSWORD: usize = 256;

/// The directory fields a user document sets, checked.
struct Derived {
    username: Username,
    display_name: DisplayName,
    email: Option<Email>,
    mobile: Option<Mobile>,
    title: Option<String>,
    job_number: Option<String>,
    enabled: bool,
    password_hash: Option<String>,
    record: ScimRecord,
}

fn text<'a>(doc: &'a Doc, key: &str) -> Option<&'a str> {
    doc.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn invalid(detail: impl Into<String>) -> ScimError {
    ScimError::bad(ScimType::InvalidValue, detail)
}

fn bounded(field: &str, v: Option<&str>, max: usize) -> Result<Option<String>, ScimError> {
    match v {
        Some(v) if v.chars().count() > max => Err(invalid(format!(
            "{field} has {} characters; at most {max} are allowed",
            v.chars().count()
        ))),
        v => Ok(v.map(str::to_owned)),
    }
}

/// The name DingTalk shows when no `displayName` is sent: the formatted name, else family +
/// given name (Chinese order, no space, when either is not ASCII), else the userName.
fn derived_name(doc: &Doc, username: &str) -> String {
    let name = doc.get("name").and_then(Value::as_object);
    let part = |k: &str| {
        name.and_then(|n| n.get(k))
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    if let Some(f) = part("formatted") {
        return f.to_owned();
    }
    match (part("familyName"), part("givenName")) {
        (Some(f), Some(g)) if f.is_ascii() && g.is_ascii() => format!("{g} {f}"),
        (Some(f), Some(g)) => format!("{f}{g}"),
        (Some(one), None) | (None, Some(one)) => one.to_owned(),
        (None, None) => username.to_owned(),
    }
}

async fn derive(scim: &Scim, mut doc: Doc) -> Result<Derived, ScimError> {
    let raw_username = text(&doc, "userName")
        .ok_or_else(|| invalid("userName is required"))?
        .to_owned();
    let username =
        Username::parse(&raw_username).map_err(|p| invalid(format!("userName {}", p.reason)))?;
    let display = text(&doc, "displayName")
        .map(str::to_owned)
        .unwrap_or_else(|| derived_name(&doc, &raw_username));
    let display_name =
        DisplayName::parse(&display).map_err(|p| invalid(format!("displayName {}", p.reason)))?;
    let list = |k: &str| {
        doc.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let emails = list("emails");
    let email = match designated(&emails, "work", true)
        .and_then(|i| emails[i].get("value"))
        .and_then(Value::as_str)
    {
        Some(v) => Some(Email::parse(v).map_err(|p| invalid(format!("emails: {}", p.reason)))?),
        None => None,
    };
    let phones = list("phoneNumbers");
    // A mobile DingTalk would not take is kept as sent, and the push waits for a usable one
    // (a SCIM phone number is any text; DingTalk's is a mobile number).
    let mobile = designated(&phones, "mobile", false)
        .and_then(|i| phones[i].get("value"))
        .and_then(Value::as_str)
        .and_then(dingtalk_mobile);
    let title = bounded("title", text(&doc, "title"), MAX_TITLE_CHARS)?;
    let enterprise = doc.get(ENTERPRISE_USER).and_then(Value::as_object);
    let job_number = bounded(
        "employeeNumber",
        enterprise
            .and_then(|e| e.get("employeeNumber"))
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty()),
        MAX_JOB_NUMBER_CHARS,
    )?;
    let enabled = doc.get("active").and_then(Value::as_bool).unwrap_or(true);
    let password_hash = match doc.remove("password") {
        Some(Value::String(p)) => Some(check_password(scim, &p).await?),
        _ => None,
    };
    let external_id = match doc.remove("externalId") {
        Some(Value::String(e)) if !e.trim().is_empty() => {
            Some(bounded("externalId", Some(e.trim()), 256)?.unwrap_or_default())
        }
        _ => None,
    };
    let mut derived = Derived {
        username,
        display_name,
        email,
        mobile,
        title,
        job_number,
        enabled,
        password_hash,
        record: ScimRecord {
            external_id,
            doc,
            synced: Default::default(),
        },
    };
    // What the document sets, as `render::user_synced` reads it back from the account.
    derived.record.synced = render::user_synced(&new_account(AccountId::generate(), &derived));
    Ok(derived)
}

/// A SCIM phone number as DingTalk's mobile: as the directory reads mobiles, and also in the
/// forms identity systems send — RFC 3966 `tel:`, E.164 `+8613800000000` without a separator.
fn dingtalk_mobile(raw: &str) -> Option<Mobile> {
    let raw = raw.trim();
    let raw = raw
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("tel:"))
        .map_or(raw, |_| &raw[4..]);
    if let Ok(m) = Mobile::parse(raw) {
        return Some(m);
    }
    let digits: String = raw
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
        .collect();
    match digits.strip_prefix("+86") {
        Some(national) => Mobile::parse(national).ok(),
        None => Mobile::parse(&digits).ok(),
    }
}

async fn check_password(scim: &Scim, password: &str) -> Result<String, ScimError> {
    if password.chars().count() > MAX_PASSWORD {
        return Err(invalid(format!(
            "password is longer than {MAX_PASSWORD} characters"
        )));
    }
    let policy = scim.settings.password_policy().await?;
    policy
        .check("password", password)
        .map_err(|p| invalid(format!("password {}", p.reason)))?;
    hash_password(password).map_err(ScimError::internal)
}

/// A new account holding what `d` sets.
fn new_account(id: AccountId, d: &Derived) -> Account {
    let mut a = Account {
        id,
        username: d.username.clone(),
        display_name: d.display_name.clone(),
        email: None,
        mobile: None,
        job_number: None,
        title: None,
        status: AccountStatus::Enabled,
        memberships: Vec::new(),
        password_hash: None,
        must_change_password: false,
        password_changed_ms: None,
        attributes: Default::default(),
        scim: None,
        version: 0,
        created_ms: 0,
        updated_ms: 0,
    };
    apply(&mut a, d);
    a
}

fn apply(a: &mut Account, d: &Derived) {
    a.username = d.username.clone();
    a.display_name = d.display_name.clone();
    a.email = d.email.clone();
    a.mobile = d.mobile.clone();
    a.title = d.title.clone();
    a.job_number = d.job_number.clone();
    a.status = if d.enabled {
        AccountStatus::Enabled
    } else {
        AccountStatus::Disabled
    };
    if let Some(h) = &d.password_hash {
        // A password a provisioning system sets is the one the person already uses there.
        a.password_hash = Some(h.clone());
        a.must_change_password = false;
    }
    a.scim = Some(d.record.clone());
}

/// The account `id` names, when the caller's scope reaches it.
async fn in_scope(scim: &Scim, caller: &Caller, id: &str) -> Result<Account, ScimError> {
    let missing = || ScimError::not_found(format!("no user {id}"));
    let id = AccountId::parse(id).map_err(|_| missing())?;
    let a = scim.directory.account(&id).await?.ok_or_else(missing)?;
    if !caller.scope.has_account(&scim.directory, &a).await? {
        return Err(missing());
    }
    Ok(a)
}

async fn answer(
    scim: &Scim,
    status: StatusCode,
    a: &Account,
    query: Option<&str>,
) -> Result<Response, ScimError> {
    let rendered = render::user(scim, a).await?;
    let params = list::Params::from_query(query)?;
    let body = doc::project(
        rendered,
        &doc::selectors(Resource::User, params.attributes.as_deref()),
        &doc::selectors(Resource::User, params.excluded.as_deref()),
    );
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&crate::etag(a.version)) {
        headers.insert(header::ETAG, v);
    }
    if status == StatusCode::CREATED
        && let Ok(v) = HeaderValue::from_str(&render::location(scim, Resource::User, a.id.as_str()))
    {
        headers.insert(header::LOCATION, v);
    }
    Ok(scim_response(status, headers, &body))
}

pub async fn create(
    State(scim): State<Scim>,
    Extension(caller): Extension<Caller>,
    RawQuery(query): RawQuery,
    ScimJson(body): ScimJson,
) -> Result<Response, ScimError> {
    let doc = doc::canonical_body(Resource::User, &body)?;
    let derived = derive(&scim, doc).await?;
    let mut account = new_account(AccountId::generate(), &derived);
    account.memberships = normalise_memberships(std::slice::from_ref(&caller.scope.root), None);
    let account = scim.pushing.create_account(account, &caller.actor).await?;
    answer(&scim, StatusCode::CREATED, &account, query.as_deref()).await
}

pub async fn get(
    State(scim): State<Scim>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ScimError> {
    let a = in_scope(&scim, &caller, &id).await?;
    answer(&scim, StatusCode::OK, &a, query.as_deref()).await
}

/// Writes a whole new document over the account (PUT, and PATCH once its operations ran).
async fn write(
    scim: &Scim,
    caller: &Caller,
    old: &Account,
    version: Option<u64>,
    doc: Doc,
) -> Result<Account, ScimError> {
    let mut derived = derive(scim, doc).await?;
    // A document without a password keeps the account's (it is never returned, so a client
    // cannot send it back).
    if derived.password_hash.is_none() {
        derived.record.doc.remove("password");
    }
    let version = version.or(Some(old.version));
    let updated = scim
        .pushing
        .update_account(&old.id, version, None, &caller.actor, |a| {
            apply(a, &derived);
            Ok(())
        })
        .await?;
    Ok(updated)
}

pub async fn replace(
    State(scim): State<Scim>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    ScimJson(body): ScimJson,
) -> Result<Response, ScimError> {
    let version = if_match(&headers)?;
    let old = in_scope(&scim, &caller, &id).await?;
    let doc = doc::canonical_body(Resource::User, &body)?;
    let a = write(&scim, &caller, &old, version, doc).await?;
    answer(&scim, StatusCode::OK, &a, query.as_deref()).await
}

pub async fn patch(
    State(scim): State<Scim>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    ScimJson(body): ScimJson,
) -> Result<Response, ScimError> {
    let version = if_match(&headers)?;
    let ops = patch::parse(&body)?;
    let old = in_scope(&scim, &caller, &id).await?;
    let mut doc = render::user_doc(&old);
    patch::apply(Resource::User, &mut doc, &ops)?;
    let a = write(&scim, &caller, &old, version, doc).await?;
    answer(&scim, StatusCode::OK, &a, query.as_deref()).await
}

pub async fn delete(
    State(scim): State<Scim>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ScimError> {
    let version = if_match(&headers)?;
    let a = in_scope(&scim, &caller, &id).await?;
    scim.pushing
        .delete_account(&a.id, version.or(Some(a.version)), &caller.actor)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list(
    State(scim): State<Scim>,
    Extension(caller): Extension<Caller>,
    RawQuery(query): RawQuery,
) -> Result<Response, ScimError> {
    let params = list::Params::from_query(query.as_deref())?;
    list::answer(&scim, &caller, Listing::Users, params).await
}

pub async fn search(
    State(scim): State<Scim>,
    Extension(caller): Extension<Caller>,
    ScimJson(body): ScimJson,
) -> Result<Response, ScimError> {
    let params = list::Params::from_search(&body)?;
    list::answer(&scim, &caller, Listing::Users, params).await
}

/// Adds (or removes) a membership of `unit`; an account left without one joins the client's
/// root unit, since DingTalk keeps every user in at least one department.
pub async fn set_membership(
    scim: &Scim,
    caller: &Caller,
    account: &AccountId,
    unit: &dingbridge::domain::ids::OrgUnitId,
    member: bool,
) -> Result<(), ScimError> {
    let root = caller.scope.root.clone();
    let units = [unit.clone(), root.clone()];
    scim.pushing
        .update_account(account, None, Some(&units), &caller.actor, |a| {
            let has = a.memberships.iter().any(|m| &m.org_unit_id == unit);
            if member && !has {
                let primary = a.memberships.is_empty();
                a.memberships.push(Membership {
                    org_unit_id: unit.clone(),
                    primary,
                });
            } else if !member && has {
                a.memberships.retain(|m| &m.org_unit_id != unit);
                if a.memberships.is_empty() {
                    a.memberships.push(Membership {
                        org_unit_id: root.clone(),
                        primary: true,
                    });
                }
            }
            let ids = a.unit_ids();
            let primary = a.primary_unit().cloned();
            a.memberships = normalise_memberships(&ids, primary.as_ref());
            Ok(())
        })
        .await?;
    Ok(())
}

/// `value` of a member or manager: an id, or a URI ending in one.
pub fn id_of(value: &Value) -> Option<String> {
    let v = value.get("value").and_then(Value::as_str).or_else(|| {
        value
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.rsplit('/').next())
    })?;
    Some(v.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn mobiles_are_read_in_the_forms_identity_systems_send() {
        for raw in [
            "13800000001",
            "+86-13800000001",
            "+8613800000001",
            "tel:+86-138-0000-0001",
            "+86 138 0000 0001",
        ] {
            assert_eq!(
                dingtalk_mobile(raw)
                    .map(|m| m.as_str().to_owned())
                    .as_deref(),
                Some("13800000001"),
                "{raw}"
            );
        }
        assert_eq!(
            dingtalk_mobile("+1-2025550100")
                .map(|m| m.as_str().to_owned())
                .as_deref(),
            Some("+1-2025550100")
        );
        assert!(dingtalk_mobile("555-0100").is_none());
        assert!(dingtalk_mobile("1234567890").is_none());
    }

    #[test]
    fn names_are_derived_in_the_order_the_person_writes_them() {
        let doc = |v: Value| v.as_object().cloned().unwrap();
        assert_eq!(
            derived_name(
                &doc(json!({"name": {"givenName": "Ann", "familyName": "Lee"}})),
                "u"
            ),
            "Ann Lee"
        );
        assert_eq!(
            derived_name(
                &doc(json!({"name": {"givenName": "三", "familyName": "张"}})),
                "u"
            ),
            "张三"
        );
        assert_eq!(
            derived_name(&doc(json!({"name": {"formatted": "Dr. Lee"}})), "u"),
            "Dr. Lee"
        );
        assert_eq!(derived_name(&doc(json!({})), "u@x"), "u@x");
    }
}
