//! State shared by the HTTP handlers and the test handle: the store, change notifications,
//! the request log and injected failures.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;

use super::error::ApiError;
use super::resource::ResourcePath;
use super::store::Store;

/// Tunables of a [`super::FakeApiServer`].
#[derive(Debug, Clone)]
pub struct Options {
    /// How often a watch that allows bookmarks gets a BOOKMARK event.
    pub bookmark_interval: Duration,
    /// Watch events kept; a watch from an older resourceVersion gets 410 Expired.
    pub event_log_capacity: usize,
    /// Upper bound on a watch's `timeoutSeconds` (and the duration of watches without one).
    pub max_watch_timeout: Duration,
    /// Whether every request is kept ([`super::FakeApiServer::requests`]). Off for long runs
    /// (benchmarks), where the log would hold every body written; the bytes served by path
    /// ([`super::FakeApiServer::served`]) are counted either way.
    pub keep_requests: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            bookmark_interval: Duration::from_secs(2),
            event_log_capacity: 10_000,
            max_watch_timeout: Duration::from_secs(300),
            keep_requests: true,
        }
    }
}

/// One request as the server received it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// HTTP method, upper case.
    pub method: String,
    /// URL path.
    pub path: String,
    /// Raw query string (without `?`), empty when none.
    pub query: String,
    /// `Content-Type` header, when sent.
    pub content_type: Option<String>,
    /// Body parsed as JSON (or YAML for apply patches), when there was one.
    pub body: Option<Value>,
    /// HTTP status of the answer (200 for a watch that started).
    pub status: u16,
}

impl RecordedRequest {
    /// A decoded query parameter.
    pub fn query_param(&self, key: &str) -> Option<String> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    }

    /// The resource the request addressed; `None` for discovery and other paths.
    pub fn resource(&self) -> Option<ResourcePath> {
        ResourcePath::parse(&self.path)
    }

    /// The RBAC verb: get, list, watch, create, update, patch, delete or deletecollection
    /// (`None` for non-resource requests).
    pub fn verb(&self) -> Option<&'static str> {
        let rp = self.resource()?;
        let named = rp.name.is_some();
        Some(match (self.method.as_str(), named) {
            ("GET", true) => "get",
            ("GET", false) if self.query_param("watch").as_deref() == Some("true") => "watch",
            ("GET", false) => "list",
            ("POST", _) => "create",
            ("PUT", _) => "update",
            ("PATCH", _) => "patch",
            ("DELETE", true) => "delete",
            ("DELETE", false) => "deletecollection",
            _ => return None,
        })
    }
}

/// What the server answered on one URL path: requests and bytes of response bodies (a watch's
/// events counted as they go out).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Served {
    /// Requests answered.
    pub requests: u64,
    /// Bytes of their response bodies.
    pub bytes: u64,
}

/// A failure to answer instead of serving matching requests.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub method: String,
    pub path_contains: String,
    pub code: u16,
    pub remaining: usize,
}

pub(crate) struct Shared {
    pub store: Mutex<Store>,
    /// The store's resourceVersion after each change.
    pub changes: watch::Sender<u64>,
    /// `true` once the server shuts down: watches end.
    pub shutdown: watch::Sender<bool>,
    /// Bumped to end every open watch (the client reconnects).
    pub close_epoch: watch::Sender<u64>,
    pub requests: Mutex<Vec<RecordedRequest>>,
    /// Number of requests recorded so far.
    pub request_count: watch::Sender<usize>,
    pub failures: Mutex<Vec<Failure>>,
    /// Requests and response bytes by URL path.
    pub served: Mutex<std::collections::BTreeMap<String, Served>>,
    pub options: Options,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub fn new(options: Options) -> Self {
        Self {
            store: Mutex::new(Store::new(options.event_log_capacity)),
            changes: watch::Sender::new(0),
            shutdown: watch::Sender::new(false),
            close_epoch: watch::Sender::new(0),
            requests: Mutex::new(Vec::new()),
            request_count: watch::Sender::new(0),
            failures: Mutex::new(Vec::new()),
            served: Mutex::new(std::collections::BTreeMap::new()),
            options,
        }
    }

    pub fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }

    /// Runs `f` on the store, then wakes watchers if the resourceVersion moved.
    pub fn mutate<T>(&self, f: impl FnOnce(&mut Store) -> T) -> T {
        let (out, rv) = {
            let mut store = self.store();
            let out = f(&mut store);
            (out, store.rv)
        };
        self.changes.send_if_modified(|current| {
            let moved = *current != rv;
            *current = rv;
            moved
        });
        out
    }

    pub fn record(&self, request: RecordedRequest) {
        if !self.options.keep_requests {
            return;
        }
        let count = {
            let mut requests = lock(&self.requests);
            requests.push(request);
            requests.len()
        };
        self.request_count.send_replace(count);
    }

    /// Counts `bytes` of a response on `path`; `request` when they start a new answer.
    pub fn count_served(&self, path: &str, request: bool, bytes: u64) {
        let mut served = lock(&self.served);
        let s = served.entry(path.to_string()).or_default();
        s.requests += u64::from(request);
        s.bytes += bytes;
    }

    pub fn served(&self) -> MutexGuard<'_, std::collections::BTreeMap<String, Served>> {
        lock(&self.served)
    }

    pub fn requests(&self) -> MutexGuard<'_, Vec<RecordedRequest>> {
        lock(&self.requests)
    }

    pub fn add_failure(&self, failure: Failure) {
        lock(&self.failures).push(failure);
    }

    /// The injected failure for this request, if one matches (and counts it down).
    pub fn take_failure(&self, method: &str, path: &str) -> Option<ApiError> {
        let mut failures = lock(&self.failures);
        let pos = failures.iter().position(|f| {
            f.remaining > 0
                && (f.method.is_empty() || f.method.eq_ignore_ascii_case(method))
                && path.contains(&f.path_contains)
        })?;
        let failure = &mut failures[pos];
        failure.remaining -= 1;
        let err = ApiError::new(failure.code, format!("injected failure {}", failure.code));
        failures.retain(|f| f.remaining > 0);
        Some(err)
    }
}
