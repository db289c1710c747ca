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

/// How many offending characters one reason lists (a pasted value can hold many).
const MAX_LISTED: usize = 5;

/// Characters no identifier holds: Unicode White_Space, controls, format (Cf) characters such as
/// the zero-width ones, and the other characters that render as nothing (Hangul fillers,
/// variation selectors). Pasted ids often carry them invisibly (IDaaS FAQ: the top cause of
/// "一直在loading").
fn invisible(c: char) -> bool {
    c.is_whitespace() || c.is_control() || format_char(c) || blank_letter(c)
}

/// General category Cf (Unicode 15.1).
fn format_char(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x0600..=0x0605 | 0x061C | 0x06DD | 0x070F | 0x0890..=0x0891 | 0x08E2 | 0x180E
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F | 0xFEFF
        | 0xFFF9..=0xFFFB | 0x110BD | 0x110CD | 0x13430..=0x1343F | 0x1BCA0..=0x1BCA3
        | 0x1D173..=0x1D17A | 0xE0001 | 0xE0020..=0xE007F)
}

/// Letters and marks that render as nothing.
fn blank_letter(c: char) -> bool {
    matches!(c as u32,
        0x034F | 0x115F | 0x1160 | 0x17B4 | 0x17B5 | 0x180B..=0x180D | 0x180F | 0x2800 | 0x3164
        | 0xFE00..=0xFE0F | 0xFFA0 | 0xE0100..=0xE01EF)
}

/// Bidirectional embeddings, overrides and isolates: they make a name display differently from
/// what it is ("HQ\u{202E}gnp.exe" shows as "HQexe.png").
fn bidi_control(c: char) -> bool {
    matches!(c as u32, 0x202A..=0x202E | 0x2066..=0x2069)
}

/// Unicode's name for the characters people meet in pasted text.
fn char_name(c: char) -> Option<&'static str> {
    Some(match c as u32 {
        0x0009 => "CHARACTER TABULATION",
        0x000A => "LINE FEED",
        0x000B => "LINE TABULATION",
        0x000C => "FORM FEED",
        0x000D => "CARRIAGE RETURN",
        0x0020 => "SPACE",
        0x0085 => "NEXT LINE",
        0x00A0 => "NO-BREAK SPACE",
        0x00AD => "SOFT HYPHEN",
        0x1680 => "OGHAM SPACE MARK",
        0x180E => "MONGOLIAN VOWEL SEPARATOR",
        0x2000 => "EN QUAD",
        0x2001 => "EM QUAD",
        0x2002 => "EN SPACE",
        0x2003 => "EM SPACE",
        0x2004 => "THREE-PER-EM SPACE",
        0x2005 => "FOUR-PER-EM SPACE",
        0x2006 => "SIX-PER-EM SPACE",
        0x2007 => "FIGURE SPACE",
        0x2008 => "PUNCTUATION SPACE",
        0x2009 => "THIN SPACE",
        0x200A => "HAIR SPACE",
        0x200B => "ZERO WIDTH SPACE",
        0x200C => "ZERO WIDTH NON-JOINER",
        0x200D => "ZERO WIDTH JOINER",
        0x200E => "LEFT-TO-RIGHT MARK",
        0x200F => "RIGHT-TO-LEFT MARK",
        0x2028 => "LINE SEPARATOR",
        0x2029 => "PARAGRAPH SEPARATOR",
        0x202A => "LEFT-TO-RIGHT EMBEDDING",
        0x202B => "RIGHT-TO-LEFT EMBEDDING",
        0x202C => "POP DIRECTIONAL FORMATTING",
        0x202D => "LEFT-TO-RIGHT OVERRIDE",
        0x202E => "RIGHT-TO-LEFT OVERRIDE",
        0x202F => "NARROW NO-BREAK SPACE",
        0x205F => "MEDIUM MATHEMATICAL SPACE",
        0x2060 => "WORD JOINER",
        0x2066 => "LEFT-TO-RIGHT ISOLATE",
        0x2067 => "RIGHT-TO-LEFT ISOLATE",
        0x2068 => "FIRST STRONG ISOLATE",
        0x2069 => "POP DIRECTIONAL ISOLATE",
        0x3000 => "IDEOGRAPHIC SPACE",
        0x3164 => "HANGUL FILLER",
        0xFEFF => "ZERO WIDTH NO-BREAK SPACE",
        _ => return None,
    })
}

/// `U+00A0 (NO-BREAK SPACE)`, or the character's kind when its name is not in the table.
fn describe(c: char) -> String {
    let kind = match char_name(c) {
        Some(name) => name,
        None if c.is_control() => "a control character",
        None if c.is_whitespace() => "a space character",
        None if format_char(c) => "an invisible format character",
        None => "an invisible character",
    };
    format!("U+{:04X} ({kind})", c as u32)
}

/// The characters of `raw` after trimming that `bad` picks, as "U+… (…) at position N" with
/// 1-based positions counted in `raw` as sent (trimmed edge spaces included), at most
/// [`MAX_LISTED`] of them.
fn offending(raw: &str, bad: impl Fn(char) -> bool) -> Option<String> {
    let offset = raw.chars().count() - raw.trim_start().chars().count();
    let found: Vec<(usize, char)> = raw
        .trim()
        .chars()
        .enumerate()
        .filter(|(_, c)| bad(*c))
        .take(MAX_LISTED + 1)
        .collect();
    if found.is_empty() {
        return None;
    }
    let mut listed: Vec<String> = found
        .iter()
        .take(MAX_LISTED)
        .map(|(i, c)| format!("{} at position {}", describe(*c), i + 1 + offset))
        .collect();
    if found.len() > MAX_LISTED {
        listed.push("more".to_owned());
    }
    Some(listed.join(", "))
}

