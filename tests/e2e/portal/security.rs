//! The sign-in's defences: a planted session id is worth nothing, every form needs its CSRF
//! token, `next` never leaves the site, a disabled account's session ends at its next request,
//! repeated failures lock the account out, and a forced password change comes first.

use serde_json::json;

use super::{Browser, Local, PASSWORD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planted_session_id_is_replaced_at_sign_in_and_opens_nothing() {
    let local = Local::start().await;
    let browser = Browser::new(&local.base);
    let planted = "dbsess_planted-by-an-attacker-0000000000000000000000";
    browser.set_cookie("dbsid", planted);
    let answer = browser.sign_in("zhang.san", PASSWORD).await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    let fresh = browser.cookie("dbsid").unwrap();
    assert_ne!(fresh, planted);
    let set = answer
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect::<Vec<_>>();
    let session_cookie = set.iter().find(|c| c.starts_with("dbsid=")).unwrap();
    assert!(
        session_cookie.contains("HttpOnly") && session_cookie.contains("SameSite=Lax"),
        "{session_cookie}"
    );
    // Plain http on localhost: no `Secure`, or the browser would drop the cookie.
    assert!(!session_cookie.contains("Secure"), "{session_cookie}");

    let attacker = Browser::new(&local.base);
    attacker.set_cookie("dbsid", planted);
    let page = attacker.get("/portal").await;
    assert_eq!(page.status, 303);
    assert!(page.location.unwrap().starts_with("/login"));
    let mine = browser.get("/portal").await;
    assert_eq!(mine.status, 200);
    assert!(mine.body.contains("张三"));
    local.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_form_needs_its_csrf_token() {
    let local = Local::start().await;
    let browser = Browser::new(&local.base);
    let page = browser.get("/login").await;
    let next = page.field("next");
    for csrf in ["", "forged"] {
        let answer = browser
            .post(
                "/login",
                &[
                    ("csrf", csrf),
                    ("next", &next),
                    ("identifier", "zhang.san"),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(answer.status, 403, "csrf {csrf:?}");
        assert!(browser.cookie("dbsid").is_none());
    }
    let answer = browser.sign_in_on(&page, "zhang.san", PASSWORD).await;
    assert_eq!(answer.status, 303);
    for (path, form) in [
        ("/logout", vec![("csrf", "forged")]),
        (
            "/password",
            vec![
                ("csrf", "forged"),
                ("current", PASSWORD),
                ("new", "Another-Pass-1"),
                ("confirm", "Another-Pass-1"),
            ],
        ),
        ("/oauth2/logout", vec![("csrf", "forged")]),
    ] {
        let answer = browser.post(path, &form).await;
        assert_eq!(answer.status, 403, "{path}");
    }
    // Still signed in, password unchanged.
    assert_eq!(browser.get("/portal").await.status, 200);
    let home = browser.get("/portal").await;
    let csrf = home.field("csrf");
    let out = browser.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, 303);
    assert_eq!(browser.get("/portal").await.status, 303);
    local.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_never_leaves_the_site() {
    let local = Local::start().await;
    for next in [
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
    ] {
        let browser = Browser::new(&local.base);
        let query = serde_urlencoded::to_string([("next", next)]).unwrap();
        let page = browser.get(&format!("/login?{query}")).await;
        let answer = browser.sign_in_on(&page, "zhang.san", PASSWORD).await;
        assert_eq!(answer.location.as_deref(), Some("/portal"), "next {next:?}");
    }
    local.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_accounts_session_ends_and_it_cannot_sign_in() {
    let local = Local::start().await;
    let browser = Browser::new(&local.base);
    assert_eq!(browser.sign_in("zhang.san", PASSWORD).await.status, 303);
    assert_eq!(browser.get("/portal").await.status, 200);
    let path = format!("/admin/api/accounts/{}", local.account_id);
    local
        .admin(
            reqwest::Method::PATCH,
            &path,
            Some(json!({"enabled": false})),
        )
        .await;
    let page = browser.get("/portal").await;
    assert_eq!(page.status, 303, "the session ended");
    let again = Browser::new(&local.base)
        .sign_in("zhang.san", PASSWORD)
        .await;
    assert_eq!(again.status, 403);
    assert!(again.body.contains("disabled"), "{}", again.body);
    local.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failures_lock_the_account_out_even_for_the_right_password() {
    let local = Local::start().await;
    let browser = Browser::new(&local.base);
    for _ in 0..5 {
        let answer = browser.sign_in("zhang.san", "Wrong-Password-1").await;
        assert_eq!(answer.status, 401);
        assert!(
            !answer.body.contains("Wrong-Password-1"),
            "the password is not echoed"
        );
    }
    let answer = browser.sign_in("zhang.san", PASSWORD).await;
    assert_eq!(answer.status, 429, "{}", answer.body);
    // The count is the account's, whichever of its names is typed.
    let by_email = Browser::new(&local.base)
        .sign_in("zhang.san@example.com", PASSWORD)
        .await;
    assert_eq!(by_email.status, 429);
    local.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_password_change_comes_before_the_portal_and_the_old_password_stops_working() {
    let local = Local::start().await;
    let path = format!("/admin/api/accounts/{}/password", local.account_id);
    local
        .admin(
            reqwest::Method::POST,
            &path,
            Some(json!({"password": PASSWORD, "must_change": true})),
        )
        .await;
    let browser = Browser::new(&local.base);
    let answer = browser.sign_in("13800138000", PASSWORD).await;
    let location = answer.location.unwrap();
    assert!(location.starts_with("/password"), "{location}");
    assert!(
        browser
            .get("/portal")
            .await
            .location
            .unwrap()
            .starts_with("/password")
    );
    let page = browser.get(&location).await;
    assert!(page.body.contains("id=\"forced\""));
    let csrf = page.field("csrf");
    let weak = browser
        .post(
            "/password",
            &[
                ("csrf", &csrf),
                ("current", PASSWORD),
                ("new", "short"),
                ("confirm", "short"),
            ],
        )
        .await;
    assert_eq!(weak.status, 400);
    assert!(weak.body.contains("characters"), "{}", weak.body);
    let new = "Li-Si-Changed-2026";
    let done = browser
        .post(
            "/password",
            &[
                ("csrf", &csrf),
                ("current", PASSWORD),
                ("new", new),
                ("confirm", new),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(browser.get("/portal").await.status, 200);
    let old = Browser::new(&local.base)
        .sign_in("zhang.san", PASSWORD)
        .await;
    assert_eq!(old.status, 401);
    let fresh = Browser::new(&local.base).sign_in("zhang.san", new).await;
    assert_eq!(fresh.status, 303);
    // The change is audited as the person's own.
    let audit = local
        .admin(reqwest::Method::GET, "/admin/api/audit?origin=portal", None)
        .await;
    assert!(!audit["items"].as_array().unwrap().is_empty(), "{audit}");
    local.stop().await;
}
