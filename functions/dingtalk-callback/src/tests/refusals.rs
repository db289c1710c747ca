//! Requests that are refused, each with a bare 4xx: signatures, receive ids, other corps,
//! oversized and malformed bodies, missing parameters, bad ciphertexts, unknown connectors.

use super::*;

#[tokio::test]
async fn a_tampered_signature_is_refused() {
    let h = harness().await;
    let encrypt = h.crypto.encrypt(&one_user_event()).unwrap();
    let sig = h.crypto.signature("1", "n", &encrypt);
    let mut tampered = sig.clone().into_bytes();
    tampered[0] = if tampered[0] == b'0' { b'1' } else { b'0' };
    let tampered = String::from_utf8(tampered).unwrap();
    for (s, ts) in [(tampered.as_str(), "1"), (sig.as_str(), "2")] {
        let uri = format!("{}?msg_signature={s}&timestamp={ts}&nonce=n", h.path());
        let (status, body) = h
            .send(post(
                &uri,
                serde_json::json!({"encrypt": encrypt}).to_string(),
            ))
            .await;
        assert_refused(status, &body, StatusCode::FORBIDDEN);
    }
    // A ciphertext altered after signing.
    let altered = format!("A{}", &encrypt[1..]);
    let uri = format!("{}?msg_signature={sig}&timestamp=1&nonce=n", h.path());
    let (status, body) = h
        .send(post(
            &uri,
            serde_json::json!({"encrypt": altered}).to_string(),
        ))
        .await;
    assert_refused(status, &body, StatusCode::FORBIDDEN);
    assert!(h.drain().await.is_empty());
}

#[tokio::test]
async fn a_wrong_receive_id_is_refused() {
    let h = harness().await; // expects the AppKey
    for receive_id in [CORP_ID, "suite4xxxxxxxxxxxxxxx"] {
        let other = CallbackCrypto::new(TOKEN, AES_KEY, receive_id).unwrap();
        let encrypt = other.encrypt(&one_user_event()).unwrap();
        let (status, body) = h
            .send(signed_request(&h.path(), &other, &encrypt, false))
            .await;
        assert_refused(status, &body, StatusCode::FORBIDDEN);
    }
    assert!(h.drain().await.is_empty());
}

#[tokio::test]
async fn an_event_of_another_corp_is_refused() {
    let h = harness().await;
    let (status, body) = h
        .send(h.request(&event(
            "user_add_org",
            &[
                ("UserId", serde_json::json!(["a"])),
                ("CorpId", "dingother".into()),
            ],
        )))
        .await;
    assert_refused(status, &body, StatusCode::FORBIDDEN);
    assert!(h.drain().await.is_empty());
}

