//! DingTalk sign-in end to end, over HTTP against the simulator, on both engine pairs: the QR
//! login in both flows (new OAuth2 and legacy SNS) for a synced user (bound automatically), a
//! bound user, unbound users through the bind page (username, email and mobile), an outsider
//! (a member of the simulator's second corp) refused, replays of the state and of the code, a
//! redirect DingTalk does not know, a disabled account; the micro-app free login straight into
//! an OIDC app and into a JWT app (what the app receives checked by Authlib + joserfc,
//! `sso.py`), and a used free-login code.

mod browser;
mod demo;
mod micro;
mod qr;

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::portal::{Answer, Browser};
use crate::system::{Engine, System, eventually};

/// Patience for a callback to sync a user on a loaded CI machine; a poll returns at once.
const PATIENCE: Duration = Duration::from_secs(240);
pub const PASSWORD: &str = "Bind-Me-2026x";

/// Two simulated corps: the connector's (0) and another (1) whose members are outsiders.
fn sim_config() -> dingtalk_sim::SimConfig {
    dingtalk_sim::SimConfig {
        seed: 23,
        corps: 2,
        users: 8,
        depts: 2,
        qps_per_api: 0,
        dirty_share: 0.0,
        callback_time_scale: 0.01,
        ..Default::default()
    }
}

/// A whole system whose connector syncs corp 0 by callback, with its sign-in routes.
pub struct Ding {
    pub sys: System,
    pub sim_base: String,
    pub app_key: String,
    pub app_secret: String,
    pub agent_id: String,
    http: reqwest::Client,
}

/// A member of a simulated corp.
#[derive(Clone, Debug)]
pub struct SimUser {
    pub userid: String,
    pub corp: usize,
    pub mobile: String,
}

impl Ding {
    pub async fn start(engine: Engine) -> Self {
        let sys = System::start_with(engine, sim_config(), true).await;
        let sim_base = sys.sim.base_url();
        let app = sys.sim.apps().into_iter().next().unwrap();
        Self {
            sys,
            sim_base,
            app_key: app.app_key,
            app_secret: app.app_secret,
            agent_id: app.agent_id.to_string(),
            http: reqwest::Client::new(),
        }
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.sys.base))
            .bearer_auth(&self.sys.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, value) = self.call(method, path, body).await;
        assert!((200..300).contains(&status), "{path}: {status} {value}");
        value
    }

    /// An auth source on the simulator, the connector standing for the corp app.
    pub async fn source(&self, extra: Value) -> Value {
        let mut body = json!({
            "name": "钉钉扫码登录",
            "corp_id": self.sys.corp_id,
            "connector_id": self.sys.connector_id.to_string(),
            "oapi_base": self.sim_base,
            "api_base": self.sim_base,
            "login_base": self.sim_base,
        });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        self.admin(Method::POST, "/admin/api/auth-sources", Some(body))
            .await
    }

    /// The members of corp `corp` the simulator generated (never synced: no pull ran).
    pub async fn members(&self, corp: usize) -> Vec<SimUser> {
        let corp_id = self.corp_id(corp).await;
        let org = self
            .sys
            .sim(
                Method::GET,
                &format!("/_sim/org?corp_id={corp_id}"),
                json!(null),
            )
            .await;
        org["users"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|u| u["mobile"].is_string())
            .map(|u| SimUser {
                userid: u["userid"].as_str().unwrap().to_owned(),
                corp,
                mobile: u["mobile"].as_str().unwrap().to_owned(),
            })
            .collect()
    }

    pub async fn corp_id(&self, corp: usize) -> String {
        let apps = self.sys.sim(Method::GET, "/_sim/apps", json!(null)).await;
        let ids: Vec<String> = apps
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["corp_id"].as_str().unwrap().to_owned())
            .collect();
        let mut distinct = ids.clone();
        distinct.dedup();
        distinct[corp].clone()
    }

    /// A new member of corp 0, synced to an account by its callback.
    pub async fn synced_member(&self, name: &str, mobile: &str) -> (SimUser, String) {
        let made = self
            .sys
            .sim(
                Method::POST,
                "/_sim/users",
                json!({"name": name, "mobile": mobile, "email": format!("{mobile}@corp.example"),
                    "dept_id_list": [1]}),
            )
            .await;
        let userid = made["userid"].as_str().unwrap().to_owned();
        eventually(
            PATIENCE,
            "the member's callback made an account",
            || async { self.sys.account_of(&userid).await.is_some() },
        )
        .await;
        let account = self.sys.account_of(&userid).await.unwrap();
        let user = SimUser {
            userid,
            corp: 0,
            mobile: mobile.to_owned(),
        };
        (user, account.id.to_string())
    }

    /// An account of ours with a password, for the bind page.
    pub async fn account(&self, username: &str, email: &str, mobile: &str) -> String {
        let units = self.admin(Method::GET, "/admin/api/org-units", None).await;
        let root = units["items"][0]["id"].as_str().unwrap().to_owned();
        let made = self
            .admin(
                Method::POST,
                "/admin/api/accounts",
                Some(
                    json!({"username": username, "display_name": username, "email": email,
                    "mobile": mobile, "org_unit_ids": [root]}),
                ),
            )
            .await;
        let id = made["id"].as_str().unwrap().to_owned();
        self.admin(
            Method::POST,
            &format!("/admin/api/accounts/{id}/password"),
            Some(json!({"password": PASSWORD, "must_change": false})),
        )
        .await;
        id
    }

    pub async fn bindings(&self, account: &str) -> Vec<Value> {
        let v = self
            .admin(
                Method::GET,
                &format!("/admin/api/accounts/{account}/bindings"),
                None,
            )
            .await;
        v["items"].as_array().unwrap().clone()
    }

    pub fn browser(&self) -> Browser {
        Browser::new(&self.sys.base)
    }

    pub async fn stop(self) {
        self.sys.stop().await;
    }
}

