//! Sync runs: the run record (state, counters, errors, who confirmed), its staging rows, its
//! checkpoint, the lease lock that keeps two pulls of one connector apart, and the index of the
//! runs still in progress.

mod active;
mod lock;
mod review;
mod rows;
#[cfg(test)]
mod tests;
mod view;

pub use lock::{LockHolder, Locks, pull_lock_name};
pub use rows::{Checkpoint, PushRow, RowBody, RowFilter, RowKind, RowRef, StagingRow};
pub use view::load_view;

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{DirectoryError, PageOf, decode, encode, keys};
use crate::domain::ids::ConnectorId;
pub use crate::domain::ids::RunId;
use crate::domain::pull::{PlanTotals, RowAction};
use crate::ports::{Clock, Cond, Index, IndexKey, Item, Key, Query, Table, TableError, TxOp};

/// At most this many errors are kept on a run; later ones are counted in `errors_dropped`.
pub const MAX_RUN_ERRORS: usize = 100;
/// Staging rows expire 30 days after they are written (DESIGN: the preview is not history).
pub const ROW_TTL_SECS: i64 = 30 * 86_400;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    /// A full pull: DingTalk's tree staged, reviewed, applied to the directory.
    #[default]
    Pull,
    /// An initial push or re-sync: the pushed subtree planned against DingTalk, reviewed,
    /// applied to DingTalk.
    Push,
}

impl RunKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pull => "pull",
            Self::Push => "push",
        }
    }
}

/// Where a run is. Transitions are checked by [`SyncRun::can_become`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Pulling,
    AwaitingReview,
    Applying,
    Done,
    Failed,
    Discarded,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pulling => "pulling",
            Self::AwaitingReview => "awaiting_review",
            Self::Applying => "applying",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Discarded => "discarded",
        }
    }

    /// Done, failed and discarded runs are finished. They never change state again, except a run
    /// that failed while applying, which a confirm resumes (see [`SyncRun::resumable`]).
    pub fn is_final(self) -> bool {
        matches!(self, Self::Done | Self::Failed | Self::Discarded)
    }

    /// The state machine: pulling → awaiting review | applying (auto) | failed | discarded;
    /// awaiting review → applying (confirm) | discarded | failed; applying → done | failed. The
    /// resume of a run that failed while applying is [`SyncRun::can_become`]'s addition.
    pub fn can_become(self, next: Self) -> bool {
        use RunState::*;
        matches!(
            (self, next),
            (Pulling, AwaitingReview | Applying | Failed | Discarded)
                | (AwaitingReview, Applying | Discarded | Failed)
                | (Applying, Done | Failed)
        )
    }
}

impl fmt::Display for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A run's counters: what was read, what is planned, what was applied.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunCounters {
    pub departments: u64,
    pub users: u64,
    pub api_calls: u64,
    /// Invalid rows still in the run (departments and users).
    pub invalid_rows: u64,
    pub planned_creates: u64,
    pub planned_updates: u64,
    pub planned_moves: u64,
    pub planned_disables: u64,
    pub planned_unit_creates: u64,
    pub planned_unit_updates: u64,
    pub planned_unit_removals: u64,
    pub applied_creates: u64,
    pub applied_updates: u64,
    pub applied_disables: u64,
    pub applied_units: u64,
    /// Rows whose apply failed (their reasons are in the run's errors).
    pub apply_failures: u64,
    /// Rows the admin took out of the review (remove-invalid, and `DELETE` of a row): unlike
    /// `invalid_rows`, it still says how many were skipped once the run is done.
    pub removed_invalid: u64,
    /// Rows whose directory entity was written after the snapshot began (an event, an admin, an
    /// earlier attempt of this apply): the apply re-read them from DingTalk instead of writing
    /// the staged record, so a confirm never moves an entity back to an older state.
    pub reread_rows: u64,
    /// Of `reread_rows`, those whose DingTalk record was no longer the staged one (changed since
    /// the snapshot): DingTalk's current record was applied.
    pub changed_since_snapshot: u64,
    /// While walking: DingTalk calls known to be still to make (the frontier; it grows as
    /// departments are listed, so this is a lower bound).
    pub pending_calls: u64,
    /// While walking: time since the run started.
    pub elapsed_ms: u64,
    /// While walking: the least time the pending calls take at the client's rate limit (see
    /// `full_pull::walk`); `None` before the first estimate.
    pub estimated_remaining_ms: Option<u64>,
}

