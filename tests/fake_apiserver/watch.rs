//! Watch streams: newline-delimited JSON events read from the store's log, from a
//! resourceVersion onwards, with periodic bookmarks, a timeout and 410 Expired when the log no
//! longer reaches back far enough. Also the streaming-list mode (`sendInitialEvents=true`).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::Instant;

use super::resource::{ResKey, partial_metadata};
use super::select::Selectors;
use super::shared::Shared;

/// Where a watch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// No resourceVersion or "0": every current object as ADDED first.
    Current,
    /// Streaming list: ADDED for every object, then a bookmark marking the initial events' end.
    Streaming,
    /// Events after this resourceVersion.
    After(u64),
}

#[derive(Debug, Clone)]
pub(crate) struct WatchRequest {
    pub key: ResKey,
    pub namespace: Option<String>,
    pub selectors: Selectors,
    pub start: Start,
    pub bookmarks: bool,
    pub timeout: Duration,
    pub metadata_only: bool,
    pub api_version: String,
    pub kind: String,
}

struct State {
    shared: Arc<Shared>,
    req: WatchRequest,
    cursor: u64,
    pending: VecDeque<String>,
    done: bool,
    deadline: Instant,
    next_bookmark: Instant,
    changes: watch::Receiver<u64>,
    shutdown: watch::Receiver<bool>,
    epoch: watch::Receiver<u64>,
}

enum Wake {
    Changed(bool),
    Bookmark,
    End,
}

fn line(kind: &str, object: &Value) -> String {
    let mut s = json!({"type": kind, "object": object}).to_string();
    s.push('\n');
    s
}

fn expired(wanted: u64, oldest: u64) -> String {
    line(
        "ERROR",
        &json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": format!("too old resource version: {wanted} ({oldest})"),
            "reason": "Expired", "code": 410,
        }),
    )
}

impl State {
    fn event(&mut self, kind: &str, obj: &Value) {
        let obj = if self.req.metadata_only {
            partial_metadata(obj)
        } else {
            obj.clone()
        };
        self.pending.push_back(line(kind, &obj));
    }

    fn bookmark(&mut self, initial_end: bool) {
        let mut metadata = json!({"resourceVersion": self.cursor.to_string()});
        if initial_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let object = json!({"kind": self.req.kind, "apiVersion": self.req.api_version, "metadata": metadata});
        self.pending.push_back(line("BOOKMARK", &object));
    }

    /// The initial events (or 410), before anything from the log.
    fn begin(&mut self) {
        let shared = Arc::clone(&self.shared);
        let store = shared.store();
        match self.req.start {
            Start::After(rv) if rv < store.log_floor => {
                self.pending.push_back(expired(rv, store.log_floor));
                self.done = true;
            }
            Start::After(rv) => self.cursor = rv,
            Start::Current | Start::Streaming => {
                let ns = self.req.namespace.as_deref();
                for obj in store.list(&self.req.key, ns, &self.req.selectors) {
                    self.event("ADDED", &obj);
                }
                self.cursor = store.rv;
                if self.req.start == Start::Streaming {
                    self.bookmark(true);
                }
            }
        }
    }

    /// Log events after the cursor that this watch wants.
    fn collect(&mut self) {
        let shared = Arc::clone(&self.shared);
        let store = shared.store();
        if self.cursor < store.log_floor {
            self.pending
                .push_back(expired(self.cursor, store.log_floor));
            self.done = true;
            return;
        }
        let cursor = self.cursor;
        let start = store.log.partition_point(|e| e.rv <= cursor);
        for e in store.log.iter().skip(start) {
            let ns_ok = self
                .req
                .namespace
                .as_ref()
                .is_none_or(|ns| *ns == e.namespace);
            if e.key != self.req.key || !ns_ok {
                continue;
            }
            // Like the watch cache: an object entering the selection is ADDED, one leaving it
            // is DELETED.
            let now = self.req.selectors.matches(&e.obj);
            let before = e.previous.as_ref().map(|p| self.req.selectors.matches(p));
            let kind = match (e.kind, before, now) {
                (_, None, true) | ("MODIFIED", Some(true), true) => e.kind,
                ("MODIFIED", Some(false), true) => "ADDED",
                ("MODIFIED", Some(true), false) => "DELETED",
                _ => continue,
            };
            self.event(kind, &e.obj);
        }
        self.cursor = self.cursor.max(store.rv);
    }

    async fn wait(&mut self) -> Wake {
        let bookmarks = self.req.bookmarks;
        tokio::select! {
            r = self.changes.changed() => Wake::Changed(r.is_ok()),
            _ = tokio::time::sleep_until(self.next_bookmark), if bookmarks => Wake::Bookmark,
            _ = tokio::time::sleep_until(self.deadline) => Wake::End,
            _ = self.shutdown.changed() => Wake::End,
            _ = self.epoch.changed() => Wake::End,
        }
    }

    async fn next(mut self) -> Option<(Result<Bytes, Infallible>, Self)> {
        loop {
            if let Some(next) = self.pending.pop_front() {
                return Some((Ok(Bytes::from(next)), self));
            }
            let closed = self.epoch.has_changed().unwrap_or(true);
            if self.done || closed || *self.shutdown.borrow() {
                return None;
            }
            self.changes.borrow_and_update();
            self.collect();
            if !self.pending.is_empty() {
                continue;
            }
            match self.wait().await {
                Wake::Changed(true) => {}
                Wake::Changed(false) | Wake::End => self.done = true,
                Wake::Bookmark => {
                    self.bookmark(false);
                    self.next_bookmark = Instant::now() + self.shared.options.bookmark_interval;
                }
            }
        }
    }
}

/// Starts a watch and answers with its stream.
pub(crate) fn serve(shared: Arc<Shared>, req: WatchRequest) -> Response {
    let now = Instant::now();
    let mut state = State {
        changes: shared.changes.subscribe(),
        shutdown: shared.shutdown.subscribe(),
        epoch: shared.close_epoch.subscribe(),
        deadline: now + req.timeout,
        next_bookmark: now + shared.options.bookmark_interval,
        shared,
        req,
        cursor: 0,
        pending: VecDeque::new(),
        done: false,
    };
    state.changes.borrow_and_update();
    state.begin();
    let stream = futures::stream::unfold(state, State::next);
    let mut response = Response::new(Body::from_stream(stream));
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
