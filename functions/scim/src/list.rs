//! List and search (`GET /Users?filter=…`, `POST /Users/.search`): the full RFC 7644 §3.4.2.2
//! grammar is parsed (`scim_v2`, with its depth and term limits). An `eq` on an indexed attribute
//! — users: `id`, `userName`, `externalId`, the work email (`emails.value`,
//! `emails[type eq "work"].value`…); groups: `id`, `displayName`, `externalId` — found at the top
//! of the filter, inside an `and`, or in every branch of an `or`, is answered from the table's
//! indexes; the whole filter is then checked on those candidates. Any other filter reads the
//! client's scope, which is allowed up to `SCAN_LIMIT` entities and refused with
//! `invalidFilter` beyond.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use dingbridge::domain::directory::{Account, OrgUnit};
use dingbridge::domain::ids::{AccountId, OrgUnitId};
use dingbridge::store::directory::{ACCOUNT_EXTERNAL_ID, Directory};
use scim_v2::filter::{AttrExp, AttrPath, CompValue, CompareOp, Filter, ValFilter};
use serde_json::{Value, json};

use crate::doc::{self, Selector};
use crate::error::{ScimError, ScimType};
use crate::groups::dingtalk_name;
use crate::render;
use crate::schema::{LIST_RESPONSE, Resource};
use crate::scope::Caller;
use crate::{MAX_RESULTS, Scim, scim_response};

/// The most entities of a scope a filter without an indexed `eq` is evaluated over.
pub const SCAN_LIMIT: usize = 10_000;

/// Users or Groups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listing {
    Users,
    Groups,
}

impl Listing {
    fn resource(self) -> Resource {
        match self {
            Self::Users => Resource::User,
            Self::Groups => Resource::Group,
        }
    }
}

/// The query parameters of a list, a search body, or a single GET (only the projections).
#[derive(Debug, Default)]
pub struct Params {
    pub filter: Option<Filter>,
    pub start_index: usize,
    pub count: Option<usize>,
    pub attributes: Option<String>,
    pub excluded: Option<String>,
}

fn bad_filter(raw: &str, e: impl std::fmt::Display) -> ScimError {
    ScimError::bad(
        ScimType::InvalidFilter,
        format!("the filter {raw:?} does not parse: {e}"),
    )
}

fn parse_filter(raw: &str) -> Result<Option<Filter>, ScimError> {
    if raw.trim().is_empty() {
        return Ok(None);
    }
    if raw.len() > 8 * 1024 {
        return Err(ScimError::bad(
            ScimType::InvalidFilter,
            "the filter is longer than 8 KiB",
        ));
    }
    raw.parse::<Filter>()
        .map(Some)
        .map_err(|e| bad_filter(raw, e))
}

/// `startIndex` is 1-based; below 1 counts as 1 (RFC 7644 §3.4.2.4).
fn start_index(raw: &str) -> Result<usize, ScimError> {
    match raw.trim().parse::<i64>() {
        Ok(n) => Ok(usize::try_from(n.max(1)).unwrap_or(1)),
        Err(_) => Err(ScimError::bad(
            ScimType::InvalidValue,
            "startIndex must be an integer",
        )),
    }
}

/// A negative `count` counts as 0 (totals only).
fn count(raw: &str) -> Result<usize, ScimError> {
    match raw.trim().parse::<i64>() {
        Ok(n) => Ok(usize::try_from(n.max(0)).unwrap_or(0)),
        Err(_) => Err(ScimError::bad(
            ScimType::InvalidValue,
            "count must be an integer",
        )),
    }
}

