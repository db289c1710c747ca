//! Departments and users: paging, rules and their codes.

use std::time::Duration;

use dingtalk_sim::Registration;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{config, env};

#[tokio::test]
async fn paging_walks_more_than_100_direct_members_with_next_cursor() {
    let env = env(config()).await;
    let token = env.token().await;
    let (dept, expected) = {
        let org = env.sim.state().corps[0].org.read().unwrap();
        let big = org
            .depts
            .values()
            .find(|d| d.members.len() > 100)
            .expect("a big department");
        (big.dept_id, big.members.clone())
    };
    let mut seen: Vec<String> = Vec::new();
    let mut cursor = 0;
    let mut pages = 0;
    loop {
        let body = env
            .post(
                "/topapi/v2/user/list",
                &token,
                json!({"dept_id": dept, "cursor": cursor, "size": 100}),
            )
            .await;
        assert_eq!(body["errcode"], 0, "{body}");
        let result = &body["result"];
        for user in result["list"].as_array().unwrap() {
            assert!(
                user["dept_id_list"]
                    .as_array()
                    .unwrap()
                    .contains(&json!(dept))
            );
            seen.push(user["userid"].as_str().unwrap().to_string());
        }
        pages += 1;
        if result["has_more"] == false {
            break;
        }
        cursor = result["next_cursor"].as_i64().unwrap();
    }
    assert!(pages >= 2);
    assert_eq!(seen, expected);

    let too_big = env
        .post(
            "/topapi/v2/user/list",
            &token,
            json!({"dept_id": dept, "cursor": 0, "size": 101}),
        )
        .await;
    assert_eq!(too_big["errcode"], 40069);
    let simple = env
        .post(
            "/topapi/user/listsimple",
            &token,
            json!({"dept_id": dept, "cursor": 0, "size": 10}),
        )
        .await;
    assert_eq!(simple["result"]["list"].as_array().unwrap().len(), 10);
    assert_eq!(simple["result"]["has_more"], true);
}

#[tokio::test]
async fn department_rules_answer_with_dingtalk_codes() {
    let env = env(config()).await;
    let t = env.token().await;
    let created = env
        .post(
            "/topapi/v2/department/create",
            &t,
            json!({"name": "模拟部", "parent_id": 1}),
        )
        .await;
    assert_eq!(created["errcode"], 0, "{created}");
    let id = created["result"]["dept_id"].as_i64().unwrap();
    let dup = env
        .post(
            "/topapi/v2/department/create",
            &t,
            json!({"name": "模拟部", "parent_id": 1}),
        )
        .await;
    assert_eq!(dup["errcode"], 60021);
    let bad_name = env
        .post(
            "/topapi/v2/department/create",
            &t,
            json!({"name": "a-b", "parent_id": 1}),
        )
        .await;
    assert_eq!(bad_name["errcode"], 60009);
    let no_parent = env
        .post(
            "/topapi/v2/department/create",
            &t,
            json!({"name": "x", "parent_id": 9}),
        )
        .await;
    assert_eq!(no_parent["errcode"], 60004);
    let child = env
        .post(
            "/topapi/v2/department/create",
            &t,
            json!({"name": "子部", "parent_id": id}),
        )
        .await;
    let child_id = child["result"]["dept_id"].as_i64().unwrap();

    let parents = env
        .post(
            "/topapi/v2/department/listparentbydept",
            &t,
            json!({"dept_id": child_id}),
        )
        .await;
    assert_eq!(
        parents["result"]["parent_id_list"],
        json!([child_id, id, 1])
    );
    let subs = env
        .post(
            "/topapi/v2/department/listsubid",
            &t,
            json!({"dept_id": id}),
        )
        .await;
    assert_eq!(subs["result"]["dept_id_list"], json!([child_id]));
    let listed = env
        .post("/topapi/v2/department/listsub", &t, json!({"dept_id": id}))
        .await;
    assert_eq!(listed["result"][0]["name"], "子部");

    assert_eq!(
        env.post("/topapi/v2/department/delete", &t, json!({"dept_id": id}))
            .await["errcode"],
        60006
    );
    assert_eq!(
        env.post("/topapi/v2/department/delete", &t, json!({"dept_id": 1}))
            .await["errcode"],
        60007
    );
    assert_eq!(
        env.post(
            "/topapi/v2/department/update",
            &t,
            json!({"dept_id": 1, "name": "x"})
        )
        .await["errcode"],
        60018
    );
    let cycle = env
        .post(
            "/topapi/v2/department/update",
            &t,
            json!({"dept_id": id, "parent_id": child_id}),
        )
        .await;
    assert_eq!(cycle["errcode"], 60010);
    assert_eq!(
        env.post("/topapi/v2/department/get", &t, json!({"dept_id": 424242}))
            .await["errcode"],
        60003
    );
    assert_eq!(
        env.post(
            "/topapi/v2/department/delete",
            &t,
            json!({"dept_id": child_id})
        )
        .await["errcode"],
        0
    );
    let got = env
        .post("/topapi/v2/department/get", &t, json!({"dept_id": id}))
        .await;
    assert_eq!(got["result"]["parent_id"], 1);
}

