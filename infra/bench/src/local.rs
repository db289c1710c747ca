//! The local system beside a simulated DingTalk, as the push benchmarks drive it: an empty corp
//! at a given rate limit and latency, and an admin API client.

use anyhow::Context;
use serde_json::{Value, json};

/// The admin API of a running local system.
pub struct Admin {
    pub base: String,
    pub token: String,
    pub http: reqwest::Client,
}

impl Admin {
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> anyhow::Result<Value> {
        let response = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await?;
        anyhow::ensure!(status.is_success(), "{path}: {status} {body}");
        Ok(body)
    }

    pub async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.call(reqwest::Method::POST, path, body).await
    }

    /// Creates an org unit under `parent`; its id.
    pub async fn unit(&self, name: &str, parent: &str) -> anyhow::Result<String> {
        let made = self
            .post(
                "/admin/api/org-units",
                json!({"name": name, "parent_id": parent}),
            )
            .await?;
        Ok(made["id"].as_str().context("no unit id")?.to_owned())
    }

    /// The directory's root unit.
    pub async fn root(&self) -> anyhow::Result<String> {
        let units = self
            .call(reqwest::Method::GET, "/admin/api/org-units", Value::Null)
            .await?;
        Ok(units["items"][0]["id"]
            .as_str()
            .context("no root")?
            .to_owned())
    }

    /// Creates a connector on the simulator's first app that pushes the subtree of `push_root`.
    pub async fn pushing_connector(
        &self,
        sim: &dingtalk_sim::SimHandle,
        name: &str,
        push_root: &str,
    ) -> anyhow::Result<String> {
        let app = sim.apps().into_iter().next().context("no simulator app")?;
        let made = self
            .post(
                "/admin/api/connectors",
                json!({
                    "name": name, "corp_id": app.corp_id, "app_key": app.app_key,
                    "app_secret": app.app_secret, "register_callback": false,
                    "oapi_base": sim.base_url(), "api_base": sim.base_url(),
                    "login_base": sim.base_url(),
                    "push_enabled": true, "push_root_org_unit_id": push_root,
                }),
            )
            .await?;
        Ok(made["id"].as_str().context("no connector id")?.to_owned())
    }
}

/// What [`start`] runs; the temporary data directory lives as long as this.
pub struct Started {
    pub sim: dingtalk_sim::SimHandle,
    pub running: dingbridge_local::Running,
    pub admin: Admin,
    _dir: tempfile::TempDir,
}

/// A simulator with an empty corp at `qps` calls/s per API and `latency_ms` per call, and the
/// local system on the embedded engines (its queue consumers only when `run_workers`).
pub async fn start(qps: u32, latency_ms: u64, run_workers: bool) -> anyhow::Result<Started> {
    let sim = dingtalk_sim::start(
        "127.0.0.1:0".parse()?,
        dingtalk_sim::SimConfig {
            users: 0,
            depts: 0,
            qps_per_api: qps,
            latency_ms,
            ip_calls_per_20s: 0,
            ..Default::default()
        },
    )
    .await?;
    let dir = tempfile::tempdir()?;
    let token = "bench-admin-token".to_owned();
    let mut options =
        dingbridge_local::Options::new("127.0.0.1:0".parse()?, dir.path().join("data"));
    options.admin_token = Some(token.clone());
    options.run_workers = run_workers;
    let running = dingbridge_local::start(options).await?;
    let admin = Admin {
        base: format!("http://{}", running.addr),
        token,
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .build()?,
    };
    Ok(Started {
        sim,
        running,
        admin,
        _dir: dir,
    })
}
