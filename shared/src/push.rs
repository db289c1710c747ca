//! Directory writes that DingTalk follows (job J3): every write of an org unit or account inside a
//! push-enabled connector's root — or already mapped to that connector's DingTalk — carries that
//! connector's outbox item in its own transaction, and is then queued for the push worker. The
//! admin API uses it today and the SCIM server will; the inbound paths write the directory
//! directly, so a change that came from a connector's DingTalk is never pushed back to it.

use std::collections::HashSet;
use std::sync::Arc;

use crate::domain::connector::Connector;
use crate::domain::directory::{Account, OrgUnit, Origin};
use crate::domain::ids::{AccountId, OrgUnitId};
use crate::domain::sync::{PushEntity, PushMessage};
use crate::ports::{Queue, TxOp};
use crate::store::connectors::Connectors;
use crate::store::directory::{Directory, NewOrgUnit, UnitChange};
use crate::store::outbox::{Outbox, push_out_message};
use crate::store::{Actor, DirectoryError};

/// The directory, writing through the push outbox.
#[derive(Clone)]
pub struct PushingDirectory {
    directory: Directory,
    connectors: Connectors,
    outbox: Outbox,
    queue: Arc<dyn Queue>,
}

impl PushingDirectory {
    pub fn new(
        directory: Directory,
        connectors: Connectors,
        outbox: Outbox,
        queue: Arc<dyn Queue>,
    ) -> Self {
        Self {
            directory,
            connectors,
            outbox,
            queue,
        }
    }

    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    pub async fn create_org_unit(
        &self,
        id: OrgUnitId,
        new: NewOrgUnit,
        actor: &Actor,
    ) -> Result<OrgUnit, DirectoryError> {
        let entity = PushEntity::OrgUnit(id.clone());
        let targets = self
            .targets(&entity, std::slice::from_ref(&new.parent_id), actor)
            .await?;
        let side = self.side_ops(&targets, &entity, 1)?;
        let unit = self
            .directory
            .create_org_unit_as(id, new, actor, side)
            .await?;
        self.enqueue(&targets, &entity, 1).await;
        Ok(unit)
    }

    pub async fn update_org_unit(
        &self,
        id: &OrgUnitId,
        expected_version: Option<u64>,
        change: UnitChange,
        actor: &Actor,
    ) -> Result<OrgUnit, DirectoryError> {
        let old = self.unit(id).await?;
        // Both parents: a move into or out of a push root reaches the connector.
        let parents: Vec<OrgUnitId> = old
            .parent_id
            .iter()
            .chain(change.parent_id.iter())
            .cloned()
            .collect();
        let entity = PushEntity::OrgUnit(id.clone());
        let targets = self.targets(&entity, &parents, actor).await?;
        let unit = self
            .directory
            .update_org_unit_with(
                id,
                expected_version,
                change,
                actor,
                &self.side(&targets, &entity),
            )
            .await?;
        if unit.version != old.version {
            self.enqueue(&targets, &entity, unit.version).await;
            if old.parent_id != unit.parent_id {
                self.follow_subtree(&targets, &unit, old.parent_id.as_ref())
                    .await;
            }
        }
        Ok(unit)
    }

