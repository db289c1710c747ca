//! The DingTalk QR login's forward step on the embedded engines (issue 14): the request DingTalk
//! sends the browser back with (`GET /authenticate/ddtalk/forward/{source}`) — state check and
//! consumption, the code exchange (`userAccessToken`, `users/me`), `getbyunionid`, the binding
//! lookup and the new session. The source's DingTalk hosts are a timing proxy in front of the
//! simulator, so the time spent waiting for DingTalk is measured per request and subtracted:
//! what remains is our server's own time. Each sign-in is a fresh browser (start, scan, forward),
//! one after another.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::Context;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};

use crate::callback::pct;
use crate::portal::form;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Sign-ins measured (after one that binds the member to an account).
    #[arg(long, default_value_t = 300)]
    sign_ins: usize,
    /// The simulator's latency per DingTalk call (subtracted from the forward's time).
    #[arg(long, default_value_t = 20)]
    latency_ms: u64,
}

const PASSWORD: &str = "Bench-DingTalk-2026";

/// Forwards every request to the simulator and adds the time it took to `waited_us`.
#[derive(Clone)]
struct Proxy {
    sim: String,
    http: reqwest::Client,
    waited_us: Arc<AtomicU64>,
}

async fn forward(
    State(p): State<Proxy>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let start = Instant::now();
    let path = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let mut request = p
        .http
        .request(method, format!("{}{path}", p.sim))
        .body(body);
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            request = request.header(name, value);
        }
    }
    let answer = match request.send().await {
        Ok(r) => {
            let status =
                StatusCode::from_u16(r.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let content_type = r.headers().get("content-type").cloned();
            let bytes = r.bytes().await.unwrap_or_default();
            let mut response = (status, bytes).into_response();
            if let Some(ct) = content_type {
                response.headers_mut().insert("content-type", ct);
            }
            response
        }
        Err(_) => StatusCode::BAD_GATEWAY.into_response(),
    };
    let took = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
    p.waited_us.fetch_add(took, Ordering::SeqCst);
    answer
}

fn cookie_of(response: &reqwest::Response, name: &str) -> Option<String> {
    response.headers().get_all(SET_COOKIE).iter().find_map(|v| {
        let text = v.to_str().ok()?;
        let pair = text.split_once(';').map_or(text, |(pair, _)| pair);
        let (n, value) = pair.split_once('=')?;
        (n == name).then(|| value.to_owned())
    })
}

fn location(response: &reqwest::Response) -> anyhow::Result<String> {
    Ok(response
        .headers()
        .get(LOCATION)
        .context("no Location")?
        .to_str()?
        .to_owned())
}

fn param(url: &str, name: &str) -> anyhow::Result<String> {
    let url = reqwest::Url::parse(url)?;
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .with_context(|| format!("no {name} in {url}"))
}

