//! Repositories written once over the `Table` port, with the keys of `docs/table-design.md`.

pub mod admin_tokens;
pub mod apps;
pub mod audit;
pub mod auth_sources;
pub mod bindings;
pub mod connectors;
pub mod credentials;
pub mod directory;
pub mod events;
pub mod grants;
pub mod keys;
pub mod link_requests;
pub mod login_states;
pub mod mappings;
pub mod outbox;
pub mod roles;
pub mod runs;
pub mod scim_clients;
pub mod sessions;
pub mod settings;
pub mod throttle;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::domain::directory::Origin;
use crate::domain::values::InvalidField;
use crate::ports::{Item, TableError};

/// Who is making a change: the path it came through and a free-form actor (admin token name,
/// connector id, SCIM client id).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub origin: Origin,
    pub name: String,
}

impl Actor {
    pub fn new(origin: Origin, name: impl Into<String>) -> Self {
        Self {
            origin,
            name: name.into(),
        }
    }
}

/// One page of a listing; `next` is the opaque cursor of the following page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageOf<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

impl<T: DeserializeOwned> PageOf<T> {
    /// A page of the table with every item decoded into `T`, keeping its cursor.
    pub(crate) fn decoded(page: crate::ports::Page) -> Result<Self, DirectoryError> {
        let items = page.items.iter().map(decode).collect::<Result<_, _>>()?;
        Ok(Self {
            items,
            next: page.next,
        })
    }
}

impl<T: DeserializeOwned + Versioned> PageOf<T> {
    /// As [`PageOf::decoded`], each entity with its item's version.
    pub(crate) fn decoded_versioned(page: crate::ports::Page) -> Result<Self, DirectoryError> {
        let items = page
            .items
            .iter()
            .map(decode_versioned)
            .collect::<Result<_, _>>()?;
        Ok(Self {
            items,
            next: page.next,
        })
    }
}

/// What a directory write can come to.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error(transparent)]
    Invalid(#[from] InvalidField),
    #[error("{0} not found")]
    NotFound(String),
    /// A unique value is taken, or a name exists under the same parent.
    #[error("{detail}")]
    Conflict { attr: &'static str, detail: String },
    /// The unit still has child units or members.
    #[error("the org unit is not empty (child units: {children}, members: {members})")]
    NotEmpty { children: bool, members: bool },
    /// The stored version is not the one the caller saw (or a race was lost too often).
    #[error("the entity was changed concurrently")]
    Stale,
    /// A stored item does not decode: a bug or a hand-edited table.
    #[error("corrupt item: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Storage(#[from] TableError),
}

impl DirectoryError {
    /// Storage that may answer later, or a race lost to a concurrent write: worth retrying.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Storage(e) => e.is_transient(),
            Self::Stale => true,
            _ => false,
        }
    }

    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid(InvalidField::new(field, reason))
    }
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Result<serde_json::Value, DirectoryError> {
    serde_json::to_value(value).map_err(|e| DirectoryError::Corrupt(e.to_string()))
}

/// An entity that carries its item's version outside `d` (`#[serde(skip)]`).
pub trait Versioned {
    fn set_version(&mut self, version: u64);
}

/// A transaction whose cancellation (a condition that no longer held: a lost race or a version
/// that moved on) is `Stale`.
pub(crate) async fn transact_or_stale(
    table: &dyn crate::ports::Table,
    ops: Vec<crate::ports::TxOp>,
) -> Result<(), DirectoryError> {
    match table.transact(ops).await {
        Ok(()) => Ok(()),
        Err(TableError::TransactionCancelled { .. }) => Err(DirectoryError::Stale),
        Err(e) => Err(e.into()),
    }
}

/// `decode`, with the item's version set on the entity.
pub(crate) fn decode_versioned<T: DeserializeOwned + Versioned>(
    item: &Item,
) -> Result<T, DirectoryError> {
    let mut entity: T = decode(item)?;
    entity.set_version(item.version);
    Ok(entity)
}

pub(crate) fn decode<T: DeserializeOwned>(item: &Item) -> Result<T, DirectoryError> {
    serde_json::from_value(item.data.clone())
        .map_err(|e| DirectoryError::Corrupt(format!("{} {}: {e}", item.key.pk, item.key.sk)))
}
