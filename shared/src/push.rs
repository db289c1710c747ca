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
use crate::store::mappings::Mappings;
use crate::store::outbox::{Outbox, push_out_message};
use crate::store::{Actor, DirectoryError};

/// The deepest tree walked when looking for a push root (DingTalk allows 15 levels).
const MAX_DEPTH: usize = 64;

/// The directory, writing through the push outbox.
#[derive(Clone)]
pub struct PushingDirectory {
    directory: Directory,
    connectors: Connectors,
    mappings: Mappings,
    outbox: Outbox,
    queue: Arc<dyn Queue>,
}

impl PushingDirectory {
    pub fn new(
        directory: Directory,
        connectors: Connectors,
        mappings: Mappings,
        outbox: Outbox,
        queue: Arc<dyn Queue>,
    ) -> Self {
        Self {
            directory,
            connectors,
            mappings,
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
        let targets = self
            .targets(&id, std::slice::from_ref(&new.parent_id), actor)
            .await?;
        let entity = PushEntity::OrgUnit(id.clone());
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
        let old = self
            .directory
            .org_unit(id)
            .await?
            .ok_or_else(|| DirectoryError::NotFound(format!("org unit {id}")))?;
        let parents: Vec<OrgUnitId> = old
            .parent_id
            .iter()
            .chain(change.parent_id.iter())
            .cloned()
            .collect();
        let targets = self.targets(id, &parents, actor).await?;
        let entity = PushEntity::OrgUnit(id.clone());
        let side = |_: &OrgUnit, version: u64| self.side_ops(&targets, &entity, version);
        let unit = self
            .directory
            .update_org_unit_with(id, expected_version, change, actor, &side)
            .await?;
        if unit.version != old.version {
            self.enqueue(&targets, &entity, unit.version).await;
        }
        Ok(unit)
    }

    pub async fn delete_org_unit(
        &self,
        id: &OrgUnitId,
        expected_version: Option<u64>,
        actor: &Actor,
    ) -> Result<OrgUnit, DirectoryError> {
        let old = self
            .directory
            .org_unit(id)
            .await?
            .ok_or_else(|| DirectoryError::NotFound(format!("org unit {id}")))?;
        let targets = self
            .targets(id, &old.parent_id.into_iter().collect::<Vec<_>>(), actor)
            .await?;
        let entity = PushEntity::OrgUnit(id.clone());
        let side = |_: &OrgUnit, version: u64| self.side_ops(&targets, &entity, version);
        let unit = self
            .directory
            .delete_org_unit_with(id, expected_version, actor, &side)
            .await?;
        self.enqueue(&targets, &entity, unit.version + 1).await;
        Ok(unit)
    }

    pub async fn create_account(
        &self,
        account: Account,
        actor: &Actor,
    ) -> Result<Account, DirectoryError> {
        let units: Vec<OrgUnitId> = account
            .memberships
            .iter()
            .map(|m| m.org_unit_id.clone())
            .collect();
        let targets = self.account_targets(&account.id, &units, actor).await?;
        let entity = PushEntity::Account(account.id.clone());
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
        let old = self
            .directory
            .account(id)
            .await?
            .ok_or_else(|| DirectoryError::NotFound(format!("account {id}")))?;
        let mut units: Vec<OrgUnitId> = old
            .memberships
            .iter()
            .map(|m| m.org_unit_id.clone())
            .collect();
        units.extend(units_after.unwrap_or_default().iter().cloned());
        let targets = self.account_targets(id, &units, actor).await?;
        let entity = PushEntity::Account(id.clone());
        let side = |_: &Account, version: u64| self.side_ops(&targets, &entity, version);
        let account = self
            .directory
            .update_account_with(id, expected_version, actor, edit, &side)
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
        let old = self
            .directory
            .account(id)
            .await?
            .ok_or_else(|| DirectoryError::NotFound(format!("account {id}")))?;
        let units: Vec<OrgUnitId> = old
            .memberships
            .iter()
            .map(|m| m.org_unit_id.clone())
            .collect();
        let targets = self.account_targets(id, &units, actor).await?;
        let entity = PushEntity::Account(id.clone());
        let side = |_: &Account, version: u64| self.side_ops(&targets, &entity, version);
        let deleted = self
            .directory
            .delete_account_with(id, expected_version, actor, &side)
            .await?
            .ok_or_else(|| DirectoryError::NotFound(format!("account {id}")))?;
        self.enqueue(&targets, &entity, deleted.version + 1).await;
        Ok(deleted)
    }

    fn side_ops(
        &self,
        targets: &[Connector],
        entity: &PushEntity,
        version: u64,
    ) -> Result<Vec<TxOp>, DirectoryError> {
        targets
            .iter()
            .map(|c| {
                self.outbox.put_op(&PushMessage {
                    connector_id: c.id.clone(),
                    entity: entity.clone(),
                    version,
                })
            })
            .collect()
    }

    /// Queues the push of a committed change. A failed send is not an error: the change's outbox
    /// item is in the table, and the sweeper sends it again.
    async fn enqueue(&self, targets: &[Connector], entity: &PushEntity, version: u64) {
        for c in targets {
            let message = PushMessage {
                connector_id: c.id.clone(),
                entity: entity.clone(),
                version,
            };
            let sent = match push_out_message(&message) {
                Ok(out) => self.queue.send(out).await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            if let Err(error) = sent {
                tracing::warn!(connector_id = %c.id, entity = entity.id(), %error,
                    "push not queued; the outbox sweeper sends it again");
            }
        }
    }

    /// The connectors that push an org unit whose parent is (or was) one of `parents`.
    async fn targets(
        &self,
        unit: &OrgUnitId,
        parents: &[OrgUnitId],
        actor: &Actor,
    ) -> Result<Vec<Connector>, DirectoryError> {
        self.connectors_for(unit.as_str(), Some(unit), parents, actor)
            .await
    }

    /// The connectors that push an account that belongs (or belonged) to `units`.
    async fn account_targets(
        &self,
        account: &AccountId,
        units: &[OrgUnitId],
        actor: &Actor,
    ) -> Result<Vec<Connector>, DirectoryError> {
        self.connectors_for(account.as_str(), None, units, actor)
            .await
    }

    /// Push-enabled connectors whose root lies above one of `units`, or that already map the
    /// entity (a move out of the root, or a delete, must reach them too). A connector's own root
    /// unit is never pushed (it stands for a DingTalk department that exists), and a change that
    /// came from a connector's DingTalk is not pushed back to that connector.
    async fn connectors_for(
        &self,
        our_id: &str,
        unit_itself: Option<&OrgUnitId>,
        units: &[OrgUnitId],
        actor: &Actor,
    ) -> Result<Vec<Connector>, DirectoryError> {
        let pushing = self.pushing_connectors(actor).await?;
        if pushing.is_empty() {
            return Ok(Vec::new());
        }
        let mut above = HashSet::new();
        for unit in units {
            above.extend(self.chain(unit).await?);
        }
        let mapped: HashSet<_> = self
            .mappings
            .of_entity(our_id)
            .await?
            .into_iter()
            .map(|m| m.connector_id)
            .collect();
        Ok(pushing
            .into_iter()
            .filter(|c| {
                let Some(root) = &c.push.push_root_org_unit_id else {
                    return false;
                };
                unit_itself != Some(root) && (above.contains(root) || mapped.contains(&c.id))
            })
            .collect())
    }

    async fn pushing_connectors(&self, actor: &Actor) -> Result<Vec<Connector>, DirectoryError> {
        let echo_of = match actor.origin() {
            Origin::DingtalkPull | Origin::DingtalkEvent => Some(actor.name.as_str()),
            Origin::Admin | Origin::Scim => None,
        };
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.connectors.list(100, cursor).await?;
            out.extend(
                page.items
                    .into_iter()
                    .filter(|c| c.enabled && c.push.push_enabled && echo_of != Some(c.id.as_str())),
            );
            cursor = page.next;
            if cursor.is_none() {
                return Ok(out);
            }
        }
    }

    /// `unit` and its ancestors up to the directory root.
    async fn chain(&self, unit: &OrgUnitId) -> Result<Vec<OrgUnitId>, DirectoryError> {
        let mut chain = vec![unit.clone()];
        let mut current = self.directory.org_unit(unit).await?;
        while let Some(u) = current {
            let Some(parent) = u.parent_id else { break };
            if chain.contains(&parent) || chain.len() > MAX_DEPTH {
                break;
            }
            chain.push(parent.clone());
            current = self.directory.org_unit(&parent).await?;
        }
        Ok(chain)
    }
}
