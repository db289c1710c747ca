//! PATCH (RFC 7644 §3.5.2) on a resource's writable attributes: `add`, `replace`, `remove` in any
//! case, with a path (`name`, `name.sub`, URN-qualified, value filters such as
//! `emails[type eq "work"].value`) or without one (a value object whose keys may be plain, dotted
//! or URN-qualified). An `add`/`replace` on a value filter that matches nothing creates the
//! element; a `remove` of `members` takes a value list (Entra) or a value filter.

use scim_v2::filter::{AttrExp, AttrPath, CompValue, CompareOp, PatchPath, ValFilter};
use serde_json::{Map, Value};

use crate::doc::{Doc, coerce, val_filter};
use crate::error::{ScimError, ScimType};
use crate::schema::{self, Attr, Mutability, Resource, Schema};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKind {
    Add,
    Replace,
    Remove,
}

#[derive(Debug)]
pub struct Op {
    pub kind: OpKind,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

/// The most operations one PATCH may carry.
pub const MAX_OPERATIONS: usize = 1000;

/// The operations of a PatchOp body.
pub fn parse(body: &Value) -> Result<Vec<Op>, ScimError> {
    let obj = body.as_object().ok_or_else(|| {
        ScimError::bad(ScimType::InvalidSyntax, "the body must be a PatchOp object")
    })?;
    let ops = get_ci(obj, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            ScimError::bad(
                ScimType::InvalidSyntax,
                "a PatchOp needs an Operations list",
            )
        })?;
    if ops.len() > MAX_OPERATIONS {
        return Err(ScimError::bad(
            ScimType::TooMany,
            format!("at most {MAX_OPERATIONS} operations in one PATCH"),
        ));
    }
    ops.iter()
        .enumerate()
        .map(|(i, op)| {
            let o = op.as_object().ok_or_else(|| {
                ScimError::bad(
                    ScimType::InvalidSyntax,
                    format!("operation {i} is not an object"),
                )
            })?;
            let kind = match get_ci(o, "op").and_then(Value::as_str) {
                Some(k) if k.eq_ignore_ascii_case("add") => OpKind::Add,
                Some(k) if k.eq_ignore_ascii_case("replace") => OpKind::Replace,
                Some(k) if k.eq_ignore_ascii_case("remove") => OpKind::Remove,
                _ => {
                    return Err(ScimError::bad(
                        ScimType::InvalidSyntax,
                        format!("operation {i}: op must be add, replace or remove"),
                    ));
                }
            };
            let path = match get_ci(o, "path") {
                None | Some(Value::Null) => None,
                Some(Value::String(p)) if p.trim().is_empty() => None,
                Some(Value::String(p)) => Some(p.trim().parse::<PatchPath>().map_err(|e| {
                    ScimError::bad(
                        ScimType::InvalidPath,
                        format!("operation {i}: path {p:?} does not parse: {e}"),
                    )
                })?),
                Some(_) => {
                    return Err(ScimError::bad(
                        ScimType::InvalidPath,
                        format!("operation {i}: path must be a string"),
                    ));
                }
            };
            let value = get_ci(o, "value").cloned();
            if kind != OpKind::Remove && value.is_none() {
                return Err(ScimError::bad(
                    ScimType::InvalidValue,
                    format!("operation {i}: {kind:?} needs a value"),
                ));
            }
            if kind == OpKind::Remove && path.is_none() {
                return Err(ScimError::bad(
                    ScimType::NoTarget,
                    format!("operation {i}: remove needs a path"),
                ));
            }
            Ok(Op { kind, path, value })
        })
        .collect()
}

fn get_ci<'a>(o: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    o.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

/// Applies `ops` to `doc`, the resource's writable attributes under canonical names.
pub fn apply(resource: Resource, doc: &mut Doc, ops: &[Op]) -> Result<(), ScimError> {
    for op in ops {
        match &op.path {
            Some(path) => apply_path(resource, doc, op.kind, path, op.value.as_ref())?,
            None => {
                let Some(Value::Object(values)) = &op.value else {
                    return Err(ScimError::bad(
                        ScimType::InvalidValue,
                        "an operation without a path needs an object value",
                    ));
                };
                for (key, value) in values {
                    apply_key(resource, doc, op.kind, key, value)?;
                }
            }
        }
    }
    tidy(doc);
    Ok(())
}

