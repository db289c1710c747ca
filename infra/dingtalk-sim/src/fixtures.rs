//! DingTalk event payloads kept as files (`fixtures/dingtalk/`, see its README), embedded at build
//! time so that every user — the simulator, the parser's and the callback's tests, e2e — reads
//! the same bytes without path juggling.

use serde_json::Value;

/// Every fixture by name (the file name without `.json`).
const FIXTURES: &[(&str, &str)] = &[
    (
        "check_url",
        include_str!("../fixtures/dingtalk/check_url.json"),
    ),
    (
        "user_add_org",
        include_str!("../fixtures/dingtalk/user_add_org.json"),
    ),
    (
        "user_add_org.camel",
        include_str!("../fixtures/dingtalk/user_add_org.camel.json"),
    ),
    (
        "user_leave_org",
        include_str!("../fixtures/dingtalk/user_leave_org.json"),
    ),
    (
        "user_leave_org.camel",
        include_str!("../fixtures/dingtalk/user_leave_org.camel.json"),
    ),
    (
        "user_modify_org",
        include_str!("../fixtures/dingtalk/user_modify_org.json"),
    ),
    (
        "user_modify_org.camel",
        include_str!("../fixtures/dingtalk/user_modify_org.camel.json"),
    ),
    (
        "org_dept_create",
        include_str!("../fixtures/dingtalk/org_dept_create.json"),
    ),
    (
        "org_dept_modify",
        include_str!("../fixtures/dingtalk/org_dept_modify.json"),
    ),
    (
        "org_dept_remove",
        include_str!("../fixtures/dingtalk/org_dept_remove.json"),
    ),
    // Events dingbridge receives and deliberately ignores.
    (
        "label_user_change",
        include_str!("../fixtures/dingtalk/label_user_change.json"),
    ),
    (
        "org_change",
        include_str!("../fixtures/dingtalk/org_change.json"),
    ),
];

/// The names of every fixture.
pub fn names() -> impl Iterator<Item = &'static str> {
    FIXTURES.iter().map(|(name, _)| *name)
}

/// The fixture's text exactly as stored (without the file's trailing newline), or `None` for a
/// name that has no file.
pub fn fixture_str(name: &str) -> Option<&'static str> {
    FIXTURES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| text.trim_end())
}

/// The fixture parsed; `Value::Null` for an unknown name or unparsable file (the fixtures'
/// own test proves every file parses, so a `Null` in a test points at a misspelt name).
pub fn fixture(name: &str) -> Value {
    fixture_str(name)
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or(Value::Null)
}

/// The fixture with top-level fields replaced (or added): the way a test varies an event (another
/// user id, another corp) without writing a new literal.
pub fn with(name: &str, fields: &[(&str, Value)]) -> Value {
    let mut value = fixture(name);
    if let Value::Object(map) = &mut value {
        for (key, field) in fields {
            map.insert((*key).to_owned(), field.clone());
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fixture_is_a_json_object_naming_its_event_type() {
        for name in names() {
            let value = fixture(name);
            let event_type = value
                .get("EventType")
                .or_else(|| value.get("eventType"))
                .and_then(Value::as_str);
            let expected = name.split('.').next();
            assert_eq!(event_type, expected, "{name}");
        }
    }

    #[test]
    fn camel_fixtures_use_camel_case_keys() {
        for name in names().filter(|n| n.ends_with(".camel")) {
            assert!(fixture(name).get("eventType").is_some(), "{name}");
        }
    }

    #[test]
    fn with_replaces_a_field_and_keeps_the_rest() {
        let v = with("user_add_org", &[("UserId", serde_json::json!(["other"]))]);
        assert_eq!(v["UserId"], serde_json::json!(["other"]));
        assert_eq!(v["EventType"], "user_add_org");
    }
}
