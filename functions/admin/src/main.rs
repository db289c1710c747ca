//! Lambda entry point of `admin`: wiring only.

use std::sync::Arc;

use dingbridge::adapters::dynamodb::{DynamoTable, load_aws_config};
use dingbridge::adapters::secrets_manager::env_with_secrets;
use dingbridge::adapters::sqs::SqsQueue;
use dingbridge::dingtalk::{ClientConfig, HttpDingTalk};
use dingbridge::ports::{Clock, SystemClock, Table};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    dingbridge::logging::init_lambda();
    let aws = load_aws_config().await;
    let config = admin::Config::read(env_with_secrets(&aws).await?)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let table: Arc<dyn Table> = Arc::new(DynamoTable::new(
        aws_sdk_dynamodb::Client::new(&aws),
        config.table_name.clone(),
        clock.clone(),
    ));
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let queue = SqsQueue::new(sqs.clone(), config.sync_queue_url.clone());
    let pull_queue = SqsQueue::new(sqs.clone(), config.pull_queue_url.clone());
    let push_queue = SqsQueue::new(sqs, config.push_queue_url.clone());
    // On Lambda the first token comes from the deployment's secret; none is generated here,
    // because a generated one could only be shown in the logs.
    match config.admin_token.clone() {
        Some(token) => {
            admin::bootstrap_admin_token(table.clone(), clock.clone(), Some(token)).await?;
        }
        None => tracing::warn!("DINGBRIDGE_ADMIN_TOKEN is not set: only stored tokens work"),
    }
    let app = admin::router(admin::Deps {
        table,
        sync_queue: Arc::new(queue),
        pull_queue: Arc::new(pull_queue),
        push_queue: Arc::new(push_queue),
        dingtalk: Arc::new(HttpDingTalk::new(ClientConfig::default())?),
        clock,
        secrets: config.secrets,
        public_base_url: config.public_base_url,
    });
    lambda_http::run(app).await
}
