//! Why an entity cannot be pushed now, and DingTalk's write-API error codes sorted into what the
//! worker does with each (docs: dingtalk-push.md, "Error codes and what the push does with each").

use crate::dingtalk::{DingTalkError, ErrorKind};
use crate::store::DirectoryError;

/// A push that did not complete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Blocked {
    /// Throttled, DingTalk or storage unavailable, a race lost: the same push may succeed later.
    Transient(String),
    /// Another entity must be pushed first (a parent, the members of a department): not a
    /// failure, so retried without an admin.
    Ordering(String),
    /// Retrying will not help until an admin acts: parked with the reason and DingTalk's code.
    Park {
        reason: String,
        code: Option<String>,
    },
}

impl Blocked {
    pub fn park(reason: impl Into<String>, code: Option<&str>) -> Self {
        Self::Park {
            reason: reason.into(),
            code: code.map(str::to_owned),
        }
    }
}

/// What the push does with a DingTalk error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    /// Another push must land first; retried.
    Ordering,
    /// An admin must act; parked.
    Park,
}

/// code, action, DingTalk's meaning, what the admin does about it.
type Row = (i64, Action, &'static str, &'static str);

#[rustfmt::skip]
const TABLE: &[Row] = &[
    (60004, Action::Ordering, "the parent department does not exist", "retried after the parent is pushed"),
    (60005, Action::Ordering, "the department or a sub-department still has members", "retried after the members are moved"),
    (60006, Action::Ordering, "the department still has sub-departments", "retried after the sub-departments are deleted"),
    // The directory is a tree, so a cycle only exists while a swap of two units is half pushed.
    (60010, Action::Ordering, "the move would put the department under itself", "retried after the other moved units are pushed"),
    (40031, Action::Ordering, "a listed userid is unknown", "retried after those users are pushed"),
    (40103, Action::Ordering, "DingTalk sent the user an invitation (account protection)", "re-checked later"),
    (60007, Action::Park, "the root department cannot be deleted", "the push never deletes DingTalk's root; check the connector's push_dingtalk_parent"),
    (60018, Action::Park, "the root department cannot be updated", "check the connector's push_dingtalk_parent"),
    (60001, Action::Park, "the department name is invalid (1 to 64 characters)", "rename the org unit"),
    (60009, Action::Park, "the department name contains characters DingTalk refuses (- , ，)", "rename the org unit without them"),
    (60021, Action::Park, "a department of that name already exists under the parent", "rename the org unit or that DingTalk department"),
    (60016, Action::Park, "the department id already exists", "check the DingTalk department with the same id"),
    (60002, Action::Park, "the department tree is deeper than DingTalk allows", "flatten the pushed subtree"),
    (60110, Action::Park, "too many departments (a user may belong to at most 100)", "remove memberships from the account"),
    (60112, Action::Park, "the user name is invalid (1 to 80 characters)", "correct the account's display name"),
    (60103, Action::Park, "the mobile number is invalid", "correct the account's mobile (11 mainland digits, or +CC-NUMBER)"),
    (60105, Action::Park, "the email address is invalid", "correct the account's email"),
    (60106, Action::Park, "the email address belongs to another DingTalk user", "change the account's email, or that DingTalk user's"),
    (60113, Action::Park, "DingTalk needs a mobile number", "add a mobile to the account"),
    (60104, Action::Park, "the mobile number is already a DingTalk user of the corp", "link the account to that user, or change the mobile"),
    (60107, Action::Park, "the mobile number is already a DingTalk user of the corp", "link the account to that user, or change the mobile"),
    (60102, Action::Park, "the userid already exists", "delete the DingTalk user holding it, or unlink the account"),
    (41054, Action::Park, "DingTalk cannot change a user's mobile", "delete and re-create the DingTalk user, or set the directory mobile back"),
    (60121, Action::Park, "the DingTalk user does not exist", "re-drive the push to re-create it"),
    (60111, Action::Park, "the DingTalk user does not exist", "re-drive the push to re-create it"),
    (33012, Action::Park, "the userid is invalid", "re-drive the push to re-create the user"),
    (40003, Action::Park, "the userid is invalid", "re-drive the push to re-create the user"),
    (60003, Action::Park, "the department does not exist", "re-drive the push of its org unit to re-create it"),
    (60120, Action::Park, "the user is disabled in DingTalk", "re-enable the user in DingTalk's admin console"),
    (60128, Action::Park, "a manager userid is invalid", "correct the account's manager"),
    (60068, Action::Park, "a department admin is missing", "assign one in DingTalk's admin console"),
    (60067, Action::Park, "a department group owner is missing", "assign one in DingTalk's admin console"),
    (43007, Action::Park, "the app lacks the address-book write permission", "grant 通讯录编辑权限 (qyapi_manage_addresslist) in the developer console"),
    (60011, Action::Park, "the app lacks the address-book write permission", "grant 通讯录编辑权限 (qyapi_manage_addresslist) in the developer console"),
    (41101, Action::Park, "the request body is too large", "shorten the account's values (extension attributes)"),
    (41102, Action::Park, "a parameter is too large", "shorten the account's values (extension attributes)"),
    (40066, Action::Park, "the department list is invalid", "a dingbridge bug: report it with this entity"),
    (90020, Action::Park, "the org's monthly API quota is used up", "re-drive the push once the quota renews"),
];

