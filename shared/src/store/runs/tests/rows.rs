//! Staging rows, the review slot, discard and checkpoints.

use super::*;

#[tokio::test]
async fn rows_are_idempotent_paged_and_filtered_by_kind_and_action() {
    let f = fixture();
    let run = f
        .runs
        .create(&ConnectorId::generate(), RunKind::Pull)
        .await
        .unwrap()
        .id;
    let rows = vec![
        user_row("u1", RowAction::Create),
        user_row("u2", RowAction::Invalid),
        user_row("u3", RowAction::Update),
        user_row("u4", RowAction::Invalid),
        dept_row(7, RowAction::Invalid),
        dept_row(8, RowAction::Create),
        StagingRow::leaver(Leaver {
            userid: DingUserId::parse("gone").unwrap(),
            account_id: AccountId::generate(),
            username: "gone".into(),
            display_name: "Gone".into(),
        }),
    ];
    f.runs.put_rows(&run, &rows).await.unwrap();
    // A resumed pull writes the same rows again: still one row each.
    f.runs.put_rows(&run, &rows[..3]).await.unwrap();
    let users = all_rows(&f.runs, &run, RowKind::User, RowFilter::All).await;
    assert_eq!(users, ["gone", "u1", "u2", "u3", "u4"]);
    let invalid = all_rows(
        &f.runs,
        &run,
        RowKind::User,
        RowFilter::parse("invalid").unwrap(),
    )
    .await;
    assert_eq!(invalid, ["u2", "u4"]);
    let disable = all_rows(
        &f.runs,
        &run,
        RowKind::User,
        RowFilter::Only(RowAction::Disable),
    )
    .await;
    assert_eq!(disable, ["gone"]);
    let depts = all_rows(&f.runs, &run, RowKind::Dept, RowFilter::All).await;
    assert_eq!(depts, ["7", "8"]);
    let row = f
        .runs
        .row(&run, &RowRef::parse("U:u2").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.reasons, ["mobile: is missing"]);
    assert_eq!(row.row_id(), "U:u2");
    assert!(RowFilter::parse("bogus").is_err());
}

