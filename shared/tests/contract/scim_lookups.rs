//! The lookups SCIM answers from index items instead of a scan, on every engine: units by
//! display name (any parent, case-insensitive), units and accounts by the client's `externalId`
//! (unique), each following renames, re-keys and deletes in the entity's own transaction.

use std::sync::Arc;

use dingbridge::domain::directory::{
    Account, AccountStatus, Origin, ScimRecord, normalise_memberships,
};
use dingbridge::domain::ids::{AccountId, OrgUnitId};
use dingbridge::domain::values::{DisplayName, Username};
use dingbridge::ports::{SystemClock, Table};
use dingbridge::store::directory::{
    ACCOUNT_EXTERNAL_ID, Directory, NewOrgUnit, UNIT_EXTERNAL_ID, UnitChange, no_side_writes,
};
use dingbridge::store::{Actor, DirectoryError};

fn client() -> Actor {
    Actor::new(Origin::Scim, "contract-client")
}

fn record(external_id: &str) -> Option<ScimRecord> {
    Some(ScimRecord {
        external_id: Some(external_id.to_owned()),
        ..ScimRecord::default()
    })
}

fn ids(units: &[dingbridge::domain::directory::OrgUnit]) -> Vec<OrgUnitId> {
    let mut ids: Vec<OrgUnitId> = units.iter().map(|u| u.id.clone()).collect();
    ids.sort_by_key(|id| id.to_string());
    ids
}

fn sorted(mut ids: Vec<OrgUnitId>) -> Vec<OrgUnitId> {
    ids.sort_by_key(|id| id.to_string());
    ids
}

fn expect_conflict(result: Result<impl std::fmt::Debug, DirectoryError>, attr: &str) {
    match result {
        Err(DirectoryError::Conflict { attr: a, .. }) => assert_eq!(a, attr),
        other => panic!("expected a conflict on {attr}, got {other:?}"),
    }
}

pub async fn units_are_found_by_name_and_external_id_through_renames_and_deletes(
    t: Arc<dyn Table>,
) {
    let dir = Directory::new(t.clone(), Arc::new(SystemClock));
    let root = dir.ensure_root().await.unwrap();
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let name = format!("销售 Sales {}", &tag[..8]);
    let (ext_a, ext_b) = (format!("a-{tag}"), format!("b-{tag}"));
    let unit = |name: &str, parent: &OrgUnitId, ext: &str| NewOrgUnit {
        name: name.to_owned(),
        parent_id: parent.clone(),
        order: 0,
        scim: record(ext),
    };
    let a = dir
        .create_org_unit(unit(&name, &root.id, &ext_a), &client())
        .await
        .unwrap();
    // The same name under another parent, in other letter case.
    let b = dir
        .create_org_unit(unit(&name.to_uppercase(), &a.id, &ext_b), &client())
        .await
        .unwrap();
    assert_eq!(
        ids(&dir.org_units_named(&name.to_lowercase()).await.unwrap()),
        sorted(vec![a.id.clone(), b.id.clone()])
    );
    let found = dir.org_unit_by_external_id(&ext_a).await.unwrap().unwrap();
    assert_eq!(found.id, a.id);
    // externalId is unique across the directory (and case-sensitive).
    expect_conflict(
        dir.create_org_unit(unit("其他", &root.id, &ext_a), &client())
            .await,
        "externalId",
    );
    assert!(
        dir.org_unit_by_external_id(&ext_a.to_uppercase())
            .await
            .unwrap()
            .is_none()
    );

    // A rename moves the name item; a new externalId frees the old one.
    let renamed = format!("运营 {}", &tag[..8]);
    let change = UnitChange {
        name: Some(renamed.clone()),
        scim: Some(record(&format!("c-{tag}"))),
        ..UnitChange::default()
    };
    dir.update_org_unit_with(&a.id, None, change, &client(), &no_side_writes)
        .await
        .unwrap();
    assert_eq!(
        ids(&dir.org_units_named(&name).await.unwrap()),
        vec![b.id.clone()]
    );
    assert_eq!(
        ids(&dir.org_units_named(&renamed).await.unwrap()),
        vec![a.id.clone()]
    );
    assert!(dir.org_unit_by_external_id(&ext_a).await.unwrap().is_none());
    let again = dir
        .create_org_unit(unit("复用", &root.id, &ext_a), &client())
        .await
        .unwrap();

    // A delete takes its items along.
    dir.delete_org_unit(&b.id, &client()).await.unwrap();
    assert!(dir.org_units_named(&name).await.unwrap().is_empty());
    assert!(dir.org_unit_by_external_id(&ext_b).await.unwrap().is_none());
    assert_eq!(
        dir.org_unit_by_external_id(&ext_a)
            .await
            .unwrap()
            .unwrap()
            .id,
        again.id
    );
    assert_eq!(UNIT_EXTERNAL_ID, "ouext");
}

fn person(username: &str, unit: &OrgUnitId, external_id: &str) -> Account {
    Account {
        scim: record(external_id),
        id: AccountId::generate(),
        username: Username::parse(username).unwrap(),
        display_name: DisplayName::parse("韩梅梅").unwrap(),
        email: None,
        mobile: None,
        job_number: None,
        title: None,
        status: AccountStatus::Enabled,
        memberships: normalise_memberships(std::slice::from_ref(unit), None),
        password_hash: None,
        must_change_password: false,
        password_changed_ms: None,
        attributes: Default::default(),
        version: 0,
        created_ms: 0,
        updated_ms: 0,
    }
}

pub async fn accounts_are_found_by_external_id_which_is_unique(t: Arc<dyn Table>) {
    let dir = Directory::new(t.clone(), Arc::new(SystemClock));
    let root = dir.ensure_root().await.unwrap();
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let ext = format!("emp-{tag}");
    let first = dir
        .create_account(
            person(&format!("a{}", &tag[..12]), &root.id, &ext),
            &client(),
        )
        .await
        .unwrap();
    let found = dir.find_account(ACCOUNT_EXTERNAL_ID, &ext).await.unwrap();
    assert_eq!(found.map(|a| a.id), Some(first.id.clone()));
    expect_conflict(
        dir.create_account(
            person(&format!("b{}", &tag[..12]), &root.id, &ext),
            &client(),
        )
        .await,
        ACCOUNT_EXTERNAL_ID,
    );
    dir.delete_account(&first.id, &client()).await.unwrap();
    assert!(
        dir.find_account(ACCOUNT_EXTERNAL_ID, &ext)
            .await
            .unwrap()
            .is_none()
    );
    // Freed by the delete.
    dir.create_account(
        person(&format!("c{}", &tag[..12]), &root.id, &ext),
        &client(),
    )
    .await
    .unwrap();
}
