//! Row validation of a staged snapshot: every reason a row cannot be imported, in words an admin
//! can act on. Accounts reuse `sync::rules::desired_account`, so a pull and an event refuse the
//! same users for the same reasons; a duplicate flags every holder, never just the second one.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::{DirectoryView, PullRules, Snapshot, StagedDept, StagedUser};
use crate::dingtalk::{DeptId, DingUserId};
use crate::domain::connector::EmailField;
use crate::domain::ids::AccountId;
use crate::domain::values::{Email, Mobile, check_unit_name};
use crate::sync::rules::{desired_account, username_for};

/// A reason names at most this many other holders of a duplicated value ("and N more" after).
const NAMED_OTHERS: usize = 5;

/// The verdict on one staged row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    Valid,
    Invalid { reasons: Vec<String> },
}

impl Verdict {
    pub fn is_valid(&self) -> bool {
        matches!(self, Self::Valid)
    }

    pub fn reasons(&self) -> &[String] {
        match self {
            Self::Valid => &[],
            Self::Invalid { reasons } => reasons,
        }
    }

    fn of(reasons: Vec<String>) -> Self {
        if reasons.is_empty() {
            Self::Valid
        } else {
            Self::Invalid { reasons }
        }
    }
}

/// The verdicts of a snapshot, index for index with `snapshot.depts` and `snapshot.users`, and
/// the run-level problems that block applying the run as a whole.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Validation {
    pub depts: Vec<Verdict>,
    pub users: Vec<Verdict>,
    /// Run-level blocking reasons (today: the default password breaks the password policy).
    /// They are not copied onto rows, because no row can fix them: the connector's default
    /// password or the policy must change. The plan keeps them only when it creates accounts.
    pub blocking: Vec<String>,
}

impl Validation {
    pub fn invalid_depts(&self) -> usize {
        self.depts.iter().filter(|v| !v.is_valid()).count()
    }

    pub fn invalid_users(&self) -> usize {
        self.users.iter().filter(|v| !v.is_valid()).count()
    }
}

/// Why the connector's default password cannot be given to new accounts; empty when it can.
pub fn default_password_problems(rules: &PullRules) -> Vec<String> {
    match &rules.default_password {
        Some(p) => rules
            .password_policy
            .violations(p.expose())
            .into_iter()
            .map(|v| {
                format!(
                    "the connector's default password {v}; new accounts cannot be created until \
                     the default password or the password policy is changed"
                )
            })
            .collect(),
        None => Vec::new(),
    }
}

/// Validates every row of the snapshot against itself and the directory.
pub fn validate(snapshot: &Snapshot, view: &DirectoryView, rules: &PullRules) -> Validation {
    let depts = validate_depts(&snapshot.depts, view);
    let users = validate_users(snapshot, &depts, view, rules.email_field);
    Validation {
        depts,
        users,
        blocking: default_password_problems(rules),
    }
}

/// The parent a department hangs under: DingTalk's root for the root's children and for a
/// non-root department without a parent (as the reconciler treats it).
pub(super) fn parent_of(d: &StagedDept) -> DeptId {
    d.parent_id.unwrap_or(DeptId::ROOT)
}

/// Departments in an order that puts every parent before its children (the order apply must
/// follow); departments on a parent cycle come last.
pub(super) fn parents_first(depts: &[StagedDept]) -> Vec<usize> {
    let index: HashMap<DeptId, usize> = depts
        .iter()
        .enumerate()
        .map(|(i, d)| (d.dept_id, i))
        .collect();
    let mut children: HashMap<DeptId, Vec<usize>> = HashMap::new();
    let mut order = Vec::with_capacity(depts.len());
    for (i, d) in depts.iter().enumerate() {
        let p = parent_of(d);
        if d.dept_id.is_root() || !index.contains_key(&p) || p == d.dept_id {
            order.push(i);
        } else {
            children.entry(p).or_default().push(i);
        }
    }
    let mut next = 0;
    while next < order.len() {
        let id = depts.get(order[next]).map(|d| d.dept_id);
        if let Some(kids) = id.and_then(|id| children.remove(&id)) {
            order.extend(kids);
        }
        next += 1;
    }
    let mut rest: Vec<usize> = children.into_values().flatten().collect();
    rest.sort_unstable();
    order.extend(rest);
    order
}

