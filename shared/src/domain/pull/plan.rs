//! The plan: the valid part of a snapshot compared with the directory under the connector's root
//! — creates, updates (field diff), moves, membership changes and leavers — without I/O.

use serde::{Deserialize, Serialize};

use super::{DirectoryView, PullRules, Snapshot, Validation};
use crate::dingtalk::{DeptId, DingUserId};
use crate::domain::ids::{AccountId, OrgUnitId};

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

/// Compares the snapshot with the directory. Invalid rows are planned as [`RowAction::Invalid`]
/// and skipped, but still count as present: removing or refusing a row never makes a leaver.
pub fn plan(
    snapshot: &Snapshot,
    validation: &Validation,
    view: &DirectoryView,
    rules: &PullRules,
) -> Plan {
    let _ = (snapshot, validation, view, rules);
    Plan::default()
}
