//! The sweeper: outbox items still pending a while after they were written (their message lost,
//! or acknowledged while it had to wait) are sent to the push queue again, each sweep under a
//! deduplication id of its own (a copy of the first send would be dropped inside the queue's
//! five-minute window). A re-sent push is harmless: the worker re-reads the directory and settles
//! by version.

use dingbridge::ports::QueueError;
use dingbridge::store::DirectoryError;
use dingbridge::store::outbox::push_resend_message;
use serde::Serialize;

use crate::Deps;

/// How old a pending item must be before it is re-sent: enough for its own message to be
/// handled first.
pub const SWEEP_AGE_MS: i64 = 60_000;
const PAGE: usize = 100;
/// Items re-sent per invocation at most; the rest wait for the next tick.
const MAX_PER_SWEEP: usize = 10_000;

/// What one sweep did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SweepSummary {
    pub resent: usize,
    /// Pending items remained past `MAX_PER_SWEEP`.
    pub more: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("listing pending outbox items: {0}")]
    Outbox(#[from] DirectoryError),
    #[error("sending to the push queue: {0}")]
    Queue(#[from] QueueError),
}

pub async fn sweep(deps: &Deps, now_ms: i64) -> Result<SweepSummary, SweepError> {
    let before = now_ms - SWEEP_AGE_MS;
    let mut summary = SweepSummary::default();
    let mut cursor = None;
    loop {
        let page = deps.outbox.pending_before(before, PAGE, cursor).await?;
        let messages = page
            .items
            .iter()
            .map(|item| push_resend_message(&item.message(), now_ms))
            .collect::<Result<Vec<_>, _>>()?;
        summary.resent += messages.len();
        if !messages.is_empty() {
            deps.queue.send_batch(messages).await?;
        }
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
        if summary.resent >= MAX_PER_SWEEP {
            summary.more = true;
            break;
        }
    }
    if summary.resent > 0 {
        tracing::info!(
            resent = summary.resent,
            more = summary.more,
            "outbox sweep re-sent pending pushes"
        );
    }
    Ok(summary)
}
