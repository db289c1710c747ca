//! The token endpoint through its router on the embedded table, with a clock the tests move, and
//! `BearerCheck` on the tokens it issues.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use dingbridge::adapters::embedded::EmbeddedStore;
use dingbridge::domain::directory::Origin;
use dingbridge::oauth::{BearerCheck, BearerRefusal, ScimCaller, SourceIp};
use dingbridge::ports::{Clock, SystemClock, Table};
use dingbridge::secrets::SecretBox;
use dingbridge::store::Actor;
use dingbridge::store::scim_clients::{
    DEFAULT_TOKEN_LIFETIME_S, NewScimClient, ScimClient, ScimClients,
};
use dingbridge::store::throttle::ThrottleSettings;
use http_body_util::BodyExt;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use tower::ServiceExt;

use super::*;

const PUBLIC_URL: &str = "https://idm.example";

/// A clock the test sets; the table hides expired counters by it too.
struct SetClock(AtomicI64);

impl Clock for SetClock {
    fn now_millis(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

impl SetClock {
    fn advance_s(&self, s: i64) {
        self.0.fetch_add(s * 1000, Ordering::SeqCst);
    }
}

struct Env {
    app: Router,
    table: Arc<dyn Table>,
    clock: Arc<SetClock>,
    clients: ScimClients,
    _dir: tempfile::TempDir,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

fn admin() -> Actor {
    Actor::new(Origin::Admin, "test")
}

async fn env_with(throttle: ThrottleSettings) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(SetClock(AtomicI64::new(SystemClock.now_millis())));
    let dyn_clock: Arc<dyn Clock> = clock.clone();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let table: Arc<dyn Table> = Arc::new(store.table(dyn_clock.clone()));
    let app = router(Deps {
        table: table.clone(),
        clock: dyn_clock.clone(),
        secrets: SecretBox::from_base64(&SecretBox::generate_key()).unwrap(),
        public_url: format!("{PUBLIC_URL}/"),
        throttle,
    });
    Env {
        app,
        clients: ScimClients::new(table.clone(), dyn_clock),
        table,
        clock,
        _dir: dir,
    }
}

async fn env() -> Env {
    env_with(ThrottleSettings::default()).await
}

impl Env {
    async fn client(&self, allow_basic: bool) -> (ScimClient, String) {
        self.clients
            .create(
                NewScimClient {
                    name: "Entra ID".into(),
                    connector_id: None,
                    root_org_unit_id: None,
                    token_lifetime_s: DEFAULT_TOKEN_LIFETIME_S,
                    allow_basic,
                },
                &admin(),
            )
            .await
            .unwrap()
    }

    fn dyn_clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    fn bearer_check(&self) -> BearerCheck {
        BearerCheck::new(self.table.clone(), self.dyn_clock(), PUBLIC_URL)
    }

    async fn send(&self, request: Request<Body>) -> Answer {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
        }
    }

    /// A token request with `form` as its body, Basic credentials when given, from `ip`.
    async fn post(&self, form: &str, basic: Option<(&str, &str)>, ip: Option<&str>) -> Answer {
        let mut request = Request::post("/oauth/token").header(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded; charset=utf-8",
        );
        if let Some((id, secret)) = basic {
            let value = STANDARD.encode(format!("{id}:{secret}"));
            request = request.header(header::AUTHORIZATION, format!("Basic {value}"));
        }
        let mut request = request.body(Body::from(form.to_owned())).unwrap();
        if let Some(ip) = ip {
            request.extensions_mut().insert(SourceIp(ip.to_owned()));
        }
        self.send(request).await
    }

    async fn token_basic(&self, id: &str, secret: &str) -> Answer {
        self.post("grant_type=client_credentials", Some((id, secret)), None)
            .await
    }

    async fn jwks(&self) -> JwkSet {
        let answer = self
            .send(
                Request::get("/.well-known/jwks.json")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK);
        serde_json::from_value(answer.body).unwrap()
    }
}

fn oauth_error(answer: &Answer) -> &str {
    answer.body["error"].as_str().unwrap_or("<none>")
}

fn validation() -> Validation {
    let mut v = Validation::new(Algorithm::RS256);
    v.set_issuer(&[PUBLIC_URL]);
    v.set_audience(&[format!("{PUBLIC_URL}/scim/v2")]);
    v
}

#[tokio::test]
async fn basic_and_post_auth_issue_a_token_the_jwks_verifies() {
    let env = env().await;
    // The key is there before the first token: a relying party may read the JWKS first.
    let before = env.jwks().await;
    assert_eq!(
        before.keys.len(),
        1,
        "the JWKS publishes the key before any token"
    );
    let (client, secret) = env.client(false).await;

    let answer = env.token_basic(&client.client_id, &secret).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(answer.headers[header::PRAGMA], "no-cache");
    assert_eq!(answer.body["token_type"], "Bearer");
    assert_eq!(answer.body["expires_in"], 3600);
    assert_eq!(answer.body["scope"], "scim");
    let token = answer.body["access_token"].as_str().unwrap().to_owned();

    // Verified independently: the JWKS alone, jsonwebtoken's own checks.
    let jwks = env.jwks().await;
    assert_eq!(jwks.keys.len(), 1);
    assert_eq!(
        jwks.keys[0].common.key_id, before.keys[0].common.key_id,
        "the same key"
    );
    let jwk = &jwks.keys[0];
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.kid, jwk.common.key_id);
    assert_eq!(header.alg, Algorithm::RS256);
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let data =
        jsonwebtoken::decode::<Value>(&token, &DecodingKey::from_jwk(jwk).unwrap(), &validation())
            .unwrap();
    let claims = data.claims;
    assert_eq!(claims["sub"], client.client_id.as_str());
    assert_eq!(claims["iss"], PUBLIC_URL);
    assert_eq!(claims["aud"], format!("{PUBLIC_URL}/scim/v2"));
    assert_eq!(claims["scope"], "scim");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600
    );
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 32));

    let form = format!(
        "grant_type=client_credentials&scope=scim&client_id={}&client_secret={secret}",
        client.client_id
    );
    let answer = env.post(&form, None, None).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let second = answer.body["access_token"].as_str().unwrap();
    assert_ne!(second, token, "every token has its own jti");

    let caller = env
        .bearer_check()
        .caller(Some(&format!("Bearer {token}")), None)
        .await;
    assert_eq!(
        caller,
        Ok(ScimCaller {
            client_id: client.client_id.clone(),
            name: "Entra ID".into(),
            connector_id: None,
            root_org_unit_id: None,
        })
    );
}

