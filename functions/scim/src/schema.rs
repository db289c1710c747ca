//! The attributes this server stores, once: `/Schemas` is rendered from them, input names are
//! matched against them case-insensitively and given their canonical spelling, and values are
//! coerced by their type (`"False"` is a boolean). Nothing is advertised that is not stored: a
//! checker writes every advertised attribute and reads it back.

use serde_json::{Value, json};

pub const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const CORE_GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// Our Group extension: the parent and the order an org unit has and a core Group has not.
pub const ORG_UNIT: &str = "urn:dingbridge:params:scim:schemas:extension:2.0:OrgUnit";
/// Read-only: each push connector's DingTalk id and push state of the resource.
pub const DINGTALK: &str = "urn:dingbridge:params:scim:schemas:extension:2.0:DingTalk";
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    String,
    Boolean,
    Integer,
    Complex,
    Reference,
    DateTime,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

/// One attribute (or sub-attribute) of a schema.
#[derive(Debug)]
pub struct Attr {
    pub name: &'static str,
    pub ty: Type,
    pub multi: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub unique: bool,
    pub sub: &'static [Attr],
    pub canonical: &'static [&'static str],
    pub reference_types: &'static [&'static str],
    pub description: &'static str,
}

const fn attr(name: &'static str, ty: Type, description: &'static str) -> Attr {
    Attr {
        name,
        ty,
        multi: false,
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        unique: false,
        sub: &[],
        canonical: &[],
        reference_types: &[],
        description,
    }
}

const fn string(name: &'static str, description: &'static str) -> Attr {
    attr(name, Type::String, description)
}

const fn read_only(mut a: Attr) -> Attr {
    a.mutability = Mutability::ReadOnly;
    a
}

const fn complex(
    name: &'static str,
    multi: bool,
    sub: &'static [Attr],
    description: &'static str,
) -> Attr {
    let mut a = attr(name, Type::Complex, description);
    a.multi = multi;
    a.sub = sub;
    a
}

const fn typed(mut a: Attr, canonical: &'static [&'static str]) -> Attr {
    a.canonical = canonical;
    a
}

const PRIMARY: Attr = attr(
    "primary",
    Type::Boolean,
    "Whether this is the preferred value",
);

const EMAIL_SUB: &[Attr] = &[
    string(
        "value",
        "The address; the `work` one (else the primary, else the first) is the account's email, pushed to DingTalk",
    ),
    typed(
        string("type", "work, home or other"),
        &["work", "home", "other"],
    ),
    PRIMARY,
];

const PHONE_SUB: &[Attr] = &[
    string(
        "value",
        "The number; the `mobile` one is the account's mobile, which DingTalk needs to create the user and cannot change later",
    ),
    typed(
        string("type", "mobile, work, home, fax, pager or other"),
        &["mobile", "work", "home", "fax", "pager", "other"],
    ),
    PRIMARY,
];

const ADDRESS_SUB: &[Attr] = &[
    string("formatted", "The full address"),
    string("streetAddress", "Street"),
    string("locality", "City"),
    string("region", "State or province"),
    string("postalCode", "Postal code"),
    string("country", "Country (ISO 3166-1 alpha-2)"),
    typed(
        string("type", "work, home or other"),
        &["work", "home", "other"],
    ),
    PRIMARY,
];

const NAME_SUB: &[Attr] = &[
    string("formatted", "The full name"),
    string("familyName", "Family name"),
    string("givenName", "Given name"),
];

const USER_ATTRS: &[Attr] = &[
    Attr {
        required: true,
        unique: true,
        ..string(
            "userName",
            "Unique sign-in name (letters, digits and . _ - @; matched case-insensitively)",
        )
    },
    complex(
        "name",
        false,
        NAME_SUB,
        "The person's name; the DingTalk name is displayName, else familyName + givenName",
    ),
    string("displayName", "The name shown in DingTalk"),
    string("title", "Job title (DingTalk title)"),
    string("preferredLanguage", "Preferred language"),
    attr(
        "active",
        Type::Boolean,
        "false disables the account (soft delete); DingTalk gets the connector's delete policy",
    ),
    Attr {
        mutability: Mutability::WriteOnly,
        ..string(
            "password",
            "Sign-in password, subject to the password policy; never returned",
        )
    },
    complex("emails", true, EMAIL_SUB, "Email addresses"),
    complex("phoneNumbers", true, PHONE_SUB, "Phone numbers"),
    complex("addresses", true, ADDRESS_SUB, "Postal addresses"),
];

