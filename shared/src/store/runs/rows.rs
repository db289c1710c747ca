//! A run's staging rows (the preview the admin reviews) and its checkpoint. Row keys are the
//! DingTalk ids, so writing a row again (a resumed pull) overwrites it instead of adding one.

use serde::{Deserialize, Serialize};

use super::{ROW_TTL_SECS, RunError, RunId, Runs};
use crate::domain::ids::{AccountId, OrgUnitId};
use crate::domain::pull::{
    DeptPlan, FieldChange, Leaver, RemovedUnit, RowAction, StagedDept, StagedUser, UserPlan,
    Verdict,
};
use crate::domain::values::InvalidField;
use crate::ports::{BatchOp, Cond, Index, IndexKey, Item, Key, Query, SkRange, TableError};
use crate::store::keys::esc;
use crate::store::{DirectoryError, PageOf, decode, encode};

/// Departments (org units) or users (accounts).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RowKind {
    Dept,
    User,
}

impl RowKind {
    fn letter(self) -> &'static str {
        match self {
            Self::Dept => "D",
            Self::User => "U",
        }
    }
}

/// A row's identity inside its run: kind and DingTalk id. Its text form `D:{dept_id}` /
/// `U:{userid}` is the `{row_id}` of the admin API (no `#`, so it survives a URL path).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RowRef {
    pub kind: RowKind,
    /// The department id in decimal, or the userid.
    pub key: String,
}

impl RowRef {
    pub fn dept(id: crate::dingtalk::DeptId) -> Self {
        Self {
            kind: RowKind::Dept,
            key: id.to_string(),
        }
    }

    pub fn user(id: &crate::dingtalk::DingUserId) -> Self {
        Self {
            kind: RowKind::User,
            key: id.as_str().to_owned(),
        }
    }

    pub fn parse(row_id: &str) -> Result<Self, InvalidField> {
        let bad = || InvalidField::new("row_id", "must be D:{dept_id} or U:{userid}");
        let (kind, key) = row_id.split_once(':').ok_or_else(bad)?;
        let kind = match kind {
            "D" => RowKind::Dept,
            "U" => RowKind::User,
            _ => return Err(bad()),
        };
        if key.is_empty() {
            return Err(bad());
        }
        Ok(Self {
            kind,
            key: key.to_owned(),
        })
    }

    pub fn row_id(&self) -> String {
        format!("{}:{}", self.kind.letter(), self.key)
    }

    fn sk(&self) -> String {
        format!("ROW#{}#{}", self.kind.letter(), esc(&self.key))
    }

    fn index_sk(&self) -> String {
        format!("{}#{}", self.kind.letter(), esc(&self.key))
    }
}

/// What a row holds: a staged record, or (for disable rows) what the directory is about to lose;
/// in a push run, the directory entity and what DingTalk is to do with it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RowBody {
    Dept(StagedDept),
    User(StagedUser),
    Leaver(Leaver),
    RemovedUnit(RemovedUnit),
    Push(PushRow),
}

/// A push run's row: one org unit (`dept` rows) or account (`user` rows) of the pushed subtree,
/// keyed by our id. `changes` on the row say what DingTalk is to get; `outcome` is filled in when
/// the row is applied, so a resumed apply skips the rows already done.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushRow {
    /// The unit's name or the account's display name.
    pub name: String,
    /// Levels below the push root (the root's children are 1); an account's is the deepest of
    /// its units, so it is applied once every department it needs exists.
    pub depth: u32,
    /// The DingTalk department id or userid already mapped, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dingtalk_id: Option<String>,
    /// What the apply did (`created`, `updated`, `linked`, `deleted`, `unchanged`, …, or
    /// `failed`); `None` until applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// Why the apply failed or what it left for an admin (a parked reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// One staging row as stored and as the admin API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagingRow {
    pub kind: RowKind,
    /// The department id in decimal, or the userid.
    pub key: String,
    pub action: RowAction,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<FieldChange>,
    #[serde(default)]
    pub moved: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<AccountId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_id: Option<OrgUnitId>,
    pub body: RowBody,
}

impl StagingRow {
    pub fn row_ref(&self) -> RowRef {
        RowRef {
            kind: self.kind,
            key: self.key.clone(),
        }
    }

    pub fn row_id(&self) -> String {
        self.row_ref().row_id()
    }

    /// A staged department's row (takes the record: the snapshot is not copied).
    pub fn dept(d: StagedDept, verdict: &Verdict, p: &DeptPlan) -> Self {
        Self {
            kind: RowKind::Dept,
            key: d.dept_id.to_string(),
            action: p.action,
            reasons: verdict.reasons().to_vec(),
            changes: p.changes.clone(),
            moved: p.moved,
            account_id: None,
            unit_id: p.unit_id.clone(),
            body: RowBody::Dept(d),
        }
    }