impl RunCounters {
    /// Copies a plan's totals into the planned counters (and its invalid rows).
    pub fn set_planned(&mut self, t: &PlanTotals) {
        self.invalid_rows = t.invalid + t.units_invalid;
        self.planned_creates = t.creates;
        self.planned_updates = t.updates;
        self.planned_moves = t.moves;
        self.planned_disables = t.disables;
        self.planned_unit_creates = t.unit_creates;
        self.planned_unit_updates = t.unit_updates;
        self.planned_unit_removals = t.unit_removals;
    }

    /// Takes a removed staging row out of the planned counters.
    pub fn forget(&mut self, kind: RowKind, action: RowAction, moved: bool) {
        let dec = |c: &mut u64| *c = c.saturating_sub(1);
        match (kind, action) {
            (_, RowAction::Invalid) => dec(&mut self.invalid_rows),
            (_, RowAction::Unchanged) => {}
            (RowKind::User, RowAction::Create) => dec(&mut self.planned_creates),
            (RowKind::User, RowAction::Update) => {
                dec(&mut self.planned_updates);
                if moved {
                    dec(&mut self.planned_moves);
                }
            }
            (RowKind::User, RowAction::Disable) => dec(&mut self.planned_disables),
            (RowKind::Dept, RowAction::Create) => dec(&mut self.planned_unit_creates),
            (RowKind::Dept, RowAction::Update) => dec(&mut self.planned_unit_updates),
            (RowKind::Dept, RowAction::Disable) => dec(&mut self.planned_unit_removals),
        }
    }
}

/// One sync run as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRun {
    pub id: RunId,
    pub connector_id: ConnectorId,
    pub kind: RunKind,
    pub state: RunState,
    /// Some department or page failed to load: nothing is disabled or removed by this run.
    pub partial: bool,
    #[serde(default)]
    pub partial_reasons: Vec<String>,
    #[serde(default)]
    pub counters: RunCounters,
    /// When the run was created. Every staged record was read from DingTalk after it, so it is
    /// also the snapshot's start: a directory entity written later may be newer than its row.
    pub started_ms: i64,
    #[serde(default)]
    pub finished_ms: Option<i64>,
    /// At most [`MAX_RUN_ERRORS`]; see [`SyncRun::push_error`].
    #[serde(default)]
    pub errors: Vec<String>,
    #[serde(default)]
    pub errors_dropped: u64,
    /// Who confirmed the run (admin token name), or `auto`.
    #[serde(default)]
    pub confirmed_by: Option<String>,
    /// Why the run waits for review: the connector's review mode, the mass-delete guard's
    /// figures, or the problems that hold an auto pull.
    #[serde(default)]
    pub review_reason: Option<String>,
    /// The newer pull that replaced this run while it waited for review (it is then
    /// `discarded`; only one run of a connector waits for review at a time).
    #[serde(default)]
    pub superseded_by: Option<RunId>,
    /// Run-level problems that refuse confirm (e.g. the default password breaks the policy).
    #[serde(default)]
    pub blocking: Vec<String>,
    /// When the run was last written. A run in progress is written at every checkpoint, so
    /// this is its last progress (the schedule's sweep fails runs that stopped moving).
    #[serde(default)]
    pub updated_ms: Option<i64>,
    /// The state a failed run failed in (`pulling`, `awaiting_review` or `applying`).
    #[serde(default)]
    pub failed_during: Option<RunState>,
    /// A push run started in `auto` mode: applied without review when its plan passes the
    /// mass-delete guard and nothing blocks it (a pull takes its mode from the connector).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub auto: bool,
    #[serde(default)]
    pub version: u64,
}

impl SyncRun {
    /// A new run, `pulling` since `now_ms` (version 1), as [`Runs::create`] stores it.
    pub fn new(connector_id: &ConnectorId, kind: RunKind, now_ms: i64) -> Self {
        Self {
            id: RunId::generate(),
            connector_id: connector_id.clone(),
            kind,
            state: RunState::Pulling,
            partial: false,
            partial_reasons: Vec::new(),
            counters: RunCounters::default(),
            started_ms: now_ms,
            finished_ms: None,
            errors: Vec::new(),
            errors_dropped: 0,
            confirmed_by: None,
            review_reason: None,
            superseded_by: None,
            blocking: Vec::new(),
            updated_ms: Some(now_ms),
            failed_during: None,
            auto: false,
            version: 1,
        }
    }

    /// Records an error, keeping the list bounded (a run over a very dirty org must still fit
    /// in one item of 400 KB).
    pub fn push_error(&mut self, error: impl Into<String>) {
        if self.errors.len() < MAX_RUN_ERRORS {
            self.errors.push(error.into());
        } else {
            self.errors_dropped += 1;
        }
    }

    pub fn duration_ms(&self) -> Option<i64> {
        self.finished_ms.map(|f| f - self.started_ms)
    }

