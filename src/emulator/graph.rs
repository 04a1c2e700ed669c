//! The Graph request pipeline: version → faults → authentication (the token names the calling
//! application) → due flips, sync cycles and purges → route → permission (that application's
//! grants) → query → quota (that application's buckets) → the route itself; then Graph's
//! headers and error envelope. `POST /{version}/$batch` leaves after the due flips for
//! `batch.rs`, which sends each of its items through this same pipeline.
//!
//! Everything happens in one short critical section on the emulator state, never held across
//! an `.await`.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::batch;
use super::faults::{ResetPhase, Target};
use super::latency::Operation;
use super::quota::Throttled;
use super::routes::query::Params;
use super::routes::{GraphError, Reply, Request, Route, Version, resolve};
use super::server::{Inner, Shared, lock};
use super::token::TokenProblem;

/// Content type of Graph's JSON answers.
pub const JSON_CONTENT_TYPE: &str = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

/// What to answer, before the correlation ids are added.
#[derive(Debug)]
pub(super) struct Outcome {
    pub(super) status: StatusCode,
    pub(super) body: OutBody,
    pub(super) ru: u32,
    pub(super) headers: Vec<(&'static str, String)>,
    /// Drop the connection instead of answering (an injected reset).
    pub(super) reset: bool,
}

#[derive(Debug)]
pub(super) enum OutBody {
    Json(Value),
    Text(String),
    Error(GraphError),
    Throttled,
    Empty,
}

impl Outcome {
    pub(super) fn error(e: GraphError) -> Self {
        Self {
            status: e.status,
            headers: e.headers.clone(),
            body: OutBody::Error(e),
            ru: 0,
            reset: false,
        }
    }

