//! The reconciler's users half and its shared context: re-read a DingTalk user, then create,
//! update, disable or delete the account mapped to it. Departments live in `departments.rs`.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::sync::OnceCell;

use super::rules::{DesiredAccount, describe, desired_linked_account};
use super::{Applied, Outcome, SyncError};
use crate::dingtalk::{DeptId, DingApp, DingTalk, DingUser, DingUserId, ErrorKind, SecretString};
use crate::domain::connector::{Connector, LeaverPolicy, PushDeletePolicy};
use crate::domain::directory::{Account, AccountStatus, Membership, normalise_memberships};
use crate::domain::ids::{AccountId, ConnectorId, OrgUnitId};
use crate::store::Actor;
use crate::store::DirectoryError;
use crate::store::connectors::Connectors;
use crate::store::directory::Directory;
use crate::store::mappings::{MappedKind, Mapping, Mappings};
use crate::store::settings::Settings;

/// How deep one reconcile may recurse into others (ancestors, the holder of a conflicting value,
/// the members of a removed unit). DingTalk's tree is shallower; the bound turns a cycle into a
/// permanent error instead of endless work.
pub(super) const MAX_DEPTH: u8 = 24;

/// One connector, loaded once per batch: its settings, its DingTalk app, and its default password.
pub struct SyncTarget {
    pub connector: Connector,
    pub app: DingApp,
    default_password: Option<SecretString>,
    /// The password policy's "change the default password at first sign-in", read with the target.
    must_change_default: bool,
    /// One argon2 hash of the default password, shared by the accounts created with it: hashing
    /// per account would make a 100,000-user import take hours, and the value is the same known
    /// default for all of them anyway.
    password_hash: OnceCell<Option<String>>,
}

impl SyncTarget {
    pub fn id(&self) -> &ConnectorId {
        &self.connector.id
    }

    async fn default_password_hash(&self) -> Result<Option<String>, SyncError> {
        self.password_hash
            .get_or_try_init(|| async {
                let Some(password) = self.default_password.clone() else {
                    return Ok(None);
                };
                let hashed = tokio::task::spawn_blocking(move || {
                    crate::secrets::hash_password(password.expose())
                })
                .await
                .map_err(|e| SyncError::Transient(format!("hashing task failed: {e}")))?;
                hashed
                    .map(Some)
                    .map_err(|e| SyncError::Permanent(format!("default password: {e}")))
            })
            .await
            .cloned()
    }
}

/// Makes the directory match DingTalk, one user or one department at a time. Idempotent and
/// order-insensitive: it always re-reads DingTalk and writes only what differs.
#[derive(Clone)]
pub struct Reconciler {
    pub(super) dingtalk: Arc<dyn DingTalk>,
    pub(super) directory: Directory,
    pub(super) mappings: Mappings,
    connectors: Connectors,
    settings: Settings,
}

impl Reconciler {
    /// The reconciler over one table: the stores it needs, built the same way by every function
    /// that reconciles (the sync worker, the full pull).
    pub fn over_table(
        dingtalk: Arc<dyn DingTalk>,
        table: Arc<dyn crate::ports::Table>,
        clock: Arc<dyn crate::ports::Clock>,
        secrets: crate::secrets::SecretBox,
    ) -> Self {
        Self::new(
            dingtalk,
            Directory::new(table.clone(), clock.clone()),
            Mappings::new(table.clone()),
            Connectors::new(table.clone(), clock.clone(), secrets),
            Settings::new(table, clock),
        )
    }

    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    pub fn mappings(&self) -> &Mappings {
        &self.mappings
    }

