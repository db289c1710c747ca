//! Arbitrary input never panics the callback or earns a 5xx (proptest), and dedupe ids fit SQS.

use super::*;

#[test]
fn queue_dedup_ids_are_per_connector_and_fit_sqs() {
    let a = dingbridge::domain::ids::ConnectorId::generate();
    let b = dingbridge::domain::ids::ConnectorId::generate();
    let id = queue_dedup_id(&a, "ev");
    assert_eq!(id.len(), 64);
    assert_ne!(id, queue_dedup_id(&b, "ev"));
    assert_eq!(id, queue_dedup_id(&a, "ev"));
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

fn cases(n: u32) -> Config {
    Config {
        cases: n,
        failure_persistence: None,
        ..Config::default()
    }
}

/// Any bytes and any query string: a 4xx, never a panic or a 5xx.
#[test]
fn arbitrary_requests_are_refused_without_panic() {
    let rt = runtime();
    let h = rt.block_on(harness());
    let param = prop_oneof![
        Just("msg_signature".to_owned()),
        Just("signature".to_owned()),
        Just("timestamp".to_owned()),
        Just("timeStamp".to_owned()),
        Just("nonce".to_owned()),
        "\\PC{0,8}",
    ];
    let query = prop::collection::vec((param, "\\PC{0,48}"), 0..6);
    let body = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        "\\PC{0,200}".prop_map(|s| serde_json::json!({ "encrypt": s }).to_string().into_bytes()),
    ];
    TestRunner::new(cases(256))
        .run(&(query, body, any::<bool>()), |(pairs, body, raw_query)| {
            let query = if raw_query {
                pairs
                    .iter()
                    .map(|(k, v)| format!("{k}={v}&"))
                    .collect::<String>()
            } else {
                serde_urlencoded::to_string(&pairs).unwrap()
            };
            let Ok(request) = Request::post(format!("{}?{query}", h.path())).body(Body::from(body))
            else {
                return Ok(()); // not a URI a client could send
            };
            let (status, _) = rt.block_on(h.send(request));
            prop_assert!(status.is_client_error(), "{status}");
            Ok(())
        })
        .unwrap();
    assert!(rt.block_on(h.drain()).is_empty());
}

/// Any ciphertext bytes under a valid signature: the decryptor refuses, never panics.
#[test]
fn arbitrary_signed_ciphertexts_are_refused_without_panic() {
    let rt = runtime();
    let h = rt.block_on(harness());
    let strategy = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        (1usize..12).prop_flat_map(|blocks| prop::collection::vec(any::<u8>(), blocks * 16)),
    ];
    TestRunner::new(cases(256))
        .run(&strategy, |raw| {
            let (status, _) = rt.block_on(send_signed_ciphertext(&h, &STANDARD.encode(&raw)));
            prop_assert!(status.is_client_error(), "{status}");
            Ok(())
        })
        .unwrap();
    assert!(rt.block_on(h.drain()).is_empty());
}

/// Any authentic plaintext: answered (200) or refused (400), never a panic or a 5xx.
#[test]
fn arbitrary_authentic_plaintexts_never_fail_the_server() {
    let rt = runtime();
    let h = rt.block_on(harness());
    let event_type = prop_oneof![
        Just("user_add_org"),
        Just("org_dept_modify"),
        Just("check_url"),
        Just("label_user_change"),
    ];
    let id = prop_oneof![
        any::<i64>().prop_map(serde_json::Value::from),
        "\\PC{0,70}".prop_map(serde_json::Value::from),
    ];
    let json_event = (
        event_type,
        "(UserId|userId|userid|DeptId|deptId)",
        prop::collection::vec(id, 0..4),
    )
        .prop_map(|(t, key, ids)| serde_json::json!({ "EventType": t, key: ids }).to_string());
    let strategy = prop_oneof![json_event, "\\PC{0,200}"];
    TestRunner::new(cases(128))
        .run(&strategy, |plaintext| {
            let (status, _) = rt.block_on(h.send(h.request(&plaintext)));
            prop_assert!(
                status == StatusCode::OK || status == StatusCode::BAD_REQUEST,
                "{status} for {plaintext}"
            );
            Ok(())
        })
        .unwrap();
}
