//! "Test connection": real calls to DingTalk with the connector's settings, each turned into a
//! check that says precisely what is wrong — credentials, egress IP, API permissions, contact
//! scope, the silently-omitted mobile/email fields, and the callback registration.

use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use dingbridge::dingtalk::{DeptId, DingApp, DingTalkError, DingUser, ErrorKind, TokenSource};
use dingbridge::domain::connector::{Connector, EmailField};
use dingbridge::web::ApiError;
use serde::{Deserialize, Serialize};

use crate::Admin;
use crate::callback::{CONTACT_EVENTS, NOT_REGISTERED, callback_url};
use crate::connectors::load;
use crate::explain::describe;

/// Users sampled for the mobile/email check: one `user/list` page.
const SAMPLE_SIZE: u32 = 100;
/// Sub-departments tried when the root has no direct members.
const SAMPLE_DEPTS: usize = 5;

pub(crate) fn routes() -> Router<Admin> {
    Router::new().route("/connectors/{id}/test", post(test))
}

/// The answer of a test: `ok` when every check passed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub ok: bool,
    pub checks: Vec<Check>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// `credentials`, `ip_whitelist`, `department_permission`, `member_permission`,
    /// `contact_scope`, `user_permission`, `mobile_permission`, `email_permission`, `callback`.
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

/// Every check, in the order of the report.
const ORDER: [&str; 9] = [
    "credentials",
    "ip_whitelist",
    "department_permission",
    "member_permission",
    "contact_scope",
    "user_permission",
    "mobile_permission",
    "email_permission",
    "callback",
];

/// The checks as they are decided; a check a failure made impossible says why it was not run.
struct Checks(Vec<Check>);

impl Checks {
    fn pass(&mut self, name: &str, detail: impl Into<String>) {
        self.set(name, true, detail.into());
    }

    fn fail(&mut self, name: &str, detail: impl Into<String>) {
        self.set(name, false, detail.into());
    }

    fn set(&mut self, name: &str, ok: bool, detail: String) {
        match self.0.iter_mut().find(|c| c.name == name) {
            Some(c) => {
                c.ok = ok;
                c.detail = detail;
            }
            None => self.0.push(Check {
                name: name.to_owned(),
                ok,
                detail,
            }),
        }
    }

    fn is_set(&self, name: &str) -> bool {
        self.0.iter().any(|c| c.name == name)
    }

    /// Marks every check not yet run as not run, with the reason.
    fn skip_rest(&mut self, reason: &str) {
        for name in ORDER.iter().filter(|n| **n != "callback") {
            if !self.is_set(name) {
                self.fail(name, format!("not checked: {reason}"));
            }
        }
    }

    /// Records a failure of a contact API in the check it concerns; `true` when it stops the test
    /// (nothing further can succeed).
    fn contact_failure(&mut self, check: &str, e: &DingTalkError) -> bool {
        let detail = describe(e);
        match e.kind() {
            ErrorKind::IpNotWhitelisted { .. } => {
                self.fail("ip_whitelist", detail);
                true
            }
            ErrorKind::OutOfScope => {
                self.pass("ip_whitelist", "calls from this server are accepted");
                self.fail("contact_scope", detail);
                false
            }
            ErrorKind::InvalidCredentials | ErrorKind::InvalidToken => {
                self.fail("credentials", detail);
                true
            }
            _ => {
                self.pass("ip_whitelist", "calls from this server are accepted");
                self.fail(check, detail);
                false
            }
        }
    }
}

async fn test(
    State(admin): State<Admin>,
    Path(id): Path<String>,
) -> Result<Json<Report>, ApiError> {
    let c = load(&admin, &id).await?;
    let app = admin.connectors.app(&c)?;
    let mut checks = Checks(Vec::new());
    run(&admin, &c, &app, &mut checks).await?;
    callback_check(&admin, &c, &app, &mut checks).await?;
    checks
        .0
        .sort_by_key(|c| ORDER.iter().position(|n| *n == c.name));
    let ok = checks.0.iter().all(|c| c.ok);
    Ok(Json(Report {
        ok,
        checks: checks.0,
    }))
}

