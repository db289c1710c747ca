//! SCIM documents as JSON: input canonicalised against the schema (names in any case, `"False"`
//! as a boolean, a manager given as a string), `attributes`/`excludedAttributes` projection, and
//! filter evaluation on a rendered resource.

use std::cmp::Ordering;

use scim_v2::filter::{AttrExp, AttrPath, CompValue, CompareOp, Filter, ValFilter};
use serde_json::{Map, Value};

use crate::error::{ScimError, ScimType};
use crate::schema::{self, Attr, Mutability, Resource, Type};

/// A JSON object.
pub type Doc = Map<String, Value>;

/// The attributes of a POST or PUT body, under canonical names, with the extension attributes
/// under their schema's URN. Unknown attributes are ignored (RFC 7644 §3.3 lets a server do so;
/// Entra sends attributes a server may not have), `schemas`, `id` and `meta` too.
pub fn canonical_body(resource: Resource, body: &Value) -> Result<Doc, ScimError> {
    let Some(obj) = body.as_object() else {
        return Err(ScimError::bad(
            ScimType::InvalidSyntax,
            "the body must be a JSON object",
        ));
    };
    let mut out = Doc::new();
    for (key, value) in obj {
        if ["schemas", "id", "meta"]
            .iter()
            .any(|k| k.eq_ignore_ascii_case(key))
        {
            continue;
        }
        if let Some(ext) = resource.extension(key) {
            let Some(inner) = value.as_object() else {
                if value.is_null() {
                    continue;
                }
                return Err(ScimError::bad(
                    ScimType::InvalidValue,
                    format!("{} must be an object", ext.id),
                ));
            };
            let mut ext_doc = Doc::new();
            for (k, v) in inner {
                if let Some(a) = schema::find(ext.attrs, k) {
                    set_coerced(&mut ext_doc, a, v, k)?;
                }
            }
            if !ext_doc.is_empty() {
                out.insert(ext.id.to_owned(), Value::Object(ext_doc));
            }
            continue;
        }
        // A URN-qualified attribute at the top level ("urn:…:User:employeeNumber").
        if let Some((urn, name)) = key.rsplit_once(':')
            && let Some(ext) = resource.extension(urn)
        {
            if let Some(a) = schema::find(ext.attrs, name) {
                let entry = out
                    .entry(ext.id.to_owned())
                    .or_insert_with(|| Value::Object(Doc::new()));
                if let Some(ext_doc) = entry.as_object_mut() {
                    set_coerced(ext_doc, a, value, key)?;
                }
            }
            continue;
        }
        let name = key
            .rsplit_once(':')
            .filter(|(urn, _)| urn.eq_ignore_ascii_case(resource.core().id))
            .map_or(key.as_str(), |(_, n)| n);
        if let Some(a) = schema::top_level(resource, name) {
            set_coerced(&mut out, a, value, key)?;
        }
    }
    Ok(out)
}

/// Coerces `value` for `a` and sets it in `doc` (null or an empty list removes it); a body's
/// read-only attributes are ignored (clients echo what they read).
fn set_coerced(doc: &mut Doc, a: &Attr, value: &Value, shown: &str) -> Result<(), ScimError> {
    if a.mutability == Mutability::ReadOnly {
        return Ok(());
    }
    match coerce(a, value, shown)? {
        Some(v) => doc.insert(a.name.to_owned(), v),
        None => doc.remove(a.name),
    };
    Ok(())
}

