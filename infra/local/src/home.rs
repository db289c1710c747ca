//! `GET /` of the local server, until the browser console exists: what runs here, the demo, the
//! reviews waiting and the next commands, as a small HTML page (JSON for `Accept:
//! application/json`). Read from the stores directly, never over HTTP on itself.

use std::fmt::Write;
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use dingbridge::store::connectors::Connectors;
use dingbridge::store::runs::{RunCounters, RunState, Runs};
use dingbridge::web::ApiError;
use dingtalk_sim::SimState;
use serde::Serialize;

use crate::token::LocalToken;

/// How many of the newest runs are searched for reviews, and connectors listed.
const SHOWN: usize = 50;

/// The page's state; the demo is filled in once it has started (the server runs before it).
#[derive(Clone)]
pub struct Home(Arc<Inner>);

struct Inner {
    connectors: Connectors,
    runs: Runs,
    token: LocalToken,
    base: String,
    public_url: String,
    demo: OnceLock<DemoInfo>,
}

/// What the page shows of a running demo.
pub struct DemoInfo {
    pub connector_id: String,
    pub sim_url: String,
    pub sim: Arc<SimState>,
}

impl Home {
    pub fn new(
        connectors: Connectors,
        runs: Runs,
        token: LocalToken,
        base: String,
        public_url: String,
    ) -> Self {
        Self(Arc::new(Inner {
            connectors,
            runs,
            token,
            base,
            public_url,
            demo: OnceLock::new(),
        }))
    }

    pub fn set_demo(&self, demo: DemoInfo) {
        // Set once per process; a second demo cannot start.
        let _ = self.0.demo.set(demo);
    }

    pub fn routes(&self) -> Router {
        Router::new().route("/", get(page)).with_state(self.clone())
    }
}

#[derive(Serialize)]
struct Status {
    service: &'static str,
    version: &'static str,
    functions: Vec<Function>,
    workers: Vec<Worker>,
    simulator: Option<Simulator>,
    demo: Option<DemoStatus>,
    connectors: Vec<ConnectorBrief>,
    reviews: Vec<Review>,
    /// Where the admin token is kept (`None`: it comes from `DINGBRIDGE_ADMIN_TOKEN`).
    admin_token_file: Option<String>,
    next: Vec<Command>,
}

#[derive(Serialize)]
struct Function {
    name: &'static str,
    paths: Vec<String>,
    what: &'static str,
}

#[derive(Serialize)]
struct Worker {
    name: &'static str,
    what: &'static str,
}

#[derive(Serialize)]
struct Simulator {
    url: String,
    apps: String,
    org: String,
}

#[derive(Serialize)]
struct DemoStatus {
    connector_id: String,
    connector_name: Option<String>,
    simulated_org: OrgSize,
}

#[derive(Serialize)]
struct OrgSize {
    departments: usize,
    users: usize,
}

#[derive(Serialize)]
struct ConnectorBrief {
    id: String,
    name: String,
    corp_id: String,
    enabled: bool,
    callback_status: Option<String>,
}

#[derive(Serialize)]
struct Review {
    run_id: String,
    connector_id: String,
    started_ms: i64,
    review_reason: Option<String>,
    counters: RunCounters,
}

/// One command a person may run next.
#[derive(Clone, Serialize)]
pub struct Command {
    pub what: String,
    pub command: String,
}

impl Command {
    fn new(what: impl Into<String>, command: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            command: command.into(),
        }
    }
}

/// The calls that review, clean and confirm run `id`.
pub fn review_commands(base: &str, token: &LocalToken, id: &str) -> Vec<Command> {
    let auth = token.curl_header();
    let run = format!("{base}/admin/api/runs/{id}");
    vec![
        Command::new(
            "review the departments",
            format!("curl {auth} {run}/org-units"),
        ),
        Command::new(
            "review the rows that cannot be imported",
            format!("curl {auth} '{run}/rows?filter=invalid'"),
        ),
        Command::new(
            "remove the rows that cannot be imported",
            format!("curl -X POST {auth} {run}/remove-invalid"),
        ),
        Command::new("confirm", format!("curl -X POST {auth} {run}/confirm")),
    ]
}

