//! The demo's sign-in and single sign-on: a demo person with a password (kept owner-only in the
//! data directory), and two apps for everyone — an OpenID Connect app and a JWT app — both
//! pointing at the local runner's demo app (`demo_app`), which shows the claims it received.

use std::path::{Path, PathBuf};

use anyhow::Context;
use dingbridge::adapters::embedded::files;
use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::{Value, json};

use crate::demo_app::{self, DemoAppConfig};

/// The demo person's account id (JSON) and password, in the data directory.
pub const USER_FILE: &str = "demo-user.json";
pub const PASSWORD_FILE: &str = "demo-user.password";
pub const USERNAME: &str = "demo";
const OIDC_APP_NAME: &str = "演示 OIDC 应用";
const JWT_APP_NAME: &str = "演示 JWT 应用";

/// What the demo made for sign-in.
#[derive(Clone, Debug)]
pub struct DemoSso {
    pub username: String,
    /// Where the password is (owner-only): the banner names the file, never the password.
    pub password_file: PathBuf,
    pub app: DemoAppConfig,
    /// The demo's DingTalk sign-in (QR and micro-app sources on the simulated corp), or why
    /// there is none.
    pub dingtalk: Result<DemoDingTalk, String>,
}

/// The demo's DingTalk sign-in on the simulated corp.
#[derive(Clone, Debug)]
pub struct DemoDingTalk {
    /// The QR login's start (also a button on the sign-in page).
    pub qr_url: String,
    /// The micro-app home-page URL of each demo app, with a simulated member to sign in as
    /// (`simUser`, read by the local JSAPI stand-in).
    pub micro_urls: Vec<(String, String)>,
}

/// Where the demo's DingTalk sign-in runs: the demo connector's corp on the simulator.
pub struct DemoCorp<'a> {
    pub connector_id: &'a str,
    pub corp_id: &'a str,
    pub agent_id: i64,
    pub sim_base: &'a str,
}

const QR_SOURCE_NAME: &str = "钉钉扫码登录 (模拟)";
const MICRO_SOURCE_NAME: &str = "钉钉工作台免登 (模拟)";

struct Admin<'a> {
    http: &'a reqwest::Client,
    server: &'a str,
    token: &'a str,
}

impl Admin<'_> {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.server))
            .bearer_auth(self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    async fn ok(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let (status, answer) = self.call(method, path, body).await?;
        anyhow::ensure!(
            (200..300).contains(&status),
            "{path} answered {status}: {answer}"
        );
        Ok(answer)
    }
}

fn password() -> String {
    let tail: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(12)
        .map(char::from)
        .collect();
    // Meets the default policy (upper, lower, digit, 10+ characters) whatever the draw.
    format!("Demo-{tail}-7a")
}

/// Sets up (or keeps, across restarts) the demo person and apps on the server at `server`;
/// `issuer` is the provider's public URL, which the apps' URLs hang off.
pub async fn setup(
    http: &reqwest::Client,
    server: &str,
    token: &str,
    issuer: &str,
    data_dir: &Path,
    corp: &DemoCorp<'_>,
) -> anyhow::Result<DemoSso> {
    let admin = Admin {
        http,
        server,
        token,
    };
    let password_file = data_dir.join(PASSWORD_FILE);
    let user_file = data_dir.join(USER_FILE);
    let kept_id = std::fs::read_to_string(&user_file)
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| v["id"].as_str().map(str::to_owned));
    let existing = match &kept_id {
        Some(id) => {
            let (status, account) = admin
                .call(
                    reqwest::Method::GET,
                    &format!("/admin/api/accounts/{id}"),
                    None,
                )
                .await?;
            (status == 200).then_some(account)
        }
        None => None,
    };
    let username = match existing {
        Some(account) if password_file.exists() => account["username"]
            .as_str()
            .context("an account without a username")?
            .to_owned(),
        other => {
            let secret = password();
            let account = match other {
                Some(account) => account,
                None => create_user(&admin, &secret).await?,
            };
            let id = account["id"].as_str().context("an account without an id")?;
            admin
                .ok(
                    reqwest::Method::POST,
                    &format!("/admin/api/accounts/{id}/password"),
                    Some(json!({"password": secret, "must_change": false})),
                )
                .await?;
            files::write_private(&password_file, secret.as_bytes())
                .with_context(|| format!("cannot write {}", password_file.display()))?;
            files::write_private(&user_file, json!({ "id": id }).to_string().as_bytes())
                .with_context(|| format!("cannot write {}", user_file.display()))?;
            account["username"].as_str().unwrap_or(USERNAME).to_owned()
        }
    };
    let app = apps(&admin, issuer).await?;
    let dingtalk = sources(&admin, http, issuer, corp, &app)
        .await
        .map_err(|e| format!("{e:#}"));
    if let Err(e) = &dingtalk {
        tracing::warn!(error = %e, "the demo's DingTalk sign-in could not be set up");
    }
    Ok(DemoSso {
        username,
        password_file,
        app,
        dingtalk,
    })
}

