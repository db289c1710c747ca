//! `full-pull` (job J1): walks the connector's whole DingTalk tree into a staging snapshot,
//! validates and plans it against the directory, waits for review (or applies at once in auto
//! mode) and applies through the shared reconciler; checkpoints so any org size completes.

mod apply;
mod checkpoint;
mod drive;
mod handler;
mod push_run;
mod review;
pub mod schedule;
mod stage;
mod step;
mod stuck;
pub mod walk;

use std::sync::Arc;
use std::time::Duration;

use dingbridge::config::{AwsStorageConfig, ConfigError, EnvReader, data_key, queue_url};
use dingbridge::dingtalk::DingTalk;
use dingbridge::lifecycle::{PULL_LEASE, PullRuns};
use dingbridge::ports::{Clock, Queue, Table};
use dingbridge::pusher::Pusher;
use dingbridge::secrets::SecretBox;
use dingbridge::store::connectors::Connectors;
use dingbridge::store::directory::Directory;
use dingbridge::store::events::Events;
use dingbridge::store::mappings::Mappings;
use dingbridge::store::runs::{Locks, Runs};
use dingbridge::store::settings::Settings as StoredSettings;
use dingbridge::sync::Reconciler;

pub use dingbridge::lifecycle::StartError;
pub use drive::{Progress, run_once};
pub use handler::{InvokeError, invoke};
pub use schedule::{Tick, start_due_pulls, start_pull, tick};
pub use step::StepError;
pub use stuck::sweep_stale_runs;
pub use walk::WalkLimits;

/// Tunables of a pull.
#[derive(Clone, Debug)]
pub struct PullSettings {
    /// How long one invocation works before it checkpoints and hands over to a continuation:
    /// 13 of Lambda's 15 minutes leaves time to finish the calls in flight and save.
    pub budget: Duration,
    pub walk: WalkLimits,
    /// Rows applied concurrently (accounts are independent; the reconciler settles conflicts).
    pub apply_concurrency: usize,
    /// Rows read per apply page (of which those of the phase are applied), i.e. between two
    /// apply checkpoints.
    pub apply_page: usize,
    /// The pull queue's `maxReceiveCount` (its redrive policy): the delivery on which a step that
    /// still fails marks its run failed, instead of the message going to the dead-letter queue.
    pub max_receives: u32,
    /// The pull queue's visibility timeout: how long a delivered step stays hidden before the
    /// queue delivers it again (longer than the function's timeout).
    pub queue_visibility: Duration,
    /// Entities a push run plans or pushes at once, per kind (departments, users): enough to
    /// keep each DingTalk API at its rate limit through the call latency. 1 pushes one entity at
    /// a time, users only once every department is made (the benchmark's baseline).
    pub push_concurrency: usize,
}

impl PullSettings {
    /// How long a `pulling` or `applying` run may go without a write before the schedule's sweep
    /// fails it (if its lease is gone too). A live step writes at every checkpoint and renews the
    /// lease; after its last write the lease lasts [`PULL_LEASE`], and the queue may still hold the step
    /// for `max_receives` deliveries of `queue_visibility` each before it gives up on it. Past
    /// both, nothing is left that could move the run on. 20 min + 5 × 16 min = 100 min on Lambda.
    pub fn stale_after(&self) -> Duration {
        PULL_LEASE + self.queue_visibility * self.max_receives.max(1)
    }
}

impl Default for PullSettings {
    fn default() -> Self {
        Self {
            budget: Duration::from_secs(13 * 60),
            walk: WalkLimits::default(),
            apply_concurrency: 8,
            apply_page: 500,
            max_receives: 5,
            queue_visibility: Duration::from_secs(960),
            push_concurrency: 8,
        }
    }
}

/// What the pull uses; the list is also its IAM policy (table read/write, pull queue send,
/// DingTalk over HTTPS).
#[derive(Clone)]
pub struct Deps {
    pub reconciler: Reconciler,
    pub connectors: Connectors,
    pub directory: Directory,
    pub mappings: Mappings,
    pub settings_store: StoredSettings,
    pub runs: Runs,
    pub locks: Locks,
    /// The run lifecycle (lock, queue and state rules), shared with the admin API.
    pub pull_runs: PullRuns,
    /// Where unreadable pull messages are parked.
    pub events: Events,
    pub dingtalk: Arc<dyn DingTalk>,
    pub clock: Arc<dyn Clock>,
    pub settings: PullSettings,
    /// The per-entity push (`dingbridge::pusher`, the push worker's own), which push runs
    /// (initial push, re-sync) plan and apply with.
    pub pusher: Pusher,
}

