//! Initial push / re-sync runs (kind `push`): the same run machinery as a pull — the connector's
//! lock, the pull queue's continuations, review and confirm, the stale-run sweep — driving the
//! per-entity push the push worker uses (`dingbridge::pusher`) instead of the walk and the
//! reconciler.
//!
//! Planning (`pulling`): every org unit of the pushed subtree, parents first, then every account
//! with a membership in it, is planned as a dry run of the push (`Pusher::plan_entity`: the reads
//! the push would make, no write), one row per entity keyed by our id. The run then waits
//! for review, or in `auto` mode goes on when the mass-delete guard passes. Applying: units level by
//! level, each account as soon as the deepest level it needs is done (departments and users have
//! separate rate limits in DingTalk, so users of finished levels go while deeper departments are
//! made), each row's outcome written back on the row so a continuation skips what is done.

use std::collections::HashSet;
use std::time::Duration;

use dingbridge::domain::ids::OrgUnitId;
use dingbridge::domain::pull::{PlanTotals, RowAction, guard};
use dingbridge::domain::sync::{ApplyScope, PushEntity};
use dingbridge::store::runs::{
    PushRow, RowFilter, RowKind, RowRef, RunCounters, RunState, StagingRow, SyncRun,
};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};

use dingbridge::pusher::{Blocked, Context, Done, DryPlan};
use futures::{StreamExt, stream};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::Deps;
use crate::drive::Progress;
use crate::step::StepError;

/// Rows written (and counters updated) together.
const ROW_BATCH: usize = 100;
/// Attempts at one entity whose push must wait (throttled, a parent a moment late) before its
/// row records the failure.
const ATTEMPTS: u32 = 4;
/// Page size of the directory and row reads.
const PAGE: usize = 1000;

/// The push run's checkpoint: the continuation counter (the FIFO dedupe id needs a new number
/// for every continuation).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct PushCheckpoint {
    step: u64,
}

/// One entity of the pushed subtree.
#[derive(Clone, Debug)]
struct Entity {
    entity: PushEntity,
    depth: u32,
}

impl Entity {
    fn kind(&self) -> RowKind {
        match self.entity {
            PushEntity::OrgUnit(_) => RowKind::Dept,
            PushEntity::Account(_) => RowKind::User,
        }
    }
}

/// Moves push run `run` on until it waits for review, finishes, or `deadline` passes.
pub async fn run_once(deps: &Deps, run: SyncRun, deadline: Instant) -> Result<Progress, StepError> {
    let context = match deps.pusher.context(&run.connector_id).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            return fail(
                deps,
                &run,
                "the connector is gone or does not push (push_enabled is false): enable the \
                 push, then start the initial push again"
                    .to_owned(),
            )
            .await;
        }
        Err(Blocked::Park { reason, .. }) => return fail(deps, &run, reason).await,
        Err(other) => return Err(StepError::PushWaits(blocked_text(&other))),
    };
    match deps.pull_runs.renew_lock(&run.connector_id, &run.id).await {
        Ok(()) => {}
        Err(e) if e.is_transient() => return Err(e.into()),
        Err(e) => return fail(deps, &run, e.to_string()).await,
    }
    let (version, mut checkpoint) = match deps.runs.checkpoint(&run.id).await? {
        Some(c) => (
            Some(c.version),
            serde_json::from_value::<PushCheckpoint>(c.data)
                .map_err(|e| StepError::Corrupt(format!("push checkpoint: {e}")))?,
        ),
        None => (None, PushCheckpoint::default()),
    };
    let mut run = run;
    if run.state == RunState::Pulling {
        if !plan(deps, &context, &run, deadline).await? {
            return continue_later(deps, &run, version, &mut checkpoint).await;
        }
        let (counters, totals) = count(deps, &run).await?;
        let reason = review_reason(&run, &context, &totals);
        run = deps
            .runs
            .update(&run.id, None, move |r| {
                r.counters = RunCounters {
                    elapsed_ms: r.counters.elapsed_ms,
                    ..counters
                };
            })
            .await?;
        if let Some(reason) = reason {
            tracing::info!(run_id = %run.id, %reason, "push run awaits review");
            deps.pull_runs.await_review(&run, reason).await?;
            return Ok(Progress::AwaitingReview);
        }
        run = deps.pull_runs.auto_confirm(&run).await?;
    }
    if run.state != RunState::Applying {
        return Ok(Progress::Idle);
    }
    if !apply(deps, &context, &run, deadline).await? {
        return continue_later(deps, &run, version, &mut checkpoint).await;
    }
    deps.pull_runs.finish(&run).await?;
    tracing::info!(run_id = %run.id, "push run applied");
    Ok(Progress::Done)
}

