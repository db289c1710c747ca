//! Our own ids: UUIDv7 strings (time-ordered, so keys built from them sort by creation).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::values::{InvalidField, text_newtype_impls};

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn generate() -> Self {
                Self(uuid::Uuid::now_v7().to_string())
            }

            pub fn parse(raw: &str) -> Result<Self, InvalidField> {
                uuid::Uuid::parse_str(raw.trim())
                    .map(|u| Self(u.hyphenated().to_string()))
                    .map_err(|_| InvalidField::new($field, "is not a valid id"))
            }
        }

        text_newtype_impls!($name);
    };
}

uuid_id!(
    /// An account of the directory.
    AccountId,
    "account_id"
);
uuid_id!(
    /// An org unit (department) of the directory.
    OrgUnitId,
    "org_unit_id"
);
uuid_id!(
    /// A connector: one DingTalk internal app.
    ConnectorId,
    "connector_id"
);

uuid_id!(
    /// A SCIM client (an OAuth 2.0 client of the token endpoint); its public `client_id` is
    /// derived from it.
    ScimClientId,
    "scim_client_id"
);

uuid_id!(
    /// An application (SSO target: an OpenID Connect relying party or a signed-JWT app); its
    /// public `client_id` is derived from it.
    AppId,
    "app_id"
);

uuid_id!(
    /// A sync run (a full pull; later, a push run).
    RunId,
    "run_id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_refuse_garbage() {
        let id = AccountId::generate();
        assert_eq!(AccountId::parse(id.as_str()).unwrap(), id);
        assert!(AccountId::parse("ACC#1").is_err());
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<AccountId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<AccountId>("\"nope\"").is_err());
    }

    #[test]
    fn later_ids_sort_after_earlier_ones() {
        let a = OrgUnitId::generate();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = OrgUnitId::generate();
        assert!(a < b);
    }
}