const MANAGER_SUB: &[Attr] = &[
    string("value", "The manager's user id"),
    Attr {
        reference_types: &["User"],
        ..attr("$ref", Type::Reference, "The manager's URI")
    },
];

const ENTERPRISE_ATTRS: &[Attr] = &[
    string("employeeNumber", "Employee number (DingTalk job_number)"),
    string(
        "department",
        "Department name, as a text (memberships are Groups)",
    ),
    complex(
        "manager",
        false,
        MANAGER_SUB,
        "The manager (DingTalk manager_userid once both are pushed)",
    ),
];

const MEMBER_SUB: &[Attr] = &[
    Attr {
        mutability: Mutability::Immutable,
        ..string("value", "The member user's id")
    },
    Attr {
        mutability: Mutability::Immutable,
        reference_types: &["User"],
        ..attr("$ref", Type::Reference, "The member's URI")
    },
];

const GROUP_ATTRS: &[Attr] = &[
    Attr {
        required: true,
        unique: true,
        ..string(
            "displayName",
            "The org unit's name, unique in this client's scope; DingTalk gets it with - , ， replaced by _ 、 、",
        )
    },
    complex(
        "members",
        true,
        MEMBER_SUB,
        "The member users (their DingTalk department list follows)",
    ),
];

const ORG_UNIT_ATTRS: &[Attr] = &[
    Attr {
        reference_types: &["Group"],
        ..attr(
            "parent",
            Type::Reference,
            "The parent group (its id or URI); absent = this client's root org unit",
        )
    },
    attr(
        "order",
        Type::Integer,
        "Order among siblings (DingTalk order)",
    ),
];

const DINGTALK_SUB: &[Attr] = &[
    read_only(string("connector", "The connector's id")),
    read_only(string("id", "The DingTalk userid or department id")),
    read_only(string("pushState", "pending, parked or pushed")),
    read_only(string("reason", "Why a parked push waits")),
];

const DINGTALK_ATTRS: &[Attr] = &[read_only(complex(
    "connectors",
    true,
    DINGTALK_SUB,
    "Each push connector's DingTalk id and push state",
))];

/// A schema: its URN, name and attributes.
pub struct Schema {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub attrs: &'static [Attr],
}

pub const SCHEMAS: &[Schema] = &[
    Schema {
        id: CORE_USER,
        name: "User",
        description: "User account",
        attrs: USER_ATTRS,
    },
    Schema {
        id: ENTERPRISE_USER,
        name: "EnterpriseUser",
        description: "Enterprise user",
        attrs: ENTERPRISE_ATTRS,
    },
    Schema {
        id: CORE_GROUP,
        name: "Group",
        description: "Group = org unit (DingTalk department)",
        attrs: GROUP_ATTRS,
    },
    Schema {
        id: ORG_UNIT,
        name: "OrgUnit",
        description: "Where a group sits in the org tree",
        attrs: ORG_UNIT_ATTRS,
    },
    Schema {
        id: DINGTALK,
        name: "DingTalk",
        description: "The resource in each push connector's DingTalk (read-only)",
        attrs: DINGTALK_ATTRS,
    },
];

/// Users or Groups: the core schema and the extensions of each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource {
    User,
    Group,
}

impl Resource {
    pub fn core(self) -> &'static Schema {
        match self {
            Self::User => &SCHEMAS[0],
            Self::Group => &SCHEMAS[2],
        }
    }

    pub fn extensions(self) -> [&'static Schema; 2] {
        match self {
            Self::User => [&SCHEMAS[1], &SCHEMAS[4]],
            Self::Group => [&SCHEMAS[3], &SCHEMAS[4]],
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::User => "User",
            Self::Group => "Group",
        }
    }

    pub fn endpoint(self) -> &'static str {
        match self {
            Self::User => "Users",
            Self::Group => "Groups",
        }
    }

    /// The extension schema a URN names (any case), if it is one of this resource's.
    pub fn extension(self, urn: &str) -> Option<&'static Schema> {
        self.extensions()
            .into_iter()
            .find(|s| s.id.eq_ignore_ascii_case(urn))
    }

    /// The schema of an attribute path's URN: the core one for none or the core URN.
    pub fn schema_of(self, urn: Option<&str>) -> Option<&'static Schema> {
        match urn {
            None => Some(self.core()),
            Some(u) if u.eq_ignore_ascii_case(self.core().id) => Some(self.core()),
            Some(u) => self.extension(u),
        }
    }
}

