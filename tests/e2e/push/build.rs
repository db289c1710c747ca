//! Building a pushed subtree through the admin API (issue 11, "Done when" 1 and 7): a four-level
//! tree and 200 accounts reach DingTalk with their parents, fields and department lists, the
//! DingTalk ids land in the mappings, and the callbacks those pushes trigger add no account.

use std::collections::BTreeSet;
use std::time::Instant;

use dingbridge::domain::ids::AccountId;
use serde_json::json;

use super::support::{PATIENCE, Pushing, mobile};
use crate::system::{Engine, eventually};

const ACCOUNTS: usize = 200;
const TEAMS: usize = 4;

pub async fn a_pushed_subtree_of_200_accounts_reaches_dingtalk_and_its_callbacks_add_no_account(
    engine: Engine,
) {
    let p = Pushing::start(engine, "delete").await;
    let began = Instant::now();

    // Four levels below the push root; the fourth holds four teams.
    let region = p.unit("East", &p.root).await;
    let area = p.unit("East Sales", &region).await;
    let site = p.unit("East Sales HZ", &area).await;
    let mut teams = Vec::new();
    for t in 0..TEAMS {
        teams.push(p.unit(&format!("Team {t}"), &site).await);
    }
    // Every account in one team; every tenth also in the area (two departments).
    let bodies = (0..ACCOUNTS)
        .map(|i| {
            let mut units = vec![teams[i % TEAMS].clone()];
            if i % 10 == 0 {
                units.push(area.clone());
            }
            json!({
                "username": format!("push.user{i}"), "display_name": format!("推送用户{i}"),
                "mobile": mobile(i), "email": format!("push.user{i}@push.example.com"),
                "title": format!("Engineer {}", i % 3), "job_number": format!("J{i:04}"),
                "org_unit_ids": units,
            })
        })
        .collect();
    let ids = p.accounts(bodies).await;
    let written = began.elapsed();

    let org = p
        .until("the subtree and every account reach DingTalk", |org| {
            org.users_with_prefix("db") == ACCOUNTS
                && (0..TEAMS).all(|t| !org.depts_named(&format!("Team {t}")).is_empty())
        })
        .await;
    let pushed = began.elapsed();

    // Each department under its parent's; the push root stands for the pushed department.
    let dept = |name: &str| {
        let found = org.depts_named(name);
        assert_eq!(found.len(), 1, "{name}: {found:?}");
        found[0]["dept_id"].as_i64().unwrap()
    };
    let parent_of = |id: i64| org.dept(id).unwrap()["parent_id"].as_i64().unwrap();
    assert_eq!(parent_of(dept("East")), p.parent_dept);
    assert_eq!(parent_of(dept("East Sales")), dept("East"));
    assert_eq!(parent_of(dept("East Sales HZ")), dept("East Sales"));
    for t in 0..TEAMS {
        assert_eq!(parent_of(dept(&format!("Team {t}"))), dept("East Sales HZ"));
    }
    // The units' mappings name those departments.
    for (unit, name) in [
        (&region, "East"),
        (&area, "East Sales"),
        (&site, "East Sales HZ"),
    ] {
        assert_eq!(p.mapped(unit).await, Some(dept(name).to_string()));
    }

    // Every account: its fields and departments under the userid the push derives from it,
    // and the mapping of that userid back to it.
    let connector = &p.sys.connector_id;
    for (i, id) in ids.iter().enumerate() {
        let account = AccountId::parse(id).unwrap();
        let userid = push_worker::userid_for(&account).unwrap();
        let user = org
            .user(userid.as_str())
            .unwrap_or_else(|| panic!("account {i} is not in DingTalk"));
        assert_eq!(user["name"], format!("推送用户{i}"));
        assert_eq!(user["mobile"], mobile(i));
        assert_eq!(user["email"], format!("push.user{i}@push.example.com"));
        assert_eq!(user["title"], format!("Engineer {}", i % 3));
        assert_eq!(user["job_number"], format!("J{i:04}"));
        let mut want = vec![dept(&format!("Team {}", i % TEAMS))];
        if i % 10 == 0 {
            want.push(dept("East Sales"));
        }
        want.sort_unstable();
        assert_eq!(org.dept_list(userid.as_str()), want, "account {i}");
        // The mapping is written just after the create's answer: allow for that instant.
        eventually(PATIENCE, "the account's mapping", || async {
            p.sys
                .mappings()
                .account_of(connector, &userid)
                .await
                .unwrap()
                == Some(account.clone())
        })
        .await;
    }
    let checked = began.elapsed();

    // The callbacks of those creates came back into the directory: they changed no account
    // into another and added none.
    p.settled().await;
    let settled = began.elapsed();
    let accounts = p.directory_accounts().await;
    let want: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(
        accounts.keys().collect::<BTreeSet<_>>(),
        want,
        "the directory holds exactly the accounts made through the API"
    );
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(accounts[id], format!("push.user{i}"));
    }
    // Nor moved a pushed unit out of the subtree.
    let unit = p
        .call(
            reqwest::Method::GET,
            &format!("/admin/api/org-units/{region}"),
            None,
        )
        .await;
    assert_eq!(unit["parent_id"], p.root.as_str(), "{unit}");

    eprintln!(
        "push build on {engine:?}: {ACCOUNTS} accounts written {written:?} ({} creates \
         answered 503 and retried), in DingTalk {pushed:?}, checked {checked:?}, callbacks \
         settled {settled:?}",
        p.retried.load(std::sync::atomic::Ordering::Relaxed)
    );
    p.sys.stop().await;
}