/// One key of a path-less value: an extension URN (its object's keys are its attributes), a
/// URN-qualified attribute, a dotted `name.sub` or a plain name.
fn apply_key(
    resource: Resource,
    doc: &mut Doc,
    kind: OpKind,
    key: &str,
    value: &Value,
) -> Result<(), ScimError> {
    if let Some(ext) = resource.extension(key) {
        if ext
            .attrs
            .iter()
            .all(|a| a.mutability == Mutability::ReadOnly)
        {
            // A read-only extension echoed back: nothing of it can change.
            return Ok(());
        }
        let Some(inner) = value.as_object() else {
            return Err(ScimError::bad(
                ScimType::InvalidValue,
                format!("{} must be an object", ext.id),
            ));
        };
        for (k, v) in inner
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("schemas"))
        {
            let path = AttrPath {
                uri: Some(ext.id.to_owned()),
                name: k.clone(),
                sub_attr: None,
            };
            apply_path(resource, doc, kind, &PatchPath::Attr(path), Some(v))?;
        }
        return Ok(());
    }
    if ["schemas", "id", "meta"]
        .iter()
        .any(|k| k.eq_ignore_ascii_case(key))
    {
        return Ok(());
    }
    let path = key.parse::<PatchPath>().map_err(|e| {
        ScimError::bad(
            ScimType::InvalidPath,
            format!("value key {key:?} is not an attribute path: {e}"),
        )
    })?;
    apply_path(resource, doc, kind, &path, Some(value))
}

/// The extension a path names as a whole (`urn:…:enterprise:2.0:User`, which parses as the
/// attribute `User` of the URN `urn:…:2.0`).
fn whole_extension(resource: Resource, p: &AttrPath) -> Option<&'static Schema> {
    let full = match &p.uri {
        Some(u) => format!("{u}:{}", p.name),
        None => p.name.clone(),
    };
    resource.extension(&full)
}

/// An operation on a whole extension: `remove` drops it; `add`/`replace` apply each attribute
/// of the value object. An extension whose attributes are all read-only is left alone.
fn apply_extension(
    resource: Resource,
    doc: &mut Doc,
    kind: OpKind,
    ext: &'static Schema,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    if ext
        .attrs
        .iter()
        .all(|a| a.mutability == Mutability::ReadOnly)
    {
        return Ok(());
    }
    if kind == OpKind::Remove {
        doc.remove(ext.id);
        return Ok(());
    }
    let Some(Value::Object(values)) = value else {
        return Err(ScimError::bad(
            ScimType::InvalidValue,
            format!("{} takes an object of its attributes", ext.id),
        ));
    };
    for (k, v) in values {
        if k.eq_ignore_ascii_case("schemas") {
            continue;
        }
        let path = AttrPath {
            uri: Some(ext.id.to_owned()),
            name: k.clone(),
            sub_attr: None,
        };
        apply_path(resource, doc, kind, &PatchPath::Attr(path), Some(v))?;
    }
    Ok(())
}

/// Where a path points: the schema, the attribute (None = an attribute we do not store).
struct Target {
    schema: &'static Schema,
    attr: Option<&'static Attr>,
}

fn target(resource: Resource, path: &AttrPath) -> Result<Option<Target>, ScimError> {
    let Some(schema) = resource.schema_of(path.uri.as_deref()) else {
        // An extension this server does not have: nothing of it is stored.
        tracing::debug!(path = %path, "PATCH of an unknown schema ignored");
        return Ok(None);
    };
    if path.uri.is_none()
        && ["id", "meta", "schemas"]
            .iter()
            .any(|k| k.eq_ignore_ascii_case(&path.name))
    {
        return Err(ScimError::bad(
            ScimType::Mutability,
            format!("{} is read-only", path.name),
        ));
    }
    let attr = if std::ptr::eq(schema, resource.core()) {
        schema::top_level(resource, &path.name)
    } else {
        schema::find(schema.attrs, &path.name)
    };
    if attr.is_none() {
        tracing::debug!(path = %path, "PATCH of an attribute this server does not store ignored");
    }
    Ok(Some(Target { schema, attr }))
}

