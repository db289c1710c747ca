//! Lambda entry point of `push-worker`: wiring only. Push-queue batches and the sweeper's
//! schedule arrive at the same function; `push_worker::invoke` tells them apart.

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
    let config = push_worker::Config::from_env(env_with_secrets(&aws).await?)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let table = DynamoTable::new(
        aws_sdk_dynamodb::Client::new(&aws),
        config.table_name,
        clock.clone(),
    );
    let queue = SqsQueue::new(aws_sdk_sqs::Client::new(&aws), config.push_queue_url);
    let dingtalk = HttpDingTalk::new(ClientConfig::default())?;
    let deps = Arc::new(push_worker::Deps::new(
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
            push_worker::invoke(&deps, event.payload)
                .await
                .map_err(lambda_runtime::Error::from)
        }
    }))
    .await
}
