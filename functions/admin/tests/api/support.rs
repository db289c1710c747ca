//! A fresh admin API per test: its own data directory, token, and (when asked) simulator and
//! callback receiver.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Query;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use axum::routing::post;
use axum::{Json, Router};
use dingbridge::adapters::embedded::{EmbeddedQueue, EmbeddedStore, QueueSettings};
use dingbridge::dingtalk::crypto::CallbackCrypto;
use dingbridge::dingtalk::{ClientConfig, HttpDingTalk};
use dingbridge::ports::{Clock, SystemClock, Table};
use dingbridge::secrets::SecretBox;
use dingtalk_sim::{SimApp, SimConfig, SimHandle, testkit};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

pub const CALLBACK_TOKEN: &str = "cbtoken123";
pub use dingtalk_sim::testkit::CALLBACK_AES_KEY;
pub const APP_SECRET_MARK: &str = "app-secret-never-shown";
/// The simulated corp's id: fixed, so a callback receiver can be started before the simulator.
pub const SIM_CORP: &str = "dingsimcorp0001";

pub struct Env {
    pub app: Router,
    pub token: String,
    pub table: Arc<dyn Table>,
    pub queue: EmbeddedQueue,
    /// The push queue the directory's writes go to.
    pub push_queue: EmbeddedQueue,
    pub sim: Option<SimHandle>,
    _dir: tempfile::TempDir,
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Env {
    /// No simulator: DingTalk is an address nothing listens on.
    pub async fn new() -> Self {
        Self::build(None, "http://127.0.0.1:9").await
    }

    /// A simulator with a small org; callbacks go to `public_base_url`.
    pub async fn with_sim(public_base_url: &str) -> Self {
        let sim = testkit::start_sim(SimConfig {
            users: 30,
            depts: 6,
            qps_per_api: 0,
            callback_time_scale: 0.01,
            callback_timeout_ms: 1000,
            corp_id: Some(SIM_CORP.to_owned()),
            ..SimConfig::default()
        })
        .await
        .unwrap()
        .handle;
        Self::build(Some(sim), public_base_url).await
    }

    async fn build(sim: Option<SimHandle>, public_base_url: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let table: Arc<dyn Table> = Arc::new(store.table(clock.clone()));
        let queue = store.queue("sync", QueueSettings::default(), clock.clone());
        let push_queue = store.queue("push", QueueSettings::default(), clock.clone());
        let token = admin::bootstrap_admin_token(table.clone(), clock.clone(), None)
            .await
            .unwrap()
            .expect("a first token is generated");
        // No retries: the admin API's answers to DingTalk's failures are the subject here.
        let dingtalk = HttpDingTalk::new(ClientConfig {
            max_retries: 0,
            backoff_base: Duration::from_millis(1),
            throttle_backoff: Duration::from_millis(1),
            ..testkit::fast_client_config()
        })
        .unwrap();
        let app = admin::router(admin::Deps {
            table: table.clone(),
            sync_queue: Arc::new(queue.clone()),
            pull_queue: Arc::new(store.queue("pull", QueueSettings::default(), clock.clone())),
            push_queue: Arc::new(push_queue.clone()),
            dingtalk: Arc::new(dingtalk),
            clock,
            secrets: SecretBox::from_base64(&SecretBox::generate_key()).unwrap(),
            public_base_url: public_base_url.to_owned(),
        });
        Self {
            app,
            token,
            table,
            push_queue,
            queue,
            sim,
            _dir: dir,
        }
    }

    pub fn sim_app(&self) -> SimApp {
        self.sim.as_ref().unwrap().apps().remove(0)
    }

    pub fn sim_url(&self) -> String {
        self.sim.as_ref().unwrap().base_url()
    }

    /// Changes the simulated app's policy through the simulator's control API.
    pub async fn set_app_policy(&self, policy: Value) {
        let url = format!("{}/_sim/apps/{}", self.sim_url(), self.sim_app().app_key);
        let status = reqwest::Client::new()
            .post(url)
            .json(&policy)
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_success(), "{status}");
    }

