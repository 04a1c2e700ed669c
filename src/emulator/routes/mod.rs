//! Graph resources: which route a path is, what it needs (permission, query, cost), and what
//! it does to the tenant. Transport-free: `graph.rs` turns the results into HTTP.

pub mod groups;
pub mod list;
pub mod organization;
pub mod query;
pub mod users;

use axum::http::{HeaderMap, Method, StatusCode};
use jiff::Timestamp;
use serde_json::Value;

use super::odata::{self, Filter, ODataError, Resource};
use super::quota::Charge;
use super::state::Tenant;
use query::{ListQuery, Params};

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
}

impl GraphError {
    /// Any error.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: None,
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

/// What a request is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET /organization`
    OrgList,
    /// `GET /organization/{id}`
    OrgGet(String),
    /// `PATCH /organization/{id}`
    OrgPatch(String),
    /// `GET /users`
    UserList,
    /// `GET /users/$count`
    UserCount,
    /// `GET /users/{id | userPrincipalName}`
    UserGet(String),
    /// `PATCH /users/{id | userPrincipalName}`
    UserPatch(String),
    /// `GET /groups`
    GroupList,
    /// `GET /groups/$count`
    GroupCount,
    /// `GET /groups/{id}`
    GroupGet(String),
}

/// Permission classes, each satisfied by any of several application permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read the organization.
    ReadOrg,
    /// Update the organization.
    WriteOrg,
    /// Read users.
    ReadUsers,
    /// Update users.
    WriteUsers,
    /// Read groups.
    ReadGroups,
}

impl Access {
    /// The application permissions that grant it.
    pub fn granted_by(self) -> &'static [&'static str] {
        match self {
            Access::ReadOrg => &[
                "Organization.Read.All",
                "Organization.ReadWrite.All",
                "Directory.Read.All",
                "Directory.ReadWrite.All",
            ],
            Access::WriteOrg => &["Organization.ReadWrite.All", "Directory.ReadWrite.All"],
            Access::ReadUsers => &[
                "User.Read.All",
                "User.ReadWrite.All",
                "Directory.Read.All",
                "Directory.ReadWrite.All",
            ],
            Access::WriteUsers => &["User.ReadWrite.All", "Directory.ReadWrite.All"],
            Access::ReadGroups => &[
                "Group.Read.All",
                "GroupMember.Read.All",
                "Group.ReadWrite.All",
                "Directory.Read.All",
                "Directory.ReadWrite.All",
            ],
        }
    }

    /// Whether `permissions` (the app's current grants) include one that grants it.
    pub fn allowed(self, permissions: &[String]) -> bool {
        let granted = self.granted_by();
        permissions
            .iter()
            .any(|p| granted.iter().any(|g| g.eq_ignore_ascii_case(p)))
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
}

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
}

fn segment_is(segment: &str, name: &str) -> bool {
    segment.eq_ignore_ascii_case(name)
}

/// Resolves a method and the path segments after the version.
pub fn resolve(method: &Method, segments: &[String]) -> Result<Route, GraphError> {
    let not_allowed = || {
        GraphError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Request_BadRequest",
            "Specified HTTP method is not allowed for the request target.",
        )
    };
    let get = *method == Method::GET;
    let patch = *method == Method::PATCH;
    let route = match segments {
        [] => return Err(GraphError::unknown_segment("")),
        [root, ..]
            if !["organization", "users", "groups"]
                .iter()
                .any(|n| segment_is(root, n)) =>
        {
            return Err(GraphError::unknown_segment(root));
        }
        [_, _, extra, ..] => return Err(GraphError::unknown_segment(extra)),
        [root] if segment_is(root, "organization") && get => Route::OrgList,
        [root] if segment_is(root, "users") && get => Route::UserList,
        [root] if segment_is(root, "groups") && get => Route::GroupList,
        [root, c] if segment_is(c, "$count") && get => {
            if segment_is(root, "users") {
                Route::UserCount
            } else if segment_is(root, "groups") {
                Route::GroupCount
            } else {
                return Err(GraphError::unknown_segment(c));
            }
        }
        [root, id] if segment_is(root, "organization") && get => Route::OrgGet(id.clone()),
        [root, id] if segment_is(root, "organization") && patch => Route::OrgPatch(id.clone()),
        [root, key] if segment_is(root, "users") && get => Route::UserGet(key.clone()),
        [root, key] if segment_is(root, "users") && patch => Route::UserPatch(key.clone()),
        [root, id] if segment_is(root, "groups") && get => Route::GroupGet(id.clone()),
        _ => return Err(not_allowed()),
    };
    Ok(route)
}

