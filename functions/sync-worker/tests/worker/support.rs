//! A simulator per test, a directory side (embedded store, connector, worker deps) per store, and
//! a normalised snapshot of the directory to compare sides and runs.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use dingbridge::adapters::embedded::{EmbeddedQueue, EmbeddedStore, QueueSettings};
use dingbridge::dingtalk::HttpDingTalk;
use dingbridge::dingtalk::events::{EventKind, parse_event};
use dingbridge::domain::connector::{Connector, ConnectorInput, LeaverPolicy, check_input};
use dingbridge::domain::directory::{Account, Origin};
use dingbridge::domain::ids::OrgUnitId;
use dingbridge::domain::password::PasswordPolicy;
use dingbridge::domain::sync::SyncMessage;
use dingbridge::ports::{Clock, Received, SystemClock, Table};
use dingbridge::secrets::SecretBox;
use dingbridge::store::Actor;
use dingbridge::store::connectors::Connectors;
use dingbridge::store::directory::Directory;
use dingbridge::store::events::{Events, ParkedEvent};
use dingbridge::store::mappings::Mappings;
use dingbridge::worker::BatchHandler;
use dingtalk_sim::testkit::fixture;
use dingtalk_sim::{SimConfig, SimHandle, testkit};
use serde_json::{Value, json};
use sync_worker::{Deps, Settings};

pub const MAX_RECEIVES: u32 = 5;

pub struct Sim {
    pub handle: SimHandle,
    pub base: String,
    pub http: reqwest::Client,
}

