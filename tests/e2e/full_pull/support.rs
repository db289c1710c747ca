//! One world per test: a simulator over HTTP, one engine pair (embedded in a tempdir, or a fresh
//! DynamoDB table and SQS FIFO queues on moto), a connector, the admin router (the review API) and
//! the full pull fed from the pull queue through the `QueueConsumer` port.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use dingbridge::adapters::embedded::{EmbeddedStore, QueueSettings};
use dingbridge::dingtalk::{DingUserId, HttpDingTalk, Rate, RateLimiter};
use dingbridge::domain::connector::{Connector, ConnectorInput, PullMode, check_input};
use dingbridge::domain::directory::{AccountStatus, Origin};
use dingbridge::domain::ids::OrgUnitId;
use dingbridge::domain::password::PasswordPolicy;
use dingbridge::ports::{Clock, Queue, QueueConsumer, SystemClock, Table};
use dingbridge::secrets::SecretBox;
use dingbridge::store::Actor;
use dingbridge::store::connectors::Connectors;
use dingbridge::store::directory::Directory;
use dingbridge::store::mappings::Mappings;
use dingbridge::worker::BatchHandler;
use dingtalk_sim::{SimConfig, SimHandle, testkit};
use full_pull::{Deps, PullSettings, WalkLimits};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

pub struct Options {
    pub pull_mode: PullMode,
    pub default_password: Option<String>,
    pub budget: Duration,
    pub checkpoint_every: u64,
    /// The client's limiter, per app × API (DingTalk's real limit is 20).
    pub qps: f64,
    /// How often a walk writes the run's counters between checkpoints.
    pub progress_every: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            pull_mode: PullMode::Review,
            default_password: None,
            budget: Duration::from_secs(600),
            checkpoint_every: 50,
            qps: 2000.0,
            progress_every: WalkLimits::default().progress_every,
        }
    }
}

/// Which engines a world runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Embedded,
    /// DynamoDB and SQS on the moto endpoint that `infra/test.sh` starts.
    #[cfg(feature = "aws")]
    Aws,
}

/// The table, the pull queue (both sides) and the sync queue.
type Engines = (
    Arc<dyn Table>,
    Arc<dyn Queue>,
    Arc<dyn QueueConsumer>,
    Arc<dyn Queue>,
);

impl Engine {
    /// The simulated org of most tests: deeper than 6 levels, users in several departments, and a
    /// department with more than 100 direct members (paging). Unthrottled: pacing is the
    /// benchmarks' subject, not these tests'. Embedded: 1500 users in 120 departments. On moto,
    /// 110 in 10 with one big department (`big_depts`): every user's first department is that
    /// one, the others hold second memberships. moto deep-copies the whole table for every item
    /// of a TransactWriteItems (and never frees the copies), so an import costs time and memory
    /// that grow with the square of its size.
    pub fn org(self, dirty_share: f64) -> SimConfig {
        let (users, depts, big_depts) = match self {
            Engine::Embedded => (1500, 120, None),
            #[cfg(feature = "aws")]
            Engine::Aws => (110, 10, Some(1)),
        };
        SimConfig {
            users,
            depts,
            big_depts,
            qps_per_api: 0,
            dirty_share,
            ..SimConfig::default()
        }
    }

    /// moto's TransactWriteItems deep-copies the table with no lock held: a write landing
    /// meanwhile makes it answer 500 ("dictionary changed size during iteration"), and a
    /// cancelled transaction restores its copy over writes made since. DynamoDB has neither
    /// problem; on moto the rows are applied one at a time.
    fn apply_concurrency(self) -> usize {
        match self {
            Engine::Embedded => PullSettings::default().apply_concurrency,
            #[cfg(feature = "aws")]
            Engine::Aws => 1,
        }
    }

    async fn engines(self, dir: &std::path::Path, clock: Arc<dyn Clock>) -> Engines {
        match self {
            Engine::Embedded => {
                let store = EmbeddedStore::open(dir).unwrap();
                let pull = Arc::new(store.queue("pull", QueueSettings::default(), clock.clone()));
                let sync = Arc::new(store.queue("sync", QueueSettings::default(), clock.clone()));
                (Arc::new(store.table(clock)), pull.clone(), pull, sync)
            }
            #[cfg(feature = "aws")]
            Engine::Aws => aws::engines(clock).await,
        }
    }
}