impl Params {
    pub fn from_query(query: Option<&str>) -> Result<Self, ScimError> {
        let mut out = Self {
            start_index: 1,
            ..Self::default()
        };
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or(""))
            .map_err(|e| {
                ScimError::bad(
                    ScimType::InvalidSyntax,
                    format!("the query string does not parse: {e}"),
                )
            })?;
        for (k, v) in pairs {
            match k.to_ascii_lowercase().as_str() {
                "filter" => out.filter = parse_filter(&v)?,
                "startindex" => out.start_index = start_index(&v)?,
                "count" => out.count = Some(count(&v)?),
                "attributes" => out.attributes = Some(v),
                "excludedattributes" => out.excluded = Some(v),
                // Sorting is not offered (ServiceProviderConfig says so): ignored.
                _ => {}
            }
        }
        Ok(out)
    }

    pub fn from_search(body: &Value) -> Result<Self, ScimError> {
        let Some(obj) = body.as_object() else {
            return Err(ScimError::bad(
                ScimType::InvalidSyntax,
                "a search body is a SearchRequest object",
            ));
        };
        let mut out = Self {
            start_index: 1,
            ..Self::default()
        };
        let list = |v: &Value| match v {
            Value::Array(items) => Some(
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            Value::String(s) => Some(s.clone()),
            _ => None,
        };
        let number = |v: &Value| match v {
            Value::Number(n) => Some(n.to_string()),
            Value::String(s) => Some(s.clone()),
            _ => None,
        };
        for (k, v) in obj {
            match k.to_ascii_lowercase().as_str() {
                "filter" => match v {
                    Value::String(s) => out.filter = parse_filter(s)?,
                    Value::Null => {}
                    _ => {
                        return Err(ScimError::bad(
                            ScimType::InvalidFilter,
                            "filter must be a string",
                        ));
                    }
                },
                "startindex" => {
                    if let Some(n) = number(v) {
                        out.start_index = start_index(&n)?;
                    }
                }
                "count" => {
                    if let Some(n) = number(v) {
                        out.count = Some(count(&n)?);
                    }
                }
                "attributes" => out.attributes = list(v),
                "excludedattributes" => out.excluded = list(v),
                _ => {}
            }
        }
        Ok(out)
    }
}

/// An indexed equality found in a filter.
#[derive(Debug)]
enum Term {
    Id(String),
    UserName(String),
    ExternalId(String),
    Email(String),
    DisplayName(String),
}

fn path_is(p: &AttrPath, name: &str, sub: Option<&str>) -> bool {
    let uri_ok = p.uri.as_deref().is_none_or(|u| {
        u.eq_ignore_ascii_case(crate::schema::CORE_USER)
            || u.eq_ignore_ascii_case(crate::schema::CORE_GROUP)
    });
    uri_ok
        && p.name.eq_ignore_ascii_case(name)
        && match (sub, &p.sub_attr) {
            (None, None) => true,
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
            _ => false,
        }
}

/// The indexed equality of one comparison.
fn term(listing: Listing, exp: &AttrExp) -> Option<Term> {
    let AttrExp::Comparison(p, CompareOp::Eq, CompValue::Str(v)) = exp else {
        return None;
    };
    let v = v.clone();
    match listing {
        _ if path_is(p, "id", None) => Some(Term::Id(v)),
        _ if path_is(p, "externalId", None) => Some(Term::ExternalId(v)),
        Listing::Users if path_is(p, "userName", None) => Some(Term::UserName(v)),
        Listing::Users if path_is(p, "emails", Some("value")) || path_is(p, "emails", None) => {
            Some(Term::Email(v))
        }
        Listing::Groups if path_is(p, "displayName", None) => Some(Term::DisplayName(v)),
        _ => None,
    }
}

/// The indexed equalities that bound a filter's matches, if it has such a bound.
fn terms(listing: Listing, f: &Filter) -> Option<Vec<Term>> {
    match f {
        Filter::Attr(exp) => term(listing, exp).map(|t| vec![t]),
        Filter::ValuePath(vp) if listing == Listing::Users && path_is(&vp.attr, "emails", None) => {
            email_in(&vp.filter).map(|v| vec![Term::Email(v)])
        }
        Filter::And(items) => items.iter().find_map(|i| terms(listing, i)),
        Filter::Or(items) => {
            let mut all = Vec::new();
            for i in items.iter() {
                all.extend(terms(listing, i)?);
            }
            Some(all)
        }
        _ => None,
    }
}

/// `value eq "…"` inside an `emails[...]` value filter.
fn email_in(f: &ValFilter) -> Option<String> {
    match f {
        ValFilter::Attr(AttrExp::Comparison(p, CompareOp::Eq, CompValue::Str(v)))
            if p.name.eq_ignore_ascii_case("value") =>
        {
            Some(v.clone())
        }
        ValFilter::And(items) => items.iter().find_map(email_in),
        _ => None,
    }
}

