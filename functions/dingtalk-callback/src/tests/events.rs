//! Events that are accepted: the check URL, each key casing and event family, replays and
//! event ids, unsynced types, the corp-id receive mode, and an enqueue failure retried.

use super::*;

#[tokio::test]
async fn check_url_is_answered_with_encrypted_success_and_queues_nothing() {
    let h = harness().await;
    let (status, body) = h.send(h.request(&event("check_url", &[]))).await;
    h.assert_success(status, &body);
    assert_eq!(body["timeStamp"], "1685501863357");
    assert_eq!(body["nonce"], "nEXhMP4r");
    let (status, body) = h
        .send(h.request(&event(
            "check_url",
            &[
                ("EventType", "check_create_suite_url".into()),
                ("Random", "LPIdSnlF".into()),
            ],
        )))
        .await;
    h.assert_success(status, &body);
    assert!(h.drain().await.is_empty());
}

#[tokio::test]
async fn the_legacy_query_spelling_is_accepted() {
    let h = harness().await;
    let encrypt = h.crypto.encrypt(&event("check_url", &[])).unwrap();
    let (status, body) = h
        .send(signed_request(&h.path(), &h.crypto, &encrypt, true))
        .await;
    h.assert_success(status, &body);
}

#[tokio::test]
async fn a_legacy_user_event_queues_one_users_message() {
    let h = harness().await;
    let plaintext = event("user_add_org", &[]);
    let (status, body) = h.send(h.request(&plaintext)).await;
    h.assert_success(status, &body);
    let messages = h.drain().await;
    assert_eq!(messages.len(), 1);
    let (group, message) = &messages[0];
    assert_eq!(group, h.connector.id.as_str());
    assert_eq!(
        *message,
        SyncMessage::Users {
            connector_id: h.connector.id.clone(),
            user_ids: vec![user("zhangsan"), user("lisi")],
            event_type: "user_add_org".into(),
            event_key: hex::encode(Sha256::digest(plaintext.as_bytes())),
        }
    );
}

#[tokio::test]
async fn a_current_department_event_queues_one_departments_message() {
    let h = harness().await;
    let plaintext = event("org_dept_create", &[]);
    let (status, body) = h.send(h.request(&plaintext)).await;
    h.assert_success(status, &body);
    let messages = h.drain().await;
    assert_eq!(messages.len(), 1);
    assert_eq!(
        messages[0].1,
        SyncMessage::Departments {
            connector_id: h.connector.id.clone(),
            dept_ids: vec![DeptId::new(432_825_033).unwrap(), DeptId::new(12).unwrap()],
            event_type: "org_dept_create".into(),
            event_key: "e-77".into(),
        }
    );
}

#[tokio::test]
async fn camel_case_user_events_and_admin_events_are_queued() {
    let h = harness().await;
    for (t, id) in [
        ("user_modify_org", "u1"),
        ("org_admin_add", "u2"),
        ("user_active_org", "u3"),
    ] {
        let plaintext = event(
            "user_add_org.camel",
            &[("eventType", t.into()), ("userId", serde_json::json!([id]))],
        );
        let (status, body) = h.send(h.request(&plaintext)).await;
        h.assert_success(status, &body);
    }
    let ids: Vec<_> = h
        .drain()
        .await
        .into_iter()
        .map(|(_, m)| match m {
            SyncMessage::Users { user_ids, .. } => user_ids,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(ids, [vec![user("u1")], vec![user("u2")], vec![user("u3")]]);
}

#[tokio::test]
async fn a_replayed_event_is_acknowledged_and_queues_nothing_new() {
    let h = harness().await;
    let plaintext = event("user_leave_org", &[]);
    let request = || h.request(&plaintext);
    let (status, body) = h.send(request()).await;
    h.assert_success(status, &body);
    assert_eq!(h.drain().await.len(), 1);
    // DingTalk's retry re-encrypts the same plaintext (a new random prefix): still a duplicate.
    for _ in 0..2 {
        let (status, body) = h.send(request()).await;
        h.assert_success(status, &body);
    }
    // The very same bytes again, as a replay would send them.
    let encrypt = h.crypto.encrypt(&plaintext).unwrap();
    for _ in 0..2 {
        let (status, body) = h
            .send(signed_request(&h.path(), &h.crypto, &encrypt, false))
            .await;
        h.assert_success(status, &body);
    }
    assert!(h.drain().await.is_empty());
}

#[tokio::test]
async fn events_with_the_same_event_id_are_one_event() {
    let h = harness().await;
    for ts in ["1", "2"] {
        let plaintext = event(
            "org_dept_modify",
            &[
                ("eventId", "same".into()),
                ("timeStamp", ts.into()),
                ("deptId", serde_json::json!([5])),
            ],
        );
        let (status, body) = h.send(h.request(&plaintext)).await;
        h.assert_success(status, &body);
    }
    assert_eq!(h.drain().await.len(), 1);
}

#[tokio::test]
async fn unsynced_event_types_and_id_less_events_are_acknowledged_only() {
    let h = harness().await;
    for plaintext in [
        event("label_user_change", &[]),
        event("org_change", &[]),
        event("user_add_org", &[("UserId", serde_json::json!([]))]),
        event(
            "org_dept_remove",
            &[("DeptId", serde_json::json!([0, "x"]))],
        ),
    ] {
        let (status, body) = h.send(h.request(&plaintext)).await;
        h.assert_success(status, &body);
    }
    assert!(h.drain().await.is_empty());
}

#[tokio::test]
async fn the_corp_id_receive_mode_uses_the_corp_id() {
    let h = harness_with(ReceiveIdMode::CorpId, 0).await;
    let (status, body) = h
        .send(h.request(&event(
            "user_add_org",
            &[("UserId", serde_json::json!(["a"]))],
        )))
        .await;
    h.assert_success(status, &body);
    assert_eq!(h.drain().await.len(), 1);
}

#[tokio::test]
async fn an_enqueue_failure_is_a_503_and_the_retry_succeeds() {
    let h = harness_with(ReceiveIdMode::AppKey, 2).await;
    let plaintext = event("user_modify_org", &[]);
    for _ in 0..2 {
        let (status, body) = h.send(h.request(&plaintext)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["message"], "temporarily unavailable, retry later");
        assert!(
            !h.deps
                .events
                .seen(&h.connector.id, "ev-retry")
                .await
                .unwrap()
        );
    }
    assert!(h.drain().await.is_empty());
    let (status, body) = h.send(h.request(&plaintext)).await;
    h.assert_success(status, &body);
    assert_eq!(h.drain().await.len(), 1);
    assert!(
        h.deps
            .events
            .seen(&h.connector.id, "ev-retry")
            .await
            .unwrap()
    );
}