    pub fn connectors(&self) -> &Connectors {
        &self.connectors
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn new(
        dingtalk: Arc<dyn DingTalk>,
        directory: Directory,
        mappings: Mappings,
        connectors: Connectors,
        settings: Settings,
    ) -> Self {
        Self {
            dingtalk,
            directory,
            mappings,
            connectors,
            settings,
        }
    }

    /// Loads a connector for syncing. Unknown and disabled connectors are permanent errors: their
    /// messages are parked, visible to the admin, rather than silently dropped.
    pub async fn target(&self, id: &ConnectorId) -> Result<SyncTarget, SyncError> {
        let what = format!("connector {id}");
        let connector = self
            .connectors
            .get(id)
            .await
            .map_err(|e| SyncError::directory(e, &what))?
            .ok_or_else(|| SyncError::Permanent(format!("{what} does not exist")))?;
        if !connector.enabled {
            return Err(SyncError::Permanent(format!("{what} is disabled")));
        }
        let app = self
            .connectors
            .app(&connector)
            .map_err(|e| SyncError::directory(e, &what))?;
        let secrets = self
            .connectors
            .open_secrets(&connector)
            .map_err(|e| SyncError::directory(e, &what))?;
        let root = &connector.root_org_unit_id;
        if *root == Directory::root_id() {
            self.directory
                .ensure_root()
                .await
                .map_err(|e| SyncError::directory(e, "directory root"))?;
        } else if self
            .directory
            .org_unit(root)
            .await
            .map_err(|e| SyncError::directory(e, &what))?
            .is_none()
        {
            return Err(SyncError::Permanent(format!(
                "{what}: its root org unit {root} does not exist"
            )));
        }
        let policy = self
            .settings
            .password_policy()
            .await
            .map_err(|e| SyncError::directory(e, "password policy"))?;
        Ok(SyncTarget {
            connector,
            app,
            default_password: secrets.default_password,
            must_change_default: policy.change_default_at_first_login,
            password_hash: OnceCell::new(),
        })
    }

    /// Re-reads one DingTalk user and reconciles its account (60121 → the leaver policy).
    pub async fn reconcile_user(
        &self,
        t: &SyncTarget,
        userid: &DingUserId,
        actor: &Actor,
    ) -> Result<Outcome, SyncError> {
        self.user_by_id(t, userid, actor, 0).await
    }

    /// Reconciles a user record of a snapshot that began at `snapshot_ms` (the full pull's
    /// rows). An account written after that may hold a newer state than the record (an event
    /// applied while the run waited for review): DingTalk is re-read instead, so a confirm never
    /// moves an account back.
    pub async fn apply_user(
        &self,
        t: &SyncTarget,
        user: &DingUser,
        snapshot_ms: i64,
        actor: &Actor,
    ) -> Result<Applied, SyncError> {
        let account = self.mapped_account(t, &user.userid).await?;
        if account.as_ref().is_some_and(|a| a.updated_ms > snapshot_ms) {
            return self.reread_user(t, Some(user), &user.userid, actor).await;
        }
        let outcome = self.write_user(t, user, account, actor, 0).await?;
        Ok(Applied::staged(outcome))
    }

    /// Applies the leaver policy to a user a snapshot that began at `snapshot_ms` no longer had
    /// (the full pull's leavers); an account written since is re-read from DingTalk first (a
    /// rehire, say).
    pub async fn apply_leaver(
        &self,
        t: &SyncTarget,
        userid: &DingUserId,
        snapshot_ms: i64,
        actor: &Actor,
    ) -> Result<Applied, SyncError> {
        let moved = self
            .mapped_account(t, userid)
            .await?
            .is_some_and(|a| a.updated_ms > snapshot_ms);
        if moved {
            return self.reread_user(t, None, userid, actor).await;
        }
        Ok(Applied::staged(self.leaver(t, userid, actor).await?))
    }

    /// Reconciles a user from DingTalk's current record; `staged` is the snapshot's record
    /// (`None` for a leaver), to tell whether DingTalk changed since.
    async fn reread_user(
        &self,
        t: &SyncTarget,
        staged: Option<&DingUser>,
        userid: &DingUserId,
        actor: &Actor,
    ) -> Result<Applied, SyncError> {
        let (outcome, changed) = match self.dingtalk.get_user(&t.app, userid).await {
            Ok(fresh) => {
                let changed = staged.is_none_or(|s| !same_user(s, &fresh));
                (self.user_record(t, &fresh, actor, 0).await?, changed)
            }
            Err(e) if *e.kind() == ErrorKind::NotFound => {
                (self.leaver(t, userid, actor).await?, staged.is_some())
            }
            Err(e) => {
                return Err(SyncError::dingtalk(
                    &e,
                    &format!("reading DingTalk user {userid}"),
                ));
            }
        };
        Ok(Applied {
            outcome,
            reread: true,
            changed,
        })
    }

    pub(super) fn user_by_id<'a>(
        &'a self,
        t: &'a SyncTarget,
        userid: &'a DingUserId,
        actor: &'a Actor,
        depth: u8,
    ) -> BoxFuture<'a, Result<Outcome, SyncError>> {
        Box::pin(async move {
            if depth > MAX_DEPTH {
                return Err(too_deep(&format!("DingTalk user {userid}")));
            }
            match self.dingtalk.get_user(&t.app, userid).await {
                Ok(user) => self.user_record(t, &user, actor, depth).await,
                Err(e) if *e.kind() == ErrorKind::NotFound => self.leaver(t, userid, actor).await,
                Err(e) => Err(SyncError::dingtalk(
                    &e,
                    &format!("reading DingTalk user {userid}"),
                )),
            }
        })
    }

    async fn user_record(
        &self,
        t: &SyncTarget,
        user: &DingUser,
        actor: &Actor,
        depth: u8,
    ) -> Result<Outcome, SyncError> {
        let account = self.mapped_account(t, &user.userid).await?;
        self.write_user(t, user, account, actor, depth).await
    }

    /// Writes `user` over `account` (its mapped account as just read, `None` to create one).
    async fn write_user(
        &self,
        t: &SyncTarget,
        user: &DingUser,
        account: Option<Account>,
        actor: &Actor,
        depth: u8,
    ) -> Result<Outcome, SyncError> {
        let what = format!("DingTalk user {}", user.userid);
        if account
            .as_ref()
            .is_some_and(|a| parked_by_our_push(&t.connector, a, user))
        {
            return Ok(Outcome::Unchanged);
        }
        let has_email = account.as_ref().is_none_or(|a| a.email.is_some());
        let desired = desired_linked_account(user, t.connector.email_field, has_email)
            .map_err(|p| SyncError::Permanent(describe(&user.userid, &p)))?;
        let units = self.units_of(t, user, actor, depth).await?;
        let memberships = normalise_memberships(&units, None);
        let mut yielded = false;
        // The account read by the caller serves the first attempt; a retry reads it again.
        let mut known = Some(account);
        loop {
            let current = match known.take() {
                Some(a) => a,
                None => self.mapped_account(t, &user.userid).await?,
            };
            let written = match current {
                Some(account) => {
                    self.update_account(&account, &desired, &memberships, actor)
                        .await
                }
                None => {
                    let hash = t.default_password_hash().await?;
                    self.create_account(t, &user.userid, &desired, &memberships, hash, actor)
                        .await
                }
            };
            match written {
                Ok(outcome) => return Ok(outcome),
                // Another DingTalk user of this connector still holds the value in the directory
                // (a mobile moved from one person to another, events read out of order): bring
                // that one up to date first, then try once more.
                Err(DirectoryError::Conflict { attr, detail }) if !yielded => {
                    yielded = true;
                    if !self
                        .yield_value(t, attr, &desired, &user.userid, actor, depth)
                        .await?
                    {
                        return Err(SyncError::Permanent(format!(
                            "{what}: {detail}; that account is not linked to this DingTalk \
                             user, so it is not merged (link or change it, then re-drive)"
                        )));
                    }
                }
                Err(e) => return Err(SyncError::directory(e, &what)),
            }
        }
    }

    /// The org units of a user's departments, creating missing ones (ancestors first).
    /// Departments outside the app's contact scope are skipped, not fatal.
    async fn units_of(
        &self,
        t: &SyncTarget,
        user: &DingUser,
        actor: &Actor,
        depth: u8,
    ) -> Result<Vec<OrgUnitId>, SyncError> {
        let mut units = Vec::with_capacity(user.dept_ids.len());
        for dept in &user.dept_ids {
            match self.ensure_unit(t, *dept, actor, depth + 1).await {
                Ok(unit) => units.push(unit),
                Err(SyncError::OutOfScope(reason)) => {
                    tracing::info!(connector_id = %t.id(), dept_id = %dept, %reason,
                        "membership outside the contact scope skipped");
                }
                Err(e) => return Err(e),
            }
        }
        if units.is_empty() && !user.dept_ids.is_empty() {
            return Err(SyncError::Permanent(format!(
                "DingTalk user {}: none of its departments is inside the DingTalk app's \
                 contact scope",
                user.userid
            )));
        }
        Ok(units)
    }

    /// The account mapped to a DingTalk user; a mapping whose account is gone counts as none.
    async fn mapped_account(
        &self,
        t: &SyncTarget,
        userid: &DingUserId,
    ) -> Result<Option<Account>, SyncError> {
        let what = format!("DingTalk user {userid}");
        let Some(id) = self
            .mappings
            .account_of(t.id(), userid)
            .await
            .map_err(|e| SyncError::directory(e, &what))?
        else {
            return Ok(None);
        };
        self.directory
            .account(&id)
            .await
            .map_err(|e| SyncError::directory(e, &what))
    }

    async fn create_account(
        &self,
        t: &SyncTarget,
        userid: &DingUserId,
        d: &DesiredAccount,
        memberships: &[Membership],
        hash: Option<String>,
        actor: &Actor,
    ) -> Result<Outcome, DirectoryError> {
        let account = Account {
            scim: None,
            id: AccountId::generate(),
            username: d.username.clone(),
            display_name: d.display_name.clone(),
            email: d.email.clone(),
            mobile: Some(d.mobile.clone()),
            job_number: d.job_number.clone(),
            title: d.title.clone(),
            status: AccountStatus::Enabled,
            memberships: memberships.to_vec(),
            must_change_password: hash.is_some() && t.must_change_default,
            password_changed_ms: None,
            password_hash: hash,
            attributes: BTreeMap::new(),
            version: 0,
            created_ms: 0,
            updated_ms: 0,
        };
        let mapping = Mapping {
            connector_id: t.id().clone(),
            kind: MappedKind::User,
            external_id: userid.as_str().to_owned(),
            our_id: account.id.to_string(),
            unionid: None,
        };
        // The account and its mapping in one transaction: no account without its link.
        self.directory
            .create_account_with(account, actor, vec![Mappings::put_op(&mapping)?])
            .await?;
        Ok(Outcome::Created)
    }

    async fn update_account(
        &self,
        old: &Account,
        d: &DesiredAccount,
        memberships: &[Membership],
        actor: &Actor,
    ) -> Result<Outcome, DirectoryError> {
        let (d, memberships) = (d.clone(), memberships.to_vec());
        let new = self
            .directory
            .update_account(&old.id, None, actor, move |a| {
                // The username is kept: it was chosen at creation and people sign in with it.
                a.display_name = d.display_name.clone();
                a.email = d.email.clone();
                a.mobile = Some(d.mobile.clone());
                a.job_number = d.job_number.clone();
                a.title = d.title.clone();
                a.memberships = memberships.clone();
                // Present in DingTalk means employed: a rehire is enabled again.
                a.status = AccountStatus::Enabled;
                Ok(())
            })
            .await?;
        Ok(if new.version == old.version {
            Outcome::Unchanged
        } else {
            Outcome::Updated
        })
    }

    /// When `attr` of `desired` is held by an account mapped to another DingTalk user of this
    /// connector, reconciles that user. Returns false when the holder is not ours to change.
    async fn yield_value(
        &self,
        t: &SyncTarget,
        attr: &str,
        desired: &DesiredAccount,
        me: &DingUserId,
        actor: &Actor,
        depth: u8,
    ) -> Result<bool, SyncError> {
        let value = match attr {
            "username" => desired.username.to_string(),
            "email" => match &desired.email {
                Some(e) => e.to_string(),
                None => return Ok(false),
            },
            "mobile" => desired.mobile.to_string(),
            _ => return Ok(false),
        };
        let what = format!("DingTalk user {me}");
        let Some(holder) = self
            .directory
            .find_account(attr, &value)
            .await
            .map_err(|e| SyncError::directory(e, &what))?
        else {
            // Freed in the meantime: trying again may succeed.
            return Ok(true);
        };
        let links = self
            .mappings
            .of_entity(holder.id.as_str())
            .await
            .map_err(|e| SyncError::directory(e, &what))?;
        let other = links.into_iter().find(|m| {
            m.connector_id == *t.id() && m.kind == MappedKind::User && m.external_id != me.as_str()
        });
        let Some(other) = other else {
            return Ok(false);
        };
        let Ok(other) = DingUserId::parse(other.external_id) else {
            return Ok(false);
        };
        self.user_by_id(t, &other, actor, depth + 1).await?;
        Ok(true)
    }

    /// The leaver policy: disable (default; the mapping stays, so a rehire re-enables the same
    /// account) or delete (account and mapping). A disabled leaver also leaves its org units:
    /// DingTalk removed it from every department, and a stale membership would keep a removed
    /// department's unit from being deleted.
    async fn leaver(
        &self,
        t: &SyncTarget,
        userid: &DingUserId,
        actor: &Actor,
    ) -> Result<Outcome, SyncError> {
        let what = format!("leaver {userid}");
        let dir = |e| SyncError::directory(e, &what);
        let Some(account) = self.mapped_account(t, userid).await? else {
            // A mapping without its account is removed, so the next create starts clean.
            self.mappings
                .remove(t.id(), MappedKind::User, userid.as_str())
                .await
                .map_err(dir)?;
            return Ok(Outcome::Absent);
        };
        match t.connector.leaver_policy {
            LeaverPolicy::Disable => {
                self.directory
                    .update_account(&account.id, None, actor, |a| {
                        a.status = AccountStatus::Disabled;
                        a.memberships.clear();
                        Ok(())
                    })
                    .await
                    .map_err(dir)?;
                Ok(Outcome::Disabled)
            }
            LeaverPolicy::Delete => {
                self.directory
                    .delete_account(&account.id, actor)
                    .await
                    .map_err(dir)?;
                self.mappings
                    .remove(t.id(), MappedKind::User, userid.as_str())
                    .await
                    .map_err(dir)?;
                Ok(Outcome::Deleted)
            }
        }
    }

    /// The connector's root unit: where DingTalk's root department (1) lands.
    pub(super) fn root_unit(t: &SyncTarget) -> OrgUnitId {
        t.connector.root_org_unit_id.clone()
    }

    pub(super) fn is_root(dept: DeptId) -> bool {
        dept.is_root()
    }
}

