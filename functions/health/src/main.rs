//! Lambda entry point of `health`: wiring only.

use std::sync::Arc;

use dingbridge::adapters::dynamodb::{DynamoTable, load_aws_config};
use dingbridge::config::{AwsStorageConfig, EnvReader};
use dingbridge::ports::SystemClock;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    dingbridge::logging::init_lambda();
    let mut env = EnvReader::from_env();
    let storage = AwsStorageConfig::read(&mut env);
    env.finish()?;
    let aws = load_aws_config().await;
    let table = DynamoTable::new(
        aws_sdk_dynamodb::Client::new(&aws),
        storage.table_name,
        Arc::new(SystemClock),
    );
    let app = health::router(health::Deps {
        table: Arc::new(table),
        queue_engine: "sqs",
    });
    lambda_http::run(app).await
}
