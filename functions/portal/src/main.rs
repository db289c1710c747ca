//! Lambda entry point of `portal`: wiring only.

use std::sync::Arc;

use dingbridge::adapters::dynamodb::{DynamoTable, load_aws_config};
use dingbridge::adapters::secrets_manager::env_with_secrets;
use dingbridge::config::{AwsStorageConfig, ConfigError, data_key};
use dingbridge::ports::{Clock, SystemClock, Table};
use dingbridge::store::sessions::SessionSettings;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    dingbridge::logging::init_lambda();
    let aws = load_aws_config().await;
    let mut env = env_with_secrets(&aws).await?;
    let storage = AwsStorageConfig::read(&mut env);
    // Opens the signing key's private half.
    let secrets = data_key(&mut env);
    let public_url = env
        .required("DINGBRIDGE_PUBLIC_URL")
        .trim_end_matches('/')
        .to_owned();
    if !public_url.is_empty()
        && !public_url.starts_with("https://")
        && !public_url.starts_with("http://")
    {
        env.problem("DINGBRIDGE_PUBLIC_URL", "must be an http(s) URL");
    }
    env.finish()?;
    let secrets = secrets.ok_or_else(ConfigError::no_data_key)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let table: Arc<dyn Table> = Arc::new(DynamoTable::new(
        aws_sdk_dynamodb::Client::new(&aws),
        storage.table_name,
        clock.clone(),
    ));
    let app = portal::router(portal::Deps {
        table,
        clock,
        secrets,
        public_url,
        sessions: SessionSettings::default(),
        throttle: portal::default_throttle(),
    })
    // The sign-in's failure counters count by the caller's address.
    .layer(axum::middleware::map_request(
        dingbridge::oauth::api_gateway_source_ip,
    ));
    lambda_http::run(app).await
}
