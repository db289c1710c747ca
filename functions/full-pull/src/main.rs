//! Lambda entry point of `full-pull`: wiring only. Pull-queue batches (a run's next step) and
//! the EventBridge tick arrive at the same function; `full_pull::invoke` tells them apart.

use std::sync::Arc;

use dingbridge::adapters::dynamodb::{DynamoTable, load_aws_config};
use dingbridge::adapters::secrets_manager::env_with_secrets;
use dingbridge::adapters::sqs::SqsQueue;
use dingbridge::dingtalk::{ClientConfig, HttpDingTalk};
use dingbridge::ports::{Clock, SystemClock};
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    dingbridge::logging::init_lambda();
    let aws = load_aws_config().await;
    let config = full_pull::Config::from_env(env_with_secrets(&aws).await?)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let table = DynamoTable::new(
        aws_sdk_dynamodb::Client::new(&aws),
        config.table_name,
        clock.clone(),
    );
    let queue = SqsQueue::new(aws_sdk_sqs::Client::new(&aws), config.pull_queue_url);
    let dingtalk = HttpDingTalk::new(ClientConfig::default())?;
    let deps = Arc::new(full_pull::Deps::new(
        Arc::new(table),
        Arc::new(queue),
        Arc::new(dingtalk),
        clock,
        config.secrets,
        config.settings,
    ));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let deps = deps.clone();
        async move {
            full_pull::invoke(&deps, event.payload)
                .await
                .map_err(lambda_runtime::Error::from)
        }
    }))
    .await
}
