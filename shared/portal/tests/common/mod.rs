//! What the portal's in-process tests share: an embedded store on a given clock, with the
//! directory root and one enabled account that has a password.

// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use dingbridge::adapters::embedded::EmbeddedStore;
use dingbridge::domain::directory::{Account, AccountStatus, Origin, normalise_memberships};
use dingbridge::domain::ids::AccountId;
use dingbridge::domain::values::{DisplayName, Username};
use dingbridge::ports::{Clock, Table};
use dingbridge::secrets::hash_password;
use dingbridge::store::Actor;
use dingbridge::store::directory::Directory;

pub struct Store {
    pub table: Arc<dyn Table>,
    pub directory: Directory,
    pub admin: Actor,
    pub account: Account,
    /// Holds the store's files until the test ends.
    pub dir: tempfile::TempDir,
}

/// A fresh store holding `username` (display name `display_name`) with `password`.
pub async fn store(
    clock: Arc<dyn Clock>,
    username: &str,
    display_name: &str,
    password: &str,
) -> Store {
    let dir = tempfile::tempdir().unwrap();
    let embedded = EmbeddedStore::open(dir.path()).unwrap();
    let table: Arc<dyn Table> = Arc::new(embedded.table(clock.clone()));
    let directory = Directory::new(table.clone(), clock);
    let root = directory.ensure_root().await.unwrap();
    let admin = Actor::new(Origin::Admin, "test");
    let account = directory
        .create_account(
            Account {
                scim: None,
                id: AccountId::generate(),
                username: Username::parse(username).unwrap(),
                display_name: DisplayName::parse(display_name).unwrap(),
                email: None,
                mobile: None,
                job_number: None,
                title: None,
                status: AccountStatus::Enabled,
                memberships: normalise_memberships(std::slice::from_ref(&root.id), None),
                password_hash: Some(hash_password(password).unwrap()),
                must_change_password: false,
                password_changed_ms: None,
                attributes: BTreeMap::new(),
                version: 0,
                created_ms: 0,
                updated_ms: 0,
            },
            &admin,
        )
        .await
        .unwrap();
    Store {
        table,
        directory,
        admin,
        account,
        dir,
    }
}
