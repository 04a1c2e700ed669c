//! The Graph client: one method per operation over a single request pipeline that adds the
//! token, retries 429 (honouring `Retry-After`), 5xx and connection failures with jittered
//! backoff, and turns Graph's error envelope into [`GraphError`]. The pipeline follows no
//! redirect, reads bounded bodies and ends each request within a deadline (`limits.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use tracing::warn;
use url::Url;

use super::auth::{Credential, TokenProvider};
use super::error::{GraphError, Operation};
use super::limits::Limits;
use super::models::{Collection, Group, Organization, User};
use super::pacing::{self, Pacer, PacingStats, Quota};
use super::retry::RetryPolicy;

pub use super::paging::{ListQuery, Page, Pager};
pub(super) use super::pipeline::{api_error, decode, is_request_id};

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

pub(super) struct Inner {
    pub(super) http: reqwest::Client,
    pub(super) base: Url,
    /// `{root}/beta/`: routes only beta serves.
    pub(super) beta: Url,
    /// `/v1.0` answered that it has no user Source of Authority route: use beta from now on.
    pub(super) user_soa_beta: AtomicBool,
    /// Bulk operations go out as JSON batches (see `batch.rs`).
    pub(super) batching: AtomicBool,
    /// Tenant seconds per real second (`f64` bits): see [`GraphClient::set_time_scale`].
    pub(super) time_scale: AtomicU64,
    pub(super) origin: String,
    pub(super) tokens: TokenProvider,
    pub(super) retry: RetryPolicy,
    pub(super) stats: ClientStats,
    pub(super) observer: Option<Arc<dyn RequestObserver>>,
    pub(super) pacer: Option<Arc<Pacer>>,
    pub(super) limits: Limits,
}

/// A Microsoft Graph client for one tenant and application. Cheap to clone.
#[derive(Clone)]
pub struct GraphClient {
    pub(super) inner: Arc<Inner>,
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
        let http = super::http::client(config.timeout, config.ca_bundle.as_deref())
            .map_err(|e| endpoint_err(&config.graph_root, e.to_string()))?;
        // One pacer per (Graph service, tenant, application) in the process: the quotas are
        // theirs, whichever resource sends.
        let pacer = config.pacing.map(|q| {
            pacing::shared(
                &base.origin().ascii_serialization(),
                &config.tenant_id,
                credential.client_id(),
                q,
            )
        });
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
                time_scale: AtomicU64::new(1.0_f64.to_bits()),
                tokens,
                retry: config.retry,
                stats: ClientStats::default(),
                observer: config.observer,
                pacer,
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
        self.inner.pacer.as_deref().map(Pacer::stats)
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
        self.inner.pacer.as_deref()
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
    /// Use `/beta` for user SOA requests from now on (v1.0 answered `v1` for a request beta
    /// then served).
    pub(super) fn switch_user_soa_to_beta(&self, v1: &GraphError) -> bool {
        if !self.inner.user_soa_beta.swap(true, Ordering::Relaxed) {
            warn!(v1_answer = %v1, "Graph v1.0 has no user onPremisesSyncBehavior route here; using beta for it");
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
}

/// Whether `e` is a Graph version saying it has no `onPremisesSyncBehavior` segment.
/// Whether `e`, the answer of `/v1.0` to a user SOA request, may mean v1.0 has no such route
/// (then `/beta` is asked): the documented 400 "Resource not found for the segment
/// 'onPremisesSyncBehavior'", the 405 a beta-only request answers inside a v1.0 batch, or a
/// 404 (a gateway's other answer to an unknown route, and also a user that is gone: beta then
/// answers 404 too, and v1.0 stays in use).
pub(super) fn may_lack_user_soa_route(e: &GraphError) -> bool {
    match e {
        GraphError::Api {
            status: 400,
            message,
            ..
        } => message.contains("segment 'onPremisesSyncBehavior'"),
        GraphError::Api {
            status: 404 | 405, ..
        } => true,
        _ => false,
    }
}

/// Whether the answer of `/beta` to a request v1.0 may have lacked the route shows that beta
/// serves it (anything but a 404).
pub(super) fn beta_serves_user_soa<T>(answer: &Result<T, GraphError>) -> bool {
    !matches!(answer, Err(GraphError::Api { status: 404, .. }))
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

    fn api(status: u16, message: &str) -> GraphError {
        GraphError::Api {
            operation: Operation::UpdateSyncBehavior,
            status,
            code: "x".into(),
            message: message.into(),
            request_id: None,
            retry_after: None,
        }
    }

    #[test]
    fn each_documented_answer_of_v1_without_the_route_tries_beta() {
        let segment = "Resource not found for the segment 'onPremisesSyncBehavior'.";
        assert!(may_lack_user_soa_route(&api(400, segment)));
        assert!(may_lack_user_soa_route(&api(
            405,
            "Specified HTTP method is not allowed"
        )));
        assert!(may_lack_user_soa_route(&api(404, "anything")));
        assert!(!may_lack_user_soa_route(&api(400, "Invalid value")));
        assert!(!may_lack_user_soa_route(&api(403, segment)));
        // Only beta's 404 says it does not serve the route either.
        assert!(!beta_serves_user_soa::<()>(&Err(api(404, "gone"))));
        assert!(beta_serves_user_soa::<()>(&Err(api(403, "denied"))));
        assert!(beta_serves_user_soa(&Ok(())));
    }

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
}