/// Every contact check, in the order DingTalk evaluates them: token, IP, permission, scope.
async fn run(
    admin: &Admin,
    c: &Connector,
    app: &DingApp,
    checks: &mut Checks,
) -> Result<(), ApiError> {
    let dingtalk = &admin.deps.dingtalk;
    if let Err(e) = dingtalk.fetch_app_token(app, TokenSource::Legacy).await {
        if matches!(e.kind(), ErrorKind::IpNotWhitelisted { .. }) {
            checks.fail("ip_whitelist", describe(&e));
        }
        checks.fail("credentials", describe(&e));
        checks.skip_rest("no access token");
        return Ok(());
    }
    checks.pass(
        "credentials",
        "the AppKey and AppSecret are accepted (an access token was issued)",
    );

    let depts = match dingtalk.list_sub_departments(app, DeptId::ROOT).await {
        Ok(depts) => {
            checks.pass("ip_whitelist", "calls from this server are accepted");
            checks.pass(
                "department_permission",
                format!("listed the top-level departments ({})", depts.len()),
            );
            depts
        }
        Err(e) => {
            if checks.contact_failure("department_permission", &e) {
                checks.skip_rest("DingTalk refuses every call");
                return Ok(());
            }
            Vec::new()
        }
    };

    let mut sample = Vec::new();
    match dingtalk
        .list_users_page(app, DeptId::ROOT, 0, SAMPLE_SIZE)
        .await
    {
        Ok(page) => {
            checks.pass(
                "member_permission",
                "the members of the root department can be listed",
            );
            if !checks.is_set("contact_scope") {
                checks.pass(
                    "contact_scope",
                    "the root department is in scope (the whole organisation is visible)",
                );
            }
            sample = page.items;
        }
        Err(e) => {
            if checks.contact_failure("member_permission", &e) {
                checks.skip_rest("DingTalk refuses every call");
                return Ok(());
            }
            if matches!(e.kind(), ErrorKind::OutOfScope) {
                // DingTalk checks the permission before the scope: a scope refusal proves it.
                checks.pass(
                    "member_permission",
                    "granted (DingTalk refused on scope, not permission)",
                );
                let visible = if depts.is_empty() {
                    String::new()
                } else {
                    format!(
                        " (only {} top-level department(s) are visible)",
                        depts.len()
                    )
                };
                checks.fail(
                    "contact_scope",
                    format!(
                        "the app's contact scope is not all employees{visible}: DingTalk \
                         refused to list the root department's members ({}); set the contact \
                         scope (通讯录权限范围) to all employees, or people outside it will \
                         never be synced",
                        e.errcode().unwrap_or(50004)
                    ),
                );
            }
        }
    }
    // The root often has no direct members; a few departments below it make a fair sample.
    for dept in depts.iter().take(SAMPLE_DEPTS) {
        if !sample.is_empty() {
            break;
        }
        if let Ok(page) = dingtalk.list_users_page(app, dept.id, 0, SAMPLE_SIZE).await {
            sample = page.items;
        }
    }

    match sample.first() {
        None => checks.skip_rest("no user found to sample"),
        Some(first) => {
            match dingtalk.get_user(app, &first.userid).await {
                Ok(_) => checks.pass("user_permission", "user details can be read"),
                Err(e) => {
                    checks.contact_failure("user_permission", &e);
                }
            }
            field_checks(c, &sample, checks);
        }
    }
    Ok(())
}

/// DingTalk omits mobile and email silently without their permissions (protocol reference §3.1):
/// a sample where nobody has one is the tell.
fn field_checks(c: &Connector, sample: &[DingUser], checks: &mut Checks) {
    let n = sample.len();
    let mobiles = sample.iter().filter(|u| u.mobile.is_some()).count();
    if mobiles == 0 {
        checks.fail(
            "mobile_permission",
            format!(
                "none of the {n} sampled users came back with a mobile: the app most likely lacks \
                 the mobile permission (企业员工手机号信息), and DingTalk omits the field without it"
            ),
        );
    } else {
        checks.pass(
            "mobile_permission",
            format!("{mobiles} of {n} sampled users have a mobile"),
        );
    }
    let (field, emails) = match c.email_field {
        EmailField::Email => ("email", sample.iter().filter(|u| u.email.is_some()).count()),
        EmailField::OrgEmail => (
            "org_email",
            sample.iter().filter(|u| u.org_email.is_some()).count(),
        ),
    };
    if emails == 0 {
        let hint = match c.email_field {
            EmailField::Email => "the app most likely lacks the email permission (邮箱等个人信息)",
            EmailField::OrgEmail => {
                "the enterprise mailbox may be off for this organisation, or the app lacks the \
                 email permission (邮箱等个人信息)"
            }
        };
        checks.fail(
            "email_permission",
            format!("none of the {n} sampled users came back with {field}: {hint}"),
        );
    } else {
        checks.pass(
            "email_permission",
            format!("{emails} of {n} sampled users have {field}"),
        );
    }
}

/// What DingTalk has registered (`get_call_back`) against what this connector expects.
async fn callback_check(
    admin: &Admin,
    c: &Connector,
    app: &DingApp,
    checks: &mut Checks,
) -> Result<(), ApiError> {
    const NAME: &str = "callback";
    let expected = callback_url(&admin.deps.public_base_url, c.id.as_str());
    let found = admin.deps.dingtalk.get_callback(app).await;
    match (c.register_callback, found) {
        (true, Ok(reg)) => {
            let secrets = admin.connectors.open_secrets(c)?;
            let missing: Vec<&str> = CONTACT_EVENTS
                .iter()
                .copied()
                .filter(|t| !reg.tags.iter().any(|r| r == t))
                .collect();
            if reg.url != expected {
                checks.fail(
                    NAME,
                    format!(
                        "DingTalk sends events to {}, not to {expected}: save the connector to \
                         register this deployment's URL",
                        reg.url
                    ),
                );
            } else if secrets.callback_token.as_ref() != Some(&reg.token)
                || secrets.callback_aes_key.as_ref() != Some(&reg.aes_key)
            {
                checks.fail(
                    NAME,
                    "DingTalk holds a different callback token or aes_key than this connector: \
                     save the connector to update the registration",
                );
            } else if !missing.is_empty() {
                checks.fail(
                    NAME,
                    format!(
                        "registered at {expected} but without the events {}: save the connector \
                         to update the registration",
                        missing.join(", ")
                    ),
                );
            } else {
                checks.pass(
                    NAME,
                    format!(
                        "registered at {expected} for the {} contact events",
                        CONTACT_EVENTS.len()
                    ),
                );
            }
        }
        (true, Err(e)) if e.errcode() == Some(NOT_REGISTERED) => checks.fail(
            NAME,
            "no callback is registered at DingTalk (71007): save the connector to register it",
        ),
        (true, Err(e)) => checks.fail(NAME, describe(&e)),
        (false, Ok(reg)) => checks.pass(
            NAME,
            format!(
                "registration through the API is off here, yet DingTalk sends events to {}",
                reg.url
            ),
        ),
        (false, Err(_)) => checks.pass(
            NAME,
            "registration through the API is off: events come from the developer console's \
             event subscription, if configured there",
        ),
    }
    Ok(())
}
