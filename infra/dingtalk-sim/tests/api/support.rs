//! A simulator per test and raw-JSON helpers.

use std::net::SocketAddr;

use dingtalk_sim::{SimApp, SimConfig, SimHandle, start};
use serde_json::Value;

pub struct Env {
    pub sim: SimHandle,
    pub base: String,
    pub http: reqwest::Client,
    pub app: SimApp,
}

pub fn config() -> SimConfig {
    SimConfig {
        users: 600,
        depts: 40,
        qps_per_api: 0,
        callback_time_scale: 0.01,
        ..SimConfig::default()
    }
}

pub async fn env(config: SimConfig) -> Env {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let sim = start(addr, config).await.unwrap();
    let base = sim.base_url();
    let app = sim.apps().into_iter().next().unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Env {
        sim,
        base,
        http,
        app,
    }
}

impl Env {
    pub async fn token(&self) -> String {
        let url = format!(
            "{}/gettoken?appkey={}&appsecret={}",
            self.base, self.app.app_key, self.app.app_secret
        );
        let body: Value = self
            .http
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(body["errcode"], 0, "{body}");
        body["access_token"].as_str().unwrap().to_string()
    }

    /// A legacy `topapi` call: POST JSON with the token in the query.
    pub async fn post(&self, path: &str, token: &str, body: Value) -> Value {
        let url = format!("{}{path}?access_token={token}", self.base);
        self.http
            .post(url)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn get(&self, path_and_query: &str) -> Value {
        let url = format!("{}{path_and_query}", self.base);
        self.http
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn control(&self, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let response = self
            .http
            .request(method, url)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}
