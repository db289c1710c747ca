//! `/Groups`: org units. `displayName` is kept as sent and is unique in the client's scope; the
//! unit's name — what DingTalk gets — is the same with `-` → `_` and `,` `，` → `、` (DingTalk
//! refuses those in department names), so `displayName eq` finds the one group by either. Our
//! extension carries `parent` (a group's id or URI; absent = the client's root) and `order`.
//! Members are accounts in the scope; a member left without any unit joins the client's root.

use std::collections::HashSet;

use axum::Extension;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use dingbridge::domain::directory::{OrgUnit, ScimRecord};
use dingbridge::domain::ids::{AccountId, OrgUnitId};
use dingbridge::domain::values::check_unit_name;
use dingbridge::store::directory::{NewOrgUnit, UnitChange};
use serde_json::Value;

use crate::doc::{self, Doc};
use crate::error::{ScimError, ScimType};
use crate::list::{self, Listing};
use crate::render;
use crate::schema::{ORG_UNIT, Resource};
use crate::scope::Caller;
use crate::users::{id_of, set_membership};
use crate::{Scim, ScimJson, if_match, patch, scim_response};

/// A group name as a DingTalk department name: the characters DingTalk refuses (60001/60009)
/// replaced by the nearest it takes.
pub fn dingtalk_name(display_name: &str) -> String {
    display_name
        .trim()
        .chars()
        .map(|c| match c {
            '-' => '_',
            ',' | '，' => '、',
            c => c,
        })
        .collect()
}

fn invalid(detail: impl Into<String>) -> ScimError {
    ScimError::bad(ScimType::InvalidValue, detail)
}

/// A group document, checked: the unit's fields, its members and the record.
struct Checked {
    name: String,
    parent: OrgUnitId,
    order: i64,
    members: Option<Vec<AccountId>>,
    record: ScimRecord,
}

async fn check(
    scim: &Scim,
    caller: &Caller,
    mut doc: Doc,
    itself: Option<&OrgUnitId>,
) -> Result<Checked, ScimError> {
    let display = doc
        .get("displayName")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid("displayName is required"))?
        .to_owned();
    let name = check_unit_name(&dingtalk_name(&display))
        .map_err(|p| invalid(format!("displayName {}", p.reason)))?;
    // Unique in the client's scope, so that `displayName eq` finds one group.
    for other in scim.directory.org_units_named(&name).await? {
        if Some(&other.id) != itself && caller.scope.has_group(&scim.directory, &other).await? {
            return Err(ScimError::new(
                StatusCode::CONFLICT,
                Some(ScimType::Uniqueness),
                format!("a group named {display:?} already exists (id {})", other.id),
            ));
        }
    }
    let ext = doc.get(ORG_UNIT).and_then(Value::as_object).cloned();
    let parent = match ext.as_ref().and_then(|e| e.get("parent")) {
        Some(v) => {
            let raw = id_of(&serde_json::json!({ "$ref": v })).unwrap_or_default();
            let id = OrgUnitId::parse(&raw)
                .map_err(|_| invalid(format!("parent {raw:?} is not a group id")))?;
            let known = match scim.directory.org_unit(&id).await? {
                Some(u) => {
                    id == caller.scope.root || caller.scope.has_group(&scim.directory, &u).await?
                }
                None => false,
            };
            if !known {
                return Err(invalid(format!(
                    "parent {raw:?} names no group of this client"
                )));
            }
            if Some(&id) == itself {
                return Err(invalid("a group cannot be its own parent"));
            }
            id
        }
        None => caller.scope.root.clone(),
    };
    let order = ext
        .as_ref()
        .and_then(|e| e.get("order"))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let members = match doc.remove("members") {
        Some(Value::Array(items)) => Some(member_ids(scim, caller, &items).await?),
        Some(_) => return Err(invalid("members must be a list")),
        None => None,
    };
    let external_id = match doc.remove("externalId") {
        Some(Value::String(e)) if !e.trim().is_empty() => {
            if e.chars().count() > 256 {
                return Err(invalid("externalId is longer than 256 characters"));
            }
            Some(e.trim().to_owned())
        }
        _ => None,
    };
    let mut synced = Doc::new();
    synced.insert("displayName".into(), Value::String(name.clone()));
    synced.insert("parent".into(), Value::String(parent.to_string()));
    synced.insert("order".into(), Value::from(order));
    Ok(Checked {
        name,
        parent,
        order,
        members,
        record: ScimRecord {
            external_id,
            doc,
            synced,
        },
    })
}

/// The accounts a members list names: each an account in the client's scope, else the request
/// is refused (`invalidValue`) — a group never holds a member that does not exist.
async fn member_ids(
    scim: &Scim,
    caller: &Caller,
    items: &[Value],
) -> Result<Vec<AccountId>, ScimError> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for item in items {
        let raw = id_of(item).ok_or_else(|| invalid("a member needs a value (a user id)"))?;
        let unknown = || invalid(format!("member {raw:?} names no user of this client"));
        let id = AccountId::parse(&raw).map_err(|_| unknown())?;
        let account = scim.directory.account(&id).await?.ok_or_else(unknown)?;
        if !caller.scope.has_account(&scim.directory, &account).await? {
            return Err(unknown());
        }
        if seen.insert(id.clone()) {
            out.push(id);
        }
    }
    Ok(out)
}

/// The unit `id` names, when it is a group of the caller.
async fn in_scope(scim: &Scim, caller: &Caller, id: &str) -> Result<OrgUnit, ScimError> {
    let missing = || ScimError::not_found(format!("no group {id}"));
    let id = OrgUnitId::parse(id).map_err(|_| missing())?;
    let u = scim.directory.org_unit(&id).await?.ok_or_else(missing)?;
    if !caller.scope.has_group(&scim.directory, &u).await? {
        return Err(missing());
    }
    Ok(u)
}

