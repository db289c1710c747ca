//! The pull's checkpoint (the opaque JSON `Runs` stores beside the run): the walk's frontier and
//! the apply's position, so an invocation that stops or crashes is resumed, not restarted.

use dingbridge::domain::sync::ApplyScope;
use dingbridge::store::runs::{RunCounters, RunError, RunId, Runs};
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

/// What one phase did in its latest pass: rows of the plan carried out, rows that failed, and
/// rows re-read from DingTalk because the directory had moved past the snapshot (of which
/// `changed` found DingTalk's record changed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PhaseTally {
    pub applied: u64,
    pub failed: u64,
    pub reread: u64,
    pub changed: u64,
}

/// The tallies of every phase. A phase's tally restarts when the phase is entered (a later
/// confirm that applies the units again counts them once), never when a pass resumes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Tallies {
    pub units: PhaseTally,
    pub creates: PhaseTally,
    pub updates: PhaseTally,
    pub leavers: PhaseTally,
    pub removed_units: PhaseTally,
}

impl Tallies {
    pub fn of(&mut self, phase: ApplyPhase) -> Option<&mut PhaseTally> {
        match phase {
            ApplyPhase::Units => Some(&mut self.units),
            ApplyPhase::Creates => Some(&mut self.creates),
            ApplyPhase::Updates => Some(&mut self.updates),
            ApplyPhase::Leavers => Some(&mut self.leavers),
            ApplyPhase::RemovedUnits => Some(&mut self.removed_units),
            ApplyPhase::Finished => None,
        }
    }

    /// The run's applied counters, as these tallies have them.
    pub fn copy_to(&self, c: &mut RunCounters) {
        c.applied_creates = self.creates.applied;
        c.applied_updates = self.updates.applied;
        c.applied_disables = self.leavers.applied;
        c.applied_units = self.units.applied + self.removed_units.applied;
        let all = [
            self.units,
            self.creates,
            self.updates,
            self.leavers,
            self.removed_units,
        ];
        c.apply_failures = all.iter().map(|t| t.failed).sum();
        c.reread_rows = all.iter().map(|t| t.reread).sum();
        c.changed_since_snapshot = all.iter().map(|t| t.changed).sum();
    }
}

/// Where the apply stands and what it did. The tallies count the rows before the position and
/// are saved in the same item as the position, so the run's applied counters (copied from them)
/// stay exact across crashes: rows applied after the last save are redone and counted then.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyState {
    /// The scope the phases below belong to; a confirm of another scope starts its own phases.
    pub scope: Option<ApplyScope>,
    pub phase: ApplyPhase,
    /// Units: how many of the parents-first order are done. Other phases: unused.
    pub done_in_phase: u64,
    /// The row listing's cursor of the next page of the phase.
    pub cursor: Option<String>,
    #[serde(default)]
    pub tally: Tallies,
    /// Row errors not yet copied to the run (written with the counters, not checkpointed).
    #[serde(skip)]
    pub errors: Vec<String>,
}

impl ApplyState {
    /// Starts `phase` from its first row, with a fresh tally.
    pub fn enter(&mut self, phase: ApplyPhase) {
        self.phase = phase;
        self.done_in_phase = 0;
        self.cursor = None;
        if let Some(t) = self.tally.of(phase) {
            *t = PhaseTally::default();
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_of_the_previous_format_keeps_its_walk_and_position() {
        // Before per-phase tallies the counters were plain numbers beside the position.
        let walk = WalkState {
            started: true,
            ..WalkState::default()
        };
        let old = serde_json::json!({
            "walk": walk,
            "apply": {"scope": "all", "phase": "creates", "done_in_phase": 0,
                      "cursor": "c1", "creates": 7, "updates": 0, "disables": 0,
                      "units": 3, "failures": 0},
            "step": 4
        });
        let c: PullCheckpoint = serde_json::from_value(old).unwrap();
        assert!(c.walk.is_done());
        assert_eq!(c.apply.phase, ApplyPhase::Creates);
        assert_eq!(c.apply.cursor.as_deref(), Some("c1"));
        assert_eq!(c.step, 4);
    }

    #[test]
    fn entering_a_phase_restarts_its_tally_only() {
        let mut a = ApplyState::default();
        a.tally.units.applied = 120;
        a.tally.creates = PhaseTally {
            applied: 40,
            failed: 2,
            ..PhaseTally::default()
        };
        a.cursor = Some("c".into());
        a.enter(ApplyPhase::Creates);
        assert_eq!(a.tally.creates, PhaseTally::default());
        assert_eq!((a.tally.units.applied, a.cursor.clone()), (120, None));
        let mut c = RunCounters::default();
        a.tally.removed_units.applied = 2;
        a.tally.leavers.failed = 1;
        a.tally.copy_to(&mut c);
        assert_eq!((c.applied_units, c.apply_failures), (122, 1));
    }
}
