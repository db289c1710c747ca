//! One lifecycle for sync runs: start, confirm, discard, fail, and the steps between, over the
//! runs store, the connector's lease lock and the queue that carries the run's steps. The admin
//! API and `full-pull` both go through it, so the sequence (probe lease → create → lease →
//! enqueue → unwind on failure) and the lease length exist once. The state rules are pure
//! functions in [`rules`].

pub mod rules;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use crate::domain::ids::ConnectorId;
use crate::domain::pull::RowAction;
use crate::domain::sync::{ApplyScope, PullMessage};
use crate::ports::{Clock, OutMessage, Queue, QueueError, Table, TableError};
use crate::store::mappings::Mappings;
use crate::store::runs::{
    Locks, RowBody, RowFilter, RowKind, RowRef, RunError, RunId, RunKind, RunState, Runs, SyncRun,
    pull_lock_name,
};

pub use rules::{Refusal, Step, confirmable, step_for, units_present};

/// The lease of a connector's pull lock: taken at start and at confirm, renewed at every
/// checkpoint, so it only needs to outlive one invocation (at most 15 minutes on Lambda) plus
/// the queue's redelivery delay.
pub const PULL_LEASE: Duration = Duration::from_secs(20 * 60);
/// The probe lease that refuses a busy connector before a run record is made for nothing.
const PROBE_LEASE_SECS: u64 = 60;
/// Rows read per page while checking that an accounts confirm finds its org units.
const CHECK_PAGE: usize = 1000;

