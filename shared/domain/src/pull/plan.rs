//! The plan: the valid part of a snapshot compared with the directory under the connector's root
//! — creates, updates (field diff), moves, membership changes and leavers — without I/O.

use serde::{Deserialize, Serialize};

use std::collections::HashSet;

use super::validate::{parent_of, parents_first};
use super::view::{AccountFields, FieldsRef, MappedAccount};
use super::{DirectoryView, PullRules, Snapshot, StagedDept, StagedUser, Validation, Verdict};
use crate::connector::LeaverPolicy;
use crate::dingtalk::{DeptId, DingUserId};
use crate::ids::{AccountId, OrgUnitId};
use crate::rules::DesiredAccount;
use crate::values::check_unit_name;

/// What applying does with one row; also the staging row's review filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RowAction {
    /// The row cannot be imported; it is skipped (its reasons are on the row).
    Invalid,
    Create,
    /// Field changes, a move or membership changes (a rehire is an update that enables).
    Update,
    /// A leaver (account disabled or deleted by the leaver policy) or a removed department.
    Disable,
    Unchanged,
}

impl RowAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invalid => "invalid",
            Self::Create => "create",
            Self::Update => "update",
            Self::Disable => "disable",
            Self::Unchanged => "unchanged",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "invalid" => Self::Invalid,
            "create" => Self::Create,
            "update" => Self::Update,
            "disable" => Self::Disable,
            "unchanged" => Self::Unchanged,
            _ => return None,
        })
    }
}

/// One changed field: old → new as the admin reads them (`None` = empty).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// The plan for one staged department (`index` into `snapshot.depts`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeptPlan {
    pub index: usize,
    pub action: RowAction,
    /// The mapped unit, for updates and unchanged rows.
    pub unit_id: Option<OrgUnitId>,
    pub changes: Vec<FieldChange>,
    /// The parent changes.
    pub moved: bool,
}

/// The plan for one staged user (`index` into `snapshot.users`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserPlan {
    pub index: usize,
    pub action: RowAction,
    /// The mapped account, for updates and unchanged rows.
    pub account_id: Option<AccountId>,
    pub changes: Vec<FieldChange>,
    /// The primary unit changes.
    pub moved: bool,
    /// The set of units changes (including a move).
    pub membership_changed: bool,
}

/// An account mapped to this connector whose DingTalk user is absent from a complete snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leaver {
    pub userid: DingUserId,
    pub account_id: AccountId,
    pub username: String,
    pub display_name: String,
}

/// A unit mapped to this connector whose department is absent from a complete snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemovedUnit {
    pub dept_id: DeptId,
    pub unit_id: OrgUnitId,
    pub name: String,
}

/// The plan's counters (what the run record and the guard show).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PlanTotals {
    pub creates: u64,
    pub updates: u64,
    /// Users whose primary unit changes (counted in `updates` too).
    pub moves: u64,
    /// Users whose units change (counted in `updates` too).
    pub membership_changes: u64,
    pub disables: u64,
    pub unchanged: u64,
    pub invalid: u64,
    pub unit_creates: u64,
    pub unit_updates: u64,
    /// Units whose parent changes (counted in `unit_updates` too).
    pub unit_moves: u64,
    pub unit_removals: u64,
    pub units_unchanged: u64,
    pub units_invalid: u64,
    /// The connector's mapped accounts and units before the run: the guard's denominators.
    pub existing_accounts: u64,
    pub existing_units: u64,
}

/// The whole plan. Rows are referred to by index, so the plan holds no copy of the snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Parents before children (the order apply must follow).
    pub depts: Vec<DeptPlan>,
    /// In snapshot order.
    pub users: Vec<UserPlan>,
    pub leavers: Vec<Leaver>,
    pub removed_units: Vec<RemovedUnit>,
    pub totals: PlanTotals,
    /// Run-level reasons that block applying (from validation, when the plan creates accounts).
    pub blocking: Vec<String>,
}

impl PlanTotals {
    /// Counts one planned department.
    pub fn count_dept(&mut self, p: &DeptPlan) {
        match p.action {
            RowAction::Invalid => self.units_invalid += 1,
            RowAction::Create => self.unit_creates += 1,
            RowAction::Update => {
                self.unit_updates += 1;
                self.unit_moves += u64::from(p.moved);
            }
            RowAction::Disable => self.unit_removals += 1,
            RowAction::Unchanged => self.units_unchanged += 1,
        }
    }

