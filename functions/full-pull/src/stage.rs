//! Streams the walk into staging rows: departments and users written in batches, a user listed in
//! several departments merged into one row. Memory: one compact userid → departments map (about
//! 120 bytes a user, ~12 MB for 100,000 users) and one write buffer, never the whole org.

use std::collections::HashMap;

use async_trait::async_trait;
use dingbridge::dingtalk::{DeptId, DingDepartment, DingUser};
use dingbridge::domain::ids::ConnectorId;
use dingbridge::domain::pull::{RowAction, StagedDept, StagedUser};
use dingbridge::store::runs::{RowBody, RowFilter, RowKind, RowRef, RunError, RunId, StagingRow};

use crate::Deps;
use crate::checkpoint::Stored;
use crate::step::StepError;
use crate::walk::{Pending, WalkSink, WalkState};

/// Rows per `put_rows` call (the table engines chunk to 25 per batch write).
const FLUSH_AT: usize = 100;

/// A staged row before review: the plan gives it its action, until then it reads `unchanged`.
pub fn row(kind: RowKind, key: String, body: RowBody) -> StagingRow {
    StagingRow {
        kind,
        key,
        action: RowAction::Unchanged,
        reasons: Vec::new(),
        changes: Vec::new(),
        moved: false,
        account_id: None,
        unit_id: None,
        body,
    }
}

pub struct Stager<'a> {
    deps: &'a Deps,
    connector: ConnectorId,
    run: RunId,
    checkpoint: &'a mut Stored,
    /// Every user staged so far and the departments on its row.
    seen: HashMap<Box<str>, Box<[u64]>>,
    buffer: Vec<StagingRow>,
    departments: u64,
}

impl<'a> Stager<'a> {
    /// A stager for `run`. After a resume the map is rebuilt from the rows already written, so
    /// a user listed again is merged, not overwritten.
    pub async fn new(
        deps: &'a Deps,
        connector: ConnectorId,
        run: RunId,
        checkpoint: &'a mut Stored,
    ) -> Result<Self, StepError> {
        let mut seen = HashMap::new();
        let mut departments = 0;
        if checkpoint.version.is_some() {
            for kind in [RowKind::User, RowKind::Dept] {
                let mut cursor = None;
                loop {
                    let page = deps
                        .runs
                        .rows(&run, kind, RowFilter::All, 1000, cursor)
                        .await?;
                    for r in page.items {
                        match r.body {
                            RowBody::User(u) => {
                                seen.insert(u.userid.as_str().into(), depts_of(&u));
                            }
                            RowBody::Dept(_) => departments += 1,
                            _ => {}
                        }
                    }
                    cursor = page.next;
                    if cursor.is_none() {
                        break;
                    }
                }
            }
        }
        Ok(Self {
            deps,
            connector,
            run,
            checkpoint,
            seen,
            buffer: Vec::new(),
            departments,
        })
    }

    pub fn staged_users(&self) -> u64 {
        self.seen.len() as u64
    }

    async fn flush(&mut self) -> Result<(), StepError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.buffer);
        self.deps.runs.put_rows(&self.run, &rows).await?;
        Ok(())
    }

    async fn push(&mut self, r: StagingRow) -> Result<(), StepError> {
        self.buffer.push(r);
        if self.buffer.len() >= FLUSH_AT {
            self.flush().await?;
        }
        Ok(())
    }

    /// A second listing of a user in a department its row lacks: the row in the buffer or the
    /// store gets the department added (DingTalk's record normally lists them all already).
    async fn merge(&mut self, user: DingUser, dept: DeptId) -> Result<(), StepError> {
        let key = user.userid.as_str().to_owned();
        if let Some(r) = self
            .buffer
            .iter_mut()
            .find(|r| r.kind == RowKind::User && r.key == key)
        {
            if let RowBody::User(u) = &mut r.body {
                u.merge_depts(&[dept]);
                self.seen.insert(key.into(), depts_of(u));
            }
            return Ok(());
        }
        let stored = self
            .deps
            .runs
            .row(&self.run, &RowRef::user(&user.userid))
            .await?;
        let mut staged = match stored.map(|r| r.body) {
            Some(RowBody::User(u)) => u,
            _ => StagedUser::from_ding(user),
        };
        staged.merge_depts(&[dept]);
        self.seen.insert(key.clone().into(), depts_of(&staged));
        self.push(row(RowKind::User, key, RowBody::User(staged)))
            .await
    }
}

fn depts_of(u: &StagedUser) -> Box<[u64]> {
    u.dept_ids.iter().map(|d| d.get()).collect()
}

#[async_trait]
impl WalkSink for Stager<'_> {
    async fn departments(
        &mut self,
        _parent: DeptId,
        depts: Vec<DingDepartment>,
    ) -> Result<(), StepError> {
        for d in depts {
            self.departments += 1;
            let staged = StagedDept::from_ding(&d);
            self.push(row(RowKind::Dept, d.id.to_string(), RowBody::Dept(staged)))
                .await?;
        }
        Ok(())
    }

    async fn users(&mut self, dept: DeptId, users: Vec<DingUser>) -> Result<(), StepError> {
        for u in users {
            let known = self
                .seen
                .get(u.userid.as_str())
                .map(|d| d.contains(&dept.get()));
            match known {
                // Listed again where its row already has it: the same record, nothing to write.
                Some(true) => {}
                Some(false) => self.merge(u, dept).await?,
                None => {
                    let mut staged = StagedUser::from_ding(u);
                    staged.merge_depts(&[dept]);
                    let key = staged.userid.as_str().to_owned();
                    self.seen.insert(key.clone().into(), depts_of(&staged));
                    self.push(row(RowKind::User, key, RowBody::User(staged)))
                        .await?;
                }
            }
        }
        Ok(())
    }

    async fn checkpoint(&mut self, state: &WalkState) -> Result<(), StepError> {
        self.flush().await?;
        self.checkpoint.data.walk = state.clone();
        self.checkpoint.save(&self.deps.runs, &self.run).await?;
        self.write_counters(state, None).await?;
        self.deps
            .pull_runs
            .renew_lock(&self.connector, &self.run)
            .await?;
        Ok(())
    }

    /// One write of the run item with what the walk has counted so far (users staged include
    /// those still in the write buffer: they are on their way, and a resume rewrites them).
    async fn progress(&mut self, state: &WalkState, pending: Pending) {
        if let Err(e) = self.write_counters(state, Some(pending)).await {
            tracing::warn!(run_id = %self.run, error = %e, "could not write the pull's progress");
        }
    }
}

impl Stager<'_> {
    /// The run's walk counters. `pending` (known at a progress tick) also sets the estimate;
    /// a checkpoint leaves the last estimate as it was.
    async fn write_counters(
        &self,
        state: &WalkState,
        pending: Option<Pending>,
    ) -> Result<(), RunError> {
        let (departments, users, calls) = (self.departments, self.staged_users(), state.api_calls);
        let now = self.deps.clock.now_millis();
        let rate = self.deps.settings.walk.rate_per_api;
        self.deps
            .runs
            .update(&self.run, None, move |r| {
                let c = &mut r.counters;
                c.departments = departments;
                c.users = users;
                c.api_calls = calls;
                c.elapsed_ms = u64::try_from(now - r.started_ms).unwrap_or(0);
                if let Some(p) = pending {
                    c.pending_calls = p.calls();
                    c.estimated_remaining_ms = p
                        .least_time(rate)
                        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
                }
            })
            .await
            .map(|_| ())
    }
}
