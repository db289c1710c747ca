//! Inbound sync: the one reconciler that makes the directory match DingTalk for one user or one
//! department of one connector. The sync worker (events) and the full pull's apply both use it.

mod departments;
mod reconciler;
pub use crate::domain::rules;

pub use reconciler::{Reconciler, SyncTarget};

use crate::dingtalk::{DingTalkError, ErrorKind};
use crate::ports::TableError;
use crate::store::DirectoryError;

/// What reconciling one object did. Every variant is a success: the message can be acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Updated,
    /// The directory already matched DingTalk; nothing was written.
    Unchanged,
    /// A leaver under the `disable` policy (or already disabled).
    Disabled,
    /// A leaver under the `delete` policy.
    Deleted,
    /// A department gone from DingTalk whose org unit was removed.
    Removed,
    /// Gone from DingTalk and never mapped: nothing to do.
    Absent,
}

/// How a snapshot's record was applied (the full pull's confirm).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Applied {
    pub outcome: Outcome,
    /// The directory entity was written after the snapshot began, so DingTalk was re-read and
    /// its current record applied instead of the staged one.
    pub reread: bool,
    /// The re-read found DingTalk's record no longer the staged one: it changed since the
    /// snapshot.
    pub changed: bool,
}

impl Applied {
    /// The staged record was applied as it was.
    pub fn staged(outcome: Outcome) -> Self {
        Self {
            outcome,
            reread: false,
            changed: false,
        }
    }
}

/// Why reconciling failed, by what the caller must do about it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// DingTalk throttled or unavailable, storage transiently failing, version races lost: the same
    /// call may succeed later, so the message is retried.
    #[error("transient: {0}")]
    Transient(String),
    /// Retrying will not help until data or configuration changes (invalid values, conflicts,
    /// missing permissions, an unknown or disabled connector): parked with this reason.
    #[error("{0}")]
    Permanent(String),
    /// DingTalk does not show the object to this app (contact scope, 50002/50004). Permanent for
    /// an event about it; a user's membership in such a department is skipped instead.
    #[error("{0}")]
    OutOfScope(String),
}

impl SyncError {
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient(_))
    }

    /// The reason an admin reads next to a parked event.
    pub fn reason(&self) -> &str {
        match self {
            Self::Transient(r) | Self::Permanent(r) | Self::OutOfScope(r) => r,
        }
    }

    /// A failed DingTalk call, with the action that fixes the permanent ones (protocol §5.3).
    pub fn dingtalk(e: &DingTalkError, what: &str) -> Self {
        if e.is_transient() {
            return Self::Transient(format!("{what}: {e}"));
        }
        match e.kind() {
            ErrorKind::OutOfScope => Self::OutOfScope(format!(
                "{what}: outside the DingTalk app's contact scope (50002/50004); widen the scope \
                 to all employees in the developer console"
            )),
            ErrorKind::PermissionDenied => Self::Permanent(format!(
                "{what}: the DingTalk app lacks an API permission (60011); add it in the \
                 developer console ({e})"
            )),
            ErrorKind::IpNotWhitelisted { ip } => Self::Permanent(format!(
                "{what}: DingTalk refused the caller IP {}; add it to the app's server egress IP \
                 whitelist (60020)",
                ip.as_deref().unwrap_or("(not reported)")
            )),
            ErrorKind::InvalidCredentials | ErrorKind::InvalidToken => Self::Permanent(format!(
                "{what}: DingTalk refused the connector's AppKey/AppSecret ({e})"
            )),
            ErrorKind::QuotaExhausted => Self::Permanent(format!(
                "{what}: the org's monthly DingTalk API quota is exhausted (90020)"
            )),
            _ => Self::Permanent(format!("{what}: {e}")),
        }
    }

    /// A failed directory read or write. Conflicts and invalid values are permanent; races,
    /// units that vanished under us and throttled storage are transient.
    pub fn directory(e: DirectoryError, what: &str) -> Self {
        match e {
            DirectoryError::Invalid(f) => Self::Permanent(format!("{what}: {f}")),
            DirectoryError::Conflict { detail, .. } => Self::Permanent(format!("{what}: {detail}")),
            e @ DirectoryError::NotEmpty { .. } => Self::Permanent(format!("{what}: {e}")),
            DirectoryError::Corrupt(c) => Self::Permanent(format!("{what}: corrupt item: {c}")),
            DirectoryError::NotFound(x) => {
                Self::Transient(format!("{what}: {x} not found (changed concurrently)"))
            }
            DirectoryError::Stale => {
                Self::Transient(format!("{what}: changed concurrently too often"))
            }
            DirectoryError::Storage(
                e @ (TableError::Transient(_)
                | TableError::ConditionFailed
                | TableError::TransactionCancelled { .. }),
            ) => Self::Transient(format!("{what}: {e}")),
            DirectoryError::Storage(e) => Self::Permanent(format!("{what}: {e}")),
        }
    }
}
