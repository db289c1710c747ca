//! Row validation: the reasons a DingTalk row is refused, and what the snapshot itself flags.

use super::*;

#[test]
fn a_clean_org_is_valid_throughout() {
    let (v, _) = run(&org(), &empty_view());
    assert!(v.depts.iter().all(Verdict::is_valid), "{v:?}");
    assert!(v.users.iter().all(Verdict::is_valid), "{v:?}");
    assert!(v.blocking.is_empty());
}

#[test]
fn missing_mobile_and_missing_chosen_email_are_reasons() {
    let mut s = org();
    s.users[0].mobile = None;
    s.users[1].email = None;
    let (v, _) = run(&s, &empty_view());
    assert!(reasons(&v.users[0]).contains("mobile: is missing"), "{v:?}");
    assert!(reasons(&v.users[1]).contains("`email` is empty"), "{v:?}");
}

#[test]
fn an_empty_email_is_no_reason_for_a_user_linked_to_an_account_without_one() {
    // Accounts made in the directory without an email, pushed: DingTalk has none either.
    let s = org();
    let view = applied_with(&s, empty_view(), |userid, a| {
        if userid == &s.users[1].userid {
            a.email = None;
        }
    });
    let mut next = s.clone();
    next.users[0].email = None;
    next.users[1].email = None;
    let (v, p) = run(&next, &view);
    assert!(v.users[1].is_valid(), "{v:?}");
    assert_eq!(p.users[1].action, RowAction::Unchanged, "{p:?}");
    // A linked account that has an email would lose it: still a reason.
    assert!(reasons(&v.users[0]).contains("`email` is empty"), "{v:?}");
}

#[test]
fn invalid_name_email_and_mobile_are_reasons() {
    let mut s = org();
    s.users[0].name = "长".repeat(81);
    s.users[0].email = Some("not-an-address".into());
    s.users[1].mobile = Some("12345".into());
    let (v, _) = run(&s, &empty_view());
    let a = reasons(&v.users[0]);
    assert!(a.contains("name: has 81 characters"), "{a}");
    assert!(a.contains("email: has no @"), "{a}");
    assert!(reasons(&v.users[1]).contains("mobile: must be"), "{v:?}");
}

#[test]
fn an_oversized_dingtalk_value_is_clipped_and_refuses_its_row_naming_the_field() {
    let mut s = org();
    let mut ding = s.users[0].to_ding();
    ding.title = Some("职".repeat(500_000));
    ding.name = "N".repeat(200_000);
    ding.dept_ids = (2..2 + MAX_USER_DEPTS as u64 + 5)
        .map(|d| DeptId::new(d).unwrap())
        .collect();
    let staged = StagedUser::from_ding(ding);
    assert_eq!(
        staged.title.as_deref().map(|t| t.chars().count()),
        Some(crate::rules::MAX_TITLE_CHARS)
    );
    assert_eq!(staged.name.chars().count(), MAX_NAME_CHARS);
    assert_eq!(staged.dept_ids.len(), MAX_USER_DEPTS);
    let bytes = serde_json::to_vec(&staged).unwrap().len();
    assert!(bytes < 20_000, "a staged row stays small: {bytes} bytes");
    s.users[0] = staged;
    let mut dept = s.depts[1].to_ding();
    dept.name = "D".repeat(100_000);
    s.depts[1] = StagedDept::from_ding(&dept);
    assert_eq!(s.depts[1].name.chars().count(), MAX_UNIT_NAME_CHARS);
    let (v, _) = run(&s, &empty_view());
    let a = reasons(&v.users[0]);
    assert!(a.contains("title has 500000 characters in DingTalk"), "{a}");
    assert!(a.contains("name has 200000 characters"), "{a}");
    assert!(
        a.contains(&format!("dept_ids has {} departments", MAX_USER_DEPTS + 5)),
        "{a}"
    );
    assert!(
        reasons(&v.depts[1]).contains("name has 100000 characters"),
        "{v:?}"
    );
}

#[test]
fn a_mobile_shared_inside_the_snapshot_flags_every_holder_naming_the_others() {
    let mut s = org();
    s.users.push(user("carol", "+86-13800000001", &[2]));
    let (v, p) = run(&s, &empty_view());
    assert!(
        reasons(&v.users[0]).contains("mobile 13800000001 is also used by DingTalk user carol")
    );
    assert!(reasons(&v.users[2]).contains("is also used by DingTalk user alice"));
    assert!(v.users[1].is_valid());
    assert_eq!(p.totals.invalid, 2);
    assert_eq!(p.totals.creates, 1, "the rest proceeds");
}