    /// A run that failed while applying: the apply is idempotent and resumes from its
    /// checkpoint, so confirming the run again takes it back to `applying`.
    pub fn resumable(&self) -> bool {
        self.state == RunState::Failed && self.failed_during == Some(RunState::Applying)
    }

    /// [`RunState::can_become`], plus the resume of a [`SyncRun::resumable`] run.
    pub fn can_become(&self, next: RunState) -> bool {
        self.state.can_become(next) || (next == RunState::Applying && self.resumable())
    }

    /// The run's last write (its start, for a record written before `updated_ms` existed).
    pub fn last_progress_ms(&self) -> i64 {
        self.updated_ms.unwrap_or(self.started_ms)
    }
}

/// What a run write can come to.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("run {0} not found")]
    NotFound(RunId),
    /// The run is not in a state that allows the change (e.g. confirm on a discarded run).
    #[error("run {id} is {from}; it cannot become {to}")]
    InvalidTransition {
        id: RunId,
        from: RunState,
        to: RunState,
    },
    /// The run or checkpoint changed since it was read (version mismatch).
    #[error("the run was changed concurrently")]
    Stale,
    #[error(transparent)]
    Directory(#[from] DirectoryError),
}

impl RunError {
    /// See [`DirectoryError::is_transient`]; a run changed concurrently is re-read and retried.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Stale => true,
            Self::Directory(e) => e.is_transient(),
            Self::NotFound(_) | Self::InvalidTransition { .. } => false,
        }
    }
}

impl From<TableError> for RunError {
    fn from(e: TableError) -> Self {
        Self::Directory(DirectoryError::Storage(e))
    }
}

fn run_key(id: &RunId) -> Key {
    Key::new(format!("RUN#{id}"), "RUN")
}

fn runs_of(connector: &ConnectorId) -> String {
    format!("RUNS#{connector}")
}

const ALL_RUNS: &str = "RUNS";

fn run_item(run: &SyncRun) -> Result<Item, DirectoryError> {
    let sk = format!("{}#{}", keys::time_key(run.started_ms), run.id);
    Ok(Item::new(run_key(&run.id), run.version, encode(run)?)
        .with_gsi1(IndexKey::new(runs_of(&run.connector_id), sk.clone()))
        .with_gsi2(IndexKey::new(ALL_RUNS, sk)))
}

/// The runs repository (records, rows and checkpoints of every run).
#[derive(Clone)]
pub struct Runs {
    pub(super) table: Arc<dyn Table>,
    pub(super) clock: Arc<dyn Clock>,
}

impl Runs {
    pub fn new(table: Arc<dyn Table>, clock: Arc<dyn Clock>) -> Self {
        Self { table, clock }
    }

    /// Starts a run in `pulling` (version 1).
    pub async fn create(
        &self,
        connector_id: &ConnectorId,
        kind: RunKind,
    ) -> Result<SyncRun, RunError> {
        self.create_with(connector_id, kind, false).await
    }

    /// [`Runs::create`], in `auto` mode when `auto` (see [`SyncRun::auto`]).
    pub async fn create_with(
        &self,
        connector_id: &ConnectorId,
        kind: RunKind,
        auto: bool,
    ) -> Result<SyncRun, RunError> {
        let mut run = SyncRun::new(connector_id, kind, self.clock.now_millis());
        run.auto = auto;
        let mut ops = vec![TxOp::Put {
            item: run_item(&run)?,
            cond: Cond::Absent,
        }];
        ops.extend(active::marker_op(None, &run)?);
        self.table.transact(ops).await?;
        Ok(run)
    }

    pub async fn get(&self, id: &RunId) -> Result<Option<SyncRun>, RunError> {
        match self.table.get(&run_key(id)).await? {
            Some(item) => Ok(Some(read_run(&item)?)),
            None => Ok(None),
        }
    }

