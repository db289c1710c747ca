//! The simulator's own throughput without limits: it must never be the bottleneck of a benchmark.
//! Client tasks run in the same process, so the figure is a lower bound on 2 shared cores.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub async fn run(seconds: u64, concurrency: usize) -> anyhow::Result<Value> {
    let config = dingtalk_sim::SimConfig {
        users: 2000,
        depts: 150,
        qps_per_api: 0,
        ip_calls_per_20s: 0,
        latency_ms: 0,
        ..Default::default()
    };
    let sim = dingtalk_sim::start("127.0.0.1:0".parse()?, config).await?;
    let base = sim.base_url();
    let app = sim
        .apps()
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("the simulator has no app"))?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let token: Value = http
        .get(format!(
            "{base}/gettoken?appkey={}&appsecret={}",
            app.app_key, app.app_secret
        ))
        .send()
        .await?
        .json()
        .await?;
    let token = token["access_token"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no access_token in {token}"))?
        .to_owned();
    let url = Arc::new(format!(
        "{base}/topapi/v2/department/get?access_token={token}"
    ));
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let window = Duration::from_secs(seconds);
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (http, url, ok, failed) = (http.clone(), url.clone(), ok.clone(), failed.clone());
            tokio::spawn(async move {
                while start.elapsed() < window {
                    let response = http
                        .post(url.as_str())
                        .json(&json!({"dept_id": 1}))
                        .send()
                        .await;
                    let good = match response {
                        Ok(r) => r.json::<Value>().await.is_ok_and(|v| v["errcode"] == 0),
                        Err(_) => false,
                    };
                    let counter = if good { &ok } else { &failed };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await?;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let ok = ok.load(Ordering::Relaxed);
    Ok(json!({
        "api": "/topapi/v2/department/get",
        "concurrency": concurrency,
        "seconds": elapsed,
        "ok_calls": ok,
        "failed_calls": failed.load(Ordering::Relaxed),
        "calls_per_second": ok as f64 / elapsed,
    }))
}
