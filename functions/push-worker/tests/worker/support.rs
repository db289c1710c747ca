//! A world per test: a simulator over HTTP, an embedded store with a push-enabled connector
//! pointed at it, the worker's deps, and helpers that write the directory, push an entity as the
//! outbox and the queue would, and read what DingTalk (the simulator) now holds.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dingbridge::adapters::embedded::{EmbeddedQueue, EmbeddedStore, QueueSettings};
use dingbridge::dingtalk::HttpDingTalk;
use dingbridge::domain::connector::{
    Connector, ConnectorInput, EmailField, LinkMode, PushDeletePolicy, check_input,
};
use dingbridge::domain::directory::{Account, AccountStatus, Membership, Origin};
use dingbridge::domain::ids::{AccountId, OrgUnitId};
use dingbridge::domain::password::PasswordPolicy;
use dingbridge::domain::sync::{PushEntity, PushMessage};
use dingbridge::domain::values::{DisplayName, Email, Mobile, Username};
use dingbridge::ports::{Clock, Received, SystemClock, Table};
use dingbridge::secrets::SecretBox;
use dingbridge::store::Actor;
use dingbridge::store::connectors::Connectors;
use dingbridge::store::directory::{Directory, NewOrgUnit};
use dingbridge::store::events::{Events, ParkedEvent};
use dingbridge::store::mappings::{MappedKind, Mappings};
use dingbridge::store::outbox::{Outbox, OutboxItem};
use dingtalk_sim::{SimConfig, SimHandle, testkit};
use push_worker::{Deps, Settings};
use serde_json::{Value, json};

pub const MAX_RECEIVES: u32 = 5;

/// The connector's push settings a test varies.
pub struct Options {
    /// The connector's own switch (sync and push alike).
    pub enabled: bool,
    pub push_enabled: bool,
    pub link_mode: LinkMode,
    pub delete_policy: PushDeletePolicy,
    /// Creates a DingTalk department under the root to hold retired users (policy `move`).
    pub holding_dept: bool,
    pub email_field: EmailField,
    pub extension_keys: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            enabled: true,
            push_enabled: true,
            link_mode: LinkMode::Mapping,
            delete_policy: PushDeletePolicy::Delete,
            holding_dept: false,
            email_field: EmailField::Email,
            extension_keys: Vec::new(),
        }
    }
}

pub struct World {
    _sim: SimHandle,
    pub base: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
    pub table: Arc<dyn Table>,
    pub queue: Arc<EmbeddedQueue>,
    pub deps: Arc<Deps>,
    pub connector: Connector,
    pub directory: Directory,
    pub mappings: Mappings,
    pub outbox: Outbox,
    pub events: Events,
    /// The push root: stands for DingTalk department 1.
    pub root: OrgUnitId,
    /// The holding department of policy `move`, when asked for.
    pub holding: Option<i64>,
    versions: AtomicU64,
}

fn admin() -> Actor {
    Actor::new(Origin::Admin, "test")
}