async fn answer(
    scim: &Scim,
    caller: &Caller,
    status: StatusCode,
    u: &OrgUnit,
    query: Option<&str>,
) -> Result<Response, ScimError> {
    let params = list::Params::from_query(query)?;
    let attributes = doc::selectors(Resource::Group, params.attributes.as_deref());
    let excluded = doc::selectors(Resource::Group, params.excluded.as_deref());
    let members = !excluded
        .iter()
        .any(|s| s.schema.is_none() && s.name.as_deref() == Some("members") && s.sub.is_none());
    let rendered = render::group(scim, caller, u, members).await?;
    let body = doc::project(rendered, &attributes, &excluded);
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&crate::etag(u.version)) {
        headers.insert(header::ETAG, v);
    }
    if status == StatusCode::CREATED
        && let Ok(v) =
            HeaderValue::from_str(&render::location(scim, Resource::Group, u.id.as_str()))
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
    let doc = doc::canonical_body(Resource::Group, &body)?;
    let checked = check(&scim, &caller, doc, None).await?;
    let new = NewOrgUnit {
        name: checked.name.clone(),
        parent_id: checked.parent.clone(),
        order: checked.order,
        scim: Some(checked.record.clone()),
    };
    let unit = scim
        .pushing
        .create_org_unit(OrgUnitId::generate(), new, &caller.actor)
        .await?;
    for m in checked.members.unwrap_or_default() {
        set_membership(&scim, &caller, &m, &unit.id, true).await?;
    }
    answer(&scim, &caller, StatusCode::CREATED, &unit, query.as_deref()).await
}

pub async fn get(
    State(scim): State<Scim>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ScimError> {
    let u = in_scope(&scim, &caller, &id).await?;
    answer(&scim, &caller, StatusCode::OK, &u, query.as_deref()).await
}

/// Writes a whole new document over the unit, then makes its members the ones listed (when
/// the document lists them: a PUT without `members` leaves them).
async fn write(
    scim: &Scim,
    caller: &Caller,
    old: &OrgUnit,
    version: Option<u64>,
    doc: Doc,
) -> Result<OrgUnit, ScimError> {
    let checked = check(scim, caller, doc, Some(&old.id)).await?;
    let change = UnitChange {
        name: Some(checked.name.clone()),
        parent_id: (old.parent_id.as_ref() != Some(&checked.parent))
            .then(|| checked.parent.clone()),
        order: Some(checked.order),
        scim: Some(Some(checked.record.clone())),
    };
    let unit = scim
        .pushing
        .update_org_unit(
            &old.id,
            version.or(Some(old.version)),
            change,
            &caller.actor,
        )
        .await?;
    if let Some(wanted) = checked.members {
        let now = render::member_ids(scim, &unit).await?;
        for m in wanted.iter().filter(|m| !now.contains(m)) {
            set_membership(scim, caller, m, &unit.id, true).await?;
        }
        for m in now.iter().filter(|m| !wanted.contains(m)) {
            set_membership(scim, caller, m, &unit.id, false).await?;
        }
    }
    Ok(unit)
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
    let doc = doc::canonical_body(Resource::Group, &body)?;
    let unit = write(&scim, &caller, &old, version, doc).await?;
    answer(&scim, &caller, StatusCode::OK, &unit, query.as_deref()).await
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
    let mut doc = render::group_doc(&old, &caller);
    let members = render::member_ids(&scim, &old).await?;
    doc.insert(
        "members".into(),
        Value::Array(render::member_values(&scim, &members)),
    );
    patch::apply(Resource::Group, &mut doc, &ops)?;
    if !doc.contains_key("members") {
        doc.insert("members".into(), Value::Array(Vec::new()));
    }
    let unit = write(&scim, &caller, &old, version, doc).await?;
    answer(&scim, &caller, StatusCode::OK, &unit, query.as_deref()).await
}

/// Deletes a group: its members leave it first (joining the client's root when it was their
/// only unit); a group with child groups is refused (409) until they move or go.
pub async fn delete(
    State(scim): State<Scim>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ScimError> {
    let version = if_match(&headers)?;
    let u = in_scope(&scim, &caller, &id).await?;
    if version.is_some_and(|v| v != u.version) {
        return Err(dingbridge::store::DirectoryError::Stale.into());
    }
    let children = scim.directory.children(&u.id, 1, None).await?;
    if !children.items.is_empty() {
        return Err(ScimError::new(
            StatusCode::CONFLICT,
            None,
            "the group has child groups: delete them or move them (parent) first",
        ));
    }
    for m in render::member_ids(&scim, &u).await? {
        set_membership(&scim, &caller, &m, &u.id, false).await?;
    }
    scim.pushing
        .delete_org_unit(&u.id, None, &caller.actor)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list(
    State(scim): State<Scim>,
    Extension(caller): Extension<Caller>,
    RawQuery(query): RawQuery,
) -> Result<Response, ScimError> {
    let params = list::Params::from_query(query.as_deref())?;
    list::answer(&scim, &caller, Listing::Groups, params).await
}

pub async fn search(
    State(scim): State<Scim>,
    Extension(caller): Extension<Caller>,
    ScimJson(body): ScimJson,
) -> Result<Response, ScimError> {
    let params = list::Params::from_search(&body)?;
    list::answer(&scim, &caller, Listing::Groups, params).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dingtalk_names_replace_what_dingtalk_refuses() {
        assert_eq!(dingtalk_name(" Sales-East, North "), "Sales_East、 North");
        assert_eq!(dingtalk_name("研发，测试"), "研发、测试");
        assert!(check_unit_name(&dingtalk_name("a-b,c，d")).is_ok());
    }
}
