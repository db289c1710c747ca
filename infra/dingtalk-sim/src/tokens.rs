//! App access tokens (protocol §3.2): one live token per app; fetching again inside the lifetime
//! returns the same token and extends it; unknown → 40014, expired → 42001.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::Rng;
use rand::distr::Alphanumeric;

use crate::envelope::DingError;
use crate::state::{AppRef, lock};

struct Issued {
    app: AppRef,
    expires: Instant,
}

#[derive(Default)]
struct Table {
    by_token: HashMap<String, Issued>,
    current: HashMap<AppRef, String>,
}

#[derive(Default)]
pub struct Tokens {
    table: Mutex<Table>,
}

pub fn random_string(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

impl Tokens {
    /// The app's live token (extended) or a fresh one, with its lifetime in seconds.
    pub fn issue(&self, app: AppRef, ttl_secs: u64) -> (String, u64) {
        let now = Instant::now();
        let expires = now + Duration::from_secs(ttl_secs);
        let mut table = lock(&self.table);
        if let Some(token) = table.current.get(&app).cloned() {
            if let Some(issued) = table.by_token.get_mut(&token).filter(|i| i.expires > now) {
                issued.expires = expires;
                return (token, ttl_secs);
            }
        }
        let token = random_string(32).to_lowercase();
        table
            .by_token
            .insert(token.clone(), Issued { app, expires });
        table.current.insert(app, token.clone());
        (token, ttl_secs)
    }

    pub fn check(&self, token: Option<&str>) -> Result<AppRef, DingError> {
        let invalid = || DingError::new(40014, "不合法的access_token");
        let token = token.filter(|t| !t.is_empty()).ok_or_else(invalid)?;
        let table = lock(&self.table);
        let issued = table.by_token.get(token).ok_or_else(invalid)?;
        if issued.expires <= Instant::now() {
            return Err(DingError::new(42001, "access_token超时"));
        }
        Ok(issued.app)
    }

    /// Expires every live token (of one app, or all); the old tokens then answer 42001.
    pub fn expire(&self, app: Option<AppRef>) -> usize {
        let past = Instant::now()
            .checked_sub(Duration::from_millis(1))
            .unwrap_or_else(Instant::now);
        let mut table = lock(&self.table);
        let targets: Vec<(AppRef, String)> = table
            .current
            .iter()
            .filter(|(a, _)| app.is_none_or(|want| want == **a))
            .map(|(a, t)| (*a, t.clone()))
            .collect();
        for (a, token) in &targets {
            table.current.remove(a);
            if let Some(issued) = table.by_token.get_mut(token) {
                issued.expires = past;
            }
        }
        targets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: AppRef = AppRef { corp: 0, app: 0 };

    #[test]
    fn refetching_inside_the_lifetime_returns_the_same_token() {
        let tokens = Tokens::default();
        let (a, _) = tokens.issue(APP, 7200);
        let (b, _) = tokens.issue(APP, 7200);
        assert_eq!(a, b);
        assert_eq!(tokens.check(Some(&a)), Ok(APP));
    }

    #[test]
    fn expired_and_unknown_tokens_have_different_codes() {
        let tokens = Tokens::default();
        let (a, _) = tokens.issue(APP, 7200);
        tokens.expire(None);
        assert_eq!(tokens.check(Some(&a)).unwrap_err().errcode, 42001);
        assert_eq!(tokens.check(Some("nope")).unwrap_err().errcode, 40014);
        let (b, _) = tokens.issue(APP, 7200);
        assert_ne!(a, b);
    }
}