async fn fail(deps: &Deps, run: &SyncRun, reason: String) -> Result<Progress, StepError> {
    tracing::warn!(run_id = %run.id, connector_id = %run.connector_id, %reason, "push run failed");
    deps.pull_runs
        .fail(run, None, reason.clone(), |_| {})
        .await?;
    Ok(Progress::Failed(reason))
}

async fn continue_later(
    deps: &Deps,
    run: &SyncRun,
    version: Option<u64>,
    checkpoint: &mut PushCheckpoint,
) -> Result<Progress, StepError> {
    checkpoint.step += 1;
    let data = serde_json::to_value(&*checkpoint)
        .map_err(|e| StepError::Corrupt(format!("push checkpoint: {e}")))?;
    deps.runs.put_checkpoint(&run.id, data, version).await?;
    deps.pull_runs
        .enqueue(run, ApplyScope::All, checkpoint.step)
        .await
        .map_err(StepError::Queue)?;
    tracing::info!(run_id = %run.id, step = checkpoint.step, "push run continues in a new invocation");
    Ok(Progress::Continued)
}

fn blocked_text(b: &Blocked) -> String {
    match b {
        Blocked::Transient(d) | Blocked::Ordering(d) => d.clone(),
        Blocked::Park { reason, code: None } => reason.clone(),
        Blocked::Park {
            reason,
            code: Some(code),
        } => format!("{reason} (DingTalk {code})"),
    }
}

/// The pushed subtree ([`Directory::subtree`]): its units level by level (the root's children
/// first) and its accounts, each with the deepest level among its units inside the subtree.
async fn subtree(
    deps: &Deps,
    root: &OrgUnitId,
) -> Result<(Vec<Vec<Entity>>, Vec<Entity>), StepError> {
    let tree = deps.directory.subtree(root).await?;
    let levels = tree
        .levels
        .into_iter()
        .zip(1u32..)
        .map(|(units, depth)| {
            units
                .into_iter()
                .map(|u| Entity {
                    entity: PushEntity::OrgUnit(u.id),
                    depth,
                })
                .collect()
        })
        .collect();
    let accounts = tree
        .accounts
        .into_iter()
        .map(|(id, depth)| Entity {
            entity: PushEntity::Account(id),
            depth,
        })
        .collect();
    Ok((levels, accounts))
}

/// Every row of the run, of both kinds.
async fn all_rows(deps: &Deps, run: &SyncRun) -> Result<Vec<StagingRow>, StepError> {
    let mut out = Vec::new();
    for kind in [RowKind::Dept, RowKind::User] {
        let mut cursor = None;
        loop {
            let page = deps
                .runs
                .rows(&run.id, kind, RowFilter::All, PAGE, cursor)
                .await?;
            out.extend(page.items);
            match page.next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
    }
    Ok(out)
}

/// The entity's name for its row.
async fn name_of(deps: &Deps, e: &PushEntity) -> Result<String, StepError> {
    Ok(match e {
        PushEntity::OrgUnit(id) => deps
            .directory
            .org_unit(id)
            .await?
            .map(|u| u.name)
            .unwrap_or_default(),
        PushEntity::Account(id) => deps
            .directory
            .account(id)
            .await?
            .map(|a| a.display_name.as_str().to_owned())
            .unwrap_or_default(),
    })
}

/// The row of one planned entity.
async fn plan_row(
    deps: &Deps,
    context: &Context,
    dry: &DryPlan,
    e: &Entity,
) -> Result<StagingRow, StepError> {
    let mut attempt = 0;
    let planned = loop {
        attempt += 1;
        match deps.pusher.plan_entity(context, dry, &e.entity).await {
            Err(Blocked::Transient(d)) if attempt < ATTEMPTS => {
                tracing::debug!(entity = e.entity.id(), detail = %d, "plan waits");
                tokio::time::sleep(backoff(attempt)).await;
            }
            Err(Blocked::Transient(d)) => return Err(StepError::PushWaits(d)),
            other => break other,
        }
    };
    let (action, reasons, changes) = match planned {
        Ok((done, changes)) => (action_of(done), Vec::new(), changes),
        Err(blocked) => (RowAction::Invalid, vec![blocked_text(&blocked)], Vec::new()),
    };
    let dingtalk_id = deps
        .pusher
        .mappings
        .of_entity(e.entity.id())
        .await?
        .into_iter()
        .find(|m| m.connector_id == context.connector.id)
        .map(|m| m.external_id);
    let body = PushRow {
        name: name_of(deps, &e.entity).await?,
        depth: e.depth,
        dingtalk_id,
        outcome: None,
        detail: None,
    };
    Ok(StagingRow::push(
        e.kind(),
        e.entity.id(),
        action,
        reasons,
        changes,
        body,
    ))
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250 << attempt.min(4))
}

