//! The messages of the sync queue: what the callback, the failed-list drain and the full pull ask
//! the sync worker to do. Events are hints; the worker re-reads DingTalk for every id.

use serde::{Deserialize, Serialize};

use super::ids::ConnectorId;
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
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
}