/// The object the attribute lives in: the document, or its extension's object (made on demand).
fn container<'a>(
    resource: Resource,
    doc: &'a mut Doc,
    schema: &'static Schema,
) -> Option<&'a mut Doc> {
    if std::ptr::eq(schema, resource.core()) {
        return Some(doc);
    }
    let entry = doc
        .entry(schema.id.to_owned())
        .or_insert_with(|| Value::Object(Doc::new()));
    if !entry.is_object() {
        *entry = Value::Object(Doc::new());
    }
    entry.as_object_mut()
}

fn apply_path(
    resource: Resource,
    doc: &mut Doc,
    kind: OpKind,
    path: &PatchPath,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let (attr_path, filter, sub) = match path {
        PatchPath::Attr(p) => (p, None, p.sub_attr.as_deref()),
        PatchPath::Value(vp) => (&vp.attr, Some(&vp.filter), vp.sub_attr.as_deref()),
    };
    if filter.is_none()
        && sub.is_none()
        && let Some(ext) = whole_extension(resource, attr_path)
    {
        return apply_extension(resource, doc, kind, ext, value);
    }
    let Some(Target { schema, attr }) = target(resource, attr_path)? else {
        return Ok(());
    };
    let Some(attr) = attr else {
        return Ok(());
    };
    if attr.mutability == Mutability::ReadOnly {
        return Err(ScimError::bad(
            ScimType::Mutability,
            format!("{} is read-only", attr.name),
        ));
    }
    let sub_attr = match sub {
        Some(s) => match schema::find(attr.sub, s) {
            Some(d) if d.mutability == Mutability::ReadOnly => {
                return Err(ScimError::bad(
                    ScimType::Mutability,
                    format!("{}.{} is read-only", attr.name, d.name),
                ));
            }
            Some(d) => Some(d),
            None => {
                return Err(ScimError::bad(
                    ScimType::InvalidPath,
                    format!("{} has no sub-attribute {s:?}", attr.name),
                ));
            }
        },
        None => None,
    };
    if kind == OpKind::Remove && attr.required && sub_attr.is_none() && filter.is_none() {
        return Err(ScimError::bad(
            ScimType::Mutability,
            format!("{} is required and cannot be removed", attr.name),
        ));
    }
    let shown = path.to_string();
    let Some(c) = container(resource, doc, schema) else {
        return Ok(());
    };
    match filter {
        None => plain(c, attr, sub_attr, kind, value, &shown),
        Some(f) => filtered(c, attr, sub_attr, f, kind, value, &shown),
    }
}

