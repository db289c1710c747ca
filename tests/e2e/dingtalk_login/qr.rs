//! The QR login, both flows, against the simulator.

use reqwest::Method;
use serde_json::json;

use super::{Ding, PASSWORD, param, qr_sign_in, scan};
use crate::system::Engine;

/// The session the answer set, and where it went.
fn signed_in_to(answer: &crate::portal::Answer, place: &str) {
    assert_eq!(answer.status, 303, "{}", answer.body);
    assert_eq!(answer.location.as_deref(), Some(place), "{}", answer.body);
}

pub async fn both_flows_bind_synced_and_new_users_and_refuse_outsiders(engine: Engine) {
    let d = Ding::start(engine).await;
    let oauth2 = d.source(json!({"kind": "dingtalk_qr"})).await;
    let sns = d
        .source(
            json!({"kind": "dingtalk_qr", "name": "钉钉扫码 (SNS)", "flow": "sns",
            "sns_app_id": d.app_key, "sns_app_secret": d.app_secret}),
        )
        .await;
    assert_eq!(
        oauth2["redirect_url"],
        format!(
            "{}/authenticate/ddtalk/forward/{}",
            d.sys.base,
            oauth2["id"].as_str().unwrap()
        )
    );
    let start =
        |s: &serde_json::Value| format!("/authenticate/ddtalk/{}", s["id"].as_str().unwrap());

    // The sign-in page shows both buttons.
    let login = d.browser().get("/login").await;
    assert!(login.body.contains("钉钉扫码登录") && login.body.contains("钉钉扫码 (SNS)"));

    // A synced member: bound automatically at the first scan, in either flow.
    let (synced, account) = d.synced_member("扫码同步", "13900001111").await;
    let b = d.browser();
    let answer = qr_sign_in(&b, &start(&oauth2), &synced).await;
    signed_in_to(&answer, "/portal");
    let home = b.get("/portal").await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains("扫码同步"), "{}", home.body);
    let bound = d.bindings(&account).await;
    assert_eq!(bound.len(), 1, "{bound:?}");
    assert_eq!(bound[0]["bound_by"], "synced");
    assert_eq!(bound[0]["userid"], synced.userid.as_str());
    // Bound now: the legacy flow signs the same person in, without a second binding.
    let b = d.browser();
    let answer = qr_sign_in(&b, &start(&sns), &synced).await;
    signed_in_to(&answer, "/portal");
    assert_eq!(d.bindings(&account).await.len(), 1);
    // An app asked for (`?app=`) is where the sign-in continues.
    let b = d.browser();
    let app = d
        .admin(
            Method::POST,
            "/admin/api/apps",
            Some(
                json!({"name": "HR", "kind": "jwt", "target_url": "https://hr.example/sso",
                "assigned_to": {"everyone": true}}),
            ),
        )
        .await;
    let client_id = app["client_id"].as_str().unwrap();
    let answer = qr_sign_in(&b, &format!("{}?app={client_id}", start(&oauth2)), &synced).await;
    signed_in_to(&answer, &format!("/portal/apps/{client_id}"));

    // Unbound members link an account of ours on the bind page, by username, email or mobile.
    let members = d.members(0).await;
    let names = [
        ("bind.user", "bind.user@example.com", "13700000001"),
        ("bind.mail", "bind.mail@example.com", "13700000002"),
        ("bind.phone", "bind.phone@example.com", "13700000003"),
    ];
    let mut bound_ids = Vec::new();
    for (i, (username, email, mobile)) in names.iter().enumerate() {
        let id = d.account(username, email, mobile).await;
        bound_ids.push(id.clone());
        let typed = [*username, *email, *mobile][i];
        let flow = if i == 1 { &sns } else { &oauth2 };
        let b = d.browser();
        let answer = qr_sign_in(&b, &start(flow), &members[i]).await;
        assert_eq!(answer.location.as_deref(), Some("/authenticate/bind"));
        let page = b.get("/authenticate/bind").await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains(&members[i].userid), "{}", page.body);
        let csrf = page.field("csrf");
        // A wrong password changes nothing.
        let wrong = b
            .post(
                "/authenticate/bind",
                &[("csrf", &csrf), ("identifier", typed), ("password", "nope")],
            )
            .await;
        assert_eq!(wrong.status, 401, "{}", wrong.body);
        assert!(d.bindings(&id).await.is_empty());
        let bound = b
            .post(
                "/authenticate/bind",
                &[
                    ("csrf", &csrf),
                    ("identifier", typed),
                    ("password", PASSWORD),
                ],
            )
            .await;
        signed_in_to(&bound, "/portal");
        let made = d.bindings(&id).await;
        assert_eq!(made.len(), 1, "{made:?}");
        assert_eq!(made[0]["bound_by"], "bind_page");
        // The form is spent.
        let again = b
            .post(
                "/authenticate/bind",
                &[
                    ("csrf", &csrf),
                    ("identifier", typed),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(again.status, 400, "{}", again.body);
        // From now on DingTalk alone signs the person in.
        let b = d.browser();
        signed_in_to(
            &qr_sign_in(&b, &start(&oauth2), &members[i]).await,
            "/portal",
        );
    }

    // The person sees the link on the portal and removes it.
    let b = d.browser();
    signed_in_to(
        &qr_sign_in(&b, &start(&oauth2), &members[0]).await,
        "/portal",
    );
    let home = b.get("/portal").await;
    assert!(home.body.contains(&members[0].userid), "{}", home.body);
    let binding = d.bindings(&bound_ids[0]).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let unlinked = b
        .post(
            &format!("/portal/bindings/{binding}/remove"),
            &[("csrf", &home.field("csrf"))],
        )
        .await;
    assert_eq!(unlinked.status, 303, "{}", unlinked.body);
    assert!(d.bindings(&bound_ids[0]).await.is_empty());

    // The source's rules: matched by mobile when exactly one account has it; or refused.
    let by_mobile = d
        .source(
            json!({"kind": "dingtalk_qr", "name": "按手机号", "visible": false,
            "binding": {"match_by": ["mobile"]}}),
        )
        .await;
    let matched = &members[3];
    let id = d
        .account("by.mobile", "by.mobile@example.com", &matched.mobile)
        .await;
    let b = d.browser();
    signed_in_to(
        &qr_sign_in(&b, &start(&by_mobile), matched).await,
        "/portal",
    );
    assert_eq!(d.bindings(&id).await[0]["bound_by"], "mobile");
    let strict = d
        .source(
            json!({"kind": "dingtalk_qr", "name": "仅已关联", "visible": false,
            "binding": {"unbound": "refuse"}}),
        )
        .await;
    let b = d.browser();
    let refused = qr_sign_in(&b, &start(&strict), &members[4]).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("not linked"), "{}", refused.body);
    // Invisible sources have no button.
    let login = d.browser().get("/login").await;
    assert!(!login.body.contains("按手机号"), "{}", login.body);

    // A binding removed by the admin: the next scan goes to the bind page again.
    let first = d.bindings(&account).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    d.admin(
        Method::DELETE,
        &format!("/admin/api/accounts/{account}/bindings/{first}"),
        None,
    )
    .await;
    assert!(d.bindings(&account).await.is_empty());
    // …unless the user is synced: then it is bound again, automatically.
    let b = d.browser();
    signed_in_to(&qr_sign_in(&b, &start(&oauth2), &synced).await, "/portal");

    // An outsider: a member of another DingTalk organisation scans and gets a valid code, but
    // the corp does not know them.
    let outsider = d.members(1).await.remove(0);
    for source in [&oauth2, &sns] {
        let b = d.browser();
        let refused = qr_sign_in(&b, &start(source), &outsider).await;
        assert_eq!(refused.status, 403, "{}", refused.body);
        assert!(refused.body.contains("Not a member"), "{}", refused.body);
        assert!(b.cookie("dbsid").is_none());
    }
    d.stop().await;
}

