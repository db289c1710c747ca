//! Full pull against the simulator at a per-API QPS limit and a per-call latency, on the embedded
//! engines: wall time of one pull through to `awaiting_review` (walk, stage, validate, plan)
//! against the rate-limit lower bound (the busiest of `listsub` and `user/list` at `qps`), and,
//! in the same run and through the same client and limiter, a naive sequential pull (one call at
//! a time: BFS over `listsub`, then every department's `user/list` pages) for the speed-up.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use dingbridge::adapters::embedded::{EmbeddedStore, QueueSettings};
use dingbridge::dingtalk::{
    ClientConfig, DeptId, DingApp, DingTalk, DingUser, Endpoints, HttpDingTalk, Rate, RateLimiter,
    SecretString,
};
use dingbridge::domain::connector::{ConnectorInput, PullMode, check_input};
use dingbridge::domain::directory::Origin;
use dingbridge::domain::password::PasswordPolicy;
use dingbridge::domain::sync::ApplyScope;
use dingbridge::ports::{Clock, Queue, QueueConsumer, SystemClock, Table};
use dingbridge::secrets::SecretBox;
use dingbridge::store::Actor;
use dingbridge::store::directory::Directory;
use dingbridge::store::runs::{RunId, RunState, SyncRun};
use dingbridge::worker::BatchHandler;
use dingtalk_sim::SimConfig;
use full_pull::{Deps, PullSettings};
use serde_json::{Value, json};

const LISTSUB: &str = "/topapi/v2/department/listsub";
const USER_LIST: &str = "/topapi/v2/user/list";
/// The naive pull's page size (`user/list` allows at most 100).
const PAGE: u32 = 100;

/// `bench pull`'s options.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The simulated org (ignored with `--sim-url`).
    #[arg(long, default_value_t = 10_000)]
    pub users: usize,
    #[arg(long, default_value_t = 500)]
    pub depts: usize,
    #[arg(long, default_value_t = 20)]
    pub qps: u32,
    #[arg(long, default_value_t = 30)]
    pub latency_ms: u64,
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub naive: bool,
    /// Use a running `dingtalk-sim` (its settings then come from its own command line).
    #[arg(long)]
    pub sim_url: Option<String>,
    /// The table and queue: `embedded` (redb) or `aws` (DynamoDB/SQS at AWS_ENDPOINT_URL).
    #[arg(long, value_enum, default_value_t = Engine::Embedded)]
    pub engine: Engine,
    /// Then confirm the run (apply it) and measure a second pull of the same org against the
    /// populated directory — the daily case — with its own peak RSS.
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set)]
    pub second: bool,
}

