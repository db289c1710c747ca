//! Full pull against the simulator at a per-API QPS limit and a per-call latency, on the embedded
//! engines: wall time of one pull through to `awaiting_review` (walk, stage, validate, plan)
//! against the rate-limit lower bound (the busiest of `listsub` and `user/list` at `qps`), and,
//! in the same run and through the same client and limiter, a naive sequential pull (one call at
//! a time: BFS over `listsub`, then every department's `user/list` pages) for the speed-up.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use dingbridge::adapters::embedded::{EmbeddedQueue, EmbeddedStore, QueueSettings};
use dingbridge::dingtalk::{
    ClientConfig, DeptId, DingApp, DingTalk, DingUser, Endpoints, HttpDingTalk, Rate, RateLimiter,
    SecretString,
};
use dingbridge::domain::connector::{ConnectorInput, PullMode, check_input};
use dingbridge::domain::directory::Origin;
use dingbridge::domain::password::PasswordPolicy;
use dingbridge::ports::{Clock, QueueConsumer, SystemClock, Table};
use dingbridge::secrets::SecretBox;
use dingbridge::store::Actor;
use dingbridge::store::directory::Directory;
use dingbridge::store::runs::RunState;
use dingbridge::worker::BatchHandler;
use dingtalk_sim::SimConfig;
use full_pull::{Deps, PullSettings};
use serde_json::{Value, json};

const LISTSUB: &str = "/topapi/v2/department/listsub";
const USER_LIST: &str = "/topapi/v2/user/list";
/// The naive pull's page size (`user/list` allows at most 100).
const PAGE: u32 = 100;

pub async fn run(
    users: usize,
    depts: usize,
    qps: u32,
    latency_ms: u64,
    naive: bool,
    sim_url: Option<String>,
) -> anyhow::Result<Value> {
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
    let store = EmbeddedStore::open(dir.path())?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let table: Arc<dyn Table> = Arc::new(store.table(clock.clone()));
    let queue = Arc::new(store.queue("pull", QueueSettings::default(), clock.clone()));
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
    let state = loop {
        drain(&deps, queue.as_ref()).await?;
        let current = deps
            .runs
            .get(&run.id)
            .await
            .map_err(|e| anyhow!("read run: {e:?}"))?
            .ok_or_else(|| anyhow!("the run vanished"))?;
        if current.state != RunState::Pulling {
            break current;
        }
        if started.elapsed() > Duration::from_secs(3600) {
            anyhow::bail!("the pull did not finish within an hour");
        }
        // A continuation may be scheduled with a delay.
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
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

/// Runs the pull queue's consumer until the queue is empty.
async fn drain(deps: &Deps, queue: &EmbeddedQueue) -> anyhow::Result<()> {
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
