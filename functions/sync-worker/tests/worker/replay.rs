//! Order-insensitivity and idempotence: the same events replayed, reordered, or applied to a
//! fresh directory end in the same directory.

use dingbridge::domain::sync::SyncMessage;
use serde_json::json;

use crate::support::{Side, SideOptions, Snapshot, side, sim};

/// Enabled accounts and units only: a user who left before a fresh directory ever saw them is
/// (rightly) never created there, while a directory that knew them keeps them disabled.
fn active(mut s: Snapshot) -> Snapshot {
    s.accounts.retain(|_, a| a["status"] == "enabled");
    s
}

async fn apply_each(side: &Side, messages: impl IntoIterator<Item = &SyncMessage>) {
    for m in messages {
        side.apply(std::slice::from_ref(m)).await;
    }
}

#[tokio::test]
async fn replayed_and_reordered_events_converge_to_the_same_directory() {
    let sim = sim().await;
    let a = side(&sim, SideOptions::default()).await;

    let sales = sim.create_dept("Sales", 1).await;
    let dev = sim.create_dept("Dev", 1).await;
    let backend = sim.create_dept("Backend", dev).await;
    let qa = sim.create_dept("QA", dev).await;
    sim.create_user("u1", "One", 1, &[sales]).await;
    sim.create_user("u2", "Two", 2, &[backend]).await;
    sim.create_user("u3", "Three", 3, &[dev]).await;
    sim.create_user("u4", "Four", 4, &[sales, dev]).await;
    let initial = vec![
        a.depts(&[sales, dev, backend, qa], "org_dept_create"),
        a.users(&["u1", "u2", "u3", "u4"], "user_add_org"),
    ];
    apply_each(&a, &initial).await;

    // A rename with a new department taking the old name, a move, a removal whose member moved
    // first, a leaver, and a mobile handed from one person to another.
    sim.patch_dept(sales, json!({"name": "Old Sales"})).await;
    let new_sales = sim.create_dept("Sales", 1).await;
    sim.patch_dept(qa, json!({"parent_id": 1})).await;
    sim.patch_user("u2", json!({"dept_id_list": [dev]})).await;
    sim.delete_dept(backend).await;
    sim.patch_user(
        "u1",
        json!({"dept_id_list": [new_sales], "mobile": "13800009999"}),
    )
    .await;
    sim.delete_user("u3").await;
    sim.patch_user("u4", json!({"mobile": "13800000001"})).await;
    let changes = vec![
        a.depts(&[sales], "org_dept_modify"),
        a.depts(&[new_sales], "org_dept_create"),
        a.depts(&[qa], "org_dept_modify"),
        a.users(&["u2"], "user_modify_org"),
        a.depts(&[backend], "org_dept_remove"),
        a.users(&["u1"], "user_modify_org"),
        a.users(&["u3"], "user_leave_org"),
        a.users(&["u4"], "user_modify_org"),
    ];
    // Applied newest first: every change meets a directory that has not seen the ones before it.
    apply_each(&a, changes.iter().rev()).await;
    let converged = a.snapshot().await;
    let units: Vec<_> = converged.units.iter().map(String::as_str).collect();
    assert_eq!(units, ["/", "/Dev", "/Old Sales", "/QA", "/Sales"]);
    assert_eq!(converged.accounts["u1"]["units"], json!(["/Sales"]));
    assert_eq!(converged.accounts["u1"]["mobile"], "13800009999");
    assert_eq!(converged.accounts["u2"]["units"], json!(["/Dev"]));
    assert_eq!(converged.accounts["u3"]["status"], "disabled");
    assert_eq!(converged.accounts["u4"]["mobile"], "13800000001");
    assert_eq!(
        converged.accounts["u4"]["units"],
        json!(["/Dev", "/Old Sales"])
    );
    assert!(a.parked().await.is_empty(), "{:?}", a.parked().await);

    // Everything again, twice, in two more orders: nothing changes.
    let all: Vec<&SyncMessage> = initial.iter().chain(&changes).collect();
    apply_each(&a, all.iter().rev().copied()).await;
    let interleaved: Vec<&SyncMessage> = all
        .iter()
        .step_by(2)
        .chain(all.iter().skip(1).step_by(2))
        .copied()
        .collect();
    apply_each(&a, interleaved).await;
    assert_eq!(a.snapshot().await, converged);

    // A fresh directory fed the same events in reverse ends in the same place.
    let b = side(&sim, SideOptions::default()).await;
    let rebased: Vec<SyncMessage> = all
        .iter()
        .rev()
        .map(|m| match m {
            SyncMessage::Users {
                user_ids,
                event_type,
                ..
            } => {
                let ids: Vec<&str> = user_ids.iter().map(|u| u.as_str()).collect();
                b.users(&ids, event_type)
            }
            SyncMessage::Departments {
                dept_ids,
                event_type,
                ..
            } => {
                let ids: Vec<i64> = dept_ids.iter().map(|d| d.get() as i64).collect();
                b.depts(&ids, event_type)
            }
        })
        .collect();
    apply_each(&b, &rebased).await;
    assert_eq!(active(b.snapshot().await), active(converged));
}
