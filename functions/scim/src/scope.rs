//! Who is calling and what they reach: a SCIM client provisions the org units below its root
//! (its own `root_org_unit_id`, else its connector's push root, else the directory root) and the
//! accounts that are members there. Anything else answers 404, as if it did not exist.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::StatusCode;
use dingbridge::domain::directory::{Account, OrgUnit, Origin};
use dingbridge::domain::ids::OrgUnitId;
use dingbridge::oauth::ScimCaller;
use dingbridge::store::directory::Directory;
use dingbridge::store::{Actor, DirectoryError};

use crate::Scim;
use crate::error::ScimError;

/// The authenticated client of a request, with its scope.
#[derive(Clone, Debug)]
pub struct Caller {
    pub client_id: String,
    /// Audit origin `scim`, actor `scim:<client_id>`.
    pub actor: Actor,
    pub scope: Scope,
}

impl Caller {
    pub(crate) async fn resolve(scim: &Scim, c: ScimCaller) -> Result<Self, ScimError> {
        let root = match (&c.root_org_unit_id, &c.connector_id) {
            (Some(root), _) => root.clone(),
            (None, Some(connector)) => {
                let connector = scim
                    .connectors
                    .get(connector)
                    .await?
                    .ok_or_else(|| forbidden("the client's connector no longer exists"))?;
                connector
                    .push
                    .push_root_org_unit_id
                    .clone()
                    .ok_or_else(|| forbidden("the client's connector names no push root"))?
            }
            (None, None) => Directory::root_id(),
        };
        if root == Directory::root_id() {
            // A new deployment's directory has its root made on first use.
            scim.directory.ensure_root().await?;
        } else if scim.directory.org_unit(&root).await?.is_none() {
            return Err(forbidden(
                "the client's root org unit no longer exists; an admin must give it another",
            ));
        }
        Ok(Self {
            actor: Actor::new(Origin::Scim, format!("scim:{}", c.client_id)),
            client_id: c.client_id,
            scope: Scope {
                whole: root == Directory::root_id(),
                root,
                seen: Default::default(),
            },
        })
    }
}

fn forbidden(why: &str) -> ScimError {
    ScimError::new(StatusCode::FORBIDDEN, None, why)
}

/// The subtree a client reaches, with the answers of this request remembered.
#[derive(Debug)]
pub struct Scope {
    pub root: OrgUnitId,
    /// The root is the directory's: everything is in scope.
    pub whole: bool,
    seen: Mutex<HashMap<OrgUnitId, bool>>,
}

impl Clone for Scope {
    fn clone(&self) -> Self {
        Self {
            root: self.root.clone(),
            whole: self.whole,
            seen: Default::default(),
        }
    }
}

impl Scope {
    /// The root or a unit below it.
    pub async fn has_unit(
        &self,
        dir: &Directory,
        unit: &OrgUnitId,
    ) -> Result<bool, DirectoryError> {
        if self.whole || unit == &self.root {
            return Ok(true);
        }
        if let Some(known) = self.seen.lock().ok().and_then(|m| m.get(unit).copied()) {
            return Ok(known);
        }
        let inside = dir.ancestry(unit).await?.contains(&self.root);
        if let Ok(mut m) = self.seen.lock() {
            m.insert(unit.clone(), inside);
        }
        Ok(inside)
    }

    /// A group: a unit strictly below the root (the root is the container, not a group).
    pub async fn has_group(&self, dir: &Directory, unit: &OrgUnit) -> Result<bool, DirectoryError> {
        if unit.id == self.root || unit.parent_id.is_none() {
            return Ok(false);
        }
        self.has_unit(dir, &unit.id).await
    }

    /// An account with a membership in the scope.
    pub async fn has_account(&self, dir: &Directory, a: &Account) -> Result<bool, DirectoryError> {
        if self.whole {
            return Ok(true);
        }
        for m in &a.memberships {
            if self.has_unit(dir, &m.org_unit_id).await? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}
