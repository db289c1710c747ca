//! `dingtalk-sim`: runs the DingTalk simulator as a standalone server for demos and benchmarks.

use std::net::SocketAddr;

use clap::Parser;
use dingtalk_sim::{SimConfig, start};

/// A local DingTalk open platform (oapi, api and login hosts on one port).
#[derive(Debug, Parser)]
#[command(name = "dingtalk-sim", version)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:8090")]
    addr: SocketAddr,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    #[arg(long, default_value_t = 200)]
    users: usize,
    #[arg(long, default_value_t = 30)]
    depts: usize,
    /// Calls per second per app × API; 0 = unlimited.
    #[arg(long, default_value_t = 20)]
    qps: u32,
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Calls per 20 s per source IP; 0 = unlimited.
    #[arg(long, default_value_t = 10_000)]
    ip_limit: u32,
    #[arg(long, default_value_t = 0.0)]
    dirty_share: f64,
    #[arg(long, default_value_t = 1)]
    corps: usize,
    #[arg(long)]
    corp_id: Option<String>,
    #[arg(long)]
    app_key: Option<String>,
    #[arg(long)]
    app_secret: Option<String>,
    /// Keep the orgs in this file: served again at the next start, saved after every change.
    #[arg(long)]
    state_file: Option<std::path::PathBuf>,
    /// Login redirect URI prefixes every app accepts (repeatable).
    #[arg(long = "redirect-uri")]
    redirect_uris: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut config = SimConfig {
        seed: args.seed,
        users: args.users,
        depts: args.depts,
        qps_per_api: args.qps,
        latency_ms: args.latency_ms,
        ip_calls_per_20s: args.ip_limit,
        dirty_share: args.dirty_share,
        corps: args.corps,
        corp_id: args.corp_id,
        app_key: args.app_key,
        app_secret: args.app_secret,
        state_file: args.state_file,
        ..SimConfig::default()
    };
    if !args.redirect_uris.is_empty() {
        config.redirect_uris = args.redirect_uris;
    }
    let sim = start(args.addr, config).await?;
    println!("dingtalk-sim listening on {}", sim.base_url());
    for app in sim.apps() {
        println!(
            "corp {} app_key {} app_secret {} agent_id {}",
            app.corp_id, app.app_key, app.app_secret, app.agent_id
        );
    }
    tokio::signal::ctrl_c().await?;
    Ok(())
}
