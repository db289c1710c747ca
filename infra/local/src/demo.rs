//! The demo `cargo run` starts with no configuration: a simulated DingTalk org in-process, and a
//! connector pointing at it with callbacks registered, created through the real admin API.

use anyhow::Context;
use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::{Value, json};

/// The simulated org the demo starts with, and whether to forget a saved one.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    /// Seed of a new simulated org (a saved org keeps the seed it was made with).
    pub seed: u64,
    pub users: usize,
    pub depts: usize,
    /// Forget the saved org and the store (connectors, directory, runs) and start over.
    pub reset: bool,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            seed: 7,
            users: 300,
            depts: 40,
            reset: false,
        }
    }
}

/// What the demo set up, to print for the person running it.
pub struct Demo {
    pub sim: dingtalk_sim::SimHandle,
    pub connector_id: String,
    pub callback: Value,
    /// The first full pull (review mode), as `GET /admin/api/runs/{id}` last showed it.
    pub run: Option<Value>,
}

fn random_text(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// Start the simulator and create the demo connector on the running server at `server`.
pub async fn start(server: &str, admin_token: &str, seed: u64) -> anyhow::Result<Demo> {
    let sim = dingtalk_sim::start(
        "127.0.0.1:0".parse()?,
        dingtalk_sim::SimConfig {
            seed,
            users: 300,
            depts: 40,
            dirty_share: 0.05,
            ..Default::default()
        },
    )
    .await
    .context("cannot start the DingTalk simulator")?;
    let app = sim
        .apps()
        .into_iter()
        .next()
        .context("the simulator has no app")?;
    let base = sim.base_url();
    let http = reqwest::Client::new();
    let existing: Value = http
        .get(format!("{server}/admin/api/connectors"))
        .bearer_auth(admin_token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    // A restart keeps the data directory: reuse the demo connector and point it at the new simulator.
    let previous = existing["items"]
        .as_array()
        .and_then(|items| {
            items
                .iter()
                .find(|c| c["name"] == "Demo (simulated DingTalk)")
        })
        .and_then(|c| c["id"].as_str())
        .map(str::to_owned);
    let body = json!({
        "name": "Demo (simulated DingTalk)",
        "corp_id": app.corp_id,
        "app_key": app.app_key,
        "app_secret": app.app_secret,
        "agent_id": app.agent_id,
        "register_callback": true,
        "callback_token": random_text(16),
        "callback_aes_key": random_text(43),
        "oapi_base": base, "api_base": base, "login_base": base,
    });
    let request = match &previous {
        Some(id) => http.put(format!("{server}/admin/api/connectors/{id}")),
        None => http.post(format!("{server}/admin/api/connectors")),
    };
    let response = request.bearer_auth(admin_token).json(&body).send().await?;
    let status = response.status();
    let created: Value = response.json().await?;
    anyhow::ensure!(
        status.is_success(),
        "the demo connector was refused: {created}"
    );
    let connector_id = created["id"]
        .as_str()
        .context("the admin API returned no connector id")?
        .to_owned();
    // The first full pull, in review mode, only for a new demo connector (a restart keeps the directory).
    let first_pull = match previous {
        Some(_) => None,
        None => Some(first_pull(&http, server, admin_token, &connector_id).await?),
    };
    Ok(Demo {
        sim,
        connector_id,
        callback: created["callback"].clone(),
        run: first_pull,
    })
}

/// Start a pull and wait until it stops for review (or ends).
async fn first_pull(
    http: &reqwest::Client,
    server: &str,
    token: &str,
    connector_id: &str,
) -> anyhow::Result<Value> {
    let started: Value = http
        .post(format!("{server}/admin/api/connectors/{connector_id}/pull"))
        .bearer_auth(token)
        .send()
        .await?
        .json()
        .await?;
    let run_id = started["id"]
        .as_str()
        .with_context(|| format!("no run started: {started}"))?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let run: Value = http
            .get(format!("{server}/admin/api/runs/{run_id}"))
            .bearer_auth(token)
            .send()
            .await?
            .json()
            .await?;
        let pulling = matches!(run["state"].as_str(), Some("pulling" | "applying"));
        if !pulling || std::time::Instant::now() > deadline {
            return Ok(run);
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