fn validate_depts(depts: &[StagedDept], view: &DirectoryView) -> Vec<Verdict> {
    let index: HashMap<DeptId, usize> = depts
        .iter()
        .enumerate()
        .map(|(i, d)| (d.dept_id, i))
        .collect();
    let mut reasons: Vec<Vec<String>> = vec![Vec::new(); depts.len()];
    let mut names: HashMap<(DeptId, String), Vec<usize>> = HashMap::new();
    let ours: HashSet<&crate::domain::ids::OrgUnitId> =
        view.units.values().map(|u| &u.id).collect();
    for (i, d) in depts.iter().enumerate() {
        // DingTalk's root is the connector's root unit: it is never created, renamed or moved.
        if d.dept_id.is_root() {
            continue;
        }
        let Some(r) = reasons.get_mut(i) else {
            continue;
        };
        let parent = parent_of(d);
        if !parent.is_root() && !index.contains_key(&parent) {
            r.push(format!(
                "its parent department {parent} is not in the snapshot (outside the app's \
                 contact scope, or it failed to load)"
            ));
        }
        match check_unit_name(&d.name) {
            Ok(name) => {
                let lower = name.to_lowercase();
                if let Some(parent_unit) = view.unit_of(parent)
                    && let Some(owner) = view.unit_names.get(&(parent_unit.clone(), lower.clone()))
                    && view.units.get(&d.dept_id).map(|u| &u.id) != Some(owner)
                    && !ours.contains(owner)
                {
                    r.push(format!(
                        "an org unit named {name:?} already exists under the same parent in the \
                         directory and is not linked to a DingTalk department (rename or link it)"
                    ));
                }
                names.entry((parent, lower)).or_default().push(i);
            }
            Err(e) => r.push(e.to_string()),
        }
    }
    for holders in names.values().filter(|h| h.len() > 1) {
        for &i in holders {
            let others = holders
                .iter()
                .filter(|&&j| j != i)
                .filter_map(|&j| depts.get(j).map(|d| d.dept_id.to_string()));
            if let (Some(r), Some(d)) = (reasons.get_mut(i), depts.get(i)) {
                r.push(format!(
                    "the name {:?} is also used by department {} under the same parent",
                    d.name.trim(),
                    name_list(others)
                ));
            }
        }
    }
    // A department under one that cannot be imported cannot be imported either.
    for i in parents_first(depts) {
        let Some(d) = depts.get(i) else { continue };
        if d.dept_id.is_root() {
            continue;
        }
        let parent = parent_of(d);
        let parent_bad = index
            .get(&parent)
            .and_then(|&p| reasons.get(p))
            .is_some_and(|r| !r.is_empty());
        let on_cycle = is_on_cycle(depts, &index, i);
        if let Some(r) = reasons.get_mut(i) {
            if on_cycle {
                r.push("its parent chain loops back to itself".to_owned());
            } else if parent_bad && !parent.is_root() {
                r.push(format!("its parent department {parent} cannot be imported"));
            }
        }
    }
    reasons.into_iter().map(Verdict::of).collect()
}

/// True when following parents from `start` comes back to it (only possible in corrupt input,
/// but a cycle must not make apply loop).
fn is_on_cycle(depts: &[StagedDept], index: &HashMap<DeptId, usize>, start: usize) -> bool {
    let Some(me) = depts.get(start).map(|d| d.dept_id) else {
        return false;
    };
    let mut at = me;
    for _ in 0..depts.len() {
        let Some(d) = index.get(&at).and_then(|&i| depts.get(i)) else {
            return false;
        };
        if d.dept_id.is_root() {
            return false;
        }
        at = parent_of(d);
        if at == me {
            return true;
        }
    }
    false
}

/// "a, b, c and 4 more".
fn name_list(others: impl Iterator<Item = String>) -> String {
    let all: Vec<String> = others.collect();
    let shown = all
        .iter()
        .take(NAMED_OTHERS)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if all.len() > NAMED_OTHERS {
        format!("{shown} and {} more", all.len() - NAMED_OTHERS)
    } else {
        shown
    }
}

/// One kind of unique value, normalised per user (`None` when absent or unparseable: those rows
/// are already refused by `desired_account`).
struct Unique<'a> {
    kind: &'static str,
    values: Vec<Option<String>>,
    owners: &'a HashMap<String, AccountId>,
    /// Usernames of mapped accounts never change, so only creates are checked against owners.
    creates_only: bool,
}

