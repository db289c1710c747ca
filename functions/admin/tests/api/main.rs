//! The admin API end to end through its router: embedded engines in a temporary directory, and the
//! DingTalk simulator over real HTTP wherever DingTalk is involved.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod apps;
mod audit;
mod auth;
mod auth_sources;
mod callback;
mod connectors;
mod directory;
mod directory_writes;
mod errors;
mod input;
mod link_requests;
mod paging;
mod parked;
mod pushes;
mod roles;
mod scim_clients;
mod signing_keys;
mod support;
mod test_connection;
