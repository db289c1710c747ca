//! `bench`: the benchmarks behind docs/BENCHMARKS.md. Each subcommand prints a Markdown table of
//! medians measured in one run, so ratios between engines are taken on the same machine state.

mod callback;
mod coldstart;
mod console;
mod dingtalk_client;
mod dingtalk_login;
mod initial_push;
mod local;
mod plan;
mod portal;
mod pull;
mod push;
mod scim;
mod simulator;
mod table;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "bench")]
struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, Subcommand)]
enum What {
    /// Table engines side by side: conditional put, get, query-100, transaction-of-10, batch writes,
    /// and this disk's own fsync rate. DynamoDB-on-moto is included when built with `--features aws`
    /// and `AWS_ENDPOINT_URL` is set.
    Table {
        /// Operations per measured round.
        #[arg(long, default_value_t = 2000)]
        ops: usize,
        /// Rounds; the median round is reported.
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        /// Directory for the embedded store and the fsync probe (default: a temp dir under ./target).
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
    /// The DingTalk client against the simulator at 20 QPS per API and 30 ms latency: calls/s on
    /// one API and on two at once, and the 90018 answers that reached the caller.
    DingtalkClient {
        /// Length of each measured phase.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
    },
    /// DingTalk callbacks through the local server: latency at a fixed rate, sustained requests/s
    /// (embedded engines; moto too with `--features aws` and `AWS_ENDPOINT_URL`), and the time from
    /// a change in the simulated org to the directory.
    Callback {
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long, default_value_t = 1000)]
        rate: u64,
        #[arg(long, default_value_t = 50_000)]
        max_requests: usize,
        #[arg(long, default_value_t = 200)]
        changes: usize,
    },
    /// Full-pull validation and plan: `rows` staged users against a directory of as many accounts.
    Plan {
        #[arg(long, default_value_t = 100_000)]
        rows: usize,
    },
    /// One full pull through to review against the simulator at `qps` per API and `latency_ms`
    /// per call: wall time against the rate-limit lower bound, and (with `--naive true`) against a
    /// naive sequential pull measured in the same run.
    Pull(pull::Args),
    /// Cold start per Lambda function: each release binary against a loopback Lambda Runtime
    /// API, exec → first `GET /runtime/invocation/next` (needs `--features aws` and moto at
    /// `AWS_ENDPOINT_URL` for the secrets).
    ColdStart(coldstart::Args),
    /// The outbound push on the embedded engines: the directory write API at a fixed rate outside
    /// and inside a push root, and the latency from an admin's write to the simulated DingTalk.
    Push(push::Args),
    /// The initial push of a subtree built before the push was enabled (default 2,000 accounts
    /// in 150 departments, 5 levels) in auto mode against the simulator at 20 calls/s per API
    /// and 30 ms per call: plan and apply times, the apply against the rate-limit bound, and the
    /// same push one entity at a time.
    InitialPush(initial_push::Args),
    /// The SCIM server on the embedded engines: create and userName lookups at a fixed rate and
    /// closed-loop, the token endpoint, and SCIM create → the simulated DingTalk.
    Scim(scim::Args),
    /// The portal and OpenID provider on the embedded engines: password sign-ins/s and token
    /// redemptions/s (argon2id), the authorize → token → userinfo round trip's latency, and RS256
    /// id_token signing in-process.
    Portal(portal::Args),
    /// The DingTalk QR login's forward step on the embedded engines: our server's time (state,
    /// code exchange, unionid lookup, binding, session) with the simulator's time subtracted.
    DingtalkLogin(dingtalk_login::Args),
    /// The console's directory page on the embedded engines: the reads that draw the org tree
    /// (every unit and account with DingTalk ids and push state), with a pushing connector and
    /// without.
    Console(console::Args),
    /// The simulator's own throughput with every limit off.
    Simulator {
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    match args.what {
        What::Table { ops, rounds, dir } => table::run(ops, rounds, dir).await,
        What::DingtalkClient { seconds } => {
            let report = dingtalk_client::run(seconds).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        What::Callback {
            seconds,
            rate,
            max_requests,
            changes,
        } => {
            let report = callback::run(seconds, rate, max_requests, changes).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        What::Plan { rows } => {
            let report = plan::run(rows)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        What::Pull(args) => {
            let report = pull::run(args).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        What::Push(args) => {
            let report = push::run(args).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        What::Console(args) => {
            let report = console::run(args).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        What::InitialPush(args) => {
            let report = initial_push::run(args).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        What::Scim(args) => {
            let report = scim::run(args).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        What::Portal(args) => {
            let report = portal::run(args).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        What::DingtalkLogin(args) => {
            let report = dingtalk_login::run(args).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        What::ColdStart(args) => {
            let report = coldstart::run(args).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        What::Simulator {
            seconds,
            concurrency,
        } => {
            let report = simulator::run(seconds, concurrency).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
    }
}
