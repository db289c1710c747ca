//! Applications (SSO targets) that accounts sign in to through the portal: OpenID Connect relying
//! parties and apps that receive a signed JWT. The rules for an app's settings and for who it is
//! assigned to live here; the store keeps the apps and their secrets.

use std::collections::BTreeSet;
use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, OrgUnitId};
use crate::values::{InvalidField, check_name_chars, identifier};

pub use assignment::Assignment;

/// Names are what the portal's app page shows under the icon.
pub const MAX_NAME_CHARS: usize = 64;
/// Browsers and proxies cut URLs of a few KB; a registered URI is far below that.
pub const MAX_URI_CHARS: usize = 2_000;
/// Per list (redirect URIs, post-logout redirect URIs): an RP has a handful of environments.
pub const MAX_REDIRECT_URIS: usize = 20;
/// The scopes the provider knows: OpenID Connect Core §5.4's standard ones and `dingtalk`
/// (the account's DingTalk ids), in the order an app's scopes are kept.
pub const SCOPES: [&str; 5] = ["openid", "profile", "email", "phone", "dingtalk"];
/// The query parameter that carries the token to a JWT app's `target_url` when none is given.
pub const DEFAULT_JWT_PARAM: &str = "id_token";
/// A JWT app's token is a login hand-off, used at once: five minutes at most.
pub const JWT_LIFETIME_S: RangeInclusive<u32> = 30..=300;
pub const DEFAULT_JWT_LIFETIME_S: u32 = 300;
const MAX_JWT_PARAM_CHARS: usize = 64;
/// An app is assigned to a few units (their sub-units included) and to individual accounts;
/// the bounds keep the stored item far below DynamoDB's 400 KB.
pub const MAX_ASSIGNED_ORG_UNITS: usize = 200;
pub const MAX_ASSIGNED_ACCOUNTS: usize = 1_000;
/// How much of a refused value a reason quotes.
const QUOTED_CHARS: usize = 80;

/// How the portal signs an account in to the app.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppKind {
    /// An OpenID Connect relying party (authorization code flow).
    Oidc,
    /// The browser is sent to the app's `target_url` with a signed JWT.
    Jwt,
}

impl AppKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Oidc => "oidc",
            Self::Jwt => "jwt",
        }
    }
}

/// Which account attribute a claim carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountAttr {
    Id,
    Username,
    Email,
    Mobile,
    JobNumber,
}

/// An assignment as an admin sends it: ids as text, each checked and named when refused.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignmentInput {
    pub everyone: Option<bool>,
    pub org_unit_ids: Option<Vec<String>>,
    pub account_ids: Option<Vec<String>>,
}

/// What an admin sends to create an app or replace its settings (absent = the default, except
/// `kind` and `public`, which an app keeps for life).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppInput {
    pub name: Option<String>,
    pub kind: Option<AppKind>,
    pub public: Option<bool>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
    pub initiate_login_uri: Option<String>,
    pub home_url: Option<String>,
    pub target_url: Option<String>,
    pub jwt_param: Option<String>,
    pub jwt_redirect_url: Option<String>,
    pub jwt_lifetime_s: Option<u32>,
    pub subject: Option<AccountAttr>,
    pub preferred_username: Option<AccountAttr>,
    pub icon_url: Option<String>,
    pub assigned_to: Option<AssignmentInput>,
    pub enabled: Option<bool>,
    /// The version a replacement is conditional on (or `If-Match`); refused on create.
    pub version: Option<u64>,
}

/// An app's settings after [`check_app`]: what the store saves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedApp {
    pub name: String,
    pub kind: AppKind,
    pub public: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    pub initiate_login_uri: Option<String>,
    pub home_url: Option<String>,
    pub target_url: Option<String>,
    pub jwt_param: String,
    pub jwt_redirect_url: Option<String>,
    pub jwt_lifetime_s: u32,
    pub subject: AccountAttr,
    pub preferred_username: AccountAttr,
    pub icon_url: Option<String>,
    pub assigned_to: Assignment,
    pub enabled: bool,
}

impl CheckedApp {
    /// An app of `kind` with every setting at its default, assigned to nobody: a base for
    /// callers that build settings in code (tests, the local demo).
    pub fn new(name: impl Into<String>, kind: AppKind) -> Self {
        Self {
            name: name.into(),
            kind,
            public: false,
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            scopes: default_scopes(kind),
            initiate_login_uri: None,
            home_url: None,
            target_url: None,
            jwt_param: DEFAULT_JWT_PARAM.to_owned(),
            jwt_redirect_url: None,
            jwt_lifetime_s: DEFAULT_JWT_LIFETIME_S,
            subject: AccountAttr::Id,
            preferred_username: AccountAttr::Username,
            icon_url: None,
            assigned_to: Assignment::Some {
                org_unit_ids: Vec::new(),
                account_ids: Vec::new(),
            },
            enabled: true,
        }
    }
}

