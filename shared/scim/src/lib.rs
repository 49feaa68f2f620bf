//! The SCIM 2.0 protocol (RFC 7643/7644): filters, PATCH, resources, discovery documents. It
//! knows no database and no HTTP: the store keeps what this crate parses, the API serves what
//! it renders.

pub mod error;
pub use error::{Error, Result, ScimType};

/// The SCIM resource types Seatflow serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    User,
    Group,
}

impl ResourceKind {
    pub fn name(self) -> &'static str {
        match self {
            ResourceKind::User => "User",
            ResourceKind::Group => "Group",
        }
    }

    /// The core schema URN of the resource type.
    pub fn core_schema(self) -> &'static str {
        match self {
            ResourceKind::User => USER_SCHEMA,
            ResourceKind::Group => GROUP_SCHEMA,
        }
    }
}

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_USER_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// Seatflow's read-only extension carrying a user's seat status.
pub const LICENSE_USER_SCHEMA: &str = "urn:seatflow:params:scim:schemas:extension:license:2.0:User";
pub const LIST_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

pub mod discovery;
pub mod filter;
mod json;
pub mod limits;
pub mod patch;
pub mod path;
pub mod resource;
pub mod schema;
pub mod sort;
mod typing;
pub mod version;
