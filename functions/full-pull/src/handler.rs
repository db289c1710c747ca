//! The function's two triggers: pull-queue batches (a run's next step) and the EventBridge tick
//! (fail the runs that stopped moving, start the pulls whose schedule is due). One Lambda,
//! dispatched on the event's shape.

use async_trait::async_trait;
use dingbridge::domain::ids::ConnectorId;
use dingbridge::domain::sync::{ApplyScope, PullMessage};
use dingbridge::ports::Received;
use dingbridge::store::events::parked_under;
use dingbridge::store::runs::{RunError, RunId};
use dingbridge::worker::{
    BatchHandler, Invocation, InvocationError, answer_batch, parse_invocation,
};
use tokio::time::Instant;

use crate::Deps;
use crate::drive::{Progress, run_once};
use crate::schedule::tick;
use crate::stuck::give_up;

#[async_trait]
impl BatchHandler for Deps {
    /// Steps run one after another under one time budget (configure the event source with batch
    /// size 1: a step may use the whole invocation).
    async fn handle(&self, batch: Vec<Received>) -> Vec<String> {
        let deadline = Instant::now() + self.settings.budget;
        let mut failed = Vec::new();
        for m in batch {
            if !self.step(&m, deadline).await {
                failed.push(m.id);
            }
        }
        failed
    }
}

/// A pull message's run, or why the body is not one.
fn read_message(body: &str) -> Result<(RunId, ApplyScope, ConnectorId), String> {
    let message: PullMessage =
        serde_json::from_str(body).map_err(|e| format!("unreadable pull message: {e}"))?;
    let PullMessage::Run {
        run_id,
        scope,
        connector_id,
        ..
    } = message;
    let run_id = RunId::parse(&run_id)
        .map_err(|_| format!("pull message with an invalid run id {run_id:?}"))?;
    Ok((run_id, scope, connector_id))
}

impl Deps {
    /// One message; true = acknowledge it.
    async fn step(&self, m: &Received, deadline: Instant) -> bool {
        let (run_id, scope, connector_id) = match read_message(&m.body) {
            Ok(read) => read,
            // It never becomes readable: parked with the reason, where an admin sees it.
            Err(reason) => return self.park_unreadable(m, &reason).await,
        };
        let e = match run_once(self, &run_id, scope, deadline).await {
            Ok(progress) => {
                tracing::info!(run_id = %run_id, connector_id = %connector_id, ?progress, "pull step done");
                if let Progress::Failed(reason) = progress {
                    tracing::warn!(run_id = %run_id, %reason, "pull run failed");
                }
                return true;
            }
            Err(e) => e,
        };
        let transient = e.is_transient();
        if transient && m.receive_count < self.settings.max_receives {
            // Retried after the visibility timeout: the step resumes from its checkpoint.
            tracing::warn!(run_id = %run_id, error = %e, receive_count = m.receive_count,
                "pull step failed; message returned for retry");
            return false;
        }
        // A failure no retry mends, or the queue would dead-letter the message next: the run is
        // failed with the reason instead, where the admin sees it.
        let error = e.to_string();
        match give_up(self, &run_id, scope, m.receive_count, transient, &error).await {
            Ok(()) => {
                tracing::warn!(run_id = %run_id, error = %e, transient, receive_count = m.receive_count,
                    "pull step failed for good; the run is failed");
                true
            }
            Err(g) => {
                // Left to the queue (and its dead-letter queue); the schedule's sweep fails
                // the run if nothing moves it.
                tracing::error!(run_id = %run_id, error = %e, give_up_error = %g,
                    "pull step failed for good and the run could not be failed");
                false
            }
        }
    }

    /// Parks an unreadable body; false (retry) when even that cannot be written.
    async fn park_unreadable(&self, m: &Received, reason: &str) -> bool {
        let parked = match parked_under(&m.group) {
            Ok(connector) => {
                self.events
                    .park(&connector, &m.body, reason, m.receive_count)
                    .await
            }
            Err(e) => Err(e.into()),
        };
        match parked {
            Ok(p) => {
                tracing::error!(message_id = %m.id, parked_id = %p.id, %reason, "pull message parked");
                true
            }
            Err(e) => {
                tracing::error!(message_id = %m.id, error = %e,
                    "could not park an unreadable pull message; returning it for retry");
                false
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error(transparent)]
    Invocation(#[from] InvocationError),
    #[error("scheduled start: {0}")]
    Schedule(#[source] RunError),
}

/// One Lambda invocation: SQS records → the batch handler (answered with the batch item
/// failures); an EventBridge schedule → [`tick`] (the stale sweep, then the due pulls).
pub async fn invoke(
    deps: &Deps,
    payload: serde_json::Value,
) -> Result<serde_json::Value, InvokeError> {
    match parse_invocation(payload)? {
        Invocation::Batch(batch) => Ok(answer_batch(deps, batch).await?),
        Invocation::Schedule => {
            let done = tick(deps, deps.clock.now_millis())
                .await
                .map_err(InvokeError::Schedule)?;
            let ids = |runs: &[dingbridge::store::runs::SyncRun]| -> Vec<String> {
                runs.iter().map(|r| r.id.to_string()).collect()
            };
            Ok(serde_json::json!({
                "started": ids(&done.started),
                "failed_stale": ids(&done.failed_stale),
            }))
        }
    }
}
