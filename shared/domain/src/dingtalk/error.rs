//! Errors of the DingTalk client: every failure is `Transient` (retry later) or `Permanent`, keeps
//! DingTalk's code and message, and names its outcome (`ErrorKind`) so callers need no code tables.

use std::fmt;

/// What DingTalk (or the path to it) reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// Legacy `errcode` (for errcode 88, the numeric `sub_code` when there is one; §5.2).
    Errcode(i64),
    /// New-API failure: HTTP status and `code` (e.g. `403 Forbidden.AccessDenied.IpNotInWhiteList`).
    Api { status: u16, code: String },
    /// An HTTP status with no parseable DingTalk body.
    Http(u16),
    /// No answer within the request timeout.
    Timeout,
    /// Could not connect or the connection broke.
    Connect,
    /// The body was not the JSON DingTalk sends.
    Malformed,
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Errcode(code) => write!(f, "errcode {code}"),
            Self::Api { status, code } => write!(f, "HTTP {status} {code}"),
            Self::Http(status) => write!(f, "HTTP {status}"),
            Self::Timeout => f.write_str("timeout"),
            Self::Connect => f.write_str("connection failed"),
            Self::Malformed => f.write_str("malformed response"),
        }
    }
}

/// The outcome a caller acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// 90018 / 90002 / a new-API QPS limit: slow down (§5.1).
    Throttled,
    /// -1 system busy, 5xx, timeouts, connection and decoding failures.
    Unavailable,
    /// 60003 / 60111 / 60121 / 33012 / 404: treat as deleted or not a member.
    NotFound,
    /// 60102 / 60104 / 60106 / 60107 / 60016 / 60021 / 71006: the value already exists.
    Conflict,
    /// 60011, 43007 / `AccessTokenPermissionDenied`: add the API permission in the console.
    PermissionDenied,
    /// 50002 / 50004: outside the app's contact scope.
    OutOfScope,
    /// 60020: the caller's egress IP must be added to the app's whitelist; `ip` as DingTalk saw it.
    IpNotWhitelisted { ip: Option<String> },
    /// 40001 / 40089 / 40096 / `invalidClientIdOrSecret` on fetching a token: wrong AppKey or AppSecret.
    InvalidCredentials,
    /// A token was refused even after one refresh.
    InvalidToken,
    /// 40078 / 40102: a login or free-login code that is unknown, used, or expired.
    InvalidAuthCode,
    /// 90020: the org's monthly API quota is used up.
    QuotaExhausted,
    /// Anything else DingTalk refused: parameters, names, order of operations (60004–60007 …).
    Rejected,
}

impl ErrorKind {
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Throttled | Self::Unavailable)
    }
}

/// A failed DingTalk call. `api` is the path (`/topapi/v2/user/get`), never a URL with a token in it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DingTalkError {
    /// The same call may succeed later.
    #[error("DingTalk {api}: transient failure ({code}): {message}")]
    Transient {
        api: String,
        kind: ErrorKind,
        code: ErrorCode,
        message: String,
    },
    /// The call will keep failing until configuration, permissions or data change.
    #[error("DingTalk {api}: {code}: {message}")]
    Permanent {
        api: String,
        kind: ErrorKind,
        code: ErrorCode,
        message: String,
    },
}

impl DingTalkError {
    /// Builds the variant that `kind` implies.
    pub fn new(
        api: impl Into<String>,
        kind: ErrorKind,
        code: ErrorCode,
        message: impl Into<String>,
    ) -> Self {
        let (api, message) = (api.into(), message.into());
        if kind.is_transient() {
            Self::Transient {
                api,
                kind,
                code,
                message,
            }
        } else {
            Self::Permanent {
                api,
                kind,
                code,
                message,
            }
        }
    }

    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient { .. })
    }

    pub fn kind(&self) -> &ErrorKind {
        match self {
            Self::Transient { kind, .. } | Self::Permanent { kind, .. } => kind,
        }
    }

    pub fn code(&self) -> &ErrorCode {
        match self {
            Self::Transient { code, .. } | Self::Permanent { code, .. } => code,
        }
    }

    pub fn api(&self) -> &str {
        match self {
            Self::Transient { api, .. } | Self::Permanent { api, .. } => api,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Self::Transient { message, .. } | Self::Permanent { message, .. } => message,
        }
    }

    /// The legacy errcode, if this came from one.
    pub fn errcode(&self) -> Option<i64> {
        match self.code() {
            ErrorCode::Errcode(code) => Some(*code),
            _ => None,
        }
    }

    pub fn malformed(api: &str, what: impl fmt::Display) -> Self {
        Self::new(
            api,
            ErrorKind::Unavailable,
            ErrorCode::Malformed,
            format!("unexpected response: {what}"),
        )
    }
}

/// Token errors that mean "refresh the token and retry once" (§3.2, §5.3).
pub fn is_token_errcode(code: i64) -> bool {
    matches!(code, 33001 | 40001 | 40014 | 42001)
}

