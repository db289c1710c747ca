//! Limits, policies and injected faults.

use std::time::Duration;

use dingtalk_sim::SimConfig;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{config, env};

#[tokio::test]
async fn a_burst_beyond_the_qps_limit_gets_90018() {
    let env = env(SimConfig {
        qps_per_api: 20,
        ..config()
    })
    .await;
    let t = env.token().await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..40 {
        let (http, url) = (
            env.http.clone(),
            format!("{}/topapi/user/count?access_token={t}", env.base),
        );
        tasks.spawn(async move {
            let body: Value = http
                .post(url)
                .json(&json!({}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            body["errcode"].as_i64().unwrap()
        });
    }
    let codes: Vec<i64> = tasks.join_all().await;
    assert!(codes.iter().filter(|c| **c == 0).count() >= 20);
    assert!(codes.contains(&90018), "{codes:?}");
    let (_, counters) = env
        .control(Method::GET, "/_sim/counters", json!(null))
        .await;
    assert_eq!(counters["/topapi/user/count"]["calls"], 40);
    assert!(counters["/topapi/user/count"]["max_qps"].as_u64().unwrap() >= 1);
    // Another API has its own bucket.
    let other = env
        .post("/topapi/v2/department/listsubid", &t, json!({"dept_id": 1}))
        .await;
    assert_eq!(other["errcode"], 0);
}

#[tokio::test]
async fn an_ip_outside_the_whitelist_gets_60020_with_the_ip() {
    let env = env(config()).await;
    let t = env.token().await;
    let path = format!("/_sim/apps/{}", env.app.app_key);
    env.control(Method::POST, &path, json!({"ip_whitelist": ["10.9.8.7"]}))
        .await;
    let body = env.post("/topapi/user/count", &t, json!({})).await;
    assert_eq!(body["errcode"], 60020);
    assert!(
        body["errmsg"]
            .as_str()
            .unwrap()
            .contains("request ip=127.0.0.1"),
        "{body}"
    );
    env.control(Method::POST, &path, json!({"ip_whitelist": null}))
        .await;
    assert_eq!(
        env.post("/topapi/user/count", &t, json!({})).await["errcode"],
        0
    );
}

#[tokio::test]
async fn permissions_and_contact_scope_are_enforced() {
    let env = env(config()).await;
    let t = env.token().await;
    let path = format!("/_sim/apps/{}", env.app.app_key);
    let (userid, dept) = {
        let org = env.sim.state().corps[0].org.read().unwrap();
        let u = org
            .users
            .values()
            .find(|u| !u.dept_id_list.contains(&1) && u.mobile.is_some())
            .unwrap();
        (u.userid.clone(), u.dept_id_list[0])
    };
    let perms = json!({"permissions": ["qyapi_get_member", "qyapi_get_department_list"]});
    env.control(Method::POST, &path, perms).await;
    let user = env
        .post("/topapi/v2/user/get", &t, json!({"userid": userid}))
        .await;
    assert_eq!(user["errcode"], 0);
    assert!(user["result"].get("mobile").is_none());
    assert!(user["result"].get("email").is_none());
    let denied = env
        .post(
            "/topapi/v2/user/list",
            &t,
            json!({"dept_id": dept, "cursor": 0, "size": 10}),
        )
        .await;
    assert_eq!(denied["errcode"], 60011);

    // A scope that excludes the user's departments: 50002 for the user, 50004 for the department.
    let all = json!({"permissions": dingtalk_sim::perm::ALL, "contact_scope_depts": [424242]});
    env.control(Method::POST, &path, all).await;
    assert_eq!(
        env.post("/topapi/v2/user/get", &t, json!({"userid": userid}))
            .await["errcode"],
        50002
    );
    assert_eq!(
        env.post("/topapi/v2/department/get", &t, json!({"dept_id": dept}))
            .await["errcode"],
        50004
    );
}

#[tokio::test]
async fn write_apis_check_the_manage_permission_before_the_user_they_name() {
    // The admin's test connection probes the write permission with an update of a user that does
    // not exist: 60011 without `qyapi_manage_addresslist`, 60121 with it, and nothing written.
    let env = env(config()).await;
    let t = env.token().await;
    let path = format!("/_sim/apps/{}", env.app.app_key);
    let probe = json!({"userid": "dingbridge-write-permission-probe"});
    let without: Vec<&str> = dingtalk_sim::perm::ALL
        .iter()
        .copied()
        .filter(|p| *p != dingtalk_sim::perm::MANAGE)
        .collect();
    env.control(Method::POST, &path, json!({ "permissions": without }))
        .await;
    for api in ["/topapi/v2/user/update", "/topapi/v2/department/create"] {
        assert_eq!(
            env.post(api, &t, probe.clone()).await["errcode"],
            60011,
            "{api}"
        );
    }
    env.control(
        Method::POST,
        &path,
        json!({ "permissions": dingtalk_sim::perm::ALL }),
    )
    .await;
    assert_eq!(
        env.post("/topapi/v2/user/update", &t, probe).await["errcode"],
        60121
    );
}

#[tokio::test]
async fn injected_faults_fire_for_n_calls_then_stop() {
    let env = env(config()).await;
    let t = env.token().await;
    let api = "/topapi/user/count";
    env.control(
        Method::POST,
        "/_sim/faults",
        json!({"api": api, "errcode": -1, "count": 2}),
    )
    .await;
    assert_eq!(env.post(api, &t, json!({})).await["errcode"], -1);
    assert_eq!(env.post(api, &t, json!({})).await["errcode"], -1);
    assert_eq!(env.post(api, &t, json!({})).await["errcode"], 0);

    env.control(
        Method::POST,
        "/_sim/faults",
        json!({"api": api, "http_status": 502, "count": 1}),
    )
    .await;
    let url = format!("{}{api}?access_token={t}", env.base);
    let response = env.http.post(&url).json(&json!({})).send().await.unwrap();
    assert_eq!(response.status(), 502);

    env.control(
        Method::POST,
        "/_sim/faults",
        json!({"api": api, "malformed": true, "count": 1}),
    )
    .await;
    let response = env.http.post(&url).json(&json!({})).send().await.unwrap();
    assert!(response.json::<Value>().await.is_err());

    env.control(
        Method::POST,
        "/_sim/faults",
        json!({"api": api, "hang_ms": 2000}),
    )
    .await;
    let hung = env
        .http
        .post(&url)
        .json(&json!({}))
        .timeout(Duration::from_millis(200))
        .send()
        .await;
    assert!(hung.unwrap_err().is_timeout());
    env.control(Method::DELETE, "/_sim/faults", json!(null))
        .await;
    assert_eq!(env.post(api, &t, json!({})).await["errcode"], 0);
}

#[tokio::test]
async fn an_ip_over_its_window_is_blocked_with_the_gateway_page() {
    let env = env(SimConfig {
        ip_calls_per_20s: 5,
        ..config()
    })
    .await;
    let t = env.token().await;
    for _ in 0..4 {
        assert_eq!(
            env.post("/topapi/user/count", &t, json!({})).await["errcode"],
            0
        );
    }
    let blocked = env.post("/topapi/user/count", &t, json!({})).await;
    assert_eq!(blocked["status"], 1111);
}

#[tokio::test]
async fn a_lost_answer_fault_lets_the_write_take_effect_and_answers_502() {
    let env = env(config()).await;
    let t = env.token().await;
    let api = "/topapi/v2/user/create";
    env.control(
        Method::POST,
        "/_sim/faults",
        json!({"api": api, "lose_answer": true, "count": 1}),
    )
    .await;
    let body = json!({"userid": "lostanswer", "name": "丢失", "mobile": "13912340000", "dept_id_list": "1"});
    let url = format!("{}{api}?access_token={t}", env.base);
    let response = env.http.post(&url).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 502);
    // The user was created all the same: the retry meets 60102, and the user reads back.
    assert_eq!(env.post(api, &t, body).await["errcode"], 60102);
    let read = env
        .post("/topapi/v2/user/get", &t, json!({"userid": "lostanswer"}))
        .await;
    assert_eq!(read["result"]["mobile"], "13912340000", "{read}");

    // With an error code, that code is what the caller sees after the write.
    let dept = "/topapi/v2/department/create";
    env.control(
        Method::POST,
        "/_sim/faults",
        json!({"api": dept, "lose_answer": true, "errcode": -1, "count": 1}),
    )
    .await;
    let made = json!({"name": "Lost answer", "parent_id": 1, "source_identifier": "ours-1"});
    assert_eq!(env.post(dept, &t, made.clone()).await["errcode"], -1);
    assert_eq!(env.post(dept, &t, made).await["errcode"], 60021);
}
