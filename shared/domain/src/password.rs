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
        }
    }
}

impl PasswordPolicy {
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
