//! The walker: DingTalk's tree breadth-first from the root, `listsub` and `user/list` pages in
//! flight together (each API paced by the client's limiter), resumable from a saved frontier.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use async_trait::async_trait;
use dingbridge::dingtalk::{
    DeptId, DingApp, DingDepartment, DingTalk, DingTalkError, DingUser, ErrorCode, ErrorKind, Page,
    limiter::DEFAULT_QPS,
};
use dingbridge::ports::MAX_PAGE_SIZE;
use futures::stream::{FuturesUnordered, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::step::StepError;

/// One call still to make. Compact on purpose: the whole frontier is saved in one checkpoint item
/// (DynamoDB's 400 KB), ~12 bytes a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Task {
    /// `listsub` of this department.
    #[serde(rename = "s")]
    Sub(u64),
    /// `user/list` of this department from this cursor.
    #[serde(rename = "u")]
    Users(u64, u64),
}

impl Task {
    fn dept(self) -> u64 {
        match self {
            Self::Sub(d) | Self::Users(d, _) => d,
        }
    }
}

/// A department (or one of its user pages) that could not be read: the snapshot is partial.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeptFailure {
    pub dept_id: u64,
    /// `listsub` or `user/list`.
    pub api: String,
    pub reason: String,
    /// The cause concerns the whole app, not this department: DingTalk unreachable, or the app
    /// itself refused. At the root it leaves nothing to review (see [`unreachable`]).
    #[serde(default)]
    pub app_wide: bool,
}

/// Everything a walk needs to continue in another invocation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalkState {
    /// Tasks not yet done (including those in flight when the state was saved).
    pub frontier: Vec<Task>,
    /// Departments whose `listsub` succeeded.
    pub departments_listed: u64,
    /// `user/list` pages read.
    pub user_pages: u64,
    /// Every DingTalk call made, retries by the walker included.
    pub api_calls: u64,
    pub failures: Vec<DeptFailure>,
    /// True once the initial tasks were queued (an empty frontier then means "done").
    pub started: bool,
}

impl WalkState {
    /// The state of a walk that has not begun: the root's children and the root's own members.
    pub fn new() -> Self {
        Self {
            frontier: vec![
                Task::Sub(DeptId::ROOT.get()),
                Task::Users(DeptId::ROOT.get(), 0),
            ],
            started: true,
            ..Self::default()
        }
    }

    pub fn is_done(&self) -> bool {
        self.started && self.frontier.is_empty()
    }
}

/// Where the walk's results go. The sink owns durability: `checkpoint` is called only after every
/// row handed over before it may be flushed, so a resume never loses a row.
#[async_trait]
pub trait WalkSink: Send {
    /// Departments of one `listsub` answer (children of `parent`).
    async fn departments(
        &mut self,
        parent: DeptId,
        depts: Vec<DingDepartment>,
    ) -> Result<(), StepError>;
    /// One `user/list` page of `dept`.
    async fn users(&mut self, dept: DeptId, users: Vec<DingUser>) -> Result<(), StepError>;
    /// Flush what was handed over, then persist `state`.
    async fn checkpoint(&mut self, state: &WalkState) -> Result<(), StepError>;
    /// Shows how far the walk is (called every [`WalkLimits::progress_every`]); cheaper than a
    /// checkpoint, and best effort: a failure must not stop the walk.
    async fn progress(&mut self, _state: &WalkState, _pending: Pending) {}
}

/// The calls a walk knows it still has to make, per API. Each department still to list costs
/// one `listsub` and at least one `user/list` page; departments not listed yet are unknown, so
/// this is a lower bound that grows while the tree is discovered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pending {
    pub listsub: u64,
    pub user_pages: u64,
}

impl Pending {
    pub fn calls(self) -> u64 {
        self.listsub + self.user_pages
    }