/// The calls that show the directory.
pub fn directory_commands(base: &str, token: &LocalToken) -> Vec<Command> {
    let auth = token.curl_header();
    vec![
        Command::new(
            "the directory's accounts",
            format!("curl {auth} {base}/admin/api/accounts"),
        ),
        Command::new(
            "the directory's org units",
            format!("curl {auth} {base}/admin/api/org-units"),
        ),
    ]
}

/// The call that creates an account in the demo's pushed subtree (under `root_unit_id`); the
/// push makes it a user of the simulated org.
pub fn push_commands(base: &str, token: &LocalToken, root_unit_id: &str) -> Vec<Command> {
    let auth = token.curl_header();
    vec![Command::new(
        "create an account under the pushed unit",
        format!(
            "curl -X POST {auth} {base}/admin/api/accounts -H 'Content-Type: application/json' -d '{{\"username\":\"li.lei\",\"display_name\":\"李雷\",\"mobile\":\"16612345678\",\"email\":\"li.lei@example.com\",\"org_unit_ids\":[\"{root_unit_id}\"]}}'"
        ),
    )]
}

/// The calls a SCIM client makes: a token first (HTTP Basic with the client id and the secret
/// from its owner-only file, never the secret itself on screen).
pub fn scim_commands(base: &str, scim: &crate::demo::DemoScim) -> Vec<Command> {
    let secret = crate::token::shell_word(&scim.secret_file);
    vec![
        Command::new(
            "get an access token (client credentials)",
            format!(
                "curl -u \"{}:$(cat {secret})\" -d grant_type=client_credentials {base}/oauth/token",
                scim.client_id
            ),
        ),
        Command::new(
            "keep a token in $TOKEN for the SCIM calls",
            format!(
                "TOKEN=$(curl -s -u \"{}:$(cat {secret})\" -d grant_type=client_credentials {base}/oauth/token | sed -n 's/.*\"access_token\":\"\\([^\"]*\\)\".*/\\1/p')",
                scim.client_id
            ),
        ),
        Command::new(
            "create a user through SCIM (it lands in the client's root unit; the push makes it a user of the simulated org)",
            format!(
                "curl -X POST -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/scim+json' {base}/scim/v2/Users -d '{{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":\"han.meimei@example.com\",\"displayName\":\"韩梅梅\",\"phoneNumbers\":[{{\"type\":\"mobile\",\"value\":\"16612345679\"}}],\"emails\":[{{\"type\":\"work\",\"value\":\"han.meimei@example.com\",\"primary\":true}}]}}'"
            ),
        ),
        Command::new(
            "find that user by userName",
            format!(
                "curl -H \"Authorization: Bearer $TOKEN\" '{base}/scim/v2/Users?filter=userName%20eq%20%22han.meimei@example.com%22'"
            ),
        ),
    ]
}

/// The calls that change the simulated org (each change reaches the directory by callback).
pub fn org_change_commands(sim: &str) -> Vec<Command> {
    vec![
        Command::new(
            "add a department",
            format!(
                "curl -X POST {sim}/_sim/depts -H 'Content-Type: application/json' -d '{{\"name\":\"新部门\",\"parent_id\":1}}'"
            ),
        ),
        Command::new(
            "add a user",
            format!(
                "curl -X POST {sim}/_sim/users -H 'Content-Type: application/json' -d '{{\"name\":\"王小明\",\"mobile\":\"13912345678\",\"email\":\"xiaoming@example.com\",\"dept_id_list\":[1]}}'"
            ),
        ),
    ]
}

