//! The function's two triggers: pull-queue batches (a run's next step) and the EventBridge tick
//! (fail the runs that stopped moving, start the pulls whose schedule is due). One Lambda,
//! dispatched on the event's shape.

use async_trait::async_trait;
use dingbridge::domain::sync::PullMessage;
use dingbridge::ports::Received;
use dingbridge::store::runs::RunId;
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
            let Ok(PullMessage::Run {
                run_id,
                scope,
                connector_id,
                ..
            }) = serde_json::from_str::<PullMessage>(&m.body)
            else {
                // Not ours to retry: a malformed body never becomes valid. Logged loudly.
                tracing::error!(message_id = %m.id, "unreadable pull message dropped");
                continue;
            };
            let Ok(run_id) = RunId::parse(&run_id) else {
                tracing::error!(message_id = %m.id, %run_id, "pull message with an invalid run id dropped");
                continue;
            };
            match run_once(self, &run_id, scope, deadline).await {
                Ok(progress) => {
                    tracing::info!(run_id = %run_id, connector_id = %connector_id, ?progress, "pull step done");
                    if let Progress::Failed(reason) = progress {
                        tracing::warn!(run_id = %run_id, %reason, "pull run failed");
                    }
                }
                Err(e) if m.receive_count >= self.settings.max_receives => {
                    // The queue would dead-letter the message next: the run is failed with the
                    // reason instead, where the admin sees it.
                    match give_up(self, &run_id, scope, m.receive_count, &e.0).await {
                        Ok(()) => {
                            tracing::warn!(run_id = %run_id, error = %e, receive_count = m.receive_count,
                                "pull step failed on its last delivery; the run is failed");
                        }
                        Err(g) => {
                            // Left to the dead-letter queue; the schedule's sweep fails the run.
                            tracing::error!(run_id = %run_id, error = %e, give_up_error = %g,
                                "pull step failed on its last delivery and the run could not be failed");
                            failed.push(m.id);
                        }
                    }
                }
                Err(e) => {
                    // Retried after the visibility timeout: the step resumes from its checkpoint.
                    tracing::warn!(run_id = %run_id, error = %e, receive_count = m.receive_count,
                        "pull step failed; message returned for retry");
                    failed.push(m.id);
                }
            }
        }
        failed
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error(transparent)]
    Invocation(#[from] InvocationError),
    #[error("scheduled start: {0}")]
    Schedule(String),
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
                .map_err(|e| InvokeError::Schedule(e.to_string()))?;
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
