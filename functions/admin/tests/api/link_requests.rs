//! Link requests through the admin API: listed by state with the account and the DingTalk user as
//! read; an approval writes the mapping, re-drives the parked push and is audited; a stale one is
//! a 409 that changes nothing; a refusal keeps the push parked with what the admin can do.

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use dingbridge::dingtalk::DingUserId;
use dingbridge::domain::ids::{AccountId, ConnectorId};
use dingbridge::domain::sync::PushEntity;
use dingbridge::ports::SystemClock;
use dingbridge::store::link_requests::{LinkRequests, NewLinkRequest};
use dingbridge::store::outbox::OutboxState;
use serde_json::Value;

use crate::pushes::{Pushing, pushing};

/// Files the request the push worker files when `account`'s mobile is DingTalk user `userid`'s,
/// and parks the account's push with its reason, as the worker does.
async fn filed(p: &Pushing, account: &AccountId, userid: &str) {
    let requests = LinkRequests::new(p.env.table.clone(), Arc::new(SystemClock));
    let request = requests
        .file(NewLinkRequest {
            connector_id: p.connector.clone(),
            account_id: account.clone(),
            userid: DingUserId::parse(userid).unwrap(),
            dingtalk_name: "张三".into(),
            dingtalk_mobile: Some("+86-13800000001".into()),
            code: "60104".into(),
        })
        .await
        .unwrap();
    p.park(
        &PushEntity::Account(account.clone()),
        &request.waiting_reason(),
        Some("60104"),
    )
    .await;
}

fn requests(p: &Pushing) -> String {
    format!("/admin/api/connectors/{}/link-requests", p.connector)
}

async fn decide(p: &Pushing, account: &AccountId, decision: &str) -> (StatusCode, Value) {
    let path = format!("{}/{account}/{decision}", requests(p));
    let answer = p.env.call(Method::POST, &path, None).await;
    (answer.status, answer.body)
}

async fn reason(p: &Pushing, account: &AccountId) -> String {
    p.outbox
        .get(&p.connector, &PushEntity::Account(account.clone()))
        .await
        .unwrap()
        .unwrap()
        .reason
        .unwrap_or_default()
}

#[tokio::test]
async fn pending_requests_are_listed_with_the_account_and_the_dingtalk_user_as_read() {
    let p = pushing("association").await;
    let alice = p.account("alice", "Alice").await;
    filed(&p, &alice, "zhangsan").await;

    let list = p.get(&format!("{}?state=pending", requests(&p))).await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    let r = &items[0];
    assert_eq!(r["account_id"], alice.to_string());
    assert_eq!(r["account_name"], "Alice");
    assert_eq!(r["username"], "alice");
    assert_eq!(r["userid"], "zhangsan");
    assert_eq!(r["dingtalk_name"], "张三");
    assert_eq!(r["dingtalk_mobile"], "+86-138****0001");
    assert_eq!(r["code"], "60104");
    assert_eq!(r["state"], "pending");
    assert!(r["decided_ms"].is_null() && r["decided_by"].is_null());
    assert!(r["created_ms"].as_i64().unwrap() > 0);
    assert!(list["next_cursor"].is_null());

    assert_eq!(
        p.get(&requests(&p)).await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let approved = p.get(&format!("{}?state=approved", requests(&p))).await;
    assert!(approved["items"].as_array().unwrap().is_empty());
    let bad = p
        .env
        .call(Method::GET, &format!("{}?state=maybe", requests(&p)), None)
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.body["field"], "state");
}

