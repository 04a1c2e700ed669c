//! A stateful stand-in for the Kubernetes API server, served over HTTP on 127.0.0.1, so that
//! kube's `Api`, kube-runtime's watcher/reflector/`Controller`, the events `Recorder` and
//! kube-lease-manager run against it unchanged.
//!
//! Objects are `serde_json::Value`s of any resource (`/api/v1/...` or `/apis/{group}/{version}/...`,
//! namespaced or not). The server owns uid, creationTimestamp, resourceVersion (one global
//! counter), generation (custom resources and a few built-ins: bumped when anything outside
//! metadata and status changes), deletionTimestamp (DELETE of an object with finalizers) and
//! managedFields. A ConfigMap or Secret over 1 MiB of data is refused (422), as the real server
//! refuses it. Custom resources behave as if their CRD declared a status subresource: writes
//! to the main resource keep the stored status, writes to `/status` change only the status.
//!
//! Not modelled: admission, validation against schemas, RBAC, namespace existence, garbage
//! collection of owned objects, `limit`/`continue` paging (one page holds everything),
//! strategic-merge list semantics (treated as a merge patch; refused with 415 on custom
//! resources, as the real server does), resource version conversion between API versions.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod delete;
mod error;
mod http;
mod patch;
mod resource;
mod select;
mod shared;
mod ssa;
mod store;
mod watch;
mod write;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use resource::ResourcePath;
pub use shared::{Options, RecordedRequest, Served};

use resource::{ResKey, meta_str, split_api_version};
use shared::{Failure, Shared};
use store::WriteOpts;

/// A running fake API server. Dropping it stops the server; [`FakeApiServer::shutdown`] stops it
/// gracefully (open watches end first).
pub struct FakeApiServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

/// `plural` or `plural.group`.
fn split_plural(plural: &str) -> (&str, Option<&str>) {
    match plural.split_once('.') {
        Some((plural, group)) => (plural, Some(group)),
        None => (plural, None),
    }
}

impl FakeApiServer {
    /// Starts a server with default [`Options`] on an ephemeral port of 127.0.0.1.
    pub async fn start() -> Self {
        Self::start_with(Options::default()).await
    }

