//! Incremental sync end to end (issue 4): a change in the simulated DingTalk reaches the directory
//! through the encrypted callback, the queue and the sync worker — on every engine pair.

use std::sync::atomic::Ordering;
use std::time::Duration;

use dingbridge::dingtalk::crypto::CallbackCrypto;
use dingbridge::domain::directory::AccountStatus;
use dingtalk_sim::fixtures::with;
use reqwest::Method;
use serde_json::json;

use crate::system::{Engine, System, eventually};

const PATIENCE: Duration = Duration::from_secs(15);

fn dept_id(v: &serde_json::Value) -> i64 {
    v["dept_id"].as_i64().unwrap()
}

fn userid(v: &serde_json::Value) -> String {
    v["userid"].as_str().unwrap().to_owned()
}

pub async fn users_and_departments_follow_the_simulator(engine: Engine) {
    let sys = System::start(engine).await;
    // Departments: create a parent and a child.
    let sales = dept_id(
        &sys.sim(
            Method::POST,
            "/_sim/depts",
            json!({"name": "销售部", "parent_id": 1}),
        )
        .await,
    );
    let east = dept_id(
        &sys.sim(
            Method::POST,
            "/_sim/depts",
            json!({"name": "华东区", "parent_id": sales}),
        )
        .await,
    );
    eventually(PATIENCE, "departments created", || async {
        match (sys.unit_of(sales).await, sys.unit_of(east).await) {
            (Some(s), Some(e)) => s.name == "销售部" && e.parent_id.as_ref() == Some(&s.id),
            _ => false,
        }
    })
    .await;

    // A user in both departments.
    let u = userid(&sys.sim(Method::POST, "/_sim/users", json!({
        "name": "周杰", "mobile": "13700000001", "email": "zhoujie@example.com", "dept_id_list": [sales, east]
    })).await);
    eventually(PATIENCE, "user created with both memberships", || async {
        let (Some(acc), Some(s), Some(e)) = (
            sys.account_of(&u).await,
            sys.unit_of(sales).await,
            sys.unit_of(east).await,
        ) else {
            return false;
        };
        let units: Vec<_> = acc
            .memberships
            .iter()
            .map(|m| m.org_unit_id.clone())
            .collect();
        acc.display_name.as_str() == "周杰"
            && units.len() == 2
            && units.contains(&s.id)
            && units.contains(&e.id)
    })
    .await;

    // Modify, then move to one department only.
    sys.sim(
        Method::PATCH,
        &format!("/_sim/users/{u}"),
        json!({"name": "周杰伦", "email": "jay@example.com"}),
    )
    .await;
    sys.sim(
        Method::PATCH,
        &format!("/_sim/users/{u}"),
        json!({"dept_id_list": [east]}),
    )
    .await;
    eventually(PATIENCE, "user modified and moved", || async {
        let (Some(acc), Some(e)) = (sys.account_of(&u).await, sys.unit_of(east).await) else {
            return false;
        };
        acc.display_name.as_str() == "周杰伦"
            && acc.email.as_ref().map(|m| m.as_str()) == Some("jay@example.com")
            && acc.memberships.len() == 1
            && acc.memberships[0].org_unit_id == e.id
    })
    .await;

    // Rename a department and move the child to the root.
    sys.sim(
        Method::PATCH,
        &format!("/_sim/depts/{sales}"),
        json!({"name": "销售中心"}),
    )
    .await;
    sys.sim(
        Method::PATCH,
        &format!("/_sim/depts/{east}"),
        json!({"parent_id": 1}),
    )
    .await;
    let root = dingbridge::store::directory::Directory::root_id();
    eventually(PATIENCE, "department renamed and moved", || async {
        match (sys.unit_of(sales).await, sys.unit_of(east).await) {
            (Some(s), Some(e)) => s.name == "销售中心" && e.parent_id.as_ref() == Some(&root),
            _ => false,
        }
    })
    .await;

    // The user leaves: disabled, not deleted (the default policy). Then the empty department goes.
    sys.sim(Method::DELETE, &format!("/_sim/users/{u}"), json!({}))
        .await;
    eventually(PATIENCE, "leaver disabled", || async {
        sys.account_of(&u)
            .await
            .is_some_and(|a| a.status == AccountStatus::Disabled)
    })
    .await;
    sys.sim(Method::DELETE, &format!("/_sim/depts/{sales}"), json!({}))
        .await;
    eventually(PATIENCE, "department removed", || async {
        sys.unit_of(sales).await.is_none()
    })
    .await;
    let parked = sys.admin_get("/admin/api/parked-events").await;
    assert_eq!(
        parked["items"].as_array().map(Vec::len),
        Some(0),
        "nothing should be parked: {parked}"
    );
    sys.stop().await;
}

