//! Validation reasons, plan cases and the guard, on hand-built snapshots and directory views.

use std::collections::{BTreeMap, HashMap};

use super::*;
use crate::directory::{Account, AccountStatus, OrgUnit, normalise_memberships};
use crate::ids::{AccountId, ConnectorId, OrgUnitId};
use crate::rules::desired_account;
use crate::values::{DisplayName, Email, Mobile, Username};

fn rules() -> PullRules {
    PullRules {
        email_field: EmailField::Email,
        leaver_policy: LeaverPolicy::Disable,
        password_policy: PasswordPolicy::default(),
        default_password: Some(SecretString::new("Default-Passw0rd")),
    }
}

fn dept(id: u64, name: &str, parent: Option<u64>) -> StagedDept {
    StagedDept {
        dept_id: DeptId::new(id).unwrap(),
        name: name.into(),
        parent_id: parent.map(|p| DeptId::new(p).unwrap()),
        order: None,
        clipped: Vec::new(),
    }
}

fn user(userid: &str, mobile: &str, depts: &[u64]) -> StagedUser {
    StagedUser {
        userid: DingUserId::parse(userid).unwrap(),
        unionid: None,
        name: format!("User {userid}"),
        mobile: Some(mobile.into()),
        email: Some(format!("{userid}@example.com")),
        org_email: None,
        job_number: None,
        title: None,
        dept_ids: depts.iter().map(|d| DeptId::new(*d).unwrap()).collect(),
        clipped: Vec::new(),
    }
}

fn snapshot(depts: Vec<StagedDept>, users: Vec<StagedUser>) -> Snapshot {
    Snapshot {
        depts,
        users,
        complete: true,
    }
}

/// A small org: root 1, 2 under it, 3 under 2; two users.
fn org() -> Snapshot {
    snapshot(
        vec![
            dept(1, "Corp-Root", None),
            dept(2, "Sales", Some(1)),
            dept(3, "East", Some(2)),
        ],
        vec![
            user("alice", "13800000001", &[2]),
            user("bob", "13800000002", &[3, 2]),
        ],
    )
}

fn empty_view() -> DirectoryView {
    DirectoryView::new(OrgUnitId::generate()).keeping_fields()
}

/// The directory as it is after applying `s` to `view` (what the reconciler would write).
fn applied(s: &Snapshot, view: DirectoryView) -> DirectoryView {
    applied_with(s, view, |_, _| {})
}

/// As [`applied`], with each account passed through `tweak` before it lands.
fn applied_with(
    s: &Snapshot,
    mut view: DirectoryView,
    tweak: impl Fn(&DingUserId, &mut Account),
) -> DirectoryView {
    let mut units: HashMap<DeptId, OrgUnitId> = HashMap::new();
    for i in super::validate::parents_first(&s.depts) {
        let d = &s.depts[i];
        if d.dept_id.is_root() {
            continue;
        }
        let parent = super::validate::parent_of(d);
        let parent_unit = if parent.is_root() {
            view.root_unit.clone()
        } else {
            units[&parent].clone()
        };
        let unit = OrgUnit {
            id: OrgUnitId::generate(),
            name: d.name.trim().to_owned(),
            parent_id: Some(parent_unit),
            order: d.order.unwrap_or(0),
            version: 1,
            created_ms: 0,
            updated_ms: 0,
        };
        units.insert(d.dept_id, unit.id.clone());
        view.add_mapped_unit(d.dept_id, &unit);
    }
    for u in &s.users {
        let d = desired_account(&u.to_ding(), EmailField::Email).unwrap();
        let ids: Vec<OrgUnitId> = u.dept_ids.iter().map(|d| units[d].clone()).collect();
        let mut a = Account {
            id: AccountId::generate(),
            username: d.username,
            display_name: d.display_name,
            email: d.email,
            mobile: Some(d.mobile),
            job_number: d.job_number,
            title: d.title,
            status: AccountStatus::Enabled,
            memberships: normalise_memberships(&ids, None),
            password_hash: None,
            must_change_password: false,
            attributes: BTreeMap::new(),
            version: 1,
            created_ms: 0,
            updated_ms: 0,
        };
        tweak(&u.userid, &mut a);
        view.add_mapped_account(u.userid.clone(), &a);
    }
    view.seal();
    view
}

fn unlinked_account(username: &str, email: Option<&str>, mobile: Option<&str>) -> Account {
    Account {
        id: AccountId::generate(),
        username: Username::parse(username).unwrap(),
        display_name: DisplayName::parse("Someone").unwrap(),
        email: email.map(|e| Email::parse(e).unwrap()),
        mobile: mobile.map(|m| Mobile::parse(m).unwrap()),
        job_number: None,
        title: None,
        status: AccountStatus::Enabled,
        memberships: Vec::new(),
        password_hash: None,
        must_change_password: false,
        attributes: BTreeMap::new(),
        version: 1,
        created_ms: 0,
        updated_ms: 0,
    }
}

fn reasons(v: &Verdict) -> String {
    v.reasons().join(" | ")
}

