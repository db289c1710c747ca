//! Auto mode: a pull applies at once, unless the mass-delete guard holds it for review.

use axum::http::StatusCode;
use dingbridge::domain::connector::PullMode;

use crate::full_pull::support::{Engine, Options, world};

on_engines!(an_auto_pull_applies_at_once_and_the_guard_holds_a_mass_disable);

async fn an_auto_pull_applies_at_once_and_the_guard_holds_a_mass_disable(engine: Engine) {
    let w = world(
        engine,
        engine.org(0.0),
        Options {
            pull_mode: PullMode::Auto,
            default_password: Some("Welcome-2026-Dingbridge!".into()),
            ..Options::default()
        },
    )
    .await;
    let id = w.pull().await;
    let run = w.run(&id).await;
    assert_eq!(run["state"], "done", "{run}");
    assert_eq!(run["confirmed_by"], "auto");
    let sim = w.sim_org().await;
    let users = sim.users.len();
    assert_eq!(w.directory_state().await.accounts.len(), users);
    // Imported accounts carry the connector's default password (hashed) and, by the default
    // policy, must change it at first sign-in.
    let userid = sim.users[0]["userid"].as_str().unwrap().to_lowercase();
    let account = w
        .directory
        .find_account("username", &userid)
        .await
        .unwrap()
        .unwrap();
    assert!(
        account
            .password_hash
            .as_deref()
            .is_some_and(|h| h.starts_with("$argon2"))
    );
    assert!(account.must_change_password);

    // An eighth leave DingTalk: more than the guard's 10% of the connector's accounts, and on
    // the large org more than its 100 too.
    let leavers = users / 8;
    let gone: Vec<String> = sim
        .users
        .iter()
        .take(leavers)
        .map(|u| u["userid"].as_str().unwrap().to_owned())
        .collect();
    for userid in &gone {
        w.sim_call(
            reqwest::Method::DELETE,
            &format!("/_sim/users/{userid}"),
            None,
        )
        .await;
    }
    let held = w.pull().await;
    let run = w.run(&held).await;
    assert_eq!(run["state"], "awaiting_review", "{run}");
    assert!(
        run["review_reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{run}"
    );
    assert_eq!(run["counters"]["planned_disables"], leavers as u64);
    let dir = w.directory_state().await;
    assert_eq!(dir.accounts.values().filter(|a| a.enabled).count(), users);

    // The admin confirms: the leavers are disabled, not deleted.
    let (status, _) = w.confirm(&held, "all").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(w.run(&held).await["state"], "done");
    let dir = w.directory_state().await;
    assert_eq!(dir.accounts.len(), users);
    assert_eq!(
        dir.accounts.values().filter(|a| !a.enabled).count(),
        leavers
    );
    for userid in &gone {
        assert!(!dir.accounts[&userid.to_lowercase()].enabled);
    }
}
