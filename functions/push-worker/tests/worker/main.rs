//! The push worker against the DingTalk simulator over real HTTP, on the embedded engines: one
//! integration-test binary, a module per concern.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod accounts;
mod failures;
mod links;
mod retire;
mod units;
