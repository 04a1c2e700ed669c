//! Graph resources: which route a path is, what it needs (permission, query, cost), and what
//! it does to the tenant. Transport-free: `graph/` turns the results into HTTP.

pub mod access;
pub mod contacts;
pub mod deleted;
pub mod delta;
pub mod directory;
mod dispatch;
pub mod groups;
pub mod list;
pub mod member_of;
pub mod organization;
pub mod query;
pub mod refusal;
pub mod related;
pub mod resolve;
pub mod roles;
pub mod soa;
pub mod users;

use axum::http::StatusCode;
use jiff::Timestamp;
use serde_json::Value;

use super::odata::{Filter, ODataError};
use delta::DeltaQuery;
use query::ListQuery;
use related::RelatedQuery;

pub use access::Access;
pub use resolve::{Route, resolve};

/// A Graph error answer (`{"error":{"code","message",…}}`).
#[derive(Debug, Clone, PartialEq)]
pub struct GraphError {
    /// HTTP status.
    pub status: StatusCode,
    /// `error.code`.
    pub code: &'static str,
    /// `error.message`.
    pub message: String,
    /// `error.details`, when Graph gives them.
    pub details: Option<Value>,
    /// Response headers that go with the error (`Location` of a `410 Gone`).
    pub headers: Vec<(&'static str, String)>,
}

impl GraphError {
    /// Any error.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: None,
            headers: Vec::new(),
        }
    }

    /// 400 `Request_BadRequest`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Request_BadRequest", message)
    }

    /// 404 `Request_ResourceNotFound` for an object id.
    pub fn not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            format!(
                "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
            ),
        )
    }

    /// 400 `BadRequest` for a path segment Graph does not know.
    pub fn unknown_segment(segment: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!("Resource not found for the segment '{segment}'."),
        )
    }

    /// 400 for a body that is not a JSON object.
    pub fn unreadable_body() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
        )
    }
}

impl From<ODataError> for GraphError {
    fn from(e: ODataError) -> Self {
        let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
        Self::new(status, e.code, e.message)
    }
}

/// API version of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// `/v1.0`
    V1,
    /// `/beta`
    Beta,
}

impl Version {
    /// Path segment.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V1 => "v1.0",
            Version::Beta => "beta",
        }
    }
}

/// A route's parsed query options.
#[derive(Debug, Clone)]
pub enum Query {
    /// Nothing to parse (writes).
    None,
    /// `$select` of a single object or the organization.
    Select(Option<Vec<String>>),
    /// A list query.
    List(Box<ListQuery>),
    /// The filter of a `$count` segment.
    Count(Option<Filter>),
    /// A group's members, transitive members or owners.
    Related(Box<RelatedQuery>),
    /// A user's direct memberships.
    MemberOf(Box<member_of::MemberOfQuery>),
    /// A delta round's page.
    Delta(Box<DeltaQuery>),
}

/// Everything a route needs to run.
#[derive(Debug)]
pub struct Request<'a> {
    /// API version.
    pub version: Version,
    /// `http://host` as the client addressed the emulator (for absolute links).
    pub base: String,
    /// Request body.
    pub body: &'a [u8],
    /// Emulated time.
    pub now: Timestamp,
    /// Key of the `$skiptoken` checksum.
    pub token_key: u64,
    /// Whether the request is an item of a JSON batch.
    pub in_batch: bool,
}

/// The header the batch puts on each item it runs through the pipeline (internal: the
/// emulator's own marker, so routes can answer as Graph does inside a batch).
pub const BATCH_ITEM_HEADER: &str = "x-emulator-batch-item";

impl Request<'_> {
    /// `{base}/{version}/$metadata#{fragment}`.
    pub fn context(&self, fragment: &str) -> String {
        format!(
            "{}/{}/$metadata#{fragment}",
            self.base,
            self.version.as_str()
        )
    }
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// JSON body.
    Json(StatusCode, Value),
    /// 204.
    NoContent,
    /// `text/plain` body (`$count`).
    Text(String),
    /// Another reply with response headers (`Preference-Applied`).
    WithHeaders(Box<Reply>, Vec<(&'static str, String)>),
}

/// Parses a PATCH body, which must be a JSON object.
pub fn json_object(body: &[u8]) -> Result<serde_json::Map<String, Value>, GraphError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(GraphError::unreadable_body()),
    }
}

/// Parses an optional body (an action's parameters): empty reads as `{}`.
pub fn optional_object(body: &[u8]) -> Result<serde_json::Map<String, Value>, GraphError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Map::new());
    }
    json_object(body)
}
