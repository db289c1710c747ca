//! Org units become DingTalk departments under the mapped parent, follow renames and moves, wait
//! for a parent not pushed yet, and are deleted with their mapping.

use dingbridge::domain::sync::PushEntity;
use dingbridge::store::mappings::MappedKind;

use crate::support::{Options, world};

#[tokio::test]
async fn a_three_level_subtree_appears_under_the_push_parent_with_its_mappings() {
    let w = world(Options::default()).await;
    let eng = w.unit("Engineering", &w.root, 10).await;
    let platform = w.unit("Platform", &eng, 20).await;
    let storage = w.unit("Storage", &platform, 30).await;
    let sales = w.unit("Sales", &w.root, 40).await;
    w.push_all(&[
        PushEntity::OrgUnit(eng.clone()),
        PushEntity::OrgUnit(platform.clone()),
        PushEntity::OrgUnit(storage.clone()),
        PushEntity::OrgUnit(sales.clone()),
    ])
    .await;

    let expected = [
        (&eng, "Engineering", None, 10),
        (&platform, "Platform", Some(&eng), 20),
        (&storage, "Storage", Some(&platform), 30),
        (&sales, "Sales", None, 40),
    ];
    for (unit, name, parent, order) in expected {
        let dept = w.dept_of(unit).await.expect("mapped");
        let d = w.dept(dept).await.expect("in DingTalk");
        let parent_dept = match parent {
            Some(p) => w.dept_of(p).await.unwrap(),
            None => 1,
        };
        assert_eq!(d["name"], name);
        assert_eq!(d["parent_id"], parent_dept, "{name}");
        assert_eq!(d["order"], order, "{name}");
        assert_eq!(d["source_identifier"], unit.to_string(), "{name}");
    }
    assert_eq!(w.depts().await.len(), 4, "the push root is not created");
}

#[tokio::test]
async fn a_second_push_of_unchanged_units_writes_nothing() {
    let w = world(Options::default()).await;
    let eng = w.unit("Engineering", &w.root, 1).await;
    let platform = w.unit("Platform", &eng, 1).await;
    let units = [PushEntity::OrgUnit(eng), PushEntity::OrgUnit(platform)];
    w.push_all(&units).await;
    let before = w.depts().await;

    w.reset_counters().await;
    w.push_all(&units).await;
    w.push_all(&[PushEntity::OrgUnit(w.root.clone())]).await;

    assert_eq!(w.writes().await, 0, "{}", w.calls().await);
    assert_eq!(w.depts().await, before);
}

#[tokio::test]
async fn a_rename_a_move_and_a_new_order_follow_the_directory() {
    let w = world(Options::default()).await;
    let eng = w.unit("Engineering", &w.root, 1).await;
    let sales = w.unit("Sales", &w.root, 2).await;
    let team = w.unit("Team", &eng, 1).await;
    w.push_all(&[
        PushEntity::OrgUnit(eng.clone()),
        PushEntity::OrgUnit(sales.clone()),
        PushEntity::OrgUnit(team.clone()),
    ])
    .await;
    let team_dept = w.dept_of(&team).await.unwrap();

    w.directory
        .update_org_unit(
            &team,
            None,
            Some("Key Accounts".into()),
            Some(sales.clone()),
            Some(7),
            &dingbridge::store::Actor::new(dingbridge::domain::directory::Origin::Admin, "t"),
        )
        .await
        .unwrap();
    w.reset_counters().await;
    w.push_all(&[PushEntity::OrgUnit(team.clone())]).await;

    let d = w.dept(team_dept).await.unwrap();
    assert_eq!(d["name"], "Key Accounts");
    assert_eq!(d["parent_id"], w.dept_of(&sales).await.unwrap());
    assert_eq!(d["order"], 7);
    assert_eq!(
        w.dept_of(&team).await,
        Some(team_dept),
        "same department, moved"
    );
    let calls = w.calls().await;
    assert_eq!(calls["/topapi/v2/department/update"]["calls"], 1, "{calls}");
    assert!(
        calls.get("/topapi/v2/department/create").is_none(),
        "{calls}"
    );
}

#[tokio::test]
async fn a_child_waits_for_its_parent_and_goes_through_after_it() {
    let w = world(Options::default()).await;
    let eng = w.unit("Engineering", &w.root, 1).await;
    let team = w.unit("Team", &eng, 1).await;

    let child = w.change(PushEntity::OrgUnit(team.clone())).await;
    assert!(
        !w.deliver(&child).await,
        "the child is returned for a retry"
    );
    assert!(w.depts().await.is_empty());
    assert!(
        w.outbox_item(&PushEntity::OrgUnit(team.clone()))
            .await
            .is_some()
    );

    w.push_all(&[PushEntity::OrgUnit(eng.clone())]).await;
    assert!(w.deliver(&child).await, "the retry goes through");
    assert_eq!(
        w.outbox_item(&PushEntity::OrgUnit(team.clone())).await,
        None
    );
    let d = w.dept(w.dept_of(&team).await.unwrap()).await.unwrap();
    assert_eq!(d["parent_id"], w.dept_of(&eng).await.unwrap());
}

