//! The push outbox on every engine: items ride the directory change's transaction, settle only at
//! the version they were written for, park with their reason, list oldest first for the sweeper;
//! and the directory's pushing writes reach exactly the connectors whose push root holds them.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use dingbridge::adapters::embedded::EmbeddedStore;
use dingbridge::domain::connector::{Connector, ConnectorInput, check_input};
use dingbridge::domain::directory::{Account, AccountStatus, Origin, normalise_memberships};
use dingbridge::domain::ids::{AccountId, ConnectorId, OrgUnitId};
use dingbridge::domain::password::PasswordPolicy;
use dingbridge::domain::sync::{PushEntity, PushMessage};
use dingbridge::domain::values::{DisplayName, Username};
use dingbridge::ports::{Clock, SystemClock, Table};
use dingbridge::push::PushingDirectory;
use dingbridge::secrets::SecretBox;
use dingbridge::store::Actor;
use dingbridge::store::connectors::Connectors;
use dingbridge::store::directory::{Directory, NewOrgUnit, UnitChange};
use dingbridge::store::outbox::{Outbox, OutboxState};

/// A clock the case moves by hand.
struct SetClock(AtomicI64);

impl Clock for SetClock {
    fn now_millis(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

fn message(connector: &ConnectorId, entity: &PushEntity, version: u64) -> PushMessage {
    PushMessage {
        connector_id: connector.clone(),
        entity: entity.clone(),
        version,
    }
}

async fn put(t: &Arc<dyn Table>, outbox: &Outbox, m: &PushMessage) {
    t.transact(vec![outbox.put_op(m).unwrap()]).await.unwrap();
}

pub async fn outbox_items_settle_only_at_their_version_and_park_with_their_reason(
    t: Arc<dyn Table>,
) {
    let outbox = Outbox::new(t.clone(), Arc::new(SystemClock));
    let connector = ConnectorId::generate();
    let entity = PushEntity::Account(AccountId::generate());
    put(&t, &outbox, &message(&connector, &entity, 1)).await;
    // A newer change replaces the item before the first push is settled.
    put(&t, &outbox, &message(&connector, &entity, 2)).await;
    assert!(
        !outbox
            .settle(&message(&connector, &entity, 1))
            .await
            .unwrap()
    );
    assert_eq!(
        outbox.pushed(&connector, &entity).await.unwrap(),
        None,
        "a refused settle records no push"
    );
    assert!(
        !outbox
            .park(&message(&connector, &entity, 1), "old", None)
            .await
            .unwrap()
    );
    let item = outbox.get(&connector, &entity).await.unwrap().unwrap();
    assert_eq!((item.version, item.state), (2, OutboxState::Pending));

    let reason = "DingTalk refused to change the mobile (41054)";
    assert!(
        outbox
            .park(&message(&connector, &entity, 2), reason, Some("41054"))
            .await
            .unwrap()
    );
    let parked = outbox.parked(10, None).await.unwrap().items;
    assert_eq!(parked.len(), 1);
    assert_eq!(
        (parked[0].reason.as_deref(), parked[0].code.as_deref()),
        (Some(reason), Some("41054"))
    );
    let far_future = i64::from(u32::MAX) * 1000;
    let pending = outbox.pending_before(far_future, 10, None).await.unwrap();
    assert!(pending.items.is_empty(), "a parked item is not re-sent");

    let again = outbox.redrive(&connector, &entity).await.unwrap().unwrap();
    assert_eq!(again, message(&connector, &entity, 2));
    assert_eq!(outbox.parked(10, None).await.unwrap().items.len(), 0);
    assert!(outbox.settle(&again).await.unwrap());
    assert!(outbox.get(&connector, &entity).await.unwrap().is_none());
    let pushed = outbox.pushed(&connector, &entity).await.unwrap().unwrap();
    assert_eq!(pushed.version, 2, "the settle records the version pushed");
    assert!(pushed.at_ms > 0);
}

pub async fn pending_outbox_items_are_listed_oldest_first_up_to_a_time(t: Arc<dyn Table>) {
    let clock = Arc::new(SetClock(AtomicI64::new(1_767_225_600_000)));
    let outbox = Outbox::new(t.clone(), clock.clone());
    let mut written = Vec::new();
    for step in 0..3 {
        let m = message(
            &ConnectorId::generate(),
            &PushEntity::OrgUnit(OrgUnitId::generate()),
            1,
        );
        put(&t, &outbox, &m).await;
        written.push((clock.now_millis(), m));
        clock.0.fetch_add(1000 + step, Ordering::SeqCst);
    }
    let second = written[1].0;
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = outbox.pending_before(second, 1, cursor).await.unwrap();
        seen.extend(page.items.into_iter().map(|i| i.message()));
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen, [written[0].1.clone(), written[1].1.clone()]);
    let before_all = outbox
        .pending_before(written[0].0 - 1, 10, None)
        .await
        .unwrap();
    assert!(before_all.items.is_empty());
}

fn admin() -> Actor {
    Actor::new(Origin::Admin, "contract")
}

async fn pushing_connector(
    store: &Connectors,
    directory_root: &OrgUnitId,
    push_root: Option<&OrgUnitId>,
) -> Connector {
    let input = ConnectorInput {
        name: Some("push".into()),
        corp_id: Some(format!("ding{}", uuid::Uuid::new_v4().simple())),
        app_key: Some("key".into()),
        app_secret: Some("secret".into()),
        push_enabled: Some(push_root.is_some()),
        push_root_org_unit_id: push_root.map(ToString::to_string),
        ..ConnectorInput::default()
    };
    let checked = check_input(&input, None, &PasswordPolicy::default()).unwrap();
    store
        .create(checked, directory_root.clone(), &admin())
        .await
        .unwrap()
}

fn person(username: &str, unit: &OrgUnitId) -> Account {
    Account {
        scim: None,
        id: AccountId::generate(),
        username: Username::parse(username).unwrap(),
        display_name: DisplayName::parse("王五").unwrap(),
        email: None,
        mobile: None,
        job_number: None,
        title: None,
        status: AccountStatus::Enabled,
        memberships: normalise_memberships(std::slice::from_ref(unit), None),
        password_hash: None,
        must_change_password: false,
        password_changed_ms: None,
        attributes: Default::default(),
        version: 0,
        created_ms: 0,
        updated_ms: 0,
    }
}

pub async fn pushing_writes_reach_exactly_the_connectors_whose_root_holds_the_entity(
    t: Arc<dyn Table>,
) {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let directory = Directory::new(t.clone(), clock.clone());
    let key = SecretBox::generate_key();
    let connectors = Connectors::new(
        t.clone(),
        clock.clone(),
        SecretBox::from_base64(&key).unwrap(),
    );
    let outbox = Outbox::new(t.clone(), clock.clone());
    // The queue is not under test here (the queue contract is); the table is.
    let dir = tempfile::tempdir().unwrap();
    let queue =
        EmbeddedStore::open(dir.path())
            .unwrap()
            .queue("push", Default::default(), clock.clone());
    let pushing = PushingDirectory::new(
        directory.clone(),
        connectors.clone(),
        outbox.clone(),
        Arc::new(queue),
    );
    let root = directory.ensure_root().await.unwrap();
    let unit_under = |name: &str, parent: &OrgUnitId| {
        let new = NewOrgUnit {
            scim: None,
            name: name.to_owned(),
            parent_id: parent.clone(),
            order: 0,
        };
        let (pushing, id) = (pushing.clone(), OrgUnitId::generate());
        async move { pushing.create_org_unit(id, new, &admin()).await.unwrap() }
    };
    let r = unit_under("R", &root.id).await;
    let s = unit_under("S", &root.id).await;
    let p = pushing_connector(&connectors, &root.id, Some(&r.id)).await;
    let q = pushing_connector(&connectors, &root.id, Some(&s.id)).await;
    let off = pushing_connector(&connectors, &root.id, None).await;
    let pending = |entity: PushEntity| {
        let (outbox, ids) = (outbox.clone(), [p.id.clone(), q.id.clone(), off.id.clone()]);
        async move {
            let mut found = Vec::new();
            for (name, id) in ["p", "q", "off"].into_iter().zip(ids) {
                if let Some(item) = outbox.get(&id, &entity).await.unwrap() {
                    found.push((name, item.version));
                }
            }
            found
        }
    };

    // Units: below R reaches P only; the push roots themselves are never pushed.
    let team = unit_under("Team", &r.id).await;
    assert_eq!(
        pending(PushEntity::OrgUnit(team.id.clone())).await,
        [("p", 1)]
    );
    assert_eq!(pending(PushEntity::OrgUnit(r.id.clone())).await, []);
    pushing
        .update_org_unit(
            &r.id,
            None,
            UnitChange {
                name: Some("R2".into()),
                ..UnitChange::default()
            },
            &admin(),
        )
        .await
        .unwrap();
    assert_eq!(pending(PushEntity::OrgUnit(r.id.clone())).await, []);

    // Accounts: a move from R's subtree to S's reaches both, at the change's version.
    let account = pushing
        .create_account(person("zhao.liu", &team.id), &admin())
        .await
        .unwrap();
    let entity = PushEntity::Account(account.id.clone());
    assert_eq!(pending(entity.clone()).await, [("p", 1)]);
    let moved_to = [s.id.clone()];
    pushing
        .update_account(&account.id, Some(1), Some(&moved_to), &admin(), |a| {
            a.memberships = normalise_memberships(&moved_to, None);
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(pending(entity.clone()).await, [("p", 2), ("q", 2)]);
    pushing
        .delete_account(&account.id, Some(2), &admin())
        .await
        .unwrap();
    // P's item of the move stays for P's worker (who deletes the user it pushed); Q gets the
    // delete.
    assert_eq!(pending(entity).await, [("p", 2), ("q", 3)]);

    // A unit moved into R's subtree takes its own subtree with it: the units below it and
    // their accounts reach P too, at their own versions; nothing reaches Q.
    let outside = unit_under("Outside", &root.id).await;
    let inner = unit_under("Inner", &outside.id).await;
    let member = pushing
        .create_account(person("qian.qi", &inner.id), &admin())
        .await
        .unwrap();
    assert_eq!(pending(PushEntity::OrgUnit(inner.id.clone())).await, []);
    pushing
        .update_org_unit(
            &outside.id,
            Some(1),
            UnitChange {
                parent_id: Some(r.id.clone()),
                ..UnitChange::default()
            },
            &admin(),
        )
        .await
        .unwrap();
    assert_eq!(
        pending(PushEntity::OrgUnit(outside.id.clone())).await,
        [("p", 2)]
    );
    assert_eq!(
        pending(PushEntity::OrgUnit(inner.id.clone())).await,
        [("p", 1)]
    );
    assert_eq!(
        pending(PushEntity::Account(member.id.clone())).await,
        [("p", 1)]
    );

    // A change that came from P's own DingTalk is not pushed back to P.
    let echo = Actor::new(Origin::DingtalkEvent, p.id.as_str());
    let from_dingtalk = pushing
        .create_org_unit(
            OrgUnitId::generate(),
            NewOrgUnit {
                scim: None,
                name: "From DingTalk".into(),
                parent_id: r.id.clone(),
                order: 0,
            },
            &echo,
        )
        .await
        .unwrap();
    assert_eq!(pending(PushEntity::OrgUnit(from_dingtalk.id)).await, []);
}
