//! `dingbridge`: what `cargo run` starts — the whole system locally on the embedded engines.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

/// Run every dingbridge function in one process, on the embedded engines.
#[derive(Debug, Parser)]
#[command(name = "dingbridge", version)]
struct Args {
    /// Address of the HTTP server.
    #[arg(long, default_value = "127.0.0.1:8080", env = "DINGBRIDGE_ADDR")]
    addr: SocketAddr,
    /// Directory of the embedded table and queues (created if missing).
    #[arg(long, default_value = ".dingbridge", env = "DINGBRIDGE_DATA_DIR")]
    data_dir: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    dingbridge::logging::init_local();
    let args = Args::parse();
    let mut running = dingbridge_local::start(dingbridge_local::Options {
        addr: args.addr,
        data_dir: args.data_dir.clone(),
    })
    .await?;
    let base = format!("http://{}", running.addr);
    println!("dingbridge {} is running", env!("CARGO_PKG_VERSION"));
    println!("  data:    {}", args.data_dir.display());
    println!("  health:  {base}/healthz");
    println!("Press Ctrl-C to stop.");

    let stop = running.shutdown_signal();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::info!("shutting down: finishing in-flight requests and batches");
            let _ = stop.send(true);
        }
    });
    running.join().await?;
    println!("dingbridge stopped cleanly");
    Ok(())
}
