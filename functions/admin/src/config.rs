//! The admin function's configuration, read once at cold start; every problem reported at once.

use dingbridge::config::{ConfigError, EnvReader, data_key, queue_url};
use dingbridge::secrets::SecretBox;

/// Everything `main` needs. `Debug` leaves the data key and the admin token out.
#[derive(Clone)]
pub struct Config {
    /// `TABLE_NAME`.
    pub table_name: String,
    /// `SYNC_QUEUE_URL`: where re-driven events go.
    pub sync_queue_url: String,
    /// `PULL_QUEUE_URL`: where started pulls and confirmed runs go (consumed by `full-pull`).
    pub pull_queue_url: String,
    /// `PUSH_QUEUE_URL`: where directory writes to push go (consumed by `push-worker`).
    pub push_queue_url: String,
    /// `DINGBRIDGE_DATA_KEY`: base64 of 32 bytes; seals connector secrets.
    pub secrets: SecretBox,
    /// `DINGBRIDGE_PUBLIC_URL`: the base DingTalk calls back (trailing `/` removed).
    pub public_base_url: String,
    /// `DINGBRIDGE_ADMIN_TOKEN` (optional): an admin token to make sure is stored.
    pub admin_token: Option<String>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("table_name", &self.table_name)
            .field("sync_queue_url", &self.sync_queue_url)
            .field("public_base_url", &self.public_base_url)
            .field("admin_token_set", &self.admin_token.is_some())
            .finish_non_exhaustive()
    }
}

impl Config {
    pub fn read(mut env: EnvReader) -> Result<Self, ConfigError> {
        let table_name = env.required("TABLE_NAME");
        let sync_queue_url = queue_url(&mut env, "SYNC_QUEUE_URL");
        let pull_queue_url = queue_url(&mut env, "PULL_QUEUE_URL");
        let push_queue_url = queue_url(&mut env, "PUSH_QUEUE_URL");
        let secrets = data_key(&mut env);
        let public_base_url = env
            .required("DINGBRIDGE_PUBLIC_URL")
            .trim_end_matches('/')
            .to_owned();
        let is_url =
            public_base_url.starts_with("https://") || public_base_url.starts_with("http://");
        if !public_base_url.is_empty() && !is_url {
            env.problem("DINGBRIDGE_PUBLIC_URL", "must be an http(s) URL");
        }
        let admin_token = env.optional("DINGBRIDGE_ADMIN_TOKEN");
        env.finish()?;
        let secrets = secrets.ok_or_else(ConfigError::no_data_key)?;
        Ok(Self {
            table_name,
            sync_queue_url,
            pull_queue_url,
            push_queue_url,
            secrets,
            public_base_url,
            admin_token,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_missing_or_bad_variable_is_reported_at_once() {
        let env = EnvReader::from_pairs([
            ("DINGBRIDGE_DATA_KEY", "c2hvcnQ="),
            ("DINGBRIDGE_PUBLIC_URL", "example.com"),
        ]);
        let err = Config::read(env).unwrap_err();
        let vars: Vec<_> = err.problems.iter().map(|p| p.var.as_str()).collect();
        assert_eq!(
            vars,
            [
                "TABLE_NAME",
                "SYNC_QUEUE_URL",
                "PULL_QUEUE_URL",
                "PUSH_QUEUE_URL",
                "DINGBRIDGE_DATA_KEY",
                "DINGBRIDGE_PUBLIC_URL"
            ]
        );
    }

    #[test]
    fn a_complete_environment_reads_and_hides_the_token() {
        let key = SecretBox::generate_key();
        let env = EnvReader::from_pairs([
            ("TABLE_NAME", "dingbridge"),
            ("SYNC_QUEUE_URL", "https://sqs.example/q.fifo"),
            ("PULL_QUEUE_URL", "https://sqs.example/pull.fifo"),
            ("PUSH_QUEUE_URL", "https://sqs.example/push.fifo"),
            ("DINGBRIDGE_DATA_KEY", key.as_str()),
            ("DINGBRIDGE_PUBLIC_URL", "https://idm.example.com/"),
            ("DINGBRIDGE_ADMIN_TOKEN", "tok-very-secret-value"),
        ]);
        let config = Config::read(env).unwrap();
        assert_eq!(config.public_base_url, "https://idm.example.com");
        assert_eq!(config.admin_token.as_deref(), Some("tok-very-secret-value"));
        assert!(!format!("{config:?}").contains("tok-very-secret-value"));
    }
}