/// The row action a dry run's outcome stands for.
fn action_of(done: Done) -> RowAction {
    match done {
        Done::Created => RowAction::Create,
        Done::Linked | Done::Updated => RowAction::Update,
        Done::Deleted | Done::Moved => RowAction::Disable,
        Done::Unchanged | Done::Kept | Done::Absent | Done::Root | Done::Off | Done::Stale => {
            RowAction::Unchanged
        }
    }
}

/// Plans the subtree into rows; false when the deadline came first (rows written so far stay,
/// and the continuation plans the rest). A continuation skips the entities already planned and
/// knows the units already planned for creation.
async fn plan(
    deps: &Deps,
    context: &Context,
    run: &SyncRun,
    deadline: Instant,
) -> Result<bool, StepError> {
    let (levels, accounts) = subtree(deps, &context.root).await?;
    let existing = all_rows(deps, run).await?;
    let done: HashSet<String> = existing.iter().map(|r| r.row_id()).collect();
    let dry = DryPlan::with_planned(existing.iter().filter_map(|r| {
        (r.kind == RowKind::Dept && r.action == RowAction::Create)
            .then(|| r.unit_id.clone())
            .flatten()
    }));
    let row_id = |e: &Entity| {
        RowRef {
            kind: e.kind(),
            key: e.entity.id().to_owned(),
        }
        .row_id()
    };
    let groups = levels.iter().chain(std::iter::once(&accounts));
    for group in groups {
        let todo: Vec<&Entity> = group
            .iter()
            .filter(|e| !done.contains(&row_id(e)))
            .collect();
        for chunk in todo.chunks(ROW_BATCH) {
            if Instant::now() >= deadline {
                return Ok(false);
            }
            let dry = &dry;
            // Collected first: the futures must not hold a closure across their awaits.
            let jobs: Vec<_> = chunk
                .iter()
                .map(|e| {
                    let e = (*e).clone();
                    async move { plan_row(deps, context, dry, &e).await }
                })
                .collect();
            let rows = bounded(jobs, deps.settings.push_concurrency.max(1)).await;
            let rows = rows.into_iter().collect::<Result<Vec<_>, _>>()?;
            deps.runs.put_rows(&run.id, &rows).await?;
        }
    }
    Ok(true)
}

/// The run's counters and the guard's totals, counted from the rows.
async fn count(deps: &Deps, run: &SyncRun) -> Result<(RunCounters, PlanTotals), StepError> {
    let mut c = RunCounters::default();
    let mut t = PlanTotals::default();
    for row in all_rows(deps, run).await? {
        let mapped = row
            .push_body()
            .and_then(|b| b.dingtalk_id.as_ref())
            .is_some();
        let n = |x: &mut u64| *x += 1;
        match row.kind {
            RowKind::Dept => {
                n(&mut c.departments);
                if mapped {
                    n(&mut t.existing_units);
                }
                match row.action {
                    RowAction::Create => n(&mut t.unit_creates),
                    RowAction::Update => n(&mut t.unit_updates),
                    RowAction::Disable => n(&mut t.unit_removals),
                    RowAction::Unchanged => n(&mut t.units_unchanged),
                    RowAction::Invalid => n(&mut t.units_invalid),
                }
            }
            RowKind::User => {
                n(&mut c.users);
                if mapped {
                    n(&mut t.existing_accounts);
                }
                match row.action {
                    RowAction::Create => n(&mut t.creates),
                    RowAction::Update => n(&mut t.updates),
                    RowAction::Disable => n(&mut t.disables),
                    RowAction::Unchanged => n(&mut t.unchanged),
                    RowAction::Invalid => n(&mut t.invalid),
                }
            }
        }
    }
    c.set_planned(&t);
    Ok((c, t))
}

