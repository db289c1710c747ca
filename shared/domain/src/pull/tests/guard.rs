//! The mass-delete guard of auto pulls, and the compact key indexes the plan looks values up in.

use super::*;

fn connector(share: f64, count: u64) -> Connector {
    let json = serde_json::json!({
        "id": ConnectorId::generate(), "name": "c", "corp_id": "x", "app_key": "k",
        "app_secret": "s", "agent_id": null, "enabled": true, "email_field": "email",
        "register_callback": false, "callback_token": null, "callback_aes_key": null,
        "receive_id_mode": "app_key", "root_org_unit_id": OrgUnitId::generate(),
        "default_password": null, "leaver_policy": "disable", "pull_mode": "auto",
        "pull_schedule": "0 2 * * *", "mass_delete_max_share": share,
        "mass_delete_max_count": count, "oapi_base": "", "api_base": "", "login_base": "",
        "callback_status": null, "version": 1, "created_ms": 0, "updated_ms": 0
    });
    serde_json::from_value(json).unwrap()
}

fn totals(disables: u64, accounts: u64, removals: u64, units: u64) -> PlanTotals {
    PlanTotals {
        disables,
        existing_accounts: accounts,
        unit_removals: removals,
        existing_units: units,
        ..PlanTotals::default()
    }
}

#[test]
fn the_guard_trips_on_share_or_count_of_accounts_or_units() {
    let c = connector(0.1, 100);
    assert_eq!(
        guard(&totals(10, 100, 0, 10), &c),
        None,
        "exactly 10% is allowed"
    );
    let r = guard(&totals(11, 100, 0, 10), &c).unwrap();
    assert!(
        r.contains("disable or delete 11 of the connector's 100 accounts (11.0%)"),
        "{r}"
    );
    assert!(
        guard(&totals(101, 100_000, 0, 10), &c)
            .unwrap()
            .contains("101 of")
    );
    assert!(
        guard(&totals(0, 100, 2, 10), &c)
            .unwrap()
            .contains("remove 2 of the connector's 10 org units")
    );
    assert_eq!(
        guard(&totals(0, 0, 0, 0), &connector(0.0, 0)),
        None,
        "nothing removed never trips"
    );
}

#[test]
fn a_key_index_answers_the_same_before_and_after_sealing() {
    let keys = view::Keys::default();
    let k = |s: &str| keys.of(ValueKind::Email, s);
    let mut index = view::KeyIndex::default();
    for (i, v) in ["b", "a", "b", "c", "b"].iter().enumerate() {
        index.push(k(v), i as u32);
    }
    let answers = |x: &view::KeyIndex| {
        ["a", "b", "c", "d"]
            .map(|v| (x.values(k(v)).collect::<Vec<_>>(), x.first(k(v))))
            .to_vec()
    };
    let before = answers(&index);
    index.seal();
    assert_eq!(before, answers(&index));
    assert_eq!(before[1], (vec![0, 2, 4], Some(0)));
    assert_eq!(before[3], (vec![], None));
}

#[test]
fn keys_tell_kinds_and_values_apart() {
    let keys = view::Keys::default();
    assert_eq!(
        keys.of(ValueKind::Email, "a@x.cn"),
        keys.of(ValueKind::Email, "a@x.cn")
    );
    assert_ne!(
        keys.of(ValueKind::Email, "a@x.cn"),
        keys.of(ValueKind::Username, "a@x.cn")
    );
    assert_ne!(
        keys.of(ValueKind::Mobile, "13800000001"),
        keys.of(ValueKind::Mobile, "13800000002")
    );
    // Fields that differ only in where a value sits are different field sets.
    assert_ne!(
        keys.fields(("A", Some("x"), None, None, None)),
        keys.fields(("A", None, Some("x"), None, None))
    );
}

#[test]
fn a_sealed_key_index_finds_every_value_of_a_large_set() {
    let keys = view::Keys::default();
    let mut index = view::KeyIndex::with_capacity(30_000);
    let mut expected: HashMap<String, Vec<u32>> = HashMap::new();
    for i in 0..30_000u32 {
        // Every seventh value is shared by several ordinals.
        let value = if i % 7 == 0 {
            format!("shared-{}", i % 70)
        } else {
            format!("v{i}")
        };
        index.push(keys.of(ValueKind::Mobile, &value), i);
        expected.entry(value).or_default().push(i);
    }
    index.seal();
    for (value, ordinals) in &expected {
        let found: Vec<u32> = index.values(keys.of(ValueKind::Mobile, value)).collect();
        assert_eq!(&found, ordinals, "{value}");
    }
    assert_eq!(index.first(keys.of(ValueKind::Mobile, "absent")), None);
    assert_eq!(index.first(keys.of(ValueKind::Email, "v1")), None);
}
