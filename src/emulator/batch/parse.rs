//! Reading a JSON batch (graph-api.md §7): the envelope, each request's fields, and the checks
//! Graph makes before it runs anything. Any failure refuses the whole batch with a `400`.

use std::collections::HashMap;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Uri, header};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_PAD_INDIFFERENT, URL_SAFE_PAD_INDIFFERENT};
use serde_json::{Map, Value};

use super::super::graph::path::split_path;
use super::super::routes::Version;

/// Graph's limit of requests in one batch.
pub const MAX_REQUESTS: usize = 20;

/// Why a batch is refused as a whole (the `error.message` Graph answers with).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    /// Not JSON, not an object, no `requests` array, or an empty one.
    #[error("Invalid batch payload format.")]
    Payload,
    /// More than [`MAX_REQUESTS`] requests.
    #[error("Number of requests inside batch exceeds the limit.")]
    TooMany,
    /// A request without a usable `id`, `method` or `url`.
    #[error("Invalid batch payload format: requests[{index}] has no valid '{field}'.")]
    Field {
        /// Position in the `requests` array.
        index: usize,
        /// The missing field.
        field: &'static str,
    },
    /// Two requests share an id.
    #[error("Request id '{0}' appears more than once in the batch.")]
    DuplicateId(String),
    /// A body without a `Content-Type` header, or a write without a body (Graph's text).
    #[error("Write request id : {0} does not contain Content-Type header or body.")]
    NoContentType(String),
    /// `dependsOn` names an id that is not an earlier request of the batch (unknown, itself,
    /// later: which also rules out cycles).
    #[error("Invalid dependency for request Id {0}.")]
    Dependency(String),
    /// An absolute or unparsable `url`.
    #[error(
        "Invalid request URL '{url}' of request id {id}: a batch takes URLs relative to the version."
    )]
    Url {
        /// Request id.
        id: String,
        /// The url as given.
        url: String,
    },
    /// A `$batch` inside a batch.
    #[error("Request id {0}: a batch cannot contain another batch.")]
    Nested(String),
    /// A string body with a non-JSON content type that is not base64.
    #[error("Request id {0}: the body is not valid base64.")]
    Base64(String),
    /// `headers` is not an object of valid names and string values.
    #[error("Request id {id}: invalid header '{name}'.")]
    Header {
        /// Request id.
        id: String,
        /// Header name as given.
        name: String,
    },
}

/// One request of a batch, ready for the pipeline.
#[derive(Debug)]
pub struct Item {
    /// The client's id of the request.
    pub id: String,
    /// HTTP method.
    pub method: Method,
    /// `/{version}/{url}`: the url under the batch's version.
    pub uri: Uri,
    /// The request's own headers (no authorization: the batch's applies).
    pub headers: HeaderMap,
    /// Body bytes (JSON serialised, or base64 decoded).
    pub body: Vec<u8>,
    /// Positions of the requests it depends on (all earlier than itself).
    pub depends_on: Vec<usize>,
}

/// Reads and validates a batch posted under `version`.
///
/// `base` is the emulator's own `scheme://host` as the client addressed it: an absolute item
/// URL on it, under the batch's version, is taken as the relative one. (Microsoft's SDKs send
/// relative URLs to Graph but absolute ones to any other host; whether Graph itself accepts
/// absolute URLs is UNCONFIRMED. Other hosts are refused.)
pub fn parse(body: &[u8], version: Version, base: &str) -> Result<Vec<Item>, Malformed> {
    let Ok(Value::Object(mut envelope)) = serde_json::from_slice::<Value>(body) else {
        return Err(Malformed::Payload);
    };
    let Some(Value::Array(requests)) = envelope.remove("requests") else {
        return Err(Malformed::Payload);
    };
    if requests.is_empty() {
        return Err(Malformed::Payload);
    }
    if requests.len() > MAX_REQUESTS {
        return Err(Malformed::TooMany);
    }
    let mut positions: HashMap<String, usize> = HashMap::new();
    let mut items = Vec::with_capacity(requests.len());
    for (index, raw) in requests.into_iter().enumerate() {
        let Value::Object(fields) = raw else {
            return Err(Malformed::Payload);
        };
        let item = parse_item(index, &fields, version, base, &positions)?;
        if positions.insert(item.id.clone(), index).is_some() {
            return Err(Malformed::DuplicateId(item.id));
        }
        items.push(item);
    }
    Ok(items)
}

