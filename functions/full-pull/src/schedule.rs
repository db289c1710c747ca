//! When a connector's scheduled pull is due: its `pull_schedule` (cron) evaluated at UTC+8, the
//! clock of DingTalk's customers, counted from its last run (or from its creation).

use std::str::FromStr;

use chrono::{DateTime, FixedOffset, TimeZone};

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
#[allow(clippy::unwrap_used)]
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
