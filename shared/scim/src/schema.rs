//! The SCIM schema definitions (RFC 7643 §7, §8.7.1): the single source of truth for attribute
//! characteristics. Filters, PATCH, projection and the `/Schemas` endpoint all read them from here.
//!
//! The definitions are embedded JSON in the RFC's own format, so `/Schemas` serves exactly what the
//! code enforces. They follow RFC 7643 except where Seatflow is stricter (see the JSON files):
//! `userName` and Group `displayName` are unique per tenant, Group `displayName` is required,
//! `externalId` is case exact and the common attributes `id`, `externalId` and `meta` are listed in
//! the core schemas so lookups find them.

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use super::ResourceKind;

/// One schema document (RFC 7643 §7), without the `schemas`/`meta` envelope the endpoint adds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schema {
    pub id: String,
    pub name: String,
    pub description: String,
    pub attributes: Vec<AttributeDef>,
}

/// An attribute definition with its characteristics (RFC 7643 §2.2, §7). Serializes to the RFC
/// format with no nulls: the optional lists are left out when empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AttributeDef {
    pub name: String,
    #[serde(rename = "type")]
    pub attr_type: AttrType,
    pub multi_valued: bool,
    pub description: String,
    pub required: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub canonical_values: Vec<String>,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub uniqueness: Uniqueness,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reference_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sub_attributes: Vec<AttributeDef>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AttrType {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Binary,
    Reference,
    Complex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Returned {
    Always,
    Never,
    Default,
    Request,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Uniqueness {
    None,
    Server,
    Global,
}

impl Schema {
    /// The top-level attribute `name` (case-insensitive, RFC 7643 §2.1).
    pub fn attribute(&self, name: &str) -> Option<&AttributeDef> {
        find_by_name(&self.attributes, name)
    }
}

impl AttributeDef {
    /// The sub-attribute `name` of a complex attribute (case-insensitive).
    pub fn sub_attribute(&self, name: &str) -> Option<&AttributeDef> {
        find_by_name(&self.sub_attributes, name)
    }
}

fn find_by_name<'a>(attributes: &'a [AttributeDef], name: &str) -> Option<&'a AttributeDef> {
    attributes
        .iter()
        .find(|attribute| attribute.name.eq_ignore_ascii_case(name))
}

fn parse(json: &str, file: &str) -> Schema {
    serde_json::from_str(json)
        .unwrap_or_else(|err| panic!("embedded schema {file} is invalid: {err}"))
}

static CORE_USER: LazyLock<Schema> =
    LazyLock::new(|| parse(include_str!("schemas/user.json"), "user.json"));
static ENTERPRISE_USER: LazyLock<Schema> = LazyLock::new(|| {
    parse(
        include_str!("schemas/enterprise_user.json"),
        "enterprise_user.json",
    )
});
static LICENSE_USER: LazyLock<Schema> = LazyLock::new(|| {
    parse(
        include_str!("schemas/license_user.json"),
        "license_user.json",
    )
});
static CORE_GROUP: LazyLock<Schema> =
    LazyLock::new(|| parse(include_str!("schemas/group.json"), "group.json"));

static USER_SCHEMAS: LazyLock<[&'static Schema; 3]> =
    LazyLock::new(|| [&*CORE_USER, &*ENTERPRISE_USER, &*LICENSE_USER]);
static GROUP_SCHEMAS: LazyLock<[&'static Schema; 1]> = LazyLock::new(|| [&*CORE_GROUP]);
static ALL_SCHEMAS: LazyLock<[&'static Schema; 4]> =
    LazyLock::new(|| [&*CORE_USER, &*ENTERPRISE_USER, &*LICENSE_USER, &*CORE_GROUP]);

/// The schemas of a resource type: the core schema first, then its extensions.
pub fn schemas_for(kind: ResourceKind) -> &'static [&'static Schema] {
    match kind {
        ResourceKind::User => &*USER_SCHEMAS,
        ResourceKind::Group => &*GROUP_SCHEMAS,
    }
}

/// Every schema Seatflow serves, in `/Schemas` order.
pub fn all_schemas() -> &'static [&'static Schema] {
    &*ALL_SCHEMAS
}

/// The schema with URN `id` (case-insensitive, as URNs are).
pub fn schema_by_id(id: &str) -> Option<&'static Schema> {
    all_schemas()
        .iter()
        .copied()
        .find(|schema| schema.id.eq_ignore_ascii_case(id))
}