/// `value` as attribute `a` holds it: `None` when it is null or empty.
pub fn coerce(a: &Attr, value: &Value, shown: &str) -> Result<Option<Value>, ScimError> {
    if value.is_null() {
        return Ok(None);
    }
    if a.multi {
        let items: Vec<&Value> = match value {
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        let mut out = Vec::new();
        for item in items {
            if let Some(v) = coerce_one(a, item, shown)? {
                out.push(v);
            }
        }
        if out.is_empty() {
            return Ok(None);
        }
        fix_primary(&mut out);
        return Ok(Some(Value::Array(out)));
    }
    if value.is_array() {
        return Err(ScimError::bad(
            ScimType::InvalidValue,
            format!("{shown} is single-valued, not a list"),
        ));
    }
    coerce_one(a, value, shown)
}

/// At most one element of a multi-valued attribute is primary: the last one marked wins.
fn fix_primary(items: &mut [Value]) {
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
}

fn coerce_one(a: &Attr, value: &Value, shown: &str) -> Result<Option<Value>, ScimError> {
    let wrong = |what: &str| {
        Err(ScimError::bad(
            ScimType::InvalidValue,
            format!("{shown} must be {what}"),
        ))
    };
    match a.ty {
        Type::Complex => {
            let obj = match value {
                Value::Object(o) => o.clone(),
                // A manager (or any complex attribute with a value) given as a plain string.
                Value::String(_) | Value::Number(_) if schema::find(a.sub, "value").is_some() => {
                    let mut o = Doc::new();
                    o.insert("value".to_owned(), value.clone());
                    o
                }
                _ => return wrong("an object"),
            };
            let mut out = Doc::new();
            for (k, v) in &obj {
                if let Some(sub) = schema::find(a.sub, k) {
                    if sub.mutability == Mutability::ReadOnly {
                        continue;
                    }
                    if let Some(v) = coerce_one(sub, v, &format!("{shown}.{}", sub.name))? {
                        out.insert(sub.name.to_owned(), v);
                    }
                }
            }
            Ok((!out.is_empty()).then_some(Value::Object(out)))
        }
        Type::Boolean => match value {
            Value::Bool(b) => Ok(Some(Value::Bool(*b))),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Some(Value::Bool(true))),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Some(Value::Bool(false))),
            Value::Null => Ok(None),
            _ => wrong("true or false"),
        },
        Type::Integer => match value {
            Value::Number(n) if n.is_i64() => Ok(Some(value.clone())),
            Value::String(s) => match s.trim().parse::<i64>() {
                Ok(n) => Ok(Some(Value::from(n))),
                Err(_) => wrong("an integer"),
            },
            _ => wrong("an integer"),
        },
        Type::String | Type::Reference | Type::DateTime => match value {
            Value::String(s) if s.len() > MAX_STRING => wrong(&format!(
                "at most {MAX_STRING} bytes long ({} bytes sent)",
                s.len()
            )),
            Value::String(s) if s.chars().any(|c| c.is_control() && c != '\n') => {
                wrong("text without control characters")
            }
            Value::String(_) => Ok(Some(value.clone())),
            // Numbers sent for a text (an employee number): kept as their text.
            Value::Number(n) => Ok(Some(Value::String(n.to_string()))),
            _ => wrong("a string"),
        },
    }
}

/// The longest text value an attribute may hold.
pub const MAX_STRING: usize = 2048;

// --- attribute paths in query parameters ------------------------------------------------------

/// One entry of `attributes` / `excludedAttributes`: the schema (None = core), the canonical
/// attribute name (None = the whole extension) and a sub-attribute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selector {
    pub schema: Option<&'static str>,
    pub name: Option<String>,
    pub sub: Option<String>,
}

/// Parses a comma-separated `attributes` list; names of attributes this server does not have
/// select nothing (RFC 7644 §3.4.2.5 does not make them errors).
pub fn selectors(resource: Resource, raw: Option<&str>) -> Vec<Selector> {
    let Some(raw) = raw else {
        return Vec::new();
    };
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .filter_map(|s| selector(resource, s))
        .collect()
}

