//! The parsed values of a connector's DingTalk app and schedule: a stored connector holds these,
//! so it is valid by construction and no tick parses its cron again.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset, TimeZone};
use serde::{Deserialize, Serialize};

use super::{MAX_IDENTIFIER, MAX_SCHEDULE};
use crate::values::{InvalidField, identifier, text_newtype_impls};

/// A non-blank identifier of at most [`MAX_IDENTIFIER`] characters with nothing invisible inside,
/// trimmed (DingTalk's corpId and AppKey are 20–40 visible characters).
fn app_identifier(field: &'static str, raw: &str) -> Result<String, InvalidField> {
    let len = raw.trim().chars().count();
    if len > MAX_IDENTIFIER {
        return Err(InvalidField::new(
            field,
            format!("has {len} characters; at most {MAX_IDENTIFIER} are allowed"),
        ));
    }
    identifier(field, raw)?.ok_or_else(|| InvalidField::new(field, "is required"))
}

/// The organisation's id on DingTalk's open platform (`dingxxxxxxxx`, on the platform's home page).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CorpId(String);

impl CorpId {
    pub fn parse(raw: &str) -> Result<Self, InvalidField> {
        app_identifier("corp_id", raw).map(Self)
    }
}

text_newtype_impls!(CorpId);

/// An internal app's AppKey (its client id), from the app's details page.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AppKey(String);

impl AppKey {
    pub fn parse(raw: &str) -> Result<Self, InvalidField> {
        app_identifier("app_key", raw).map(Self)
    }
}

text_newtype_impls!(AppKey);

/// China Standard Time: schedules are written in the customers' local time (`0 2 * * *` = 02:00
/// Beijing), whatever the region the functions run in.
const UTC_PLUS_8_SECONDS: i32 = 8 * 3600;

/// A pull schedule: the cron expression as the admin wrote it, and its parse.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PullSchedule {
    source: String,
    cron: croner::Cron,
}

impl PullSchedule {
    pub fn parse(raw: &str) -> Result<Self, InvalidField> {
        let source = raw.trim();
        let len = source.chars().count();
        if len > MAX_SCHEDULE {
            return Err(InvalidField::new(
                "pull_schedule",
                format!("has {len} characters; at most {MAX_SCHEDULE} are allowed"),
            ));
        }
        let cron = croner::Cron::from_str(source).map_err(|e| {
            InvalidField::new(
                "pull_schedule",
                format!("is not a valid cron expression ({e})"),
            )
        })?;
        Ok(Self {
            source: source.to_owned(),
            cron,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The first occurrence strictly after `after_ms`, in epoch milliseconds, evaluated at UTC+8;
    /// `None` when the expression never fires again (a 30 February) or the time is out of range.
    pub fn next_after(&self, after_ms: i64) -> Option<i64> {
        let zone = FixedOffset::east_opt(UTC_PLUS_8_SECONDS)?;
        let start: DateTime<FixedOffset> = zone.timestamp_millis_opt(after_ms).single()?;
        let next = self.cron.find_next_occurrence(&start, false).ok()?;
        Some(next.timestamp_millis())
    }

    /// True when an occurrence fell after `since_ms` (the last run's start, or the connector's
    /// creation) and at or before `now_ms`: one pull catches up on any number of missed
    /// occurrences, so an outage never queues a burst of pulls.
    pub fn is_due(&self, since_ms: i64, now_ms: i64) -> bool {
        self.next_after(since_ms).is_some_and(|next| next <= now_ms)
    }
}

impl PartialEq for PullSchedule {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl TryFrom<String> for PullSchedule {
    type Error = InvalidField;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<PullSchedule> for String {
    fn from(value: PullSchedule) -> Self {
        value.source
    }
}

impl fmt::Display for PullSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl fmt::Debug for PullSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PullSchedule({:?})", self.source)
    }
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
        let next = PullSchedule::parse(super::super::DEFAULT_PULL_SCHEDULE)
            .unwrap()
            .next_after(NEW_YEAR_UTC_MS);
        assert_eq!(next, Some(NEW_YEAR_UTC_MS + 18 * HOUR));
    }

    #[test]
    fn a_pull_is_due_once_an_occurrence_passed_since_the_last_run() {
        let daily = PullSchedule::parse("0 2 * * *").unwrap();
        let last = NEW_YEAR_UTC_MS;
        assert!(!daily.is_due(last, last + 17 * HOUR));
        assert!(daily.is_due(last, last + 18 * HOUR));
        // Missed for days: still one pull, due now.
        assert!(daily.is_due(last, last + 96 * HOUR));
    }

    #[test]
    fn an_invalid_schedule_is_refused_when_parsed_and_when_read_back() {
        let e = PullSchedule::parse("every day").unwrap_err();
        assert_eq!(e.field, "pull_schedule");
        assert!(e.reason.contains("cron"), "{}", e.reason);
        assert!(serde_json::from_str::<PullSchedule>("\"every day\"").is_err());
        let ok: PullSchedule = serde_json::from_str("\" 0 3 * * * \"").unwrap();
        assert_eq!(ok.as_str(), "0 3 * * *");
        assert_eq!(serde_json::to_string(&ok).unwrap(), "\"0 3 * * *\"");
    }

    #[test]
    fn a_schedule_that_never_fires_again_is_never_due() {
        let never = PullSchedule::parse("0 0 30 2 *").unwrap();
        assert!(!never.is_due(NEW_YEAR_UTC_MS, NEW_YEAR_UTC_MS + 10_000 * HOUR));
    }

    #[test]
    fn app_identifiers_are_trimmed_and_refuse_blanks_and_invisible_characters() {
        assert_eq!(CorpId::parse(" dingabc ").unwrap().as_str(), "dingabc");
        assert_eq!(CorpId::parse("  ").unwrap_err().reason, "is required");
        let e = AppKey::parse("ding\u{200b}key").unwrap_err();
        assert_eq!(e.field, "app_key");
        assert!(e.reason.contains("U+200B"), "{}", e.reason);
        assert!(AppKey::parse(&"k".repeat(65)).is_err());
        assert!(serde_json::from_str::<CorpId>("\"a b\"").is_err());
    }
}
