//! `GET /users/{id | userPrincipalName}/memberOf[/{cast}]`: the groups (directory roles and
//! administrative units: none in the emulator) a user is a direct member of (graph docs
//! `user-list-memberof`), with `$select`, `$top` and `$skiptoken` paging. Microsoft: the
//! `ConsistencyLevel: eventual` header and `$count` "are required when using the `$search`,
//! `$filter`, `$orderby`, or OData cast query parameters", reading "an index that might not be
//! up-to-date": a cast without them is refused here, and with them reads through the index's
//! lag (`lag.rs`). Cost as `me/memberOf`: 2 resource units, −1 with `$select`.

use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};

use super::query::{self, DEFAULT_TOP, Params, decode, encode, invalid_skiptoken};
use super::related::{item, page, parse_any_select};
use super::resolve::Cast;
use super::{GraphError, Reply, Request};
use crate::emulator::odata::{self, Resource};
use crate::emulator::state::{ObjectKind, Relation, Tenant};

/// What a continuation carries: the request it continues and where the last page stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Token {
    #[serde(rename = "u")]
    user: String,
    #[serde(rename = "c")]
    cast: Option<String>,
    #[serde(rename = "s")]
    select: Option<String>,
    #[serde(rename = "t")]
    top: Option<usize>,
    #[serde(rename = "a")]
    advanced: bool,
    #[serde(rename = "l")]
    last: String,
}

/// A memberOf request, first page or continuation.
#[derive(Debug, Clone)]
pub struct MemberOfQuery {
    user: String,
    cast: Cast,
    select_raw: Option<String>,
    select: Option<Vec<String>>,
    top: Option<usize>,
    advanced: bool,
    count: bool,
    after: Option<String>,
}

impl MemberOfQuery {
    /// Reads the query; a `$skiptoken` must have been issued for the same user and cast.
    pub fn parse(
        user: &str,
        cast: Cast,
        params: &Params,
        headers: &HeaderMap,
        key: u64,
    ) -> Result<Self, GraphError> {
        if params.get("filter").is_some() {
            return Err(GraphError::new(
                StatusCode::BAD_REQUEST,
                "Request_UnsupportedQuery",
                "emulator: $filter on memberOf is not emulated; filter the groups on the client.",
            ));
        }
        let count = params
            .get("count")
            .map(query::parse_count)
            .transpose()?
            .unwrap_or(false);
        let mut q = Self {
            user: user.to_string(),
            cast,
            select_raw: params.get("select").map(str::to_string),
            select: None,
            top: params.get("top").map(odata::parse_top).transpose()?,
            advanced: count && query::eventual(headers),
            count,
            after: None,
        };
        if let Some(raw) = params.get("skiptoken") {
            let token = decode::<Token>(raw, key)
                .filter(|t| t.user == user && t.cast.as_deref() == cast.segment())
                .ok_or_else(invalid_skiptoken)?;
            q.select_raw = token.select;
            q.top = token.top;
            q.advanced = token.advanced;
            q.after = Some(token.last);
        }
        if cast != Cast::Any && !q.advanced {
            return Err(GraphError::new(
                StatusCode::BAD_REQUEST,
                "Request_UnsupportedQuery",
                "Unsupported Query. An OData cast on memberOf needs the ConsistencyLevel: eventual header and $count=true.",
            ));
        }
        q.select = match (&q.select_raw, cast) {
            (None, _) => None,
            (Some(raw), Cast::Group) => Some(odata::parse_select(Resource::Group, raw)?),
            (Some(raw), _) => Some(parse_any_select(raw)?),
        };
        Ok(q)
    }

    /// `$select` was given (−1 RU).
    pub fn has_select(&self) -> bool {
        self.select.is_some()
    }

    /// An advanced query: it reads the index.
    pub fn is_advanced(&self) -> bool {
        self.advanced
    }

    /// `$top` below 20 was given (−1 RU).
    pub fn small_top(&self) -> bool {
        self.top.is_some_and(|t| t < 20)
    }

    fn next_token(&self, user_id: &str, last: &str, key: u64) -> String {
        encode(
            &Token {
                user: user_id.to_string(),
                cast: self.cast.segment().map(str::to_string),
                select: self.select_raw.clone(),
                top: self.top,
                advanced: self.advanced,
                last: last.to_string(),
            },
            key,
        )
    }
}

/// `GET /users/{id}/memberOf[/{cast}]`: the groups holding the user directly, by group id.
pub fn list(tenant: &Tenant, q: &MemberOfQuery, req: &Request<'_>) -> Result<Reply, GraphError> {
    let user = tenant
        .user(&q.user)
        .ok_or_else(|| GraphError::not_found(&q.user))?;
    let top = q.top.unwrap_or(DEFAULT_TOP);
    let wants_count = q.count && q.advanced && q.after.is_none();
    let groups = matches!(q.cast, Cast::Any | Cast::Group);
    let mut value = Vec::new();
    let (mut matched, mut more, mut last) = (0usize, false, None::<&str>);
    let after = q.after.as_deref();
    for (id, group) in tenant
        .groups
        .iter()
        .filter(|_| groups)
        .filter(|(id, _)| after.is_none_or(|a| id.as_str() > a))
    {
        let member = tenant
            .direct(id, Relation::Members)
            .is_some_and(|m| m.contains(&user.id));
        if !member {
            continue;
        }
        matched += 1;
        if value.len() < top {
            value.push(item(
                ObjectKind::Group,
                &group.to_json(),
                q.select.as_deref(),
            ));
            last = Some(id);
        } else {
            more = true;
            if !wants_count {
                break;
            }
        }
    }
    let next = last.filter(|_| more).map(|last| {
        let path = format!("users/{}/memberOf", user.id);
        (path, q.next_token(&user.id, last, req.token_key))
    });
    let count = wants_count.then_some(matched);
    Ok(page(req, q.cast, q.select.as_deref(), (count, next), value))
}
