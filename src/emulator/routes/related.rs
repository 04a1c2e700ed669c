//! `/groups/{id}/members`, `/transitiveMembers` and `/owners` (with OData casts, `$select`,
//! `$top`, `$count` and `$skiptoken` paging), and their `$ref` writes (graph-api.md §5).

use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::list::context_fragment;
use super::query::{self, DEFAULT_TOP, Params, decode, encode, invalid_skiptoken};
use super::resolve::{Cast, Listing};
use super::users::SYNC_MASTERED;
use super::{GraphError, Reply, Request, groups::EXCHANGE_MANAGED, json_object};
use crate::emulator::odata::{self, Filter, Resource};
use crate::emulator::state::{MAX_OWNERS, ObjectKind, OwnersListing, RefError, Relation, Tenant};

/// `400 Request_BadRequest` removing a group's last owner: the message Graph gives
/// (microsoftgraph/microsoft-graph-docs#12054, hashicorp/terraform-provider-azuread#1435).
pub const LAST_OWNER: &str =
    "The group must have at least one owner, hence this owner cannot be removed.";

/// `400 Request_BadRequest` listing the owners of a synced or Exchange-mastered group, with
/// `unavailable_owners: refuse`. UNCONFIRMED: Graph's reference only says owners "are currently
/// not available" for those groups; this message is the emulator's.
pub const OWNERS_NOT_AVAILABLE: &str =
    "Owners are not available for groups synchronized from on-premises or created in Exchange.";

/// Validates a `$select` over directory objects: each property must exist on users or groups.
pub fn parse_any_select(raw: &str) -> Result<Vec<String>, GraphError> {
    let mut out: Vec<String> = Vec::new();
    for item in raw.split(',') {
        let found = odata::parse_select(Resource::User, item)
            .or_else(|_| odata::parse_select(Resource::Group, item));
        let Ok(found) = found else {
            return Err(GraphError::bad_request(format!(
                "Could not find a property named '{}' on type 'microsoft.graph.directoryObject'.",
                item.trim()
            )));
        };
        for name in found {
            if !out.contains(&name) {
                out.push(name);
            }
        }
    }
    Ok(out)
}

fn cast_resource(cast: Cast) -> Option<Resource> {
    match cast {
        Cast::User => Some(Resource::User),
        Cast::Group => Some(Resource::Group),
        Cast::Any | Cast::Empty(_) => None,
    }
}

/// What a continuation carries: the request it continues and where the last page stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Token {
    #[serde(rename = "g")]
    group: String,
    #[serde(rename = "r")]
    listing: String,
    #[serde(rename = "c")]
    cast: Option<String>,
    #[serde(rename = "s")]
    select: Option<String>,
    #[serde(rename = "f")]
    filter: Option<String>,
    #[serde(rename = "t")]
    top: Option<usize>,
    #[serde(rename = "n")]
    count: bool,
    #[serde(rename = "a")]
    advanced: bool,
    #[serde(rename = "l")]
    last: String,
}

/// A members, transitive members or owners request, first page or continuation.
#[derive(Debug, Clone)]
pub struct RelatedQuery {
    group: String,
    listing: Listing,
    cast: Cast,
    select_raw: Option<String>,
    select: Option<Vec<String>>,
    filter_raw: Option<String>,
    filter: Option<Filter>,
    top_given: Option<usize>,
    count_given: bool,
    advanced: bool,
    after: Option<String>,
}

