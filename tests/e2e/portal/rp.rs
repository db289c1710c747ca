//! An independent relying party (`rp.py`: Authlib for the code flow with PKCE, joserfc for the
//! id_token against the published JWKS) signs in to an app through the portal's provider, as a
//! confidential client and as a public one.

use serde_json::Value;

use super::{Local, PASSWORD, run_script};

async fn run_rp(local: &Local, public: bool) -> Value {
    // Never reached: the relying party stops at the redirect back to it.
    let redirect_uri = "http://127.0.0.1:9/callback";
    let app = local.oidc_app(redirect_uri, public).await;
    let client_id = app["client_id"].as_str().unwrap().to_owned();
    let secret = if public {
        "-".to_owned()
    } else {
        app["client_secret"].as_str().unwrap().to_owned()
    };
    let args = [
        &local.base,
        &client_id,
        &secret,
        redirect_uri,
        "zhang.san",
        PASSWORD,
    ];
    run_script("portal/rp.py", args.iter().map(|a| a.to_string()).collect()).await
}

fn check(local: &Local, seen: &Value) {
    let id_token = &seen["id_token"];
    assert_eq!(id_token["sub"], local.account_id.as_str(), "{seen}");
    assert_eq!(id_token["email"], "zhang.san@example.com", "{seen}");
    assert_eq!(id_token["name"], "张三", "{seen}");
    assert_eq!(id_token["amr"], serde_json::json!(["pwd"]), "{seen}");
    assert_eq!(
        seen["userinfo"]["preferred_username"], "zhang.san",
        "{seen}"
    );
    assert_eq!(seen["userinfo"]["phone_number"], "13800138000", "{seen}");
    // The code's second redemption is refused and revokes what the first gave.
    assert_eq!(seen["replay_status"], 400, "{seen}");
    assert_eq!(seen["replay_error"], "invalid_grant", "{seen}");
    assert_eq!(seen["after_replay_userinfo_status"], 401, "{seen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confidential_relying_party_signs_in_with_pkce_and_verifies_the_id_token() {
    let local = Local::start().await;
    let seen = run_rp(&local, false).await;
    check(&local, &seen);
    local.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_relying_party_signs_in_with_pkce_alone() {
    let local = Local::start().await;
    let seen = run_rp(&local, true).await;
    check(&local, &seen);
    local.stop().await;
}