fn default_scopes(kind: AppKind) -> Vec<String> {
    match kind {
        AppKind::Oidc => vec!["openid".to_owned()],
        AppKind::Jwt => Vec::new(),
    }
}

/// The start of a refused value, for a reason that names it.
fn quoted(raw: &str) -> String {
    let mut shown: String = raw.trim().chars().take(QUOTED_CHARS).collect();
    if raw.trim().chars().count() > QUOTED_CHARS {
        shown.push('…');
    }
    format!("{shown:?}")
}

/// Why `raw` cannot be a registered URI, or the URI as given (trimmed): redirect URIs are
/// compared exactly (OAuth 2.0 Security BCP, RFC 9700 §4.1.3), so it is kept as written.
/// Absolute `https://`; `http://` only for the loopback hosts a developer runs an app on
/// (RFC 8252 §7.3); no fragment (RFC 6749 §3.1.2); no user name or password.
pub fn check_uri(raw: &str) -> Result<String, String> {
    let len = raw.trim().chars().count();
    if len > MAX_URI_CHARS {
        return Err(format!(
            "has {len} characters; at most {MAX_URI_CHARS} are allowed"
        ));
    }
    let uri = match identifier("uri", raw) {
        Ok(Some(uri)) => uri,
        Ok(None) => return Err("is empty".to_owned()),
        Err(p) => return Err(p.reason),
    };
    if uri.contains('#') {
        return Err("must not have a fragment (#…)".to_owned());
    }
    let parsed = url::Url::parse(&uri)
        .map_err(|e| format!("is not an absolute URL ({e}): write it as https://host/path"))?;
    let host = parsed.host_str().unwrap_or_default();
    match parsed.scheme() {
        "https" if !host.is_empty() => {}
        "http" if matches!(host, "localhost" | "127.0.0.1" | "[::1]") => {}
        "http" => {
            return Err(
                "must use https:// (http:// only for localhost, 127.0.0.1 or [::1])".to_owned(),
            );
        }
        _ => return Err("must be an https:// URL".to_owned()),
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not carry a user name or password".to_owned());
    }
    Ok(uri)
}

