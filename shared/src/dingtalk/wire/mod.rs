//! Serde shapes of DingTalk's requests and responses (protocol reference §3–§5), kept private to the
//! client: snake_case legacy bodies, camelCase v1.0 bodies, and values that arrive as strings or numbers.

mod callbacks;
mod departments;
mod login;
mod users;

pub(crate) use callbacks::*;
pub(crate) use departments::*;
pub(crate) use login::*;
pub(crate) use users::*;

use super::types::{DeptId, DingUserId};
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

/// A JSON value that DingTalk sends either as a string or as a number (`sub_code`, ids, flags).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(untagged)]
pub(crate) enum Loose {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Loose {
    pub(crate) fn as_i64(&self) -> Option<i64> {
        match self {
            Self::Str(s) => s.trim().parse().ok(),
            Self::Int(i) => Some(*i),
            Self::Float(_) | Self::Bool(_) => None,
        }
    }

    pub(crate) fn as_bool(&self) -> Option<bool> {
        match self {
            Self::Bool(b) => Some(*b),
            Self::Int(i) => Some(*i != 0),
            Self::Str(s) => match s.as_str() {
                "true" | "1" => Some(true),
                "false" | "0" => Some(false),
                _ => None,
            },
            Self::Float(_) => None,
        }
    }

    pub(crate) fn into_text(self) -> String {
        match self {
            Self::Str(s) => s,
            Self::Int(i) => i.to_string(),
            Self::Float(f) => f.to_string(),
            Self::Bool(b) => b.to_string(),
        }
    }
}

/// The legacy envelope: `errcode`/`errmsg`, and for errcode 88 `sub_code`/`sub_msg` (§5.2).
#[derive(Debug, Deserialize)]
pub(crate) struct LegacyStatus {
    #[serde(default)]
    pub errcode: Option<Loose>,
    #[serde(default)]
    pub errmsg: Option<String>,
    #[serde(default, alias = "subCode")]
    pub sub_code: Option<Loose>,
    #[serde(default, alias = "subMsg")]
    pub sub_msg: Option<String>,
}

impl LegacyStatus {
    /// The effective code and message: 88 is unwrapped to its numeric sub_code when present.
    pub(crate) fn effective(&self) -> (i64, String) {
        let code = self.errcode.as_ref().and_then(Loose::as_i64).unwrap_or(0);
        let msg = self.errmsg.clone().unwrap_or_default();
        if code == 88 {
            if let Some(sub) = self.sub_code.as_ref().and_then(Loose::as_i64) {
                let sub_msg = self.sub_msg.clone().unwrap_or_default();
                return (sub, format!("{sub_msg} (errcode 88: {msg})"));
            }
        }
        (code, msg)
    }
}

/// The new-API error body (§5.2).
#[derive(Debug, Deserialize)]
pub(crate) struct ApiFailure {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default, alias = "requestId")]
    pub requestid: Option<String>,
}

/// `{ "result": T }`.
#[derive(Debug, Deserialize)]
pub(crate) struct Wrapped<T> {
    pub result: T,
}

#[derive(Debug, Deserialize)]
pub(crate) struct LegacyToken {
    pub access_token: String,
    #[serde(default)]
    pub expires_in: Option<Loose>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct V1TokenRequest<'a> {
    pub app_key: &'a str,
    pub app_secret: &'a str,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct V1Token {
    pub access_token: String,
    #[serde(default)]
    pub expire_in: Option<Loose>,
}

pub(super) fn loose_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(Option::<Loose>::deserialize(d)?.and_then(|v| v.as_i64()))
}

pub(super) fn loose_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(Option::<Loose>::deserialize(d)?.and_then(|v| v.as_bool()))
}

pub(super) fn loose_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<Loose>::deserialize(d)?
        .map(Loose::into_text)
        .filter(|s| !s.is_empty()))
}

pub(super) fn dept_id<'de, D: Deserializer<'de>>(d: D) -> Result<DeptId, D::Error> {
    let v = Loose::deserialize(d)?;
    v.as_i64()
        .and_then(|i| u64::try_from(i).ok())
        .and_then(|i| DeptId::new(i).ok())
        .ok_or_else(|| de::Error::custom("invalid department id"))
}

pub(super) fn opt_dept_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DeptId>, D::Error> {
    Ok(Option::<Loose>::deserialize(d)?
        .and_then(|v| v.as_i64())
        .and_then(|i| u64::try_from(i).ok())
        .and_then(|i| DeptId::new(i).ok()))
}

/// Dept id lists: a JSON array of numbers or strings, or a comma-separated string.
pub(super) fn dept_ids<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<DeptId>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum List {
        Many(Vec<Loose>),
        Joined(String),
    }
    let parse = |v: &Loose| {
        v.as_i64()
            .and_then(|i| u64::try_from(i).ok())
            .and_then(|i| DeptId::new(i).ok())
            .ok_or_else(|| de::Error::custom("invalid department id in list"))
    };
    match Option::<List>::deserialize(d)? {
        None => Ok(Vec::new()),
        Some(List::Many(items)) => items.iter().map(parse).collect(),
        Some(List::Joined(s)) => s
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(|p| DeptId::parse(p).map_err(de::Error::custom))
            .collect(),
    }
}

pub(super) fn user_ids<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<DingUserId>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum List {
        Many(Vec<String>),
        Joined(String),
    }
    let items = match Option::<List>::deserialize(d)? {
        None => Vec::new(),
        Some(List::Many(items)) => items,
        Some(List::Joined(s)) => s.split(',').map(str::to_owned).collect(),
    };
    items
        .into_iter()
        .filter(|s| !s.is_empty())
        .map(|s| DingUserId::parse(s).map_err(de::Error::custom))
        .collect()
}

pub(super) fn opt_user_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DingUserId>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.and_then(|s| DingUserId::parse(s).ok()))
}

pub(super) fn join_ids<I: IntoIterator<Item = String>>(ids: I) -> String {
    ids.into_iter().collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn errcode_88_is_unwrapped_to_its_sub_code_string_or_number() {
        for body in [
            r#"{"errcode":88,"errmsg":"鉴权异常","sub_code":"40014","sub_msg":"不合法的access_token"}"#,
            r#"{"errcode":88,"errmsg":"鉴权异常","sub_code":40014,"sub_msg":"不合法的access_token"}"#,
        ] {
            let status: LegacyStatus = serde_json::from_str(body).unwrap();
            assert_eq!(status.effective().0, 40014);
        }
        let plain: LegacyStatus = serde_json::from_str(r#"{"errcode":"0"}"#).unwrap();
        assert_eq!(plain.effective().0, 0);
    }
}