#[tokio::test]
async fn remove_invalid_drops_every_invalid_row_and_delete_row_adjusts_counters() {
    let f = fixture();
    let run = f
        .runs
        .create(&ConnectorId::generate(), RunKind::Pull)
        .await
        .unwrap()
        .id;
    let mut rows: Vec<StagingRow> = (0..1200)
        .map(|i| user_row(&format!("bad{i:04}"), RowAction::Invalid))
        .collect();
    rows.push(user_row("ok", RowAction::Create));
    rows.push(dept_row(9, RowAction::Invalid));
    f.runs.put_rows(&run, &rows).await.unwrap();
    f.runs
        .update(&run, None, |r| {
            r.counters.invalid_rows = 1201;
            r.counters.planned_creates = 1;
        })
        .await
        .unwrap();
    let removed = f
        .runs
        .delete_row(&run, &RowRef::parse("U:ok").unwrap())
        .await
        .unwrap();
    assert_eq!(removed.map(|r| r.action), Some(RowAction::Create));
    assert!(
        f.runs
            .delete_row(&run, &RowRef::parse("U:ok").unwrap())
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(f.runs.remove_invalid(&run).await.unwrap(), 1201);
    let left = all_rows(&f.runs, &run, RowKind::User, RowFilter::All).await;
    assert!(left.is_empty(), "{left:?}");
    let r = f.runs.get(&run).await.unwrap().unwrap();
    assert_eq!(
        (r.counters.invalid_rows, r.counters.planned_creates),
        (0, 0)
    );
    assert_eq!(
        r.counters.removed_invalid, 1202,
        "the removed rows stay counted once the invalid counter is zero"
    );
}

#[tokio::test]
async fn a_newer_run_awaiting_review_supersedes_the_one_that_waited() {
    let f = fixture();
    let connector = ConnectorId::generate();
    let old = f.runs.create(&connector, RunKind::Pull).await.unwrap();
    f.runs
        .put_rows(&old.id, &[user_row("u1", RowAction::Create)])
        .await
        .unwrap();
    let waited = f
        .runs
        .await_review(&old.id, Some("review mode".into()))
        .await
        .unwrap();
    assert_eq!(waited.review_reason.as_deref(), Some("review mode"));
    assert_eq!(
        f.runs.waiting(&connector).await.unwrap().map(|r| r.id),
        Some(old.id.clone())
    );
    // Another connector's review is not touched.
    let other = f
        .runs
        .create(&ConnectorId::generate(), RunKind::Pull)
        .await
        .unwrap();
    f.runs.await_review(&other.id, None).await.unwrap();

    let new = f.runs.create(&connector, RunKind::Pull).await.unwrap();
    f.runs.await_review(&new.id, None).await.unwrap();
    let old = f.runs.get(&old.id).await.unwrap().unwrap();
    assert_eq!(old.state, RunState::Discarded);
    assert_eq!(old.superseded_by.as_ref(), Some(&new.id));
    assert!(
        old.errors.iter().any(|e| e.contains("superseded")),
        "{old:?}"
    );
    assert!(
        all_rows(&f.runs, &old.id, RowKind::User, RowFilter::All)
            .await
            .is_empty()
    );
    assert_eq!(
        f.runs.waiting(&connector).await.unwrap().map(|r| r.id),
        Some(new.id.clone())
    );
    let other = f.runs.get(&other.id).await.unwrap().unwrap();
    assert_eq!(other.state, RunState::AwaitingReview);
    // A run that supersedes nobody (the slot holds itself) changes nothing.
    assert!(
        f.runs
            .supersede_waiting(&connector, RunKind::Pull, &new.id)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn discard_drops_the_rows_and_the_checkpoint() {
    let f = fixture();
    let run = f
        .runs
        .create(&ConnectorId::generate(), RunKind::Pull)
        .await
        .unwrap()
        .id;
    f.runs
        .put_rows(
            &run,
            &[
                user_row("u1", RowAction::Create),
                dept_row(3, RowAction::Create),
            ],
        )
        .await
        .unwrap();
    f.runs
        .put_checkpoint(&run, serde_json::json!({"frontier": [1]}), None)
        .await
        .unwrap();
    f.runs.discard(&run).await.unwrap();
    assert!(
        all_rows(&f.runs, &run, RowKind::User, RowFilter::All)
            .await
            .is_empty()
    );
    assert!(
        all_rows(&f.runs, &run, RowKind::Dept, RowFilter::All)
            .await
            .is_empty()
    );
    assert!(f.runs.checkpoint(&run).await.unwrap().is_none());
    assert!(
        f.runs.get(&run).await.unwrap().is_some(),
        "the history stays"
    );
}

#[tokio::test]
async fn checkpoints_are_versioned_so_a_stale_invocation_stops() {
    let f = fixture();
    let run = f
        .runs
        .create(&ConnectorId::generate(), RunKind::Pull)
        .await
        .unwrap()
        .id;
    assert!(f.runs.checkpoint(&run).await.unwrap().is_none());
    let v1 = f
        .runs
        .put_checkpoint(&run, serde_json::json!({"n": 1}), None)
        .await
        .unwrap();
    assert!(matches!(
        f.runs
            .put_checkpoint(&run, serde_json::json!({"n": 9}), None)
            .await,
        Err(RunError::Stale)
    ));
    let v2 = f
        .runs
        .put_checkpoint(&run, serde_json::json!({"n": 2}), Some(v1))
        .await
        .unwrap();
    assert!(matches!(
        f.runs
            .put_checkpoint(&run, serde_json::json!({"n": 3}), Some(v1))
            .await,
        Err(RunError::Stale)
    ));
    let c = f.runs.checkpoint(&run).await.unwrap().unwrap();
    assert_eq!((c.version, c.data), (v2, serde_json::json!({"n": 2})));
}
