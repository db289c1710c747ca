//! The contract on DynamoDB and SQS, over the wire, against the endpoint `infra/test.sh` exports.
//! Missing endpoint = failure, never a silent skip.

use std::sync::Arc;

use dingbridge::adapters::dynamodb::{DynamoTable, create_table, load_aws_config};
use dingbridge::adapters::sqs::{SqsQueue, create_fifo_queue_with_dlq};
use dingbridge::ports::{Cond, Item, Key, SystemClock, Table};

use crate::queue::{MAX_RECEIVES, QueueUnderTest};

/// The endpoint, or a failure that says how to get one.
pub fn endpoint() -> String {
    std::env::var("DINGBRIDGE_TEST_AWS_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "DINGBRIDGE_TEST_AWS_ENDPOINT is not set: the DynamoDB/SQS contract tests need the moto \
             endpoint that infra/test.sh starts. Run infra/test.sh (or plain `cargo test` without \
             --features aws for the embedded engines only)."
        )
    })
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

pub struct Fixture {
    pub table: Arc<dyn Table>,
    pub table_name: String,
}

pub async fn table_fixture() -> Fixture {
    let _ = endpoint();
    let config = load_aws_config().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let name = unique("contract");
    create_table(&client, &name).await.unwrap();
    Fixture {
        table: Arc::new(DynamoTable::new(
            client,
            name.clone(),
            Arc::new(SystemClock),
        )),
        table_name: name,
    }
}

pub struct QueueFixture {
    queue: QueueUnderTest,
}

impl QueueFixture {
    pub fn queue(self) -> QueueUnderTest {
        self.queue
    }
}

pub async fn queue_fixture() -> QueueFixture {
    let _ = endpoint();
    let config = load_aws_config().await;
    let client = aws_sdk_sqs::Client::new(&config);
    let (url, dlq) = create_fifo_queue_with_dlq(&client, &unique("contract"), MAX_RECEIVES, 30)
        .await
        .unwrap();
    let q = Arc::new(SqsQueue::new(client, url).with_dead_letter_queue(dlq));
    QueueFixture {
        queue: QueueUnderTest {
            queue: q.clone(),
            consumer: q,
        },
    }
}

mod cases {
    use super::{queue_fixture, table_fixture};
    contract_cases!(table_fixture, queue_fixture);
}