fn selector(resource: Resource, raw: &str) -> Option<Selector> {
    if let Some(ext) = resource.extension(raw) {
        return Some(Selector {
            schema: Some(ext.id),
            name: None,
            sub: None,
        });
    }
    let (schema, rest) = match raw.rsplit_once(':') {
        Some((urn, rest)) => {
            let s = resource.schema_of(Some(urn))?;
            (s, rest)
        }
        None => (resource.core(), raw),
    };
    let (name, sub) = match rest.split_once('.') {
        Some((n, s)) => (n, Some(s)),
        None => (rest, None),
    };
    let is_core = std::ptr::eq(schema, resource.core());
    let attr = if is_core {
        schema::top_level(resource, name)
    } else {
        schema::find(schema.attrs, name)
    };
    let (name, sub) = match attr {
        Some(a) => (
            a.name.to_owned(),
            sub.map(|s| schema::find(a.sub, s).map_or_else(|| s.to_owned(), |x| x.name.to_owned())),
        ),
        // `id` and `meta` are always returned, and unknown names select nothing.
        None => return None,
    };
    Some(Selector {
        schema: (!is_core).then_some(schema.id),
        name: Some(name),
        sub,
    })
}

/// Applies `attributes` (keep only these) or `excludedAttributes` (drop these) to a rendered
/// resource; `schemas`, `id` and `meta` always stay (RFC 7644 §3.4.2.5).
pub fn project(doc: Value, attributes: &[Selector], excluded: &[Selector]) -> Value {
    let Value::Object(mut obj) = doc else {
        return doc;
    };
    const ALWAYS: [&str; 3] = ["schemas", "id", "meta"];
    if !attributes.is_empty() {
        let mut kept = Doc::new();
        for key in ALWAYS {
            if let Some(v) = obj.get(key) {
                kept.insert(key.to_owned(), v.clone());
            }
        }
        for s in attributes {
            let source = match s.schema {
                None => Some(&obj),
                Some(urn) => obj.get(urn).and_then(Value::as_object),
            };
            let Some(source) = source else { continue };
            let picked = match (&s.name, &s.sub) {
                (None, _) => Some(Value::Object(source.clone())),
                (Some(n), None) => source.get(n).cloned(),
                (Some(n), Some(sub)) => source.get(n).and_then(|v| only_sub(v, sub)),
            };
            let Some(picked) = picked else { continue };
            match (s.schema, &s.name) {
                (None, Some(n)) => merge_into(&mut kept, n, picked),
                (Some(urn), None) => merge_into(&mut kept, urn, picked),
                (Some(urn), Some(n)) => {
                    let entry = kept
                        .entry(urn.to_owned())
                        .or_insert_with(|| Value::Object(Doc::new()));
                    if let Some(e) = entry.as_object_mut() {
                        merge_into(e, n, picked);
                    }
                }
                (None, None) => {}
            }
        }
        obj = kept;
    }
    for s in excluded {
        let target = match s.schema {
            None => Some(&mut obj),
            Some(urn) => obj.get_mut(urn).and_then(Value::as_object_mut),
        };
        let Some(target) = target else { continue };
        match (&s.name, &s.sub) {
            (None, _) => {
                if let Some(urn) = s.schema {
                    obj.remove(urn);
                }
            }
            (Some(n), None) => {
                if !ALWAYS.contains(&n.as_str()) {
                    target.remove(n);
                }
            }
            (Some(n), Some(sub)) => {
                if let Some(v) = target.get_mut(n) {
                    drop_sub(v, sub);
                }
            }
        }
    }
    // An extension left empty by the projection is dropped, and so is its schema URN.
    let empty: Vec<String> = obj
        .iter()
        .filter(|(k, v)| k.starts_with("urn:") && v.as_object().is_some_and(Map::is_empty))
        .map(|(k, _)| k.clone())
        .collect();
    for k in empty {
        obj.remove(&k);
    }
    Value::Object(obj)
}

fn merge_into(doc: &mut Doc, key: &str, value: Value) {
    match (doc.get_mut(key), value) {
        (Some(Value::Object(existing)), Value::Object(more)) => existing.extend(more),
        (Some(Value::Array(existing)), Value::Array(more)) => {
            for (e, m) in existing.iter_mut().zip(more) {
                if let (Value::Object(e), Value::Object(m)) = (e, m) {
                    e.extend(m);
                }
            }
        }
        (_, value) => {
            doc.insert(key.to_owned(), value);
        }
    }
}

