//! Callback ingest and convergence (issue 4): DingTalk's encrypted events posted to the local
//! server over loopback — latency at a fixed rate, sustained requests/s — and the time from a change
//! in the simulated org to the directory, on the embedded engines (and on moto with `--features aws`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use dingbridge::dingtalk::crypto::CallbackCrypto;
use serde_json::{Value, json};

const TOKEN: &str = "benchToken123";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

/// A connector on a running server, and the pre-sealed events to post to it.
struct Target {
    url: String,
    corp_id: String,
    userid: String,
}

/// Percentile of sorted microsecond samples.
pub(crate) fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64 / 1000.0
}

async fn connector(
    base: &str,
    token: &str,
    sim: &dingtalk_sim::SimHandle,
) -> anyhow::Result<Target> {
    let app = sim.apps().into_iter().next().context("no simulator app")?;
    let http = reqwest::Client::new();
    let created: Value = http
        .post(format!("{base}/admin/api/connectors"))
        .bearer_auth(token)
        .json(&json!({
            "name": format!("bench-{}", uuid::Uuid::new_v4().simple()), "corp_id": app.corp_id,
            "app_key": app.app_key, "app_secret": app.app_secret, "register_callback": true,
            "callback_token": TOKEN, "callback_aes_key": AES_KEY,
            "oapi_base": sim.base_url(), "api_base": sim.base_url(), "login_base": sim.base_url(),
        }))
        .send()
        .await?
        .json()
        .await?;
    let id = created["id"]
        .as_str()
        .with_context(|| format!("no connector: {created}"))?;
    let org: Value = http
        .get(format!("{}/_sim/org", sim.base_url()))
        .send()
        .await?
        .json()
        .await?;
    let userid = org["users"]
        .as_array()
        .and_then(|u| u.first())
        .and_then(|u| u["userid"].as_str())
        .context("the simulated org has no user")?
        .to_owned();
    Ok(Target {
        url: format!("{base}/dingtalk/callback/{id}"),
        corp_id: app.corp_id,
        userid,
    })
}

/// `n` distinct sealed `user_modify_org` events (distinct eventIds: each is new, each is queued),
/// each the shared fixture naming the target's user and corp.
fn sealed(target: &Target, n: usize) -> anyhow::Result<Vec<(String, String)>> {
    let crypto = CallbackCrypto::new(TOKEN, AES_KEY, &target.corp_id)?;
    (0..n)
        .map(|i| {
            let event = dingtalk_sim::fixtures::with(
                "user_modify_org",
                &[
                    ("UserId", json!([target.userid])),
                    ("CorpId", json!(target.corp_id)),
                    (
                        "eventId",
                        json!(format!("bench-{}-{i}", uuid::Uuid::new_v4().simple())),
                    ),
                ],
            );
            let reply = crypto.reply(&event.to_string(), "1700000000000", "benchnonce")?;
            let url = format!(
                "{}?msg_signature={}&timestamp=1700000000000&nonce=benchnonce",
                target.url, reply.msg_signature
            );
            Ok((url, json!({"encrypt": reply.encrypt}).to_string()))
        })
        .collect()
}

