//! Departments: create (ancestors first), rename, move, remove; a non-empty unit is parked.

use std::collections::BTreeMap;

use dingbridge::domain::directory::{Account, AccountStatus, Origin, normalise_memberships};
use dingbridge::domain::ids::AccountId;
use dingbridge::domain::values::{DisplayName, Username};
use dingbridge::store::Actor;
use dingbridge::store::directory::Directory;
use serde_json::json;

use crate::support::{SideOptions, side, sim};

#[tokio::test]
async fn a_deep_department_brings_its_ancestors_and_dingtalk_root_is_the_connector_root() {
    let sim = sim().await;
    let side = side(&sim, SideOptions::default()).await;
    let a = sim.create_dept("A", 1).await;
    let b = sim.create_dept("B", a).await;
    let c = sim.create_dept("C", b).await;

    side.apply(&[side.depts(&[c], "org_dept_create")]).await;
    let snap = side.snapshot().await;
    let units: Vec<_> = snap.units.iter().map(String::as_str).collect();
    assert_eq!(units, ["/", "/A", "/A/B", "/A/B/C"]);

    // The root department is never created or renamed: it is the connector's root unit.
    side.apply(&[side.depts(&[1], "org_dept_modify")]).await;
    assert_eq!(side.snapshot().await, snap);
    assert!(side.unit_of(1).await.is_none());
}

#[tokio::test]
async fn renames_and_moves_follow_dingtalk() {
    let sim = sim().await;
    let side = side(&sim, SideOptions::default()).await;
    let a = sim.create_dept("A", 1).await;
    let b = sim.create_dept("B", a).await;
    let c = sim.create_dept("C", b).await;
    side.apply(&[side.depts(&[c], "org_dept_create")]).await;
    let c_unit = side.unit_of(c).await.unwrap();

    sim.patch_dept(b, json!({"name": "B2"})).await;
    sim.patch_dept(c, json!({"parent_id": a})).await;
    side.apply(&[side.depts(&[b, c], "org_dept_modify")]).await;
    let units: Vec<_> = side.snapshot().await.units.into_iter().collect();
    assert_eq!(units, ["/", "/A", "/A/B2", "/A/C"]);
    assert_eq!(side.unit_of(c).await, Some(c_unit), "moved, not recreated");
}

#[tokio::test]
async fn a_removed_department_removes_its_empty_unit_and_mapping() {
    let sim = sim().await;
    let side = side(&sim, SideOptions::default()).await;
    let a = sim.create_dept("A", 1).await;
    side.apply(&[side.depts(&[a], "org_dept_create")]).await;
    let unit = side.unit_of(a).await.unwrap();

    sim.delete_dept(a).await;
    side.apply(&[side.depts(&[a], "org_dept_remove")]).await;
    assert!(side.directory.org_unit(&unit).await.unwrap().is_none());
    assert!(side.unit_of(a).await.is_none());
    // Replayed: nothing mapped, nothing to do.
    side.apply(&[side.depts(&[a], "org_dept_remove")]).await;
}

#[tokio::test]
async fn removing_a_department_whose_unit_has_local_members_parks_with_a_reason() {
    let sim = sim().await;
    let side = side(&sim, SideOptions::default()).await;
    let a = sim.create_dept("A", 1).await;
    side.apply(&[side.depts(&[a], "org_dept_create")]).await;
    let unit = side.unit_of(a).await.unwrap();
    // An account an admin created in the unit, not linked to DingTalk.
    let local = Account {
        scim: None,
        id: AccountId::generate(),
        username: Username::parse("local.admin").unwrap(),
        display_name: DisplayName::parse("Local").unwrap(),
        email: None,
        mobile: None,
        job_number: None,
        title: None,
        status: AccountStatus::Enabled,
        memberships: normalise_memberships(std::slice::from_ref(&unit), None),
        password_hash: None,
        must_change_password: false,
        password_changed_ms: None,
        attributes: BTreeMap::new(),
        version: 0,
        created_ms: 0,
        updated_ms: 0,
    };
    side.directory
        .create_account(local, &Actor::new(Origin::Admin, "test"))
        .await
        .unwrap();

    sim.delete_dept(a).await;
    let failed = side.run(&[side.depts(&[a], "org_dept_remove")]).await;
    assert!(failed.is_empty(), "a permanent failure is acknowledged");
    let parked = side.parked().await;
    assert_eq!(parked.len(), 1);
    assert!(parked[0].reason.contains("members"), "{}", parked[0].reason);
    assert!(side.directory.org_unit(&unit).await.unwrap().is_some());
    assert_ne!(unit, Directory::root_id());
}
