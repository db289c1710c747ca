//! Store rules that lean on the engines' transactions and indexes, run on every engine: one
//! connector per DingTalk app (a claim marker in the connector's transaction), and the audit log
//! merged across its per-origin partitions.

use std::sync::Arc;

use dingbridge::domain::connector::{CheckedConnector, Connector, ConnectorInput, check_input};
use dingbridge::domain::directory::Origin;
use dingbridge::domain::ids::OrgUnitId;
use dingbridge::domain::password::PasswordPolicy;
use dingbridge::ports::{SystemClock, Table};
use dingbridge::secrets::SecretBox;
use dingbridge::store::audit::{AuditEntry, LogFilter, audit_op, log};
use dingbridge::store::connectors::Connectors;
use dingbridge::store::{Actor, DirectoryError};

fn connectors(t: &Arc<dyn Table>) -> Connectors {
    let key = SecretBox::generate_key();
    Connectors::new(
        t.clone(),
        Arc::new(SystemClock),
        SecretBox::from_base64(&key).unwrap(),
    )
}

fn settings(name: &str, corp_id: &str, app_key: &str) -> CheckedConnector {
    let input = ConnectorInput {
        name: Some(name.into()),
        corp_id: Some(corp_id.into()),
        app_key: Some(app_key.into()),
        app_secret: Some("secret".into()),
        ..ConnectorInput::default()
    };
    check_input(&input, None, &PasswordPolicy::default()).unwrap()
}

/// Creates a connector for `corp_id` × `app_key` under a fresh root unit.
async fn create(
    store: &Connectors,
    name: &str,
    corp_id: &str,
    app_key: &str,
) -> Result<Connector, DirectoryError> {
    store
        .create(
            settings(name, corp_id, app_key),
            OrgUnitId::generate(),
            &admin(),
        )
        .await
}

fn admin() -> Actor {
    Actor::new(Origin::Admin, "contract")
}

/// A corp id of its own for each case.
fn corp() -> String {
    format!("ding{}", uuid::Uuid::new_v4().simple())
}

