//! Directory entities as SCIM resources. What a client wrote reads back as written (its
//! `ScimRecord`); a directory field changed since (by an admin, or from DingTalk) shows its new
//! value instead; entities no client wrote (pulled from DingTalk) render from the directory alone.

use chrono::{SecondsFormat, TimeZone, Utc};
use dingbridge::domain::directory::{Account, AccountStatus, OrgUnit, ScimRecord};
use dingbridge::domain::ids::AccountId;
use dingbridge::domain::sync::PushEntity;
use dingbridge::store::mappings::MappedKind;
use dingbridge::store::outbox::OutboxState;
use serde_json::{Value, json};

use crate::Scim;
use crate::doc::Doc;
use crate::error::ScimError;
use crate::schema::{CORE_GROUP, CORE_USER, DINGTALK, ENTERPRISE_USER, ORG_UNIT, Resource};
use crate::scope::Caller;

fn timestamp(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn meta(scim: &Scim, r: Resource, id: &str, created: i64, updated: i64, version: u64) -> Value {
    json!({
        "resourceType": r.name(),
        "created": timestamp(created),
        "lastModified": timestamp(updated),
        "location": location(scim, r, id),
        "version": crate::etag(version),
    })
}

pub fn location(scim: &Scim, r: Resource, id: &str) -> String {
    format!("{}/{}/{id}", scim.base, r.endpoint())
}

/// The directory's values of an account's SCIM-visible fields, as the record's `synced` holds
/// them.
pub fn user_synced(a: &Account) -> Doc {
    let opt = |v: Option<&str>| v.map_or(Value::Null, |s| Value::String(s.to_owned()));
    let mut d = Doc::new();
    d.insert("userName".into(), json!(a.username.as_str()));
    d.insert("displayName".into(), json!(a.display_name.as_str()));
    d.insert("title".into(), opt(a.title.as_deref()));
    d.insert("active".into(), json!(a.status == AccountStatus::Enabled));
    d.insert("email".into(), opt(a.email.as_ref().map(|e| e.as_str())));
    d.insert("mobile".into(), opt(a.mobile.as_ref().map(|m| m.as_str())));
    d.insert("jobNumber".into(), opt(a.job_number.as_deref()));
    d
}

/// Whether the record still describes the directory's `field`.
fn unchanged(record: Option<&ScimRecord>, now: &Doc, field: &str) -> bool {
    record.is_some_and(|r| r.synced.get(field) == now.get(field))
}

/// The element of `list` that stands for the directory's single value: the first of `kind`,
/// else (for emails) the primary, else the first.
pub fn designated(list: &[Value], kind: &str, fallback: bool) -> Option<usize> {
    let typed = list.iter().position(|v| {
        v.get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.eq_ignore_ascii_case(kind))
    });
    if typed.is_some() || !fallback {
        return typed;
    }
    list.iter()
        .position(|v| v.get("primary") == Some(&Value::Bool(true)))
        .or(if list.is_empty() { None } else { Some(0) })
}

/// `list` with its designated element showing the directory's value `now` (removed when the
/// directory has none, added when the list has no such element).
fn with_directory_value(
    mut list: Vec<Value>,
    kind: &str,
    fallback: bool,
    now: Option<&str>,
) -> Vec<Value> {
    match (designated(&list, kind, fallback), now) {
        (Some(i), Some(v)) => {
            if let Some(o) = list[i].as_object_mut() {
                let same = o
                    .get("value")
                    .and_then(Value::as_str)
                    .is_some_and(|x| x.eq_ignore_ascii_case(v));
                if !same {
                    o.insert("value".into(), json!(v));
                }
            }
        }
        (Some(i), None) => {
            list.remove(i);
        }
        (None, Some(v)) => list.insert(
            0,
            json!({ "value": v, "type": kind, "primary": list.is_empty() }),
        ),
        (None, None) => {}
    }
    list
}

