//! `dingbridge-domain`: the pure domain — ids, constrained values, connectors, SSO apps, the
//! DingTalk records and error kinds the rules reason about, and the rules of the directory,
//! inbound sync and the full pull. Nothing here performs I/O, and its manifest lists no AWS,
//! Lambda, HTTP, async-runtime or storage crate (CI checks that).

pub mod app;
pub mod auth_source;
pub mod connector;
pub mod dingtalk;
pub mod directory;
pub mod ids;
pub mod password;
pub mod pull;
pub mod rules;
pub mod sync;
pub mod values;