/// The answer of a list or search.
pub async fn answer(
    scim: &Scim,
    caller: &Caller,
    listing: Listing,
    params: Params,
) -> Result<Response, ScimError> {
    let resource = listing.resource();
    let attributes = doc::selectors(resource, params.attributes.as_deref());
    let excluded = doc::selectors(resource, params.excluded.as_deref());
    let count = params.count.unwrap_or(MAX_RESULTS).min(MAX_RESULTS);
    let members = listing == Listing::Groups && wants_members(&attributes, &excluded);
    // Filtering on members needs them rendered.
    let filter_members = params.filter.as_ref().is_some_and(mentions_members);
    let (total, page) = match &params.filter {
        Some(f) => {
            let candidates = match terms(listing, f) {
                Some(terms) => indexed(scim, caller, listing, &terms).await?,
                None => bounded_scope(scim, caller, listing).await?,
            };
            let mut matched = Vec::new();
            for e in candidates {
                let json = render_one(scim, caller, &e, members || filter_members).await?;
                if doc::matches(resource, f, &json) {
                    matched.push(json);
                }
            }
            let total = matched.len();
            let page: Vec<Value> = matched
                .into_iter()
                .skip(params.start_index - 1)
                .take(count)
                .collect();
            (total, page)
        }
        None => {
            let all = scope_entities(scim, caller, listing).await?;
            let total = all.len();
            let mut page = Vec::new();
            for e in all.iter().skip(params.start_index - 1).take(count) {
                page.push(render_one(scim, caller, e, members).await?);
            }
            (total, page)
        }
    };
    let resources: Vec<Value> = page
        .into_iter()
        .map(|r| doc::project(r, &attributes, &excluded))
        .map(|r| {
            if members {
                r
            } else {
                strip_members(r, listing)
            }
        })
        .collect();
    let body = json!({
        "schemas": [LIST_RESPONSE],
        "totalResults": total,
        "startIndex": params.start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    });
    Ok(scim_response(StatusCode::OK, HeaderMap::new(), &body))
}

/// `POST /.search` at the root: Users and Groups together (RFC 7644 §3.4.3), users first. The
/// matches of both are collected before paging, so without an indexed filter it is bounded by
/// `SCAN_LIMIT` like any scan.
pub async fn search_all(
    axum::extract::State(scim): axum::extract::State<Scim>,
    axum::Extension(caller): axum::Extension<Caller>,
    crate::ScimJson(body): crate::ScimJson,
) -> Result<Response, ScimError> {
    let params = Params::from_search(&body)?;
    let count = params.count.unwrap_or(MAX_RESULTS).min(MAX_RESULTS);
    let mut matched = Vec::new();
    for listing in [Listing::Users, Listing::Groups] {
        let resource = listing.resource();
        let attributes = doc::selectors(resource, params.attributes.as_deref());
        let excluded = doc::selectors(resource, params.excluded.as_deref());
        let members = listing == Listing::Groups && wants_members(&attributes, &excluded);
        let candidates = match params.filter.as_ref().and_then(|f| terms(listing, f)) {
            Some(terms) => indexed(&scim, &caller, listing, &terms).await?,
            None => bounded_scope(&scim, &caller, listing).await?,
        };
        for e in candidates {
            let json = render_one(&scim, &caller, &e, true).await?;
            if params
                .filter
                .as_ref()
                .is_none_or(|f| doc::matches(resource, f, &json))
            {
                let json = doc::project(json, &attributes, &excluded);
                matched.push(if members {
                    json
                } else {
                    strip_members(json, listing)
                });
            }
        }
    }
    let total = matched.len();
    let page: Vec<Value> = matched
        .into_iter()
        .skip(params.start_index - 1)
        .take(count)
        .collect();
    let body = json!({
        "schemas": [LIST_RESPONSE],
        "totalResults": total,
        "startIndex": params.start_index,
        "itemsPerPage": page.len(),
        "Resources": page,
    });
    Ok(scim_response(StatusCode::OK, HeaderMap::new(), &body))
}

