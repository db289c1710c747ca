//! The pull's checkpoint (the opaque JSON `Runs` stores beside the run): the walk's frontier and
//! the apply's position, so an invocation that stops or crashes is resumed, not restarted.

use dingbridge::domain::sync::ApplyScope;
use dingbridge::store::runs::{RunError, RunId, Runs};
use serde::{Deserialize, Serialize};

use crate::walk::WalkState;

/// Which part of the apply is under way (parents before children, then users, then leavers).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplyPhase {
    #[default]
    Units,
    Creates,
    Updates,
    Leavers,
    RemovedUnits,
    Finished,
}

/// Where the apply stands and what it did (the run's applied counters are copied from here, so
/// a page redone after a crash is not counted twice).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyState {
    /// The scope the phases below belong to; a confirm of another scope starts its own phases.
    pub scope: Option<ApplyScope>,
    pub phase: ApplyPhase,
    /// Units: how many of the parents-first order are done. Other phases: unused.
    pub done_in_phase: u64,
    /// The row listing's cursor of the next page of the phase.
    pub cursor: Option<String>,
    pub creates: u64,
    pub updates: u64,
    pub disables: u64,
    pub units: u64,
    pub failures: u64,
    /// Row errors not yet copied to the run (written with the counters, not checkpointed).
    #[serde(skip)]
    pub errors: Vec<String>,
}

/// Everything a continuation needs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullCheckpoint {
    pub walk: WalkState,
    #[serde(default)]
    pub apply: ApplyState,
    /// Continuations sent so far: the next one's deduplication id.
    #[serde(default)]
    pub step: u64,
}

/// The checkpoint as read, with the version its next write is conditioned on.
pub struct Stored {
    pub data: PullCheckpoint,
    pub version: Option<u64>,
}

impl Stored {
    pub async fn load(runs: &Runs, run: &RunId) -> Result<Self, RunError> {
        Ok(match runs.checkpoint(run).await? {
            Some(c) => Self {
                // An unreadable checkpoint (a format from another release) restarts that part:
                // rows are keyed, so walking again duplicates nothing.
                data: serde_json::from_value(c.data).unwrap_or_default(),
                version: Some(c.version),
            },
            None => Self {
                data: PullCheckpoint::default(),
                version: None,
            },
        })
    }

    /// Saves; a version mismatch (`RunError::Stale`) means another invocation owns the run now.
    pub async fn save(&mut self, runs: &Runs, run: &RunId) -> Result<(), RunError> {
        let data = serde_json::to_value(&self.data).map_err(|e| {
            RunError::Directory(dingbridge::store::DirectoryError::Corrupt(e.to_string()))
        })?;
        self.version = Some(runs.put_checkpoint(run, data, self.version).await?);
        Ok(())
    }
}
