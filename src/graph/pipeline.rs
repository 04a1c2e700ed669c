//! The request pipeline every Graph call goes through: the token, retries of 429 (honouring
//! a capped `Retry-After`), 5xx and connection failures with jittered backoff, all within a
//! deadline; no redirect followed; bodies read up to a limit; Graph's error envelope turned
//! into [`GraphError`], and anything else described, never repeated.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use tracing::{Instrument, debug, info_span, warn};
use url::Url;

use super::client::{GraphClient, new_request_id};
use super::error::{GraphError, Operation};
use super::limits::{
    BodyError, MAX_ERROR_BODY, bounded, describe, json_problem, media_type, read_capped,
};
use super::models::ErrorEnvelope;
use super::retry::server_retry_after;

/// A successful answer, read.
pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) request_id: Option<String>,
    pub(super) body: Vec<u8>,
}

impl GraphClient {
    /// The request pipeline, within the deadline (`Limits::deadline`): the retry loop
    /// gives up rather than start a wait that would pass it (returning the error that asked
    /// for the wait), and a timeout around it bounds the rest (token fetches, pacing, slow
    /// answers).
    pub(super) async fn send(
        &self,
        op: Operation,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
        advanced: bool,
    ) -> Result<Answer, GraphError> {
        let span = info_span!("graph", op = op.name(), method = %method);
        let deadline = self.inner.limits.deadline;
        let ends = tokio::time::Instant::now().checked_add(deadline);
        let attempts = self.send_inner(op, method, url, body, advanced, ends);
        match tokio::time::timeout(deadline, attempts)
            .instrument(span)
            .await
        {
            Ok(answer) => answer,
            Err(_) => Err(GraphError::Deadline {
                operation: op,
                deadline,
            }),
        }
    }

