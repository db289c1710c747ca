//! The portal's stores on every engine: a code redeemed once (its replay revokes the grant and
//! its tokens), refresh tokens spent once, sessions found by their cookie value until ended.

use std::sync::Arc;

use dingbridge::domain::ids::AccountId;
use dingbridge::ports::{Clock, SystemClock, Table};
use dingbridge::store::grants::{Authorization, Grants, Redeemed};
use dingbridge::store::sessions::{SessionSettings, Sessions};

fn clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

fn authorization() -> Authorization {
    Authorization {
        client_id: "dbapp_contract".into(),
        account_id: AccountId::generate(),
        redirect_uri: "https://app.example.com/cb".into(),
        scopes: vec!["openid".into()],
        nonce: Some("n".into()),
        code_challenge: None,
        auth_time_ms: 0,
        amr: vec!["pwd".into()],
        acr: None,
    }
}

pub async fn a_code_is_redeemed_once_and_its_replay_revokes_the_grant(t: Arc<dyn Table>) {
    let grants = Grants::new(t, clock());
    let code = grants.issue_code(authorization()).await.unwrap();
    let Redeemed::Granted(grant) = grants.redeem(&code).await.unwrap() else {
        panic!("the first redemption is granted");
    };
    assert_eq!(grant.authorization.client_id, "dbapp_contract");
    let tokens = grants.issue_tokens(&grant).await.unwrap();
    assert_eq!(
        grants
            .by_access_token(&tokens.access_token)
            .await
            .unwrap()
            .map(|g| g.id),
        Some(grant.id.clone())
    );
    // A refresh spends its token and gives new ones of the same grant.
    let (refreshed, renewed) = grants
        .refresh(&tokens.refresh_token)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(refreshed.id, grant.id);
    assert!(
        grants
            .refresh(&tokens.refresh_token)
            .await
            .unwrap()
            .is_none()
    );
    // That replay revoked the grant: the renewed tokens are dead too.
    assert!(
        grants
            .by_access_token(&renewed.access_token)
            .await
            .unwrap()
            .is_none()
    );

    let code = grants.issue_code(authorization()).await.unwrap();
    let Redeemed::Granted(grant) = grants.redeem(&code).await.unwrap() else {
        panic!("granted");
    };
    let tokens = grants.issue_tokens(&grant).await.unwrap();
    assert!(matches!(
        grants.redeem(&code).await.unwrap(),
        Redeemed::Invalid(_)
    ));
    assert!(
        grants
            .by_access_token(&tokens.access_token)
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        grants.redeem("dbac_never-issued").await.unwrap(),
        Redeemed::Invalid(_)
    ));
}

pub async fn sessions_are_found_by_their_cookie_until_ended(t: Arc<dyn Table>) {
    let sessions = Sessions::new(t, clock(), SessionSettings::default());
    let account = AccountId::generate();
    let (id, made) = sessions.create(&account, &["pwd"], true).await.unwrap();
    let found = sessions.get(&id).await.unwrap().unwrap();
    assert_eq!(found.account_id, account);
    assert_eq!(found.csrf, made.csrf);
    sessions.password_changed(&id).await.unwrap();
    assert!(
        !sessions
            .get(&id)
            .await
            .unwrap()
            .unwrap()
            .must_change_password
    );
    assert!(sessions.get("dbsess_unknown").await.unwrap().is_none());
    assert!(sessions.get("not-a-session").await.unwrap().is_none());
    sessions.end(&id).await.unwrap();
    assert!(sessions.get(&id).await.unwrap().is_none());
}

/// A DingTalk sign-in's state: bound to its browser, taken once however many requests race for
/// it (a replayed `state` finds nothing).
pub async fn a_login_state_is_taken_once_however_many_race_for_it(t: Arc<dyn Table>) {
    use dingbridge::store::login_states::{LoginStates, Stage};
    let states = LoginStates::new(t, clock());
    let id = states
        .start(
            "source-1",
            Some("/portal".into()),
            "browser-secret",
            Stage::Started,
            60_000,
        )
        .await
        .unwrap();
    let peeked = states.peek(&id).await.unwrap().unwrap();
    assert!(peeked.is_for(Some("browser-secret")));
    assert!(!peeked.is_for(Some("another-browser")));
    assert!(!peeked.is_for(None));
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let states = states.clone();
            let id = id.clone();
            tokio::spawn(async move { states.take(&id).await.unwrap() })
        })
        .collect();
    let mut taken = 0;
    for r in racers {
        if let Some(state) = r.await.unwrap() {
            assert_eq!(state.source_id, "source-1");
            assert_eq!(state.next.as_deref(), Some("/portal"));
            taken += 1;
        }
    }
    assert_eq!(taken, 1, "one request takes the state");
    assert!(states.take(&id).await.unwrap().is_none());
    assert!(states.take("not-a-state").await.unwrap().is_none());
}

/// A binding per corp × DingTalk user: the first bind wins (a racing second one gets it back),
/// listed under its account, removed by its account only.
pub async fn a_dingtalk_user_is_bound_to_one_account_and_unbound_by_it(t: Arc<dyn Table>) {
    use dingbridge::domain::directory::Origin;
    use dingbridge::store::Actor;
    use dingbridge::store::bindings::{Bindings, BoundBy};
    let bindings = Bindings::new(t, clock());
    let actor = Actor::new(Origin::Portal, "contract");
    let (first, second) = (AccountId::generate(), AccountId::generate());
    let made = bindings
        .bind(
            "dingcorp",
            "user1",
            Some("union1"),
            Some("张三"),
            &first,
            "s",
            BoundBy::BindPage,
            &actor,
        )
        .await
        .unwrap();
    assert_eq!(made.account_id, first);
    let again = bindings
        .bind(
            "dingcorp",
            "user1",
            None,
            None,
            &second,
            "s",
            BoundBy::Synced,
            &actor,
        )
        .await
        .unwrap();
    assert_eq!(again.account_id, first, "the first binding stays");
    assert_eq!(
        bindings.get("dingcorp", "user1").await.unwrap().unwrap().id,
        made.id
    );
    assert!(bindings.get("othercorp", "user1").await.unwrap().is_none());
    assert_eq!(bindings.of_account(&first).await.unwrap().len(), 1);
    assert!(bindings.of_account(&second).await.unwrap().is_empty());
    assert!(
        bindings
            .remove(&second, &made.id, &actor)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        bindings
            .remove(&first, &made.id, &actor)
            .await
            .unwrap()
            .is_some()
    );
    assert!(bindings.get("dingcorp", "user1").await.unwrap().is_none());
    assert!(bindings.of_account(&first).await.unwrap().is_empty());
}
