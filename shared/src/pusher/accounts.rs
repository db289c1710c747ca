//! Accounts → DingTalk users: created under a userid derived from the account id (a retried create
//! meets 60102 and confirms by reading back), linked when the mobile is already a user of the corp
//! (per the connector's link mode), updated only where DingTalk differs — never the mobile, which
//! DingTalk cannot change — and retired per the connector's delete policy.

use std::collections::BTreeMap;

use crate::dingtalk::{DeptId, DingTalkError, DingUser, DingUserId, NewUser, UserPatch};
use crate::domain::connector::{EmailField, LinkMode, PushDeletePolicy, PushField};
use crate::domain::directory::{Account, AccountStatus};
use crate::domain::ids::{AccountId, OrgUnitId};
use crate::domain::values::Mobile;
use crate::store::link_requests::{LinkRequestState, NewLinkRequest};
use crate::store::mappings::MappedKind;

use super::Done;
use super::failure::{self, Blocked, USER_GONE, is_code, store};
use super::scope::Push;

/// The DingTalk userid of an account pushed by us: `db` + the account id's 32 hex digits. Fixed
/// by the account alone, so a create retried after a lost answer asks for the same userid.
pub fn userid_for(account: &AccountId) -> Option<DingUserId> {
    let hex: String = account
        .as_str()
        .chars()
        .filter(char::is_ascii_hexdigit)
        .collect::<String>()
        .to_ascii_lowercase();
    DingUserId::parse(format!("db{hex}")).ok()
}

const NO_MOBILE: &str = "DingTalk requires a mobile number: add one to push this account";

/// An account that should exist in DingTalk, with the directory units that place it there.
struct Wanted<'a> {
    account: &'a Account,
    units: Vec<OrgUnitId>,
}

