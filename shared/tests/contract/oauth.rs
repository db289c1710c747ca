//! SCIM clients, the signing key and the failure counters on every engine: client listing by
//! the `OCLIS` index, versioned writes, one signing key however many make it at once, and
//! counters that block and expire.

use std::sync::Arc;

use dingbridge::domain::directory::Origin;
use dingbridge::ports::{Clock, SystemClock, Table};
use dingbridge::secrets::SecretBox;
use dingbridge::signing::{SigningKeys, Verifier};
use dingbridge::store::scim_clients::{NewScimClient, ScimClientChange, ScimClients};
use dingbridge::store::throttle::{Subject, Throttle, ThrottleSettings};
use dingbridge::store::{Actor, DirectoryError};

fn clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

fn new_client(name: &str) -> NewScimClient {
    NewScimClient {
        name: name.into(),
        connector_id: None,
        root_org_unit_id: None,
        token_lifetime_s: 3600,
        allow_basic: false,
    }
}

pub async fn scim_clients_are_listed_read_and_written_by_version(t: Arc<dyn Table>) {
    let clients = ScimClients::new(t.clone(), clock());
    let actor = Actor::new(Origin::Admin, "contract");
    let mut made = Vec::new();
    for name in ["a", "b", "c"] {
        made.push(clients.create(new_client(name), &actor).await.unwrap().0);
    }
    let first = clients.list(2, None).await.unwrap();
    assert_eq!(first.items.len(), 2);
    let rest = clients.list(2, first.next.clone()).await.unwrap();
    let mut listed: Vec<String> = first
        .items
        .iter()
        .chain(&rest.items)
        .map(|c| c.client_id.clone())
        .collect();
    let mut expected: Vec<String> = made.iter().map(|c| c.client_id.clone()).collect();
    expected.sort();
    assert_eq!(listed, expected, "client-id order, each once");
    listed.dedup();
    assert_eq!(listed.len(), 3);

    let got = clients.get(&made[0].id).await.unwrap().unwrap();
    assert_eq!(got, made[0]);
    assert_eq!(got.version, 1);
    let changed = clients
        .update(
            &got,
            ScimClientChange {
                name: Some("renamed".into()),
                ..ScimClientChange::default()
            },
            &actor,
        )
        .await
        .unwrap();
    assert_eq!(changed.version, 2);
    // A write from the version read before is stale.
    let stale = clients
        .update(&got, ScimClientChange::default(), &actor)
        .await;
    assert!(matches!(stale, Err(DirectoryError::Stale)), "{stale:?}");
    let stale = clients.delete(&got, &actor).await;
    assert!(matches!(stale, Err(DirectoryError::Stale)), "{stale:?}");

    clients.delete(&changed, &actor).await.unwrap();
    assert_eq!(clients.get(&made[0].id).await.unwrap(), None);
    assert_eq!(clients.list(10, None).await.unwrap().items.len(), 2);
}

pub async fn one_signing_key_however_many_make_it_at_once(t: Arc<dyn Table>) {
    let data_key = SecretBox::from_base64(&SecretBox::generate_key()).unwrap();
    let makers: Vec<SigningKeys> = (0..3)
        .map(|_| SigningKeys::new(t.clone(), clock(), data_key.clone()))
        .collect();
    let kids = futures::future::join_all(
        makers
            .iter()
            .map(|m| async { m.get_or_create().await.unwrap().kid().to_owned() }),
    )
    .await;
    assert!(kids.iter().all(|k| k == &kids[0]), "{kids:?}");
    let jwks = Verifier::new(t).jwks().await.unwrap();
    assert_eq!(jwks.keys.len(), 1);
    assert_eq!(
        jwks.keys[0].common.key_id.as_deref(),
        Some(kids[0].as_str())
    );
}

/// A clock the case moves by hand.
struct SetClock(std::sync::atomic::AtomicI64);

impl Clock for SetClock {
    fn now_millis(&self) -> i64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

pub async fn a_rotation_is_promoted_once_however_many_sign_at_its_time(t: Arc<dyn Table>) {
    let data_key = SecretBox::from_base64(&SecretBox::generate_key()).unwrap();
    let set = Arc::new(SetClock(SystemClock.now_millis().into()));
    let clock: Arc<dyn Clock> = set.clone();
    let first = SigningKeys::new(t.clone(), clock.clone(), data_key.clone());
    let old = first.get_or_create().await.unwrap().kid().to_owned();
    let next = first.rotate().await.unwrap();
    set.0.fetch_add(
        dingbridge::signing::PUBLISH_LEAD_MS,
        std::sync::atomic::Ordering::SeqCst,
    );
    let signers: Vec<SigningKeys> = (0..3)
        .map(|_| SigningKeys::new(t.clone(), clock.clone(), data_key.clone()))
        .collect();
    let kids = futures::future::join_all(
        signers
            .iter()
            .map(|m| async { m.get_or_create().await.unwrap().kid().to_owned() }),
    )
    .await;
    assert!(kids.iter().all(|k| k == &next.kid), "{kids:?}");
    let jwks = Verifier::with_clock(t, clock).jwks().await.unwrap();
    let mut published: Vec<String> = jwks
        .keys
        .iter()
        .filter_map(|k| k.common.key_id.clone())
        .collect();
    published.sort();
    let mut expected = vec![old, next.kid];
    expected.sort();
    assert_eq!(published, expected, "the new key and the retired one");
}

pub async fn failure_counters_block_at_their_limit(t: Arc<dyn Table>) {
    let throttle = Throttle::new(
        t,
        clock(),
        ThrottleSettings {
            per_client: 2,
            per_source: 3,
            window_s: 600,
        },
    );
    let client = [Subject::Client("dbscim_x")];
    let source = [Subject::Source("192.0.2.1")];
    assert_eq!(throttle.blocked(&client).await.unwrap(), None);
    throttle.failed(&client).await.unwrap();
    assert_eq!(throttle.blocked(&client).await.unwrap(), None);
    throttle.failed(&client).await.unwrap();
    let wait = throttle.blocked(&client).await.unwrap().unwrap();
    assert!((590..=600).contains(&wait), "{wait}");
    assert_eq!(throttle.blocked(&source).await.unwrap(), None, "apart");
    // Concurrent failures are all counted (a lost race is retried).
    let (a, b, c) = tokio::join!(
        throttle.failed(&source),
        throttle.failed(&source),
        throttle.failed(&source)
    );
    a.unwrap();
    b.unwrap();
    c.unwrap();
    assert!(throttle.blocked(&source).await.unwrap().is_some());
}
