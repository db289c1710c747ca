//! Lambda entry point of `micro-app-login`: `/authenticate/ddMicro/…`. The flow lives in the
//! portal library (`portal::micro_router`): it signs people in with the portal's sessions and
//! enters apps the way the portal does.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    portal::lambda::run(portal::micro_router).await
}