impl Push<'_> {
    pub async fn account(&self, id: &AccountId) -> Result<Done, Blocked> {
        let account = self
            .deps
            .directory
            .account(id)
            .await
            .map_err(|e| store(e, "reading the account"))?;
        let mut units = Vec::new();
        if let Some(a) = account
            .as_ref()
            .filter(|a| a.status == AccountStatus::Enabled)
        {
            for m in &a.memberships {
                if self.inside_id(&m.org_unit_id).await? {
                    units.push(m.org_unit_id.clone());
                }
            }
        }
        let wanted = match &account {
            Some(account) if !units.is_empty() => Some(Wanted { account, units }),
            _ => None,
        };
        match (wanted, self.mapped_user(id).await?) {
            (Some(w), None) => self.create_user(&w).await,
            (Some(w), Some(userid)) => self.update_user(&w, &userid).await,
            (None, Some(userid)) => self.retire(&userid).await,
            (None, None) => Ok(Done::Absent),
        }
    }

    /// The departments of the wanted units, in membership order; a unit not pushed yet makes
    /// the account wait.
    async fn depts(&self, w: &Wanted<'_>) -> Result<Vec<DeptId>, Blocked> {
        let mut out = Vec::new();
        for unit in &w.units {
            match self.dept_of(unit).await? {
                Some(d) if !out.contains(&d) => out.push(d),
                Some(_) => {}
                None => {
                    return Err(Blocked::Ordering(format!(
                        "the org unit {unit} is not in DingTalk yet; retried after its own push"
                    )));
                }
            }
        }
        Ok(out)
    }

    async fn create_user(&self, w: &Wanted<'_>) -> Result<Done, Blocked> {
        let a = w.account;
        let Some(mobile) = &a.mobile else {
            return Err(Blocked::park(no_mobile(a), None));
        };
        let depts = self.depts(w).await?;
        let userid = userid_for(&a.id)
            .ok_or_else(|| Blocked::park("the account id yields no valid DingTalk userid", None))?;
        let settings = self.settings();
        let mut new = NewUser::new(a.display_name.as_str(), mobile.as_str(), depts);
        new.userid = Some(userid.clone());
        if settings.pushes(PushField::Email) {
            let email = a.email.as_ref().map(|e| e.as_str().to_owned());
            match settings.push_email_field {
                EmailField::Email => new.email = email,
                EmailField::OrgEmail => new.org_email = email,
            }
        }
        if settings.pushes(PushField::JobNumber) {
            new.job_number.clone_from(&a.job_number);
        }
        if settings.pushes(PushField::Title) {
            new.title.clone_from(&a.title);
        }
        new.extension = extension_changes(
            &settings.push_extension_keys,
            &a.attributes,
            &BTreeMap::new(),
        );
        new.manager_userid = self.manager_userid(a).await?;
        match self.write_create_user(&new).await {
            Ok(created) => {
                self.map_user(&created.userid, &a.id, created.unionid.as_deref())
                    .await?;
                Ok(Done::Created)
            }
            Err(e) if is_code(&e, &[60102]) => self.confirm_ours(w, &userid, mobile, &e).await,
            Err(e) if is_code(&e, &[60104, 60107]) => self.link(w, mobile, &e).await,
            Err(e) => Err(failure::dingtalk(&e, "creating the DingTalk user")),
        }
    }

    /// 60102 on our own userid: an earlier create took effect. It is ours when DingTalk holds
    /// the account's mobile; then the mapping is written and the user brought up to date.
    async fn confirm_ours(
        &self,
        w: &Wanted<'_>,
        userid: &DingUserId,
        mobile: &Mobile,
        refused: &DingTalkError,
    ) -> Result<Done, Blocked> {
        let existing = match self
            .deps
            .dingtalk
            .get_user_with_extension(&self.app, userid)
            .await
        {
            Ok(u) => u,
            Err(e) => return Err(failure::dingtalk(&e, "reading back the DingTalk user")),
        };
        let (user, _) = &existing;
        if same_mobile(user.mobile.as_deref(), mobile) != Some(true) {
            return Err(Blocked::park(
                format!(
                    "creating the DingTalk user: userid {userid} already exists (60102) without \
                     the account's mobile, so it is not this account's earlier create: delete or \
                     rename that DingTalk user, then re-drive (DingTalk said: {})",
                    refused.message()
                ),
                Some("60102"),
            ));
        }
        self.map_user(userid, &w.account.id, user.unionid.as_deref())
            .await?;
        self.update_existing(w, &existing).await?;
        Ok(Done::Created)
    }

    /// 60104 / 60107: the mobile is already a user of the corp. Link mode `mapping` links the
    /// account to it at once; `association` waits for an admin's approval.
    async fn link(
        &self,
        w: &Wanted<'_>,
        mobile: &Mobile,
        refused: &DingTalkError,
    ) -> Result<Done, Blocked> {
        let code = refused.errcode().unwrap_or(60104).to_string();
        let userid = match self
            .deps
            .dingtalk
            .user_id_by_mobile(&self.app, mobile.as_str())
            .await
        {
            Ok(u) => u,
            Err(e) => {
                return Err(failure::dingtalk(
                    &e,
                    "looking up the DingTalk user by mobile",
                ));
            }
        };
        let linked = self.account_of(&userid).await?;
        if let Some(other) = linked.as_ref().filter(|o| **o != w.account.id) {
            return Err(Blocked::park(
                format!(
                    "the account's mobile belongs to DingTalk user {userid}, which is already \
                     linked to account {other}: correct the mobile of one of the two accounts"
                ),
                Some(&code),
            ));
        }
        // Our own earlier create (DingTalk may report the mobile before the userid): no
        // approval is needed to link an account to the user made for it.
        let ours = linked.is_some() || userid_for(&w.account.id).as_ref() == Some(&userid);
        let existing = match self
            .deps
            .dingtalk
            .get_user_with_extension(&self.app, &userid)
            .await
        {
            Ok(u) => u,
            Err(e) => return Err(failure::dingtalk(&e, "reading the DingTalk user")),
        };
        if !ours && self.settings().push_link_mode == LinkMode::Association {
            // Filed (or refreshed) on every push: the admin decides on what DingTalk shows now.
            let request = self
                .deps
                .link_requests
                .file(NewLinkRequest {
                    connector_id: self.connector.id.clone(),
                    account_id: w.account.id.clone(),
                    userid: userid.clone(),
                    dingtalk_name: existing.0.name.clone(),
                    dingtalk_mobile: existing.0.mobile.clone(),
                    code: code.clone(),
                })
                .await
                .map_err(|e| store(e, "filing the link request"))?;
            match request.state {
                // The admin approved after this push was parked: link as mode `mapping` does.
                LinkRequestState::Approved => {}
                LinkRequestState::Refused => {
                    return Err(Blocked::park(request.refused_reason(), Some(&code)));
                }
                LinkRequestState::Pending => {
                    return Err(Blocked::park(request.waiting_reason(), Some(&code)));
                }
            }
        }
        self.map_user(&userid, &w.account.id, existing.0.unionid.as_deref())
            .await?;
        self.update_existing(w, &existing).await?;
        Ok(if ours { Done::Created } else { Done::Linked })
    }

    async fn update_user(&self, w: &Wanted<'_>, userid: &DingUserId) -> Result<Done, Blocked> {
        match self
            .deps
            .dingtalk
            .get_user_with_extension(&self.app, userid)
            .await
        {
            Ok(existing) => {
                // A link an admin approved, or one made before unionids were kept, gets its
                // unionid now.
                self.keep_unionid(userid, &w.account.id, existing.0.unionid.as_deref())
                    .await?;
                self.update_existing(w, &existing).await
            }
            // Deleted in DingTalk (perhaps by the admin, to change the mobile): re-create.
            Err(e) if is_code(&e, USER_GONE) => {
                self.unmap(MappedKind::User, userid.as_str()).await?;
                self.create_user(w).await
            }
            Err(e) => Err(failure::dingtalk(&e, "reading the DingTalk user")),
        }
    }

    /// Writes the pushed fields that differ from `existing`; a different mobile is parked for
    /// an admin after the other fields are written, since DingTalk refuses to change it (41054).
    async fn update_existing(
        &self,
        w: &Wanted<'_>,
        (existing, extension): &(DingUser, BTreeMap<String, String>),
    ) -> Result<Done, Blocked> {
        let a = w.account;
        let settings = self.settings();
        let mut patch = UserPatch::new(existing.userid.clone());
        if settings.pushes(PushField::Name) && existing.name != a.display_name.as_str() {
            patch.name = Some(a.display_name.as_str().to_owned());
        }
        if settings.pushes(PushField::Email) {
            let ours = a.email.as_ref().map(|e| e.as_str());
            match settings.push_email_field {
                EmailField::Email => patch.email = differs(ours, existing.email.as_deref(), true),
                EmailField::OrgEmail => {
                    patch.org_email = differs(ours, existing.org_email.as_deref(), true);
                }
            }
        }
        if settings.pushes(PushField::JobNumber) {
            patch.job_number = differs(
                a.job_number.as_deref(),
                existing.job_number.as_deref(),
                false,
            );
        }
        if settings.pushes(PushField::Title) {
            patch.title = differs(a.title.as_deref(), existing.title.as_deref(), false);
        }
        if settings.pushes(PushField::Departments) {
            let wanted = self.dept_list(w, existing).await?;
            if !same_set(&wanted, &existing.dept_ids) {
                patch.dept_ids = Some(wanted);
            }
        }
        let ext = extension_changes(&settings.push_extension_keys, &a.attributes, extension);
        if !ext.is_empty() {
            patch.extension = Some(ext);
        }
        if let Some(manager) = self.manager_userid(a).await?
            && existing.manager_userid.as_ref() != Some(&manager)
        {
            patch.manager_userid = Some(manager);
        }
        let changed = patch != UserPatch::new(existing.userid.clone());
        if changed {
            match self.write_update_user(&patch).await {
                Ok(()) => {}
                Err(e) if is_code(&e, USER_GONE) => {
                    return Err(Blocked::Transient(
                        "the DingTalk user was deleted while being updated; re-created on retry"
                            .into(),
                    ));
                }
                Err(e) => return Err(failure::dingtalk(&e, "updating the DingTalk user")),
            }
        }
        if let Some(mobile) = &a.mobile
            && same_mobile(existing.mobile.as_deref(), mobile) == Some(false)
        {
            return Err(Blocked::park(
                format!(
                    "the account's mobile differs from DingTalk user {}'s, and DingTalk cannot \
                     change a user's mobile (41054). Either delete the user in DingTalk and \
                     re-drive this push to re-create it with the new mobile (the user's DingTalk \
                     history and chats are lost), or set the account's mobile back to DingTalk's",
                    existing.userid
                ),
                Some("41054"),
            ));
        }
        Ok(if changed {
            Done::Updated
        } else {
            Done::Unchanged
        })
    }

    /// The whole `dept_id_list` to send (DingTalk replaces it): the wanted departments, plus
    /// those of the user's current ones that the push does not manage (outside the pushed
    /// subtree, e.g. a linked user's other departments), which are left alone.
    async fn dept_list(&self, w: &Wanted<'_>, existing: &DingUser) -> Result<Vec<DeptId>, Blocked> {
        let mut out = self.depts(w).await?;
        for dept in &existing.dept_ids {
            if !out.contains(dept) && !self.manages(*dept).await? {
                out.push(*dept);
            }
        }
        Ok(out)
    }

    /// Whether a DingTalk department is the push's to place users in: the pushed parent, the
    /// holding department, or one mapped to a unit inside the pushed subtree (or to a unit gone
    /// from the directory, whose department is on its way out).
    async fn manages(&self, dept: DeptId) -> Result<bool, Blocked> {
        let settings = self.settings();
        if dept == settings.push_dingtalk_parent || Some(dept) == settings.push_move_dept_id {
            return Ok(true);
        }
        match self.unit_of(dept).await? {
            None => Ok(false),
            Some(unit) => {
                let present = self
                    .deps
                    .directory
                    .org_unit(&unit)
                    .await
                    .map_err(|e| store(e, "reading an org unit"))?;
                match present {
                    None => Ok(true),
                    Some(u) => self.inside(&u).await,
                }
            }
        }
    }

    /// A pushed user whose account is disabled, deleted or out of the subtree: the connector's
    /// delete policy decides (DingTalk has no disabled state for ordinary users).
    async fn retire(&self, userid: &DingUserId) -> Result<Done, Blocked> {
        let settings = self.settings();
        match settings.push_delete_policy {
            PushDeletePolicy::Keep => Ok(Done::Kept),
            PushDeletePolicy::Delete => {
                match self.write_delete_user(userid).await {
                    Ok(()) => {}
                    Err(e) if is_code(&e, USER_GONE) => {}
                    Err(e) => return Err(failure::dingtalk(&e, "deleting the DingTalk user")),
                }
                self.unmap(MappedKind::User, userid.as_str()).await?;
                Ok(Done::Deleted)
            }
            PushDeletePolicy::Move => {
                let Some(holding) = settings.push_move_dept_id else {
                    return Err(Blocked::park(
                        "the delete policy is \"move\" but the connector names no \
                         push_move_dept_id: set one, then re-drive",
                        None,
                    ));
                };
                let existing = match self.deps.dingtalk.get_user(&self.app, userid).await {
                    Ok(u) => u,
                    Err(e) if is_code(&e, USER_GONE) => {
                        self.unmap(MappedKind::User, userid.as_str()).await?;
                        return Ok(Done::Absent);
                    }
                    Err(e) => return Err(failure::dingtalk(&e, "reading the DingTalk user")),
                };
                if existing.dept_ids == [holding] {
                    return Ok(Done::Unchanged);
                }
                let mut patch = UserPatch::new(userid.clone());
                patch.dept_ids = Some(vec![holding]);
                match self.write_update_user(&patch).await {
                    Ok(()) => Ok(Done::Moved),
                    Err(e) => Err(failure::dingtalk(
                        &e,
                        "moving the DingTalk user to the holding department",
                    )),
                }
            }
        }
    }
}

