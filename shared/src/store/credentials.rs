//! What the stores of OAuth clients share (SCIM clients, apps): public client ids made of a
//! prefix and the UUID, and secrets checked against the current hash or, during a rotation's
//! overlap, the previous one — off the async threads, as argon2 takes tens of milliseconds.

use crate::secrets::{DUMMY_PHC, verify_password};

/// The public client id of an entity: `prefix` and its UUID without hyphens.
pub fn public_id(prefix: &str, uuid: &str) -> String {
    format!("{prefix}{}", uuid.replace('-', ""))
}

/// The 32 hex digits behind a public client id with `prefix`, when it has that form.
pub fn hex_of_public_id<'a>(prefix: &str, client_id: &'a str) -> Option<&'a str> {
    let hex = client_id.strip_prefix(prefix)?;
    (hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

/// Whether `secret` matches `current`, or `previous` while `now_ms` is before `previous_until_ms`.
pub async fn secret_matches(
    secret: &str,
    current: Option<String>,
    previous: Option<String>,
    previous_until_ms: Option<i64>,
    now_ms: i64,
) -> bool {
    let Some(current) = current else {
        return false;
    };
    let previous = previous.filter(|_| previous_until_ms.is_some_and(|until| now_ms < until));
    let secret = secret.to_owned();
    tokio::task::spawn_blocking(move || {
        verify_password(&secret, &current) || previous.is_some_and(|p| verify_password(&secret, &p))
    })
    .await
    .unwrap_or(false)
}

/// The same work as checking a real secret, for an id that names nothing.
pub async fn verify_against_nothing(secret: &str) {
    let secret = secret.to_owned();
    let _ = tokio::task::spawn_blocking(move || verify_password(&secret, DUMMY_PHC)).await;
}