fn parse_item(
    index: usize,
    fields: &Map<String, Value>,
    version: Version,
    base: &str,
    earlier: &HashMap<String, usize>,
) -> Result<Item, Malformed> {
    let missing = |field| Malformed::Field { index, field };
    let text = |name: &str| {
        fields
            .get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let id = text("id").ok_or(missing("id"))?.to_string();
    let method = text("method")
        .and_then(|m| Method::from_bytes(m.to_ascii_uppercase().as_bytes()).ok())
        .ok_or(missing("method"))?;
    let url = text("url").ok_or(missing("url"))?;
    let headers = item_headers(&id, fields.get("headers"))?;
    let body = item_body(&id, &method, &headers, fields.get("body"))?;
    let depends_on = dependencies(&id, fields.get("dependsOn"), earlier)?;
    let uri = item_uri(&id, url, version, base)?;
    Ok(Item {
        id,
        method,
        uri,
        headers,
        body,
        depends_on,
    })
}

fn item_headers(id: &str, raw: Option<&Value>) -> Result<HeaderMap, Malformed> {
    let mut map = HeaderMap::new();
    let fields = match raw {
        None | Some(Value::Null) => return Ok(map),
        Some(Value::Object(fields)) => fields,
        Some(_) => return Err(Malformed::Payload),
    };
    for (name, value) in fields {
        let bad = || Malformed::Header {
            id: id.to_string(),
            name: name.clone(),
        };
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => return Err(bad()),
        };
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad())?;
        let value = HeaderValue::from_str(&text).map_err(|_| bad())?;
        if name != header::AUTHORIZATION {
            map.append(name, value);
        }
    }
    Ok(map)
}

/// `application/json` and its `+json` relatives carry a JSON body; anything else a base64
/// string.
fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}

fn item_body(
    id: &str,
    method: &Method,
    headers: &HeaderMap,
    raw: Option<&Value>,
) -> Result<Vec<u8>, Malformed> {
    let write = [Method::POST, Method::PATCH, Method::PUT].contains(method);
    let body = match raw {
        None | Some(Value::Null) if write => {
            return Err(Malformed::NoContentType(id.to_string()));
        }
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(body) => body,
    };
    let Some(content_type) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return Err(Malformed::NoContentType(id.to_string()));
    };
    match body {
        Value::String(encoded) if !is_json(content_type) => {
            let encoded = encoded.trim();
            STANDARD_PAD_INDIFFERENT
                .decode(encoded)
                .or_else(|_| URL_SAFE_PAD_INDIFFERENT.decode(encoded))
                .map_err(|_| Malformed::Base64(id.to_string()))
        }
        other => Ok(other.to_string().into_bytes()),
    }
}

fn dependencies(
    id: &str,
    raw: Option<&Value>,
    earlier: &HashMap<String, usize>,
) -> Result<Vec<usize>, Malformed> {
    let bad = || Malformed::Dependency(id.to_string());
    let names = match raw {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(names)) => names,
        Some(_) => return Err(bad()),
    };
    let mut positions = Vec::with_capacity(names.len());
    for name in names {
        let position = name
            .as_str()
            .and_then(|n| earlier.get(n.trim()))
            .ok_or_else(bad)?;
        if !positions.contains(position) {
            positions.push(*position);
        }
    }
    Ok(positions)
}

