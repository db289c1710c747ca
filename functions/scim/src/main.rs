//! Lambda entry point of `scim`: wiring only.

use std::sync::Arc;

use dingbridge::adapters::dynamodb::{DynamoTable, load_aws_config};
use dingbridge::adapters::sqs::SqsQueue;
use dingbridge::config::{EnvReader, queue_url};
use dingbridge::ports::{Clock, SystemClock};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    dingbridge::logging::init_lambda();
    let mut env = EnvReader::from_env();
    let table_name = env.required("TABLE_NAME");
    let push_queue_url = queue_url(&mut env, "PUSH_QUEUE_URL");
    let public_url = env.required("DINGBRIDGE_PUBLIC_URL");
    if !public_url.is_empty() && !public_url.starts_with("http") {
        env.problem("DINGBRIDGE_PUBLIC_URL", "must be an http(s) URL");
    }
    env.finish()?;
    let aws = load_aws_config().await;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let table = DynamoTable::new(
        aws_sdk_dynamodb::Client::new(&aws),
        table_name,
        clock.clone(),
    );
    let queue = SqsQueue::new(aws_sdk_sqs::Client::new(&aws), push_queue_url);
    let app = scim::router(scim::Deps {
        table: Arc::new(table),
        push_queue: Arc::new(queue),
        clock,
        public_url,
    })
    // The failure counters of Basic authentication count by the caller's address.
    .layer(axum::middleware::map_request(
        dingbridge::oauth::api_gateway_source_ip,
    ));
    lambda_http::run(app).await
}