async fn page(State(home): State<Home>, headers: HeaderMap) -> Response {
    let status = match status(&home).await {
        Ok(status) => status,
        Err(e) => return e.into_response(),
    };
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("application/json"));
    if wants_json {
        axum::Json(status).into_response()
    } else {
        Html(render(&status)).into_response()
    }
}

async fn status(home: &Home) -> Result<Status, ApiError> {
    let h = &home.0;
    let connectors = h.connectors.list(SHOWN, None).await?.items;
    let runs = h
        .runs
        .list(None, SHOWN, None)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .items;
    let reviews: Vec<Review> = runs
        .into_iter()
        .filter(|r| r.state == RunState::AwaitingReview)
        .map(|r| Review {
            run_id: r.id.to_string(),
            connector_id: r.connector_id.to_string(),
            started_ms: r.started_ms,
            review_reason: r.review_reason,
            counters: r.counters,
        })
        .collect();
    let demo = h.demo.get();
    let simulator = demo.map(|d| Simulator {
        url: d.sim_url.clone(),
        apps: format!("{}/_sim/apps", d.sim_url),
        org: format!("{}/_sim/org", d.sim_url),
    });
    let demo_status = demo.map(|d| {
        let (departments, users) = d.sim.org_size(0).unwrap_or_default();
        DemoStatus {
            connector_id: d.connector_id.clone(),
            connector_name: connectors
                .iter()
                .find(|c| c.id.to_string() == d.connector_id)
                .map(|c| c.name.clone()),
            simulated_org: OrgSize { departments, users },
        }
    });
    let mut next: Vec<Command> = reviews
        .iter()
        .flat_map(|r| review_commands(&h.base, &h.token, &r.run_id))
        .collect();
    next.extend(directory_commands(&h.base, &h.token));
    if let Some(d) = demo {
        next.extend(org_change_commands(&d.sim_url));
    }
    Ok(Status {
        service: "dingbridge",
        version: env!("CARGO_PKG_VERSION"),
        functions: functions(&h.public_url),
        workers: vec![
            Worker {
                name: "sync-worker",
                what: "applies DingTalk events from the sync queue; drains DingTalk's failed-push list on a timer",
            },
            Worker {
                name: "full-pull",
                what: "walks DingTalk's org for the full pulls on the pull queue; starts scheduled pulls",
            },
        ],
        simulator,
        demo: demo_status,
        connectors: connectors
            .into_iter()
            .map(|c| ConnectorBrief {
                id: c.id.to_string(),
                name: c.name,
                corp_id: c.corp_id.to_string(),
                enabled: c.enabled,
                callback_status: c.callback_status,
            })
            .collect(),
        reviews,
        admin_token_file: match h.token.source {
            crate::token::TokenSource::File { .. } => Some(h.token.file.display().to_string()),
            crate::token::TokenSource::Environment => None,
        },
        next,
    })
}

/// The HTTP functions merged into this server (`template.yaml`'s HTTP functions).
fn functions(public_url: &str) -> Vec<Function> {
    vec![
        Function {
            name: "health",
            paths: vec!["/healthz".into()],
            what: "version and engines",
        },
        Function {
            name: "admin",
            paths: vec!["/admin/api/".into()],
            what: "the admin API (Authorization: Bearer <admin token>)",
        },
        Function {
            name: "dingtalk-callback",
            paths: vec![
                "/dingtalk/callback/{connector_id}".into(),
                format!("{public_url}/dingtalk/callback/{{connector_id}} (as DingTalk calls it)"),
            ],
            what: "DingTalk's contact events",
        },
        Function {
            name: "oauth-token",
            paths: vec!["/oauth/token".into(), "/.well-known/jwks.json".into()],
            what: "access tokens for SCIM clients (client credentials) and their public keys",
        },
    ]
}