    /// Runs newest first: one connector's, or every run when `connector` is `None`.
    pub async fn list(
        &self,
        connector: Option<&ConnectorId>,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<PageOf<SyncRun>, RunError> {
        let q = match connector {
            Some(c) => Query::partition(Index::Gsi1, runs_of(c)),
            None => Query::partition(Index::Gsi2, ALL_RUNS),
        }
        .limit(limit.clamp(1, 1000))
        .descending()
        .after(cursor);
        let page = self.table.query(&q).await?;
        let items = page.items.iter().map(read_run).collect::<Result<_, _>>()?;
        Ok(PageOf {
            items,
            next: page.next,
        })
    }

    /// Reads the run, applies `edit`, writes it back conditional on the version read (or on
    /// `expected_version` when given: a caller that showed a version to an admin pins it). The
    /// state must not be changed by `edit`; use [`Runs::transition`] for that.
    pub async fn update<F>(
        &self,
        id: &RunId,
        expected_version: Option<u64>,
        edit: F,
    ) -> Result<SyncRun, RunError>
    where
        F: FnOnce(&mut SyncRun),
    {
        let run = self.read(id, expected_version).await?;
        let state = run.state;
        let mut new = run.clone();
        edit(&mut new);
        new.state = state;
        self.write(run, new).await
    }

    /// Moves the run to `to` (checked against the state machine) and applies `edit` in the same
    /// write. Reaching a final state sets `finished_ms`; failing records the state failed in.
    pub async fn transition<F>(
        &self,
        id: &RunId,
        to: RunState,
        edit: F,
    ) -> Result<SyncRun, RunError>
    where
        F: FnOnce(&mut SyncRun),
    {
        self.transition_at(id, None, to, edit).await
    }

    /// [`Runs::transition`], conditional on the version the caller judged the run by
    /// ([`RunError::Stale`] when it moved since).
    pub async fn transition_at<F>(
        &self,
        id: &RunId,
        expected_version: Option<u64>,
        to: RunState,
        edit: F,
    ) -> Result<SyncRun, RunError>
    where
        F: FnOnce(&mut SyncRun),
    {
        let run = self.read(id, expected_version).await?;
        if !run.can_become(to) {
            return Err(RunError::InvalidTransition {
                id: id.clone(),
                from: run.state,
                to,
            });
        }
        let mut new = run.clone();
        edit(&mut new);
        new.state = to;
        new.finished_ms = to.is_final().then(|| self.clock.now_millis());
        new.failed_during = (to == RunState::Failed).then_some(run.state);
        self.write(run, new).await
    }

    /// The admin's confirm: `awaiting_review` → `applying`, recording who confirmed; also the
    /// resume of a run that failed while applying. Refused while the run has blocking problems.
    pub async fn confirm(&self, id: &RunId, by: &str) -> Result<SyncRun, RunError> {
        let run = self.read(id, None).await?;
        // Only a reviewed run is confirmed: a run still pulling has no complete plan yet.
        if run.state != RunState::AwaitingReview && !run.resumable() {
            return Err(RunError::InvalidTransition {
                id: id.clone(),
                from: run.state,
                to: RunState::Applying,
            });
        }
        if !run.blocking.is_empty() {
            return Err(RunError::Directory(DirectoryError::Conflict {
                attr: "run",
                detail: format!("run {id} cannot be confirmed: {}", run.blocking.join("; ")),
            }));
        }
        let by = by.to_owned();
        self.transition_at(id, Some(run.version), RunState::Applying, move |r| {
            r.confirmed_by = Some(by);
        })
        .await
    }

    /// The admin's discard: the run becomes `discarded` and its rows and checkpoint are dropped.
    pub async fn discard(&self, id: &RunId) -> Result<SyncRun, RunError> {
        let run = self.transition(id, RunState::Discarded, |_| {}).await?;
        self.drop_rows(id).await?;
        self.delete_checkpoint(id).await?;
        Ok(run)
    }

    async fn read(&self, id: &RunId, expected: Option<u64>) -> Result<SyncRun, RunError> {
        let run = self
            .get(id)
            .await?
            .ok_or_else(|| RunError::NotFound(id.clone()))?;
        match expected {
            Some(v) if v != run.version => Err(RunError::Stale),
            _ => Ok(run),
        }
    }

    /// Writes `new` over `old` (conditional on its version), stamping `updated_ms`; a change
    /// into or out of the active states moves the run's marker in the same transaction.
    async fn write(&self, old: SyncRun, mut new: SyncRun) -> Result<SyncRun, RunError> {
        new.id = old.id.clone();
        new.connector_id = old.connector_id.clone();
        new.started_ms = old.started_ms;
        new.version = old.version + 1;
        new.updated_ms = Some(self.clock.now_millis());
        let item = run_item(&new)?;
        let cond = Cond::Version(old.version);
        let written = match active::marker_op(Some(old.state), &new)? {
            None => self.table.put(item, cond).await,
            Some(marker) => {
                match self
                    .table
                    .transact(vec![TxOp::Put { item, cond }, marker])
                    .await
                {
                    Err(TableError::TransactionCancelled { failed }) if failed.contains(&0) => {
                        Err(TableError::ConditionFailed)
                    }
                    other => other,
                }
            }
        };
        match written {
            Ok(()) => Ok(new),
            Err(TableError::ConditionFailed) => Err(RunError::Stale),
            Err(e) => Err(e.into()),
        }
    }
}

fn read_run(item: &Item) -> Result<SyncRun, DirectoryError> {
    let mut run: SyncRun = decode(item)?;
    run.version = item.version;
    Ok(run)
}