/// Seal an event the way DingTalk does for this connector (API-registered: receive-id = CorpId).
fn seal(sys: &System, plaintext: &str) -> (String, String) {
    let crypto =
        CallbackCrypto::new(&sys.callback_token, &sys.callback_aes_key, &sys.corp_id).unwrap();
    let reply = crypto
        .reply(plaintext, "1700000000000", "nonce123")
        .unwrap();
    let query = format!(
        "signature={}&timestamp=1700000000000&nonce=nonce123",
        reply.msg_signature
    );
    (query, json!({"encrypt": reply.encrypt}).to_string())
}

pub async fn duplicate_reordered_and_replayed_events_change_nothing(engine: Engine) {
    let sys = System::start(engine).await;
    let dept = dept_id(
        &sys.sim(
            Method::POST,
            "/_sim/depts",
            json!({"name": "财务部", "parent_id": 1}),
        )
        .await,
    );
    let u = userid(&sys.sim(Method::POST, "/_sim/users", json!({
        "name": "钱多多", "mobile": "13700000002", "email": "qian@example.com", "dept_id_list": [dept]
    })).await);
    eventually(PATIENCE, "user synced", || async {
        sys.account_of(&u).await.is_some()
    })
    .await;
    let before = (
        sys.account_of(&u).await.unwrap(),
        sys.unit_of(dept).await.unwrap(),
    );

    // DingTalk re-sends (same bytes), an old department event arrives late, and the add event is
    // replayed with a new eventId: each is accepted with `success`, none changes the directory.
    // The shared fixtures, with this user, department and corp under each fixture's own keys.
    let corp = json!(sys.corp_id);
    let events = [
        with(
            "user_add_org",
            &[("UserId", json!([u])), ("CorpId", corp.clone())],
        ),
        with(
            "org_dept_create",
            &[
                ("deptId", json!([dept.to_string()])),
                ("CorpId", corp.clone()),
            ],
        ),
        with(
            "user_modify_org.camel",
            &[
                ("userid", json!([u])),
                ("eventId", json!("replay-1")),
                ("corpId", corp),
            ],
        ),
    ];
    for event in &events {
        let (query, body) = seal(&sys, &event.to_string());
        for _ in 0..3 {
            let response = sys
                .http
                .post(format!(
                    "{}/dingtalk/callback/{}?{query}",
                    sys.base, sys.connector_id
                ))
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            let reply: serde_json::Value = response.json().await.unwrap();
            assert!(reply["encrypt"].is_string() && reply["msg_signature"].is_string());
        }
    }
    // Give the worker time to drain whatever was queued, then compare.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = (
        sys.account_of(&u).await.unwrap(),
        sys.unit_of(dept).await.unwrap(),
    );
    assert_eq!(
        before.0.version, after.0.version,
        "a replay rewrote the account"
    );
    assert_eq!(
        before.1.version, after.1.version,
        "a replay rewrote the org unit"
    );
    assert_eq!(before, after);
    sys.stop().await;
}

