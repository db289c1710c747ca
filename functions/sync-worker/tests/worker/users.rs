//! Users: add, modify, move, leave (disable or delete), rehire; default password on import.

use dingbridge::domain::connector::LeaverPolicy;
use dingbridge::domain::directory::AccountStatus;
use dingbridge::secrets::verify_password;
use serde_json::json;

use crate::support::{SideOptions, side, sim};

#[tokio::test]
async fn an_added_user_gets_an_account_with_its_departments_and_mapping() {
    let sim = sim().await;
    let side = side(&sim, SideOptions::default()).await;
    let sales = sim.create_dept("Sales", 1).await;
    let east = sim.create_dept("East", sales).await;
    sim.create_user("ZhangSan", "张三", 1, &[east, sales]).await;

    side.apply(&[side.users(&["ZhangSan"], "user_add_org")])
        .await;

    let a = side.account("zhangsan").await.expect("account created");
    assert_eq!(a.display_name.as_str(), "张三");
    assert_eq!(a.mobile.as_ref().unwrap().as_str(), "13800000001");
    assert_eq!(a.email.as_ref().unwrap().as_str(), "zhangsan@example.com");
    assert_eq!(
        (a.title.as_deref(), a.job_number.as_deref()),
        (Some("engineer"), Some("J1"))
    );
    assert_eq!(a.status, AccountStatus::Enabled);
    // Ancestors were created first; the primary unit is the first DingTalk department.
    let east_unit = side.unit_of(east).await.unwrap();
    let sales_unit = side.unit_of(sales).await.unwrap();
    assert_eq!(a.primary_unit(), Some(&east_unit));
    assert_eq!(a.memberships.len(), 2);
    let east_ou = side.directory.org_unit(&east_unit).await.unwrap().unwrap();
    assert_eq!(east_ou.parent_id, Some(sales_unit));
    let mapped = side
        .mappings
        .account_of(
            &side.connector.id,
            &dingbridge::dingtalk::DingUserId::parse("ZhangSan").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(mapped, Some(a.id));
    assert!(
        !a.must_change_password && a.password_hash.is_none(),
        "no default password set"
    );
}

#[tokio::test]
async fn a_modified_or_moved_user_is_updated_and_a_replay_writes_nothing() {
    let sim = sim().await;
    let side = side(&sim, SideOptions::default()).await;
    let a = sim.create_dept("A", 1).await;
    let b = sim.create_dept("B", 1).await;
    sim.create_user("lisi", "李四", 2, &[a]).await;
    side.apply(&[side.users(&["lisi"], "user_add_org")]).await;
    let before = side.account("lisi").await.unwrap();

    sim.patch_user(
        "lisi",
        json!({"name": "李四四", "title": "lead", "dept_id_list": [b]}),
    )
    .await;
    side.apply(&[side.users(&["lisi"], "user_modify_org")])
        .await;
    let after = side.account("lisi").await.unwrap();
    assert_eq!(after.id, before.id);
    assert_eq!(after.display_name.as_str(), "李四四");
    assert_eq!(after.title.as_deref(), Some("lead"));
    assert_eq!(after.primary_unit(), side.unit_of(b).await.as_ref());
    assert_eq!(after.memberships.len(), 1);

    side.apply(&[side.users(&["lisi"], "user_modify_org")])
        .await;
    let again = side.account("lisi").await.unwrap();
    assert_eq!(
        again.version, after.version,
        "a no-op reconcile writes nothing"
    );
}

#[tokio::test]
async fn a_leaver_is_disabled_and_a_rehire_re_enables_the_same_account() {
    let sim = sim().await;
    let side = side(&sim, SideOptions::default()).await;
    let a = sim.create_dept("A", 1).await;
    sim.create_user("wangwu", "王五", 3, &[a]).await;
    side.apply(&[side.users(&["wangwu"], "user_add_org")]).await;
    let created = side.account("wangwu").await.unwrap();

    sim.delete_user("wangwu").await;
    side.apply(&[side.users(&["wangwu"], "user_leave_org")])
        .await;
    let left = side.account("wangwu").await.unwrap();
    assert_eq!(left.status, AccountStatus::Disabled);
    assert!(left.memberships.is_empty());
    assert_eq!(left.id, created.id);

    sim.create_user("wangwu", "王五", 3, &[a]).await;
    side.apply(&[side.users(&["wangwu"], "user_add_org")]).await;
    let back = side.account("wangwu").await.unwrap();
    assert_eq!(back.id, created.id, "the mapping was kept");
    assert_eq!(back.status, AccountStatus::Enabled);
    assert_eq!(back.primary_unit(), side.unit_of(a).await.as_ref());
}

#[tokio::test]
async fn under_the_delete_policy_a_leaver_loses_account_and_mapping() {
    let sim = sim().await;
    let side = side(
        &sim,
        SideOptions {
            leaver_policy: LeaverPolicy::Delete,
            ..SideOptions::default()
        },
    )
    .await;
    let a = sim.create_dept("A", 1).await;
    sim.create_user("zhaoliu", "赵六", 4, &[a]).await;
    side.apply(&[side.users(&["zhaoliu"], "user_add_org")])
        .await;
    assert!(side.account("zhaoliu").await.is_some());

    sim.delete_user("zhaoliu").await;
    side.apply(&[side.users(&["zhaoliu"], "user_leave_org")])
        .await;
    assert!(side.account("zhaoliu").await.is_none());
    let mapped = side
        .mappings
        .account_of(
            &side.connector.id,
            &dingbridge::dingtalk::DingUserId::parse("zhaoliu").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(mapped, None);
    // A second leave event for the same user is a no-op, not an error.
    side.apply(&[side.users(&["zhaoliu"], "user_leave_org")])
        .await;
}

#[tokio::test]
async fn imported_accounts_get_the_default_password_and_must_change_it() {
    let sim = sim().await;
    let side = side(
        &sim,
        SideOptions {
            default_password: Some("Welcome-2024x".into()),
            ..SideOptions::default()
        },
    )
    .await;
    let a = sim.create_dept("A", 1).await;
    sim.create_user("sunqi", "孙七", 5, &[a]).await;
    side.apply(&[side.users(&["sunqi"], "user_add_org")]).await;
    let account = side.account("sunqi").await.unwrap();
    assert!(verify_password(
        "Welcome-2024x",
        account.password_hash.as_deref().unwrap()
    ));
    assert!(account.must_change_password);
}
