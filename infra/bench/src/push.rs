//! The outbound push's write side and latency (issue 11) on the local system's embedded engines:
//! the directory write API at a fixed rate (open loop), outside and inside a push root, and the
//! time from an admin's write to the simulated DingTalk having it, one change a second.

use std::time::{Duration, Instant};

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

/// `n` account creations in `unit`, numbered from `from`: usernames `{prefix}{i}` and mobiles
/// `{mobile_prefix}{i:08}`, unique within a run.
pub(crate) fn accounts(
    base: &str,
    unit: &str,
    (prefix, mobile_prefix): (&str, &str),
    from: usize,
    n: usize,
) -> Vec<(String, String)> {
    (from..from + n)
        .map(|i| {
            let body = json!({
                "username": format!("{prefix}{i}"), "display_name": format!("压测{i}"),
                "mobile": format!("{mobile_prefix}{i:08}"), "org_unit_ids": [unit],
            });
            (format!("{base}/admin/api/accounts"), body.to_string())
        })
        .collect()
}

/// The names of this benchmark's accounts.
const NAMES: (&str, &str) = ("bench", "136");

pub async fn run(args: Args) -> anyhow::Result<Value> {
    let crate::local::Started {
        sim,
        running,
        admin,
        ..
    } = crate::local::start(args.qps, args.latency_ms, true).await?;
    let token = admin.token.clone();
    let root = admin.root().await?;
    let outside = admin.unit("Not pushed", &root).await?;
    let pushed_root = admin.unit("Pushed", &root).await?;
    admin
        .pushing_connector(&sim, "bench push", &pushed_root)
        .await?;
    // Made once the push is on, so it is pushed at once (older units wait for an initial push).
    let pushed = admin.unit("Team", &pushed_root).await?;

    let n = usize::try_from(args.rate * args.seconds)?;
    // Warm up connections and caches.
    fixed_rate(
        &admin.http,
        accounts(&admin.base, &outside, NAMES, 1_000_000, 100),
        args.rate,
        Some(&token),
    )
    .await?;
    let plain = fixed_rate(
        &admin.http,
        accounts(&admin.base, &outside, NAMES, 0, n),
        args.rate,
        Some(&token),
    )
    .await?;
    let with_push = fixed_rate(
        &admin.http,
        accounts(&admin.base, &pushed, NAMES, n, n),
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
pub(crate) async fn wait_for_users(
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