fn validate_users(
    snapshot: &Snapshot,
    dept_verdicts: &[Verdict],
    view: &DirectoryView,
    email_field: EmailField,
) -> Vec<Verdict> {
    let users = &snapshot.users;
    let dept_index: HashMap<DeptId, usize> = snapshot
        .depts
        .iter()
        .enumerate()
        .map(|(i, d)| (d.dept_id, i))
        .collect();
    let user_index: HashMap<&DingUserId, usize> = users
        .iter()
        .enumerate()
        .map(|(i, u)| (&u.userid, i))
        .collect();
    // Which DingTalk user of this connector each mapped account belongs to.
    let linked: HashMap<&AccountId, &DingUserId> =
        view.accounts.iter().map(|(u, a)| (&a.id, u)).collect();

    let mut reasons: Vec<Vec<String>> = Vec::with_capacity(users.len());
    for u in users {
        let mut r: Vec<String> = match desired_account(&u.to_ding(), email_field) {
            Ok(_) => Vec::new(),
            Err(problems) => problems.iter().map(ToString::to_string).collect(),
        };
        for d in &u.dept_ids {
            if let Some(&i) = dept_index.get(d)
                && dept_verdicts.get(i).is_some_and(|v| !v.is_valid())
            {
                let name = snapshot.depts.get(i).map(|d| d.name.as_str()).unwrap_or("");
                r.push(format!("its department {d} ({name}) cannot be imported"));
            }
        }
        reasons.push(r);
    }

    let uniques = [
        Unique {
            kind: "username",
            values: users
                .iter()
                .map(|u| match view.accounts.get(&u.userid) {
                    Some(a) => Some(a.username.clone()),
                    None => username_for(&u.userid).ok().map(String::from),
                })
                .collect(),
            owners: &view.usernames,
            creates_only: true,
        },
        Unique {
            kind: "email",
            values: users.iter().map(|u| email_of(u, email_field)).collect(),
            owners: &view.emails,
            creates_only: false,
        },
        Unique {
            kind: "mobile",
            values: users
                .iter()
                .map(|u| {
                    u.mobile
                        .as_deref()
                        .and_then(|m| Mobile::parse(m).ok())
                        .map(String::from)
                })
                .collect(),
            owners: &view.mobiles,
            creates_only: false,
        },
    ];
    for unique in &uniques {
        flag_duplicates(users, unique, view, &mut reasons);
        flag_owned(users, unique, view, &user_index, &linked, &mut reasons);
    }
    reasons.into_iter().map(Verdict::of).collect()
}

/// The chosen email field, normalised.
pub(super) fn email_of(u: &StagedUser, field: EmailField) -> Option<String> {
    let raw = match field {
        EmailField::Email => u.email.as_deref(),
        EmailField::OrgEmail => u.org_email.as_deref(),
    };
    raw.map(str::trim)
        .filter(|s| !s.is_empty())
        .and_then(|s| Email::parse(s).ok())
        .map(String::from)
}

/// Every holder of a value that several staged users share gets a reason naming the others.
fn flag_duplicates(
    users: &[StagedUser],
    unique: &Unique<'_>,
    view: &DirectoryView,
    reasons: &mut [Vec<String>],
) {
    let mut first: HashMap<&str, usize> = HashMap::with_capacity(users.len());
    let mut shared: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, v) in unique.values.iter().enumerate() {
        let Some(v) = v.as_deref() else { continue };
        match first.get(v) {
            Some(&j) => shared.entry(v).or_insert_with(|| vec![j]).push(i),
            None => {
                first.insert(v, i);
            }
        }
    }
    for (value, holders) in shared {
        for &i in &holders {
            // An existing account keeps its username; only the newcomer cannot have it.
            if unique.creates_only
                && users
                    .get(i)
                    .is_some_and(|u| view.accounts.contains_key(&u.userid))
            {
                continue;
            }
            let others = holders
                .iter()
                .filter(|&&j| j != i)
                .filter_map(|&j| users.get(j).map(|u| u.userid.to_string()));
            if let Some(r) = reasons.get_mut(i) {
                r.push(format!(
                    "{} {value} is also used by DingTalk user {}",
                    unique.kind,
                    name_list(others)
                ));
            }
        }
    }
}

/// A value held in the directory by another account refuses the row, unless that account is
/// linked to another DingTalk user of this connector who gives the value up in this very pull
/// (a mobile moved from one person to another: the reconciler updates the holder first).
fn flag_owned(
    users: &[StagedUser],
    unique: &Unique<'_>,
    view: &DirectoryView,
    user_index: &HashMap<&DingUserId, usize>,
    linked: &HashMap<&AccountId, &DingUserId>,
    reasons: &mut [Vec<String>],
) {
    for (i, (u, v)) in users.iter().zip(&unique.values).enumerate() {
        let Some(v) = v.as_deref() else { continue };
        let Some(owner) = unique.owners.get(v) else {
            continue;
        };
        let mine = view.accounts.get(&u.userid).map(|a| &a.id);
        if mine == Some(owner) || (unique.creates_only && mine.is_some()) {
            continue;
        }
        let reason = match linked.get(owner) {
            Some(other) => match user_index.get(other) {
                Some(&j) => {
                    let theirs = unique.values.get(j).and_then(|x| x.as_deref());
                    // Both hold it in the snapshot: already reported as a duplicate.
                    if theirs == Some(v) {
                        continue;
                    }
                    // The other user gives the value up in this pull (a mobile moved from one
                    // person to another): the reconciler updates the holder first. Usernames
                    // are kept for life, so they are never given up.
                    if theirs.is_some() && !unique.creates_only {
                        continue;
                    }
                    format!(
                        "{} {v} belongs to the directory account of DingTalk user {other}",
                        unique.kind
                    )
                }
                None => format!(
                    "{} {v} belongs to the directory account of DingTalk user {other}, who is \
                     not in this pull (a leaver keeps its values)",
                    unique.kind
                ),
            },
            None => format!(
                "{} {v} belongs to directory account {owner}, which is not linked to this \
                 DingTalk user (change it there, or link that account)",
                unique.kind
            ),
        };
        if let Some(r) = reasons.get_mut(i) {
            r.push(reason);
        }
    }
}
