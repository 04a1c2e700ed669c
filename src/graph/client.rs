//! The Graph client: one method per operation over a single request pipeline that adds the
//! token, retries 429 (honouring `Retry-After`), 5xx and connection failures with jittered
//! backoff, and turns Graph's error envelope into [`GraphError`]. The pipeline follows no
//! redirect, reads bounded bodies and ends each request within a deadline (`limits.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::json;
use tracing::{Instrument, debug, info_span, warn};
use url::Url;

use super::auth::{Credential, TokenProvider};
use super::error::{GraphError, Operation};
use super::limits::{
    BodyError, Limits, MAX_ERROR_BODY, bounded, json_problem, media_type, read_capped,
};
use super::models::{Collection, ErrorEnvelope, Group, Organization, User};
use super::pacing::{Pacer, PacingStats, Quota};
use super::retry::{RetryPolicy, server_retry_after};

pub use super::paging::{ListQuery, Page, Pager};

/// Told about every request as it completes, for metrics: the operation, the HTTP status
/// (`None` when no answer came), how long it took, and Graph's
/// `x-ms-throttle-limit-percentage` when present (1.0 = at the quota).
pub trait RequestObserver: Send + Sync {
    /// One request completed.
    fn observe(
        &self,
        operation: Operation,
        status: Option<u16>,
        elapsed: Duration,
        quota_used: Option<f64>,
    );
}

/// Where and how to reach Graph for one tenant.
#[derive(Clone)]
pub struct GraphConfig {
    /// Graph root without version, e.g. `https://graph.microsoft.com`.
    pub graph_root: String,
    /// Token authority, e.g. `https://login.microsoftonline.com`.
    pub login_root: String,
    /// Token scope: the cloud's Graph root + `/.default` (not the override: the emulator
    /// expects the real cloud's scope, as Entra does).
    pub scope: String,
    /// Tenant id.
    pub tenant_id: String,
    /// Retry bounds.
    pub retry: RetryPolicy,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Told about every request (metrics).
    pub observer: Option<Arc<dyn RequestObserver>>,
    /// Pace requests to this quota (see `pacing.rs`); `None`: send at once, retry on 429.
    pub pacing: Option<Quota>,
    /// PEM certificates trusted besides the platform's roots, for Graph and the token
    /// endpoint alike: e.g. the CA of `entra-cloud-operator emulator --tls`, or a corporate
    /// TLS-inspecting proxy's.
    pub ca_bundle: Option<String>,
}

impl std::fmt::Debug for GraphConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphConfig")
            .field("graph_root", &self.graph_root)
            .field("login_root", &self.login_root)
            .field("scope", &self.scope)
            .field("tenant_id", &self.tenant_id)
            .field("retry", &self.retry)
            .field("timeout", &self.timeout)
            .field("observer", &self.observer.is_some())
            .field("pacing", &self.pacing)
            .field("ca_bundle", &self.ca_bundle.is_some())
            .finish()
    }
}

/// Counters of what the client did, for progress lines, tests and benchmarks.
#[derive(Debug, Default)]
pub struct ClientStats {
    /// HTTP requests sent to Graph (retries included).
    pub requests: AtomicU64,
    /// Answers with status 429 (requests inside batches included).
    pub throttled: AtomicU64,
    /// Requests sent again after a failure (each request of a batch counts on its own).
    pub retries: AtomicU64,
    /// `POST /$batch` envelopes sent (each also counts in `requests`).
    pub batches: AtomicU64,
    /// Requests sent inside batches (retried ones again).
    pub batch_items: AtomicU64,
}

/// What Graph told us about an accepted write, for the journal.
#[derive(Clone, Debug, Default)]
pub struct WriteReceipt {
    /// The `request-id` of the accepted answer.
    pub request_id: Option<String>,
}

struct Inner {
    http: reqwest::Client,
    base: Url,
    /// `{root}/beta/`: routes only beta serves.
    beta: Url,
    /// `/v1.0` answered that it has no user Source of Authority route: use beta from now on.
    user_soa_beta: AtomicBool,
    /// Bulk operations go out as JSON batches (see `batch.rs`).
    batching: AtomicBool,
    origin: String,
    tokens: TokenProvider,
    retry: RetryPolicy,
    stats: ClientStats,
    observer: Option<Arc<dyn RequestObserver>>,
    pacer: Option<Pacer>,
    limits: Limits,
}

/// A Microsoft Graph client for one tenant and application. Cheap to clone.
#[derive(Clone)]
pub struct GraphClient {
    inner: Arc<Inner>,
}

pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) request_id: Option<String>,
    pub(super) body: Vec<u8>,
}

/// Builds a [`GraphClient`] with options beyond [`GraphConfig`] (see
/// [`GraphClient::builder`]).
pub struct GraphClientBuilder {
    config: GraphConfig,
    credential: Credential,
    limits: Limits,
}

