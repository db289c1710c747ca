//! DingTalk as the rules see it: the records of its contact book (users, departments and their
//! ids), the values the write APIs take, and the error kinds its codes fall into.

pub mod error;
pub mod types;

pub use error::{DingTalkError, ErrorCode, ErrorKind};
pub use types::*;
