//! `dingbridge`: what `cargo run` starts — the whole system locally on the embedded engines, with a
//! simulated DingTalk and a demo connector unless `--no-demo`. The banner goes to stdout, logs to
//! stderr.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use dingbridge_local::demo::DemoOptions;

/// Run every dingbridge function in one process, on the embedded engines.
#[derive(Debug, Parser)]
#[command(name = "dingbridge", version)]
struct Args {
    /// Address of the HTTP server.
    #[arg(long, default_value = "127.0.0.1:8080", env = "DINGBRIDGE_ADDR")]
    addr: SocketAddr,
    /// Directory of the embedded table and queues, the admin token and the simulated org
    /// (created owner-only if missing).
    #[arg(long, default_value = ".dingbridge", env = "DINGBRIDGE_DATA_DIR")]
    data_dir: PathBuf,
    /// The base URL DingTalk calls back (default: this server's own address).
    #[arg(long, env = "DINGBRIDGE_PUBLIC_URL")]
    public_url: Option<String>,
    /// Start without the simulated DingTalk and its demo connector.
    #[arg(long)]
    no_demo: bool,
    /// Start the demo over: a new simulated org, and an empty store (connectors, directory,
    /// runs). The admin token and the data key are kept.
    #[arg(long, conflicts_with = "no_demo")]
    reset_demo: bool,
    /// Seed of a new simulated org (a saved org keeps its own).
    #[arg(long, default_value_t = 7)]
    demo_seed: u64,
    /// Seconds between drains of DingTalk's failed-push list.
    #[arg(long, default_value_t = 300)]
    drain_every: u64,
    /// Seconds a client may take to send a request's headers, and then its body.
    #[arg(long, default_value_t = 10)]
    read_timeout: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    dingbridge::logging::init_local();
    let args = Args::parse();
    let mut options = dingbridge_local::Options::new(args.addr, args.data_dir.clone());
    options.public_url = args.public_url.clone();
    options.admin_token = std::env::var("DINGBRIDGE_ADMIN_TOKEN").ok();
    options.drain_every = Duration::from_secs(args.drain_every.max(1));
    options.header_read_timeout = Duration::from_secs(args.read_timeout.max(1));
    options.body_read_timeout = Duration::from_secs(args.read_timeout.max(1));
    options.demo = (!args.no_demo).then(|| DemoOptions {
        seed: args.demo_seed,
        reset: args.reset_demo,
        ..DemoOptions::default()
    });
    let mut running = dingbridge_local::start(options).await?;
    print!("{}", dingbridge_local::banner::banner(&running));
    println!("\nPress Ctrl-C to stop.");

    let stop = running.shutdown_signal();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::info!("shutting down: finishing in-flight requests and batches");
            let _ = stop.send(true);
        }
    });
    running.join().await?;
    drop(running);
    println!("dingbridge stopped cleanly");
    Ok(())
}