/// An operation on `attr` (or its `sub`) without a value filter.
fn plain(
    c: &mut Doc,
    attr: &'static Attr,
    sub: Option<&'static Attr>,
    kind: OpKind,
    value: Option<&Value>,
    shown: &str,
) -> Result<(), ScimError> {
    let value = value.unwrap_or(&Value::Null);
    if let Some(sub) = sub {
        let coerced = match kind {
            OpKind::Remove => None,
            _ => coerce(sub, value, shown)?,
        };
        match c.get_mut(attr.name) {
            Some(Value::Array(items)) => {
                for item in items.iter_mut() {
                    set_sub(item, sub, coerced.clone());
                }
            }
            Some(existing @ Value::Object(_)) => set_sub(existing, sub, coerced),
            _ if kind != OpKind::Remove => {
                let mut element = Value::Object(Doc::new());
                set_sub(&mut element, sub, coerced);
                let element = if attr.multi {
                    Value::Array(vec![element])
                } else {
                    element
                };
                c.insert(attr.name.to_owned(), element);
            }
            _ => {}
        }
        return Ok(());
    }
    match kind {
        OpKind::Remove => {
            // Entra removes members by listing them in the value.
            if attr.multi
                && let Some(Value::Array(gone)) = Some(value).filter(|v| !v.is_null())
            {
                let gone: Vec<Option<Value>> = gone
                    .iter()
                    .map(|g| coerce(attr, g, shown).ok().flatten())
                    .flat_map(|v| match v {
                        Some(Value::Array(items)) => items.into_iter().map(Some).collect(),
                        other => vec![other],
                    })
                    .collect();
                if let Some(Value::Array(items)) = c.get_mut(attr.name) {
                    items.retain(|item| !gone.iter().flatten().any(|g| same_element(item, g)));
                }
            } else {
                c.remove(attr.name);
            }
        }
        OpKind::Replace => match coerce(attr, value, shown)? {
            Some(new) if attr.sub.is_empty() || attr.multi => {
                c.insert(attr.name.to_owned(), new);
            }
            // A complex single value: the sub-attributes given replace theirs, the others stay.
            Some(Value::Object(new)) => merge(c, attr.name, new),
            Some(other) => {
                c.insert(attr.name.to_owned(), other);
            }
            None => {
                c.remove(attr.name);
            }
        },
        OpKind::Add => match coerce(attr, value, shown)? {
            Some(Value::Array(new)) if attr.multi => {
                let entry = c
                    .entry(attr.name.to_owned())
                    .or_insert_with(|| Value::Array(Vec::new()));
                if !entry.is_array() {
                    *entry = Value::Array(Vec::new());
                }
                if let Value::Array(items) = entry {
                    for n in new {
                        if !items.iter().any(|i| same_element(i, &n)) {
                            items.push(n);
                        }
                    }
                }
            }
            Some(Value::Object(new)) if !attr.sub.is_empty() => merge(c, attr.name, new),
            Some(other) => {
                c.insert(attr.name.to_owned(), other);
            }
            None => {}
        },
    }
    Ok(())
}

/// Two elements of a multi-valued attribute are the same when their `value`s are (or, without
/// a `value`, when they are equal).
fn same_element(a: &Value, b: &Value) -> bool {
    match (a.get("value"), b.get("value")) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn merge(c: &mut Doc, name: &str, new: Doc) {
    let entry = c
        .entry(name.to_owned())
        .or_insert_with(|| Value::Object(Doc::new()));
    if let Value::Object(existing) = entry {
        existing.extend(new);
    } else {
        *entry = Value::Object(new);
    }
}

fn set_sub(element: &mut Value, sub: &Attr, value: Option<Value>) {
    if let Value::Object(o) = element {
        match value {
            Some(v) => o.insert(sub.name.to_owned(), v),
            None => o.remove(sub.name),
        };
    }
}

/// An operation on the elements of `attr` that match a value filter.
fn filtered(
    c: &mut Doc,
    attr: &'static Attr,
    sub: Option<&'static Attr>,
    filter: &ValFilter,
    kind: OpKind,
    value: Option<&Value>,
    shown: &str,
) -> Result<(), ScimError> {
    if !attr.multi || attr.sub.is_empty() {
        return Err(ScimError::bad(
            ScimType::InvalidPath,
            format!("{} is not a multi-valued complex attribute", attr.name),
        ));
    }
    let value = value.unwrap_or(&Value::Null);
    let mut items: Vec<Value> = match c.remove(attr.name) {
        Some(Value::Array(items)) => items,
        Some(other) => vec![other],
        None => Vec::new(),
    };
    let hits: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(_, e)| val_filter(attr.sub, filter, e))
        .map(|(i, _)| i)
        .collect();
    match kind {
        OpKind::Remove => match sub {
            Some(s) => {
                for &i in &hits {
                    set_sub(&mut items[i], s, None);
                }
            }
            None => {
                let mut i = 0;
                items.retain(|_| {
                    let keep = !hits.contains(&i);
                    i += 1;
                    keep
                });
            }
        },
        OpKind::Add | OpKind::Replace => {
            let change: Doc = match sub {
                Some(s) => {
                    let mut d = Doc::new();
                    if let Some(v) = coerce(s, value, shown)? {
                        d.insert(s.name.to_owned(), v);
                    }
                    d
                }
                None => match coerce(&element_of(attr), value, shown)? {
                    Some(Value::Object(o)) => o,
                    _ => Doc::new(),
                },
            };
            if hits.is_empty() {
                // Nothing matched: the element the filter describes is created (Entra relies
                // on this for `emails[type eq "work"].value`).
                let mut element = equalities(attr, filter);
                element.extend(change);
                items.push(Value::Object(element));
            } else {
                for &i in &hits {
                    if let Value::Object(o) = &mut items[i] {
                        o.extend(change.clone());
                    }
                }
            }
        }
    }
    if !items.is_empty() {
        c.insert(attr.name.to_owned(), Value::Array(items));
    }
    Ok(())
}