#[tokio::test]
async fn bad_requests_get_the_oauth_error_that_names_them() {
    let env = env().await;
    let (client, secret) = env.client(false).await;
    let id = client.client_id.as_str();

    let wrong = env.token_basic(id, "dbscs_wrong").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(oauth_error(&wrong), "invalid_client");
    assert_eq!(
        wrong.headers[header::WWW_AUTHENTICATE],
        r#"Basic realm="dingbridge""#
    );
    assert_eq!(wrong.headers[header::CACHE_CONTROL], "no-store");

    let unknown = env
        .token_basic("dbscim_0192d7a0c0de7c0de0000000000000aa", &secret)
        .await;
    assert_eq!(
        (unknown.status, oauth_error(&unknown)),
        (StatusCode::UNAUTHORIZED, "invalid_client")
    );
    let not_ours = env.token_basic("someone", &secret).await;
    assert_eq!(oauth_error(&not_ours), "invalid_client");

    let both = env
        .post(
            &format!("grant_type=client_credentials&client_id={id}&client_secret={secret}"),
            Some((id, &secret)),
            None,
        )
        .await;
    assert_eq!(
        (both.status, oauth_error(&both)),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );

    let grant = env
        .post("grant_type=password", Some((id, &secret)), None)
        .await;
    assert_eq!(
        (grant.status, oauth_error(&grant)),
        (StatusCode::BAD_REQUEST, "unsupported_grant_type")
    );
    let missing = env.post("scope=scim", Some((id, &secret)), None).await;
    assert_eq!(oauth_error(&missing), "invalid_request");
    assert!(
        missing.body["error_description"]
            .as_str()
            .unwrap()
            .contains("grant_type")
    );
    let scope = env
        .post(
            "grant_type=client_credentials&scope=scim+admin",
            Some((id, &secret)),
            None,
        )
        .await;
    assert_eq!(
        (scope.status, oauth_error(&scope)),
        (StatusCode::BAD_REQUEST, "invalid_scope")
    );
    let twice = env
        .post(
            "grant_type=client_credentials&grant_type=client_credentials",
            Some((id, &secret)),
            None,
        )
        .await;
    assert_eq!(oauth_error(&twice), "invalid_request");
    let none = env.post("grant_type=client_credentials", None, None).await;
    assert_eq!(
        (none.status, oauth_error(&none)),
        (StatusCode::UNAUTHORIZED, "invalid_client")
    );
    let no_secret = env
        .post(
            &format!("grant_type=client_credentials&client_id={id}"),
            None,
            None,
        )
        .await;
    assert_eq!(oauth_error(&no_secret), "invalid_client");

    // Whatever else a client can send: a 4xx, never a 500.
    let big = format!("grant_type=client_credentials&pad={}", "x".repeat(20_000));
    let big = env.post(&big, Some((id, &secret)), None).await;
    assert_eq!(
        (big.status, oauth_error(&big)),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
    let json = env
        .send(
            Request::post("/oauth/token")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from("{\"grant_type\":\"client_credentials\"}"))
                .unwrap(),
        )
        .await;
    assert_eq!(oauth_error(&json), "invalid_request");
    for authorization in ["Basic !!!", "Bearer x", "Basic", "Basic Og=="] {
        let answer = env
            .send(
                Request::post("/oauth/token")
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .header(header::AUTHORIZATION, authorization)
                    .body(Body::from("grant_type=client_credentials"))
                    .unwrap(),
            )
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{authorization}");
    }
    let binary = env
        .send(
            Request::post("/oauth/token")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(vec![0xff, 0xfe, b'=', 0x80]))
                .unwrap(),
        )
        .await;
    assert!(binary.status.is_client_error(), "{}", binary.status);
    let get = env
        .send(Request::get("/oauth/token").body(Body::empty()).unwrap())
        .await;
    assert_eq!(get.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn a_revoked_client_gets_no_token_and_its_tokens_stop_working() {
    let env = env().await;
    let (client, secret) = env.client(true).await;
    let token = env.token_basic(&client.client_id, &secret).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let check = env.bearer_check();
    let bearer = format!("Bearer {token}");
    assert!(check.caller(Some(&bearer), None).await.is_ok());

    env.clients.revoke(&client, &admin()).await.unwrap();
    let refused = env.token_basic(&client.client_id, &secret).await;
    assert_eq!(
        (refused.status, oauth_error(&refused)),
        (StatusCode::UNAUTHORIZED, "invalid_client")
    );
    assert_eq!(
        check.caller(Some(&bearer), None).await,
        Err(BearerRefusal::Invalid("the client is revoked".into()))
    );
    let basic = format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{secret}", client.client_id))
    );
    assert!(matches!(
        check.caller(Some(&basic), None).await,
        Err(BearerRefusal::Invalid(_))
    ));

    // A deleted client's tokens are refused too.
    let (other, other_secret) = env.client(false).await;
    let token = env.token_basic(&other.client_id, &other_secret).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    env.clients.delete(&other, &admin()).await.unwrap();
    assert_eq!(
        check.caller(Some(&format!("Bearer {token}")), None).await,
        Err(BearerRefusal::Invalid("the client no longer exists".into()))
    );
}