/// Open loop: one POST every `1/rate` s for `seconds`, latency measured from the scheduled start
/// (so a slow server cannot hide its queueing); `bearer` authenticates each request.
pub(crate) async fn fixed_rate(
    http: &reqwest::Client,
    bodies: Vec<(String, String)>,
    rate: u64,
    bearer: Option<&str>,
) -> anyhow::Result<Value> {
    let interval = Duration::from_nanos(1_000_000_000 / rate.max(1));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(bodies.len());
    for (i, (url, body)) in bodies.into_iter().enumerate() {
        let due = start + interval * u32::try_from(i)?;
        tokio::time::sleep_until(due.into()).await;
        let mut request = http
            .post(url)
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        tasks.push(tokio::spawn(async move {
            let ok = request.send().await.is_ok_and(|r| r.status().is_success());
            (due.elapsed().as_micros() as u64, ok)
        }));
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    let mut failures = 0;
    for t in tasks {
        let (us, ok) = t.await?;
        latencies.push(us);
        failures += usize::from(!ok);
    }
    latencies.sort_unstable();
    Ok(
        json!({"rate_per_s": rate, "requests": latencies.len(), "failures": failures,
        "p50_ms": pct(&latencies, 0.50), "p99_ms": pct(&latencies, 0.99), "max_ms": pct(&latencies, 1.0)}),
    )
}

/// Closed loop: `concurrency` clients back to back; requests/s sustained over the run.
async fn max_rate(
    http: &reqwest::Client,
    bodies: Vec<(String, String)>,
    concurrency: usize,
) -> anyhow::Result<Value> {
    let bodies = Arc::new(tokio::sync::Mutex::new(bodies));
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (http, bodies) = (http.clone(), bodies.clone());
            tokio::spawn(async move {
                let (mut ok, mut failed) = (0u64, 0u64);
                loop {
                    let Some((url, body)) = bodies.lock().await.pop() else {
                        break;
                    };
                    let good = http
                        .post(url)
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await
                        .is_ok_and(|r| r.status().is_success());
                    if good { ok += 1 } else { failed += 1 }
                }
                (ok, failed)
            })
        })
        .collect();
    let (mut ok, mut failed) = (0, 0);
    for t in tasks {
        let (o, f) = t.await?;
        ok += o;
        failed += f;
    }
    let secs = start.elapsed().as_secs_f64();
    Ok(
        json!({"concurrency": concurrency, "ok": ok, "failures": failed, "seconds": secs, "requests_per_s": ok as f64 / secs}),
    )
}

/// Measure ingest on a server at `base` (embedded or moto-backed).
async fn ingest(
    base: &str,
    token: &str,
    sim: &dingtalk_sim::SimHandle,
    seconds: u64,
    rate: u64,
    max_requests: usize,
) -> anyhow::Result<Value> {
    let target = connector(base, token, sim).await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    // Warm up connections and caches.
    max_rate(&http, sealed(&target, 200)?, 16).await?;
    let fixed = fixed_rate(
        &http,
        sealed(&target, usize::try_from(rate * seconds)?)?,
        rate,
        None,
    )
    .await?;
    let max = max_rate(&http, sealed(&target, max_requests)?, 64).await?;
    Ok(json!({"fixed_rate": fixed, "max": max}))
}

pub async fn run(
    seconds: u64,
    rate: u64,
    max_requests: usize,
    changes: usize,
) -> anyhow::Result<Value> {
    let sim = dingtalk_sim::start(
        "127.0.0.1:0".parse()?,
        dingtalk_sim::SimConfig {
            users: 200,
            depts: 20,
            qps_per_api: 0,
            ip_calls_per_20s: 0,
            ..Default::default()
        },
    )
    .await?;
    let dir = tempfile::tempdir()?;
    let token = "bench-admin-token".to_owned();

    // Ingest alone: the HTTP side on the embedded engines, no worker competing for the CPU.
    let mut options =
        dingbridge_local::Options::new("127.0.0.1:0".parse()?, dir.path().join("ingest"));
    options.admin_token = Some(token.clone());
    options.run_workers = false;
    let running = dingbridge_local::start(options).await?;
    let embedded = ingest(
        &format!("http://{}", running.addr),
        &token,
        &sim,
        seconds,
        rate,
        max_requests,
    )
    .await?;
    running.shutdown().await?;

    // moto (Python) serves a callback — four DynamoDB/SQS calls — in tens of milliseconds: it gets
    // a fixed 10 requests/s and 500 back-to-back requests, or it would only measure its own backlog.
    let moto = moto_ingest(&token, &sim, seconds, 10, 500).await?;

    // Convergence: the whole system (worker on), one change at a time, simulator without latency.
    let mut options =
        dingbridge_local::Options::new("127.0.0.1:0".parse()?, dir.path().join("converge"));
    options.admin_token = Some(token.clone());
    let running = dingbridge_local::start(options).await?;
    let convergence = convergence(&running, &token, &sim, changes).await?;
    running.shutdown().await?;
    Ok(json!({"ingest_embedded": embedded, "ingest_moto": moto, "convergence": convergence}))
}