impl RelatedQuery {
    /// Reads the query; a `$skiptoken` must have been issued for the same group, list and cast.
    pub fn parse(
        group: &str,
        listing: Listing,
        cast: Cast,
        params: &Params,
        headers: &HeaderMap,
        key: u64,
    ) -> Result<Self, GraphError> {
        let mut q = Self {
            group: group.to_string(),
            listing,
            cast,
            select_raw: params.get("select").map(str::to_string),
            select: None,
            filter_raw: params.get("filter").map(str::to_string),
            filter: None,
            top_given: params.get("top").map(odata::parse_top).transpose()?,
            count_given: false,
            advanced: false,
            after: None,
        };
        q.count_given = params
            .get("count")
            .map(query::parse_count)
            .transpose()?
            .unwrap_or(false);
        q.advanced = q.count_given && query::eventual(headers);
        if let Some(raw) = params.get("skiptoken") {
            let token = decode::<Token>(raw, key).filter(|t| {
                t.group == group
                    && t.listing == listing.segment()
                    && t.cast.as_deref() == cast.segment()
            });
            let token = token.ok_or_else(invalid_skiptoken)?;
            q.select_raw = token.select;
            q.filter_raw = token.filter;
            q.top_given = token.top;
            q.count_given = token.count;
            q.advanced = token.advanced;
            q.after = Some(token.last);
        }
        q.select = match (&q.select_raw, cast_resource(cast)) {
            (None, _) => None,
            (Some(raw), Some(resource)) => Some(odata::parse_select(resource, raw)?),
            (Some(raw), None) => Some(parse_any_select(raw)?),
        };
        q.filter = match (&q.filter_raw, cast_resource(cast)) {
            (None, _) => None,
            (Some(raw), Some(resource)) => Some(odata::parse_filter(resource, raw, q.advanced)?),
            (Some(_), None) => {
                return Err(GraphError::new(
                    StatusCode::BAD_REQUEST,
                    "Request_UnsupportedQuery",
                    "emulator: $filter on a directoryObject collection needs a type cast segment (…/microsoft.graph.user or …/microsoft.graph.group).",
                ));
            }
        };
        Ok(q)
    }

    /// `$select` was given (−1 RU).
    pub fn has_select(&self) -> bool {
        self.select.is_some()
    }

    /// An advanced query (`$count=true` with `ConsistencyLevel: eventual`).
    pub fn is_advanced(&self) -> bool {
        self.advanced
    }

    /// `$top` below 20 was given (−1 RU).
    pub fn small_top(&self) -> bool {
        self.top_given.is_some_and(|t| t < 20)
    }

    fn next_token(&self, last: &str, key: u64) -> String {
        let token = Token {
            group: self.group.clone(),
            listing: self.listing.segment().to_string(),
            cast: self.cast.segment().map(str::to_string),
            select: self.select_raw.clone(),
            filter: self.filter_raw.clone(),
            top: self.top_given,
            count: self.count_given,
            advanced: self.advanced,
            last: last.to_string(),
        };
        encode(&token, key)
    }
}

/// The JSON of a live object, if it passes the cast.
fn object(tenant: &Tenant, id: &str, cast: Cast) -> Option<(ObjectKind, Map<String, Value>)> {
    match (tenant.object_kind(id)?, cast) {
        (ObjectKind::User, Cast::Any | Cast::User) => {
            Some((ObjectKind::User, tenant.users.get(id)?.to_json()))
        }
        (ObjectKind::Group, Cast::Any | Cast::Group) => {
            Some((ObjectKind::Group, tenant.groups.get(id)?.to_json()))
        }
        _ => None,
    }
}

pub fn item(kind: ObjectKind, obj: &Map<String, Value>, select: Option<&[String]>) -> Value {
    let resource = match kind {
        ObjectKind::User => Resource::User,
        ObjectKind::Group => Resource::Group,
    };
    let mut out = Map::new();
    out.insert("@odata.type".into(), json!(kind.odata_type()));
    let props: Vec<String> = match select {
        Some(props) => props
            .iter()
            .filter(|p| odata::parse_select(resource, p).is_ok())
            .cloned()
            .collect(),
        None => odata::default_properties(resource)
            .iter()
            .map(|p| (*p).to_string())
            .collect(),
    };
    out.extend(odata::project(obj, &props));
    Value::Object(out)
}