/// Speaks to moto with bare HTTP/1.0 requests, so the proof does not go through the SDK whose use
/// it checks. moto does not verify signatures; the credential scope only picks the region.
async fn moto_http(method: &str, path: &str, headers: &str, body: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let endpoint = endpoint();
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.0\r\nHost: {host}\r\n{headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test]
async fn dynamodb_tests_really_reach_the_moto_endpoint() {
    let fixture = table_fixture().await;
    let key = Key::new("PROOF", uuid::Uuid::new_v4().to_string());
    fixture
        .table
        .put(
            Item::new(
                key.clone(),
                1,
                serde_json::json!({"proof": "written-through-the-port"}),
            ),
            Cond::Absent,
        )
        .await
        .unwrap();
    assert_eq!(fixture.table.engine(), "dynamodb");
    // moto's own inventory lists the table ...
    let inventory = moto_http("GET", "/moto-api/data.json", "", "").await;
    assert!(inventory.starts_with("HTTP/1."), "{inventory}");
    assert!(
        inventory.contains(&fixture.table_name),
        "the table is not in moto's inventory"
    );
    // ... and a raw GetItem on the wire returns the item the port wrote.
    let body = serde_json::json!({
        "TableName": fixture.table_name,
        "Key": {"pk": {"S": key.pk}, "sk": {"S": key.sk}},
    })
    .to_string();
    let headers = "Content-Type: application/x-amz-json-1.0\r\n\
        X-Amz-Target: DynamoDB_20120810.GetItem\r\n\
        Authorization: AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/dynamodb/aws4_request, \
        SignedHeaders=host, Signature=0\r\n";
    let response = moto_http("POST", "/", headers, &body).await;
    assert!(
        response.starts_with("HTTP/1.0 200") || response.starts_with("HTTP/1.1 200"),
        "{response}"
    );
    assert!(
        response.contains("written-through-the-port"),
        "moto does not hold the item: {response}"
    );
}

/// Secrets in moto's Secrets Manager, read by ARN; an unreadable one is the ARN of a secret deleted
/// without recovery.
async fn secrets_fixture(setup: crate::secrets::Setup) -> Arc<dyn dingbridge::ports::Secrets> {
    use dingbridge::adapters::secrets_manager::{SecretsManager, sdk};
    let _ = endpoint();
    let client = sdk::Client::new(&load_aws_config().await);
    let mut arns = std::collections::BTreeMap::new();
    for (which, value) in setup.kept {
        arns.insert(which, create_secret(&client, &value).await);
    }
    for which in setup.unreadable {
        let arn = create_secret(&client, "soon gone").await;
        client
            .delete_secret()
            .secret_id(&arn)
            .force_delete_without_recovery(true)
            .send()
            .await
            .unwrap();
        arns.insert(which, arn);
    }
    Arc::new(SecretsManager::new(client, arns))
}

async fn create_secret(
    client: &dingbridge::adapters::secrets_manager::sdk::Client,
    value: &str,
) -> String {
    let created = client
        .create_secret()
        .name(unique("secret"))
        .secret_string(value)
        .send()
        .await
        .unwrap();
    created.arn().unwrap().to_owned()
}

mod secrets_cases {
    use super::secrets_fixture;
    secrets_cases!(secrets_fixture);
}

/// The functions' secrets come from Secrets Manager by ARN (moto's endpoint here): the value lands
/// in the configuration reader and never in the process environment, a missing secret is an error
/// naming it, and a variable set both ways is refused.
#[tokio::test]
async fn secrets_named_by_arn_are_read_into_the_configuration_only() {
    use dingbridge::adapters::secrets_manager::{
        SecretReadError, SecretsManager, resolve_secrets, sdk,
    };
    use dingbridge::config::EnvReader;
    use dingbridge::ports::DeploymentSecret;
    let _ = endpoint();
    let client = sdk::Client::new(&load_aws_config().await);
    let arn = create_secret(&client, "the-data-key-value").await;

    let mut env = EnvReader::from_pairs([("DINGBRIDGE_DATA_KEY_SECRET_ARN", arn.as_str())]);
    let secrets = SecretsManager::from_env(client.clone(), &env);
    resolve_secrets(&secrets, &mut env).await.unwrap();
    assert_eq!(
        env.optional("DINGBRIDGE_DATA_KEY").as_deref(),
        Some("the-data-key-value")
    );
    assert!(
        std::env::var("DINGBRIDGE_DATA_KEY").is_err(),
        "the value must not reach the process environment"
    );
    assert_eq!(env.optional("DINGBRIDGE_ADMIN_TOKEN"), None);

    let missing = format!("{arn}-gone");
    let mut env = EnvReader::from_pairs([("DINGBRIDGE_DATA_KEY_SECRET_ARN", missing.as_str())]);
    let secrets = SecretsManager::from_env(client.clone(), &env);
    match resolve_secrets(&secrets, &mut env).await.unwrap_err() {
        SecretReadError::Read(err) => {
            assert_eq!(err.secret, DeploymentSecret::DataKey);
            assert_eq!(err.location, missing);
            assert!(err.to_string().contains("ResourceNotFound"), "{err}");
        }
        other => panic!("expected a read error, got {other}"),
    }

    let mut env = EnvReader::from_pairs([
        ("DINGBRIDGE_DATA_KEY_SECRET_ARN", arn.as_str()),
        ("DINGBRIDGE_DATA_KEY", "another"),
    ]);
    let secrets = SecretsManager::from_env(client, &env);
    let err = resolve_secrets(&secrets, &mut env).await.unwrap_err();
    assert!(err.to_string().contains("both"), "{err}");
    assert!(!err.to_string().contains("the-data-key-value"));
}