    pub(super) fn reply(reply: Reply) -> Self {
        let (status, body) = match reply {
            Reply::Json(status, v) => (status, OutBody::Json(v)),
            Reply::NoContent => (StatusCode::NO_CONTENT, OutBody::Empty),
            Reply::Text(t) => (StatusCode::OK, OutBody::Text(t)),
            Reply::WithHeaders(reply, headers) => {
                let mut outcome = Self::reply(*reply);
                outcome.headers.extend(headers);
                return outcome;
            }
        };
        Self {
            status,
            body,
            ru: 0,
            headers: Vec::new(),
            reset: false,
        }
    }
}

/// Per-request correlation ids.
pub(super) struct Ids {
    pub(super) request: String,
    pub(super) client: String,
}

impl Ids {
    pub(super) fn new(headers: &HeaderMap) -> Self {
        let client = headers
            .get("client-request-id")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map_or_else(crate::guid::random, str::to_string);
        Self {
            request: crate::guid::random(),
            client,
        }
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (b, hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(decoded)) => {
                out.push(decoded);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits `/v1.0/users/x` into the version and the decoded segments after it.
pub(super) fn split_path(path: &str) -> Result<(Version, Vec<String>), GraphError> {
    let mut segments = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode);
    let version = match segments.next() {
        Some(v) if v.eq_ignore_ascii_case("v1.0") => Version::V1,
        Some(v) if v.eq_ignore_ascii_case("beta") => Version::Beta,
        other => {
            let v = other.unwrap_or_default();
            return Err(GraphError::new(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                format!("Invalid version: {v}"),
            ));
        }
    };
    Ok((version, segments.collect()))
}

/// The client id of the application the bearer token was issued to.
fn authenticate(inner: &Inner, headers: &HeaderMap) -> Result<String, GraphError> {
    let unauthorized =
        |m: &str| GraphError::new(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", m);
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim();
    if value.is_empty() {
        return Err(unauthorized("Access token is empty."));
    }
    let token = match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => return Err(unauthorized("Invalid token.")),
    };
    if token.is_empty() {
        return Err(unauthorized("Access token is empty."));
    }
    match inner.tokens.check(token) {
        Ok(app) => Ok(app.to_string()),
        Err(TokenProblem::Expired) => Err(unauthorized(
            "Lifetime validation failed, the token is expired.",
        )),
        Err(TokenProblem::Unknown) => Err(unauthorized("Invalid token.")),
    }
}

/// Whether the calling application's current grants allow `route`.
fn permitted(inner: &Inner, app: &str, route: &Route) -> bool {
    route
        .access(&inner.tenant)
        .allowed(inner.apps.permissions(app))
}

fn throttled(inner: &Inner, app: &str, t: Throttled) -> Outcome {
    Outcome {
        status: StatusCode::TOO_MANY_REQUESTS,
        body: OutBody::Throttled,
        ru: 0,
        headers: vec![
            ("retry-after", inner.clock.retry_after(t.wait)),
            (
                "x-ms-throttle-scope",
                t.limit.scope(app, &inner.config.tenant_id),
            ),
            (
                "x-ms-throttle-information",
                t.limit.information().to_string(),
            ),
            ("x-ms-throttle-limit-percentage", format!("{:.2}", t.usage)),
        ],
        reset: false,
    }
}

pub(super) fn run(
    inner: &mut Inner,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    base: String,
) -> Outcome {
    let (version, segments) = match split_path(uri.path()) {
        Ok(v) => v,
        Err(e) => return Outcome::error(e),
    };
    let mut reset_after = false;
    if let Some(fault) = inner
        .faults
        .take(Target::Graph, method.as_str(), uri.path())
    {
        inner.stats.faulted += 1;
        match fault.reset {
            Some(ResetPhase::Before) => {
                let mut outcome = fault_outcome(StatusCode::SERVICE_UNAVAILABLE);
                outcome.reset = true;
                return outcome;
            }
            Some(ResetPhase::After) => reset_after = true,
            None => {
                let mut outcome = fault_outcome(fault.status);
                outcome
                    .headers
                    .extend(fault.retry_after.map(|r| ("retry-after", r)));
                return outcome;
            }
        }
    }
    let app = match authenticate(inner, headers) {
        Ok(app) => app,
        Err(e) => {
            let mut outcome = Outcome::error(e);
            let challenge = "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"";
            outcome
                .headers
                .push(("www-authenticate", challenge.to_string()));
            return outcome;
        }
    };
    let now = inner.clock.now();
    inner.tenant.apply_due(now);
    if batch::is_batch(method, &segments) {
        // A reset after applying drops the batch's answer too, once its requests ran.
        let mut outcome = batch::run(inner, version, headers, body, &base);
        outcome.reset |= reset_after;
        return outcome;
    }
    let route = match resolve(method, &segments) {
        Ok(r) => r,
        Err(e) => return Outcome::error(e),
    };
    if !permitted(inner, &app, &route) {
        return Outcome::error(GraphError::new(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        ));
    }
    let query = Params::parse(uri.query()).and_then(|p| route.query(&p, headers, inner.token_key));
    let charge = route.charge(query.as_ref().ok(), &inner.tenant.behaviour);
    let mut usage = 0.0;
    if inner.config.quotas {
        let secs = inner.clock.secs();
        match inner
            .quotas
            .admit(&app, charge, inner.tenant.users.len(), secs)
        {
            Ok(u) => usage = u,
            Err(t) => {
                inner.stats.throttled += 1;
                return throttled(inner, &app, t);
            }
        }
    }
    let req = Request {
        version,
        base,
        body,
        now,
        token_key: inner.token_key,
    };
    let result = query.and_then(|q| route.execute(q, &mut inner.tenant, &req));
    let mut outcome = match result {
        Ok(reply) => Outcome::reply(reply),
        Err(e) => Outcome::error(e),
    };
    outcome.ru = charge.ru;
    if usage > 0.8 {
        outcome
            .headers
            .push(("x-ms-throttle-limit-percentage", format!("{usage:.2}")));
    }
    record_write(inner, &route, outcome.status);
    outcome.reset = reset_after;
    outcome
}

fn record_write(inner: &mut Inner, route: &Route, status: StatusCode) {
    let Some(operation) = route.write_operation() else {
        return;
    };
    let stats = &mut inner.stats;
    if status.is_success() {
        stats.writes_accepted += 1;
        *stats.writes_by_operation.entry(operation).or_insert(0) += 1;
    } else {
        stats.writes_refused += 1;
    }
}

fn fault_outcome(status: StatusCode) -> Outcome {
    let (code, message) = match status.as_u16() {
        429 => {
            return Outcome {
                status,
                body: OutBody::Throttled,
                ru: 0,
                headers: Vec::new(),
                reset: false,
            };
        }
        500 => ("generalException", "An unspecified error has occurred."),
        502 => (
            "badGateway",
            "The gateway received an invalid response from the service.",
        ),
        504 => (
            "gatewayTimeout",
            "The gateway did not receive a response from the service in time.",
        ),
        _ => (
            "serviceNotAvailable",
            "The service is temporarily unavailable. Please retry after a few moments.",
        ),
    };
    Outcome::error(GraphError::new(status, code, message))
}

pub(super) fn error_body(e: &GraphError, ids: &Ids, date: &str) -> Value {
    let mut error = json!({
        "code": e.code,
        "message": e.message,
        "innerError": { "date": date, "request-id": ids.request, "client-request-id": ids.client },
    });
    if let (Some(details), Some(obj)) = (&e.details, error.as_object_mut()) {
        obj.insert("details".into(), details.clone());
    }
    json!({ "error": error })
}

pub(super) fn throttle_body(ids: &Ids, date: &str) -> Value {
    json!({ "error": {
        "code": "TooManyRequests",
        "message": "Please retry again later.",
        "innerError": {
            "code": "429", "date": date, "message": "Please retry after",
            "request-id": ids.request, "client-request-id": ids.client, "status": "429",
        },
    }})
}

/// A response whose body fails before a byte is sent: the server closes the connection, and
/// the client sees it dropped without an answer.
fn connection_reset() -> Response {
    let failed = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "emulated connection reset",
        ))
    });
    Response::new(Body::from_stream(failed))
}