/// Every problem of an app's settings at once, or the settings to save. `stored` is the kind and
/// `public` of the app being replaced (`None` on create): neither can change, since the
/// provider's checks and the app's secret depend on them.
pub fn check_app(
    input: &AppInput,
    stored: Option<(AppKind, bool)>,
) -> Result<CheckedApp, Vec<InvalidField>> {
    let mut problems = Vec::new();
    let name = check_app_name(input.name.as_deref(), &mut problems);
    let kind = match (input.kind, stored) {
        (Some(kind), Some((was, _))) if kind != was => {
            problems.push(InvalidField::new(
                "kind",
                format!(
                    "cannot change (the app is {}): create a new app",
                    was.as_str()
                ),
            ));
            None
        }
        (Some(kind), _) | (None, Some((kind, _))) => Some(kind),
        (None, None) => {
            problems.push(InvalidField::new("kind", "is required: oidc or jwt"));
            None
        }
    };
    let public = match (input.public, stored) {
        (Some(public), Some((_, was))) if public != was => {
            let was_text = if was { "public" } else { "confidential" };
            problems.push(InvalidField::new(
                "public",
                format!("cannot change (the app is {was_text}): create a new app"),
            ));
            was
        }
        (Some(public), _) => public,
        (None, stored) => stored.is_some_and(|(_, was)| was),
    };
    if public && kind == Some(AppKind::Jwt) {
        problems.push(InvalidField::new(
            "public",
            "is only for oidc apps (a public client has no secret and uses PKCE)",
        ));
    }

    let redirect_uris = uri_list(
        "redirect_uris",
        input.redirect_uris.as_deref(),
        &mut problems,
    );
    let post_logout_redirect_uris = uri_list(
        "post_logout_redirect_uris",
        input.post_logout_redirect_uris.as_deref(),
        &mut problems,
    );
    let mut one_uri = |field: &'static str, raw: &Option<String>| {
        let raw = raw.as_deref().filter(|r| !r.trim().is_empty())?;
        check_uri(raw)
            .map_err(|reason| problems.push(InvalidField::new(field, reason)))
            .ok()
    };
    let initiate_login_uri = one_uri("initiate_login_uri", &input.initiate_login_uri);
    let home_url = one_uri("home_url", &input.home_url);
    let target_url = one_uri("target_url", &input.target_url);
    let jwt_redirect_url = one_uri("jwt_redirect_url", &input.jwt_redirect_url);
    let icon_url = one_uri("icon_url", &input.icon_url);
    let given = |raw: &Option<String>| raw.as_deref().is_some_and(|r| !r.trim().is_empty());

    match kind {
        Some(AppKind::Oidc) => {
            if input.redirect_uris.as_ref().is_none_or(Vec::is_empty) {
                problems.push(InvalidField::new(
                    "redirect_uris",
                    "needs at least one URI for an oidc app (where the provider sends the code)",
                ));
            }
            for (field, raw) in [
                ("target_url", &input.target_url),
                ("jwt_redirect_url", &input.jwt_redirect_url),
            ] {
                if given(raw) {
                    problems.push(InvalidField::new(field, "is only for jwt apps"));
                }
            }
        }
        Some(AppKind::Jwt) => {
            if !given(&input.target_url) {
                problems.push(InvalidField::new(
                    "target_url",
                    "is required for a jwt app (where the browser takes the token)",
                ));
            }
            for (field, list) in [
                ("redirect_uris", &input.redirect_uris),
                (
                    "post_logout_redirect_uris",
                    &input.post_logout_redirect_uris,
                ),
            ] {
                if list.as_ref().is_some_and(|l| !l.is_empty()) {
                    problems.push(InvalidField::new(
                        field,
                        "is only for oidc apps: a jwt app's token goes to target_url",
                    ));
                }
            }
            if given(&input.initiate_login_uri) {
                problems.push(InvalidField::new(
                    "initiate_login_uri",
                    "is only for oidc apps (OpenID Connect Core §4)",
                ));
            }
        }
        None => {}
    }

    let scopes = check_scopes(input.scopes.as_deref(), kind, &mut problems);
    let jwt_param = match input.jwt_param.as_deref().map(str::trim) {
        None | Some("") => DEFAULT_JWT_PARAM.to_owned(),
        Some(p)
            if p.len() <= MAX_JWT_PARAM_CHARS
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') =>
        {
            p.to_owned()
        }
        Some(_) => {
            problems.push(InvalidField::new(
                "jwt_param",
                format!(
                    "must be 1 to {MAX_JWT_PARAM_CHARS} letters, digits, _ or - (a query \
                     parameter name)"
                ),
            ));
            String::new()
        }
    };
    let jwt_lifetime_s = input.jwt_lifetime_s.unwrap_or(DEFAULT_JWT_LIFETIME_S);
    if !JWT_LIFETIME_S.contains(&jwt_lifetime_s) {
        problems.push(InvalidField::new(
            "jwt_lifetime_s",
            format!(
                "must be from {} to {} seconds",
                JWT_LIFETIME_S.start(),
                JWT_LIFETIME_S.end()
            ),
        ));
    }
    let assigned_to = check_assignment(input.assigned_to.as_ref(), &mut problems);
    if stored.is_none() && input.version.is_some() {
        problems.push(InvalidField::new("version", "is set by the store"));
    }

    match (name, kind, assigned_to) {
        (Some(name), Some(kind), Some(assigned_to)) if problems.is_empty() => Ok(CheckedApp {
            name,
            kind,
            public,
            redirect_uris,
            post_logout_redirect_uris,
            scopes,
            initiate_login_uri,
            home_url,
            target_url,
            jwt_param,
            jwt_redirect_url,
            jwt_lifetime_s,
            subject: input.subject.unwrap_or(AccountAttr::Id),
            preferred_username: input.preferred_username.unwrap_or(AccountAttr::Username),
            icon_url,
            assigned_to,
            enabled: input.enabled.unwrap_or(true),
        }),
        _ => Err(problems),
    }
}

fn check_app_name(raw: Option<&str>, problems: &mut Vec<InvalidField>) -> Option<String> {
    let name = raw.map(str::trim).unwrap_or_default();
    let len = name.chars().count();
    if len == 0 {
        problems.push(InvalidField::new("name", "is required"));
        return None;
    }
    if len > MAX_NAME_CHARS {
        problems.push(InvalidField::new(
            "name",
            format!("has {len} characters; at most {MAX_NAME_CHARS} are allowed"),
        ));
        return None;
    }
    check_name_chars("name", name)
        .map_err(|p| problems.push(p))
        .ok()?;
    Some(name.to_owned())
}