/// Why a run did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Another run of the connector holds the lock (pulling or applying).
    #[error("a pull of connector {0} is already running")]
    Busy(ConnectorId),
    #[error(transparent)]
    Store(#[from] RunError),
    /// The run was made but its first step could not be queued: it is failed, the lock freed.
    #[error("the pull could not be queued: {0}")]
    Queue(#[source] QueueError),
}

/// Why a confirm did not go through.
#[derive(Debug, thiserror::Error)]
pub enum ConfirmError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// Another run of the connector holds the lock.
    #[error("another pull of this connector is running; confirm once it is done")]
    Busy,
    #[error(transparent)]
    Store(#[from] RunError),
    #[error("the apply could not be queued: {0}")]
    Queue(#[source] QueueError),
}

/// The run's lock is held by another run: this one lost its lease while it stalled, and must
/// not go on side by side with it.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another pull of connector {connector} holds the lock; run {run} stops")]
    Lost { connector: ConnectorId, run: RunId },
    #[error("renewing the pull lock: {0}")]
    Storage(#[from] TableError),
}

impl LockError {
    /// A lost lock is final for this run; a storage failure may pass.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Storage(e) if e.is_transient())
    }
}

/// A run just started, and the run waiting for review it will supersede once its walk is done
/// (only one run of a connector waits for review at a time).
#[derive(Debug)]
pub struct Started {
    pub run: SyncRun,
    pub supersedes: Option<RunId>,
}

/// The lifecycle of pull runs (see the module comment).
#[derive(Clone)]
pub struct PullRuns {
    runs: Runs,
    locks: Locks,
    mappings: Mappings,
    queue: Arc<dyn Queue>,
    clock: Arc<dyn Clock>,
    kind: RunKind,
}

impl PullRuns {
    /// Runs of `kind` in `table`, their steps carried by `queue`.
    pub fn new(table: Arc<dyn Table>, queue: Arc<dyn Queue>, clock: Arc<dyn Clock>) -> Self {
        Self {
            runs: Runs::new(table.clone(), clock.clone()),
            locks: Locks::new(table.clone(), clock.clone()),
            mappings: Mappings::new(table),
            queue,
            clock,
            kind: RunKind::Pull,
        }
    }

    /// The same lifecycle with the steps carried by `queue` instead.
    pub fn with_queue(&self, queue: Arc<dyn Queue>) -> Self {
        Self {
            queue,
            ..self.clone()
        }
    }

    /// The queue that carries the steps.
    pub fn queue(&self) -> &Arc<dyn Queue> {
        &self.queue
    }

    /// The runs store underneath (records, rows, checkpoints).
    pub fn store(&self) -> &Runs {
        &self.runs
    }

    fn lease_secs() -> u64 {
        PULL_LEASE.as_secs()
    }

    /// Starts a run of `connector`: takes the connector's lock for a new run and queues the
    /// run's first step. Refused with [`StartError::Busy`] while another run holds the lock.
    pub async fn start(&self, connector: &ConnectorId) -> Result<Started, StartError> {
        self.start_run(connector, self.kind, false).await
    }

    /// Starts an initial push (re-sync) of `connector`'s pushed subtree: a run of kind `push`,
    /// applied without review when `auto` and its plan passes the mass-delete guard. It shares
    /// the connector's lock with the pulls: a pull and a push of one connector never overlap.
    pub async fn start_push(
        &self,
        connector: &ConnectorId,
        auto: bool,
    ) -> Result<Started, StartError> {
        self.start_run(connector, RunKind::Push, auto).await
    }

    async fn start_run(
        &self,
        connector: &ConnectorId,
        kind: RunKind,
        auto: bool,
    ) -> Result<Started, StartError> {
        // Read before the run exists: a quick pull may be waiting for review itself by the time
        // the caller answers.
        let supersedes = self.runs.waiting_of(connector, kind).await?.map(|w| w.id);
        let name = pull_lock_name(connector);
        let storage = |e: TableError| StartError::Store(e.into());
        // The run's id is only known once it exists: a short probe lease refuses a busy
        // connector first.
        let probe = format!("start:{}", RunId::generate());
        if !self
            .locks
            .acquire(&name, &probe, PROBE_LEASE_SECS)
            .await
            .map_err(storage)?
        {
            return Err(StartError::Busy(connector.clone()));
        }
        let run = self.runs.create_with(connector, kind, auto).await?;
        self.locks.release(&name, &probe).await.map_err(storage)?;
        if !self
            .locks
            .acquire(&name, run.id.as_str(), Self::lease_secs())
            .await
            .map_err(storage)?
        {
            self.runs
                .transition(&run.id, RunState::Discarded, |r| {
                    r.push_error("another pull of this connector started at the same moment");
                })
                .await?;
            return Err(StartError::Busy(connector.clone()));
        }
        if let Err(e) = self.enqueue(&run, ApplyScope::All, 0).await {
            // The queue's error may name its URL: the run records only what happened.
            self.fail(
                &run,
                None,
                "the pull could not be queued".to_owned(),
                |_| {},
            )
            .await?;
            return Err(StartError::Queue(e));
        }
        tracing::info!(connector_id = %connector, run_id = %run.id, "pull started");
        Ok(Started { run, supersedes })
    }

    /// The admin's confirm of run `id` with `scope`, by `by`: checked by [`confirmable`] (and,
    /// for accounts, that their org units are in the directory), then queued for `full-pull`.
    /// `org_units` leaves the run awaiting review for its accounts; `accounts` or `all` takes
    /// the lock and moves the run to applying (also the resume of a run that failed while
    /// applying).
    pub async fn confirm(
        &self,
        id: &RunId,
        scope: ApplyScope,
        by: &str,
    ) -> Result<SyncRun, ConfirmError> {
        let run = self
            .runs
            .get(id)
            .await?
            .ok_or_else(|| RunError::NotFound(id.clone()))?;
        // The newest run of the same kind: a pull and a push are separate decisions.
        let recent = self.runs.list(Some(&run.connector_id), 50, None).await?;
        let latest = recent.items.iter().find(|r| r.kind == run.kind);
        confirmable(&run, scope, latest)?;
        // The step number only has to differ from earlier confirms inside the queue's dedupe
        // window.
        let step = u64::try_from(self.clock.now_millis()).unwrap_or(0);
        if scope == ApplyScope::OrgUnits {
            self.enqueue(&run, scope, step)
                .await
                .map_err(ConfirmError::Queue)?;
            return Ok(run);
        }
        if scope == ApplyScope::Accounts {
            units_present(self.missing_units(&run).await?)?;
        }
        if !self
            .locks
            .acquire(
                &pull_lock_name(&run.connector_id),
                run.id.as_str(),
                Self::lease_secs(),
            )
            .await
            .map_err(RunError::from)?
        {
            return Err(ConfirmError::Busy);
        }
        let confirmed = self.runs.confirm(id, by).await?;
        if let Err(e) = self.enqueue(&confirmed, scope, step).await {
            // Left applying with its lease: the schedule's sweep fails it once the lease is
            // gone, and a confirm resumes it then.
            return Err(ConfirmError::Queue(e));
        }
        Ok(confirmed)
    }

    /// The admin's discard: the run becomes discarded, its rows and checkpoint are dropped and
    /// its connector is freed at once (the lease would otherwise run out later).
    pub async fn discard(&self, id: &RunId) -> Result<SyncRun, RunError> {
        let run = self.runs.discard(id).await?;
        self.locks
            .release(&pull_lock_name(&run.connector_id), run.id.as_str())
            .await?;
        Ok(run)
    }

    /// Fails `run` with `reason` (and whatever `edit` adds in the same write) and frees its
    /// connector. `pinned`: the write is conditional on the version the run was judged by.
    pub async fn fail(
        &self,
        run: &SyncRun,
        pinned: Option<u64>,
        reason: String,
        edit: impl FnOnce(&mut SyncRun) + Send,
    ) -> Result<SyncRun, RunError> {
        let failed = self
            .runs
            .transition_at(&run.id, pinned, RunState::Failed, move |r| {
                edit(r);
                r.push_error(reason);
            })
            .await?;
        self.release_lock(&run.connector_id, &run.id).await;
        Ok(failed)
    }

    /// The walk is done and the snapshot needs an admin: the run awaits review with `reason`,
    /// and frees its connector.
    pub async fn await_review(&self, run: &SyncRun, reason: String) -> Result<SyncRun, RunError> {
        let waiting = self.runs.await_review(&run.id, Some(reason)).await?;
        self.release_lock(&run.connector_id, &run.id).await;
        Ok(waiting)
    }

    /// Auto mode: the run goes from its walk straight to applying, confirmed by `auto`. Its
    /// snapshot is newer than any run still waiting for review, which is superseded.
    pub async fn auto_confirm(&self, run: &SyncRun) -> Result<SyncRun, RunError> {
        let applying = self
            .runs
            .transition(&run.id, RunState::Applying, |r| {
                r.confirmed_by = Some("auto".to_owned());
            })
            .await?;
        self.runs
            .supersede_waiting(&run.connector_id, run.kind, &run.id)
            .await?;
        Ok(applying)
    }

    /// The apply finished: the run is done, its checkpoint dropped and its connector freed.
    pub async fn finish(&self, run: &SyncRun) -> Result<SyncRun, RunError> {
        let done = self
            .runs
            .transition(&run.id, RunState::Done, |_| {})
            .await?;
        self.runs.delete_checkpoint(&run.id).await?;
        self.release_lock(&run.connector_id, &run.id).await;
        Ok(done)
    }

    /// Queues step `step` of `run` (the step number keeps each message unique).
    pub async fn enqueue(
        &self,
        run: &SyncRun,
        scope: ApplyScope,
        step: u64,
    ) -> Result<(), QueueError> {
        let message = pull_message(&run.connector_id, run.id.as_str(), scope, step)
            .map_err(|e| QueueError::Invalid(e.to_string()))?;
        self.queue.send(message).await
    }

    /// Renews (or takes) the connector's lock for `run`.
    pub async fn renew_lock(&self, connector: &ConnectorId, run: &RunId) -> Result<(), LockError> {
        let held = self
            .locks
            .acquire(&pull_lock_name(connector), run.as_str(), Self::lease_secs())
            .await?;
        if held {
            Ok(())
        } else {
            Err(LockError::Lost {
                connector: connector.clone(),
                run: run.clone(),
            })
        }
    }

    /// Frees the connector's lock if `run` holds it.
    pub async fn release_lock(&self, connector: &ConnectorId, run: &RunId) {
        if let Err(e) = self
            .locks
            .release(&pull_lock_name(connector), run.as_str())
            .await
        {
            // The lease expires on its own; a failed release only delays the next pull.
            tracing::warn!(run_id = %run, error = %e, "could not release the pull lock");
        }
    }

    /// The org units an accounts confirm needs that are not in the directory yet: every
    /// department of a user row to create or update must be mapped (or be DingTalk's root).
    async fn missing_units(&self, run: &SyncRun) -> Result<Vec<String>, RunError> {
        let mut missing: Vec<u64> = Vec::new();
        let mut checked: HashSet<u64> = HashSet::new();
        for action in [RowAction::Create, RowAction::Update] {
            let mut cursor = None;
            loop {
                let page = self
                    .runs
                    .rows(
                        &run.id,
                        RowKind::User,
                        RowFilter::Only(action),
                        CHECK_PAGE,
                        cursor,
                    )
                    .await?;
                for r in page.items {
                    let RowBody::User(u) = r.body else { continue };
                    for d in u.dept_ids {
                        if d.is_root() || !checked.insert(d.get()) {
                            continue;
                        }
                        if self.mappings.unit_of(&run.connector_id, d).await?.is_none() {
                            missing.push(d.get());
                        }
                    }
                }
                cursor = page.next;
                if cursor.is_none() {
                    break;
                }
            }
        }
        missing.sort_unstable();
        let mut names = Vec::with_capacity(missing.len());
        for d in missing {
            names.push(self.unit_name(run, d).await?);
        }
        Ok(names)
    }

    /// A missing unit as the admin knows it: its staged name when the run has it.
    async fn unit_name(&self, run: &SyncRun, dept: u64) -> Result<String, RunError> {
        let row = RowRef {
            kind: RowKind::Dept,
            key: dept.to_string(),
        };
        let name = self
            .runs
            .row(&run.id, &row)
            .await?
            .and_then(|r| match r.body {
                RowBody::Dept(d) => Some(d.name),
                _ => None,
            });
        Ok(match name {
            Some(n) => format!("{n} (department {dept})"),
            None => format!("department {dept}"),
        })
    }
}

/// The message that moves a run on, with the FIFO group (the connector: one run's steps in order)
/// and the deduplication id (run, scope and step: a step is queued once however often it is sent).
fn pull_message(
    connector_id: &ConnectorId,
    run_id: &str,
    scope: ApplyScope,
    step: u64,
) -> Result<OutMessage, serde_json::Error> {
    let message = PullMessage::Run {
        connector_id: connector_id.clone(),
        run_id: run_id.to_owned(),
        scope,
        step,
    };
    Ok(OutMessage::new(
        connector_id.as_str(),
        format!("{run_id}:{}:{step}", scope.as_str()),
        serde_json::to_string(&message)?,
    ))
}
