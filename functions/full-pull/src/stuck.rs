//! Runs that stop moving. A step still failing on its message's last delivery fails its run with
//! the reason, instead of the message dead-lettering silently; a step that crashed or timed out
//! every time leaves no such chance, so the schedule's tick also sweeps the runs in progress that
//! made no progress for [`crate::PullSettings::stale_after`] and whose lease is gone.

use std::time::Duration;

use dingbridge::domain::sync::ApplyScope;
use dingbridge::store::runs::{RunCounters, RunError, RunId, RunState, SyncRun, pull_lock_name};

use crate::Deps;
use crate::checkpoint::Stored;

/// Why a run is given up.
enum Stuck<'a> {
    /// Its step failed on every delivery the pull queue allows.
    Retried { attempts: u32, error: &'a str },
    /// Its step failed in a way no retry mends (a permission refused, a stored value that does
    /// not decode, a queue that does not exist).
    Refused { error: &'a str },
    /// No write and no lease for this long.
    Stalled { idle: Duration },
}

fn what_failed(run: &SyncRun, why: &Stuck<'_>) -> String {
    let step = match run.state {
        RunState::Applying => "applying",
        _ => "the pull (walk and review)",
    };
    match why {
        Stuck::Retried { attempts, error } => format!(
            "{step} failed on {attempts} deliveries in a row, the most the pull queue allows \
             (last error: {error})"
        ),
        Stuck::Refused { error } => {
            format!("{step} failed, and retrying would fail the same way: {error}")
        }
        Stuck::Stalled { idle } => format!(
            "{step} made no progress for {} minutes and no step holds its lease: its steps \
             crashed or timed out until the pull queue gave up on them (see the pull queue's \
             dead-letter queue)",
            idle.as_secs() / 60
        ),
    }
}

fn what_to_do(run: &SyncRun, c: &RunCounters) -> String {
    match run.state {
        RunState::Applying => format!(
            "applied so far: {} account creates, {} updates, {} disables and {} org units \
             ({} rows failed). Once the cause is fixed, confirm the run again to resume the \
             apply where it stopped, or start a new pull",
            c.applied_creates,
            c.applied_updates,
            c.applied_disables,
            c.applied_units,
            c.apply_failures
        ),
        _ => format!(
            "nothing was applied. Once the cause is fixed, start a new pull \
             (POST /admin/api/connectors/{}/pull)",
            run.connector_id
        ),
    }
}

/// Fails `run` with the reason and frees the connector's lock. An applying run gets its applied
/// counters from its checkpoint (the run's copy may be one save behind after a crash).
/// `pinned`: the write is conditional on the version the run was judged by.
async fn fail_stuck(
    deps: &Deps,
    run: &SyncRun,
    why: Stuck<'_>,
    pinned: Option<u64>,
) -> Result<SyncRun, RunError> {
    let mut counters = run.counters;
    let mut tally = None;
    if run.state == RunState::Applying {
        let checkpoint = Stored::load(&deps.runs, &run.id).await?;
        if checkpoint.version.is_some() {
            checkpoint.data.apply.tally.copy_to(&mut counters);
            tally = Some(checkpoint.data.apply.tally);
        }
    }
    let reason = format!("{}; {}", what_failed(run, &why), what_to_do(run, &counters));
    tracing::warn!(run_id = %run.id, connector_id = %run.connector_id, %reason, "stuck pull failed");
    deps.pull_runs
        .fail(run, pinned, reason, move |r| {
            if let Some(t) = tally {
                t.copy_to(&mut r.counters);
            }
        })
        .await
}

/// The answer to a step that failed for good: on its message's last delivery (`transient`), or
/// at once with an error no retry mends. The run is failed with the reason (a pulling or
/// applying run), or, for an org-units apply while the run awaits review, the failure is
/// recorded on the run. `Ok` means the message may be acknowledged; an error leaves it to the
/// dead-letter queue, and the run to the sweep.
pub async fn give_up(
    deps: &Deps,
    run_id: &RunId,
    scope: ApplyScope,
    attempts: u32,
    transient: bool,
    error: &str,
) -> Result<(), RunError> {
    let Some(run) = deps.runs.get(run_id).await? else {
        return Ok(());
    };
    let result = match run.state {
        RunState::Pulling | RunState::Applying => {
            let why = if transient {
                Stuck::Retried { attempts, error }
            } else {
                Stuck::Refused { error }
            };
            fail_stuck(deps, &run, why, None).await.map(drop)
        }
        RunState::AwaitingReview if scope == ApplyScope::OrgUnits => {
            let failed = if transient {
                format!("failed on {attempts} deliveries in a row (last error: {error})")
            } else {
                format!("failed ({error})")
            };
            let reason = format!(
                "applying the org units {failed}; the run still awaits review: confirm the org \
                 units again to retry"
            );
            deps.runs
                .update(&run.id, None, move |r| r.push_error(reason))
                .await
                .map(drop)
        }
        _ => Ok(()),
    };
    match result {
        // Moved on meanwhile to a state that is not failed from here (discarded, done).
        Err(RunError::InvalidTransition { .. }) => Ok(()),
        other => other,
    }
}

/// Fails every `pulling` or `applying` run that has not been written for longer than
/// [`crate::PullSettings::stale_after`] at `now_ms` and whose lock it no longer holds (expired,
/// or taken by another run). Returns the runs failed. Runs are found through the active-runs
/// index: a few reads, whatever the history.
pub async fn sweep_stale_runs(deps: &Deps, now_ms: i64) -> Result<Vec<SyncRun>, RunError> {
    let stale_ms = i64::try_from(deps.settings.stale_after().as_millis()).unwrap_or(i64::MAX);
    let mut failed = Vec::new();
    let mut cursor = None;
    loop {
        let page = deps.runs.active(100, cursor).await?;
        for run in page.items {
            let idle = now_ms.saturating_sub(run.last_progress_ms());
            if idle <= stale_ms {
                continue;
            }
            let holder = deps
                .locks
                .holder(&pull_lock_name(&run.connector_id))
                .await?;
            if holder.is_some_and(|h| h.owner == run.id.as_str() && h.until_ms > now_ms) {
                continue;
            }
            let idle = Duration::from_millis(u64::try_from(idle).unwrap_or(0));
            match fail_stuck(deps, &run, Stuck::Stalled { idle }, Some(run.version)).await {
                Ok(r) => failed.push(r),
                // Written since it was read: it moves, so it is not stale.
                Err(RunError::Stale | RunError::InvalidTransition { .. }) => {}
                Err(e) => {
                    tracing::warn!(run_id = %run.id, error = %e, "stale run not failed; the next tick retries");
                }
            }
        }
        cursor = page.next;
        if cursor.is_none() {
            return Ok(failed);
        }
    }
}
