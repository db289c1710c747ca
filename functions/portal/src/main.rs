//! Lambda entry point of `portal`: wiring only.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    portal::lambda::run(portal::router).await
}
