//! Logging through `tracing`: JSON on Lambda (driven by Lambda's advanced logging controls, via the
//! runtime's own subscriber), readable lines with timestamps locally.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;

/// On Lambda: `AWS_LAMBDA_LOG_FORMAT=JSON` (set in `template.yaml` Globals) gives JSON lines,
/// `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG` the level.
#[cfg(feature = "lambda")]
pub fn init_lambda() {
    lambda_runtime::tracing::init_default_subscriber();
}

/// Locally: human-readable lines on stderr (stdout is the local binary's banner), `RUST_LOG` for
/// the level (default `info`). Safe to call twice.
pub fn init_local() {
    let filter = EnvFilter::builder()
        .with_default_directive(LevelFilter::INFO.into())
        .from_env_lossy();
    let _ = tracing_subscriber::fmt()
        .with_target(false)
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
