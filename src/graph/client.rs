//! The Graph client: one method per operation over a single request pipeline that adds the
//! token, retries 429 (honouring `Retry-After`), 5xx and connection failures with jittered
//! backoff, and turns Graph's error envelope into [`GraphError`].

use std::marker::PhantomData;
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
use super::models::{Collection, ErrorEnvelope, Group, Organization, User};
use super::pacing::{Pacer, PacingStats, Quota};
use super::retry::{RetryPolicy, parse_retry_after};

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
}

/// A Microsoft Graph client for one tenant and application. Cheap to clone.
#[derive(Clone)]
pub struct GraphClient {
    inner: Arc<Inner>,
}

/// Options of a collection read.
#[derive(Clone, Debug, Default)]
pub struct ListQuery {
    /// `$select`.
    pub select: Vec<String>,
    /// `$filter`.
    pub filter: Option<String>,
    /// `$top` (1..=999); 999 keeps reads at one resource unit per page.
    pub top: Option<u32>,
    /// `$count=true` with `ConsistencyLevel: eventual` ("advanced query").
    pub advanced: bool,
}

/// One page of a collection.
#[derive(Debug)]
pub struct Page<T> {
    /// The objects.
    pub items: Vec<T>,
    /// `@odata.count` (first page of an advanced query).
    pub count: Option<u64>,
}

/// Follows `@odata.nextLink` page by page, so memory stays bounded by one page.
pub struct Pager<T> {
    client: GraphClient,
    operation: Operation,
    next: Option<Url>,
    advanced: bool,
    _t: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> Pager<T> {
    /// The next page, or `None` when the collection is exhausted.
    pub async fn next_page(&mut self) -> Result<Option<Page<T>>, GraphError> {
        let Some(url) = self.next.take() else {
            return Ok(None);
        };
        let resp = self
            .client
            .send(self.operation, Method::GET, url, None, self.advanced)
            .await?;
        let page: Collection<T> = decode(self.operation, resp.body)?;
        if let Some(link) = page.next_link {
            self.next = Some(self.client.same_origin(self.operation, &link)?);
        }
        Ok(Some(Page {
            items: page.value,
            count: page.count,
        }))
    }
}

pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) request_id: Option<String>,
    pub(super) body: Vec<u8>,
}

