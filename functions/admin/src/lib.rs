//! The admin JSON API under `/admin/api/` (job J6): connectors and their test connection, the
//! directory's read side with DingTalk mappings, the audit log, parked events and their re-drive,
//! a connector's pushes and link requests, the password policy, SCIM clients, SSO apps, DingTalk
//! sign-in sources and bindings. Every
//! route but the index needs an admin bearer token; the same router runs on Lambda and locally.

mod apps;
mod auth;
mod auth_sources;
mod callback;
mod config;
mod connectors;
mod console;
mod directory;
mod directory_writes;
mod explain;
mod index;
mod link_requests;
mod paging;
mod parked;
mod pushes;
mod roles;
mod runs;
mod scim_clients;
mod settings;
mod signing_keys;
mod test_connection;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::get;
use dingbridge::lifecycle::PullRuns;
use dingbridge::ports::{Clock, DingTalk, Queue, Table};
use dingbridge::push::PushingDirectory;
use dingbridge::secrets::SecretBox;
use dingbridge::store::admin_tokens::AdminTokens;
use dingbridge::store::apps::Apps;
use dingbridge::store::auth_sources::AuthSources;
use dingbridge::store::bindings::Bindings;
use dingbridge::store::connectors::Connectors;
use dingbridge::store::directory::Directory;
use dingbridge::store::events::Events;
use dingbridge::store::link_requests::LinkRequests;
use dingbridge::store::mappings::Mappings;
use dingbridge::store::outbox::Outbox;
use dingbridge::store::roles::AccountRoles;
use dingbridge::store::scim_clients::ScimClients;
use dingbridge::store::sessions::{SessionSettings, Sessions};
use dingbridge::store::settings::Settings;
use dingbridge::web::{self, ApiError};

pub use auth::{TOKEN_PREFIX, bootstrap_admin_token};
pub use callback::{CONTACT_EVENTS, callback_url};
pub use config::Config;
pub use paging::{DEFAULT_LIMIT, MAX_LIMIT};
pub use test_connection::{Check, Report};

/// Largest request body accepted (413 beyond). The largest admin body, a connector with every
/// field at its bound, is a few KB; this keeps any body far below DynamoDB's 400 KB item limit.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What the admin API uses, and so what its IAM policy grants: the table, the sync queue (re-drive
/// only), DingTalk (registration and test connection), the data key that seals connector secrets.
#[derive(Clone)]
pub struct Deps {
    pub table: Arc<dyn Table>,
    /// The sync queue (FIFO, message group = connector id).
    pub sync_queue: Arc<dyn Queue>,
    /// The pull queue (FIFO, message group = connector id): pulls started and runs confirmed
    /// here are carried out by `full-pull`, its consumer.
    pub pull_queue: Arc<dyn Queue>,
    /// The push queue (FIFO, message group = connector × entity): directory writes inside a
    /// push-enabled connector's root are pushed to DingTalk by `push-worker`, its consumer.
    pub push_queue: Arc<dyn Queue>,
    pub dingtalk: Arc<dyn DingTalk>,
    pub clock: Arc<dyn Clock>,
    pub secrets: SecretBox,
    /// Where DingTalk reaches this deployment (no trailing slash): callbacks are registered at
    /// `{public_base_url}/dingtalk/callback/{connector_id}`.
    pub public_base_url: String,
}

/// The stores every handler uses, built once per router.
#[derive(Clone)]
pub(crate) struct Admin {
    pub deps: Deps,
    pub connectors: Connectors,
    pub directory: Directory,
    pub mappings: Mappings,
    pub outbox: Outbox,
    /// Link mode `association`: the requests an admin approves or refuses.
    pub link_requests: LinkRequests,
    /// The directory's writes, through the push outbox.
    pub pushing: PushingDirectory,
    pub events: Events,
    pub settings: Settings,
    pub tokens: AdminTokens,
    /// OAuth 2.0 clients of the SCIM endpoint.
    pub scim_clients: ScimClients,
    /// Applications (SSO targets) of the portal.
    pub apps: Apps,
    /// DingTalk sign-in methods (认证源) and the DingTalk users bound to accounts.
    pub sources: AuthSources,
    pub bindings: Bindings,
    /// Portal sessions (an admin's browser reaches the API with one) and admin roles.
    pub sessions: Sessions,
    pub roles: AccountRoles,
    /// Pull runs: start, confirm, discard (the same lifecycle `full-pull` drives).
    pub pull_runs: PullRuns,
}

impl Admin {
    fn new(deps: Deps) -> Self {
        let (table, clock) = (deps.table.clone(), deps.clock.clone());
        let connectors = Connectors::new(table.clone(), clock.clone(), deps.secrets.clone());
        let directory = Directory::new(table.clone(), clock.clone());
        let mappings = Mappings::new(table.clone());
        let outbox = Outbox::new(table.clone(), clock.clone());
        let pushing = PushingDirectory::new(
            directory.clone(),
            connectors.clone(),
            outbox.clone(),
            deps.push_queue.clone(),
        );
        Self {
            connectors,
            directory,
            mappings,
            outbox,
            link_requests: LinkRequests::new(table.clone(), clock.clone()),
            pushing,
            events: Events::new(table.clone(), clock.clone()),
            settings: Settings::new(table.clone(), clock.clone()),
            scim_clients: ScimClients::new(table.clone(), clock.clone()),
            apps: Apps::new(table.clone(), clock.clone()),
            sources: AuthSources::new(table.clone(), clock.clone(), deps.secrets.clone()),
            bindings: Bindings::new(table.clone(), clock.clone()),
            sessions: Sessions::new(table.clone(), clock.clone(), SessionSettings::default()),
            roles: AccountRoles::new(table.clone(), clock.clone()),
            pull_runs: PullRuns::new(table.clone(), deps.pull_queue.clone(), clock.clone()),
            tokens: AdminTokens::new(table, clock),
            deps,
        }
    }
}

pub fn router(deps: Deps) -> Router {
    let admin = Admin::new(deps);
    let api = Router::new()
        .merge(connectors::routes())
        .merge(test_connection::routes())
        .merge(directory::routes())
        .merge(directory_writes::routes())
        .merge(parked::routes())
        .merge(pushes::routes())
        .merge(link_requests::routes())
        .merge(signing_keys::routes())
        .merge(settings::routes())
        .merge(scim_clients::routes())
        .merge(apps::routes())
        .merge(auth_sources::routes())
        .merge(roles::routes())
        .merge(runs::routes())
        .route_layer(middleware::from_fn_with_state(
            admin.clone(),
            auth::require_admin,
        ))
        .route("/", get(index::index))
        .fallback(|| async { ApiError::NotFound })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(admin.clone());
    let console = console::routes().with_state(admin);
    web::json_errors(
        Router::new()
            .route("/admin/api/", get(index::index))
            .nest("/admin/api", api)
            .merge(console),
    )
}
