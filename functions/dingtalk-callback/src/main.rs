//! Lambda entry point of `dingtalk-callback`: wiring only.

use std::sync::Arc;

use dingbridge::adapters::dynamodb::{DynamoTable, load_aws_config};
use dingbridge::adapters::secrets_manager::env_with_secrets;
use dingbridge::adapters::sqs::SqsQueue;
use dingbridge::config::{AwsStorageConfig, ConfigError, data_key, queue_url};
use dingbridge::ports::{Clock, SystemClock};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    dingbridge::logging::init_lambda();
    let aws = load_aws_config().await;
    let mut env = env_with_secrets(&aws).await?;
    let storage = AwsStorageConfig::read(&mut env);
    let sync_queue_url = queue_url(&mut env, "SYNC_QUEUE_URL");
    let secrets = data_key(&mut env);
    env.finish()?;
    let secrets = secrets.ok_or_else(ConfigError::no_data_key)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let dynamo = aws_sdk_dynamodb::Client::new(&aws);
    let table = Arc::new(DynamoTable::new(dynamo, storage.table_name, clock.clone()));
    let queue = Arc::new(SqsQueue::new(
        aws_sdk_sqs::Client::new(&aws),
        sync_queue_url,
    ));
    let deps = dingtalk_callback::Deps::new(table, queue, clock, secrets);
    lambda_http::run(dingtalk_callback::router(deps)).await
}