    /// Counts one planned user.
    pub fn count_user(&mut self, p: &UserPlan) {
        match p.action {
            RowAction::Invalid => self.invalid += 1,
            RowAction::Create => self.creates += 1,
            RowAction::Update => {
                self.updates += 1;
                self.moves += u64::from(p.moved);
                self.membership_changes += u64::from(p.membership_changed);
            }
            RowAction::Disable => self.disables += 1,
            RowAction::Unchanged => self.unchanged += 1,
        }
    }
}

/// Compares the snapshot with the directory. Invalid rows are planned as [`RowAction::Invalid`]
/// and skipped, but still count as present: refusing or removing a row never makes a leaver.
/// Leavers and unit removals are planned only from a complete snapshot. (The full pull runs the
/// same steps a page of rows at a time: `plan_depts`, `plan_user`, `leaver_candidates`,
/// `removed_units`.)
pub fn plan(
    snapshot: &Snapshot,
    validation: &Validation,
    view: &DirectoryView,
    rules: &PullRules,
) -> Plan {
    let mut totals = PlanTotals::for_view(view);
    let depts = plan_depts(&snapshot.depts, &validation.depts, view, &mut totals);
    let valid_depts =
        super::validate::UnitVerdicts::new(&snapshot.depts, &validation.depts).valid_depts();
    let mut users = Vec::with_capacity(snapshot.users.len());
    for (i, u) in snapshot.users.iter().enumerate() {
        let valid = validation.users.get(i).is_some_and(Verdict::is_valid);
        let p = plan_user(i, u, valid, view, &valid_depts, rules);
        totals.count_user(&p);
        users.push(p);
    }

    let (mut leavers, mut removed) = (Vec::new(), Vec::new());
    if snapshot.complete {
        let present: HashSet<&DingUserId> = snapshot.users.iter().map(|u| &u.userid).collect();
        leavers = leaver_candidates(view, |u| present.contains(u), rules)
            .into_iter()
            .filter_map(|m| Leaver::of(view, m, view.fields_of(m)))
            .collect();
        let staged: HashSet<DeptId> = snapshot.depts.iter().map(|d| d.dept_id).collect();
        removed = removed_units(view, &staged);
    }
    totals.disables += leavers.len() as u64;
    totals.unit_removals += removed.len() as u64;
    let blocking = blocking(&totals, &validation.blocking);
    Plan {
        depts,
        users,
        leavers,
        removed_units: removed,
        totals,
        blocking,
    }
}

impl PlanTotals {
    /// Zero counts with the guard's denominators of `view`.
    pub fn for_view(view: &DirectoryView) -> Self {
        Self {
            existing_accounts: view.mapped_count() as u64,
            existing_units: view.units.len() as u64,
            ..Self::default()
        }
    }
}

/// The run-level blocking reasons that stand: they matter only when the plan creates accounts.
pub fn blocking(totals: &PlanTotals, reasons: &[String]) -> Vec<String> {
    if totals.creates > 0 {
        reasons.to_vec()
    } else {
        Vec::new()
    }
}

/// Plans every department, parents before children (the order apply must follow).
pub fn plan_depts(
    depts: &[StagedDept],
    verdicts: &[Verdict],
    view: &DirectoryView,
    totals: &mut PlanTotals,
) -> Vec<DeptPlan> {
    let mut out = Vec::with_capacity(depts.len());
    for i in parents_first(depts) {
        let Some(d) = depts.get(i) else {
            continue;
        };
        let valid = verdicts.get(i).is_some_and(Verdict::is_valid);
        let p = plan_dept(i, d, valid, view);
        totals.count_dept(&p);
        out.push(p);
    }
    out
}

/// The mapped accounts whose DingTalk user is absent from a complete snapshot (`present` says who
/// is in it), sorted by userid. An account already disabled and out of every unit is not a
/// leaver again under the disable policy.
pub fn leaver_candidates<'a>(
    view: &'a DirectoryView,
    present: impl Fn(&DingUserId) -> bool,
    rules: &PullRules,
) -> Vec<&'a MappedAccount> {
    let mut out: Vec<&MappedAccount> = view
        .mapped_accounts()
        .filter(|a| {
            let already_gone = !a.enabled && !a.has_units();
            let kept = already_gone && rules.leaver_policy == LeaverPolicy::Disable;
            !(present(&a.userid) || kept)
        })
        .collect();
    out.sort_by(|a, b| a.userid.cmp(&b.userid));
    out
}

