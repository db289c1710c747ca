//! The per-entity push as a library, for the initial push (re-sync) run that `full-pull` drives:
//! open a connector's push context once, then plan each entity of the pushed subtree as a dry run
//! (the same decisions the worker takes, with no write) and, once the plan is confirmed, push it.

use crate::dingtalk::DingApp;
use crate::domain::connector::Connector;
use crate::domain::ids::{ConnectorId, OrgUnitId};
use crate::domain::pull::FieldChange;
use crate::domain::sync::PushEntity;

use super::Done;
use super::Pusher;
use super::failure::{Blocked, store};
use super::scope::Push;
use super::writes::{DryPlan, DryRun};

/// A push-enabled connector, opened: its settings, app (secret unsealed) and push root.
pub struct Context {
    pub connector: Connector,
    app: DingApp,
    pub root: OrgUnitId,
}

impl Pusher {
    /// The connector's push context; `None` when the connector is gone or does not push, and
    /// [`Blocked::Park`] when it cannot push as configured (disabled, no push root).
    pub async fn context(&self, id: &ConnectorId) -> Result<Option<Context>, Blocked> {
        let Some(connector) = self.connector(id).await? else {
            return Ok(None);
        };
        if !connector.enabled {
            return Err(Blocked::park(
                "the connector is disabled: enable it, then re-drive its parked pushes",
                None,
            ));
        }
        let Some(root) = connector.push.push_root_org_unit_id.clone() else {
            return Err(Blocked::park(
                "the connector pushes but names no push_root_org_unit_id: set one, then re-drive",
                None,
            ));
        };
        let app = self
            .connectors
            .app(&connector)
            .map_err(|e| store(e, "opening the connector's app secret"))?;
        Ok(Some(Context {
            connector,
            app,
            root,
        }))
    }

    fn scope<'a>(&'a self, c: &'a Context, dry: Option<DryRun<'a>>) -> Push<'a> {
        Push {
            deps: self,
            connector: &c.connector,
            app: c.app.clone(),
            root: c.root.clone(),
            dry,
        }
    }

    /// Makes DingTalk match the directory for one entity.
    pub async fn push_entity(&self, c: &Context, entity: &PushEntity) -> Result<Done, Blocked> {
        let push = self.scope(c, None);
        match entity {
            PushEntity::OrgUnit(id) => push.org_unit(id).await,
            PushEntity::Account(id) => push.account(id).await,
        }
    }

    /// What [`Deps::push_entity`] would do now, without writing: the outcome and the fields
    /// DingTalk would get. Departments the plan creates get placeholder ids in `plan`, so plan
    /// parents before their children.
    pub async fn plan_entity(
        &self,
        c: &Context,
        plan: &DryPlan,
        entity: &PushEntity,
    ) -> Result<(Done, Vec<FieldChange>), Blocked> {
        let push = self.scope(c, Some(DryRun::new(plan)));
        let done = match entity {
            PushEntity::OrgUnit(id) => push.org_unit(id).await,
            PushEntity::Account(id) => push.account(id).await,
        }?;
        let changes = push
            .dry
            .as_ref()
            .map(DryRun::take_changes)
            .unwrap_or_default();
        Ok((done, changes))
    }
}