pub async fn world(options: Options) -> World {
    let testkit::Sim { handle, base } = testkit::start_sim(SimConfig {
        users: 0,
        depts: 0,
        qps_per_api: 0,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let table: Arc<dyn Table> = Arc::new(store.table(clock.clone()));
    let queue = Arc::new(store.queue(
        "push",
        QueueSettings {
            max_receives: MAX_RECEIVES,
            dedup_window: Duration::from_secs(300),
        },
        clock.clone(),
    ));
    let directory = Directory::new(table.clone(), clock.clone());
    directory.ensure_root().await.unwrap();
    let root = directory
        .create_org_unit(
            NewOrgUnit {
                scim: None,
                name: "Pushed".into(),
                parent_id: Directory::root_id(),
                order: 0,
            },
            &admin(),
        )
        .await
        .unwrap()
        .id;
    let mut holding = None;
    if options.holding_dept {
        let v = call(
            &http,
            &base,
            reqwest::Method::POST,
            "/_sim/depts",
            Some(json!({"name": "Leavers", "parent_id": 1})),
        )
        .await;
        holding = v["dept_id"].as_i64();
    }
    let app = handle.apps().into_iter().next().unwrap();
    let input = ConnectorInput {
        enabled: Some(options.enabled),
        push_enabled: Some(options.push_enabled),
        push_root_org_unit_id: Some(root.to_string()),
        push_link_mode: Some(options.link_mode),
        push_delete_policy: Some(options.delete_policy),
        push_move_dept_id: holding.map(|h| h as u64),
        push_email_field: Some(options.email_field),
        push_extension_keys: Some(options.extension_keys),
        ..testkit::connector_input(&app, &base)
    };
    let secrets = SecretBox::from_base64(&SecretBox::generate_key()).unwrap();
    let checked = check_input(&input, None, &PasswordPolicy::default()).unwrap();
    let connector = Connectors::new(table.clone(), clock.clone(), secrets.clone())
        .create(checked, Directory::root_id(), &admin())
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
    World {
        _sim: handle,
        base,
        http,
        _dir: dir,
        queue,
        deps,
        connector,
        directory,
        mappings: Mappings::new(table.clone()),
        outbox: Outbox::new(table.clone(), clock.clone()),
        events: Events::new(table.clone(), clock),
        table,
        root,
        holding,
        versions: AtomicU64::new(0),
    }
}

async fn call(
    http: &reqwest::Client,
    base: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let mut request = http.request(method, format!("{base}{path}"));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let value: Value = response.json().await.unwrap();
    assert!(status.is_success(), "{path}: {status} {value}");
    value
}

/// An account as the tests create it: enabled, its first unit primary.
pub struct NewAccount<'a> {
    pub username: &'a str,
    pub name: &'a str,
    pub mobile: Option<&'a str>,
    pub units: Vec<&'a OrgUnitId>,
}

impl World {
    async fn sim_call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        call(&self.http, &self.base, method, path, body).await
    }

    // --- the directory ---

    pub async fn unit(&self, name: &str, parent: &OrgUnitId, order: i64) -> OrgUnitId {
        self.directory
            .create_org_unit(
                NewOrgUnit {
                    scim: None,
                    name: name.into(),
                    parent_id: parent.clone(),
                    order,
                },
                &admin(),
            )
            .await
            .unwrap()
            .id
    }

    /// Alice (mobile 13800000001), the account most cases push, in `units`.
    pub async fn alice(&self, units: &[&OrgUnitId]) -> AccountId {
        self.account(NewAccount {
            username: "alice",
            name: "Alice",
            mobile: Some("13800000001"),
            units: units.to_vec(),
        })
        .await
    }

    pub async fn account(&self, new: NewAccount<'_>) -> AccountId {
        let account = Account {
            scim: None,
            id: AccountId::generate(),
            username: Username::parse(new.username).unwrap(),
            display_name: DisplayName::parse(new.name).unwrap(),
            email: Some(Email::parse(&format!("{}@example.com", new.username)).unwrap()),
            mobile: new.mobile.map(|m| Mobile::parse(m).unwrap()),
            job_number: Some(format!("J-{}", new.username)),
            title: Some("engineer".into()),
            status: AccountStatus::Enabled,
            memberships: new
                .units
                .iter()
                .enumerate()
                .map(|(i, u)| Membership {
                    org_unit_id: (*u).clone(),
                    primary: i == 0,
                })
                .collect(),
            password_hash: None,
            must_change_password: false,
            password_changed_ms: None,
            attributes: Default::default(),
            version: 0,
            created_ms: 0,
            updated_ms: 0,
        };
        self.directory
            .create_account(account, &admin())
            .await
            .unwrap()
            .id
    }

    pub async fn edit_account(&self, id: &AccountId, edit: impl Fn(&mut Account) + Send + Sync) {
        self.directory
            .update_account(id, None, &admin(), |a| {
                edit(a);
                Ok(())
            })
            .await
            .unwrap();
    }

    // --- pushing ---

    /// The message of a new change of `entity`, with its outbox item written as the change's
    /// transaction would.
    pub async fn change(&self, entity: PushEntity) -> PushMessage {
        let message = PushMessage {
            connector_id: self.connector.id.clone(),
            entity,
            version: self.versions.fetch_add(1, Ordering::SeqCst) + 1,
        };
        self.table
            .transact(vec![self.outbox.put_op(&message).unwrap()])
            .await
            .unwrap();
        message
    }

    pub fn delivery(&self, message: &PushMessage, receive_count: u32) -> Received {
        Received {
            id: format!("msg-{}", message.dedup_id()),
            receipt: "receipt".into(),
            group: message.group(),
            body: serde_json::to_string(message).unwrap(),
            receive_count,
        }
    }

    /// Handles `message` as its first delivery; true when it was acknowledged.
    pub async fn deliver(&self, message: &PushMessage) -> bool {
        push_worker::handle(&self.deps, vec![self.delivery(message, 1)])
            .await
            .is_empty()
    }

    /// A change of `entity`, pushed; true when acknowledged.
    pub async fn push(&self, entity: PushEntity) -> bool {
        let message = self.change(entity).await;
        self.deliver(&message).await
    }

    /// Pushes each, asserting it was acknowledged and its outbox item settled.
    pub async fn push_all(&self, entities: &[PushEntity]) {
        for e in entities {
            assert!(self.push(e.clone()).await, "{e:?} was not acknowledged");
            assert_eq!(self.outbox_item(e).await, None, "{e:?} was not settled");
        }
    }

    pub async fn outbox_item(&self, entity: &PushEntity) -> Option<OutboxItem> {
        self.outbox.get(&self.connector.id, entity).await.unwrap()
    }

    pub async fn parked_events(&self) -> Vec<ParkedEvent> {
        self.events.parked(None, 100, None).await.unwrap().items
    }

    // --- mappings ---

    pub async fn dept_of(&self, unit: &OrgUnitId) -> Option<i64> {
        self.mapped(unit.as_str(), MappedKind::Dept)
            .await
            .map(|d| d.parse().unwrap())
    }

    pub async fn userid_of(&self, account: &AccountId) -> Option<String> {
        self.mapped(account.as_str(), MappedKind::User).await
    }

    async fn mapped(&self, our_id: &str, kind: MappedKind) -> Option<String> {
        self.mappings
            .of_entity(our_id)
            .await
            .unwrap()
            .into_iter()
            .find(|m| m.connector_id == self.connector.id && m.kind == kind)
            .map(|m| m.external_id)
    }

    pub async fn unmap(&self, kind: MappedKind, external: &str) {
        self.mappings
            .remove(&self.connector.id, kind, external)
            .await
            .unwrap();
    }

    // --- the simulator ---

    pub async fn org(&self) -> Value {
        self.sim_call(reqwest::Method::GET, "/_sim/org", None).await
    }

    /// A department of the simulated org, if it exists.
    pub async fn dept(&self, id: i64) -> Option<Value> {
        let org = self.org().await;
        org["depts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["dept_id"] == id)
            .cloned()
    }

    /// Every department except the root.
    pub async fn depts(&self) -> Vec<Value> {
        let org = self.org().await;
        org["depts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["dept_id"] != 1)
            .cloned()
            .collect()
    }

    pub async fn users(&self) -> Vec<Value> {
        self.org().await["users"].as_array().unwrap().clone()
    }

    pub async fn user(&self, userid: &str) -> Option<Value> {
        self.users()
            .await
            .into_iter()
            .find(|u| u["userid"] == userid)
    }

    /// A user created straight in DingTalk (the admin console), outside the push.
    pub async fn dingtalk_user(&self, userid: &str, mobile: &str, depts: &[i64]) {
        self.sim_call(
            reqwest::Method::POST,
            "/_sim/users",
            Some(json!({
                "userid": userid, "name": "Existing", "mobile": mobile, "dept_id_list": depts,
            })),
        )
        .await;
    }

    pub async fn fault(&self, spec: Value) {
        self.sim_call(reqwest::Method::POST, "/_sim/faults", Some(spec))
            .await;
    }

    pub async fn clear_faults(&self) {
        self.sim_call(reqwest::Method::DELETE, "/_sim/faults", None)
            .await;
    }

    pub async fn reset_counters(&self) {
        self.sim_call(reqwest::Method::DELETE, "/_sim/counters", None)
            .await;
    }

    /// Calls DingTalk answered, per API, since the last reset.
    pub async fn calls(&self) -> Value {
        self.sim_call(reqwest::Method::GET, "/_sim/counters", None)
            .await
    }

    /// Create, update and delete calls since the last reset.
    pub async fn writes(&self) -> u64 {
        let calls = self.calls().await;
        calls
            .as_object()
            .unwrap()
            .iter()
            .filter(|(api, _)| {
                ["/create", "/update", "/delete"]
                    .iter()
                    .any(|w| api.ends_with(w))
            })
            .map(|(_, c)| c["calls"].as_u64().unwrap())
            .sum()
    }

    pub async fn set_ip_whitelist(&self, ips: &[&str]) {
        self.sim_call(
            reqwest::Method::POST,
            &format!("/_sim/apps/{}", self.connector.app_key),
            Some(json!({ "ip_whitelist": ips })),
        )
        .await;
    }
}

/// The dept ids of a simulated user, sorted.
pub fn dept_list(user: &Value) -> Vec<i64> {
    let mut ids: Vec<i64> = user["dept_id_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_i64().unwrap())
        .collect();
    ids.sort_unstable();
    ids
}
