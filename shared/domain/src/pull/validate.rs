//! Row validation of a staged snapshot: every reason a row cannot be imported, in words an admin
//! can act on. Accounts reuse `sync::rules::desired_account`, so a pull and an event refuse the
//! same users for the same reasons; a duplicate flags every holder, never just the second one.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::view::{Key, KeyIndex, ValueKind};
use super::{DirectoryView, MappedAccount, PullRules, Snapshot, StagedDept, StagedUser};
use crate::connector::EmailField;
use crate::dingtalk::{DeptId, DingUserId};
use crate::ids::AccountId;
use crate::rules::username_for;
use crate::values::{Email, Mobile, check_unit_name};

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
    let index = index_of(&snapshot.users, view, rules.email_field);
    let units = UnitVerdicts::new(&snapshot.depts, &depts);
    let users = snapshot
        .users
        .iter()
        .map(|u| validate_user(u, view, &index, &units, rules.email_field))
        .collect();
    Validation {
        depts,
        users,
        blocking: default_password_problems(rules),
    }
}

/// The index of users held in memory.
pub fn index_of(
    users: &[StagedUser],
    view: &DirectoryView,
    email_field: EmailField,
) -> SnapshotIndex {
    let mut index = SnapshotIndex::with_capacity(users.len());
    for u in users {
        index.add(u, view, email_field);
    }
    index.seal();
    index
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

/// Validates the departments (all of them at once: an org has thousands, not hundreds of
/// thousands, and names and parents are checked across the whole tree).
pub fn validate_depts(depts: &[StagedDept], view: &DirectoryView) -> Vec<Verdict> {
    let index: HashMap<DeptId, usize> = depts
        .iter()
        .enumerate()
        .map(|(i, d)| (d.dept_id, i))
        .collect();
    let mut reasons: Vec<Vec<String>> = vec![Vec::new(); depts.len()];
    let mut names: HashMap<(DeptId, String), Vec<usize>> = HashMap::new();
    let ours: HashSet<&crate::ids::OrgUnitId> = view.units.values().map(|u| &u.id).collect();
    for (i, d) in depts.iter().enumerate() {
        // DingTalk's root is the connector's root unit: it is never created, renamed or moved.
        if d.dept_id.is_root() {
            continue;
        }
        let Some(r) = reasons.get_mut(i) else {
            continue;
        };
        r.extend(d.clipped.iter().map(super::Clipped::reason));
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

/// The unique values a user must not share, in the order their reasons are given.
const KINDS: [(ValueKind, &str); 3] = [
    (ValueKind::Username, "username"),
    (ValueKind::Email, "email"),
    (ValueKind::Mobile, "mobile"),
];

/// What validating one user needs to know about the whole snapshot: which rows hold which
/// unique value. Built in one pass over the staged users, which it does not keep (about 100 bytes
/// a user), so a 100,000-user snapshot can be validated a page at a time. Add every user, then
/// `seal` it.
#[derive(Clone, Debug, Default)]
pub struct SnapshotIndex {
    /// Key of a userid → ordinal.
    users: KeyIndex,
    /// Ordinal → userid (to name the other holders of a value).
    userids: Vec<DingUserId>,
    /// Key of a unique value → its holders' ordinals.
    values: KeyIndex,
    /// Ordinal → which kinds of `KINDS` the user holds a value of (one bit each).
    held: Vec<u8>,
}

impl SnapshotIndex {
    /// An index sized for `users` users.
    pub fn with_capacity(users: usize) -> Self {
        Self {
            users: KeyIndex::with_capacity(users),
            userids: Vec::with_capacity(users),
            values: KeyIndex::with_capacity(users.saturating_mul(KINDS.len())),
            held: Vec::with_capacity(users),
        }
    }

    /// Adds a staged user (one row per userid, as the stager writes them).
    pub fn add(&mut self, u: &StagedUser, view: &DirectoryView, email_field: EmailField) {
        let ordinal = self.userids.len() as u32;
        self.users.push(
            view.keys().of(ValueKind::UserId, u.userid.as_str()),
            ordinal,
        );
        self.userids.push(u.userid.clone());
        let mut held = 0u8;
        let mapped = view.mapped(&u.userid);
        for (bit, v) in unique_values(u, mapped, view, email_field)
            .iter()
            .enumerate()
        {
            if let Some(k) = v.key {
                held |= 1 << bit;
                self.values.push(k, ordinal);
            }
        }
        self.held.push(held);
    }

    /// Sorts the index once every user is in.
    pub fn seal(&mut self) {
        self.users.seal();
        self.values.seal();
        self.userids.shrink_to_fit();
        self.held.shrink_to_fit();
    }

    pub fn len(&self) -> usize {
        self.userids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.userids.is_empty()
    }

    /// True when the snapshot has a row for this DingTalk user.
    pub fn contains(&self, view: &DirectoryView, userid: &DingUserId) -> bool {
        self.ordinal(view, userid).is_some()
    }

    fn ordinal(&self, view: &DirectoryView, userid: &DingUserId) -> Option<u32> {
        self.users
            .first(view.keys().of(ValueKind::UserId, userid.as_str()))
    }

    fn holds(&self, ordinal: u32, kind: usize) -> bool {
        self.held
            .get(ordinal as usize)
            .is_some_and(|h| h & (1 << kind) != 0)
    }
}

/// One unique value of a user: its key, and its text when a reason may have to show it.
struct UniqueValue {
    key: Option<Key>,
    text: Option<String>,
}

impl UniqueValue {
    fn of(view: &DirectoryView, kind: ValueKind, text: Option<String>) -> Self {
        Self {
            key: text.as_deref().map(|t| view.keys().of(kind, t)),
            text,
        }
    }
}

/// A user's unique values in `KINDS` order, normalised (`None` when absent or unparseable: those
/// rows are refused by `desired_account` already). A mapped account keeps the username it has.
fn unique_values(
    u: &StagedUser,
    mapped: Option<&MappedAccount>,
    view: &DirectoryView,
    email_field: EmailField,
) -> [UniqueValue; 3] {
    let username = match mapped {
        Some(m) => UniqueValue {
            key: Some(m.username),
            text: None,
        },
        None => UniqueValue::of(
            view,
            ValueKind::Username,
            username_for(&u.userid).ok().map(String::from),
        ),
    };
    let mobile = u
        .mobile
        .as_deref()
        .and_then(|m| Mobile::parse(m).ok())
        .map(String::from);
    [
        username,
        UniqueValue::of(view, ValueKind::Email, email_of(u, email_field)),
        UniqueValue::of(view, ValueKind::Mobile, mobile),
    ]
}

/// The departments' verdicts as the users' validation reads them.
pub struct UnitVerdicts<'a> {
    depts: &'a [StagedDept],
    verdicts: &'a [Verdict],
    index: HashMap<DeptId, usize>,
}

impl<'a> UnitVerdicts<'a> {
    pub fn new(depts: &'a [StagedDept], verdicts: &'a [Verdict]) -> Self {
        let index = depts
            .iter()
            .enumerate()
            .map(|(i, d)| (d.dept_id, i))
            .collect();
        Self {
            depts,
            verdicts,
            index,
        }
    }

    /// The departments that can be imported (their units exist or are created by the run).
    pub fn valid_depts(&self) -> HashSet<DeptId> {
        self.depts
            .iter()
            .zip(self.verdicts)
            .filter(|(_, v)| v.is_valid())
            .map(|(d, _)| d.dept_id)
            .collect()
    }
}

/// Validates one staged user against the snapshot (through its index) and the directory.
pub fn validate_user(
    u: &StagedUser,
    view: &DirectoryView,
    index: &SnapshotIndex,
    units: &UnitVerdicts<'_>,
    email_field: EmailField,
) -> Verdict {
    let mut r: Vec<String> = u.clipped.iter().map(super::Clipped::reason).collect();
    if let Err(problems) = view.desired(u, email_field) {
        r.extend(problems.iter().map(ToString::to_string));
    }
    for d in &u.dept_ids {
        if let Some(&i) = units.index.get(d)
            && units.verdicts.get(i).is_some_and(|v| !v.is_valid())
        {
            let name = units.depts.get(i).map(|d| d.name.as_str()).unwrap_or("");
            r.push(format!("its department {d} ({name}) cannot be imported"));
        }
    }
    let me = index.ordinal(view, &u.userid);
    let mine = view.mapped(&u.userid);
    let mine_id = mine.and_then(|m| view.account_id(m));
    for (kind, (v, (_, name))) in unique_values(u, mine, view, email_field)
        .iter()
        .zip(KINDS)
        .enumerate()
    {
        let Some(key) = v.key else { continue };
        let text = v.text.as_deref().unwrap_or("");
        // Usernames of mapped accounts never change, so only creates are checked.
        let creates_only = kind == 0;
        if creates_only && mine.is_some() {
            continue;
        }
        // Every holder of a value that several staged users share gets a reason naming the
        // others.
        if index.values.values(key).nth(1).is_some() {
            let others = index
                .values
                .values(key)
                .filter(|&j| Some(j) != me)
                .filter_map(|j| index.userids.get(j as usize).map(ToString::to_string));
            r.push(format!(
                "{name} {text} is also used by DingTalk user {}",
                name_list(others)
            ));
        }
        if let Some(reason) = owned(view, index, key, kind, mine_id, (name, text)) {
            r.push(reason);
        }
    }
    Verdict::of(r)
}

/// A value held in the directory by another account refuses the row, unless that account is
/// linked to another DingTalk user of this connector who gives the value up in this very pull
/// (a mobile moved from one person to another: the reconciler updates the holder first).
fn owned(
    view: &DirectoryView,
    index: &SnapshotIndex,
    key: Key,
    kind: usize,
    mine: Option<&AccountId>,
    (name, v): (&str, &str),
) -> Option<String> {
    let (owner, linked) = view.owner(key)?;
    if mine == Some(owner) {
        return None;
    }
    Some(match linked {
        Some(other) => match index.ordinal(view, other) {
            Some(j) => {
                // Both hold it in the snapshot: already reported as a duplicate.
                if index.values.values(key).any(|h| h == j) {
                    return None;
                }
                // The other user gives the value up in this pull. Usernames are kept for life,
                // so they are never given up.
                if index.holds(j, kind) && kind != 0 {
                    return None;
                }
                format!("{name} {v} belongs to the directory account of DingTalk user {other}")
            }
            None => format!(
                "{name} {v} belongs to the directory account of DingTalk user {other}, who is \
                 not in this pull (a leaver keeps its values)"
            ),
        },
        None => format!(
            "{name} {v} belongs to directory account {owner}, which is not linked to this \
             DingTalk user (change it there, or link that account)"
        ),
    })
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
