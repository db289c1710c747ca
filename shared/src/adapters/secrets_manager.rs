//! Secrets read from AWS Secrets Manager by ARN, once at cold start. The template gives the
//! functions ARNs only (`*_SECRET_ARN`); the values go straight into the function's in-memory
//! configuration and never into an environment variable, where `lambda:GetFunctionConfiguration`
//! would show them.

use crate::config::EnvReader;
/// The SDK, for callers that create secrets (tests) without depending on it.
pub use aws_sdk_secretsmanager as sdk;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata};

/// The variables that may name a secret: `{name}_SECRET_ARN` provides the value of `{name}`.
pub const SECRET_VARS: &[&str] = &["DINGBRIDGE_DATA_KEY", "DINGBRIDGE_ADMIN_TOKEN"];

/// Why a secret could not be read; never carries the value.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the secret of {var} from Secrets Manager: {reason}")]
pub struct SecretReadError {
    pub var: String,
    pub reason: String,
}

/// Resolves every `{name}_SECRET_ARN` of `SECRET_VARS` present in `env` into `{name}` of `env`
/// (in memory only). A variable given both ways is refused: which one wins would be a guess.
pub async fn resolve_secrets(client: &Client, env: &mut EnvReader) -> Result<(), SecretReadError> {
    for name in SECRET_VARS {
        let arn_var = format!("{name}_SECRET_ARN");
        let Some(arn) = env.optional(&arn_var) else {
            continue;
        };
        if env.optional(name).is_some() {
            return Err(SecretReadError {
                var: (*name).to_owned(),
                reason: format!("both {name} and {arn_var} are set; set only {arn_var}"),
            });
        }
        let value = read_secret(client, &arn)
            .await
            .map_err(|reason| SecretReadError {
                var: (*name).to_owned(),
                reason,
            })?;
        env.set(name, value);
    }
    Ok(())
}

/// The secret's current string value.
pub async fn read_secret(client: &Client, arn: &str) -> Result<String, String> {
    let out = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| match e.code() {
            Some(code) => format!("{arn}: {code}: {}", e.message().unwrap_or_default()),
            None => format!("{arn}: {}", DisplayErrorContext(&e)),
        })?;
    out.secret_string()
        .map(str::to_owned)
        .ok_or_else(|| format!("{arn} holds no string value"))
}

/// The process environment with its `*_SECRET_ARN` secrets read: what a Lambda's `main` reads its
/// configuration from.
pub async fn env_with_secrets(aws: &aws_config::SdkConfig) -> Result<EnvReader, SecretReadError> {
    let mut env = EnvReader::from_env();
    resolve_secrets(&Client::new(aws), &mut env).await?;
    Ok(env)
}