async fn convergence(
    running: &dingbridge_local::Running,
    token: &str,
    sim: &dingtalk_sim::SimHandle,
    changes: usize,
) -> anyhow::Result<Value> {
    let base = format!("http://{}", running.addr);
    let target = connector(&base, token, sim).await?;
    let connector_id = target.url.rsplit('/').next().context("no connector id")?;
    let connector_id = dingbridge::domain::ids::ConnectorId::parse(connector_id)?;
    let mappings = dingbridge::store::mappings::Mappings::new(running.engines.table.clone());
    let directory = dingbridge::store::directory::Directory::new(
        running.engines.table.clone(),
        running.engines.clock.clone(),
    );
    let http = reqwest::Client::new();
    let mut samples = Vec::with_capacity(changes);
    for i in 0..changes {
        let name = format!("收敛{i}");
        let start = Instant::now();
        let created: Value = http.post(format!("{}/_sim/users", sim.base_url()))
            .json(&json!({"name": name, "mobile": format!("135{:08}", i), "email": format!("c{i}@example.com"), "dept_id_list": [1]}))
            .send().await?.json().await?;
        let userid = dingbridge::dingtalk::DingUserId::parse(
            created["userid"].as_str().context("no userid")?,
        )?;
        loop {
            if let Some(id) = mappings.account_of(&connector_id, &userid).await?
                && directory
                    .account(&id)
                    .await?
                    .is_some_and(|a| a.display_name.as_str() == name)
            {
                break;
            }
            anyhow::ensure!(
                start.elapsed() < Duration::from_secs(30),
                "change {i} did not converge"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        samples.push(start.elapsed().as_micros() as u64);
    }
    samples.sort_unstable();
    Ok(
        json!({"changes": changes, "p50_ms": pct(&samples, 0.5), "p99_ms": pct(&samples, 0.99), "max_ms": pct(&samples, 1.0)}),
    )
}

#[cfg(feature = "aws")]
async fn moto_ingest(
    token: &str,
    sim: &dingtalk_sim::SimHandle,
    seconds: u64,
    rate: u64,
    max_requests: usize,
) -> anyhow::Result<Value> {
    use dingbridge::adapters::{dynamodb, sqs};
    if std::env::var("AWS_ENDPOINT_URL").is_err() {
        return Ok(json!("not run: AWS_ENDPOINT_URL not set"));
    }
    let config = dynamodb::load_aws_config().await;
    let name = format!("bench-cb-{}", std::process::id());
    let ddb = dynamodb::sdk::Client::new(&config);
    dynamodb::create_table(&ddb, &name).await?;
    let sqs_client = sqs::sdk::Client::new(&config);
    let (url, dlq) = sqs::create_fifo_queue_with_dlq(&sqs_client, &name, 5, 30).await?;
    let clock: Arc<dyn dingbridge::ports::Clock> = Arc::new(dingbridge::ports::SystemClock);
    let table: Arc<dyn dingbridge::ports::Table> =
        Arc::new(dynamodb::DynamoTable::new(ddb, name, clock.clone()));
    admin::bootstrap_admin_token(table.clone(), clock.clone(), Some(token.to_owned())).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let sync_queue: Arc<dyn dingbridge::ports::Queue> =
        Arc::new(sqs::SqsQueue::new(sqs_client, url).with_dead_letter_queue(dlq));
    let app = dingbridge_local::router_on(&dingbridge_local::Wiring {
        table,
        sync_queue: sync_queue.clone(),
        // This benchmark starts no pull and pushes nothing: the admin API's pull and push
        // queues may be any queue.
        pull_queue: sync_queue.clone(),
        push_queue: sync_queue,
        queue_engine: "sqs",
        clock,
        secrets: dingbridge::secrets::SecretBox::from_base64(
            &dingbridge::secrets::SecretBox::generate_key(),
        )?,
        dingtalk: Arc::new(dingbridge::dingtalk::HttpDingTalk::new(Default::default())?),
        public_url: base.clone(),
        jsapi_stand_in: None,
        pending: Default::default(),
    });
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let result = ingest(&base, token, sim, seconds, rate, max_requests).await;
    server.abort();
    result
}

#[cfg(not(feature = "aws"))]
async fn moto_ingest(
    _: &str,
    _: &dingtalk_sim::SimHandle,
    _: u64,
    _: u64,
    _: usize,
) -> anyhow::Result<Value> {
    Ok(json!("not run: built without --features aws"))
}