fn conflict_detail(e: DirectoryError) -> String {
    match e {
        DirectoryError::Conflict { attr, detail } => {
            assert_eq!(attr, "app_key");
            detail
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
}

pub async fn a_second_connector_for_one_app_is_refused_naming_the_first(t: Arc<dyn Table>) {
    let store = connectors(&t);
    let corp = corp();
    let first = create(&store, "HQ", &corp, "key").await.unwrap();
    let refused = create(&store, "Takeover", &corp, "key").await.unwrap_err();
    let detail = conflict_detail(refused);
    assert!(detail.contains(first.id.as_str()), "{detail}");
    assert!(detail.contains("\"HQ\""), "{detail}");
    // Another app of the same corp, and the same app key in another corp, are other apps.
    create(&store, "Other app", &corp, "key2").await.unwrap();
    create(&store, "Other corp", &format!("{corp}x"), "key")
        .await
        .unwrap();
}

pub async fn concurrent_creates_for_one_app_have_one_winner(t: Arc<dyn Table>) {
    let store = connectors(&t);
    let corp = corp();
    let racers = (0..4).map(|i| {
        let store = store.clone();
        let checked = settings(&format!("racer {i}"), &corp, "key");
        tokio::spawn(async move { store.create(checked, OrgUnitId::generate(), &admin()).await })
    });
    let results: Vec<_> = futures::future::join_all(racers)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    let winner = winners[0].clone();
    for result in results.into_iter().filter(Result::is_err) {
        match result.unwrap_err() {
            // A loser that saw the claim names the winner; one that met the winner's transaction
            // in flight (DynamoDB's TransactionConflict) is told to retry.
            DirectoryError::Conflict { detail, .. } => {
                assert!(detail.contains(winner.id.as_str()), "{detail}")
            }
            DirectoryError::Storage(dingbridge::ports::TableError::Transient(_)) => {}
            other => panic!("unexpected loss: {other:?}"),
        }
    }
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.list(100, cursor).await.unwrap();
        all.extend(page.items);
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let same_app: Vec<_> = all.iter().filter(|c| c.corp_id.as_str() == corp).collect();
    assert_eq!(same_app.len(), 1, "exactly one connector was stored");
    assert_eq!(same_app[0].id, winner.id);
}

pub async fn moving_or_deleting_a_connector_frees_its_app(t: Arc<dyn Table>) {
    let store = connectors(&t);
    let corp = corp();
    let first = create(&store, "HQ", &corp, "key").await.unwrap();
    let second = create(&store, "Branch", &corp, "key2").await.unwrap();
    // Moving onto a held app is refused and changes nothing.
    let refused = store
        .update(&second, settings("Branch", &corp, "key"), &admin())
        .await
        .unwrap_err();
    assert!(conflict_detail(refused).contains(first.id.as_str()));
    assert_eq!(store.get(&second.id).await.unwrap().unwrap(), second);

    // An update that keeps the app keeps the claim.
    let first = store
        .update(&first, settings("Head office", &corp, "key"), &admin())
        .await
        .unwrap();
    assert!(create(&store, "Again", &corp, "key").await.is_err());
    // Moving away frees the old app and claims the new one.
    let first = store
        .update(&first, settings("Head office", &corp, "key3"), &admin())
        .await
        .unwrap();
    let second = store
        .update(&second, settings("Branch", &corp, "key"), &admin())
        .await
        .unwrap();
    let refused = create(&store, "Late", &corp, "key3").await.unwrap_err();
    assert!(conflict_detail(refused).contains(first.id.as_str()));
    // Deleting frees the app.
    store.delete(&second, &admin()).await.unwrap();
    create(&store, "New", &corp, "key").await.unwrap();
}

/// Writes an entry of `origin` at `at_ms` for a fresh entity, in a transaction as stores do.
async fn entry(t: &Arc<dyn Table>, origin: Origin, at_ms: i64) -> AuditEntry {
    let e = AuditEntry::new(
        &Actor::new(origin, "contract"),
        at_ms,
        "account",
        &uuid::Uuid::new_v4().to_string(),
        "update",
        None,
        None,
    );
    t.transact(vec![audit_op(e.clone())]).await.unwrap();
    e
}

/// Every page of the log under `filter`, `limit` at a time.
async fn read_all(t: &Arc<dyn Table>, filter: LogFilter, limit: usize) -> Vec<AuditEntry> {
    let mut out = Vec::new();
    let mut cursor = None;
    for _ in 0..1000 {
        let page = log(t.as_ref(), &filter, limit, cursor).await.unwrap();
        assert!(page.items.len() <= limit);
        out.extend(page.items);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return out,
        }
    }
    panic!("the log did not end");
}

pub async fn the_audit_log_merges_origins_newest_first_and_filters(t: Arc<dyn Table>) {
    let base = 1_700_000_000_000;
    let origins = [
        Origin::Admin,
        Origin::DingtalkPull,
        Origin::Admin,
        Origin::DingtalkEvent,
        Origin::Scim,
        Origin::DingtalkPull,
        Origin::DingtalkPull,
        Origin::Admin,
    ];
    let mut written = Vec::new();
    for (i, origin) in origins.into_iter().enumerate() {
        written.push(entry(&t, origin, base + 10 * i as i64).await);
    }
    // Two entries at the same millisecond are both kept, in id order.
    written.push(entry(&t, Origin::Scim, base + 70).await);
    written.sort_by(|a, b| (b.at_ms, &b.id).cmp(&(a.at_ms, &a.id)));
    let window = LogFilter {
        origin: None,
        since_ms: Some(base),
        until_ms: Some(base + 1_000),
    };
    for limit in [1, 2, 3, 100] {
        assert_eq!(read_all(&t, window, limit).await, written, "limit {limit}");
    }
    let pulled = read_all(
        &t,
        LogFilter {
            origin: Some(Origin::DingtalkPull),
            ..window
        },
        2,
    )
    .await;
    let want: Vec<_> = written
        .iter()
        .filter(|e| e.origin == Origin::DingtalkPull)
        .cloned()
        .collect();
    assert_eq!(pulled, want);
    let middle = read_all(
        &t,
        LogFilter {
            origin: None,
            since_ms: Some(base + 20),
            until_ms: Some(base + 50),
        },
        2,
    )
    .await;
    let at: Vec<i64> = middle.iter().map(|e| e.at_ms - base).collect();
    assert_eq!(at, [40, 30, 20], "since inclusive, until exclusive");
}
