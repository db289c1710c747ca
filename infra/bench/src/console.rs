//! The console's directory page (issue 15) on the embedded engines: what it reads to draw the org
//! tree — every org unit and every account, 1000 a page, each with its DingTalk ids and push
//! state — timed with a push-enabled connector and again with its push turned off, in one run.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::callback::{fixed_rate, pct};
use crate::push::accounts;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Accounts in the directory: half inside the pushed subtree (pushed to the simulator),
    /// half outside it.
    #[arg(long, default_value_t = 2000)]
    accounts: usize,
    /// Page loads timed for each setting; the median and p90 are reported.
    #[arg(long, default_value_t = 20)]
    loads: usize,
}

/// The names of this benchmark's accounts.
const NAMES: (&str, &str) = ("dir", "135");

/// Every item of a paged admin list.
async fn read_all(admin: &crate::local::Admin, path: &str) -> anyhow::Result<usize> {
    let mut cursor: Option<String> = None;
    let mut n = 0;
    loop {
        let page = match &cursor {
            Some(c) => format!("{path}?limit=1000&cursor={c}"),
            None => format!("{path}?limit=1000"),
        };
        let body = admin.call(reqwest::Method::GET, &page, Value::Null).await?;
        n += body["items"].as_array().map_or(0, Vec::len);
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return Ok(n),
        }
    }
}

/// `loads` reads of the whole directory, one after another: (median ms, p90 ms, accounts read).
async fn page_loads(admin: &crate::local::Admin, loads: usize) -> anyhow::Result<Value> {
    let mut samples = Vec::with_capacity(loads);
    let mut read = 0;
    for _ in 0..loads {
        let started = Instant::now();
        let (units, accounts) = tokio::try_join!(
            read_all(admin, "/admin/api/org-units"),
            read_all(admin, "/admin/api/accounts")
        )?;
        samples.push(started.elapsed().as_micros() as u64);
        read = units + accounts;
    }
    samples.sort_unstable();
    Ok(
        json!({"loads": loads, "items_read": read, "p50_ms": pct(&samples, 0.5),
        "p90_ms": pct(&samples, 0.9), "max_ms": pct(&samples, 1.0)}),
    )
}

pub async fn run(args: Args) -> anyhow::Result<Value> {
    let crate::local::Started {
        sim,
        running,
        admin,
        ..
    } = crate::local::start(1000, 0, true).await?;
    let root = admin.root().await?;
    let outside = admin.unit("Not pushed", &root).await?;
    let pushed_root = admin.unit("Pushed", &root).await?;
    let connector = admin
        .pushing_connector(&sim, "bench console", &pushed_root)
        .await?;
    let pushed = admin.unit("Team", &pushed_root).await?;
    let half = args.accounts / 2;
    fixed_rate(
        &admin.http,
        accounts(&admin.base, &outside, NAMES, 0, half),
        500,
        Some(&admin.token),
    )
    .await?;
    fixed_rate(
        &admin.http,
        accounts(&admin.base, &pushed, NAMES, half, args.accounts - half),
        500,
        Some(&admin.token),
    )
    .await?;
    crate::push::wait_for_users(
        &admin.http,
        &sim.base_url(),
        args.accounts - half,
        Duration::from_secs(600),
    )
    .await?;
    // Warm up connections and caches.
    page_loads(&admin, 2).await?;
    let with_push = page_loads(&admin, args.loads).await?;
    admin
        .call(
            reqwest::Method::PATCH,
            &format!("/admin/api/connectors/{connector}"),
            json!({"push_enabled": false}),
        )
        .await?;
    let without_push = page_loads(&admin, args.loads).await?;
    running.shutdown().await?;
    Ok(json!({
        "accounts": args.accounts,
        "pushed_accounts": args.accounts - half,
        "directory_reads_with_a_pushing_connector": with_push,
        "directory_reads_with_no_push": without_push,
    }))
}