#[tokio::test]
async fn an_approval_links_the_account_redrives_its_push_and_is_audited() {
    let p = pushing("association").await;
    let alice = p.account("alice", "Alice").await;
    filed(&p, &alice, "zhangsan").await;
    p.drain().await;

    let (status, body) = decide(&p, &alice, "approve").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "approved");
    assert_eq!(body["redriven"], true);
    assert!(
        body["decided_by"]
            .as_str()
            .unwrap()
            .starts_with("admin-token:"),
        "{body}"
    );

    // The mapping is the account's, the push pending and queued for the worker to link.
    let shown = p.get(&format!("/admin/api/accounts/{alice}")).await;
    assert!(shown.to_string().contains("zhangsan"), "{shown}");
    assert_eq!(
        p.state(&PushEntity::Account(alice.clone())).await,
        Some(OutboxState::Pending)
    );
    let queued = p.drain().await;
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].entity, PushEntity::Account(alice.clone()));
    let audit = p
        .get(&format!(
            "/admin/api/audit?entity_kind=account&entity_id={alice}"
        ))
        .await;
    assert_eq!(
        audit["items"][0]["action"], "dingtalk_link_approved",
        "{audit}"
    );

    // Decided once: approving or refusing again is a conflict.
    assert_eq!(decide(&p, &alice, "approve").await.0, StatusCode::CONFLICT);
    assert_eq!(decide(&p, &alice, "refuse").await.0, StatusCode::CONFLICT);
}

#[tokio::test]
async fn a_stale_approval_is_a_409_naming_the_account_that_holds_the_dingtalk_user() {
    let p = pushing("association").await;
    let alice = p.account("alice", "Alice").await;
    let bob = p.account("bob", "Bob").await;
    filed(&p, &alice, "zhangsan").await;
    filed(&p, &bob, "zhangsan").await;
    assert_eq!(decide(&p, &alice, "approve").await.0, StatusCode::OK);

    let (status, body) = decide(&p, &bob, "approve").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("zhangsan") && message.contains(&alice.to_string()),
        "{message}"
    );
    let bobs = p.get(&format!("{}?state=pending", requests(&p))).await;
    assert_eq!(bobs["items"][0]["account_id"], bob.to_string(), "unchanged");
    assert_eq!(
        p.state(&PushEntity::Account(bob.clone())).await,
        Some(OutboxState::Parked)
    );

    // An account deleted since the request was filed has nothing to link.
    let gone = p
        .env
        .call(Method::DELETE, &format!("/admin/api/accounts/{bob}"), None)
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    let (status, body) = decide(&p, &bob, "approve").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("no longer exists")
    );
}

#[tokio::test]
async fn a_refusal_keeps_the_push_parked_with_what_the_admin_can_do() {
    let p = pushing("association").await;
    let alice = p.account("alice", "Alice").await;
    filed(&p, &alice, "zhangsan").await;
    assert!(reason(&p, &alice).await.starts_with("waiting for an admin"));

    let (status, body) = decide(&p, &alice, "refuse").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "refused");
    let parked = reason(&p, &alice).await;
    assert!(
        parked.contains("was refused")
            && parked.contains("Correct the account's mobile")
            && parked.contains("delete that DingTalk user"),
        "{parked}"
    );
    assert_eq!(
        p.state(&PushEntity::Account(alice.clone())).await,
        Some(OutboxState::Parked)
    );
    let audit = p
        .get(&format!(
            "/admin/api/audit?entity_kind=account&entity_id={alice}"
        ))
        .await;
    assert_eq!(audit["items"][0]["action"], "dingtalk_link_refused");
    assert_eq!(decide(&p, &alice, "refuse").await.0, StatusCode::CONFLICT);

    // The admin may change their mind: a refused request can still be approved.
    let (status, body) = decide(&p, &alice, "approve").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["redriven"], true);
}

#[tokio::test]
async fn unknown_connectors_accounts_and_requests_are_404s() {
    let p = pushing("association").await;
    let alice = p.account("alice", "Alice").await;
    let other = ConnectorId::generate();
    for path in [
        format!("{}/{}/approve", requests(&p), AccountId::generate()),
        format!("{}/not-an-id/refuse", requests(&p)),
        format!("{}/{alice}/approve", requests(&p)),
        format!("/admin/api/connectors/{other}/link-requests/{alice}/refuse"),
    ] {
        let answer = p.env.call(Method::POST, &path, None).await;
        assert_eq!(
            answer.status,
            StatusCode::NOT_FOUND,
            "{path}: {}",
            answer.text
        );
    }
    let list = p
        .env
        .call(
            Method::GET,
            &format!("/admin/api/connectors/{other}/link-requests"),
            None,
        )
        .await;
    assert_eq!(list.status, StatusCode::NOT_FOUND);
}