/// An identifier (corp id, app key, secrets, tokens, ids) as sent: outer spaces are trimmed, and
/// any whitespace or invisible character left inside is refused, named with its position.
/// `None` when blank.
pub fn identifier(field: &'static str, raw: &str) -> Result<Option<String>, InvalidField> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    match offending(raw, invisible) {
        Some(list) => Err(InvalidField::new(
            field,
            format!(
                "contains {list}; an identifier holds no spaces or invisible characters \
                 (check for pasted whitespace)"
            ),
        )),
        None => Ok(Some(trimmed.to_owned())),
    }
}

/// Refuses the characters no name may hold (controls, bidirectional overrides and isolates),
/// each named with its position in `raw` as sent.
pub fn check_name_chars(field: &'static str, raw: &str) -> Result<(), InvalidField> {
    match offending(raw, |c| c.is_control() || bidi_control(c)) {
        Some(list) => Err(InvalidField::new(
            field,
            format!("contains {list}; names cannot hold control or text-direction characters"),
        )),
        None => Ok(()),
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
    /// A person's or unit's display name: 1–80 characters, no control or text-direction characters
    /// (DingTalk's user name limit, protocol reference §6).
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
        check_name_chars("name", raw)?;
        Ok(Self(v.to_owned()))
    }
}

/// The rules of an org unit (department) name, as DingTalk enforces them (protocol reference §6):
/// 1–64 characters, none of `-`, `,`, `，`; and, as every name, no control or text-direction
/// characters.
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
    check_name_chars("name", raw)?;
    if let Some(c) = v.chars().find(|c| matches!(c, '-' | ',' | '，')) {
        return Err(InvalidField::new(
            "name",
            format!("contains {c:?}, which DingTalk does not allow in department names"),
        ));
    }
    Ok(v.to_owned())
}

#[cfg(test)]
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
    fn identifiers_name_each_inner_space_or_invisible_character_and_its_position() {
        let err = identifier("corp_id", " ding probe\u{a0}corp\u{200b} ").unwrap_err();
        assert_eq!(err.field, "corp_id");
        assert!(
            err.reason.starts_with(
                "contains U+0020 (SPACE) at position 6, U+00A0 (NO-BREAK SPACE) at position 12, \
                 U+200B (ZERO WIDTH SPACE) at position 17;"
            ),
            "{}",
            err.reason
        );
        for (raw, shown) in [
            ("key\u{feff}", "U+FEFF (ZERO WIDTH NO-BREAK SPACE)"),
            ("k\u{2060}ey", "U+2060 (WORD JOINER)"),
            ("k\u{ad}ey", "U+00AD (SOFT HYPHEN)"),
            ("k\u{e0041}ey", "U+E0041 (an invisible format character)"),
            ("k\u{3164}ey", "U+3164 (HANGUL FILLER)"),
            ("k\u{1}ey", "U+0001 (a control character)"),
            ("k\u{202e}ey", "U+202E (RIGHT-TO-LEFT OVERRIDE)"),
        ] {
            let err = identifier("app_key", raw).unwrap_err();
            assert!(err.reason.contains(shown), "{raw:?}: {}", err.reason);
        }
        let many = identifier("app_key", "a b c d e f g h").unwrap_err();
        assert!(
            many.reason.contains("at position 10, more;"),
            "{}",
            many.reason
        );
    }

    #[test]
    fn identifiers_are_trimmed_and_blank_ones_are_absent() {
        assert_eq!(
            identifier("app_key", "\u{3000} dingkey\t")
                .unwrap()
                .as_deref(),
            Some("dingkey")
        );
        assert_eq!(identifier("app_key", " \u{a0} ").unwrap(), None);
        assert_eq!(
            identifier("corp_id", "ding-corp_01.x").unwrap().as_deref(),
            Some("ding-corp_01.x")
        );
    }

    #[test]
    fn names_refuse_text_direction_and_control_characters_but_keep_spaces() {
        for (raw, shown) in [
            (
                "HQ\u{202e}gnp.exe",
                "U+202E (RIGHT-TO-LEFT OVERRIDE) at position 3",
            ),
            ("a\u{2066}b", "U+2066 (LEFT-TO-RIGHT ISOLATE) at position 2"),
            ("a\u{7}", "U+0007 (a control character) at position 2"),
        ] {
            let err = DisplayName::parse(raw).unwrap_err();
            assert!(err.reason.contains(shown), "{raw:?}: {}", err.reason);
            let err = check_unit_name(raw).unwrap_err();
            assert!(err.reason.contains(shown), "{raw:?}: {}", err.reason);
        }
        assert_eq!(
            DisplayName::parse(" Zhang San 张三 ").unwrap().as_str(),
            "Zhang San 张三"
        );
        assert!(check_name_chars("name", "研发部 North").is_ok());
    }

    #[test]
    fn unit_names_follow_dingtalk_rules() {
        assert_eq!(check_unit_name(" 研发部 ").unwrap(), "研发部");
        assert!(check_unit_name("R-D").is_err());
        assert!(check_unit_name("a，b").is_err());
        assert!(check_unit_name(&"x".repeat(65)).is_err());
    }
}