pub async fn an_enqueue_failure_answers_5xx_and_dingtalks_retry_lands(engine: Engine) {
    let sys = System::start(engine).await;
    sys.callback_queue.fail_next.store(1, Ordering::SeqCst);
    let u = userid(&sys.sim(Method::POST, "/_sim/users", json!({
        "name": "孙重试", "mobile": "13700000003", "email": "retry@example.com", "dept_id_list": [1]
    })).await);
    eventually(PATIENCE, "user synced after DingTalk's retry", || async {
        sys.account_of(&u).await.is_some()
    })
    .await;
    assert_eq!(
        sys.callback_queue.refused.load(Ordering::SeqCst),
        1,
        "the first delivery must have been refused"
    );
    let log = sys.sim(Method::GET, "/_sim/callbacks", json!(null)).await;
    assert!(
        log["delivered"].as_array().is_some_and(|d| !d.is_empty()),
        "{log}"
    );
    sys.stop().await;
}

pub async fn a_worker_crash_mid_batch_loses_nothing(engine: Engine) {
    // No worker yet: the event waits in the queue.
    let mut sys = System::start_with(engine, crate::system::sim_config(), false).await;
    let u = userid(&sys.sim(Method::POST, "/_sim/users", json!({
        "name": "李崩溃", "mobile": "13700000004", "email": "crash@example.com", "dept_id_list": [1]
    })).await);
    // A worker takes the batch and dies before acknowledging anything.
    let mut taken = Vec::new();
    for _ in 0..50 {
        taken = sys
            .consumer
            .receive(10, Duration::from_secs(1))
            .await
            .unwrap();
        if !taken.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!taken.is_empty(), "the callback did not enqueue the event");
    assert!(sys.account_of(&u).await.is_none());
    // A fresh worker picks the batch up once the visibility timeout has passed.
    sys.start_pump();
    eventually(PATIENCE, "user synced after the crash", || async {
        sys.account_of(&u).await.is_some()
    })
    .await;
    sys.stop().await;
}

pub async fn the_failed_push_list_is_drained(engine: Engine) {
    let sys = System::start(engine).await;
    // Every delivery fails: DingTalk retries (+10 s, +30 s, scaled down) and gives up.
    sys.callback_queue
        .fail_next
        .store(usize::MAX / 2, Ordering::SeqCst);
    let u = userid(&sys.sim(Method::POST, "/_sim/users", json!({
        "name": "赵失败", "mobile": "13700000005", "email": "failed@example.com", "dept_id_list": [1]
    })).await);
    eventually(
        PATIENCE,
        "DingTalk gave up and listed the event as failed",
        || async {
            let log = sys.sim(Method::GET, "/_sim/callbacks", json!(null)).await;
            log["failed_list_sizes"][&sys.corp_id].as_u64().unwrap_or(0) > 0
        },
    )
    .await;
    assert!(sys.account_of(&u).await.is_none());
    sys.callback_queue.fail_next.store(0, Ordering::SeqCst);
    // The scheduled drain reads the failed list into the queue; the worker applies it.
    sync_worker::drain_all(&sys.worker).await.unwrap();
    eventually(PATIENCE, "user synced from the failed list", || async {
        sys.account_of(&u).await.is_some()
    })
    .await;
    sys.stop().await;
}

macro_rules! on_engine {
    ($engine:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn users_and_departments_follow_the_simulator() {
            crate::incremental::users_and_departments_follow_the_simulator($engine).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn duplicate_reordered_and_replayed_events_change_nothing() {
            crate::incremental::duplicate_reordered_and_replayed_events_change_nothing($engine)
                .await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn an_enqueue_failure_answers_5xx_and_dingtalks_retry_lands() {
            crate::incremental::an_enqueue_failure_answers_5xx_and_dingtalks_retry_lands($engine)
                .await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_worker_crash_mid_batch_loses_nothing() {
            crate::incremental::a_worker_crash_mid_batch_loses_nothing($engine).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn the_failed_push_list_is_drained() {
            crate::incremental::the_failed_push_list_is_drained($engine).await;
        }
    };
}

mod embedded {
    on_engine!(crate::system::Engine::Embedded);
}

#[cfg(feature = "aws")]
mod aws {
    on_engine!(crate::system::Engine::Aws);
}
