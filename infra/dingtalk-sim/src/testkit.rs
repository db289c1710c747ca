//! The test kit (feature `testkit`, enabled by test crates' `[dev-dependencies]` only): the
//! set-up every test that points dingbridge at this simulator repeats — a fast DingTalk client
//! configuration, a simulator on a free loopback port, and a connector input naming the
//! simulated app — written once so that the tests of later functions start from the same place.

use std::net::SocketAddr;
use std::time::Duration;

use dingbridge::dingtalk::ClientConfig;
use dingbridge::domain::connector::ConnectorInput;
use serde_json::{Value, json};

use crate::{SimApp, SimConfig, SimHandle};

pub use crate::fixtures::{fixture, fixture_str, with};

/// A valid callback AES key (43 characters of base64 alphabet), for connectors that register
/// their callback at the simulator.
pub const CALLBACK_AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

/// The production client policy with test timings: a failing call is retried once after a few
/// milliseconds, and a hung one gives up after 5 s, so that fault cases take milliseconds
/// instead of the production back-off's seconds. Tests that need another policy override fields
/// with `ClientConfig { max_retries: 0, ..fast_client_config() }`.
pub fn fast_client_config() -> ClientConfig {
    ClientConfig {
        max_retries: 1,
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(20),
        throttle_backoff: Duration::from_millis(5),
        request_timeout: Duration::from_secs(5),
        ..ClientConfig::default()
    }
}

/// A running simulator and the base URL of its hosts (oapi, api and login are one server).
pub struct Sim {
    pub handle: SimHandle,
    pub base: String,
}

impl Sim {
    /// The first (in most tests, the only) simulated app.
    pub fn app(&self) -> Option<SimApp> {
        self.handle.apps().into_iter().next()
    }

    /// A connector input pointing at the first app; `None` only if the simulator has no app.
    pub fn connector_input(&self) -> Option<ConnectorInput> {
        self.app().map(|app| connector_input(&app, &self.base))
    }
}

/// Starts the simulator on a free loopback port.
pub async fn start_sim(config: SimConfig) -> anyhow::Result<Sim> {
    let addr: SocketAddr = ([127, 0, 0, 1], 0).into();
    let handle = crate::start(addr, config).await?;
    let base = handle.base_url();
    Ok(Sim { handle, base })
}

/// The connector input for `app` of a simulator at `base`: the app's corp, key and secret and
/// every DingTalk host at the simulator. Callback, leaver and pull settings are the defaults;
/// tests set the fields they exercise with struct update syntax.
pub fn connector_input(app: &SimApp, base: &str) -> ConnectorInput {
    ConnectorInput {
        name: Some("sim".into()),
        corp_id: Some(app.corp_id.clone()),
        app_key: Some(app.app_key.clone()),
        app_secret: Some(app.app_secret.clone()),
        oapi_base: Some(base.to_owned()),
        api_base: Some(base.to_owned()),
        login_base: Some(base.to_owned()),
        ..ConnectorInput::default()
    }
}

/// The same connector as the admin API's JSON body (`POST /admin/api/connectors`), with the
/// app's agent id; callers add fields to the object.
pub fn connector_json(app: &SimApp, base: &str, name: &str) -> Value {
    json!({
        "name": name, "corp_id": app.corp_id, "app_key": app.app_key,
        "app_secret": app.app_secret, "agent_id": app.agent_id,
        "oapi_base": base, "api_base": base, "login_base": base,
    })
}
