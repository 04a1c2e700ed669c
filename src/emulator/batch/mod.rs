//! JSON batching (graph-api.md §7): `POST /v1.0/$batch` and `POST /beta/$batch` with up to
//! [`MAX_REQUESTS`] requests.
//!
//! The batch itself went through the pipeline's front (faults, authentication) in `graph/`;
//! it costs no resource units. A malformed batch answers `400` as a whole ([`Malformed`]).
//! Otherwise each request runs through the same pipeline as a standalone one, under the batch's
//! version and with the batch's authorization: faults, permission, query, its own quota charge
//! (a throttled item answers `429` with its own `Retry-After` and `x-ms-throttle-*` headers)
//! and write statistics. Requests run in request order; `dependsOn` may only name earlier
//! requests (Graph answers "Invalid dependency for request Id …" otherwise, which also rules
//! out cycles), and a request whose dependency did not succeed answers `424 FailedDependency`
//! without running or being charged (the code text is UNCONFIRMED). A body needs a
//! `Content-Type` header, and a POST, PATCH or PUT needs a body (Graph's "Write request id : …
//! does not contain Content-Type header or body."); a string body with a non-JSON content type
//! is base64. The answer is `200 {"responses":[{id,status,headers,body}]}` whatever the
//! items answered, in an order shuffled per batch (deterministic for the emulator's seed) or
//! the request order ([`BatchOrder`]).

mod parse;

use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::graph::answer::{Ids, JSON_CONTENT_TYPE, OutBody, Outcome, error_body, throttle_body};
use super::routes::{GraphError, Reply, Version};
use super::shared::{Shared, Tenancy};
use super::switches::BatchLimitCode;
use parse::Item;

pub use parse::{MAX_REQUESTS, Malformed};

/// Order of the responses of a batch. Graph does not keep the request order, so clients must
/// correlate by `id`; `request` makes the emulator's answers easier to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BatchOrder {
    /// Shuffled, differently for each batch, the same for the same seed (default).
    Shuffled,
    /// The order of the requests.
    Request,
}

/// Whether a request is a batch: `POST /{version}/$batch`.
pub(super) fn is_batch(method: &Method, segments: &[String]) -> bool {
    method == Method::POST && matches!(segments, [only] if only.eq_ignore_ascii_case("$batch"))
}

/// The `400` of a malformed batch.
fn refusal(e: &Malformed, limit_code: BatchLimitCode) -> GraphError {
    let code = match e {
        Malformed::TooMany => limit_code.code(),
        _ => "BadRequest",
    };
    GraphError::new(StatusCode::BAD_REQUEST, code, e.to_string())
}

/// The pipeline a request goes through (`graph::run`), handed in so that the pipeline and
/// its batches do not import each other.
pub(super) type Pipeline =
    fn(&Shared, &mut Tenancy, &Method, &Uri, &HeaderMap, &[u8], String) -> Outcome;

/// Runs an authenticated batch posted under `version`, each item through `pipeline`.
pub(super) fn run(
    shared: &Shared,
    t: &mut Tenancy,
    version: Version,
    headers: &HeaderMap,
    body: &[u8],
    base: &str,
    pipeline: Pipeline,
) -> Outcome {
    let items = match parse::parse(body, version, base) {
        Ok(items) => items,
        Err(e) => {
            let refused = refusal(&e, shared.config.batch_limit_code);
            tracing::debug!(message = %refused.message, "graph batch refused");
            return Outcome::error(refused);
        }
    };
    shared.stats().batches += 1;
    let date = t.clock.now().strftime("%Y-%m-%dT%H:%M:%S").to_string();
    let mut done: Vec<(String, StatusCode)> = Vec::with_capacity(items.len());
    let mut responses = Vec::with_capacity(items.len());
    // An injected connection reset on any item drops the whole batch's connection (the items
    // before it applied, as when a connection breaks mid-answer).
    let mut reset = false;
    for item in items {
        let ids = item_ids(&item, headers);
        let failed = item
            .depends_on
            .iter()
            .filter_map(|&d| done.get(d))
            .find(|(_, status)| !status.is_success());
        let outcome = match failed {
            Some((dependency, _)) => Outcome::error(GraphError::new(
                StatusCode::FAILED_DEPENDENCY,
                "FailedDependency",
                format!("The request depends on request '{dependency}', which failed."),
            )),
            None => run_item(shared, t, pipeline, &item, headers, base),
        };
        {
            let mut stats = shared.stats();
            stats.record(outcome.status);
            stats.batch_items += 1;
        }
        reset |= outcome.reset;
        let dropped = outcome.reset;
        tracing::debug!(
            id = %item.id,
            method = %item.method,
            path = item.uri.path(),
            status = outcome.status.as_u16(),
            "graph batch item"
        );
        done.push((item.id.clone(), outcome.status));
        responses.push(item_json(item.id, outcome, &ids, &date));
        if dropped {
            // The connection drops here: the items after it are never run.
            break;
        }
    }
    if shared.config.batch_order == BatchOrder::Shuffled {
        // Batches are counted only under the tenancy's lock, held since this one was counted.
        let seed = shared.config.seed.wrapping_add(shared.stats().batches);
        fastrand::Rng::with_seed(seed).shuffle(&mut responses);
    }
    let mut outcome = Outcome::reply(Reply::Json(
        StatusCode::OK,
        json!({ "responses": responses }),
    ));
    outcome.reset = reset;
    outcome
}