fn run(s: &Snapshot, view: &DirectoryView) -> (Validation, Plan) {
    let v = validate(s, view, &rules());
    let p = plan(s, &v, view, &rules());
    (v, p)
}

// --- validation ----------------------------------------------------------------------------

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

// --- plan ----------------------------------------------------------------------------------

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

// --- guard ---------------------------------------------------------------------------------

fn connector(share: f64, count: u64) -> Connector {
    let json = serde_json::json!({
        "id": ConnectorId::generate(), "name": "c", "corp_id": "x", "app_key": "k",
        "app_secret": "s", "agent_id": null, "enabled": true, "email_field": "email",
        "register_callback": false, "callback_token": null, "callback_aes_key": null,
        "receive_id_mode": "app_key", "root_org_unit_id": OrgUnitId::generate(),
        "default_password": null, "leaver_policy": "disable", "pull_mode": "auto",
        "pull_schedule": "0 2 * * *", "mass_delete_max_share": share,
        "mass_delete_max_count": count, "oapi_base": "", "api_base": "", "login_base": "",
        "callback_status": null, "version": 1, "created_ms": 0, "updated_ms": 0
    });
    serde_json::from_value(json).unwrap()
}

fn totals(disables: u64, accounts: u64, removals: u64, units: u64) -> PlanTotals {
    PlanTotals {
        disables,
        existing_accounts: accounts,
        unit_removals: removals,
        existing_units: units,
        ..PlanTotals::default()
    }
}

#[test]
fn the_guard_trips_on_share_or_count_of_accounts_or_units() {
    let c = connector(0.1, 100);
    assert_eq!(
        guard(&totals(10, 100, 0, 10), &c),
        None,
        "exactly 10% is allowed"
    );
    let r = guard(&totals(11, 100, 0, 10), &c).unwrap();
    assert!(
        r.contains("disable or delete 11 of the connector's 100 accounts (11.0%)"),
        "{r}"
    );
    assert!(
        guard(&totals(101, 100_000, 0, 10), &c)
            .unwrap()
            .contains("101 of")
    );
    assert!(
        guard(&totals(0, 100, 2, 10), &c)
            .unwrap()
            .contains("remove 2 of the connector's 10 org units")
    );
    assert_eq!(
        guard(&totals(0, 0, 0, 0), &connector(0.0, 0)),
        None,
        "nothing removed never trips"
    );
}

// --- the compact indexes -------------------------------------------------------------------

#[test]
fn a_key_index_answers_the_same_before_and_after_sealing() {
    let keys = view::Keys::default();
    let k = |s: &str| keys.of(ValueKind::Email, s);
    let mut index = view::KeyIndex::default();
    for (i, v) in ["b", "a", "b", "c", "b"].iter().enumerate() {
        index.push(k(v), i as u32);
    }
    let answers = |x: &view::KeyIndex| {
        ["a", "b", "c", "d"]
            .map(|v| (x.values(k(v)).collect::<Vec<_>>(), x.first(k(v))))
            .to_vec()
    };
    let before = answers(&index);
    index.seal();
    assert_eq!(before, answers(&index));
    assert_eq!(before[1], (vec![0, 2, 4], Some(0)));
    assert_eq!(before[3], (vec![], None));
}

#[test]
fn keys_tell_kinds_and_values_apart() {
    let keys = view::Keys::default();
    assert_eq!(
        keys.of(ValueKind::Email, "a@x.cn"),
        keys.of(ValueKind::Email, "a@x.cn")
    );
    assert_ne!(
        keys.of(ValueKind::Email, "a@x.cn"),
        keys.of(ValueKind::Username, "a@x.cn")
    );
    assert_ne!(
        keys.of(ValueKind::Mobile, "13800000001"),
        keys.of(ValueKind::Mobile, "13800000002")
    );
    // Fields that differ only in where a value sits are different field sets.
    assert_ne!(
        keys.fields(("A", Some("x"), None, None, None)),
        keys.fields(("A", None, Some("x"), None, None))
    );
}

#[test]
fn a_sealed_key_index_finds_every_value_of_a_large_set() {
    let keys = view::Keys::default();
    let mut index = view::KeyIndex::with_capacity(30_000);
    let mut expected: HashMap<String, Vec<u32>> = HashMap::new();
    for i in 0..30_000u32 {
        // Every seventh value is shared by several ordinals.
        let value = if i % 7 == 0 {
            format!("shared-{}", i % 70)
        } else {
            format!("v{i}")
        };
        index.push(keys.of(ValueKind::Mobile, &value), i);
        expected.entry(value).or_default().push(i);
    }
    index.seal();
    for (value, ordinals) in &expected {
        let found: Vec<u32> = index.values(keys.of(ValueKind::Mobile, value)).collect();
        assert_eq!(&found, ordinals, "{value}");
    }
    assert_eq!(index.first(keys.of(ValueKind::Mobile, "absent")), None);
    assert_eq!(index.first(keys.of(ValueKind::Email, "v1")), None);
}