    /// A connector input for the simulator's app (or a dummy one without a simulator).
    pub fn connector_input(&self) -> Value {
        match &self.sim {
            Some(_) => testkit::connector_json(&self.sim_app(), &self.sim_url(), "Sim corp"),
            None => json!({
                "name": "HQ", "corp_id": "dingcorp", "app_key": "dingkey",
                "app_secret": APP_SECRET_MARK, "oapi_base": "http://127.0.0.1:9",
            }),
        }
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        self.call_as(Some(&self.token), method, path, body).await
    }

    pub async fn call_as(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Answer {
        self.send(token, method, path, body.map(|b| b.to_string()), &[])
            .await
    }

    /// A call with extra request headers (`If-Match`, …).
    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(header::HeaderName, &str)],
    ) -> Answer {
        let body = body.map(|b| b.to_string());
        self.send(Some(&self.token), method, path, body, headers)
            .await
    }

    /// A call with a portal session's cookie instead of a token, and its CSRF token when given.
    pub async fn call_session(
        &self,
        session: &str,
        csrf: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Answer {
        let cookie = format!("dbsid={session}");
        let mut headers = vec![(header::COOKIE, cookie.as_str())];
        if let Some(csrf) = csrf {
            headers.push((header::HeaderName::from_static("x-csrf-token"), csrf));
        }
        self.send(None, method, path, body.map(|b| b.to_string()), &headers)
            .await
    }

    /// A body sent as given (not necessarily JSON), with the JSON content type.
    pub async fn call_raw(&self, method: Method, path: &str, body: &str) -> Answer {
        self.send(Some(&self.token), method, path, Some(body.to_owned()), &[])
            .await
    }

    async fn send(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Option<String>,
        headers: &[(header::HeaderName, &str)],
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(path);
        for (name, value) in headers {
            request = request.header(name, *value);
        }
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = match body {
            Some(body) => request
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body)),
            None => request.body(Body::empty()),
        }
        .unwrap();
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn create_connector(&self, input: Value) -> Value {
        let answer = self
            .call(Method::POST, "/admin/api/connectors", Some(input))
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        answer.body
    }
}

/// A stand-in for the callback function: answers DingTalk's `check_url` with the encrypted
/// `success`, as `functions/dingtalk-callback` does, and counts the checks it answered.
pub struct Receiver {
    pub base_url: String,
    pub checks: Arc<AtomicUsize>,
    _server: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start(corp_id: &str) -> Self {
        let crypto = CallbackCrypto::new(CALLBACK_TOKEN, CALLBACK_AES_KEY, corp_id).unwrap();
        let checks = Arc::new(AtomicUsize::new(0));
        let counter = checks.clone();
        let app = Router::new().route(
            "/dingtalk/callback/{id}",
            post(
                move |Query(q): Query<std::collections::HashMap<String, String>>,
                      Json(body): Json<Value>| {
                    let crypto = crypto.clone();
                    let counter = counter.clone();
                    async move {
                        let signature = q
                            .get("msg_signature")
                            .or_else(|| q.get("signature"))
                            .cloned()
                            .unwrap_or_default();
                        let (ts, nonce) = (q["timestamp"].clone(), q["nonce"].clone());
                        let encrypt = body["encrypt"].as_str().unwrap_or_default();
                        let plain = crypto
                            .verify_and_decrypt(&signature, &ts, &nonce, encrypt)
                            .unwrap();
                        if plain.contains("check_url") {
                            counter.fetch_add(1, Ordering::SeqCst);
                        }
                        Json(crypto.success_reply(&ts, &nonce).unwrap())
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            base_url: format!("http://{addr}"),
            checks,
            _server: server,
        }
    }
}

/// Fails if any of the secrets appear anywhere in a response.
pub fn assert_no_secret(text: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!text.contains(s), "secret {s:?} leaked in {text}");
    }
}
