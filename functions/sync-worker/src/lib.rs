//! `sync-worker`: consumes the sync queue (SQS) and makes the directory match DingTalk for every
//! id a message names, through the shared reconciler; on a schedule, drains DingTalk's
//! failed-push list into the same queue. One Lambda, dispatched on the event's shape.

mod drain;
mod handler;

use std::sync::Arc;

use dingbridge::config::{ConfigError, EnvReader, QueueWorkerConfig};
use dingbridge::dingtalk::DingTalk;
use dingbridge::ports::{Clock, Queue, Table};
use dingbridge::secrets::SecretBox;
use dingbridge::store::connectors::Connectors;
use dingbridge::store::events::Events;
use dingbridge::sync::{Reconciler, SyncError};
use dingbridge::worker::{Invocation, InvocationError, answer_batch, parse_invocation};

pub use drain::{DrainReport, DrainSummary, drain_all, drain_failed, message_for};

/// Tunables of the worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The delivery at which a still-failing message is parked (and acknowledged) instead of
    /// being returned once more: set it to the queue's `maxReceiveCount`, so what would go to the
    /// dead-letter queue is parked with its reason, visible and re-drivable in the admin API.
    pub max_receives: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self { max_receives: 5 }
    }
}

/// What the worker uses; the list is also its IAM policy (table read/write, queue send for the
/// drain, DingTalk over HTTPS).
#[derive(Clone)]
pub struct Deps {
    pub reconciler: Reconciler,
    pub connectors: Connectors,
    pub events: Events,
    pub dingtalk: Arc<dyn DingTalk>,
    /// The sync queue, which the failed-list drain feeds.
    pub queue: Arc<dyn Queue>,
    pub settings: Settings,
}

impl Deps {
    pub fn new(
        table: Arc<dyn Table>,
        queue: Arc<dyn Queue>,
        dingtalk: Arc<dyn DingTalk>,
        clock: Arc<dyn Clock>,
        secrets: SecretBox,
        settings: Settings,
    ) -> Self {
        let reconciler =
            Reconciler::over_table(dingtalk.clone(), table.clone(), clock.clone(), secrets);
        Self {
            connectors: reconciler.connectors().clone(),
            reconciler,
            events: Events::new(table, clock),
            dingtalk,
            queue,
            settings,
        }
    }
}

/// The worker's configuration, read once at cold start.
pub struct Config {
    /// `TABLE_NAME`
    pub table_name: String,
    /// `SYNC_QUEUE_URL`: where the drain enqueues.
    pub sync_queue_url: String,
    /// `DINGBRIDGE_DATA_KEY`: opens the connectors' sealed secrets.
    pub secrets: SecretBox,
    /// `SYNC_MAX_RECEIVES` (default 5).
    pub settings: Settings,
}

impl Config {
    /// Every missing or invalid variable is reported at once.
    pub fn from_env(env: EnvReader) -> Result<Self, ConfigError> {
        let c = QueueWorkerConfig::read(
            env,
            "SYNC_QUEUE_URL",
            "SYNC_MAX_RECEIVES",
            Settings::default().max_receives,
        )?;
        Ok(Self {
            table_name: c.table_name,
            sync_queue_url: c.queue_url,
            secrets: c.secrets,
            settings: Settings {
                max_receives: c.max_receives,
            },
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error(transparent)]
    Invocation(#[from] InvocationError),
    #[error("failed-list drain: {0}")]
    Drain(#[source] SyncError),
    #[error("answering the schedule: {0}")]
    Answer(#[source] serde_json::Error),
}

/// One Lambda invocation: SQS records → the batch handler, answered with the batch item failures
/// (`ReportBatchItemFailures`); an EventBridge schedule → the failed-list drain of every
/// connector that registers callbacks.
pub async fn invoke(
    deps: &Deps,
    payload: serde_json::Value,
) -> Result<serde_json::Value, InvokeError> {
    match parse_invocation(payload)? {
        Invocation::Batch(batch) => Ok(answer_batch(deps, batch).await?),
        Invocation::Schedule => {
            let summary = drain_all(deps).await.map_err(InvokeError::Drain)?;
            serde_json::to_value(summary).map_err(InvokeError::Answer)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_config_problem_is_reported_at_once() {
        let err = Config::from_env(EnvReader::from_pairs([
            ("DINGBRIDGE_DATA_KEY", "c2hvcnQ="),
            ("SYNC_MAX_RECEIVES", "0"),
        ]))
        .err()
        .unwrap();
        let vars: Vec<_> = err.problems.iter().map(|p| p.var.as_str()).collect();
        assert_eq!(
            vars,
            [
                "TABLE_NAME",
                "SYNC_QUEUE_URL",
                "DINGBRIDGE_DATA_KEY",
                "SYNC_MAX_RECEIVES"
            ]
        );
    }
}
