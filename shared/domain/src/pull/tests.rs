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
            scim: None,
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
            scim: None,
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
            password_changed_ms: None,
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
        scim: None,
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
        password_changed_ms: None,
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

mod guard;
mod plan;
mod validation;
