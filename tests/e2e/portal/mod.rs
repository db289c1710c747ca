//! The portal and its OpenID provider end to end on the local runner: an independent relying
//! party (Authlib + joserfc, `rp.py`) signs in through the code flow with PKCE (`rp`); the
//! provider checklist of the OpenID conformance suite's basic plan (`conformance`); and the
//! sign-in's defences — session fixation, CSRF, open redirects, disabled accounts, lockout
//! (`security`).

mod browser;
mod conformance;
mod demo;
mod rp;
mod security;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use dingbridge_local::{Options, Running, start};
use reqwest::header::{COOKIE, HeaderMap, LOCATION, SET_COOKIE};
use serde_json::{Value, json};

/// The test tools' Python (Authlib, joserfc, Playwright), installed by `infra/test.sh`.
pub fn python() -> std::path::PathBuf {
    let venv = std::env::var("DINGBRIDGE_TEST_VENV").expect(
        "DINGBRIDGE_TEST_VENV is not set: run infra/test.sh, which installs Authlib, joserfc and Playwright",
    );
    std::path::PathBuf::from(venv).join("bin").join("python")
}

/// Debian's Chromium, named by `infra/test.sh`.
pub fn chromium() -> String {
    std::env::var("DINGBRIDGE_TEST_CHROMIUM")
        .expect("DINGBRIDGE_TEST_CHROMIUM is not set: run infra/test.sh, which installs Chromium")
}

/// Runs `script` (a path below `tests/e2e/`) with `args`; the one JSON object it prints. A
/// failed script fails the test with its output.
pub async fn run_script(script: &str, args: Vec<String>) -> Value {
    let path = format!("{}/e2e/{script}", env!("CARGO_MANIFEST_DIR"));
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python())
            .arg(path)
            .args(args)
            .output()
    })
    .await
    .unwrap()
    .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{script} failed\n--- stdout\n{stdout}\n--- stderr\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap()
}

/// The demo person's password (meets the default policy).
pub const PASSWORD: &str = "Zhang-San-2026";

/// A local system with one account (`zhang.san`, no forced password change) and a way to make
/// apps.
pub struct Local {
    pub running: Running,
    _dir: tempfile::TempDir,
    pub base: String,
    pub account_id: String,
    http: reqwest::Client,
}

impl Local {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let running = start(Options::new(
            "127.0.0.1:0".parse().unwrap(),
            dir.path().join("data"),
        ))
        .await
        .unwrap();
        let base = format!("http://{}", running.addr);
        let mut local = Self {
            running,
            _dir: dir,
            base,
            account_id: String::new(),
            http: reqwest::Client::new(),
        };
        let root = local
            .admin(reqwest::Method::GET, "/admin/api/org-units", None)
            .await;
        let root_id = root["items"][0]["id"].as_str().unwrap().to_owned();
        let account = local
            .admin(
                reqwest::Method::POST,
                "/admin/api/accounts",
                Some(json!({"username": "zhang.san", "display_name": "张三",
                    "email": "zhang.san@example.com", "mobile": "13800138000",
                    "org_unit_ids": [root_id], "password": PASSWORD})),
            )
            .await;
        local.account_id = account["id"].as_str().unwrap().to_owned();
        let path = format!("/admin/api/accounts/{}/password", local.account_id);
        local
            .admin(
                reqwest::Method::POST,
                &path,
                Some(json!({"password": PASSWORD, "must_change": false})),
            )
            .await;
        local
    }

    /// An admin API call that must succeed.
    pub async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.running.token.value);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// A confidential OIDC app for everyone, redirecting to `redirect_uri`.
    pub async fn oidc_app(&self, redirect_uri: &str, public: bool) -> Value {
        self.admin(
            reqwest::Method::POST,
            "/admin/api/apps",
            Some(
                json!({"name": "示例应用", "kind": "oidc", "redirect_uris": [redirect_uri],
                "post_logout_redirect_uris": [format!("{redirect_uri}/bye")],
                "scopes": ["openid", "profile", "email", "phone"], "public": public,
                "assigned_to": {"everyone": true}}),
            ),
        )
        .await
    }

    pub async fn stop(self) {
        self.running.shutdown().await.unwrap();
    }
}

