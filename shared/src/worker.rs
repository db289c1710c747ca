//! The shape of an SQS-triggered handler (a batch in, the failed message ids out, as Lambda's
//! `ReportBatchItemFailures`), and the pump that feeds one from a `QueueConsumer` outside Lambda.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Notify, watch};

use crate::ports::{QueueConsumer, Received};

#[cfg(feature = "lambda")]
mod lambda;
#[cfg(feature = "lambda")]
pub use lambda::{Invocation, InvocationError, answer_batch, parse_invocation, received};

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
}