/// Why the run waits for review (`None`: an auto run applies at once).
fn review_reason(run: &SyncRun, context: &Context, totals: &PlanTotals) -> Option<String> {
    let mut why = Vec::new();
    if !run.auto {
        why.push(
            "review mode: an initial push waits for an admin to confirm its plan (start it with \
             mode=auto to apply a plan that passes the mass-delete guard at once)"
                .to_owned(),
        );
    }
    if let Some(g) = guard(totals, &context.connector) {
        why.push(g);
    }
    (!why.is_empty()).then(|| why.join("; "))
}

/// One applied row: its outcome on the row, and what it adds to the counters.
struct Applied {
    row: StagingRow,
    ok: bool,
}

async fn push_row(deps: &Deps, context: &Context, mut row: StagingRow) -> Applied {
    let entity = match row.kind {
        RowKind::Dept => row.unit_id.clone().map(PushEntity::OrgUnit),
        RowKind::User => row.account_id.clone().map(PushEntity::Account),
    };
    let result = match entity {
        None => Err(Blocked::park("the row names no entity", None)),
        Some(entity) => {
            let mut attempt = 0;
            loop {
                attempt += 1;
                match deps.pusher.push_entity(context, &entity).await {
                    Err(Blocked::Transient(_) | Blocked::Ordering(_)) if attempt < ATTEMPTS => {
                        tokio::time::sleep(backoff(attempt)).await;
                    }
                    other => break other,
                }
            }
        }
    };
    let ok = result.is_ok();
    if let Some(RowBodyMut { outcome, detail }) = body_mut(&mut row) {
        match result {
            Ok(done) => {
                *outcome = Some(done.as_str().to_owned());
                *detail = None;
            }
            Err(blocked) => {
                *outcome = Some(
                    match blocked {
                        Blocked::Park { .. } => "parked",
                        _ => "failed",
                    }
                    .to_owned(),
                );
                *detail = Some(blocked_text(&blocked));
            }
        }
    }
    Applied { row, ok }
}

struct RowBodyMut<'a> {
    outcome: &'a mut Option<String>,
    detail: &'a mut Option<String>,
}

fn body_mut(row: &mut StagingRow) -> Option<RowBodyMut<'_>> {
    match &mut row.body {
        dingbridge::store::runs::RowBody::Push(p) => Some(RowBodyMut {
            outcome: &mut p.outcome,
            detail: &mut p.detail,
        }),
        _ => None,
    }
}

fn row_depth(r: &StagingRow) -> u32 {
    r.push_body().map_or(0, |b| b.depth)
}

