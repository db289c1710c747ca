//! Typed configuration read once from the environment at cold start. An `EnvReader` collects every
//! missing or invalid variable, so one error names all of them instead of failing one at a time.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

/// One variable that is missing or cannot be parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub var: String,
    pub reason: String,
}

/// The data key's variable, and what it must hold.
pub const DATA_KEY_VAR: &str = "DINGBRIDGE_DATA_KEY";
const DATA_KEY_RULE: &str = "must be the base64 of 32 bytes, or a secret of at least 32 characters";

/// Every problem found while reading a configuration.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub problems: Vec<Problem>,
}

impl ConfigError {
    /// A configuration error naming one variable.
    pub fn one(var: &str, reason: &str) -> Self {
        Self {
            problems: vec![Problem {
                var: var.to_owned(),
                reason: reason.to_owned(),
            }],
        }
    }

    /// The data key was not read (only after a reader's `finish` failed to say so).
    pub fn no_data_key() -> Self {
        Self::one(DATA_KEY_VAR, DATA_KEY_RULE)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration ({} problem", self.problems.len())?;
        if self.problems.len() != 1 {
            write!(f, "s")?;
        }
        write!(f, "):")?;
        for p in &self.problems {
            write!(f, " {}: {};", p.var, p.reason)?;
        }
        Ok(())
    }
}

/// Reads variables from a snapshot of the environment and records problems instead of stopping
/// at the first one. Call [`EnvReader::finish`] to get them all.
pub struct EnvReader {
    vars: HashMap<String, String>,
    problems: Vec<Problem>,
}

impl EnvReader {
    /// A snapshot of the process environment (non-UTF-8 values are reported when read).
    pub fn from_env() -> Self {
        let vars = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().unwrap_or_default())))
            .collect();
        Self::from_map(vars)
    }

    pub fn from_map(vars: HashMap<String, String>) -> Self {
        Self {
            vars,
            problems: Vec::new(),
        }
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self::from_map(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        )
    }

    /// The trimmed value, `None` when unset or blank.
    pub fn optional(&self, var: &str) -> Option<String> {
        self.vars
            .get(var)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    }

    /// Sets `var` in this reader only (a secret read at cold start), never in the process environment.
    pub fn set(&mut self, var: &str, value: String) {
        self.vars.insert(var.to_owned(), value);
    }

    /// The value, or a recorded "missing" problem (and an empty string placeholder).
    pub fn required(&mut self, var: &str) -> String {
        match self.optional(var) {
            Some(v) => v,
            None => {
                self.problem(var, "is required but not set");
                String::new()
            }
        }
    }

    /// Parse an optional variable, falling back to `default` when unset.
    pub fn parse_or<T>(&mut self, var: &str, default: T) -> T
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        match self.optional(var) {
            None => default,
            Some(raw) => match raw.parse() {
                Ok(v) => v,
                Err(e) => {
                    self.problem(var, &format!("cannot be parsed: {e}"));
                    default
                }
            },
        }
    }

    /// Parse a required variable.
    pub fn parse_required<T>(&mut self, var: &str) -> Option<T>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        let raw = self.optional(var);
        match raw {
            None => {
                self.problem(var, "is required but not set");
                None
            }
            Some(raw) => match raw.parse() {
                Ok(v) => Some(v),
                Err(e) => {
                    self.problem(var, &format!("cannot be parsed: {e}"));
                    None
                }
            },
        }
    }

    /// A boolean: `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off` (any case).
    pub fn flag(&mut self, var: &str, default: bool) -> bool {
        match self.optional(var).map(|v| v.to_ascii_lowercase()) {
            None => default,
            Some(v) if matches!(v.as_str(), "1" | "true" | "yes" | "on") => true,
            Some(v) if matches!(v.as_str(), "0" | "false" | "no" | "off") => false,
            Some(_) => {
                self.problem(var, "must be true or false");
                default
            }
        }
    }

    /// Record a problem found by the caller's own validation.
    pub fn problem(&mut self, var: &str, reason: &str) {
        self.problems.push(Problem {
            var: var.to_owned(),
            reason: reason.to_owned(),
        });
    }

    /// `Ok` when nothing was wrong, else every problem at once.
    pub fn finish(self) -> Result<(), ConfigError> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError {
                problems: self.problems,
            })
        }
    }
}

