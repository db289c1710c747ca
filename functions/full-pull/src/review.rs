//! After the walk: validate and plan the staged snapshot against the directory (the pure core)
//! and write every row's verdict, the leavers and the run's counters.
//!
//! Memory: the pull's peak, so nothing is held whole. The directory view is compact (keys and
//! ordinals, ~300 bytes a mapped account); the departments are read at once (thousands); the
//! users are read twice, a page at a time — once to index who holds which unique value (~100
//! bytes a user), once to validate, plan and rewrite the page. Old field values are loaded only
//! for the accounts whose fields changed, and leavers' names only for the leavers.

use std::collections::HashSet;

use dingbridge::dingtalk::{DeptId, DingUserId};
use dingbridge::domain::ids::AccountId;
use dingbridge::domain::pull::{
    self, AccountFields, Leaver, MappedAccount, PlanTotals, PullRules, SnapshotIndex, StagedDept,
    StagedUser, UnitVerdicts, Verdict, guard,
};
use dingbridge::store::PageOf;
use dingbridge::store::runs::{RowBody, RowFilter, RowKind, StagingRow, SyncRun, load_view};
use dingbridge::sync::SyncTarget;
use futures::stream::{self, StreamExt, TryStreamExt};

use crate::Deps;
use crate::step::StepError;
use crate::walk::WalkState;

/// Rows read (and rewritten) per page.
const PAGE: usize = 500;
/// Account reads in flight while loading old fields and leavers' names.
const READS_IN_FLIGHT: usize = 16;

/// What the review step found.
pub struct Reviewed {
    /// The mass-delete guard's reason, when it trips.
    pub guard: Option<String>,
    /// Run-level problems that refuse applying (the default password against the policy).
    pub blocking: Vec<String>,
}

/// One page of a run's rows of `kind`.
async fn page(
    deps: &Deps,
    run: &SyncRun,
    kind: RowKind,
    cursor: Option<String>,
) -> Result<PageOf<StagingRow>, StepError> {
    Ok(deps
        .runs
        .rows(&run.id, kind, RowFilter::All, PAGE, cursor)
        .await?)
}

/// The staged users of one page (leaver rows of an earlier review are derived, not staged).
fn staged_users(rows: Vec<StagingRow>) -> Vec<StagedUser> {
    rows.into_iter()
        .filter_map(|r| match r.body {
            RowBody::User(u) => Some(u),
            _ => None,
        })
        .collect()
}

async fn all_depts(deps: &Deps, run: &SyncRun) -> Result<Vec<StagedDept>, StepError> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let p = page(deps, run, RowKind::Dept, cursor).await?;
        out.extend(p.items.into_iter().filter_map(|r| match r.body {
            RowBody::Dept(d) => Some(d),
            _ => None,
        }));
        cursor = p.next;
        if cursor.is_none() {
            return Ok(out);
        }
    }
}

/// Reads accounts, a few at a time; a missing one (deleted meanwhile) is left out.
async fn load_fields(
    deps: &Deps,
    ids: Vec<(DingUserId, AccountId)>,
) -> Result<Vec<(DingUserId, AccountFields)>, StepError> {
    let found: Vec<Option<(DingUserId, AccountFields)>> = stream::iter(ids)
        .map(|(userid, id)| async move {
            let account = deps.directory.account(&id).await?;
            Ok::<_, StepError>(account.map(|a| (userid, AccountFields::of(&a))))
        })
        .buffer_unordered(READS_IN_FLIGHT)
        .try_collect()
        .await?;
    Ok(found.into_iter().flatten().collect())
}

/// Writes a batch of rows once it is big enough (or `force`).
async fn write(
    deps: &Deps,
    run: &SyncRun,
    rows: &mut Vec<StagingRow>,
    force: bool,
) -> Result<(), StepError> {
    if !rows.is_empty() && (force || rows.len() >= PAGE) {
        deps.runs.put_rows(&run.id, rows).await?;
        rows.clear();
    }
    Ok(())
}