/// Maps a legacy errcode (already unwrapped from 88/sub_code) to its outcome (§5.3).
pub fn legacy_kind(code: i64, message: &str) -> ErrorKind {
    match code {
        -1 | 60019 => ErrorKind::Unavailable,
        90002 | 90018 => ErrorKind::Throttled,
        60003 | 60111 | 60121 | 33012 => ErrorKind::NotFound,
        60016 | 60021 | 60102 | 60104 | 60106 | 60107 | 71006 => ErrorKind::Conflict,
        43007 | 60011 => ErrorKind::PermissionDenied,
        50002 | 50004 => ErrorKind::OutOfScope,
        60020 => ErrorKind::IpNotWhitelisted {
            ip: reported_ip(message),
        },
        40089 | 40096 => ErrorKind::InvalidCredentials,
        33001 | 40014 | 42001 => ErrorKind::InvalidToken,
        40001 => ErrorKind::InvalidCredentials,
        40078 | 40102 => ErrorKind::InvalidAuthCode,
        90020 => ErrorKind::QuotaExhausted,
        _ => ErrorKind::Rejected,
    }
}

/// Maps a new-API failure (HTTP status + `code`) to its outcome (§5.2, §5.3).
pub fn api_kind(status: u16, code: &str) -> ErrorKind {
    let lower = code.to_ascii_lowercase();
    if status >= 500 || status == 429 || lower.contains("qpslimit") || lower.contains("qpmlimit") {
        if status >= 500 {
            ErrorKind::Unavailable
        } else {
            ErrorKind::Throttled
        }
    } else if lower.contains("ipnotinwhitelist") {
        ErrorKind::IpNotWhitelisted { ip: None }
    } else if lower.contains("permissiondenied") {
        ErrorKind::PermissionDenied
    } else if lower.contains("apicountlimit") {
        ErrorKind::QuotaExhausted
    } else if lower.contains("invalidauthentication") {
        ErrorKind::InvalidToken
    } else if lower.contains("invalidclientidorsecret") || lower.contains("invalid.client") {
        ErrorKind::InvalidCredentials
    } else if lower.contains("notfound") || status == 404 {
        ErrorKind::NotFound
    } else if lower.contains("authcode") || lower.contains("code") && lower.contains("invalid") {
        ErrorKind::InvalidAuthCode
    } else {
        ErrorKind::Rejected
    }
}

/// The IP in 60020's message (`… request ip=1.2.3.4 …`), so an admin can be told what to whitelist.
pub fn reported_ip(message: &str) -> Option<String> {
    let start = message.find("ip=")? + 3;
    let ip: String = message[start..]
        .chars()
        .take_while(|c| c.is_ascii_hexdigit() || matches!(c, '.' | ':'))
        .collect();
    (!ip.is_empty()).then_some(ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitelist_error_keeps_the_reported_ip() {
        assert_eq!(
            legacy_kind(
                60020,
                "访问ip不在白名单之中,request ip=203.0.113.9 appKey(abc)"
            ),
            ErrorKind::IpNotWhitelisted {
                ip: Some("203.0.113.9".into())
            }
        );
        assert_eq!(reported_ip("no ip here"), None);
        assert_eq!(
            reported_ip("request ip=2001:db8::1,"),
            Some("2001:db8::1".into())
        );
    }

    #[test]
    fn throttling_and_busy_are_transient_and_the_rest_permanent() {
        for code in [-1, 90002, 90018] {
            assert!(legacy_kind(code, "").is_transient(), "{code}");
        }
        for code in [60011, 60020, 60121, 60104, 40078, 90020, 12345] {
            assert!(!legacy_kind(code, "").is_transient(), "{code}");
        }
        for code in [43007, 60011] {
            assert_eq!(legacy_kind(code, ""), ErrorKind::PermissionDenied, "{code}");
        }
        let err = DingTalkError::new("/x", ErrorKind::Throttled, ErrorCode::Errcode(90018), "m");
        assert!(err.is_transient());
        assert_eq!(err.errcode(), Some(90018));
    }

    #[test]
    fn new_api_codes_map_to_outcomes() {
        assert_eq!(
            api_kind(403, "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi"),
            ErrorKind::Throttled
        );
        assert_eq!(
            api_kind(403, "Forbidden.AccessDenied.IpNotInWhiteList"),
            ErrorKind::IpNotWhitelisted { ip: None }
        );
        assert_eq!(
            api_kind(403, "Forbidden.AccessDenied.AccessTokenPermissionDenied"),
            ErrorKind::PermissionDenied
        );
        assert_eq!(
            api_kind(400, "InvalidAuthentication"),
            ErrorKind::InvalidToken
        );
        assert_eq!(
            api_kind(400, "invalidClientIdOrSecret"),
            ErrorKind::InvalidCredentials
        );
        assert_eq!(api_kind(503, "ServiceUnavailable"), ErrorKind::Unavailable);
        assert_eq!(
            api_kind(404, "invalidParameter.user.notFound"),
            ErrorKind::NotFound
        );
    }
}
