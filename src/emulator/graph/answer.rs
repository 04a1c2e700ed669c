//! What the Graph pipeline answers: the outcome of a request (or of a batch's item) before it
//! is rendered, Graph's error envelopes and its correlation ids.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::emulator::routes::{GraphError, Reply};

/// Content type of Graph's JSON answers.
pub const JSON_CONTENT_TYPE: &str = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

/// What to answer, before the correlation ids are added.
#[derive(Debug)]
pub struct Outcome {
    pub status: StatusCode,
    pub body: OutBody,
    pub ru: u32,
    pub headers: Vec<(&'static str, String)>,
    /// Drop the connection instead of answering (an injected reset).
    pub reset: bool,
}

#[derive(Debug)]
pub enum OutBody {
    Json(Value),
    Text(String),
    Error(GraphError),
    Throttled,
    Empty,
}

impl Outcome {
    pub fn error(e: GraphError) -> Self {
        Self {
            status: e.status,
            headers: e.headers.clone(),
            body: OutBody::Error(e),
            ru: 0,
            reset: false,
        }
    }

    pub fn reply(reply: Reply) -> Self {
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
pub struct Ids {
    pub request: String,
    pub client: String,
}

impl Ids {
    pub fn new(headers: &HeaderMap) -> Self {
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

/// The answer of an injected fault of `status`.
pub fn fault_outcome(status: StatusCode) -> Outcome {
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

/// Graph's error envelope.
pub fn error_body(e: &GraphError, ids: &Ids, date: &str) -> Value {
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

/// The `429` envelope.
pub fn throttle_body(ids: &Ids, date: &str) -> Value {
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

/// The HTTP response of an outcome (a dropped connection for a reset).
pub fn render(outcome: Outcome, ids: &Ids, date: &str) -> Response {
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
