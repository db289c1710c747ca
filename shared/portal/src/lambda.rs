//! The Lambda wiring the portal, the QR login and the micro-app login share: configuration from
//! the environment (the data key from Secrets Manager), DynamoDB, the DingTalk client, and the
//! caller's address for the failure counters. Each function's `main` names its router.

use std::sync::Arc;

use axum::Router;
use dingbridge::adapters::dynamodb::{DynamoTable, load_aws_config};
use dingbridge::adapters::secrets_manager::env_with_secrets;
use dingbridge::config::{AwsStorageConfig, ConfigError, data_key};
use dingbridge::dingtalk::{ClientConfig, HttpDingTalk};
use dingbridge::ports::{Clock, SystemClock, Table};
use dingbridge::store::sessions::SessionSettings;

use crate::Deps;

/// Runs `router` (one of [`crate::router`], [`crate::qr_router`], [`crate::micro_router`]) on
/// Lambda behind API Gateway.
pub async fn run(router: fn(Deps) -> Router) -> Result<(), lambda_http::Error> {
    dingbridge::logging::init_lambda();
    let aws = load_aws_config().await;
    let mut env = env_with_secrets(&aws).await?;
    let storage = AwsStorageConfig::read(&mut env);
    // Opens the signing key's private half and the auth sources' secrets.
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
    let app = router(Deps {
        table,
        clock,
        secrets,
        public_url,
        sessions: SessionSettings::default(),
        throttle: crate::default_throttle(),
        dingtalk: Arc::new(HttpDingTalk::new(ClientConfig::default())?),
        jsapi_stand_in: None,
    })
    // The sign-in's failure counters count by the caller's address.
    .layer(axum::middleware::map_request(
        dingbridge::oauth::api_gateway_source_ip,
    ));
    lambda_http::run(app).await
}
