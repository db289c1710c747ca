//! Runs, staging rows, filters, remove-invalid, checkpoints and the lease lock on the embedded
//! engine (the AWS engine is held to the same port semantics by the contract suite).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use super::*;
use crate::adapters::embedded::EmbeddedStore;
use crate::dingtalk::{DeptId, DingUserId};
use crate::domain::ids::AccountId;
use crate::domain::pull::{DeptPlan, Leaver, StagedDept, StagedUser, UserPlan, ValueKind, Verdict};

/// A clock the lock tests can move forward.
struct TestClock(AtomicI64);

impl Clock for TestClock {
    fn now_millis(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

struct Fixture {
    runs: Runs,
    locks: Locks,
    clock: Arc<TestClock>,
    _tmp: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(tmp.path()).unwrap();
    let clock = Arc::new(TestClock(AtomicI64::new(1_700_000_000_000)));
    let table: Arc<dyn Table> = Arc::new(store.table(clock.clone()));
    Fixture {
        runs: Runs::new(table.clone(), clock.clone()),
        locks: Locks::new(table, clock.clone()),
        clock,
        _tmp: tmp,
    }
}

fn user_row(userid: &str, action: RowAction) -> StagingRow {
    let u = StagedUser {
        userid: DingUserId::parse(userid).unwrap(),
        unionid: None,
        name: userid.into(),
        mobile: None,
        email: None,
        org_email: None,
        job_number: None,
        title: None,
        dept_ids: vec![DeptId::ROOT],
        clipped: Vec::new(),
    };
    let verdict = match action {
        RowAction::Invalid => Verdict::Invalid {
            reasons: vec!["mobile: is missing".into()],
        },
        _ => Verdict::Valid,
    };
    let plan = UserPlan {
        index: 0,
        action,
        account_id: None,
        changes: Vec::new(),
        moved: false,
        membership_changed: false,
    };
    StagingRow::user(u, &verdict, &plan)
}

fn dept_row(id: u64, action: RowAction) -> StagingRow {
    let d = StagedDept {
        dept_id: DeptId::new(id).unwrap(),
        name: format!("D{id}"),
        parent_id: Some(DeptId::ROOT),
        order: None,
        clipped: Vec::new(),
    };
    let verdict = match action {
        RowAction::Invalid => Verdict::Invalid {
            reasons: vec!["name: is empty".into()],
        },
        _ => Verdict::Valid,
    };
    let plan = DeptPlan {
        index: 0,
        action,
        unit_id: None,
        changes: Vec::new(),
        moved: false,
    };
    StagingRow::dept(d, &verdict, &plan)
}

async fn all_rows(runs: &Runs, run: &RunId, kind: RowKind, filter: RowFilter) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = runs.rows(run, kind, filter, 2, cursor).await.unwrap();
        out.extend(page.items.into_iter().map(|r| r.key));
        match page.next {
            Some(n) => cursor = Some(n),
            None => return out,
        }
    }
}

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
            .supersede_waiting(&connector, &new.id)
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

#[tokio::test]
async fn a_lease_lock_admits_one_owner_until_released_or_expired() {
    let f = fixture();
    let name = pull_lock_name(&ConnectorId::generate());
    assert_eq!(f.locks.holder(&name).await.unwrap(), None);
    assert!(f.locks.acquire(&name, "a", 60).await.unwrap());
    let held = f.locks.holder(&name).await.unwrap().unwrap();
    assert_eq!(
        (held.owner.as_str(), held.until_ms),
        ("a", f.clock.now_millis() + 60_000)
    );
    assert!(!f.locks.acquire(&name, "b", 60).await.unwrap(), "held by a");
    assert!(
        f.locks.acquire(&name, "a", 60).await.unwrap(),
        "re-entrant for its owner"
    );
    assert!(!f.locks.renew(&name, "b", 60).await.unwrap());
    f.locks.release(&name, "b").await.unwrap(); // not b's: no effect
    assert!(!f.locks.acquire(&name, "b", 60).await.unwrap());
    f.clock.0.fetch_add(30_000, Ordering::SeqCst);
    assert!(f.locks.renew(&name, "a", 60).await.unwrap());
    f.clock.0.fetch_add(59_000, Ordering::SeqCst);
    assert!(
        !f.locks.acquire(&name, "b", 60).await.unwrap(),
        "renewed lease still runs"
    );
    f.clock.0.fetch_add(2_000, Ordering::SeqCst);
    assert!(
        f.locks.acquire(&name, "b", 60).await.unwrap(),
        "an expired lease is free"
    );
    assert!(!f.locks.renew(&name, "a", 60).await.unwrap(), "a lost it");
    f.locks.release(&name, "b").await.unwrap();
    assert!(f.locks.acquire(&name, "c", 60).await.unwrap());
}

