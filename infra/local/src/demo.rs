//! The demo `cargo run` starts with no configuration: a simulated DingTalk org in-process (kept in
//! the data directory, so a restart continues it), and a connector pointing at it with callbacks
//! registered, created through the real admin API, that also pushes one department's subtree,
//! and a SCIM client scoped to that subtree (its secret kept owner-only in the data directory).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use dingbridge::adapters::embedded::files;
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

/// The simulated org's file inside the data directory.
pub const ORG_FILE: &str = "demo-org.json";
/// The demo connector's name: how a restart finds it again.
const CONNECTOR_NAME: &str = "Demo (simulated DingTalk)";
/// How long the demo waits for a pull to reach review.
const PULL_PATIENCE: Duration = Duration::from_secs(120);
/// The simulated department the demo pushes into (a child of the root), found by this name.
pub const PUSH_DEPT_NAME: &str = "dingbridge 推送";
/// The demo SCIM client's id and public client id (JSON), and its secret, in the data directory.
pub const SCIM_CLIENT_FILE: &str = "scim-client.json";
pub const SCIM_SECRET_FILE: &str = "scim-client.secret";
/// How long the demo waits for that department's callback to make its org unit.
const PUSH_PATIENCE: Duration = Duration::from_secs(30);

/// What the demo set up, to print for the person running it.
pub struct Demo {
    pub sim: dingtalk_sim::SimHandle,
    pub connector_id: String,
    pub callback: Value,
    /// The demo connector's latest run (the first full pull, in review mode, at a first start),
    /// as `GET /admin/api/runs/{id}` last showed it.
    pub run: Option<Value>,
    /// What the demo connector pushes, or why it does not.
    pub push: Result<DemoPush, String>,
    /// The SCIM client of the demo connector, or why there is none.
    pub scim: Result<DemoScim, String>,
    /// The demo person and apps of the portal, or why there are none.
    pub sso: Result<crate::demo_sso::DemoSso, String>,
    /// The simulated org was read from `org_file` (a restart), not generated.
    pub continued: bool,
    pub org_file: PathBuf,
}

/// The pushed subtree: accounts and org units made below `root_unit_id` through the admin API
/// reach the simulated DingTalk under department `dept_id`.
#[derive(Clone, Debug)]
pub struct DemoPush {
    pub root_unit_id: String,
    pub dept_id: i64,
}

/// The demo's SCIM client: an OAuth 2.0 client of `/oauth/token`, scoped to the pushed subtree.
#[derive(Clone, Debug)]
pub struct DemoScim {
    pub id: String,
    pub client_id: String,
    /// Where its secret is (owner-only): printed commands read it from there.
    pub secret_file: PathBuf,
    /// Made at this start (else kept from an earlier one).
    pub created: bool,
}