/// A disabled account whose DingTalk user sits in the push's holding department alone: the
/// connector's own push put it there (delete policy `move`: DingTalk has no disabled state), so
/// the user's presence in DingTalk is not a rehire and its department is not a membership.
fn parked_by_our_push(connector: &Connector, account: &Account, user: &DingUser) -> bool {
    let push = &connector.push;
    push.push_enabled
        && push.push_delete_policy == PushDeletePolicy::Move
        && account.status == AccountStatus::Disabled
        && push
            .push_move_dept_id
            .is_some_and(|holding| user.dept_ids == [holding])
}

/// Whether two DingTalk records of one user agree on everything the directory keeps (departments
/// in any order: a snapshot merges them from several listings).
fn same_user(a: &DingUser, b: &DingUser) -> bool {
    let depts = |u: &DingUser| {
        let mut d: Vec<u64> = u.dept_ids.iter().map(|d| d.get()).collect();
        d.sort_unstable();
        d.dedup();
        d
    };
    a.userid == b.userid
        && a.name == b.name
        && a.mobile == b.mobile
        && a.email == b.email
        && a.org_email == b.org_email
        && a.job_number == b.job_number
        && a.title == b.title
        && depts(a) == depts(b)
}

pub(super) fn too_deep(what: &str) -> SyncError {
    SyncError::Permanent(format!(
        "{what}: reconciling needed more than {MAX_DEPTH} nested steps (a department cycle, or \
         values swapped between accounts); re-drive after the other changes are applied"
    ))
}
