//! "Test connection": real calls to DingTalk with the connector's settings, each turned into a
//! check that says precisely what is wrong — credentials, egress IP, API permissions, contact
//! scope, the silently-omitted mobile/email fields, the callback registration, and for a pushing
//! connector the write permission and the push root's settings.

use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use dingbridge::dingtalk::{
    DeptId, DingApp, DingTalkError, DingUser, DingUserId, ErrorKind, TokenSource, UserPatch,
};
use dingbridge::domain::connector::{Connector, EmailField, PushDeletePolicy};
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
    /// `contact_scope`, `user_permission`, `mobile_permission`, `email_permission`, `callback`;
    /// with the push enabled also `write_permission`, `push_root`, `push_parent` and (delete
    /// policy `move`) `push_move_dept`.
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

/// Every check, in the order of the report.
const ORDER: [&str; 13] = [
    "credentials",
    "ip_whitelist",
    "department_permission",
    "member_permission",
    "contact_scope",
    "user_permission",
    "mobile_permission",
    "email_permission",
    "write_permission",
    "push_root",
    "push_parent",
    "push_move_dept",
    "callback",
];

/// The checks of a pushing connector only; they do not depend on the pull checks' sample.
const PUSH_CHECKS: [&str; 4] = [
    "write_permission",
    "push_root",
    "push_parent",
    "push_move_dept",
];