/// A user's writable attributes as the client sees them (the base of a PATCH).
pub fn user_doc(a: &Account) -> Doc {
    let record = a.scim.as_ref();
    let now = user_synced(a);
    let mut doc = record.map(|r| r.doc.clone()).unwrap_or_default();
    let keep = |field: &str| unchanged(record, &now, field);
    if !keep("userName") || !doc.contains_key("userName") {
        doc.insert("userName".into(), json!(a.username.as_str()));
    }
    if !keep("displayName") {
        doc.insert("displayName".into(), json!(a.display_name.as_str()));
    }
    if !keep("title") {
        match &a.title {
            Some(t) => doc.insert("title".into(), json!(t)),
            None => doc.remove("title"),
        };
    }
    if !keep("active") {
        doc.insert("active".into(), json!(a.status == AccountStatus::Enabled));
    }
    let list = |d: &Doc, k: &str| {
        d.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    if !keep("email") {
        let emails = with_directory_value(
            list(&doc, "emails"),
            "work",
            true,
            a.email.as_ref().map(|e| e.as_str()),
        );
        set_list(&mut doc, "emails", emails);
    }
    if !keep("mobile") {
        let phones = with_directory_value(
            list(&doc, "phoneNumbers"),
            "mobile",
            false,
            a.mobile.as_ref().map(|m| m.as_str()),
        );
        set_list(&mut doc, "phoneNumbers", phones);
    }
    if !keep("jobNumber") {
        let ext = doc
            .entry(ENTERPRISE_USER.to_owned())
            .or_insert_with(|| json!({}));
        if let Some(ext) = ext.as_object_mut() {
            match &a.job_number {
                Some(n) => ext.insert("employeeNumber".into(), json!(n)),
                None => ext.remove("employeeNumber"),
            };
            if ext.is_empty() {
                doc.remove(ENTERPRISE_USER);
            }
        }
    }
    if let Some(e) = record.and_then(|r| r.external_id.as_ref()) {
        doc.insert("externalId".into(), json!(e));
    }
    doc
}

fn set_list(doc: &mut Doc, key: &str, list: Vec<Value>) {
    if list.is_empty() {
        doc.remove(key);
    } else {
        doc.insert(key.into(), Value::Array(list));
    }
}

/// A user as GET answers it.
pub async fn user(scim: &Scim, a: &Account) -> Result<Value, ScimError> {
    let mut doc = user_doc(a);
    let id = a.id.as_str();
    // The manager: always an object; its `$ref` when the client sent one.
    let mut schemas = vec![json!(CORE_USER)];
    if doc.contains_key(ENTERPRISE_USER) {
        schemas.push(json!(ENTERPRISE_USER));
    }
    if let Some(ext) = dingtalk(scim, PushEntity::Account(a.id.clone()), id).await? {
        schemas.push(json!(DINGTALK));
        doc.insert(DINGTALK.into(), ext);
    }
    doc.insert("schemas".into(), Value::Array(schemas));
    doc.insert("id".into(), json!(id));
    doc.insert(
        "meta".into(),
        meta(
            scim,
            Resource::User,
            id,
            a.created_ms,
            a.updated_ms,
            a.version,
        ),
    );
    Ok(Value::Object(doc))
}

/// The directory's values of a unit's SCIM-visible fields.
pub fn group_synced(u: &OrgUnit) -> Doc {
    let mut d = Doc::new();
    d.insert("displayName".into(), json!(u.name));
    d.insert(
        "parent".into(),
        json!(u.parent_id.as_ref().map(|p| p.to_string())),
    );
    d.insert("order".into(), json!(u.order));
    d
}

/// A group's writable attributes (without members) as the client sees them.
pub fn group_doc(u: &OrgUnit, caller: &Caller) -> Doc {
    let record = u.scim.as_ref();
    let now = group_synced(u);
    let mut doc = record.map(|r| r.doc.clone()).unwrap_or_default();
    doc.remove("members");
    if !unchanged(record, &now, "displayName") || !doc.contains_key("displayName") {
        doc.insert("displayName".into(), json!(u.name));
    }
    let mut ext = doc
        .remove(ORG_UNIT)
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default();
    if !unchanged(record, &now, "parent") {
        match &u.parent_id {
            Some(p) if p != &caller.scope.root => ext.insert("parent".into(), json!(p.as_str())),
            _ => ext.remove("parent"),
        };
    }
    if !unchanged(record, &now, "order") {
        if u.order == 0 {
            ext.remove("order");
        } else {
            ext.insert("order".into(), json!(u.order));
        }
    }
    if !ext.is_empty() {
        doc.insert(ORG_UNIT.into(), Value::Object(ext));
    }
    if let Some(e) = record.and_then(|r| r.external_id.as_ref()) {
        doc.insert("externalId".into(), json!(e));
    }
    doc
}

/// The ids of a unit's members.
pub async fn member_ids(scim: &Scim, u: &OrgUnit) -> Result<Vec<AccountId>, ScimError> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = scim.directory.members(&u.id, 1000, cursor).await?;
        out.extend(page.items);
        match page.next {
            Some(c) => cursor = Some(c),
            None => return Ok(out),
        }
    }
}

