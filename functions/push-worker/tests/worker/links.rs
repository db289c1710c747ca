//! Link mode `association`: a mobile already in the corp files a link request and parks the
//! push; an approval (the mapping it writes) lets the re-driven push link and update the user
//! without filing again; a refusal keeps the push parked with the admin's choices.

use dingbridge::domain::connector::LinkMode;
use dingbridge::domain::directory::Origin;
use dingbridge::domain::ids::AccountId;
use dingbridge::domain::sync::PushEntity;
use dingbridge::domain::values::Mobile;
use dingbridge::store::Actor;
use dingbridge::store::link_requests::{LinkRequest, LinkRequestState};
use dingbridge::store::outbox::OutboxState;

use crate::support::{Options, World, world};

fn admin() -> Actor {
    Actor::new(Origin::Admin, "admin-token:ops:1234abcd")
}

/// An association-mode world where Alice's mobile is DingTalk user `zhangsan`'s, and Alice's
/// first push has parked on it.
async fn parked_on_a_taken_mobile() -> (World, AccountId) {
    let w = world(Options {
        link_mode: LinkMode::Association,
        ..Options::default()
    })
    .await;
    w.dingtalk_user("zhangsan", "13800000001", &[1]).await;
    let alice = w.alice(&[&w.root]).await;
    assert!(w.push(PushEntity::Account(alice.clone())).await);
    (w, alice)
}

async fn request(w: &World, account: &AccountId) -> LinkRequest {
    w.deps
        .link_requests
        .get(&w.connector.id, account)
        .await
        .unwrap()
        .expect("a link request")
}

/// Re-drives the account's parked push and delivers it, as the admin API and the queue would.
async fn redrive(w: &World, account: &AccountId) -> bool {
    let message = w
        .outbox
        .redrive(&w.connector.id, &PushEntity::Account(account.clone()))
        .await
        .unwrap()
        .unwrap();
    w.deliver(&message).await
}

#[tokio::test]
async fn a_taken_mobile_files_one_link_request_with_the_dingtalk_user_as_read() {
    let (w, alice) = parked_on_a_taken_mobile().await;
    let filed = request(&w, &alice).await;
    assert_eq!(filed.state, LinkRequestState::Pending);
    assert_eq!(filed.userid.as_str(), "zhangsan");
    assert_eq!(filed.dingtalk_name, "Existing");
    assert_eq!(filed.dingtalk_mobile.as_deref(), Some("138****0001"));
    assert_eq!(filed.code, "60104");
    let item = w
        .outbox_item(&PushEntity::Account(alice.clone()))
        .await
        .unwrap();
    assert_eq!(item.state, OutboxState::Parked);
    assert_eq!(item.reason, Some(filed.waiting_reason()));

    // Pushed again: the same request, refreshed, and DingTalk's user left alone.
    assert!(redrive(&w, &alice).await);
    let again = request(&w, &alice).await;
    assert_eq!(again.created_ms, filed.created_ms);
    assert!(again.filed_ms >= filed.filed_ms);
    let listed = w
        .deps
        .link_requests
        .list(&w.connector.id, None, 10, None)
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(w.users().await.len(), 1);
    assert_eq!(w.user("zhangsan").await.unwrap()["name"], "Existing");
}

#[tokio::test]
async fn an_approved_request_links_and_updates_the_user_at_the_redrive_without_filing_again() {
    let (w, alice) = parked_on_a_taken_mobile().await;
    let pending = request(&w, &alice).await;
    let approved = w
        .deps
        .link_requests
        .approve(&pending, &admin())
        .await
        .unwrap();

    assert!(redrive(&w, &alice).await);

    assert_eq!(w.userid_of(&alice).await.as_deref(), Some("zhangsan"));
    assert_eq!(
        w.outbox_item(&PushEntity::Account(alice.clone())).await,
        None,
        "settled"
    );
    let user = w.user("zhangsan").await.unwrap();
    assert_eq!(user["name"], "Alice", "updated once linked");
    assert_eq!(w.users().await.len(), 1, "no second user");
    assert_eq!(request(&w, &alice).await, approved, "not filed again");

    // Later changes update the linked user like any pushed one.
    w.edit_account(&alice, |a| a.title = Some("lead".into()))
        .await;
    w.push_all(&[PushEntity::Account(alice.clone())]).await;
    assert_eq!(w.user("zhangsan").await.unwrap()["title"], "lead");
    assert_eq!(request(&w, &alice).await, approved);
}

#[tokio::test]
async fn a_refused_request_keeps_the_push_parked_until_the_mobile_is_corrected() {
    let (w, alice) = parked_on_a_taken_mobile().await;
    let pending = request(&w, &alice).await;
    let refused = w
        .deps
        .link_requests
        .refuse(&pending, &admin())
        .await
        .unwrap();

    // Re-driven without a change: parked again with the refusal, the request left refused.
    assert!(redrive(&w, &alice).await);
    let item = w
        .outbox_item(&PushEntity::Account(alice.clone()))
        .await
        .unwrap();
    assert_eq!(item.state, OutboxState::Parked);
    let reason = item.reason.unwrap();
    assert_eq!(reason, refused.refused_reason());
    assert!(
        reason.contains("Correct the account's mobile")
            && reason.contains("delete that DingTalk user"),
        "{reason}"
    );
    assert_eq!(request(&w, &alice).await, refused);
    assert_eq!(w.user("zhangsan").await.unwrap()["name"], "Existing");
    assert_eq!(w.userid_of(&alice).await, None);

    // The admin corrects the mobile: the push creates Alice's own user.
    w.edit_account(&alice, |a| {
        a.mobile = Some(Mobile::parse("13900000002").unwrap())
    })
    .await;
    w.push_all(&[PushEntity::Account(alice.clone())]).await;
    let userid = w.userid_of(&alice).await.unwrap();
    assert_ne!(userid, "zhangsan");
    assert_eq!(w.user("zhangsan").await.unwrap()["name"], "Existing");
    assert_eq!(w.users().await.len(), 2);
}
