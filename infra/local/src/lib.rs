//! The whole system in one process: every HTTP function's router on one axum server, queue-triggered
//! handlers fed by the embedded queues, scheduled jobs on timers, all on the embedded engines.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use dingbridge::adapters::embedded::{EmbeddedQueue, EmbeddedStore, QueueSettings};
use dingbridge::ports::{Clock, SystemClock, Table};
use dingbridge::worker::{BatchHandler, PumpSettings, pump};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Where and how to run.
#[derive(Clone, Debug)]
pub struct Options {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
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
}

/// Same redrive policy as `template.yaml`: five receives, then the dead-letter list.
const MAX_RECEIVES: u32 = 5;

impl Engines {
    pub fn open(data_dir: &std::path::Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
        let store = EmbeddedStore::open(data_dir)
            .with_context(|| format!("cannot open the embedded store in {}", data_dir.display()))?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let settings = QueueSettings {
            max_receives: MAX_RECEIVES,
            dedup_window: Duration::from_secs(300),
        };
        Ok(Self {
            table: Arc::new(store.table(clock.clone())),
            sync_queue: Arc::new(store.queue("sync", settings, clock.clone())),
            push_queue: Arc::new(store.queue("push", settings, clock.clone())),
            clock,
            store,
        })
    }
}

/// A running local system.
pub struct Running {
    pub addr: SocketAddr,
    /// The engines in use (tests reach the queues through them).
    pub engines: Engines,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<anyhow::Result<()>>,
}

impl Running {
    /// Stop accepting requests, let in-flight requests and batches finish, and close the store.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        self.join().await
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

/// Every HTTP function's router, merged.
pub fn router(engines: &Engines) -> Router {
    health::router(health::Deps {
        table: engines.table.clone(),
        queue_engine: "embedded",
    })
}

/// The queue-triggered handlers and the queue each one consumes. The sync and push workers
/// register here as their issues land.
pub fn consumers(_engines: &Engines) -> Vec<(Arc<EmbeddedQueue>, Arc<dyn BatchHandler>)> {
    Vec::new()
}

/// Bind, serve and start the pumps.
pub async fn start(options: Options) -> anyhow::Result<Running> {
    let engines = Engines::open(&options.data_dir)?;
    let listener = tokio::net::TcpListener::bind(options.addr)
        .await
        .with_context(|| format!("cannot listen on {}", options.addr))?;
    let addr = listener.local_addr()?;
    let (shutdown, signal) = watch::channel(false);
    let mut tasks = JoinSet::new();

    let app = router(&engines);
    let mut http_signal = signal.clone();
    tasks.spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = http_signal.wait_for(|stop| *stop).await;
            })
            .await
            .context("the HTTP server failed")
    });

    for (queue, handler) in consumers(&engines) {
        let wake = queue.notify_handle();
        let signal = signal.clone();
        tasks.spawn(async move {
            pump(queue, handler, PumpSettings::default(), Some(wake), signal).await;
            Ok(())
        });
    }

    Ok(Running {
        addr,
        engines,
        shutdown,
        tasks,
    })
}