/// A browser without JavaScript: keeps cookies, never follows redirects by itself.
#[derive(Clone)]
pub struct Browser {
    http: reqwest::Client,
    jar: Arc<Mutex<BTreeMap<String, String>>>,
    pub base: String,
}

/// What a page request came to.
pub struct Answer {
    pub status: u16,
    pub location: Option<String>,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    /// A hidden field's value on the page.
    pub fn field(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no field {name} on the page:\n{}", self.body))
            + marker.len();
        let end = self.body[start..].find('"').unwrap() + start;
        unescape(&self.body[start..end])
    }

    /// A query parameter of the redirect's target.
    pub fn location_param(&self, name: &str) -> Option<String> {
        let location = self.location.as_deref()?;
        let url = reqwest::Url::parse(location)
            .or_else(|_| reqwest::Url::parse(&format!("http://x{location}")))
            .ok()?;
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

impl Browser {
    pub fn new(base: &str) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            jar: Arc::default(),
            base: base.to_owned(),
        }
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.jar.lock().unwrap().get(name).cloned()
    }

    pub fn set_cookie(&self, name: &str, value: &str) {
        self.jar
            .lock()
            .unwrap()
            .insert(name.to_owned(), value.to_owned());
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let cookies: Vec<String> = self
            .jar
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let request = if cookies.is_empty() {
            request
        } else {
            request.header(COOKIE, cookies.join("; "))
        };
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        for set in headers.get_all(SET_COOKIE) {
            let text = set.to_str().unwrap();
            let (pair, attrs) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            let mut jar = self.jar.lock().unwrap();
            if attrs.contains("Max-Age=0") {
                jar.remove(name);
            } else {
                jar.insert(name.to_owned(), value.to_owned());
            }
        }
        let location = headers
            .get(LOCATION)
            .map(|l| l.to_str().unwrap().to_owned());
        let body = response.text().await.unwrap();
        Answer {
            status,
            location,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(self.http.get(self.url(path))).await
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Answer {
        self.send(self.http.post(self.url(path)).form(form)).await
    }

    /// Follows redirects on this site until a page, or a redirect elsewhere.
    pub async fn follow(&self, mut answer: Answer) -> Answer {
        for _ in 0..10 {
            let Some(location) = answer.location.clone() else {
                return answer;
            };
            if location.starts_with("http") && !location.starts_with(&self.base) {
                return answer;
            }
            answer = self.get(&location).await;
        }
        panic!("too many redirects");
    }

    /// Signs in on the sign-in page `page` shows (after `GET /login…`).
    pub async fn sign_in_on(&self, page: &Answer, identifier: &str, password: &str) -> Answer {
        let csrf = page.field("csrf");
        let next = page.field("next");
        self.post(
            "/login",
            &[
                ("csrf", &csrf),
                ("next", &next),
                ("identifier", identifier),
                ("password", password),
            ],
        )
        .await
    }

    /// Signs in from scratch; returns the answer to the form.
    pub async fn sign_in(&self, identifier: &str, password: &str) -> Answer {
        let page = self.get("/login").await;
        assert_eq!(page.status, 200, "{}", page.body);
        self.sign_in_on(&page, identifier, password).await
    }
}

/// HTML's character references as askama writes them (named, decimal `&#38;`, hex `&#x2f;`).
fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let Some(end) = tail.find(';') else {
            out.push_str(tail);
            return out;
        };
        let name = &tail[1..end];
        let decoded = match name {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => name
                .strip_prefix("#x")
                .or_else(|| name.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &tail[end + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}
