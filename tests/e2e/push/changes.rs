//! Changes to a pushed subtree through the admin API follow in DingTalk (issue 11, "Done when"
//! 2–4): renames, moves, membership changes, disables and deletes under each delete policy; an
//! account without a mobile waits parked until it has one; a mobile DingTalk already knows links
//! the account to that user (link mode `mapping`). The callbacks each change triggers leave the
//! directory as the admin wrote it.

use reqwest::Method;
use serde_json::{Value, json};

use super::support::{Org, Pushing, mobile};
use crate::system::Engine;

fn person(i: usize, units: &[&String]) -> Value {
    json!({
        "username": format!("change.user{i}"), "display_name": format!("变更用户{i}"),
        "mobile": mobile(1000 + i), "email": format!("change.user{i}@push.example.com"),
        "org_unit_ids": units,
    })
}

fn dept_of(org: &Org, id: &Option<String>) -> i64 {
    let id: i64 = id.as_deref().unwrap().parse().unwrap();
    assert!(org.dept(id).is_some(), "department {id} is not in DingTalk");
    id
}

pub async fn renames_moves_memberships_disables_and_deletes_follow_under_each_delete_policy(
    engine: Engine,
) {
    let p = Pushing::start(engine, "delete").await;
    let alpha = p.unit("Alpha", &p.root).await;
    let beta = p.unit("Beta", &p.root).await;
    let one = p.unit("Alpha One", &alpha).await;
    let two = p.unit("Alpha Two", &alpha).await;
    let spare = p.unit("Spare", &beta).await;
    let mut people = Vec::new();
    for i in 0..5 {
        let units = if i == 1 { vec![&one, &two] } else { vec![&one] };
        people.push(p.account(person(i, &units)).await);
    }
    let org = p
        .until("the subtree and its five accounts reach DingTalk", |org| {
            org.users_with_prefix("db") == 5 && !org.depts_named("Spare").is_empty()
        })
        .await;
    let mut userids = Vec::new();
    for id in &people {
        userids.push(p.mapped(id).await.unwrap());
    }
    let d = |unit: &String| {
        let p = &p;
        let unit = unit.clone();
        async move { p.mapped(&unit).await }
    };
    let (d_beta, d_one, d_two, d_spare) = (
        dept_of(&org, &d(&beta).await),
        dept_of(&org, &d(&one).await),
        dept_of(&org, &d(&two).await),
        dept_of(&org, &d(&spare).await),
    );

    // A rename, a move, a membership change and an account rename.
    p.patch(
        &format!("/admin/api/org-units/{one}"),
        json!({"name": "Alpha Uno"}),
    )
    .await;
    p.patch(
        &format!("/admin/api/org-units/{two}"),
        json!({"parent_id": beta}),
    )
    .await;
    let u0 = format!("/admin/api/accounts/{}", people[0]);
    p.patch(
        &u0,
        json!({"org_unit_ids": [two, beta], "display_name": "改了名字"}),
    )
    .await;
    let org = p
        .until(
            "the rename, move and membership change reach DingTalk",
            |org| {
                org.dept(d_one).is_some_and(|d| d["name"] == "Alpha Uno")
                    && org.dept(d_two).is_some_and(|d| d["parent_id"] == d_beta)
                    && org.dept_list(&userids[0]) == sorted(vec![d_two, d_beta])
                    && org
                        .user(&userids[0])
                        .is_some_and(|u| u["name"] == "改了名字")
            },
        )
        .await;
    assert_eq!(org.dept_list(&userids[1]), sorted(vec![d_one, d_two]));

    // Policy `delete`: a disabled account's user and a deleted account's user are deleted.
    let path = |i: usize| format!("/admin/api/accounts/{}", people[i]);
    p.patch(&path(1), json!({"enabled": false})).await;
    p.call(Method::DELETE, &path(2), None).await;
    p.until(
        "the disabled and the deleted account leave DingTalk",
        |org| org.user(&userids[1]).is_none() && org.user(&userids[2]).is_none(),
    )
    .await;
    assert_eq!(p.mapped(&people[1]).await, None);

    // Policy `move`: the user goes to the holding department, alone.
    p.connector(json!({"push_delete_policy": "move"})).await;
    p.patch(&path(3), json!({"enabled": false})).await;
    let holding = p.holding_dept;
    p.until("the disabled user moves to the holding department", |org| {
        org.dept_list(&userids[3]) == [holding]
    })
    .await;

    // Policy `keep`: the user stays as it is, and the push says so.
    p.connector(json!({"push_delete_policy": "keep"})).await;
    p.patch(&path(4), json!({"enabled": false})).await;
    crate::system::eventually(super::support::PATIENCE, "the keep is settled", || async {
        p.push_state(&people[4]).await.0 == "pushed"
    })
    .await;
    assert_eq!(p.org().await.dept_list(&userids[4]), [d_one]);

    // An emptied unit's department is deleted.
    p.call(
        Method::DELETE,
        &format!("/admin/api/org-units/{spare}"),
        None,
    )
    .await;
    p.until("the deleted unit's department leaves DingTalk", |org| {
        org.dept(d_spare).is_none()
    })
    .await;
    assert_eq!(p.mapped(&spare).await, None);

    // Once the callbacks of all that are applied, the directory is as the admin wrote it.
    p.settled().await;
    let accounts = p.directory_accounts().await;
    assert_eq!(accounts.len(), 4, "{accounts:?}");
    assert!(!accounts.contains_key(&people[2]));
    for (i, enabled) in [(0, true), (1, false), (3, false), (4, false)] {
        let (_, account) = p.push_state(&people[i]).await;
        assert_eq!(
            account["status"] == "enabled",
            enabled,
            "account {i} after the callbacks: {account}"
        );
    }
    let (_, moved) = p.push_state(&people[0]).await;
    assert_eq!(moved["display_name"], "改了名字");
    let units: Vec<&str> = moved["memberships"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["org_unit_id"].as_str().unwrap())
        .collect();
    assert_eq!(sorted(units), sorted(vec![beta.as_str(), two.as_str()]));
    let unit = p
        .call(Method::GET, &format!("/admin/api/org-units/{two}"), None)
        .await;
    assert_eq!(unit["parent_id"], beta.as_str());
    p.sys.stop().await;
}

