//! The set-up the push flows share: a whole system (`System::start_fast`) whose connector syncs a
//! simulated DingTalk by callback and pushes the subtree of one of its departments back to it.
//! The pushed parent is a DingTalk department the inbound sync already maps to an org unit, so
//! pull and push agree on where the subtree sits.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dingbridge::ports::Clock;
use futures::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};

use crate::system::{Engine, System, eventually};

/// Patience for a push or a callback to arrive: generous for a loaded 2-core CI machine, where
/// the 200-account push on moto (whose index queries scan the table) ran past 120 s beside the
/// other tests; a healthy run takes a fraction of it, and the polls return as soon as it is done.
pub const PATIENCE: Duration = Duration::from_secs(480);

/// A system whose connector pushes `root` (mapped to DingTalk department `parent_dept`).
pub struct Pushing {
    pub sys: System,
    /// The push root: the org unit the inbound sync made for `parent_dept`.
    pub root: String,
    pub parent_dept: i64,
    /// The holding department of the `move` delete policy.
    pub holding_dept: i64,
    /// Account creates answered 503 and retried.
    pub retried: AtomicUsize,
}

/// A small simulated org: the push, not the pull, is under test.
fn sim_config() -> dingtalk_sim::SimConfig {
    dingtalk_sim::SimConfig {
        seed: 11,
        users: 6,
        depts: 2,
        qps_per_api: 0,
        dirty_share: 0.0,
        callback_time_scale: 0.01,
        ..Default::default()
    }
}

impl Pushing {
    /// A connector pushing a fresh DingTalk department's subtree with `delete_policy`.
    pub async fn start(engine: Engine, delete_policy: &str) -> Self {
        let sys = System::start_fast(engine, sim_config()).await;
        let made = |name: &str| json!({ "name": name, "parent_id": 1 });
        let parent_dept = sys.sim(Method::POST, "/_sim/depts", made("Pushed")).await["dept_id"]
            .as_i64()
            .unwrap();
        let holding_dept = sys.sim(Method::POST, "/_sim/depts", made("Holding")).await["dept_id"]
            .as_i64()
            .unwrap();
        // The department's callback makes its org unit: the push root.
        eventually(PATIENCE, "the pushed department's unit", || async {
            sys.unit_of(parent_dept).await.is_some()
        })
        .await;
        let root = sys.unit_of(parent_dept).await.unwrap().id.to_string();
        let pushing = Self {
            root,
            sys,
            parent_dept,
            holding_dept,
            retried: AtomicUsize::new(0),
        };
        pushing
            .connector(json!({
                "push_enabled": true,
                "push_root_org_unit_id": pushing.root,
                "push_dingtalk_parent": parent_dept,
                "push_delete_policy": delete_policy,
                "push_move_dept_id": holding_dept,
            }))
            .await;
        pushing
    }

    /// Changes the connector's settings (`PATCH`).
    pub async fn connector(&self, settings: Value) -> Value {
        let path = format!("/admin/api/connectors/{}", self.sys.connector_id);
        self.call(Method::PATCH, &path, Some(settings)).await
    }

