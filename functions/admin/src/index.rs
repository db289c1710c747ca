//! `GET /admin/api/`: what this API offers, one line per resource, so that a newcomer (or a
//! script) can find its way without the source. Public: it lists routes, never data.

use axum::Json;
use serde::Serialize;

/// One resource of the API.
#[derive(Serialize)]
pub(crate) struct Resource {
    path: &'static str,
    methods: &'static [&'static str],
    description: &'static str,
}

#[derive(Serialize)]
pub(crate) struct Index {
    service: &'static str,
    authentication: &'static str,
    paging: &'static str,
    errors: &'static str,
    resources: &'static [Resource],
}

const fn resource(
    path: &'static str,
    methods: &'static [&'static str],
    description: &'static str,
) -> Resource {
    Resource {
        path,
        methods,
        description,
    }
}

/// Every route of the admin router; a test calls each listed method to keep this true.
const RESOURCES: &[Resource] = &[
    resource("/admin/api/", &["GET"], "This index."),
    resource(
        "/admin/api/connectors",
        &["GET", "POST"],
        "DingTalk connectors (one per DingTalk app): list, or create one (secrets are write-only; \
         the answer's warnings name the fields trimmed of spaces).",
    ),
    resource(
        "/admin/api/connectors/{id}",
        &["GET", "PUT", "PATCH", "DELETE"],
        "One connector: read, update (absent fields are kept), delete (unregisters its callback).",
    ),
    resource(
        "/admin/api/connectors/{id}/test",
        &["POST"],
        "Test connection: credentials, IP allow-list, API permissions and contact scope, each named; \
         with the push on, the write permission and the push root, parent and holding department.",
    ),
    resource(
        "/admin/api/connectors/{id}/pull",
        &["POST"],
        "Start a full pull of the connector's DingTalk org (a run; review mode waits for confirm).",
    ),
    resource(
        "/admin/api/connectors/{id}/push",
        &["POST"],
        "Start an initial push (re-sync) of the connector's pushed subtree: a run of kind push \
         that plans what DingTalk would get, then waits for confirm ({\"mode\": \"auto\"} applies \
         a plan the mass-delete guard passes).",
    ),
    resource(
        "/admin/api/connectors/{id}/pushes",
        &["GET"],
        "The connector's pushes in its outbox (?state=parked|pending|all, default all): entity \
         kind, id and name, version, state, the reason and DingTalk code of a parked one, since.",
    ),
    resource(
        "/admin/api/connectors/{id}/pushes/redrive",
        &["POST"],
        "Re-drive every parked push of the connector (up to 1000 per call): pending again and \
         queued.",
    ),
    resource(
        "/admin/api/connectors/{id}/pushes/{kind}/{entity_id}/redrive",
        &["POST"],
        "Re-drive one parked push (kind account or org_unit); 409 when it is not parked.",
    ),
    resource(
        "/admin/api/connectors/{id}/link-requests",
        &["GET"],
        "Link requests of link mode association (?state=pending|approved|refused|all, default \
         all): an account whose mobile is already a DingTalk user, with that user as read.",
    ),
    resource(
        "/admin/api/connectors/{id}/link-requests/{account_id}/approve",
        &["POST"],
        "Link the account to the DingTalk user and re-drive its push; 409 when stale (the user \
         or the account is linked otherwise by now).",
    ),
    resource(
        "/admin/api/connectors/{id}/link-requests/{account_id}/refuse",
        &["POST"],
        "Refuse the link: the push stays parked until the mobile is corrected or the DingTalk \
         user deleted.",
    ),
    resource(
        "/admin/api/runs",
        &["GET"],
        "Sync runs, newest first (?connector_id= to filter).",
    ),
    resource(
        "/admin/api/runs/{id}",
        &["GET"],
        "One run: its state, counters and errors; while a pull walks, the time left (estimate).",
    ),
    resource(
        "/admin/api/runs/{id}/org-units",
        &["GET"],
        "The departments a run staged, each with its parent (?filter= as for rows); a push \
         run's org unit rows.",
    ),
    resource(
        "/admin/api/runs/{id}/rows",
        &["GET"],
        "The account rows a run staged with their planned action \
         (?filter=invalid|create|update|disable|unchanged|all).",
    ),
    resource(
        "/admin/api/runs/{id}/rows/{row_id}",
        &["DELETE"],
        "Remove one staged row (D:{dept_id} or U:{userid}) before confirming.",
    ),
    resource(
        "/admin/api/runs/{id}/remove-invalid",
        &["POST"],
        "Remove every invalid row of a run waiting for review.",
    ),
    resource(
        "/admin/api/runs/{id}/confirm",
        &["POST"],
        "Apply a reviewed run to the directory (?scope=org_units|accounts|all, default all).",
    ),
    resource(
        "/admin/api/runs/{id}/discard",
        &["POST"],
        "Discard a run waiting for review.",
    ),
    resource(
        "/admin/api/accounts",
        &["GET", "POST"],
        "Directory accounts with their DingTalk mappings and push state; POST creates one (username, \
         display_name, org_unit_ids, optional mobile, email, job_number, title, \
         primary_org_unit_id, password, attributes, enabled).",
    ),
    resource(
        "/admin/api/accounts/{id}",
        &["GET", "PATCH", "DELETE"],
        "One account with its DingTalk mappings and push state; PATCH changes any field \
         (enabled: false disables), DELETE removes it. Writes take If-Match or version.",
    ),
    resource(
        "/admin/api/accounts/{id}/password",
        &["POST"],
        "Set or reset an account's password under the password policy.",
    ),
    resource(
        "/admin/api/org-units",
        &["GET", "POST"],
        "Directory org units (departments) with their DingTalk mappings and push state, the \
         root included; \
         POST creates one (name, parent_id, order).",
    ),
    resource(
        "/admin/api/org-units/{id}",
        &["GET", "PATCH", "DELETE"],
        "One org unit with its DingTalk mappings and push state; PATCH renames, moves or \
         re-orders, DELETE removes an empty unit. Writes take If-Match or version.",
    ),
    resource(
        "/admin/api/audit",
        &["GET"],
        "The audit log, newest first: ?origin= (admin, dingtalk-pull, dingtalk-event, scim), \
         ?since= and ?until= (RFC 3339); or one entity's history with ?entity_kind= (account, \
         org_unit, connector, settings, scim_client, app) and ?entity_id=.",
    ),
    resource(
        "/admin/api/parked-events",
        &["GET"],
        "Events that failed permanently, with their reason (?connector_id= to filter).",
    ),
    resource(
        "/admin/api/parked-events/redrive-all",
        &["POST"],
        "Put parked events back on the sync queue (up to 1000 per call).",
    ),
    resource(
        "/admin/api/parked-events/{connector_id}/{id}/redrive",
        &["POST"],
        "Put one parked event back on the sync queue.",
    ),
    resource(
        "/admin/api/settings/password-policy",
        &["GET", "PUT", "PATCH"],
        "The password policy default passwords and portal passwords must meet.",
    ),
    resource(
        "/admin/api/scim-clients",
        &["GET", "POST"],
        "SCIM clients (OAuth 2.0 client credentials at /oauth/token): list, or create one (its \
         secret is in the creation's answer only).",
    ),
    resource(
        "/admin/api/scim-clients/{id}",
        &["GET", "PATCH", "DELETE"],
        "One SCIM client: read, change its name, token lifetime or Basic fallback, delete.",
    ),
    resource(
        "/admin/api/scim-clients/{id}/rotate",
        &["POST"],
        "A new secret, shown once; the old one is accepted for overlap_s more (default a day).",
    ),
    resource(
        "/admin/api/scim-clients/{id}/revoke",
        &["POST"],
        "Revoke: no more tokens, and the tokens issued stop working at once.",
    ),
    resource(
        "/admin/api/signing-keys",
        &["GET"],
        "The token-signing keys (kid, state current|next|retired, times); never a private half.",
    ),
    resource(
        "/admin/api/signing-keys/rotate",
        &["POST"],
        "Start a rotation: a new key published now that signs 10 minutes later; the old key \
         stays published until the tokens it signed expire. 409 while one waits.",
    ),
    resource(
        "/admin/api/apps",
        &["GET", "POST"],
        "Applications the portal signs accounts in to (kind oidc: an OpenID Connect relying \
         party; kind jwt: sent a signed JWT): list, or create one (a confidential oidc app's \
         client_secret is in the creation's answer only).",
    ),
    resource(
        "/admin/api/apps/{id}",
        &["GET", "PUT", "DELETE"],
        "One app, by id or client_id: read, replace its settings (kind and public cannot \
         change; If-Match or version), delete.",
    ),
    resource(
        "/admin/api/apps/{id}/rotate",
        &["POST"],
        "A new client secret for a confidential oidc app, shown once; the old one is accepted \
         for overlap_s more (default a day, at most 7 days).",
    ),
    resource(
        "/admin/api/auth-sources",
        &["GET", "POST"],
        "DingTalk sign-in sources (认证源: kind dingtalk_qr or dingtalk_micro): list, or create \
         one; answers show the RedirectUrl or the micro-app home URLs to register in DingTalk, \
         never a secret, and warn about trimmed values.",
    ),
    resource(
        "/admin/api/auth-sources/{id}",
        &["GET", "PATCH", "DELETE"],
        "One auth source: read, change the fields sent (kind cannot change), delete.",
    ),
    resource(
        "/admin/api/auth-sources/{id}/test",
        &["POST"],
        "Check a source against DingTalk: credentials, the unionid lookup, the login or \
         free-login app, with the fix for each failure and the address to register.",
    ),
    resource(
        "/admin/api/accounts/{id}/bindings",
        &["GET"],
        "The DingTalk users bound to an account (which DingTalk user of which corp signs in as it).",
    ),
    resource(
        "/admin/api/accounts/{id}/bindings/{binding_id}",
        &["DELETE"],
        "Remove a binding: the next DingTalk sign-in of that user binds again.",
    ),
    resource(
        "/admin/api/accounts/{id}/roles",
        &["GET", "PUT"],
        "The account's admin roles: {\"roles\": [\"admin\"]} (everything), [\"viewer\"] \
         (read-only) or [] (none). An account with a role reaches this API with its portal \
         session; its writes carry the session's CSRF token in X-CSRF-Token.",
    ),
    resource(
        "/admin/api/roles",
        &["GET"],
        "The accounts holding an admin role.",
    ),
    resource(
        "/admin/api/me",
        &["GET"],
        "Who is calling: a token, or a session's account, role and CSRF token.",
    ),
];

pub(crate) async fn index() -> Json<Index> {
    Json(Index {
        service: "dingbridge admin API",
        authentication: "every resource but this index needs `Authorization: Bearer <admin token>`, \
                         or the portal session (cookie dbsid) of an account with a role: admin \
                         (everything; writes carry X-CSRF-Token) or viewer (reads only)",
        paging: "lists take ?limit= (1 to 1000, default 100) and ?cursor=, and answer \
                 {\"items\": [...], \"next_cursor\": ...} (null on the last page)",
        errors: "errors answer {\"error\": code, \"message\": text} with `field` or `problems` \
                 naming the invalid input",
        resources: RESOURCES,
    })
}
