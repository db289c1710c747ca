//! Disabled, deleted and moved-out accounts follow the connector's delete policy: deleted in
//! DingTalk and unmapped, moved to the holding department, or kept.

use dingbridge::domain::connector::PushDeletePolicy;
use dingbridge::domain::directory::{AccountStatus, Origin};
use dingbridge::domain::ids::AccountId;
use dingbridge::domain::sync::PushEntity;
use dingbridge::store::Actor;
use dingbridge::store::directory::Directory;

use crate::support::{Options, World, dept_list, world};

async fn pushed_alice(w: &World) -> (AccountId, String) {
    let alice = w.alice(&[&w.root]).await;
    w.push_all(&[PushEntity::Account(alice.clone())]).await;
    let userid = w.userid_of(&alice).await.unwrap();
    (alice, userid)
}

#[tokio::test]
async fn a_disabled_account_is_deleted_in_dingtalk_under_the_delete_policy() {
    let w = world(Options::default()).await;
    let (alice, userid) = pushed_alice(&w).await;
    w.edit_account(&alice, |a| a.status = AccountStatus::Disabled)
        .await;

    w.push_all(&[PushEntity::Account(alice.clone())]).await;

    assert_eq!(w.user(&userid).await, None);
    assert_eq!(w.userid_of(&alice).await, None);
}

#[tokio::test]
async fn a_deleted_account_is_deleted_in_dingtalk_and_a_user_already_gone_is_no_error() {
    let w = world(Options::default()).await;
    let (alice, userid) = pushed_alice(&w).await;
    w.directory
        .delete_account(&alice, &Actor::new(Origin::Admin, "t"))
        .await
        .unwrap();
    reqwest::Client::new()
        .delete(format!("{}/_sim/users/{userid}", w.base))
        .send()
        .await
        .unwrap();

    w.push_all(&[PushEntity::Account(alice.clone())]).await;

    assert_eq!(w.userid_of(&alice).await, None);
}

#[tokio::test]
async fn an_account_moved_out_of_the_subtree_is_retired_too() {
    let w = world(Options::default()).await;
    let (alice, userid) = pushed_alice(&w).await;
    let elsewhere = w.unit("Elsewhere", &Directory::root_id(), 1).await;
    w.edit_account(&alice, move |a| {
        a.memberships = vec![dingbridge::domain::directory::Membership {
            org_unit_id: elsewhere.clone(),
            primary: true,
        }];
    })
    .await;

    w.push_all(&[PushEntity::Account(alice.clone())]).await;

    assert_eq!(w.user(&userid).await, None);
}

#[tokio::test]
async fn a_deleted_account_is_left_in_dingtalk_under_the_keep_policy() {
    let w = world(Options {
        delete_policy: PushDeletePolicy::Keep,
        ..Options::default()
    })
    .await;
    let (alice, userid) = pushed_alice(&w).await;
    w.directory
        .delete_account(&alice, &Actor::new(Origin::Admin, "t"))
        .await
        .unwrap();

    w.reset_counters().await;
    w.push_all(&[PushEntity::Account(alice.clone())]).await;

    assert!(w.user(&userid).await.is_some());
    assert_eq!(w.writes().await, 0);
}

#[tokio::test]
async fn a_disabled_account_moves_to_the_holding_department_and_back_when_enabled() {
    let w = world(Options {
        delete_policy: PushDeletePolicy::Move,
        holding_dept: true,
        ..Options::default()
    })
    .await;
    let holding = w.holding.unwrap();
    let (alice, userid) = pushed_alice(&w).await;
    w.edit_account(&alice, |a| a.status = AccountStatus::Disabled)
        .await;

    w.push_all(&[PushEntity::Account(alice.clone())]).await;
    assert_eq!(dept_list(&w.user(&userid).await.unwrap()), [holding]);
    assert_eq!(
        w.userid_of(&alice).await,
        Some(userid.clone()),
        "still linked"
    );

    w.edit_account(&alice, |a| a.status = AccountStatus::Enabled)
        .await;
    w.push_all(&[PushEntity::Account(alice.clone())]).await;
    assert_eq!(dept_list(&w.user(&userid).await.unwrap()), [1]);
}