/// The mapped units whose department is absent from a complete snapshot, by department id.
pub fn removed_units(view: &DirectoryView, staged: &HashSet<DeptId>) -> Vec<RemovedUnit> {
    let mut out: Vec<RemovedUnit> = view
        .units
        .iter()
        .filter(|(dept, _)| !staged.contains(dept) && !dept.is_root())
        .map(|(dept, u)| RemovedUnit {
            dept_id: *dept,
            unit_id: u.id.clone(),
            name: u.name.clone(),
        })
        .collect();
    out.sort_by_key(|r| r.dept_id);
    out
}

impl Leaver {
    /// The leaver row of a mapped account, named from its fields (loaded by the caller; without
    /// them the row shows the userid).
    pub fn of(
        view: &DirectoryView,
        m: &MappedAccount,
        fields: Option<&AccountFields>,
    ) -> Option<Self> {
        Some(Self {
            userid: m.userid.clone(),
            account_id: view.account_id(m)?.clone(),
            username: fields.map_or_else(|| m.userid.to_string(), |f| f.username.clone()),
            display_name: fields.map_or_else(|| m.userid.to_string(), |f| f.display_name.clone()),
        })
    }
}

/// Plans one department.
fn plan_dept(index: usize, d: &StagedDept, valid: bool, view: &DirectoryView) -> DeptPlan {
    let mut p = DeptPlan {
        index,
        action: RowAction::Invalid,
        unit_id: None,
        changes: Vec::new(),
        moved: false,
    };
    if !valid {
        return p;
    }
    if d.dept_id.is_root() {
        p.action = RowAction::Unchanged;
        p.unit_id = Some(view.root_unit.clone());
        return p;
    }
    let Some(old) = view.units.get(&d.dept_id) else {
        p.action = RowAction::Create;
        return p;
    };
    p.unit_id = Some(old.id.clone());
    let name = check_unit_name(&d.name).unwrap_or_else(|_| d.name.clone());
    if name != old.name {
        p.changes.push(change("name", Some(&old.name), Some(&name)));
    }
    let parent = parent_of(d);
    let new_parent = view.unit_of(parent);
    if new_parent != old.parent_id.as_ref() {
        p.moved = true;
        let new_text = match new_parent {
            Some(id) => id.to_string(),
            None => format!("(new unit of department {parent})"),
        };
        p.changes.push(FieldChange {
            field: "parent".to_owned(),
            old: old.parent_id.as_ref().map(ToString::to_string),
            new: Some(new_text),
        });
    }
    let order = d.order.unwrap_or(0);
    if order != old.order {
        p.changes.push(FieldChange {
            field: "order".to_owned(),
            old: Some(old.order.to_string()),
            new: Some(order.to_string()),
        });
    }
    p.action = if p.changes.is_empty() {
        RowAction::Unchanged
    } else {
        RowAction::Update
    };
    p
}

/// The unit a membership lands in: an existing one, or one this run creates.
#[derive(PartialEq, Eq)]
enum UnitRef<'a> {
    Known(&'a OrgUnitId),
    New(DeptId),
}