/// The item through the whole pipeline, with the batch's authorization.
fn run_item(
    shared: &Shared,
    t: &mut Tenancy,
    pipeline: Pipeline,
    item: &Item,
    outer: &HeaderMap,
    base: &str,
) -> Outcome {
    let mut headers = item.headers.clone();
    if let Some(auth) = outer.get(header::AUTHORIZATION) {
        headers.insert(header::AUTHORIZATION, auth.clone());
    }
    headers.insert(
        super::routes::BATCH_ITEM_HEADER,
        axum::http::HeaderValue::from_static("1"),
    );
    pipeline(
        shared,
        t,
        &item.method,
        &item.uri,
        &headers,
        &item.body,
        base.to_string(),
    )
}

/// The item's correlation ids: its own `client-request-id`, else the batch's.
fn item_ids(item: &Item, outer: &HeaderMap) -> Ids {
    if item.headers.contains_key("client-request-id") {
        Ids::new(&item.headers)
    } else {
        Ids::new(outer)
    }
}

/// `Retry-After`, `Content-Type`, …; Graph's own `x-ms-*` headers stay lowercase.
fn header_name(name: &str) -> String {
    if name.starts_with("x-ms-") {
        return name.to_string();
    }
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// One entry of `responses`: text bodies stay strings, JSON bodies are embedded.
fn item_json(id: String, outcome: Outcome, ids: &Ids, date: &str) -> Value {
    let (content_type, body) = match outcome.body {
        OutBody::Json(v) => (Some(JSON_CONTENT_TYPE), Some(v)),
        OutBody::Error(e) => (Some(JSON_CONTENT_TYPE), Some(error_body(&e, ids, date))),
        OutBody::Throttled => (Some(JSON_CONTENT_TYPE), Some(throttle_body(ids, date))),
        OutBody::Text(t) => (Some("text/plain"), Some(Value::String(t))),
        OutBody::Empty => (None, None),
    };
    let mut headers = Map::new();
    if let Some(content_type) = content_type {
        headers.insert("Content-Type".into(), json!(content_type));
    }
    headers.insert("x-ms-resource-unit".into(), json!(outcome.ru.to_string()));
    for (name, value) in outcome.headers {
        headers.insert(header_name(name), json!(value));
    }
    let mut entry = Map::new();
    entry.insert("id".into(), json!(id));
    entry.insert("status".into(), json!(outcome.status.as_u16()));
    entry.insert("headers".into(), Value::Object(headers));
    if let Some(body) = body {
        entry.insert("body".into(), body);
    }
    Value::Object(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_post_to_the_batch_segment_is_a_batch() {
        let segments = |s: &[&str]| s.iter().map(|x| (*x).to_string()).collect::<Vec<_>>();
        assert!(is_batch(&Method::POST, &segments(&["$batch"])));
        assert!(is_batch(&Method::POST, &segments(&["$BATCH"])));
        assert!(!is_batch(&Method::GET, &segments(&["$batch"])));
        assert!(!is_batch(&Method::POST, &segments(&["$batch", "x"])));
        assert!(!is_batch(&Method::POST, &segments(&["users"])));
    }

    #[test]
    fn item_headers_use_graph_capitalisation() {
        assert_eq!(header_name("retry-after"), "Retry-After");
        assert_eq!(header_name("content-type"), "Content-Type");
        assert_eq!(header_name("x-ms-throttle-scope"), "x-ms-throttle-scope");
    }

    #[test]
    fn the_limit_code_is_a_switch() {
        let bad = refusal(&Malformed::TooMany, BatchLimitCode::RequestBadRequest);
        assert_eq!(bad.code, "Request_BadRequest");
        assert_eq!(
            bad.message,
            "Number of requests inside batch exceeds the limit."
        );
        let other = refusal(&Malformed::Payload, BatchLimitCode::RequestBadRequest);
        assert_eq!(other.code, "BadRequest");
    }

    #[test]
    fn a_throttled_item_keeps_its_headers_and_envelope() {
        let outcome = Outcome {
            status: StatusCode::TOO_MANY_REQUESTS,
            body: OutBody::Throttled,
            ru: 0,
            headers: vec![("retry-after", "7".into())],
            reset: false,
        };
        let ids = Ids {
            request: "r".into(),
            client: "c".into(),
        };
        let v = item_json("3".into(), outcome, &ids, "2026-01-01T00:00:00");
        assert_eq!(v["id"], "3");
        assert_eq!(v["status"], 429);
        assert_eq!(v["headers"]["Retry-After"], "7");
        assert_eq!(v["body"]["error"]["code"], "TooManyRequests");
        assert_eq!(v["body"]["error"]["innerError"]["client-request-id"], "c");
        let empty = Outcome::reply(Reply::NoContent);
        let v = item_json("1".into(), empty, &ids, "d");
        assert_eq!(v["status"], 204);
        assert!(v.get("body").is_none());
        assert!(v["headers"].get("Content-Type").is_none());
    }
}