/// A fresh table and fresh FIFO queue pairs per world. A missing endpoint fails the test, never
/// skips it.
#[cfg(feature = "aws")]
mod aws {
    use std::sync::Arc;

    use dingbridge::adapters::sqs::{SqsQueue, create_fifo_queue_with_dlq};
    use dingbridge::adapters::{dynamodb, sqs};
    use dingbridge::ports::Clock;

    pub async fn engines(clock: Arc<dyn Clock>) -> super::Engines {
        assert!(
            std::env::var("DINGBRIDGE_TEST_AWS_ENDPOINT").is_ok(),
            "DINGBRIDGE_TEST_AWS_ENDPOINT is not set: run infra/test.sh, which starts moto"
        );
        let config = dynamodb::load_aws_config().await;
        let name = format!("pull-{}", uuid::Uuid::new_v4().simple());
        let ddb = dynamodb::sdk::Client::new(&config);
        dynamodb::create_table(&ddb, &name).await.unwrap();
        let client = sqs::sdk::Client::new(&config);
        let queue = |what: &str| {
            let (client, name) = (client.clone(), format!("{name}-{what}"));
            async move {
                let (url, dlq) = create_fifo_queue_with_dlq(&client, &name, 5, 30)
                    .await
                    .unwrap();
                Arc::new(SqsQueue::new(client, url).with_dead_letter_queue(dlq))
            }
        };
        let pull = queue("pull").await;
        let sync = queue("sync").await;
        let table = Arc::new(dynamodb::DynamoTable::new(ddb, name, clock));
        (table, pull.clone(), pull, sync)
    }
}

pub struct World {
    pub _sim: SimHandle,
    pub base: String,
    pub http: reqwest::Client,
    pub _dir: tempfile::TempDir,
    pub queue: Arc<dyn QueueConsumer>,
    pub deps: Arc<Deps>,
    pub app: Router,
    pub token: String,
    pub connector: Connector,
    pub directory: Directory,
    pub mappings: Mappings,
}