pub async fn replays_unknown_redirects_and_disabled_accounts_are_refused(engine: Engine) {
    let d = Ding::start(engine).await;
    let source = d.source(json!({"kind": "dingtalk_qr"})).await;
    let start = format!("/authenticate/ddtalk/{}", source["id"].as_str().unwrap());
    let (user, account) = d.synced_member("重放测试", "13900002222").await;

    // State replay: the forward URL used twice.
    let b = d.browser();
    let started = b.get(&start).await;
    let picked = scan(&b, started.location.as_deref().unwrap(), &user).await;
    let forward = picked.location.clone().unwrap();
    assert_eq!(b.get(&forward).await.status, 303);
    let replay = b.get(&forward).await;
    assert_eq!(replay.status, 400, "{}", replay.body);
    assert!(replay.body.contains("already used"), "{}", replay.body);
    assert!(replay.body.contains("id=\"again\""), "{}", replay.body);

    // Code replay: a fresh state, the spent code.
    let b = d.browser();
    let started = b.get(&start).await;
    let state = param(started.location.as_deref().unwrap(), "state").unwrap();
    let code = param(&forward, "authCode").unwrap();
    let replayed = b
        .get(&format!(
            "{}?authCode={code}&code={code}&state={state}",
            forward.split('?').next().unwrap()
        ))
        .await;
    assert_eq!(replayed.status, 400, "{}", replayed.body);
    assert!(
        replayed.body.contains("expired or was already used"),
        "{}",
        replayed.body
    );

    // A state without its browser cookie (another browser) is refused.
    let b = d.browser();
    let started = b.get(&start).await;
    let picked = scan(&b, started.location.as_deref().unwrap(), &user).await;
    let other = d.browser();
    let elsewhere = other.get(picked.location.as_deref().unwrap()).await;
    assert_eq!(elsewhere.status, 400, "{}", elsewhere.body);
    assert!(
        elsewhere.body.contains("started elsewhere"),
        "{}",
        elsewhere.body
    );

    // DingTalk refuses a RedirectUrl it does not know ("redirect_url的域名不在appid的安全域名内"),
    // and the source's test names the one to register.
    d.sys
        .sim(
            Method::POST,
            &format!("/_sim/apps/{}", d.app_key),
            json!({"redirect_uris": ["https://elsewhere.example"]}),
        )
        .await;
    let b = d.browser();
    let started = b.get(&start).await;
    let refused = b.get(started.location.as_deref().unwrap()).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    let tested = d
        .admin(
            Method::POST,
            &format!(
                "/admin/api/auth-sources/{}/test",
                source["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(tested["redirect_url"], source["redirect_url"], "{tested}");
    assert!(
        tested["register"]
            .as_str()
            .unwrap()
            .contains(source["redirect_url"].as_str().unwrap()),
        "{tested}"
    );
    d.sys
        .sim(
            Method::POST,
            &format!("/_sim/apps/{}", d.app_key),
            json!({"redirect_uris": ["http://127.0.0.1"]}),
        )
        .await;

    // Without Contact.User.Read, users/me is refused: the page names the permission to grant.
    d.sys
        .sim(
            Method::POST,
            &format!("/_sim/apps/{}", d.app_key),
            json!({"permissions": ["qyapi_get_member", "qyapi_get_department_list",
                "qyapi_get_department_member"]}),
        )
        .await;
    let b = d.browser();
    let refused = super::qr_sign_in(&b, &start, &user).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(
        refused.body.contains("Contact.User.Read"),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("id=\"fix\""), "{}", refused.body);
    d.sys
        .sim(
            Method::POST,
            &format!("/_sim/apps/{}", d.app_key),
            json!({"permissions": dingtalk_sim::perm::ALL}),
        )
        .await;

    // An OIDC authorization request waiting for the sign-in continues after it.
    let b = d.browser();
    let next = "/oauth2/authorize?client_id=dbapp_x&response_type=code";
    let query = serde_urlencoded::to_string([("next", next)]).unwrap();
    let answer = super::qr_sign_in(&b, &format!("{start}?{query}"), &user).await;
    signed_in_to(&answer, next);

    // Nothing a client sends makes the server fail.
    let b = d.browser();
    let id = source["id"].as_str().unwrap();
    let long = "x".repeat(5000);
    for path in [
        "/authenticate/ddtalk/not-a-uuid".to_owned(),
        "/authenticate/ddtalk/forward/not-a-uuid?state=x".to_owned(),
        format!("/authenticate/ddtalk/forward/{id}"),
        format!("/authenticate/ddtalk/forward/{id}?state={long}&authCode={long}"),
        format!("/authenticate/ddtalk/forward/{id}?state=dbls_x&error=access_denied"),
        format!("/authenticate/ddtalk/{id}?next=//evil.example&app=%00"),
        "/authenticate/bind".to_owned(),
        "/authenticate/ddMicro/login".to_owned(),
        "/authenticate/ddMicro/login?agentId=abc&appId=<script>".to_owned(),
        format!("/authenticate/ddMicro/login?agentId={long}"),
    ] {
        let answer = b.get(&path).await;
        assert!(
            answer.status < 500,
            "{path}: {} {}",
            answer.status,
            answer.body
        );
    }
    for (path, form) in [
        ("/authenticate/bind", vec![("csrf", "x")]),
        ("/authenticate/ddMicro/code", vec![("code", "x")]),
        (
            "/authenticate/ddMicro/code",
            vec![("csrf", "x"), ("agentId", "1")],
        ),
    ] {
        let answer = b.post(path, &form).await;
        assert!(
            answer.status < 500,
            "{path}: {} {}",
            answer.status,
            answer.body
        );
    }
    let start_page = b.get(&format!("{start}?next=//evil.example")).await;
    assert_eq!(start_page.status, 303);

    // A disabled account is refused with a page that says so.
    d.admin(
        Method::PATCH,
        &format!("/admin/api/accounts/{account}"),
        Some(json!({"enabled": false})),
    )
    .await;
    let b = d.browser();
    let disabled = super::qr_sign_in(&b, &start, &user).await;
    assert_eq!(disabled.status, 403, "{}", disabled.body);
    assert!(disabled.body.contains("disabled"), "{}", disabled.body);
    assert!(b.cookie("dbsid").is_none());
    d.stop().await;
}
