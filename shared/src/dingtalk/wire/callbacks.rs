//! Event callbacks (§1.6): registration bodies, the registration as read, the failed-push list.

use super::loose_bool;
use serde::{Deserialize, Serialize};

/// `register_call_back` / `update_call_back` body (§2.3).
#[derive(Serialize)]
pub(crate) struct CallbackRequest<'a> {
    pub call_back_tag: &'a [String],
    pub token: &'a str,
    pub aes_key: &'a str,
    pub url: &'a str,
}

/// `get_call_back`: fields at the top level, next to `errcode`.
#[derive(Debug, Deserialize)]
pub(crate) struct WireCallback {
    #[serde(default)]
    pub call_back_tag: Vec<String>,
    #[serde(default)]
    pub token: String,
    #[serde(default)]
    pub aes_key: String,
    #[serde(default)]
    pub url: String,
}

/// `get_call_back_failed_result`: `has_more` and `failed_list` at the top level (§1.6).
#[derive(Debug, Deserialize)]
pub(crate) struct WireFailedList {
    #[serde(default, deserialize_with = "loose_bool")]
    pub has_more: Option<bool>,
    #[serde(default)]
    pub failed_list: Vec<serde_json::Map<String, serde_json::Value>>,
}