    /// The least time the pending calls take: each API is paced on its own by the client's
    /// limiter at `rate_per_api` calls a second, and both run side by side, so the busier API
    /// sets the pace (calls left ÷ the limiter's rate per API).
    pub fn least_time(self, rate_per_api: f64) -> Option<Duration> {
        if !(rate_per_api.is_finite() && rate_per_api > 0.0) {
            return None;
        }
        let busiest = self.listsub.max(self.user_pages) as f64;
        Some(Duration::from_secs_f64(busiest / rate_per_api))
    }
}

/// How hard the walker pushes.
#[derive(Clone, Debug)]
pub struct WalkLimits {
    /// Calls in flight per API. The limiter admits ~20/s per API; a few in flight cover the
    /// round trip so that each API runs close to its limit.
    pub in_flight_per_api: usize,
    /// Save the frontier after this many completed tasks.
    pub checkpoint_every: u64,
    /// Extra attempts the walker makes for a transient failure after the client's own retries.
    pub extra_attempts: u32,
    pub retry_delay: Duration,
    /// How often the run's counters are written while walking (between checkpoints).
    pub progress_every: Duration,
    /// The client limiter's rate per API (calls a second): the remaining time is estimated
    /// from it.
    pub rate_per_api: f64,
}

impl Default for WalkLimits {
    fn default() -> Self {
        Self {
            in_flight_per_api: 6,
            checkpoint_every: 200,
            extra_attempts: 2,
            retry_delay: Duration::from_secs(2),
            progress_every: Duration::from_secs(2),
            rate_per_api: DEFAULT_QPS,
        }
    }
}

/// How a walk ended in this invocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WalkEnd {
    /// Every task done (failures, if any, are in the state).
    Complete,
    /// The deadline came first: the state was checkpointed, continue in a new invocation.
    OutOfTime,
}

enum Answer {
    Sub(Result<Vec<DingDepartment>, DingTalkError>),
    Users(Result<Page<DingUser>, DingTalkError>),
}

