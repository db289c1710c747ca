//! What a step can fail with, kept by kind and cause: the handler retries the transient ones on
//! the queue's next delivery and fails the run at once on the others. A leaf module: the walk,
//! the stager, the review and the apply return it, and the driver (`drive.rs`) classifies it.

use dingbridge::lifecycle::LockError;
use dingbridge::ports::QueueError;
use dingbridge::store::DirectoryError;
use dingbridge::store::runs::RunError;
use dingbridge::sync::SyncError;

#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    /// The run's lease is lost to another run, or could not be renewed.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The connector could not be read, or is unusable (deleted, disabled, its secrets sealed
    /// with another key).
    #[error("reading the connector: {0}")]
    Target(#[source] SyncError),
    #[error("enqueueing the continuation: {0}")]
    Queue(#[source] QueueError),
    /// Rows whose writes kept failing transiently: the step is redone (rows already written are
    /// found unchanged), and on the queue's last delivery the run fails with this.
    #[error("{count} row(s) still failing after {attempts} attempts, e.g. {example}")]
    RowsFailing {
        count: usize,
        attempts: u32,
        example: String,
    },
    /// A push run's entity kept waiting (DingTalk throttling or unavailable): the step is redone
    /// on the next delivery, and on the last one the run fails with this.
    #[error("an entity of the push kept waiting: {0}")]
    PushWaits(String),
    /// A stored value the step cannot work with (a bug or a hand-edited table).
    #[error("{0}")]
    Corrupt(String),
}

impl StepError {
    /// Whether the same step may succeed on a later delivery.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Run(e) => e.is_transient(),
            Self::Directory(e) => e.is_transient(),
            Self::Lock(e) => e.is_transient(),
            Self::Target(e) => e.is_transient(),
            Self::Queue(e) => e.is_transient(),
            Self::RowsFailing { .. } | Self::PushWaits(_) => true,
            Self::Corrupt(_) => false,
        }
    }
}

impl From<dingbridge::ports::TableError> for StepError {
    fn from(e: dingbridge::ports::TableError) -> Self {
        Self::Directory(e.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dingbridge::domain::ids::ConnectorId;
    use dingbridge::ports::TableError;
    use dingbridge::store::runs::RunId;

    #[test]
    fn storage_throttling_and_races_are_retried_and_the_rest_is_not() {
        let transient = [
            StepError::from(TableError::Transient("throttled".into())),
            StepError::Run(RunError::Stale),
            StepError::Queue(QueueError::Transient("SendMessage throttled".into())),
            StepError::Target(SyncError::Transient("DingTalk 5xx".into())),
            StepError::RowsFailing {
                count: 2,
                attempts: 3,
                example: "U:a: throttled".into(),
            },
        ];
        for e in &transient {
            assert!(e.is_transient(), "{e}");
        }
        let permanent = [
            StepError::from(TableError::Permanent("access denied".into())),
            StepError::Run(RunError::NotFound(RunId::generate())),
            StepError::Queue(QueueError::Permanent("queue does not exist".into())),
            StepError::Target(SyncError::Permanent("connector disabled".into())),
            StepError::Lock(LockError::Lost {
                connector: ConnectorId::generate(),
                run: RunId::generate(),
            }),
            StepError::Corrupt("bad department id".into()),
        ];
        for e in &permanent {
            assert!(!e.is_transient(), "{e}");
        }
    }

    #[test]
    fn the_cause_stays_reachable_behind_the_context() {
        let e = StepError::Queue(QueueError::Permanent("queue does not exist".into()));
        assert_eq!(
            e.to_string(),
            "enqueueing the continuation: queue error: queue does not exist"
        );
        let source = std::error::Error::source(&e).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("queue error: queue does not exist"));
    }
}