impl Route {
    /// The permission class it needs.
    pub fn access(&self) -> Access {
        match self {
            Route::OrgList | Route::OrgGet(_) => Access::ReadOrg,
            Route::OrgPatch(_) => Access::WriteOrg,
            Route::UserList | Route::UserCount | Route::UserGet(_) => Access::ReadUsers,
            Route::UserPatch(_) => Access::WriteUsers,
            Route::GroupList | Route::GroupCount | Route::GroupGet(_) => Access::ReadGroups,
        }
    }

    /// The operation name under which an accepted write is counted.
    pub fn write_operation(&self) -> Option<&'static str> {
        match self {
            Route::OrgPatch(_) => Some("PATCH /organization"),
            Route::UserPatch(_) => Some("PATCH /users"),
            _ => None,
        }
    }

    /// Parses the query options the route honours.
    pub fn query(
        &self,
        params: &Params,
        headers: &HeaderMap,
        token_key: u64,
    ) -> Result<Query, GraphError> {
        let count = |resource| {
            if !query::eventual(headers) {
                return Err(GraphError::bad_request(
                    "$count is not currently supported.",
                ));
            }
            let filter = params
                .get("filter")
                .map(|f| odata::parse_filter(resource, f, true));
            Ok(Query::Count(filter.transpose()?))
        };
        Ok(match self {
            Route::OrgList | Route::OrgGet(_) => Query::Select(
                params
                    .get("select")
                    .map(organization::parse_select)
                    .transpose()?,
            ),
            Route::UserList => Query::List(Box::new(ListQuery::parse(
                Resource::User,
                params,
                headers,
                token_key,
            )?)),
            Route::GroupList => Query::List(Box::new(ListQuery::parse(
                Resource::Group,
                params,
                headers,
                token_key,
            )?)),
            Route::UserCount => count(Resource::User)?,
            Route::GroupCount => count(Resource::Group)?,
            Route::UserGet(_) => Query::Select(params.select(Resource::User)?),
            Route::GroupGet(_) => Query::Select(params.select(Resource::Group)?),
            Route::OrgPatch(_) | Route::UserPatch(_) => Query::None,
        })
    }

    /// What the request costs (graph-api.md §8); `query` is `None` when it did not parse.
    pub fn charge(&self, query: Option<&Query>) -> Charge {
        if self.write_operation().is_some() {
            return Charge::write();
        }
        let base = if *self == Route::UserList { 2 } else { 1 };
        match query {
            Some(Query::List(q)) => Charge::read(base, q.has_select(), q.small_top()),
            Some(Query::Select(select)) => Charge::read(base, select.is_some(), false),
            _ => Charge::read(base, false, false),
        }
    }

    /// Runs the route against the tenant.
    pub fn execute(
        &self,
        query: Query,
        tenant: &mut Tenant,
        req: &Request<'_>,
    ) -> Result<Reply, GraphError> {
        let select = |q: Query| match q {
            Query::Select(s) => s,
            _ => None,
        };
        match (self, query) {
            (Route::OrgList, q) => Ok(organization::list(tenant, select(q), req)),
            (Route::OrgGet(id), q) => organization::get(tenant, id, select(q), req),
            (Route::OrgPatch(id), _) => organization::patch(tenant, id, req),
            (Route::UserList, Query::List(q)) => Ok(list::page(&tenant.users, &q, req, "users")),
            (Route::GroupList, Query::List(q)) => Ok(list::page(&tenant.groups, &q, req, "groups")),
            (Route::UserCount, Query::Count(f)) => Ok(list::count(&tenant.users, f.as_ref())),
            (Route::GroupCount, Query::Count(f)) => Ok(list::count(&tenant.groups, f.as_ref())),
            (Route::UserGet(key), q) => users::get(tenant, key, select(q), req),
            (Route::UserPatch(key), _) => users::patch(tenant, key, req),
            (Route::GroupGet(id), q) => groups::get(tenant, id, select(q), req),
            (route, _) => Err(GraphError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "generalException",
                format!("emulator: no query parsed for {route:?}"),
            )),
        }
    }
}

/// Parses a PATCH body, which must be a JSON object.
pub fn json_object(body: &[u8]) -> Result<serde_json::Map<String, Value>, GraphError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(GraphError::unreadable_body()),
    }
}
