//! The directory's rules, on the embedded engine (the AWS engines are held to the same port
//! semantics by the contract suite).

#![allow(clippy::cloned_ref_to_slice_refs)] // short fixtures read better than from_ref

use std::collections::BTreeMap;
use std::sync::Arc;

use super::*;
use crate::adapters::embedded::EmbeddedStore;
use crate::domain::directory::{Account, AccountStatus, OrgUnit, normalise_memberships};
use crate::domain::ids::AccountId;
use crate::domain::values::{DisplayName, Email, Mobile, Username};
use crate::ports::SystemClock;
use crate::store::audit::history;

struct Fixture {
    dir: Directory,
    table: Arc<dyn Table>,
    _tmp: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(tmp.path()).unwrap();
    let table: Arc<dyn Table> = Arc::new(store.table(Arc::new(SystemClock)));
    Fixture {
        dir: Directory::new(table.clone(), Arc::new(SystemClock)),
        table,
        _tmp: tmp,
    }
}

fn admin() -> Actor {
    Actor::new(Origin::Admin, "test-admin")
}

fn account(
    username: &str,
    email: Option<&str>,
    mobile: Option<&str>,
    units: &[OrgUnitId],
) -> Account {
    Account {
        scim: None,
        id: AccountId::generate(),
        username: Username::parse(username).unwrap(),
        display_name: DisplayName::parse("张三").unwrap(),
        email: email.map(|e| Email::parse(e).unwrap()),
        mobile: mobile.map(|m| Mobile::parse(m).unwrap()),
        job_number: None,
        title: None,
        status: AccountStatus::Enabled,
        memberships: normalise_memberships(units, None),
        password_hash: Some("$argon2id$v=19$secret-hash".to_owned()),
        must_change_password: false,
        password_changed_ms: None,
        attributes: BTreeMap::new(),
        version: 0,
        created_ms: 0,
        updated_ms: 0,
    }
}

