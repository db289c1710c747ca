#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::json;

use super::*;

fn input(value: serde_json::Value) -> AppInput {
    serde_json::from_value(value).unwrap()
}

fn fields(problems: &[InvalidField]) -> Vec<&'static str> {
    let mut fields: Vec<&'static str> = problems.iter().map(|p| p.field).collect();
    fields.sort_unstable();
    fields
}

#[test]
fn an_oidc_app_gets_openid_and_its_defaults() {
    let app = check_app(
        &input(json!({
            "name": " Wiki ", "kind": "oidc",
            "redirect_uris": ["https://wiki.example.com/cb", "https://wiki.example.com/cb"],
            "scopes": ["email", "profile"],
            "assigned_to": {"everyone": true},
        })),
        None,
    )
    .unwrap();
    assert_eq!(app.name, "Wiki");
    assert_eq!(app.scopes, ["openid", "profile", "email"]);
    assert_eq!(app.redirect_uris, ["https://wiki.example.com/cb"]);
    assert_eq!(app.jwt_param, "id_token");
    assert_eq!(app.jwt_lifetime_s, 300);
    assert_eq!(app.subject, AccountAttr::Id);
    assert_eq!(app.preferred_username, AccountAttr::Username);
    assert_eq!(app.assigned_to, Assignment::Everyone);
    assert!(app.enabled && !app.public);
}

#[test]
fn every_problem_of_an_app_is_named_at_once() {
    let problems = check_app(
        &input(json!({
            "name": "x".repeat(65),
            "kind": "jwt",
            "public": true,
            "redirect_uris": ["https://a.example.com/cb"],
            "scopes": ["openid", "offline_access", "groups"],
            "home_url": "http://example.com/",
            "icon_url": "https://example.com/i.png#top",
            "jwt_param": "id token",
            "jwt_lifetime_s": 600,
            "assigned_to": {"org_unit_ids": ["nope"]},
            "version": 3,
        })),
        None,
    )
    .unwrap_err();
    assert_eq!(
        fields(&problems),
        [
            "assigned_to",
            "home_url",
            "icon_url",
            "jwt_lifetime_s",
            "jwt_param",
            "name",
            "public",
            "redirect_uris",
            "scopes",
            "target_url",
            "version"
        ]
    );
    let scopes = problems.iter().find(|p| p.field == "scopes").unwrap();
    assert!(
        scopes.reason.contains("\"offline_access\", \"groups\""),
        "{}",
        scopes.reason
    );
    let assigned = problems.iter().find(|p| p.field == "assigned_to").unwrap();
    assert!(assigned.reason.contains("\"nope\""), "{}", assigned.reason);
}

#[test]
fn an_oidc_app_needs_a_redirect_uri_and_refuses_jwt_settings() {
    let problems = check_app(
        &input(json!({
            "name": "Wiki", "kind": "oidc", "target_url": "https://wiki.example.com/sso",
            "assigned_to": {},
        })),
        None,
    )
    .unwrap_err();
    assert_eq!(fields(&problems), ["redirect_uris", "target_url"]);
    let problems = check_app(&input(json!({"name": "Wiki"})), None).unwrap_err();
    assert_eq!(fields(&problems), ["assigned_to", "kind"]);
}

#[test]
fn uris_are_absolute_https_or_loopback_http_without_fragment_or_credentials() {
    for ok in [
        "https://app.example.com/cb",
        "https://app.example.com:8443/cb?tenant=1",
        "http://localhost:3000/cb",
        "http://127.0.0.1/cb",
        "http://[::1]:8080/cb",
        " https://app.example.com/cb ",
    ] {
        assert_eq!(check_uri(ok).as_deref(), Ok(ok.trim()), "{ok}");
    }
    for (bad, why) in [
        ("http://app.example.com/cb", "https://"),
        ("http://localhost.example.com/cb", "https://"),
        ("ftp://app.example.com/", "https://"),
        ("/cb", "absolute"),
        ("https://app.example.com/cb#x", "fragment"),
        ("https://user:pw@app.example.com/cb", "user name"),
        ("https://app.example.com/c b", "U+0020"),
        ("", "empty"),
    ] {
        let reason = check_uri(bad).unwrap_err();
        assert!(reason.contains(why), "{bad}: {reason}");
    }
    let long = format!("https://example.com/{}", "a".repeat(2_000));
    assert!(check_uri(&long).unwrap_err().contains("at most 2000"));
}

