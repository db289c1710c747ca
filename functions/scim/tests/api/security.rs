//! Credentials and scope: every refusal is a 401 with the SCIM body and `WWW-Authenticate`, and
//! a client reaches only its own subtree.

use axum::http::{Method, StatusCode};
use dingbridge::oauth::{AccessClaims, SCIM_SCOPE, scim_audience};
use serde_json::json;

use crate::support::{Env, PUBLIC_URL, admin};

async fn refused(env: &Env, authorization: Option<&str>) -> String {
    let headers: Vec<(&str, &str)> = authorization
        .map(|a| ("authorization", a))
        .into_iter()
        .collect();
    let a = env
        .send(Method::GET, "/scim/v2/Users", &headers, None)
        .await;
    assert_eq!(
        a.status,
        StatusCode::UNAUTHORIZED,
        "{:?}",
        authorization.map(|s| &s[..s.len().min(20)])
    );
    let challenge = a
        .headers
        .get("www-authenticate")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    if authorization.is_some() {
        assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    }
    challenge
}

fn claims(env: &Env, sub: &str) -> AccessClaims {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let _ = env;
    AccessClaims {
        iss: PUBLIC_URL.to_owned(),
        aud: scim_audience(PUBLIC_URL),
        sub: sub.to_owned(),
        client_id: sub.to_owned(),
        iat: now,
        exp: now + 600,
        jti: "j".to_owned(),
        scope: SCIM_SCOPE.to_owned(),
    }
}

#[tokio::test]
async fn missing_expired_tampered_foreign_and_revoked_tokens_are_refused() {
    let env = Env::new().await;
    refused(&env, None).await;
    refused(&env, Some("Bearer")).await;
    refused(&env, Some("Bearer not.a.jwt")).await;
    let mut tampered = env.token.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    refused(&env, Some(&format!("Bearer {tampered}"))).await;

    let id = env.client.client_id.clone();
    let mut expired = claims(&env, &id);
    expired.iat -= 7200;
    expired.exp -= 7200;
    refused(&env, Some(&format!("Bearer {}", env.sign(expired).await))).await;
    let mut foreign = claims(&env, &id);
    foreign.iss = "https://elsewhere.example".to_owned();
    refused(&env, Some(&format!("Bearer {}", env.sign(foreign).await))).await;
    let mut wrong_aud = claims(&env, &id);
    wrong_aud.aud = "https://idm.example.com/other".to_owned();
    refused(&env, Some(&format!("Bearer {}", env.sign(wrong_aud).await))).await;
    let mut no_scope = claims(&env, &id);
    no_scope.scope = "openid".to_owned();
    refused(&env, Some(&format!("Bearer {}", env.sign(no_scope).await))).await;
    refused(
        &env,
        Some(&format!(
            "Bearer {}",
            env.sign(claims(&env, "dbscim_nobody")).await
        )),
    )
    .await;
    // Basic is off for this client.
    refused(&env, Some("Basic ZGJzY2ltX3g6eQ==")).await;

    let ok = env.call(Method::GET, "/scim/v2/Users", None).await;
    assert_eq!(ok.status, StatusCode::OK);
    env.clients.revoke(&env.client, &admin()).await.unwrap();
    refused(&env, Some(&format!("Bearer {}", env.token))).await;
}

#[tokio::test]
async fn a_client_reaches_only_its_own_subtree() {
    let env = Env::new().await;
    let east = env.unit("East").await;
    let (_, east_token) = env.scoped_client("East HR", &east).await;
    let as_east = |m: Method, p: String, b: Option<serde_json::Value>| {
        let auth = format!("Bearer {east_token}");
        let env = &env;
        async move {
            env.send(
                m,
                &p,
                &[("authorization", auth.as_str())],
                b.map(|b| b.to_string()),
            )
            .await
        }
    };
    // The whole-directory client makes a user and a group outside East.
    let outsider = env
        .call(
            Method::POST,
            "/scim/v2/Users",
            Some(json!({"userName": "outsider"})),
        )
        .await
        .id();
    let west_group = env
        .call(
            Method::POST,
            "/scim/v2/Groups",
            Some(json!({"displayName": "WestTeam"})),
        )
        .await
        .id();
    // East's client: its users land under East.
    let insider = as_east(
        Method::POST,
        "/scim/v2/Users".into(),
        Some(json!({"userName": "insider"})),
    )
    .await;
    assert_eq!(insider.status, StatusCode::CREATED);
    let insider_id = insider.id();
    let a = env
        .directory
        .account(&dingbridge::domain::ids::AccountId::parse(&insider_id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a.memberships[0].org_unit_id, east);

    assert_eq!(
        as_east(Method::GET, format!("/scim/v2/Users/{outsider}"), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        as_east(Method::DELETE, format!("/scim/v2/Users/{outsider}"), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        as_east(Method::GET, format!("/scim/v2/Groups/{west_group}"), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let q = as_east(
        Method::GET,
        "/scim/v2/Users?filter=userName%20eq%20%22outsider%22".into(),
        None,
    )
    .await;
    assert_eq!(q.body["totalResults"], 0);
    let all = as_east(Method::GET, "/scim/v2/Users".into(), None).await;
    assert_eq!(all.body["totalResults"], 1);
    // Nor can it pull an outsider into its groups.
    let g = as_east(
        Method::POST,
        "/scim/v2/Groups".into(),
        Some(json!({"displayName": "EastTeam", "members": [{"value": outsider}]})),
    )
    .await;
    assert_eq!(g.status, StatusCode::BAD_REQUEST);
    // East's client cannot see the East root itself as a group, only what is below.
    let groups = as_east(Method::GET, "/scim/v2/Groups".into(), None).await;
    assert_eq!(groups.body["totalResults"], 0);
}
