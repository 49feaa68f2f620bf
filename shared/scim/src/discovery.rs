//! The bodies of the discovery endpoints (RFC 7644 §4, RFC 7643 §5–7): `/ServiceProviderConfig`,
//! `/ResourceTypes` and `/Schemas`. They are built from the schema definitions in
//! [`super::schema`], so they describe exactly what the server enforces. Entra reads them with a
//! strict parser: camelCase values and no JSON nulls anywhere.

use serde_json::{Value, json};

use super::schema::{self, Schema};
use super::{LIST_RESPONSE_SCHEMA, ResourceKind};

const SERVICE_PROVIDER_CONFIG_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

const RESOURCE_KINDS: [ResourceKind; 2] = [ResourceKind::User, ResourceKind::Group];

/// The server limits advertised in `/ServiceProviderConfig`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiscoveryLimits {
    /// The most resources one list or search response returns.
    pub max_results: usize,
    /// The largest accepted request body.
    pub max_payload_bytes: usize,
}

/// `GET /ServiceProviderConfig` (RFC 7643 §5).
pub fn service_provider_config(base_url: &str, limits: &DiscoveryLimits) -> Value {
    json!({
        "schemas": [SERVICE_PROVIDER_CONFIG_SCHEMA],
        "patch": { "supported": true },
        "bulk": {
            "supported": false,
            "maxOperations": 0,
            "maxPayloadSize": limits.max_payload_bytes,
        },
        "filter": { "supported": true, "maxResults": limits.max_results },
        "changePassword": { "supported": false },
        "sort": { "supported": true },
        // Every resource carries `meta.version` and writes honour If-Match.
        "etag": { "supported": true },
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Authentication scheme using the OAuth Bearer Token Standard",
            "specUri": "https://www.rfc-editor.org/info/rfc6750",
            "primary": true,
        }],
        "meta": meta("ServiceProviderConfig", location(base_url, "ServiceProviderConfig", None)),
    })
}

/// `GET /ResourceTypes` (RFC 7644 §4): every resource type, as a ListResponse.
pub fn resource_types(base_url: &str) -> Value {
    list_response(
        RESOURCE_KINDS
            .iter()
            .map(|&kind| resource_type_document(base_url, kind))
            .collect(),
    )
}

/// `GET /ResourceTypes/{name}`; `None` for an unknown resource type. The name is matched
/// case-insensitively.
pub fn resource_type(base_url: &str, name: &str) -> Option<Value> {
    RESOURCE_KINDS
        .into_iter()
        .find(|kind| kind.name().eq_ignore_ascii_case(name))
        .map(|kind| resource_type_document(base_url, kind))
}

/// `GET /Schemas` (RFC 7644 §4): every schema definition, as a ListResponse.
pub fn schemas_list(base_url: &str) -> Value {
    list_response(
        schema::all_schemas()
            .iter()
            .map(|schema| schema_document_of(base_url, schema))
            .collect(),
    )
}

/// `GET /Schemas/{urn}`; `None` for an unknown schema. The URN is matched case-insensitively.
pub fn schema_document(base_url: &str, id: &str) -> Option<Value> {
    schema::schema_by_id(id).map(|schema| schema_document_of(base_url, schema))
}

/// A resource type (RFC 7643 §6), derived from its schemas: the first is the core schema, the
/// rest are optional extensions.
fn resource_type_document(base_url: &str, kind: ResourceKind) -> Value {
    let (endpoint, description) = match kind {
        ResourceKind::User => ("/Users", "User Account"),
        ResourceKind::Group => ("/Groups", "Group"),
    };
    let extensions: Vec<Value> = schema::schemas_for(kind)
        .iter()
        .skip(1)
        .map(|extension| json!({ "schema": extension.id, "required": false }))
        .collect();
    json!({
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": kind.name(),
        "name": kind.name(),
        "endpoint": endpoint,
        "description": description,
        "schema": kind.core_schema(),
        "schemaExtensions": extensions,
        "meta": meta("ResourceType", location(base_url, "ResourceTypes", Some(kind.name()))),
    })
}

/// A schema definition (RFC 7643 §7) with the resource envelope the endpoint serves.
fn schema_document_of(base_url: &str, schema: &Schema) -> Value {
    json!({
        "schemas": [SCHEMA_SCHEMA],
        "id": schema.id,
        "name": schema.name,
        "description": schema.description,
        "attributes": schema.attributes,
        "meta": meta("Schema", location(base_url, "Schemas", Some(&schema.id))),
    })
}

/// A ListResponse holding every resource on one page (RFC 7644 §3.4.2).
fn list_response(resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_RESPONSE_SCHEMA],
        "totalResults": resources.len(),
        "itemsPerPage": resources.len(),
        "startIndex": 1,
        "Resources": resources,
    })
}

fn meta(resource_type: &str, location: String) -> Value {
    json!({ "resourceType": resource_type, "location": location })
}

