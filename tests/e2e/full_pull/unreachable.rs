//! DingTalk out of reach where the walk begins (connection refused): the run fails with the
//! cause and the host it tried, and never offers an empty review. A department failing further
//! down only makes the snapshot partial (`partial.rs`).

use axum::http::{Method, StatusCode};

use crate::full_pull::support::{Engine, Options, small_org, world};

on_engines!(a_pull_that_cannot_reach_dingtalk_fails_naming_the_host);

async fn a_pull_that_cannot_reach_dingtalk_fails_naming_the_host(engine: Engine) {
    let w = world(engine, small_org(), Options::default()).await;
    // A loopback port nobody listens on: bound, then let go.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let c = w.connector_at(&format!("http://{closed}")).await;
    let (status, body) = w
        .api(Method::POST, &format!("/connectors/{}/pull", c.id))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    w.drain(1000).await;

    let run = w.run(&id).await;
    assert_eq!(run["state"], "failed", "{run}");
    assert_eq!(run["failed_during"], "pulling", "{run}");
    let errors = run["errors"].to_string();
    assert!(errors.contains("unreachable"), "{errors}");
    assert!(errors.contains(&closed.to_string()), "{errors}");
    assert!(!errors.contains("elsewhere-secret"), "{errors}");
    assert!(w.all(&format!("/runs/{id}/rows")).await.is_empty());
    // The connector is free for the next pull once the cause is fixed.
    let (status, body) = w
        .api(Method::POST, &format!("/connectors/{}/pull", c.id))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
}