/// Where the AWS engines live, as every AWS-backed function reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsStorageConfig {
    /// `TABLE_NAME`: the single DynamoDB table.
    pub table_name: String,
}

impl AwsStorageConfig {
    pub fn read(env: &mut EnvReader) -> Self {
        Self {
            table_name: env.required("TABLE_NAME"),
        }
    }
}

/// What a queue-triggered worker reads (the sync and push workers): the table, its own queue, the
/// data key, and the delivery at which a message that must still wait is settled instead of
/// returned (at most the queue's `maxReceiveCount`, so nothing reaches the dead-letter queue).
pub struct QueueWorkerConfig {
    pub table_name: String,
    pub queue_url: String,
    pub secrets: crate::secrets::SecretBox,
    pub max_receives: u32,
}

impl QueueWorkerConfig {
    /// `queue_var` names the queue's URL, `max_receives_var` the delivery limit (`default` when
    /// unset, at least 1). Every missing or invalid variable is reported at once.
    pub fn read(
        mut env: EnvReader,
        queue_var: &str,
        max_receives_var: &str,
        default: u32,
    ) -> Result<Self, ConfigError> {
        let storage = AwsStorageConfig::read(&mut env);
        let queue_url = queue_url(&mut env, queue_var);
        let secrets = data_key(&mut env);
        let max_receives = env.parse_or(max_receives_var, default);
        if max_receives == 0 {
            env.problem(max_receives_var, "must be at least 1");
        }
        env.finish()?;
        let secrets = secrets.ok_or_else(ConfigError::no_data_key)?;
        Ok(Self {
            table_name: storage.table_name,
            queue_url,
            secrets,
            max_receives,
        })
    }
}

/// `DINGBRIDGE_DATA_KEY`: the key that seals connector secrets at rest (see
/// [`crate::secrets::SecretBox::from_base64`]); a missing or unusable key is recorded as a problem.
pub fn data_key(env: &mut EnvReader) -> Option<crate::secrets::SecretBox> {
    let raw = env.required(DATA_KEY_VAR);
    if raw.is_empty() {
        return None;
    }
    let key = crate::secrets::SecretBox::from_base64(&raw).ok();
    if key.is_none() {
        env.problem(DATA_KEY_VAR, DATA_KEY_RULE);
    }
    key
}

/// The URL of one SQS queue (`var` names the variable, e.g. `SYNC_QUEUE_URL`).
pub fn queue_url(env: &mut EnvReader, var: &str) -> String {
    let url = env.required(var);
    if !url.is_empty() && !url.starts_with("http://") && !url.starts_with("https://") {
        env.problem(var, "must be an http(s) queue URL");
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_reported_at_once() {
        let mut env = EnvReader::from_pairs([("PORT", "eighty"), ("FLAG", "maybe")]);
        let _ = AwsStorageConfig::read(&mut env);
        let _ = queue_url(&mut env, "SYNC_QUEUE_URL");
        let _: u16 = env.parse_or("PORT", 8080);
        let _ = env.flag("FLAG", false);
        let err = env.finish().unwrap_err();
        let vars: Vec<_> = err.problems.iter().map(|p| p.var.as_str()).collect();
        assert_eq!(vars, ["TABLE_NAME", "SYNC_QUEUE_URL", "PORT", "FLAG"]);
        let text = err.to_string();
        assert!(
            text.starts_with("invalid configuration (4 problems)"),
            "{text}"
        );
    }

    #[test]
    fn values_are_trimmed_and_blank_counts_as_unset() {
        let mut env = EnvReader::from_pairs([("TABLE_NAME", "  dingbridge \n"), ("EMPTY", "   ")]);
        let cfg = AwsStorageConfig::read(&mut env);
        assert_eq!(cfg.table_name, "dingbridge");
        assert_eq!(env.optional("EMPTY"), None);
        assert!(env.finish().is_ok());
    }

    #[test]
    fn a_queue_url_must_be_a_url() {
        let mut env = EnvReader::from_pairs([("Q", "sync-queue")]);
        queue_url(&mut env, "Q");
        let err = env.finish().unwrap_err();
        assert_eq!(err.problems[0].reason, "must be an http(s) queue URL");
    }
}
