//! Token expiry, throttling, IP whitelist, permissions, server errors, hangs and garbage.

use super::*;

#[tokio::test]
async fn token_expiry_mid_run_refreshes_once_and_carries_on() {
    let h = Harness::small().await;
    let c = client();
    let first = h.first_user().await;
    c.get_user(&h.app, &first).await.unwrap();
    for round in 0..3 {
        h.post("/_sim/tokens/expire", json!({})).await;
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (c, app, id) = (c.clone(), h.app.clone(), first.clone());
                tokio::spawn(async move { c.get_user(&app, &id).await })
            })
            .collect();
        for t in tasks {
            t.await
                .unwrap()
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
        }
    }
    // One initial fetch plus one refresh per expiry, however many tasks saw the refusal.
    assert_eq!(h.counter("/gettoken", "calls").await, 4);

    // Token errors wrapped in errcode 88 with a sub_code are refreshed the same way.
    h.fault(json!({"api": "/topapi/v2/user/get", "errcode": 88, "sub_code": 42001, "count": 1}))
        .await;
    c.get_user(&h.app, &first).await.unwrap();
    assert_eq!(h.counter("/gettoken", "calls").await, 5);

    // A token refused again right after a refresh is not refreshed in a loop.
    h.fault(json!({"api": "/topapi/v2/user/get", "errcode": 40014, "count": 5}))
        .await;
    let err = c.get_user(&h.app, &first).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidToken);
    assert_eq!(h.counter("/gettoken", "calls").await, 6);
}