impl GraphClient {
    /// A client for `config` authenticating with `credential`.
    pub fn new(config: GraphConfig, credential: Credential) -> Result<Self, GraphError> {
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
        .map_err(|e| endpoint_err(&config.login_root, e.to_string()))?;
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

    pub(super) fn pager<T>(
        &self,
        op: Operation,
        path: &str,
        q: &ListQuery,
    ) -> Result<Pager<T>, GraphError> {
        let mut url = self.url(path)?;
        {
            let mut pairs = url.query_pairs_mut();
            if !q.select.is_empty() {
                pairs.append_pair("$select", &q.select.join(","));
            }
            if let Some(f) = &q.filter {
                pairs.append_pair("$filter", f);
            }
            if let Some(top) = q.top {
                pairs.append_pair("$top", &top.clamp(1, 999).to_string());
            }
            if q.advanced {
                pairs.append_pair("$count", "true");
            }
        }
        Ok(Pager {
            client: self.clone(),
            operation: op,
            next: Some(url),
            advanced: q.advanced,
            _t: PhantomData,
        })
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

    /// A nextLink must stay on Graph's origin: the bearer token goes with it.
    pub(super) fn same_origin(&self, op: Operation, link: &str) -> Result<Url, GraphError> {
        let url = Url::parse(link).map_err(|e| GraphError::Decode {
            operation: op,
            detail: format!("unparsable nextLink: {e}"),
        })?;
        let origin = url.origin().ascii_serialization();
        if origin != self.inner.origin {
            return Err(GraphError::ForeignLink {
                operation: op,
                link: origin,
            });
        }
        Ok(url)
    }

    /// The request pipeline.
    pub(super) async fn send(
        &self,
        op: Operation,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
        advanced: bool,
    ) -> Result<Answer, GraphError> {
        let span = info_span!("graph", op = op.name(), method = %method);
        self.send_inner(op, method, url, body, advanced)
            .instrument(span)
            .await
    }

    async fn send_inner(
        &self,
        op: Operation,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
        advanced: bool,
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
            let outcome = match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let quota = header(&resp, "x-ms-throttle-limit-percentage")
                        .and_then(|v| v.trim().parse::<f64>().ok());
                    if let Some(o) = &inner.observer {
                        o.observe(op, Some(status.as_u16()), started.elapsed(), quota);
                    }
                    if let (Some(pacer), Some(q)) = (&inner.pacer, quota) {
                        pacer.usage(q);
                    }
                    let request_id = header(&resp, "request-id");
                    let retry_after = resp
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(parse_retry_after);
                    match resp.bytes().await {
                        Ok(bytes) => Ok((status, request_id, retry_after, bytes.to_vec())),
                        Err(e) => Err(e.without_url().to_string()),
                    }
                }
                Err(e) => {
                    if let Some(o) = &inner.observer {
                        o.observe(op, None, started.elapsed(), None);
                    }
                    Err(describe(&e))
                }
            };
            let elapsed_ms = started.elapsed().as_millis() as u64;
            let (wait, failure) = match outcome {
                Ok((status, request_id, retry_after, body)) => {
                    debug!(
                        status = status.as_u16(),
                        elapsed_ms,
                        request_id = request_id.as_deref().unwrap_or(""),
                        "graph answered"
                    );
                    if status.is_success() {
                        return Ok(Answer {
                            status: status.as_u16(),
                            request_id,
                            body,
                        });
                    }
                    let err = api_error(op, status, request_id, retry_after, &body);
                    if status == StatusCode::UNAUTHORIZED && !reauthenticated {
                        // The token may have been revoked or expired early: fetch a new one once.
                        reauthenticated = true;
                        inner.tokens.invalidate().await;
                        continue;
                    }
                    if status == StatusCode::TOO_MANY_REQUESTS {
                        inner.stats.throttled.fetch_add(1, Ordering::Relaxed);
                        if let Some(pacer) = &inner.pacer {
                            pacer.throttled(retry_after.map(|d| inner.retry.retry_after(d)));
                        }
                        let wait = retry_after
                            .map(|d| inner.retry.retry_after(d))
                            .unwrap_or_else(|| inner.retry.backoff(attempt - 1));
                        (wait, err)
                    } else if status.is_server_error() {
                        let wait = retry_after
                            .map(|d| inner.retry.retry_after(d))
                            .unwrap_or_else(|| inner.retry.backoff(attempt - 1));
                        (wait, err)
                    } else {
                        return Err(err);
                    }
                }
                Err(detail) => (
                    inner.retry.backoff(attempt - 1),
                    GraphError::Transport {
                        operation: op,
                        detail,
                    },
                ),
            };
            if attempt >= inner.retry.max_attempts {
                return Err(failure);
            }
            inner.stats.retries.fetch_add(1, Ordering::Relaxed);
            warn!(attempt, wait_ms = wait.as_millis() as u64, error = %failure, "graph request failed, retrying");
            tokio::time::sleep(wait).await;
        }
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

pub(super) fn api_error(
    op: Operation,
    status: StatusCode,
    request_id: Option<String>,
    retry_after: Option<Duration>,
    body: &[u8],
) -> GraphError {
    let (code, message, inner_id) = match serde_json::from_slice::<ErrorEnvelope>(body) {
        Ok(env) => (
            env.error.code,
            env.error.message,
            env.error.inner_error.and_then(|i| i.request_id),
        ),
        Err(_) => (
            status
                .canonical_reason()
                .unwrap_or("Unknown")
                .replace(' ', ""),
            String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
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

pub(super) fn decode<T: DeserializeOwned>(op: Operation, body: Vec<u8>) -> Result<T, GraphError> {
    serde_json::from_slice(&body).map_err(|e| GraphError::Decode {
        operation: op,
        detail: e.to_string(),
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
    fn non_json_error_bodies_still_give_an_error() {
        let e = api_error(
            Operation::ListUsers,
            StatusCode::BAD_GATEWAY,
            None,
            None,
            b"<html>",
        );
        assert!(matches!(e, GraphError::Api { status: 502, ref code, .. } if code == "BadGateway"));
    }
}
