//! A connector's pushes through the admin API: the outbox listed by state with each entity's
//! name, one parked push re-driven (409 when it is not parked), every parked push re-driven.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::http::{Method, StatusCode};
use dingbridge::domain::ids::{AccountId, ConnectorId, OrgUnitId};
use dingbridge::domain::sync::{PushEntity, PushMessage};
use dingbridge::ports::{QueueConsumer, SystemClock};
use dingbridge::store::outbox::{Outbox, OutboxState};
use serde_json::{Value, json};

use crate::support::Env;

/// A pushing connector over a directory of `Pushed` (the push root) with `Team` below it.
pub struct Pushing {
    pub env: Env,
    pub connector: ConnectorId,
    pub team: OrgUnitId,
    pub outbox: Outbox,
    accounts: AtomicU32,
}

async fn post(env: &Env, path: &str, body: Value) -> Value {
    let answer = env.call(Method::POST, path, Some(body)).await;
    assert_eq!(
        answer.status,
        StatusCode::CREATED,
        "{path}: {}",
        answer.text
    );
    answer.body
}

fn id<T>(v: &Value, parse: impl Fn(&str) -> Option<T>) -> T {
    parse(v["id"].as_str().unwrap()).unwrap()
}

pub async fn pushing(link_mode: &str) -> Pushing {
    let env = Env::new().await;
    let units = env.call(Method::GET, "/admin/api/org-units", None).await;
    let top = units.body["items"][0]["id"].as_str().unwrap().to_owned();
    let root = post(
        &env,
        "/admin/api/org-units",
        json!({"name": "Pushed", "parent_id": top}),
    )
    .await;
    let root = id(&root, |s| OrgUnitId::parse(s).ok());
    let mut input = env.connector_input();
    input["push_enabled"] = json!(true);
    input["push_root_org_unit_id"] = json!(root.to_string());
    input["push_link_mode"] = json!(link_mode);
    let connector = env.create_connector(input).await;
    let connector = id(&connector, |s| ConnectorId::parse(s).ok());
    let team = post(
        &env,
        "/admin/api/org-units",
        json!({"name": "Team", "parent_id": root.to_string()}),
    )
    .await;
    let team = id(&team, |s| OrgUnitId::parse(s).ok());
    let outbox = Outbox::new(env.table.clone(), Arc::new(SystemClock));
    Pushing {
        env,
        connector,
        team,
        outbox,
        accounts: AtomicU32::new(1),
    }
}

impl Pushing {
    /// An account in Team; each has a mobile of its own (mobiles are unique).
    pub async fn account(&self, username: &str, name: &str) -> AccountId {
        let n = self.accounts.fetch_add(1, Ordering::SeqCst);
        let made = post(
            &self.env,
            "/admin/api/accounts",
            json!({
                "username": username, "display_name": name, "mobile": format!("1380000{n:04}"),
                "org_unit_ids": [self.team.to_string()],
            }),
        )
        .await;
        id(&made, |s| AccountId::parse(s).ok())
    }

    /// Parks the entity's pending push, as the push worker would.
    pub async fn park(&self, entity: &PushEntity, reason: &str, code: Option<&str>) {
        let item = self
            .outbox
            .get(&self.connector, entity)
            .await
            .unwrap()
            .expect("an outbox item");
        assert!(
            self.outbox
                .park(&item.message(), reason, code)
                .await
                .unwrap()
        );
    }

    pub async fn state(&self, entity: &PushEntity) -> Option<OutboxState> {
        self.outbox
            .get(&self.connector, entity)
            .await
            .unwrap()
            .map(|i| i.state)
    }

    /// Every push message queued since the last drain, acknowledged.
    pub async fn drain(&self) -> Vec<PushMessage> {
        let mut out = Vec::new();
        loop {
            let batch = self
                .env
                .push_queue
                .receive(10, Duration::from_secs(30))
                .await
                .unwrap();
            if batch.is_empty() {
                return out;
            }
            for r in batch {
                out.push(serde_json::from_str(&r.body).unwrap());
                self.env.push_queue.ack(&r.receipt).await.unwrap();
            }
        }
    }

    pub async fn get(&self, path: &str) -> Value {
        let answer = self.env.call(Method::GET, path, None).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.text);
        answer.body
    }

    fn pushes(&self) -> String {
        format!("/admin/api/connectors/{}/pushes", self.connector)
    }
}