/// A query parameter of a URL.
pub fn param(url: &str, name: &str) -> Option<String> {
    let url = reqwest::Url::parse(url).ok()?;
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// "Scans" on the simulator's login page the start redirected to, as `user`: the answer that
/// sends the browser back to us.
pub async fn scan(browser: &Browser, dingtalk_page: &str, user: &SimUser) -> Answer {
    let page = browser.get(dingtalk_page).await;
    assert_eq!(page.status, 200, "DingTalk's login page: {}", page.body);
    let flow = if dingtalk_page.contains("/connect/qrconnect") {
        "sns"
    } else {
        "oauth2"
    };
    let key = param(dingtalk_page, "client_id")
        .or_else(|| param(dingtalk_page, "appid"))
        .unwrap();
    let base = dingtalk_page.split("/oauth2/auth").next().unwrap();
    let base = base.split("/connect/qrconnect").next().unwrap();
    let query = serde_urlencoded::to_string([
        ("flow", flow),
        ("client_id", key.as_str()),
        (
            "redirect_uri",
            &param(dingtalk_page, "redirect_uri").unwrap(),
        ),
        ("state", &param(dingtalk_page, "state").unwrap()),
        ("userid", &user.userid),
        ("corp", &user.corp.to_string()),
    ])
    .unwrap();
    let picked = browser
        .get(&format!("{base}/_sim/login/pick?{query}"))
        .await;
    assert_eq!(picked.status, 302, "{}", picked.body);
    picked
}

/// The whole QR sign-in from the start URL: start, scan, forward; the forward's answer.
pub async fn qr_sign_in(browser: &Browser, start: &str, user: &SimUser) -> Answer {
    let started = browser.get(start).await;
    assert_eq!(started.status, 303, "{}", started.body);
    let picked = scan(browser, started.location.as_deref().unwrap(), user).await;
    browser.get(picked.location.as_deref().unwrap()).await
}

/// Runs `sso.py` with `args`; its printed claims.
pub async fn sso_py(args: Vec<String>) -> Value {
    crate::portal::run_script("dingtalk_login/sso.py", args).await
}

macro_rules! on_engine {
    ($engine:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn qr_login_in_both_flows_binds_synced_and_new_users_and_refuses_outsiders() {
            crate::dingtalk_login::qr::both_flows_bind_synced_and_new_users_and_refuse_outsiders(
                $engine,
            )
            .await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn qr_login_refuses_replays_unknown_redirects_and_disabled_accounts() {
            crate::dingtalk_login::qr::replays_unknown_redirects_and_disabled_accounts_are_refused(
                $engine,
            )
            .await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn micro_app_login_enters_oidc_and_jwt_apps_and_refuses_a_used_code() {
            crate::dingtalk_login::micro::enters_oidc_and_jwt_apps_and_refuses_a_used_code($engine)
                .await;
        }
    };
}

mod embedded {
    on_engine!(crate::system::Engine::Embedded);
}

#[cfg(feature = "aws")]
mod aws {
    on_engine!(crate::system::Engine::Aws);
}
