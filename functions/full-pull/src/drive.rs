//! One step of a run, chosen by its stored state: walk (pulling), review or auto-apply once the
//! walk is done, apply (applying). Each step ends by finishing, or by saving its checkpoint and
//! enqueueing the continuation that resumes it in a fresh invocation.

use dingbridge::domain::connector::PullMode;
use dingbridge::domain::directory::Origin;
use dingbridge::domain::sync::ApplyScope;
use dingbridge::lifecycle::{Step, step_for};
use dingbridge::store::Actor;
use dingbridge::store::runs::{RunId, RunKind, RunState, SyncRun};
use tokio::time::Instant;

use crate::Deps;
use crate::apply::{self, ApplyEnd};
use crate::checkpoint::Stored;
use crate::review;
use crate::stage::Stager;
use crate::step::StepError;
use crate::walk::{self, WalkEnd};

/// Where one step left the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Out of time: checkpointed, and a continuation is queued.
    Continued,
    AwaitingReview,
    Done,
    Failed(String),
    /// Nothing to do: the run is final, unknown, or in a state this message does not move.
    Idle,
}

async fn fail(deps: &Deps, run: &SyncRun, reason: String) -> Result<Progress, StepError> {
    tracing::warn!(run_id = %run.id, connector_id = %run.connector_id, %reason, "pull failed");
    let r = if run.state == RunState::Applying {
        format!("{reason}; once fixed, confirm the run again to resume the apply where it stopped")
    } else {
        reason.clone()
    };
    deps.pull_runs.fail(run, None, r, |_| {}).await?;
    Ok(Progress::Failed(reason))
}

/// Why a run waits for review, as the run's `review_reason` says it: review mode (the
/// connector's `pull_mode`), the mass-delete guard with its figures, or what holds an auto pull.
fn review_reason(auto: bool, reviewed: &review::Reviewed) -> String {
    let mut why = Vec::new();
    if !auto {
        why.push(
            "review mode: the connector's pull_mode is `review`, so every pull waits for an \
             admin to confirm it"
                .to_owned(),
        );
    }
    if let Some(guard) = &reviewed.guard {
        why.push(guard.clone());
    }
    if !reviewed.blocking.is_empty() {
        why.push(format!(
            "it cannot be applied as it is: {}",
            reviewed.blocking.join("; ")
        ));
    }
    why.join("; ")
}

/// Queues the continuation of a run (the checkpoint's next step number keeps it unique).
async fn continue_later(
    deps: &Deps,
    run: &SyncRun,
    checkpoint: &mut Stored,
    scope: ApplyScope,
) -> Result<Progress, StepError> {
    checkpoint.data.step += 1;
    checkpoint.save(&deps.runs, &run.id).await?;
    deps.pull_runs
        .enqueue(run, scope, checkpoint.data.step)
        .await
        .map_err(StepError::Queue)?;
    tracing::info!(run_id = %run.id, step = checkpoint.data.step, "pull continues in a new invocation");
    Ok(Progress::Continued)
}

