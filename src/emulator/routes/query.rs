//! OData system query options of a request, list queries and their opaque `$skiptoken`.

use std::collections::BTreeMap;

use axum::http::HeaderMap;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::GraphError;
use crate::emulator::odata::{self, Filter, Resource};

/// Default page size of `/users` and `/groups`.
pub const DEFAULT_TOP: usize = 100;

/// The system query options of a request (`$select`, `$filter`, …), `$` optional.
#[derive(Debug, Default, Clone)]
pub struct Params {
    options: BTreeMap<&'static str, String>,
}

const KNOWN: &[&str] = &[
    "select",
    "filter",
    "top",
    "count",
    "skiptoken",
    "deltatoken",
];
const UNSUPPORTED: &[&str] = &["orderby", "search", "expand", "skip", "format", "apply"];

impl Params {
    /// Parses a raw query string. Duplicate options and options this emulator cannot honour
    /// are refused, as Graph refuses them; other parameters are ignored.
    pub fn parse(raw: Option<&str>) -> Result<Self, GraphError> {
        let mut options = BTreeMap::new();
        for (key, value) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
            let name = key.strip_prefix('$').unwrap_or(&key).to_ascii_lowercase();
            if let Some(known) = KNOWN.iter().find(|k| **k == name) {
                if options.insert(*known, value.into_owned()).is_some() {
                    return Err(GraphError::bad_request(format!(
                        "Query option '${known}' was specified more than once, but it must be specified at most once."
                    )));
                }
            } else if key.starts_with('$') || UNSUPPORTED.contains(&name.as_str()) {
                return Err(GraphError::bad_request(format!(
                    "'${name}' is not supported by the service."
                )));
            }
        }
        Ok(Self { options })
    }

    /// The raw value of an option (name without `$`).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.options.get(name).map(String::as_str)
    }

    /// Parsed `$select`, if given.
    pub fn select(&self, resource: Resource) -> Result<Option<Vec<String>>, GraphError> {
        self.get("select")
            .map(|raw| odata::parse_select(resource, raw))
            .transpose()
            .map_err(GraphError::from)
    }
}

/// `ConsistencyLevel: eventual` is present.
pub fn eventual(headers: &HeaderMap) -> bool {
    headers
        .get("consistencylevel")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("eventual"))
}

/// `$count=true|false`.
pub fn parse_count(raw: &str) -> Result<bool, GraphError> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(GraphError::bad_request(format!(
            "Invalid value '{raw}' for $count query option found. Valid values are 'true' and 'false'."
        ))),
    }
}

/// What the `$skiptoken` carries: the original query and where the last page stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Token {
    #[serde(rename = "r")]
    resource: String,
    #[serde(rename = "s")]
    select: Option<String>,
    #[serde(rename = "f")]
    filter: Option<String>,
    #[serde(rename = "t")]
    top: Option<usize>,
    #[serde(rename = "c")]
    count: bool,
    #[serde(rename = "a")]
    advanced: bool,
    #[serde(rename = "l")]
    last: String,
}

/// A list request (`GET /users`, `GET /groups`, deleted items), first page or continuation.
#[derive(Debug, Clone)]
pub struct ListQuery {
    /// Users or groups.
    pub resource: Resource,
    /// What the `$skiptoken` is valid for (a token of one collection is refused by another).
    scope: String,
    select_raw: Option<String>,
    /// Selected properties (`None` = the default set).
    pub select: Option<Vec<String>>,
    filter_raw: Option<String>,
    /// The filter.
    pub filter: Option<Filter>,
    top_given: Option<usize>,
    count_given: bool,
    advanced: bool,
    /// Page after this id (continuation).
    pub after: Option<String>,
}

impl ListQuery {
    /// Reads a list query on a collection of `resource` objects named `scope`: from the
    /// `$skiptoken` when there is one (other options are then ignored, the token's win; the
    /// token of another collection is refused), else from the options and the
    /// `ConsistencyLevel` header.
    pub fn parse_scoped(
        scope: &str,
        resource: Resource,
        params: &Params,
        headers: &HeaderMap,
        key: u64,
    ) -> Result<Self, GraphError> {
        if let Some(raw) = params.get("skiptoken") {
            let token = decode::<Token>(raw, key).filter(|t| t.resource == scope);
            let token = token.ok_or_else(invalid_skiptoken)?;
            return Self::build(
                scope,
                resource,
                token.select,
                token.filter,
                token.top,
                token.count,
                token.advanced,
                Some(token.last),
            );
        }
        let top = params.get("top").map(odata::parse_top).transpose()?;
        let count = params
            .get("count")
            .map(parse_count)
            .transpose()?
            .unwrap_or(false);
        let advanced = count && eventual(headers);
        let select = params.get("select").map(str::to_string);
        let filter = params.get("filter").map(str::to_string);
        Self::build(scope, resource, select, filter, top, count, advanced, None)
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        scope: &str,
        resource: Resource,
        select_raw: Option<String>,
        filter_raw: Option<String>,
        top_given: Option<usize>,
        count_given: bool,
        advanced: bool,
        after: Option<String>,
    ) -> Result<Self, GraphError> {
        let select = select_raw
            .as_deref()
            .map(|s| odata::parse_select(resource, s))
            .transpose()?;
        let filter = filter_raw
            .as_deref()
            .map(|f| odata::parse_filter(resource, f, advanced))
            .transpose()?;
        Ok(Self {
            resource,
            scope: scope.to_string(),
            select_raw,
            select,
            filter_raw,
            filter,
            top_given,
            count_given,
            advanced,
            after,
        })
    }