pub fn member_values(scim: &Scim, ids: &[AccountId]) -> Vec<Value> {
    ids.iter()
        .map(|id| {
            json!({
                "value": id.as_str(),
                "$ref": location(scim, Resource::User, id.as_str()),
            })
        })
        .collect()
}

/// A group as GET answers it; `members` only when asked for (they cost a read per page).
pub async fn group(
    scim: &Scim,
    caller: &Caller,
    u: &OrgUnit,
    with_members: bool,
) -> Result<Value, ScimError> {
    let mut doc = group_doc(u, caller);
    let id = u.id.as_str();
    if with_members {
        let ids = member_ids(scim, u).await?;
        if !ids.is_empty() {
            doc.insert("members".into(), Value::Array(member_values(scim, &ids)));
        }
    }
    let mut schemas = vec![json!(CORE_GROUP)];
    if doc.contains_key(ORG_UNIT) {
        schemas.push(json!(ORG_UNIT));
    }
    if let Some(ext) = dingtalk(scim, PushEntity::OrgUnit(u.id.clone()), id).await? {
        schemas.push(json!(DINGTALK));
        doc.insert(DINGTALK.into(), ext);
    }
    doc.insert("schemas".into(), Value::Array(schemas));
    doc.insert("id".into(), json!(id));
    doc.insert(
        "meta".into(),
        meta(
            scim,
            Resource::Group,
            id,
            u.created_ms,
            u.updated_ms,
            u.version,
        ),
    );
    Ok(Value::Object(doc))
}

/// Each push connector's DingTalk id and push state of the entity; none when no connector
/// pushes it.
async fn dingtalk(
    scim: &Scim,
    entity: PushEntity,
    our_id: &str,
) -> Result<Option<Value>, ScimError> {
    let connectors: Vec<_> = scim
        .connectors
        .all()
        .await?
        .into_iter()
        .filter(|c| c.enabled && c.push.push_enabled)
        .collect();
    if connectors.is_empty() {
        return Ok(None);
    }
    let kind = match entity {
        PushEntity::Account(_) => MappedKind::User,
        PushEntity::OrgUnit(_) => MappedKind::Dept,
    };
    let mappings = scim.mappings.of_entity(our_id).await?;
    let mut out = Vec::new();
    for c in connectors {
        let mapped = mappings
            .iter()
            .find(|m| m.connector_id == c.id && m.kind == kind);
        let item = scim.outbox.get(&c.id, &entity).await?;
        let (state, reason) = match (&item, mapped) {
            (Some(i), _) if i.state == OutboxState::Parked => ("parked", i.reason.clone()),
            (Some(_), _) => ("pending", None),
            (None, Some(_)) => ("pushed", None),
            (None, None) => continue,
        };
        let mut entry = json!({ "connector": c.id.as_str(), "pushState": state });
        if let Some(m) = mapped {
            entry["id"] = json!(m.external_id);
        }
        if let Some(r) = reason {
            entry["reason"] = json!(r);
        }
        out.push(entry);
    }
    Ok((!out.is_empty()).then(|| json!({ "connectors": out })))
}
