//! `dingtalk-sim`: a local stand-in for DingTalk's open platform (oapi, api and login hosts on one
//! server), written from `docs/dingtalk-protocol.md`, with DingTalk's limits, faults and callbacks.

mod callbacks;
mod control;
mod envelope;
mod faults;
pub mod fixtures;
mod gate;
pub mod generator;
mod limits;
mod login;
pub mod org;
mod persist;
mod routes;
mod state;
#[cfg(feature = "testkit")]
pub mod testkit;
mod tokens;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use callbacks::{LogEntry, Registration};
pub use faults::FaultSpec;
pub use state::{App, AppPolicy, AppRef, Corp, KeyCasing, Settings, SimState, perm};

/// How to build the simulated platform.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub seed: u64,
    pub users: usize,
    pub depts: usize,
    /// Per app × API (protocol §5.1: 20); 0 = unlimited.
    pub qps_per_api: u32,
    pub latency_ms: u64,
    pub token_ttl_secs: u64,
    /// 1.0 = DingTalk's +10 s/+30 s retry schedule; 0.01 in tests.
    pub callback_time_scale: f64,
    /// Share of generated users with one dirty trait.
    pub dirty_share: f64,
    /// Dirty rows may also lack a mobile or share one.
    pub dirty_mobiles: bool,
    /// Departments with more than 100 direct members (DingTalk pages users 100 at a time);
    /// `None`: 3 when there are at least 400 users, else none.
    pub big_depts: Option<usize>,
    pub corp_id: Option<String>,
    pub app_key: Option<String>,
    pub app_secret: Option<String>,
    /// Corps hosted by this process (each with its own org, seeded from `seed`).
    pub corps: usize,
    pub apps_per_corp: usize,
    /// Per source IP per 20 s (protocol §5.1: 10,000); 0 = unlimited.
    pub ip_calls_per_20s: u32,
    /// Share of token and permission failures wrapped as errcode 88 + `sub_code`.
    pub auth_88_share: f64,
    pub key_casing: KeyCasing,
    /// Login redirect URIs every app accepts (by prefix).
    pub redirect_uris: Vec<String>,
    pub callback_timeout_ms: u64,
    /// Keep the orgs in this file: a saved org is served instead of a generated one (with the
    /// seed it was made with), and every change is saved. `None`: the orgs live in memory only.
    pub state_file: Option<PathBuf>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 7,
            users: 200,
            depts: 30,
            qps_per_api: 20,
            latency_ms: 0,
            token_ttl_secs: 7200,
            callback_time_scale: 1.0,
            dirty_share: 0.0,
            dirty_mobiles: false,
            big_depts: None,
            corp_id: None,
            app_key: None,
            app_secret: None,
            corps: 1,
            apps_per_corp: 1,
            ip_calls_per_20s: 10_000,
            auth_88_share: 0.0,
            key_casing: KeyCasing::Legacy,
            redirect_uris: vec!["http://127.0.0.1".into(), "http://localhost".into()],
            callback_timeout_ms: 2500,
            state_file: None,
        }
    }
}

/// One app's credentials, as `GET /_sim/apps` lists them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SimApp {
    pub corp_id: String,
    pub app_key: String,
    pub app_secret: String,
    pub agent_id: i64,
}

/// A running simulator; dropping it shuts the server down.
pub struct SimHandle {
    addr: SocketAddr,
    state: Arc<SimState>,
    shutdown: Option<oneshot::Sender<()>>,
    tasks: Vec<JoinHandle<()>>,
    restored: bool,
}

