//! The plan: what a snapshot changes in the directory, parents first, leavers only from a complete snapshot.

use super::*;

#[test]
fn a_first_pull_creates_everything_parents_first() {
    let (_, p) = run(&org(), &empty_view());
    assert_eq!(p.totals.creates, 2);
    assert_eq!(p.totals.unit_creates, 2);
    let order: Vec<u64> = p
        .depts
        .iter()
        .map(|d| org().depts[d.index].dept_id.get())
        .collect();
    assert_eq!(order, [1, 2, 3]);
    assert!(p.leavers.is_empty());
}

#[test]
fn an_unchanged_second_pull_plans_zero_changes() {
    let s = org();
    let view = applied(&s, empty_view());
    let (_, p) = run(&s, &view);
    let t = p.totals;
    assert_eq!(
        (
            t.creates,
            t.updates,
            t.disables,
            t.unit_creates,
            t.unit_updates,
            t.unit_removals
        ),
        (0, 0, 0, 0, 0, 0)
    );
    assert_eq!((t.unchanged, t.units_unchanged), (2, 3));
}

#[test]
fn updates_carry_a_field_diff_and_a_rehire_is_enabled() {
    let s = org();
    let bob = s.users[1].userid.clone();
    let view = applied_with(&s, empty_view(), |u, a| {
        if *u == bob {
            a.status = AccountStatus::Disabled;
        }
    });
    let mut next = s.clone();
    next.users[0].name = "Alice Liddell".into();
    next.users[0].title = Some("CEO".into());
    let (_, p) = run(&next, &view);
    let a = &p.users[0];
    assert_eq!(a.action, RowAction::Update);
    let fields: Vec<&str> = a.changes.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(fields, ["display_name", "title"]);
    assert_eq!(a.changes[0].new.as_deref(), Some("Alice Liddell"));
    assert_eq!(p.users[1].changes[0].field, "status");
    assert_eq!(p.totals.updates, 2);
}

#[test]
fn a_new_primary_department_is_a_move_and_an_extra_one_a_membership_change() {
    let s = org();
    let view = applied(&s, empty_view());
    let mut next = s.clone();
    next.users[0].dept_ids = vec![DeptId::new(3).unwrap()];
    next.users[1].dept_ids.push(DeptId::ROOT);
    next.depts[2].parent_id = Some(DeptId::ROOT);
    let (_, p) = run(&next, &view);
    assert!(p.users[0].moved && p.users[0].membership_changed);
    assert!(!p.users[1].moved && p.users[1].membership_changed);
    assert_eq!((p.totals.moves, p.totals.membership_changes), (1, 2));
    assert_eq!((p.totals.unit_moves, p.totals.unit_updates), (1, 1));
}

#[test]
fn leavers_of_a_complete_snapshot_are_planned_but_refused_rows_are_not_leavers() {
    let s = org();
    let view = applied(&s, empty_view());
    let mut next = s.clone();
    next.users[0].mobile = None; // alice: invalid, still present
    next.users.remove(1); // bob: gone
    next.depts.remove(2); // East: gone
    let (_, p) = run(&next, &view);
    let gone: Vec<&str> = p.leavers.iter().map(|l| l.userid.as_str()).collect();
    assert_eq!(gone, ["bob"]);
    assert_eq!(p.removed_units.len(), 1);
    assert_eq!(
        (p.totals.disables, p.totals.unit_removals, p.totals.invalid),
        (1, 1, 1)
    );
}

#[test]
fn a_partial_snapshot_plans_no_leaver_and_no_unit_removal() {
    let s = org();
    let view = applied(&s, empty_view());
    let mut next = s.clone();
    next.complete = false;
    next.users.clear();
    next.depts.truncate(1);
    let (_, p) = run(&next, &view);
    assert!(p.leavers.is_empty() && p.removed_units.is_empty());
    assert_eq!(p.totals.disables + p.totals.unit_removals, 0);
}

#[test]
fn an_already_disabled_leaver_is_not_planned_again_under_the_disable_policy() {
    let s = org();
    let bob = s.users[1].userid.clone();
    let view = applied_with(&s, empty_view(), |u, a| {
        if *u == bob {
            a.status = AccountStatus::Disabled;
            a.memberships.clear();
        }
    });
    let mut next = s.clone();
    next.users.remove(1);
    let (_, p) = run(&next, &view);
    assert!(p.leavers.is_empty());
}