impl Deps {
    pub fn new(
        table: Arc<dyn Table>,
        queue: Arc<dyn Queue>,
        dingtalk: Arc<dyn DingTalk>,
        clock: Arc<dyn Clock>,
        secrets: SecretBox,
        settings: PullSettings,
    ) -> Self {
        let pusher = Pusher::new(
            table.clone(),
            dingtalk.clone(),
            clock.clone(),
            secrets.clone(),
        );
        let reconciler =
            Reconciler::over_table(dingtalk.clone(), table.clone(), clock.clone(), secrets);
        Self {
            connectors: reconciler.connectors().clone(),
            directory: reconciler.directory().clone(),
            mappings: reconciler.mappings().clone(),
            settings_store: reconciler.settings().clone(),
            reconciler,
            runs: Runs::new(table.clone(), clock.clone()),
            locks: Locks::new(table.clone(), clock.clone()),
            pull_runs: PullRuns::new(table.clone(), queue.clone(), clock.clone()),
            events: Events::new(table, clock.clone()),
            dingtalk,
            clock,
            settings,
            pusher,
        }
    }
}

/// The function's configuration, read once at cold start.
pub struct Config {
    /// `TABLE_NAME`
    pub table_name: String,
    /// `PULL_QUEUE_URL`: the pull queue (FIFO), which this function both consumes and feeds.
    pub pull_queue_url: String,
    /// `DINGBRIDGE_DATA_KEY`: opens the connectors' sealed secrets.
    pub secrets: SecretBox,
    /// `PULL_BUDGET_SECS` (default 780 = 13 minutes), `PULL_MAX_RECEIVES` (default 5) and
    /// `PULL_VISIBILITY_TIMEOUT_SECS` (default 960): the last two as the pull queue has them.
    pub settings: PullSettings,
}

impl Config {
    /// Every missing or invalid variable is reported at once.
    pub fn from_env(mut env: EnvReader) -> Result<Self, ConfigError> {
        let storage = AwsStorageConfig::read(&mut env);
        let pull_queue_url = queue_url(&mut env, "PULL_QUEUE_URL");
        let secrets = data_key(&mut env);
        let defaults = PullSettings::default();
        let budget: u64 = env.parse_or("PULL_BUDGET_SECS", defaults.budget.as_secs());
        if !(10..=14 * 60).contains(&budget) {
            env.problem(
                "PULL_BUDGET_SECS",
                "must be from 10 to 840 (Lambda stops at 900 seconds)",
            );
        }
        let max_receives: u32 = env.parse_or("PULL_MAX_RECEIVES", defaults.max_receives);
        if max_receives == 0 {
            env.problem("PULL_MAX_RECEIVES", "must be at least 1");
        }
        let visibility: u64 = env.parse_or(
            "PULL_VISIBILITY_TIMEOUT_SECS",
            defaults.queue_visibility.as_secs(),
        );
        if visibility <= budget {
            env.problem(
                "PULL_VISIBILITY_TIMEOUT_SECS",
                "must be longer than PULL_BUDGET_SECS (a step must not be delivered twice at once)",
            );
        }
        env.finish()?;
        let secrets = secrets.ok_or_else(ConfigError::no_data_key)?;
        Ok(Self {
            table_name: storage.table_name,
            pull_queue_url,
            secrets,
            settings: PullSettings {
                budget: Duration::from_secs(budget),
                max_receives,
                queue_visibility: Duration::from_secs(visibility),
                ..defaults
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_config_problem_is_reported_at_once() {
        let err = Config::from_env(EnvReader::from_pairs([
            ("DINGBRIDGE_DATA_KEY", "c2hvcnQ="),
            ("PULL_BUDGET_SECS", "900"),
            ("PULL_MAX_RECEIVES", "0"),
            ("PULL_VISIBILITY_TIMEOUT_SECS", "600"),
        ]))
        .err()
        .unwrap();
        let vars: Vec<_> = err.problems.iter().map(|p| p.var.as_str()).collect();
        assert_eq!(
            vars,
            [
                "TABLE_NAME",
                "PULL_QUEUE_URL",
                "DINGBRIDGE_DATA_KEY",
                "PULL_BUDGET_SECS",
                "PULL_MAX_RECEIVES",
                "PULL_VISIBILITY_TIMEOUT_SECS"
            ]
        );
    }

    #[test]
    fn the_queue_settings_come_from_the_environment_and_set_the_stale_threshold() {
        let key = SecretBox::generate_key();
        let config = Config::from_env(EnvReader::from_pairs([
            ("TABLE_NAME", "t"),
            ("PULL_QUEUE_URL", "https://sqs.example/1/pull.fifo"),
            ("DINGBRIDGE_DATA_KEY", key.as_str()),
            ("PULL_MAX_RECEIVES", "3"),
            ("PULL_VISIBILITY_TIMEOUT_SECS", "900"),
        ]))
        .unwrap();
        let s = config.settings;
        assert_eq!((s.max_receives, s.queue_visibility.as_secs()), (3, 900));
        // The lease (20 min), then three deliveries of 15 min each.
        assert_eq!(s.stale_after(), Duration::from_secs(20 * 60 + 3 * 900));
        assert_eq!(
            PullSettings::default().stale_after(),
            Duration::from_secs(100 * 60),
            "the template's queue: 5 receives × 960 s"
        );
    }
}