/// A list of URIs, each checked and named by its position when refused; duplicates dropped.
fn uri_list(
    field: &'static str,
    raw: Option<&[String]>,
    problems: &mut Vec<InvalidField>,
) -> Vec<String> {
    let raw = raw.unwrap_or_default();
    if raw.len() > MAX_REDIRECT_URIS {
        problems.push(InvalidField::new(
            field,
            format!(
                "has {} URIs; at most {MAX_REDIRECT_URIS} are allowed",
                raw.len()
            ),
        ));
        return Vec::new();
    }
    let mut uris: Vec<String> = Vec::new();
    for (i, entry) in raw.iter().enumerate() {
        match check_uri(entry) {
            Ok(uri) if !uris.contains(&uri) => uris.push(uri),
            Ok(_) => {}
            Err(reason) => problems.push(InvalidField::new(
                field,
                format!("entry {} ({}) {reason}", i + 1, quoted(entry)),
            )),
        }
    }
    uris
}

/// The scopes in [`SCOPES`] order, `openid` always among an oidc app's; unknown ones named.
fn check_scopes(
    raw: Option<&[String]>,
    kind: Option<AppKind>,
    problems: &mut Vec<InvalidField>,
) -> Vec<String> {
    let raw = raw.unwrap_or_default();
    let unknown: Vec<String> = raw
        .iter()
        .filter(|s| !SCOPES.contains(&s.as_str()))
        .map(|s| quoted(s))
        .collect();
    if !unknown.is_empty() {
        problems.push(InvalidField::new(
            "scopes",
            format!(
                "has unknown scopes {}: allowed are {}",
                unknown.join(", "),
                SCOPES.join(", ")
            ),
        ));
    }
    SCOPES
        .iter()
        .filter(|s| raw.iter().any(|r| r == *s) || (**s == "openid" && kind == Some(AppKind::Oidc)))
        .map(|s| (*s).to_owned())
        .collect()
}

fn check_assignment(
    raw: Option<&AssignmentInput>,
    problems: &mut Vec<InvalidField>,
) -> Option<Assignment> {
    const FIELD: &str = "assigned_to";
    let Some(raw) = raw else {
        problems.push(InvalidField::new(
            FIELD,
            "is required: {\"everyone\": true}, or {\"org_unit_ids\": [...], \"account_ids\": \
             [...]}",
        ));
        return None;
    };
    let units = raw.org_unit_ids.as_deref().unwrap_or_default();
    let accounts = raw.account_ids.as_deref().unwrap_or_default();
    if raw.everyone == Some(true) {
        if !units.is_empty() || !accounts.is_empty() {
            problems.push(InvalidField::new(
                FIELD,
                "is either {\"everyone\": true} or lists org_unit_ids and account_ids, not both",
            ));
            return None;
        }
        return Some(Assignment::Everyone);
    }
    let before = problems.len();
    let org_unit_ids = assigned_ids(
        "org_unit_ids",
        units,
        MAX_ASSIGNED_ORG_UNITS,
        OrgUnitId::parse,
        problems,
    );
    let account_ids = assigned_ids(
        "account_ids",
        accounts,
        MAX_ASSIGNED_ACCOUNTS,
        AccountId::parse,
        problems,
    );
    (problems.len() == before).then_some(Assignment::Some {
        org_unit_ids,
        account_ids,
    })
}

/// The ids of one list of an assignment, in the order given, duplicates dropped; every
/// malformed one named in one problem.
fn assigned_ids<T: Ord + Clone>(
    list: &str,
    raw: &[String],
    max: usize,
    parse: fn(&str) -> Result<T, InvalidField>,
    problems: &mut Vec<InvalidField>,
) -> Vec<T> {
    if raw.len() > max {
        problems.push(InvalidField::new(
            "assigned_to",
            format!("lists {} {list}; at most {max} are allowed", raw.len()),
        ));
        return Vec::new();
    }
    let (mut ids, mut seen, mut bad) = (Vec::new(), BTreeSet::new(), Vec::new());
    for entry in raw {
        match parse(entry) {
            Ok(id) if seen.insert(id.clone()) => ids.push(id),
            Ok(_) => {}
            Err(_) => bad.push(quoted(entry)),
        }
    }
    if !bad.is_empty() {
        problems.push(InvalidField::new(
            "assigned_to",
            format!("{list} holds values that are not ids: {}", bad.join(", ")),
        ));
    }
    ids
}

mod assignment;
#[cfg(test)]
mod tests;