#[tokio::test]
async fn an_oversized_body_is_a_413_in_our_format() {
    let h = harness().await;
    let big = "A".repeat(MAX_BODY_BYTES + 1);
    let body = serde_json::json!({ "encrypt": big }).to_string();
    let uri = format!("{}?msg_signature=x&timestamp=1&nonce=n", h.path());
    let (status, json) = h.send(post(&uri, body.clone())).await;
    assert_refused(status, &json, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(json["error"], "payload_too_large");
    // Without a Content-Length (a streamed body), the limit holds too.
    let stream = futures_body(body);
    let (status, json) = h.send(Request::post(&uri).body(stream).unwrap()).await;
    assert_refused(status, &json, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(h.drain().await.is_empty());
}

/// A body of unknown length, as a chunked request has.
fn futures_body(text: String) -> Body {
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = text
        .into_bytes()
        .chunks(4096)
        .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
        .collect();
    Body::from_stream(futures::stream::iter(chunks))
}

#[tokio::test]
async fn invalid_json_bodies_are_refused() {
    let h = harness().await;
    let uri = format!("{}?msg_signature=x&timestamp=1&nonce=n", h.path());
    for body in [
        "",
        "not json",
        "{}",
        r#"{"encrypt":5}"#,
        "[\"encrypt\"]",
        "{\"encrypt\":\"x\"",
    ] {
        let (status, json) = h.send(post(&uri, body)).await;
        assert_refused(status, &json, StatusCode::BAD_REQUEST);
    }
    assert!(h.drain().await.is_empty());
}

#[tokio::test]
async fn missing_query_parameters_are_refused() {
    let h = harness().await;
    let encrypt = h.crypto.encrypt(&event("check_url", &[])).unwrap();
    let sig = h.crypto.signature("1", "n", &encrypt);
    for query in [
        String::new(),
        format!("?msg_signature={sig}&timestamp=1"),
        format!("?msg_signature={sig}&nonce=n"),
        "?timestamp=1&nonce=n".to_owned(),
        format!("?msg_signature={sig}&timestamp=&nonce=n"),
    ] {
        let uri = format!("{}{query}", h.path());
        let (status, body) = h
            .send(post(
                &uri,
                serde_json::json!({"encrypt": encrypt}).to_string(),
            ))
            .await;
        assert_refused(status, &body, StatusCode::BAD_REQUEST);
    }
}

#[tokio::test]
async fn invalid_base64_is_refused_even_when_signed() {
    let h = harness().await;
    for encrypt in ["not base64!", "QUJD", "QUJDRA", "====", "QUJDRA==\n"] {
        let (status, body) = send_signed_ciphertext(&h, encrypt).await;
        assert_refused(status, &body, StatusCode::FORBIDDEN);
    }
    assert!(h.drain().await.is_empty());
}

#[tokio::test]
async fn a_ciphertext_of_a_bad_length_is_refused() {
    let h = harness().await;
    for len in [1, 15, 17, 40] {
        let (status, body) = send_signed_ciphertext(&h, &STANDARD.encode(vec![7u8; len])).await;
        assert_refused(status, &body, StatusCode::FORBIDDEN);
    }
}

#[tokio::test]
async fn bad_padding_is_refused() {
    let h = harness().await;
    let mut raw = ciphertext_bytes(&h);
    // In CBC, flipping a bit of the second-to-last block flips the same bit of the last plaintext
    // block: the final (padding) byte becomes > 32.
    let at = raw.len() - 17;
    raw[at] ^= 0x80;
    let (status, body) = send_signed_ciphertext(&h, &STANDARD.encode(&raw)).await;
    assert_refused(status, &body, StatusCode::FORBIDDEN);
    // A key other than the connector's: the padding does not check out either.
    let wrong = CallbackCrypto::new(
        TOKEN,
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
        APP_KEY,
    )
    .unwrap();
    let encrypt = wrong.encrypt(&one_user_event()).unwrap();
    let (status, body) = send_signed_ciphertext(&h, &encrypt).await;
    assert_refused(status, &body, StatusCode::FORBIDDEN);
    assert!(h.drain().await.is_empty());
}

#[tokio::test]
async fn a_bad_length_prefix_is_refused() {
    let h = harness().await;
    let mut raw = ciphertext_bytes(&h);
    // Plaintext bytes 16..20 (the big-endian length) are block 2 XOR ciphertext block 1: flipping
    // the top bit of ciphertext byte 0 adds 2^31 to the declared length.
    raw[0] ^= 0x80;
    let (status, body) = send_signed_ciphertext(&h, &STANDARD.encode(&raw)).await;
    assert_refused(status, &body, StatusCode::FORBIDDEN);
    assert!(h.drain().await.is_empty());
}

#[tokio::test]
async fn a_signed_plaintext_that_is_no_event_is_refused() {
    let h = harness().await;
    for plaintext in ["success", "[]", r#"{"UserId":["a"]}"#] {
        let (status, body) = h.send(h.request(plaintext)).await;
        assert_refused(status, &body, StatusCode::BAD_REQUEST);
    }
    assert!(h.drain().await.is_empty());
}

#[tokio::test]
async fn unknown_paths_and_wrong_methods_answer_the_json_error_body() {
    let h = harness().await;
    for (request, status, code) in [
        (
            Request::post("/nowhere").body(Body::empty()).unwrap(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Request::get(h.path()).body(Body::empty()).unwrap(),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
    ] {
        let response = router(h.deps.clone()).oneshot(request).await.unwrap();
        assert_eq!(response.status(), status);
        if status == StatusCode::METHOD_NOT_ALLOWED {
            assert_eq!(response.headers()[header::ALLOW], "POST");
        }
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["error"], code, "{body}");
    }
}

#[tokio::test]
async fn unknown_disabled_and_unconfigured_connectors_are_refused_alike() {
    let h = harness().await;
    let disabled = h.other_connector(false, true).await;
    let unconfigured = h.other_connector(true, false).await;
    let encrypt = h.crypto.encrypt(&one_user_event()).unwrap();
    for id in [
        dingbridge::domain::ids::ConnectorId::generate().to_string(),
        disabled.id.to_string(),
        unconfigured.id.to_string(),
        "not-a-uuid".to_owned(),
        "%FF%FE".to_owned(),
    ] {
        let path = format!("/dingtalk/callback/{id}");
        let (status, body) = h
            .send(signed_request(&path, &h.crypto, &encrypt, false))
            .await;
        assert_refused(status, &body, StatusCode::NOT_FOUND);
    }
    assert!(h.drain().await.is_empty());
}

#[tokio::test]
async fn a_connector_under_another_data_key_is_an_internal_error_not_a_leak() {
    let h = harness().await;
    let other_key = SecretBox::from_base64(&SecretBox::generate_key()).unwrap();
    let deps = Deps::new(h.table.clone(), h.queue.clone(), h.clock.clone(), other_key);
    let response = router(deps)
        .oneshot(h.request(&event("check_url", &[])))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()["message"],
        "internal error"
    );
}

#[tokio::test]
async fn a_receive_id_mix_up_names_the_mode_to_set() {
    let h = harness().await;
    assert!(receive_id_hint(CORP_ID, &h.connector).contains("set receive_id_mode to corp_id"));
    let mut corp_mode = h.connector.clone();
    corp_mode.receive_id_mode = ReceiveIdMode::CorpId;
    assert!(receive_id_hint(APP_KEY, &corp_mode).contains("set receive_id_mode to app_key"));
    assert!(receive_id_hint("suite4xxxxxxxxxxxxxxx", &h.connector).contains("neither"));
}