pub async fn run(args: Args) -> anyhow::Result<Value> {
    let sim = dingtalk_sim::start(
        "127.0.0.1:0".parse()?,
        dingtalk_sim::SimConfig {
            users: 5,
            depts: 1,
            qps_per_api: 0,
            ip_calls_per_20s: 0,
            latency_ms: args.latency_ms,
            ..Default::default()
        },
    )
    .await?;
    let app = sim.apps().into_iter().next().context("no simulator app")?;
    let waited = Arc::new(AtomicU64::new(0));
    let proxy = Proxy {
        sim: sim.base_url(),
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?,
        waited_us: waited.clone(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let proxy_base = format!("http://{}", listener.local_addr()?);
    let proxy_app = axum::Router::new().fallback(forward).with_state(proxy);
    let proxy_task = tokio::spawn(async move { axum::serve(listener, proxy_app).await });

    let dir = tempfile::tempdir()?;
    let token = "bench-admin-token".to_owned();
    let mut options =
        dingbridge_local::Options::new("127.0.0.1:0".parse()?, dir.path().join("data"));
    options.admin_token = Some(token.clone());
    options.run_workers = false;
    let running = dingbridge_local::start(options).await?;
    let base = format!("http://{}", running.addr);
    let admin = crate::local::Admin {
        base: base.clone(),
        token,
        http: reqwest::Client::new(),
    };
    let source = admin
        .post(
            "/admin/api/auth-sources",
            json!({"kind": "dingtalk_qr", "name": "bench", "corp_id": app.corp_id,
                "app_key": app.app_key, "app_secret": app.app_secret,
                "oapi_base": proxy_base, "api_base": proxy_base, "login_base": proxy_base}),
        )
        .await?;
    let source_id = source["id"].as_str().context("no source id")?.to_owned();
    let root = admin.root().await?;
    admin
        .post(
            "/admin/api/accounts",
            json!({"username": "bench.user", "display_name": "Bench", "org_unit_ids": [root],
                "password": PASSWORD}),
        )
        .await?;
    let org: Value = reqwest::get(format!("{}/_sim/org", sim.base_url()))
        .await?
        .json()
        .await?;
    let member = org["users"][0]["userid"]
        .as_str()
        .context("no member")?
        .to_owned();

    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    // One sign-in through DingTalk: start, scan, forward. The forward's total and DingTalk
    // times, and the answer.
    let sign_in = || async {
        let started = browser
            .get(format!("{base}/authenticate/ddtalk/{source_id}"))
            .send()
            .await?;
        let qr_cookie = cookie_of(&started, "dbqr").context("no dbqr cookie")?;
        let page = location(&started)?;
        let query = form(&[
            ("flow", "oauth2"),
            ("client_id", &param(&page, "client_id")?),
            ("redirect_uri", &param(&page, "redirect_uri")?),
            ("state", &param(&page, "state")?),
            ("userid", &member),
        ])?;
        let picked = browser
            .get(format!("{}/_sim/login/pick?{query}", sim.base_url()))
            .send()
            .await?;
        let back = location(&picked)?;
        let before = waited.load(Ordering::SeqCst);
        let start = Instant::now();
        let answer = browser
            .get(&back)
            .header(COOKIE, format!("dbqr={qr_cookie}"))
            .send()
            .await?;
        let total = u64::try_from(start.elapsed().as_micros())?;
        let dingtalk = waited.load(Ordering::SeqCst) - before;
        anyhow::Ok((total, dingtalk, answer))
    };

    // The first sign-in binds the member on the bind page.
    let (_, _, first) = sign_in().await?;
    anyhow::ensure!(
        location(&first)? == "/authenticate/bind",
        "not the bind page"
    );
    let bind_cookie = cookie_of(&first, "dbbind").context("no dbbind cookie")?;
    let page = browser
        .get(format!("{base}/authenticate/bind"))
        .header(COOKIE, format!("dbbind={bind_cookie}"))
        .send()
        .await?
        .text()
        .await?;
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .context("no csrf")?
        .to_owned();
    let bound = browser
        .post(format!("{base}/authenticate/bind"))
        .header(COOKIE, format!("dbbind={bind_cookie}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("csrf", csrf.as_str()),
            ("identifier", "bench.user"),
            ("password", PASSWORD),
        ])?)
        .send()
        .await?;
    anyhow::ensure!(bound.status() == 303, "bind: {}", bound.status());

    let (mut totals, mut dingtalk, mut ours) = (Vec::new(), Vec::new(), Vec::new());
    let wall = Instant::now();
    for _ in 0..args.sign_ins {
        let (total, waited_us, answer) = sign_in().await?;
        anyhow::ensure!(
            answer.status() == 303 && location(&answer)? == "/portal",
            "a sign-in did not reach the portal: {}",
            answer.status()
        );
        totals.push(total);
        dingtalk.push(waited_us);
        ours.push(total.saturating_sub(waited_us));
    }
    let wall_s = wall.elapsed().as_secs_f64();
    for v in [&mut totals, &mut dingtalk, &mut ours] {
        v.sort_unstable();
    }
    running.shutdown().await?;
    proxy_task.abort();
    Ok(json!({
        "sign_ins": args.sign_ins,
        "simulator_latency_ms_per_call": args.latency_ms,
        "forward_total_ms": {"p50": pct(&totals, 0.5), "p99": pct(&totals, 0.99)},
        "dingtalk_wait_ms": {"p50": pct(&dingtalk, 0.5), "p99": pct(&dingtalk, 0.99)},
        "forward_server_ms": {"p50": pct(&ours, 0.5), "p99": pct(&ours, 0.99), "max": pct(&ours, 1.0)},
        "sign_ins_per_s_end_to_end": args.sign_ins as f64 / wall_s,
    }))
}