fn only_sub(v: &Value, sub: &str) -> Option<Value> {
    match v {
        Value::Object(o) => o.get(sub).map(|x| {
            let mut m = Doc::new();
            m.insert(sub.to_owned(), x.clone());
            Value::Object(m)
        }),
        Value::Array(items) => Some(Value::Array(
            items
                .iter()
                .map(|i| {
                    let mut m = Doc::new();
                    if let Some(x) = i.get(sub) {
                        m.insert(sub.to_owned(), x.clone());
                    }
                    Value::Object(m)
                })
                .collect(),
        )),
        _ => None,
    }
}

fn drop_sub(v: &mut Value, sub: &str) {
    match v {
        Value::Object(o) => {
            o.remove(sub);
        }
        Value::Array(items) => {
            for i in items {
                if let Some(o) = i.as_object_mut() {
                    o.remove(sub);
                }
            }
        }
        _ => {}
    }
}

// --- filters ----------------------------------------------------------------------------------

/// Whether the rendered resource `doc` matches `filter`.
pub fn matches(resource: Resource, filter: &Filter, doc: &Value) -> bool {
    match filter {
        Filter::Attr(exp) => attr_exp(resource, exp, doc),
        Filter::ValuePath(vp) => {
            let Some((attr, values)) = lookup(resource, &vp.attr, doc) else {
                return false;
            };
            values
                .iter()
                .any(|element| val_filter(attr.map_or(&[][..], |a| a.sub), &vp.filter, element))
        }
        Filter::Not(inner) => !matches(resource, inner, doc),
        Filter::And(items) => items.iter().all(|f| matches(resource, f, doc)),
        Filter::Or(items) => items.iter().any(|f| matches(resource, f, doc)),
    }
}

/// A value filter (inside `[...]`) on one element of a multi-valued attribute.
pub fn val_filter(subs: &[Attr], filter: &ValFilter, element: &Value) -> bool {
    match filter {
        ValFilter::Attr(exp) => {
            let (path, op) = match exp {
                AttrExp::Present(p) => (p, None),
                AttrExp::Comparison(p, op, v) => (p, Some((op, v))),
            };
            let sub = schema::find(subs, &path.name);
            let key = sub.map_or(path.name.as_str(), |s| s.name);
            let value = element
                .as_object()
                .and_then(|o| o.get(key).or_else(|| get_ci(o, key)));
            let case_exact = sub.is_some_and(|s| s.case_exact);
            match op {
                None => value.is_some_and(present),
                Some((op, v)) => value.is_some_and(|x| compare(x, op, v, case_exact)),
            }
        }
        ValFilter::Not(inner) => !val_filter(subs, inner, element),
        ValFilter::And(items) => items.iter().all(|f| val_filter(subs, f, element)),
        ValFilter::Or(items) => items.iter().any(|f| val_filter(subs, f, element)),
    }
}

fn get_ci<'a>(o: &'a Doc, key: &str) -> Option<&'a Value> {
    o.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

fn present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

fn attr_exp(resource: Resource, exp: &AttrExp, doc: &Value) -> bool {
    let (path, op) = match exp {
        AttrExp::Present(p) => (p, None),
        AttrExp::Comparison(p, op, v) => (p, Some((op, v))),
    };
    let Some((attr, values)) = lookup(resource, path, doc) else {
        return matches!(op, Some((CompareOp::Ne, _)));
    };
    let case_exact = attr.is_some_and(|a| a.case_exact);
    // A complex multi-valued attribute compared without a sub-attribute compares its `value`s.
    let values: Vec<&Value> = values
        .into_iter()
        .filter_map(|v| match v {
            Value::Object(o) if path.sub_attr.is_none() => o.get("value"),
            other => Some(other),
        })
        .collect();
    match op {
        None => values.iter().any(|v| present(v)),
        Some((CompareOp::Ne, v)) => !values
            .iter()
            .any(|x| compare(x, &CompareOp::Eq, v, case_exact)),
        Some((op, v)) => values.iter().any(|x| compare(x, op, v, case_exact)),
    }
}