/// `attr` as a single-valued attribute (to coerce one element).
fn element_of(attr: &'static Attr) -> Attr {
    Attr {
        multi: false,
        name: attr.name,
        ty: attr.ty,
        required: attr.required,
        case_exact: attr.case_exact,
        mutability: attr.mutability,
        unique: attr.unique,
        sub: attr.sub,
        canonical: attr.canonical,
        reference_types: attr.reference_types,
        description: attr.description,
    }
}

/// The `eq` terms of a value filter (joined by `and`), as the element they describe.
fn equalities(attr: &Attr, filter: &ValFilter) -> Doc {
    let mut out = Doc::new();
    let mut add = |exp: &AttrExp| {
        if let AttrExp::Comparison(p, CompareOp::Eq, v) = exp
            && let Some(sub) = schema::find(attr.sub, &p.name)
        {
            let value = match v {
                CompValue::Str(s) => Value::String(s.clone()),
                CompValue::True => Value::Bool(true),
                CompValue::False => Value::Bool(false),
                CompValue::Number(n) => Value::Number(n.clone()),
                CompValue::Null => return,
            };
            out.insert(sub.name.to_owned(), value);
        }
    };
    match filter {
        ValFilter::Attr(e) => add(e),
        ValFilter::And(items) => {
            for i in items.iter() {
                if let ValFilter::Attr(e) = i {
                    add(e);
                }
            }
        }
        _ => {}
    }
    out
}

