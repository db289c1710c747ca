//! Every 404 and 405 of the admin router carries the JSON error body, and `/admin/api/` answers
//! an index of the resources.

use axum::http::{Method, StatusCode, header};

use crate::support::Env;

#[tokio::test]
async fn unknown_paths_are_json_404s_inside_and_outside_the_api() {
    let env = Env::new().await;
    for path in ["/admin/api/nothing-here", "/nowhere", "/admin/nothing-here"] {
        let answer = env.call(Method::GET, path, None).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            answer.body["error"], "not_found",
            "{path}: {:?}",
            answer.text
        );
        assert_eq!(
            answer.headers[header::CONTENT_TYPE],
            "application/json",
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_wrong_method_is_a_json_405_that_keeps_the_allow_header() {
    let env = Env::new().await;
    let answer = env
        .call(Method::DELETE, "/admin/api/connectors", None)
        .await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        answer.body["error"], "method_not_allowed",
        "{:?}",
        answer.text
    );
    let allow = answer.headers[header::ALLOW].to_str().unwrap().to_owned();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
}

#[tokio::test]
async fn the_api_root_lists_every_resource_and_each_listed_route_exists() {
    let env = Env::new().await;
    for root in ["/admin/api/", "/admin/api"] {
        let answer = env.call_as(None, Method::GET, root, None).await;
        assert_eq!(answer.status, StatusCode::OK, "{root}: {}", answer.text);
        let resources = answer.body["resources"].as_array().unwrap();
        let connectors = resources
            .iter()
            .find(|r| r["path"] == "/admin/api/connectors")
            .unwrap_or_else(|| panic!("no connectors in {}", answer.text));
        assert_eq!(connectors["methods"], serde_json::json!(["GET", "POST"]));
        assert!(!connectors["description"].as_str().unwrap().is_empty());
        for path in [
            "/admin/api/connectors/{id}",
            "/admin/api/audit",
            "/admin/api/runs",
            "/admin/api/settings/password-policy",
            "/admin/api/parked-events",
        ] {
            assert!(
                resources.iter().any(|r| r["path"] == path),
                "{path} not in the index"
            );
        }
    }

    // The index does not drift from the router: no listed method answers 405.
    let answer = env.call(Method::GET, "/admin/api/", None).await;
    let fake_id = "0190d5a4-0000-7000-8000-000000000abc";
    for resource in answer.body["resources"].as_array().unwrap() {
        let path = resource["path"]
            .as_str()
            .unwrap()
            .replace("{id}", fake_id)
            .replace("{connector_id}", fake_id)
            .replace("{row_id}", "U:nobody")
            .replace("{kind}", "account")
            .replace("{entity_id}", fake_id)
            .replace("{account_id}", fake_id);
        for method in resource["methods"].as_array().unwrap() {
            let method = Method::from_bytes(method.as_str().unwrap().as_bytes()).unwrap();
            let answer = env.call(method.clone(), &path, None).await;
            assert_ne!(
                answer.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path} is listed but not routed"
            );
            assert!(
                answer.status != StatusCode::NOT_FOUND || answer.body["error"] == "not_found",
                "{method} {path}: {}",
                answer.text
            );
        }
    }
}
