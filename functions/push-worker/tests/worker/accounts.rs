//! Accounts become DingTalk users in their units' departments, follow changes without touching
//! the mobile, wait for a mobile and for their units, and meet users already in the corp per the
//! connector's link mode.

use dingbridge::domain::connector::{EmailField, LinkMode};
use dingbridge::domain::sync::PushEntity;
use dingbridge::domain::values::{DisplayName, Mobile};
use dingbridge::store::mappings::MappedKind;

use crate::support::{NewAccount, Options, World, dept_list, world};

/// Engineering (with Platform below it) and Sales, pushed.
async fn units(w: &World) -> [dingbridge::domain::ids::OrgUnitId; 3] {
    let eng = w.unit("Engineering", &w.root, 1).await;
    let platform = w.unit("Platform", &eng, 1).await;
    let sales = w.unit("Sales", &w.root, 2).await;
    w.push_all(&[
        PushEntity::OrgUnit(eng.clone()),
        PushEntity::OrgUnit(platform.clone()),
        PushEntity::OrgUnit(sales.clone()),
    ])
    .await;
    [eng, platform, sales]
}

#[tokio::test]
async fn accounts_appear_with_their_fields_departments_and_mappings() {
    let w = world(Options::default()).await;
    let [eng, platform, sales] = units(&w).await;
    let alice = w
        .account(NewAccount {
            username: "alice",
            name: "Alice Wang",
            mobile: Some("13800000001"),
            units: vec![&platform, &sales],
        })
        .await;
    let bob = w
        .account(NewAccount {
            username: "bob",
            name: "Bob Li",
            mobile: Some("+852-91234567"),
            units: vec![&w.root],
        })
        .await;
    w.push_all(&[
        PushEntity::Account(alice.clone()),
        PushEntity::Account(bob.clone()),
    ])
    .await;

    let alice_id = w.userid_of(&alice).await.expect("mapped");
    assert_eq!(
        Some(alice_id.clone()),
        push_worker::userid_for(&alice).map(|u| u.to_string())
    );
    let a = w.user(&alice_id).await.expect("in DingTalk");
    assert_eq!(a["name"], "Alice Wang");
    assert_eq!(a["mobile"], "13800000001");
    assert_eq!(a["email"], "alice@example.com");
    assert_eq!(a["job_number"], "J-alice");
    assert_eq!(a["title"], "engineer");
    let mut want = vec![
        w.dept_of(&platform).await.unwrap(),
        w.dept_of(&sales).await.unwrap(),
    ];
    want.sort_unstable();
    assert_eq!(dept_list(&a), want);
    assert!(!dept_list(&a).contains(&w.dept_of(&eng).await.unwrap()));

    let b = w.user(&w.userid_of(&bob).await.unwrap()).await.unwrap();
    assert_eq!(b["mobile"], "+852-91234567");
    assert_eq!(dept_list(&b), [1], "the push root stands for department 1");
}

#[tokio::test]
async fn the_email_goes_to_org_email_when_the_connector_says_so() {
    let w = world(Options {
        email_field: EmailField::OrgEmail,
        ..Options::default()
    })
    .await;
    let alice = w.alice(&[&w.root]).await;
    w.push_all(&[PushEntity::Account(alice.clone())]).await;
    let a = w.user(&w.userid_of(&alice).await.unwrap()).await.unwrap();
    assert_eq!(a["org_email"], "alice@example.com");
    assert!(a["email"].is_null(), "{a}");
}

#[tokio::test]
async fn a_second_push_of_an_unchanged_account_writes_nothing() {
    let w = world(Options::default()).await;
    let [_, platform, sales] = units(&w).await;
    let alice = w.alice(&[&platform, &sales]).await;
    w.push_all(&[PushEntity::Account(alice.clone())]).await;
    let before = w.users().await;

    w.reset_counters().await;
    w.push_all(&[PushEntity::Account(alice.clone())]).await;

    assert_eq!(w.writes().await, 0, "{}", w.calls().await);
    assert_eq!(w.users().await, before);
}

#[tokio::test]
async fn a_rename_and_a_membership_change_follow_the_directory() {
    let w = world(Options::default()).await;
    let [eng, platform, sales] = units(&w).await;
    let alice = w.alice(&[&platform, &sales]).await;
    w.push_all(&[PushEntity::Account(alice.clone())]).await;

    let eng2 = eng.clone();
    w.edit_account(&alice, move |a| {
        a.display_name = DisplayName::parse("Alice Zhang").unwrap();
        a.title = None;
        a.memberships.retain(|m| m.org_unit_id != platform);
        a.memberships
            .push(dingbridge::domain::directory::Membership {
                org_unit_id: eng2.clone(),
                primary: false,
            });
    })
    .await;
    w.push_all(&[PushEntity::Account(alice.clone())]).await;

    let a = w.user(&w.userid_of(&alice).await.unwrap()).await.unwrap();
    assert_eq!(a["name"], "Alice Zhang");
    assert!(a["title"].is_null(), "cleared: {a}");
    let mut want = vec![
        w.dept_of(&sales).await.unwrap(),
        w.dept_of(&eng).await.unwrap(),
    ];
    want.sort_unstable();
    assert_eq!(dept_list(&a), want);
    assert_eq!(w.users().await.len(), 1);
}

