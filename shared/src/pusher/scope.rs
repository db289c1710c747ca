//! One push's context — the connector, its DingTalk app and push settings — and the questions
//! every entity asks: does a unit lie inside the pushed subtree, which DingTalk department or user
//! stands for one of ours.

use crate::dingtalk::{DeptId, DingApp, DingUserId};
use crate::domain::connector::{Connector, PushSettings};
use crate::domain::directory::OrgUnit;
use crate::domain::ids::{AccountId, OrgUnitId};
use crate::store::mappings::{MappedKind, Mapping};

use super::Pusher;
use super::failure::{Blocked, store};
use super::writes::DryRun;

pub struct Push<'a> {
    pub deps: &'a Pusher,
    pub connector: &'a Connector,
    pub app: DingApp,
    /// The directory unit that stands for `push_dingtalk_parent`.
    pub root: OrgUnitId,
    /// A dry run (the initial push's plan): reads as usual, writes nothing (see `writes`).
    pub dry: Option<DryRun<'a>>,
}

impl Push<'_> {
    pub fn settings(&self) -> &PushSettings {
        &self.connector.push
    }

    /// True when `unit` is the push root or lies below it.
    pub async fn inside(&self, unit: &OrgUnit) -> Result<bool, Blocked> {
        match &unit.parent_id {
            _ if unit.id == self.root => Ok(true),
            Some(parent) => self.inside_id(parent).await,
            None => Ok(false),
        }
    }

    /// `inside` for a unit known by id; a unit gone from the directory is outside.
    pub async fn inside_id(&self, id: &OrgUnitId) -> Result<bool, Blocked> {
        self.deps
            .directory
            .is_within(id, &self.root)
            .await
            .map_err(|e| store(e, "reading the org unit's ancestors"))
    }

    /// The DingTalk department standing for a unit inside the subtree: the root's is the
    /// connector's `push_dingtalk_parent`, the others' their mapping (`None`: not pushed yet).
    pub async fn dept_of(&self, unit: &OrgUnitId) -> Result<Option<DeptId>, Blocked> {
        if *unit == self.root {
            return Ok(Some(self.settings().push_dingtalk_parent));
        }
        self.mapped_dept(unit).await
    }

    async fn mapping_of(&self, our_id: &str, kind: MappedKind) -> Result<Option<String>, Blocked> {
        let all = self
            .deps
            .mappings
            .of_entity(our_id)
            .await
            .map_err(|e| store(e, "reading the DingTalk mappings"))?;
        Ok(all
            .into_iter()
            .find(|m| m.connector_id == self.connector.id && m.kind == kind)
            .map(|m| m.external_id))
    }

    pub async fn mapped_dept(&self, unit: &OrgUnitId) -> Result<Option<DeptId>, Blocked> {
        if let Some(planned) = self.dry.as_ref().and_then(|d| d.plan.planned(unit)) {
            return Ok(Some(planned));
        }
        match self.mapping_of(unit.as_str(), MappedKind::Dept).await? {
            Some(raw) => DeptId::parse(&raw).map(Some).map_err(|_| {
                Blocked::park(
                    format!(
                        "the stored DingTalk department id {raw:?} of the org unit is not a number"
                    ),
                    None,
                )
            }),
            None => Ok(None),
        }
    }

    pub async fn mapped_user(&self, account: &AccountId) -> Result<Option<DingUserId>, Blocked> {
        match self.mapping_of(account.as_str(), MappedKind::User).await? {
            Some(raw) => DingUserId::parse(raw.clone()).map(Some).map_err(|_| {
                Blocked::park(
                    format!("the stored DingTalk userid {raw:?} of the account is invalid"),
                    None,
                )
            }),
            None => Ok(None),
        }
    }

    /// The account a DingTalk user is linked to on this connector, if any.
    pub async fn account_of(&self, user: &DingUserId) -> Result<Option<AccountId>, Blocked> {
        self.deps
            .mappings
            .account_of(&self.connector.id, user)
            .await
            .map_err(|e| store(e, "reading the DingTalk mappings"))
    }

    /// The unit a DingTalk department is linked to on this connector, if any.
    pub async fn unit_of(&self, dept: DeptId) -> Result<Option<OrgUnitId>, Blocked> {
        self.deps
            .mappings
            .unit_of(&self.connector.id, dept)
            .await
            .map_err(|e| store(e, "reading the DingTalk mappings"))
    }

    pub async fn map(&self, kind: MappedKind, external: &str, our_id: &str) -> Result<(), Blocked> {
        self.write_mapping(kind, external, our_id, None).await
    }

    /// Maps a DingTalk user to an account, with its unionid when DingTalk told it.
    pub async fn map_user(
        &self,
        userid: &DingUserId,
        account: &AccountId,
        unionid: Option<&str>,
    ) -> Result<(), Blocked> {
        self.write_mapping(MappedKind::User, userid.as_str(), account.as_str(), unionid)
            .await
    }

    /// Rewrites the account's mapping to `userid` when it lacks DingTalk's `unionid`.
    pub async fn keep_unionid(
        &self,
        userid: &DingUserId,
        account: &AccountId,
        unionid: Option<&str>,
    ) -> Result<(), Blocked> {
        let Some(unionid) = unionid.filter(|u| !u.is_empty()) else {
            return Ok(());
        };
        let stored = self
            .deps
            .mappings
            .of_entity(account.as_str())
            .await
            .map_err(|e| store(e, "reading the DingTalk mappings"))?
            .into_iter()
            .find(|m| {
                m.connector_id == self.connector.id
                    && m.kind == MappedKind::User
                    && m.external_id == userid.as_str()
            });
        match stored {
            Some(m) if m.unionid.as_deref() != Some(unionid) => {
                self.map_user(userid, account, Some(unionid)).await
            }
            _ => Ok(()),
        }
    }

    async fn write_mapping(
        &self,
        kind: MappedKind,
        external: &str,
        our_id: &str,
        unionid: Option<&str>,
    ) -> Result<(), Blocked> {
        if self.dry.is_some() {
            return Ok(());
        }
        let mapping = Mapping {
            connector_id: self.connector.id.clone(),
            kind,
            external_id: external.to_owned(),
            our_id: our_id.to_owned(),
            unionid: unionid.map(str::to_owned),
        };
        self.deps
            .mappings
            .put(&mapping)
            .await
            .map_err(|e| store(e, "writing the DingTalk mapping"))
    }

    pub async fn unmap(&self, kind: MappedKind, external: &str) -> Result<(), Blocked> {
        if self.dry.is_some() {
            return Ok(());
        }
        self.deps
            .mappings
            .remove(&self.connector.id, kind, external)
            .await
            .map_err(|e| store(e, "removing the DingTalk mapping"))
    }
}
