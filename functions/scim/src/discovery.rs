//! Discovery (RFC 7644 §4): `ServiceProviderConfig`, `ResourceTypes`, `Schemas`. Read-only: any
//! other method answers 405.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use crate::error::ScimError;
use crate::schema::{LIST_RESPONSE, Resource, SCHEMAS, render_resource_type, render_schema};
use crate::{MAX_RESULTS, Scim, scim_response};

fn ok(body: &Value) -> Response {
    scim_response(StatusCode::OK, HeaderMap::new(), body)
}

fn list(items: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_RESPONSE],
        "totalResults": items.len(),
        "startIndex": 1,
        "itemsPerPage": items.len(),
        "Resources": items,
    })
}

pub async fn read_only() -> ScimError {
    ScimError::method_not_allowed("discovery endpoints are read-only")
}

pub async fn service_provider_config(State(scim): State<Scim>) -> Response {
    ok(&json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": format!("{}/ServiceProviderConfig", scim.base),
        "patch": { "supported": true },
        "bulk": { "supported": false, "maxOperations": 0, "maxPayloadSize": 0 },
        "filter": { "supported": true, "maxResults": MAX_RESULTS },
        "changePassword": { "supported": false },
        "sort": { "supported": false },
        "etag": { "supported": true },
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "OAuth Bearer Token",
                "description": "A token from the client-credentials grant at /oauth/token",
                "specUri": "https://www.rfc-editor.org/rfc/rfc6750",
                "primary": true,
            },
            {
                "type": "httpbasic",
                "name": "HTTP Basic",
                "description": "The client id and secret, for clients an admin allowed Basic",
                "specUri": "https://www.rfc-editor.org/rfc/rfc7617",
            }
        ],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{}/ServiceProviderConfig", scim.base),
        },
    }))
}

pub async fn resource_types(State(scim): State<Scim>) -> Response {
    ok(&list(
        [Resource::User, Resource::Group]
            .into_iter()
            .map(|r| render_resource_type(r, &scim.base))
            .collect(),
    ))
}

pub async fn resource_type(
    State(scim): State<Scim>,
    Path(id): Path<String>,
) -> Result<Response, ScimError> {
    [Resource::User, Resource::Group]
        .into_iter()
        .find(|r| r.name().eq_ignore_ascii_case(&id))
        .map(|r| ok(&render_resource_type(r, &scim.base)))
        .ok_or_else(|| ScimError::not_found(format!("no resource type {id}")))
}

pub async fn schemas(State(scim): State<Scim>) -> Response {
    ok(&list(
        SCHEMAS
            .iter()
            .map(|s| render_schema(s, &scim.base))
            .collect(),
    ))
}

pub async fn schema(
    State(scim): State<Scim>,
    Path(id): Path<String>,
) -> Result<Response, ScimError> {
    SCHEMAS
        .iter()
        .find(|s| s.id.eq_ignore_ascii_case(&id))
        .map(|s| ok(&render_schema(s, &scim.base)))
        .ok_or_else(|| ScimError::not_found(format!("no schema {id}")))
}
