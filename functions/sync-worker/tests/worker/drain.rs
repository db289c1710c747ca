//! The failed-push drain: events DingTalk could not deliver are read from its failed list,
//! enqueued as sync messages, and applied by the worker.

use std::time::Duration;

use dingbridge::domain::sync::SyncMessage;
use dingbridge::ports::QueueConsumer;
use dingbridge::worker::{PumpSettings, settle};
use dingtalk_sim::Registration;

use crate::support::{SideOptions, side, sim};

#[tokio::test]
async fn events_dingtalk_failed_to_push_are_drained_into_the_queue_and_applied() {
    let sim = sim().await;
    let side = side(
        &sim,
        SideOptions {
            register_callback: true,
            ..SideOptions::default()
        },
    )
    .await;
    // A registered callback URL that is down (nothing listens on the discard port).
    *sim.handle.state().corps[0]
        .callbacks
        .registration
        .lock()
        .unwrap() = Some(Registration {
        call_back_tag: vec![
            "user_add_org".into(),
            "org_dept_create".into(),
            "user_leave_org".into(),
        ],
        token: "token123".into(),
        aes_key: "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG".into(),
        url: "http://127.0.0.1:9/dingtalk/callback".into(),
    });
    let dept = sim.create_dept("Ops", 1).await;
    sim.create_user("ops1", "Ops One", 7, &[dept]).await;

    // Pushes fail, are retried at +0.1 s and +0.3 s (scaled), then land in the failed list.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let sizes = sim.callbacks().await["failed_list_sizes"].clone();
        if sizes.as_object().unwrap().values().any(|v| v == 2) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{sizes}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let summary = sync_worker::drain_all(&side.deps).await.unwrap();
    assert!(summary.failures.is_empty(), "{:?}", summary.failures);
    assert_eq!(summary.reports.len(), 1);
    assert_eq!(
        (summary.reports[0].events, summary.reports[0].enqueued),
        (2, 2)
    );
    // Reading cleared the list: a second drain finds nothing.
    let again = sync_worker::drain_failed(&side.deps, &side.connector)
        .await
        .unwrap();
    assert_eq!(again.events, 0);

    let received = side
        .queue
        .receive(10, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(received.len(), 2);
    let kinds: Vec<String> = received
        .iter()
        .map(
            |r| match serde_json::from_str::<SyncMessage>(&r.body).unwrap() {
                SyncMessage::Users { event_type, .. }
                | SyncMessage::Departments { event_type, .. } => event_type,
            },
        )
        .collect();
    assert_eq!(kinds, ["org_dept_create", "user_add_org"]);
    settle(
        side.queue.as_ref(),
        side.deps.as_ref(),
        &PumpSettings::default(),
        received,
    )
    .await;
    assert!(side.account("ops1").await.is_some());
    assert!(side.unit_of(dept).await.is_some());
    assert!(
        side.queue
            .receive(10, Duration::from_secs(1))
            .await
            .unwrap()
            .is_empty()
    );
}