/// The values an attribute path names in a rendered resource (a multi-valued attribute's
/// elements, flattened), with the definition of the last segment when known.
fn lookup<'a>(
    resource: Resource,
    path: &AttrPath,
    doc: &'a Value,
) -> Option<(Option<&'static Attr>, Vec<&'a Value>)> {
    let obj = doc.as_object()?;
    let schema = resource.schema_of(path.uri.as_deref())?;
    let container = if std::ptr::eq(schema, resource.core()) {
        obj
    } else {
        obj.get(schema.id)?.as_object()?
    };
    if std::ptr::eq(schema, resource.core()) && path.name.eq_ignore_ascii_case("meta") {
        let meta = container.get("meta")?.as_object()?;
        let sub = path.sub_attr.as_deref()?;
        let v = get_ci(meta, sub)?;
        return Some((Some(&META_DATE), vec![v]));
    }
    let (attr, key) = match path.name.as_str() {
        n if n.eq_ignore_ascii_case("id") => (Some(&ID), "id"),
        n => {
            let a = if std::ptr::eq(schema, resource.core()) {
                schema::top_level(resource, n)
            } else {
                schema::find(schema.attrs, n)
            };
            (a, a.map_or(n, |a| a.name))
        }
    };
    let value = container.get(key)?;
    let mut values: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    let Some(sub) = &path.sub_attr else {
        return Some((attr, values));
    };
    let sub_attr = attr.and_then(|a| schema::find(a.sub, sub));
    let sub_key = sub_attr.map_or(sub.as_str(), |s| s.name);
    values = values
        .into_iter()
        .filter_map(|v| v.as_object().and_then(|o| o.get(sub_key)))
        .collect();
    Some((sub_attr, values))
}

const ID: Attr = Attr {
    case_exact: true,
    mutability: Mutability::ReadOnly,
    ..schema::EXTERNAL_ID
};

const META_DATE: Attr = Attr {
    case_exact: true,
    ty: Type::DateTime,
    mutability: Mutability::ReadOnly,
    ..schema::EXTERNAL_ID
};

