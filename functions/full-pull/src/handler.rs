//! The function's two triggers: pull-queue batches (a run's next step) and the EventBridge tick
//! (start the pulls whose schedule is due). One Lambda, dispatched on the event's shape.

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use dingbridge::domain::sync::PullMessage;
use dingbridge::ports::Received;
use dingbridge::store::runs::RunId;
use dingbridge::worker::BatchHandler;
use tokio::time::Instant;

use crate::Deps;
use crate::drive::{Progress, run_once};
use crate::schedule::start_due_pulls;

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
    #[error("unrecognised event: neither SQS records nor an EventBridge schedule")]
    Unrecognised,
    #[error("malformed {what} event: {cause}")]
    Malformed { what: &'static str, cause: String },
    #[error("scheduled start: {0}")]
    Schedule(String),
}

/// One Lambda invocation: SQS records → the batch handler (answered with the batch item
/// failures); an EventBridge schedule → `start_due_pulls`.
pub async fn invoke(
    deps: &Deps,
    payload: serde_json::Value,
) -> Result<serde_json::Value, InvokeError> {
    if payload.get("Records").is_some() {
        let event: SqsEvent =
            serde_json::from_value(payload).map_err(|e| InvokeError::Malformed {
                what: "SQS",
                cause: e.to_string(),
            })?;
        let batch = event.records.into_iter().map(received).collect();
        let failed = deps.handle(batch).await;
        let mut response = SqsBatchResponse::default();
        response.batch_item_failures = failed
            .into_iter()
            .map(|id| {
                let mut f = BatchItemFailure::default();
                f.item_identifier = id;
                f
            })
            .collect();
        return serde_json::to_value(response).map_err(|e| InvokeError::Malformed {
            what: "batch response",
            cause: e.to_string(),
        });
    }
    let scheduled = payload.get("detail-type").is_some()
        || payload.get("source").and_then(|s| s.as_str()) == Some("aws.events");
    if scheduled {
        let started = start_due_pulls(deps, deps.clock.now_millis())
            .await
            .map_err(|e| InvokeError::Schedule(e.to_string()))?;
        let ids: Vec<String> = started.iter().map(|r| r.id.to_string()).collect();
        return Ok(serde_json::json!({ "started": ids }));
    }
    Err(InvokeError::Unrecognised)
}

/// An SQS record as the handler sees every queue message (`Received`).
pub fn received(m: SqsMessage) -> Received {
    let receive_count = m
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|c| c.parse().ok())
        .unwrap_or(1);
    Received {
        id: m.message_id.unwrap_or_default(),
        receipt: m.receipt_handle.unwrap_or_default(),
        group: m
            .attributes
            .get("MessageGroupId")
            .cloned()
            .unwrap_or_default(),
        body: m.body.unwrap_or_default(),
        receive_count,
    }
}
