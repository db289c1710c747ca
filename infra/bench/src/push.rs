//! The outbound push's write side and latency (issue 11) on the local system's embedded engines:
//! the directory write API at a fixed rate (open loop), outside and inside a push root, and the
//! time from an admin's write to the simulated DingTalk having it, one change a second.

use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};

use crate::callback::{fixed_rate, pct};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Seconds of writes at `rate`, for each of the two targets.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    #[arg(long, default_value_t = 200)]
    rate: u64,
    /// Changes, one a second, whose arrival in DingTalk is timed.
    #[arg(long, default_value_t = 30)]
    changes: usize,
    /// The simulator's limit per API and its latency per call (DingTalk's: 20/s, tens of ms).
    #[arg(long, default_value_t = 20)]
    qps: u32,
    #[arg(long, default_value_t = 30)]
    latency_ms: u64,
}

struct Admin {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Admin {
    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await?;
        anyhow::ensure!(status.is_success(), "{path}: {status} {body}");
        Ok(body)
    }

    async fn unit(&self, name: &str, parent: &str) -> anyhow::Result<String> {
        let made = self
            .post(
                "/admin/api/org-units",
                json!({"name": name, "parent_id": parent}),
            )
            .await?;
        Ok(made["id"].as_str().context("no unit id")?.to_owned())
    }
}

/// `n` account creations in `unit`, numbered from `from` (unique usernames and mobiles).
fn accounts(base: &str, unit: &str, from: usize, n: usize) -> Vec<(String, String)> {
    (from..from + n)
        .map(|i| {
            let body = json!({
                "username": format!("bench{i}"), "display_name": format!("压测{i}"),
                "mobile": format!("136{i:08}"), "org_unit_ids": [unit],
            });
            (format!("{base}/admin/api/accounts"), body.to_string())
        })
        .collect()
}

pub async fn run(args: Args) -> anyhow::Result<Value> {
    let sim = dingtalk_sim::start(
        "127.0.0.1:0".parse()?,
        dingtalk_sim::SimConfig {
            users: 0,
            depts: 0,
            qps_per_api: args.qps,
            latency_ms: args.latency_ms,
            ip_calls_per_20s: 0,
            ..Default::default()
        },
    )
    .await?;
    let dir = tempfile::tempdir()?;
    let token = "bench-admin-token".to_owned();
    let mut options =
        dingbridge_local::Options::new("127.0.0.1:0".parse()?, dir.path().join("push"));
    options.admin_token = Some(token.clone());
    let running = dingbridge_local::start(options).await?;
    let admin = Admin {
        base: format!("http://{}", running.addr),
        token: token.clone(),
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .build()?,
    };

    let units: Value = admin
        .http
        .get(format!("{}/admin/api/org-units", admin.base))
        .bearer_auth(&token)
        .send()
        .await?
        .json()
        .await?;
    let root = units["items"][0]["id"]
        .as_str()
        .context("no root")?
        .to_owned();
    let outside = admin.unit("Not pushed", &root).await?;
    let pushed_root = admin.unit("Pushed", &root).await?;
    let app = sim.apps().into_iter().next().context("no simulator app")?;
    admin
        .post(
            "/admin/api/connectors",
            json!({
                "name": "bench push", "corp_id": app.corp_id, "app_key": app.app_key,
                "app_secret": app.app_secret, "register_callback": false,
                "oapi_base": sim.base_url(), "api_base": sim.base_url(), "login_base": sim.base_url(),
                "push_enabled": true, "push_root_org_unit_id": pushed_root,
            }),
        )
        .await?;
    // Made once the push is on, so it is pushed (units older than the push wait for the initial
    // push, which is not built yet).
    let pushed = admin.unit("Team", &pushed_root).await?;

    let n = usize::try_from(args.rate * args.seconds)?;
    // Warm up connections and caches.
    fixed_rate(
        &admin.http,
        accounts(&admin.base, &outside, 1_000_000, 100),
        args.rate,
        Some(&token),
    )
    .await?;
    let plain = fixed_rate(
        &admin.http,
        accounts(&admin.base, &outside, 0, n),
        args.rate,
        Some(&token),
    )
    .await?;
    let with_push = fixed_rate(
        &admin.http,
        accounts(&admin.base, &pushed, n, n),
        args.rate,
        Some(&token),
    )
    .await?;
    // Let the burst's pushes drain before timing single changes.
    let drained = wait_for_users(&admin.http, &sim.base_url(), n, Duration::from_secs(600)).await?;

    let mut samples = Vec::with_capacity(args.changes);
    for i in 0..args.changes {
        let started = Instant::now();
        let mobile = format!("137{i:08}");
        admin
            .post(
                "/admin/api/accounts",
                json!({"username": format!("latency{i}"), "display_name": format!("延迟{i}"),
                       "mobile": mobile, "org_unit_ids": [pushed]}),
            )
            .await?;
        loop {
            if has_mobile(&admin.http, &sim.base_url(), &mobile).await? {
                break;
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(30),
                "change {i} never reached DingTalk"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        samples.push(started.elapsed().as_micros() as u64);
        if let Some(rest) = Duration::from_secs(1).checked_sub(started.elapsed()) {
            tokio::time::sleep(rest).await;
        }
    }
    samples.sort_unstable();
    running.shutdown().await?;
    Ok(json!({
        "write_api_outside_push_root": plain,
        "write_api_inside_push_root": with_push,
        "burst_pushed_in_s": drained.as_secs_f64(),
        "incremental_push": {"changes": args.changes, "p50_ms": pct(&samples, 0.5),
            "p99_ms": pct(&samples, 0.99), "max_ms": pct(&samples, 1.0)},
    }))
}

async fn org(http: &reqwest::Client, sim: &str) -> anyhow::Result<Value> {
    Ok(http
        .get(format!("{sim}/_sim/org"))
        .send()
        .await?
        .json()
        .await?)
}

async fn has_mobile(http: &reqwest::Client, sim: &str, mobile: &str) -> anyhow::Result<bool> {
    let org = org(http, sim).await?;
    Ok(org["users"]
        .as_array()
        .is_some_and(|u| u.iter().any(|u| u["mobile"] == mobile)))
}

/// Waits until the simulated org has `n` users; how long that took.
async fn wait_for_users(
    http: &reqwest::Client,
    sim: &str,
    n: usize,
    patience: Duration,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    loop {
        let org = org(http, sim).await?;
        let have = org["users"].as_array().map_or(0, Vec::len);
        if have >= n {
            return Ok(started.elapsed());
        }
        anyhow::ensure!(
            started.elapsed() < patience,
            "only {have} of {n} users pushed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
