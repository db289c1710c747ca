//! The schedule's tick: runs that stopped moving are failed, then every connector whose
//! `pull_schedule` (cron, evaluated at UTC+8, the clock of DingTalk's customers) came due since
//! its last run (or its creation) gets a pull.

use std::str::FromStr;

use chrono::{DateTime, FixedOffset, TimeZone};
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
    let mut cursor = None;
    loop {
        let page = deps.connectors.list(100, cursor).await?;
        for c in page.items.into_iter().filter(|c| c.enabled) {
            let last = deps.runs.list(Some(&c.id), 1, None).await?;
            let since = last.items.first().map_or(c.created_ms, |r| r.started_ms);
            match is_due(&c.pull_schedule, since, now_ms) {
                Ok(false) => {}
                Ok(true) => match start_pull(deps, &c.id).await {
                    Ok(run) => started.push(run),
                    Err(StartError::Busy(_)) => {}
                    Err(e) => {
                        tracing::warn!(connector_id = %c.id, error = %e, "scheduled pull not started");
                    }
                },
                Err(e) => {
                    tracing::warn!(connector_id = %c.id, error = %e, "scheduled pull skipped");
                }
            }
        }
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }
    Ok(started)
}

/// China Standard Time: schedules are written in the customers' local time (`0 2 * * *` = 02:00
/// Beijing), whatever the region the functions run in.
const UTC_PLUS_8_SECONDS: i32 = 8 * 3600;

/// The first occurrence of `schedule` strictly after `after_ms`, in epoch milliseconds.
pub fn next_occurrence(schedule: &str, after_ms: i64) -> Result<i64, String> {
    let cron = croner::Cron::from_str(schedule)
        .map_err(|e| format!("pull_schedule {schedule:?} is not a valid cron expression ({e})"))?;
    let zone = FixedOffset::east_opt(UTC_PLUS_8_SECONDS)
        .ok_or_else(|| "the UTC+8 offset is out of range".to_owned())?;
    let start: DateTime<FixedOffset> = zone
        .timestamp_millis_opt(after_ms)
        .single()
        .ok_or_else(|| format!("{after_ms} is not a valid time"))?;
    let next = cron
        .find_next_occurrence(&start, false)
        .map_err(|e| format!("pull_schedule {schedule:?} has no next occurrence ({e})"))?;
    Ok(next.timestamp_millis())
}

/// True when an occurrence of `schedule` fell after `since_ms` (the last run's start, or the
/// connector's creation) and at or before `now_ms`: one pull catches up on any number of missed
/// occurrences, so an outage never queues a burst of pulls.
pub fn is_due(schedule: &str, since_ms: i64, now_ms: i64) -> Result<bool, String> {
    Ok(next_occurrence(schedule, since_ms)? <= now_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-01-01T00:00:00Z = 08:00 in Beijing.
    const NEW_YEAR_UTC_MS: i64 = 1_767_225_600_000;
    const HOUR: i64 = 3_600_000;

    #[test]
    fn the_daily_default_runs_at_two_in_the_morning_beijing_time() {
        // 02:00 Beijing on Jan 2 = 18:00 UTC on Jan 1.
        let next = next_occurrence("0 2 * * *", NEW_YEAR_UTC_MS).unwrap();
        assert_eq!(next, NEW_YEAR_UTC_MS + 18 * HOUR);
    }

    #[test]
    fn a_pull_is_due_once_an_occurrence_passed_since_the_last_run() {
        let last = NEW_YEAR_UTC_MS;
        assert!(!is_due("0 2 * * *", last, last + 17 * HOUR).unwrap());
        assert!(is_due("0 2 * * *", last, last + 18 * HOUR).unwrap());
        // Missed for days: still one pull, due now.
        assert!(is_due("0 2 * * *", last, last + 96 * HOUR).unwrap());
    }

    #[test]
    fn an_invalid_schedule_is_an_error_not_a_pull() {
        assert!(is_due("every day", 0, NEW_YEAR_UTC_MS).is_err());
    }
}