/// The value to send for a text field when ours differs from DingTalk's: ours, or `""` to clear
/// one we do not have. `fold_case` compares addresses without case.
fn differs(ours: Option<&str>, theirs: Option<&str>, fold_case: bool) -> Option<String> {
    let norm = |v: Option<&str>| {
        v.map(str::trim).filter(|v| !v.is_empty()).map(|v| {
            if fold_case {
                v.to_lowercase()
            } else {
                v.to_owned()
            }
        })
    };
    if norm(ours) == norm(theirs) {
        return None;
    }
    Some(ours.map(str::trim).unwrap_or_default().to_owned())
}

/// The pushed `extension` keys whose value differs from DingTalk's, with ours (`""` clears a
/// value we do not have). Keys not listed on the connector are never sent, so never touched.
fn extension_changes(
    keys: &[String],
    ours: &BTreeMap<String, String>,
    theirs: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let value = |m: &BTreeMap<String, String>, k: &String| {
        m.get(k)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    keys.iter()
        .filter(|k| value(ours, k) != value(theirs, k))
        .map(|k| (k.clone(), value(ours, k).unwrap_or_default()))
        .collect()
}

impl Push<'_> {
    /// The DingTalk userid of the account's manager, when a SCIM client named one (the enterprise
    /// extension's `manager.value`, an account id) and that account is already in this
    /// connector's DingTalk. A manager not pushed yet is left out until the account's next push;
    /// a manager removed is not cleared in DingTalk (that needs `force_update_fields`).
    async fn manager_userid(&self, a: &Account) -> Result<Option<DingUserId>, Blocked> {
        let manager = a
            .scim
            .as_ref()
            .and_then(|r| r.doc.get(ENTERPRISE_USER))
            .and_then(|e| e.get("manager"))
            .and_then(|m| m.get("value"))
            .and_then(|v| v.as_str())
            .and_then(|v| AccountId::parse(v.trim()).ok());
        match manager {
            Some(m) if m != a.id => self.mapped_user(&m).await,
            _ => Ok(None),
        }
    }
}