fn row(code: i64) -> Option<&'static Row> {
    TABLE.iter().find(|r| r.0 == code)
}

/// A failed DingTalk call during `what` ("creating the department", …), sorted per the table.
/// Callers handle the codes whose meaning depends on the call (60003 on a delete is success)
/// before falling back on this.
pub fn dingtalk(e: &DingTalkError, what: &str) -> Blocked {
    if e.is_transient() {
        return Blocked::Transient(format!("{what}: {e}"));
    }
    if let ErrorKind::IpNotWhitelisted { ip } = e.kind() {
        return Blocked::park(
            format!(
                "{what}: DingTalk refused the caller IP {} (60020): add it to the DingTalk app's \
                 server egress IP whitelist, then re-drive",
                ip.as_deref().unwrap_or("(not reported)")
            ),
            Some("60020"),
        );
    }
    let Some(code) = e.errcode() else {
        return Blocked::park(format!("{what}: {e}"), Some(&e.code().to_string()));
    };
    match row(code) {
        Some((_, Action::Ordering, meaning, then)) => {
            Blocked::Ordering(format!("{what}: DingTalk {code}: {meaning}; {then}"))
        }
        Some((_, Action::Park, meaning, then)) => Blocked::park(
            format!(
                "{what}: DingTalk {code}: {meaning}. To fix: {then}, then re-drive. (DingTalk \
                 said: {})",
                e.message()
            ),
            Some(&code.to_string()),
        ),
        None => Blocked::park(
            format!("{what}: DingTalk refused it: {e}"),
            Some(&code.to_string()),
        ),
    }
}

/// A failed directory or table call: a lost race or throttled storage is retried; a corrupt
/// item or an invalid value needs an admin.
pub fn store(e: DirectoryError, what: &str) -> Blocked {
    if e.is_transient() || matches!(e, DirectoryError::Stale | DirectoryError::NotFound(_)) {
        Blocked::Transient(format!("{what}: {e}"))
    } else {
        Blocked::park(format!("{what}: {e}"), None)
    }
}

/// The errcode of a DingTalk error when it is one of `codes`.
pub fn is_code(e: &DingTalkError, codes: &[i64]) -> bool {
    e.errcode().is_some_and(|c| codes.contains(&c))
}

/// A user gone from DingTalk (or a userid DingTalk does not know).
pub const USER_GONE: &[i64] = &[60121, 60111, 33012, 40003];
/// A department gone from DingTalk.
pub const DEPT_GONE: &[i64] = &[60003];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dingtalk::ErrorCode;

    fn legacy(code: i64, message: &str) -> DingTalkError {
        DingTalkError::new(
            "/topapi/v2/x",
            crate::dingtalk::error::legacy_kind(code, message),
            ErrorCode::Errcode(code),
            message,
        )
    }

    #[test]
    fn throttling_and_busy_are_retried() {
        for code in [90018, 90002, -1] {
            assert!(
                matches!(dingtalk(&legacy(code, "busy"), "x"), Blocked::Transient(_)),
                "{code}"
            );
        }
    }

    #[test]
    fn members_children_and_missing_parents_are_ordering() {
        for code in [60004, 60005, 60006, 60010, 40031] {
            assert!(
                matches!(dingtalk(&legacy(code, ""), "x"), Blocked::Ordering(_)),
                "{code}"
            );
        }
    }

    #[test]
    fn a_refused_ip_is_parked_naming_the_ip() {
        let blocked = dingtalk(
            &legacy(
                60020,
                "访问ip不在白名单之中,request ip=203.0.113.9 appKey(k)",
            ),
            "creating the department",
        );
        let Blocked::Park { reason, code } = blocked else {
            panic!("not parked: {blocked:?}")
        };
        assert!(reason.contains("203.0.113.9"), "{reason}");
        assert_eq!(code.as_deref(), Some("60020"));
    }

    #[test]
    fn a_bad_name_is_parked_with_what_to_do() {
        let Blocked::Park { reason, code } = dingtalk(&legacy(60009, "部门名称含有非法字符"), "x")
        else {
            panic!("not parked")
        };
        assert!(reason.contains("rename the org unit"), "{reason}");
        assert_eq!(code.as_deref(), Some("60009"));
    }

    #[test]
    fn an_unknown_code_is_parked_with_dingtalks_message() {
        let Blocked::Park { reason, code } = dingtalk(&legacy(12345, "奇怪"), "x") else {
            panic!("not parked")
        };
        assert!(reason.contains("奇怪"), "{reason}");
        assert_eq!(code.as_deref(), Some("12345"));
    }
}