/// After the operations: one primary per list, no empty lists or objects.
fn tidy(doc: &mut Doc) {
    let keys: Vec<String> = doc.keys().cloned().collect();
    for k in keys {
        let drop = match doc.get_mut(&k) {
            Some(Value::Array(items)) => {
                items.retain(|i| !matches!(i, Value::Object(o) if o.is_empty()));
                let last = items
                    .iter()
                    .rposition(|v| v.get("primary") == Some(&Value::Bool(true)));
                if let Some(last) = last {
                    for (i, v) in items.iter_mut().enumerate() {
                        if i != last
                            && let Some(o) = v.as_object_mut()
                            && o.get("primary") == Some(&Value::Bool(true))
                        {
                            o.insert("primary".to_owned(), Value::Bool(false));
                        }
                    }
                }
                items.is_empty()
            }
            Some(Value::Object(o)) => {
                if k.starts_with("urn:") {
                    tidy(o);
                }
                o.is_empty()
            }
            Some(Value::Null) => true,
            _ => false,
        };
        if drop {
            doc.remove(&k);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::schema::ENTERPRISE_USER;

    fn run(resource: Resource, doc: Value, body: Value) -> Result<Value, ScimError> {
        let mut d = doc.as_object().cloned().unwrap();
        let ops = parse(&body)?;
        apply(resource, &mut d, &ops)?;
        Ok(Value::Object(d))
    }

    fn ops(list: Value) -> Value {
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": list})
    }

    #[test]
    fn entra_default_dialect() {
        let user = json!({"userName": "a", "active": true});
        let out = run(
            Resource::User,
            user,
            ops(json!([
                {"op": "Replace", "path": "displayName", "value": "Alice"},
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "a@x.example"},
                {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": "m-1"},
                {"op": "Replace", "path": "active", "value": "False"},
            ])),
        )
        .unwrap();
        assert_eq!(out["displayName"], "Alice");
        assert_eq!(
            out["emails"],
            json!([{"type": "work", "value": "a@x.example"}])
        );
        assert_eq!(out[ENTERPRISE_USER]["manager"], json!({"value": "m-1"}));
        assert_eq!(out["active"], false);
    }

    #[test]
    fn pathless_values_with_dotted_and_urn_keys() {
        let user = json!({"userName": "a", "name": {"givenName": "A", "familyName": "B"}});
        let out = run(
            Resource::User,
            user,
            ops(json!([{"op": "replace", "value": {
                "active": false,
                "name.givenName": "Ann",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "9",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D"}
            }}])),
        )
        .unwrap();
        assert_eq!(out["active"], false);
        assert_eq!(out["name"], json!({"givenName": "Ann", "familyName": "B"}));
        assert_eq!(
            out[ENTERPRISE_USER],
            json!({"employeeNumber": "9", "department": "R&D"})
        );
    }

    #[test]
    fn members_are_removed_in_both_forms_and_added_without_duplicates() {
        let group = json!({"displayName": "g", "members": [{"value": "1"}, {"value": "2"}, {"value": "3"}]});
        let out = run(
            Resource::Group,
            group,
            ops(json!([
                {"op": "remove", "path": "members", "value": [{"value": "1"}]},
                {"op": "remove", "path": "members[value eq \"2\"]"},
                {"op": "add", "path": "members", "value": [{"value": "3"}, {"value": "4"}]},
            ])),
        )
        .unwrap();
        assert_eq!(out["members"], json!([{"value": "3"}, {"value": "4"}]));
        let all_gone = run(
            Resource::Group,
            out,
            ops(json!([{"op": "remove", "path": "members"}])),
        )
        .unwrap();
        assert!(all_gone.get("members").is_none());
    }

    #[test]
    fn refusals_name_their_scim_type() {
        let user = json!({"userName": "a"});
        let e = run(
            Resource::User,
            user.clone(),
            ops(json!([{"op": "remove", "path": "userName"}])),
        )
        .unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::Mutability));
        let e = run(
            Resource::User,
            user.clone(),
            ops(json!([{"op": "replace", "path": "id", "value": "x"}])),
        )
        .unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::Mutability));
        let e = run(
            Resource::User,
            user.clone(),
            ops(json!([{"op": "move", "path": "title"}])),
        )
        .unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
        let e = run(
            Resource::User,
            user.clone(),
            ops(json!([{"op": "add", "path": "emails[type eq", "value": 1}])),
        )
        .unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
        let e = run(
            Resource::User,
            user,
            ops(json!([{"op": "replace", "path": "active", "value": "perhaps"}])),
        )
        .unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
    }

    #[test]
    fn a_whole_extension_is_added_replaced_and_removed() {
        let user =
            json!({"userName": "a", ENTERPRISE_USER: {"department": "Old", "employeeNumber": "1"}});
        let out = run(
            Resource::User,
            user,
            ops(json!([{"op": "replace", "path": ENTERPRISE_USER, "value": {
                "schemas": [ENTERPRISE_USER], "department": "New", "manager": {"value": "m"}}}])),
        )
        .unwrap();
        assert_eq!(
            out[ENTERPRISE_USER],
            json!({"department": "New", "employeeNumber": "1", "manager": {"value": "m"}})
        );
        let out = run(
            Resource::User,
            out,
            ops(json!([{"op": "remove", "path": ENTERPRISE_USER}])),
        )
        .unwrap();
        assert!(out.get(ENTERPRISE_USER).is_none());
        let untouched = run(
            Resource::User,
            json!({"userName": "a"}),
            ops(json!([{"op": "add", "path": crate::schema::DINGTALK, "value": {"connectors": []}}])),
        )
        .unwrap();
        assert_eq!(untouched, json!({"userName": "a"}));
    }

    #[test]
    fn one_primary_stays() {
        let user = json!({"userName": "a", "emails": [{"value": "a@x.example", "primary": true}]});
        let out = run(
            Resource::User,
            user,
            ops(json!([{"op": "add", "path": "emails", "value": [{"value": "b@x.example", "primary": "True"}]}])),
        )
        .unwrap();
        assert_eq!(
            out["emails"],
            json!([{"value": "a@x.example", "primary": false}, {"value": "b@x.example", "primary": true}])
        );
    }
}