/// A disabled account whose user the push moved to the holding department stays disabled once
/// that move's own callback is applied.
pub async fn a_user_moved_to_the_holding_department_leaves_its_account_disabled(engine: Engine) {
    let p = Pushing::start(engine, "move").await;
    let unit = p.unit("Movers", &p.root).await;
    let id = p.account(person(0, &[&unit])).await;
    crate::system::eventually(
        super::support::PATIENCE,
        "the account is pushed",
        || async { p.push_state(&id).await.0 == "pushed" },
    )
    .await;
    let userid = p.mapped(&id).await.unwrap();
    p.patch(
        &format!("/admin/api/accounts/{id}"),
        json!({"enabled": false}),
    )
    .await;
    let holding = p.holding_dept;
    p.until("the user moves to the holding department", |org| {
        org.dept_list(&userid) == [holding]
    })
    .await;
    p.settled().await;
    let (_, account) = p.push_state(&id).await;
    assert_eq!(account["status"], "disabled", "{account}");
    p.sys.stop().await;
}

pub async fn an_account_without_a_mobile_is_parked_until_it_has_one(engine: Engine) {
    let p = Pushing::start(engine, "delete").await;
    let unit = p.unit("No Mobile", &p.root).await;
    let mut body = person(0, &[&unit]);
    body["mobile"] = Value::Null;
    let id = p.account(body).await;
    crate::system::eventually(super::support::PATIENCE, "the push is parked", || async {
        p.push_state(&id).await.0 == "parked"
    })
    .await;
    let (_, parked) = p.push_state(&id).await;
    let reason = parked["push"][0]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("DingTalk requires a mobile number"),
        "{parked}"
    );
    assert_eq!(p.org().await.users_with_prefix("db"), 0);

    // The mobile added, the account is pushed.
    p.patch(
        &format!("/admin/api/accounts/{id}"),
        json!({"mobile": mobile(1900)}),
    )
    .await;
    let org = p
        .until("the account reaches DingTalk", |org| {
            org.users_with_mobile(&mobile(1900)).len() == 1
        })
        .await;
    let userid = org.users_with_mobile(&mobile(1900))[0]["userid"].clone();
    crate::system::eventually(super::support::PATIENCE, "the push is settled", || async {
        p.push_state(&id).await.0 == "pushed"
    })
    .await;
    assert_eq!(p.mapped(&id).await.map(Value::from), Some(userid));
    p.sys.stop().await;
}

pub async fn a_mobile_dingtalk_already_has_links_the_account_to_that_user(engine: Engine) {
    let p = Pushing::start(engine, "delete").await;
    // A DingTalk user the directory does not have: without an email, its own callback cannot
    // make an account (the connector takes the account's email from DingTalk's `email`).
    let existing = "already.here";
    p.sys
        .sim(
            Method::POST,
            "/_sim/users",
            json!({"userid": existing, "name": "早已存在", "mobile": mobile(2000),
                   "dept_id_list": p.parent_dept.to_string()}),
        )
        .await;
    let unit = p.unit("Linked", &p.root).await;
    let mut body = person(0, &[&unit]);
    body["mobile"] = json!(mobile(2000));
    body["title"] = json!("Linked title");
    let id = p.account(body).await;

    crate::system::eventually(super::support::PATIENCE, "the account links", || async {
        p.mapped(&id).await.as_deref() == Some(existing)
    })
    .await;
    let dept: i64 = p.mapped(&unit).await.unwrap().parse().unwrap();
    let org = p
        .until("the linked user is updated", |org| {
            org.user(existing)
                .is_some_and(|u| u["title"] == "Linked title")
        })
        .await;
    assert_eq!(
        org.users_with_mobile(&mobile(2000)).len(),
        1,
        "no second user"
    );
    let user = org.user(existing).unwrap();
    assert_eq!(user["name"], "变更用户0");
    assert_eq!(user["email"], "change.user0@push.example.com");
    // The pushed parent is the push's to manage: the user now sits where the account does.
    assert_eq!(org.dept_list(existing), [dept]);

    p.settled().await;
    let accounts = p.directory_accounts().await;
    assert_eq!(accounts.keys().collect::<Vec<_>>(), [&id], "{accounts:?}");
    p.sys.stop().await;
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort_unstable();
    v
}
