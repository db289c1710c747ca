//! A connector: one DingTalk internal app and its inbound settings, with the same fields DingTalk
//! admins know from IDaaS (钉钉同步配置). Input is trimmed and checked here, every problem at once.

use serde::{Deserialize, Serialize};

use super::ids::{ConnectorId, OrgUnitId};
use super::password::PasswordPolicy;
use super::values::{InvalidField, check_name_chars, identifier};

mod app;
mod push;
pub use app::{AppKey, CorpId, PullSchedule};
pub use push::{
    LinkMode, MAX_EXTENSION_KEYS, PushDeletePolicy, PushField, PushInput, PushSettings, check_push,
};

pub const DEFAULT_OAPI_BASE: &str = "https://oapi.dingtalk.com";
pub const DEFAULT_API_BASE: &str = "https://api.dingtalk.com";
pub const DEFAULT_LOGIN_BASE: &str = "https://login.dingtalk.com";
/// Daily at 02:00 China time (schedules are evaluated at UTC+8: DingTalk's customers' clock).
pub const DEFAULT_PULL_SCHEDULE: &str = "0 2 * * *";

/// Bounds of the text fields, in characters: every value stays far below DynamoDB's 400 KB item
/// limit, and a pasted megabyte is a 400 that names the field, not a storage failure.
/// DingTalk's ids (corpId, AppKey) are 20–40 characters.
pub const MAX_NAME: usize = 64;
pub const MAX_IDENTIFIER: usize = 64;
/// An AppSecret is 64 characters; this leaves room for other formats.
pub const MAX_SECRET: usize = 256;
/// At least the longest minimum the password policy allows (128).
pub const MAX_PASSWORD: usize = 256;
pub const MAX_URL: usize = 512;
pub const MAX_SCHEDULE: usize = 128;

/// Which DingTalk field becomes the account's main email.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailField {
    /// The personal `email`.
    #[default]
    Email,
    /// The enterprise mailbox `org_email`.
    OrgEmail,
}

/// Which receive-id the callback ciphertext carries (protocol reference §1.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiveIdMode {
    /// Events configured in the DingTalk developer console (app-level push).
    #[default]
    AppKey,
    /// Events registered through `call_back/register_call_back` (corp-level push).
    CorpId,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaverPolicy {
    #[default]
    Disable,
    Delete,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PullMode {
    #[default]
    Review,
    Auto,
}

/// A connector as stored, secrets sealed (by the `dingbridge` crate's `secrets` module). Never
/// returned by an API as is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Connector {
    pub id: ConnectorId,
    pub name: String,
    pub corp_id: CorpId,
    pub app_key: AppKey,
    pub app_secret: Sealed,
    pub agent_id: Option<i64>,
    pub enabled: bool,
    pub email_field: EmailField,
    pub register_callback: bool,
    pub callback_token: Option<Sealed>,
    pub callback_aes_key: Option<Sealed>,
    pub receive_id_mode: ReceiveIdMode,
    pub root_org_unit_id: OrgUnitId,
    pub default_password: Option<Sealed>,
    pub leaver_policy: LeaverPolicy,
    pub pull_mode: PullMode,
    pub pull_schedule: PullSchedule,
    /// The mass-delete guard of auto pulls: more than this share of accounts or units to disable…
    pub mass_delete_max_share: f64,
    /// …or more than this count, and the run waits for review.
    pub mass_delete_max_count: u64,
    #[serde(flatten)]
    pub push: PushSettings,
    pub oapi_base: String,
    pub api_base: String,
    pub login_base: String,
    /// The outcome of the last callback registration with DingTalk, for the admin to see.
    pub callback_status: Option<String>,
    pub version: u64,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// A secret sealed with the deployment's data key: base64 of nonce ‖ AES-256-GCM ciphertext.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sealed(pub String);

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealed(…)")
    }
}

