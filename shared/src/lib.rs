//! `dingbridge`: everything the Lambda functions share — the pure domain, the ports, the stores
//! written once over those ports, the engines behind them, and the DingTalk client and crypto.

pub use dingbridge_domain as domain;

pub mod adapters;
pub mod config;
pub mod dingtalk;
pub mod lifecycle;
pub mod logging;
pub mod oauth;
pub mod ports;
pub mod push;
pub mod pusher;
pub mod secrets;
pub mod signing;
pub mod store;
pub mod sync;
pub mod web;
pub mod worker;