/// Validates and plans the staged snapshot, rewrites every row with its action and reasons, and
/// records the counters (and, for a partial walk, why it is partial).
pub async fn finish(
    deps: &Deps,
    target: &SyncTarget,
    run: &SyncRun,
    walk: &WalkState,
) -> Result<Reviewed, StepError> {
    let complete = walk.failures.is_empty();
    let mut view = load_view(&deps.directory, &deps.mappings, &target.connector).await?;
    let policy = deps.settings_store.password_policy().await?;
    let secrets = deps.connectors.open_secrets(&target.connector)?;
    let rules = PullRules::of(&target.connector, policy, secrets.default_password);
    let email_field = rules.email_field;

    // Departments: validated and planned whole.
    let depts = all_depts(deps, run).await?;
    let dept_verdicts = pull::validate_depts(&depts, &view);
    let mut totals = PlanTotals::for_view(&view);
    let dept_plans = pull::plan_depts(&depts, &dept_verdicts, &view, &mut totals);
    let units = UnitVerdicts::new(&depts, &dept_verdicts);
    let valid_depts = units.valid_depts();

    // Users, first pass: who holds which unique value.
    // Sized from the walk's count (saved with its last checkpoint): no doubling on the way.
    let staged = match deps.runs.get(&run.id).await? {
        Some(r) => r.counters.users,
        None => run.counters.users,
    };
    let mut index = SnapshotIndex::with_capacity(usize::try_from(staged).unwrap_or(0));
    let mut cursor = None;
    loop {
        let p = page(deps, run, RowKind::User, cursor).await?;
        for u in staged_users(p.items) {
            index.add(&u, &view, email_field);
        }
        cursor = p.next;
        if cursor.is_none() {
            break;
        }
    }
    index.seal();

    // Second pass: validate, plan and rewrite a page at a time.
    let mut cursor = None;
    let mut ordinal = 0usize;
    loop {
        let p = page(deps, run, RowKind::User, cursor).await?;
        cursor = p.next;
        let users = staged_users(p.items);
        let verdicts: Vec<Verdict> = users
            .iter()
            .map(|u| pull::validate_user(u, &view, &index, &units, email_field))
            .collect();
        let wanted: Vec<(DingUserId, AccountId)> = users
            .iter()
            .zip(&verdicts)
            .filter(|(_, v)| v.is_valid())
            .filter_map(|(u, _)| pull::old_fields_wanted(u, &view, &rules))
            .map(|(userid, id)| (userid.clone(), id))
            .collect();
        for (userid, fields) in load_fields(deps, wanted).await? {
            view.remember_fields(&userid, fields);
        }
        let mut rows = Vec::with_capacity(users.len());
        for (u, verdict) in users.into_iter().zip(&verdicts) {
            let plan =
                pull::plan_user(ordinal, &u, verdict.is_valid(), &view, &valid_depts, &rules);
            ordinal += 1;
            totals.count_user(&plan);
            rows.push(StagingRow::user(u, verdict, &plan));
        }
        view.forget_fields();
        write(deps, run, &mut rows, true).await?;
        if cursor.is_none() {
            break;
        }
    }
    let users = index.len() as u64;

    // Departments' rows, parents first (the order apply reads them in does not depend on it).
    let departments = depts.len() as u64;
    let staged_depts: HashSet<DeptId> = depts.iter().map(|d| d.dept_id).collect();
    let mut depts: Vec<Option<StagedDept>> = depts.into_iter().map(Some).collect();
    let valid = Verdict::Valid;
    let mut rows = Vec::with_capacity(PAGE);
    for p in &dept_plans {
        if let Some(d) = depts.get_mut(p.index).and_then(Option::take) {
            let verdict = dept_verdicts.get(p.index).unwrap_or(&valid);
            rows.push(StagingRow::dept(d, verdict, p));
            write(deps, run, &mut rows, false).await?;
        }
    }

    // Leavers and removed units: only from a complete snapshot.
    if complete {
        let leavers: Vec<&MappedAccount> =
            pull::leaver_candidates(&view, |u| index.contains(&view, u), &rules);
        totals.disables += leavers.len() as u64;
        for chunk in leavers.chunks(PAGE) {
            let ids: Vec<(DingUserId, AccountId)> = chunk
                .iter()
                .filter_map(|m| Some((m.userid.clone(), view.account_id(m)?.clone())))
                .collect();
            let names: std::collections::HashMap<DingUserId, AccountFields> =
                load_fields(deps, ids).await?.into_iter().collect();
            for m in chunk {
                if let Some(l) = Leaver::of(&view, m, names.get(&m.userid)) {
                    rows.push(StagingRow::leaver(l));
                }
            }
            write(deps, run, &mut rows, false).await?;
        }
        let removed = pull::removed_units(&view, &staged_depts);
        totals.unit_removals += removed.len() as u64;
        for u in removed {
            rows.push(StagingRow::removed_unit(u));
            write(deps, run, &mut rows, false).await?;
        }
    }
    write(deps, run, &mut rows, true).await?;

    let tripped = guard(&totals, &target.connector);
    let blocking = pull::blocking(&totals, &pull::default_password_problems(&rules));
    let partial_reasons: Vec<String> = walk
        .failures
        .iter()
        .map(|f| format!("department {} ({}): {}", f.dept_id, f.api, f.reason))
        .collect();
    let calls = walk.api_calls;
    let b = blocking.clone();
    deps.runs
        .update(&run.id, None, move |r| {
            r.counters.departments = departments;
            r.counters.users = users;
            r.counters.api_calls = calls;
            r.counters.pending_calls = 0;
            r.counters.estimated_remaining_ms = Some(0);
            r.counters.set_planned(&totals);
            r.partial = !partial_reasons.is_empty();
            for reason in &partial_reasons {
                r.push_error(reason.clone());
            }
            r.partial_reasons = partial_reasons;
            r.blocking = b;
        })
        .await?;
    tracing::info!(run_id = %run.id, departments, users, partial = !complete,
        creates = totals.creates, updates = totals.updates, disables = totals.disables,
        invalid = totals.invalid + totals.units_invalid, "pull planned");
    Ok(Reviewed {
        guard: tripped,
        blocking,
    })
}