/// Escapes text for HTML element content and double-quoted attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn render(s: &Status) -> String {
    let e = escape;
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>dingbridge</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}}\
         code,pre{{background:#f4f4f4}}pre{{padding:.5rem;overflow-x:auto}}td,th{{text-align:left;padding:.2rem .6rem}}</style>\
         </head><body>\n<h1>dingbridge {}</h1>\n<p>Every function runs in this process on the embedded engines. \
         This page is JSON with <code>Accept: application/json</code>.</p>\n",
        e(s.version)
    );
    out.push_str("<h2>What runs here</h2>\n<table>\n");
    for f in &s.functions {
        let paths: Vec<String> = f
            .paths
            .iter()
            .map(|p| format!("<code>{}</code>", e(p)))
            .collect();
        let _ = writeln!(
            out,
            "<tr><th>{}</th><td>{}</td><td>{}</td></tr>",
            e(f.name),
            paths.join("<br>"),
            e(f.what)
        );
    }
    for w in &s.workers {
        let _ = writeln!(
            out,
            "<tr><th>{}</th><td></td><td>{}</td></tr>",
            e(w.name),
            e(w.what)
        );
    }
    if let Some(sim) = &s.simulator {
        let _ = writeln!(
            out,
            "<tr><th>simulated DingTalk</th><td><code>{}</code></td><td>apps <code>{}</code>, org <code>{}</code></td></tr>",
            e(&sim.url),
            e(&sim.apps),
            e(&sim.org)
        );
    }
    out.push_str("</table>\n");
    match &s.admin_token_file {
        Some(file) => {
            let _ = writeln!(
                out,
                "<p>The admin token is in <code>{}</code> (owner-only).</p>",
                e(file)
            );
        }
        None => out.push_str("<p>The admin token is <code>$DINGBRIDGE_ADMIN_TOKEN</code>.</p>\n"),
    }
    if let Some(d) = &s.demo {
        let _ = writeln!(
            out,
            "<h2>Demo</h2>\n<p>Connector <code>{}</code> ({}) syncs a simulated org of {} departments and {} users.</p>",
            e(&d.connector_id),
            e(d.connector_name.as_deref().unwrap_or("?")),
            d.simulated_org.departments,
            d.simulated_org.users
        );
    }
    out.push_str("<h2>Connectors</h2>\n");
    if s.connectors.is_empty() {
        out.push_str("<p>None yet.</p>\n");
    } else {
        out.push_str("<table><tr><th>name</th><th>id</th><th>corp</th><th>callback</th></tr>\n");
        for c in &s.connectors {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td></tr>",
                e(&c.name),
                e(&c.id),
                e(&c.corp_id),
                e(c.callback_status.as_deref().unwrap_or(""))
            );
        }
        out.push_str("</table>\n");
    }
    out.push_str("<h2>Waiting for review</h2>\n");
    if s.reviews.is_empty() {
        out.push_str("<p>No run waits for review.</p>\n");
    }
    for r in &s.reviews {
        let c = &r.counters;
        let _ = writeln!(
            out,
            "<p>Run <code>{}</code> of connector <code>{}</code>{}: {} departments, {} users read; \
             {} invalid rows ({} removed); planned: {} creates, {} updates, {} moves, {} disables; \
             {} unit creates, {} unit updates, {} unit removals.</p>",
            e(&r.run_id),
            e(&r.connector_id),
            r.review_reason
                .as_deref()
                .map(|why| format!(" ({})", e(why)))
                .unwrap_or_default(),
            c.departments,
            c.users,
            c.invalid_rows,
            c.removed_invalid,
            c.planned_creates,
            c.planned_updates,
            c.planned_moves,
            c.planned_disables,
            c.planned_unit_creates,
            c.planned_unit_updates,
            c.planned_unit_removals
        );
    }
    out.push_str("<h2>Next</h2>\n");
    for c in &s.next {
        let _ = writeln!(out, "<p>{}:</p><pre>{}</pre>", e(&c.what), e(&c.command));
    }
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn markup_and_quotes_are_escaped() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