/// Percent-encodes what a URI may not contain raw (clients write `$filter=a ne b` with spaces
/// in batch urls); `%` stays, as the url may already be encoded.
fn escape(raw: &str) -> String {
    const RESERVED: &[u8] = b"\"<>\\^`{|}";
    let mut out = String::with_capacity(raw.len());
    for byte in raw.bytes() {
        if byte.is_ascii_graphic() && !RESERVED.contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn item_uri(id: &str, url: &str, version: Version, base: &str) -> Result<Uri, Malformed> {
    let bad = || Malformed::Url {
        id: id.to_string(),
        url: url.to_string(),
    };
    let own = format!("{}/{}/", base.trim_end_matches('/'), version.as_str());
    let url = match url.get(..own.len()) {
        Some(prefix) if prefix.eq_ignore_ascii_case(&own) => &url[own.len() - 1..],
        _ => url,
    };
    if url.contains("://") {
        return Err(bad());
    }
    let raw = format!("/{}/{}", version.as_str(), url.trim_start_matches('/'));
    let uri: Uri = escape(&raw).parse().map_err(|_| bad())?;
    let nested = split_path(uri.path())
        .ok()
        .and_then(|(_, segments)| segments.into_iter().next())
        .is_some_and(|first| first.eq_ignore_ascii_case("$batch"));
    if nested {
        return Err(Malformed::Nested(id.to_string()));
    }
    Ok(uri)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn batch(requests: Value) -> Result<Vec<Item>, Malformed> {
        parse(
            json!({ "requests": requests }).to_string().as_bytes(),
            Version::V1,
            "https://127.0.0.1:8443",
        )
    }

    fn get(id: &str) -> Value {
        json!({"id": id, "method": "GET", "url": "/users"})
    }

    #[test]
    fn refuses_what_is_not_a_batch() {
        assert_eq!(
            parse(b"nope", Version::V1, "").err(),
            Some(Malformed::Payload)
        );
        assert_eq!(
            parse(b"{}", Version::V1, "").err(),
            Some(Malformed::Payload)
        );
        assert_eq!(batch(json!([])).err(), Some(Malformed::Payload));
        assert_eq!(batch(json!([1])).err(), Some(Malformed::Payload));
        let items: Vec<Value> = (0..21).map(|i| get(&i.to_string())).collect();
        assert_eq!(batch(json!(items)).err(), Some(Malformed::TooMany));
        let twenty = Value::from(items.get(..20).map(<[Value]>::to_vec));
        assert_eq!(batch(twenty).map(|v| v.len()), Ok(20));
    }

    #[test]
    fn every_request_needs_an_id_a_method_and_a_url() {
        let cases = [
            (json!({"method": "GET", "url": "/users"}), "id"),
            (json!({"id": " ", "method": "GET", "url": "/users"}), "id"),
            (json!({"id": "1", "url": "/users"}), "method"),
            (
                json!({"id": "1", "method": "G T", "url": "/users"}),
                "method",
            ),
            (json!({"id": "1", "method": "GET"}), "url"),
            (json!({"id": "1", "method": "GET", "url": 3}), "url"),
        ];
        for (request, field) in cases {
            let refused = batch(json!([get("0"), request])).err();
            assert_eq!(refused, Some(Malformed::Field { index: 1, field }));
        }
        let twice = batch(json!([get("a"), get("b"), get("a")])).err();
        assert_eq!(twice, Some(Malformed::DuplicateId("a".into())));
    }

    #[test]
    fn bodies_need_a_content_type_and_decode_base64() {
        let patch = |headers: Value, body: Value| {
            batch(
                json!([{"id": "1", "method": "patch", "url": "users/x", "headers": headers, "body": body}]),
            )
        };
        let no_type = patch(json!({}), json!({"a": 1})).err();
        assert_eq!(no_type, Some(Malformed::NoContentType("1".into())));
        let no_body = patch(json!({"Content-Type": "application/json"}), Value::Null).err();
        assert_eq!(no_body, Some(Malformed::NoContentType("1".into())));
        let json_body = patch(json!({"content-type": "application/json"}), json!({"a": 1}));
        let item = json_body.ok().and_then(|mut v| v.pop());
        assert_eq!(
            item.as_ref().map(|i| i.body.clone()),
            Some(br#"{"a":1}"#.to_vec())
        );
        assert_eq!(item.map(|i| i.method), Some(Method::PATCH));
        let octets = json!({"Content-Type": "application/octet-stream"});
        let decoded = patch(octets.clone(), json!("eyJhIjoxfQ")).ok();
        let body = decoded.and_then(|mut v| v.pop()).map(|i| i.body);
        assert_eq!(body, Some(br#"{"a":1}"#.to_vec()));
        assert_eq!(
            patch(octets, json!("not base64!")).err(),
            Some(Malformed::Base64("1".into()))
        );
        let delete =
            batch(json!([{"id": "1", "method": "DELETE", "url": "/groups/g/members/u/$ref"}]));
        assert_eq!(delete.map(|v| v.len()), Ok(1));
    }

    #[test]
    fn dependencies_name_earlier_requests() {
        let after = |id: &str, on: Value| json!({"id": id, "method": "GET", "url": "/users", "dependsOn": on});
        let ok = batch(json!([
            get("a"),
            get("b"),
            after("c", json!(["a", "b", "a"]))
        ]));
        let deps = ok.ok().and_then(|mut v| v.pop()).map(|i| i.depends_on);
        assert_eq!(deps, Some(vec![0, 1]));
        let refused = [
            json!([get("a"), after("b", json!(["z"]))]),
            json!([after("a", json!(["a"]))]),
            json!([after("a", json!(["b"])), after("b", json!(["a"]))]),
            json!([get("a"), after("b", json!("a"))]),
        ];
        for requests in refused {
            assert!(matches!(batch(requests), Err(Malformed::Dependency(_))));
        }
    }

    #[test]
    fn urls_are_relative_to_the_version() {
        let at = |url: &str| batch(json!([{"id": "1", "method": "GET", "url": url}]));
        let uri = |url: &str| {
            at(url)
                .ok()
                .and_then(|mut v| v.pop())
                .map(|i| i.uri.to_string())
        };
        assert_eq!(uri("/users?$top=1").as_deref(), Some("/v1.0/users?$top=1"));
        assert_eq!(uri("users").as_deref(), Some("/v1.0/users"));
        assert_eq!(
            uri("/users?$filter=a ne true").as_deref(),
            Some("/v1.0/users?$filter=a%20ne%20true")
        );
        assert!(matches!(
            at("https://graph.microsoft.com/v1.0/users"),
            Err(Malformed::Url { .. })
        ));
        // The emulator's own absolute URL under the batch's version, as Microsoft's SDKs send
        // to a host that is not Graph's, is the relative one; another version's is not.
        assert_eq!(
            uri("https://127.0.0.1:8443/v1.0/users?$top=1"),
            Some("/v1.0/users?$top=1".to_string())
        );
        assert!(matches!(
            at("https://127.0.0.1:8443/beta/users"),
            Err(Malformed::Url { .. })
        ));
        assert_eq!(at("/$batch").err(), Some(Malformed::Nested("1".into())));
        assert_eq!(at("/%24batch").err(), Some(Malformed::Nested("1".into())));
    }

    #[test]
    fn authorization_of_a_request_is_ignored() {
        let items = batch(json!([{"id": "1", "method": "GET", "url": "/users",
            "headers": {"Authorization": "Bearer other", "ConsistencyLevel": "eventual"}}]));
        let headers = items.ok().and_then(|mut v| v.pop()).map(|i| i.headers);
        assert_eq!(headers.as_ref().map(HeaderMap::len), Some(1));
        let bad =
            batch(json!([{"id": "1", "method": "GET", "url": "/u", "headers": {"a b": "x"}}]));
        assert!(matches!(bad, Err(Malformed::Header { .. })));
    }
}
