//! The simulator over real HTTP with plain `reqwest` and raw JSON: every rejection carries
//! DingTalk's code (protocol §5.3). One test binary, a module per area.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod callbacks;
mod contacts;
mod limits;
mod login;
mod persist;
mod support;
mod tokens;
