//! End-to-end flows: one test binary with a module per flow (keeps link time down).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod console;
mod demo;
mod dingtalk_client;
mod dingtalk_login;
mod full_pull;
mod incremental;
mod local;
mod portal;
mod pull;
mod push;
mod scim;
mod system;

/// DynamoDB and SQS on the moto endpoint that `infra/test.sh` starts: a fresh table and FIFO
/// queue pair per test. A missing endpoint fails the test, never skips it.
#[cfg(feature = "aws")]
pub async fn aws_engines() -> (
    std::sync::Arc<dyn dingbridge::ports::Table>,
    std::sync::Arc<dingbridge::adapters::sqs::SqsQueue>,
) {
    use dingbridge::adapters::{dynamodb, sqs};
    use std::sync::Arc;
    assert!(
        std::env::var("DINGBRIDGE_TEST_AWS_ENDPOINT").is_ok(),
        "DINGBRIDGE_TEST_AWS_ENDPOINT is not set: run infra/test.sh, which starts moto"
    );
    let config = dynamodb::load_aws_config().await;
    let name = format!("e2e-{}", uuid::Uuid::new_v4().simple());
    let ddb = dynamodb::sdk::Client::new(&config);
    dynamodb::create_table(&ddb, &name).await.unwrap();
    let sqs_client = sqs::sdk::Client::new(&config);
    let (url, dlq) = sqs::create_fifo_queue_with_dlq(&sqs_client, &name, 5, 30)
        .await
        .unwrap();
    let table = Arc::new(dynamodb::DynamoTable::new(
        ddb,
        name,
        Arc::new(dingbridge::ports::SystemClock),
    ));
    let queue = Arc::new(sqs::SqsQueue::new(sqs_client, url).with_dead_letter_queue(dlq));
    (table, queue)
}

/// One more FIFO queue pair on moto (e.g. the pull queue), named after `what`.
#[cfg(feature = "aws")]
pub async fn aws_queue(what: &str) -> std::sync::Arc<dingbridge::adapters::sqs::SqsQueue> {
    use dingbridge::adapters::{dynamodb, sqs};
    let config = dynamodb::load_aws_config().await;
    let client = sqs::sdk::Client::new(&config);
    let name = format!("e2e-{what}-{}", uuid::Uuid::new_v4().simple());
    let (url, dlq) = sqs::create_fifo_queue_with_dlq(&client, &name, 5, 120)
        .await
        .unwrap();
    std::sync::Arc::new(sqs::SqsQueue::new(client, url).with_dead_letter_queue(dlq))
}
