//! Connector input checks: trimming, defaults, bounds, identifiers and names, every problem at
//! once.

use super::*;

fn input(json: serde_json::Value) -> ConnectorInput {
    serde_json::from_value(json).unwrap()
}

#[test]
fn values_are_trimmed_and_defaults_applied() {
    let c = check_input(
        &input(serde_json::json!({"name": " HQ ", "corp_id": "ding123 ", "app_key": "\tkey", "app_secret": " s "})),
        None,
        &PasswordPolicy::default(),
    )
    .unwrap();
    assert_eq!(
        (c.name.as_str(), c.corp_id.as_str(), c.app_key.as_str()),
        ("HQ", "ding123", "key")
    );
    assert_eq!(c.app_secret.as_deref(), Some("s"));
    assert_eq!(c.oapi_base, DEFAULT_OAPI_BASE);
    assert_eq!(c.pull_schedule.as_str(), DEFAULT_PULL_SCHEDULE);
    assert_eq!(
        (c.leaver_policy, c.pull_mode, c.receive_id_mode),
        (
            LeaverPolicy::Disable,
            PullMode::Review,
            ReceiveIdMode::AppKey
        )
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let problems = check_input(
        &input(serde_json::json!({
            "name": "  ", "register_callback": true, "callback_token": "a b",
            "callback_aes_key": "short", "default_password": "weak", "pull_schedule": "every day",
            "oapi_base": "oapi.dingtalk.com"
        })),
        None,
        &PasswordPolicy::default(),
    )
    .unwrap_err();
    let fields: Vec<_> = problems.iter().map(|p| p.field).collect();
    for f in [
        "name",
        "corp_id",
        "app_key",
        "app_secret",
        "callback_token",
        "callback_aes_key",
        "default_password",
        "pull_schedule",
        "oapi_base",
    ] {
        assert!(fields.contains(&f), "{f} not reported: {fields:?}");
    }
    let pw = problems
        .iter()
        .find(|p| p.field == "default_password")
        .unwrap();
    assert!(pw.reason.contains("at least 10"), "{}", pw.reason);
}

#[test]
fn api_registered_callbacks_default_to_the_corp_id_receive_id() {
    let c = check_input(
        &input(
            serde_json::json!({"name": "n", "corp_id": "c", "app_key": "k", "app_secret": "s",
            "register_callback": true, "callback_token": "token123",
            "callback_aes_key": "1234567890123456789012345678901234567890123"}),
        ),
        None,
        &PasswordPolicy::default(),
    )
    .unwrap();
    assert_eq!(c.receive_id_mode, ReceiveIdMode::CorpId);
}

fn reasons(json: serde_json::Value) -> Vec<(&'static str, String)> {
    check_input(&input(json), None, &PasswordPolicy::default())
        .unwrap_err()
        .into_iter()
        .map(|p| (p.field, p.reason))
        .collect()
}

#[test]
fn every_text_field_is_bounded_and_a_refused_value_is_reported_once() {
    let long = "x".repeat(1_000);
    let found = reasons(serde_json::json!({
        "name": long, "corp_id": long, "app_key": long, "app_secret": long,
        "default_password": long, "callback_token": long, "callback_aes_key": long,
        "pull_schedule": long, "oapi_base": format!("https://{long}"),
        "api_base": format!("https://{long}"), "login_base": format!("https://{long}"),
        "root_org_unit_id": long,
    }));
    let fields: Vec<_> = found.iter().map(|(f, _)| *f).collect();
    assert_eq!(
        fields,
        [
            "name",
            "corp_id",
            "app_key",
            "app_secret",
            "callback_token",
            "callback_aes_key",
            "root_org_unit_id",
            "default_password",
            "pull_schedule",
            "oapi_base",
            "api_base",
            "login_base"
        ],
        "{found:?}"
    );
    assert!(
        found.iter().all(|(_, r)| r.contains("at most")),
        "{found:?}"
    );
}

#[test]
fn identifiers_refuse_inner_invisible_characters_and_names_refuse_overrides() {
    let found = reasons(serde_json::json!({
        "name": "HQ\u{202e}txt", "corp_id": "ding probe\u{a0}corp\u{200b}",
        "app_key": "key\u{feff}", "app_secret": "s e",
        "oapi_base": "https://oapi.ding\u{200b}talk.com",
    }));
    let fields: Vec<_> = found.iter().map(|(f, _)| *f).collect();
    assert_eq!(
        fields,
        ["name", "corp_id", "app_key", "app_secret", "oapi_base"],
        "each refused once, none also 'required': {found:?}"
    );
    assert!(
        found[1].1.contains("U+0020 (SPACE) at position 5"),
        "{}",
        found[1].1
    );
    assert!(!found[3].1.contains("s e"), "the secret is not echoed");
}

#[test]
fn a_refused_update_value_does_not_fall_back_to_the_stored_one() {
    let c = check_input(
        &input(
            serde_json::json!({"name": "HQ", "corp_id": "c", "app_key": "k", "app_secret": "s"}),
        ),
        None,
        &PasswordPolicy::default(),
    )
    .unwrap();
    let stored = Connector {
        id: ConnectorId::generate(),
        name: c.name,
        corp_id: c.corp_id,
        app_key: c.app_key,
        app_secret: Sealed("sealed".into()),
        agent_id: None,
        enabled: true,
        email_field: EmailField::Email,
        register_callback: false,
        callback_token: None,
        callback_aes_key: None,
        receive_id_mode: ReceiveIdMode::AppKey,
        root_org_unit_id: OrgUnitId::generate(),
        default_password: None,
        leaver_policy: LeaverPolicy::Disable,
        pull_mode: PullMode::Review,
        pull_schedule: c.pull_schedule,
        mass_delete_max_share: 0.1,
        mass_delete_max_count: 100,
        push: Default::default(),
        oapi_base: c.oapi_base,
        api_base: c.api_base,
        login_base: c.login_base,
        callback_status: None,
        version: 1,
        created_ms: 0,
        updated_ms: 0,
    };
    let secrets = StoredSecrets {
        app_secret: true,
        ..StoredSecrets::default()
    };
    let problems = check_input(
        &input(serde_json::json!({"app_key": "k\u{200b}"})),
        Some((&stored, secrets)),
        &PasswordPolicy::default(),
    )
    .unwrap_err();
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].field, "app_key");
    let kept = check_input(
        &input(serde_json::json!({"name": " Head office "})),
        Some((&stored, secrets)),
        &PasswordPolicy::default(),
    )
    .unwrap();
    assert_eq!(
        (kept.name.as_str(), kept.app_key.as_str()),
        ("Head office", "k")
    );
}

#[test]
fn unknown_fields_are_refused() {
    assert!(serde_json::from_value::<ConnectorInput>(serde_json::json!({"nmae": "x"})).is_err());
}
