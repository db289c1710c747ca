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
        // Not a valid Location as it stands: refused, not answered with an error.
        "/门户",
        "/portal\r\nSet-Cookie: x=1",
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apps_reach_only_the_people_they_are_assigned_to_including_sub_units() {
    let local = Local::start().await;
    let units = local
        .admin(reqwest::Method::GET, "/admin/api/org-units", None)
        .await;
    let root = units["items"][0]["id"].as_str().unwrap().to_owned();
    let make_unit = |name: &'static str, parent: String| {
        let local = &local;
        async move {
            local
                .admin(
                    reqwest::Method::POST,
                    "/admin/api/org-units",
                    Some(json!({"name": name, "parent_id": parent})),
                )
                .await["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let sales = make_unit("销售部", root.clone()).await;
    let north = make_unit("华北区", sales.clone()).await;
    let rnd = make_unit("研发部", root.clone()).await;
    // Zhang San moves into a sub-unit of Sales.
    let path = format!("/admin/api/accounts/{}", local.account_id);
    local
        .admin(
            reqwest::Method::PATCH,
            &path,
            Some(json!({"org_unit_ids": [north]})),
        )
        .await;
    let app = |name: &str, assigned: serde_json::Value| {
        json!({"name": name, "kind": "jwt", "target_url": "https://app.example.com/sso",
               "assigned_to": assigned})
    };
    let for_sales = local
        .admin(
            reqwest::Method::POST,
            "/admin/api/apps",
            Some(app("销售系统", json!({"org_unit_ids": [sales]}))),
        )
        .await;
    let for_rnd = local
        .admin(
            reqwest::Method::POST,
            "/admin/api/apps",
            Some(app("代码仓库", json!({"org_unit_ids": [rnd]}))),
        )
        .await;
    let browser = Browser::new(&local.base);
    assert_eq!(browser.sign_in("zhang.san", PASSWORD).await.status, 303);
    let portal = browser.get("/portal").await;
    assert!(
        portal.body.contains("销售系统"),
        "a parent unit's app: {}",
        portal.body
    );
    assert!(
        !portal.body.contains("代码仓库"),
        "another unit's app: {}",
        portal.body
    );
    // Launching the other unit's app by its URL is refused.
    let other = format!("/portal/apps/{}", for_rnd["client_id"].as_str().unwrap());
    assert_eq!(browser.get(&other).await.status, 403);
    // The assigned one is sent to its target with a JWT for its audience.
    let mine = format!("/portal/apps/{}", for_sales["client_id"].as_str().unwrap());
    let launched = browser.get(&mine).await;
    let location = launched.location.clone().unwrap();
    assert!(
        location.starts_with("https://app.example.com/sso?id_token="),
        "{location}"
    );
    local.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rp_initiated_logout_asks_first_and_goes_only_to_registered_uris() {
    let local = Local::start().await;
    let app = local.oidc_app("https://app.example.com/cb", false).await;
    let client_id = app["client_id"].as_str().unwrap();
    let browser = Browser::new(&local.base);
    assert_eq!(browser.sign_in("zhang.san", PASSWORD).await.status, 303);
    let query = |uri: &str| {
        serde_urlencoded::to_string([
            ("client_id", client_id),
            ("post_logout_redirect_uri", uri),
            ("state", "bye-1"),
        ])
        .unwrap()
    };
    // Not registered: a page, no redirect, still signed in.
    let evil = browser
        .get(&format!(
            "/oauth2/logout?{}",
            query("https://evil.example/")
        ))
        .await;
    assert_eq!(evil.status, 400);
    assert!(evil.location.is_none());
    assert_eq!(browser.get("/portal").await.status, 200);
    // Registered: a confirmation page first (a cross-site link alone signs nobody out).
    let confirm = browser
        .get(&format!(
            "/oauth2/logout?{}",
            query("https://app.example.com/cb/bye")
        ))
        .await;
    assert_eq!(confirm.status, 200);
    assert_eq!(browser.get("/portal").await.status, 200);
    let form: Vec<(&str, String)> = ["csrf", "post_logout_redirect_uri", "state", "client_id"]
        .into_iter()
        .map(|f| (f, confirm.field(f)))
        .collect();
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let done = browser.post("/oauth2/logout", &form).await;
    assert_eq!(
        done.location.as_deref(),
        Some("https://app.example.com/cb/bye?state=bye-1")
    );
    assert_eq!(browser.get("/portal").await.status, 303, "signed out");
    local.stop().await;
}