/// The whole scope, refused beyond `SCAN_LIMIT` entities.
async fn bounded_scope(
    scim: &Scim,
    caller: &Caller,
    listing: Listing,
) -> Result<Vec<Entity>, ScimError> {
    let all = scope_entities(scim, caller, listing).await?;
    if all.len() > SCAN_LIMIT {
        return Err(ScimError::bad(
            ScimType::InvalidFilter,
            format!(
                "this filter would read {} entities; filter with eq on {} (indexed), or narrow the client's scope",
                all.len(),
                match listing {
                    Listing::Users => "id, userName, externalId or emails.value",
                    Listing::Groups => "id, displayName or externalId",
                }
            ),
        ));
    }
    Ok(all)
}

fn strip_members(mut r: Value, listing: Listing) -> Value {
    if listing == Listing::Groups
        && let Some(o) = r.as_object_mut()
    {
        o.remove("members");
    }
    r
}

fn wants_members(attributes: &[Selector], excluded: &[Selector]) -> bool {
    let is_members = |s: &Selector| s.schema.is_none() && s.name.as_deref() == Some("members");
    if excluded.iter().any(|s| is_members(s) && s.sub.is_none()) {
        return false;
    }
    attributes.is_empty() || attributes.iter().any(is_members)
}

fn mentions_members(f: &Filter) -> bool {
    match f {
        Filter::Attr(AttrExp::Present(p) | AttrExp::Comparison(p, _, _)) => {
            p.name.eq_ignore_ascii_case("members")
        }
        Filter::ValuePath(vp) => vp.attr.name.eq_ignore_ascii_case("members"),
        Filter::Not(inner) => mentions_members(inner),
        Filter::And(items) | Filter::Or(items) => items.iter().any(mentions_members),
    }
}

/// An account or a unit.
pub enum Entity {
    Account(Box<Account>),
    Unit(Box<OrgUnit>),
}

async fn render_one(
    scim: &Scim,
    caller: &Caller,
    e: &Entity,
    members: bool,
) -> Result<Value, ScimError> {
    match e {
        Entity::Account(a) => render::user(scim, a).await,
        Entity::Unit(u) => render::group(scim, caller, u, members).await,
    }
}

/// The entities the indexed terms name, in the caller's scope, without repeats.
async fn indexed(
    scim: &Scim,
    caller: &Caller,
    listing: Listing,
    terms: &[Term],
) -> Result<Vec<Entity>, ScimError> {
    let dir = &scim.directory;
    let mut out: Vec<Entity> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for t in terms {
        let found: Vec<Entity> = match (listing, t) {
            (Listing::Users, Term::Id(v)) => match AccountId::parse(v) {
                Ok(id) => dir
                    .account(&id)
                    .await?
                    .into_iter()
                    .map(boxed_account)
                    .collect(),
                Err(_) => Vec::new(),
            },
            (Listing::Users, Term::UserName(v)) => dir
                .find_account("username", &v.trim().to_lowercase())
                .await?
                .into_iter()
                .map(boxed_account)
                .collect(),
            (Listing::Users, Term::Email(v)) => dir
                .find_account("email", &v.trim().to_lowercase())
                .await?
                .into_iter()
                .map(boxed_account)
                .collect(),
            (Listing::Users, Term::ExternalId(v)) => dir
                .find_account(ACCOUNT_EXTERNAL_ID, v)
                .await?
                .into_iter()
                .map(boxed_account)
                .collect(),
            (Listing::Groups, Term::Id(v)) => match OrgUnitId::parse(v) {
                Ok(id) => dir
                    .org_unit(&id)
                    .await?
                    .into_iter()
                    .map(boxed_unit)
                    .collect(),
                Err(_) => Vec::new(),
            },
            (Listing::Groups, Term::ExternalId(v)) => dir
                .org_unit_by_external_id(v)
                .await?
                .into_iter()
                .map(boxed_unit)
                .collect(),
            (Listing::Groups, Term::DisplayName(v)) => dir
                .org_units_named(&dingtalk_name(v))
                .await?
                .into_iter()
                .map(boxed_unit)
                .collect(),
            _ => Vec::new(),
        };
        for e in found {
            let (id, inside) = match &e {
                Entity::Account(a) => (a.id.to_string(), caller.scope.has_account(dir, a).await?),
                Entity::Unit(u) => (u.id.to_string(), caller.scope.has_group(dir, u).await?),
            };
            if inside && seen.insert(id) {
                out.push(e);
            }
        }
    }
    Ok(out)
}

