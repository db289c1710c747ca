//! `dingbridge`: what `cargo run` starts — the whole system locally on the embedded engines, with a
//! simulated DingTalk and a demo connector unless `--no-demo`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

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
    /// The base URL DingTalk calls back (default: this server's own address).
    #[arg(long, env = "DINGBRIDGE_PUBLIC_URL")]
    public_url: Option<String>,
    /// Start without the simulated DingTalk and its demo connector.
    #[arg(long)]
    no_demo: bool,
    /// Seed of the simulated org.
    #[arg(long, default_value_t = 7)]
    demo_seed: u64,
    /// Seconds between drains of DingTalk's failed-push list.
    #[arg(long, default_value_t = 300)]
    drain_every: u64,
}

/// The first full pull's summary and the admin calls that review and confirm it.
fn print_first_pull(run: &serde_json::Value, base: &str, token: &str) {
    let id = run["id"].as_str().unwrap_or("?");
    let c = &run["counters"];
    println!(
        "\nFirst full pull (review mode): run {id}, state {}",
        run["state"]
    );
    println!(
        "  departments {} · users {} · invalid rows {} · planned: create {} update {} move {} disable {}",
        c["departments"],
        c["users"],
        c["invalid_rows"],
        c["planned_creates"],
        c["planned_updates"],
        c["planned_moves"],
        c["planned_disables"]
    );
    let auth = format!("-H 'Authorization: Bearer {token}'");
    println!("  review:   curl {auth} {base}/admin/api/runs/{id}/org-units");
    println!("            curl {auth} '{base}/admin/api/runs/{id}/rows?filter=invalid'");
    println!(
        "  remove the rows that cannot be imported:  curl -X POST {auth} {base}/admin/api/runs/{id}/remove-invalid"
    );
    println!("  confirm:  curl -X POST {auth} {base}/admin/api/runs/{id}/confirm");
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    dingbridge::logging::init_local();
    let args = Args::parse();
    let admin_token = std::env::var("DINGBRIDGE_ADMIN_TOKEN").ok();
    let mut options = dingbridge_local::Options::new(args.addr, args.data_dir.clone());
    options.public_url = args.public_url.clone();
    options.admin_token = admin_token.clone();
    options.drain_every = Duration::from_secs(args.drain_every.max(1));
    let mut running = dingbridge_local::start(options).await?;
    let base = format!("http://{}", running.addr);
    println!("dingbridge {} is running", env!("CARGO_PKG_VERSION"));
    println!("  data:       {}", args.data_dir.display());
    println!("  health:     {base}/healthz");
    println!("  admin API:  {base}/admin/api/  (Authorization: Bearer <admin token>)");
    println!(
        "  callbacks:  {}/dingtalk/callback/<connector id>",
        running.public_url
    );
    let token = match (&running.new_admin_token, &admin_token) {
        (Some(new), _) => {
            println!("  admin token (shown once, stored hashed): {new}");
            Some(new.clone())
        }
        (None, Some(given)) => Some(given.clone()),
        (None, None) => {
            println!(
                "  admin token: the one printed at the first start (or set DINGBRIDGE_ADMIN_TOKEN)"
            );
            None
        }
    };

    let _demo = match (args.no_demo, token) {
        (false, Some(token)) => {
            match dingbridge_local::demo::start(&base, &token, args.demo_seed).await {
                Ok(demo) => {
                    let sim = demo.sim.base_url();
                    println!("\nDemo: a simulated DingTalk org and a connector syncing it");
                    println!("  simulator:  {sim}  (apps: {sim}/_sim/apps, org: {sim}/_sim/org)");
                    println!(
                        "  connector:  {}  callback: {}",
                        demo.connector_id, demo.callback
                    );
                    println!(
                        "  directory:  curl -H 'Authorization: Bearer {token}' {base}/admin/api/accounts"
                    );
                    println!("  change the org and watch the directory follow, e.g.:");
                    println!(
                        "    curl -X POST {sim}/_sim/depts -H 'Content-Type: application/json' -d '{{\"name\":\"新部门\",\"parent_id\":1}}'"
                    );
                    println!(
                        "    curl -X POST {sim}/_sim/users -H 'Content-Type: application/json' \\"
                    );
                    println!(
                        "      -d '{{\"name\":\"王小明\",\"mobile\":\"13912345678\",\"email\":\"xiaoming@example.com\",\"dept_id_list\":[1]}}'"
                    );
                    if let Some(run) = &demo.run {
                        print_first_pull(run, &base, &token);
                    }
                    Some(demo)
                }
                Err(e) => {
                    eprintln!("the demo could not start: {e:#}");
                    None
                }
            }
        }
        (false, None) => {
            println!(
                "\nNo demo: set DINGBRIDGE_ADMIN_TOKEN to the admin token so the demo can use the admin API."
            );
            None
        }
        (true, _) => None,
    };
    println!("\nPress Ctrl-C to stop.");

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
