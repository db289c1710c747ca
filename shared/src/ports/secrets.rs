//! The `Secrets` port: the deployment's own secrets (the data key that seals connector secrets, and
//! the bootstrap admin token), read where the deployment keeps them — Secrets Manager by ARN on
//! Lambda, the data directory locally — and never from an environment variable's value on Lambda.

use std::fmt;

use async_trait::async_trait;

use crate::dingtalk::SecretString;

/// One of the deployment's secrets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeploymentSecret {
    /// The AES-256-GCM key under which connector secrets are sealed.
    DataKey,
    /// The first admin token, stored (as a digest) at the admin function's first start.
    AdminToken,
}

impl DeploymentSecret {
    pub const ALL: [Self; 2] = [Self::DataKey, Self::AdminToken];

    /// The configuration variable the value fills (in memory).
    pub fn var(self) -> &'static str {
        match self {
            Self::DataKey => "DINGBRIDGE_DATA_KEY",
            Self::AdminToken => "DINGBRIDGE_ADMIN_TOKEN",
        }
    }

    /// The variable naming the secret's ARN in Secrets Manager (what `template.yaml` sets).
    pub fn arn_var(self) -> &'static str {
        match self {
            Self::DataKey => "DINGBRIDGE_DATA_KEY_SECRET_ARN",
            Self::AdminToken => "DINGBRIDGE_ADMIN_TOKEN_SECRET_ARN",
        }
    }

    /// The secret's file in a local data directory.
    pub fn file_name(self) -> &'static str {
        match self {
            Self::DataKey => "data.key",
            Self::AdminToken => "admin.token",
        }
    }
}

impl fmt::Display for DeploymentSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::DataKey => "data key",
            Self::AdminToken => "admin token",
        })
    }
}

/// Why a secret could not be read or kept: which one, where it was looked for, and why. Never
/// carries the value.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the {secret} ({location}): {reason}")]
pub struct SecretsError {
    pub secret: DeploymentSecret,
    /// The ARN or the file.
    pub location: String,
    pub reason: String,
}

/// Where the deployment's secrets are kept.
#[async_trait]
pub trait Secrets: Send + Sync {
    /// The secret's value, surrounding whitespace removed; `None` when this deployment keeps no
    /// such secret (no ARN configured, no file). A secret that is configured but cannot be read
    /// is an error, never `None`.
    async fn get(&self, which: DeploymentSecret) -> Result<Option<SecretString>, SecretsError>;
}