    /// A staged user's row (takes the record: the snapshot is not copied).
    pub fn user(u: StagedUser, verdict: &Verdict, p: &UserPlan) -> Self {
        Self {
            kind: RowKind::User,
            key: u.userid.as_str().to_owned(),
            action: p.action,
            reasons: verdict.reasons().to_vec(),
            changes: p.changes.clone(),
            moved: p.moved,
            account_id: p.account_id.clone(),
            unit_id: None,
            body: RowBody::User(u),
        }
    }

    /// A leaver's row: the account to disable (or delete, by the connector's leaver policy).
    pub fn leaver(l: Leaver) -> Self {
        Self {
            kind: RowKind::User,
            key: l.userid.as_str().to_owned(),
            action: RowAction::Disable,
            reasons: Vec::new(),
            changes: Vec::new(),
            moved: false,
            account_id: Some(l.account_id.clone()),
            unit_id: None,
            body: RowBody::Leaver(l),
        }
    }

    /// A removed department's row: the unit to delete (when empty).
    pub fn removed_unit(r: RemovedUnit) -> Self {
        Self {
            kind: RowKind::Dept,
            key: r.dept_id.to_string(),
            action: RowAction::Disable,
            reasons: Vec::new(),
            changes: Vec::new(),
            moved: false,
            account_id: None,
            unit_id: Some(r.unit_id.clone()),
            body: RowBody::RemovedUnit(r),
        }
    }
}

impl StagingRow {
    /// A push run's row for an org unit or an account (`kind` `Dept` or `User`, keyed by our id).
    pub fn push(
        kind: RowKind,
        our_id: &str,
        action: RowAction,
        reasons: Vec<String>,
        changes: Vec<FieldChange>,
        body: PushRow,
    ) -> Self {
        let (account_id, unit_id) = match kind {
            RowKind::User => (AccountId::parse(our_id).ok(), None),
            RowKind::Dept => (None, OrgUnitId::parse(our_id).ok()),
        };
        Self {
            kind,
            key: our_id.to_owned(),
            action,
            reasons,
            changes,
            moved: false,
            account_id,
            unit_id,
            body: RowBody::Push(body),
        }
    }

    /// The push body of a push run's row.
    pub fn push_body(&self) -> Option<&PushRow> {
        match &self.body {
            RowBody::Push(p) => Some(p),
            _ => None,
        }
    }
}

/// Which rows a review listing shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowFilter {
    All,
    Only(RowAction),
}

impl RowFilter {
    /// `all`, `invalid`, `create`, `update`, `disable`, `unchanged` (the admin API's `filter`).
    pub fn parse(s: &str) -> Result<Self, InvalidField> {
        if s == "all" {
            return Ok(Self::All);
        }
        RowAction::parse(s).map(Self::Only).ok_or_else(|| {
            InvalidField::new(
                "filter",
                "must be all, invalid, create, update, disable or unchanged",
            )
        })
    }
}

/// The walker's resumable state: opaque JSON, guarded by a version.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    pub version: u64,
    pub data: serde_json::Value,
}

fn run_pk(run: &RunId) -> String {
    format!("RUN#{run}")
}

fn rows_by_action(run: &RunId, action: RowAction) -> String {
    format!("RUNROWS#{run}#{}", action.as_str())
}

fn checkpoint_key(run: &RunId) -> Key {
    Key::new(run_pk(run), "CKPT")
}

/// How many rows one internal page of a bulk delete reads.
const BULK_PAGE: usize = 500;

impl Runs {
    fn row_item(&self, run: &RunId, row: &StagingRow) -> Result<Item, DirectoryError> {
        let r = row.row_ref();
        let ttl = self.clock.now_seconds() + ROW_TTL_SECS;
        Ok(Item::new(Key::new(run_pk(run), r.sk()), 1, encode(row)?)
            .with_gsi1(IndexKey::new(rows_by_action(run, row.action), r.index_sk()))
            .with_ttl(ttl))
    }

    /// Writes rows in batches. Keys are the DingTalk ids: writing a row twice keeps one row
    /// (the later one), so a resumed pull or a re-plan never duplicates.
    pub async fn put_rows(&self, run: &RunId, rows: &[StagingRow]) -> Result<(), RunError> {
        let ops = rows
            .iter()
            .map(|r| self.row_item(run, r).map(BatchOp::Put))
            .collect::<Result<Vec<_>, _>>()?;
        if !ops.is_empty() {
            self.table.batch_write(ops).await?;
        }
        Ok(())
    }