async fn unit(f: &Fixture, parent: &OrgUnitId, name: &str) -> OrgUnit {
    f.dir
        .create_org_unit(
            NewOrgUnit {
                scim: None,
                name: name.to_owned(),
                parent_id: parent.clone(),
                order: 0,
            },
            &admin(),
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn unit_names_are_unique_under_one_parent_only() {
    let f = fixture();
    let root = f.dir.ensure_root().await.unwrap();
    let rd = unit(&f, &root.id, "研发部").await;
    let err = f
        .dir
        .create_org_unit(
            NewOrgUnit {
                scim: None,
                name: "研发部".into(),
                parent_id: root.id.clone(),
                order: 0,
            },
            &admin(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, DirectoryError::Conflict { attr: "name", .. }),
        "{err:?}"
    );
    unit(&f, &rd.id, "研发部").await;
    let missing = OrgUnitId::generate();
    let err = f
        .dir
        .create_org_unit(
            NewOrgUnit {
                scim: None,
                name: "x".into(),
                parent_id: missing,
                order: 0,
            },
            &admin(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::NotFound(_)));
    let kids = f.dir.children(&root.id, 10, None).await.unwrap();
    assert_eq!(
        kids.items
            .iter()
            .map(|u| u.name.as_str())
            .collect::<Vec<_>>(),
        ["研发部"]
    );
}

#[tokio::test]
async fn a_unit_cannot_move_under_its_own_descendant() {
    let f = fixture();
    let root = f.dir.ensure_root().await.unwrap();
    let a = unit(&f, &root.id, "A").await;
    let b = unit(&f, &a.id, "B").await;
    let c = unit(&f, &b.id, "C").await;
    let err = f
        .dir
        .update_org_unit(&a.id, None, None, Some(c.id.clone()), None, &admin())
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::Invalid(_)), "{err:?}");
    let moved = f
        .dir
        .update_org_unit(
            &c.id,
            None,
            Some("C2".into()),
            Some(root.id.clone()),
            None,
            &admin(),
        )
        .await
        .unwrap();
    assert_eq!(
        (moved.name.as_str(), moved.parent_id.as_ref(), moved.version),
        ("C2", Some(&root.id), 2)
    );
    assert!(
        f.dir
            .children(&b.id, 10, None)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    // The old name under the old parent is free again, the new one is taken.
    unit(&f, &b.id, "C").await;
    let err = f
        .dir
        .create_org_unit(
            NewOrgUnit {
                scim: None,
                name: "c2".into(),
                parent_id: root.id.clone(),
                order: 0,
            },
            &admin(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::Conflict { .. }));
}

#[tokio::test]
async fn only_empty_units_can_be_deleted() {
    let f = fixture();
    let root = f.dir.ensure_root().await.unwrap();
    let a = unit(&f, &root.id, "A").await;
    let b = unit(&f, &a.id, "B").await;
    let acc = f
        .dir
        .create_account(account("zhangsan", None, None, &[b.id.clone()]), &admin())
        .await
        .unwrap();
    assert!(matches!(
        f.dir.delete_org_unit(&a.id, &admin()).await,
        Err(DirectoryError::NotEmpty { children: true, .. })
    ));
    assert!(matches!(
        f.dir.delete_org_unit(&b.id, &admin()).await,
        Err(DirectoryError::NotEmpty { members: true, .. })
    ));
    f.dir
        .update_account(&acc.id, None, &admin(), |a| {
            a.memberships.clear();
            Ok(())
        })
        .await
        .unwrap();
    f.dir.delete_org_unit(&b.id, &admin()).await.unwrap();
    f.dir.delete_org_unit(&a.id, &admin()).await.unwrap();
    assert!(f.dir.org_unit(&a.id).await.unwrap().is_none());
    assert!(matches!(
        f.dir.delete_org_unit(&root.id, &admin()).await,
        Err(DirectoryError::Invalid(_))
    ));
}

#[tokio::test]
async fn unique_values_cannot_be_taken_twice_and_a_refused_write_changes_nothing() {
    let f = fixture();
    let root = f.dir.ensure_root().await.unwrap();
    f.dir
        .create_account(
            account(
                "zhangsan",
                Some("zs@example.com"),
                Some("13800000000"),
                &[root.id.clone()],
            ),
            &admin(),
        )
        .await
        .unwrap();
    let dup = account(
        "lisi",
        Some("ZS@example.com"),
        Some("13900000000"),
        &[root.id.clone()],
    );
    let err = f
        .dir
        .create_account(dup.clone(), &admin())
        .await
        .unwrap_err();
    assert!(
        matches!(err, DirectoryError::Conflict { attr: "email", .. }),
        "{err:?}"
    );
    assert!(f.dir.account(&dup.id).await.unwrap().is_none());
    assert!(
        f.dir
            .find_account("mobile", "13900000000")
            .await
            .unwrap()
            .is_none(),
        "a marker leaked"
    );
    let err = f
        .dir
        .create_account(
            account("lisi", None, Some("+86-13800000000"), &[]),
            &admin(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, DirectoryError::Conflict { attr: "mobile", .. }),
        "{err:?}"
    );
    let err = f
        .dir
        .create_account(
            account("lisi", None, None, &[OrgUnitId::generate()]),
            &admin(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::NotFound(_)), "{err:?}");
}

#[tokio::test]
async fn a_changed_value_frees_the_old_one() {
    let f = fixture();
    let a = f
        .dir
        .create_account(account("a", Some("old@example.com"), None, &[]), &admin())
        .await
        .unwrap();
    f.dir
        .update_account(&a.id, Some(1), &admin(), |acc| {
            acc.email = Some(Email::parse("new@example.com").unwrap());
            Ok(())
        })
        .await
        .unwrap();
    let b = f
        .dir
        .create_account(account("b", Some("old@example.com"), None, &[]), &admin())
        .await
        .unwrap();
    assert_eq!(
        f.dir
            .find_account("email", "old@example.com")
            .await
            .unwrap()
            .unwrap()
            .id,
        b.id
    );
    assert_eq!(
        f.dir
            .find_account("email", "new@example.com")
            .await
            .unwrap()
            .unwrap()
            .id,
        a.id
    );
    let err = f
        .dir
        .update_account(&b.id, None, &admin(), |acc| {
            acc.email = Some(Email::parse("new@example.com").unwrap());
            Ok(())
        })
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        DirectoryError::Conflict { attr: "email", .. }
    ));
    assert_eq!(f.dir.account(&b.id).await.unwrap().unwrap().version, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_edits_both_land_and_a_pinned_stale_version_is_refused() {
    let f = fixture();
    let a = f
        .dir
        .create_account(account("a", None, None, &[]), &admin())
        .await
        .unwrap();
    let edits = (0..6).map(|i| {
        let dir = f.dir.clone();
        let id = a.id.clone();
        tokio::spawn(async move {
            dir.update_account(&id, None, &admin(), move |acc| {
                acc.attributes.insert(format!("k{i}"), i.to_string());
                Ok(())
            })
            .await
        })
    });
    for r in futures::future::join_all(edits).await {
        r.unwrap().unwrap();
    }
    let now = f.dir.account(&a.id).await.unwrap().unwrap();
    assert_eq!(now.attributes.len(), 6);
    assert_eq!(now.version, 7);
    let err = f
        .dir
        .update_account(&a.id, Some(3), &admin(), |acc| {
            acc.title = Some("x".into());
            Ok(())
        })
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::Stale));
}

