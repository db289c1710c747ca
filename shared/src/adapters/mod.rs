//! Engines behind the ports: embedded (redb, always built) for `cargo run` and fast tests,
//! DynamoDB and SQS (feature `aws`) for Lambda.

pub mod embedded;

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "aws")]
pub mod dynamodb;
#[cfg(feature = "aws")]
pub mod secrets_manager;
#[cfg(feature = "aws")]
pub mod sqs;
