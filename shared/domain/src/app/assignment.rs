//! Who may use an app: everyone, or listed org units (their sub-units included) and accounts,
//! with its two JSON shapes.

use std::collections::BTreeSet;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ids::{AccountId, OrgUnitId};

/// Who may use an app. In JSON exactly `{"everyone": true}` or
/// `{"org_unit_ids": [...], "account_ids": [...]}`, so that an admin cannot send both.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Assignment {
    Everyone,
    /// The accounts listed, and every account in one of the units listed or below them.
    Some {
        org_unit_ids: Vec<OrgUnitId>,
        account_ids: Vec<AccountId>,
    },
}

impl Assignment {
    /// Whether `account` may use the app. `units` holds the account's units and all their
    /// ancestors (the caller reads them), so an assignment to a unit covers its sub-units.
    pub fn covers(&self, account: &AccountId, units: &BTreeSet<OrgUnitId>) -> bool {
        match self {
            Self::Everyone => true,
            Self::Some {
                org_unit_ids,
                account_ids,
            } => account_ids.contains(account) || org_unit_ids.iter().any(|u| units.contains(u)),
        }
    }
}

#[derive(Serialize)]
#[serde(untagged)]
enum AssignmentOut<'a> {
    Everyone {
        everyone: bool,
    },
    Some {
        org_unit_ids: &'a [OrgUnitId],
        account_ids: &'a [AccountId],
    },
}

impl Serialize for Assignment {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Everyone => AssignmentOut::Everyone { everyone: true },
            Self::Some {
                org_unit_ids,
                account_ids,
            } => AssignmentOut::Some {
                org_unit_ids,
                account_ids,
            },
        }
        .serialize(serializer)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignmentIn {
    #[serde(default)]
    everyone: bool,
    #[serde(default)]
    org_unit_ids: Vec<OrgUnitId>,
    #[serde(default)]
    account_ids: Vec<AccountId>,
}

impl<'de> Deserialize<'de> for Assignment {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = AssignmentIn::deserialize(deserializer)?;
        match (wire.everyone, wire.org_unit_ids, wire.account_ids) {
            (true, units, accounts) if units.is_empty() && accounts.is_empty() => {
                Ok(Self::Everyone)
            }
            (true, _, _) => Err(serde::de::Error::custom(
                "an assignment to everyone lists no org units or accounts",
            )),
            (false, org_unit_ids, account_ids) => Ok(Self::Some {
                org_unit_ids,
                account_ids,
            }),
        }
    }
}