/// Applies the run's rows still to do; false when the deadline came first.
async fn apply(
    deps: &Deps,
    context: &Context,
    run: &SyncRun,
    deadline: Instant,
) -> Result<bool, StepError> {
    let todo: Vec<StagingRow> = all_rows(deps, run)
        .await?
        .into_iter()
        .filter(|r| {
            matches!(
                r.action,
                RowAction::Create | RowAction::Update | RowAction::Disable
            ) && r.push_body().is_some_and(|b| b.outcome.is_none())
        })
        .collect();
    let (mut units, mut accounts): (Vec<_>, Vec<_>) =
        todo.into_iter().partition(|r| r.kind == RowKind::Dept);
    units.sort_by_key(row_depth);
    accounts.sort_by_key(row_depth);
    let (level_tx, level_rx) = watch::channel(0u32);
    let (done_tx, mut done_rx) = mpsc::channel::<Applied>(ROW_BATCH * 2);
    let late = AtomicBool::new(false);
    let late = &late;
    let in_time = move || {
        let ok = Instant::now() < deadline;
        if !ok {
            late.store(true, Ordering::Relaxed);
        }
        ok
    };
    let unit_tx = done_tx.clone();
    let unit_side = async move {
        let mut rest = units;
        while !rest.is_empty() {
            let d = row_depth(&rest[0]);
            let split = rest
                .iter()
                .position(|r| row_depth(r) != d)
                .unwrap_or(rest.len());
            let after = rest.split_off(split);
            let level = std::mem::replace(&mut rest, after);
            let jobs: Vec<_> = level
                .into_iter()
                .map(|row| {
                    let tx = unit_tx.clone();
                    async move {
                        if in_time() {
                            let _ = tx.send(push_row(deps, context, row).await).await;
                        }
                    }
                })
                .collect();
            bounded(jobs, deps.settings.push_concurrency.max(1)).await;
            // Every department this level needs is made (or failed): its users may go.
            let _ = level_tx.send(d);
        }
        let _ = level_tx.send(u32::MAX);
    };
    let account_tx = done_tx;
    let one_at_a_time = deps.settings.push_concurrency <= 1;
    let account_side = async move {
        let jobs: Vec<_> = accounts
            .into_iter()
            .map(|row| {
                let tx = account_tx.clone();
                let mut rx = level_rx.clone();
                async move {
                    // One at a time means one: no user while departments are still being made.
                    let need = if one_at_a_time {
                        u32::MAX
                    } else {
                        row_depth(&row)
                    };
                    loop {
                        let done = *rx.borrow_and_update();
                        if done >= need {
                            break;
                        }
                        if rx.changed().await.is_err() {
                            return;
                        }
                    }
                    if in_time() {
                        let _ = tx.send(push_row(deps, context, row).await).await;
                    }
                }
            })
            .collect();
        bounded(jobs, deps.settings.push_concurrency.max(1)).await;
    };
    let writer = async {
        let mut batch: Vec<Applied> = Vec::new();
        let mut written: Result<(), StepError> = Ok(());
        while let Some(applied) = done_rx.recv().await {
            batch.push(applied);
            if batch.len() >= ROW_BATCH && written.is_ok() {
                written = record(deps, run, std::mem::take(&mut batch)).await;
            }
        }
        if written.is_ok() && !batch.is_empty() {
            written = record(deps, run, batch).await;
        }
        written
    };
    let ((), (), written) = tokio::join!(unit_side, account_side, writer);
    written?;
    Ok(!late.load(Ordering::Relaxed))
}

/// Runs `jobs` with at most `limit` at once; returns their outputs. The futures are made before
/// (no closure is held across their awaits, which keeps the step's future `Send`).
async fn bounded<F: Future>(jobs: Vec<F>, limit: usize) -> Vec<F::Output> {
    stream::iter(jobs).buffer_unordered(limit).collect().await
}

/// Writes applied rows back with their outcomes and adds them to the run's counters and errors.
async fn record(deps: &Deps, run: &SyncRun, batch: Vec<Applied>) -> Result<(), StepError> {
    let rows: Vec<StagingRow> = batch.iter().map(|a| a.row.clone()).collect();
    deps.runs.put_rows(&run.id, &rows).await?;
    deps.runs
        .update(&run.id, None, move |r| {
            for a in &batch {
                let outcome = a.row.push_body().and_then(|b| b.outcome.as_deref());
                if !a.ok {
                    r.counters.apply_failures += 1;
                    let body = a.row.push_body();
                    r.push_error(format!(
                        "{} {} ({}): {}",
                        match a.row.kind {
                            RowKind::Dept => "org unit",
                            RowKind::User => "account",
                        },
                        body.map_or("", |b| b.name.as_str()),
                        a.row.key,
                        body.and_then(|b| b.detail.as_deref()).unwrap_or("")
                    ));
                    continue;
                }
                match (a.row.kind, outcome) {
                    (RowKind::Dept, _) => r.counters.applied_units += 1,
                    (RowKind::User, Some("created" | "linked")) => r.counters.applied_creates += 1,
                    (RowKind::User, Some("deleted" | "moved" | "kept")) => {
                        r.counters.applied_disables += 1;
                    }
                    (RowKind::User, _) => r.counters.applied_updates += 1,
                }
            }
        })
        .await?;
    Ok(())
}
