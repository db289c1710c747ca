//! The `Secrets` port on AWS Secrets Manager: each secret is read by the ARN the template gives
//! the function (`*_SECRET_ARN`), once at cold start. The values go straight into the function's
//! in-memory configuration and never into an environment variable, where
//! `lambda:GetFunctionConfiguration` would show them.

use std::collections::BTreeMap;

use async_trait::async_trait;
/// The SDK, for callers that create secrets (tests) without depending on it.
pub use aws_sdk_secretsmanager as sdk;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata};

use crate::config::EnvReader;
use crate::dingtalk::SecretString;
use crate::ports::{DeploymentSecret, Secrets, SecretsError};

/// The deployment's secrets in Secrets Manager, by ARN.
#[derive(Clone, Debug)]
pub struct SecretsManager {
    client: Client,
    arns: BTreeMap<DeploymentSecret, String>,
}

impl SecretsManager {
    pub fn new(client: Client, arns: BTreeMap<DeploymentSecret, String>) -> Self {
        Self { client, arns }
    }

    /// The ARNs named by `env`'s `*_SECRET_ARN` variables.
    pub fn from_env(client: Client, env: &EnvReader) -> Self {
        let arns = DeploymentSecret::ALL
            .into_iter()
            .filter_map(|s| Some((s, env.optional(s.arn_var())?)))
            .collect();
        Self::new(client, arns)
    }
}

#[async_trait]
impl Secrets for SecretsManager {
    async fn get(&self, which: DeploymentSecret) -> Result<Option<SecretString>, SecretsError> {
        let Some(arn) = self.arns.get(&which) else {
            return Ok(None);
        };
        let failure = |reason: String| SecretsError {
            secret: which,
            location: arn.clone(),
            reason,
        };
        let out = self
            .client
            .get_secret_value()
            .secret_id(arn)
            .send()
            .await
            .map_err(|e| {
                failure(match e.code() {
                    Some(code) => format!("{code}: {}", e.message().unwrap_or_default()),
                    None => DisplayErrorContext(&e).to_string(),
                })
            })?;
        let value = out
            .secret_string()
            .ok_or_else(|| failure("the secret holds no string value".to_owned()))?
            .trim();
        if value.is_empty() {
            return Err(failure("the secret's value is empty".to_owned()));
        }
        Ok(Some(SecretString::new(value)))
    }
}

/// Why the configuration's secrets could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SecretReadError {
    #[error(transparent)]
    Read(#[from] SecretsError),
    /// A value given directly beside its ARN: which one should win would be a guess.
    #[error("both {var} and {arn_var} are set; set only {arn_var}")]
    Both {
        var: &'static str,
        arn_var: &'static str,
    },
}

/// Fills the variable of every secret `secrets` keeps into `env` (in memory only), reading them
/// concurrently: init waits for the slowest read, not for their sum.
pub async fn resolve_secrets(
    secrets: &dyn Secrets,
    env: &mut EnvReader,
) -> Result<(), SecretReadError> {
    let reads = DeploymentSecret::ALL.map(|which| async move { (which, secrets.get(which).await) });
    for (which, value) in futures::future::join_all(reads).await {
        let Some(value) = value? else {
            continue;
        };
        if env.optional(which.var()).is_some() {
            return Err(SecretReadError::Both {
                var: which.var(),
                arn_var: which.arn_var(),
            });
        }
        env.set(which.var(), value.expose().to_owned());
    }
    Ok(())
}

/// The process environment with its `*_SECRET_ARN` secrets read from Secrets Manager: what a
/// Lambda's `main` reads its configuration from.
pub async fn env_with_secrets(aws: &aws_config::SdkConfig) -> Result<EnvReader, SecretReadError> {
    let mut env = EnvReader::from_env();
    let secrets = SecretsManager::from_env(Client::new(aws), &env);
    resolve_secrets(&secrets, &mut env).await?;
    Ok(env)
}
