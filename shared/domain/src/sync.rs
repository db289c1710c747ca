//! The messages of the sync queue: what the callback, the failed-list drain and the full pull ask
//! the sync worker to do. Events are hints; the worker re-reads DingTalk for every id.

use serde::{Deserialize, Serialize};

use super::ids::{AccountId, ConnectorId, OrgUnitId};
use crate::dingtalk::{DeptId, DingUserId};

/// One queue message. The message group is the connector id (ordering per connector).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SyncMessage {
    /// Re-read these users and reconcile their accounts (create, update, move, leaver policy).
    Users {
        connector_id: ConnectorId,
        user_ids: Vec<DingUserId>,
        /// DingTalk's event type (`user_add_org`, …), for logs and parked reasons.
        event_type: String,
        /// The event's dedupe key (eventId, or a digest of the decrypted body).
        event_key: String,
    },
    /// Re-read these departments and reconcile their org units (ancestors first).
    Departments {
        connector_id: ConnectorId,
        dept_ids: Vec<DeptId>,
        event_type: String,
        event_key: String,
    },
}

impl SyncMessage {
    pub fn connector_id(&self) -> &ConnectorId {
        match self {
            Self::Users { connector_id, .. } | Self::Departments { connector_id, .. } => {
                connector_id
            }
        }
    }

    pub fn event_key(&self) -> &str {
        match self {
            Self::Users { event_key, .. } | Self::Departments { event_key, .. } => event_key,
        }
    }
}

/// One message of the pull queue (FIFO, message group = connector id), consumed by `full-pull`.
/// The run's stored state says what to do, so a redelivered or repeated message is harmless.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PullMessage {
    /// Move the run on from where it stands: walk (pulling), apply (applying), or apply only the
    /// org units of a run awaiting review (`scope` = `org_units`).
    Run {
        connector_id: ConnectorId,
        /// A `store::runs::RunId` in text (the domain does not depend on the store).
        run_id: String,
        #[serde(default)]
        scope: ApplyScope,
        /// The continuation's sequence number: part of the FIFO deduplication id, so that each
        /// continuation is a new message inside SQS's 5-minute deduplication window.
        #[serde(default)]
        step: u64,
    },
}

/// What a confirm applies (`POST /admin/api/runs/{id}/confirm?scope=`): the IDaaS order is org
/// units first, then accounts; `all` does both, units first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplyScope {
    OrgUnits,
    Accounts,
    #[default]
    All,
}

impl ApplyScope {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "org_units" => Some(Self::OrgUnits),
            "accounts" => Some(Self::Accounts),
            "all" => Some(Self::All),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OrgUnits => "org_units",
            Self::Accounts => "accounts",
            Self::All => "all",
        }
    }

    pub fn units(self) -> bool {
        matches!(self, Self::OrgUnits | Self::All)
    }

    pub fn accounts(self) -> bool {
        matches!(self, Self::Accounts | Self::All)
    }
}

/// A directory entity the push makes DingTalk match.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum PushEntity {
    OrgUnit(OrgUnitId),
    Account(AccountId),
}

impl PushEntity {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::OrgUnit(_) => "org_unit",
            Self::Account(_) => "account",
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Self::OrgUnit(id) => id.as_str(),
            Self::Account(id) => id.as_str(),
        }
    }
}

/// One message of the push queue: "make `connector`'s DingTalk match the directory for
/// `entity`". The worker re-reads the directory, which is the truth; `version` is the entity
/// version whose change asked for the push (it keeps each change's message unique, and settles
/// the outbox item only when no later change is waiting).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushMessage {
    pub connector_id: ConnectorId,
    pub entity: PushEntity,
    pub version: u64,
}

impl PushMessage {
    /// The FIFO group: one entity's pushes to one connector in order, others in parallel.
    pub fn group(&self) -> String {
        format!(
            "{}:{}:{}",
            self.connector_id,
            self.entity.kind(),
            self.entity.id()
        )
    }

    /// The deduplication id: one message per change.
    pub fn dedup_id(&self) -> String {
        format!("{}:{}", self.group(), self.version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_through_json() {
        let m = SyncMessage::Departments {
            connector_id: ConnectorId::generate(),
            dept_ids: vec![DeptId::new(5).unwrap()],
            event_type: "org_dept_create".into(),
            event_key: "evt-1".into(),
        };
        let text = serde_json::to_string(&m).unwrap();
        assert!(text.contains("\"kind\":\"departments\""));
        assert_eq!(serde_json::from_str::<SyncMessage>(&text).unwrap(), m);
    }

    #[test]
    fn push_messages_group_by_connector_and_entity_and_dedup_by_version() {
        let connector_id = ConnectorId::generate();
        let unit = OrgUnitId::generate();
        let m = PushMessage {
            connector_id: connector_id.clone(),
            entity: PushEntity::OrgUnit(unit.clone()),
            version: 3,
        };
        assert_eq!(m.group(), format!("{connector_id}:org_unit:{unit}"));
        assert_eq!(m.dedup_id(), format!("{connector_id}:org_unit:{unit}:3"));
        let text = serde_json::to_string(&m).unwrap();
        assert!(text.contains("\"kind\":\"org_unit\""), "{text}");
        assert_eq!(serde_json::from_str::<PushMessage>(&text).unwrap(), m);
    }
}
