//! The run record: listing, the state machine, confirm, versions, the active-runs index, resume.

use super::*;

#[tokio::test]
async fn runs_are_listed_newest_first_per_connector_and_overall() {
    let f = fixture();
    let (a, b) = (ConnectorId::generate(), ConnectorId::generate());
    let first = f.runs.create(&a, RunKind::Pull).await.unwrap();
    f.clock.0.fetch_add(1000, Ordering::SeqCst);
    let other = f.runs.create(&b, RunKind::Pull).await.unwrap();
    f.clock.0.fetch_add(1000, Ordering::SeqCst);
    let second = f.runs.create(&a, RunKind::Pull).await.unwrap();
    let of_a = f.runs.list(Some(&a), 10, None).await.unwrap();
    let ids: Vec<_> = of_a.items.iter().map(|r| r.id.clone()).collect();
    assert_eq!(ids, [second.id.clone(), first.id.clone()]);
    let all = f.runs.list(None, 10, None).await.unwrap();
    let ids: Vec<_> = all.items.iter().map(|r| r.id.clone()).collect();
    assert_eq!(ids, [second.id, other.id, first.id]);
    assert_eq!(all.items[0].state, RunState::Pulling);
}

#[tokio::test]
async fn state_changes_follow_the_state_machine_and_say_why_not() {
    let f = fixture();
    let run = f
        .runs
        .create(&ConnectorId::generate(), RunKind::Pull)
        .await
        .unwrap();
    let early = f.runs.confirm(&run.id, "admin").await.unwrap_err();
    assert!(early.to_string().contains("is pulling"), "{early}");
    let r = f
        .runs
        .transition(&run.id, RunState::AwaitingReview, |r| {
            r.review_reason = Some("guard".into())
        })
        .await
        .unwrap();
    assert_eq!((r.state, r.version), (RunState::AwaitingReview, 2));
    let r = f.runs.discard(&run.id).await.unwrap();
    assert_eq!(r.state, RunState::Discarded);
    assert!(r.finished_ms.is_some());
    let err = f.runs.confirm(&run.id, "admin").await.unwrap_err();
    assert!(matches!(err, RunError::InvalidTransition { .. }));
    assert_eq!(
        err.to_string(),
        format!("run {} is discarded; it cannot become applying", run.id)
    );
    let missing = f
        .runs
        .confirm(&RunId::generate(), "admin")
        .await
        .unwrap_err();
    assert!(matches!(missing, RunError::NotFound(_)));
}

#[tokio::test]
async fn confirm_records_who_and_is_refused_while_the_run_is_blocked() {
    let f = fixture();
    let run = f
        .runs
        .create(&ConnectorId::generate(), RunKind::Pull)
        .await
        .unwrap();
    f.runs
        .transition(&run.id, RunState::AwaitingReview, |r| {
            r.blocking = vec!["the default password is too short".into()]
        })
        .await
        .unwrap();
    let err = f.runs.confirm(&run.id, "ops").await.unwrap_err();
    assert!(err.to_string().contains("too short"), "{err}");
    f.runs
        .update(&run.id, None, |r| r.blocking.clear())
        .await
        .unwrap();
    let r = f.runs.confirm(&run.id, "ops").await.unwrap();
    assert_eq!(
        (r.state, r.confirmed_by.as_deref()),
        (RunState::Applying, Some("ops"))
    );
    let done = f
        .runs
        .transition(&run.id, RunState::Done, |_| {})
        .await
        .unwrap();
    assert_eq!(done.duration_ms(), Some(0));
}

#[tokio::test]
async fn updates_are_conditional_on_the_version_and_errors_stay_bounded() {
    let f = fixture();
    let run = f
        .runs
        .create(&ConnectorId::generate(), RunKind::Pull)
        .await
        .unwrap();
    let r = f
        .runs
        .update(&run.id, Some(1), |r| {
            for i in 0..(MAX_RUN_ERRORS + 5) {
                r.push_error(format!("e{i}"));
            }
            r.state = RunState::Done; // ignored: update never changes the state
        })
        .await
        .unwrap();
    assert_eq!((r.errors.len(), r.errors_dropped), (MAX_RUN_ERRORS, 5));
    assert_eq!(r.state, RunState::Pulling);
    let stale = f.runs.update(&run.id, Some(1), |_| {}).await.unwrap_err();
    assert!(matches!(stale, RunError::Stale));
}

async fn active_ids(runs: &Runs) -> Vec<RunId> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = runs.active(1, cursor).await.unwrap();
        out.extend(page.items.into_iter().map(|r| r.id));
        cursor = page.next;
        if cursor.is_none() {
            return out;
        }
    }
}