/// The SCIM enterprise extension, where a SCIM client names a user's manager.
const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// Why an account without a mobile waits: a SCIM client may have sent a phone number of type
/// `mobile` that is not one DingTalk takes (kept as sent; the account has no mobile then).
fn no_mobile(a: &Account) -> String {
    let sent = a
        .scim
        .as_ref()
        .and_then(|r| r.doc.get("phoneNumbers"))
        .and_then(|p| p.as_array())
        .and_then(|list| {
            list.iter().find(|p| {
                p.get("type")
                    .and_then(|t| t.as_str())
                    .is_some_and(|t| t.eq_ignore_ascii_case("mobile"))
            })
        })
        .and_then(|p| p.get("value"))
        .and_then(|v| v.as_str());
    match sent {
        Some(v) => format!(
            "the SCIM client sent the mobile {v:?}, which DingTalk does not take (a mainland \
             number of 11 digits starting with 1, or +CC-NUMBER): correct it at the client to \
             push this account"
        ),
        None => NO_MOBILE.to_owned(),
    }
}

/// Whether DingTalk's mobile is ours, in the normalised form; `None` when DingTalk hides it (the
/// app lacks the mobile permission) or shows one we cannot read.
fn same_mobile(theirs: Option<&str>, ours: &Mobile) -> Option<bool> {
    let theirs = Mobile::parse(theirs?).ok()?;
    Some(theirs == *ours)
}