/// What an admin sends to create or update a connector. Every field is optional on update
/// (absent = unchanged); secrets are write-only.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorInput {
    pub name: Option<String>,
    pub corp_id: Option<String>,
    pub app_key: Option<String>,
    pub app_secret: Option<String>,
    pub agent_id: Option<i64>,
    pub enabled: Option<bool>,
    pub email_field: Option<EmailField>,
    pub register_callback: Option<bool>,
    pub callback_token: Option<String>,
    pub callback_aes_key: Option<String>,
    pub receive_id_mode: Option<ReceiveIdMode>,
    pub root_org_unit_id: Option<String>,
    pub default_password: Option<String>,
    pub leaver_policy: Option<LeaverPolicy>,
    pub pull_mode: Option<PullMode>,
    pub pull_schedule: Option<String>,
    pub mass_delete_max_share: Option<f64>,
    pub mass_delete_max_count: Option<u64>,
    pub push_enabled: Option<bool>,
    pub push_root_org_unit_id: Option<String>,
    pub push_dingtalk_parent: Option<u64>,
    pub push_link_mode: Option<LinkMode>,
    pub push_delete_policy: Option<PushDeletePolicy>,
    pub push_move_dept_id: Option<u64>,
    pub push_email_field: Option<EmailField>,
    pub push_fields: Option<Vec<PushField>>,
    pub push_extension_keys: Option<Vec<String>>,
    pub oapi_base: Option<String>,
    pub api_base: Option<String>,
    pub login_base: Option<String>,
}

impl std::fmt::Debug for ConnectorInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectorInput")
            .field("name", &self.name)
            .field("corp_id", &self.corp_id)
            .field("app_key", &self.app_key)
            .finish_non_exhaustive()
    }
}

impl ConnectorInput {
    /// The text fields whose value has spaces or line breaks around it: they are trimmed before
    /// they are checked, and the answer says so (a pasted space is a top cause of failed set-ups).
    pub fn trimmed_fields(&self) -> Vec<&'static str> {
        [
            ("name", &self.name),
            ("corp_id", &self.corp_id),
            ("app_key", &self.app_key),
            ("app_secret", &self.app_secret),
            ("callback_token", &self.callback_token),
            ("callback_aes_key", &self.callback_aes_key),
            ("root_org_unit_id", &self.root_org_unit_id),
            ("default_password", &self.default_password),
            ("pull_schedule", &self.pull_schedule),
            ("push_root_org_unit_id", &self.push_root_org_unit_id),
            ("oapi_base", &self.oapi_base),
            ("api_base", &self.api_base),
            ("login_base", &self.login_base),
        ]
        .into_iter()
        .filter(|(_, v)| v.as_deref().is_some_and(|s| !s.is_empty() && s.trim() != s))
        .map(|(name, _)| name)
        .collect()
    }
}

/// The plain (unsealed) settings after validation: what the store seals and saves.
#[derive(Clone, PartialEq)]
pub struct CheckedConnector {
    pub name: String,
    pub corp_id: CorpId,
    pub app_key: AppKey,
    /// `None` = keep the stored secret (update without a new one).
    pub app_secret: Option<String>,
    pub agent_id: Option<i64>,
    pub enabled: bool,
    pub email_field: EmailField,
    pub register_callback: bool,
    pub callback_token: Option<String>,
    pub callback_aes_key: Option<String>,
    pub receive_id_mode: ReceiveIdMode,
    pub root_org_unit_id: Option<OrgUnitId>,
    pub default_password: Option<String>,
    pub leaver_policy: LeaverPolicy,
    pub pull_mode: PullMode,
    pub pull_schedule: PullSchedule,
    pub mass_delete_max_share: f64,
    pub mass_delete_max_count: u64,
    pub push: PushSettings,
    pub oapi_base: String,
    pub api_base: String,
    pub login_base: String,
}

impl std::fmt::Debug for CheckedConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckedConnector")
            .field("name", &self.name)
            .field("corp_id", &self.corp_id)
            .field("app_key", &self.app_key)
            .finish_non_exhaustive()
    }
}

/// What the stored connector already has, for an update: which secrets exist.
#[derive(Clone, Copy, Debug, Default)]
pub struct StoredSecrets {
    pub app_secret: bool,
    pub callback_token: bool,
    pub callback_aes_key: bool,
}