pub async fn world(engine: Engine, sim_config: SimConfig, options: Options) -> World {
    let testkit::Sim { handle: sim, base } = testkit::start_sim(sim_config).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let (table, pull_queue, queue, sync_queue) = engine.engines(dir.path(), clock.clone()).await;
    let secrets = SecretBox::from_base64(&SecretBox::generate_key()).unwrap();
    let app = sim.apps().into_iter().next().unwrap();
    let input = ConnectorInput {
        default_password: options.default_password.clone(),
        pull_mode: Some(options.pull_mode),
        ..testkit::connector_input(&app, &base)
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
    let client = testkit::fast_client_config();
    let limiter = Arc::new(RateLimiter::new(Rate::per_second(options.qps)));
    let dingtalk = Arc::new(HttpDingTalk::with_limiter(client, limiter).unwrap());
    let deps = Arc::new(Deps::new(
        table.clone(),
        pull_queue.clone(),
        dingtalk.clone(),
        clock.clone(),
        secrets.clone(),
        PullSettings {
            budget: options.budget,
            walk: WalkLimits {
                checkpoint_every: options.checkpoint_every,
                retry_delay: Duration::from_millis(10),
                progress_every: options.progress_every,
                rate_per_api: options.qps,
                ..WalkLimits::default()
            },
            apply_concurrency: engine.apply_concurrency(),
            ..PullSettings::default()
        },
    ));
    let token = admin::bootstrap_admin_token(table.clone(), clock.clone(), None)
        .await
        .unwrap()
        .unwrap();
    let router = admin::router(admin::Deps {
        table: table.clone(),
        // No connector of these flows pushes: the push queue may be any queue.
        push_queue: sync_queue.clone(),
        sync_queue,
        pull_queue,
        dingtalk,
        clock: clock.clone(),
        secrets,
        public_base_url: "http://127.0.0.1:1".into(),
    });
    World {
        _sim: sim,
        base,
        http: reqwest::Client::new(),
        _dir: dir,
        directory: Directory::new(table.clone(), clock),
        mappings: Mappings::new(table),
        queue,
        deps,
        app: router,
        token,
        connector,
    }
}

/// A small org (a few departments, 20 users) for the cases that pull it several times.
pub fn small_org() -> SimConfig {
    SimConfig {
        users: 20,
        depts: 4,
        qps_per_api: 0,
        ..SimConfig::default()
    }
}

impl World {
    /// Another connector of the world's table whose DingTalk bases are `base` (its corp and
    /// app are its own).
    pub async fn connector_at(&self, base: &str) -> Connector {
        let input = ConnectorInput {
            name: Some("elsewhere".into()),
            corp_id: Some("dingelsewhere".into()),
            app_key: Some("elsewhere-app".into()),
            app_secret: Some("elsewhere-secret".into()),
            oapi_base: Some(base.into()),
            api_base: Some(base.into()),
            login_base: Some(base.into()),
            ..ConnectorInput::default()
        };
        let checked = check_input(&input, None, &PasswordPolicy::default()).unwrap();
        self.deps
            .connectors
            .create(
                checked,
                Directory::root_id(),
                &Actor::new(Origin::Admin, "test"),
            )
            .await
            .unwrap()
    }

    /// One admin API call: status and JSON body (`null` when empty).
    pub async fn api(&self, method: Method, path: &str) -> (StatusCode, Value) {
        let request = Request::builder()
            .method(method)
            .uri(format!("/admin/api{path}"))
            .header("authorization", format!("Bearer {}", self.token))
            .body(Body::empty())
            .unwrap();
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        (status, body)
    }

    /// Runs the pull queue's consumer until the queue is empty; returns the messages handled.
    /// `max` bounds the deliveries (a "kill" between steps is simply not draining further).
    pub async fn drain(&self, max: usize) -> usize {
        self.drain_with(&self.deps, max).await
    }

    /// `drain` with other deps (other settings) handling the steps.
    pub async fn drain_with(&self, deps: &Deps, max: usize) -> usize {
        let mut handled = 0;
        while handled < max {
            let batch = self
                .queue
                .receive(1, Duration::from_secs(600))
                .await
                .unwrap();
            let Some(m) = batch.into_iter().next() else {
                break;
            };
            let receipt = m.receipt.clone();
            let failed = deps.handle(vec![m]).await;
            if failed.is_empty() {
                self.queue.ack(&receipt).await.unwrap();
            } else {
                self.queue.release(&receipt, Duration::ZERO).await.unwrap();
            }
            handled += 1;
        }
        handled
    }

    /// `POST /connectors/{id}/pull`: status and body.
    pub async fn request_pull(&self) -> (StatusCode, Value) {
        self.api(
            Method::POST,
            &format!("/connectors/{}/pull", self.connector.id),
        )
        .await
    }

    /// Starts a pull through the admin API (202) and returns the run's id.
    pub async fn start_pull(&self) -> String {
        let (status, body) = self.request_pull().await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// Starts a pull through the admin API and runs it to its next resting state.
    pub async fn pull(&self) -> String {
        let id = self.start_pull().await;
        self.drain(1000).await;
        id
    }

    pub async fn run(&self, id: &str) -> Value {
        let (status, body) = self.api(Method::GET, &format!("/runs/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// Every row of a listing, following `next_cursor`; pages of 100, so that the small org's
    /// listings page too.
    pub async fn all(&self, path: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let sep = if path.contains('?') { '&' } else { '?' };
            let url = match &cursor {
                Some(c) => format!("{path}{sep}limit=100&cursor={c}"),
                None => format!("{path}{sep}limit=100"),
            };
            let (status, body) = self.api(Method::GET, &url).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            out.extend(body["items"].as_array().unwrap().iter().cloned());
            match body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return out,
            }
        }
    }

    pub async fn confirm(&self, id: &str, scope: &str) -> (StatusCode, Value) {
        let r = self
            .api(Method::POST, &format!("/runs/{id}/confirm?scope={scope}"))
            .await;
        self.drain(1000).await;
        r
    }

    pub async fn sim_call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        assert!(response.status().is_success(), "{path}");
        response.json().await.unwrap()
    }

    pub async fn fault(&self, spec: Value) {
        self.sim_call(reqwest::Method::POST, "/_sim/faults", Some(spec))
            .await;
    }

    pub async fn sim_org(&self) -> SimOrg {
        let v = self.sim_call(reqwest::Method::GET, "/_sim/org", None).await;
        SimOrg::from(&v)
    }

    /// The directory under the connector's root: unit paths and accounts by username.
    pub async fn directory_state(&self) -> DirState {
        let mut units = HashMap::new();
        let mut cursor = None;
        loop {
            let page = self.directory.org_units(1000, cursor).await.unwrap();
            for u in page.items {
                units.insert(u.id.clone(), u);
            }
            cursor = page.next;
            if cursor.is_none() {
                break;
            }
        }
        let root = self.connector.root_org_unit_id.clone();
        let path = |id: &OrgUnitId| -> String {
            let mut parts = Vec::new();
            let mut at = id.clone();
            while at != root {
                let Some(u) = units.get(&at) else { break };
                parts.push(u.name.clone());
                match &u.parent_id {
                    Some(p) => at = p.clone(),
                    None => break,
                }
            }
            parts.reverse();
            parts.join("/")
        };
        let unit_paths: BTreeSet<String> =
            units.keys().filter(|id| **id != root).map(&path).collect();
        let mut accounts = BTreeMap::new();
        let mut cursor = None;
        loop {
            let page = self.directory.accounts(1000, cursor).await.unwrap();
            for a in page.items {
                let mut paths: Vec<String> =
                    a.memberships.iter().map(|m| path(&m.org_unit_id)).collect();
                paths.sort();
                accounts.insert(
                    a.username.to_string(),
                    DirAccount {
                        id: a.id.to_string(),
                        name: a.display_name.to_string(),
                        mobile: a.mobile.map(|m| m.to_string()),
                        email: a.email.map(|e| e.to_string()),
                        job_number: a.job_number,
                        title: a.title,
                        enabled: a.status == AccountStatus::Enabled,
                        units: paths,
                    },
                );
            }
            cursor = page.next;
            if cursor.is_none() {
                break;
            }
        }
        DirState {
            unit_paths,
            accounts,
        }
    }

    pub async fn mapped_account(&self, userid: &str) -> Option<String> {
        self.mappings
            .account_of(&self.connector.id, &DingUserId::parse(userid).unwrap())
            .await
            .unwrap()
            .map(|a| a.to_string())
    }
}

#[derive(Debug, PartialEq)]
pub struct DirAccount {
    pub id: String,
    pub name: String,
    pub mobile: Option<String>,
    pub email: Option<String>,
    pub job_number: Option<String>,
    pub title: Option<String>,
    pub enabled: bool,
    pub units: Vec<String>,
}

#[derive(Debug)]
pub struct DirState {
    pub unit_paths: BTreeSet<String>,
    pub accounts: BTreeMap<String, DirAccount>,
}

/// The simulator's org as its control API shows it, with name paths like the directory's.
pub struct SimOrg {
    pub dept_paths: BTreeMap<i64, String>,
    pub users: Vec<Value>,
}

impl SimOrg {
    fn from(v: &Value) -> Self {
        let depts: HashMap<i64, (String, i64)> = v["depts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["dept_id"].as_i64().unwrap(),
                    (
                        d["name"].as_str().unwrap().to_owned(),
                        d["parent_id"].as_i64().unwrap_or(0),
                    ),
                )
            })
            .collect();
        let mut dept_paths = BTreeMap::new();
        for id in depts.keys().copied().filter(|id| *id != 1) {
            let mut parts = Vec::new();
            let mut at = id;
            while at != 1 {
                let Some((name, parent)) = depts.get(&at) else {
                    break;
                };
                parts.push(name.clone());
                at = *parent;
            }
            parts.reverse();
            dept_paths.insert(id, parts.join("/"));
        }
        Self {
            dept_paths,
            users: v["users"].as_array().unwrap().clone(),
        }
    }

    /// How deep the deepest department is (root's children are depth 1).
    pub fn depth(&self) -> usize {
        self.dept_paths
            .values()
            .map(|p| p.split('/').count())
            .max()
            .unwrap_or(0)
    }

    pub fn user_paths(&self, u: &Value) -> Vec<String> {
        let mut paths: Vec<String> = u["dept_id_list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                let id = d.as_i64().unwrap();
                if id == 1 {
                    String::new()
                } else {
                    self.dept_paths[&id].clone()
                }
            })
            .collect();
        paths.sort();
        paths
    }
}

pub fn json_str(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned).filter(|s| !s.is_empty())
}

/// The body of a fault for the simulator's control API.
pub fn fault(api: &str, errcode: i64, count: u64) -> Value {
    json!({ "api": api, "errcode": errcode, "count": count })
}
