//! Discovery, errors, filters, projections, paging, versions and the group rules.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::Env;

fn user(name: &str) -> Value {
    json!({"userName": name, "emails": [{"value": format!("{name}@x.example"), "type": "work"}]})
}

#[tokio::test]
async fn discovery_is_read_only_and_lists_what_is_stored() {
    let env = Env::new().await;
    let spc = env
        .call(Method::GET, "/scim/v2/ServiceProviderConfig", None)
        .await;
    assert_eq!(spc.status, StatusCode::OK);
    assert_eq!(spc.body["patch"]["supported"], true);
    assert_eq!(spc.body["filter"]["supported"], true);
    assert_eq!(spc.body["filter"]["maxResults"], 200);
    assert_eq!(spc.body["etag"]["supported"], true);
    for off in ["bulk", "sort", "changePassword"] {
        assert_eq!(spc.body[off]["supported"], false, "{off}");
    }
    assert_eq!(
        spc.body["authenticationSchemes"][0]["type"],
        "oauthbearertoken"
    );
    let types = env.call(Method::GET, "/scim/v2/ResourceTypes", None).await;
    assert_eq!(types.body["totalResults"], 2);
    assert_eq!(types.body["Resources"][0]["endpoint"], "/Users");
    let schemas = env.call(Method::GET, "/scim/v2/Schemas", None).await;
    let ids: Vec<&str> = schemas.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"urn:ietf:params:scim:schemas:core:2.0:User"));
    assert!(ids.contains(&"urn:dingbridge:params:scim:schemas:extension:2.0:OrgUnit"));
    let one = env
        .call(
            Method::GET,
            "/scim/v2/Schemas/urn:ietf:params:scim:schemas:core:2.0:Group",
            None,
        )
        .await;
    assert_eq!(one.body["name"], "Group");
    for path in [
        "/scim/v2/ServiceProviderConfig",
        "/scim/v2/Schemas",
        "/scim/v2/ResourceTypes",
    ] {
        for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            let a = env.call(method.clone(), path, Some(json!({}))).await;
            assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        }
    }
    assert_eq!(
        env.call(Method::GET, "/scim/v2/Schemas/urn:nope", None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        env.call(Method::GET, "/scim/v2/Elsewhere", None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn bad_requests_get_their_scim_type_and_change_nothing() {
    let env = Env::new().await;
    let bad_filter = env
        .call(Method::GET, "/scim/v2/Users?filter=userName%20eq", None)
        .await;
    assert_eq!(bad_filter.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_filter.body["scimType"], "invalidFilter");
    let auth = format!("Bearer {}", env.token);
    let not_json = env
        .send(
            Method::POST,
            "/scim/v2/Users",
            &[("authorization", &auth)],
            Some("{".to_owned()),
        )
        .await;
    assert_eq!(not_json.body["scimType"], "invalidSyntax");
    let xml = env
        .send(
            Method::POST,
            "/scim/v2/Users",
            &[("authorization", &auth), ("content-type", "text/xml")],
            Some("<a/>".to_owned()),
        )
        .await;
    assert_eq!(xml.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = env
        .call(
            Method::POST,
            "/scim/v2/Users",
            Some(json!({"userName": "x", "title": "t".repeat(600 * 1024)})),
        )
        .await;
    assert_eq!(huge.status, StatusCode::PAYLOAD_TOO_LARGE);
    let no_name = env
        .call(
            Method::POST,
            "/scim/v2/Users",
            Some(json!({"displayName": "Nobody"})),
        )
        .await;
    assert_eq!(no_name.body["scimType"], "invalidValue");
    let bad_name = env
        .call(
            Method::POST,
            "/scim/v2/Users",
            Some(json!({"userName": "has space"})),
        )
        .await;
    assert_eq!(bad_name.body["scimType"], "invalidValue");
    let bad_email = env
        .call(
            Method::POST,
            "/scim/v2/Users",
            Some(json!({"userName": "e", "emails": [{"value": "not-an-address", "type": "work"}]})),
        )
        .await;
    assert_eq!(bad_email.body["scimType"], "invalidValue");
    let list = env.call(Method::GET, "/scim/v2/Users", None).await;
    assert_eq!(list.body["totalResults"], 0, "nothing was created");
    assert_eq!(
        env.call(Method::GET, "/scim/v2/Users/not-an-id", None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let unknown = "0190f6f0-0000-7000-8000-000000000000";
    assert_eq!(
        env.call(Method::DELETE, &format!("/scim/v2/Users/{unknown}"), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn uniqueness_covers_user_name_email_mobile_and_external_id() {
    let env = Env::new().await;
    let first = env
        .call(
            Method::POST,
            "/scim/v2/Users",
            Some(json!({"userName": "u1", "externalId": "X1",
            "emails": [{"value": "u1@x.example", "type": "work"}],
            "phoneNumbers": [{"value": "13900000001", "type": "mobile"}]})),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    for clash in [
        json!({"userName": "U1"}),
        json!({"userName": "u2", "externalId": "X1"}),
        json!({"userName": "u3", "emails": [{"value": "U1@x.example", "type": "work"}]}),
        json!({"userName": "u4", "phoneNumbers": [{"value": "+86 139 0000 0001", "type": "mobile"}]}),
    ] {
        let a = env
            .call(Method::POST, "/scim/v2/Users", Some(clash.clone()))
            .await;
        assert_eq!(a.status, StatusCode::CONFLICT, "{clash}");
        assert_eq!(a.body["scimType"], "uniqueness");
    }
}

#[tokio::test]
async fn filters_projections_and_paging() {
    let env = Env::new().await;
    for n in ["ann", "bob", "cid", "dan", "eve"] {
        assert_eq!(
            env.call(Method::POST, "/scim/v2/Users", Some(user(n)))
                .await
                .status,
            StatusCode::CREATED
        );
    }
    let page = env
        .call(Method::GET, "/scim/v2/Users?startIndex=2&count=2", None)
        .await;
    assert_eq!(page.body["totalResults"], 5);
    assert_eq!(page.body["startIndex"], 2);
    assert_eq!(page.body["itemsPerPage"], 2);
    assert_eq!(page.body["Resources"][0]["userName"], "bob");
    let totals = env.call(Method::GET, "/scim/v2/Users?count=0", None).await;
    assert_eq!(totals.body["totalResults"], 5);
    assert_eq!(totals.body["Resources"], json!([]));
    let sw = env
        .call(
            Method::GET,
            "/scim/v2/Users?filter=userName%20sw%20%22d%22%20or%20userName%20ew%20%22n%22",
            None,
        )
        .await;
    let names: Vec<&str> = sw.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["userName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ann", "dan"]);
    let by_mail = env.call(Method::GET, "/scim/v2/Users?filter=emails%5Btype%20eq%20%22work%22%20and%20value%20eq%20%22EVE%40x.example%22%5D", None).await;
    assert_eq!(by_mail.body["totalResults"], 1);
    let search = env
        .call(
            Method::POST,
            "/scim/v2/Users/.search",
            Some(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": "emails.value co \"@x.example\"", "startIndex": 1, "count": 10,
            "attributes": ["userName"]})),
        )
        .await;
    assert_eq!(search.status, StatusCode::OK, "{}", search.body);
    assert_eq!(search.body["totalResults"], 5);
    let first = &search.body["Resources"][0];
    assert!(
        first.get("emails").is_none(),
        "only the attributes asked for"
    );
    assert!(first["id"].is_string() && first["meta"].is_object() && first["schemas"].is_array());
    let id = first["id"].as_str().unwrap();
    let without = env
        .call(
            Method::GET,
            &format!("/scim/v2/Users/{id}?excludedAttributes=emails,userName"),
            None,
        )
        .await;
    assert!(without.body.get("emails").is_none());
    assert!(without.body.get("userName").is_none());
    assert_eq!(without.body["id"], id);
}

#[tokio::test]
async fn versions_are_weak_etags_and_if_match_is_honoured_not_required() {
    let env = Env::new().await;
    let created = env
        .call(Method::POST, "/scim/v2/Users", Some(user("v")))
        .await;
    let id = created.id();
    assert_eq!(created.headers.get("etag").unwrap(), "W/\"1\"");
    assert_eq!(created.body["meta"]["version"], "W/\"1\"");
    let auth = format!("Bearer {}", env.token);
    let body =
        json!({"Operations": [{"op": "replace", "path": "title", "value": "T"}]}).to_string();
    let stale = env
        .send(
            Method::PATCH,
            &format!("/scim/v2/Users/{id}"),
            &[("authorization", &auth), ("if-match", "W/\"9\"")],
            Some(body.clone()),
        )
        .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    let fresh = env
        .send(
            Method::PATCH,
            &format!("/scim/v2/Users/{id}"),
            &[("authorization", &auth), ("if-match", "W/\"1\"")],
            Some(body),
        )
        .await;
    assert_eq!(fresh.status, StatusCode::OK);
    assert_eq!(fresh.headers.get("etag").unwrap(), "W/\"2\"");
}

#[tokio::test]
async fn groups_nest_by_the_parent_extension_and_names_are_unique_in_scope() {
    let env = Env::new().await;
    let ext = "urn:dingbridge:params:scim:schemas:extension:2.0:OrgUnit";
    let top = env
        .call(
            Method::POST,
            "/scim/v2/Groups",
            Some(json!({"displayName": "Top"})),
        )
        .await;
    let top_id = top.id();
    let child = env
        .call(
            Method::POST,
            "/scim/v2/Groups",
            Some(json!({"displayName": "Child", ext: {"parent": top_id, "order": 3}})),
        )
        .await;
    assert_eq!(child.status, StatusCode::CREATED, "{}", child.body);
    let unit = env
        .directory
        .org_unit(&dingbridge::domain::ids::OrgUnitId::parse(&child.id()).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(unit.parent_id.unwrap().to_string(), top_id);
    assert_eq!(unit.order, 3);
    let dup = env
        .call(
            Method::POST,
            "/scim/v2/Groups",
            Some(json!({"displayName": "child"})),
        )
        .await;
    assert_eq!(
        dup.status,
        StatusCode::CONFLICT,
        "unique in the client's scope, any case"
    );
    assert_eq!(dup.body["scimType"], "uniqueness");
    let long = env
        .call(
            Method::POST,
            "/scim/v2/Groups",
            Some(json!({"displayName": "x".repeat(65)})),
        )
        .await;
    assert_eq!(long.body["scimType"], "invalidValue");
    let stranger = env
        .call(Method::POST, "/scim/v2/Groups", Some(json!({"displayName": "G", "members": [{"value": "0190f6f0-0000-7000-8000-000000000000"}]})))
        .await;
    assert_eq!(
        stranger.status,
        StatusCode::BAD_REQUEST,
        "members must exist"
    );
    assert_eq!(stranger.body["scimType"], "invalidValue");
    let busy = env
        .call(Method::DELETE, &format!("/scim/v2/Groups/{top_id}"), None)
        .await;
    assert_eq!(
        busy.status,
        StatusCode::CONFLICT,
        "a group with child groups stays"
    );
    assert_eq!(
        env.call(
            Method::DELETE,
            &format!("/scim/v2/Groups/{}", child.id()),
            None
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        env.call(Method::DELETE, &format!("/scim/v2/Groups/{top_id}"), None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        env.call(Method::GET, &format!("/scim/v2/Groups/{top_id}"), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn an_admin_change_shows_over_what_the_client_wrote() {
    let env = Env::new().await;
    let created = env
        .call(
            Method::POST,
            "/scim/v2/Users",
            Some(json!({"userName": "Mixed.Case", "displayName": "As Sent"})),
        )
        .await;
    let id = dingbridge::domain::ids::AccountId::parse(&created.id()).unwrap();
    assert_eq!(created.body["userName"], "Mixed.Case");
    env.directory
        .update_account(&id, None, &crate::support::admin(), |a| {
            a.display_name =
                dingbridge::domain::values::DisplayName::parse("Renamed By Admin").unwrap();
            Ok(())
        })
        .await
        .unwrap();
    let read = env
        .call(Method::GET, &format!("/scim/v2/Users/{id}"), None)
        .await;
    assert_eq!(read.body["displayName"], "Renamed By Admin");
    assert_eq!(
        read.body["userName"], "Mixed.Case",
        "untouched fields still read as sent"
    );
}