impl SimHandle {
    /// `http://127.0.0.1:PORT`: the base of all three DingTalk hosts.
    pub fn base_url(&self) -> String {
        let ip = if self.addr.ip().is_unspecified() {
            [127, 0, 0, 1].into()
        } else {
            self.addr.ip()
        };
        format!("http://{}", SocketAddr::new(ip, self.addr.port()))
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn apps(&self) -> Vec<SimApp> {
        control::app_list(&self.state)
            .into_iter()
            .filter_map(|v| serde_json::from_value(v).ok())
            .collect()
    }

    /// Direct access to the whole simulated platform (orgs, settings, policies).
    pub fn state(&self) -> &Arc<SimState> {
        &self.state
    }

    /// Whether the orgs were read from `SimConfig::state_file` (a restart) rather than generated.
    pub fn restored(&self) -> bool {
        self.restored
    }

    /// Stops accepting calls, ends the callback dispatcher and saves the orgs (with a state file).
    pub fn shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            // The server may already be gone; nothing to tell then.
            let _ = tx.send(());
        }
        let tasks = std::mem::take(&mut self.tasks);
        for task in &tasks {
            task.abort();
        }
        // Only the first call saves (`Drop` calls this again).
        if !tasks.is_empty()
            && let Err(e) = persist::save(&self.state)
        {
            tracing::warn!(error = %format!("{e:#}"), "saving the simulated org at shutdown failed");
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A deterministic alphanumeric id of `len` chars for `label` under `seed`.
fn derived(seed: u64, label: &str, len: usize) -> String {
    let mut out = String::new();
    let mut round = 0u32;
    while out.len() < len {
        let digest = Sha256::digest(format!("{seed}/{label}/{round}").as_bytes());
        out.extend(digest.iter().map(|b| format!("{b:02x}")));
        round += 1;
    }
    out.truncate(len);
    out
}

/// The state and the receiving end of its event channel.
type Built = (
    Arc<SimState>,
    tokio::sync::mpsc::UnboundedReceiver<(usize, org::OrgEvent)>,
);

/// Builds the platform state (orgs generated, apps derived from the seed).
pub fn build_state(config: &SimConfig) -> Built {
    build_from(config, None)
}

/// Builds the platform state from `saved` orgs where given (a saved corp whose id no longer
/// matches the configuration is generated afresh), with the seed they were made with.
fn build_from(config: &SimConfig, saved: Option<persist::Snapshot>) -> Built {
    let (events, rx) = tokio::sync::mpsc::unbounded_channel();
    let seed = saved.as_ref().map_or(config.seed, |s| s.seed);
    let mut saved_orgs = saved.map(|s| s.corps).unwrap_or_default().into_iter();
    let mut corps = Vec::new();
    let mut app_index = HashMap::new();
    for c in 0..config.corps.max(1) {
        let corp_seed = seed.wrapping_add(c as u64 * 1_000_003);
        let corp_id = match (&config.corp_id, c) {
            (Some(id), 0) => id.clone(),
            _ => format!("ding{}", derived(corp_seed, "corp", 16)),
        };
        let spec = generator::OrgSpec {
            seed: corp_seed,
            corp_id: corp_id.clone(),
            users: config.users,
            depts: config.depts,
            dirty_share: config.dirty_share,
            dirty_mobiles: config.dirty_mobiles,
            big_depts: config.big_depts,
        };
        let org = match saved_orgs.next() {
            Some(saved) if saved.corp_id == corp_id => org::Org::restore(saved),
            _ => generator::generate(&spec),
        };
        let mut apps = Vec::new();
        for a in 0..config.apps_per_corp.max(1) {
            let first = c == 0 && a == 0;
            let app_key = match (&config.app_key, first) {
                (Some(key), true) => key.clone(),
                _ => format!("ding{}", derived(corp_seed, &format!("key{a}"), 16)),
            };
            let app_secret = match (&config.app_secret, first) {
                (Some(secret), true) => secret.clone(),
                _ => derived(corp_seed, &format!("secret{a}"), 64),
            };
            let agent_id = 3_000_000_000
                + (u64::from_str_radix(&derived(corp_seed, &format!("agent{a}"), 7), 16)
                    .unwrap_or(0) as i64);
            app_index.insert(app_key.clone(), state::AppRef { corp: c, app: a });
            apps.push(state::App {
                app_key,
                app_secret,
                agent_id,
                policy: RwLock::new(AppPolicy::open(config.redirect_uris.clone())),
            });
        }
        corps.push(state::Corp {
            corp_id,
            org: RwLock::new(org),
            apps,
            callbacks: callbacks::CallbackStore::default(),
        });
    }
    let settings = Settings {
        latency_ms: config.latency_ms,
        qps_per_api: config.qps_per_api,
        ip_calls_per_20s: config.ip_calls_per_20s,
        token_ttl_secs: config.token_ttl_secs,
        auth_88_share: config.auth_88_share,
        key_casing: config.key_casing,
        callback_time_scale: config.callback_time_scale,
        callback_timeout_ms: config.callback_timeout_ms,
    };
    let state = SimState {
        settings: RwLock::new(settings),
        corps,
        app_index,
        tokens: tokens::Tokens::default(),
        limits: limits::Limits::default(),
        faults: faults::Faults::default(),
        login: login::Login::default(),
        delivery: callbacks::Delivery::default(),
        events,
        saver: config.state_file.clone().map(|path| persist::Saver {
            path,
            seed,
            changed: tokio::sync::Notify::new(),
        }),
    };
    (Arc::new(state), rx)
}

/// Starts the simulator on `addr` (port 0 picks a free port).
pub async fn start(addr: SocketAddr, config: SimConfig) -> anyhow::Result<SimHandle> {
    let saved = match &config.state_file {
        Some(path) => persist::load(path)?,
        None => None,
    };
    let restored = saved.is_some();
    let (state, events) = build_from(&config, saved);
    // A new org is saved at once, so the seed it was made with is kept from the start.
    persist::save(&state)?;
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let app =
        routes::router(Arc::clone(&state)).into_make_service_with_connect_info::<SocketAddr>();
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let shutdown = async {
            // A dropped sender also means shut down.
            let _ = rx.await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(error = %e, "dingtalk-sim server stopped");
        }
    });
    let dispatcher = tokio::spawn(callbacks::dispatch(Arc::clone(&state), events));
    let saver = tokio::spawn(persist::run(Arc::clone(&state)));
    Ok(SimHandle {
        addr,
        state,
        shutdown: Some(tx),
        tasks: vec![server, dispatcher, saver],
        restored,
    })
}
