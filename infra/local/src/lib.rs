//! The whole system in one process: every HTTP function's router on one axum server, queue-triggered
//! handlers fed by the embedded queues, scheduled jobs on timers, all on the embedded engines.

pub mod banner;
pub mod demo;
pub mod demo_app;
pub mod demo_sso;
pub mod home;
pub mod local_dd;
mod serve;
pub mod token;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use dingbridge::adapters::embedded::{
    DATA_FILE, DirSecrets, EmbeddedQueue, EmbeddedStore, QueueSettings, files,
};
use dingbridge::dingtalk::{ClientConfig, DingTalk, HttpDingTalk};
use dingbridge::ports::{Clock, DeploymentSecret, SystemClock, Table};
use dingbridge::secrets::SecretBox;
use dingbridge::store::connectors::Connectors;
use dingbridge::store::runs::Runs;
use dingbridge::store::sessions::SessionSettings;
use dingbridge::store::throttle::ThrottleSettings;
use dingbridge::web::ApiError;
use dingbridge::worker::{BatchHandler, PumpSettings, pump};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Where and how to run.
#[derive(Clone, Debug)]
pub struct Options {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    /// The base URL DingTalk reaches this server at (callbacks); default `http://{addr}`.
    pub public_url: Option<String>,
    /// The admin token (`DINGBRIDGE_ADMIN_TOKEN`); without it, the token kept in the data
    /// directory's `admin.token`, made at the first start.
    pub admin_token: Option<String>,
    /// How often the failed-push list of DingTalk is drained.
    pub drain_every: Duration,
    /// How often connectors' pull schedules are checked.
    pub pull_check_every: Duration,
    /// How often the push outbox is swept for items left pending (`rate(1 minute)` on AWS).
    pub sweep_every: Duration,
    /// Run the queue consumers and timers (off only to measure the HTTP side alone).
    pub run_workers: bool,
    /// How long a client may take to send a request's headers before the connection is closed.
    pub header_read_timeout: Duration,
    /// How long a client may take to send a request's body before it is answered 408 and closed.
    pub body_read_timeout: Duration,
    /// The simulated DingTalk and its demo connector (`cargo run` without `--no-demo`).
    pub demo: Option<demo::DemoOptions>,
}

impl Options {
    pub fn new(addr: SocketAddr, data_dir: PathBuf) -> Self {
        Self {
            addr,
            data_dir,
            public_url: None,
            admin_token: None,
            drain_every: Duration::from_secs(300),
            pull_check_every: Duration::from_secs(60),
            sweep_every: Duration::from_secs(60),
            run_workers: true,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            demo: None,
        }
    }
}

/// The engines of a local run, shared by every function.
#[derive(Clone)]
pub struct Engines {
    pub store: EmbeddedStore,
    pub table: Arc<dyn Table>,
    pub clock: Arc<dyn Clock>,
    /// DingTalk events and pull continuations (the `SyncQueue` of `template.yaml`).
    pub sync_queue: Arc<EmbeddedQueue>,
    /// Directory changes to push to DingTalk (the `PushQueue` of `template.yaml`).
    pub push_queue: Arc<EmbeddedQueue>,
    /// Full-pull steps: started pulls, confirmed runs, continuations (the `PullQueue`).
    pub pull_queue: Arc<EmbeddedQueue>,
    pub secrets: SecretBox,
    pub dingtalk: Arc<dyn DingTalk>,
    /// Work finished after a reply (the callback's dedupe keys): shutdown waits for it, so the
    /// store closes when `Running::shutdown` returns.
    pub pending: tokio_util::task::TaskTracker,
}

/// Same redrive policy as `template.yaml`: five receives, then the dead-letter list.
const MAX_RECEIVES: u32 = 5;

impl Engines {
    /// Opens the engines in `data_dir`, created owner-only (0700, its files 0600) or tightened so.
    pub fn open(data_dir: &Path) -> anyhow::Result<Self> {
        files::private_dir(data_dir)
            .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
        let store = EmbeddedStore::open(data_dir).with_context(|| {
            format!(
                "cannot open the embedded store in {} (is another dingbridge running on this \
                     data directory? stop it, or give this one its own --data-dir)",
                data_dir.display()
            )
        })?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let settings = QueueSettings {
            max_receives: MAX_RECEIVES,
            dedup_window: Duration::from_secs(300),
        };
        let dingtalk = HttpDingTalk::new(ClientConfig::default())
            .context("cannot build the DingTalk HTTP client")?;
        Ok(Self {
            table: Arc::new(store.table(clock.clone())),
            sync_queue: Arc::new(store.queue("sync", settings, clock.clone())),
            push_queue: Arc::new(store.queue("push", settings, clock.clone())),
            pull_queue: Arc::new(store.queue("pull", settings, clock.clone())),
            secrets: data_key(data_dir)?,
            dingtalk: Arc::new(dingtalk),
            pending: tokio_util::task::TaskTracker::new(),
            clock,
            store,
        })
    }
}