#[tokio::test]
async fn memberships_index_both_ways_and_audit_keeps_no_password_hash() {
    let f = fixture();
    let root = f.dir.ensure_root().await.unwrap();
    let a = unit(&f, &root.id, "A").await;
    let b = unit(&f, &root.id, "B").await;
    let acc = f
        .dir
        .create_account(
            account("a", None, None, &[a.id.clone(), b.id.clone()]),
            &admin(),
        )
        .await
        .unwrap();
    assert_eq!(
        f.dir.members(&b.id, 10, None).await.unwrap().items,
        [acc.id.clone()]
    );
    f.dir
        .update_account(&acc.id, None, &admin(), |x| {
            x.memberships = normalise_memberships(&[a.id.clone()], None);
            Ok(())
        })
        .await
        .unwrap();
    assert!(
        f.dir
            .members(&b.id, 10, None)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    f.dir
        .set_status(&acc.id, AccountStatus::Disabled, &admin())
        .await
        .unwrap();
    let log = history(f.table.as_ref(), "account", acc.id.as_str(), 10, None)
        .await
        .unwrap();
    assert_eq!(
        log.items
            .iter()
            .map(|e| e.action.as_str())
            .collect::<Vec<_>>(),
        ["update", "update", "create"]
    );
    assert_eq!(log.items[0].new.as_ref().unwrap()["status"], "disabled");
    let text = serde_json::to_string(&log.items).unwrap();
    assert!(
        !text.contains("secret-hash"),
        "the audit log holds the password hash"
    );
    f.dir.delete_account(&acc.id, &admin()).await.unwrap();
    assert!(
        f.dir
            .members(&a.id, 10, None)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(f.dir.find_account("username", "a").await.unwrap().is_none());
}

#[tokio::test]
async fn the_root_is_renamed_and_reordered_but_never_moved() {
    let f = fixture();
    let root = f.dir.ensure_root().await.unwrap();
    let a = unit(&f, &root.id, "A").await;
    let renamed = f
        .dir
        .update_org_unit(
            &root.id,
            Some(root.version),
            Some("示例集团".into()),
            None,
            Some(3),
            &admin(),
        )
        .await
        .unwrap();
    assert_eq!(
        (
            renamed.name.as_str(),
            renamed.order,
            renamed.parent_id,
            renamed.version
        ),
        ("示例集团", 3, None, root.version + 1)
    );
    let err = f
        .dir
        .update_org_unit(&root.id, None, None, Some(a.id.clone()), None, &admin())
        .await
        .unwrap_err();
    let DirectoryError::Invalid(problem) = err else {
        panic!("{err:?}")
    };
    assert_eq!(problem.field, "parent_id");
    assert_eq!(
        f.dir.org_unit(&root.id).await.unwrap().unwrap().parent_id,
        None
    );
}