/// `GET /groups/{id}/{members|transitiveMembers|owners}[/{cast}]`.
pub fn list(tenant: &Tenant, q: &RelatedQuery, req: &Request<'_>) -> Result<Reply, GraphError> {
    let not_found = || GraphError::not_found(&q.group);
    let ids: Vec<String> = match q.listing {
        Listing::Members => tenant
            .direct(&q.group, Relation::Members)
            .ok_or_else(not_found)?
            .to_vec(),
        Listing::Owners => match tenant.owners_listing(&q.group).ok_or_else(not_found)? {
            OwnersListing::Listed(owners) => owners.to_vec(),
            OwnersListing::Empty => Vec::new(),
            OwnersListing::Refused => return Err(GraphError::bad_request(OWNERS_NOT_AVAILABLE)),
        },
        Listing::TransitiveMembers => tenant
            .transitive_members(&q.group)
            .ok_or_else(not_found)?
            .into_iter()
            .collect(),
    };
    let top = q.top_given.unwrap_or(DEFAULT_TOP);
    let wants_count = q.count_given && q.advanced && q.after.is_none();
    let mut value = Vec::new();
    let (mut matched, mut more, mut last) = (0usize, false, None::<&str>);
    let after = q.after.as_deref();
    for id in ids
        .iter()
        .filter(|id| after.is_none_or(|a| id.as_str() > a))
    {
        let Some((kind, obj)) = object(tenant, id, q.cast) else {
            continue;
        };
        if q.filter.as_ref().is_some_and(|f| !f.matches(&obj)) {
            continue;
        }
        matched += 1;
        if value.len() < top {
            value.push(item(kind, &obj, q.select.as_deref()));
            last = Some(id);
        } else {
            more = true;
            if !wants_count {
                break;
            }
        }
    }
    let next = last.filter(|_| more).map(|last| {
        let path = format!("groups/{}/{}", q.group, q.listing.segment());
        (path, q.next_token(last, req.token_key))
    });
    let count = wants_count.then_some(matched);
    Ok(page(req, q.cast, q.select.as_deref(), (count, next), value))
}

/// One page of a relationship's listing: its `@odata.context` (by `cast` and `select`), the
/// `@odata.count` when counted, and the `@odata.nextLink` when `next` gives the listing's path
/// below the version and the continuation's token.
pub fn page(
    req: &Request<'_>,
    cast: Cast,
    select: Option<&[String]>,
    (count, next): (Option<usize>, Option<(String, String)>),
    value: Vec<Value>,
) -> Reply {
    let base = match cast {
        Cast::User => "users",
        Cast::Group => "groups",
        Cast::Any | Cast::Empty(_) => "directoryObjects",
    };
    let mut body = Map::new();
    let fragment = context_fragment(base, select);
    body.insert("@odata.context".into(), json!(req.context(&fragment)));
    if let Some(n) = count {
        body.insert("@odata.count".into(), json!(n));
    }
    if let Some((path, token)) = next {
        let cast = cast.segment().map(|c| format!("/{c}")).unwrap_or_default();
        let link = format!(
            "{}/{}/{path}{cast}?$skiptoken={token}",
            req.base,
            req.version.as_str(),
        );
        body.insert("@odata.nextLink".into(), json!(link));
    }
    body.insert("value".into(), Value::Array(value));
    Reply::Json(StatusCode::OK, Value::Object(body))
}

