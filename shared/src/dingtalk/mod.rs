//! DingTalk: callback crypto, wire types and the HTTP client (the real `DingTalk` port).

mod api;
pub mod client;
pub mod crypto;
pub mod error;
pub mod events;
pub mod limiter;
pub mod port;
pub mod token;
pub mod types;
mod wire;

pub use api::sns_signature;
pub use client::{ClientConfig, HttpDingTalk};
pub use error::{DingTalkError, ErrorCode, ErrorKind};
pub use limiter::{Rate, RateLimiter};
pub use port::DingTalk;
pub use types::*;