/// The top-level attribute `name` of a resource type. Without a URN the name refers to the core
/// schema (RFC 7644 §3.10); with one, the URN must be one of the resource type's schemas.
pub fn find_attribute(
    kind: ResourceKind,
    urn: Option<&str>,
    name: &str,
) -> Option<&'static AttributeDef> {
    let urn = urn.unwrap_or(kind.core_schema());
    schemas_for(kind)
        .iter()
        .find(|schema| schema.id.eq_ignore_ascii_case(urn))?
        .attribute(name)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::{ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, LICENSE_USER_SCHEMA, USER_SCHEMA};

    fn user(name: &str) -> &'static AttributeDef {
        find_attribute(ResourceKind::User, None, name).unwrap()
    }

    fn group(name: &str) -> &'static AttributeDef {
        find_attribute(ResourceKind::Group, None, name).unwrap()
    }

    fn all_attributes(attributes: &[AttributeDef]) -> Vec<&AttributeDef> {
        attributes
            .iter()
            .flat_map(|a| std::iter::once(a).chain(all_attributes(&a.sub_attributes)))
            .collect()
    }

    #[test]
    fn schema_ids_match_the_urn_constants() {
        let ids = |kind| -> Vec<&str> { schemas_for(kind).iter().map(|s| s.id.as_str()).collect() };
        assert_eq!(
            ids(ResourceKind::User),
            [USER_SCHEMA, ENTERPRISE_USER_SCHEMA, LICENSE_USER_SCHEMA]
        );
        assert_eq!(ids(ResourceKind::Group), [GROUP_SCHEMA]);
        assert_eq!(all_schemas().len(), 4);
    }

    #[test]
    fn definitions_are_consistent() {
        for schema in all_schemas() {
            for attribute in all_attributes(&schema.attributes) {
                // Sub-attributes exactly on complex attributes, reference types on references.
                for (of_type, has_details) in [
                    (AttrType::Complex, !attribute.sub_attributes.is_empty()),
                    (AttrType::Reference, !attribute.reference_types.is_empty()),
                ] {
                    assert_eq!(
                        attribute.attr_type == of_type,
                        has_details,
                        "{}",
                        attribute.name
                    );
                }
                assert!(!attribute.description.is_empty(), "{}", attribute.name);
            }
            // RFC 7643 §2.4: sub-attributes of a complex attribute are never complex themselves.
            for attribute in &schema.attributes {
                for sub in &attribute.sub_attributes {
                    assert_ne!(sub.attr_type, AttrType::Complex, "{}", sub.name);
                }
            }
        }
    }

    #[test]
    fn user_name_is_case_insensitive_and_unique() {
        let user_name = user("userName");
        assert_eq!(user_name.attr_type, AttrType::String);
        assert!(user_name.required);
        assert!(!user_name.case_exact);
        assert_eq!(user_name.uniqueness, Uniqueness::Server);
        assert_eq!(user_name.mutability, Mutability::ReadWrite);
    }

    #[test]
    fn common_attributes_are_found() {
        for kind in [ResourceKind::User, ResourceKind::Group] {
            let id = find_attribute(kind, None, "id").unwrap();
            assert!(id.case_exact);
            assert_eq!(id.mutability, Mutability::ReadOnly);
            assert_eq!(id.returned, Returned::Always);
            assert_eq!(id.uniqueness, Uniqueness::Server);

            assert!(find_attribute(kind, None, "externalId").unwrap().case_exact);

            let meta = find_attribute(kind, None, "meta").unwrap();
            assert_eq!(meta.mutability, Mutability::ReadOnly);
            let last_modified = meta.sub_attribute("lastModified").unwrap();
            assert_eq!(last_modified.attr_type, AttrType::DateTime);
            for sub in ["resourceType", "created", "location", "version"] {
                assert!(meta.sub_attribute(sub).is_some(), "{sub}");
            }
        }
    }

    #[test]
    fn user_attribute_characteristics() {
        assert_eq!(user("active").attr_type, AttrType::Boolean);

        let password = user("password");
        assert_eq!(password.mutability, Mutability::WriteOnly);
        assert_eq!(password.returned, Returned::Never);

        let groups = user("groups");
        assert!(groups.multi_valued);
        assert_eq!(groups.mutability, Mutability::ReadOnly);

        let emails = user("emails");
        assert!(emails.multi_valued);
        assert_eq!(emails.attr_type, AttrType::Complex);
        let value = emails.sub_attribute("value").unwrap();
        assert_eq!(value.attr_type, AttrType::String);
        assert!(!value.case_exact);
        let kind = emails.sub_attribute("type").unwrap();
        assert_eq!(kind.canonical_values, ["work", "home", "other"]);
        assert_eq!(
            emails.sub_attribute("primary").unwrap().attr_type,
            AttrType::Boolean
        );

        assert_eq!(
            user("name").sub_attribute("familyName").unwrap().attr_type,
            AttrType::String
        );
        assert_eq!(user("profileUrl").reference_types, ["external"]);
    }

    #[test]
    fn enterprise_attributes_need_the_extension_urn() {
        let manager =
            find_attribute(ResourceKind::User, Some(ENTERPRISE_USER_SCHEMA), "manager").unwrap();
        assert_eq!(manager.attr_type, AttrType::Complex);
        assert!(!manager.multi_valued);
        assert_eq!(
            manager.sub_attribute("value").unwrap().attr_type,
            AttrType::String
        );
        assert_eq!(
            manager.sub_attribute("$ref").unwrap().reference_types,
            ["User"]
        );
        assert_eq!(
            manager.sub_attribute("displayName").unwrap().mutability,
            Mutability::ReadOnly
        );
        assert!(
            find_attribute(
                ResourceKind::User,
                Some(ENTERPRISE_USER_SCHEMA),
                "department"
            )
            .is_some()
        );

        // Unqualified names refer to the core schema; an extension of another type is no match.
        assert!(find_attribute(ResourceKind::User, None, "manager").is_none());
        assert!(
            find_attribute(ResourceKind::Group, Some(ENTERPRISE_USER_SCHEMA), "manager").is_none()
        );
        assert!(find_attribute(ResourceKind::User, Some(GROUP_SCHEMA), "members").is_none());
        assert!(find_attribute(ResourceKind::User, Some(USER_SCHEMA), "userName").is_some());
        assert!(find_attribute(ResourceKind::User, Some("urn:unknown"), "userName").is_none());
    }

    #[test]
    fn group_attribute_characteristics() {
        let display_name = group("displayName");
        assert!(display_name.required);
        assert!(!display_name.case_exact);
        assert_eq!(display_name.uniqueness, Uniqueness::Server);

        let members = group("members");
        assert!(members.multi_valued);
        assert_eq!(members.mutability, Mutability::ReadWrite);
        for sub in ["value", "$ref", "type"] {
            let sub = members.sub_attribute(sub).unwrap();
            assert_eq!(sub.mutability, Mutability::Immutable, "{}", sub.name);
        }
        // Stored as sent with the member, and set again by PUT.
        let display = members.sub_attribute("display").unwrap();
        assert_eq!(display.mutability, Mutability::ReadWrite);
        // Member ids are matched exactly, and only users can be members.
        let value = members.sub_attribute("value").unwrap();
        assert!(value.case_exact && value.required);
        assert_eq!(
            members.sub_attribute("$ref").unwrap().reference_types,
            ["User"]
        );
        assert_eq!(
            members.sub_attribute("type").unwrap().canonical_values,
            ["User"]
        );
        assert!(find_attribute(ResourceKind::Group, None, "userName").is_none());
    }

    /// PATCH enforces immutability generically, but PUT only where immutable attributes are:
    /// the sub-attributes of group members (`resource::check_kept_members`). Making any other
    /// attribute immutable needs PUT to check it too.
    #[test]
    fn only_group_members_hold_immutable_attributes() {
        let mut immutable = Vec::new();
        for schema in all_schemas() {
            for attribute in &schema.attributes {
                if attribute.mutability == Mutability::Immutable {
                    immutable.push(format!("{}:{}", schema.name, attribute.name));
                }
                for sub in &attribute.sub_attributes {
                    if sub.mutability == Mutability::Immutable {
                        immutable.push(format!("{}:{}.{}", schema.name, attribute.name, sub.name));
                    }
                }
            }
        }
        assert_eq!(
            immutable,
            [
                "Group:members.value",
                "Group:members.$ref",
                "Group:members.type"
            ]
        );
    }

    #[test]
    fn lookups_are_case_insensitive() {
        assert_eq!(user("USERNAME").name, "userName");
        assert_eq!(user("emails").sub_attribute("VALUE").unwrap().name, "value");
        assert_eq!(group("Members").sub_attribute("$REF").unwrap().name, "$ref");
        let urn = ENTERPRISE_USER_SCHEMA.to_uppercase();
        assert_eq!(
            find_attribute(ResourceKind::User, Some(&urn), "Manager")
                .unwrap()
                .name,
            "manager"
        );
        assert_eq!(
            schema_by_id(&GROUP_SCHEMA.to_lowercase()).unwrap().id,
            GROUP_SCHEMA
        );
        assert!(schema_by_id("urn:ietf:params:scim:schemas:core:2.0:Nope").is_none());
    }

    #[test]
    fn serializes_in_rfc_format() {
        let json = serde_json::to_value(user("emails")).unwrap();
        assert_eq!(json["type"], "complex");
        assert_eq!(json["multiValued"], true);
        assert_eq!(json["subAttributes"][0]["caseExact"], false);
        assert_eq!(json["subAttributes"][0]["mutability"], "readWrite");
        assert!(json.get("referenceTypes").is_none());
        assert!(json.get("canonicalValues").is_none());
        let json = serde_json::to_value(user("password")).unwrap();
        assert_eq!(json["mutability"], "writeOnly");
        assert_eq!(json["returned"], "never");
        let json = serde_json::to_value(user("meta")).unwrap();
        assert_eq!(json["subAttributes"][1]["type"], "dateTime");
    }
}