/// The id and expected kind (`None`: any) named by a `$ref` body's `@odata.id`: an absolute or
/// relative URL ending in `users/{id}`, `groups/{id}` or `directoryObjects/{id}` (any host).
pub fn parse_ref(body: &[u8]) -> Result<(Option<ObjectKind>, String), GraphError> {
    let map = json_object(body)?;
    let raw = map
        .get("@odata.id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let invalid = || GraphError::bad_request(format!("Invalid object identifier '{raw}'."));
    let path = raw.split(['?', '#']).next().unwrap_or_default();
    let mut segments = path.rsplit('/').filter(|s| !s.is_empty());
    let (Some(id), Some(collection)) = (segments.next(), segments.next()) else {
        return Err(invalid());
    };
    let kind = match collection.to_ascii_lowercase().as_str() {
        "users" => Some(ObjectKind::User),
        "groups" => Some(ObjectKind::Group),
        "directoryobjects" => None,
        _ => return Err(invalid()),
    };
    Ok((kind, id.to_string()))
}

fn ref_error(e: RefError, group: &str, relation: Relation, target: &str) -> GraphError {
    let rel = relation.name();
    match e {
        RefError::GroupNotFound => GraphError::not_found(group),
        RefError::TargetNotFound => GraphError::not_found(target),
        RefError::SyncMastered => GraphError::bad_request(SYNC_MASTERED),
        RefError::ExchangeManaged => GraphError::bad_request(EXCHANGE_MANAGED),
        RefError::Exists => GraphError::bad_request(format!(
            "One or more added object references already exist for the following modified properties: '{rel}'."
        )),
        RefError::InvalidTarget(kind) => {
            let ty = match kind {
                ObjectKind::User => "User",
                ObjectKind::Group => "Group",
            };
            GraphError::bad_request(format!(
                "The reference target '{ty}_{target}' of type '{ty}' is invalid for the '{rel}' reference."
            ))
        }
        RefError::OwnerLimit => GraphError::bad_request(format!(
            "The group already has the maximum number of owners ({MAX_OWNERS})."
        )),
        RefError::LastOwner => GraphError::bad_request(LAST_OWNER),
    }
}

/// `POST /groups/{id}/{members|owners}/$ref` → 204.
pub fn add(
    tenant: &mut Tenant,
    group: &str,
    relation: Relation,
    req: &Request<'_>,
) -> Result<Reply, GraphError> {
    if !tenant.groups.contains_key(group) {
        return Err(GraphError::not_found(group));
    }
    let (kind, target) = parse_ref(req.body)?;
    let found = tenant.object_kind(&target);
    if found.is_none() || kind.is_some_and(|k| Some(k) != found) {
        return Err(GraphError::not_found(&target));
    }
    tenant
        .add_ref(group, relation, &target)
        .map_err(|e| ref_error(e, group, relation, &target))?;
    Ok(Reply::NoContent)
}

/// `DELETE /groups/{id}/{members|owners}/{target}/$ref` → 204.
pub fn remove(
    tenant: &mut Tenant,
    group: &str,
    relation: Relation,
    target: &str,
) -> Result<Reply, GraphError> {
    tenant
        .remove_ref(group, relation, target)
        .map_err(|e| ref_error(e, group, relation, target))?;
    Ok(Reply::NoContent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_references_from_any_host() {
        let id = |body: Value| parse_ref(body.to_string().as_bytes()).map_err(|e| e.message);
        assert_eq!(
            id(json!({"@odata.id": "https://graph.microsoft.com/v1.0/users/u1"})),
            Ok((Some(ObjectKind::User), "u1".to_string()))
        );
        assert_eq!(
            id(json!({"@odata.id": "http://127.0.0.1:9/beta/directoryObjects/x2"})),
            Ok((None, "x2".to_string()))
        );
        assert_eq!(
            id(json!({"@odata.id": "groups/g3"})),
            Ok((Some(ObjectKind::Group), "g3".to_string()))
        );
        assert!(id(json!({"@odata.id": "https://graph.microsoft.com/v1.0/domains/d"})).is_err());
        assert!(id(json!({"@odata.id": "u1"})).is_err());
        assert!(id(json!({"id": "u1"})).is_err());
        assert!(parse_ref(b"not json").is_err());
    }

    #[test]
    fn a_select_over_directory_objects_accepts_user_and_group_properties() {
        assert_eq!(
            parse_any_select("id,userPrincipalName,mailEnabled").ok(),
            Some(vec![
                "id".to_string(),
                "userPrincipalName".to_string(),
                "mailEnabled".to_string()
            ])
        );
        assert!(parse_any_select("id,nope").is_err());
    }
}
