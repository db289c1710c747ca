//! Constrained values of the directory, each built by a fallible constructor that says what is
//! wrong in words an admin can act on (parse, don't validate).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a value was refused; `field` names the input, `reason` is readable by a person.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidField {
    pub field: &'static str,
    pub reason: String,
}

impl InvalidField {
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}

/// The trait impls every text newtype of the domain shares (serde through `String` with the type's
/// own `parse`, `Display`, a `Debug` naming the type); used here and by `ids`.
macro_rules! text_newtype_impls {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidField;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }
    };
}
pub(crate) use text_newtype_impls;

macro_rules! string_value {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        text_newtype_impls!($name);
    };
}

string_value!(
    /// A login name: 1–64 characters of `a-z 0-9 . _ - @`, stored lower-case (unique, case-insensitive).
    Username
);
string_value!(
    /// An email address, stored lower-case (unique, case-insensitive), ≤ 254 characters.
    Email
);
string_value!(
    /// A mobile number in DingTalk's forms: mainland `1xxxxxxxxxx` (11 digits) or
    /// international `+CC-NUMBER` (protocol reference §6). `+86-1xxxxxxxxxx` is normalised to the
    /// mainland form so that both spellings of one number collide on uniqueness.
    Mobile
);
string_value!(
    /// A person's or unit's display name: 1–80 characters, no control characters (DingTalk's user
    /// name limit, protocol reference §6).
    DisplayName
);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, InvalidField> {
        let v = raw.trim().to_lowercase();
        if v.is_empty() || v.chars().count() > 64 {
            return Err(InvalidField::new("username", "must be 1 to 64 characters"));
        }
        if let Some(c) = v
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@')))
        {
            return Err(InvalidField::new(
                "username",
                format!("may contain only letters, digits and . _ - @ (found {c:?})"),
            ));
        }
        Ok(Self(v))
    }
}

impl Email {
    pub fn parse(raw: &str) -> Result<Self, InvalidField> {
        let v = raw.trim().to_lowercase();
        let bad = |why: &str| Err(InvalidField::new("email", why.to_owned()));
        if v.is_empty() {
            return bad("is empty");
        }
        if v.len() > 254 {
            return bad("is longer than 254 characters");
        }
        let Some((local, domain)) = v.rsplit_once('@') else {
            return bad("has no @");
        };
        if local.is_empty() || local.len() > 64 {
            return bad("has an empty or over-long part before the @");
        }
        if domain.len() < 3
            || !domain.contains('.')
            || domain.starts_with(['.', '-'])
            || domain.ends_with(['.', '-'])
            || domain.contains("..")
        {
            return bad("has an invalid domain");
        }
        if v.chars().any(|c| {
            c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';' | '"')
        }) || local.contains('@')
        {
            return bad("contains characters an address cannot have");
        }
        Ok(Self(v))
    }
}

impl Mobile {
    pub fn parse(raw: &str) -> Result<Self, InvalidField> {
        let compact: String = raw
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '(' | ')'))
            .collect();
        let bad = || {
            Err(InvalidField::new(
                "mobile",
                "must be a mainland number of 11 digits starting with 1, or +CC-NUMBER",
            ))
        };
        if let Some(rest) = compact.strip_prefix('+') {
            let Some((cc, number)) = rest.split_once('-') else {
                return bad();
            };
            let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
            if !digits(cc) || cc.len() > 4 || !digits(number) || !(5..=15).contains(&number.len()) {
                return bad();
            }
            if cc == "86" {
                return Self::parse(number);
            }
            return Ok(Self(format!("+{cc}-{number}")));
        }
        if compact.len() == 11
            && compact.starts_with('1')
            && compact.chars().all(|c| c.is_ascii_digit())
        {
            return Ok(Self(compact));
        }
        bad()
    }
}

impl DisplayName {
    pub fn parse(raw: &str) -> Result<Self, InvalidField> {
        let v = raw.trim();
        let len = v.chars().count();
        if len == 0 {
            return Err(InvalidField::new("name", "is empty"));
        }
        if len > 80 {
            return Err(InvalidField::new(
                "name",
                format!("has {len} characters; at most 80 are allowed"),
            ));
        }
        if v.chars().any(char::is_control) {
            return Err(InvalidField::new("name", "contains control characters"));
        }
        Ok(Self(v.to_owned()))
    }
}

/// The rules of an org unit (department) name, as DingTalk enforces them (protocol reference §6):
/// 1–64 characters, none of `-`, `,`, `，`.
pub fn check_unit_name(raw: &str) -> Result<String, InvalidField> {
    let v = raw.trim();
    let len = v.chars().count();
    if len == 0 {
        return Err(InvalidField::new("name", "is empty"));
    }
    if len > 64 {
        return Err(InvalidField::new(
            "name",
            format!("has {len} characters; at most 64 are allowed"),
        ));
    }
    if let Some(c) = v
        .chars()
        .find(|c| matches!(c, '-' | ',' | '，') || c.is_control())
    {
        return Err(InvalidField::new(
            "name",
            format!("contains {c:?}, which DingTalk does not allow in department names"),
        ));
    }
    Ok(v.to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_lower_cased_and_restricted() {
        assert_eq!(
            Username::parse(" Zhang.San ").unwrap().as_str(),
            "zhang.san"
        );
        assert!(Username::parse("张三").is_err());
        assert!(Username::parse("").is_err());
        assert!(Username::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn emails_are_checked_and_lower_cased() {
        assert_eq!(
            Email::parse("Li.Si@Example.COM").unwrap().as_str(),
            "li.si@example.com"
        );
        for bad in [
            "",
            "no-at",
            "@example.com",
            "a@b",
            "a@.com",
            "a b@example.com",
            "a@example..com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn mobiles_take_dingtalk_forms_and_plus86_folds_to_mainland() {
        assert_eq!(
            Mobile::parse("13800000000").unwrap().as_str(),
            "13800000000"
        );
        assert_eq!(
            Mobile::parse("+86-13800000000").unwrap().as_str(),
            "13800000000"
        );
        assert_eq!(
            Mobile::parse("+852-91234567").unwrap().as_str(),
            "+852-91234567"
        );
        for bad in [
            "",
            "12345",
            "23800000000",
            "+852",
            "+86-123",
            "138-0000-0000x",
        ] {
            assert!(Mobile::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_allow_the_middle_dot_but_not_overlong_text() {
        assert_eq!(
            DisplayName::parse("阿卜杜·热合曼").unwrap().as_str(),
            "阿卜杜·热合曼"
        );
        let err = DisplayName::parse(&"长".repeat(81)).unwrap_err();
        assert_eq!(err.reason, "has 81 characters; at most 80 are allowed");
    }

    #[test]
    fn unit_names_follow_dingtalk_rules() {
        assert_eq!(check_unit_name(" 研发部 ").unwrap(), "研发部");
        assert!(check_unit_name("R-D").is_err());
        assert!(check_unit_name("a，b").is_err());
        assert!(check_unit_name(&"x".repeat(65)).is_err());
    }
}
