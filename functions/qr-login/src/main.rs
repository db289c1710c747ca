//! Lambda entry point of `qr-login`: `/authenticate/ddtalk/…` and `/authenticate/bind`. The flow
//! lives in the portal library (`portal::qr_router`): it signs people in with the portal's
//! sessions and pages.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    portal::lambda::run(portal::qr_router).await
}