/// The deployment's data key: `DINGBRIDGE_DATA_KEY`, else the key the data directory keeps
/// (created at first start, readable by its owner only).
fn data_key(data_dir: &Path) -> anyhow::Result<SecretBox> {
    if let Ok(key) = std::env::var(DeploymentSecret::DataKey.var()) {
        return SecretBox::from_base64(&key).context("DINGBRIDGE_DATA_KEY");
    }
    let secrets = DirSecrets::new(data_dir);
    let (key, _) = secrets.get_or_create(DeploymentSecret::DataKey, SecretBox::generate_key)?;
    SecretBox::from_base64(key.expose()).with_context(|| {
        format!(
            "{} is not a data key",
            secrets.path(DeploymentSecret::DataKey).display()
        )
    })
}

/// A running local system.
pub struct Running {
    pub addr: SocketAddr,
    /// The base URL DingTalk is told to call back.
    pub public_url: String,
    /// The engines in use (tests reach the queues through them).
    pub engines: Engines,
    /// The admin token of this run and where a person finds it.
    pub token: token::LocalToken,
    /// The demo, when `Options::demo` asked for it and it started.
    pub demo: Option<demo::Demo>,
    /// Why the demo asked for could not start.
    pub demo_error: Option<String>,
    /// The data directory, as given.
    pub data_dir: PathBuf,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<anyhow::Result<()>>,
}

