//! The SCIM server on the embedded engines over loopback (issue 12): `POST /scim/v2/Users` and
//! `GET /scim/v2/Users?filter=userName eq "…"` at a fixed rate (latency from the scheduled start,
//! so queueing shows) and closed-loop (sustained requests/s); the token endpoint's requests/s
//! (argon2id with the crate's default cost: 19 MiB, 2 passes, 1 lane); and the time from a SCIM
//! create to the user in the simulated DingTalk (20 calls/s per API, 30 ms per call).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};

use crate::callback::pct;
use crate::local::{Admin, start};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Requests per second of the fixed-rate phases.
    #[arg(long, default_value_t = 500)]
    rate: u64,
    /// Length of each fixed-rate phase.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Requests of each closed-loop phase.
    #[arg(long, default_value_t = 10_000)]
    max_requests: usize,
    /// Concurrent clients of the closed-loop phases.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// SCIM creates timed into the simulated DingTalk (at 5 per second).
    #[arg(long, default_value_t = 100)]
    pushed: usize,
}

/// One request to send: method, path and body.
type Call = (reqwest::Method, String, Option<String>);

fn request(
    http: &reqwest::Client,
    base: &str,
    bearer: &str,
    call: Call,
) -> reqwest::RequestBuilder {
    let (method, path, body) = call;
    let r = http
        .request(method, format!("{base}{path}"))
        .bearer_auth(bearer);
    match body {
        Some(b) => r.header("content-type", "application/scim+json").body(b),
        None => r,
    }
}

