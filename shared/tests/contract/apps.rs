//! Applications on every engine: created with `Cond::Absent`, found by client id with one get,
//! listed in client-id order by the `APPS` index a page at a time, replaced and deleted only at
//! the version read.

use std::sync::Arc;

use dingbridge::domain::directory::Origin;
use dingbridge::ports::{SystemClock, Table};
use dingbridge::store::apps::{AppKind, Apps, Assignment, CheckedApp, client_id_of};
use dingbridge::store::{Actor, DirectoryError};

fn jwt(name: &str) -> CheckedApp {
    CheckedApp {
        target_url: Some(format!("https://{name}.example.com/sso")),
        assigned_to: Assignment::Everyone,
        ..CheckedApp::new(name, AppKind::Jwt)
    }
}

pub async fn apps_are_found_by_client_id_listed_in_pages_and_written_by_version(t: Arc<dyn Table>) {
    let apps = Apps::new(t, Arc::new(SystemClock));
    let actor = Actor::new(Origin::Admin, "contract");
    let mut made = Vec::new();
    for name in ["crm", "wiki", "expenses"] {
        let (app, secret) = apps.create(jwt(name), &actor).await.unwrap();
        assert_eq!(secret, None, "a jwt app has no secret");
        made.push(app);
    }

    let found = apps
        .by_client_id(&made[1].client_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, made[1]);
    assert_eq!(found.version, 1);
    assert_eq!(apps.get(&made[1].id).await.unwrap(), Some(found.clone()));
    assert_eq!(apps.by_client_id("dbapp_nope").await.unwrap(), None);

    let first = apps.list(2, None).await.unwrap();
    assert_eq!(first.items.len(), 2);
    let rest = apps.list(2, first.next.clone()).await.unwrap();
    let listed: Vec<String> = first
        .items
        .iter()
        .chain(&rest.items)
        .map(|a| a.client_id.clone())
        .collect();
    let mut expected: Vec<String> = made.iter().map(|a| a.client_id.clone()).collect();
    expected.sort();
    assert_eq!(listed, expected, "client-id order, each once");
    assert_eq!(apps.all().await.unwrap().len(), 3);

    let renamed = CheckedApp {
        name: "Wiki (prod)".into(),
        ..jwt("wiki")
    };
    let changed = apps
        .update(&found.id, Some(1), renamed.clone(), &actor)
        .await
        .unwrap();
    assert_eq!((changed.version, changed.name.as_str()), (2, "Wiki (prod)"));
    assert_eq!(changed.client_id, found.client_id);
    let stale = apps.update(&found.id, Some(1), renamed, &actor).await;
    assert!(matches!(stale, Err(DirectoryError::Stale)), "{stale:?}");
    let stale = apps.delete(&found.id, Some(1), &actor).await;
    assert!(matches!(stale, Err(DirectoryError::Stale)), "{stale:?}");
    let kind = apps
        .update(&found.id, None, CheckedApp::new("x", AppKind::Oidc), &actor)
        .await;
    assert!(matches!(kind, Err(DirectoryError::Invalid(_))), "{kind:?}");

    apps.delete(&found.id, Some(2), &actor).await.unwrap();
    assert_eq!(apps.get(&found.id).await.unwrap(), None);
    let gone = apps.delete(&found.id, None, &actor).await;
    assert!(matches!(gone, Err(DirectoryError::NotFound(_))), "{gone:?}");
    assert_eq!(apps.list(10, None).await.unwrap().items.len(), 2);
    assert_eq!(
        apps.by_client_id(&client_id_of(&found.id)).await.unwrap(),
        None
    );
}