impl GraphClientBuilder {
    /// Bounds on what a server can make the client do (default: [`Limits::default`]).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The client.
    pub fn build(self) -> Result<GraphClient, GraphError> {
        GraphClient::build(self.config, self.credential, self.limits)
    }
}

impl GraphClient {
    /// A client for `config` authenticating with `credential`, with the default
    /// [`Limits`].
    pub fn new(config: GraphConfig, credential: Credential) -> Result<Self, GraphError> {
        Self::builder(config, credential).build()
    }

    /// A builder, for options with defaults ([`GraphClientBuilder::limits`]).
    pub fn builder(config: GraphConfig, credential: Credential) -> GraphClientBuilder {
        GraphClientBuilder {
            config,
            credential,
            limits: Limits::default(),
        }
    }

    fn build(
        config: GraphConfig,
        credential: Credential,
        limits: Limits,
    ) -> Result<Self, GraphError> {
        let endpoint_err = |url: &str, detail: String| GraphError::Endpoint {
            url: url.to_string(),
            detail,
        };
        let root = Url::parse(config.graph_root.trim_end_matches('/'))
            .map_err(|e| endpoint_err(&config.graph_root, e.to_string()))?;
        if !matches!(root.scheme(), "https" | "http") || root.host_str().is_none() {
            return Err(endpoint_err(
                &config.graph_root,
                "expected an http(s) URL with a host".into(),
            ));
        }
        let base = Url::parse(&format!("{}/v1.0/", root.as_str().trim_end_matches('/')))
            .map_err(|e| endpoint_err(&config.graph_root, e.to_string()))?;
        let beta = Url::parse(&format!("{}/beta/", root.as_str().trim_end_matches('/')))
            .map_err(|e| endpoint_err(&config.graph_root, e.to_string()))?;
        let login = Url::parse(&config.login_root)
            .map_err(|e| endpoint_err(&config.login_root, e.to_string()))?;
        let mut builder = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(Duration::from_secs(10))
            // Token requests carry the credential and Graph requests the bearer token: a
            // redirect is an answer to report, never a request to repeat elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("entra-cloud-operator/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &config.ca_bundle {
            let roots = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
                .map_err(|e| endpoint_err(&config.graph_root, format!("ca bundle: {e}")))?;
            if roots.is_empty() {
                return Err(endpoint_err(
                    &config.graph_root,
                    "ca bundle: no PEM certificate in it".into(),
                ));
            }
            builder = builder.tls_certs_merge(roots);
        }
        let http = builder
            .build()
            .map_err(|e| endpoint_err(&config.graph_root, e.to_string()))?;
        let tokens = TokenProvider::new(
            http.clone(),
            &login,
            &config.tenant_id,
            config.scope.clone(),
            credential,
            config.retry.clone(),
        )
        .map_err(|e| endpoint_err(&config.login_root, e.to_string()))?
        .with_limits(&limits);
        Ok(GraphClient {
            inner: Arc::new(Inner {
                origin: base.origin().ascii_serialization(),
                http,
                base,
                beta,
                user_soa_beta: AtomicBool::new(false),
                batching: AtomicBool::new(true),
                tokens,
                retry: config.retry,
                stats: ClientStats::default(),
                observer: config.observer,
                pacer: config.pacing.map(Pacer::new),
                limits,
            }),
        })
    }

    /// What the client has done so far.
    pub fn stats(&self) -> &ClientStats {
        &self.inner.stats
    }

    /// What pacing has done so far (`None` when the client does not pace).
    pub fn pacing(&self) -> Option<PacingStats> {
        self.inner.pacer.as_ref().map(Pacer::stats)
    }

    /// Whether bulk operations (switching, verifying and clearing many users) go out as JSON
    /// batches of up to 20 requests (`true`, the default), or one HTTP request per object
    /// (`false`: the one-at-a-time way, kept for comparison and for proxies that refuse
    /// `$batch`). Applies to every clone of this client, from the next bulk call on.
    pub fn set_batching(&self, enabled: bool) {
        self.inner.batching.store(enabled, Ordering::Relaxed);
    }

    /// Whether bulk operations go out as JSON batches (see [`GraphClient::set_batching`]).
    pub fn batching(&self) -> bool {
        self.inner.batching.load(Ordering::Relaxed)
    }

    /// The pacer, when the client paces.
    pub(super) fn pacer(&self) -> Option<&Pacer> {
        self.inner.pacer.as_ref()
    }

    /// Bounds on what a server can make the client do.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// Graph's origin (scheme, host, port): the only one requests go to.
    pub(super) fn origin(&self) -> &str {
        &self.inner.origin
    }

    /// Retry bounds.
    pub(super) fn retry_policy(&self) -> &RetryPolicy {
        &self.inner.retry
    }

    /// Told about every request.
    pub(super) fn observer(&self) -> Option<&dyn RequestObserver> {
        self.inner.observer.as_deref()
    }

    /// `GET /organization`: the tenant.
    pub async fn organization(&self) -> Result<Organization, GraphError> {
        let op = Operation::GetOrganization;
        let mut url = self.url("organization")?;
        url.query_pairs_mut().append_pair(
            "$select",
            "id,displayName,onPremisesSyncEnabled,onPremisesLastSyncDateTime,verifiedDomains",
        );
        let resp = self.send(op, Method::GET, url, None, false).await?;
        let page: Collection<Organization> = decode(op, resp.body)?;
        page.value
            .into_iter()
            .next()
            .ok_or_else(|| GraphError::Decode {
                operation: op,
                detail: "the organization collection is empty".into(),
            })
    }

    /// `PATCH /organization/{id}` with `onPremisesSyncEnabled`.
    pub async fn set_directory_sync(
        &self,
        organization_id: &str,
        enabled: bool,
    ) -> Result<WriteReceipt, GraphError> {
        let path = format!("organization/{}", path_segment(organization_id));
        let body = json!({ "onPremisesSyncEnabled": enabled });
        self.patch(Operation::UpdateOrganization, &path, &body)
            .await
    }

    /// `PATCH /users/{id}` with `onPremisesImmutableId: null`.
    pub async fn clear_immutable_id(&self, user_id: &str) -> Result<WriteReceipt, GraphError> {
        let path = format!("users/{}", path_segment(user_id));
        let body = json!({ "onPremisesImmutableId": null });
        self.patch(Operation::UpdateUser, &path, &body).await
    }

    pub(super) async fn patch(
        &self,
        op: Operation,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<WriteReceipt, GraphError> {
        self.patch_url(op, self.url(path)?, body).await
    }

    pub(super) async fn patch_url(
        &self,
        op: Operation,
        url: Url,
        body: &serde_json::Value,
    ) -> Result<WriteReceipt, GraphError> {
        let resp = self.send(op, Method::PATCH, url, Some(body), false).await?;
        Ok(WriteReceipt {
            request_id: resp.request_id,
        })
    }

    /// `GET /users`, page by page.
    pub fn users(&self, query: &ListQuery) -> Result<Pager<User>, GraphError> {
        self.pager(Operation::ListUsers, "users", query)
    }

    /// `GET /groups`, page by page.
    pub fn groups(&self, query: &ListQuery) -> Result<Pager<Group>, GraphError> {
        self.pager(Operation::ListGroups, "groups", query)
    }

    /// `path` under `/beta`.
    pub(super) fn beta_url(&self, path: &str) -> Result<Url, GraphError> {
        self.inner
            .beta
            .join(path)
            .map_err(|e| GraphError::Endpoint {
                url: format!("{}{path}", self.inner.beta),
                detail: e.to_string(),
            })
    }

    /// Whether user SOA calls go to `/beta` (after `/v1.0` said it has no such route).
    pub(super) fn user_soa_on_beta(&self) -> bool {
        self.inner.user_soa_beta.load(Ordering::Relaxed)
    }

    /// True, once, when `e` is `/v1.0` saying it has no `onPremisesSyncBehavior` segment for
    /// users (Microsoft documents the route on v1.0 in its how-to but on beta in its
    /// reference): from then on this client sends user SOA calls to `/beta`.
    pub(super) fn switch_user_soa_to_beta(&self, e: &GraphError) -> bool {
        if is_missing_user_soa_route(e) && !self.inner.user_soa_beta.swap(true, Ordering::Relaxed) {
            warn!("Graph v1.0 has no user onPremisesSyncBehavior route here; using beta for it");
            return true;
        }
        false
    }

    pub(super) fn url(&self, path: &str) -> Result<Url, GraphError> {
        self.inner
            .base
            .join(path)
            .map_err(|e| GraphError::Endpoint {
                url: format!("{}{path}", self.inner.base),
                detail: e.to_string(),
            })
    }

    /// The request pipeline, within the deadline ([`Limits::deadline`]): the retry loop
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
            if let (Some(pacer), Some(q)) = (&inner.pacer, quota) {
                pacer.usage(q);
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
                    pacer.throttled(retry_after.map(|d| inner.retry.retry_after(d)));
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

/// Whether `e` is a Graph version saying it has no `onPremisesSyncBehavior` segment.
pub(super) fn is_missing_user_soa_route(e: &GraphError) -> bool {
    matches!(e, GraphError::Api { status: 400, message, .. }
        if message.contains("segment 'onPremisesSyncBehavior'"))
}

fn header(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// reqwest's message, with the cause chain (connection refused, reset, timeout) that its
/// top-level Display leaves out.
pub(crate) fn describe(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
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

/// Object ids are GUIDs, but a UPN may also address a user; escape so neither can change
/// the path.
pub(super) fn path_segment(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// A random GUID for `client-request-id`, so a request can be traced on both sides.
pub fn new_request_id() -> String {
    crate::guid::random()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_guids() {
        let id = new_request_id();
        assert!(crate::api::common::is_uuid(&id), "{id}");
    }

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(path_segment("a/b c"), "a%2Fb%20c");
        assert_eq!(path_segment("3f9a1c2e-5b7d"), "3f9a1c2e-5b7d");
    }

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
