//! The signing keys through the admin API: listed without private halves; a rotation publishes a
//! next key (202) and a second one waits its turn (409).

use axum::http::{Method, StatusCode};

use crate::support::Env;

#[tokio::test]
async fn a_rotation_is_listed_as_next_and_a_second_one_waits() {
    let env = Env::new().await;
    let answer = env
        .call(Method::POST, "/admin/api/signing-keys/rotate", None)
        .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.text);
    assert_eq!(answer.body["state"], "next");
    let next = answer.body["kid"].as_str().unwrap().to_owned();
    assert!(
        answer.body["signs_from_ms"].as_i64().unwrap()
            > answer.body["created_ms"].as_i64().unwrap()
    );

    let listed = env.call(Method::GET, "/admin/api/signing-keys", None).await;
    assert_eq!(listed.status, StatusCode::OK);
    let states: Vec<(String, String)> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["state"].as_str().unwrap().to_owned(),
                k["kid"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(states.len(), 2, "{}", listed.text);
    assert_eq!(states[0].0, "current");
    assert_eq!(states[1], ("next".to_owned(), next));
    assert!(!listed.text.contains("private"), "{}", listed.text);

    let again = env
        .call(Method::POST, "/admin/api/signing-keys/rotate", None)
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text);
}
