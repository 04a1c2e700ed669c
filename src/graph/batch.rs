//! JSON batching (graph-api.md §7): up to [`MAX_BATCH`] requests in one `POST /$batch`, each
//! paced, answered and retried on its own.
//!
//! Graph evaluates every request of a batch separately: each is charged its own resource units
//! and write against the quotas, and a throttled one answers `429` with its own `Retry-After`
//! inside a `200` (the envelope costs nothing). So each request goes through the client's pacer
//! before the envelope is posted, answers are matched to requests by `id` (Graph does not keep
//! the order), and the requests that answered 429, 5xx or 424 go out again together in a new
//! batch after the longest `Retry-After` among them (backoff when none was given), up to the
//! retry policy's attempts; a request that answered success is not sent again (only an
//! envelope whose answer was lost is posted again whole, so batched writes must be
//! idempotent, as the operator's are), and one refused
//! otherwise (400, 403, 404…) keeps its typed error. Requests never depend on one another
//! (`dependsOn` is not used), so one failure costs only itself, never a 424 cascade. The
//! envelope itself goes through the ordinary pipeline (token, retries of a 5xx, 429 or dropped
//! connection on the POST as a whole, as for any write).
//!
//! Bulk calls ([`GraphClient::send_all`] and the user operations in `bulk.rs`) send batches
//! only while [`GraphClient::batching`] is on; otherwise the same requests go out one HTTP
//! request each, so callers have one code path for both.

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tracing::warn;

use super::client::{GraphClient, api_error, decode, is_request_id};
use super::error::{GraphError, Operation};
use super::retry::{RetryPolicy, server_retry_after};

/// Graph's limit of requests in one batch.
pub const MAX_BATCH: usize = 20;

/// One request to send, in a batch or alone.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchRequest {
    /// What it is (pacing cost, metrics label, error context).
    pub operation: Operation,
    /// HTTP method.
    pub method: Method,
    /// Path and query below the version root, escaped, e.g. `users/{id}?$select=id`.
    pub path: String,
    /// JSON body (sent with `Content-Type: application/json`).
    pub body: Option<Value>,
}

impl BatchRequest {
    /// A `GET`.
    pub fn get(operation: Operation, path: String) -> Self {
        Self {
            operation,
            method: Method::GET,
            path,
            body: None,
        }
    }

    /// A `PATCH` with a JSON body.
    pub fn patch(operation: Operation, path: String, body: Value) -> Self {
        Self {
            operation,
            method: Method::PATCH,
            path,
            body: Some(body),
        }
    }
}

/// The successful answer to one request.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchAnswer {
    /// HTTP status (2xx).
    pub status: u16,
    /// The answer's `request-id`; inside a batch, the request's own if Graph gave one, else
    /// the batch's (which Microsoft support can trace as well).
    pub request_id: Option<String>,
    /// The JSON body, if any.
    pub body: Option<Value>,
}

/// The answer to one request, or why it failed (after retries).
pub type ItemResult = Result<BatchAnswer, GraphError>;

/// A batch answer: `{"responses": [...]}`.
#[derive(Deserialize, Debug)]
pub(super) struct Envelope {
    pub(super) responses: Vec<ItemResponse>,
}

/// One entry of `responses`.
#[derive(Deserialize, Debug)]
pub(super) struct ItemResponse {
    pub(super) id: String,
    status: u16,
    #[serde(default)]
    headers: Map<String, Value>,
    #[serde(default)]
    body: Option<Value>,
}

impl ItemResponse {
    /// A header, by case-insensitive name (Graph writes `Retry-After` but `x-ms-…`).
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
    }
}

/// What to do with an answered request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Success,
    /// 429: retry, and tell the pacer.
    Throttled,
    /// 5xx, or 424 (a dependency failed: cannot happen without `dependsOn`, but resending
    /// the request alone is the documented remedy).
    Transient,
    /// Any other status: final.
    Refused,
}