    /// An admin API call that must succeed; its JSON body.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, value) = self.try_call(method, path, body).await;
        assert!((200..300).contains(&status), "{path}: {status} {value}");
        value
    }

    pub async fn try_call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .sys
            .http
            .request(method, format!("{}{path}", self.sys.base))
            .bearer_auth(&self.sys.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn unit(&self, name: &str, parent: &str) -> String {
        let body = json!({ "name": name, "parent_id": parent });
        let made = self
            .call(Method::POST, "/admin/api/org-units", Some(body))
            .await;
        made["id"].as_str().unwrap().to_owned()
    }

    /// Creates an account. A 503 ("retry later") is retried, as the API asks: on DynamoDB,
    /// creates racing into one org unit meet `TransactionConflict` on its condition check.
    pub async fn account(&self, body: Value) -> String {
        for _ in 0..20 {
            let (status, made) = self
                .try_call(Method::POST, "/admin/api/accounts", Some(body.clone()))
                .await;
            if status == 503 {
                self.retried.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
            assert_eq!(status, 201, "{made}");
            return made["id"].as_str().unwrap().to_owned();
        }
        panic!("the account create kept answering 503: {body}");
    }

    /// Creates the accounts `bodies`, a few requests at a time (as several admins or a script
    /// would); their ids in the same order.
    pub async fn accounts(&self, bodies: Vec<Value>) -> Vec<String> {
        futures::stream::iter(bodies)
            .map(|b| self.account(b))
            .buffered(8)
            .collect()
            .await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Value {
        self.call(Method::PATCH, path, Some(body)).await
    }

    /// The simulated org as its control API shows it.
    pub async fn org(&self) -> Org {
        let raw: Value = self
            .sys
            .http
            .get(format!("{}/_sim/org", self.sys.sim.base_url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Org(raw)
    }

    /// Polls the simulated org until `done` holds; the org that satisfied it.
    pub async fn until(&self, what: &str, done: impl Fn(&Org) -> bool) -> Org {
        let start = Instant::now();
        loop {
            let org = self.org().await;
            if done(&org) {
                return org;
            }
            assert!(start.elapsed() < PATIENCE, "{what}: {}", org.0);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `until`, with the outbox swept every two seconds (see `sweep`).
    pub async fn until_swept(&self, what: &str, done: impl Fn(&Org) -> bool) -> Org {
        let start = Instant::now();
        let mut swept = Instant::now();
        loop {
            let org = self.org().await;
            if done(&org) {
                return org;
            }
            assert!(start.elapsed() < PATIENCE, "{what}: {}", org.0);
            if swept.elapsed() > Duration::from_secs(2) {
                self.sweep().await;
                swept = Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The DingTalk id the directory maps an entity of ours to on the connector.
    pub async fn mapped(&self, our_id: &str) -> Option<String> {
        self.sys
            .mappings()
            .of_entity(our_id)
            .await
            .unwrap()
            .into_iter()
            .find(|m| m.connector_id == self.sys.connector_id)
            .map(|m| m.external_id)
    }

    /// The account's push state on the connector (`pending`, `parked`, `pushed`), as the admin
    /// API shows it, with the account.
    pub async fn push_state(&self, id: &str) -> (String, Value) {
        let account = self
            .call(Method::GET, &format!("/admin/api/accounts/{id}"), None)
            .await;
        let state = account["push"][0]["state"]
            .as_str()
            .unwrap_or("none")
            .to_owned();
        (state, account)
    }

    /// Every account of the directory: id → username (read from the store in one query: the
    /// admin list would look up every account's mappings and push state too).
    pub async fn directory_accounts(&self) -> BTreeMap<String, String> {
        let page = self.sys.directory().accounts(1000, None).await.unwrap();
        assert!(page.next.is_none(), "more than 1000 accounts");
        page.items
            .into_iter()
            .map(|a| (a.id.to_string(), a.username.to_string()))
            .collect()
    }

    /// Re-sends what the outbox still holds as pending, as the 1-minute sweeper would once
    /// the items are a minute old (a push acknowledged at its last delivery waits there).
    pub async fn sweep(&self) {
        let later = dingbridge::ports::SystemClock.now_millis() + push_worker::SWEEP_AGE_MS + 1;
        push_worker::sweep(&self.sys.pusher, later).await.unwrap();
    }

    /// Waits until the callbacks our pushes triggered have been delivered and applied: nothing
    /// pending at the simulator, and neither the callbacks delivered nor the sync messages
    /// handled changing for a second. (No queue reports its depth, so quiet is the signal.)
    pub async fn settled(&self) {
        let start = Instant::now();
        let mut last = None;
        let mut quiet_since = Instant::now();
        loop {
            let log = self
                .sys
                .http
                .get(format!("{}/_sim/callbacks", self.sys.sim.base_url()))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap();
            let pending = log["pending"].as_array().map_or(0, Vec::len);
            let now = (
                log["delivered"].as_array().map_or(0, Vec::len),
                log["failed"].as_array().map_or(0, Vec::len),
                self.sys.synced.load(Ordering::SeqCst),
            );
            if pending > 0 || last != Some(now) {
                last = Some(now);
                quiet_since = Instant::now();
            } else if quiet_since.elapsed() > Duration::from_secs(1) {
                return;
            }
            assert!(start.elapsed() < PATIENCE, "the callbacks never settled");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The simulated org's JSON, with the look-ups the flows need.
pub struct Org(pub Value);

impl Org {
    pub fn depts(&self) -> &[Value] {
        self.0["depts"].as_array().map_or(&[], Vec::as_slice)
    }

    pub fn users(&self) -> &[Value] {
        self.0["users"].as_array().map_or(&[], Vec::as_slice)
    }

    pub fn dept(&self, id: i64) -> Option<&Value> {
        self.depts().iter().find(|d| d["dept_id"] == id)
    }

    pub fn depts_named(&self, name: &str) -> Vec<&Value> {
        self.depts().iter().filter(|d| d["name"] == name).collect()
    }

    pub fn user(&self, userid: &str) -> Option<&Value> {
        self.users().iter().find(|u| u["userid"] == userid)
    }

    /// How many users' userids start with `prefix` (`db`: made by our push).
    pub fn users_with_prefix(&self, prefix: &str) -> usize {
        self.users()
            .iter()
            .filter(|u| {
                u["userid"]
                    .as_str()
                    .is_some_and(|id| id.starts_with(prefix))
            })
            .count()
    }

    pub fn users_with_mobile(&self, mobile: &str) -> Vec<&Value> {
        self.users()
            .iter()
            .filter(|u| u["mobile"] == mobile)
            .collect()
    }

    /// A user's departments, sorted.
    pub fn dept_list(&self, userid: &str) -> Vec<i64> {
        let mut list: Vec<i64> = self
            .user(userid)
            .and_then(|u| u["dept_id_list"].as_array())
            .map(|l| l.iter().filter_map(Value::as_i64).collect())
            .unwrap_or_default();
        list.sort_unstable();
        list
    }
}

/// A mobile of ours: prefix 166, which the simulator's generated org never uses.
pub fn mobile(n: usize) -> String {
    format!("166{n:08}")
}
