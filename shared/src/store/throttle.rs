//! Failed-credential counters (`THROTTLE#{kind}#{value}`, TTL = the window's end): after too many
//! failures for one client id or one source address within a window, credentials are refused
//! without being checked, which keeps guessing slow and argon2 from being used as a lever.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::keys::esc;
use super::{DirectoryError, decode, encode};
use crate::ports::{Clock, Cond, Item, Key, Table, TableError};

/// How many failures a window allows, per client id and per source address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThrottleSettings {
    pub per_client: u32,
    pub per_source: u32,
    pub window_s: i64,
}

impl Default for ThrottleSettings {
    /// A real client that lost its secret fails a few times; a guesser, thousands.
    fn default() -> Self {
        Self {
            per_client: 10,
            per_source: 30,
            window_s: 600,
        }
    }
}

/// What failed: a client id, or a source address.
#[derive(Clone, Copy, Debug)]
pub enum Subject<'a> {
    Client(&'a str),
    Source(&'a str),
}

impl Subject<'_> {
    fn key(&self) -> Key {
        let (kind, value) = match self {
            Self::Client(v) => ("client", v),
            Self::Source(v) => ("ip", v),
        };
        // Bounded: the value comes from the request.
        let value: String = value.chars().take(128).collect();
        Key::new(format!("THROTTLE#{kind}#{}", esc(&value)), "THROTTLE")
    }
}

#[derive(Serialize, Deserialize)]
struct Counter {
    failures: u32,
    until_ms: i64,
}

#[derive(Clone)]
pub struct Throttle {
    table: Arc<dyn Table>,
    clock: Arc<dyn Clock>,
    settings: ThrottleSettings,
}

impl Throttle {
    pub fn new(table: Arc<dyn Table>, clock: Arc<dyn Clock>, settings: ThrottleSettings) -> Self {
        Self {
            table,
            clock,
            settings,
        }
    }

    fn limit(&self, subject: &Subject<'_>) -> u32 {
        match subject {
            Subject::Client(_) => self.settings.per_client,
            Subject::Source(_) => self.settings.per_source,
        }
    }

    /// Seconds until the first of `subjects` that used up its failures may try again; `None`
    /// when none did.
    pub async fn blocked(&self, subjects: &[Subject<'_>]) -> Result<Option<i64>, DirectoryError> {
        let now = self.clock.now_millis();
        let mut wait = None;
        for subject in subjects {
            if let Some(item) = self.table.get(&subject.key()).await? {
                let counter: Counter = decode(&item)?;
                if counter.failures >= self.limit(subject) && counter.until_ms > now {
                    let secs = (counter.until_ms - now + 999) / 1000;
                    wait = Some(wait.map_or(secs, |w: i64| w.max(secs)));
                }
            }
        }
        Ok(wait)
    }

    /// Counts one failure for each subject (a lost race is retried; counting is best effort
    /// beyond that, as a guesser gains little from one uncounted try).
    pub async fn failed(&self, subjects: &[Subject<'_>]) -> Result<(), DirectoryError> {
        for subject in subjects {
            for _ in 0..3 {
                match self.count(subject).await {
                    Err(DirectoryError::Storage(TableError::ConditionFailed)) => continue,
                    other => {
                        other?;
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    async fn count(&self, subject: &Subject<'_>) -> Result<(), DirectoryError> {
        let key = subject.key();
        let now = self.clock.now_millis();
        let (counter, version, cond) = match self.table.get(&key).await? {
            Some(item) => {
                let mut counter: Counter = decode(&item)?;
                counter.failures = counter.failures.saturating_add(1);
                (counter, item.version + 1, Cond::Version(item.version))
            }
            None => (
                Counter {
                    failures: 1,
                    until_ms: now + self.settings.window_s * 1000,
                },
                1,
                Cond::Absent,
            ),
        };
        let ttl = counter.until_ms.div_euclid(1000) + 1;
        let item = Item::new(key, version, encode(&counter)?).with_ttl(ttl);
        self.table.put(item, cond).await?;
        Ok(())
    }
}
