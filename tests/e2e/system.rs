//! A whole dingbridge on one engine pair (embedded, or DynamoDB + SQS on moto) beside a simulated
//! DingTalk: the admin, callback, health, token and SCIM routers on a real server, the sync and push workers
//! pumped from their real queues, and a demo connector registered for callbacks through the admin
//! API.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use dingbridge::dingtalk::limiter::{Rate, RateLimiter};
use dingbridge::dingtalk::{ClientConfig, DingTalk, HttpDingTalk};
use dingbridge::domain::directory::Account;
use dingbridge::domain::ids::{ConnectorId, OrgUnitId};
use dingbridge::ports::{Clock, OutMessage, Queue, QueueConsumer, QueueError, SystemClock, Table};
use dingbridge::secrets::SecretBox;
use dingbridge::store::directory::Directory;
use dingbridge::store::mappings::Mappings;
use dingbridge::worker::{BatchHandler, PumpSettings, pump};
use dingtalk_sim::testkit;
use serde_json::{Value, json};
use tokio::sync::watch;

/// Which engines the system runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Embedded,
    #[cfg(feature = "aws")]
    Aws,
}

/// A queue that refuses the next `fail_next` sends (a real queue underneath): the callback's
/// "enqueue failed" path, without mocking the queue's behaviour.
pub struct FlakyQueue {
    inner: Arc<dyn Queue>,
    pub fail_next: AtomicUsize,
    pub refused: AtomicUsize,
}

#[async_trait]
impl Queue for FlakyQueue {
    async fn send(&self, message: OutMessage) -> Result<(), QueueError> {
        let refuse = self
            .fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if refuse {
            self.refused.fetch_add(1, Ordering::SeqCst);
            return Err(QueueError::Transient("injected enqueue failure".into()));
        }
        self.inner.send(message).await
    }
    async fn send_batch(&self, messages: Vec<OutMessage>) -> Result<(), QueueError> {
        for m in messages {
            self.send(m).await?;
        }
        Ok(())
    }
    fn engine(&self) -> &'static str {
        self.inner.engine()
    }
}

/// A batch handler that counts the messages it was given.
struct Counted {
    inner: Arc<sync_worker::Deps>,
    handled: Arc<AtomicUsize>,
}

#[async_trait]
impl BatchHandler for Counted {
    async fn handle(&self, batch: Vec<dingbridge::ports::Received>) -> Vec<String> {
        let n = batch.len();
        let failed = self.inner.handle(batch).await;
        self.handled.fetch_add(n, Ordering::SeqCst);
        failed
    }
}

/// The table, the sync queue (both sides) and, for the embedded queue, its wake-up handle.
type EnginePair = (
    Arc<dyn Table>,
    Arc<dyn Queue>,
    Arc<dyn QueueConsumer>,
    Option<Arc<tokio::sync::Notify>>,
);

pub struct System {
    pub base: String,
    pub token: String,
    pub sim: dingtalk_sim::SimHandle,
    pub http: reqwest::Client,
    pub table: Arc<dyn Table>,
    pub consumer: Arc<dyn QueueConsumer>,
    pub callback_queue: Arc<FlakyQueue>,
    pub worker: Arc<sync_worker::Deps>,
    /// Sync queue messages the worker has handled (acknowledged or returned): a test waits
    /// for it to stop moving instead of listing the directory over and over.
    pub synced: Arc<AtomicUsize>,
    /// The push worker its pump feeds; tests call `push_worker::sweep` with it.
    pub pusher: Arc<push_worker::Deps>,
    pub connector_id: ConnectorId,
    pub corp_id: String,
    pub callback_token: String,
    pub callback_aes_key: String,
    stop: watch::Sender<bool>,
    pump_task: Option<tokio::task::JoinHandle<()>>,
    pump_settings: PumpSettings,
    wake: Option<Arc<tokio::sync::Notify>>,
    _dir: tempfile::TempDir,
}