/// Walks until the frontier is empty or `deadline` passes. In-flight calls are finished, never
/// abandoned, so the saved frontier is exact.
pub async fn walk(
    dingtalk: &dyn DingTalk,
    app: &DingApp,
    state: &mut WalkState,
    sink: &mut dyn WalkSink,
    limits: &WalkLimits,
    deadline: Instant,
) -> Result<WalkEnd, StepError> {
    if !state.started {
        *state = WalkState::new();
    }
    let (mut subs, mut pages): (VecDeque<Task>, VecDeque<Task>) = state
        .frontier
        .drain(..)
        .partition(|t| matches!(t, Task::Sub(_)));
    // Departments already queued are not queued again if a parent is listed twice (a cycle, or a
    // resumed task): the guard for DingTalk answers that would make the walk endless.
    let mut seen: HashSet<u64> = subs.iter().map(|t| t.dept()).collect();
    seen.insert(DeptId::ROOT.get());
    let mut attempts: HashMap<Task, u32> = HashMap::new();
    let mut in_flight = FuturesUnordered::new();
    let mut running: HashMap<Task, usize> = HashMap::new();
    let (mut subs_running, mut pages_running) = (0usize, 0usize);
    let mut since_checkpoint = 0u64;
    let cap = limits.in_flight_per_api.max(1);

    let mut completed_here = 0u64;
    // A tick, not a count of completions: a slow DingTalk completes few calls, and the counters
    // must still move at least every `progress_every`.
    let every = limits.progress_every.max(Duration::from_millis(10));
    let mut ticker = tokio::time::interval_at(Instant::now() + every, every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // Every invocation completes at least one task, so a tiny budget still makes progress.
        let out_of_time = completed_here > 0 && Instant::now() >= deadline;
        if !out_of_time {
            loop {
                // Departments first: they grow the frontier, which keeps both APIs busy.
                let next = if subs_running < cap {
                    subs.pop_front()
                } else {
                    None
                }
                .or_else(|| (pages_running < cap).then(|| pages.pop_front()).flatten());
                let Some(task) = next else { break };
                match task {
                    Task::Sub(_) => subs_running += 1,
                    Task::Users(..) => pages_running += 1,
                }
                *running.entry(task).or_default() += 1;
                let tries = attempts.get(&task).copied().unwrap_or(0);
                let delay = limits.retry_delay * tries;
                in_flight.push(async move {
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    let answer = match task {
                        Task::Sub(d) => Answer::Sub(match DeptId::new(d) {
                            Ok(id) => dingtalk.list_sub_departments(app, id).await,
                            Err(_) => Ok(Vec::new()),
                        }),
                        Task::Users(d, cursor) => Answer::Users(match DeptId::new(d) {
                            Ok(id) => {
                                dingtalk
                                    .list_users_page(app, id, cursor, MAX_PAGE_SIZE)
                                    .await
                            }
                            Err(_) => Ok(Page {
                                items: Vec::new(),
                                next_cursor: None,
                            }),
                        }),
                    };
                    (task, answer)
                });
            }
        }
        let next = tokio::select! {
            next = in_flight.next() => next,
            _ = ticker.tick() => {
                let pending = Pending {
                    listsub: (subs.len() + subs_running) as u64,
                    user_pages: (pages.len() + pages_running) as u64,
                };
                sink.progress(state, pending).await;
                continue;
            }
        };
        let Some((task, answer)) = next else {
            break;
        };
        match task {
            Task::Sub(_) => subs_running -= 1,
            Task::Users(..) => pages_running -= 1,
        }
        if let Some(n) = running.get_mut(&task) {
            *n -= 1;
            if *n == 0 {
                running.remove(&task);
            }
        }
        state.api_calls += 1;
        completed_here += 1;
        let dept = DeptId::new(task.dept()).map_err(|e| StepError::Corrupt(e.to_string()))?;
        let failed = match answer {
            Answer::Sub(Ok(children)) => {
                state.departments_listed += 1;
                let children: Vec<DingDepartment> = children
                    .into_iter()
                    .filter(|c| seen.insert(c.id.get()))
                    .collect();
                for c in &children {
                    subs.push_back(Task::Sub(c.id.get()));
                    pages.push_back(Task::Users(c.id.get(), 0));
                }
                sink.departments(dept, children).await?;
                None
            }
            Answer::Users(Ok(page)) => {
                state.user_pages += 1;
                if let (Task::Users(_, cursor), Some(next)) = (task, page.next_cursor) {
                    if next > cursor {
                        pages.push_back(Task::Users(task.dept(), next));
                    } else {
                        // A cursor that does not advance would loop; report instead of skipping.
                        state.failures.push(DeptFailure {
                            dept_id: task.dept(),
                            api: "user/list".into(),
                            reason: format!("DingTalk's cursor did not advance past {cursor}"),
                            app_wide: false,
                        });
                    }
                }
                sink.users(dept, page.items).await?;
                None
            }
            Answer::Sub(Err(e)) => Some(("listsub", e)),
            Answer::Users(Err(e)) => Some(("user/list", e)),
        };
        if let Some((api, e)) = failed {
            let tries = attempts.entry(task).or_default();
            if e.is_transient() && *tries < limits.extra_attempts {
                *tries += 1;
                match task {
                    Task::Sub(_) => subs.push_back(task),
                    Task::Users(..) => pages.push_back(task),
                }
            } else {
                tracing::warn!(dept_id = task.dept(), api, error = %e, "department not loaded; the snapshot is partial");
                state.failures.push(DeptFailure {
                    dept_id: task.dept(),
                    api: api.into(),
                    reason: failure_reason(&e, app),
                    app_wide: app_wide(&e),
                });
            }
        }
        since_checkpoint += 1;
        if since_checkpoint >= limits.checkpoint_every {
            since_checkpoint = 0;
            state.frontier = frontier(&subs, &pages, &running);
            sink.checkpoint(state).await?;
        }
    }
    state.frontier = frontier(&subs, &pages, &running);
    sink.checkpoint(state).await?;
    Ok(if state.frontier.is_empty() {
        WalkEnd::Complete
    } else {
        WalkEnd::OutOfTime
    })
}

