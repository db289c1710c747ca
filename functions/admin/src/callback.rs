//! Keeping DingTalk's callback registration in step with a connector (protocol reference §2.3):
//! saving with `register_callback` on registers (or updates) it, turning it off or deleting the
//! connector deletes it. The outcome is stored as the connector's `callback_status`; a failure
//! never undoes the save.

use dingbridge::dingtalk::{CallbackRegistration, DingApp, DingTalkError, SecretString};
use dingbridge::domain::connector::Connector;
use dingbridge::store::Actor;
use dingbridge::web::ApiError;
use serde::Serialize;

use crate::Admin;
use crate::explain::describe;

/// The contact events a connector subscribes to (protocol reference §2.1).
pub const CONTACT_EVENTS: [&str; 7] = [
    "user_add_org",
    "user_modify_org",
    "user_leave_org",
    "user_active_org",
    "org_dept_create",
    "org_dept_modify",
    "org_dept_remove",
];

/// DingTalk's codes for "already registered" and "not registered" (protocol reference §2.3).
const ALREADY_REGISTERED: i64 = 71006;
pub(crate) const NOT_REGISTERED: i64 = 71007;

/// Where DingTalk posts a connector's events.
pub fn callback_url(public_base_url: &str, connector_id: &str) -> String {
    format!(
        "{}/dingtalk/callback/{connector_id}",
        public_base_url.trim_end_matches('/')
    )
}

/// What happened at DingTalk when a connector was saved or deleted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CallbackOutcome {
    pub ok: bool,
    /// `registered`, `updated` or `deleted`: what was attempted.
    pub action: &'static str,
    pub detail: String,
}

impl CallbackOutcome {
    fn failed(action: &'static str, e: &DingTalkError) -> Self {
        tracing::warn!(error = %e, action, "callback registration failed");
        Self {
            ok: false,
            action,
            detail: format!("callback not {action}: {}", describe(e)),
        }
    }
}

/// After a create or update: register, update or delete at DingTalk as the settings now say,
/// and record the outcome on the connector (its returned, newer version).
pub(crate) async fn after_save(
    admin: &Admin,
    old: Option<&Connector>,
    saved: Connector,
    actor: &Actor,
) -> Result<(Connector, Option<CallbackOutcome>), ApiError> {
    let outcome = if saved.register_callback {
        register(admin, &saved).await?
    } else if let Some(old) = old.filter(|o| o.register_callback) {
        // The registration was made with the old credentials; delete it with them.
        remove(admin, old).await?
    } else {
        return Ok((saved, None));
    };
    let saved = admin
        .connectors
        .set_callback_status(&saved, outcome.detail.clone(), actor)
        .await?;
    Ok((saved, Some(outcome)))
}

/// Before a connector is deleted: remove its registration at DingTalk, if it had one.
pub(crate) async fn before_delete(
    admin: &Admin,
    c: &Connector,
) -> Result<Option<CallbackOutcome>, ApiError> {
    if c.register_callback {
        Ok(Some(remove(admin, c).await?))
    } else {
        Ok(None)
    }
}

async fn register(admin: &Admin, c: &Connector) -> Result<CallbackOutcome, ApiError> {
    let app = admin.connectors.app(c)?;
    let secrets = admin.connectors.open_secrets(c)?;
    let (Some(token), Some(aes_key)) = (secrets.callback_token, secrets.callback_aes_key) else {
        // check_input requires both when registering; a connector without them is a bug.
        return Err(ApiError::Internal(format!(
            "connector {} registers callbacks without token or aes_key",
            c.id
        )));
    };
    let registration = registration(admin, c, token, aes_key);
    let dingtalk = &admin.deps.dingtalk;
    // Register first; DingTalk says 71006 when one exists, and then it is an update (one fewer
    // call than asking first, and no race between asking and registering).
    let result = match dingtalk.register_callback(&app, &registration).await {
        Err(e) if e.errcode() == Some(ALREADY_REGISTERED) => dingtalk
            .update_callback(&app, &registration)
            .await
            .map(|()| "updated"),
        other => other.map(|()| "registered"),
    };
    Ok(match result {
        Ok(action) => CallbackOutcome {
            ok: true,
            action,
            detail: format!(
                "{action} at DingTalk: {} ({} contact events)",
                registration.url,
                registration.tags.len()
            ),
        },
        Err(e) => CallbackOutcome::failed("registered", &e),
    })
}

async fn remove(admin: &Admin, c: &Connector) -> Result<CallbackOutcome, ApiError> {
    let app: DingApp = admin.connectors.app(c)?;
    Ok(match admin.deps.dingtalk.delete_callback(&app).await {
        Ok(()) => CallbackOutcome {
            ok: true,
            action: "deleted",
            detail: "deleted at DingTalk".to_owned(),
        },
        // Already gone is what we wanted.
        Err(e) if e.errcode() == Some(NOT_REGISTERED) => CallbackOutcome {
            ok: true,
            action: "deleted",
            detail: "not registered at DingTalk (nothing to delete)".to_owned(),
        },
        Err(e) => CallbackOutcome::failed("deleted", &e),
    })
}

pub(crate) fn registration(
    admin: &Admin,
    c: &Connector,
    token: SecretString,
    aes_key: SecretString,
) -> CallbackRegistration {
    CallbackRegistration {
        tags: CONTACT_EVENTS.iter().map(|t| (*t).to_owned()).collect(),
        token,
        aes_key,
        url: callback_url(&admin.deps.public_base_url, c.id.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_callback_url_is_under_the_public_base() {
        assert_eq!(
            callback_url("https://idm.example.com/", "abc"),
            "https://idm.example.com/dingtalk/callback/abc"
        );
    }
}