#[tokio::test]
async fn an_account_without_a_mobile_is_parked_then_pushed_once_it_has_one() {
    let w = world(Options::default()).await;
    let alice = w
        .account(NewAccount {
            username: "alice",
            name: "Alice",
            mobile: None,
            units: vec![&w.root],
        })
        .await;
    let entity = PushEntity::Account(alice.clone());
    assert!(w.push(entity.clone()).await, "parked, then acknowledged");
    let item = w.outbox_item(&entity).await.expect("parked item");
    assert_eq!(
        item.reason.as_deref(),
        Some("DingTalk requires a mobile number: add one to push this account")
    );
    assert!(w.users().await.is_empty());

    w.edit_account(&alice, |a| {
        a.mobile = Some(Mobile::parse("13800000009").unwrap())
    })
    .await;
    w.push_all(&[entity]).await;
    let a = w.user(&w.userid_of(&alice).await.unwrap()).await.unwrap();
    assert_eq!(a["mobile"], "13800000009");
}

#[tokio::test]
async fn an_account_waits_for_its_unit_to_be_pushed() {
    let w = world(Options::default()).await;
    let eng = w.unit("Engineering", &w.root, 1).await;
    let alice = w.alice(&[&eng]).await;
    let message = w.change(PushEntity::Account(alice.clone())).await;
    assert!(!w.deliver(&message).await, "returned for a retry");
    assert!(w.users().await.is_empty());

    w.push_all(&[PushEntity::OrgUnit(eng.clone())]).await;
    assert!(w.deliver(&message).await);
    let a = w.user(&w.userid_of(&alice).await.unwrap()).await.unwrap();
    assert_eq!(dept_list(&a), [w.dept_of(&eng).await.unwrap()]);
}

#[tokio::test]
async fn a_mobile_already_in_the_corp_is_linked_at_once_in_mapping_mode() {
    let w = world(Options::default()).await;
    let [_, platform, _] = units(&w).await;
    let outside = serde_json::json!({"name": "Outside", "parent_id": 1});
    let other = reqwest::Client::new()
        .post(format!("{}/_sim/depts", w.base))
        .json(&outside)
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap()["dept_id"]
        .as_i64()
        .unwrap();
    w.dingtalk_user("zhangsan", "13800000001", &[other]).await;
    let alice = w.alice(&[&platform]).await;
    w.push_all(&[PushEntity::Account(alice.clone())]).await;

    assert_eq!(w.userid_of(&alice).await.as_deref(), Some("zhangsan"));
    assert_eq!(w.users().await.len(), 1, "no second user");
    let u = w.user("zhangsan").await.unwrap();
    assert_eq!(u["name"], "Alice", "updated after linking");
    let mut want = vec![w.dept_of(&platform).await.unwrap(), other];
    want.sort_unstable();
    assert_eq!(dept_list(&u), want, "departments outside the push are kept");
}

#[tokio::test]
async fn a_mobile_already_in_the_corp_waits_for_an_admin_in_association_mode() {
    let w = world(Options {
        link_mode: LinkMode::Association,
        ..Options::default()
    })
    .await;
    w.dingtalk_user("zhangsan", "13800000001", &[1]).await;
    let alice = w.alice(&[&w.root]).await;
    let entity = PushEntity::Account(alice.clone());
    assert!(w.push(entity.clone()).await);

    let item = w.outbox_item(&entity).await.expect("parked");
    let reason = item.reason.unwrap();
    assert!(
        reason.starts_with("waiting for an admin to approve linking to DingTalk user zhangsan"),
        "{reason}"
    );
    assert_eq!(item.code.as_deref(), Some("60104"));
    assert_eq!(w.userid_of(&alice).await, None);
    assert_eq!(w.user("zhangsan").await.unwrap()["name"], "Existing");
}

#[tokio::test]
async fn a_create_whose_mapping_write_was_lost_converges_without_a_second_user() {
    let w = world(Options::default()).await;
    let alice = w.alice(&[&w.root]).await;
    w.push_all(&[PushEntity::Account(alice.clone())]).await;
    let userid = w.userid_of(&alice).await.unwrap();
    w.unmap(MappedKind::User, &userid).await;
    w.edit_account(&alice, |a| a.title = Some("lead".into()))
        .await;

    w.push_all(&[PushEntity::Account(alice.clone())]).await;

    assert_eq!(w.userid_of(&alice).await, Some(userid.clone()));
    assert_eq!(w.users().await.len(), 1);
    assert_eq!(w.user(&userid).await.unwrap()["title"], "lead");
}

