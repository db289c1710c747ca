//! The review slot: at most one run of a connector waits for review. A pointer item names the
//! waiting run; a newer pull whose walk is done supersedes it (the old run is discarded with
//! the reason and the id of the run that replaced it), so an old snapshot is never confirmed
//! over a newer one.

use serde::{Deserialize, Serialize};

use super::{RunError, RunId, RunKind, RunState, Runs, SyncRun};
use crate::domain::ids::ConnectorId;
use crate::ports::{Cond, Item, Key};
use crate::store::{DirectoryError, encode};

#[derive(Serialize, Deserialize)]
struct Slot {
    run_id: RunId,
}

/// One slot per connector and kind: a pull waiting for review and a push waiting for review
/// are different decisions, so neither supersedes the other.
fn slot_key(connector: &ConnectorId, kind: RunKind) -> Key {
    match kind {
        RunKind::Pull => Key::new(format!("REVIEWRUN#{connector}"), "RUN"),
        RunKind::Push => Key::new(format!("REVIEWPUSH#{connector}"), "RUN"),
    }
}

impl Runs {
    /// The connector's pull waiting for review, if any.
    pub async fn waiting(&self, connector: &ConnectorId) -> Result<Option<SyncRun>, RunError> {
        self.waiting_of(connector, RunKind::Pull).await
    }

    /// The connector's run of `kind` waiting for review, if any.
    pub async fn waiting_of(
        &self,
        connector: &ConnectorId,
        kind: RunKind,
    ) -> Result<Option<SyncRun>, RunError> {
        let Some(item) = self.table.get(&slot_key(connector, kind)).await? else {
            return Ok(None);
        };
        let slot: Slot = serde_json::from_value(item.data)
            .map_err(|e| DirectoryError::Corrupt(format!("review slot of {connector}: {e}")))?;
        Ok(self
            .get(&slot.run_id)
            .await?
            .filter(|r| r.state == RunState::AwaitingReview))
    }

    /// Discards the connector's run of `kind` waiting for review, unless it is `by` itself,
    /// recording that `by` replaced it. Returns the superseded run. A run moved on meanwhile
    /// (confirmed, discarded) is left as it is.
    pub async fn supersede_waiting(
        &self,
        connector: &ConnectorId,
        kind: RunKind,
        by: &RunId,
    ) -> Result<Option<SyncRun>, RunError> {
        let Some(old) = self.waiting_of(connector, kind).await? else {
            return Ok(None);
        };
        if old.id == *by {
            return Ok(None);
        }
        let newer = by.clone();
        let superseded = self
            .transition_at(&old.id, Some(old.version), RunState::Discarded, move |r| {
                r.push_error(format!(
                    "superseded by run {newer}, a newer run of this connector (only one run \
                     of a connector waits for review at a time)"
                ));
                r.superseded_by = Some(newer);
            })
            .await;
        match superseded {
            Ok(run) => {
                self.drop_rows(&run.id).await?;
                self.delete_checkpoint(&run.id).await?;
                Ok(Some(run))
            }
            Err(RunError::Stale | RunError::InvalidTransition { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Moves a run to `awaiting_review` with its reason, supersedes the connector's run that
    /// waited before it, and takes the review slot. In that order: a run that cannot move (a
    /// concurrent discard) supersedes nothing, and a crash between the writes leaves two runs
    /// waiting, of which the admin API confirms only the newest, never none.
    pub async fn await_review(
        &self,
        id: &RunId,
        reason: Option<String>,
    ) -> Result<SyncRun, RunError> {
        let run = self
            .transition(id, RunState::AwaitingReview, move |r| {
                r.review_reason = reason;
            })
            .await?;
        self.supersede_waiting(&run.connector_id, run.kind, id)
            .await?;
        let slot = encode(&Slot {
            run_id: run.id.clone(),
        })?;
        self.table
            .put(
                Item::new(slot_key(&run.connector_id, run.kind), 1, slot),
                Cond::None,
            )
            .await?;
        Ok(run)
    }
}
