//! The outbox sweeper against a real FIFO queue: a push acknowledged on its last delivery (it
//! still had to wait) stays pending, and the sweeper's re-send must reach the queue even though
//! the first message of that change went through it less than the five-minute deduplication
//! interval ago.

use std::sync::Arc;
use std::time::Duration;

use dingbridge::adapters::embedded::EmbeddedStore;
use dingbridge::dingtalk::{ClientConfig, HttpDingTalk};
use dingbridge::domain::ids::{AccountId, ConnectorId};
use dingbridge::domain::sync::{PushEntity, PushMessage};
use dingbridge::ports::{Clock, Queue, QueueConsumer, SystemClock, Table};
use dingbridge::secrets::SecretBox;
use dingbridge::store::outbox::{Outbox, push_out_message};

#[tokio::test]
async fn the_sweeper_resends_a_push_acknowledged_on_its_last_delivery_within_the_dedup_interval() {
    let dir = tempfile::tempdir().unwrap();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let table: Arc<dyn Table> = Arc::new(store.table(clock.clone()));
    let queue = Arc::new(store.queue("push", Default::default(), clock.clone()));
    let deps = push_worker::Deps::new(
        table.clone(),
        queue.clone(),
        Arc::new(HttpDingTalk::new(ClientConfig::default()).unwrap()),
        clock.clone(),
        SecretBox::from_base64(&SecretBox::generate_key()).unwrap(),
        push_worker::Settings::default(),
    );

    // A change's transaction writes the outbox item, then its message is queued…
    let message = PushMessage {
        connector_id: ConnectorId::generate(),
        entity: PushEntity::Account(AccountId::generate()),
        version: 1,
    };
    let outbox = Outbox::new(table.clone(), clock.clone());
    table
        .transact(vec![outbox.put_op(&message).unwrap()])
        .await
        .unwrap();
    queue
        .send(push_out_message(&message).unwrap())
        .await
        .unwrap();
    // …and acknowledged on its last delivery while it still had to wait: the item stays pending.
    let delivered = queue.receive(10, Duration::from_secs(30)).await.unwrap();
    assert_eq!(delivered.len(), 1);
    queue.ack(&delivered[0].receipt).await.unwrap();

    // A minute later the sweeper re-sends it, and the worker must get it.
    let later = clock.now_millis() + push_worker::SWEEP_AGE_MS + 1;
    let summary = push_worker::sweep(&deps, later).await.unwrap();
    assert_eq!(summary.resent, 1);
    let resent = queue.receive(10, Duration::from_secs(30)).await.unwrap();
    assert_eq!(
        resent.len(),
        1,
        "the re-sent push was dropped as a duplicate of the first message"
    );
    let body: PushMessage = serde_json::from_str(&resent[0].body).unwrap();
    assert_eq!(body, message);
}