#[test]
fn an_email_and_a_username_shared_inside_the_snapshot_flag_every_holder() {
    let mut s = org();
    s.users[1].email = Some("ALICE@example.com".into());
    s.users.push(user("Dave", "13800000004", &[2]));
    s.users.push(user("dave", "13800000005", &[2]));
    let (v, _) = run(&s, &empty_view());
    assert!(
        reasons(&v.users[0]).contains("email alice@example.com is also used by DingTalk user bob")
    );
    assert!(reasons(&v.users[1]).contains("also used by DingTalk user alice"));
    assert!(reasons(&v.users[2]).contains("username dave is also used by DingTalk user dave"));
    assert!(reasons(&v.users[3]).contains("username dave is also used by DingTalk user Dave"));
}

#[test]
fn a_value_owned_by_an_unlinked_directory_account_is_refused() {
    let mut view = empty_view();
    let other = unlinked_account("someone", Some("bob@example.com"), Some("13800000001"));
    view.add_owner(&other);
    view.add_owner(&unlinked_account("alice", None, None));
    let (v, _) = run(&org(), &view);
    let a = reasons(&v.users[0]);
    assert!(
        a.contains(&format!(
            "mobile 13800000001 belongs to directory account {}",
            other.id
        )),
        "{a}"
    );
    assert!(
        a.contains("username alice belongs to directory account"),
        "{a}"
    );
    assert!(reasons(&v.users[1]).contains("email bob@example.com belongs to"));
}

#[test]
fn a_mobile_given_up_by_another_user_of_the_connector_in_this_pull_is_accepted() {
    let s = org();
    let view = applied(&s, empty_view());
    let mut next = s.clone();
    // alice takes bob's old mobile, bob gets a new one: both apply (bob first, by the reconciler).
    next.users[0].mobile = Some("13800000002".into());
    next.users[1].mobile = Some("13800000009".into());
    let (v, p) = run(&next, &view);
    assert!(v.users.iter().all(Verdict::is_valid), "{v:?}");
    assert_eq!(p.totals.updates, 2);
    // …but not when bob keeps it.
    next.users[1].mobile = Some("13800000002".into());
    let (v, _) = run(&next, &view);
    assert!(!v.users[0].is_valid() && !v.users[1].is_valid());
}

#[test]
fn a_value_kept_by_a_leaver_of_the_connector_is_refused_with_that_reason() {
    let s = org();
    let view = applied(&s, empty_view());
    let mut next = s.clone();
    next.users.remove(1);
    next.users.push(user("bob2", "13800000002", &[3]));
    let (v, _) = run(&next, &view);
    assert!(
        reasons(&v.users[1]).contains("DingTalk user bob, who is not in this pull"),
        "{v:?}"
    );
}

#[test]
fn a_default_password_that_breaks_the_policy_blocks_the_run_not_the_rows() {
    let mut r = rules();
    r.default_password = Some(SecretString::new("short"));
    let s = org();
    let v = validate(&s, &empty_view(), &r);
    assert!(v.users.iter().all(Verdict::is_valid));
    assert!(
        v.blocking
            .iter()
            .any(|b| b.contains("default password is 5 characters")),
        "{v:?}"
    );
    let p = plan(&s, &v, &empty_view(), &r);
    assert!(!p.blocking.is_empty(), "creates need the default password");
    let view = applied(&s, empty_view());
    let v = validate(&s, &view, &r);
    assert!(
        plan(&s, &v, &view, &r).blocking.is_empty(),
        "no creates, nothing blocked"
    );
}

#[test]
fn department_names_follow_dingtalk_rules_and_the_root_is_exempt() {
    let mut s = org();
    s.depts[1].name = "R-D".into();
    let (v, _) = run(&s, &empty_view());
    assert!(
        v.depts[0].is_valid(),
        "the root's name is the corp's, never written"
    );
    assert!(reasons(&v.depts[1]).contains("contains '-'"), "{v:?}");
    assert!(reasons(&v.depts[2]).contains("parent department 2 cannot be imported"));
    assert!(reasons(&v.users[0]).contains("its department 2 (R-D) cannot be imported"));
}

#[test]
fn duplicate_names_under_one_parent_flag_both_and_a_missing_parent_is_a_reason() {
    let mut s = org();
    s.depts.push(dept(4, "sales", Some(1)));
    s.depts.push(dept(5, "Orphan", Some(99)));
    let (v, _) = run(&s, &empty_view());
    assert!(
        reasons(&v.depts[1]).contains("also used by department 4"),
        "{v:?}"
    );
    assert!(reasons(&v.depts[3]).contains("also used by department 2"));
    assert!(reasons(&v.depts[4]).contains("parent department 99 is not in the snapshot"));
}

#[test]
fn a_unit_name_taken_by_an_unlinked_directory_unit_is_refused() {
    let mut view = empty_view();
    view.add_unit_name(&OrgUnit {
        scim: None,
        id: OrgUnitId::generate(),
        name: "SALES".into(),
        parent_id: Some(view.root_unit.clone()),
        order: 0,
        version: 1,
        created_ms: 0,
        updated_ms: 0,
    });
    let (v, _) = run(&org(), &view);
    assert!(
        reasons(&v.depts[1]).contains("already exists under the same parent"),
        "{v:?}"
    );
}