    pub async fn row(&self, run: &RunId, r: &RowRef) -> Result<Option<StagingRow>, RunError> {
        match self.table.get(&Key::new(run_pk(run), r.sk())).await? {
            Some(item) => Ok(Some(decode(&item)?)),
            None => Ok(None),
        }
    }

    /// One page of a run's rows of one kind, optionally only those with one action, in key
    /// order (department id text, userid).
    pub async fn rows(
        &self,
        run: &RunId,
        kind: RowKind,
        filter: RowFilter,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<PageOf<StagingRow>, RunError> {
        let q = match filter {
            RowFilter::All => Query::partition(Index::Primary, run_pk(run))
                .range(SkRange::Prefix(format!("ROW#{}#", kind.letter()))),
            RowFilter::Only(action) => Query::partition(Index::Gsi1, rows_by_action(run, action))
                .range(SkRange::Prefix(format!("{}#", kind.letter()))),
        }
        .limit(limit.clamp(1, 1000))
        .after(cursor);
        Ok(PageOf::decoded(self.table.query(&q).await?)?)
    }

    /// Removes one row from the run (it will not be applied), takes it out of the run's planned
    /// counters and counts it in `removed_invalid`. Returns the removed row, `None` when there
    /// was none.
    pub async fn delete_row(
        &self,
        run: &RunId,
        r: &RowRef,
    ) -> Result<Option<StagingRow>, RunError> {
        let Some(row) = self.row(run, r).await? else {
            return Ok(None);
        };
        self.table
            .delete(&Key::new(run_pk(run), r.sk()), Cond::None)
            .await?;
        let (kind, action, moved) = (row.kind, row.action, row.moved);
        self.update(run, None, move |x| {
            x.counters.forget(kind, action, moved);
            x.counters.removed_invalid += 1;
        })
        .await?;
        Ok(Some(row))
    }

    /// Removes every invalid row of the run (departments and users) in one call, paging
    /// internally, and moves the run's invalid counter into `removed_invalid`. Returns how many
    /// rows were removed.
    pub async fn remove_invalid(&self, run: &RunId) -> Result<u64, RunError> {
        let mut removed = 0u64;
        loop {
            // Always the first page: the rows deleted by the previous round are gone from it.
            let q = Query::partition(Index::Gsi1, rows_by_action(run, RowAction::Invalid))
                .limit(BULK_PAGE);
            let page = self.table.query(&q).await?;
            if page.items.is_empty() {
                break;
            }
            removed += page.items.len() as u64;
            let ops = page
                .items
                .into_iter()
                .map(|i| BatchOp::Delete(i.key))
                .collect();
            self.table.batch_write(ops).await?;
        }
        self.update(run, None, move |x| {
            x.counters.invalid_rows = 0;
            x.counters.removed_invalid += removed;
        })
        .await?;
        Ok(removed)
    }

    /// Drops every row of the run (discard). The run record and checkpoint stay.
    pub async fn drop_rows(&self, run: &RunId) -> Result<u64, RunError> {
        let mut removed = 0u64;
        loop {
            let q = Query::partition(Index::Primary, run_pk(run))
                .range(SkRange::Prefix("ROW#".to_owned()))
                .limit(BULK_PAGE);
            let page = self.table.query(&q).await?;
            if page.items.is_empty() {
                break;
            }
            removed += page.items.len() as u64;
            let ops = page
                .items
                .into_iter()
                .map(|i| BatchOp::Delete(i.key))
                .collect();
            self.table.batch_write(ops).await?;
        }
        Ok(removed)
    }

    pub async fn checkpoint(&self, run: &RunId) -> Result<Option<Checkpoint>, RunError> {
        Ok(self
            .table
            .get(&checkpoint_key(run))
            .await?
            .map(|item| Checkpoint {
                version: item.version,
                data: item.data,
            }))
    }

    /// Stores the checkpoint: created when `expected_version` is `None` (and none exists),
    /// replaced when it equals the stored version. Returns the new version; a mismatch is
    /// [`RunError::Stale`] (another invocation moved the pull on: this one must stop).
    pub async fn put_checkpoint(
        &self,
        run: &RunId,
        data: serde_json::Value,
        expected_version: Option<u64>,
    ) -> Result<u64, RunError> {
        let (cond, version) = match expected_version {
            Some(v) => (Cond::Version(v), v + 1),
            None => (Cond::Absent, 1),
        };
        match self
            .table
            .put(Item::new(checkpoint_key(run), version, data), cond)
            .await
        {
            Ok(()) => Ok(version),
            Err(TableError::ConditionFailed) => Err(RunError::Stale),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn delete_checkpoint(&self, run: &RunId) -> Result<(), RunError> {
        Ok(self.table.delete(&checkpoint_key(run), Cond::None).await?)
    }
}
