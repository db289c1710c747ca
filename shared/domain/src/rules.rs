//! Pure rules of inbound sync: which username a DingTalk user gets, and which account values a
//! DingTalk user record yields — or every reason it cannot be imported (the full pull's row
//! validation uses the same function, so both paths refuse the same rows for the same reasons).

use sha2::{Digest, Sha256};

use crate::connector::EmailField;
use crate::dingtalk::{DingUser, DingUserId};
use crate::values::{DisplayName, Email, InvalidField, Mobile, Username};

/// The prefix of usernames derived from userids that are not valid usernames themselves.
pub const DIGEST_USERNAME_PREFIX: &str = "dt_";
/// The longest title and job number an account takes (DingTalk documents 200 and 50): a longer
/// value refuses the user, so no DingTalk record can outgrow the account's item.
pub const MAX_TITLE_CHARS: usize = 256;
pub const MAX_JOB_NUMBER_CHARS: usize = 64;

/// The username of the account imported for a DingTalk user. DingTalk's `userid` is the only
/// immutable, org-unique key of a user (protocol §3.4), so the username derives from it alone:
/// the userid lower-cased when that is a valid username (`a-z 0-9 . _ - @`, ≤ 64 chars), else
/// `dt_` + the first 16 hex digits of SHA-256(userid) (userids such as `张三01`). An email local
/// part would change when the email does, and would collide across people.
/// The username is chosen once, at creation; updates never rename an account.
pub fn username_for(userid: &DingUserId) -> Result<Username, InvalidField> {
    let lower = userid.as_str().to_lowercase();
    if let Ok(name) = Username::parse(&lower)
        && name.as_str() == lower
    {
        return Ok(name);
    }
    let digest = hex::encode(Sha256::digest(userid.as_str().as_bytes()));
    Username::parse(&format!(
        "{DIGEST_USERNAME_PREFIX}{}",
        digest.get(..16).unwrap_or(&digest)
    ))
}

/// The account values a DingTalk user record asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredAccount {
    pub username: Username,
    pub display_name: DisplayName,
    pub email: Option<Email>,
    pub mobile: Mobile,
    pub job_number: Option<String>,
    pub title: Option<String>,
}

/// Validates a DingTalk user for import. Missing values are never papered over with invented
/// ones (DESIGN.md §7): a mobile is required (DingTalk itself requires one; when every user lacks
/// it the app misses the mobile permission), and so is the connector's chosen email field.
pub fn desired_account(
    user: &DingUser,
    email_field: EmailField,
) -> Result<DesiredAccount, Vec<InvalidField>> {
    desired(user, email_field, true)
}

/// As [`desired_account`], for a user already linked to an account: when that account has no
/// email either (made in the directory without one, then pushed to DingTalk), DingTalk's empty
/// email field agrees with it and is no reason to refuse the user.
pub fn desired_linked_account(
    user: &DingUser,
    email_field: EmailField,
    account_has_email: bool,
) -> Result<DesiredAccount, Vec<InvalidField>> {
    desired(user, email_field, account_has_email)
}

fn desired(
    user: &DingUser,
    email_field: EmailField,
    email_required: bool,
) -> Result<DesiredAccount, Vec<InvalidField>> {
    let mut problems = Vec::new();
    let username = username_for(&user.userid)
        .map_err(|e| problems.push(e))
        .ok();
    let display_name = DisplayName::parse(&user.name)
        .map_err(|e| problems.push(e))
        .ok();
    let mobile = match present(&user.mobile) {
        Some(raw) => Mobile::parse(raw).map_err(|e| problems.push(e)).ok(),
        None => {
            problems.push(InvalidField::new(
                "mobile",
                "is missing in DingTalk (DingTalk requires one; if every user lacks it, grant \
                 the app the 企业员工手机号信息 permission)",
            ));
            None
        }
    };
    let (field, raw) = match email_field {
        EmailField::Email => ("email", &user.email),
        EmailField::OrgEmail => ("org_email", &user.org_email),
    };
    let email = match present(raw) {
        Some(raw) => Email::parse(raw).map_err(|e| problems.push(e)).ok(),
        None if !email_required => None,
        None => {
            problems.push(InvalidField::new(
                "email",
                format!(
                    "DingTalk's `{field}` is empty, and the connector uses it as the account's \
                     email (if every user lacks it, grant the app the 邮箱等个人信息 permission)"
                ),
            ));
            None
        }
    };
    for (field, value, limit) in [
        ("job_number", &user.job_number, MAX_JOB_NUMBER_CHARS),
        ("title", &user.title, MAX_TITLE_CHARS),
    ] {
        let chars = present(value).map_or(0, |v| v.chars().count());
        if chars > limit {
            problems.push(InvalidField::new(
                field,
                format!("has {chars} characters; at most {limit} are kept"),
            ));
        }
    }
    match (username, display_name, mobile) {
        (Some(username), Some(display_name), Some(mobile)) if problems.is_empty() => {
            Ok(DesiredAccount {
                username,
                display_name,
                email,
                mobile,
                job_number: present(&user.job_number).map(str::to_owned),
                title: present(&user.title).map(str::to_owned),
            })
        }
        _ => Err(problems),
    }
}