    /// Starts a server with the given options.
    pub async fn start_with(options: Options) -> Self {
        let shared = Arc::new(Shared::new(options));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("local address of the listener");
        let app = axum::Router::new()
            .fallback(http::handle)
            .with_state(Arc::clone(&shared));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let graceful = async move {
                let _ = stopped.await;
            };
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(graceful)
                .await;
        });
        Self {
            shared,
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kube client for this server, default namespace `default`.
    pub fn client(&self) -> kube::Client {
        let config = kube::Config::new(self.url().parse().expect("server URL"));
        kube::Client::try_from(config).expect("kube client for the fake API server")
    }

    /// The current (last handed out) resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.shared.store().rv
    }

    /// Every object of `plural` (or `plural.group`), any namespace, by namespace and name.
    pub fn objects(&self, plural: &str) -> Vec<Value> {
        let (plural, group) = split_plural(plural);
        self.shared.store().by_plural(plural, group)
    }

    /// One object; `namespace` is empty for cluster-scoped objects.
    pub fn get(&self, plural: &str, namespace: &str, name: &str) -> Option<Value> {
        let (plural, group) = split_plural(plural);
        let store = self.shared.store();
        store
            .resources()
            .into_iter()
            .filter(|k| k.plural == plural && group.is_none_or(|g| g == k.group))
            .find_map(|k| store.lookup(&k, namespace, name).map(|s| s.obj.clone()))
    }

    /// Stores an object directly (status included, no admission), as if a test had seeded etcd.
    /// The group comes from `apiVersion`, the namespace from `metadata.namespace`. Watchers see
    /// ADDED or MODIFIED. Returns the stored object.
    pub fn put_object(&self, plural: &str, object: Value) -> Value {
        let api_version = object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("v1");
        let key = ResKey {
            group: split_api_version(api_version).0,
            plural: plural.to_string(),
        };
        self.shared.mutate(|s| s.put_object(&key, object))
    }

    /// Deletes as a DELETE request would (an object with finalizers only gets a
    /// deletionTimestamp). Returns the answer, `None` when there was no such object.
    pub fn delete_object(&self, plural: &str, namespace: &str, name: &str) -> Option<Value> {
        let obj = self.get(plural, namespace, name)?;
        let api_version = obj
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("v1");
        let (group, version) = split_api_version(api_version);
        let rp = ResourcePath {
            group,
            version,
            plural: split_plural(plural).0.to_string(),
            namespace: (!namespace.is_empty()).then(|| namespace.to_string()),
            name: Some(name.to_string()),
            subresource: None,
        };
        self.shared
            .mutate(|s| s.delete(&rp, name, None, &WriteOpts::default()))
            .ok()
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests().clone()
    }

    /// Requests answered and bytes of response bodies, by URL path, since the start (or the
    /// last [`FakeApiServer::reset_served`]).
    pub fn served(&self) -> std::collections::BTreeMap<String, Served> {
        self.shared.served().clone()
    }

    /// Bytes of response bodies served on paths that contain `path_contains` (all: `""`).
    pub fn bytes_served(&self, path_contains: &str) -> u64 {
        self.shared
            .served()
            .iter()
            .filter(|(p, _)| p.contains(path_contains))
            .map(|(_, s)| s.bytes)
            .sum()
    }

    /// Starts counting served bytes and requests from zero.
    pub fn reset_served(&self) {
        self.shared.served().clear();
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.shared.requests().clear();
    }

    /// Waits until the object exists and satisfies `predicate`, or `timeout` passes. Woken by
    /// every change to the store; no polling interval.
    pub async fn wait_for(
        &self,
        plural: &str,
        namespace: &str,
        name: &str,
        predicate: impl Fn(&Value) -> bool,
        timeout: Duration,
    ) -> Option<Value> {
        let mut changes = self.shared.changes.subscribe();
        let deadline = Instant::now() + timeout;
        loop {
            changes.borrow_and_update();
            if let Some(obj) = self.get(plural, namespace, name)
                && predicate(&obj)
            {
                return Some(obj);
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                _ => return None,
            }
        }
    }

    /// Waits until the object is gone; `false` if it is still there after `timeout`.
    pub async fn wait_for_absent(
        &self,
        plural: &str,
        namespace: &str,
        name: &str,
        timeout: Duration,
    ) -> bool {
        let mut changes = self.shared.changes.subscribe();
        let deadline = Instant::now() + timeout;
        loop {
            changes.borrow_and_update();
            if self.get(plural, namespace, name).is_none() {
                return true;
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                _ => return false,
            }
        }
    }

    /// Waits for a request (already recorded or arriving within `timeout`) that satisfies
    /// `predicate`.
    pub async fn wait_for_request(
        &self,
        predicate: impl Fn(&RecordedRequest) -> bool,
        timeout: Duration,
    ) -> Option<RecordedRequest> {
        let mut count = self.shared.request_count.subscribe();
        let deadline = Instant::now() + timeout;
        loop {
            count.borrow_and_update();
            if let Some(found) = self.shared.requests().iter().find(|r| predicate(r)) {
                return Some(found.clone());
            }
            match tokio::time::timeout_at(deadline, count.changed()).await {
                Ok(Ok(())) => {}
                _ => return None,
            }
        }
    }

    /// Answers the next `times` requests whose method matches (empty: any) and whose path
    /// contains `path_contains` with a `Status` failure of HTTP `code` (409, 429, 500, ...).
    pub fn fail_next(&self, method: &str, path_contains: &str, code: u16, times: usize) {
        self.shared.add_failure(Failure {
            method: method.to_string(),
            path_contains: path_contains.to_string(),
            code,
            remaining: times,
        });
    }

    /// Forgets the watch event log: watches resuming from an older resourceVersion get
    /// `410 Expired` and kube's watcher relists.
    pub fn expire_watch_log(&self) {
        self.shared.mutate(store::Store::expire_log);
    }

    /// Ends every open watch stream (clients reconnect from their last resourceVersion).
    pub fn close_watches(&self) {
        self.shared.close_epoch.send_modify(|epoch| *epoch += 1);
    }

    /// Stops the server: open watches end, then in-flight requests finish (bounded at 5 s).
    pub async fn shutdown(mut self) {
        self.shared.shutdown.send_replace(true);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        self.shared.shutdown.send_replace(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// `metadata.name` of an object, empty when missing.
pub fn name_of(obj: &Value) -> &str {
    meta_str(obj, "name").unwrap_or_default()
}