#[tokio::test]
async fn only_runs_pulling_or_applying_are_listed_as_active() {
    let f = fixture();
    let reviewed = f
        .runs
        .create(&ConnectorId::generate(), RunKind::Pull)
        .await
        .unwrap()
        .id;
    let pulling = f
        .runs
        .create(&ConnectorId::generate(), RunKind::Pull)
        .await
        .unwrap()
        .id;
    let mut both = vec![reviewed.clone(), pulling.clone()];
    both.sort();
    assert_eq!(active_ids(&f.runs).await, both);

    f.runs
        .transition(&reviewed, RunState::AwaitingReview, |_| {})
        .await
        .unwrap();
    assert_eq!(active_ids(&f.runs).await, std::slice::from_ref(&pulling));
    f.runs.confirm(&reviewed, "ops").await.unwrap();
    assert_eq!(active_ids(&f.runs).await, both, "applying is active again");
    f.runs
        .transition(&reviewed, RunState::Done, |_| {})
        .await
        .unwrap();
    f.runs
        .transition(&pulling, RunState::Failed, |_| {})
        .await
        .unwrap();
    assert!(active_ids(&f.runs).await.is_empty());
}

#[tokio::test]
async fn every_write_stamps_the_runs_last_progress() {
    let f = fixture();
    let run = f
        .runs
        .create(&ConnectorId::generate(), RunKind::Pull)
        .await
        .unwrap();
    assert_eq!(run.updated_ms, Some(run.started_ms));
    f.clock.0.fetch_add(5_000, Ordering::SeqCst);
    let r = f
        .runs
        .update(&run.id, None, |r| r.counters.users = 7)
        .await
        .unwrap();
    assert_eq!(r.last_progress_ms(), run.started_ms + 5_000);
    assert_eq!(
        f.runs.get(&run.id).await.unwrap().unwrap().updated_ms,
        Some(run.started_ms + 5_000)
    );
}

#[tokio::test]
async fn a_run_that_failed_while_applying_is_resumed_by_confirm_but_not_one_that_failed_pulling() {
    let f = fixture();
    let connector = ConnectorId::generate();
    let pulled = f.runs.create(&connector, RunKind::Pull).await.unwrap().id;
    let failed = f
        .runs
        .transition(&pulled, RunState::Failed, |r| r.push_error("walk broke"))
        .await
        .unwrap();
    assert_eq!(failed.failed_during, Some(RunState::Pulling));
    assert!(!failed.resumable());
    let err = f.runs.confirm(&pulled, "ops").await.unwrap_err();
    assert!(matches!(err, RunError::InvalidTransition { .. }), "{err}");

    let applied = f.runs.create(&connector, RunKind::Pull).await.unwrap().id;
    f.runs
        .transition(&applied, RunState::AwaitingReview, |_| {})
        .await
        .unwrap();
    f.runs.confirm(&applied, "ops").await.unwrap();
    let failed = f
        .runs
        .transition(&applied, RunState::Failed, |r| r.push_error("apply broke"))
        .await
        .unwrap();
    assert!(failed.resumable() && failed.finished_ms.is_some());
    assert!(active_ids(&f.runs).await.is_empty());
    let resumed = f.runs.confirm(&applied, "lead").await.unwrap();
    assert_eq!(resumed.state, RunState::Applying);
    assert_eq!(resumed.confirmed_by.as_deref(), Some("lead"));
    assert_eq!((resumed.finished_ms, resumed.failed_during), (None, None));
    assert_eq!(
        resumed.errors,
        ["apply broke"],
        "the history of errors stays"
    );
    assert_eq!(active_ids(&f.runs).await, [applied]);
}

#[tokio::test]
async fn a_transition_pinned_to_a_version_is_stale_once_the_run_moved() {
    let f = fixture();
    let run = f
        .runs
        .create(&ConnectorId::generate(), RunKind::Pull)
        .await
        .unwrap();
    f.runs
        .update(&run.id, None, |r| r.counters.users = 1)
        .await
        .unwrap();
    let stale = f
        .runs
        .transition_at(&run.id, Some(run.version), RunState::Failed, |_| {})
        .await
        .unwrap_err();
    assert!(matches!(stale, RunError::Stale));
    let r = f.runs.get(&run.id).await.unwrap().unwrap();
    assert_eq!(r.state, RunState::Pulling);
    assert_eq!(active_ids(&f.runs).await, [run.id], "the marker stays too");
}
