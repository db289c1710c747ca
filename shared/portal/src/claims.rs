//! What an app learns about a person: the subject it knows them by, the claims each scope
//! releases (OIDC Core §5.4), and the signed JWT of a JWT app.

use dingbridge::domain::directory::Account;
use dingbridge::store::apps::{AccountAttr, App};
use dingbridge::store::mappings::MappedKind;
use serde_json::{Map, Value, json};

use crate::Portal;
use crate::signin::SignedIn;
use crate::web::PageError;

/// The scopes the provider knows (an app is allowed some of them); others are ignored.
pub use dingbridge::domain::app::SCOPES;
/// The claims those scopes can release (discovery's `claims_supported`).
pub const CLAIMS: [&str; 17] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
    "amr",
    "name",
    "preferred_username",
    "updated_at",
    "email",
    "email_verified",
    "phone_number",
    "phone_number_verified",
    "dingtalk",
];

/// The value of one account attribute (the id when the attribute is empty, so a subject always
/// exists).
pub fn attribute(account: &Account, attr: AccountAttr) -> String {
    let value = match attr {
        AccountAttr::Id => None,
        AccountAttr::Username => Some(account.username.as_str().to_owned()),
        AccountAttr::Email => account.email.as_ref().map(|e| e.as_str().to_owned()),
        AccountAttr::Mobile => account.mobile.as_ref().map(|m| m.as_str().to_owned()),
        AccountAttr::JobNumber => account.job_number.clone(),
    };
    value.unwrap_or_else(|| account.id.to_string())
}

/// The `sub` an app knows the account by.
pub fn subject(app: &App, account: &Account) -> String {
    attribute(account, app.subject)
}

/// The claims `scopes` release about `account` to `app` (`sub` included).
pub async fn released(
    portal: &Portal,
    app: &App,
    account: &Account,
    scopes: &[String],
) -> Result<Map<String, Value>, PageError> {
    let has = |s: &str| scopes.iter().any(|x| x == s);
    let mut out = Map::new();
    out.insert("sub".into(), json!(subject(app, account)));
    if has("profile") {
        out.insert("name".into(), json!(account.display_name.as_str()));
        out.insert(
            "preferred_username".into(),
            json!(attribute(account, app.preferred_username)),
        );
        out.insert(
            "updated_at".into(),
            json!(account.updated_ms.div_euclid(1000)),
        );
    }
    if has("email") {
        if let Some(e) = &account.email {
            out.insert("email".into(), json!(e.as_str()));
            // Addresses in the directory are set by IT (or DingTalk), not by the person.
            out.insert("email_verified".into(), json!(true));
        }
    }
    if has("phone") {
        if let Some(m) = &account.mobile {
            out.insert("phone_number".into(), json!(m.as_str()));
            out.insert("phone_number_verified".into(), json!(true));
        }
    }
    if has("dingtalk") {
        let user = portal
            .mappings
            .of_entity(account.id.as_str())
            .await?
            .into_iter()
            .find(|m| m.kind == MappedKind::User);
        if let Some(m) = user {
            out.insert(
                "dingtalk".into(),
                json!({ "userid": m.external_id, "unionid": m.unionid }),
            );
        }
    }
    Ok(out)
}

/// The signed JWT a JWT app receives (IDaaS-style): issuer, the app as audience, a short life.
pub async fn jwt_for_app(portal: &Portal, app: &App, s: &SignedIn) -> Result<String, PageError> {
    let now_s = portal.clock.now_millis().div_euclid(1000);
    let scopes: Vec<String> = ["profile", "email", "phone"]
        .iter()
        .map(|s| (*s).to_owned())
        .chain(app.scopes.iter().filter(|s| *s == "dingtalk").cloned())
        .collect();
    let mut claims = released(portal, app, &s.account, &scopes).await?;
    claims.insert("iss".into(), json!(portal.issuer));
    claims.insert("aud".into(), json!(app.client_id));
    claims.insert("iat".into(), json!(now_s));
    claims.insert("nbf".into(), json!(now_s));
    claims.insert("exp".into(), json!(now_s + i64::from(app.jwt_lifetime_s)));
    claims.insert("jti".into(), json!(uuid::Uuid::new_v4().to_string()));
    claims.insert(
        "auth_time".into(),
        json!(s.session.auth_time_ms.div_euclid(1000)),
    );
    let key = portal.keys.get_or_create().await?;
    Ok(key.sign(&claims)?)
}
