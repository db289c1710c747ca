//! `bench`: the benchmarks behind docs/BENCHMARKS.md. Each subcommand prints a Markdown table of
//! medians measured in one run, so ratios between engines are taken on the same machine state.

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
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    match args.what {
        What::Table { ops, rounds, dir } => table::run(ops, rounds, dir).await,
    }
}