#[tokio::test]
async fn a_deleted_unit_is_deleted_in_dingtalk_and_unmapped() {
    let w = world(Options::default()).await;
    let eng = w.unit("Engineering", &w.root, 1).await;
    let team = w.unit("Team", &eng, 1).await;
    w.push_all(&[
        PushEntity::OrgUnit(eng.clone()),
        PushEntity::OrgUnit(team.clone()),
    ])
    .await;
    let (eng_dept, team_dept) = (
        w.dept_of(&eng).await.unwrap(),
        w.dept_of(&team).await.unwrap(),
    );
    let actor = dingbridge::store::Actor::new(dingbridge::domain::directory::Origin::Admin, "t");
    w.directory.delete_org_unit(&team, &actor).await.unwrap();
    w.directory.delete_org_unit(&eng, &actor).await.unwrap();

    // The parent first: DingTalk refuses while it has a sub-department (60006), so it waits.
    let parent = w.change(PushEntity::OrgUnit(eng.clone())).await;
    assert!(!w.deliver(&parent).await);
    assert!(w.dept(eng_dept).await.is_some());

    w.push_all(&[PushEntity::OrgUnit(team.clone())]).await;
    assert!(w.deliver(&parent).await);
    assert_eq!(w.dept(team_dept).await, None);
    assert_eq!(w.dept(eng_dept).await, None);
    assert_eq!(w.dept_of(&team).await, None);
    assert_eq!(w.dept_of(&eng).await, None);
}

#[tokio::test]
async fn a_department_deleted_in_dingtalk_before_our_delete_counts_as_deleted() {
    let w = world(Options::default()).await;
    let eng = w.unit("Engineering", &w.root, 1).await;
    w.push_all(&[PushEntity::OrgUnit(eng.clone())]).await;
    let dept = w.dept_of(&eng).await.unwrap();
    w.fault(serde_json::json!({
        "api": "/topapi/v2/department/delete", "errcode": 60003, "count": 1
    }))
    .await;
    let actor = dingbridge::store::Actor::new(dingbridge::domain::directory::Origin::Admin, "t");
    w.directory.delete_org_unit(&eng, &actor).await.unwrap();

    w.push_all(&[PushEntity::OrgUnit(eng.clone())]).await;
    assert_eq!(w.dept_of(&eng).await, None, "unmapped");
    assert!(
        w.dept(dept).await.is_some(),
        "the injected 60003 stood for the delete"
    );
}

#[tokio::test]
async fn a_create_whose_mapping_write_was_lost_finds_its_department_instead_of_duplicating_it() {
    let w = world(Options::default()).await;
    let eng = w.unit("Engineering", &w.root, 1).await;
    w.push_all(&[PushEntity::OrgUnit(eng.clone())]).await;
    let dept = w.dept_of(&eng).await.unwrap();
    w.unmap(MappedKind::Dept, &dept.to_string()).await;

    w.reset_counters().await;
    w.push_all(&[PushEntity::OrgUnit(eng.clone())]).await;

    assert_eq!(w.dept_of(&eng).await, Some(dept));
    assert_eq!(w.depts().await.len(), 1);
    let calls = w.calls().await;
    assert!(
        calls.get("/topapi/v2/department/create").is_none(),
        "{calls}"
    );
}

#[tokio::test]
async fn a_department_deleted_in_dingtalk_behind_our_back_is_created_again() {
    let w = world(Options::default()).await;
    let eng = w.unit("Engineering", &w.root, 1).await;
    w.push_all(&[PushEntity::OrgUnit(eng.clone())]).await;
    let old = w.dept_of(&eng).await.unwrap();
    reqwest::Client::new()
        .delete(format!("{}/_sim/depts/{old}", w.base))
        .send()
        .await
        .unwrap();

    w.push_all(&[PushEntity::OrgUnit(eng.clone())]).await;

    let new = w.dept_of(&eng).await.unwrap();
    assert_ne!(new, old);
    assert_eq!(w.dept(new).await.unwrap()["name"], "Engineering");
}

#[tokio::test]
async fn a_unit_outside_the_push_subtree_is_not_pushed() {
    let w = world(Options::default()).await;
    let elsewhere = w
        .unit(
            "Elsewhere",
            &dingbridge::store::directory::Directory::root_id(),
            1,
        )
        .await;
    w.push_all(&[PushEntity::OrgUnit(elsewhere.clone())]).await;
    assert!(w.depts().await.is_empty());
    assert_eq!(w.dept_of(&elsewhere).await, None);
}
