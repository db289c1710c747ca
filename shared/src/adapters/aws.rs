//! What the AWS engines share: the SDK configuration.

/// The SDK configuration from the environment: region, credentials, and `AWS_ENDPOINT_URL`, which
/// the SDK honours itself (that is how tests and `infra/local` reach a local emulator).
pub async fn load_aws_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}