/// The simulated org the tests start from: small, clean (no dirty rows), fast retries.
pub fn sim_config() -> dingtalk_sim::SimConfig {
    dingtalk_sim::SimConfig {
        seed: 11,
        users: 40,
        depts: 8,
        dirty_share: 0.0,
        callback_time_scale: 0.01,
        ..Default::default()
    }
}

impl System {
    pub async fn start(engine: Engine) -> Self {
        Self::start_with(engine, sim_config(), true).await
    }

    pub async fn start_with(
        engine: Engine,
        config: dingtalk_sim::SimConfig,
        pumping: bool,
    ) -> Self {
        let dingtalk = HttpDingTalk::new(ClientConfig::default()).unwrap();
        Self::start_on(engine, config, pumping, Arc::new(dingtalk)).await
    }

    /// A system whose DingTalk calls are fast: the test kit's retry timings, and a client-side
    /// limit far above DingTalk's 20 calls a second (with the simulator's own limit off, the
    /// pushes and callbacks of a few hundred entities take seconds, not tens of seconds).
    pub async fn start_fast(engine: Engine, config: dingtalk_sim::SimConfig) -> Self {
        let limiter = Arc::new(RateLimiter::new(Rate::per_second(2000.0)));
        // Hangs are cut at 2 s, so that a test of one costs seconds.
        let client = ClientConfig {
            request_timeout: Duration::from_secs(2),
            ..testkit::fast_client_config()
        };
        let dingtalk = HttpDingTalk::with_limiter(client, limiter).unwrap();
        let system = Self::start_on(engine, config, true, Arc::new(dingtalk)).await;
        system.drain_on_schedule(Duration::from_secs(2));
        system
    }