    /// Page size.
    pub fn top(&self) -> usize {
        self.top_given.unwrap_or(DEFAULT_TOP)
    }

    /// `$select` was given (−1 RU).
    pub fn has_select(&self) -> bool {
        self.select.is_some()
    }

    /// An advanced query (`$count=true` with `ConsistencyLevel: eventual`): read from the
    /// index, which lags further behind writes (`lag.rs`).
    pub fn is_advanced(&self) -> bool {
        self.advanced
    }

    /// `$top` below 20 was given (−1 RU).
    pub fn small_top(&self) -> bool {
        self.top_given.is_some_and(|t| t < 20)
    }

    /// `@odata.count` belongs on this page: `$count=true` with `ConsistencyLevel: eventual`,
    /// first page only. (`$count=true` without the header is silently ignored, as by Graph.)
    pub fn wants_count(&self) -> bool {
        self.count_given && self.advanced && self.after.is_none()
    }

    /// The `$skiptoken` that continues this query after `last`.
    pub fn next_token(&self, last: &str, key: u64) -> String {
        let token = Token {
            resource: self.scope.clone(),
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

/// FNV-1a over the key and the payload: not cryptographic, but any edit shows.
fn mac(payload: &[u8], key: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.to_le_bytes().iter().chain(payload) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Graph's answer to a `$skiptoken` that was edited or belongs to another request.
pub fn invalid_skiptoken() -> GraphError {
    GraphError::bad_request(
        "Invalid $skiptoken value: the token is malformed or was not issued for this request.",
    )
}

/// Seals a continuation state into an opaque, tamper-evident `$skiptoken`.
pub fn encode<T: Serialize>(token: &T, key: u64) -> String {
    let json = serde_json::to_string(token).unwrap_or_default();
    let tag = mac(json.as_bytes(), key);
    URL_SAFE_NO_PAD.encode(format!("{tag:016x}{json}"))
}

/// Opens a `$skiptoken` made by [`encode`] with the same key.
pub fn decode<T: DeserializeOwned>(raw: &str, key: u64) -> Option<T> {
    let bytes = URL_SAFE_NO_PAD.decode(raw.trim()).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (tag, json) = (text.get(..16)?, text.get(16..)?);
    let tag = u64::from_str_radix(tag, 16).ok()?;
    if tag != mac(json.as_bytes(), key) {
        return None;
    }
    serde_json::from_str(json).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> Token {
        Token {
            resource: "User".into(),
            select: Some("id,displayName".into()),
            filter: None,
            top: Some(999),
            count: true,
            advanced: true,
            last: "0000".into(),
        }
    }

    #[test]
    fn skiptoken_round_trips_and_detects_tampering() {
        let raw = encode(&token(), 7);
        assert_eq!(decode(&raw, 7), Some(token()));
        assert_eq!(decode::<Token>(&raw, 8), None);
        let mut tampered = raw.clone().into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            decode::<Token>(&String::from_utf8_lossy(&tampered), 7),
            None
        );
        assert_eq!(decode::<Token>("not a token", 7), None);
        assert_eq!(decode::<Token>("", 7), None);
    }

    #[test]
    fn params_accept_dollar_free_names_and_refuse_duplicates() {
        let p = Params::parse(Some("select=id&$top=5&other=x")).ok();
        assert_eq!(p.as_ref().and_then(|p| p.get("select")), Some("id"));
        assert_eq!(p.as_ref().and_then(|p| p.get("top")), Some("5"));
        assert!(Params::parse(Some("$top=5&$top=6")).is_err());
        assert!(Params::parse(Some("$orderby=displayName")).is_err());
        assert!(Params::parse(Some("$filter=startsWith(displayName,%27A%27)")).is_ok());
    }
}
