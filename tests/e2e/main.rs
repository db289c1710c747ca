//! End-to-end flows: one test binary with a module per flow (keeps link time down).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod dingtalk_client;
mod local;
