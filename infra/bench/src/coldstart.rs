//! Cold start per Lambda function: each release binary is started against a minimal Lambda
//! Runtime API on loopback, and the time from exec to its first `GET
//! /2018-06-01/runtime/invocation/next` is its init. Every function is started with the secret
//! values in its environment (init makes no network call), and the functions that read secrets
//! again with the secrets' ARNs (init reads them from Secrets Manager, served by moto at
//! `AWS_ENDPOINT_URL`; the admin function also checks its bootstrap token in DynamoDB). The
//! difference between the two is what those calls add on loopback; on Lambda each is a round
//! trip inside the region instead.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where the release binaries are (`cargo build --release --bins` puts them in
    /// `target/release`).
    #[arg(long, default_value = "target/release")]
    pub bins: PathBuf,
    /// Starts per function and variant; the median is reported.
    #[arg(long, default_value_t = 9)]
    pub starts: usize,
}

/// The functions, and whether their init reads secrets.
const FUNCTIONS: [(&str, Secrets); 5] = [
    ("health", Secrets::None),
    ("dingtalk-callback", Secrets::DataKey),
    ("sync-worker", Secrets::DataKey),
    ("full-pull", Secrets::DataKey),
    ("admin", Secrets::DataKeyAndAdminToken),
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Secrets {
    None,
    DataKey,
    DataKeyAndAdminToken,
}

/// The values a deployment gives its functions; the ARNs once created on the endpoint.
struct Deployment {
    endpoint: String,
    table: String,
    data_key: String,
    admin_token: String,
    data_key_arn: String,
    admin_token_arn: String,
}

pub async fn run(args: Args) -> anyhow::Result<Value> {
    let deployment = deploy().await?;
    let mut report = Vec::new();
    for (name, secrets) in FUNCTIONS {
        let bin = args.bins.join(name);
        let size = std::fs::metadata(&bin)
            .with_context(|| format!("{}: build the release binaries first", bin.display()))?
            .len();
        let mut variants = Vec::new();
        let mut no_network = deployment.env(name, false);
        if secrets == Secrets::DataKeyAndAdminToken {
            // Without a bootstrap token, admin's init makes no call at all.
            no_network.retain(|(k, _)| k != "DINGBRIDGE_ADMIN_TOKEN");
        }
        variants.push(("no network call", no_network));
        if secrets != Secrets::None {
            variants.push((
                match secrets {
                    Secrets::DataKey => "1 × GetSecretValue",
                    _ => "2 × GetSecretValue (concurrent) + DynamoDB GetItem",
                },
                deployment.env(name, true),
            ));
        }
        let mut measured = Vec::new();
        for (variant, env) in variants {
            let mut times = Vec::with_capacity(args.starts);
            for _ in 0..args.starts {
                times.push(start_once(&bin, &env).await?);
            }
            measured.push(summary(variant, &mut times));
        }
        report.push(json!({
            "function": name,
            "binary_bytes": size,
            "binary_mb": (size as f64 / 1e6 * 100.0).round() / 100.0,
            "init": measured,
        }));
    }
    Ok(json!({ "starts": args.starts, "functions": report }))
}

fn summary(variant: &str, times: &mut [Duration]) -> Value {
    times.sort();
    let ms = |d: Duration| (d.as_secs_f64() * 1e4).round() / 10.0;
    json!({
        "variant": variant,
        "median_ms": ms(times[times.len() / 2]),
        "min_ms": ms(times[0]),
        "max_ms": ms(times[times.len() - 1]),
    })
}

impl Deployment {
    /// The environment Lambda would give function `name` (as `template.yaml` configures it):
    /// the secrets' ARNs when `arns`, else their values.
    fn env(&self, name: &str, arns: bool) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = [
            ("AWS_LAMBDA_FUNCTION_NAME", name),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench"),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "bench"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_ENDPOINT_URL", &self.endpoint),
            ("MALLOC_ARENA_MAX", "2"),
            ("TABLE_NAME", &self.table),
            (
                "SYNC_QUEUE_URL",
                "http://127.0.0.1:9/000000000000/sync.fifo",
            ),
            (
                "PULL_QUEUE_URL",
                "http://127.0.0.1:9/000000000000/pull.fifo",
            ),
            (
                "PUSH_QUEUE_URL",
                "http://127.0.0.1:9/000000000000/push.fifo",
            ),
            ("DINGBRIDGE_PUBLIC_URL", "https://dingbridge.example"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let mut secret = |var: &str, arn_var: &str, value: &str, arn: &str| {
            if arns {
                env.push((arn_var.to_owned(), arn.to_owned()));
            } else {
                env.push((var.to_owned(), value.to_owned()));
            }
        };
        if name != "health" {
            secret(
                "DINGBRIDGE_DATA_KEY",
                "DINGBRIDGE_DATA_KEY_SECRET_ARN",
                &self.data_key,
                &self.data_key_arn,
            );
        }
        if name == "admin" {
            secret(
                "DINGBRIDGE_ADMIN_TOKEN",
                "DINGBRIDGE_ADMIN_TOKEN_SECRET_ARN",
                &self.admin_token,
                &self.admin_token_arn,
            );
        }
        env
    }
}

/// The table and the two secrets, on the endpoint at `AWS_ENDPOINT_URL` (moto).
#[cfg(feature = "aws")]
async fn deploy() -> anyhow::Result<Deployment> {
    use dingbridge::adapters::{dynamodb, secrets_manager};
    let endpoint = std::env::var("AWS_ENDPOINT_URL").map_err(|_| {
        anyhow!("set AWS_ENDPOINT_URL to a moto server (DynamoDB, Secrets Manager)")
    })?;
    let config = dynamodb::load_aws_config().await;
    let table = format!("coldstart-{}", uuid::Uuid::new_v4().simple());
    dynamodb::create_table(&dynamodb::sdk::Client::new(&config), &table)
        .await
        .map_err(|e| anyhow!("creating the table: {e}"))?;
    let sm = secrets_manager::sdk::Client::new(&config);
    let data_key = dingbridge::secrets::SecretBox::generate_key()
        .as_str()
        .to_owned();
    let admin_token = format!("{}{}", admin::TOKEN_PREFIX, uuid::Uuid::new_v4().simple());
    let mut arns = Vec::new();
    for (what, value) in [("data-key", &data_key), ("admin-token", &admin_token)] {
        let created = sm
            .create_secret()
            .name(format!("{table}-{what}"))
            .secret_string(value.as_str())
            .send()
            .await
            .map_err(|e| anyhow!("creating the {what} secret: {e:?}"))?;
        arns.push(created.arn().unwrap_or_default().to_owned());
    }
    let [data_key_arn, admin_token_arn] =
        <[String; 2]>::try_from(arns).map_err(|_| anyhow!("two secrets were created"))?;
    Ok(Deployment {
        endpoint,
        table,
        data_key,
        admin_token,
        data_key_arn,
        admin_token_arn,
    })
}

#[cfg(not(feature = "aws"))]
async fn deploy() -> anyhow::Result<Deployment> {
    bail!("build the bench with `--features aws`: the cold start needs moto for its secrets")
}

/// One start of `bin`: exec → its first `GET …/runtime/invocation/next`. The binary is killed
/// then (it would wait for an invocation forever).
async fn start_once(bin: &Path, env: &[(String, String)]) -> anyhow::Result<Duration> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let api = listener.local_addr()?.to_string();
    let mut command = tokio::process::Command::new(bin);
    command
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("AWS_LAMBDA_RUNTIME_API", &api)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let started = Instant::now();
    let mut child = command.spawn().with_context(|| bin.display().to_string())?;
    let mut stderr = child.stderr.take();
    let outcome = tokio::select! {
        asked = first_next(&listener, started) => asked,
        status = child.wait() => {
            let mut text = String::new();
            if let Some(s) = stderr.as_mut() {
                let _ = s.read_to_string(&mut text).await;
            }
            Err(anyhow!("{} exited ({status:?}) before asking for an invocation: {text}", bin.display()))
        }
        () = tokio::time::sleep(Duration::from_secs(20)) => {
            Err(anyhow!("{} asked for no invocation within 20 s", bin.display()))
        }
    };
    let _ = child.kill().await;
    outcome
}

/// Serves the runtime API until the binary asks for its first invocation; an init error it
/// reports ends the start with that error.
async fn first_next(listener: &TcpListener, started: Instant) -> anyhow::Result<Duration> {
    loop {
        let (mut socket, _) = listener.accept().await?;
        let mut request = Vec::new();
        let mut chunk = [0u8; 4096];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = socket.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            request.extend_from_slice(&chunk[..n]);
        }
        let text = String::from_utf8_lossy(&request);
        let line = text.lines().next().unwrap_or_default().to_owned();
        if line.starts_with("GET ") && line.contains("/runtime/invocation/next") {
            return Ok(started.elapsed());
        }
        if line.contains("/runtime/init/error") {
            bail!("init failed: {text}");
        }
        socket
            .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
            .await?;
    }
}