fn boxed_account(a: Account) -> Entity {
    Entity::Account(Box::new(a))
}

fn boxed_unit(u: OrgUnit) -> Entity {
    Entity::Unit(Box::new(u))
}

/// Every entity of the caller's scope: accounts by username, or units in tree order.
async fn scope_entities(
    scim: &Scim,
    caller: &Caller,
    listing: Listing,
) -> Result<Vec<Entity>, ScimError> {
    let dir = &scim.directory;
    let mut out = Vec::new();
    match listing {
        Listing::Users if caller.scope.whole => {
            let mut cursor = None;
            loop {
                let page = dir.accounts(1000, cursor).await?;
                out.extend(page.items.into_iter().map(boxed_account));
                match page.next {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
        }
        Listing::Users => {
            let subtree = dir.subtree(&caller.scope.root).await?;
            let mut accounts = Vec::new();
            for (id, _) in subtree.accounts {
                if let Some(a) = dir.account(&id).await? {
                    accounts.push(a);
                }
            }
            accounts.sort_by(|a, b| a.username.as_str().cmp(b.username.as_str()));
            out.extend(accounts.into_iter().map(boxed_account));
        }
        Listing::Groups => {
            for u in units_below(dir, &caller.scope.root).await? {
                out.push(boxed_unit(u));
            }
        }
    }
    Ok(out)
}

/// The units below `top`, level by level.
async fn units_below(dir: &Directory, top: &OrgUnitId) -> Result<Vec<OrgUnit>, ScimError> {
    let mut out = Vec::new();
    let mut frontier = vec![top.clone()];
    while let Some(unit) = frontier.pop() {
        let mut cursor = None;
        loop {
            let page = dir.children(&unit, 1000, cursor).await?;
            for child in page.items {
                frontier.push(child.id.clone());
                out.push(child);
            }
            match page.next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms_of(listing: Listing, f: &str) -> Option<Vec<Term>> {
        terms(listing, &f.parse().unwrap())
    }

    #[test]
    fn indexed_equalities_are_found_where_they_bound_the_matches() {
        assert!(matches!(
            terms_of(Listing::Users, r#"userName eq "a""#).as_deref(),
            Some([Term::UserName(_)])
        ));
        assert!(matches!(
            terms_of(Listing::Users, r#"active eq true and externalId eq "x""#).as_deref(),
            Some([Term::ExternalId(_)])
        ));
        assert!(matches!(
            terms_of(
                Listing::Users,
                r#"emails[type eq "work" and value eq "a@x"]"#
            )
            .as_deref(),
            Some([Term::Email(_)])
        ));
        assert!(matches!(
            terms_of(Listing::Users, r#"id eq "1" or userName eq "b""#).as_deref(),
            Some([Term::Id(_), Term::UserName(_)])
        ));
        assert!(terms_of(Listing::Users, r#"id eq "1" or title eq "b""#).is_none());
        assert!(terms_of(Listing::Users, r#"userName sw "a""#).is_none());
        assert!(terms_of(Listing::Users, r#"not (userName eq "a")"#).is_none());
        assert!(matches!(
            terms_of(Listing::Groups, r#"displayName eq "Sales-East""#).as_deref(),
            Some([Term::DisplayName(_)])
        ));
        assert!(terms_of(Listing::Groups, r#"userName eq "a""#).is_none());
    }

    #[test]
    fn parameters_read_in_any_case_and_bad_filters_are_invalid_filter() {
        let p = Params::from_query(Some("StartIndex=3&COUNT=-1&filter=userName%20eq%20%22a%22"))
            .unwrap();
        assert_eq!(p.start_index, 3);
        assert_eq!(p.count, Some(0));
        assert!(p.filter.is_some());
        let e = Params::from_query(Some("filter=userName%20eq")).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidFilter));
        let deep = format!("{}title pr{}", "(".repeat(200), ")".repeat(200));
        let e = Params::from_query(Some(&format!("filter={}", deep))).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidFilter));
        let s = Params::from_search(&json!({"filter": "userName eq \"a\"", "startIndex": 2, "count": "5", "attributes": ["userName"]})).unwrap();
        assert_eq!(
            (s.start_index, s.count, s.attributes.as_deref()),
            (2, Some(5), Some("userName"))
        );
    }
}
