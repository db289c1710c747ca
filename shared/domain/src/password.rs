//! The password policy: minimum length and required character classes, checked with reasons a
//! person can act on (used for the connector's default password and for portal passwords).

use crate::values::InvalidField;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PasswordPolicy {
    pub min_length: usize,
    pub require_lower: bool,
    pub require_upper: bool,
    pub require_digit: bool,
    pub require_symbol: bool,
    /// Imported accounts with the default password must change it at first sign-in.
    pub change_default_at_first_login: bool,
    /// A password older than this many days must be changed at the next sign-in (`None`: never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_days: Option<u32>,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_length: 10,
            require_lower: true,
            require_upper: true,
            require_digit: true,
            require_symbol: false,
            change_default_at_first_login: true,
            max_age_days: None,
        }
    }
}

impl PasswordPolicy {
    /// Whether a password set at `changed_ms` is past the policy's maximum age at `now_ms`.
    pub fn expired(&self, changed_ms: i64, now_ms: i64) -> bool {
        self.max_age_days
            .is_some_and(|days| now_ms - changed_ms > i64::from(days) * 86_400_000)
    }

    /// The password as a value of `field`: refused with every rule it breaks, in one sentence.
    pub fn check(&self, field: &'static str, password: &str) -> Result<(), InvalidField> {
        let broken = self.violations(password);
        if broken.is_empty() {
            Ok(())
        } else {
            Err(InvalidField::new(
                field,
                format!(
                    "does not meet the password policy: it {}",
                    broken.join("; it ")
                ),
            ))
        }
    }

    /// Every rule the password breaks, in words; empty when it passes.
    pub fn violations(&self, password: &str) -> Vec<String> {
        let mut out = Vec::new();
        let len = password.chars().count();
        if len < self.min_length {
            out.push(format!(
                "is {len} characters long; the policy requires at least {}",
                self.min_length
            ));
        }
        let has = |f: fn(&char) -> bool| password.chars().any(|c| f(&c));
        if self.require_lower && !has(|c| c.is_lowercase()) {
            out.push("needs a lower-case letter".to_owned());
        }
        if self.require_upper && !has(|c| c.is_uppercase()) {
            out.push("needs an upper-case letter".to_owned());
        }
        if self.require_digit && !has(char::is_ascii_digit) {
            out.push("needs a digit".to_owned());
        }
        if self.require_symbol && !has(|c| !c.is_alphanumeric() && !c.is_whitespace()) {
            out.push("needs a symbol".to_owned());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_expires_only_past_the_maximum_age() {
        let day = 86_400_000;
        let never = PasswordPolicy::default();
        assert!(!never.expired(0, 10_000 * day));
        let ninety = PasswordPolicy {
            max_age_days: Some(90),
            ..PasswordPolicy::default()
        };
        assert!(!ninety.expired(0, 90 * day));
        assert!(ninety.expired(0, 90 * day + 1));
    }

    #[test]
    fn a_weak_password_gets_every_reason_at_once() {
        let policy = PasswordPolicy {
            require_symbol: true,
            ..PasswordPolicy::default()
        };
        let v = policy.violations("abc");
        assert_eq!(v.len(), 4, "{v:?}");
        assert!(v[0].contains("at least 10"));
        assert!(policy.violations("Str0ng!Passw0rd").is_empty());
    }
}
