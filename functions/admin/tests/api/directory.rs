//! Accounts and org units are read with their DingTalk mappings; password hashes never leave.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::http::{Method, StatusCode};
use dingbridge::domain::directory::{Account, AccountStatus, Membership, Origin};
use dingbridge::domain::ids::{AccountId, ConnectorId};
use dingbridge::domain::values::{DisplayName, Email, Username};
use dingbridge::ports::SystemClock;
use dingbridge::store::Actor;
use dingbridge::store::directory::{Directory, NewOrgUnit};
use dingbridge::store::mappings::{MappedKind, Mapping, Mappings};

use crate::support::Env;

#[tokio::test]
async fn accounts_and_units_come_with_their_mappings_and_without_password_hashes() {
    let env = Env::new().await;
    let directory = Directory::new(env.table.clone(), Arc::new(SystemClock));
    let mappings = Mappings::new(env.table.clone());
    let actor = Actor::new(Origin::DingtalkPull, "test");
    let connector = ConnectorId::generate();
    let root = directory.ensure_root().await.unwrap();
    let unit = directory
        .create_org_unit(
            NewOrgUnit {
                scim: None,
                name: "Sales".into(),
                parent_id: root.id.clone(),
                order: 1,
            },
            &actor,
        )
        .await
        .unwrap();
    let hash = dingbridge::secrets::hash_password("Secret-Passw0rd").unwrap();
    let account = directory
        .create_account(
            Account {
                scim: None,
                id: AccountId::generate(),
                username: Username::parse("zhang.san").unwrap(),
                display_name: DisplayName::parse("张三").unwrap(),
                email: Some(Email::parse("zhang.san@example.com").unwrap()),
                mobile: None,
                job_number: None,
                title: None,
                status: AccountStatus::Enabled,
                memberships: vec![Membership {
                    org_unit_id: unit.id.clone(),
                    primary: true,
                }],
                password_hash: Some(hash.clone()),
                must_change_password: true,
                password_changed_ms: None,
                attributes: BTreeMap::new(),
                version: 0,
                created_ms: 0,
                updated_ms: 0,
            },
            &actor,
        )
        .await
        .unwrap();
    for (kind, external_id, our_id) in [
        (MappedKind::User, "manager4220", account.id.to_string()),
        (MappedKind::Dept, "42", unit.id.to_string()),
    ] {
        mappings
            .put(&Mapping {
                connector_id: connector.clone(),
                kind,
                external_id: external_id.into(),
                our_id,
                unionid: None,
            })
            .await
            .unwrap();
    }

    let list = env.call(Method::GET, "/admin/api/accounts", None).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    let item = &list.body["items"][0];
    assert_eq!(item["username"], "zhang.san");
    assert_eq!(item["status"], "enabled");
    assert_eq!(item["password_set"], true);
    assert_eq!(item["mappings"][0]["connector_id"], connector.as_str());
    assert_eq!(item["mappings"][0]["kind"], "user");
    assert_eq!(item["mappings"][0]["external_id"], "manager4220");
    assert!(!list.text.contains("argon2") && !list.text.contains("password_hash"));

    let one = env
        .call(
            Method::GET,
            &format!("/admin/api/accounts/{}", account.id),
            None,
        )
        .await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.body["display_name"], "张三");
    assert!(!one.text.contains(&hash));

    let units = env.call(Method::GET, "/admin/api/org-units", None).await;
    assert_eq!(units.status, StatusCode::OK);
    let sales = units.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "Sales")
        .unwrap();
    assert_eq!(sales["mappings"][0]["external_id"], "42");
    assert_eq!(sales["parent_id"], root.id.as_str());
    let one = env
        .call(
            Method::GET,
            &format!("/admin/api/org-units/{}", unit.id),
            None,
        )
        .await;
    assert_eq!(one.body["mappings"][0]["kind"], "dept");

    let history = env
        .call(
            Method::GET,
            &format!(
                "/admin/api/audit?entity_kind=account&entity_id={}",
                account.id
            ),
            None,
        )
        .await;
    assert_eq!(history.status, StatusCode::OK);
    assert_eq!(history.body["items"][0]["action"], "create");
    assert_eq!(history.body["items"][0]["origin"], "dingtalk-pull");
    assert!(!history.text.contains("argon2"));

    let whole = env.call(Method::GET, "/admin/api/audit", None).await;
    assert_eq!(
        whole.status,
        StatusCode::OK,
        "without an entity: the whole log"
    );
    assert!(whole.text.contains(account.id.as_str()));
    assert!(!whole.text.contains("argon2"));
    let unknown = env
        .call(
            Method::GET,
            &format!("/admin/api/accounts/{}", AccountId::generate()),
            None,
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}