fn render(outcome: Outcome, ids: &Ids, date: &str) -> Response {
    if outcome.reset {
        return connection_reset();
    }
    let json_type = HeaderValue::from_static(JSON_CONTENT_TYPE);
    let (content_type, body) = match &outcome.body {
        OutBody::Json(v) => (Some(json_type), Body::from(v.to_string())),
        OutBody::Error(e) => (
            Some(json_type),
            Body::from(error_body(e, ids, date).to_string()),
        ),
        OutBody::Throttled => (
            Some(json_type),
            Body::from(throttle_body(ids, date).to_string()),
        ),
        OutBody::Text(t) => (
            Some(HeaderValue::from_static("text/plain")),
            Body::from(t.clone()),
        ),
        OutBody::Empty => (None, Body::empty()),
    };
    let mut response = (outcome.status, body).into_response();
    let h = response.headers_mut();
    if let Some(ct) = content_type {
        h.insert(header::CONTENT_TYPE, ct);
    }
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(HeaderName::from_static(name), v);
        }
    };
    set("request-id", &ids.request);
    set("client-request-id", &ids.client);
    set("x-ms-resource-unit", &outcome.ru.to_string());
    for (name, value) in &outcome.headers {
        set(name, value);
    }
    response
}

/// The `http(s)://host` the client used, for absolute links (`https` under TLS).
pub(super) fn base_url(headers: &HeaderMap, shared: &Shared) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| !h.is_empty());
    match host {
        Some(host) => format!("{}://{host}", shared.scheme),
        None => format!("{}://{}", shared.scheme, shared.addr),
    }
}

/// The axum handler of every Graph request (mounted as the router's fallback).
pub async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let operation = if method == Method::GET || method == Method::HEAD {
        Operation::Read
    } else {
        Operation::Write
    };
    let delay = shared.delay(operation);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let ids = Ids::new(&headers);
    let base = base_url(&headers, &shared);
    let (outcome, date) = {
        let mut inner = lock(&shared.inner);
        let date = inner.clock.now().strftime("%Y-%m-%dT%H:%M:%S").to_string();
        let outcome = run(&mut inner, &method, &uri, &headers, &body, base);
        inner.stats.record(outcome.status);
        (outcome, date)
    };
    tracing::debug!(
        method = %method,
        path = uri.path(),
        status = outcome.status.as_u16(),
        ru = outcome.ru,
        request_id = %ids.request,
        "graph request"
    );
    render(outcome, &ids, &date)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_decodes_paths() {
        let (v, s) = split_path("/beta/users/%24count").unwrap_or((Version::V1, Vec::new()));
        assert_eq!(v, Version::Beta);
        assert_eq!(s, vec!["users".to_string(), "$count".to_string()]);
        assert!(split_path("/v2.0/users").is_err());
        assert!(split_path("/").is_err());
        assert_eq!(percent_decode("a%40b%2"), "a@b%2");
        assert_eq!(percent_decode("%zz%"), "%zz%");
    }
}