fn compare(actual: &Value, op: &CompareOp, expected: &CompValue, case_exact: bool) -> bool {
    match (actual, expected) {
        (Value::String(a), CompValue::Str(e)) => {
            let (a, e) = if case_exact {
                (a.clone(), e.clone())
            } else {
                (a.to_lowercase(), e.to_lowercase())
            };
            match op {
                CompareOp::Eq => a == e,
                CompareOp::Ne => a != e,
                CompareOp::Co => a.contains(&e),
                CompareOp::Sw => a.starts_with(&e),
                CompareOp::Ew => a.ends_with(&e),
                CompareOp::Gt => a > e,
                CompareOp::Ge => a >= e,
                CompareOp::Lt => a < e,
                CompareOp::Le => a <= e,
            }
        }
        (Value::Bool(a), CompValue::True) => matches!(op, CompareOp::Eq) == *a,
        (Value::Bool(a), CompValue::False) => matches!(op, CompareOp::Eq) != *a,
        (Value::Number(a), CompValue::Number(e)) => {
            let (Some(a), Some(e)) = (a.as_f64(), e.as_f64()) else {
                return false;
            };
            let ord = a.partial_cmp(&e);
            match op {
                CompareOp::Eq => ord == Some(Ordering::Equal),
                CompareOp::Ne => ord != Some(Ordering::Equal),
                CompareOp::Gt => ord == Some(Ordering::Greater),
                CompareOp::Ge => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
                CompareOp::Lt => ord == Some(Ordering::Less),
                CompareOp::Le => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
                CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
            }
        }
        (_, CompValue::Null) => matches!(op, CompareOp::Ne),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn filter(s: &str) -> Filter {
        s.parse().unwrap()
    }

    fn alice() -> Value {
        json!({
            "id": "a1",
            "userName": "Alice@Example.com",
            "active": true,
            "emails": [{"value": "alice@example.com", "type": "work", "primary": true},
                       {"value": "a@home.example", "type": "home"}],
            "name": {"givenName": "Alice", "familyName": "Liddell"},
            schema::ENTERPRISE_USER: {"employeeNumber": "007", "manager": {"value": "m1"}},
            "meta": {"lastModified": "2026-12-03T10:00:00.000Z"}
        })
    }

    #[test]
    fn filters_follow_case_rules_and_multi_valued_semantics() {
        let r = Resource::User;
        let a = alice();
        assert!(matches(
            r,
            &filter(r#"userName eq "alice@example.com""#),
            &a
        ));
        assert!(matches(
            r,
            &filter(r#"USERNAME Eq "ALICE@EXAMPLE.COM""#),
            &a
        ));
        assert!(!matches(r, &filter(r#"id eq "A1""#), &a), "id is caseExact");
        assert!(matches(
            r,
            &filter(r#"emails[type eq "work" and value co "alice"]"#),
            &a
        ));
        assert!(!matches(r, &filter(r#"emails[type eq "other"]"#), &a));
        assert!(matches(
            r,
            &filter(r#"emails.value eq "a@home.example""#),
            &a
        ));
        assert!(matches(r, &filter(r#"emails eq "a@home.example""#), &a));
        assert!(matches(
            r,
            &filter("active eq true and name.givenName sw \"Al\""),
            &a
        ));
        assert!(matches(r, &filter("not (active eq false)"), &a));
        assert!(matches(
            r,
            &filter("title pr or name.familyName ew \"dell\""),
            &a
        ));
        assert!(!matches(r, &filter("title pr"), &a));
        assert!(matches(r, &filter("title ne \"x\""), &a));
        assert!(matches(
            r,
            &filter(
                r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "007""#
            ),
            &a
        ));
        assert!(matches(
            r,
            &filter(r#"meta.lastModified gt "2026-01-01T00:00:00Z""#),
            &a
        ));
    }

    #[test]
    fn bodies_are_canonicalised_and_coerced() {
        let body = json!({
            "schemas": [schema::CORE_USER],
            "UserName": "bob",
            "Active": "False",
            "emails": {"Value": "b@x.example", "Type": "work", "Primary": "True"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"Manager": "m1"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": 42,
            "nickName": "ignored",
            "id": "ignored too"
        });
        let doc = canonical_body(Resource::User, &body).unwrap();
        assert_eq!(doc["userName"], "bob");
        assert_eq!(doc["active"], false);
        assert_eq!(
            doc["emails"],
            json!([{"value": "b@x.example", "type": "work", "primary": true}])
        );
        assert_eq!(
            doc[schema::ENTERPRISE_USER],
            json!({"manager": {"value": "m1"}, "employeeNumber": "42"})
        );
        assert!(!doc.contains_key("nickName") && !doc.contains_key("id"));
        let bad = canonical_body(Resource::User, &json!({"userName": "x", "active": "maybe"}));
        assert_eq!(bad.unwrap_err().scim_type, Some(ScimType::InvalidValue));
    }

    #[test]
    fn projection_keeps_the_always_returned_attributes() {
        let r = Resource::User;
        let a = alice();
        let only = project(
            a.clone(),
            &selectors(r, Some("userName,name.givenName")),
            &[],
        );
        assert_eq!(
            only,
            json!({"id": "a1", "meta": a["meta"], "userName": "Alice@Example.com",
                   "name": {"givenName": "Alice"}})
        );
        let without = project(
            a.clone(),
            &[],
            &selectors(
                r,
                Some(
                    "emails,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager,id",
                ),
            ),
        );
        assert!(without.get("emails").is_none());
        assert_eq!(without["id"], "a1");
        assert_eq!(
            without[schema::ENTERPRISE_USER],
            json!({"employeeNumber": "007"})
        );
    }
}
