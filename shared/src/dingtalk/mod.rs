//! DingTalk: callback crypto, wire types and the HTTP client (the real `DingTalk` port).

mod api;
pub mod client;
pub mod crypto;
pub mod events;
pub mod limiter;
pub mod token;
mod wire;

pub use crate::domain::dingtalk::{error, types};

pub use crate::ports::DingTalk;
pub use api::sns_signature;
pub use client::{ClientConfig, HttpDingTalk};
pub use error::{DingTalkError, ErrorCode, ErrorKind};
pub use limiter::{Rate, RateLimiter};
pub use types::*;
