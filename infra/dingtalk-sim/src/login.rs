//! Login state (protocol §4): temporary auth codes (OAuth2 `authCode`, SNS `code`, micro-app
//! `code`: single use, 40078 when unknown or used, 40102 when expired) and user access tokens.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::envelope::DingError;
use crate::state::{AppRef, lock};
use crate::tokens::random_string;

/// Micro-app codes live 5 minutes (§4.3); the web-login code lifetime is undocumented.
pub const CODE_TTL: Duration = Duration::from_secs(300);
const USER_TOKEN_TTL: Duration = Duration::from_secs(7200);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeKind {
    /// `login.dingtalk.com/oauth2/auth` → `authCode`.
    OAuth2,
    /// Legacy `connect/qrconnect` → `code` for `sns/getuserinfo_bycode`.
    Sns,
    /// `dd.requestAuthCode` → `code` for `topapi/v2/user/getuserinfo`.
    MicroApp,
}

struct Code {
    app: AppRef,
    /// The corp of the user who scanned: any DingTalk user may scan a login app (§4.1, §4.2);
    /// the app's corp then refuses outsiders in `getbyunionid`.
    user_corp: usize,
    userid: String,
    kind: CodeKind,
    expires: Instant,
    used: bool,
}

/// A signed-in user as a user token or refresh token names them.
#[derive(Debug, Clone)]
pub struct Session {
    pub app: AppRef,
    /// The corp the user belongs to (not always the app's).
    pub user_corp: usize,
    pub userid: String,
    expires: Instant,
}

#[derive(Default)]
pub struct Login {
    codes: Mutex<HashMap<String, Code>>,
    user_tokens: Mutex<HashMap<String, Session>>,
    refresh_tokens: Mutex<HashMap<String, Session>>,
}

impl Login {
    /// A code of `app` for member `userid` of corp `user_corp`.
    pub fn mint(
        &self,
        app: AppRef,
        user_corp: usize,
        userid: &str,
        kind: CodeKind,
        ttl: Duration,
    ) -> String {
        let code = random_string(32).to_lowercase();
        let record = Code {
            app,
            user_corp,
            userid: userid.into(),
            kind,
            expires: Instant::now() + ttl,
            used: false,
        };
        lock(&self.codes).insert(code.clone(), record);
        code
    }

    /// The user a code stands for (their corp and userid); the code is spent even when the
    /// caller then fails.
    pub fn redeem(
        &self,
        code: &str,
        kind: CodeKind,
        app: AppRef,
    ) -> Result<(usize, String), DingError> {
        let missing = || DingError::new(40078, "不存在的临时授权码");
        let mut codes = lock(&self.codes);
        let record = codes.get_mut(code).ok_or_else(missing)?;
        if record.used || record.kind != kind || record.app.corp != app.corp {
            return Err(missing());
        }
        record.used = true;
        if record.expires <= Instant::now() {
            return Err(DingError::new(40102, "临时授权码已过期"));
        }
        Ok((record.user_corp, record.userid.clone()))
    }

    /// A user access token and its refresh token (valid 30 days, §4.1).
    pub fn issue(&self, app: AppRef, user_corp: usize, userid: &str) -> (String, String) {
        let access = random_string(32).to_lowercase();
        let refresh = random_string(32).to_lowercase();
        let now = Instant::now();
        let session = |ttl| Session {
            app,
            user_corp,
            userid: userid.into(),
            expires: now + ttl,
        };
        lock(&self.user_tokens).insert(access.clone(), session(USER_TOKEN_TTL));
        lock(&self.refresh_tokens)
            .insert(refresh.clone(), session(Duration::from_secs(30 * 86_400)));
        (access, refresh)
    }

    pub fn user_of(&self, token: &str) -> Option<Session> {
        lock(&self.user_tokens)
            .get(token)
            .filter(|s| s.expires > Instant::now())
            .cloned()
    }

    /// Spends a refresh token.
    pub fn refresh(&self, token: &str) -> Option<Session> {
        lock(&self.refresh_tokens)
            .remove(token)
            .filter(|s| s.expires > Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: AppRef = AppRef { corp: 0, app: 0 };

    #[test]
    fn a_code_is_single_use() {
        let login = Login::default();
        let code = login.mint(APP, 0, "u1", CodeKind::MicroApp, CODE_TTL);
        assert_eq!(
            login.redeem(&code, CodeKind::MicroApp, APP).unwrap(),
            (0, "u1".to_owned())
        );
        assert_eq!(
            login
                .redeem(&code, CodeKind::MicroApp, APP)
                .unwrap_err()
                .errcode,
            40078
        );
    }

    #[test]
    fn an_expired_code_answers_40102() {
        let login = Login::default();
        let code = login.mint(APP, 0, "u1", CodeKind::Sns, Duration::ZERO);
        assert_eq!(
            login.redeem(&code, CodeKind::Sns, APP).unwrap_err().errcode,
            40102
        );
    }
}