pub async fn run(args: Args) -> anyhow::Result<Value> {
    let Args {
        users,
        depts,
        qps,
        latency_ms,
        naive,
        sim_url,
        engine,
        second,
    } = args;
    // An external simulator (`--sim-url`) keeps its memory out of this process's peak RSS.
    let (_sim, base, sim_app) = match sim_url {
        Some(url) => {
            let apps: Vec<dingtalk_sim::SimApp> = reqwest::get(format!("{url}/_sim/apps"))
                .await?
                .json()
                .await?;
            let app = apps
                .into_iter()
                .next()
                .ok_or_else(|| anyhow!("the simulator has no app"))?;
            (None, url.trim_end_matches('/').to_owned(), app)
        }
        None => {
            let sim = dingtalk_sim::start(
                ([127, 0, 0, 1], 0).into(),
                SimConfig {
                    users,
                    depts,
                    qps_per_api: qps,
                    latency_ms,
                    dirty_share: 0.0,
                    ip_calls_per_20s: 0,
                    ..SimConfig::default()
                },
            )
            .await?;
            let base = sim.base_url();
            let app = sim
                .apps()
                .into_iter()
                .next()
                .ok_or_else(|| anyhow!("the simulator has no app"))?;
            (Some(sim), base, app)
        }
    };

    let dir = tempfile::tempdir()?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let (table, queue, consumer) = engines(engine, dir.path(), clock.clone()).await?;
    let secrets = SecretBox::from_base64(&SecretBox::generate_key())?;

    // Production client settings; the limiter at the simulator's limit (DingTalk's is 20/s).
    let limiter = Arc::new(RateLimiter::new(Rate::per_second(f64::from(qps.max(1)))));
    let client = Arc::new(HttpDingTalk::with_limiter(
        ClientConfig::default(),
        limiter,
    )?);
    let deps = Deps::new(
        table.clone(),
        queue.clone(),
        client.clone(),
        clock.clone(),
        secrets,
        PullSettings {
            budget: Duration::from_secs(3600),
            ..PullSettings::default()
        },
    );

    let input = ConnectorInput {
        name: Some("sim".into()),
        corp_id: Some(sim_app.corp_id.clone()),
        app_key: Some(sim_app.app_key.clone()),
        app_secret: Some(sim_app.app_secret.clone()),
        pull_mode: Some(PullMode::Review),
        oapi_base: Some(base.clone()),
        api_base: Some(base.clone()),
        login_base: Some(base.clone()),
        ..ConnectorInput::default()
    };
    let checked = check_input(&input, None, &PasswordPolicy::default())
        .map_err(|e| anyhow!("connector input: {e:?}"))?;
    let connector = deps
        .connectors
        .create(
            checked,
            Directory::root_id(),
            &Actor::new(Origin::Admin, "bench"),
        )
        .await
        .map_err(|e| anyhow!("create connector: {e:?}"))?;

    let http = reqwest::Client::new();
    reset_counters(&http, &base).await?;

    // --- the real pull ---
    let started = Instant::now();
    let run = full_pull::start_pull(&deps, &connector.id)
        .await
        .map_err(|e| anyhow!("start pull: {e:?}"))?;
    let state = settle(&deps, consumer.as_ref(), &run.id, RunState::Pulling).await?;
    let first_peak_kib = peak_rss_kib();
    let pull_secs = started.elapsed().as_secs_f64();
    if state.state != RunState::AwaitingReview {
        anyhow::bail!(
            "the pull ended in {} ({:?})",
            state.state.as_str(),
            state.errors
        );
    }
    let counters = get_counters(&http, &base).await?;
    let calls = |path: &str| counters[path]["calls"].as_u64().unwrap_or(0);
    let (listsub, user_list) = (calls(LISTSUB), calls(USER_LIST));
    let bound_secs = listsub.max(user_list) as f64 / f64::from(qps.max(1));
    let ratio = pull_secs / bound_secs;
    let mut report = json!({
        "sim": { "users": users, "depts": depts, "qps_per_api": qps, "latency_ms": latency_ms },
        "engine": format!("{engine:?}"),
        "pull": {
            "state": state.state.as_str(),
            "partial": state.partial,
            "departments": state.counters.departments,
            "users": state.counters.users,
            "invalid_rows": state.counters.invalid_rows,
            "planned_creates": state.counters.planned_creates,
            "wall_secs": pull_secs,
            "listsub_calls": listsub,
            "user_list_calls": user_list,
            "lower_bound_secs": bound_secs,
            "ratio_wall_to_bound": ratio,
            "ratio_target": 1.15,
            "ratio_ok": ratio <= 1.15,
            "per_api": counters,
            "throttled": throttled(&counters),
        },
    });

    report["pull"]["peak_rss_mib_so_far"] = json!(first_peak_kib.map(|k| k as f64 / 1024.0));

    // --- confirm, apply, then the daily case: a second pull against a populated directory ---
    if second {
        deps.pull_runs
            .confirm(&run.id, ApplyScope::All, "bench")
            .await
            .map_err(|e| anyhow!("confirm: {e:?}"))?;
        let t = Instant::now();
        let applied = settle(&deps, consumer.as_ref(), &run.id, RunState::Applying).await?;
        let apply_secs = t.elapsed().as_secs_f64();
        if applied.state != RunState::Done {
            anyhow::bail!(
                "the apply ended in {} ({:?})",
                applied.state.as_str(),
                applied.errors
            );
        }
        // Only the second pull's own peak from here on.
        let reset = reset_peak_rss();
        let rss_before = status_kib("VmRSS");
        let t = Instant::now();
        let again = full_pull::start_pull(&deps, &connector.id)
            .await
            .map_err(|e| anyhow!("start the second pull: {e:?}"))?;
        let second_state = settle(&deps, consumer.as_ref(), &again.id, RunState::Pulling).await?;
        report["second_pull"] = json!({
            "apply_secs_of_first": apply_secs,
            "state": second_state.state.as_str(),
            "users": second_state.counters.users,
            "planned_creates": second_state.counters.planned_creates,
            "planned_updates": second_state.counters.planned_updates,
            "planned_disables": second_state.counters.planned_disables,
            "wall_secs": t.elapsed().as_secs_f64(),
            "rss_at_start_mib": rss_before.map(|k| k as f64 / 1024.0),
            "peak_rss_mib": if reset { peak_rss_kib().map(|k| k as f64 / 1024.0) } else { None },
        });
    }

    // --- the naive sequential pull, same simulator, same client and limiter ---
    if naive {
        reset_counters(&http, &base).await?;
        let app = DingApp {
            corp_id: sim_app.corp_id,
            app_key: sim_app.app_key,
            app_secret: SecretString::new(sim_app.app_secret),
            agent_id: Some(sim_app.agent_id.to_string()),
            endpoints: Endpoints::single(&base),
        };
        let started = Instant::now();
        let (dept_count, found) = naive_pull(client.as_ref(), &app).await?;
        let naive_secs = started.elapsed().as_secs_f64();
        let counters = get_counters(&http, &base).await?;
        let speedup = naive_secs / pull_secs;
        report["naive"] = json!({
            "departments": dept_count,
            "users": found,
            "wall_secs": naive_secs,
            "per_api": counters,
            "throttled": throttled(&counters),
        });
        report["speedup_vs_naive"] = json!(speedup);
        report["speedup_target"] = json!(1.8);
        report["speedup_ok"] = json!(speedup >= 1.8);
    }
    Ok(report)
}

