#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::adapters::embedded::EmbeddedStore;
use crate::domain::directory::Origin;
use crate::ports::SystemClock;

#[test]
fn client_ids_round_trip_and_refuse_lookalikes() {
    let id = AppId::generate();
    let client_id = client_id_of(&id);
    assert!(client_id.starts_with("dbapp_") && client_id.len() == 38);
    assert_eq!(id_of_client_id(&client_id), Some(id));
    assert_eq!(id_of_client_id("dbapp_"), None);
    assert_eq!(id_of_client_id(&client_id.to_uppercase()), None);
    assert_eq!(
        id_of_client_id(&client_id.replace("dbapp_", "dbscim_")),
        None
    );
}

fn oidc(public: bool) -> CheckedApp {
    CheckedApp {
        public,
        redirect_uris: vec!["https://wiki.example.com/cb".to_owned()],
        ..CheckedApp::new("Wiki", AppKind::Oidc)
    }
}

async fn apps() -> (Apps, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let table: Arc<dyn Table> = Arc::new(store.table(Arc::new(SystemClock)));
    (Apps::new(table, Arc::new(SystemClock)), dir)
}

#[tokio::test]
async fn only_an_enabled_confidential_app_authenticates_with_its_secret() {
    let (apps, _dir) = apps().await;
    let actor = Actor::new(Origin::Admin, "test");
    let (app, secret) = apps.create(oidc(false), &actor).await.unwrap();
    let secret = secret.unwrap();
    assert!(secret.starts_with(SECRET_PREFIX));
    let found = apps.authenticate(&app.client_id, &secret).await.unwrap();
    assert_eq!(found.map(|a| a.id), Some(app.id.clone()));
    assert!(
        apps.authenticate(&app.client_id, "dbaps_wrong")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        apps.authenticate(&client_id_of(&AppId::generate()), &secret)
            .await
            .unwrap()
            .is_none()
    );
    let (public, none) = apps.create(oidc(true), &actor).await.unwrap();
    assert_eq!(none, None, "a public client has no secret");
    assert!(
        apps.authenticate(&public.client_id, "")
            .await
            .unwrap()
            .is_none()
    );
    let disabled = CheckedApp {
        enabled: false,
        ..oidc(false)
    };
    let app = apps.update(&app.id, None, disabled, &actor).await.unwrap();
    assert!(!app.enabled);
    assert!(
        apps.authenticate(&app.client_id, &secret)
            .await
            .unwrap()
            .is_none()
    );
    let debug = format!("{app:?}");
    assert!(!debug.contains("argon2"), "{debug}");
}
