//! Auth sources (认证源): how people sign in with DingTalk. `dingtalk_qr` is the web QR login
//! (the new OAuth2 flow at `login.dingtalk.com`, or the legacy SNS flow at `connect/qrconnect`);
//! `dingtalk_micro` is the free login (免登) of a workbench micro-app. Both turn the person's
//! unionid into a userid with the corp's internal app, so only members of the corp sign in.
//! Input is trimmed and checked here, every problem at once; a value that had spaces around it is
//! reported (the IDaaS FAQ's "一直在loading": a pasted space in an AppId).

use serde::{Deserialize, Serialize};

use crate::connector::{
    AppKey, CorpId, DEFAULT_API_BASE, DEFAULT_LOGIN_BASE, DEFAULT_OAPI_BASE, MAX_NAME, MAX_SECRET,
    MAX_URL,
};
use crate::ids::ConnectorId;
use crate::values::{InvalidField, check_name_chars, identifier};

/// How a person signs in through the source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// Web sign-in by scanning a QR code with the DingTalk app (钉钉扫码登录).
    DingtalkQr,
    /// Free login inside DingTalk from a workbench micro-app (微应用免登).
    DingtalkMicro,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DingtalkQr => "dingtalk_qr",
            Self::DingtalkMicro => "dingtalk_micro",
        }
    }
}

/// Which DingTalk web login a QR source uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginFlow {
    /// `login.dingtalk.com/oauth2/auth` → `userAccessToken` → `users/me` (protocol §4.1).
    #[default]
    Oauth2,
    /// `oapi.dingtalk.com/connect/qrconnect` → `sns/getuserinfo_bycode` (protocol §4.2).
    Sns,
}

/// What to do with a DingTalk user no binding names and no connector maps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unbound {
    /// The bind page (云盾账户绑定): the person proves an account with its password, once.
    #[default]
    BindPage,
    /// Refused: only people the directory already knows sign in.
    Refuse,
}

/// A directory attribute a DingTalk user may be matched on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchBy {
    Mobile,
    Email,
}

/// How a DingTalk user finds their account the first time.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BindingRules {
    /// Before the bind page: the account whose mobile (or email) is the DingTalk user's, when
    /// exactly one account has it.
    pub match_by: Vec<MatchBy>,
    pub unbound: Unbound,
}

/// The body of `POST /admin/api/auth-sources` (and of `PATCH`, where every field is optional).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceInput {
    pub kind: Option<SourceKind>,
    pub name: Option<String>,
    pub corp_id: Option<String>,
    pub app_key: Option<String>,
    pub app_secret: Option<String>,
    pub connector_id: Option<String>,
    pub flow: Option<LoginFlow>,
    pub sns_app_id: Option<String>,
    pub sns_app_secret: Option<String>,
    pub agent_id: Option<String>,
    pub front_end_callback_url: Option<String>,
    pub visible: Option<bool>,
    pub enabled: Option<bool>,
    pub binding: Option<BindingRules>,
    pub oapi_base: Option<String>,
    pub api_base: Option<String>,
    pub login_base: Option<String>,
}

/// The stored settings a check starts from (an update keeps what the body leaves out).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceSettings {
    pub kind: Option<SourceKind>,
    pub name: String,
    pub corp_id: String,
    pub app_key: Option<String>,
    pub has_app_secret: bool,
    pub connector_id: Option<ConnectorId>,
    pub flow: LoginFlow,
    pub sns_app_id: Option<String>,
    pub has_sns_app_secret: bool,
    pub agent_id: Option<String>,
    pub front_end_callback_url: Option<String>,
    pub visible: bool,
    pub enabled: bool,
    pub binding: BindingRules,
    pub oapi_base: String,
    pub api_base: String,
    pub login_base: String,
}

/// Checked settings: secrets in clear (`None`: keep the stored one), to be sealed by the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedSource {
    pub settings: SourceSettings,
    pub app_secret: Option<String>,
    pub sns_app_secret: Option<String>,
    /// Fields whose value had spaces (or line breaks) around it, trimmed before saving.
    pub trimmed: Vec<&'static str>,
}

fn had_spaces(raw: &Option<String>) -> bool {
    raw.as_deref().is_some_and(|v| v.trim() != v)
}