/// Trimmed text, `None` when absent or blank (pasted spaces are a top cause of failed set-ups).
fn clean(v: &Option<String>) -> Option<String> {
    v.as_ref()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// The value's length in characters, refused past `max` (checked before anything else is).
fn too_long(field: &'static str, v: &Option<String>, max: usize) -> Option<InvalidField> {
    let len = v.as_deref().map_or(0, |s| s.trim().chars().count());
    (len > max).then(|| {
        InvalidField::new(
            field,
            format!("has {len} characters; at most {max} are allowed"),
        )
    })
}

/// An identifier-like input: bounded, trimmed, nothing invisible inside. `Ok(None)` when not
/// given; `Err(())` when refused, the reason already in `problems` (so that the other checks
/// neither report it again nor fall back to the stored value).
fn ident(
    problems: &mut Vec<InvalidField>,
    field: &'static str,
    v: &Option<String>,
    max: usize,
) -> Result<Option<String>, ()> {
    let checked = match too_long(field, v, max) {
        Some(p) => Err(p),
        None => identifier(field, v.as_deref().unwrap_or_default()),
    };
    checked.map_err(|p| problems.push(p))
}

/// Validate an input against the current settings (`base` for an update, `None` for a create).
/// Returns every problem at once.
pub fn check_input(
    input: &ConnectorInput,
    base: Option<(&Connector, StoredSecrets)>,
    policy: &PasswordPolicy,
) -> Result<CheckedConnector, Vec<InvalidField>> {
    let mut problems = Vec::new();
    let current = base.map(|(c, _)| c);
    let secrets = base.map(|(_, s)| s).unwrap_or_default();
    let pick = |new: &Option<String>, old: Option<&String>| clean(new).or_else(|| old.cloned());

    let name_problem = too_long("name", &input.name, MAX_NAME).or_else(|| {
        input
            .name
            .as_deref()
            .and_then(|raw| check_name_chars("name", raw).err())
    });
    let name = match name_problem {
        Some(p) => {
            problems.push(p);
            Err(())
        }
        None => Ok(pick(&input.name, current.map(|c| &c.name))),
    };
    let corp_id = ident(&mut problems, "corp_id", &input.corp_id, MAX_IDENTIFIER)
        .map(|v| v.or_else(|| current.map(|c| c.corp_id.to_string())));
    let app_key = ident(&mut problems, "app_key", &input.app_key, MAX_IDENTIFIER)
        .map(|v| v.or_else(|| current.map(|c| c.app_key.to_string())));
    let app_secret = ident(&mut problems, "app_secret", &input.app_secret, MAX_SECRET);
    for (field, v) in [
        ("name", &name),
        ("corp_id", &corp_id),
        ("app_key", &app_key),
    ] {
        if matches!(v, Ok(None)) {
            problems.push(InvalidField::new(field, "is required"));
        }
    }
    if matches!(app_secret, Ok(None)) && !secrets.app_secret {
        problems.push(InvalidField::new("app_secret", "is required"));
    }
    let corp_id = corp_id.ok().flatten().map(|v| CorpId::parse(&v));
    let app_key = app_key.ok().flatten().map(|v| AppKey::parse(&v));
    let corp_id = corp_id.and_then(|r| r.map_err(|p| problems.push(p)).ok());
    let app_key = app_key.and_then(|r| r.map_err(|p| problems.push(p)).ok());
    let (name, app_secret) = (name.ok().flatten(), app_secret.ok().flatten());

    let register_callback = input
        .register_callback
        .or(current.map(|c| c.register_callback))
        .unwrap_or(false);
    let callback_token = ident(&mut problems, "callback_token", &input.callback_token, 63);
    let callback_aes_key = ident(
        &mut problems,
        "callback_aes_key",
        &input.callback_aes_key,
        43,
    );
    let (token_refused, aes_key_refused) = (callback_token.is_err(), callback_aes_key.is_err());
    let (callback_token, callback_aes_key) = (
        callback_token.ok().flatten(),
        callback_aes_key.ok().flatten(),
    );
    if let Some(t) = &callback_token {
        // Console: 3–32 letters/digits; register_call_back: 6–63 (protocol reference §1.1).
        let min = if register_callback { 6 } else { 3 };
        if !(min..=63).contains(&t.len()) || !t.chars().all(|c| c.is_ascii_alphanumeric()) {
            problems.push(InvalidField::new(
                "callback_token",
                format!("must be {min} to 63 letters or digits"),
            ));
        }
    }
    if let Some(k) = &callback_aes_key
        && (k.len() != 43 || !k.chars().all(|c| c.is_ascii_alphanumeric()))
    {
        problems.push(InvalidField::new(
            "callback_aes_key",
            "must be exactly 43 letters or digits (DingTalk's EncodingAESKey)",
        ));
    }
    if register_callback {
        if callback_token.is_none() && !secrets.callback_token && !token_refused {
            problems.push(InvalidField::new(
                "callback_token",
                "is required to register the callback",
            ));
        }
        if callback_aes_key.is_none() && !secrets.callback_aes_key && !aes_key_refused {
            problems.push(InvalidField::new(
                "callback_aes_key",
                "is required to register the callback",
            ));
        }
    }
    // Events registered through the API are encrypted with the CorpId; console ones with the AppKey.
    let receive_id_mode = input
        .receive_id_mode
        .or(current.map(|c| c.receive_id_mode))
        .unwrap_or(if register_callback {
            ReceiveIdMode::CorpId
        } else {
            ReceiveIdMode::AppKey
        });

    let root_org_unit_id = match ident(
        &mut problems,
        "root_org_unit_id",
        &input.root_org_unit_id,
        MAX_IDENTIFIER,
    ) {
        Ok(Some(raw)) => match OrgUnitId::parse(&raw) {
            Ok(id) => Some(id),
            Err(e) => {
                problems.push(InvalidField::new("root_org_unit_id", e.reason));
                None
            }
        },
        Ok(None) => current.map(|c| c.root_org_unit_id.clone()),
        Err(()) => None,
    };

    let mut default_password = input.default_password.clone().filter(|p| !p.is_empty());
    if let Some(p) = too_long("default_password", &default_password, MAX_PASSWORD) {
        problems.push(p);
        default_password = None;
    }
    if let Some(Err(p)) = default_password
        .as_deref()
        .map(|p| policy.check("default_password", p))
    {
        problems.push(p);
    }

    let pull_schedule = match (clean(&input.pull_schedule), current) {
        (Some(raw), _) => PullSchedule::parse(&raw),
        (None, Some(c)) => Ok(c.pull_schedule.clone()),
        (None, None) => PullSchedule::parse(DEFAULT_PULL_SCHEDULE),
    }
    .map_err(|p| problems.push(p))
    .ok();
    let mass_delete_max_share = input
        .mass_delete_max_share
        .or(current.map(|c| c.mass_delete_max_share))
        .unwrap_or(0.10);
    if !(0.0..=1.0).contains(&mass_delete_max_share) {
        problems.push(InvalidField::new(
            "mass_delete_max_share",
            "must be between 0 and 1",
        ));
    }

    let mut base_url =
        |field: &'static str, new: &Option<String>, old: Option<&String>, default: &str| {
            let v = pick(new, old).unwrap_or_else(|| default.to_owned());
            let v = v.trim_end_matches('/').to_owned();
            if let Some(p) = too_long(field, &Some(v.clone()), MAX_URL) {
                problems.push(p);
            } else if let Err(p) = identifier(field, &v) {
                problems.push(p);
            } else if !(v.starts_with("https://") || v.starts_with("http://")) {
                problems.push(InvalidField::new(field, "must be an http(s) URL"));
            }
            v
        };
    let oapi_base = base_url(
        "oapi_base",
        &input.oapi_base,
        current.map(|c| &c.oapi_base),
        DEFAULT_OAPI_BASE,
    );
    let api_base = base_url(
        "api_base",
        &input.api_base,
        current.map(|c| &c.api_base),
        DEFAULT_API_BASE,
    );
    let login_base = base_url(
        "login_base",
        &input.login_base,
        current.map(|c| &c.login_base),
        DEFAULT_LOGIN_BASE,
    );

    let push_input = PushInput {
        push_enabled: input.push_enabled,
        push_root_org_unit_id: input.push_root_org_unit_id.clone(),
        push_dingtalk_parent: input.push_dingtalk_parent,
        push_link_mode: input.push_link_mode,
        push_delete_policy: input.push_delete_policy,
        push_move_dept_id: input.push_move_dept_id,
        push_email_field: input.push_email_field,
        push_fields: input.push_fields.clone(),
        push_extension_keys: input.push_extension_keys.clone(),
    };
    let push = check_push(&push_input, current.map(|c| &c.push), &mut problems);

    let (Some(corp_id), Some(app_key), Some(pull_schedule), true) =
        (corp_id, app_key, pull_schedule, problems.is_empty())
    else {
        return Err(problems);
    };
    Ok(CheckedConnector {
        name: name.unwrap_or_default(),
        corp_id,
        app_key,
        app_secret,
        agent_id: input.agent_id.or(current.and_then(|c| c.agent_id)),
        enabled: input.enabled.or(current.map(|c| c.enabled)).unwrap_or(true),
        email_field: input
            .email_field
            .or(current.map(|c| c.email_field))
            .unwrap_or_default(),
        register_callback,
        callback_token,
        callback_aes_key,
        receive_id_mode,
        root_org_unit_id,
        default_password,
        leaver_policy: input
            .leaver_policy
            .or(current.map(|c| c.leaver_policy))
            .unwrap_or_default(),
        pull_mode: input
            .pull_mode
            .or(current.map(|c| c.pull_mode))
            .unwrap_or_default(),
        pull_schedule,
        mass_delete_max_share,
        mass_delete_max_count: input
            .mass_delete_max_count
            .or(current.map(|c| c.mass_delete_max_count))
            .unwrap_or(100),
        push,
        oapi_base,
        api_base,
        login_base,
    })
}