#[tokio::test]
async fn user_rules_answer_with_dingtalk_codes() {
    let env = env(config()).await;
    let t = env.token().await;
    let depts: Value = env
        .post("/topapi/v2/department/listsubid", &t, json!({"dept_id": 1}))
        .await;
    let d = depts["result"]["dept_id_list"].as_array().unwrap().clone();
    let list = format!("{},{}", d[0], d[1]);
    let body =
        json!({"userid": "simtest", "name": "测试", "mobile": "13912345678", "dept_id_list": list});
    let created = env.post("/topapi/v2/user/create", &t, body.clone()).await;
    assert_eq!(created["errcode"], 0, "{created}");
    assert!(created["result"]["unionId"].is_string());

    assert_eq!(
        env.post("/topapi/v2/user/create", &t, body.clone()).await["errcode"],
        60102
    );
    let same_mobile =
        json!({"userid": "other", "name": "乙", "mobile": "13912345678", "dept_id_list": "1"});
    assert_eq!(
        env.post("/topapi/v2/user/create", &t, same_mobile).await["errcode"],
        60104
    );
    let no_mobile = json!({"userid": "other", "name": "乙", "dept_id_list": "1"});
    assert_eq!(
        env.post("/topapi/v2/user/create", &t, no_mobile).await["errcode"],
        400002
    );
    assert_eq!(
        env.post("/topapi/v2/user/get", &t, json!({"userid": "ghost"}))
            .await["errcode"],
        60121
    );

    let got = env
        .post("/topapi/v2/user/get", &t, json!({"userid": "simtest"}))
        .await;
    assert_eq!(got["result"]["mobile"], "13912345678");
    assert_eq!(got["result"]["dept_id_list"].as_array().unwrap().len(), 2);
    for dept in &d[..2] {
        let ids = env
            .post("/topapi/user/listid", &t, json!({"dept_id": dept}))
            .await;
        assert!(
            ids["result"]["userid_list"]
                .as_array()
                .unwrap()
                .contains(&json!("simtest"))
        );
    }
    let by_mobile = env
        .post(
            "/topapi/v2/user/getbymobile",
            &t,
            json!({"mobile": "13912345678"}),
        )
        .await;
    assert_eq!(by_mobile["result"]["userid"], "simtest");
    let unionid = got["result"]["unionid"].clone();
    let by_union = env
        .post("/topapi/user/getbyunionid", &t, json!({"unionid": unionid}))
        .await;
    assert_eq!(by_union["result"]["userid"], "simtest");

    let moved = env
        .post(
            "/topapi/v2/user/update",
            &t,
            json!({"userid": "simtest", "dept_id_list": "1"}),
        )
        .await;
    assert_eq!(moved["errcode"], 0);
    assert_eq!(
        env.post("/topapi/v2/user/delete", &t, json!({"userid": "simtest"}))
            .await["errcode"],
        0
    );
    assert_eq!(
        env.post("/topapi/v2/user/delete", &t, json!({"userid": "simtest"}))
            .await["errcode"],
        60121
    );
    let gone = env
        .post(
            "/topapi/v2/user/getbymobile",
            &t,
            json!({"mobile": "13912345678"}),
        )
        .await;
    assert_eq!(gone["errcode"], 60121);
}

#[tokio::test]
async fn form_bodies_are_accepted_like_the_official_sdk_sends_them() {
    let env = env(config()).await;
    let t = env.token().await;
    let url = format!(
        "{}/topapi/v2/department/listsubid?access_token={t}",
        env.base
    );
    let response = env
        .http
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("dept_id=1")
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errcode"], 0);
    assert!(
        !body["result"]["dept_id_list"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn user_update_refuses_another_mobile_and_accepts_the_stored_one() {
    let env = env(config()).await;
    let t = env.token().await;
    // A callback URL that is down: every event is still listed in the push log.
    *env.sim.state().corps[0]
        .callbacks
        .registration
        .lock()
        .unwrap() = Some(Registration {
        call_back_tag: vec!["user_modify_org".into()],
        token: "token123".into(),
        aes_key: "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG".into(),
        url: "http://127.0.0.1:9/cb".into(),
    });
    let body =
        json!({"userid": "phone", "name": "甲", "mobile": "13911112222", "dept_id_list": "1"});
    let created = env.post("/topapi/v2/user/create", &t, body).await;
    assert_eq!(created["errcode"], 0, "{created}");
    let read = || env.post("/topapi/v2/user/get", &t, json!({"userid": "phone"}));
    let before = read().await["result"].clone();

    // Another mobile, with other fields beside it: refused as a whole.
    let changed =
        json!({"userid": "phone", "name": "乙", "title": "经理", "mobile": "13911113333"});
    let refused = env.post("/topapi/v2/user/update", &t, changed).await;
    assert_eq!(refused["errcode"], 41054, "{refused}");
    assert_eq!(
        refused["errmsg"],
        "暂时无法更换手机号，如需修改请删除用户后重试"
    );
    assert_eq!(read().await["result"], before);
    let by_new = env
        .post(
            "/topapi/v2/user/getbymobile",
            &t,
            json!({"mobile": "13911113333"}),
        )
        .await;
    assert_eq!(by_new["errcode"], 60121, "{by_new}");

    // The stored mobile is no change: the rest of the update is written.
    let same = json!({"userid": "phone", "name": "乙", "mobile": "13911112222"});
    let accepted = env.post("/topapi/v2/user/update", &t, same).await;
    assert_eq!(accepted["errcode"], 0, "{accepted}");
    let after = read().await["result"].clone();
    assert_eq!(after["name"], "乙");
    assert_eq!(after["mobile"], "13911112222");

    // Events are pushed in order: once the accepted update's is logged, a refused one would be too.
    let mut modified = 0;
    for _ in 0..200 {
        let (_, log) = env
            .control(Method::GET, "/_sim/callbacks", json!(null))
            .await;
        modified = ["delivered", "pending", "failed"]
            .iter()
            .flat_map(|outcome| log[outcome].as_array().cloned().unwrap_or_default())
            .filter(|e| e["event_type"] == "user_modify_org")
            .count();
        if modified > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(modified, 1);
}