/// An identifier field: trimmed, at most `max` characters, nothing invisible inside.
fn ident(
    problems: &mut Vec<InvalidField>,
    field: &'static str,
    raw: &Option<String>,
    max: usize,
) -> Option<String> {
    let raw = raw.as_deref()?;
    let len = raw.trim().chars().count();
    if len > max {
        problems.push(InvalidField::new(
            field,
            format!("has {len} characters; at most {max} are allowed"),
        ));
        return None;
    }
    identifier(field, raw).map_err(|p| problems.push(p)).ok()?
}

/// An http(s) base URL without a trailing slash.
fn base(
    problems: &mut Vec<InvalidField>,
    field: &'static str,
    raw: &Option<String>,
    old: &str,
    default: &str,
) -> String {
    let Some(v) = ident(problems, field, raw, MAX_URL) else {
        return if old.is_empty() { default } else { old }.to_owned();
    };
    let v = v.trim_end_matches('/').to_owned();
    if !(v.starts_with("https://") || v.starts_with("http://")) {
        problems.push(InvalidField::new(field, "must be an http(s) URL"));
    }
    v
}

/// Every problem of an auth source's settings at once, or the settings to save. `stored` is the
/// source being changed (`None` on create); its kind cannot change.
pub fn check_source(
    input: &SourceInput,
    stored: Option<&SourceSettings>,
) -> Result<CheckedSource, Vec<InvalidField>> {
    let mut problems = Vec::new();
    let empty = SourceSettings::default();
    let old = stored.unwrap_or(&empty);
    let mut s = old.clone();
    let trimmed: Vec<&'static str> = [
        ("name", &input.name),
        ("corp_id", &input.corp_id),
        ("app_key", &input.app_key),
        ("app_secret", &input.app_secret),
        ("connector_id", &input.connector_id),
        ("sns_app_id", &input.sns_app_id),
        ("sns_app_secret", &input.sns_app_secret),
        ("agent_id", &input.agent_id),
        ("front_end_callback_url", &input.front_end_callback_url),
        ("oapi_base", &input.oapi_base),
        ("api_base", &input.api_base),
        ("login_base", &input.login_base),
    ]
    .into_iter()
    .filter(|(_, v)| had_spaces(v))
    .map(|(f, _)| f)
    .collect();

    match (stored.and_then(|s| s.kind), input.kind) {
        (Some(was), Some(now)) if was != now => problems.push(InvalidField::new(
            "kind",
            format!("cannot change (the source is {})", was.as_str()),
        )),
        (None, None) => problems.push(InvalidField::new(
            "kind",
            "is required: dingtalk_qr or dingtalk_micro",
        )),
        (_, Some(k)) => s.kind = Some(k),
        (Some(_), None) => {}
    }
    if let Some(raw) = &input.name {
        let len = raw.trim().chars().count();
        if len > MAX_NAME {
            problems.push(InvalidField::new(
                "name",
                format!("has {len} characters; at most {MAX_NAME} are allowed"),
            ));
        } else if let Err(p) = check_name_chars("name", raw) {
            problems.push(p);
        } else {
            s.name = raw.trim().to_owned();
        }
    }
    if s.name.is_empty() && !problems.iter().any(|p| p.field == "name") {
        problems.push(InvalidField::new(
            "name",
            "is required (the button's label: 钉钉扫码登录, …)",
        ));
    }
    if input.corp_id.is_some() {
        match ident(&mut problems, "corp_id", &input.corp_id, 64).map(|v| CorpId::parse(&v)) {
            Some(Ok(c)) => s.corp_id = c.to_string(),
            Some(Err(p)) => problems.push(p),
            None => {}
        }
    }
    if s.corp_id.is_empty() && !problems.iter().any(|p| p.field == "corp_id") {
        problems.push(InvalidField::new(
            "corp_id",
            "is required: the CorpId on the home page of DingTalk's developer console",
        ));
    }
    if input.app_key.is_some() {
        match ident(&mut problems, "app_key", &input.app_key, 64).map(|v| AppKey::parse(&v)) {
            Some(Ok(k)) => s.app_key = Some(k.to_string()),
            Some(Err(p)) => problems.push(p),
            None => s.app_key = None,
        }
    }
    let app_secret = ident(&mut problems, "app_secret", &input.app_secret, MAX_SECRET);
    if input.connector_id.is_some() {
        match ident(&mut problems, "connector_id", &input.connector_id, 64) {
            Some(raw) => match ConnectorId::parse(&raw) {
                Ok(id) => s.connector_id = Some(id),
                Err(p) => problems.push(p),
            },
            None => s.connector_id = None,
        }
    }
    let has_secret = app_secret.is_some() || (old.has_app_secret && s.app_key == old.app_key);
    match (&s.app_key, has_secret, &s.connector_id) {
        (Some(_), true, _) | (None, false, Some(_)) => {}
        (Some(_), false, _) => problems.push(InvalidField::new(
            "app_secret",
            "is required with app_key: the internal app's AppSecret, on its details page",
        )),
        (None, true, _) => problems.push(InvalidField::new(
            "app_key",
            "is required with app_secret: the internal app's AppKey, on its details page",
        )),
        (None, false, None) => problems.push(InvalidField::new(
            "app_key",
            "is required (with app_secret), or connector_id to use that connector's app: the \
             internal app turns a DingTalk unionid into the corp's userid",
        )),
    }
    s.has_app_secret = s.app_key.is_some() && has_secret;

    let kind = s.kind.unwrap_or(SourceKind::DingtalkQr);
    if let Some(flow) = input.flow {
        s.flow = flow;
    }
    if input.sns_app_id.is_some() {
        s.sns_app_id = ident(&mut problems, "sns_app_id", &input.sns_app_id, 64);
    }
    let sns_app_secret = ident(
        &mut problems,
        "sns_app_secret",
        &input.sns_app_secret,
        MAX_SECRET,
    );
    if input.agent_id.is_some() {
        s.agent_id = ident(&mut problems, "agent_id", &input.agent_id, 20);
        if let Some(a) = &s.agent_id {
            if !a.bytes().all(|b| b.is_ascii_digit()) {
                problems.push(InvalidField::new(
                    "agent_id",
                    "must be the micro-app's AgentId (digits, on the app's details page)",
                ));
            }
        }
    }
    match kind {
        SourceKind::DingtalkQr => {
            if s.flow == LoginFlow::Sns {
                if s.sns_app_id.is_none() {
                    problems.push(InvalidField::new(
                        "sns_app_id",
                        "is required for flow sns: the AppId of the QR login app (扫码登录应用)",
                    ));
                }
                let sns_secret = sns_app_secret.is_some()
                    || (old.has_sns_app_secret && s.sns_app_id == old.sns_app_id);
                if !sns_secret {
                    problems.push(InvalidField::new(
                        "sns_app_secret",
                        "is required for flow sns: the AppSecret of the QR login app",
                    ));
                }
                s.has_sns_app_secret = sns_secret;
            }
        }
        SourceKind::DingtalkMicro => {
            if s.agent_id.is_none() && !problems.iter().any(|p| p.field == "agent_id") {
                problems.push(InvalidField::new(
                    "agent_id",
                    "is required: the micro-app's AgentId, on the app's details page",
                ));
            }
            if input.flow == Some(LoginFlow::Sns) {
                problems.push(InvalidField::new(
                    "flow",
                    "applies to dingtalk_qr sources only",
                ));
            }
        }
    }
    if let Some(raw) = &input.front_end_callback_url {
        s.front_end_callback_url = match identifier("front_end_callback_url", raw) {
            Ok(None) => None,
            Ok(Some(v)) if v.starts_with('/') && !v.starts_with("//") => Some(v),
            Ok(Some(v)) => match crate::app::check_uri(&v) {
                Ok(v) => Some(v),
                Err(why) => {
                    problems.push(InvalidField::new(
                        "front_end_callback_url",
                        format!("{why} (or a path of this site, such as /portal)"),
                    ));
                    None
                }
            },
            Err(p) => {
                problems.push(p);
                None
            }
        };
    }
    if let Some(v) = input.visible {
        s.visible = v;
    } else if stored.is_none() {
        s.visible = true;
    }
    if let Some(v) = input.enabled {
        s.enabled = v;
    } else if stored.is_none() {
        s.enabled = true;
    }
    if let Some(b) = &input.binding {
        let mut b = b.clone();
        b.match_by.sort();
        b.match_by.dedup();
        s.binding = b;
    }
    s.oapi_base = base(
        &mut problems,
        "oapi_base",
        &input.oapi_base,
        &old.oapi_base,
        DEFAULT_OAPI_BASE,
    );
    s.api_base = base(
        &mut problems,
        "api_base",
        &input.api_base,
        &old.api_base,
        DEFAULT_API_BASE,
    );
    s.login_base = base(
        &mut problems,
        "login_base",
        &input.login_base,
        &old.login_base,
        DEFAULT_LOGIN_BASE,
    );
    if problems.is_empty() {
        Ok(CheckedSource {
            settings: s,
            app_secret,
            sns_app_secret,
            trimmed,
        })
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qr() -> SourceInput {
        SourceInput {
            kind: Some(SourceKind::DingtalkQr),
            name: Some("钉钉扫码".into()),
            corp_id: Some("dingcorp1".into()),
            app_key: Some("dingappkey1".into()),
            app_secret: Some("secret".into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_qr_source_defaults_to_the_new_flow_and_dingtalks_hosts() {
        let c = check_source(&qr(), None).unwrap();
        assert_eq!(c.settings.flow, LoginFlow::Oauth2);
        assert!(c.settings.visible && c.settings.enabled);
        assert_eq!(c.settings.oapi_base, DEFAULT_OAPI_BASE);
        assert_eq!(c.settings.login_base, DEFAULT_LOGIN_BASE);
        assert!(c.trimmed.is_empty());
    }

    #[test]
    fn pasted_spaces_are_trimmed_and_reported() {
        let mut input = qr();
        input.app_key = Some(" dingappkey1\n".into());
        input.corp_id = Some("dingcorp1 ".into());
        let c = check_source(&input, None).unwrap();
        assert_eq!(c.settings.app_key.as_deref(), Some("dingappkey1"));
        assert_eq!(c.settings.corp_id, "dingcorp1");
        assert_eq!(c.trimmed, ["corp_id", "app_key"]);
    }

    #[test]
    fn every_problem_is_named_at_once() {
        let input = SourceInput {
            kind: Some(SourceKind::DingtalkMicro),
            app_key: Some("k".into()),
            agent_id: Some("12a".into()),
            front_end_callback_url: Some("ftp://x".into()),
            ..Default::default()
        };
        let problems = check_source(&input, None).unwrap_err();
        let fields: Vec<_> = problems.iter().map(|p| p.field).collect();
        for f in [
            "name",
            "corp_id",
            "app_secret",
            "agent_id",
            "front_end_callback_url",
        ] {
            assert!(fields.contains(&f), "{f} missing from {problems:?}");
        }
    }

    #[test]
    fn the_sns_flow_needs_its_login_app_and_a_connector_can_stand_for_the_corp_app() {
        let mut input = qr();
        input.flow = Some(LoginFlow::Sns);
        let problems = check_source(&input, None).unwrap_err();
        assert!(problems.iter().any(|p| p.field == "sns_app_id"));
        assert!(problems.iter().any(|p| p.field == "sns_app_secret"));
        input.app_key = None;
        input.app_secret = None;
        input.connector_id = Some(ConnectorId::generate().to_string());
        input.sns_app_id = Some("dingoasns".into());
        input.sns_app_secret = Some("s".into());
        let c = check_source(&input, None).unwrap();
        assert!(c.settings.app_key.is_none() && c.settings.connector_id.is_some());
    }

    #[test]
    fn an_update_keeps_what_it_leaves_out_and_the_kind_cannot_change() {
        let stored = check_source(&qr(), None).unwrap().settings;
        let stored = SourceSettings {
            has_app_secret: true,
            ..stored
        };
        let patch = SourceInput {
            visible: Some(false),
            ..Default::default()
        };
        let c = check_source(&patch, Some(&stored)).unwrap();
        assert!(!c.settings.visible);
        assert_eq!(c.settings.app_key, stored.app_key);
        assert!(c.app_secret.is_none());
        let change = SourceInput {
            kind: Some(SourceKind::DingtalkMicro),
            ..Default::default()
        };
        assert_eq!(
            check_source(&change, Some(&stored)).unwrap_err()[0].field,
            "kind"
        );
    }
}