/// One call at a time: BFS over `listsub` from the root (every department asked for its
/// children), then every department's `user/list` pages of 100; users merged by userid.
async fn naive_pull(client: &HttpDingTalk, app: &DingApp) -> anyhow::Result<(usize, usize)> {
    let mut all = vec![DeptId::ROOT];
    let mut frontier = VecDeque::from([DeptId::ROOT]);
    while let Some(parent) = frontier.pop_front() {
        for child in client
            .list_sub_departments(app, parent)
            .await
            .context("listsub")?
        {
            all.push(child.id);
            frontier.push_back(child.id);
        }
    }
    let mut users: HashMap<String, DingUser> = HashMap::new();
    for dept in &all {
        let mut cursor = 0;
        loop {
            let page = client
                .list_users_page(app, *dept, cursor, PAGE)
                .await
                .context("user/list")?;
            for u in page.items {
                users.insert(u.userid.to_string(), u);
            }
            match page.next_cursor {
                Some(next) => cursor = next,
                None => break,
            }
        }
    }
    Ok((all.len(), users.len()))
}

/// Drains the pull queue until run `id` leaves state `from`.
async fn settle(
    deps: &Deps,
    consumer: &dyn QueueConsumer,
    id: &RunId,
    from: RunState,
) -> anyhow::Result<SyncRun> {
    let started = Instant::now();
    loop {
        drain(deps, consumer).await?;
        let current = deps
            .runs
            .get(id)
            .await
            .map_err(|e| anyhow!("read run: {e:?}"))?
            .ok_or_else(|| anyhow!("the run vanished"))?;
        if current.state != from {
            return Ok(current);
        }
        if started.elapsed() > Duration::from_secs(3600) {
            anyhow::bail!("the run stayed {} for an hour", from.as_str());
        }
        // A continuation may be scheduled with a delay.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A size line of `/proc/self/status` (`VmHWM`, `VmRSS`), in KiB.
fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// This process's peak resident set, in KiB.
fn peak_rss_kib() -> Option<u64> {
    status_kib("VmHWM")
}

/// Resets the peak resident set to the current one (Linux ≥ 4.0); false where that is refused.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Where the pull's table and queue live.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    /// redb in a tempdir (what `cargo run` uses).
    Embedded,
    /// DynamoDB and SQS at `AWS_ENDPOINT_URL` (moto): the Lambda's engines, so the process holds
    /// what the Lambda would.
    Aws,
}

type Engines = (Arc<dyn Table>, Arc<dyn Queue>, Arc<dyn QueueConsumer>);

async fn engines(
    engine: Engine,
    dir: &std::path::Path,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Engines> {
    match engine {
        Engine::Embedded => {
            let store = EmbeddedStore::open(dir)?;
            let table: Arc<dyn Table> = Arc::new(store.table(clock.clone()));
            let queue = Arc::new(store.queue("pull", QueueSettings::default(), clock));
            Ok((table, queue.clone(), queue))
        }
        #[cfg(feature = "aws")]
        Engine::Aws => {
            use dingbridge::adapters::{dynamodb, sqs};
            if std::env::var("AWS_ENDPOINT_URL").is_err() {
                anyhow::bail!("--engine aws needs AWS_ENDPOINT_URL (a moto server)");
            }
            let config = dynamodb::load_aws_config().await;
            let name = format!("bench-pull-{}", std::process::id());
            let ddb = dynamodb::sdk::Client::new(&config);
            dynamodb::create_table(&ddb, &name).await?;
            let sqs_client = sqs::sdk::Client::new(&config);
            let (url, dlq) = sqs::create_fifo_queue_with_dlq(&sqs_client, &name, 5, 900).await?;
            let table: Arc<dyn Table> = Arc::new(dynamodb::DynamoTable::new(ddb, name, clock));
            let queue = Arc::new(sqs::SqsQueue::new(sqs_client, url).with_dead_letter_queue(dlq));
            Ok((table, queue.clone(), queue))
        }
        #[cfg(not(feature = "aws"))]
        Engine::Aws => anyhow::bail!("built without --features aws"),
    }
}

/// Runs the pull queue's consumer until the queue is empty.
async fn drain(deps: &Deps, queue: &dyn QueueConsumer) -> anyhow::Result<()> {
    loop {
        let batch = queue
            .receive(1, Duration::from_secs(3600))
            .await
            .map_err(|e| anyhow!("receive: {e:?}"))?;
        let Some(m) = batch.into_iter().next() else {
            return Ok(());
        };
        let receipt = m.receipt.clone();
        let failed = deps.handle(vec![m]).await;
        if failed.is_empty() {
            queue
                .ack(&receipt)
                .await
                .map_err(|e| anyhow!("ack: {e:?}"))?;
        } else {
            queue
                .release(&receipt, Duration::ZERO)
                .await
                .map_err(|e| anyhow!("release: {e:?}"))?;
        }
    }
}

fn throttled(counters: &Value) -> u64 {
    counters
        .as_object()
        .map(|o| o.values().filter_map(|c| c["throttled"].as_u64()).sum())
        .unwrap_or(0)
}

async fn get_counters(http: &reqwest::Client, base: &str) -> anyhow::Result<Value> {
    Ok(http
        .get(format!("{base}/_sim/counters"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?)
}

async fn reset_counters(http: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    http.delete(format!("{base}/_sim/counters"))
        .send()
        .await?
        .error_for_status()?;
    Ok(())
}