/// The trimmed value, `None` when absent or blank (DingTalk omits or blanks empty fields).
fn present(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// One readable sentence listing every problem of a user record.
pub fn describe(userid: &DingUserId, problems: &[InvalidField]) -> String {
    let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
    format!(
        "DingTalk user {userid} cannot be imported: {}",
        list.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(userid: &str) -> DingUser {
        DingUser {
            userid: DingUserId::parse(userid).unwrap(),
            unionid: None,
            name: "张三".into(),
            mobile: Some("13800000001".into()),
            email: Some("Zhang.San@Example.com".into()),
            org_email: None,
            job_number: Some(" 007 ".into()),
            title: Some(String::new()),
            telephone: None,
            work_place: None,
            remark: None,
            dept_ids: Vec::new(),
            manager_userid: None,
            active: None,
            admin: None,
            boss: None,
            hired_date_ms: None,
            avatar: None,
            state_code: None,
        }
    }

    #[test]
    fn usernames_are_the_lower_cased_userid_or_a_stable_digest() {
        let plain = username_for(&DingUserId::parse("Manager4220").unwrap()).unwrap();
        assert_eq!(plain.as_str(), "manager4220");
        let chinese = DingUserId::parse("张三01").unwrap();
        let a = username_for(&chinese).unwrap();
        assert!(
            a.as_str().starts_with("dt_") && a.as_str().len() == 19,
            "{a}"
        );
        assert_eq!(a, username_for(&chinese).unwrap());
        assert_ne!(
            a,
            username_for(&DingUserId::parse("李四01").unwrap()).unwrap()
        );
        let spaced = username_for(&DingUserId::parse("a b").unwrap()).unwrap();
        assert!(spaced.as_str().starts_with("dt_"));
    }

    #[test]
    fn a_valid_user_yields_normalised_values() {
        let d = desired_account(&user("zhangsan"), EmailField::Email).unwrap();
        assert_eq!(d.email.unwrap().as_str(), "zhang.san@example.com");
        assert_eq!(d.job_number.as_deref(), Some("007"));
        assert_eq!(d.title, None);
        assert_eq!(d.mobile.as_str(), "13800000001");
    }

    #[test]
    fn a_user_without_mobile_or_chosen_email_is_refused_with_every_reason() {
        let mut u = user("zhangsan");
        u.mobile = None;
        let problems = desired_account(&u, EmailField::OrgEmail).unwrap_err();
        let fields: Vec<_> = problems.iter().map(|p| p.field).collect();
        assert_eq!(fields, ["mobile", "email"]);
        let text = describe(&u.userid, &problems);
        assert!(text.contains("mobile: is missing"), "{text}");
        assert!(text.contains("`org_email` is empty"), "{text}");
    }

    #[test]
    fn an_empty_email_is_accepted_only_for_a_linked_account_without_one() {
        let mut u = user("zhangsan");
        u.email = None;
        let problems = desired_account(&u, EmailField::Email).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].field, "email");
        // The account it is linked to has no email either (made here, then pushed).
        let d = desired_linked_account(&u, EmailField::Email, false).unwrap();
        assert_eq!(d.email, None);
        assert_eq!(
            d.mobile,
            desired_account(&user("zhangsan"), EmailField::Email)
                .unwrap()
                .mobile
        );
        // An account with an email would lose it: refused as before.
        assert!(desired_linked_account(&u, EmailField::Email, true).is_err());
        // Other problems still refuse the user.
        u.mobile = None;
        let problems = desired_linked_account(&u, EmailField::Email, false).unwrap_err();
        assert_eq!(problems[0].field, "mobile");
    }

    #[test]
    fn an_over_long_title_or_job_number_is_refused_naming_the_field() {
        let mut u = user("zhangsan");
        u.title = Some("t".repeat(MAX_TITLE_CHARS + 1));
        u.job_number = Some("9".repeat(500_000));
        let problems = desired_account(&u, EmailField::Email).unwrap_err();
        let fields: Vec<_> = problems.iter().map(|p| p.field).collect();
        assert_eq!(fields, ["job_number", "title"]);
        u.title = Some("t".repeat(MAX_TITLE_CHARS));
        u.job_number = None;
        assert!(desired_account(&u, EmailField::Email).is_ok());
    }

    #[test]
    fn an_invalid_mobile_is_refused_not_invented() {
        let mut u = user("zhangsan");
        u.mobile = Some("12345".into());
        let problems = desired_account(&u, EmailField::Email).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].field, "mobile");
    }
}