impl Running {
    /// Stop accepting requests, let in-flight requests and batches finish, and close the store.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        let joined = self.join().await;
        self.engines.pending.close();
        self.engines.pending.wait().await;
        joined
    }

    /// Wait until every task has ended (after a shutdown signal), reporting the first failure.
    pub async fn join(&mut self) -> anyhow::Result<()> {
        let mut first_error = None;
        while let Some(result) = self.tasks.join_next().await {
            let outcome = result.map_err(anyhow::Error::from).and_then(|r| r);
            if let Err(e) = outcome {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    pub fn shutdown_signal(&self) -> watch::Sender<bool> {
        self.shutdown.clone()
    }
}

/// Every HTTP function's router, merged, on the embedded engines. `jsapi_stand_in`: the local
/// stand-in for DingTalk's JSAPI the micro-app page loads (the demo's), if any.
pub fn router(engines: &Engines, public_url: &str, jsapi_stand_in: Option<&str>) -> Router {
    router_on(&Wiring {
        table: engines.table.clone(),
        sync_queue: engines.sync_queue.clone(),
        pull_queue: engines.pull_queue.clone(),
        push_queue: engines.push_queue.clone(),
        queue_engine: "embedded",
        clock: engines.clock.clone(),
        secrets: engines.secrets.clone(),
        dingtalk: engines.dingtalk.clone(),
        public_url: public_url.to_owned(),
        jsapi_stand_in: jsapi_stand_in.map(str::to_owned),
        pending: engines.pending.clone(),
    })
}

/// What the HTTP functions need, on any engines (benchmarks run the same routers on moto).
#[derive(Clone)]
pub struct Wiring {
    pub table: Arc<dyn Table>,
    pub sync_queue: Arc<dyn dingbridge::ports::Queue>,
    pub pull_queue: Arc<dyn dingbridge::ports::Queue>,
    pub push_queue: Arc<dyn dingbridge::ports::Queue>,
    pub queue_engine: &'static str,
    pub clock: Arc<dyn Clock>,
    pub secrets: SecretBox,
    pub dingtalk: Arc<dyn DingTalk>,
    pub public_url: String,
    /// LOCAL ONLY: the script that plays DingTalk's JSAPI on the micro-app page.
    pub jsapi_stand_in: Option<String>,
    /// Work the callback endpoint finishes after its reply; a shutdown waits for it.
    pub pending: tokio_util::task::TaskTracker,
}

/// Every HTTP function's router, merged.
pub fn router_on(w: &Wiring) -> Router {
    let health = health::router(health::Deps {
        table: w.table.clone(),
        queue_engine: w.queue_engine,
    });
    let admin = admin::router(admin::Deps {
        table: w.table.clone(),
        sync_queue: w.sync_queue.clone(),
        pull_queue: w.pull_queue.clone(),
        push_queue: w.push_queue.clone(),
        dingtalk: w.dingtalk.clone(),
        clock: w.clock.clone(),
        secrets: w.secrets.clone(),
        public_base_url: w.public_url.clone(),
    });
    let mut callback_deps = dingtalk_callback::Deps::new(
        w.table.clone(),
        w.sync_queue.clone(),
        w.clock.clone(),
        w.secrets.clone(),
    );
    callback_deps.pending = w.pending.clone();
    let callback = dingtalk_callback::router(callback_deps);
    let scim = scim::router(scim::Deps {
        table: w.table.clone(),
        push_queue: w.push_queue.clone(),
        clock: w.clock.clone(),
        public_url: w.public_url.clone(),
    });
    let oauth_token = oauth_token::router(oauth_token::Deps {
        table: w.table.clone(),
        clock: w.clock.clone(),
        secrets: w.secrets.clone(),
        public_url: w.public_url.clone(),
        throttle: ThrottleSettings::default(),
    });
    let portal_deps = portal::Deps {
        table: w.table.clone(),
        clock: w.clock.clone(),
        secrets: w.secrets.clone(),
        public_url: w.public_url.clone(),
        sessions: SessionSettings::default(),
        throttle: portal::default_throttle(),
        dingtalk: w.dingtalk.clone(),
        jsapi_stand_in: w.jsapi_stand_in.clone(),
    };
    let qr_login = portal::qr_router(portal_deps.clone());
    let micro_login = portal::micro_router(portal_deps.clone());
    let portal = portal::router(portal_deps);
    // Any other path answers the error body every function answers with.
    health
        .merge(callback)
        .merge(admin)
        .merge(scim)
        .merge(oauth_token)
        .merge(portal)
        .merge(qr_login)
        .merge(micro_login)
        .fallback(|| async { ApiError::NotFound })
}

/// The sync worker as the embedded sync queue's consumer sees it.
pub fn sync_worker(engines: &Engines) -> sync_worker::Deps {
    sync_worker::Deps::new(
        engines.table.clone(),
        engines.sync_queue.clone(),
        engines.dingtalk.clone(),
        engines.clock.clone(),
        engines.secrets.clone(),
        sync_worker::Settings {
            max_receives: MAX_RECEIVES,
        },
    )
}

/// The push worker as the embedded push queue's consumer (and the outbox sweeper) sees it.
pub fn push_worker(engines: &Engines) -> push_worker::Deps {
    push_worker::Deps::new(
        engines.table.clone(),
        engines.push_queue.clone(),
        engines.dingtalk.clone(),
        engines.clock.clone(),
        engines.secrets.clone(),
        push_worker::Settings {
            max_receives: MAX_RECEIVES,
        },
    )
}

/// The full pull as the embedded pull queue's consumer sees it. Its steps are shorter than on
/// Lambda (25 s instead of 13 minutes), so each stays inside the local visibility timeout; the
/// queue's redrive and visibility are the local pump's.
pub fn full_pull(engines: &Engines) -> full_pull::Deps {
    full_pull::Deps::new(
        engines.table.clone(),
        engines.pull_queue.clone(),
        engines.dingtalk.clone(),
        engines.clock.clone(),
        engines.secrets.clone(),
        full_pull::PullSettings {
            budget: Duration::from_secs(25),
            max_receives: MAX_RECEIVES,
            queue_visibility: PumpSettings::default().visibility,
            ..full_pull::PullSettings::default()
        },
    )
}

/// The queue-triggered handlers and the queue each one consumes.
pub fn consumers(engines: &Engines) -> Vec<(Arc<EmbeddedQueue>, Arc<dyn BatchHandler>)> {
    vec![
        (engines.sync_queue.clone(), Arc::new(sync_worker(engines))),
        (engines.pull_queue.clone(), Arc::new(full_pull(engines))),
        (engines.push_queue.clone(), Arc::new(push_worker(engines))),
    ]
}

/// Bind, serve, start the pumps and timers, and the demo when asked for.
pub async fn start(options: Options) -> anyhow::Result<Running> {
    if options.demo.as_ref().is_some_and(|d| d.reset) {
        reset_demo(&options.data_dir)?;
    }
    let engines = Engines::open(&options.data_dir)?;
    let listener = tokio::net::TcpListener::bind(options.addr)
        .await
        .with_context(|| format!("cannot listen on {}", options.addr))?;
    let addr = listener.local_addr()?;
    let base = format!("http://{addr}");
    let public_url = options
        .public_url
        .clone()
        .unwrap_or_else(|| base.clone())
        .trim_end_matches('/')
        .to_owned();
    let token = token::local_token(
        engines.table.clone(),
        engines.clock.clone(),
        &options.data_dir,
        options.admin_token.clone(),
    )
    .await?;
    let (shutdown, signal) = watch::channel(false);
    let mut tasks = JoinSet::new();

    let home = home::Home::new(
        Connectors::new(
            engines.table.clone(),
            engines.clock.clone(),
            engines.secrets.clone(),
        ),
        Runs::new(engines.table.clone(), engines.clock.clone()),
        token.clone(),
        base.clone(),
        public_url.clone(),
    );
    let demo_app = demo_app::DemoApp::new(&base, &public_url);
    let local_dd = local_dd::LocalDd::default();
    let stand_in = options.demo.as_ref().map(|_| local_dd::SCRIPT_PATH);
    let mut routes = home.routes().merge(router(&engines, &public_url, stand_in));
    if options.demo.is_some() {
        routes = routes.merge(demo_app.routes()).merge(local_dd.routes());
    }
    let app = serve::with_body_deadline(routes, options.body_read_timeout);
    let header_read_timeout = options.header_read_timeout;
    let http_signal = signal.clone();
    tasks.spawn(async move {
        serve::serve(listener, app, header_read_timeout, http_signal)
            .await
            .context("the HTTP server failed")
    });

    let consumers = if options.run_workers {
        consumers(&engines)
    } else {
        Vec::new()
    };
    for (queue, handler) in consumers {
        let wake = queue.notify_handle();
        let signal = signal.clone();
        tasks.spawn(async move {
            pump(queue, handler, PumpSettings::default(), Some(wake), signal).await;
            Ok(())
        });
    }

    // The schedules of `template.yaml`, on timers (only when the workers run).
    if options.run_workers {
        let drain = Arc::new(sync_worker(&engines));
        schedule(&mut tasks, options.drain_every, signal.clone(), move || {
            let drain = drain.clone();
            async move {
                if let Err(e) = sync_worker::drain_all(&drain).await {
                    tracing::warn!(error = %e, "draining DingTalk's failed-push list failed; next tick retries");
                }
            }
        });
        let pushes = Arc::new(push_worker(&engines));
        let clock = engines.clock.clone();
        schedule(&mut tasks, options.sweep_every, signal.clone(), move || {
            let (pushes, now) = (pushes.clone(), clock.now_millis());
            async move {
                if let Err(e) = push_worker::sweep(&pushes, now).await {
                    tracing::warn!(error = %e, "sweeping the push outbox failed; next tick retries");
                }
            }
        });
        let pulls = Arc::new(full_pull(&engines));
        let clock = engines.clock.clone();
        schedule(
            &mut tasks,
            options.pull_check_every,
            signal.clone(),
            move || {
                let (pulls, now) = (pulls.clone(), clock.now_millis());
                async move {
                    if let Err(e) = full_pull::tick(&pulls, now).await {
                        tracing::warn!(error = %e, "starting the due full pulls failed; next tick retries");
                    }
                }
            },
        );
    }

    let (demo, demo_error) = match &options.demo {
        None => (None, None),
        Some(demo_options) => {
            match demo::start(
                &base,
                &public_url,
                &token.value,
                demo_options,
                &options.data_dir,
            )
            .await
            {
                Ok(demo) => {
                    if let Ok(sso) = &demo.sso {
                        demo_app.set(sso.app.clone());
                    }
                    local_dd.set_sim(demo.sim.base_url());
                    home.set_demo(home::DemoInfo {
                        connector_id: demo.connector_id.clone(),
                        sim_url: demo.sim.base_url(),
                        sim: demo.sim.state().clone(),
                    });
                    (Some(demo), None)
                }
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "the demo could not start");
                    (None, Some(format!("{e:#}")))
                }
            }
        }
    };

    Ok(Running {
        addr,
        public_url,
        engines,
        token,
        demo,
        demo_error,
        data_dir: options.data_dir,
        shutdown,
        tasks,
    })
}

