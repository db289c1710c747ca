//! The token function's configuration, read once at cold start; every problem reported at once.

use dingbridge::config::{AwsStorageConfig, ConfigError, EnvReader, data_key};
use dingbridge::secrets::SecretBox;

/// Everything `main` needs. `Debug` leaves the data key out.
#[derive(Clone)]
pub struct Config {
    /// `TABLE_NAME`.
    pub table_name: String,
    /// `DINGBRIDGE_DATA_KEY`: opens the signing key's private half.
    pub secrets: SecretBox,
    /// `DINGBRIDGE_PUBLIC_URL` (trailing `/` removed): the tokens' issuer, and with `/scim/v2`
    /// their audience.
    pub public_url: String,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("table_name", &self.table_name)
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

impl Config {
    pub fn read(mut env: EnvReader) -> Result<Self, ConfigError> {
        let storage = AwsStorageConfig::read(&mut env);
        let secrets = data_key(&mut env);
        let public_url = env
            .required("DINGBRIDGE_PUBLIC_URL")
            .trim_end_matches('/')
            .to_owned();
        if !public_url.is_empty()
            && !public_url.starts_with("https://")
            && !public_url.starts_with("http://")
        {
            env.problem("DINGBRIDGE_PUBLIC_URL", "must be an http(s) URL");
        }
        env.finish()?;
        let secrets = secrets.ok_or_else(ConfigError::no_data_key)?;
        Ok(Self {
            table_name: storage.table_name,
            secrets,
            public_url,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_missing_or_bad_variable_is_reported_at_once() {
        let env = EnvReader::from_pairs([("DINGBRIDGE_PUBLIC_URL", "idm.example")]);
        let err = Config::read(env).unwrap_err();
        let vars: Vec<_> = err.problems.iter().map(|p| p.var.as_str()).collect();
        assert_eq!(
            vars,
            ["TABLE_NAME", "DINGBRIDGE_DATA_KEY", "DINGBRIDGE_PUBLIC_URL"]
        );
    }

    #[test]
    fn a_complete_environment_reads_and_hides_the_key() {
        let key = SecretBox::generate_key();
        let env = EnvReader::from_pairs([
            ("TABLE_NAME", "dingbridge"),
            ("DINGBRIDGE_DATA_KEY", key.as_str()),
            ("DINGBRIDGE_PUBLIC_URL", "https://idm.example/"),
        ]);
        let config = Config::read(env).unwrap();
        assert_eq!(config.public_url, "https://idm.example");
        assert!(!format!("{config:?}").contains(&key));
    }
}