/// Moves run `run_id` on until it finishes, waits for review, or `deadline` passes.
pub async fn run_once(
    deps: &Deps,
    run_id: &RunId,
    scope: ApplyScope,
    deadline: Instant,
) -> Result<Progress, StepError> {
    let Some(run) = deps.runs.get(run_id).await? else {
        return Ok(Progress::Idle);
    };
    let step = step_for(run.state, scope);
    if step == Step::Idle {
        return Ok(Progress::Idle);
    }
    if run.kind == RunKind::Push {
        return crate::push_run::run_once(deps, run, deadline).await;
    }
    let org_units_only = step == Step::OrgUnitsOnly;
    let target = match deps.reconciler.target(&run.connector_id).await {
        Ok(t) => t,
        Err(e) if e.is_transient() => return Err(StepError::Target(e)),
        Err(e) => return fail(deps, &run, e.reason().to_owned()).await,
    };
    if !org_units_only {
        match deps.pull_runs.renew_lock(&run.connector_id, &run.id).await {
            Ok(()) => {}
            Err(e) if e.is_transient() => return Err(e.into()),
            Err(e) => return fail(deps, &run, e.to_string()).await,
        }
    }
    let mut checkpoint = Stored::load(&deps.runs, &run.id).await?;
    if let Some(version) = checkpoint.version {
        let c = &checkpoint.data;
        if run.state == RunState::Pulling && !c.walk.is_done() {
            tracing::info!(run_id = %run.id, checkpoint = version, step = c.step,
                pending_tasks = c.walk.frontier.len(), api_calls = c.walk.api_calls,
                "resuming run {} from checkpoint {version}: the walk goes on with {} calls pending",
                run.id, c.walk.frontier.len());
        } else if run.state == RunState::Applying && c.apply.scope.is_some() {
            tracing::info!(run_id = %run.id, checkpoint = version, step = c.step,
                phase = ?c.apply.phase,
                "resuming run {} from checkpoint {version}: the apply goes on at {:?}",
                run.id, c.apply.phase);
        }
    }
    let mut run = run;
    if run.state == RunState::Pulling {
        if !checkpoint.data.walk.is_done() {
            let mut state = std::mem::take(&mut checkpoint.data.walk);
            let end = {
                let mut stager = Stager::new(
                    deps,
                    run.connector_id.clone(),
                    run.id.clone(),
                    &mut checkpoint,
                )
                .await?;
                walk::walk(
                    deps.dingtalk.as_ref(),
                    &target.app,
                    &mut state,
                    &mut stager,
                    &deps.settings.walk,
                    deadline,
                )
                .await?
            };
            checkpoint.data.walk = state;
            // The review reads and rewrites every row: past the budget it gets a fresh
            // invocation rather than Lambda's last minutes.
            if end == WalkEnd::OutOfTime || Instant::now() >= deadline {
                return continue_later(deps, &run, &mut checkpoint, ApplyScope::All).await;
            }
        }
        // DingTalk unreachable, or the app refused as a whole, where the walk begins: there is
        // no snapshot to review, only the cause to fix.
        if let Some(reason) = walk::unreachable(&checkpoint.data.walk) {
            deps.runs.delete_checkpoint(&run.id).await?;
            deps.runs.drop_rows(&run.id).await?;
            return fail(deps, &run, reason).await;
        }
        let reviewed = review::finish(deps, &target, &run, &checkpoint.data.walk).await?;
        let auto = target.connector.pull_mode == PullMode::Auto;
        if !auto || reviewed.guard.is_some() || !reviewed.blocking.is_empty() {
            let reason = review_reason(auto, &reviewed);
            tracing::info!(run_id = %run.id, %reason, "pull awaits review");
            deps.pull_runs.await_review(&run, reason).await?;
            return Ok(Progress::AwaitingReview);
        }
        run = deps.pull_runs.auto_confirm(&run).await?;
    }
    let actor = Actor::new(
        Origin::DingtalkPull,
        format!(
            "run {} ({})",
            run.id,
            run.confirmed_by.as_deref().unwrap_or("admin")
        ),
    );
    let scope = if run.state == RunState::Applying {
        scope
    } else {
        ApplyScope::OrgUnits
    };
    let end = apply::apply(
        deps,
        &target,
        &run,
        &mut checkpoint,
        scope,
        &actor,
        deadline,
    )
    .await?;
    match end {
        ApplyEnd::OutOfTime => continue_later(deps, &run, &mut checkpoint, scope).await,
        ApplyEnd::Finished if org_units_only => Ok(Progress::AwaitingReview),
        ApplyEnd::Finished => {
            deps.pull_runs.finish(&run).await?;
            tracing::info!(run_id = %run.id, "pull applied");
            Ok(Progress::Done)
        }
    }
}
