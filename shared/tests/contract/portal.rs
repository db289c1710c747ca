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
