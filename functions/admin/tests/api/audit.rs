//! The audit log: one entity's history, or everything, newest first, paged, filtered by origin
//! and time; a wrong kind or filter is a 400 that says what is allowed.

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use dingbridge::domain::directory::Origin;
use dingbridge::ports::SystemClock;
use dingbridge::store::Actor;
use dingbridge::store::directory::{Directory, NewOrgUnit};
use serde_json::{Value, json};

use crate::support::Env;

/// Three admin changes and one from a DingTalk pull, in this order.
async fn some_history(env: &Env) {
    env.create_connector(env.connector_input()).await;
    let policy = env
        .call(
            Method::PUT,
            "/admin/api/settings/password-policy",
            Some(json!({"min_length": 12})),
        )
        .await;
    assert_eq!(policy.status, StatusCode::OK, "{}", policy.text);
    let directory = Directory::new(env.table.clone(), Arc::new(SystemClock));
    let root = directory.ensure_root().await.unwrap();
    directory
        .create_org_unit(
            NewOrgUnit {
                scim: None,
                name: "Sales".into(),
                parent_id: root.id,
                order: 1,
            },
            &Actor::new(Origin::DingtalkPull, "test"),
        )
        .await
        .unwrap();
}

fn items(answer: &Value) -> Vec<Value> {
    answer["items"].as_array().cloned().unwrap_or_default()
}

fn kinds(list: &[Value]) -> Vec<String> {
    list.iter()
        .map(|e| e["entity_kind"].as_str().unwrap().to_owned())
        .collect()
}

/// RFC 3339 with milliseconds, UTC.
fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[tokio::test]
async fn the_whole_log_is_listed_newest_first_and_pages_to_the_end() {
    let env = Env::new().await;
    some_history(&env).await;
    let all = env.call(Method::GET, "/admin/api/audit", None).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.text);
    let all = items(&all.body);
    let at: Vec<i64> = all.iter().map(|e| e["at_ms"].as_i64().unwrap()).collect();
    assert!(at.windows(2).all(|w| w[0] >= w[1]), "newest first: {at:?}");
    let kinds_seen = kinds(&all);
    for kind in ["connector", "settings", "org_unit"] {
        assert!(
            kinds_seen.contains(&kind.to_owned()),
            "{kind}: {kinds_seen:?}"
        );
    }
    assert_eq!(kinds_seen[0], "org_unit", "the latest change comes first");

    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..all.len() + 1 {
        let path = match &cursor {
            Some(c) => format!("/admin/api/audit?limit=1&cursor={c}"),
            None => "/admin/api/audit?limit=1".to_owned(),
        };
        let page = env.call(Method::GET, &path, None).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        let page_items = items(&page.body);
        assert!(page_items.len() <= 1);
        paged.extend(page_items);
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(paged, all, "paging yields every entry once, in order");
}

#[tokio::test]
async fn the_log_filters_by_origin_and_by_time() {
    let env = Env::new().await;
    some_history(&env).await;
    let pulled = env
        .call(Method::GET, "/admin/api/audit?origin=dingtalk-pull", None)
        .await;
    assert_eq!(pulled.status, StatusCode::OK, "{}", pulled.text);
    let pulled = items(&pulled.body);
    assert!(!pulled.is_empty());
    assert!(
        pulled.iter().all(|e| e["origin"] == "dingtalk-pull"),
        "{pulled:?}"
    );
    let admin = items(
        &env.call(Method::GET, "/admin/api/audit?origin=admin", None)
            .await
            .body,
    );
    assert!(admin.iter().all(|e| e["origin"] == "admin"));
    assert!(kinds(&admin).contains(&"connector".to_owned()));
    let scim = env
        .call(Method::GET, "/admin/api/audit?origin=scim", None)
        .await;
    assert_eq!(items(&scim.body), Vec::<Value>::new());

    let all = items(&env.call(Method::GET, "/admin/api/audit", None).await.body);
    let newest = all[0]["at_ms"].as_i64().unwrap();
    let oldest = all.last().unwrap()["at_ms"].as_i64().unwrap();
    let since = env
        .call(
            Method::GET,
            &format!("/admin/api/audit?since={}", rfc3339(newest)),
            None,
        )
        .await;
    assert_eq!(since.status, StatusCode::OK, "{}", since.text);
    let since = items(&since.body);
    assert!(!since.is_empty());
    assert!(since.iter().all(|e| e["at_ms"].as_i64().unwrap() >= newest));
    let until = items(
        &env.call(
            Method::GET,
            &format!("/admin/api/audit?until={}", rfc3339(oldest)),
            None,
        )
        .await
        .body,
    );
    assert!(until.is_empty(), "until is exclusive: {until:?}");
    let window = items(
        &env.call(
            Method::GET,
            &format!(
                "/admin/api/audit?since={}&until={}",
                rfc3339(oldest),
                rfc3339(newest + 1)
            ),
            None,
        )
        .await
        .body,
    );
    assert_eq!(window, all);
}

#[tokio::test]
async fn an_entity_history_answers_and_a_wrong_kind_or_filter_says_what_is_allowed() {
    let env = Env::new().await;
    let created = env.create_connector(env.connector_input()).await;
    let id = created["id"].as_str().unwrap();
    let history = env
        .call(
            Method::GET,
            &format!("/admin/api/audit?entity_kind=connector&entity_id={id}&origin=admin"),
            None,
        )
        .await;
    assert_eq!(history.status, StatusCode::OK, "{}", history.text);
    assert_eq!(items(&history.body)[0]["action"], "create");

    let wrong_kind = env
        .call(
            Method::GET,
            &format!("/admin/api/audit?entity_kind=connectors&entity_id={id}"),
            None,
        )
        .await;
    assert_eq!(
        wrong_kind.status,
        StatusCode::BAD_REQUEST,
        "{}",
        wrong_kind.text
    );
    assert_eq!(wrong_kind.body["field"], "entity_kind");
    let message = wrong_kind.body["message"].as_str().unwrap();
    for kind in ["account", "org_unit", "connector", "settings"] {
        assert!(message.contains(kind), "{message}");
    }

    for (query, field) in [
        ("entity_kind=account", "entity_id"),
        (&format!("entity_id={id}") as &str, "entity_kind"),
        ("origin=robot", "origin"),
        ("since=yesterday", "since"),
        ("until=2026-13-01T00:00:00Z", "until"),
        (
            "since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z",
            "until",
        ),
        ("cursor=not-a-cursor", "cursor"),
        (
            &format!("entity_kind=account&entity_id={}", "x".repeat(3_000)),
            "entity_id",
        ),
    ] {
        let answer = env
            .call(Method::GET, &format!("/admin/api/audit?{query}"), None)
            .await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{query}: {}",
            answer.text
        );
        assert_eq!(answer.body["field"], field, "{query}: {}", answer.text);
    }
    let origin = env
        .call(Method::GET, "/admin/api/audit?origin=robot", None)
        .await;
    assert!(origin.text.contains("dingtalk-event"), "{}", origin.text);
}