pub async fn sim() -> Sim {
    let testkit::Sim { handle, base } = testkit::start_sim(SimConfig {
        users: 0,
        depts: 0,
        qps_per_api: 0,
        callback_time_scale: 0.01,
        callback_timeout_ms: 300,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    Sim {
        handle,
        base,
        http: reqwest::Client::new(),
    }
}

impl Sim {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let value: Value = response.json().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {value}");
        value
    }

    pub async fn create_dept(&self, name: &str, parent: i64) -> i64 {
        let v = self
            .call(
                reqwest::Method::POST,
                "/_sim/depts",
                Some(json!({"name": name, "parent_id": parent})),
            )
            .await;
        v["dept_id"].as_i64().unwrap()
    }

    pub async fn patch_dept(&self, id: i64, body: Value) {
        self.call(
            reqwest::Method::PATCH,
            &format!("/_sim/depts/{id}"),
            Some(body),
        )
        .await;
    }

    pub async fn delete_dept(&self, id: i64) {
        self.call(reqwest::Method::DELETE, &format!("/_sim/depts/{id}"), None)
            .await;
    }

    /// A user with a mobile and an email derived from `n`, in `depts`.
    pub async fn create_user(&self, userid: &str, name: &str, n: u32, depts: &[i64]) {
        self.call(
            reqwest::Method::POST,
            "/_sim/users",
            Some(json!({
                "userid": userid, "name": name, "mobile": format!("1380000{n:04}"),
                "email": format!("{userid}@example.com"), "dept_id_list": depts,
                "title": "engineer", "job_number": format!("J{n}")
            })),
        )
        .await;
    }

    pub async fn patch_user(&self, userid: &str, body: Value) {
        self.call(
            reqwest::Method::PATCH,
            &format!("/_sim/users/{userid}"),
            Some(body),
        )
        .await;
    }

    pub async fn delete_user(&self, userid: &str) {
        self.call(
            reqwest::Method::DELETE,
            &format!("/_sim/users/{userid}"),
            None,
        )
        .await;
    }

    pub async fn fault(&self, spec: Value) {
        self.call(reqwest::Method::POST, "/_sim/faults", Some(spec))
            .await;
    }

    pub async fn callbacks(&self) -> Value {
        self.call(reqwest::Method::GET, "/_sim/callbacks", None)
            .await
    }
}

/// One directory (embedded store in a tempdir) with a connector to the simulator and the
/// worker's deps over them.
pub struct Side {
    pub _dir: tempfile::TempDir,
    pub queue: Arc<EmbeddedQueue>,
    pub deps: Arc<Deps>,
    pub connector: Connector,
    pub directory: Directory,
    pub mappings: Mappings,
    pub events: Events,
}

pub struct SideOptions {
    pub leaver_policy: LeaverPolicy,
    pub default_password: Option<String>,
    pub register_callback: bool,
}

impl Default for SideOptions {
    fn default() -> Self {
        Self {
            leaver_policy: LeaverPolicy::Disable,
            default_password: None,
            register_callback: false,
        }
    }
}

pub async fn side(sim: &Sim, options: SideOptions) -> Side {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let table: Arc<dyn Table> = Arc::new(store.table(clock.clone()));
    let queue = Arc::new(store.queue(
        "sync",
        QueueSettings {
            max_receives: MAX_RECEIVES,
            dedup_window: Duration::from_secs(300),
        },
        clock.clone(),
    ));
    let secrets = SecretBox::from_base64(&SecretBox::generate_key()).unwrap();
    let app = sim.handle.apps().into_iter().next().unwrap();
    let input = ConnectorInput {
        leaver_policy: Some(options.leaver_policy),
        default_password: options.default_password,
        register_callback: Some(options.register_callback),
        callback_token: options.register_callback.then(|| "token123".into()),
        callback_aes_key: options
            .register_callback
            .then(|| testkit::CALLBACK_AES_KEY.into()),
        ..testkit::connector_input(&app, &sim.base)
    };
    let checked = check_input(&input, None, &PasswordPolicy::default()).unwrap();
    let connectors = Connectors::new(table.clone(), clock.clone(), secrets.clone());
    let connector = connectors
        .create(
            checked,
            Directory::root_id(),
            &Actor::new(Origin::Admin, "test"),
        )
        .await
        .unwrap();
    let dingtalk = HttpDingTalk::new(testkit::fast_client_config()).unwrap();
    let deps = Arc::new(Deps::new(
        table.clone(),
        queue.clone(),
        Arc::new(dingtalk),
        clock.clone(),
        secrets,
        Settings {
            max_receives: MAX_RECEIVES,
        },
    ));
    Side {
        _dir: dir,
        directory: Directory::new(table.clone(), clock.clone()),
        mappings: Mappings::new(table.clone()),
        events: Events::new(table, clock),
        queue,
        deps,
        connector,
    }
}

impl Side {
    /// What the callback queues for the DingTalk event `event_type` naming these users.
    pub fn users(&self, ids: &[&str], event_type: &str) -> SyncMessage {
        self.queued(event_type, json!(ids))
    }

    /// What the callback queues for the DingTalk event `event_type` naming these departments.
    pub fn depts(&self, ids: &[i64], event_type: &str) -> SyncMessage {
        self.queued(event_type, json!(ids))
    }

    /// The shared fixture of `event_type` with `ids` in place of its example ids (under its own
    /// key, whatever the casing, so none of the examples remain) and a fresh eventId, read by the
    /// callback's parser and turned into the message the callback would queue for this connector.
    fn queued(&self, event_type: &str, ids: Value) -> SyncMessage {
        let mut event = fixture(event_type);
        let map = event
            .as_object_mut()
            .unwrap_or_else(|| panic!("no fixture named {event_type}"));
        for (key, value) in map.iter_mut() {
            if key.eq_ignore_ascii_case("userid") || key.eq_ignore_ascii_case("deptid") {
                *value = ids.clone();
            }
        }
        map.insert("eventId".into(), json!(uuid::Uuid::new_v4().to_string()));
        let parsed = parse_event(&event.to_string()).unwrap();
        assert_eq!(parsed.skipped_ids, 0, "{event}");
        let connector_id = self.connector.id.clone();
        match parsed.kind {
            EventKind::Users(user_ids) => SyncMessage::Users {
                connector_id,
                user_ids,
                event_type: parsed.event_type,
                event_key: parsed.key,
            },
            EventKind::Departments(dept_ids) => SyncMessage::Departments {
                connector_id,
                dept_ids,
                event_type: parsed.event_type,
                event_key: parsed.key,
            },
            other => panic!("{event_type} queues nothing: {other:?}"),
        }
    }

    /// A delivery of `message` as the queue would hand it over.
    pub fn delivery(&self, message: &SyncMessage, receive_count: u32) -> Received {
        Received {
            id: uuid::Uuid::new_v4().to_string(),
            receipt: "receipt".into(),
            group: self.connector.id.to_string(),
            body: serde_json::to_string(message).unwrap(),
            receive_count,
        }
    }

    /// Handles the messages as one batch (first deliveries); returns the failed ids.
    pub async fn run(&self, messages: &[SyncMessage]) -> Vec<String> {
        let batch = messages.iter().map(|m| self.delivery(m, 1)).collect();
        self.deps.handle(batch).await
    }

    /// Handles each message in its own batch and asserts none failed.
    pub async fn apply(&self, messages: &[SyncMessage]) {
        for m in messages {
            let failed = self.run(std::slice::from_ref(m)).await;
            assert!(failed.is_empty(), "{m:?} failed");
        }
    }

    pub async fn parked(&self) -> Vec<ParkedEvent> {
        self.events
            .parked(Some(&self.connector.id), 100, None)
            .await
            .unwrap()
            .items
    }

    pub async fn account(&self, username: &str) -> Option<Account> {
        self.directory
            .find_account("username", username)
            .await
            .unwrap()
    }

    pub async fn unit_of(&self, dept: i64) -> Option<OrgUnitId> {
        self.mappings
            .unit_of(
                &self.connector.id,
                dingbridge::dingtalk::DeptId::new(dept as u64).unwrap(),
            )
            .await
            .unwrap()
    }

    /// Every org unit as its name path, every account by username with its values and units.
    pub async fn snapshot(&self) -> Snapshot {
        let mut units = HashMap::new();
        let mut cursor = None;
        loop {
            let page = self.directory.org_units(100, cursor).await.unwrap();
            for u in page.items {
                units.insert(u.id.clone(), u);
            }
            cursor = page.next;
            if cursor.is_none() {
                break;
            }
        }
        let path = |id: &OrgUnitId| {
            let mut parts = Vec::new();
            let mut current = units.get(id);
            while let Some(u) = current {
                if u.parent_id.is_none() {
                    break;
                }
                parts.push(u.name.clone());
                current = u.parent_id.as_ref().and_then(|p| units.get(p));
            }
            parts.reverse();
            format!("/{}", parts.join("/"))
        };
        let unit_paths: BTreeSet<String> = units.keys().map(&path).collect();
        let mut accounts = BTreeMap::new();
        let mut cursor = None;
        loop {
            let page = self.directory.accounts(100, cursor).await.unwrap();
            for a in page.items {
                let memberships: BTreeSet<String> =
                    a.memberships.iter().map(|m| path(&m.org_unit_id)).collect();
                let primary = a.primary_unit().map(&path);
                accounts.insert(
                    a.username.to_string(),
                    json!({
                        "name": a.display_name, "email": a.email, "mobile": a.mobile,
                        "status": a.status, "title": a.title, "job_number": a.job_number,
                        "units": memberships, "primary": primary,
                    }),
                );
            }
            cursor = page.next;
            if cursor.is_none() {
                break;
            }
        }
        Snapshot {
            units: unit_paths,
            accounts,
        }
    }
}

#[derive(Debug, PartialEq)]
pub struct Snapshot {
    pub units: BTreeSet<String>,
    pub accounts: BTreeMap<String, Value>,
}
