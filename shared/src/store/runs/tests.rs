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

mod lock_and_view;
mod rows;
mod states;
