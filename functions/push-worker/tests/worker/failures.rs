//! Failures: DingTalk throttling and 5xx return the message and change nothing, a refused IP is
//! parked naming it, a push that keeps waiting is left to the sweeper, unreadable and stale
//! messages are acknowledged without being lost or re-applied.

use std::time::Duration;

use dingbridge::domain::sync::{PushEntity, PushMessage};
use dingbridge::ports::{Clock, QueueConsumer, Received, SystemClock};
use dingbridge::store::outbox::OutboxState;
use serde_json::json;

use crate::support::{MAX_RECEIVES, Options, world};

#[tokio::test]
async fn throttling_returns_the_message_and_changes_nothing() {
    let w = world(Options::default()).await;
    let eng = w.unit("Engineering", &w.root, 1).await;
    w.fault(json!({"api": "/topapi/v2/department/create", "errcode": 90018, "count": 10}))
        .await;

    let message = w.change(PushEntity::OrgUnit(eng.clone())).await;
    assert!(!w.deliver(&message).await, "returned for a retry");
    assert!(w.depts().await.is_empty());
    assert_eq!(w.dept_of(&eng).await, None);
    let item = w.outbox_item(&message.entity).await.unwrap();
    assert_eq!(item.state, OutboxState::Pending);

    w.clear_faults().await;
    assert!(w.deliver(&message).await);
    assert_eq!(w.depts().await.len(), 1);
}

#[tokio::test]
async fn a_dingtalk_5xx_returns_the_message_and_changes_nothing() {
    let w = world(Options::default()).await;
    let alice = w.alice(&[&w.root]).await;
    w.fault(json!({"api": "/topapi/v2/user/create", "http_status": 502, "count": 10}))
        .await;

    let message = w.change(PushEntity::Account(alice.clone())).await;
    assert!(!w.deliver(&message).await);
    assert!(w.users().await.is_empty());
    assert_eq!(w.userid_of(&alice).await, None);
    assert_eq!(
        w.outbox_item(&message.entity).await.unwrap().state,
        OutboxState::Pending
    );
}

#[tokio::test]
async fn a_refused_ip_is_parked_naming_the_ip_to_whitelist() {
    let w = world(Options::default()).await;
    let eng = w.unit("Engineering", &w.root, 1).await;
    w.set_ip_whitelist(&["10.9.9.9"]).await;

    let entity = PushEntity::OrgUnit(eng.clone());
    assert!(w.push(entity.clone()).await, "parked, then acknowledged");

    let item = w.outbox_item(&entity).await.unwrap();
    assert_eq!(item.state, OutboxState::Parked);
    assert_eq!(item.code.as_deref(), Some("60020"));
    let reason = item.reason.unwrap();
    assert!(reason.contains("127.0.0.1"), "{reason}");
    assert!(w.depts().await.is_empty());
}

#[tokio::test]
async fn a_push_still_waiting_on_its_last_delivery_is_left_to_the_sweeper() {
    let w = world(Options::default()).await;
    let eng = w.unit("Engineering", &w.root, 1).await;
    let team = w.unit("Team", &eng, 1).await;
    let message = w.change(PushEntity::OrgUnit(team.clone())).await;

    let last = w.delivery(&message, MAX_RECEIVES);
    assert!(push_worker::handle(&w.deps, vec![last]).await.is_empty());
    assert_eq!(
        w.outbox_item(&message.entity).await.unwrap().state,
        OutboxState::Pending,
        "nothing parked, nothing lost"
    );

    let summary = push_worker::sweep(&w.deps, SystemClock.now_millis() + 61_000)
        .await
        .unwrap();
    assert_eq!(summary.resent, 1);
    let resent = w.queue.receive(10, Duration::from_secs(30)).await.unwrap();
    assert_eq!(resent.len(), 1);
    let body: PushMessage = serde_json::from_str(&resent[0].body).unwrap();
    assert_eq!(body, message);
    assert_eq!(resent[0].group, message.group());
}

#[tokio::test]
async fn the_sweeper_leaves_items_younger_than_a_minute_alone() {
    let w = world(Options::default()).await;
    let eng = w.unit("Engineering", &w.root, 1).await;
    w.change(PushEntity::OrgUnit(eng)).await;

    let summary = push_worker::sweep(&w.deps, SystemClock.now_millis())
        .await
        .unwrap();
    assert_eq!(summary.resent, 0);
    assert!(
        w.queue
            .receive(10, Duration::from_secs(30))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn an_unreadable_message_is_parked_where_admins_see_parked_events() {
    let w = world(Options::default()).await;
    let delivery = Received {
        id: "m1".into(),
        receipt: "r1".into(),
        group: format!("{}:account:whatever", w.connector.id),
        body: "{not json".into(),
        receive_count: 1,
    };
    assert!(
        push_worker::handle(&w.deps, vec![delivery])
            .await
            .is_empty()
    );

    let parked = w.parked_events().await;
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].connector_id, w.connector.id);
    assert_eq!(parked[0].body, "{not json");
    assert!(
        parked[0].reason.contains("unreadable push queue message"),
        "{}",
        parked[0].reason
    );
}

#[tokio::test]
async fn a_connector_that_does_not_push_settles_without_calling_dingtalk() {
    let w = world(Options {
        push_enabled: false,
        ..Options::default()
    })
    .await;
    let eng = w.unit("Engineering", &w.root, 1).await;
    w.reset_counters().await;

    w.push_all(&[PushEntity::OrgUnit(eng)]).await;

    assert_eq!(w.calls().await, json!({}));
    assert!(w.depts().await.is_empty());
}

#[tokio::test]
async fn a_message_replaced_by_a_later_change_is_acknowledged_without_calling_dingtalk() {
    let w = world(Options::default()).await;
    let eng = w.unit("Engineering", &w.root, 1).await;
    let first = w.change(PushEntity::OrgUnit(eng.clone())).await;
    let second = w.change(PushEntity::OrgUnit(eng.clone())).await;
    w.reset_counters().await;

    assert!(w.deliver(&first).await);
    assert_eq!(w.calls().await, json!({}));
    assert_eq!(
        w.outbox_item(&first.entity).await.unwrap().version,
        second.version
    );

    assert!(w.deliver(&second).await);
    assert_eq!(w.outbox_item(&first.entity).await, None);
    assert_eq!(w.depts().await.len(), 1);
}

#[tokio::test]
async fn a_disabled_connector_parks_its_pushes_until_an_admin_re_drives_them() {
    let w = world(Options {
        enabled: false,
        ..Options::default()
    })
    .await;
    let eng = w.unit("Engineering", &w.root, 1).await;
    let entity = PushEntity::OrgUnit(eng);

    assert!(w.push(entity.clone()).await);

    let item = w.outbox_item(&entity).await.unwrap();
    assert_eq!(item.state, OutboxState::Parked);
    assert!(item.reason.unwrap().contains("disabled"));
    assert!(w.depts().await.is_empty());
}
