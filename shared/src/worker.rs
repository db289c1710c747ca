//! The shape of an SQS-triggered handler (a batch in, the failed message ids out, as Lambda's
//! `ReportBatchItemFailures`), and the pump that feeds one from a `QueueConsumer` outside Lambda.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use tokio::sync::{Notify, watch};

use crate::ports::{QueueConsumer, Received};

/// A queue-triggered function's logic. Returns the ids of the messages that must be retried;
/// every other message of the batch is acknowledged.
#[async_trait]
pub trait BatchHandler: Send + Sync {
    async fn handle(&self, batch: Vec<Received>) -> Vec<String>;
}

/// How the pump consumes, mirroring an SQS event source mapping.
#[derive(Clone, Debug)]
pub struct PumpSettings {
    /// Messages per handler call (the event source's batch size; SQS allows up to 10 per receive).
    pub batch_size: usize,
    /// How long a delivered message stays hidden (the queue's visibility timeout).
    pub visibility: Duration,
    /// When a message fails: `None` waits for the visibility timeout, as on Lambda; `Some(d)`
    /// makes it visible again after `d` (a faster local retry).
    pub retry_delay: Option<Duration>,
    /// How often an idle pump looks again when nothing wakes it (visibility expiries wake nobody).
    pub idle_poll: Duration,
}

impl Default for PumpSettings {
    fn default() -> Self {
        Self {
            batch_size: 10,
            visibility: Duration::from_secs(30),
            retry_delay: Some(Duration::from_secs(1)),
            idle_poll: Duration::from_millis(500),
        }
    }
}

