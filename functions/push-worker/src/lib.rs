//! `push-worker`: consumes the push queue (SQS FIFO, one group per connector × entity) and makes
//! each push-enabled connector's DingTalk match the directory for the entity a message names; on
//! a schedule, re-sends outbox items left pending. One Lambda, dispatched on the event's shape.

mod handler;
mod sweep;

use std::sync::Arc;

use dingbridge::config::{ConfigError, EnvReader, QueueWorkerConfig};
use dingbridge::dingtalk::DingTalk;
use dingbridge::ports::{Clock, Queue, Received, Table};
use dingbridge::pusher::Pusher;
use dingbridge::secrets::SecretBox;
use dingbridge::store::connectors::Connectors;
use dingbridge::store::directory::Directory;
use dingbridge::store::events::Events;
use dingbridge::store::link_requests::LinkRequests;
use dingbridge::store::mappings::Mappings;
use dingbridge::store::outbox::Outbox;
use dingbridge::worker::{
    BatchHandler, Invocation, InvocationError, answer_batch, parse_invocation,
};

pub use dingbridge::pusher::{Blocked, Done, userid_for};
pub use sweep::{SWEEP_AGE_MS, SweepError, SweepSummary};

/// Tunables of the worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The delivery from which a message that must wait (throttling, a parent not pushed yet) is
    /// acknowledged instead of returned: its outbox item stays pending and the sweeper re-sends
    /// it. Set it below the queue's `maxReceiveCount`, so nothing the outbox holds reaches the
    /// dead-letter queue.
    pub max_receives: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self { max_receives: 5 }
    }
}

/// What the worker uses; the list is also its IAM policy (table read/write, push queue send for
/// the sweeper, DingTalk over HTTPS).
#[derive(Clone)]
pub struct Deps {
    pub connectors: Connectors,
    pub directory: Directory,
    pub mappings: Mappings,
    pub outbox: Outbox,
    /// Link mode `association`: the requests an admin approves or refuses.
    pub link_requests: LinkRequests,
    /// Where a message body that cannot be read is parked for an admin.
    pub events: Events,
    pub dingtalk: Arc<dyn DingTalk>,
    /// The push queue, which the sweeper feeds.
    pub queue: Arc<dyn Queue>,
    pub clock: Arc<dyn Clock>,
    pub settings: Settings,
    /// The push of one entity (`dingbridge::pusher`), over the same stores and DingTalk.
    pub pusher: Pusher,
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
        let pusher = Pusher::new(table.clone(), dingtalk.clone(), clock.clone(), secrets);
        Self {
            connectors: pusher.connectors.clone(),
            directory: pusher.directory.clone(),
            mappings: pusher.mappings.clone(),
            outbox: Outbox::new(table.clone(), clock.clone()),
            link_requests: pusher.link_requests.clone(),
            events: Events::new(table, clock.clone()),
            dingtalk,
            queue,
            clock,
            settings,
            pusher,
        }
    }
}

/// Handles one batch of the push queue; returns the ids of the messages to retry.
pub async fn handle(deps: &Deps, batch: Vec<Received>) -> Vec<String> {
    BatchHandler::handle(deps, batch).await
}

/// Re-sends every outbox item pending since before `now_ms - SWEEP_AGE_MS` to the push queue.
pub async fn sweep(deps: &Deps, now_ms: i64) -> Result<SweepSummary, SweepError> {
    sweep::sweep(deps, now_ms).await
}

/// The worker's configuration, read once at cold start.
pub struct Config {
    /// `TABLE_NAME`
    pub table_name: String,
    /// `PUSH_QUEUE_URL`: where the sweeper re-sends.
    pub push_queue_url: String,
    /// `DINGBRIDGE_DATA_KEY`: opens the connectors' sealed app secrets.
    pub secrets: SecretBox,
    /// `PUSH_MAX_RECEIVES` (default 5).
    pub settings: Settings,
}

impl Config {
    /// Every missing or invalid variable is reported at once.
    pub fn from_env(env: EnvReader) -> Result<Self, ConfigError> {
        let c = QueueWorkerConfig::read(
            env,
            "PUSH_QUEUE_URL",
            "PUSH_MAX_RECEIVES",
            Settings::default().max_receives,
        )?;
        Ok(Self {
            table_name: c.table_name,
            push_queue_url: c.queue_url,
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
    #[error("outbox sweep: {0}")]
    Sweep(#[from] SweepError),
    #[error("answering the schedule: {0}")]
    Answer(#[source] serde_json::Error),
}

/// One Lambda invocation: SQS records → the batch handler, answered with the batch item failures
/// (`ReportBatchItemFailures`); an EventBridge schedule → the outbox sweeper.
pub async fn invoke(
    deps: &Deps,
    payload: serde_json::Value,
) -> Result<serde_json::Value, InvokeError> {
    match parse_invocation(payload)? {
        Invocation::Batch(batch) => Ok(answer_batch(deps, batch).await?),
        Invocation::Schedule => {
            let summary = sweep(deps, deps.clock.now_millis()).await?;
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
            ("PUSH_QUEUE_URL", "sqs.example"),
            ("PUSH_MAX_RECEIVES", "0"),
        ]))
        .err()
        .unwrap();
        let vars: Vec<_> = err.problems.iter().map(|p| p.var.as_str()).collect();
        assert_eq!(
            vars,
            [
                "TABLE_NAME",
                "PUSH_QUEUE_URL",
                "DINGBRIDGE_DATA_KEY",
                "PUSH_MAX_RECEIVES"
            ]
        );
    }
}