fn location(base_url: &str, endpoint: &str, id: Option<&str>) -> String {
    let base_url = base_url.trim_end_matches('/');
    match id {
        Some(id) => format!("{base_url}/{endpoint}/{id}"),
        None => format!("{base_url}/{endpoint}"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::{ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, LICENSE_USER_SCHEMA, USER_SCHEMA};

    const BASE: &str = "http://127.0.0.1:8080/scim/v2";
    const LIMITS: DiscoveryLimits = DiscoveryLimits {
        max_results: 200,
        max_payload_bytes: 1_048_576,
    };

    /// The JSON path of the first null in `value`, if any (Entra rejects nulls here).
    fn first_null(value: &Value, path: &str) -> Option<String> {
        match value {
            Value::Null => Some(path.to_owned()),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(index, item)| first_null(item, &format!("{path}[{index}]"))),
            Value::Object(fields) => fields
                .iter()
                .find_map(|(key, field)| first_null(field, &format!("{path}.{key}"))),
            _ => None,
        }
    }

    fn assert_no_nulls(value: &Value) {
        assert_eq!(first_null(value, "$"), None);
    }

    #[test]
    fn the_null_check_finds_nested_nulls() {
        let nested = json!({ "a": [{ "b": 1 }, { "c": null }] });
        assert_eq!(first_null(&nested, "$").as_deref(), Some("$.a[1].c"));
    }

    #[test]
    fn service_provider_config_tells_what_is_supported() {
        let config = service_provider_config(BASE, &LIMITS);
        assert_no_nulls(&config);
        assert_eq!(config["schemas"], json!([SERVICE_PROVIDER_CONFIG_SCHEMA]));
        assert_eq!(config["patch"]["supported"], true);
        assert_eq!(
            config["bulk"],
            json!({ "supported": false, "maxOperations": 0, "maxPayloadSize": 1_048_576 })
        );
        assert_eq!(
            config["filter"],
            json!({ "supported": true, "maxResults": 200 })
        );
        assert_eq!(config["changePassword"]["supported"], false);
        assert_eq!(config["sort"]["supported"], true);
        assert_eq!(config["etag"]["supported"], true);
        let schemes = config["authenticationSchemes"].as_array().unwrap();
        assert_eq!(schemes.len(), 1);
        assert_eq!(schemes[0]["type"], "oauthbearertoken");
        assert_eq!(schemes[0]["primary"], true);
        assert_eq!(
            config["meta"],
            json!({
                "resourceType": "ServiceProviderConfig",
                "location": format!("{BASE}/ServiceProviderConfig"),
            })
        );
    }

    #[test]
    fn resource_types_list_both_types() {
        let list = resource_types(BASE);
        assert_no_nulls(&list);
        assert_eq!(list["schemas"], json!([LIST_RESPONSE_SCHEMA]));
        assert_eq!(list["totalResults"], 2);
        assert_eq!(list["itemsPerPage"], 2);
        assert_eq!(list["startIndex"], 1);
        let ids: Vec<&str> = list["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|resource| resource["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["User", "Group"]);
    }

    #[test]
    fn resource_type_user_has_its_extensions() {
        let user = resource_type(BASE, "User").unwrap();
        assert_no_nulls(&user);
        assert_eq!(user["schemas"], json!([RESOURCE_TYPE_SCHEMA]));
        assert_eq!(user["name"], "User");
        assert_eq!(user["endpoint"], "/Users");
        assert_eq!(user["schema"], USER_SCHEMA);
        assert_eq!(
            user["schemaExtensions"],
            json!([
                { "schema": ENTERPRISE_USER_SCHEMA, "required": false },
                { "schema": LICENSE_USER_SCHEMA, "required": false }
            ])
        );
        assert_eq!(user["meta"]["resourceType"], "ResourceType");
        assert_eq!(
            user["meta"]["location"],
            format!("{BASE}/ResourceTypes/User")
        );
    }

    #[test]
    fn resource_type_group_and_unknown() {
        let group = resource_type(BASE, "group").unwrap();
        assert_eq!(group["id"], "Group");
        assert_eq!(group["endpoint"], "/Groups");
        assert_eq!(group["schema"], GROUP_SCHEMA);
        assert_eq!(group["schemaExtensions"], json!([]));
        assert!(resource_type(BASE, "Device").is_none());
    }

    #[test]
    fn schemas_list_holds_every_schema() {
        let list = schemas_list(BASE);
        assert_no_nulls(&list);
        assert_eq!(list["schemas"], json!([LIST_RESPONSE_SCHEMA]));
        assert_eq!(list["totalResults"], 4);
        assert_eq!(list["itemsPerPage"], 4);
        assert_eq!(list["startIndex"], 1);
        let resources = list["Resources"].as_array().unwrap();
        let ids: Vec<&str> = resources
            .iter()
            .map(|resource| resource["id"].as_str().unwrap())
            .collect();
        assert_eq!(
            ids,
            [
                USER_SCHEMA,
                ENTERPRISE_USER_SCHEMA,
                LICENSE_USER_SCHEMA,
                GROUP_SCHEMA
            ]
        );
        for resource in resources {
            assert_eq!(resource["schemas"], json!([SCHEMA_SCHEMA]));
            assert_eq!(resource["meta"]["resourceType"], "Schema");
        }
    }

    #[test]
    fn schema_document_by_id() {
        let user = schema_document(BASE, USER_SCHEMA).unwrap();
        assert_no_nulls(&user);
        assert_eq!(user["name"], "User");
        assert_eq!(
            user["meta"]["location"],
            format!("{BASE}/Schemas/{USER_SCHEMA}")
        );
        let user_name = user["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|attribute| attribute["name"] == "userName")
            .unwrap();
        assert_eq!(user_name["caseExact"], false);
        assert_eq!(user_name["uniqueness"], "server");

        let group = schema_document(BASE, &GROUP_SCHEMA.to_uppercase()).unwrap();
        assert_eq!(group["id"], GROUP_SCHEMA);
        assert!(schema_document(BASE, "urn:ietf:params:scim:schemas:core:2.0:Device").is_none());
    }

    #[test]
    fn trailing_slash_in_base_url_is_ignored() {
        let user = resource_type(&format!("{BASE}/"), "User").unwrap();
        assert_eq!(
            user["meta"]["location"],
            format!("{BASE}/ResourceTypes/User")
        );
    }
}