#[tokio::test]
async fn the_plan_view_holds_the_connectors_mappings_and_every_owner() {
    use std::collections::BTreeMap;

    use crate::domain::connector::Connector;
    use crate::domain::directory::{Account, AccountStatus, Origin, normalise_memberships};
    use crate::domain::values::{DisplayName, Email, Mobile, Username};
    use crate::store::Actor;
    use crate::store::directory::{Directory, NewOrgUnit};
    use crate::store::mappings::{MappedKind, Mapping, Mappings};

    let f = fixture();
    let table = f.runs.table.clone();
    let dir = Directory::new(table.clone(), f.clock.clone());
    let mappings = Mappings::new(table);
    let actor = Actor::new(Origin::Admin, "t");
    let root = dir.ensure_root().await.unwrap();
    let connector: Connector = serde_json::from_value(serde_json::json!({
        "id": ConnectorId::generate(), "name": "c", "corp_id": "x", "app_key": "k",
        "app_secret": "s", "agent_id": null, "enabled": true, "email_field": "email",
        "register_callback": false, "callback_token": null, "callback_aes_key": null,
        "receive_id_mode": "app_key", "root_org_unit_id": root.id,
        "default_password": null, "leaver_policy": "disable", "pull_mode": "review",
        "pull_schedule": "0 2 * * *", "mass_delete_max_share": 0.1,
        "mass_delete_max_count": 100, "oapi_base": "", "api_base": "", "login_base": "",
        "callback_status": null, "version": 1, "created_ms": 0, "updated_ms": 0
    }))
    .unwrap();
    let new_unit = |name: &str| NewOrgUnit {
        name: name.into(),
        parent_id: root.id.clone(),
        order: 0,
    };
    let sales = dir
        .create_org_unit(new_unit("Sales"), &actor)
        .await
        .unwrap();
    let manual = dir
        .create_org_unit(new_unit("Manual"), &actor)
        .await
        .unwrap();
    let account = |username: &str, mobile: &str| Account {
        id: AccountId::generate(),
        username: Username::parse(username).unwrap(),
        display_name: DisplayName::parse("X").unwrap(),
        email: Some(Email::parse(&format!("{username}@example.com")).unwrap()),
        mobile: Some(Mobile::parse(mobile).unwrap()),
        job_number: None,
        title: None,
        status: AccountStatus::Enabled,
        memberships: normalise_memberships(std::slice::from_ref(&sales.id), None),
        password_hash: None,
        must_change_password: false,
        attributes: BTreeMap::new(),
        version: 0,
        created_ms: 0,
        updated_ms: 0,
    };
    let linked = dir
        .create_account(account("alice", "13800000001"), &actor)
        .await
        .unwrap();
    let other = dir
        .create_account(account("local", "13800000002"), &actor)
        .await
        .unwrap();
    let map = |kind, external: &str, ours: &str| Mapping {
        connector_id: connector.id.clone(),
        kind,
        external_id: external.into(),
        our_id: ours.into(),
    };
    mappings
        .put(&map(MappedKind::Dept, "2", sales.id.as_str()))
        .await
        .unwrap();
    mappings
        .put(&map(MappedKind::User, "Alice", linked.id.as_str()))
        .await
        .unwrap();

    let view = load_view(&dir, &mappings, &connector).await.unwrap();
    assert_eq!(view.root_unit, root.id);
    let alice = view.mapped(&DingUserId::parse("Alice").unwrap()).unwrap();
    assert_eq!(
        (
            view.account_id(alice).cloned(),
            view.units_of(alice).cloned().collect::<Vec<_>>()
        ),
        (Some(linked.id.clone()), vec![sales.id.clone()])
    );
    assert_eq!(view.mapped_count(), 1);
    assert_eq!(view.units[&DeptId::new(2).unwrap()].name, "Sales");
    assert_eq!(view.units.len(), 1);
    let owner = |kind, value| {
        view.owner(view.keys().of(kind, value))
            .map(|(id, linked)| (id.clone(), linked.map(|u| u.to_string())))
    };
    assert_eq!(
        owner(ValueKind::Mobile, "13800000002"),
        Some((other.id.clone(), None))
    );
    assert_eq!(
        owner(ValueKind::Username, "alice"),
        Some((linked.id.clone(), Some("Alice".to_owned())))
    );
    assert_eq!(owner(ValueKind::Mobile, "13900000000"), None);
    assert_eq!(
        view.unit_names[&(root.id.clone(), "manual".to_owned())],
        manual.id
    );
}
