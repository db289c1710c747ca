//! The schedule's tick: runs that stopped moving are failed, then every connector whose
//! `pull_schedule` (a parsed cron, evaluated at UTC+8: see `PullSchedule`) came due since
//! its last run (or its creation) gets a pull.

use dingbridge::domain::ids::ConnectorId;
use dingbridge::lifecycle::StartError;
use dingbridge::store::runs::{RunError, SyncRun};

use crate::Deps;
use crate::stuck::sweep_stale_runs;

/// Starts a pull of `connector`: takes the connector's lock for a new run and queues the run's
/// first step. The walk itself happens in the queue's consumer (this function on Lambda).
pub async fn start_pull(deps: &Deps, connector: &ConnectorId) -> Result<SyncRun, StartError> {
    Ok(deps.pull_runs.start(connector).await?.run)
}

/// What one tick did.
#[derive(Debug)]
pub struct Tick {
    /// Runs failed by the sweep (no progress, no lease).
    pub failed_stale: Vec<SyncRun>,
    pub started: Vec<SyncRun>,
}

/// The EventBridge tick at `now_ms`: the sweep of stale runs first, so a connector freed from a
/// stale run is not skipped as busy, then the due pulls. A failed sweep is logged and does not
/// hold up the schedule (the next tick sweeps again).
pub async fn tick(deps: &Deps, now_ms: i64) -> Result<Tick, RunError> {
    let failed_stale = sweep_stale_runs(deps, now_ms).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "sweeping stale pulls failed; the next tick retries");
        Vec::new()
    });
    let started = start_due_pulls(deps, now_ms).await?;
    Ok(Tick {
        failed_stale,
        started,
    })
}

/// Starts the pull of every enabled connector whose schedule is due at `now_ms` (the
/// EventBridge tick). A busy connector is skipped; it is due again at the next tick.
pub async fn start_due_pulls(deps: &Deps, now_ms: i64) -> Result<Vec<SyncRun>, RunError> {
    let mut started = Vec::new();
    for c in deps
        .connectors
        .all()
        .await?
        .into_iter()
        .filter(|c| c.enabled)
    {
        let last = deps.runs.list(Some(&c.id), 1, None).await?;
        let since = last.items.first().map_or(c.created_ms, |r| r.started_ms);
        if !c.pull_schedule.is_due(since, now_ms) {
            continue;
        }
        match start_pull(deps, &c.id).await {
            Ok(run) => started.push(run),
            Err(StartError::Busy(_)) => {}
            Err(e) => {
                tracing::warn!(connector_id = %c.id, error = %e, "scheduled pull not started");
            }
        }
    }
    Ok(started)
}
