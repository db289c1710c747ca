//! Callback registration and the failed-event list; the login calls (codes, user tokens, profile).

use super::*;

/// A callback receiver on loopback that answers with the encrypted `success` (or fails on demand).
async fn callback_receiver(
    crypto: CallbackCrypto,
    failing: Arc<AtomicBool>,
) -> (String, tokio::task::JoinHandle<()>) {
    use axum::extract::{Query, State};
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    use std::collections::HashMap;

    type Shared = (CallbackCrypto, Arc<AtomicBool>);
    async fn receive(
        State(shared): State<Arc<Shared>>,
        Query(q): Query<HashMap<String, String>>,
        axum::Json(body): axum::Json<Value>,
    ) -> axum::response::Response {
        let (crypto, failing) = &*shared;
        if failing.load(Ordering::SeqCst) {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
        let sig = q
            .get("msg_signature")
            .or_else(|| q.get("signature"))
            .cloned()
            .unwrap_or_default();
        let ts = q.get("timestamp").cloned().unwrap_or_default();
        let nonce = q.get("nonce").cloned().unwrap_or_default();
        let encrypt = body["encrypt"].as_str().unwrap_or_default();
        match crypto.verify_and_decrypt(&sig, &ts, &nonce, encrypt) {
            Ok(_) => axum::Json(crypto.success_reply(&ts, &nonce).unwrap()).into_response(),
            Err(_) => StatusCode::FORBIDDEN.into_response(),
        }
    }
    let router = axum::Router::new()
        .route("/cb", axum::routing::post(receive))
        .with_state(Arc::new((crypto, failing)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/cb", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    (url, task)
}

#[tokio::test]
async fn callback_registration_round_trips_and_failed_events_drain() {
    let h = Harness::start(SimConfig {
        seed: 5,
        users: 20,
        depts: 4,
        qps_per_api: 0,
        callback_time_scale: 0.001,
        callback_timeout_ms: 500,
        ..Default::default()
    })
    .await;
    let c = client();
    let token = "cbtoken123";
    let aes_key = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    // Registered through the legacy API, so the receive-id is the CorpId (§1.1).
    let crypto = CallbackCrypto::new(token, aes_key, h.app.corp_id.clone()).unwrap();
    let failing = Arc::new(AtomicBool::new(false));
    let (url, _server) = callback_receiver(crypto, failing.clone()).await;
    let mut registration = CallbackRegistration {
        tags: vec!["user_add_org".into(), "user_modify_org".into()],
        token: SecretString::new(token),
        aes_key: SecretString::new(aes_key),
        url: url.clone(),
    };
    c.register_callback(&h.app, &registration).await.unwrap();
    let got = c.get_callback(&h.app).await.unwrap();
    assert_eq!(got.url, url);
    assert_eq!(
        got.tags.iter().collect::<BTreeSet<_>>(),
        registration.tags.iter().collect()
    );
    assert!(!format!("{got:?}").contains(token));

    registration.tags.push("user_leave_org".into());
    c.update_callback(&h.app, &registration).await.unwrap();
    assert_eq!(c.get_callback(&h.app).await.unwrap().tags.len(), 3);

    // The receiver goes down; an org change exhausts DingTalk's retries and lands in the failed list.
    failing.store(true, Ordering::SeqCst);
    let dept_id = h.org().await["depts"][0]["dept_id"].as_i64().unwrap();
    h.post(
        "/_sim/users",
        json!({"name": "回调测试", "mobile": "13700000001", "dept_id_list": dept_id.to_string()}),
    )
    .await;
    let mut events = Vec::new();
    for _ in 0..100 {
        events.extend(
            c.failed_events(&h.app)
                .try_collect::<Vec<_>>()
                .await
                .unwrap(),
        );
        if !events.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(events.iter().any(|e| e.tag == "user_add_org"), "{events:?}");
    // Reading cleared them.
    assert!(
        c.failed_events_page(&h.app)
            .await
            .unwrap()
            .events
            .is_empty()
    );

    c.delete_callback(&h.app).await.unwrap();
    assert!(
        c.get_callback(&h.app).await.is_err()
            || c.get_callback(&h.app).await.unwrap().url.is_empty()
    );
}

/// Follows the simulator's login page as a browser would and returns the code it redirects with.
async fn login_code(h: &Harness, flow: &str, userid: &str) -> String {
    let query = [
        ("flow", flow),
        ("client_id", h.app.app_key.as_str()),
        ("redirect_uri", "http://127.0.0.1/forward"),
        ("state", "s1"),
        ("userid", userid),
    ];
    let url = reqwest::Url::parse_with_params(&h.url("/_sim/login/pick"), query).unwrap();
    let r = h.control.get(url).send().await.unwrap();
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let url = reqwest::Url::parse(&location).unwrap();
    let key = if flow == "sns" { "code" } else { "authCode" };
    url.query_pairs()
        .find(|(k, _)| k == key)
        .unwrap()
        .1
        .into_owned()
}

#[tokio::test]
async fn login_calls_identify_the_user_and_codes_are_single_use() {
    let h = Harness::small().await;
    let c = client();
    let org = h.org().await;
    let member = &org["users"][0];
    let userid = member["userid"].as_str().unwrap();
    let unionid = member["unionid"].as_str().unwrap();

    let code = login_code(&h, "oauth2", userid).await;
    let token = c.user_access_token(&h.app, &code).await.unwrap();
    assert!(token.expires_in_secs > 0);
    assert_eq!(token.corp_id.as_deref(), Some(h.app.corp_id.as_str()));
    let me = c.current_user(&h.app, &token.access_token).await.unwrap();
    assert_eq!(me.union_id, unionid);
    let reused = c.user_access_token(&h.app, &code).await.unwrap_err();
    assert_eq!(reused.kind(), &ErrorKind::InvalidAuthCode, "{reused}");

    let sns = login_code(&h, "sns", userid).await;
    let sns_user = c.sns_user_by_code(&h.app, &sns).await.unwrap();
    assert_eq!(sns_user.unionid, unionid);
    let byunion = c.user_by_unionid(&h.app, &sns_user.unionid).await.unwrap();
    assert_eq!(byunion.userid.as_str(), userid);

    let micro = h
        .post(
            "/_sim/microapp/code",
            json!({"userid": userid, "app_key": h.app.app_key}),
        )
        .await;
    let micro = micro["code"].as_str().unwrap();
    let who = c.micro_app_user(&h.app, micro).await.unwrap();
    assert_eq!(who.userid.as_str(), userid);
    let again = c.micro_app_user(&h.app, micro).await.unwrap_err();
    assert_eq!(again.errcode(), Some(40078));
    assert_eq!(again.kind(), &ErrorKind::InvalidAuthCode);
}
