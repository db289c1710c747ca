//! The DingTalk client (`HttpDingTalk`) against the simulator over real HTTP: every call it offers,
//! token expiry mid-run, 90018 bursts, 60020, 60011, injected 5xx, hangs and malformed bodies.

mod callbacks_and_login;
mod contacts;
mod credentials;
mod faults;

use dingbridge::dingtalk::crypto::CallbackCrypto;
use dingbridge::dingtalk::{
    CallbackRegistration, ClientConfig, DepartmentPatch, DeptId, DingApp, DingTalk, DingUserId,
    Endpoints, ErrorCode, ErrorKind, HttpDingTalk, NewDepartment, NewUser, Rate, RateLimiter,
    SecretString, TokenSource, UserPatch,
};
use dingtalk_sim::{SimConfig, SimHandle, testkit};
use futures::TryStreamExt;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

struct Harness {
    sim: SimHandle,
    app: DingApp,
    control: reqwest::Client,
}

impl Harness {
    async fn start(config: SimConfig) -> Self {
        let testkit::Sim { handle: sim, base } = testkit::start_sim(config).await.unwrap();
        let first = sim.apps().into_iter().next().unwrap();
        let app = DingApp {
            corp_id: first.corp_id,
            app_key: first.app_key,
            app_secret: SecretString::new(first.app_secret),
            agent_id: Some(first.agent_id.to_string()),
            endpoints: Endpoints::single(&base),
        };
        let control = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self { sim, app, control }
    }

    async fn small() -> Self {
        Self::start(SimConfig {
            seed: 11,
            users: 120,
            depts: 12,
            qps_per_api: 0,
            ..Default::default()
        })
        .await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sim.base_url())
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let r = self
            .control
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.unwrap()
    }

    async fn get(&self, path: &str) -> Value {
        self.control
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn fault(&self, spec: Value) {
        self.post("/_sim/faults", spec).await;
    }

    async fn counter(&self, api: &str, field: &str) -> u64 {
        self.get("/_sim/counters").await[api][field]
            .as_u64()
            .unwrap_or(0)
    }

    async fn first_user(&self) -> DingUserId {
        DingUserId::parse(self.org().await["users"][0]["userid"].as_str().unwrap()).unwrap()
    }

    async fn org(&self) -> Value {
        self.get("/_sim/org").await
    }
}

/// Fast retries so fault tests take milliseconds; the policy is the production one otherwise.
/// Its timings are wider than the kit's (`fault` cases count on 4 retries and 100 ms throttle
/// pauses, and on an 800 ms timeout against hangs).
fn quick_config() -> ClientConfig {
    ClientConfig {
        request_timeout: Duration::from_millis(800),
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(200),
        throttle_backoff: Duration::from_millis(100),
        max_retries: 4,
        ..testkit::fast_client_config()
    }
}

fn client() -> HttpDingTalk {
    HttpDingTalk::new(quick_config()).unwrap()
}

fn dept(id: u64) -> DeptId {
    DeptId::new(id).unwrap()
}

/// A member of the org that has a mobile, for the by-mobile lookups.
fn some_user_with_mobile(org: &Value) -> Value {
    org["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["mobile"].is_string())
        .unwrap()
        .clone()
}
