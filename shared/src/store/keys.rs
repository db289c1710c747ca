//! The keys of `docs/table-design.md`, built in one place. Values inside keys are escaped so a `#`
//! in a name can never forge another key.

use crate::domain::directory::Origin;
use crate::domain::ids::{AccountId, ConnectorId, OrgUnitId};
use crate::ports::{IndexKey, Key};

/// `#` separates key parts; a literal `#` (or `%`) inside a value is percent-escaped.
pub fn esc(value: &str) -> String {
    if value.contains(['#', '%']) {
        value.replace('%', "%25").replace('#', "%23")
    } else {
        value.to_owned()
    }
}

pub fn org_unit(id: &OrgUnitId) -> Key {
    Key::new(format!("OU#{id}"), "OU")
}

pub fn org_unit_children(parent: &OrgUnitId) -> String {
    format!("OUKIDS#{parent}")
}

pub fn org_unit_child_entry(parent: &OrgUnitId, name: &str, id: &OrgUnitId) -> IndexKey {
    IndexKey::new(org_unit_children(parent), format!("{}#{id}", esc(name)))
}

pub const ALL_ORG_UNITS: &str = "OUS";

pub fn all_org_units_entry(id: &OrgUnitId) -> IndexKey {
    IndexKey::new(ALL_ORG_UNITS, id.to_string())
}

pub fn account(id: &AccountId) -> Key {
    Key::new(format!("ACC#{id}"), "ACC")
}

pub const ALL_ACCOUNTS: &str = "ACCS";

pub fn all_accounts_entry(username: &str, id: &AccountId) -> IndexKey {
    IndexKey::new(ALL_ACCOUNTS, format!("{}#{id}", esc(username)))
}

pub fn membership(account: &AccountId, unit: &OrgUnitId) -> Key {
    Key::new(format!("ACC#{account}"), format!("MEM#{unit}"))
}

pub fn unit_members(unit: &OrgUnitId) -> String {
    format!("OUMEM#{unit}")
}

/// A uniqueness marker: `kind` is `username`, `email`, `mobile` or `ouname`.
pub fn unique(kind: &str, value: &str) -> Key {
    Key::new(format!("UNQ#{kind}#{}", esc(value)), "UNQ")
}

/// An org unit in the by-name lookup (names lower-cased; not unique: names repeat under different
/// parents). The item's `d.id` names the unit.
pub fn unit_by_name(name: &str, id: &OrgUnitId) -> Key {
    Key::new(
        format!("OUNAME#{}", esc(&name.to_lowercase())),
        id.to_string(),
    )
}

pub fn units_by_name(name: &str) -> String {
    format!("OUNAME#{}", esc(&name.to_lowercase()))
}

pub fn unit_name_marker(parent: &OrgUnitId, name: &str) -> Key {
    unique("ouname", &format!("{parent}#{}", esc(&name.to_lowercase())))
}

/// The claim of one DingTalk app (corp id × app key) by the one connector that may use it:
/// DingTalk keeps one callback URL per app, so a second connector would take its events over.
pub fn connector_app(corp_id: &str, app_key: &str) -> Key {
    unique("connapp", &format!("{}#{}", esc(corp_id), esc(app_key)))
}

/// Which kind of DingTalk object a mapping is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExternalKind {
    User,
    Dept,
}

impl ExternalKind {
    fn letter(self) -> &'static str {
        match self {
            Self::User => "U",
            Self::Dept => "D",
        }
    }
}

pub fn external(connector: &ConnectorId, kind: ExternalKind, external_id: &str) -> Key {
    Key::new(
        format!("EXT#{connector}#{}#{}", kind.letter(), esc(external_id)),
        "EXT",
    )
}

pub fn externals_of_connector(connector: &ConnectorId, kind: ExternalKind) -> String {
    format!("EXTS#{connector}#{}", kind.letter())
}

pub fn externals_of_entity(our_id: &str) -> String {
    format!("EXTOF#{our_id}")
}

pub fn audit_partition(entity_kind: &str, entity_id: &str) -> String {
    format!("AUDIT#{entity_kind}#{}", esc(entity_id))
}

/// The audit entries of one origin, on `gsi2`, sorted by `{at_ms}#{id}`: one partition per origin
/// (four in all), so the whole log is read newest first by merging them.
pub fn audit_by_origin(origin: Origin) -> String {
    format!("AUDITBY#{}", origin.as_str())
}

/// The audit entries of one day (days since the epoch, UTC), on `gsi1`.
pub fn audit_day(at_ms: i64) -> String {
    format!("AUDITDAY#{}", at_ms.div_euclid(86_400_000))
}

/// Zero-padded epoch milliseconds, so that text order is time order.
pub fn time_key(at_ms: i64) -> String {
    format!("{:013}", at_ms.max(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_in_a_value_cannot_forge_another_key() {
        assert_eq!(esc("a#b"), "a%23b");
        assert_eq!(esc("a%23b"), "a%2523b");
        assert_ne!(unique("email", "x#y").pk, unique("email#x", "y").pk);
        assert_ne!(connector_app("a#b", "c").pk, connector_app("a", "b#c").pk);
    }

    #[test]
    fn time_keys_sort_numerically() {
        assert!(time_key(999) < time_key(1000));
        assert_eq!(time_key(-5), "0000000000000");
    }
}
