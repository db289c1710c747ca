//! Link requests (push link mode `association`) on every engine: filed once per connector ×
//! account and refreshed, listed by state newest first, approved with their mapping and audit
//! entry in one transaction, refused; stale and repeated decisions are conflicts.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use dingbridge::dingtalk::DingUserId;
use dingbridge::domain::directory::Origin;
use dingbridge::domain::ids::{AccountId, ConnectorId};
use dingbridge::ports::{Clock, Table};
use dingbridge::store::link_requests::{LinkRequestState, LinkRequests, NewLinkRequest};
use dingbridge::store::mappings::{MappedKind, Mapping, Mappings};
use dingbridge::store::{Actor, DirectoryError, audit};

struct SetClock(AtomicI64);

impl Clock for SetClock {
    fn now_millis(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

fn new_request(connector: &ConnectorId, account: &AccountId, userid: &str) -> NewLinkRequest {
    NewLinkRequest {
        connector_id: connector.clone(),
        account_id: account.clone(),
        userid: DingUserId::parse(userid).unwrap(),
        dingtalk_name: "张三".into(),
        dingtalk_mobile: Some("13800000001".into()),
        code: "60104".into(),
    }
}

fn admin() -> Actor {
    Actor::new(Origin::Admin, "admin-token:ops:1234abcd")
}

async fn states(
    store: &LinkRequests,
    connector: &ConnectorId,
    state: Option<LinkRequestState>,
) -> Vec<AccountId> {
    store
        .list(connector, state, 100, None)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|r| r.account_id)
        .collect()
}

pub async fn link_requests_are_filed_once_per_account_refreshed_and_listed_by_state(
    t: Arc<dyn Table>,
) {
    let clock = Arc::new(SetClock(AtomicI64::new(1_000)));
    let store = LinkRequests::new(t.clone(), clock.clone());
    let connector = ConnectorId::generate();
    let (alice, bob) = (AccountId::generate(), AccountId::generate());

    let first = store
        .file(new_request(&connector, &alice, "zhangsan"))
        .await
        .unwrap();
    assert_eq!(first.state, LinkRequestState::Pending);
    assert_eq!(first.dingtalk_mobile.as_deref(), Some("138****0001"));
    clock.0.store(2_000, Ordering::SeqCst);
    store
        .file(new_request(&connector, &bob, "lisi"))
        .await
        .unwrap();
    // A second push of the same account refreshes its request instead of adding one.
    clock.0.store(3_000, Ordering::SeqCst);
    let mut renamed = new_request(&connector, &alice, "zhangsan");
    renamed.dingtalk_name = "张三丰".into();
    let again = store.file(renamed).await.unwrap();
    assert_eq!((again.created_ms, again.filed_ms), (1_000, 3_000));
    assert_eq!(again.dingtalk_name, "张三丰");
    let stored = store.get(&connector, &alice).await.unwrap().unwrap();
    assert_eq!(stored, again);

    let newest_first = vec![bob.clone(), alice.clone()];
    assert_eq!(states(&store, &connector, None).await, newest_first);
    assert_eq!(
        states(&store, &connector, Some(LinkRequestState::Pending)).await,
        newest_first
    );
    assert!(
        states(&store, &connector, Some(LinkRequestState::Approved))
            .await
            .is_empty()
    );
    assert!(
        states(&store, &ConnectorId::generate(), None)
            .await
            .is_empty(),
        "another connector's list is its own"
    );
    let page = store.list(&connector, None, 1, None).await.unwrap();
    assert_eq!(page.items.len(), 1);
    let rest = store.list(&connector, None, 1, page.next).await.unwrap();
    assert_eq!(rest.items[0].account_id, alice);

    // A refused request stands for the same DingTalk user; another user's replaces it.
    let pending = store.get(&connector, &bob).await.unwrap().unwrap();
    store.refuse(&pending, &admin()).await.unwrap();
    let kept = store
        .file(new_request(&connector, &bob, "lisi"))
        .await
        .unwrap();
    assert_eq!(kept.state, LinkRequestState::Refused);
    assert_eq!(kept.decided_by.as_deref(), Some("admin-token:ops:1234abcd"));
    let replaced = store
        .file(new_request(&connector, &bob, "wangwu"))
        .await
        .unwrap();
    assert_eq!(
        (replaced.state, replaced.userid.as_str()),
        (LinkRequestState::Pending, "wangwu")
    );
    assert!(
        states(&store, &connector, Some(LinkRequestState::Refused))
            .await
            .is_empty()
    );
}

fn conflict(e: DirectoryError) -> String {
    match e {
        DirectoryError::Conflict { detail, .. } => detail,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

pub async fn approving_a_link_request_writes_its_mapping_and_stale_or_repeated_decisions_conflict(
    t: Arc<dyn Table>,
) {
    let clock = Arc::new(SetClock(AtomicI64::new(5_000)));
    let store = LinkRequests::new(t.clone(), clock);
    let mappings = Mappings::new(t.clone());
    let connector = ConnectorId::generate();
    let (alice, bob, carol) = (
        AccountId::generate(),
        AccountId::generate(),
        AccountId::generate(),
    );
    let zhangsan = DingUserId::parse("zhangsan").unwrap();

    let request = store
        .file(new_request(&connector, &alice, "zhangsan"))
        .await
        .unwrap();
    let approved = store.approve(&request, &admin()).await.unwrap();
    assert_eq!(approved.state, LinkRequestState::Approved);
    assert_eq!(approved.decided_ms, Some(5_000));
    assert_eq!(
        mappings.account_of(&connector, &zhangsan).await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(
        store.get(&connector, &alice).await.unwrap().unwrap(),
        approved
    );
    let history = audit::history(t.as_ref(), "account", alice.as_str(), 10, None)
        .await
        .unwrap();
    assert_eq!(history.items[0].action, "dingtalk_link_approved");
    assert_eq!(history.items[0].actor, "admin-token:ops:1234abcd");

    // Approved twice, or refused after approval: the first decision stands.
    assert!(conflict(store.approve(&approved, &admin()).await.unwrap_err()).contains("already"));
    assert!(conflict(store.refuse(&approved, &admin()).await.unwrap_err()).contains("approved"));
    // A request read before the approval is stale: its version moved on.
    assert!(store.refuse(&request, &admin()).await.is_err());

    // Bob's request for the same DingTalk user is stale once Alice holds it.
    let bobs = store
        .file(new_request(&connector, &bob, "zhangsan"))
        .await
        .unwrap();
    let detail = conflict(store.approve(&bobs, &admin()).await.unwrap_err());
    assert!(detail.contains(alice.as_str()), "{detail}");
    assert_eq!(
        store.get(&connector, &bob).await.unwrap().unwrap().state,
        LinkRequestState::Pending,
        "nothing written"
    );

    // Carol is linked to another DingTalk user meanwhile: her request is stale too.
    let carols = store
        .file(new_request(&connector, &carol, "lisi"))
        .await
        .unwrap();
    mappings
        .put(&Mapping {
            connector_id: connector.clone(),
            kind: MappedKind::User,
            external_id: "wangwu".into(),
            our_id: carol.as_str().to_owned(),
            unionid: None,
        })
        .await
        .unwrap();
    let detail = conflict(store.approve(&carols, &admin()).await.unwrap_err());
    assert!(detail.contains("wangwu"), "{detail}");
    let refused = store.refuse(&carols, &admin()).await.unwrap();
    assert_eq!(refused.state, LinkRequestState::Refused);
    assert!(
        refused
            .refused_reason()
            .contains("Correct the account's mobile")
    );
}
