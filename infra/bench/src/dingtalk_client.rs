//! DingTalk client throughput against the simulator at DingTalk's real limit (20 QPS per app × API)
//! and 30 ms latency: sustained calls/s on one API and on two at once, and how many 90018 reach callers.

use dingbridge::dingtalk::{
    ClientConfig, DeptId, DingApp, DingTalk, DingTalkError, DingUserId, Endpoints, HttpDingTalk,
    SecretString,
};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const QPS: u32 = 20;
const LATENCY_MS: u64 = 30;
/// Concurrent callers per API: enough to keep the limiter, not the latency, the bottleneck.
const WORKERS_PER_API: usize = 6;

#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    throttled_at_caller: AtomicU64,
    other_errors: AtomicU64,
}

impl Tally {
    fn record<T>(&self, result: &Result<T, DingTalkError>) {
        let counter = match result {
            Ok(_) => &self.ok,
            Err(e) if e.errcode() == Some(90018) => &self.throttled_at_caller,
            Err(_) => &self.other_errors,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

#[derive(Clone, Copy)]
enum Api {
    UserGet,
    DeptGet,
}

impl Api {
    fn path(self) -> &'static str {
        match self {
            Self::UserGet => "/topapi/v2/user/get",
            Self::DeptGet => "/topapi/v2/department/get",
        }
    }
}

/// Runs `WORKERS_PER_API` callers per API until `window` ends; returns the phase's report.
async fn phase(
    client: &HttpDingTalk,
    app: &DingApp,
    user: &DingUserId,
    apis: &[Api],
    window: Duration,
) -> anyhow::Result<Value> {
    let tally = Arc::new(Tally::default());
    let start = Instant::now();
    let deadline = start + window;
    let mut tasks = Vec::new();
    for &api in apis {
        for _ in 0..WORKERS_PER_API {
            let (client, app, user, tally) =
                (client.clone(), app.clone(), user.clone(), tally.clone());
            tasks.push(tokio::spawn(async move {
                while Instant::now() < deadline {
                    match api {
                        Api::UserGet => tally.record(&client.get_user(&app, &user).await),
                        Api::DeptGet => {
                            tally.record(&client.get_department(&app, DeptId::ROOT).await)
                        }
                    }
                }
            }));
        }
    }
    for task in tasks {
        task.await?;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let ok = tally.ok.load(Ordering::Relaxed);
    let limit = f64::from(QPS) * apis.len() as f64;
    Ok(json!({
        "apis": apis.iter().map(|a| a.path()).collect::<Vec<_>>(),
        "seconds": elapsed,
        "calls_ok": ok,
        "calls_per_sec": ok as f64 / elapsed,
        "share_of_limit": ok as f64 / elapsed / limit,
        "throttled_reaching_caller": tally.throttled_at_caller.load(Ordering::Relaxed),
        "other_errors": tally.other_errors.load(Ordering::Relaxed),
    }))
}

/// Measures for `seconds` per phase (one API, then two concurrently).
pub async fn run(seconds: u64) -> anyhow::Result<Value> {
    let sim = dingtalk_sim::start(
        ([127, 0, 0, 1], 0).into(),
        dingtalk_sim::SimConfig {
            seed: 1,
            users: 200,
            depts: 20,
            qps_per_api: QPS,
            latency_ms: LATENCY_MS,
            ..Default::default()
        },
    )
    .await?;
    let first = sim
        .apps()
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("the simulator has no app"))?;
    let app = DingApp {
        corp_id: first.corp_id,
        app_key: first.app_key,
        app_secret: SecretString::new(first.app_secret),
        agent_id: Some(first.agent_id.to_string()),
        endpoints: Endpoints::single(&sim.base_url()),
    };
    // Production defaults: the limiter at DingTalk's 20/s, production backoffs.
    let client = HttpDingTalk::new(ClientConfig::default())?;
    let mut user = None;
    for dept in client.list_sub_departments(&app, DeptId::ROOT).await? {
        user = client
            .list_user_ids(&app, dept.id)
            .await?
            .into_iter()
            .next();
        if user.is_some() {
            break;
        }
    }
    let user = user.ok_or_else(|| anyhow::anyhow!("no top-level department has a member"))?;
    let window = Duration::from_secs(seconds.max(1));
    // Let the first second's bucket state settle out of the measurement.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let one = phase(&client, &app, &user, &[Api::UserGet], window).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let two = phase(&client, &app, &user, &[Api::UserGet, Api::DeptGet], window).await?;
    let counters = reqwest_counters(&sim.base_url())
        .await
        .unwrap_or(Value::Null);
    let throttled = one["throttled_reaching_caller"].as_u64().unwrap_or(0)
        + two["throttled_reaching_caller"].as_u64().unwrap_or(0);
    Ok(json!({
        "sim": { "qps_per_api": QPS, "latency_ms": LATENCY_MS },
        "one_api": one,
        "two_apis": two,
        "throttled_reaching_caller": throttled,
        "sim_counters": counters,
    }))
}

/// The simulator's own view: calls, the highest per-second rate seen, and 90018s it answered.
async fn reqwest_counters(base: &str) -> anyhow::Result<Value> {
    let url = format!("{base}/_sim/counters");
    Ok(reqwest::get(url).await?.json().await?)
}