/// Open loop: one call every `1/rate` s; latency from each call's scheduled start.
async fn fixed_rate(
    http: &reqwest::Client,
    base: &str,
    bearer: &str,
    calls: Vec<Call>,
    rate: u64,
) -> anyhow::Result<Value> {
    let interval = Duration::from_nanos(1_000_000_000 / rate.max(1));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(calls.len());
    for (i, call) in calls.into_iter().enumerate() {
        let due = start + interval * u32::try_from(i)?;
        tokio::time::sleep_until(due.into()).await;
        let r = request(http, base, bearer, call);
        tasks.push(tokio::spawn(async move {
            let ok = r.send().await.is_ok_and(|r| r.status().is_success());
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

/// Closed loop: `concurrency` clients back to back over `calls`; requests/s sustained.
async fn closed_loop(
    http: &reqwest::Client,
    base: &str,
    bearer: &str,
    calls: Vec<Call>,
    concurrency: usize,
) -> anyhow::Result<Value> {
    let calls = Arc::new(tokio::sync::Mutex::new(calls));
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (http, calls, base, bearer) = (
                http.clone(),
                calls.clone(),
                base.to_owned(),
                bearer.to_owned(),
            );
            tokio::spawn(async move {
                let (mut ok, mut failed) = (0u64, 0u64);
                loop {
                    let Some(call) = calls.lock().await.pop() else {
                        break;
                    };
                    let good = request(&http, &base, &bearer, call)
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

fn user(tag: &str, n: usize) -> String {
    json!({
        "userName": format!("{tag}{n}@bench.example"),
        "name": {"givenName": "Bench", "familyName": format!("{tag}{n}")},
        "emails": [{"value": format!("{tag}{n}@bench.example"), "type": "work", "primary": true}],
        // 17, a digit per tag (their lengths differ), the number: unique mobiles across phases.
        "phoneNumbers": [{"value": format!("17{}{n:08}", tag.len() % 10), "type": "mobile"}],
        "externalId": format!("{tag}-{n}"),
    })
    .to_string()
}

fn creates(tag: &str, n: usize) -> Vec<Call> {
    (0..n)
        .map(|i| {
            (
                reqwest::Method::POST,
                "/scim/v2/Users".to_owned(),
                Some(user(tag, i)),
            )
        })
        .collect()
}

fn lookups(tag: &str, n: usize, of: usize) -> Vec<Call> {
    (0..n)
        .map(|i| {
            let path = format!(
                "/scim/v2/Users?filter=userName%20eq%20%22{tag}{}%40bench.example%22",
                i % of
            );
            (reqwest::Method::GET, path, None)
        })
        .collect()
}

/// A SCIM client (of `body`) and a token for it from `/oauth/token`; also the client's id and secret.
async fn client(admin: &Admin, body: Value) -> anyhow::Result<(String, String, String)> {
    let made = admin.post("/admin/api/scim-clients", body).await?;
    let (id, secret) = (
        made["client_id"].as_str().context("client_id")?.to_owned(),
        made["client_secret"]
            .as_str()
            .context("client_secret")?
            .to_owned(),
    );
    let token = token(&admin.http, &admin.base, &id, &secret).await?;
    Ok((token, id, secret))
}

async fn token(
    http: &reqwest::Client,
    base: &str,
    id: &str,
    secret: &str,
) -> anyhow::Result<String> {
    let answer: Value = http
        .post(format!("{base}/oauth/token"))
        .basic_auth(id, Some(secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await?
        .json()
        .await?;
    Ok(answer["access_token"]
        .as_str()
        .context("no access_token")?
        .to_owned())
}

/// Token requests back to back from `concurrency` clients for `seconds`.
async fn token_rate(
    http: &reqwest::Client,
    base: &str,
    id: &str,
    secret: &str,
    concurrency: usize,
    seconds: u64,
) -> anyhow::Result<Value> {
    let end = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (http, base, id, secret) = (
                http.clone(),
                base.to_owned(),
                id.to_owned(),
                secret.to_owned(),
            );
            tokio::spawn(async move {
                let mut ok = 0u64;
                while Instant::now() < end {
                    if token(&http, &base, &id, &secret).await.is_ok() {
                        ok += 1;
                    }
                }
                ok
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        ok += t.await?;
    }
    let secs = start.elapsed().as_secs_f64();
    Ok(
        json!({"concurrency": concurrency, "tokens": ok, "seconds": secs, "tokens_per_s": ok as f64 / secs}),
    )
}

/// SCIM creates (5 a second) into a pushed subtree; from each 201 to the user's mobile in the
/// simulated org (one poller reads the org every 20 ms).
async fn to_dingtalk(s: &crate::local::Started, n: usize) -> anyhow::Result<Value> {
    let admin = &s.admin;
    let root = admin.root().await?;
    let pushed = admin.unit("SCIM bench", &root).await?;
    let connector = admin
        .pushing_connector(&s.sim, "SCIM bench", &pushed)
        .await?;
    let (bearer, _, _) = client(
        admin,
        json!({"name": "bench pushed", "connector_id": connector}),
    )
    .await?;
    let created: Arc<tokio::sync::Mutex<HashMap<String, Instant>>> = Default::default();
    let seen: Arc<tokio::sync::Mutex<HashMap<String, Duration>>> = Default::default();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poller = {
        let (created, seen, done, http, org_url) = (
            created.clone(),
            seen.clone(),
            done.clone(),
            admin.http.clone(),
            format!("{}/_sim/org", s.sim.base_url()),
        );
        tokio::spawn(async move {
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                if let Ok(r) = http.get(&org_url).send().await
                    && let Ok(org) = r.json::<Value>().await
                {
                    let now = Instant::now();
                    let created = created.lock().await;
                    let mut seen = seen.lock().await;
                    for u in org["users"].as_array().into_iter().flatten() {
                        if let Some(m) = u["mobile"].as_str()
                            && let Some(at) = created.get(m)
                        {
                            seen.entry(m.to_owned()).or_insert_with(|| now - *at);
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let interval = Duration::from_millis(200);
    let start = Instant::now();
    for i in 0..n {
        tokio::time::sleep_until((start + interval * u32::try_from(i)?).into()).await;
        let mobile = format!("165{i:08}");
        let body = json!({"userName": format!("pushed{i}"), "phoneNumbers": [{"value": mobile, "type": "mobile"}]});
        let sent = Instant::now();
        let r = request(
            &admin.http,
            &admin.base,
            &bearer,
            (
                reqwest::Method::POST,
                "/scim/v2/Users".into(),
                Some(body.to_string()),
            ),
        )
        .send()
        .await?;
        anyhow::ensure!(r.status().as_u16() == 201, "create {i}: {}", r.status());
        created.lock().await.insert(mobile, sent);
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while seen.lock().await.len() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    poller.await?;
    let mut ms: Vec<u64> = seen
        .lock()
        .await
        .values()
        .map(|d| d.as_micros() as u64)
        .collect();
    ms.sort_unstable();
    Ok(
        json!({"creates": n, "reached_dingtalk": ms.len(), "p50_ms": pct(&ms, 0.5), "p99_ms": pct(&ms, 0.99), "max_ms": pct(&ms, 1.0)}),
    )
}

pub async fn run(args: Args) -> anyhow::Result<Value> {
    let s = start(20, 30, true).await?;
    let admin = &s.admin;
    // A client of the whole directory, where no connector pushes: the SCIM server alone.
    let (bearer, id, secret) = client(admin, json!({"name": "bench"})).await?;
    let base = admin.base.clone();
    let http = &admin.http;
    let warm = closed_loop(http, &base, &bearer, creates("warm", 500), 8).await?;
    anyhow::ensure!(warm["failures"] == 0, "warm-up failed: {warm}");
    let n = usize::try_from(args.rate * args.seconds)?;
    let create_fixed = fixed_rate(http, &base, &bearer, creates("fixed", n), args.rate).await?;
    let create_max = closed_loop(
        http,
        &base,
        &bearer,
        creates("max", args.max_requests),
        args.concurrency,
    )
    .await?;
    let get_fixed = fixed_rate(
        http,
        &base,
        &bearer,
        lookups("max", n, args.max_requests),
        args.rate,
    )
    .await?;
    let get_max = closed_loop(
        http,
        &base,
        &bearer,
        lookups("max", args.max_requests, args.max_requests),
        args.concurrency,
    )
    .await?;
    let tokens = token_rate(http, &base, &id, &secret, 4, 5).await?;
    let pushed = to_dingtalk(&s, args.pushed).await?;
    let accounts = n + args.max_requests + 500;
    Ok(json!({
        "directory_accounts_at_end": accounts,
        "create": {"fixed_rate": create_fixed, "max": create_max},
        "get_by_user_name": {"fixed_rate": get_fixed, "max": get_max},
        "token_endpoint": tokens,
        "scim_create_to_dingtalk": pushed,
    }))
}