    /// Runs the failed-push drain every `period`, as the deployment's schedule does: on a loaded
    /// machine a callback can time out at DingTalk three times and land in its failed list,
    /// where only the drain finds it.
    fn drain_on_schedule(&self, period: Duration) {
        let worker = self.worker.clone();
        let mut stop = self.stop.subscribe();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => return,
                    () = tokio::time::sleep(period) => {}
                }
                if let Err(e) = sync_worker::drain_all(&worker).await {
                    eprintln!("scheduled drain: {e}");
                }
            }
        });
    }

    async fn start_on(
        engine: Engine,
        config: dingtalk_sim::SimConfig,
        pumping: bool,
        dingtalk: Arc<dyn DingTalk>,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let (table, queue, consumer, wake): EnginePair = match engine {
            Engine::Embedded => {
                let store =
                    dingbridge::adapters::embedded::EmbeddedStore::open(dir.path()).unwrap();
                let q = Arc::new(store.queue(
                    "sync",
                    dingbridge::adapters::embedded::QueueSettings {
                        max_receives: 5,
                        dedup_window: Duration::from_secs(300),
                    },
                    clock.clone(),
                ));
                let wake = Some(q.notify_handle());
                (Arc::new(store.table(clock.clone())), q.clone(), q, wake)
            }
            #[cfg(feature = "aws")]
            Engine::Aws => {
                let (t, q) = crate::aws_engines().await;
                (t, q.clone(), q, None)
            }
        };
        // The full pull has its own FIFO queue (`PullQueue` in template.yaml).
        let (pull_queue, pull_consumer): (Arc<dyn Queue>, Arc<dyn QueueConsumer>) = match engine {
            Engine::Embedded => {
                let store =
                    dingbridge::adapters::embedded::EmbeddedStore::open(&dir.path().join("pull"))
                        .unwrap();
                let q = Arc::new(store.queue("pull", Default::default(), clock.clone()));
                (q.clone(), q)
            }
            #[cfg(feature = "aws")]
            Engine::Aws => {
                let q = crate::aws_queue("pull").await;
                (q.clone(), q)
            }
        };
        // Directory writes to push go to their own FIFO queue (`PushQueue`), which the push
        // worker consumes (it does nothing for connectors that do not push).
        let (push_queue, push_consumer): (Arc<dyn Queue>, Arc<dyn QueueConsumer>) = match engine {
            Engine::Embedded => {
                let store =
                    dingbridge::adapters::embedded::EmbeddedStore::open(&dir.path().join("push"))
                        .unwrap();
                let q = Arc::new(store.queue("push", Default::default(), clock.clone()));
                (q.clone(), q)
            }
            #[cfg(feature = "aws")]
            Engine::Aws => {
                let q = crate::aws_queue("push").await;
                (q.clone(), q)
            }
        };
        let secrets = SecretBox::from_base64(&SecretBox::generate_key()).unwrap();
        let callback_queue = Arc::new(FlakyQueue {
            inner: queue.clone(),
            fail_next: AtomicUsize::new(0),
            refused: AtomicUsize::new(0),
        });

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let token = format!("e2e-admin-{}", uuid::Uuid::new_v4().simple());
        admin::bootstrap_admin_token(table.clone(), clock.clone(), Some(token.clone()))
            .await
            .unwrap();
        let app = health::router(health::Deps {
            table: table.clone(),
            queue_engine: queue.engine(),
        })
        .merge(dingtalk_callback::router(dingtalk_callback::Deps::new(
            table.clone(),
            callback_queue.clone(),
            clock.clone(),
            secrets.clone(),
        )))
        .merge(admin::router(admin::Deps {
            table: table.clone(),
            sync_queue: queue.clone(),
            pull_queue: pull_queue.clone(),
            push_queue: push_queue.clone(),
            dingtalk: dingtalk.clone(),
            clock: clock.clone(),
            secrets: secrets.clone(),
            public_base_url: base.clone(),
        }))
        .merge(oauth_token::router(oauth_token::Deps {
            table: table.clone(),
            clock: clock.clone(),
            secrets: secrets.clone(),
            public_url: base.clone(),
            throttle: Default::default(),
        }))
        .merge(scim::router(scim::Deps {
            table: table.clone(),
            push_queue: push_queue.clone(),
            clock: clock.clone(),
            public_url: base.clone(),
        }));
        // Sign-in: the portal, the DingTalk QR login and the micro-app login.
        let portal_deps = portal::Deps {
            table: table.clone(),
            clock: clock.clone(),
            secrets: secrets.clone(),
            public_url: base.clone(),
            sessions: Default::default(),
            throttle: portal::default_throttle(),
            dingtalk: dingtalk.clone(),
            jsapi_stand_in: None,
        };
        let app = app
            .merge(portal::router(portal_deps.clone()))
            .merge(portal::qr_router(portal_deps.clone()))
            .merge(portal::micro_router(portal_deps));
        let (stop, signal) = watch::channel(false);
        let mut server_signal = signal.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = server_signal.wait_for(|s| *s).await;
                })
                .await;
        });

        let worker = Arc::new(sync_worker::Deps::new(
            table.clone(),
            queue.clone(),
            dingtalk.clone(),
            clock.clone(),
            secrets.clone(),
            sync_worker::Settings { max_receives: 5 },
        ));
        // The full pull's steps, one at a time (BatchSize 1 in template.yaml).
        let puller = Arc::new(full_pull::Deps::new(
            table.clone(),
            pull_queue.clone(),
            dingtalk.clone(),
            clock.clone(),
            secrets.clone(),
            full_pull::PullSettings::default(),
        ));
        let pull_settings = PumpSettings {
            batch_size: 1,
            visibility: Duration::from_secs(120),
            retry_delay: Some(Duration::from_millis(200)),
            idle_poll: Duration::from_millis(100),
        };
        tokio::spawn(pump(
            pull_consumer,
            puller,
            pull_settings,
            None,
            stop.subscribe(),
        ));
        let pump_settings = PumpSettings {
            batch_size: 10,
            visibility: Duration::from_secs(30),
            retry_delay: Some(Duration::from_millis(200)),
            idle_poll: Duration::from_millis(100),
        };
        // The push worker, as Lambda runs it: batches of the push queue (waits retried after a
        // short delay here, after the visibility timeout on AWS).
        let pusher = Arc::new(push_worker::Deps::new(
            table.clone(),
            push_queue,
            dingtalk.clone(),
            clock.clone(),
            secrets.clone(),
            push_worker::Settings::default(),
        ));
        tokio::spawn(pump(
            push_consumer,
            pusher.clone(),
            pump_settings.clone(),
            None,
            stop.subscribe(),
        ));

        let testkit::Sim {
            handle: sim,
            base: sim_base,
        } = testkit::start_sim(config).await.unwrap();
        let sim_app = sim.apps().into_iter().next().unwrap();
        let http = reqwest::Client::new();
        let callback_token = "e2eToken12345".to_owned();
        let callback_aes_key = testkit::CALLBACK_AES_KEY.to_owned();
        let mut input = testkit::connector_json(&sim_app, &sim_base, "e2e");
        for (key, value) in [
            ("register_callback", json!(true)),
            ("callback_token", json!(callback_token)),
            ("callback_aes_key", json!(callback_aes_key)),
            ("email_field", json!("email")),
        ] {
            input[key] = value;
        }
        let created: Value = http
            .post(format!("{base}/admin/api/connectors"))
            .bearer_auth(&token)
            .json(&input)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            created["callback"]["ok"], true,
            "callback registration failed: {created}"
        );
        let connector_id = ConnectorId::parse(created["id"].as_str().unwrap()).unwrap();
        let mut system = Self {
            base,
            token,
            sim,
            http,
            table,
            consumer,
            callback_queue,
            worker,
            synced: Arc::new(AtomicUsize::new(0)),
            pusher,
            connector_id,
            corp_id: sim_app.corp_id,
            callback_token,
            callback_aes_key,
            stop,
            pump_task: None,
            pump_settings,
            wake,
            _dir: dir,
        };
        if pumping {
            system.start_pump();
        }
        system
    }

    /// Start the sync worker (a fresh "process").
    pub fn start_pump(&mut self) {
        let counted = Arc::new(Counted {
            inner: self.worker.clone(),
            handled: self.synced.clone(),
        });
        let task = tokio::spawn(pump(
            self.consumer.clone(),
            counted,
            self.pump_settings.clone(),
            self.wake.clone(),
            self.stop.subscribe(),
        ));
        self.pump_task = Some(task);
    }

    pub async fn sim(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let response = self
            .http
            .request(method, format!("{}{path}", self.sim.base_url()))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let value: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "simulator refused {path}: {value}");
        value
    }

    pub fn directory(&self) -> Directory {
        Directory::new(self.table.clone(), Arc::new(SystemClock))
    }

    pub fn mappings(&self) -> Mappings {
        Mappings::new(self.table.clone())
    }

    /// The account mapped to a DingTalk userid, if any.
    pub async fn account_of(&self, userid: &str) -> Option<Account> {
        let id = dingbridge::dingtalk::DingUserId::parse(userid).unwrap();
        let account = self
            .mappings()
            .account_of(&self.connector_id, &id)
            .await
            .unwrap()?;
        self.directory().account(&account).await.unwrap()
    }

    /// The org unit mapped to a DingTalk department id, if any (and still in the directory).
    pub async fn unit_of(&self, dept: i64) -> Option<dingbridge::domain::directory::OrgUnit> {
        let id = dingbridge::dingtalk::DeptId::new(u64::try_from(dept).unwrap()).unwrap();
        let unit: OrgUnitId = self
            .mappings()
            .unit_of(&self.connector_id, id)
            .await
            .unwrap()?;
        self.directory().org_unit(&unit).await.unwrap()
    }

    pub async fn admin_get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Stop the server and the worker.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.pump_task.take() {
            let _ = task.await;
        }
    }
}

/// Polls `check` until it holds or `patience` runs out; returns how long it took.
pub async fn eventually<F, Fut>(patience: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < patience,
            "not converged within {patience:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