fn same_set(a: &[DeptId], b: &[DeptId]) -> bool {
    a.len() == b.len() && a.iter().all(|d| b.contains(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_userid_is_db_and_the_account_ids_hex_digits() {
        let id = AccountId::parse("0190f3a2-7c4e-7d2a-9b1c-0123456789ab").unwrap();
        assert_eq!(
            userid_for(&id).unwrap().as_str(),
            "db0190f3a27c4e7d2a9b1c0123456789ab"
        );
        assert_eq!(userid_for(&id), userid_for(&id));
    }

    #[test]
    fn text_fields_are_sent_only_when_they_differ_and_cleared_with_an_empty_string() {
        assert_eq!(differs(Some("a@b.cn"), Some("A@B.cn"), true), None);
        assert_eq!(differs(Some("Eng"), Some("eng"), false), Some("Eng".into()));
        assert_eq!(differs(None, Some("x"), false), Some(String::new()));
        assert_eq!(differs(None, Some(""), false), None);
        assert_eq!(differs(Some("x"), None, false), Some("x".into()));
    }

    #[test]
    fn only_listed_extension_keys_that_differ_are_sent() {
        let keys = vec![
            "cost_center".to_owned(),
            "site".to_owned(),
            "team".to_owned(),
        ];
        let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let ours = map(&[("cost_center", "R&D"), ("site", "HZ"), ("secret", "x")]);
        let theirs = map(&[("cost_center", "R&D"), ("team", "old"), ("other", "kept")]);
        assert_eq!(
            extension_changes(&keys, &ours, &theirs),
            map(&[("site", "HZ"), ("team", "")])
        );
        assert!(extension_changes(&keys, &ours, &ours).is_empty());
    }

    #[test]
    fn mobiles_compare_in_their_normalised_form() {
        let ours = Mobile::parse("13800000001").unwrap();
        assert_eq!(same_mobile(Some("+86-13800000001"), &ours), Some(true));
        assert_eq!(same_mobile(Some("13800000002"), &ours), Some(false));
        assert_eq!(same_mobile(None, &ours), None);
    }
}
