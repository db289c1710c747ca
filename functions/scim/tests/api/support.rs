//! A fresh SCIM server per test on the embedded engines, with a client and a token made the way
//! the token endpoint makes them (the client store, the deployment's signing key).

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use dingbridge::adapters::embedded::{EmbeddedStore, QueueSettings};
use dingbridge::domain::directory::Origin;
use dingbridge::domain::ids::OrgUnitId;
use dingbridge::oauth::{AccessClaims, SCIM_SCOPE, scim_audience};
use dingbridge::ports::{Clock, SystemClock, Table};
use dingbridge::secrets::SecretBox;
use dingbridge::signing::SigningKeys;
use dingbridge::store::Actor;
use dingbridge::store::directory::{Directory, NewOrgUnit};
use dingbridge::store::scim_clients::{NewScimClient, ScimClient, ScimClients};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

pub const PUBLIC_URL: &str = "https://idm.example.com";

pub struct Env {
    pub app: Router,
    pub clock: Arc<dyn Clock>,
    pub directory: Directory,
    pub clients: ScimClients,
    pub keys: SigningKeys,
    /// A client of the whole directory, and its token.
    pub client: ScimClient,
    pub token: String,
    _dir: tempfile::TempDir,
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    /// The `id` of the resource answered.
    pub fn id(&self) -> String {
        self.body["id"].as_str().expect("an id").to_owned()
    }
}

pub fn admin() -> Actor {
    Actor::new(Origin::Admin, "test")
}

impl Env {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let table: Arc<dyn Table> = Arc::new(store.table(clock.clone()));
        let push_queue = store.queue("push", QueueSettings::default(), clock.clone());
        let directory = Directory::new(table.clone(), clock.clone());
        directory.ensure_root().await.unwrap();
        let app = scim::router(scim::Deps {
            table: table.clone(),
            push_queue: Arc::new(push_queue.clone()),
            clock: clock.clone(),
            public_url: PUBLIC_URL.to_owned(),
        });
        let clients = ScimClients::new(table.clone(), clock.clone());
        let keys = SigningKeys::new(
            table.clone(),
            clock.clone(),
            SecretBox::from_base64(&SecretBox::generate_key()).unwrap(),
        );
        let (client, _) = clients
            .create(new_client("Entra", None), &admin())
            .await
            .unwrap();
        let mut env = Self {
            app,
            clock,
            directory,
            clients,
            keys,
            token: String::new(),
            client,
            _dir: dir,
        };
        env.token = env.token_for(&env.client.clone()).await;
        env
    }

    /// A token as `/oauth/token` issues it to `client`.
    pub async fn token_for(&self, client: &ScimClient) -> String {
        let now = self.clock.now_millis() / 1000;
        self.sign(AccessClaims {
            iss: PUBLIC_URL.to_owned(),
            aud: scim_audience(PUBLIC_URL),
            sub: client.client_id.clone(),
            client_id: client.client_id.clone(),
            iat: now,
            exp: now + 3600,
            jti: uuid_like(),
            scope: SCIM_SCOPE.to_owned(),
        })
        .await
    }

    pub async fn sign(&self, claims: AccessClaims) -> String {
        self.keys
            .get_or_create()
            .await
            .unwrap()
            .sign(&claims)
            .unwrap()
    }

    /// A client limited to the units below `root`, and its token.
    pub async fn scoped_client(&self, name: &str, root: &OrgUnitId) -> (ScimClient, String) {
        let (client, _) = self
            .clients
            .create(new_client(name, Some(root.clone())), &admin())
            .await
            .unwrap();
        let token = self.token_for(&client).await;
        (client, token)
    }

    pub async fn unit(&self, name: &str) -> OrgUnitId {
        self.directory
            .create_org_unit(
                NewOrgUnit {
                    name: name.to_owned(),
                    parent_id: Directory::root_id(),
                    order: 0,
                    scim: None,
                },
                &admin(),
            )
            .await
            .unwrap()
            .id
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let auth = format!("Bearer {}", self.token);
        self.send(
            method,
            path,
            &[("authorization", &auth)],
            body.map(|b| b.to_string()),
        )
        .await
    }

    /// A request with exactly these headers (plus a SCIM content type when a body is sent and
    /// none is given).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> Answer {
        let mut req = Request::builder().method(method).uri(path);
        let has_type = headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if body.is_some() && !has_type {
            req = req.header(header::CONTENT_TYPE, "application/scim+json");
        }
        let req = req
            .body(body.map(Body::from).unwrap_or_else(Body::empty))
            .unwrap();
        let response = self.app.clone().oneshot(req).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)))
        };
        if !bytes.is_empty() {
            assert_eq!(
                headers.get(header::CONTENT_TYPE).unwrap(),
                "application/scim+json",
                "every SCIM answer with a body is application/scim+json"
            );
        }
        if status.is_client_error() || status.is_server_error() {
            assert_scim_error(status, &body);
        }
        Answer {
            status,
            headers,
            body,
        }
    }
}

/// RFC 7644 §3.12: the error schema and `status` as a string.
pub fn assert_scim_error(status: StatusCode, body: &Value) {
    assert_eq!(
        body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error",
        "{body}"
    );
    assert_eq!(body["status"], status.as_u16().to_string(), "{body}");
    assert!(body["detail"].is_string(), "{body}");
}

pub fn new_client(name: &str, root: Option<OrgUnitId>) -> NewScimClient {
    NewScimClient {
        name: name.to_owned(),
        connector_id: None,
        root_org_unit_id: root,
        token_lifetime_s: 3600,
        allow_basic: false,
    }
}

fn uuid_like() -> String {
    dingbridge::domain::ids::AccountId::generate().to_string()
}