/// Forgets the demo: the store (connectors, directory, runs, queues), the simulated org and the
/// demo's SCIM client files. The data key and the admin token stay, so the printed commands keep
/// working.
fn reset_demo(data_dir: &Path) -> anyhow::Result<()> {
    if data_dir.join(DATA_FILE).exists() {
        // Opening takes the store's lock: a system still running on this directory refuses it,
        // and its files are left alone.
        drop(EmbeddedStore::open(data_dir).with_context(|| {
            format!(
                "cannot reset {}: is dingbridge still running on it?",
                data_dir.display()
            )
        })?);
    }
    for name in [
        DATA_FILE,
        demo::ORG_FILE,
        demo::SCIM_CLIENT_FILE,
        demo::SCIM_SECRET_FILE,
        demo_sso::USER_FILE,
        demo_sso::PASSWORD_FILE,
    ] {
        let path = data_dir.join(name);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("cannot remove {}", path.display()));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Run `job` every `interval` (first after one interval) until shutdown: the local stand-in for an
/// EventBridge schedule.
fn schedule<F, Fut>(
    tasks: &mut JoinSet<anyhow::Result<()>>,
    interval: Duration,
    mut signal: watch::Receiver<bool>,
    mut job: F,
) where
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    tasks.spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => job().await,
                changed = signal.changed() => {
                    if changed.is_err() || *signal.borrow() {
                        return Ok(());
                    }
                }
            }
        }
    });
}