fn verdict(status: u16) -> Verdict {
    match status {
        200..=299 => Verdict::Success,
        429 => Verdict::Throttled,
        424 | 500..=599 => Verdict::Transient,
        _ => Verdict::Refused,
    }
}

/// What became of one request of a batch.
enum Settled {
    /// Answered, or refused for good.
    Done(ItemResult),
    /// To send again (throttled or transient), with the `Retry-After` it asked for.
    Again(GraphError, Option<Duration>),
}

/// How long to wait before resending: the longest `Retry-After` among the requests (capped
/// by the policy), or backoff for those without one.
fn retry_wait(retry_afters: &[Option<Duration>], policy: &RetryPolicy, attempt: u32) -> Duration {
    retry_afters
        .iter()
        .map(|ra| match ra {
            Some(d) => policy.retry_after(*d),
            None => policy.backoff(attempt.saturating_sub(1)),
        })
        .max()
        .unwrap_or_default()
}

/// The id of the request at `index` of a batch: its position, from 1.
fn item_id(index: usize) -> String {
    (index + 1).to_string()
}

/// The request as a `requests` entry.
fn wire(index: usize, r: &BatchRequest) -> Value {
    let mut item = json!({
        "id": item_id(index),
        "method": r.method.as_str(),
        "url": format!("/{}", r.path.trim_start_matches('/')),
    });
    if let Some(body) = &r.body {
        item["headers"] = json!({ "Content-Type": "application/json" });
        item["body"] = body.clone();
    }
    item
}

/// What one answered request of a batch came to: its answer when 2xx (its `request-id` its
/// own if well-formed, else the batch's), else its typed error ([`item_error`]).
pub(super) fn item_result(op: Operation, item: ItemResponse, batch_id: Option<&str>) -> ItemResult {
    if verdict(item.status) != Verdict::Success {
        return Err(item_error(op, &item, batch_id));
    }
    Ok(BatchAnswer {
        status: item.status,
        request_id: item
            .header("request-id")
            .filter(|r| is_request_id(r))
            .or_else(|| batch_id.map(str::to_string)),
        body: item.body,
    })
}

/// The typed error of a refused request. Its `request-id` is its own (header or error
/// envelope), else the batch's.
fn item_error(op: Operation, item: &ItemResponse, batch_id: Option<&str>) -> GraphError {
    let Ok(status) = StatusCode::from_u16(item.status) else {
        return GraphError::Decode {
            operation: op,
            detail: format!("batch answer with status {}", item.status),
        };
    };
    let body = item
        .body
        .as_ref()
        .and_then(|b| serde_json::to_vec(b).ok())
        .unwrap_or_default();
    let retry_after = item
        .header("retry-after")
        .and_then(|v| server_retry_after(&v));
    let mut e = api_error(
        op,
        status,
        item.header("request-id").filter(|r| is_request_id(r)),
        retry_after,
        item.header("content-type").as_deref(),
        Some(&body),
    );
    if let GraphError::Api {
        request_id: request_id @ None,
        ..
    } = &mut e
    {
        *request_id = batch_id.map(str::to_string);
    }
    e
}

impl GraphClient {
    /// Sends `requests` and answers each, in order: as JSON batches of up to [`MAX_BATCH`]
    /// while [`GraphClient::batching`] is on, else one HTTP request each; `in_flight` batches
    /// (or requests) at a time.
    pub async fn send_all(&self, requests: &[BatchRequest], in_flight: usize) -> Vec<ItemResult> {
        self.send_all_on(false, requests, in_flight).await
    }

    /// Sends `requests` as JSON batches (of up to [`MAX_BATCH`], one after another) whatever
    /// the batching setting, under `/v1.0`.
    pub async fn batch(&self, requests: &[BatchRequest]) -> Vec<ItemResult> {
        let mut out = Vec::with_capacity(requests.len());
        for chunk in requests.chunks(MAX_BATCH) {
            out.extend(self.run_batch(false, chunk).await);
        }
        out
    }

