//! Parked events are listed with their reasons and re-driven onto the sync queue (group =
//! connector), one by one or all at once; a re-driven event is no longer parked.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use dingbridge::domain::ids::ConnectorId;
use dingbridge::ports::{QueueConsumer, SystemClock};
use dingbridge::store::events::Events;

use crate::support::Env;

#[tokio::test]
async fn parked_events_are_listed_with_reasons_and_redriven() {
    let env = Env::new().await;
    let events = Events::new(env.table.clone(), std::sync::Arc::new(SystemClock));
    let connector = ConnectorId::generate();
    let other = ConnectorId::generate();
    for n in 0..3 {
        events
            .park(
                &connector,
                &format!("{{\"n\":{n}}}"),
                &format!("reason {n}"),
                5,
            )
            .await
            .unwrap();
    }
    events
        .park(&other, "{\"n\":9}", "elsewhere", 1)
        .await
        .unwrap();

    let list = env
        .call(
            Method::GET,
            &format!("/admin/api/parked-events?connector_id={connector}"),
            None,
        )
        .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    let items = list.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["reason"], "reason 0");
    assert!(list.body["next_cursor"].is_null());
    let all = env
        .call(Method::GET, "/admin/api/parked-events", None)
        .await;
    assert_eq!(all.body["items"].as_array().unwrap().len(), 4);

    let first_id = items[0]["id"].as_str().unwrap();
    let one = env
        .call(
            Method::POST,
            &format!("/admin/api/parked-events/{connector}/{first_id}/redrive"),
            None,
        )
        .await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.text);
    assert_eq!(one.body["redriven"], 1);
    let again = env
        .call(
            Method::POST,
            &format!("/admin/api/parked-events/{connector}/{first_id}/redrive"),
            None,
        )
        .await;
    assert_eq!(
        again.status,
        StatusCode::NOT_FOUND,
        "an unparked event is gone"
    );

    let rest = env
        .call(
            Method::POST,
            &format!("/admin/api/parked-events/redrive-all?connector_id={connector}"),
            None,
        )
        .await;
    assert_eq!(rest.status, StatusCode::OK, "{}", rest.text);
    assert_eq!(rest.body["redriven"], 2);
    assert_eq!(rest.body["more"], false);

    let left = env
        .call(
            Method::GET,
            &format!("/admin/api/parked-events?connector_id={connector}"),
            None,
        )
        .await;
    assert!(left.body["items"].as_array().unwrap().is_empty());

    let received = env
        .queue
        .receive(10, Duration::from_secs(30))
        .await
        .unwrap();
    let mut bodies: Vec<_> = received.iter().map(|m| m.body.as_str()).collect();
    bodies.sort_unstable();
    assert_eq!(bodies, ["{\"n\":0}", "{\"n\":1}", "{\"n\":2}"]);
    assert!(received.iter().all(|m| m.group == connector.as_str()));

    let bad = env
        .call(
            Method::GET,
            "/admin/api/parked-events?connector_id=nope",
            None,
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}