/// Pending tasks plus those still in flight: a resume redoes the in-flight ones (rows are keyed,
/// so writing them again changes nothing).
fn frontier(
    subs: &VecDeque<Task>,
    pages: &VecDeque<Task>,
    running: &HashMap<Task, usize>,
) -> Vec<Task> {
    let mut out: Vec<Task> = running.keys().copied().collect();
    out.extend(subs.iter().copied());
    out.extend(pages.iter().copied());
    out
}

/// Why a pull fails instead of offering a review: one of the root's own calls (its `listsub`,
/// its first `user/list` page) failed for an app-wide cause, so nothing of the org could be
/// read. A department that failed further down only makes the snapshot partial.
pub fn unreachable(state: &WalkState) -> Option<String> {
    let root = DeptId::ROOT.get();
    let f = state
        .failures
        .iter()
        .find(|f| f.dept_id == root && f.app_wide)?;
    Some(format!(
        "nothing was read from DingTalk: the root department's {} failed: {}",
        f.api, f.reason
    ))
}

/// DingTalk not reachable at all (connection refused, DNS, no answer), or the app refused as a
/// whole (credentials, token, egress IP, quota, the contact permission).
fn app_wide(e: &DingTalkError) -> bool {
    matches!(e.code(), ErrorCode::Connect | ErrorCode::Timeout)
        || matches!(
            e.kind(),
            ErrorKind::InvalidCredentials
                | ErrorKind::InvalidToken
                | ErrorKind::IpNotWhitelisted { .. }
                | ErrorKind::QuotaExhausted
                | ErrorKind::PermissionDenied
        )
}

/// The host a failed call went to: the legacy family's for `oapi` paths, the new family's for
/// `/v1.0/` ones (the error itself never carries the URL, which may hold a token).
fn host_of<'a>(app: &'a DingApp, e: &DingTalkError) -> &'a str {
    let base = if e.api().starts_with("/v1.0/") {
        &app.endpoints.api
    } else {
        &app.endpoints.oapi
    };
    let rest = base.split_once("://").map_or(base.as_str(), |(_, r)| r);
    rest.split('/').next().unwrap_or(rest)
}

/// What the admin reads next to a department that failed: DingTalk's outcome and what fixes it.
fn failure_reason(e: &DingTalkError, app: &DingApp) -> String {
    if matches!(e.code(), ErrorCode::Connect | ErrorCode::Timeout) {
        return format!(
            "DingTalk is unreachable at {} (connection refused, DNS failure or no answer; check \
             the connector's DingTalk base URLs and the network): {e}",
            host_of(app, e)
        );
    }
    match e.kind() {
        ErrorKind::OutOfScope => format!(
            "outside the DingTalk app's contact scope (50004): widen the scope to all employees \
             in the developer console ({e})"
        ),
        ErrorKind::NotFound => format!("DingTalk no longer finds the department ({e})"),
        ErrorKind::PermissionDenied => {
            format!("the DingTalk app lacks the contact read permission ({e})")
        }
        _ if e.is_transient() => format!("still failing after retries ({e})"),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_walk_starts_at_the_root_and_its_members() {
        let s = WalkState::new();
        assert_eq!(s.frontier, [Task::Sub(1), Task::Users(1, 0)]);
        assert!(!s.is_done());
    }

    #[test]
    fn the_remaining_time_is_set_by_the_busier_api_at_the_limiters_rate() {
        let p = Pending {
            listsub: 10,
            user_pages: 40,
        };
        assert_eq!(p.calls(), 50);
        assert_eq!(p.least_time(20.0), Some(Duration::from_secs(2)));
        assert_eq!(p.least_time(0.0), None);
    }

    #[test]
    fn the_frontier_serialises_compactly() {
        let text = serde_json::to_string(&vec![Task::Sub(12), Task::Users(12, 100)]).unwrap();
        assert_eq!(text, r#"[{"s":12},{"u":[12,100]}]"#);
    }
}