    /// [`GraphClient::send_all`] under `/beta` (when `beta`) or `/v1.0`.
    pub(super) async fn send_all_on(
        &self,
        beta: bool,
        requests: &[BatchRequest],
        in_flight: usize,
    ) -> Vec<ItemResult> {
        // Each future owns its requests and a client handle, so the stream is Send whatever
        // drives it; `buffered` keeps the order.
        let size = if self.batching() { MAX_BATCH } else { 1 };
        let groups: Vec<_> = requests
            .chunks(size)
            .map(|chunk| {
                let client = self.clone();
                let chunk = chunk.to_vec();
                async move {
                    match chunk.as_slice() {
                        [one] if size == 1 => vec![client.send_one(beta, one).await],
                        many => client.run_batch(beta, many).await,
                    }
                }
            })
            .collect();
        let answers: Vec<Vec<ItemResult>> = futures::stream::iter(groups)
            .buffered(in_flight.max(1))
            .collect()
            .await;
        answers.into_iter().flatten().collect()
    }

    /// One request, outside any batch.
    async fn send_one(&self, beta: bool, r: &BatchRequest) -> ItemResult {
        let url = if beta {
            self.beta_url(&r.path)?
        } else {
            self.url(&r.path)?
        };
        let answer = self
            .send(r.operation, r.method.clone(), url, r.body.as_ref(), false)
            .await?;
        let body = if answer.body.iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            Some(decode(r.operation, answer.body)?)
        };
        Ok(BatchAnswer {
            status: answer.status,
            request_id: answer.request_id,
            body,
        })
    }

    /// One batch of at most [`MAX_BATCH`] requests, with the retries of its requests. The
    /// pacer may release fewer at once than there are (no burst): the rest follow in further
    /// envelopes, as soon as they are paced.
    async fn run_batch(&self, beta: bool, requests: &[BatchRequest]) -> Vec<ItemResult> {
        let policy = self.retry_policy().clone();
        let mut out: Vec<Option<ItemResult>> = requests.iter().map(|_| None).collect();
        let mut tries: Vec<u32> = vec![0; requests.len()];
        let mut pending: Vec<usize> = (0..requests.len()).collect();
        // The retries of a batch's requests end within the client's deadline too.
        let ends = tokio::time::Instant::now().checked_add(self.limits().deadline);
        while !pending.is_empty() {
            let (sent, responses, batch_id, elapsed) =
                match self.post(beta, requests, &pending).await {
                    Ok(answer) => answer,
                    Err(e) => {
                        for &i in &pending {
                            out[i] = Some(Err(e.clone()));
                        }
                        break;
                    }
                };
            let (posted, rest) = pending.split_at(sent.min(pending.len()));
            let mut by_id: HashMap<String, ItemResponse> =
                responses.into_iter().map(|r| (r.id.clone(), r)).collect();
            let mut again = Vec::new();
            let mut waits = Vec::new();
            for &i in posted {
                tries[i] = tries[i].saturating_add(1);
                let op = requests[i].operation;
                let settled = match by_id.remove(&item_id(i)) {
                    Some(item) => self.settle(op, item, batch_id.as_deref(), elapsed),
                    None => Settled::Done(Err(GraphError::Decode {
                        operation: op,
                        detail: format!("the batch answer has no response for request {}", i + 1),
                    })),
                };
                out[i] = Some(match settled {
                    Settled::Done(result) => result,
                    Settled::Again(err, retry_after) => {
                        if tries[i] < policy.max_attempts {
                            again.push(i);
                            waits.push(retry_after);
                        }
                        Err(err)
                    }
                });
            }
            let mut next = rest.to_vec();
            if !again.is_empty() {
                let attempt = again.iter().map(|&i| tries[i]).max().unwrap_or(1);
                let wait = retry_wait(&waits, &policy, attempt);
                if ends.is_some_and(|e| {
                    wait >= e.saturating_duration_since(tokio::time::Instant::now())
                }) {
                    warn!(
                        requests = again.len(),
                        wait_ms = wait.as_millis() as u64,
                        "graph batch requests failed; the wait for a retry would pass the deadline, giving up"
                    );
                } else {
                    self.stats().retries.fetch_add(again.len() as u64, Relaxed);
                    warn!(
                        attempt,
                        requests = again.len(),
                        wait_ms = wait.as_millis() as u64,
                        "graph batch requests failed, sending them again"
                    );
                    tokio::time::sleep(wait).await;
                    again.append(&mut next);
                    next = again;
                }
            }
            pending = next;
        }
        out.into_iter()
            .zip(requests)
            .map(|(r, req)| {
                r.unwrap_or_else(|| {
                    Err(GraphError::Decode {
                        operation: req.operation,
                        detail: "no answer".into(),
                    })
                })
            })
            .collect()
    }

    /// The answer to one request of a batch, reported to the observer and the pacer.
    fn settle(
        &self,
        op: Operation,
        item: ItemResponse,
        batch_id: Option<&str>,
        elapsed: Duration,
    ) -> Settled {
        let quota = item
            .header("x-ms-throttle-limit-percentage")
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|q| q.is_finite());
        if let Some(o) = self.observer() {
            o.observe(op, Some(item.status), elapsed, quota);
        }
        if let Some(pacer) = self.pacer() {
            if let Some(q) = quota {
                pacer.usage(q);
            }
            if item.status != 429 {
                pacer.admitted(op.cost());
            }
        }
        let verdict = verdict(item.status);
        let err = match item_result(op, item, batch_id) {
            Ok(answer) => return Settled::Done(Ok(answer)),
            Err(err) => err,
        };
        let retry_after = match &err {
            GraphError::Api { retry_after, .. } => *retry_after,
            _ => None,
        };
        match verdict {
            Verdict::Throttled => {
                self.stats().throttled.fetch_add(1, Relaxed);
                if let Some(pacer) = self.pacer() {
                    // Settled as the envelope's answer arrives: it left `elapsed` ago.
                    let now = tokio::time::Instant::now();
                    pacer.throttled_since(
                        op.cost(),
                        retry_after.map(|d| self.retry_policy().retry_after(d)),
                        now.checked_sub(elapsed).unwrap_or(now),
                    );
                }
                Settled::Again(err, retry_after)
            }
            Verdict::Transient => Settled::Again(err, retry_after),
            Verdict::Success | Verdict::Refused => Settled::Done(Err(err)),
        }
    }

    /// Paces the `pending` requests one by one and posts those the pacer releases together
    /// (all of them when the client does not pace) as one batch; returns how many it posted
    /// (the first ones of `pending`) with the answer.
    async fn post(
        &self,
        beta: bool,
        requests: &[BatchRequest],
        pending: &[usize],
    ) -> Result<(usize, Vec<ItemResponse>, Option<String>, Duration), GraphError> {
        let sent = match self.pacer() {
            Some(pacer) => {
                let costs: Vec<_> = pending
                    .iter()
                    .map(|&i| requests[i].operation.cost())
                    .collect();
                pacer.acquire_many(&costs).await
            }
            None => pending.len(),
        };
        let pending = &pending[..sent.min(pending.len())];
        let items: Vec<Value> = pending.iter().map(|&i| wire(i, &requests[i])).collect();
        let body = json!({ "requests": items });
        let url = if beta {
            self.beta_url("$batch")?
        } else {
            self.url("$batch")?
        };
        let stats = self.stats();
        stats.batches.fetch_add(1, Relaxed);
        stats.batch_items.fetch_add(pending.len() as u64, Relaxed);
        let started = Instant::now();
        let answer = self
            .send(Operation::Batch, Method::POST, url, Some(&body), false)
            .await?;
        let envelope: Envelope = decode(Operation::Batch, answer.body)?;
        Ok((
            pending.len(),
            envelope.responses,
            answer.request_id,
            started.elapsed(),
        ))
    }
}

#[cfg(test)]
#[path = "batch_tests.rs"]
mod tests;
