//! The pure domain: ids, constrained values and the rules of the directory. No AWS, Lambda, HTTP
//! or storage dependency lives here.

pub mod connector;
pub mod directory;
pub mod ids;
pub mod password;
pub mod pull;
pub mod sync;
pub mod values;
