//! The SCIM server through its router: embedded engines in a temporary directory, clients and
//! tokens made by the same store and signing key as the token endpoint.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod behaviour;
mod dialects;
mod security;
mod support;
