//! Failures: transient ones return the message (then it succeeds), permanent ones are parked with
//! their reason and acknowledged, and a batch returns only its failed messages.

use std::collections::BTreeMap;

use dingbridge::domain::directory::{Account, AccountStatus, Origin};
use dingbridge::domain::ids::{AccountId, ConnectorId};
use dingbridge::domain::values::{DisplayName, Username};
use dingbridge::ports::Received;
use dingbridge::store::Actor;
use dingbridge::worker::BatchHandler;
use dingtalk_sim::org::User;
use serde_json::json;

use crate::support::{MAX_RECEIVES, SideOptions, side, sim};

#[tokio::test]
async fn throttling_and_5xx_return_the_message_then_it_succeeds() {
    let sim = sim().await;
    let side = side(&sim, SideOptions::default()).await;
    let a = sim.create_dept("A", 1).await;
    sim.create_user("u1", "One", 1, &[a]).await;
    let message = side.users(&["u1"], "user_add_org");

    for fault in [
        json!({"api": "/topapi/v2/user/get", "errcode": 90018, "count": 2}),
        json!({"api": "/topapi/v2/user/get", "http_status": 503, "count": 2}),
    ] {
        sim.fault(fault).await;
        let first = side.delivery(&message, 1);
        let failed = side.deps.handle(vec![first.clone()]).await;
        assert_eq!(failed, std::slice::from_ref(&first.id));
        assert!(side.parked().await.is_empty(), "not parked while retrying");
        let second = Received {
            receive_count: 2,
            ..first
        };
        assert!(side.deps.handle(vec![second]).await.is_empty());
    }
    assert!(side.account("u1").await.is_some());
}

#[tokio::test]
async fn a_message_still_failing_on_its_last_delivery_is_parked_and_acknowledged() {
    let sim = sim().await;
    let side = side(&sim, SideOptions::default()).await;
    sim.fault(json!({"api": "/topapi/v2/department/get", "errcode": -1, "count": 2}))
        .await;
    let last = side.delivery(&side.depts(&[42], "org_dept_create"), MAX_RECEIVES);
    assert!(side.deps.handle(vec![last]).await.is_empty());
    let parked = side.parked().await;
    assert_eq!(parked.len(), 1);
    assert!(
        parked[0]
            .reason
            .starts_with("still failing after 5 deliveries"),
        "{}",
        parked[0].reason
    );
}

#[tokio::test]
async fn a_user_without_mobile_is_parked_with_a_readable_reason() {
    let sim = sim().await;
    let side = side(&sim, SideOptions::default()).await;
    let a = sim.create_dept("A", 1).await;
    // DingTalk's API refuses such a user; the app may still read one (or lack the permission).
    {
        let corp = &sim.handle.state().corps[0];
        let mut org = corp.org.write().unwrap();
        org.insert_user(User {
            userid: "nomobile".into(),
            unionid: "union-nomobile".into(),
            name: "No Mobile".into(),
            mobile: None,
            email: Some("nomobile@example.com".into()),
            org_email: None,
            title: None,
            job_number: None,
            telephone: None,
            work_place: None,
            remark: None,
            hired_date: None,
            active: true,
            admin: false,
            boss: false,
            senior: false,
            hide_mobile: false,
            dept_id_list: vec![a],
            leader_in_dept: Vec::new(),
            manager_userid: None,
            extension: None,
            avatar: None,
            state_code: "86".into(),
            entry_seq: 1000,
            modified_seq: 1000,
        });
    }
    let failed = side.run(&[side.users(&["nomobile"], "user_add_org")]).await;
    assert!(failed.is_empty());
    let parked = side.parked().await;
    assert_eq!(parked.len(), 1);
    assert!(
        parked[0].reason.contains("nomobile") && parked[0].reason.contains("mobile: is missing"),
        "{}",
        parked[0].reason
    );
    assert!(side.account("nomobile").await.is_none(), "nothing invented");
}

#[tokio::test]
async fn a_username_held_by_an_unlinked_account_is_a_conflict_never_a_merge() {
    let sim = sim().await;
    let side = side(&sim, SideOptions::default()).await;
    let a = sim.create_dept("A", 1).await;
    let local = Account {
        scim: None,
        id: AccountId::generate(),
        username: Username::parse("zhangsan").unwrap(),
        display_name: DisplayName::parse("Someone Else").unwrap(),
        email: None,
        mobile: None,
        job_number: None,
        title: None,
        status: AccountStatus::Enabled,
        memberships: Vec::new(),
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
    sim.create_user("zhangsan", "张三", 1, &[a]).await;

    assert!(
        side.run(&[side.users(&["zhangsan"], "user_add_org")])
            .await
            .is_empty()
    );
    let parked = side.parked().await;
    assert_eq!(parked.len(), 1);
    assert!(
        parked[0].reason.contains("username") && parked[0].reason.contains("not merged"),
        "{}",
        parked[0].reason
    );
    let kept = side.account("zhangsan").await.unwrap();
    assert_eq!(kept.display_name.as_str(), "Someone Else");
}

#[tokio::test]
async fn a_batch_returns_only_its_failed_messages() {
    let sim = sim().await;
    let side = side(&sim, SideOptions::default()).await;
    let a = sim.create_dept("A", 1).await;
    let b = sim.create_dept("B", 1).await;
    sim.create_user("u1", "One", 1, &[a]).await;
    // Only the first two user reads fail: the first user message's two attempts.
    sim.fault(json!({"api": "/topapi/v2/user/get", "errcode": 90018, "count": 2}))
        .await;
    let other = ConnectorId::generate();
    let batch = vec![
        side.delivery(&side.depts(&[a], "org_dept_create"), 1),
        side.delivery(&side.users(&["u1"], "user_add_org"), 1),
        Received {
            id: "garbage".into(),
            receipt: "r".into(),
            group: other.to_string(),
            body: "not json".into(),
            receive_count: 1,
        },
        side.delivery(&side.depts(&[b], "org_dept_create"), 1),
    ];
    let transient = batch[1].id.clone();
    assert_eq!(side.deps.handle(batch).await, [transient]);
    assert!(side.unit_of(a).await.is_some() && side.unit_of(b).await.is_some());
    let parked = side.events.parked(Some(&other), 10, None).await.unwrap();
    assert_eq!(parked.items.len(), 1, "the unreadable message is parked");
    assert!(
        parked.items[0]
            .reason
            .starts_with("unreadable sync message")
    );
}

#[tokio::test]
async fn an_unknown_or_disabled_connector_parks_the_message() {
    let sim = sim().await;
    let side = side(&sim, SideOptions::default()).await;
    let unknown = ConnectorId::generate();
    let message = dingbridge::domain::sync::SyncMessage::Departments {
        connector_id: unknown.clone(),
        dept_ids: vec![dingbridge::dingtalk::DeptId::new(5).unwrap()],
        event_type: "org_dept_create".into(),
        event_key: "k".into(),
    };
    assert!(side.run(&[message]).await.is_empty());
    let parked = side.events.parked(Some(&unknown), 10, None).await.unwrap();
    assert!(parked.items[0].reason.contains("does not exist"));
}