/// Plans one staged user (`index` into the snapshot, or any ordinal the caller keeps). A mapped
/// account whose compared fields changed needs its old fields at hand
/// ([`DirectoryView::remember_fields`]) to show the diff.
pub fn plan_user(
    index: usize,
    u: &StagedUser,
    valid: bool,
    view: &DirectoryView,
    valid_depts: &HashSet<DeptId>,
    rules: &PullRules,
) -> UserPlan {
    let mut p = UserPlan {
        index,
        action: RowAction::Invalid,
        account_id: None,
        changes: Vec::new(),
        moved: false,
        membership_changed: false,
    };
    if !valid {
        return p;
    }
    let Some(old) = view.mapped(&u.userid) else {
        p.action = RowAction::Create;
        return p;
    };
    // Validation passed, so this yields the values apply will write.
    let Ok(d) = view.desired(u, rules.email_field) else {
        return p;
    };
    p.account_id = view.account_id(old).cloned();
    // The username is kept: it was chosen at creation and people sign in with it.
    let new = compared(&d);
    if view.keys().fields(new) != old.fields {
        match view.fields_of(old) {
            Some(f) => {
                let was = f.compared();
                diff(&mut p.changes, "display_name", Some(was.0), Some(new.0));
                diff(&mut p.changes, "email", was.1, new.1);
                diff(&mut p.changes, "mobile", was.2, new.2);
                diff(&mut p.changes, "job_number", was.3, new.3);
                diff(&mut p.changes, "title", was.4, new.4);
            }
            // The caller did not load the account: the change is real, its old values unknown.
            None => p
                .changes
                .push(change("fields", None, Some("changed in DingTalk"))),
        }
    }
    if !old.enabled {
        // Present in DingTalk means employed: a rehire is enabled again.
        p.changes
            .push(change("status", Some("disabled"), Some("enabled")));
    }

    // Departments outside the snapshot and never mapped are out of the app's contact scope:
    // the reconciler skips those memberships, so the plan does too.
    let mut units: Vec<UnitRef<'_>> = Vec::with_capacity(u.dept_ids.len());
    for dept in &u.dept_ids {
        let unit = match view.unit_of(*dept) {
            Some(id) => UnitRef::Known(id),
            None if valid_depts.contains(dept) => UnitRef::New(*dept),
            None => continue,
        };
        if !units.contains(&unit) {
            units.push(unit);
        }
    }
    let old_units: Vec<&OrgUnitId> = view.units_of(old).collect();
    // A move is a change of primary unit; gaining a first unit (a rehire) is a membership change.
    p.moved = old_units
        .first()
        .is_some_and(|o| units.first().and_then(known) != Some(*o));
    p.membership_changed = units.len() != old_units.len()
        || units
            .iter()
            .any(|r| known(r).is_none_or(|id| !old_units.contains(&id)));
    if p.membership_changed || p.moved {
        let text = |r: &UnitRef<'_>| match r {
            UnitRef::Known(id) => id.to_string(),
            UnitRef::New(dept) => format!("(new unit of department {dept})"),
        };
        let old_text = old_units
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>();
        let new_text = units.iter().map(text).collect::<Vec<_>>();
        p.changes.push(FieldChange {
            field: "units".to_owned(),
            old: Some(old_text.join(", ")),
            new: Some(new_text.join(", ")),
        });
        p.membership_changed = true;
    }
    p.action = if p.changes.is_empty() {
        RowAction::Unchanged
    } else {
        RowAction::Update
    };
    p
}

/// The fields of a desired account the plan compares, in [`FieldsRef`] order.
fn compared(d: &DesiredAccount) -> FieldsRef<'_> {
    (
        d.display_name.as_str(),
        d.email.as_ref().map(|e| e.as_str()),
        Some(d.mobile.as_str()),
        d.job_number.as_deref(),
        d.title.as_deref(),
    )
}

/// The DingTalk user whose account's old fields `plan_user` will show for this row (a mapped
/// account whose compared fields changed): the caller loads them first. `None` for everyone else.
pub fn old_fields_wanted<'a>(
    u: &'a StagedUser,
    view: &DirectoryView,
    rules: &PullRules,
) -> Option<(&'a DingUserId, AccountId)> {
    let old = view.mapped(&u.userid)?;
    let d = view.desired(u, rules.email_field).ok()?;
    if view.keys().fields(compared(&d)) == old.fields {
        return None;
    }
    Some((&u.userid, view.account_id(old)?.clone()))
}

fn known<'a>(r: &UnitRef<'a>) -> Option<&'a OrgUnitId> {
    match r {
        UnitRef::Known(id) => Some(id),
        UnitRef::New(_) => None,
    }
}

fn change(field: &str, old: Option<&str>, new: Option<&str>) -> FieldChange {
    FieldChange {
        field: field.to_owned(),
        old: old.map(str::to_owned),
        new: new.map(str::to_owned),
    }
}

fn diff(out: &mut Vec<FieldChange>, field: &str, old: Option<&str>, new: Option<&str>) {
    if old != new {
        out.push(change(field, old, new));
    }
}