#[tokio::test]
async fn a_changed_mobile_is_parked_with_the_admins_choices_and_never_sent() {
    let w = world(Options::default()).await;
    let alice = w.alice(&[&w.root]).await;
    let entity = PushEntity::Account(alice.clone());
    w.push_all(std::slice::from_ref(&entity)).await;
    w.edit_account(&alice, |a| {
        a.mobile = Some(Mobile::parse("13900000002").unwrap());
        a.display_name = DisplayName::parse("Alice Zhang").unwrap();
    })
    .await;

    w.reset_counters().await;
    assert!(w.push(entity.clone()).await);

    let item = w.outbox_item(&entity).await.expect("parked");
    assert_eq!(item.code.as_deref(), Some("41054"));
    let reason = item.reason.unwrap();
    assert!(reason.contains("delete the user in DingTalk"), "{reason}");
    assert!(reason.contains("set the account's mobile back"), "{reason}");
    let u = w.user(&w.userid_of(&alice).await.unwrap()).await.unwrap();
    assert_eq!(u["mobile"], "13800000001");
    assert_eq!(u["name"], "Alice Zhang", "the other fields still follow");
}

#[tokio::test]
async fn a_user_deleted_in_dingtalk_is_created_again_with_the_new_mobile() {
    let w = world(Options::default()).await;
    let alice = w.alice(&[&w.root]).await;
    w.push_all(&[PushEntity::Account(alice.clone())]).await;
    let userid = w.userid_of(&alice).await.unwrap();
    w.edit_account(&alice, |a| {
        a.mobile = Some(Mobile::parse("13900000002").unwrap())
    })
    .await;
    // The admin's first choice: delete the DingTalk user, then re-drive.
    reqwest::Client::new()
        .delete(format!("{}/_sim/users/{userid}", w.base))
        .send()
        .await
        .unwrap();

    w.push_all(&[PushEntity::Account(alice.clone())]).await;

    let u = w.user(&w.userid_of(&alice).await.unwrap()).await.unwrap();
    assert_eq!(u["mobile"], "13900000002");
    assert_eq!(w.users().await.len(), 1);
}

#[tokio::test]
async fn the_connectors_extension_keys_are_pushed_and_other_keys_left_alone() {
    let w = world(Options {
        extension_keys: vec!["cost_center".into(), "site".into()],
        ..Options::default()
    })
    .await;
    let alice = w.alice(&[&w.root]).await;
    w.edit_account(&alice, |a| {
        a.attributes.insert("cost_center".into(), "R&D".into());
        a.attributes.insert("private".into(), "not pushed".into());
    })
    .await;
    w.push_all(&[PushEntity::Account(alice.clone())]).await;
    let userid = w.userid_of(&alice).await.unwrap();
    let extension = |u: serde_json::Value| -> serde_json::Value {
        serde_json::from_str(u["extension"].as_str().unwrap()).unwrap()
    };
    assert_eq!(
        extension(w.user(&userid).await.unwrap()),
        serde_json::json!({"cost_center": "R&D"})
    );

    // A key set in DingTalk's console, which the connector does not push.
    reqwest::Client::new()
        .patch(format!("{}/_sim/users/{userid}", w.base))
        .json(&serde_json::json!({"extension": {"cost_center": "R&D", "hobby": "go"}}))
        .send()
        .await
        .unwrap();
    w.edit_account(&alice, |a| {
        a.attributes.insert("cost_center".into(), "Ops".into());
        a.attributes.insert("site".into(), "Hangzhou".into());
    })
    .await;
    w.push_all(&[PushEntity::Account(alice.clone())]).await;
    assert_eq!(
        extension(w.user(&userid).await.unwrap()),
        serde_json::json!({"cost_center": "Ops", "hobby": "go", "site": "Hangzhou"})
    );

    w.reset_counters().await;
    w.push_all(&[PushEntity::Account(alice.clone())]).await;
    assert_eq!(w.writes().await, 0);
}

#[tokio::test]
async fn a_lost_mapping_reported_as_a_taken_mobile_relinks_our_own_user_without_approval() {
    let w = world(Options {
        link_mode: LinkMode::Association,
        ..Options::default()
    })
    .await;
    let alice = w.alice(&[&w.root]).await;
    w.push_all(&[PushEntity::Account(alice.clone())]).await;
    let userid = w.userid_of(&alice).await.unwrap();
    w.unmap(MappedKind::User, &userid).await;
    // DingTalk may check the mobile before the userid.
    w.fault(serde_json::json!({"api": "/topapi/v2/user/create", "errcode": 60104, "count": 1}))
        .await;

    w.push_all(&[PushEntity::Account(alice.clone())]).await;

    assert_eq!(w.userid_of(&alice).await, Some(userid));
    assert_eq!(w.users().await.len(), 1);
}