/// The connector as the admin API shows it: every setting, no secret, only whether each is set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConnectorView {
    pub id: ConnectorId,
    pub name: String,
    pub corp_id: CorpId,
    pub app_key: AppKey,
    pub app_secret_set: bool,
    pub agent_id: Option<i64>,
    pub enabled: bool,
    pub email_field: EmailField,
    pub register_callback: bool,
    pub callback_token_set: bool,
    pub callback_aes_key_set: bool,
    pub receive_id_mode: ReceiveIdMode,
    pub root_org_unit_id: OrgUnitId,
    pub default_password_set: bool,
    pub leaver_policy: LeaverPolicy,
    pub pull_mode: PullMode,
    pub pull_schedule: PullSchedule,
    pub mass_delete_max_share: f64,
    pub mass_delete_max_count: u64,
    #[serde(flatten)]
    pub push: PushSettings,
    pub oapi_base: String,
    pub api_base: String,
    pub login_base: String,
    pub callback_status: Option<String>,
    pub version: u64,
    pub created_ms: i64,
    pub updated_ms: i64,
}

impl From<&Connector> for ConnectorView {
    fn from(c: &Connector) -> Self {
        Self {
            id: c.id.clone(),
            name: c.name.clone(),
            corp_id: c.corp_id.clone(),
            app_key: c.app_key.clone(),
            app_secret_set: true,
            agent_id: c.agent_id,
            enabled: c.enabled,
            email_field: c.email_field,
            register_callback: c.register_callback,
            callback_token_set: c.callback_token.is_some(),
            callback_aes_key_set: c.callback_aes_key.is_some(),
            receive_id_mode: c.receive_id_mode,
            root_org_unit_id: c.root_org_unit_id.clone(),
            default_password_set: c.default_password.is_some(),
            leaver_policy: c.leaver_policy,
            pull_mode: c.pull_mode,
            pull_schedule: c.pull_schedule.clone(),
            mass_delete_max_share: c.mass_delete_max_share,
            mass_delete_max_count: c.mass_delete_max_count,
            push: c.push.clone(),
            oapi_base: c.oapi_base.clone(),
            api_base: c.api_base.clone(),
            login_base: c.login_base.clone(),
            callback_status: c.callback_status.clone(),
            version: c.version,
            created_ms: c.created_ms,
            updated_ms: c.updated_ms,
        }
    }
}

#[cfg(test)]
mod tests;