#[tokio::test]
async fn bursts_stay_under_the_limit_and_no_90018_reaches_the_caller() {
    let h = Harness::start(SimConfig {
        seed: 3,
        users: 40,
        depts: 4,
        qps_per_api: 5,
        ..Default::default()
    })
    .await;
    let id = h.first_user().await;

    // The client's limiter matches the simulator's: evenly spaced, nothing bounced.
    let limiter = Arc::new(RateLimiter::new(Rate::per_second(5.0)));
    let c = HttpDingTalk::with_limiter(quick_config(), limiter).unwrap();
    let tasks: Vec<_> = (0..15)
        .map(|_| {
            let (c, app, id) = (c.clone(), h.app.clone(), id.clone());
            tokio::spawn(async move { c.get_user(&app, &id).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(h.counter("/topapi/v2/user/get", "throttled").await, 0);
    assert!(h.counter("/topapi/v2/user/get", "max_qps").await <= 6);

    // A client that ignores the limit is throttled, and still never hands 90018 to its caller
    // within its retry budget.
    let careless = HttpDingTalk::with_limiter(
        ClientConfig {
            max_retries: 20,
            ..quick_config()
        },
        Arc::new(RateLimiter::new(Rate::per_second(1000.0))),
    )
    .unwrap();
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (c, app, id) = (careless.clone(), h.app.clone(), id.clone());
            tokio::spawn(async move { c.get_user(&app, &id).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert!(h.counter("/topapi/v2/user/get", "throttled").await > 0);

    // With no retries left, throttling surfaces as a transient error carrying 90018.
    let impatient = HttpDingTalk::with_limiter(
        ClientConfig {
            max_retries: 0,
            ..quick_config()
        },
        Arc::new(RateLimiter::new(Rate::per_second(1000.0))),
    )
    .unwrap();
    h.fault(json!({"api": "/topapi/v2/user/get", "errcode": 90018, "count": 1}))
        .await;
    let err = impatient.get_user(&h.app, &id).await.unwrap_err();
    assert!(err.is_transient());
    assert_eq!(err.errcode(), Some(90018));
    assert_eq!(err.kind(), &ErrorKind::Throttled);
}

#[tokio::test]
async fn ip_not_whitelisted_reports_the_ip_to_add() {
    let h = Harness::small().await;
    let c = client();
    // Warm the token first so the whitelist failure comes from a contact call.
    c.count_users(&h.app, false).await.unwrap();
    h.post(
        &format!("/_sim/apps/{}", h.app.app_key),
        json!({"ip_whitelist": ["198.51.100.7"]}),
    )
    .await;
    let err = c.count_users(&h.app, false).await.unwrap_err();
    assert!(!err.is_transient());
    assert_eq!(err.errcode(), Some(60020));
    assert_eq!(
        err.kind(),
        &ErrorKind::IpNotWhitelisted {
            ip: Some("127.0.0.1".into())
        }
    );
    assert!(err.message().contains("request ip=127.0.0.1"));
}

#[tokio::test]
async fn missing_permissions_are_permanent_60011() {
    let h = Harness::small().await;
    let c = client();
    h.post(
        &format!("/_sim/apps/{}", h.app.app_key),
        json!({"permissions": ["qyapi_get_department_list"]}),
    )
    .await;
    c.list_sub_departments(&h.app, DeptId::ROOT).await.unwrap();
    let err = c.list_user_ids(&h.app, DeptId::ROOT).await.unwrap_err();
    assert!(!err.is_transient());
    assert_eq!(err.errcode(), Some(60011));
    assert_eq!(err.kind(), &ErrorKind::PermissionDenied);
    // Called once: a permission error is not retried.
    assert_eq!(h.counter("/topapi/user/listid", "calls").await, 1);

    // The same, wrapped as errcode 88 + sub_code.
    h.post(
        &format!("/_sim/apps/{}", h.app.app_key),
        json!({"permissions": ["qyapi_get_department_list", "qyapi_get_department_member"]}),
    )
    .await;
    h.fault(json!({"api": "/topapi/user/listid", "errcode": 88, "sub_code": 60011, "count": 1}))
        .await;
    let err = c.list_user_ids(&h.app, DeptId::ROOT).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::PermissionDenied);
}

#[tokio::test]
async fn server_errors_hangs_and_garbage_are_retried_within_budget() {
    let h = Harness::small().await;
    let c = client();
    let api = "/topapi/user/count";
    let expected = c.count_users(&h.app, false).await.unwrap();
    for fault in [
        json!({"api": api, "http_status": 503, "count": 2}),
        json!({"api": api, "hang_ms": 2000, "count": 1}),
        json!({"api": api, "malformed": true, "count": 2}),
        json!({"api": api, "errcode": -1, "count": 2}),
        json!({"api": api, "errcode": 90002, "count": 1}),
    ] {
        h.fault(fault.clone()).await;
        assert_eq!(
            c.count_users(&h.app, false).await.unwrap(),
            expected,
            "{fault}"
        );
    }

    // Beyond the retry budget the failure surfaces, transient, with its cause.
    h.fault(json!({"api": api, "http_status": 502, "count": 10}))
        .await;
    let err = c.count_users(&h.app, false).await.unwrap_err();
    assert!(err.is_transient());
    assert_eq!(err.code(), &ErrorCode::Http(502));
    let _ = h
        .control
        .delete(h.url("/_sim/faults"))
        .send()
        .await
        .unwrap();

    let hung = HttpDingTalk::new(ClientConfig {
        max_retries: 0,
        ..quick_config()
    })
    .unwrap();
    h.fault(json!({"api": api, "hang_ms": 3000, "count": 1}))
        .await;
    let err = hung.count_users(&h.app, false).await.unwrap_err();
    assert_eq!(err.code(), &ErrorCode::Timeout);
    assert!(err.is_transient());
    assert!(!err.to_string().contains("access_token"), "{err}");
}

#[tokio::test]
async fn creates_are_not_repeated_after_an_ambiguous_failure() {
    let h = Harness::small().await;
    let c = client();
    c.count_users(&h.app, false).await.unwrap();
    let api = "/topapi/v2/department/create";
    h.fault(json!({"api": api, "http_status": 503, "count": 1}))
        .await;
    let dept = NewDepartment {
        name: "只建一次".into(),
        parent: DeptId::ROOT,
        order: None,
        source_identifier: None,
    };
    let err = c.create_department(&h.app, &dept).await.unwrap_err();
    assert!(err.is_transient());
    assert_eq!(h.counter(api, "calls").await, 1);
    // Throttling is unambiguous (nothing was done), so a create is retried after it.
    h.fault(json!({"api": api, "errcode": 90018, "count": 1}))
        .await;
    c.create_department(&h.app, &dept).await.unwrap();
    assert_eq!(h.counter(api, "calls").await, 3);
}
