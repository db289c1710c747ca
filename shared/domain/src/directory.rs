//! Accounts and org units as the directory holds them, and where a change came from.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ids::{AccountId, OrgUnitId};
use super::values::{DisplayName, Email, Mobile, Username};

/// The most org units one account belongs to: an account, its markers, two items per membership
/// and its audit entry fit one transaction of 100 items.
pub const MAX_MEMBERSHIPS: usize = 45;

/// Whether an account may sign in. Leavers are disabled (by default), rehires enabled again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    Enabled,
    Disabled,
}

/// One org unit an account belongs to; exactly one membership of an account is primary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    pub org_unit_id: OrgUnitId,
    pub primary: bool,
}

/// A person in the directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: AccountId,
    pub username: Username,
    pub display_name: DisplayName,
    pub email: Option<Email>,
    pub mobile: Option<Mobile>,
    pub job_number: Option<String>,
    pub title: Option<String>,
    pub status: AccountStatus,
    pub memberships: Vec<Membership>,
    /// Argon2 PHC string; never serialised into API responses (the admin API has its own view).
    pub password_hash: Option<String>,
    pub must_change_password: bool,
    /// When the password was last changed (`None`: when the account was created), for the
    /// policy's maximum age.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_changed_ms: Option<i64>,
    pub attributes: BTreeMap<String, String>,
    /// What a SCIM client sent for this account, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scim: Option<ScimRecord>,
    pub version: u64,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// A department.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgUnit {
    pub id: OrgUnitId,
    pub name: String,
    /// `None` only for the directory root.
    pub parent_id: Option<OrgUnitId>,
    pub order: i64,
    /// What a SCIM client sent for this unit (a SCIM Group), when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scim: Option<ScimRecord>,
    pub version: u64,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// A SCIM resource as its client wrote it, so that it reads back as written: the attributes the
/// directory has no field for (`name.givenName`, other emails, the enterprise extension…), their
/// spelling, and which optional ones were left out. The directory's own fields stay the truth:
/// `synced` holds the values the document implied for them when it was written, so a later change
/// by an admin or from DingTalk (a value that no longer equals `synced`) shows instead of the
/// document's.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScimRecord {
    /// The client's `externalId` (unique across the directory, case-sensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// The writable attributes as sent, under their canonical names (never the password).
    #[serde(default)]
    pub doc: serde_json::Map<String, serde_json::Value>,
    /// The directory fields as the document set them.
    #[serde(default)]
    pub synced: serde_json::Map<String, serde_json::Value>,
}

/// Who made a change; recorded on every audit entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    Admin,
    DingtalkPull,
    DingtalkEvent,
    Scim,
    /// The person themselves, signed in to the portal (a password change).
    Portal,
}

impl Origin {
    /// Every origin, as the audit log's filter offers them.
    pub const ALL: [Self; 5] = [
        Self::Admin,
        Self::DingtalkPull,
        Self::DingtalkEvent,
        Self::Scim,
        Self::Portal,
    ];

    /// The origin `as_str` spells `raw`.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == raw)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::DingtalkPull => "dingtalk-pull",
            Self::DingtalkEvent => "dingtalk-event",
            Self::Scim => "scim",
            Self::Portal => "portal",
        }
    }
}

impl Account {
    /// The org units the account belongs to, primary or not.
    pub fn unit_ids(&self) -> Vec<OrgUnitId> {
        self.memberships
            .iter()
            .map(|m| m.org_unit_id.clone())
            .collect()
    }

    /// The primary org unit, if the account has any membership.
    pub fn primary_unit(&self) -> Option<&OrgUnitId> {
        self.memberships
            .iter()
            .find(|m| m.primary)
            .or_else(|| self.memberships.first())
            .map(|m| &m.org_unit_id)
    }
}

/// Normalises memberships: no duplicates, exactly one primary (the requested one if present,
/// else the first), order kept.
pub fn normalise_memberships(units: &[OrgUnitId], primary: Option<&OrgUnitId>) -> Vec<Membership> {
    let mut out: Vec<Membership> = Vec::with_capacity(units.len());
    for unit in units {
        if !out.iter().any(|m| &m.org_unit_id == unit) {
            out.push(Membership {
                org_unit_id: unit.clone(),
                primary: false,
            });
        }
    }
    let index = primary
        .and_then(|p| out.iter().position(|m| &m.org_unit_id == p))
        .unwrap_or(0);
    if let Some(m) = out.get_mut(index) {
        m.primary = true;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_parse_as_they_are_spelt_and_serialised() {
        for o in Origin::ALL {
            assert_eq!(Origin::parse(o.as_str()), Some(o));
            assert_eq!(serde_json::to_value(o).unwrap(), o.as_str());
        }
        assert_eq!(Origin::parse("robot"), None);
    }

    #[test]
    fn memberships_have_one_primary_and_no_duplicates() {
        let a = OrgUnitId::generate();
        let b = OrgUnitId::generate();
        let m = normalise_memberships(&[a.clone(), b.clone(), a.clone()], Some(&b));
        assert_eq!(m.len(), 2);
        assert_eq!(m.iter().filter(|m| m.primary).count(), 1);
        assert!(m[1].primary);
        let m = normalise_memberships(&[a.clone(), b], None);
        assert!(m[0].primary);
        assert!(normalise_memberships(&[], Some(&a)).is_empty());
    }
}