/// The userid of the write-permission probe: a `user/update` of it that sets nothing. The push's
/// own userids are `db` + 32 hex digits, so no pushed user has it; should an admin have given it
/// to someone, an update that sets no field still changes nothing.
const PROBE_USERID: &str = "dingbridge-write-permission-probe";

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

    /// Marks every pull check not yet run as not run, with the reason (the push checks are
    /// decided on their own, `push_checks`).
    fn skip_rest(&mut self, reason: &str) {
        for name in ORDER
            .iter()
            .filter(|n| **n != "callback" && !PUSH_CHECKS.contains(n))
        {
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
    if c.push.push_enabled {
        push_checks(&admin, &c, &app, &mut checks).await?;
    }
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

/// The checks of a pushing connector: the directory's push root, and — unless DingTalk refuses
/// every call already (credentials, IP) — the write permission and the DingTalk departments the
/// push writes under.
async fn push_checks(
    admin: &Admin,
    c: &Connector,
    app: &DingApp,
    checks: &mut Checks,
) -> Result<(), ApiError> {
    let push = &c.push;
    let root = match &push.push_root_org_unit_id {
        Some(id) => admin.directory.org_unit(id).await?.map(|u| (id, u.name)),
        None => None,
    };
    match (&push.push_root_org_unit_id, root) {
        (_, Some((id, name))) => checks.pass(
            "push_root",
            format!("the push root org unit {name:?} ({id}) exists: its subtree is pushed"),
        ),
        (Some(id), None) => checks.fail(
            "push_root",
            format!(
                "the push root org unit {id} no longer exists in the directory: set \
                 push_root_org_unit_id to an existing org unit, or nothing is pushed"
            ),
        ),
        (None, None) => checks.fail(
            "push_root",
            "the push is enabled without push_root_org_unit_id: set the org unit whose subtree \
             is pushed",
        ),
    }
    let refused = ["credentials", "ip_whitelist"]
        .into_iter()
        .find(|n| checks.0.iter().any(|c| c.name == *n && !c.ok));
    let needed = ["write_permission", "push_parent"]
        .into_iter()
        .chain((push.push_delete_policy == PushDeletePolicy::Move).then_some("push_move_dept"));
    if let Some(failed) = refused {
        for name in needed {
            checks.fail(name, format!("not checked: see {failed}"));
        }
        return Ok(());
    }
    write_permission(admin, app, checks).await;
    let parent = push.push_dingtalk_parent;
    match admin.deps.dingtalk.get_department(app, parent).await {
        Ok(d) => checks.pass(
            "push_parent",
            format!(
                "DingTalk department {parent} ({:?}) exists and is inside the app's contact \
                 scope: pushed departments and users are created under it",
                d.name
            ),
        ),
        Err(e) => checks.fail(
            "push_parent",
            department_problem(&e, parent, "push_dingtalk_parent"),
        ),
    }
    if push.push_delete_policy == PushDeletePolicy::Move {
        match push.push_move_dept_id {
            None => checks.fail(
                "push_move_dept",
                "the delete policy is \"move\" but push_move_dept_id is not set: name the \
                 DingTalk department that holds retired users",
            ),
            Some(dept) => match admin.deps.dingtalk.get_department(app, dept).await {
                Ok(d) => checks.pass(
                    "push_move_dept",
                    format!(
                        "DingTalk department {dept} ({:?}) exists: disabled and deleted \
                         accounts' users are moved there",
                        d.name
                    ),
                ),
                Err(e) => checks.fail(
                    "push_move_dept",
                    department_problem(&e, dept, "push_move_dept_id"),
                ),
            },
        }
    }
    Ok(())
}

/// A failed `department/get` of a department a push setting names, in words an admin can act on.
fn department_problem(e: &DingTalkError, dept: DeptId, setting: &str) -> String {
    match e.kind() {
        ErrorKind::NotFound => format!(
            "DingTalk has no department {dept} ({}): set {setting} to an existing department id \
             (the developer console or the department's page shows it)",
            e.errcode().unwrap_or(60003)
        ),
        ErrorKind::OutOfScope => format!(
            "DingTalk department {dept} is outside the app's contact scope ({}): the push cannot \
             write there. Add it to the app's contact scope (通讯录权限范围), or set {setting} to \
             a department inside the scope",
            e.errcode().unwrap_or(50004)
        ),
        _ => describe(e),
    }
}

/// Whether the app holds the address-book write permission (`qyapi_manage_addresslist`, 通讯录编辑
/// 权限), without writing: `user/update` of [`PROBE_USERID`], setting no field.
///
/// What it proves: DingTalk let this app call a write API. DingTalk checks the API permission
/// before it looks the user up (a missing permission answers 60011, or 43007, whoever the userid
/// names; so does the simulator), so "user not found" (60121) means the permission is granted;
/// department and user writes share that one permission. What it cannot prove: that writes under
/// `push_dingtalk_parent` are inside the contact scope (the `push_parent` check reads it), that
/// a given user or department write will be accepted (names, mobiles, extension keys are only
/// checked by the write itself), nor that DingTalk keeps checking the permission first — the
/// order is observed, not documented.
async fn write_permission(admin: &Admin, app: &DingApp, checks: &mut Checks) {
    const NAME: &str = "write_permission";
    let Ok(probe) = DingUserId::parse(PROBE_USERID) else {
        checks.fail(NAME, "not checked: the probe userid is invalid");
        return;
    };
    let granted = "the app holds the address-book write permission (qyapi_manage_addresslist)";
    match admin
        .deps
        .dingtalk
        .update_user(app, &UserPatch::new(probe))
        .await
    {
        Ok(()) => checks.pass(
            NAME,
            format!("{granted}: DingTalk accepted an update that set nothing"),
        ),
        Err(e) if e.errcode() == Some(43007) || matches!(e.kind(), ErrorKind::PermissionDenied) => {
            checks.fail(
                NAME,
                format!(
                    "the app lacks the address-book write permission ({}): grant 通讯录编辑权限 \
                     (qyapi_manage_addresslist) in the developer console (权限管理), or every \
                     push is parked",
                    e.errcode().map_or_else(|| e.code().to_string(), |c| c.to_string())
                ),
            );
        }
        // "No such user" or "invalid userid" (dingtalk-push.md): both come after the permission.
        Err(e)
            if matches!(e.kind(), ErrorKind::NotFound)
                || e.errcode()
                    .is_some_and(|c| [60121, 60111, 33012, 40003].contains(&c)) =>
        {
            checks.pass(
            NAME,
            format!(
                "{granted}: DingTalk took a user/update of a userid nobody has and answered that \
                 the user does not exist ({}), nothing was changed",
                e.errcode().unwrap_or(60121)
            ),
        )
        }
        Err(e) => checks.fail(
            NAME,
            format!("could not be decided: {}", describe(&e)),
        ),
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
