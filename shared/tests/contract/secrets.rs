//! The `Secrets` port's contract: what a deployment keeps reads back exactly (surrounding
//! whitespace removed), what it does not keep reads as `None`, and a secret that is configured but
//! cannot be read is an error naming it — never its value, never a silent `None`.

use std::future::Future;
use std::sync::Arc;

use dingbridge::ports::{DeploymentSecret, Secrets};

/// What a fixture sets up: secrets kept with their values, and secrets configured but unreadable.
pub struct Setup {
    pub kept: Vec<(DeploymentSecret, String)>,
    pub unreadable: Vec<DeploymentSecret>,
}

const DATA_KEY: &str = "q0u5K0dTLx2l2T9pJ0mH1jWk4bZrC8sV6nA3eYf7gPo=";
const TOKEN: &str = "dbadm_Ad6Jt0 with an inner space";

pub async fn kept_secrets_read_back_exactly<F, Fut>(make: F)
where
    F: Fn(Setup) -> Fut,
    Fut: Future<Output = Arc<dyn Secrets>>,
{
    let secrets = make(Setup {
        kept: vec![
            (DeploymentSecret::DataKey, format!("{DATA_KEY}\n")),
            (DeploymentSecret::AdminToken, format!("  {TOKEN}\t")),
        ],
        unreadable: vec![],
    })
    .await;
    let key = secrets
        .get(DeploymentSecret::DataKey)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(key.expose(), DATA_KEY);
    let token = secrets
        .get(DeploymentSecret::AdminToken)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(token.expose(), TOKEN);
    // Reading twice gives the same value (Lambda reads once, the local runner on every start).
    let again = secrets
        .get(DeploymentSecret::DataKey)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.expose(), DATA_KEY);
}

pub async fn a_secret_not_kept_reads_as_none<F, Fut>(make: F)
where
    F: Fn(Setup) -> Fut,
    Fut: Future<Output = Arc<dyn Secrets>>,
{
    let secrets = make(Setup {
        kept: vec![(DeploymentSecret::DataKey, DATA_KEY.to_owned())],
        unreadable: vec![],
    })
    .await;
    assert!(
        secrets
            .get(DeploymentSecret::AdminToken)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        secrets
            .get(DeploymentSecret::DataKey)
            .await
            .unwrap()
            .is_some()
    );
}

pub async fn an_unreadable_secret_is_an_error_naming_it_not_its_value<F, Fut>(make: F)
where
    F: Fn(Setup) -> Fut,
    Fut: Future<Output = Arc<dyn Secrets>>,
{
    let secrets = make(Setup {
        kept: vec![(DeploymentSecret::DataKey, DATA_KEY.to_owned())],
        unreadable: vec![DeploymentSecret::AdminToken],
    })
    .await;
    let err = secrets
        .get(DeploymentSecret::AdminToken)
        .await
        .expect_err("a configured secret that cannot be read is an error");
    assert_eq!(err.secret, DeploymentSecret::AdminToken);
    let text = err.to_string();
    assert!(text.contains("admin token"), "{text}");
    assert!(text.contains(&err.location), "{text}");
    assert!(!err.location.is_empty());
    // The readable one is unaffected, and its value shows in no error or debug output.
    let key = secrets
        .get(DeploymentSecret::DataKey)
        .await
        .unwrap()
        .unwrap();
    assert!(!format!("{key:?} {key} {err:?} {text}").contains(DATA_KEY));
}