/// Feed `handler` from `consumer` until `shutdown` turns true. A batch being handled when the
/// shutdown comes is finished first; a batch interrupted by a crash becomes visible again after
/// the visibility timeout, so nothing is lost.
pub async fn pump(
    consumer: Arc<dyn QueueConsumer>,
    handler: Arc<dyn BatchHandler>,
    settings: PumpSettings,
    wake: Option<Arc<Notify>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let wake = wake.unwrap_or_default();
    loop {
        if *shutdown.borrow() {
            return;
        }
        // Register interest before receiving, so a send between the receive and the wait still wakes us.
        let notified = wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let batch = match consumer
            .receive(settings.batch_size, settings.visibility)
            .await
        {
            Ok(batch) => batch,
            Err(e) => {
                tracing::warn!(error = %e, "queue receive failed; retrying");
                Vec::new()
            }
        };
        if batch.is_empty() {
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep(settings.idle_poll) => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        settle(consumer.as_ref(), handler.as_ref(), &settings, batch).await;
    }
}

/// Run one batch through the handler, then acknowledge the successes and schedule the failures.
pub async fn settle(
    consumer: &dyn QueueConsumer,
    handler: &dyn BatchHandler,
    settings: &PumpSettings,
    batch: Vec<Received>,
) {
    let receipts: Vec<(String, String)> = batch
        .iter()
        .map(|m| (m.id.clone(), m.receipt.clone()))
        .collect();
    let failed: HashSet<String> = handler.handle(batch).await.into_iter().collect();
    for (id, receipt) in receipts {
        let result = if failed.contains(&id) {
            match settings.retry_delay {
                Some(delay) => consumer.release(&receipt, delay).await,
                None => Ok(()),
            }
        } else {
            consumer.ack(&receipt).await
        };
        if let Err(e) = result {
            // The message reappears after its visibility timeout: delivered again, never lost.
            tracing::warn!(message_id = %id, error = %e, "could not settle a message");
        }
    }
}

/// What a queue-and-schedule Lambda (sync worker, full pull) was invoked with.
#[derive(Debug)]
pub enum Invocation {
    /// SQS records from the event source mapping.
    Batch(Vec<Received>),
    /// An EventBridge schedule.
    Schedule,
}

#[derive(Debug, thiserror::Error)]
pub enum InvocationError {
    #[error("unrecognised event: neither SQS records nor an EventBridge schedule")]
    Unrecognised,
    #[error("malformed {what} event: {cause}")]
    Malformed { what: &'static str, cause: String },
}

/// Tell an SQS batch from an EventBridge schedule.
pub fn parse_invocation(payload: serde_json::Value) -> Result<Invocation, InvocationError> {
    if payload.get("Records").is_some() {
        let event: SqsEvent =
            serde_json::from_value(payload).map_err(|e| InvocationError::Malformed {
                what: "SQS",
                cause: e.to_string(),
            })?;
        return Ok(Invocation::Batch(
            event.records.into_iter().map(received).collect(),
        ));
    }
    let scheduled = payload.get("detail-type").is_some()
        || payload.get("source").and_then(|s| s.as_str()) == Some("aws.events");
    if scheduled {
        return Ok(Invocation::Schedule);
    }
    Err(InvocationError::Unrecognised)
}

/// Run a batch and answer with its failed message ids (`ReportBatchItemFailures`).
pub async fn answer_batch(
    handler: &dyn BatchHandler,
    batch: Vec<Received>,
) -> Result<serde_json::Value, InvocationError> {
    let failed = handler.handle(batch).await;
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed
        .into_iter()
        .map(|id| {
            let mut f = BatchItemFailure::default();
            f.item_identifier = id;
            f
        })
        .collect();
    serde_json::to_value(response).map_err(|e| InvocationError::Malformed {
        what: "batch response",
        cause: e.to_string(),
    })
}

/// An SQS record as every handler sees a queue message.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::embedded::{EmbeddedStore, QueueSettings};
    use crate::ports::{OutMessage, Queue, SystemClock};
    use std::sync::Mutex;

    /// Fails every message whose body is "flaky" on its first delivery, records what it saw.
    #[derive(Default)]
    struct Recorder {
        seen: Mutex<Vec<(String, u32)>>,
    }

    #[async_trait]
    impl BatchHandler for Recorder {
        async fn handle(&self, batch: Vec<Received>) -> Vec<String> {
            let mut failed = Vec::new();
            for m in batch {
                self.seen
                    .lock()
                    .unwrap()
                    .push((m.body.clone(), m.receive_count));
                if m.body == "flaky" && m.receive_count == 1 {
                    failed.push(m.id);
                }
            }
            failed
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failed_messages_are_retried_and_the_rest_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let settings = QueueSettings {
            max_receives: 5,
            dedup_window: Duration::from_secs(300),
        };
        let queue = Arc::new(store.queue("work", settings, Arc::new(SystemClock)));
        let recorder = Arc::new(Recorder::default());
        let (stop, signal) = watch::channel(false);
        let pumping = tokio::spawn(pump(
            queue.clone(),
            recorder.clone(),
            PumpSettings {
                retry_delay: Some(Duration::from_millis(50)),
                ..PumpSettings::default()
            },
            Some(queue.notify_handle()),
            signal,
        ));
        queue
            .send(OutMessage::new("a", "1", "steady"))
            .await
            .unwrap();
        queue
            .send(OutMessage::new("b", "2", "flaky"))
            .await
            .unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while recorder.seen.lock().unwrap().len() < 3 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop.send(true).unwrap();
        pumping.await.unwrap();
        let mut seen = recorder.seen.lock().unwrap().clone();
        seen.sort();
        assert_eq!(
            seen,
            [
                ("flaky".into(), 1),
                ("flaky".into(), 2),
                ("steady".into(), 1)
            ]
        );
        // Everything was acknowledged in the end: nothing left, nothing dead-lettered.
        let left = queue.receive(10, Duration::from_secs(1)).await.unwrap();
        assert!(left.is_empty());
        assert!(queue.dead_letters(10).await.unwrap().is_empty());
    }

    #[test]
    fn an_sqs_record_keeps_its_group_and_receive_count() {
        let parsed = parse_invocation(serde_json::json!({"Records": [{
            "messageId": "m1", "receiptHandle": "r1", "body": "{}",
            "attributes": {"ApproximateReceiveCount": "3", "MessageGroupId": "conn"}
        }]}))
        .unwrap();
        let Invocation::Batch(batch) = parsed else {
            panic!("not a batch")
        };
        let r = &batch[0];
        assert_eq!(
            (r.id.as_str(), r.group.as_str(), r.receive_count),
            ("m1", "conn", 3)
        );
    }

    #[test]
    fn schedules_are_recognised_and_anything_else_refused() {
        let schedule =
            serde_json::json!({"source": "aws.events", "detail-type": "Scheduled Event"});
        assert!(matches!(
            parse_invocation(schedule),
            Ok(Invocation::Schedule)
        ));
        assert!(matches!(
            parse_invocation(serde_json::json!({"hello": 1})),
            Err(InvocationError::Unrecognised)
        ));
        assert!(matches!(
            parse_invocation(serde_json::json!({"Records": "nope"})),
            Err(InvocationError::Malformed { .. })
        ));
    }

    #[tokio::test]
    async fn a_batch_answer_lists_only_the_failed_ids() {
        let recorder = Recorder::default();
        let batch = vec![
            Received {
                id: "a".into(),
                receipt: "ra".into(),
                group: "g".into(),
                body: "steady".into(),
                receive_count: 1,
            },
            Received {
                id: "b".into(),
                receipt: "rb".into(),
                group: "g".into(),
                body: "flaky".into(),
                receive_count: 1,
            },
        ];
        let answer = answer_batch(&recorder, batch).await.unwrap();
        assert_eq!(
            answer,
            serde_json::json!({"batchItemFailures": [{"itemIdentifier": "b"}]})
        );
    }
}
