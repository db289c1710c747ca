//! A password past the policy's maximum age is changed at the next sign-in, before the portal;
//! the change restarts its age (the directory stamps it, whoever changes the password).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::body::Body;
use axum::http::{Request, header};
use dingbridge::domain::password::PasswordPolicy;
use dingbridge::ports::{Clock, SystemClock};
use dingbridge::secrets::{SecretBox, hash_password};
use dingbridge::store::sessions::SessionSettings;
use dingbridge::store::settings::Settings;
use http_body_util::BodyExt;
use tower::ServiceExt;

const DAY: i64 = 86_400_000;
const PASSWORD: &str = "Correct-Horse-9";

struct SetClock(AtomicI64);

impl Clock for SetClock {
    fn now_millis(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Signs in on a fresh form; answers where the sign-in sends the browser.
async fn sign_in(app: &axum::Router) -> String {
    let page = app
        .clone()
        .oneshot(Request::get("/login").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let cookie = page.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let body = page.into_body().collect().await.unwrap().to_bytes();
    let body = String::from_utf8_lossy(&body);
    let marker = "name=\"csrf\" value=\"";
    let start = body.find(marker).unwrap() + marker.len();
    let csrf = &body[start..start + body[start..].find('"').unwrap()];
    let form = serde_urlencoded::to_string([
        ("csrf", csrf),
        ("next", "/portal"),
        ("identifier", "wang.wu"),
        ("password", PASSWORD),
    ])
    .unwrap();
    let answer = app
        .clone()
        .oneshot(
            Request::post("/login")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::COOKIE, cookie)
                .body(Body::from(form))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(answer.status(), 303);
    answer.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn an_old_password_must_be_changed_at_the_next_sign_in() {
    let clock = Arc::new(SetClock(SystemClock.now_millis().into()));
    let common::Store {
        table,
        directory,
        admin,
        account,
        dir: _dir,
    } = common::store(clock.clone(), "wang.wu", "王五", PASSWORD).await;
    assert_eq!(account.password_changed_ms, Some(clock.now_millis()));
    Settings::new(table.clone(), clock.clone())
        .set_password_policy(
            &PasswordPolicy {
                max_age_days: Some(90),
                ..PasswordPolicy::default()
            },
            &admin,
        )
        .await
        .unwrap();
    let app = portal::router(portal::Deps {
        table,
        clock: clock.clone(),
        secrets: SecretBox::from_base64(&SecretBox::generate_key()).unwrap(),
        public_url: "https://idm.example".into(),
        sessions: SessionSettings::default(),
        throttle: portal::default_throttle(),
        dingtalk: Arc::new(dingbridge::dingtalk::HttpDingTalk::new(Default::default()).unwrap()),
        jsapi_stand_in: None,
    });
    assert_eq!(sign_in(&app).await, "/portal", "a young password");
    clock.0.fetch_add(91 * DAY, Ordering::SeqCst);
    assert!(
        sign_in(&app).await.starts_with("/password"),
        "an expired one"
    );

    // Changed (here by an admin), its age restarts.
    directory
        .update_account(&account.id, None, &admin, |a| {
            a.password_hash = Some(hash_password(PASSWORD).unwrap());
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(sign_in(&app).await, "/portal");
}