/// The attribute of `attrs` named `name` in any case.
pub fn find<'a>(attrs: &'a [Attr], name: &str) -> Option<&'a Attr> {
    attrs.iter().find(|a| a.name.eq_ignore_ascii_case(name))
}

/// The common attributes every resource has besides its schema's (RFC 7643 §3.1).
pub const EXTERNAL_ID: Attr = Attr {
    case_exact: true,
    ..string(
        "externalId",
        "The provisioning client's id for the resource (unique)",
    )
};

/// The attribute definition of a top-level name of `resource` (core attributes and `externalId`;
/// `id` and `meta` are not definable).
pub fn top_level(resource: Resource, name: &str) -> Option<&'static Attr> {
    if name.eq_ignore_ascii_case("externalId") {
        return Some(&EXTERNAL_ID);
    }
    find(resource.core().attrs, name)
}

fn render_attr(a: &Attr) -> Value {
    let mutability = match a.mutability {
        Mutability::ReadOnly => "readOnly",
        Mutability::ReadWrite => "readWrite",
        Mutability::Immutable => "immutable",
        Mutability::WriteOnly => "writeOnly",
    };
    let ty = match a.ty {
        Type::String => "string",
        Type::Boolean => "boolean",
        Type::Integer => "integer",
        Type::Complex => "complex",
        Type::Reference => "reference",
        Type::DateTime => "dateTime",
    };
    let returned = match a.mutability {
        Mutability::WriteOnly => "never",
        _ => "default",
    };
    let mut out = json!({
        "name": a.name,
        "type": ty,
        "multiValued": a.multi,
        "description": a.description,
        "required": a.required,
        "caseExact": a.case_exact,
        "mutability": mutability,
        "returned": returned,
        "uniqueness": if a.unique { "server" } else { "none" },
    });
    if !a.sub.is_empty() {
        out["subAttributes"] = a.sub.iter().map(render_attr).collect();
    }
    if !a.canonical.is_empty() {
        out["canonicalValues"] = json!(a.canonical);
    }
    if !a.reference_types.is_empty() {
        out["referenceTypes"] = json!(a.reference_types);
    }
    out
}

/// A schema as `/Schemas` serves it.
pub fn render_schema(s: &Schema, base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": s.id,
        "name": s.name,
        "description": s.description,
        "attributes": s.attrs.iter().map(render_attr).collect::<Vec<_>>(),
        "meta": {
            "resourceType": "Schema",
            "location": format!("{base}/Schemas/{}", s.id),
        },
    })
}

/// A resource type as `/ResourceTypes` serves it.
pub fn render_resource_type(r: Resource, base: &str) -> Value {
    // The DingTalk extension is the server's read-only report, present only once a connector
    // pushes the resource: listed in /Schemas, but not offered to clients as an extension to
    // write (a client that builds its model from the resource types would try).
    let extensions: Vec<Value> = r
        .extensions()
        .iter()
        .filter(|s| s.id != DINGTALK)
        .map(|s| json!({ "schema": s.id, "required": false }))
        .collect();
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": r.name(),
        "name": r.name(),
        "endpoint": format!("/{}", r.endpoint()),
        "description": r.core().description,
        "schema": r.core().id,
        "schemaExtensions": extensions,
        "meta": {
            "resourceType": "ResourceType",
            "location": format!("{base}/ResourceTypes/{}", r.name()),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_renders_its_attributes_with_canonical_names() {
        let rendered = render_schema(&SCHEMAS[0], "http://x/scim/v2");
        let names: Vec<&str> = rendered["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"userName"));
        assert!(names.contains(&"phoneNumbers"));
        assert_eq!(
            rendered["attributes"][0]["uniqueness"], "server",
            "userName is unique"
        );
        let password = rendered["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == "password")
            .unwrap();
        assert_eq!(password["returned"], "never");
        assert_eq!(password["mutability"], "writeOnly");
    }

    #[test]
    fn names_match_in_any_case() {
        assert_eq!(
            top_level(Resource::User, "USERNAME").map(|a| a.name),
            Some("userName")
        );
        assert_eq!(
            top_level(Resource::Group, "externalid").map(|a| a.name),
            Some("externalId")
        );
        assert!(
            Resource::User
                .extension("URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER")
                .is_some()
        );
        assert!(Resource::Group.extension(ENTERPRISE_USER).is_none());
    }
}