fn entity_ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["entity_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn parked_and_pending_pushes_are_listed_with_their_entity_reason_and_code() {
    let p = pushing("mapping").await;
    let alice = p.account("alice", "Alice").await;
    let bob = p.account("bob", "Bob").await;
    let reason = "DingTalk needs a mobile number: add one to push this account";
    p.park(&PushEntity::Account(alice.clone()), reason, Some("60113"))
        .await;

    let parked = p.get(&format!("{}?state=parked", p.pushes())).await;
    assert_eq!(entity_ids(&parked), [alice.to_string()]);
    let item = &parked["items"][0];
    assert_eq!(item["entity_kind"], "account");
    assert_eq!(item["name"], "Alice");
    assert_eq!(item["state"], "parked");
    assert_eq!(item["reason"], reason);
    assert_eq!(item["code"], "60113");
    assert_eq!(item["version"], 1);
    assert!(item["since_ms"].as_i64().unwrap() > 0);

    let pending = p.get(&format!("{}?state=pending", p.pushes())).await;
    let mut want = vec![p.team.to_string(), bob.to_string()];
    want.sort();
    let mut got = entity_ids(&pending);
    got.sort();
    assert_eq!(got, want);
    let team = pending["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["entity_kind"] == "org_unit")
        .unwrap();
    assert_eq!(team["name"], "Team");
    assert!(team["reason"].is_null());

    // `all` is the default; a filtered list pages without skipping an item.
    assert_eq!(entity_ids(&p.get(&p.pushes()).await).len(), 3);
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("{}?state=pending&limit=1", p.pushes());
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = p.get(&path).await;
        seen.extend(entity_ids(&page));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    seen.sort();
    assert_eq!(seen, want);

    // A deleted account's push (retiring its user) is listed without a name.
    let gone = p
        .env
        .call(Method::DELETE, &format!("/admin/api/accounts/{bob}"), None)
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.text);
    let all = p.get(&p.pushes()).await;
    let bobs = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["entity_id"] == bob.to_string())
        .unwrap()
        .clone();
    assert!(bobs["name"].is_null(), "{bobs}");
}

#[tokio::test]
async fn a_bad_state_is_a_400_and_an_unknown_connector_a_404() {
    let p = pushing("mapping").await;
    let bad = p
        .env
        .call(Method::GET, &format!("{}?state=stuck", p.pushes()), None)
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text);
    assert_eq!(bad.body["field"], "state");
    let unknown = format!("/admin/api/connectors/{}/pushes", ConnectorId::generate());
    for (method, path) in [
        (Method::GET, unknown.clone()),
        (Method::POST, format!("{unknown}/redrive")),
        (
            Method::GET,
            "/admin/api/connectors/not-an-id/pushes".to_owned(),
        ),
    ] {
        let answer = p.env.call(method, &path, None).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn a_parked_push_is_redriven_once_and_queued_under_a_new_deduplication_id() {
    let p = pushing("mapping").await;
    let alice = p.account("alice", "Alice").await;
    let entity = PushEntity::Account(alice.clone());
    p.park(
        &entity,
        "the email address belongs to another DingTalk user",
        Some("60106"),
    )
    .await;
    p.drain().await;

    let path = format!("{}/account/{alice}/redrive", p.pushes());
    let answer = p.env.call(Method::POST, &path, None).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body["redriven"], 1);
    assert_eq!(p.state(&entity).await, Some(OutboxState::Pending));
    let item = p.outbox.get(&p.connector, &entity).await.unwrap().unwrap();
    assert_eq!((item.reason, item.code), (None, None));
    let queued = p.drain().await;
    assert_eq!(
        queued.len(),
        1,
        "queued even inside the first send's dedup window"
    );
    assert_eq!(queued[0].entity, entity);
    assert_eq!(queued[0].version, 1);

    // Pending now: not parked, so a second re-drive is a conflict.
    let again = p.env.call(Method::POST, &path, None).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text);
    assert!(
        again.body["message"]
            .as_str()
            .unwrap()
            .contains("not parked")
    );

    // Unknown entity, kind or id: 404.
    for path in [
        format!("{}/account/{}/redrive", p.pushes(), AccountId::generate()),
        format!("{}/group/{alice}/redrive", p.pushes()),
        format!("{}/org_unit/nope/redrive", p.pushes()),
    ] {
        let answer = p.env.call(Method::POST, &path, None).await;
        assert_eq!(
            answer.status,
            StatusCode::NOT_FOUND,
            "{path}: {}",
            answer.text
        );
    }
}

#[tokio::test]
async fn redriving_all_moves_every_parked_push_of_the_connector_and_says_how_many() {
    let p = pushing("mapping").await;
    let alice = p.account("alice", "Alice").await;
    let bob = p.account("bob", "Bob").await;
    for a in [&alice, &bob] {
        p.park(&PushEntity::Account(a.clone()), "parked for the test", None)
            .await;
    }
    p.drain().await;

    let path = format!("{}/redrive", p.pushes());
    let answer = p.env.call(Method::POST, &path, None).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body, json!({"redriven": 2, "more": false}));
    let parked = p.get(&format!("{}?state=parked", p.pushes())).await;
    assert!(entity_ids(&parked).is_empty());
    let mut queued: Vec<String> = p
        .drain()
        .await
        .iter()
        .map(|m| m.entity.id().to_owned())
        .collect();
    queued.sort();
    let mut want = vec![alice.to_string(), bob.to_string()];
    want.sort();
    assert_eq!(queued, want, "the pending team unit is not re-sent");

    let none = p.env.call(Method::POST, &path, None).await;
    assert_eq!(none.body, json!({"redriven": 0, "more": false}));
}