/// A QR source and a micro-app source on the simulated corp, made again at every start (their
/// DingTalk hosts are the simulator's, whose port may change).
async fn sources(
    admin: &Admin<'_>,
    http: &reqwest::Client,
    issuer: &str,
    corp: &DemoCorp<'_>,
    apps: &DemoAppConfig,
) -> anyhow::Result<DemoDingTalk> {
    let listed = admin
        .ok(
            reqwest::Method::GET,
            "/admin/api/auth-sources?limit=1000",
            None,
        )
        .await?;
    for source in listed["items"].as_array().into_iter().flatten() {
        if source["name"] == QR_SOURCE_NAME || source["name"] == MICRO_SOURCE_NAME {
            if let Some(id) = source["id"].as_str() {
                admin
                    .ok(
                        reqwest::Method::DELETE,
                        &format!("/admin/api/auth-sources/{id}"),
                        None,
                    )
                    .await?;
            }
        }
    }
    let common = |name: &str, kind: &str| {
        json!({"name": name, "kind": kind, "corp_id": corp.corp_id,
            "connector_id": corp.connector_id, "agent_id": corp.agent_id.to_string(),
            "oapi_base": corp.sim_base, "api_base": corp.sim_base, "login_base": corp.sim_base})
    };
    let qr = admin
        .ok(
            reqwest::Method::POST,
            "/admin/api/auth-sources",
            Some(common(QR_SOURCE_NAME, "dingtalk_qr")),
        )
        .await?;
    let micro = admin
        .ok(
            reqwest::Method::POST,
            "/admin/api/auth-sources",
            Some(common(MICRO_SOURCE_NAME, "dingtalk_micro")),
        )
        .await?;
    let qr_id = qr["id"].as_str().context("no auth source id")?;
    // A simulated member to sign in as on the micro-app page.
    let org: Value = http
        .get(format!("{}/_sim/org", corp.sim_base))
        .send()
        .await?
        .json()
        .await?;
    let member = org["users"][0]["userid"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let micro_urls = [
        (OIDC_APP_NAME, &apps.oidc_client_id),
        (JWT_APP_NAME, &apps.jwt_client_id),
    ]
    .into_iter()
    .map(|(name, client_id)| {
        let home = dingbridge::store::auth_sources::micro_home_url(
            issuer,
            micro["agent_id"].as_str().unwrap_or_default(),
            client_id,
        );
        (name.to_owned(), format!("{home}&simUser={member}"))
    })
    .collect();
    Ok(DemoDingTalk {
        qr_url: format!(
            "{}/authenticate/ddtalk/{qr_id}",
            issuer.trim_end_matches('/')
        ),
        micro_urls,
    })
}

/// The demo person, in the directory's root unit (outside the pushed subtree: not pushed).
async fn create_user(admin: &Admin<'_>, secret: &str) -> anyhow::Result<Value> {
    let units = admin
        .ok(
            reqwest::Method::GET,
            "/admin/api/org-units?limit=1000",
            None,
        )
        .await?;
    let root = units["items"]
        .as_array()
        .and_then(|items| items.iter().find(|u| u["parent_id"].is_null()))
        .and_then(|u| u["id"].as_str())
        .context("the directory has no root unit")?
        .to_owned();
    for username in [
        USERNAME.to_owned(),
        format!("{USERNAME}.{}", &password()[5..9].to_lowercase()),
    ] {
        let (status, account) = admin
            .call(
                reqwest::Method::POST,
                "/admin/api/accounts",
                Some(json!({"username": username, "display_name": "演示用户",
                    "email": format!("{username}@example.com"),
                    "org_unit_ids": [root], "password": secret})),
            )
            .await?;
        match status {
            201 => return Ok(account),
            // The name is someone else's (a pulled account): try another.
            409 => continue,
            _ => anyhow::bail!("the demo account was refused: {account}"),
        }
    }
    anyhow::bail!("no free username for the demo account")
}

/// The two demo apps, made again at every start (their URLs follow the issuer, whose port may
/// change); the OIDC app's secret stays in memory, with the demo app.
async fn apps(admin: &Admin<'_>, issuer: &str) -> anyhow::Result<DemoAppConfig> {
    let listed = admin
        .ok(reqwest::Method::GET, "/admin/api/apps?limit=1000", None)
        .await?;
    for app in listed["items"].as_array().into_iter().flatten() {
        if app["name"] == OIDC_APP_NAME || app["name"] == JWT_APP_NAME {
            if let Some(id) = app["id"].as_str() {
                admin
                    .ok(
                        reqwest::Method::DELETE,
                        &format!("/admin/api/apps/{id}"),
                        None,
                    )
                    .await?;
            }
        }
    }
    let oidc = admin
        .ok(
            reqwest::Method::POST,
            "/admin/api/apps",
            Some(json!({"name": OIDC_APP_NAME, "kind": "oidc",
                "redirect_uris": [demo_app::callback_url(issuer)],
                "initiate_login_uri": demo_app::login_url(issuer),
                "home_url": demo_app::home_url(issuer),
                "scopes": ["openid", "profile", "email", "phone"],
                "assigned_to": {"everyone": true}})),
        )
        .await?;
    let jwt = admin
        .ok(
            reqwest::Method::POST,
            "/admin/api/apps",
            Some(json!({"name": JWT_APP_NAME, "kind": "jwt",
                "target_url": demo_app::jwt_url(issuer),
                "assigned_to": {"everyone": true}})),
        )
        .await?;
    let field = |v: &Value, name: &str| {
        v[name]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("the app answer has no {name}"))
    };
    let config = DemoAppConfig {
        oidc_client_id: field(&oidc, "client_id")?,
        oidc_client_secret: field(&oidc, "client_secret")?,
        jwt_client_id: field(&jwt, "client_id")?,
    };
    Ok(config)
}
