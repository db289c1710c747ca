//! The demo of `cargo run`: the banner names the portal, the demo person and the file of their
//! password; signed in, the portal lists the demo OIDC app and the demo JWT app, and one click
//! into each ends on the demo app's page with the claims it received (checked there against the
//! JWKS). A second start keeps the person and their password.

use dingbridge_local::start;

use super::Browser;

/// Clicks the app tile `name` on the portal page and follows the browser to where it ends.
async fn click(browser: &Browser, portal: &super::Answer, name: &str) -> super::Answer {
    let tile = portal
        .body
        .split("class=\"app\"")
        .skip(1)
        .find(|t| t.contains(name))
        .unwrap_or_else(|| panic!("no tile {name} on the portal:\n{}", portal.body));
    let href = tile
        .split("href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let first = browser.get(href).await;
    browser.follow(first).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_person_signs_in_and_clicks_into_both_demo_apps() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(crate::demo::options(dir.path())).await.unwrap();
    let sso = running
        .demo
        .as_ref()
        .unwrap()
        .sso
        .clone()
        .expect("the demo has sign-in");
    let text = dingbridge_local::banner::banner(&running);
    let password = std::fs::read_to_string(&sso.password_file).unwrap();
    assert!(
        !text.contains(password.trim()),
        "the password is not printed"
    );
    assert!(
        text.contains(&format!("{}/login", running.public_url)),
        "{text}"
    );
    assert!(
        text.contains(&sso.password_file.display().to_string()),
        "{text}"
    );

    let browser = Browser::new(&format!("http://{}", running.addr));
    let answer = browser.sign_in(&sso.username, password.trim()).await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    let portal = browser.follow(answer).await;
    assert_eq!(portal.status, 200);
    assert!(portal.body.contains("演示用户"), "{}", portal.body);

    let oidc = click(&browser, &portal, "演示 OIDC 应用").await;
    assert_eq!(oidc.status, 200, "{}", oidc.body);
    assert!(
        oidc.body.contains("Demo OIDC app: signed in"),
        "{}",
        oidc.body
    );
    assert!(
        oidc.body.contains(&format!(
            "&quot;preferred_username&quot;: &quot;{}&quot;",
            sso.username
        )),
        "{}",
        oidc.body
    );

    let jwt = click(&browser, &portal, "演示 JWT 应用").await;
    assert_eq!(jwt.status, 200, "{}", jwt.body);
    assert!(jwt.body.contains("Demo JWT app: signed in"), "{}", jwt.body);
    assert!(
        jwt.body.contains(&sso.app.jwt_client_id),
        "the audience: {}",
        jwt.body
    );
    running.shutdown().await.unwrap();

    // A second start: the same person, the same password.
    let again = start(crate::demo::options(dir.path())).await.unwrap();
    let kept = again.demo.as_ref().unwrap().sso.clone().unwrap();
    assert_eq!(kept.username, sso.username);
    assert_eq!(
        std::fs::read_to_string(&kept.password_file).unwrap(),
        password
    );
    let browser = Browser::new(&format!("http://{}", again.addr));
    assert_eq!(
        browser
            .sign_in(&kept.username, password.trim())
            .await
            .status,
        303
    );
    again.shutdown().await.unwrap();
}