#[test]
fn a_list_names_each_refused_entry_and_is_bounded() {
    let problems = check_app(
        &input(json!({
            "name": "Wiki", "kind": "oidc",
            "redirect_uris": ["https://ok.example.com/cb", "http://bad.example.com/cb", "x"],
            "post_logout_redirect_uris": (0..21).map(|i| format!("https://e.com/{i}")).collect::<Vec<_>>(),
            "assigned_to": {"everyone": true},
        })),
        None,
    )
    .unwrap_err();
    let reasons: Vec<String> = problems
        .iter()
        .map(|p| format!("{} {}", p.field, p.reason))
        .collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(reasons[0].starts_with("redirect_uris entry 2 (\"http://bad.example.com/cb\")"));
    assert!(reasons[1].starts_with("redirect_uris entry 3"));
    assert!(reasons[2].contains("at most 20"), "{reasons:?}");
}

#[test]
fn kind_and_public_cannot_change_on_a_replacement() {
    let base = json!({
        "name": "Wiki", "redirect_uris": ["https://wiki.example.com/cb"],
        "assigned_to": {"everyone": true}, "version": 2,
    });
    let kept = check_app(&input(base.clone()), Some((AppKind::Oidc, true))).unwrap();
    assert_eq!((kept.kind, kept.public), (AppKind::Oidc, true));
    let mut changed = base;
    changed["kind"] = json!("jwt");
    changed["public"] = json!(false);
    let problems = check_app(&input(changed), Some((AppKind::Oidc, true))).unwrap_err();
    assert_eq!(fields(&problems), ["kind", "public"]);
}

#[test]
fn an_assignment_covers_listed_accounts_and_units_with_their_sub_units() {
    let (unit, sub_unit, other_unit) = (
        OrgUnitId::generate(),
        OrgUnitId::generate(),
        OrgUnitId::generate(),
    );
    let (listed, member, stranger) = (
        AccountId::generate(),
        AccountId::generate(),
        AccountId::generate(),
    );
    let assignment = Assignment::Some {
        org_unit_ids: vec![unit.clone()],
        account_ids: vec![listed.clone()],
    };
    // The member sits in the sub-unit: its units with their ancestors include the unit.
    let member_units = BTreeSet::from([sub_unit, unit]);
    assert!(assignment.covers(&member, &member_units));
    assert!(assignment.covers(&listed, &BTreeSet::new()));
    assert!(!assignment.covers(&stranger, &BTreeSet::from([other_unit.clone()])));
    assert!(Assignment::Everyone.covers(&stranger, &BTreeSet::new()));
    let nobody = Assignment::Some {
        org_unit_ids: vec![],
        account_ids: vec![],
    };
    assert!(!nobody.covers(&listed, &BTreeSet::from([other_unit])));
}

#[test]
fn assignments_round_trip_in_their_two_json_shapes() {
    let unit = OrgUnitId::generate();
    let some = Assignment::Some {
        org_unit_ids: vec![unit.clone()],
        account_ids: vec![],
    };
    let json = serde_json::to_value(&some).unwrap();
    assert_eq!(
        json,
        json!({"org_unit_ids": [unit.as_str()], "account_ids": []})
    );
    assert_eq!(serde_json::from_value::<Assignment>(json).unwrap(), some);
    let everyone = serde_json::to_value(Assignment::Everyone).unwrap();
    assert_eq!(everyone, json!({"everyone": true}));
    assert_eq!(
        serde_json::from_value::<Assignment>(everyone).unwrap(),
        Assignment::Everyone
    );
    assert_eq!(
        serde_json::from_value::<Assignment>(json!({"account_ids": []})).unwrap(),
        Assignment::Some {
            org_unit_ids: vec![],
            account_ids: vec![]
        }
    );
    assert!(
        serde_json::from_value::<Assignment>(json!({"everyone": true, "org_unit_ids": [unit]}))
            .is_err()
    );
}

#[test]
fn assignment_ids_are_deduplicated_and_both_shapes_are_not_mixed() {
    let unit = OrgUnitId::generate();
    let app = check_app(
        &input(json!({
            "name": "Wiki", "kind": "jwt", "target_url": "https://wiki.example.com/sso",
            "assigned_to": {"org_unit_ids": [unit.as_str(), unit.as_str()]},
        })),
        None,
    )
    .unwrap();
    assert_eq!(
        app.assigned_to,
        Assignment::Some {
            org_unit_ids: vec![unit.clone()],
            account_ids: vec![]
        }
    );
    assert!(app.scopes.is_empty(), "a jwt app gets no openid by default");
    let problems = check_app(
        &input(json!({
            "name": "Wiki", "kind": "jwt", "target_url": "https://wiki.example.com/sso",
            "assigned_to": {"everyone": true, "org_unit_ids": [unit.as_str()]},
        })),
        None,
    )
    .unwrap_err();
    assert_eq!(fields(&problems), ["assigned_to"]);
}
