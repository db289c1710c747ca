//! Lambda entry point of `oauth-token`: wiring only.

use std::sync::Arc;

use dingbridge::adapters::dynamodb::{DynamoTable, load_aws_config};
use dingbridge::adapters::secrets_manager::env_with_secrets;
use dingbridge::ports::{Clock, SystemClock, Table};
use dingbridge::store::throttle::ThrottleSettings;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    dingbridge::logging::init_lambda();
    let aws = load_aws_config().await;
    let config = oauth_token::Config::read(env_with_secrets(&aws).await?)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let table: Arc<dyn Table> = Arc::new(DynamoTable::new(
        aws_sdk_dynamodb::Client::new(&aws),
        config.table_name.clone(),
        clock.clone(),
    ));
    let app = oauth_token::router(oauth_token::Deps {
        table,
        clock,
        secrets: config.secrets,
        public_url: config.public_url,
        throttle: ThrottleSettings::default(),
    })
    .layer(axum::middleware::map_request(
        dingbridge::oauth::api_gateway_source_ip,
    ));
    lambda_http::run(app).await
}
