//! The push under DingTalk's failures (issue 11, "Done when" 5 and 6): a create that took effect
//! but whose answer was lost (the worker's view of a crash between the DingTalk write and the
//! mapping write) converges on the one department or user it made; throttling bursts, 5xx and
//! hangs delay pushes but lose none.

use reqwest::Method;
use serde_json::{Value, json};

use super::support::{PATIENCE, Pushing, mobile};
use crate::system::{Engine, eventually};

async fn fault(p: &Pushing, spec: Value) {
    p.sys.sim(Method::POST, "/_sim/faults", spec).await;
}

pub async fn a_create_whose_answer_is_lost_converges_on_one_department_and_one_user(
    engine: Engine,
) {
    let p = Pushing::start(engine, "delete").await;

    // The department is created, its answer lost (a 502 after the write); the retry finds it.
    fault(
        &p,
        json!({"api": "/topapi/v2/department/create", "lose_answer": true, "count": 1}),
    )
    .await;
    let unit = p.unit("Lost Answer", &p.root).await;
    eventually(PATIENCE, "the unit is mapped", || async {
        p.mapped(&unit).await.is_some()
    })
    .await;
    let org = p.org().await;
    let made = org.depts_named("Lost Answer");
    assert_eq!(made.len(), 1, "one department: {made:?}");
    assert_eq!(p.mapped(&unit).await, Some(made[0]["dept_id"].to_string()));

    // The same for a user, its answer lost to a hang past the client's timeout.
    fault(
        &p,
        json!({"api": "/topapi/v2/user/create", "lose_answer": true, "hang_ms": 2500,
               "count": 1}),
    )
    .await;
    let id = p
        .account(json!({
            "username": "lost.answer", "display_name": "丢了回答", "mobile": mobile(3000),
            "email": "lost.answer@push.example.com", "org_unit_ids": [unit],
        }))
        .await;
    eventually(PATIENCE, "the account is pushed", || async {
        p.push_state(&id).await.0 == "pushed"
    })
    .await;
    let org = p.org().await;
    let users = org.users_with_mobile(&mobile(3000));
    assert_eq!(users.len(), 1, "one user: {users:?}");
    assert_eq!(p.mapped(&id).await.as_deref(), users[0]["userid"].as_str());
    let faults: Value = p
        .sys
        .http
        .get(format!("{}/_sim/faults", p.sys.sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(faults, json!([]), "both faults fired");

    // The callbacks of both creates add nothing to the directory.
    p.settled().await;
    let accounts = p.directory_accounts().await;
    assert_eq!(accounts.keys().collect::<Vec<_>>(), [&id], "{accounts:?}");
    p.sys.stop().await;
}

pub async fn throttling_bursts_5xx_and_hangs_lose_no_push(engine: Engine) {
    let p = Pushing::start(engine, "delete").await;
    // Each API's faults fire in the order given: a burst first, then a share of calls.
    for spec in [
        json!({"api": "/topapi/v2/user/create", "errcode": 90018, "count": 6}),
        json!({"api": "/topapi/v2/user/create", "errcode": 90018, "fraction": 0.15, "count": 10}),
        json!({"api": "/topapi/v2/department/create", "http_status": 503, "count": 3}),
        json!({"api": "/topapi/v2/department/create", "errcode": -1, "count": 2}),
        json!({"api": "/topapi/v2/department/listsub", "hang_ms": 2500, "count": 1}),
        json!({"api": "/topapi/v2/user/get", "http_status": 502, "fraction": 0.2, "count": 5}),
    ] {
        fault(&p, spec).await;
    }
    let top = p.unit("Stormy", &p.root).await;
    let mid = p.unit("Stormy Mid", &top).await;
    let low = p.unit("Stormy Low", &mid).await;
    let units = [&top, &mid, &low];
    let bodies = (0..30)
        .map(|i| {
            json!({
                "username": format!("storm.user{i}"), "display_name": format!("风暴{i}"),
                "mobile": mobile(4000 + i), "email": format!("storm.user{i}@push.example.com"),
                "org_unit_ids": [units[i % 3]],
            })
        })
        .collect();
    let ids = p.accounts(bodies).await;

    // Pushes that were still waiting on their last delivery (throttled, or their parent not
    // made yet) are the sweeper's: it runs as the 1-minute schedule would, without the minute.
    p.until_swept("every unit and account reaches DingTalk", |org| {
        org.users_with_prefix("db") == 30 && !org.depts_named("Stormy Low").is_empty()
    })
    .await;
    for id in ids.iter().chain(units) {
        eventually(PATIENCE, "every push settles", || async {
            p.mapped(id).await.is_some()
        })
        .await;
    }
    let org = p.org().await;
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(
            org.users_with_mobile(&mobile(4000 + i)).len(),
            1,
            "account {i}"
        );
        eventually(PATIENCE, "the account's push settles", || async {
            p.push_state(id).await.0 == "pushed"
        })
        .await;
    }
    for name in ["Stormy", "Stormy Mid", "Stormy Low"] {
        assert_eq!(org.depts_named(name).len(), 1, "{name}");
    }
    p.sys.stop().await;
}