fn random_text(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// Start the simulator (its org kept in `data_dir`) and create or update the demo connector on
/// the running server at `server`; pull for review unless the connector already has a run.
pub async fn start(
    server: &str,
    issuer: &str,
    admin_token: &str,
    options: &DemoOptions,
    data_dir: &Path,
) -> anyhow::Result<Demo> {
    let org_file = data_dir.join(ORG_FILE);
    let sim = dingtalk_sim::start(
        "127.0.0.1:0".parse()?,
        dingtalk_sim::SimConfig {
            seed: options.seed,
            users: options.users,
            depts: options.depts,
            dirty_share: 0.05,
            state_file: Some(org_file.clone()),
            // A second internal app of the same company, for a console user to add as a
            // connector of their own (the first is the demo connector's).
            apps_per_corp: 2,
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
    // A restart keeps the data directory: reuse the demo connector and point it at the new
    // simulator (its port changes; its org and credentials do not).
    let previous = existing["items"]
        .as_array()
        .and_then(|items| items.iter().find(|c| c["name"] == CONNECTOR_NAME))
        .and_then(|c| c["id"].as_str())
        .map(str::to_owned);
    let body = json!({
        "name": CONNECTOR_NAME,
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
    let api = Api {
        http: &http,
        server,
        token: admin_token,
    };
    let push = api
        .push_setup(&http, &base, &connector_id)
        .await
        .map_err(|e| format!("{e:#}"));
    if let Err(e) = &push {
        tracing::warn!(error = %e, "the demo's push could not be set up");
    }
    let scim = match &push {
        Ok(_) => api
            .scim_client(&connector_id, data_dir)
            .await
            .map_err(|e| format!("{e:#}")),
        Err(_) => Err("the demo's push is off, so no SCIM client is scoped to it".to_owned()),
    };
    if let Err(e) = &scim {
        tracing::warn!(error = %e, "the demo's SCIM client could not be set up");
    }
    let corp = crate::demo_sso::DemoCorp {
        connector_id: &connector_id,
        corp_id: &app.corp_id,
        agent_id: app.agent_id,
        sim_base: &base,
    };
    let sso = crate::demo_sso::setup(&http, server, admin_token, issuer, data_dir, &corp)
        .await
        .map_err(|e| format!("{e:#}"));
    if let Err(e) = &sso {
        tracing::warn!(error = %e, "the demo's sign-in could not be set up");
    }
    let run = match api.latest_run(&connector_id).await? {
        Some(run) => Some(api.settled(run).await?),
        None => Some(api.first_pull(&connector_id).await?),
    };
    Ok(Demo {
        continued: sim.restored(),
        sim,
        connector_id,
        callback: created["callback"].clone(),
        push,
        scim,
        sso,
        run,
        org_file,
    })
}

/// The admin API as the demo calls it.
struct Api<'a> {
    http: &'a reqwest::Client,
    server: &'a str,
    token: &'a str,
}

impl Api<'_> {
    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        Ok(self
            .http
            .get(format!("{}{path}", self.server))
            .bearer_auth(self.token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    /// Makes the demo connector push a department's subtree: the department (made in the
    /// simulated org at a first start), and the org unit its callback makes, which becomes the
    /// push root. Pull and push then agree on where the subtree sits.
    async fn push_setup(
        &self,
        http: &reqwest::Client,
        sim: &str,
        connector_id: &str,
    ) -> anyhow::Result<DemoPush> {
        let org: Value = http
            .get(format!("{sim}/_sim/org"))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let existing = org["depts"].as_array().and_then(|depts| {
            depts
                .iter()
                .find(|d| d["name"] == PUSH_DEPT_NAME && d["parent_id"] == 1)
                .and_then(|d| d["dept_id"].as_i64())
        });
        let dept_id = match existing {
            Some(id) => id,
            None => {
                let made: Value = http
                    .post(format!("{sim}/_sim/depts"))
                    .json(&json!({ "name": PUSH_DEPT_NAME, "parent_id": 1 }))
                    .send()
                    .await?
                    .error_for_status()?
                    .json()
                    .await?;
                made["dept_id"]
                    .as_i64()
                    .context("the simulator made no department")?
            }
        };
        let deadline = std::time::Instant::now() + PUSH_PATIENCE;
        let root_unit_id = loop {
            if let Some(unit) = self.unit_mapped_to(connector_id, dept_id).await? {
                break unit;
            }
            anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "the department {dept_id}'s callback made no org unit within {PUSH_PATIENCE:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let response = http
            .patch(format!(
                "{}/admin/api/connectors/{connector_id}",
                self.server
            ))
            .bearer_auth(self.token)
            .json(&json!({
                "push_enabled": true,
                "push_root_org_unit_id": root_unit_id,
                "push_dingtalk_parent": dept_id,
            }))
            .send()
            .await?;
        let status = response.status();
        anyhow::ensure!(
            status.is_success(),
            "the push settings were refused: {}",
            response.text().await?
        );
        Ok(DemoPush {
            root_unit_id,
            dept_id,
        })
    }

    /// The demo connector's SCIM client: the one an earlier start made (its files in the data
    /// directory, the client still there and not revoked), or a new one whose id and secret are
    /// written there owner-only.
    async fn scim_client(&self, connector_id: &str, data_dir: &Path) -> anyhow::Result<DemoScim> {
        let (id_file, secret_file) = (
            data_dir.join(SCIM_CLIENT_FILE),
            data_dir.join(SCIM_SECRET_FILE),
        );
        let kept: Option<Value> = std::fs::read_to_string(&id_file)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .filter(|_| secret_file.exists());
        if let Some(id) = kept.as_ref().and_then(|k| k["id"].as_str()) {
            let found = self
                .http
                .get(format!("{}/admin/api/scim-clients/{id}", self.server))
                .bearer_auth(self.token)
                .send()
                .await?;
            if found.status().is_success() {
                let client: Value = found.json().await?;
                if client["revoked"] == false && client["connector_id"] == connector_id {
                    return Ok(DemoScim {
                        id: id.to_owned(),
                        client_id: client["client_id"]
                            .as_str()
                            .context("a SCIM client without a client_id")?
                            .to_owned(),
                        secret_file,
                        created: false,
                    });
                }
            }
        }
        let response = self
            .http
            .post(format!("{}/admin/api/scim-clients", self.server))
            .bearer_auth(self.token)
            .json(&json!({ "name": "Demo SCIM client", "connector_id": connector_id }))
            .send()
            .await?;
        let status = response.status();
        let made: Value = response.json().await?;
        anyhow::ensure!(status.is_success(), "the SCIM client was refused: {made}");
        let field = |name: &str| {
            made[name]
                .as_str()
                .map(str::to_owned)
                .with_context(|| format!("the SCIM client answer has no {name}"))
        };
        let (id, client_id, secret) = (field("id")?, field("client_id")?, field("client_secret")?);
        files::write_private(&secret_file, secret.as_bytes())
            .with_context(|| format!("cannot write {}", secret_file.display()))?;
        let kept = json!({ "id": id, "client_id": client_id });
        files::write_private(&id_file, kept.to_string().as_bytes())
            .with_context(|| format!("cannot write {}", id_file.display()))?;
        Ok(DemoScim {
            id,
            client_id,
            secret_file,
            created: true,
        })
    }

    /// The org unit mapped to DingTalk department `dept` on the connector, if any.
    async fn unit_mapped_to(
        &self,
        connector_id: &str,
        dept: i64,
    ) -> anyhow::Result<Option<String>> {
        let page = self.get("/admin/api/org-units?limit=1000").await?;
        let dept = dept.to_string();
        Ok(page["items"].as_array().and_then(|units| {
            units
                .iter()
                .find(|u| {
                    u["mappings"].as_array().is_some_and(|ms| {
                        ms.iter().any(|m| {
                            m["connector_id"] == connector_id && m["external_id"] == dept.as_str()
                        })
                    })
                })
                .and_then(|u| u["id"].as_str())
                .map(str::to_owned)
        }))
    }

    async fn latest_run(&self, connector_id: &str) -> anyhow::Result<Option<Value>> {
        let page = self
            .get(&format!(
                "/admin/api/runs?connector_id={connector_id}&limit=1"
            ))
            .await?;
        Ok(page["items"].as_array().and_then(|l| l.first()).cloned())
    }

    /// Start a pull and wait until it stops for review (or ends).
    async fn first_pull(&self, connector_id: &str) -> anyhow::Result<Value> {
        let started: Value = self
            .http
            .post(format!(
                "{}/admin/api/connectors/{connector_id}/pull",
                self.server
            ))
            .bearer_auth(self.token)
            .send()
            .await?
            .json()
            .await?;
        anyhow::ensure!(started["id"].is_string(), "no run started: {started}");
        self.settled(started).await
    }

    /// `run` once it no longer pulls or applies (a run a restart interrupted resumes first).
    async fn settled(&self, run: Value) -> anyhow::Result<Value> {
        let id = run["id"]
            .as_str()
            .context("a run without an id")?
            .to_owned();
        let deadline = std::time::Instant::now() + PULL_PATIENCE;
        let mut run = run;
        loop {
            let moving = matches!(run["state"].as_str(), Some("pulling" | "applying"));
            if !moving || std::time::Instant::now() > deadline {
                return Ok(run);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            run = self.get(&format!("/admin/api/runs/{id}")).await?;
        }
    }
}