    async fn send_inner(
        &self,
        op: Operation,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
        advanced: bool,
        ends: Option<tokio::time::Instant>,
    ) -> Result<Answer, GraphError> {
        let inner = &self.inner;
        let mut attempt: u32 = 0;
        let mut reauthenticated = false;
        loop {
            attempt += 1;
            // A batch envelope costs nothing: its requests were paced one by one before it.
            if let (Some(pacer), false) = (&inner.pacer, op == Operation::Batch) {
                pacer.acquire(op.cost()).await;
            }
            let token = inner.tokens.token().await?;
            let mut req = inner
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(token.expose())
                .header("client-request-id", new_request_id());
            if advanced {
                req = req.header("ConsistencyLevel", "eventual");
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            inner.stats.requests.fetch_add(1, Ordering::Relaxed);
            let started = Instant::now();
            let resp = match req.send().await {
                Ok(resp) => resp,
                Err(e) => {
                    if let Some(o) = &inner.observer {
                        o.observe(op, None, started.elapsed(), None);
                    }
                    let failure = GraphError::Transport {
                        operation: op,
                        detail: describe(&e),
                    };
                    self.pause(attempt, inner.retry.backoff(attempt - 1), failure, ends)
                        .await?;
                    continue;
                }
            };
            let status = resp.status();
            let quota = header(&resp, "x-ms-throttle-limit-percentage")
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|q| q.is_finite());
            if let Some(o) = &inner.observer {
                o.observe(op, Some(status.as_u16()), started.elapsed(), quota);
            }
            if let Some(pacer) = &inner.pacer {
                if let Some(q) = quota {
                    pacer.usage(q);
                }
                if status != StatusCode::TOO_MANY_REQUESTS && op != Operation::Batch {
                    pacer.admitted(op.cost());
                }
            }
            let request_id = header(&resp, "request-id").filter(|r| is_request_id(r));
            let retry_after = header(&resp, reqwest::header::RETRY_AFTER.as_str())
                .and_then(|v| server_retry_after(&v));
            debug!(
                status = status.as_u16(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                request_id = request_id.as_deref().unwrap_or(""),
                "graph answered"
            );
            if status.is_redirection() {
                return Err(GraphError::Redirect {
                    operation: op,
                    status: status.as_u16(),
                });
            }
            let content_type = header(&resp, reqwest::header::CONTENT_TYPE.as_str());
            let limit = if status.is_success() {
                inner.limits.max_body
            } else {
                inner.limits.max_body.min(MAX_ERROR_BODY)
            };
            let read = match read_capped(resp, limit).await {
                Ok(body) => Some(body),
                Err(BodyError::TooLarge) if status.is_success() => {
                    return Err(GraphError::TooLarge {
                        operation: op,
                        limit,
                    });
                }
                // An error body that long is not Graph's envelope: only its status counts.
                Err(BodyError::TooLarge) => None,
                Err(BodyError::Transport(detail)) => {
                    let failure = GraphError::Transport {
                        operation: op,
                        detail,
                    };
                    self.pause(attempt, inner.retry.backoff(attempt - 1), failure, ends)
                        .await?;
                    continue;
                }
            };
            if status.is_success() {
                return Ok(Answer {
                    status: status.as_u16(),
                    request_id,
                    body: read.unwrap_or_default(),
                });
            }
            let err = api_error(
                op,
                status,
                request_id,
                retry_after,
                content_type.as_deref(),
                read.as_deref(),
            );
            if status == StatusCode::UNAUTHORIZED && !reauthenticated {
                // The token may have been revoked or expired early: fetch a new one once.
                reauthenticated = true;
                inner.tokens.invalidate().await;
                continue;
            }
            let wait = if status == StatusCode::TOO_MANY_REQUESTS {
                inner.stats.throttled.fetch_add(1, Ordering::Relaxed);
                if let Some(pacer) = &inner.pacer {
                    pacer.throttled_since(
                        op.cost(),
                        retry_after.map(|d| inner.retry.retry_after(d)),
                        tokio::time::Instant::from_std(started),
                    );
                }
                retry_after
                    .map(|d| inner.retry.retry_after(d))
                    .unwrap_or_else(|| inner.retry.backoff(attempt - 1))
            } else if status.is_server_error() {
                retry_after
                    .map(|d| inner.retry.retry_after(d))
                    .unwrap_or_else(|| inner.retry.backoff(attempt - 1))
            } else {
                return Err(err);
            };
            self.pause(attempt, wait, err, ends).await?;
        }
    }

    /// Waits `wait` before attempt `attempt + 1`, or returns `failure` when the attempts are
    /// spent or the wait would pass the request's deadline (`ends`).
    async fn pause(
        &self,
        attempt: u32,
        wait: Duration,
        failure: GraphError,
        ends: Option<tokio::time::Instant>,
    ) -> Result<(), GraphError> {
        if attempt >= self.inner.retry.max_attempts {
            return Err(failure);
        }
        if let Some(ends) = ends
            && wait >= ends.saturating_duration_since(tokio::time::Instant::now())
        {
            warn!(wait_ms = wait.as_millis() as u64, error = %failure, "graph request failed; the wait for a retry would pass its deadline, giving up");
            return Err(failure);
        }
        self.inner.stats.retries.fetch_add(1, Ordering::Relaxed);
        warn!(attempt, wait_ms = wait.as_millis() as u64, error = %failure, "graph request failed, retrying");
        tokio::time::sleep(wait).await;
        Ok(())
    }
}

fn header(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Graph's error from a failed answer: `error.code` and `error.message` of its envelope, or,
/// for anything else, what the answer was (status, size, media type), never its bytes: a
/// proxy's or a stranger's page has no business in a status condition. `body` is `None`
/// when it was longer than an error body can be, and was not read.
pub(super) fn api_error(
    op: Operation,
    status: StatusCode,
    request_id: Option<String>,
    retry_after: Option<Duration>,
    content_type: Option<&str>,
    body: Option<&[u8]>,
) -> GraphError {
    let envelope = body.and_then(|b| serde_json::from_slice::<ErrorEnvelope>(b).ok());
    let (code, message, inner_id) = match envelope {
        Some(env) if !env.error.code.is_empty() => (
            bounded(&env.error.code),
            bounded(&env.error.message),
            env.error
                .inner_error
                .and_then(|i| i.request_id)
                .filter(|r| is_request_id(r)),
        ),
        _ => (
            status
                .canonical_reason()
                .unwrap_or("Unknown")
                .replace(' ', ""),
            foreign_body(status, content_type, body),
            None,
        ),
    };
    GraphError::Api {
        operation: op,
        status: status.as_u16(),
        code,
        message,
        request_id: request_id.or(inner_id),
        retry_after,
    }
}

/// What an answer that is not Graph's error envelope was, in the client's words.
fn foreign_body(status: StatusCode, content_type: Option<&str>, body: Option<&[u8]>) -> String {
    let kind = media_type(content_type);
    let status = status.as_u16();
    match body {
        None => format!("HTTP {status} with a body over {MAX_ERROR_BODY} bytes ({kind})"),
        Some([]) => format!("HTTP {status} with an empty body"),
        Some(b) if serde_json::from_slice::<serde::de::IgnoredAny>(b).is_ok() => format!(
            "HTTP {status} with JSON that is not Graph's error envelope ({} bytes, {kind})",
            b.len()
        ),
        Some(b) => format!(
            "HTTP {status} with a non-JSON body ({} bytes, {kind})",
            b.len()
        ),
    }
}

/// Whether a `request-id` (a server's text, repeated in errors) looks like one: Graph's are
/// GUIDs.
pub(super) fn is_request_id(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

pub(super) fn decode<T: DeserializeOwned>(op: Operation, body: Vec<u8>) -> Result<T, GraphError> {
    serde_json::from_slice(&body).map_err(|e| GraphError::Decode {
        operation: op,
        detail: json_problem(&e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_json_error_bodies_say_what_they_were_not_what_they_said() {
        let e = api_error(
            Operation::ListUsers,
            StatusCode::BAD_GATEWAY,
            Some("r-1".into()),
            None,
            Some("text/html; charset=utf-8"),
            Some(b"<html>S3cr3t</html>"),
        );
        assert!(matches!(e, GraphError::Api { status: 502, ref code, .. } if code == "BadGateway"));
        let text = e.to_string();
        assert!(
            text.contains("HTTP 502 with a non-JSON body (19 bytes, text/html)"),
            "{text}"
        );
        assert!(
            !text.contains("S3cr3t") && !text.contains("<html>"),
            "{text}"
        );
        let json = api_error(
            Operation::ListUsers,
            StatusCode::BAD_REQUEST,
            None,
            None,
            None,
            Some(br#"{"oops": "S3cr3t"}"#),
        );
        assert!(!json.to_string().contains("S3cr3t"), "{json}");
        let big = api_error(
            Operation::ListUsers,
            StatusCode::SERVICE_UNAVAILABLE,
            None,
            None,
            None,
            None,
        );
        assert!(big.to_string().contains("over 65536 bytes"), "{big}");
    }

    #[test]
    fn graph_errors_keep_code_and_message() {
        let body = br#"{"error": {"code": "Request_BadRequest", "message": "Bad thing.",
            "innerError": {"request-id": "9b0df954-0000-4000-8000-000000000000"}}}"#;
        let e = api_error(
            Operation::UpdateUser,
            StatusCode::BAD_REQUEST,
            None,
            None,
            Some("application/json"),
            Some(body),
        );
        match e {
            GraphError::Api {
                code,
                message,
                request_id,
                ..
            } => {
                assert_eq!(code, "Request_BadRequest");
                assert_eq!(message, "Bad thing.");
                assert_eq!(
                    request_id.as_deref(),
                    Some("9b0df954-0000-4000-8000-000000000000")
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(!is_request_id("a b"));
        assert!(!is_request_id(&"a".repeat(65)));
    }
}