#[tokio::test]
async fn a_rotated_secret_keeps_the_old_one_until_the_overlap_ends() {
    let env = env().await;
    let (client, old_secret) = env.client(false).await;
    let (rotated, new_secret) = env
        .clients
        .rotate(&client, 3_600_000, &admin())
        .await
        .unwrap();
    assert_ne!(old_secret, new_secret);
    let id = rotated.client_id.as_str();
    assert_eq!(
        env.token_basic(id, &old_secret).await.status,
        StatusCode::OK
    );
    assert_eq!(
        env.token_basic(id, &new_secret).await.status,
        StatusCode::OK
    );

    env.clock.advance_s(3_601);
    assert_eq!(
        env.token_basic(id, &old_secret).await.status,
        StatusCode::UNAUTHORIZED,
        "the overlap is over"
    );
    assert_eq!(
        env.token_basic(id, &new_secret).await.status,
        StatusCode::OK
    );

    // Without an overlap the old secret stops at once.
    let current = env.clients.by_client_id(id).await.unwrap().unwrap();
    let (_, newest) = env.clients.rotate(&current, 0, &admin()).await.unwrap();
    assert_eq!(
        env.token_basic(id, &new_secret).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(env.token_basic(id, &newest).await.status, StatusCode::OK);
}

#[tokio::test]
async fn repeated_failures_are_throttled_without_checking_the_secret() {
    let env = env_with(ThrottleSettings {
        per_client: 3,
        per_source: 5,
        window_s: 600,
    })
    .await;
    let (client, secret) = env.client(false).await;
    let id = client.client_id.as_str();
    for _ in 0..3 {
        let answer = env
            .post(
                "grant_type=client_credentials",
                Some((id, "nope")),
                Some("192.0.2.1"),
            )
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
    // Even the right secret waits now: nothing is checked while the client is throttled.
    let throttled = env
        .post(
            "grant_type=client_credentials",
            Some((id, &secret)),
            Some("198.51.100.7"),
        )
        .await;
    assert_eq!(
        throttled.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        throttled.body
    );
    let retry: i64 = throttled.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=600).contains(&retry), "{retry}");

    // The source address: two more failures (with unknown ids) fill its budget of five.
    for n in 0..2 {
        let unknown = format!("dbscim_{:032x}", n + 1);
        let answer = env
            .post(
                "grant_type=client_credentials",
                Some((&unknown, "x")),
                Some("192.0.2.1"),
            )
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
    let (other, other_secret) = env.client(false).await;
    let from_guesser = env
        .post(
            "grant_type=client_credentials",
            Some((&other.client_id, &other_secret)),
            Some("192.0.2.1"),
        )
        .await;
    assert_eq!(from_guesser.status, StatusCode::TOO_MANY_REQUESTS);
    let elsewhere = env
        .post(
            "grant_type=client_credentials",
            Some((&other.client_id, &other_secret)),
            Some("203.0.113.9"),
        )
        .await;
    assert_eq!(elsewhere.status, StatusCode::OK);

    // The window ends: the client is served again.
    env.clock.advance_s(601);
    let answer = env
        .post(
            "grant_type=client_credentials",
            Some((id, &secret)),
            Some("192.0.2.1"),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
}

#[tokio::test]
async fn bearer_check_refuses_expired_tampered_and_foreign_tokens() {
    let env = env().await;
    let (client, secret) = env.client(true).await;
    let check = env.bearer_check();
    assert_eq!(check.caller(None, None).await, Err(BearerRefusal::Missing));
    assert_eq!(
        check.caller(Some("  "), None).await,
        Err(BearerRefusal::Missing)
    );

    // Issued two hours ago with a one-hour lifetime: expired by now.
    env.clock.advance_s(-7200);
    let old = env.token_basic(&client.client_id, &secret).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    env.clock.advance_s(7200);
    assert_eq!(
        check.caller(Some(&format!("Bearer {old}")), None).await,
        Err(BearerRefusal::Invalid("the token has expired".into()))
    );

    let token = env.token_basic(&client.client_id, &secret).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
    claims["sub"] = Value::from("dbscim_ffffffffffffffffffffffffffffffff");
    parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    assert_eq!(
        check
            .caller(Some(&format!("Bearer {}", parts.join("."))), None)
            .await,
        Err(BearerRefusal::Invalid(
            "the signature does not verify".into()
        ))
    );

    // Another deployment's SCIM endpoint (another public URL) refuses our tokens.
    let elsewhere = BearerCheck::new(env.table.clone(), env.dyn_clock(), "https://other.example");
    assert!(matches!(
        elsewhere.caller(Some(&format!("Bearer {token}")), None).await,
        Err(BearerRefusal::Invalid(reason)) if reason == "wrong issuer" || reason == "wrong audience"
    ));
    for junk in ["Bearer ", "Bearer not.a.jwt", "Digest x", "Bearer a.b"] {
        assert!(
            matches!(
                check.caller(Some(junk), None).await,
                Err(BearerRefusal::Invalid(_))
            ),
            "{junk}"
        );
    }
    assert!(
        check
            .caller(Some(&format!("bearer {token}")), None)
            .await
            .is_ok()
    );

    // Basic: only for clients that allow it, and only with the right secret.
    let basic = |id: &str, s: &str| format!("Basic {}", STANDARD.encode(format!("{id}:{s}")));
    let caller = check
        .caller(Some(&basic(&client.client_id, &secret)), Some("192.0.2.1"))
        .await
        .unwrap();
    assert_eq!(caller.client_id, client.client_id);
    assert!(matches!(
        check
            .caller(Some(&basic(&client.client_id, "wrong")), None)
            .await,
        Err(BearerRefusal::Invalid(_))
    ));
    let (strict, strict_secret) = env.client(false).await;
    assert_eq!(
        check
            .caller(Some(&basic(&strict.client_id, &strict_secret)), None)
            .await,
        Err(BearerRefusal::Invalid(
            "Basic authentication is not allowed for this client".into()
        ))
    );
}
