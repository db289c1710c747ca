//! The lease lock, and the directory view a plan is made against.

use super::*;

#[tokio::test]
async fn a_lease_lock_admits_one_owner_until_released_or_expired() {
    let f = fixture();
    let name = pull_lock_name(&ConnectorId::generate());
    assert_eq!(f.locks.holder(&name).await.unwrap(), None);
    assert!(f.locks.acquire(&name, "a", 60).await.unwrap());
    let held = f.locks.holder(&name).await.unwrap().unwrap();
    assert_eq!(
        (held.owner.as_str(), held.until_ms),
        ("a", f.clock.now_millis() + 60_000)
    );
    assert!(!f.locks.acquire(&name, "b", 60).await.unwrap(), "held by a");
    assert!(
        f.locks.acquire(&name, "a", 60).await.unwrap(),
        "re-entrant for its owner"
    );
    assert!(!f.locks.renew(&name, "b", 60).await.unwrap());
    f.locks.release(&name, "b").await.unwrap(); // not b's: no effect
    assert!(!f.locks.acquire(&name, "b", 60).await.unwrap());
    f.clock.0.fetch_add(30_000, Ordering::SeqCst);
    assert!(f.locks.renew(&name, "a", 60).await.unwrap());
    f.clock.0.fetch_add(59_000, Ordering::SeqCst);
    assert!(
        !f.locks.acquire(&name, "b", 60).await.unwrap(),
        "renewed lease still runs"
    );
    f.clock.0.fetch_add(2_000, Ordering::SeqCst);
    assert!(
        f.locks.acquire(&name, "b", 60).await.unwrap(),
        "an expired lease is free"
    );
    assert!(!f.locks.renew(&name, "a", 60).await.unwrap(), "a lost it");
    f.locks.release(&name, "b").await.unwrap();
    assert!(f.locks.acquire(&name, "c", 60).await.unwrap());
}

#[tokio::test]
async fn the_plan_view_holds_the_connectors_mappings_and_every_owner() {
    use std::collections::BTreeMap;

    use crate::domain::connector::Connector;
    use crate::domain::directory::{Account, AccountStatus, Origin, normalise_memberships};
    use crate::domain::values::{DisplayName, Email, Mobile, Username};
    use crate::store::Actor;
    use crate::store::directory::{Directory, NewOrgUnit};
    use crate::store::mappings::{MappedKind, Mapping, Mappings};

    let f = fixture();
    let table = f.runs.table.clone();
    let dir = Directory::new(table.clone(), f.clock.clone());
    let mappings = Mappings::new(table);
    let actor = Actor::new(Origin::Admin, "t");
    let root = dir.ensure_root().await.unwrap();
    let connector: Connector = serde_json::from_value(serde_json::json!({
        "id": ConnectorId::generate(), "name": "c", "corp_id": "x", "app_key": "k",
        "app_secret": "s", "agent_id": null, "enabled": true, "email_field": "email",
        "register_callback": false, "callback_token": null, "callback_aes_key": null,
        "receive_id_mode": "app_key", "root_org_unit_id": root.id,
        "default_password": null, "leaver_policy": "disable", "pull_mode": "review",
        "pull_schedule": "0 2 * * *", "mass_delete_max_share": 0.1,
        "mass_delete_max_count": 100, "oapi_base": "", "api_base": "", "login_base": "",
        "callback_status": null, "version": 1, "created_ms": 0, "updated_ms": 0
    }))
    .unwrap();
    let new_unit = |name: &str| NewOrgUnit {
        scim: None,
        name: name.into(),
        parent_id: root.id.clone(),
        order: 0,
    };
    let sales = dir
        .create_org_unit(new_unit("Sales"), &actor)
        .await
        .unwrap();
    let manual = dir
        .create_org_unit(new_unit("Manual"), &actor)
        .await
        .unwrap();
    let account = |username: &str, mobile: &str| Account {
        scim: None,
        id: AccountId::generate(),
        username: Username::parse(username).unwrap(),
        display_name: DisplayName::parse("X").unwrap(),
        email: Some(Email::parse(&format!("{username}@example.com")).unwrap()),
        mobile: Some(Mobile::parse(mobile).unwrap()),
        job_number: None,
        title: None,
        status: AccountStatus::Enabled,
        memberships: normalise_memberships(std::slice::from_ref(&sales.id), None),
        password_hash: None,
        must_change_password: false,
        password_changed_ms: None,
        attributes: BTreeMap::new(),
        version: 0,
        created_ms: 0,
        updated_ms: 0,
    };
    let linked = dir
        .create_account(account("alice", "13800000001"), &actor)
        .await
        .unwrap();
    let other = dir
        .create_account(account("local", "13800000002"), &actor)
        .await
        .unwrap();
    let map = |kind, external: &str, ours: &str| Mapping {
        connector_id: connector.id.clone(),
        kind,
        external_id: external.into(),
        our_id: ours.into(),
        unionid: None,
    };
    mappings
        .put(&map(MappedKind::Dept, "2", sales.id.as_str()))
        .await
        .unwrap();
    mappings
        .put(&map(MappedKind::User, "Alice", linked.id.as_str()))
        .await
        .unwrap();

    let view = load_view(&dir, &mappings, &connector).await.unwrap();
    assert_eq!(view.root_unit, root.id);
    let alice = view.mapped(&DingUserId::parse("Alice").unwrap()).unwrap();
    assert_eq!(
        (
            view.account_id(alice).cloned(),
            view.units_of(alice).cloned().collect::<Vec<_>>()
        ),
        (Some(linked.id.clone()), vec![sales.id.clone()])
    );
    assert_eq!(view.mapped_count(), 1);
    assert_eq!(view.units[&DeptId::new(2).unwrap()].name, "Sales");
    assert_eq!(view.units.len(), 1);
    let owner = |kind, value| {
        view.owner(view.keys().of(kind, value))
            .map(|(id, linked)| (id.clone(), linked.map(|u| u.to_string())))
    };
    assert_eq!(
        owner(ValueKind::Mobile, "13800000002"),
        Some((other.id.clone(), None))
    );
    assert_eq!(
        owner(ValueKind::Username, "alice"),
        Some((linked.id.clone(), Some("Alice".to_owned())))
    );
    assert_eq!(owner(ValueKind::Mobile, "13900000000"), None);
    assert_eq!(
        view.unit_names[&(root.id.clone(), "manual".to_owned())],
        manual.id
    );
}