    /// A unit moved into or out of a connector's push root takes its subtree with it: every unit
    /// below it and every account in them gets an outbox item for that connector and is queued
    /// (entering: parents first, then the accounts; leaving: the accounts first, then the units
    /// deepest first, as DingTalk deletes a department only once it is empty). The moved unit's
    /// own item is in the move's transaction; these are written after it, and a failure is
    /// logged: an initial push (re-sync) of the connector repairs what they would have done.
    async fn follow_subtree(
        &self,
        targets: &[Connector],
        unit: &OrgUnit,
        old_parent: Option<&OrgUnitId>,
    ) {
        let crossed = match self.crossed(targets, unit, old_parent).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(unit = %unit.id, error = %e,
                    "could not tell whether the move crossed a push root; re-sync to repair");
                return;
            }
        };
        if crossed.is_empty() {
            return;
        }
        let (units, accounts) = match self.subtree(&unit.id).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(unit = %unit.id, error = %e,
                    "could not read the moved unit's subtree; re-sync to repair");
                return;
            }
        };
        let units: Vec<(PushEntity, u64)> = units
            .into_iter()
            .map(|(id, v)| (PushEntity::OrgUnit(id), v))
            .collect();
        let accounts: Vec<(PushEntity, u64)> = accounts
            .into_iter()
            .map(|(id, v)| (PushEntity::Account(id), v))
            .collect();
        for (connector, entering) in crossed {
            let order: Vec<&(PushEntity, u64)> = if entering {
                units.iter().chain(&accounts).collect()
            } else {
                accounts.iter().chain(units.iter().rev()).collect()
            };
            for (entity, version) in order {
                let m = message(&connector, entity, *version);
                if let Err(e) = self.outbox.put(&m).await {
                    tracing::warn!(connector_id = %connector.id, entity = entity.id(), error = %e,
                        "could not write the outbox item of a moved subtree; re-sync to repair");
                    continue;
                }
                self.enqueue(std::slice::from_ref(&connector), entity, *version)
                    .await;
            }
        }
    }

    /// The targets whose push root the move crossed, each with `true` when the unit entered it.
    async fn crossed(
        &self,
        targets: &[Connector],
        unit: &OrgUnit,
        old_parent: Option<&OrgUnitId>,
    ) -> Result<Vec<(Connector, bool)>, DirectoryError> {
        let before: HashSet<OrgUnitId> = match old_parent {
            Some(p) => self.directory.ancestry(p).await?.into_iter().collect(),
            None => HashSet::new(),
        };
        let after: HashSet<OrgUnitId> = match &unit.parent_id {
            Some(p) => self.directory.ancestry(p).await?.into_iter().collect(),
            None => HashSet::new(),
        };
        Ok(targets
            .iter()
            .filter_map(|c| {
                let root = c.push.push_root_org_unit_id.as_ref()?;
                match (before.contains(root), after.contains(root)) {
                    (false, true) => Some((c.clone(), true)),
                    (true, false) => Some((c.clone(), false)),
                    _ => None,
                }
            })
            .collect())
    }

    /// The units below `top` (parents before children) and the accounts in `top` and below, each
    /// with its version ([`Directory::subtree`], plus one read per account for its version).
    async fn subtree(
        &self,
        top: &OrgUnitId,
    ) -> Result<(Vec<(OrgUnitId, u64)>, Vec<(AccountId, u64)>), DirectoryError> {
        let tree = self.directory.subtree(top).await?;
        let units = tree
            .levels
            .into_iter()
            .flatten()
            .map(|u| (u.id, u.version))
            .collect();
        let mut accounts = Vec::with_capacity(tree.accounts.len());
        for (id, _) in tree.accounts {
            if let Some(a) = self.directory.account(&id).await? {
                accounts.push((id, a.version));
            }
        }
        Ok((units, accounts))
    }

    pub async fn delete_org_unit(
        &self,
        id: &OrgUnitId,
        expected_version: Option<u64>,
        actor: &Actor,
    ) -> Result<OrgUnit, DirectoryError> {
        let old = self.unit(id).await?;
        let entity = PushEntity::OrgUnit(id.clone());
        let parents: Vec<OrgUnitId> = old.parent_id.into_iter().collect();
        let targets = self.targets(&entity, &parents, actor).await?;
        let unit = self
            .directory
            .delete_org_unit_with(id, expected_version, actor, &self.side(&targets, &entity))
            .await?;
        self.enqueue(&targets, &entity, unit.version + 1).await;
        Ok(unit)
    }

    pub async fn create_account(
        &self,
        account: Account,
        actor: &Actor,
    ) -> Result<Account, DirectoryError> {
        let entity = PushEntity::Account(account.id.clone());
        let targets = self.targets(&entity, &account.unit_ids(), actor).await?;
        let side = self.side_ops(&targets, &entity, 1)?;
        let account = self
            .directory
            .create_account_with(account, actor, side)
            .await?;
        self.enqueue(&targets, &entity, 1).await;
        Ok(account)
    }

    /// Changes an account with `edit`; `units_after` names the memberships the edit sets (when it
    /// sets them), so that a move into or out of a push root reaches the connector.
    pub async fn update_account<F>(
        &self,
        id: &AccountId,
        expected_version: Option<u64>,
        units_after: Option<&[OrgUnitId]>,
        actor: &Actor,
        edit: F,
    ) -> Result<Account, DirectoryError>
    where
        F: Fn(&mut Account) -> Result<(), DirectoryError> + Send + Sync,
    {
        let old = self.account(id).await?;
        let mut units = old.unit_ids();
        units.extend(units_after.unwrap_or_default().iter().cloned());
        let entity = PushEntity::Account(id.clone());
        let targets = self.targets(&entity, &units, actor).await?;
        let account = self
            .directory
            .update_account_with(
                id,
                expected_version,
                actor,
                edit,
                &self.side(&targets, &entity),
            )
            .await?;
        if account.version != old.version {
            self.enqueue(&targets, &entity, account.version).await;
        }
        Ok(account)
    }

    pub async fn delete_account(
        &self,
        id: &AccountId,
        expected_version: Option<u64>,
        actor: &Actor,
    ) -> Result<Account, DirectoryError> {
        let old = self.account(id).await?;
        let entity = PushEntity::Account(id.clone());
        let targets = self.targets(&entity, &old.unit_ids(), actor).await?;
        let deleted = self
            .directory
            .delete_account_with(id, expected_version, actor, &self.side(&targets, &entity))
            .await?
            .ok_or_else(|| DirectoryError::NotFound(format!("account {id}")))?;
        self.enqueue(&targets, &entity, deleted.version + 1).await;
        Ok(deleted)
    }

    async fn unit(&self, id: &OrgUnitId) -> Result<OrgUnit, DirectoryError> {
        self.directory
            .org_unit(id)
            .await?
            .ok_or_else(|| DirectoryError::NotFound(format!("org unit {id}")))
    }

    async fn account(&self, id: &AccountId) -> Result<Account, DirectoryError> {
        self.directory
            .account(id)
            .await?
            .ok_or_else(|| DirectoryError::NotFound(format!("account {id}")))
    }

    /// The outbox items of `targets` for a change of `entity` written at `version`.
    fn side_ops(
        &self,
        targets: &[Connector],
        entity: &PushEntity,
        version: u64,
    ) -> Result<Vec<TxOp>, DirectoryError> {
        targets
            .iter()
            .map(|c| self.outbox.put_op(&message(c, entity, version)))
            .collect()
    }

    /// [`Self::side_ops`] as the store's side writes, for writes whose version the store decides.
    fn side<'a, T>(
        &'a self,
        targets: &'a [Connector],
        entity: &'a PushEntity,
    ) -> impl Fn(&T, u64) -> Result<Vec<TxOp>, DirectoryError> + Send + Sync + 'a {
        move |_: &T, version| self.side_ops(targets, entity, version)
    }

    /// Queues the push of a committed change. A failed send is not an error: the change's outbox
    /// item is in the table, and the sweeper sends it again.
    async fn enqueue(&self, targets: &[Connector], entity: &PushEntity, version: u64) {
        for c in targets {
            let sent = match push_out_message(&message(c, entity, version)) {
                Ok(out) => self.queue.send(out).await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            if let Err(error) = sent {
                tracing::warn!(connector_id = %c.id, entity = entity.id(), %error,
                    "push not queued; the outbox sweeper sends it again");
            }
        }
    }

    /// Push-enabled connectors whose root lies above one of `units` (the entity's parents or
    /// memberships, before and after the change: a move out of the root, or a delete, reaches
    /// them too). A mapping alone does not make a target: a connector that pulls and pushes maps
    /// the accounts it pulled from outside its push root, and those are never pushed back. A
    /// connector's own root unit is never pushed (it stands for a DingTalk department that
    /// exists), and a change that came from a connector's DingTalk is not pushed back to it.
    async fn targets(
        &self,
        entity: &PushEntity,
        units: &[OrgUnitId],
        actor: &Actor,
    ) -> Result<Vec<Connector>, DirectoryError> {
        let echo_of = match actor.origin() {
            Origin::DingtalkPull | Origin::DingtalkEvent => Some(actor.name.as_str()),
            Origin::Admin | Origin::Scim | Origin::Portal => None,
        };
        let pushing: Vec<Connector> = self
            .connectors
            .all()
            .await?
            .into_iter()
            .filter(|c| c.enabled && c.push.push_enabled && echo_of != Some(c.id.as_str()))
            .collect();
        if pushing.is_empty() {
            return Ok(Vec::new());
        }
        let mut above = HashSet::new();
        for unit in units {
            above.extend(self.directory.ancestry(unit).await?);
        }
        let itself = match entity {
            PushEntity::OrgUnit(id) => Some(id),
            PushEntity::Account(_) => None,
        };
        Ok(pushing
            .into_iter()
            .filter(|c| {
                let Some(root) = &c.push.push_root_org_unit_id else {
                    return false;
                };
                itself != Some(root) && above.contains(root)
            })
            .collect())
    }
}

fn message(c: &Connector, entity: &PushEntity, version: u64) -> PushMessage {
    PushMessage {
        connector_id: c.id.clone(),
        entity: entity.clone(),
        version,
    }
}
